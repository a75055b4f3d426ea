"""Errors of the relying-party core, each with what happened and how to fix it.

Messages never contain tokens, codes, assertions or secrets: only claim names,
issuer URLs and the like.

    IdentityError (qbizfed.errors)
     +-- IdTokenError          an ID token failed validation (``reason`` names the check)
     +-- MissingEmailClaimError        the token has no https://aws.amazon.com/tags Email tag
     +-- TooManySessionTagsError       the token asks for more session tags than STS allows
     +-- AuthorizationError      the IdP answered the redirect with an error, or state mismatch
     +-- TokenEndpointError       the IdP's token endpoint refused a grant
     +-- DiscoveryDocumentError   the discovery document is malformed or for another issuer
     +-- UserInfoError            the UserInfo answer is unusable or names another subject
     +-- SamlResponseError     a SAML response failed validation (``reason`` names the check)
     +-- SamlAttributeError       a required SAML attribute is missing or malformed
    ConfigError (qbizfed.errors)
     +-- InsecureEndpointError    (qbizfed.url_policy) a URL is not https nor an allowed loopback
    NetworkError (qbizfed.errors)
     +-- IdpUnreachableError           discovery, JWKS or token endpoint could not be reached
"""

from __future__ import annotations

from qbizfed.errors import IdentityError, NetworkError


class IdTokenError(IdentityError):
    """An ID token failed one validation step; ``reason`` is a short machine-readable name."""

    def __init__(self, message: str, *, reason: str, remedy: str = "") -> None:
        super().__init__(
            message,
            remedy=remedy or "sign in again; if it persists, check the IdP and client settings",
        )
        self.reason = reason


class MissingEmailClaimError(IdentityError):
    """The ID token lacks ``https://aws.amazon.com/tags`` -> ``principal_tags.Email``."""


class TooManySessionTagsError(IdentityError):
    """The ID token's ``https://aws.amazon.com/tags`` claim asks for more session tags
    than STS accepts in one call (50)."""


class AuthorizationError(IdentityError):
    """The authorization response was an error, or did not belong to our request."""


class TokenEndpointError(IdentityError):
    """The token endpoint refused the grant (``error`` is the OAuth error code)."""

    def __init__(self, message: str, *, error: str = "", remedy: str = "") -> None:
        super().__init__(message, remedy=remedy)
        self.error = error


class DiscoveryDocumentError(IdentityError):
    """The OpenID discovery document is malformed or names another issuer."""


class UserInfoError(IdentityError):
    """The UserInfo endpoint refused the access token, answered nonsense, or named
    another user than the ID token; ``reason`` is a short machine-readable name."""

    def __init__(self, message: str, *, reason: str, remedy: str = "") -> None:
        super().__init__(
            message,
            remedy=remedy
            or "sign in again; if it persists, tell your administrator: the IdP's userinfo "
            "endpoint and its ID tokens disagree",
        )
        self.reason = reason


class SamlResponseError(IdentityError):
    """A SAML response failed validation; ``reason`` is a short machine-readable name."""

    def __init__(self, message: str, *, reason: str, remedy: str = "") -> None:
        super().__init__(
            message,
            remedy=remedy
            or "sign in again; if it persists, compare the IdP's SAML app "
            "settings with this service provider's metadata",
        )
        self.reason = reason


class SamlAttributeError(IdentityError):
    """A SAML attribute AWS needs (Role, RoleSessionName, PrincipalTag:Email) is wrong."""


class IdpUnreachableError(NetworkError):
    """An IdP endpoint could not be reached or did not answer JSON.

    ``status`` is the HTTP status the IdP answered (None: no answer at all, a network
    problem rather than a configuration one); ``answer`` says what happened in a few
    words ("answered HTTP 404"), for reports that name the URL themselves.
    """

    def __init__(
        self, message: str, *, remedy: str = "", status: int | None = None, answer: str = ""
    ) -> None:
        super().__init__(message, remedy=remedy)
        self.status = status
        self.answer = answer or message
