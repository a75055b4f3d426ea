"""Writing AWS event-stream messages (botocore only reads them).

A message is a prelude (total length, headers length, CRC32 of those 8 bytes), typed
headers, the payload and a CRC32 of everything before it. Only the header types the
chat input needs are written: strings, bytes and timestamps.
"""

from __future__ import annotations

import binascii
import datetime as dt
import struct
from collections.abc import Sequence
from dataclasses import dataclass

_BYTES = 6
_STRING = 7
_TIMESTAMP = 8


@dataclass(frozen=True)
class Header:
    name: str
    kind: int
    value: bytes

    @classmethod
    def string(cls, name: str, value: str) -> Header:
        return cls(name, _STRING, value.encode())

    @classmethod
    def binary(cls, name: str, value: bytes) -> Header:
        return cls(name, _BYTES, value)

    @classmethod
    def timestamp(cls, name: str, when: dt.datetime) -> Header:
        millis = int(when.timestamp() * 1000)
        return cls(name, _TIMESTAMP, struct.pack(">q", millis))

    def encode(self) -> bytes:
        name = self.name.encode()
        if self.kind == _TIMESTAMP:
            body = self.value
        else:
            body = struct.pack(">H", len(self.value)) + self.value
        return struct.pack(">B", len(name)) + name + struct.pack(">B", self.kind) + body


def encode_message(headers: Sequence[Header], payload: bytes) -> bytes:
    encoded_headers = b"".join(h.encode() for h in headers)
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded_headers))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded_headers + payload
    return message + struct.pack(">I", binascii.crc32(message) & 0xFFFFFFFF)
