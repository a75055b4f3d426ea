"""Server-side verification of AWS Signature Version 4, as AWS's front door does it.

The local stack must refuse what AWS refuses, so every request to a qbizfed-served
service is checked here before it reaches the service. The signature is recomputed
from the request *as received* (raw path, raw query string, only the headers the
client listed in ``SignedHeaders``, and the body) with botocore's own signer pieces
(``SigV4Auth.canonical_request`` / ``string_to_sign`` / ``signature``); nothing here
re-implements the HMAC chain. Signatures are compared with ``hmac.compare_digest``.
Both forms are accepted: the ``Authorization`` header (``X-Amz-Date`` within 15
minutes of now, a claimed ``X-Amz-Content-SHA256`` must match the body) and the
presigned query string (``X-Amz-*`` parameters, valid for ``X-Amz-Expires`` seconds).
A session token must itself be signed (``x-amz-security-token`` in SignedHeaders).

Who the caller is:

* Temporary credentials (``ASIA...``) issued by the local federation STS are looked
  up in the :class:`~qbizfed.local.sessions.SessionRegistry`; the session token must
  match and the session must not have expired.
* Temporary credentials minted by moto's own STS (plain ``AssumeRole``) are checked
  against moto's STS backend when it knows the key.
* Long-term keys (``AKIA...``, or any key without a session token that neither knows)
  are the account's administrator. Their secret is unknowable to the local stack
  (moto accepts any secret for them too), so their signature *cannot* be checked:
  they are accepted after the structural checks (well-formed header, date within
  15 minutes). This is a deliberate, documented gap: the local stack trusts whoever
  holds the loopback port with admin rights, exactly like moto.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.wrappers import Request

from qbizfed.errors import LocalStackError
from qbizfed.local.sessions import IssuedSession, SessionRegistry

ALGORITHM = "AWS4-HMAC-SHA256"
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
MAX_SKEW = timedelta(minutes=15)
DEFAULT_ACCOUNT_ID = "123456789012"
"""The account moto (and so the local stack) assigns to long-term admin keys."""

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


class SignatureError(LocalStackError):
    """A request refused before it reaches a service, with AWS's code and status."""

    def __init__(self, code: str, message: str, *, status: int = 403) -> None:
        super().__init__(
            message,
            remedy="sign the request with the credentials the local STS issued "
            "(any AWS SDK does this), with a correct clock",
        )
        self.code = code
        self.status = status


@dataclass(frozen=True)
class MotoCredentials:
    """Temporary credentials moto's own STS issued (plain AssumeRole)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    account_id: str = ""
    expiration: datetime = field(default_factory=lambda: datetime.now(UTC))


MotoLookup = Callable[[str], MotoCredentials | None]


@dataclass(frozen=True)
class Caller:
    """Who sent a verified request."""

    access_key_id: str
    account_id: str
    region: str
    session: IssuedSession | None
    """The federation session, when the local STS issued the credentials."""
    is_admin: bool
    """True for the account's own principals (long-term keys, non-federated roles)."""

    @property
    def email(self) -> str | None:
        return self.session.email if self.session is not None else None


@dataclass(frozen=True)
class AuthorizationHeader:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


@dataclass(frozen=True)
class CredentialScope:
    """``Credential=AKID/yyyymmdd/region/service/aws4_request`` split in its parts.

    A credential that is not five parts keeps only its first one (the key id, which the
    STS needs to tell its own sessions from moto's); the others are then empty."""

    access_key_id: str
    date: str = ""
    region: str = ""
    service: str = ""
    terminator: str = ""

    @property
    def well_formed(self) -> bool:
        """Five parts, a key id and the ``aws4_request`` terminator (AWS's own check)."""
        return bool(self.access_key_id) and self.terminator == "aws4_request"


def parse_credential_scope(credential: str) -> CredentialScope:
    access_key_id, *rest = credential.split("/")
    if len(rest) != 4:
        return CredentialScope(access_key_id)
    date, region, service, terminator = rest
    return CredentialScope(access_key_id, date, region, service, terminator)


def _authorization_parts(value: str) -> dict[str, str]:
    """``key=value`` pairs of an ``Authorization`` header after the algorithm name."""
    parts: dict[str, str] = {}
    for item in value[len(ALGORITHM) :].split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key.strip()] = val.strip()
    return parts


