"""Error pages: every failure says what happened and what to do; nothing unexpected leaks."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from qbizfed.errors import AwsError, ConfigError, IdentityError, NetworkError
from qbizfed.identity.federated import FederatedIdentity, SamlRole
from qbizfed.web.error_pages import page_for, probable_cause
from qbizfed.web.identity_codec import identity_from_json, identity_to_json
from qbizfed.web.security_headers import content_security_policy


@pytest.mark.parametrize(
    ("error", "status", "title"),
    [
        (NetworkError("idp down", remedy="retry"), 503, "could not be reached"),
        (IdentityError("bad token", remedy="sign in again"), 403, "Sign-in refused"),
        (ConfigError("no role", remedy="set it"), 500, "misconfigured"),
        (AwsError("denied", code="AccessDenied", remedy="fix trust"), 403, "AWS refused"),
    ],
)
def test_qbizfed_errors_map_to_pages_with_their_remedy(
    error: Exception, status: int, title: str
) -> None:
    page = page_for(error)
    assert page.status == status
    assert title in page.title
    assert page.remedy


def test_unexpected_errors_do_not_show_their_message() -> None:
    page = page_for(RuntimeError("token=eyJhbGciOi.secret.stuff"))
    assert page.status == 500
    assert "eyJ" not in page.message + page.remedy


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ("not authorized to perform: sts:TagSession", "sts:TagSession"),
        ("Incorrect token audience (aud)", "audience"),
        ("no Email tag in the request", "Email"),
    ],
)
def test_sts_refusals_without_a_remedy_get_a_probable_cause(message: str, cause: str) -> None:
    assert cause in probable_cause(AwsError(message, code="AccessDenied"))


def test_csp_allows_forms_only_to_self_and_the_idps() -> None:
    csp = content_security_policy(["https://idp.example.com"])
    assert "form-action 'self' https://idp.example.com;" in csp
    assert "default-src 'none'" in csp
    assert "unsafe" not in csp


def test_identities_survive_the_server_side_json_round_trip() -> None:
    identity = FederatedIdentity(
        protocol="saml",
        email="a@example.com",
        subject="a@example.com",
        issuer="https://idp",
        credential="PHNhbWxwOlJlc3BvbnNl",
        groups=("g",),
        session_tags=(("Email", "a@example.com"),),
        roles=(SamlRole("arn:aws:iam::1:role/r", "arn:aws:iam::1:saml-provider/p"),),
        role_session_name="a@example.com",
        display_name="A",
        transitive_tag_keys=("Email",),
        expires_at=datetime.now(UTC),
        audiences=("https://broker/saml",),
    )
    encoded = identity_to_json(identity)
    assert set(encoded) == {f.name for f in fields(FederatedIdentity)}, "a field is not encoded"
    assert identity_from_json(encoded) == identity
