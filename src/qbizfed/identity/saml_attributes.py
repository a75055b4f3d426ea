"""AWS's SAML attributes: Role pairs, RoleSessionName and PrincipalTag:*.

See the IAM user guide, "Configure SAML assertions for the authentication response".
``Role`` values are ``"<role arn>,<saml-provider arn>"``; the reversed order is refused
with a message saying exactly that, because it is a common IdP misconfiguration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from qbizfed.identity.errors import SamlAttributeError
from qbizfed.identity.federated import SamlRole

AWS_SAML = "https://aws.amazon.com/SAML/Attributes/"
ROLE = AWS_SAML + "Role"
ROLE_SESSION_NAME = AWS_SAML + "RoleSessionName"
PRINCIPAL_TAG = AWS_SAML + "PrincipalTag:"
TRANSITIVE_TAG_KEYS = AWS_SAML + "TransitiveTagKeys"

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:saml-provider/[\w.-]{1,128}$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)

AttributeMap = Mapping[str, Sequence[object]]


def _strings(attributes: AttributeMap, name: str) -> list[str]:
    return [v for v in attributes.get(name, []) if isinstance(v, str)]


def parse_roles(attributes: AttributeMap) -> tuple[SamlRole, ...]:
    """All ``Role`` pairs; raises if missing, malformed or in reversed order."""
    values = _strings(attributes, ROLE)
    if not values:
        raise SamlAttributeError(
            f"the SAML assertion has no {ROLE} attribute",
            remedy="add the Role attribute at the IdP with the value "
            "'<role arn>,<saml-provider arn>'",
        )
    roles: list[SamlRole] = []
    for value in values:
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 2:
            raise SamlAttributeError(
                "a Role attribute value is not a pair '<role arn>,<saml-provider arn>'",
                remedy="set the Role attribute value to '<role arn>,<saml-provider arn>'",
            )
        first, second = parts
        if _PROVIDER_ARN.match(first) and _ROLE_ARN.match(second):
            raise SamlAttributeError(
                f"the Role attribute lists the provider first ({first},{second})",
                remedy=f"swap the pair at the IdP: the value must be '{second},{first}' "
                "(role ARN first, then the SAML provider ARN)",
            )
        if not (_ROLE_ARN.match(first) and _PROVIDER_ARN.match(second)):
            raise SamlAttributeError(
                f"a Role attribute value is not '<role arn>,<saml-provider arn>': {value[:300]!r}",
                remedy="use full ARNs: arn:aws:iam::<account>:role/<name>,"
                "arn:aws:iam::<account>:saml-provider/<name>",
            )
        roles.append(SamlRole(role_arn=first, provider_arn=second))
    return tuple(dict.fromkeys(roles))


def parse_role_session_name(attributes: AttributeMap) -> str:
    values = _strings(attributes, ROLE_SESSION_NAME)
    if len(values) != 1:
        raise SamlAttributeError(
            f"the SAML assertion needs exactly one {ROLE_SESSION_NAME} value",
            remedy="map RoleSessionName to the user's email (or user name) at the IdP",
        )
    if not _SESSION_NAME.match(values[0]):
        raise SamlAttributeError(
            "the RoleSessionName is not 2-64 characters of [A-Za-z0-9_+=,.@-]",
            remedy="map RoleSessionName to the user's email or a user name without spaces",
        )
    return values[0]


def parse_principal_tags(attributes: AttributeMap) -> tuple[tuple[str, str], ...]:
    tags: list[tuple[str, str]] = []
    for name, _ in attributes.items():
        if not name.startswith(PRINCIPAL_TAG):
            continue
        key = name[len(PRINCIPAL_TAG) :]
        values = _strings(attributes, name)
        if not key or len(key) > 128 or len(values) != 1 or len(values[0]) > 256:
            raise SamlAttributeError(
                f"session tag attribute {name!r} must have one value of at most 256 characters",
                remedy="release exactly one value per PrincipalTag attribute",
            )
        tags.append((key, values[0]))
    if len(tags) > 50:
        raise SamlAttributeError("more than 50 PrincipalTag attributes", remedy="release fewer")
    return tuple(tags)


def parse_email(tags: Sequence[tuple[str, str]]) -> str:
    email = dict(tags).get("Email")
    if not email or "@" not in email:
        raise SamlAttributeError(
            f"the SAML assertion has no {PRINCIPAL_TAG}Email attribute with an email address, "
            "which Amazon Q Business needs to identify the user",
            remedy=f"add the attribute {PRINCIPAL_TAG}Email mapped to the user's email at the IdP",
        )
    return email


def parse_transitive_tag_keys(attributes: AttributeMap) -> tuple[str, ...]:
    return tuple(_strings(attributes, TRANSITIVE_TAG_KEYS))
