"""Arbitrary input to the dev IdP's parsers fails only in the ways it is meant to."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qbizfed.local.idp.keys import generate_signing_material
from qbizfed.local.idp.oidc import OAuthError, OidcProvider
from qbizfed.local.idp.saml_request import (
    POST_BINDING,
    REDIRECT_BINDING,
    SamlRefusedError,
    read_authn_request,
)
from qbizfed.local.idp.users import Directory, OidcClient, Secret, ServiceProvider

KEYS = generate_signing_material()
DIRECTORY = Directory(
    clients=[OidcClient("app", Secret("secret"), ("http://127.0.0.1:1/cb",))],
    service_providers=[
        ServiceProvider("urn:sp", ("https://sp/acs",), certificate_pem=KEYS.certificate_pem)
    ],
)
PROVIDER = OidcProvider(issuer="http://127.0.0.1:1", keys=KEYS, directory=DIRECTORY)
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
XMLISH = st.text(alphabet=st.sampled_from(list("<>/=\"' :samlpAuthnRequestIDIssuer!DOCTYPE&;x")))


def _read(binding: str, encoded: str, raw_query: str = "") -> None:
    with contextlib.suppress(SamlRefusedError):
        read_authn_request(
            binding=binding, saml_request=encoded, relay_state=None, raw_query=raw_query,
            directory=DIRECTORY, sso_urls=("http://127.0.0.1:1/saml/sso",), now=NOW,
        )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(st.text(max_size=300), XMLISH.map(lambda x: base64.b64encode(x.encode()).decode()))
)
def test_post_binding_input_is_accepted_or_refused_never_crashes(encoded: str) -> None:
    _read(POST_BINDING, encoded)


@settings(max_examples=150, deadline=None)
@given(XMLISH, st.text(max_size=200))
def test_redirect_binding_input_is_accepted_or_refused_never_crashes(xml: str, query: str) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(xml.encode()) + compressor.flush()
    _read(REDIRECT_BINDING, base64.b64encode(deflated).decode(), raw_query=query)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.none(), st.text(max_size=80), st.text(max_size=60).map(lambda t: "Basic " + t)),
    st.dictionaries(
        st.sampled_from(["client_id", "client_secret", "grant_type", "code", "refresh_token"]),
        st.text(max_size=40),
    ),
)
def test_token_endpoint_input_gives_oauth_errors_only(
    authorization: str | None, form: dict[str, str]
) -> None:
    """No random input holds a valid code or refresh token, so every call is refused."""
    with pytest.raises(OAuthError) as err:
        PROVIDER.token(form, authorization)
    assert err.value.status in (400, 401)
