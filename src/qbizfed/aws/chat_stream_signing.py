"""The signed opening of one streamed turn, on top of :mod:`qbizfed.aws.event_stream`.

``event_stream`` owns the wire format and the signing (botocore's SigV4 query signer
for the URL, botocore's SigV4 HMAC for the chained ``:chunk-signature``); this layer
only maps a turn's input events (``chat_stream.input_events``: configuration with the
chat mode, its configuration and the attribute filter, text, attachments, end of
input) onto it. ``event_stream.chat_input_frames`` cannot carry a
``chatModeConfiguration``, hence the events are signed one by one here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.credentials import Credentials

from qbizfed.aws.event_stream import (
    ChatInput,
    EventSigner,
    encode_event,
    presign_chat_url,
)


def signed_turn(
    *,
    url: str,
    region: str,
    credentials: Any,
    chat_input: ChatInput,
    events: Sequence[tuple[str, Mapping[str, Any]]],
) -> tuple[str, list[bytes]]:
    """A freshly presigned ``/chat`` URL and the signed input frames, chained from it.

    ``credentials`` are botocore credentials, refreshable or not: they are frozen once
    so that the URL and every frame are signed with the same key even if a refresh
    happens in between."""
    frozen = credentials.get_frozen_credentials()
    fixed = Credentials(frozen.access_key, frozen.secret_key, frozen.token)
    presigned = presign_chat_url(url, fixed, region=region, chat_input=chat_input)
    signer = EventSigner(fixed, region=region, seed_signature=presigned.signature)
    return presigned.url, [signer.sign(encode_event(kind, body)) for kind, body in events]