def request_credential_scope(request: Request) -> CredentialScope:
    """The scope a request claims to be signed with (``Authorization`` header or presigned
    ``X-Amz-Credential``), before any verification: for routing and session lookup."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith(ALGORITHM):
        credential = _authorization_parts(auth).get("Credential", "")
    else:
        credential = request.args.get("X-Amz-Credential", "")
    return parse_credential_scope(credential)


def parse_authorization(value: str) -> AuthorizationHeader:
    """Parse an ``Authorization`` header; raise ``IncompleteSignatureException`` if malformed."""
    if not value.startswith(ALGORITHM + " "):
        raise SignatureError(
            "IncompleteSignatureException",
            f"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            f"header and the {ALGORITHM} algorithm. Authorization={_redact(value)}",
            status=400,
        )
    parts = _authorization_parts(value)
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not parts.get(name)]
    if missing:
        raise SignatureError(
            "IncompleteSignatureException",
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={_redact(value)}",
            status=400,
        )
    scope = parse_credential_scope(parts["Credential"])
    if not scope.well_formed:
        raise SignatureError(
            "IncompleteSignatureException",
            "Credential should be scoped to a valid region, service and aws4_request terminator.",
            status=400,
        )
    return AuthorizationHeader(
        access_key_id=scope.access_key_id,
        date=scope.date,
        region=scope.region,
        service=scope.service,
        signed_headers=tuple(h.strip().lower() for h in parts["SignedHeaders"].split(";")),
        signature=parts["Signature"],
    )


def _redact(value: str) -> str:
    """The header as AWS echoes it, minus the signature (never echo secrets)."""
    head, _, _ = value.partition("Signature=")
    return head.strip().rstrip(",")


def raw_path_and_query(request: Request) -> tuple[str, str]:
    """The path and query string exactly as the client sent them (still percent-encoded)."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path, _, query = str(raw).partition("?")
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        return path or "/", query
    return request.path, str(environ.get("QUERY_STRING", ""))


@dataclass(frozen=True)
class SignedParts:
    """What a request claims about its signature, from the header or the query string."""

    auth: AuthorizationHeader
    amz_date: str
    token: str | None
    presigned: bool = False
    expires_seconds: int | None = None


def _from_header(request: Request, header: str) -> SignedParts:
    auth = parse_authorization(header)
    amz_date = request.headers.get("X-Amz-Date")
    if not amz_date:
        raise SignatureError(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            f"header. Authorization={_redact(header)}",
            status=400,
        )
    token = request.headers.get("X-Amz-Security-Token")
    if token is not None and "x-amz-security-token" not in auth.signed_headers:
        # A token outside the signature could be swapped by anyone on the path.
        raise _invalid_token()
    return SignedParts(auth=auth, amz_date=amz_date, token=token)


MAX_PRESIGNED_SECONDS = 7 * 24 * 3600


def _from_query(request: Request) -> SignedParts:
    """A presigned request: every SigV4 part is a query parameter (token included)."""
    args = request.args
    missing = [
        name
        for name in (
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Signature",
        )
        if not args.get(name)
    ]
    if missing:
        raise SignatureError(
            "IncompleteSignatureException",
            "AWS query-string parameters must include "
            + ", ".join(f"'{name}'" for name in missing)
            + ". Re-examine the query-string parameters.",
            status=400,
        )
    if args["X-Amz-Algorithm"] != ALGORITHM:
        raise SignatureError(
            "IncompleteSignatureException",
            f"X-Amz-Algorithm only supports {ALGORITHM}.",
            status=400,
        )
    try:
        expires = int(args["X-Amz-Expires"])
    except ValueError as exc:
        raise SignatureError(
            "IncompleteSignatureException", "X-Amz-Expires must be a number.", status=400
        ) from exc
    if not 0 < expires <= MAX_PRESIGNED_SECONDS:
        raise SignatureError(
            "IncompleteSignatureException",
            f"X-Amz-Expires must be between 1 and {MAX_PRESIGNED_SECONDS} seconds.",
            status=400,
        )
    auth = parse_authorization(
        f"{ALGORITHM} Credential={args['X-Amz-Credential']}, "
        f"SignedHeaders={args['X-Amz-SignedHeaders']}, Signature={args['X-Amz-Signature']}"
    )
    return SignedParts(
        auth=auth,
        amz_date=args["X-Amz-Date"],
        token=args.get("X-Amz-Security-Token"),
        presigned=True,
        expires_seconds=expires,
    )


