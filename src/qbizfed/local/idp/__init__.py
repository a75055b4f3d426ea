"""The dev identity provider of ``qbizfed local``: an OIDC provider and a SAML 2.0 IdP.

Loopback only, demo users (alice, bob, carol; password ``demo``), keys made at start.

    server.py         DevIdp / DevIdpSettings: run it in a background thread (the API)
    (the ``qbizfed local idp`` command is :mod:`qbizfed.cli.local_idp`)
    app.py            the WSGI app and its fixed paths
    oidc.py           OIDC provider logic (codes, PKCE, tokens, userinfo, logout)
    saml_request.py   AuthnRequest decoding and checks (bindings, signatures, SP, ACS)
    saml_response.py  signed Responses and the IdP metadata
    grants.py         expiring in-memory state (codes, tokens, sessions, interactions)
    users.py          users, OIDC clients, service providers; the users file
    keys.py           RSA key, certificate, JWK
    pages.py          HTML pages
    xml.py            safe XML parsing
"""
