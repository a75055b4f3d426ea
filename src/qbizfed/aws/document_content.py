"""A cited document's content: GetDocumentContent, then its presigned URL, fetched.

Q Business answers ``GetDocumentContent`` with a short-lived ``presignedUrl`` and the
document's ``mimeType`` after checking the caller's identity against the document's
ACL. The URL is a bearer credential: it is fetched here and never shown, logged or
returned; callers get the bytes and the MIME type. Bodies are read up to
:data:`MAX_DOCUMENT_BYTES` (AWS's 50 MB document limit) and refused beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from qbizfed.errors import AwsError, NetworkError

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 30.0
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/csv")


@dataclass(frozen=True)
class DocumentContent:
    """A document's bytes and MIME type (``data`` is kept out of ``repr``)."""

    document_id: str
    mime_type: str
    data: bytes = field(repr=False)

    @property
    def is_text(self) -> bool:
        """Whether the content is text a terminal may print."""
        return self.mime_type.split(";")[0].strip().lower().startswith(TEXT_TYPES)

    def text(self) -> str:
        """The content decoded as UTF-8 (undecodable bytes replaced)."""
        return self.data.decode("utf-8", errors="replace")


def fetch_presigned(url: str, *, document_id: str, mime_type: str) -> DocumentContent:
    """GET a presigned URL (no credentials needed) and read the body within the limit."""
    try:
        with (
            httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise AwsError(
                    f"the link to document {document_id} was refused (HTTP {response.status_code})",
                    code="PresignedUrlRefused",
                    remedy="links expire after a few minutes: open the source again",
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise AwsError(
                        f"document {document_id} is larger than {MAX_DOCUMENT_BYTES} bytes",
                        code="DocumentTooLarge",
                        remedy="open it in the source system instead",
                    )
    except httpx.HTTPError as exc:
        raise NetworkError(
            f"could not download document {document_id}: {type(exc).__name__}",
            remedy="check the network (and AWS_ENDPOINT_URL for the local stack), then retry",
        ) from exc
    return DocumentContent(document_id=document_id, mime_type=mime_type, data=bytes(body))