def _check_presigned_window(
    amz_date: str, signed_at: datetime, expires_seconds: int, now: datetime
) -> None:
    if now > signed_at + timedelta(seconds=expires_seconds):
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - timedelta(seconds=expires_seconds)).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} - {expires_seconds} sec.)",
        )
    if signed_at > now + MAX_SKEW:
        _check_skew(amz_date, signed_at, now)


def _parse_amz_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureError(
            "IncompleteSignatureException",
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601",
            status=400,
        ) from exc


def _check_skew(amz_date: str, signed_at: datetime, now: datetime) -> None:
    earliest, latest = now - MAX_SKEW, now + MAX_SKEW
    if signed_at < earliest:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than "
            f"{earliest.strftime(SIGV4_TIMESTAMP)} ({now.strftime(SIGV4_TIMESTAMP)} - 15 min.)",
        )
    if signed_at > latest:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than "
            f"{latest.strftime(SIGV4_TIMESTAMP)} ({now.strftime(SIGV4_TIMESTAMP)} + 15 min.)",
        )


AUTHORITY = ":authority"


class _AuthoritySigV4Auth(SigV4Auth):  # type: ignore[misc]  # botocore is untyped
    """botocore's signer for a request signed over ``:authority`` instead of ``host``
    (the AWS SDK for JavaScript over HTTP/2): botocore would add ``host`` itself."""

    def headers_to_sign(self, request: AWSRequest) -> Any:
        headers = super().headers_to_sign(request)
        del headers["host"]
        return headers


def expected_signature(request: Request, signed: SignedParts, secret_access_key: str) -> str:
    """The signature the client should have computed, with botocore's signer pieces."""
    auth = signed.auth
    path, query = raw_path_and_query(request)
    if signed.presigned:
        query = "&".join(
            pair for pair in query.split("&") if pair.partition("=")[0] != "X-Amz-Signature"
        )
    host = request.headers.get("Host", "localhost")
    aws_request = AWSRequest(
        method=request.method,
        url=f"http://{host}{path}" + (f"?{query}" if query else ""),
        data=request.get_data(cache=True),
    )
    wanted = frozenset(auth.signed_headers)
    for name, value in request.headers.items():  # one pass over the environ
        if name.lower() in wanted:
            aws_request.headers.add_header(name.lower(), value)
    by_authority = AUTHORITY in wanted and "host" not in wanted
    if by_authority:  # HTTP/2 clients sign the pseudo-header; the server sees it as Host
        aws_request.headers.add_header(AUTHORITY, host)
    aws_request.context["timestamp"] = signed.amz_date
    # botocore would take a client-sent X-Amz-Content-SHA256 on trust; we already
    # checked it against the body, so the computed payload hash is used.
    if "X-Amz-Content-SHA256" in aws_request.headers and "x-amz-content-sha256" not in (
        auth.signed_headers
    ):
        del aws_request.headers["X-Amz-Content-SHA256"]
    credentials = Credentials("verifier", secret_access_key)
    signer: SigV4Auth
    if signed.presigned:
        signer = SigV4QueryAuth(credentials, auth.service, auth.region)
    elif by_authority:
        signer = _AuthoritySigV4Auth(credentials, auth.service, auth.region)
    else:
        signer = SigV4Auth(credentials, auth.service, auth.region)
    canonical = signer.canonical_request(aws_request)
    string_to_sign = signer.string_to_sign(aws_request, canonical)
    return str(signer.signature(string_to_sign, aws_request))


def _check_content_hash(request: Request) -> None:
    claimed = request.headers.get("X-Amz-Content-SHA256")
    if claimed is None:
        return
    actual = hashlib.sha256(request.get_data(cache=True)).hexdigest()
    if not hmac.compare_digest(claimed.lower(), actual):
        raise SignatureError(
            "InvalidSignatureException",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            status=400,
        )


