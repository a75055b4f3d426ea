"""A validated identity as JSON, to wait server-side between SAML steps (ticket, role choice).

Only identities our validators produced are encoded, and they are decoded only from
the server-side store (never from anything the browser sends).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qbizfed.identity.federated import FederatedIdentity, SamlRole
from qbizfed.web.sessions import JsonObject


def identity_to_json(identity: FederatedIdentity) -> JsonObject:
    return {
        "protocol": identity.protocol,
        "email": identity.email,
        "subject": identity.subject,
        "issuer": identity.issuer,
        "credential": identity.credential,
        "display_name": identity.display_name,
        "groups": list(identity.groups),
        "session_tags": [list(pair) for pair in identity.session_tags],
        "transitive_tag_keys": list(identity.transitive_tag_keys),
        "roles": [[r.role_arn, r.provider_arn] for r in identity.roles],
        "role_session_name": identity.role_session_name,
        "expires_at": identity.expires_at.isoformat() if identity.expires_at else None,
        "audiences": list(identity.audiences),
    }


def identity_from_json(data: JsonObject) -> FederatedIdentity:
    expires: Any = data.get("expires_at")
    return FederatedIdentity(
        protocol="saml" if data["protocol"] == "saml" else "oidc",
        email=str(data["email"]),
        subject=str(data["subject"]),
        issuer=str(data["issuer"]),
        credential=str(data["credential"]),
        display_name=data.get("display_name"),
        groups=tuple(data.get("groups", ())),
        session_tags=tuple((str(k), str(v)) for k, v in data.get("session_tags", ())),
        transitive_tag_keys=tuple(data.get("transitive_tag_keys", ())),
        roles=tuple(SamlRole(role_arn=str(r), provider_arn=str(p)) for r, p in data["roles"]),
        role_session_name=data.get("role_session_name"),
        expires_at=datetime.fromisoformat(expires) if isinstance(expires, str) else None,
        audiences=tuple(str(a) for a in data.get("audiences", ())),
    )
