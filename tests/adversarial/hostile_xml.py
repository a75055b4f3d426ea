"""Hostile XML prologues (DTDs, entities) grafted onto a response the trusted IdP signed.

Each consumer of SAML (the service provider behind ``serve`` and ``qbizfed login``, and
the local STS) has an XML gate that refuses DTDs and entity declarations before
anything else. For a test to prove *that gate* works, everything else about the
document must pass: so each case starts from a genuine response, signed by the trusted
key with the right issuer, audience and times, and only adds its prologue and, outside
the signed assertion (in ``samlp:Status``, which no signature covers), a reference to
the entity it declares. With the gate removed, such a document is accepted (or refused
for another reason): the tests assert the gate's own reason, so they would fail.
"""

from __future__ import annotations

from dataclasses import dataclass

LAUGH_LEVELS = 4
"""10**4 laughs: the attack's shape, yet below libxml2's own entity-amplification limit
(five levels trip it), so that our gate, not libxml2, is what refuses it."""
LAUGHS = '<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
    for i in range(1, LAUGH_LEVELS + 1)
)


@dataclass(frozen=True)
class HostileProlog:
    name: str
    doctype: str
    reference: str | None = None
    """An entity reference put in ``samlp:StatusMessage`` (unsigned), if the case has one."""


HOSTILE_PROLOGS: tuple[HostileProlog, ...] = (
    HostileProlog("xxe_local_file",
                  '<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                  "&xxe;"),
    HostileProlog("external_entity_over_http",
                  '<!DOCTYPE samlp:Response [<!ENTITY ext SYSTEM "http://127.0.0.1:9/x">]>',
                  "&ext;"),
    HostileProlog("billion_laughs", f"<!DOCTYPE samlp:Response [{LAUGHS}]>",
                  f"&lol{LAUGH_LEVELS};"),
    HostileProlog("external_dtd",
                  '<!DOCTYPE samlp:Response SYSTEM "http://127.0.0.1:9/evil.dtd">'),
    HostileProlog("parameter_entity_oob",
                  '<!DOCTYPE samlp:Response [<!ENTITY % remote SYSTEM '
                  '"http://127.0.0.1:9/oob.dtd"> %remote;]>'),
    HostileProlog("parameter_entity_declaring_entities",
                  '<!DOCTYPE samlp:Response [<!ENTITY % decl "<!ENTITY inner \'x\'>"> %decl;]>',
                  "&inner;"),
    HostileProlog("internal_entity", '<!DOCTYPE samlp:Response [<!ENTITY e "x">]>', "&e;"),
    HostileProlog("bare_doctype", "<!DOCTYPE samlp:Response>"),
)  # fmt: skip

STATUS_END = b"</samlp:Status>"


def with_prolog(signed_response: bytes, prolog: HostileProlog) -> bytes:
    """``signed_response`` with ``prolog`` in front of it (after an XML declaration)."""
    body = signed_response.lstrip()
    if body.startswith(b"<?xml"):
        body = body[body.index(b"?>") + 2 :].lstrip()
    assert body.count(STATUS_END) == 1
    if prolog.reference is not None:
        message = f"<samlp:StatusMessage>{prolog.reference}</samlp:StatusMessage>".encode()
        body = body.replace(STATUS_END, message + STATUS_END)
    return b'<?xml version="1.0"?>\n' + prolog.doctype.encode() + b"\n" + body
