"""The one value for temporary AWS credentials, wherever they come from or go.

STS hands them out (:mod:`qbizfed.aws.sts`); ``serve`` keeps them in a server-side
session (:mod:`qbizfed.web.browser_session`); the CLI caches them per profile
(:mod:`qbizfed.creds.cache`, whose entry is this value plus how to renew it); ``doctor``
signs its end-to-end calls with them; :mod:`qbizfed.creds.output` renders them for the
user. Secrets are masked in ``repr`` and ``str``.

Their record is the credential part of the cache file's JSON (:mod:`qbizfed.creds.record`,
unchanged on disk): ``AccessKeyId``, ``SecretAccessKey``, ``SessionToken``, ``Expiration``,
``region``, ``email``, ``role_arn`` and ``profile``. The renderer takes records because the
``credential_process`` fast path renders a cache record without importing this module
(``dataclasses`` alone costs it more than the rest of the fast path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from qbizfed.expiration import format_expiration, parse_expiration

_MASK = "**********"


@dataclass(frozen=True)
class AwsCredentials:
    """Temporary credentials of one federated session, with what is known about them."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime
    region: str | None = None
    """The region they are meant for (the profile's, or serve's)."""
    role_arn: str | None = None
    """The IAM role they act as (``arn:aws:iam::<account>:role/<name>``)."""
    assumed_role_arn: str | None = None
    """The session as STS named it (``arn:aws:sts::<account>:assumed-role/<role>/<session>``)."""
    session_tags: tuple[tuple[str, str], ...] = ()
    subject: str | None = None
    """The IdP's subject STS reported (``SubjectFromWebIdentityToken`` / ``Subject``)."""

    def __repr__(self) -> str:
        return (
            f"AwsCredentials(access_key_id={self.access_key_id!r}, "
            f"secret_access_key='{_MASK}', session_token='{_MASK}', "
            f"expiration={self.expiration.isoformat()!r}, region={self.region!r}, "
            f"role_arn={self.role_arn!r}, assumed_role_arn={self.assumed_role_arn!r}, "
            f"session_tags={self.session_tags!r}, subject={self.subject!r})"
        )

    __str__ = __repr__

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.session_tags)

    @property
    def email(self) -> str | None:
        """The ``Email`` session tag: who Amazon Q Business takes the caller for."""
        return self.tags.get("Email") or None

    @property
    def role_session_name(self) -> str | None:
        """The RoleSessionName STS used (the last part of the assumed-role ARN)."""
        if not self.assumed_role_arn:
            return None
        return self.assumed_role_arn.rsplit("/", 1)[-1]

    def seconds_left(self, now: datetime | None = None) -> float:
        return (self.expiration - (now or datetime.now(UTC))).total_seconds()

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.seconds_left(now) <= 0

    def boto3_session_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.session.Session(**...)`` or ``session.client``."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }

    def to_record(self, *, profile: str | None = None) -> dict[str, object]:
        """The credential part of a cache record (what :mod:`qbizfed.creds.output` renders)."""
        return {
            "profile": profile,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": format_expiration(self.expiration),
            "region": self.region,
            "email": self.email,
            "role_arn": self.role_arn,
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> AwsCredentials:
        """From a record that :func:`qbizfed.creds.record.parse_record` accepted."""

        def optional(key: str) -> str | None:
            value = record.get(key)
            return value if isinstance(value, str) and value else None

        email = optional("email")
        return cls(
            access_key_id=str(record["AccessKeyId"]),
            secret_access_key=str(record["SecretAccessKey"]),
            session_token=str(record["SessionToken"]),
            expiration=parse_expiration(str(record["Expiration"])),
            region=optional("region"),
            role_arn=optional("role_arn"),
            session_tags=(("Email", email),) if email else (),
        )
