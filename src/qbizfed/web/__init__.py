"""The web broker (``qbizfed serve``): sign in with OIDC or SAML, get identity-aware credentials.

Start from :func:`qbizfed.web.app.create_app` and :func:`qbizfed.settings.serve.load_settings`.
"""
