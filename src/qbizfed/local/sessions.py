"""Temporary credentials issued by the local STS, and who they belong to.

The federation layer records every session it issues here; the SigV4 verifier and
the Q Business emulator look sessions up by access key id. This is the local
stack's equivalent of AWS's knowledge of who holds which temporary credentials.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class IssuedSession:
    """One set of temporary credentials and the identity they carry."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    account_id: str
    role_arn: str
    role_id: str
    session_name: str
    expiration: datetime
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    transitive_tag_keys: tuple[str, ...] = ()
    federated_by: str = ""
    """The IAM identity provider that vouched for the user ("" for plain AssumeRole)."""
    subject: str = ""
    session_policy: str | None = None
    """The inline session policy (``Policy`` of the AssumeRole* call) as sent, or None."""
    session_policy_arns: tuple[str, ...] = ()
    """The managed session policies (``PolicyArns`` of the call)."""

    @property
    def has_session_policies(self) -> bool:
        """True when IAM intersects the role's permissions with session policies."""
        return self.session_policy is not None or bool(self.session_policy_arns)

    @property
    def assumed_role_arn(self) -> str:
        role_name = self.role_arn.rsplit("/", 1)[-1]
        return f"arn:aws:sts::{self.account_id}:assumed-role/{role_name}/{self.session_name}"

    @property
    def assumed_role_id(self) -> str:
        return f"{self.role_id}:{self.session_name}"

    @property
    def email(self) -> str | None:
        """The ``Email`` session tag Q Business identifies the user by (case-insensitive key)."""
        for key, value in self.tags.items():
            if key.lower() == "email":
                return value
        return None

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expiration


class SessionRegistry:
    """Thread-safe map from access key id to the session it belongs to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, IssuedSession] = {}

    def issue(
        self,
        *,
        account_id: str,
        role_arn: str,
        role_id: str,
        session_name: str,
        duration_seconds: int,
        tags: Mapping[str, str],
        transitive_tag_keys: tuple[str, ...] = (),
        federated_by: str = "",
        subject: str = "",
        session_policy: str | None = None,
        session_policy_arns: tuple[str, ...] = (),
        now: datetime | None = None,
    ) -> IssuedSession:
        issued_at = (now or datetime.now(UTC)).replace(microsecond=0)
        session = IssuedSession(
            access_key_id="ASIA" + _random(_KEY_ALPHABET, 16),
            secret_access_key=_random(_SECRET_ALPHABET, 40),
            session_token="FwoGZXIvYXdzE" + _random(_SECRET_ALPHABET, 180),
            account_id=account_id,
            role_arn=role_arn,
            role_id=role_id,
            session_name=session_name,
            expiration=issued_at + timedelta(seconds=duration_seconds),
            tags=MappingProxyType(dict(tags)),
            transitive_tag_keys=transitive_tag_keys,
            federated_by=federated_by,
            subject=subject,
            session_policy=session_policy,
            session_policy_arns=session_policy_arns,
        )
        with self._lock:
            self._sessions[session.access_key_id] = session
        return session

    def lookup(self, access_key_id: str) -> IssuedSession | None:
        with self._lock:
            return self._sessions.get(access_key_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def reset(self) -> None:
        with self._lock:
            self._sessions.clear()
