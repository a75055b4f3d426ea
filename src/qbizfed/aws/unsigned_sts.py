"""STS's unsigned federation calls through botocore's own parts, without a client's
per-call machinery.

``AssumeRoleWithWebIdentity`` and ``AssumeRoleWithSAML`` carry the IdP's proof, not AWS
credentials, so nothing is signed. A boto3 client call still runs its event hooks
(about twenty), endpoint-ruleset resolution, user-agent assembly and retry bookkeeping
on every call: against the local stack 1.0-1.4 ms of the calling thread's CPU per call,
0.85-1.0 ms here (three alternating runs of 500 calls; the web broker's whole CPU per
sign-in is a few ms). :class:`UnsignedStsCalls` makes the same call
with botocore's parts, taken from an unsigned STS client built once:

* the client's service model, botocore's query serializer (with parameter validation)
  and response parser (the client's own timestamp and blob handling);
* the client's resolved endpoint URL and its HTTP session (proxies, CA bundle, timeouts
  and connection pool exactly as boto3 configured them);
* botocore's *standard* retry conditions and exponential backoff with jitter: the same
  decisions as the client's ``standard`` retry mode (throttling, 5xx, transient
  connection errors, STS's ``IDPCommunicationError``), ``max_attempts`` retries after
  the first attempt. Not kept: the client's retry quota, a token bucket that stops
  retrying after many failures in a row across calls.

Errors come out as from the client: ``ClientError`` with the parsed error response (code,
message, HTTP status), or botocore's ``BotoCoreError`` for a connection failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import botocore
from botocore.awsrequest import AWSResponse, create_request_object, prepare_request_dict
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import create_parser
from botocore.retries.standard import ExponentialBackoff, RetryContext, StandardRetryConditions
from botocore.serialize import create_serializer

FEDERATION_OPERATIONS = ("AssumeRoleWithWebIdentity", "AssumeRoleWithSAML")


class UnsignedStsCalls:
    """``call(operation, params)`` -> the parsed answer, as ``client.<operation>(**params)``.

    Built by :meth:`of` from an unsigned STS client (``None`` for any other client, which
    is then called as usual). Thread-safe: nothing is mutated per call.
    """

    def __init__(
        self,
        client: Any,
        *,
        max_attempts: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        model = client.meta.service_model
        self._operations = {name: model.operation_model(name) for name in FEDERATION_OPERATIONS}
        self._endpoint_url: str = client.meta.endpoint_url
        # The HTTP session boto3 built for this client (proxies, CA bundle, timeouts, pool).
        self._http = client._endpoint.http_session
        self._user_agent: str = client.meta.config.user_agent
        self._serializer = create_serializer(model.metadata["protocol"], include_validation=True)
        self._parser = create_parser(model.metadata["protocol"])
        # botocore's retries config counts retries; its conditions count attempts.
        self._retryable = StandardRetryConditions(max_attempts=max_attempts + 1)
        self._backoff = ExponentialBackoff()
        self._sleep = sleep

    @classmethod
    def of(cls, client: Any, *, max_attempts: int) -> UnsignedStsCalls | None:
        """The lean path for ``client`` if it is an unsigned STS query client, else ``None``."""
        try:
            unsigned = client.meta.config.signature_version is botocore.UNSIGNED
            model = client.meta.service_model
            usable = (
                unsigned
                and model.service_name == "sts"
                and model.metadata.get("protocol") == "query"
                and hasattr(client, "_endpoint")
            )
        except AttributeError:
            return None
        return cls(client, max_attempts=max_attempts) if usable else None

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        model = self._operations[operation]
        attempt = 1
        while True:
            response: AWSResponse | None = None
            parsed: dict[str, Any] | None = None
            caught: Exception | None = None
            try:
                response = self._http.send(self._request(model, params))
                parsed = self._parser.parse(
                    {"status_code": response.status_code, "headers": response.headers,
                     "body": response.content},
                    model.output_shape,
                )  # fmt: skip
            except BotoCoreError as exc:
                caught = exc
            failed = caught is not None or (response is not None and response.status_code >= 300)
            if not failed:
                assert parsed is not None
                return parsed
            context = RetryContext(
                attempt_number=attempt, operation_model=model, parsed_response=parsed,
                http_response=response, caught_exception=caught,
            )  # fmt: skip
            if self._retryable.is_retryable(context):
                self._sleep(self._backoff.delay_amount(context))
                attempt += 1
                continue
            if caught is not None:
                raise caught
            assert parsed is not None
            raise ClientError(parsed, operation)

    def _request(self, model: Any, params: Mapping[str, Any]) -> Any:
        request = self._serializer.serialize_to_request(dict(params), model)
        request["headers"]["User-Agent"] = self._user_agent
        prepare_request_dict(request, self._endpoint_url)
        return create_request_object(request).prepare()