def _invalid_token() -> SignatureError:
    return SignatureError(
        "UnrecognizedClientException", "The security token included in the request is invalid."
    )


def _expired_token() -> SignatureError:
    return SignatureError(
        "ExpiredTokenException", "The security token included in the request is expired"
    )


class SigV4Verifier:
    """Verifies requests against the sessions the local stack issued."""

    def __init__(
        self,
        *,
        registry: SessionRegistry,
        moto_lookup: MotoLookup | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._registry = registry
        self._moto_lookup = moto_lookup
        self._clock = clock

    def verify(self, request: Request) -> Caller:
        """Return the verified caller, or raise :class:`SignatureError`."""
        header = request.headers.get("Authorization")
        if header:
            signed = _from_header(request, header)
        elif "X-Amz-Algorithm" in request.args or "X-Amz-Credential" in request.args:
            signed = _from_query(request)
        else:
            raise SignatureError(
                "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        auth, amz_date, token = signed.auth, signed.amz_date, signed.token
        signed_at = _parse_amz_date(amz_date)
        if "host" not in auth.signed_headers and AUTHORITY not in auth.signed_headers:
            raise SignatureError(
                "InvalidSignatureException",
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            )
        if auth.date != amz_date[:8]:
            raise SignatureError(
                "InvalidSignatureException",
                f"Credential should be scoped to a valid date: {amz_date[:8]}, not {auth.date}.",
            )
        now = self._clock()
        if signed.expires_seconds is None:
            _check_skew(amz_date, signed_at, now)
        else:
            _check_presigned_window(amz_date, signed_at, signed.expires_seconds, now)
        if not signed.presigned:
            _check_content_hash(request)

        session = self._registry.lookup(auth.access_key_id)
        if session is not None:
            if token is None or not hmac.compare_digest(token, session.session_token):
                raise _invalid_token()
            self._check_signature(request, signed, session.secret_access_key)
            if session.expired(now):
                raise _expired_token()
            return Caller(
                access_key_id=auth.access_key_id,
                account_id=session.account_id,
                region=auth.region,
                session=session,
                is_admin=not session.federated_by,
            )
        moto_creds = self._moto_lookup(auth.access_key_id) if self._moto_lookup else None
        if moto_creds is not None:
            if token is None or not hmac.compare_digest(token, moto_creds.session_token):
                raise _invalid_token()
            self._check_signature(request, signed, moto_creds.secret_access_key)
            if now >= moto_creds.expiration:
                raise _expired_token()
            return Caller(
                access_key_id=auth.access_key_id,
                account_id=moto_creds.account_id,
                region=auth.region,
                session=None,
                is_admin=True,
            )
        if token is not None:
            # Temporary credentials nobody here issued.
            raise _invalid_token()
        # Long-term key of the account's administrator: secret unknowable (see module doc).
        return Caller(
            access_key_id=auth.access_key_id,
            account_id=DEFAULT_ACCOUNT_ID,
            region=auth.region,
            session=None,
            is_admin=True,
        )

    @staticmethod
    def _check_signature(request: Request, signed: SignedParts, secret: str) -> None:
        expected = expected_signature(request, signed, secret)
        if not hmac.compare_digest(expected.encode(), signed.auth.signature.encode()):
            raise SignatureError("InvalidSignatureException", SIGNATURE_MISMATCH)


def moto_sts_lookup(access_key_id: str) -> MotoCredentials | None:
    """Credentials moto's STS minted with plain AssumeRole, if it knows the key."""
    try:
        from moto.sts.models import sts_backends
    except ImportError:  # pragma: no cover - moto is part of the "local" extra
        return None
    for account_id in list(sts_backends.keys()):
        backend: Any = sts_backends[account_id]["aws"]
        role: Any = backend.get_assumed_role_from_access_key(access_key_id)
        if role is not None:
            expiration = role.expiration
            if expiration.tzinfo is None:
                expiration = expiration.replace(tzinfo=UTC)
            return MotoCredentials(
                access_key_id=access_key_id,
                secret_access_key=str(role.secret_access_key),
                session_token=str(role.session_token),
                account_id=str(account_id),
                expiration=expiration,
            )
    return None
