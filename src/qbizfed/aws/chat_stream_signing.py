"""The signed opening of a streamed turn: the presigned ``/chat`` URL and the input frames.

SigV4 query signing is botocore's (``SigV4QueryAuth``: ``X-Amz-*`` parameters with
the session token inside the signed query, ``SignedHeaders=host``); the chained
``:chunk-signature`` of each input frame uses botocore's SigV4 key derivation and
HMAC (``SigV4Auth.signature``) over the event-stream string to sign. Nothing here
computes a hash-based signature by hand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest

from qbizfed.aws.event_stream_encoding import Header, encode_message

SERVICE = "qbusiness"
PRESIGN_EXPIRES = 900
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
TIMESTAMP = "%Y%m%dT%H%M%SZ"


def presign(url: str, *, region: str, credentials: Any, chat_input: str) -> tuple[str, str]:
    """The WebSocket URL with its SigV4 query, and the signature (the chain's seed)."""
    parts = urlsplit(url)
    # SigV4 signs host, path and query: the scheme is not part of it, so sign the
    # https/http form and hand the ws/wss form to the WebSocket client.
    http_scheme = "https" if parts.scheme == "wss" else "http"
    query = urlencode({"chat-input": chat_input})
    request = AWSRequest(
        method="GET", url=urlunsplit((http_scheme, parts.netloc, parts.path, query, ""))
    )
    SigV4QueryAuth(credentials, SERVICE, region, expires=PRESIGN_EXPIRES).add_auth(request)
    signed = urlsplit(request.url)
    signature = dict(
        pair.split("=", 1)
        for pair in signed.query.split("&")
        if pair.startswith("X-Amz-Signature=")
    )["X-Amz-Signature"]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, signed.query, "")), signature


def signed_frames(
    events: Sequence[tuple[str, dict[str, Any]]],
    *,
    region: str,
    credentials: Any,
    seed_signature: str,
    now: dt.datetime | None = None,
) -> list[bytes]:
    """Each input event as its event-stream message inside a signed envelope, chained."""
    signer = SigV4Auth(credentials, SERVICE, region)
    prior = seed_signature
    frames = []
    for event_type, payload in events:
        inner = encode_message(
            [
                Header.string(":event-type", event_type),
                Header.string(":message-type", "event"),
                Header.string(":content-type", JSON_CONTENT_TYPE),
            ],
            json.dumps(payload, separators=(",", ":")).encode(),
        )
        when = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        date_header = Header.timestamp(":date", when)
        request = AWSRequest(method="GET", url="https://signing.invalid/")
        request.context["timestamp"] = when.strftime(TIMESTAMP)
        string_to_sign = "\n".join([
            "AWS4-HMAC-SHA256-PAYLOAD",
            request.context["timestamp"],
            signer.credential_scope(request),
            prior,
            hashlib.sha256(date_header.encode()).hexdigest(),
            hashlib.sha256(inner).hexdigest(),
        ])  # fmt: skip
        prior = signer.signature(string_to_sign, request)
        frames.append(
            encode_message(
                [date_header, Header.binary(":chunk-signature", bytes.fromhex(prior))], inner
            )
        )
    return frames


def signed_turn(
    *,
    url: str,
    region: str,
    credentials: Any,
    chat_input: str,
    events: Sequence[tuple[str, dict[str, Any]]],
) -> tuple[str, list[bytes]]:
    """What one attempt at a streamed turn sends: the presigned URL and the input frames."""
    presigned, seed = presign(url, region=region, credentials=credentials, chat_input=chat_input)
    return presigned, signed_frames(
        events, region=region, credentials=credentials, seed_signature=seed
    )
