"""What doctor read, as frozen values: the only input of the (pure) checks.

AWS state is admin's model (:class:`~qbizfed.aws.provision.observed.StackReading`): the
same reader ``admin plan`` uses, so doctor and plan cannot disagree about what exists.
A part whose read was refused is an :class:`~qbizfed.aws.provision.observed.Unknown`
naming the IAM permissions to grant; its checks are skipped. The IdP is read over HTTP
(:mod:`.collect_idp`); ``None`` there means "not an OIDC stack".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qbizfed.aws.provision.observed import ObservedStack, Part, StackReading, Unknown


@dataclass(frozen=True)
class HttpDocument:
    """A JSON document fetched over HTTP (discovery, JWKS), or why it could not be."""

    url: str
    status: int | None = None
    document: dict[str, Any] | None = field(default=None, repr=False)
    error: str | None = None


@dataclass(frozen=True)
class RedirectProbe:
    """How the IdP's authorization endpoint answered a ``prompt=none`` request for one
    redirect URI. ``accepted``: True (it redirected back there), False (refused), None
    (no clear answer)."""

    redirect_uri: str
    accepted: bool | None
    answer: str


@dataclass(frozen=True)
class OidcIdpFacts:
    discovery: HttpDocument
    jwks: HttpDocument | None = None
    redirect_probes: tuple[RedirectProbe, ...] = ()


@dataclass(frozen=True)
class DoctorFacts:
    """Everything the checks look at: the stack as admin reads it, and the IdP."""

    reading: StackReading
    idp: OidcIdpFacts | None = None
    role_source: str = ""
    """How the role was chosen (``--role-arn``, or the stack's role name)."""

    @property
    def stack(self) -> ObservedStack:
        return self.reading.stack

    def unknown(self, part: Part) -> Unknown | None:
        return self.reading.unknown_part(part)
