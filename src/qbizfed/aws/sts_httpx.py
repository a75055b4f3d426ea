"""The STS federation calls on an event loop: botocore's request and answer, httpx's connections.

``AssumeRoleWithWebIdentity`` and ``AssumeRoleWithSAML`` are unsigned (the ID token or
assertion is the proof), so they need no signer, only a transport. ``serve`` makes one
per sign-in; through boto3 (:class:`qbizfed.aws.sts.StsFederation`) each costs a worker
thread and botocore's whole per-call pipeline (event hooks, endpoint rules, urllib3).
:class:`HttpxStsFederation` keeps what must stay botocore's and replaces the rest:

* botocore serialises the request and parses the answer from the STS service model
  (``botocore.serialize`` / ``botocore.parsers``, the same code a client runs), and
  decides retries (``botocore.retries.standard``: which errors, the backoff with jitter,
  the retry quota; ``max_attempts`` retries after the first attempt, as boto3's);
* the endpoint is resolved once, by a boto3 client made at first use and then only
  read (``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL``, the regional endpoint), so it
  is the one :class:`~qbizfed.aws.sts.StsFederation` would call;
* the transport is the caller's ``httpx.AsyncClient`` (``serve``'s, with keep-alive
  connections; its owner closes it), so a waiting call holds a socket, not a thread.

Errors are :class:`~qbizfed.aws.sts.StsFederation`'s: a refusal goes through
:func:`~qbizfed.aws.sts.translate_sts_error`, an unreachable endpoint is a
:class:`~qbizfed.aws.sts.StsUnreachableError`.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import botocore.parsers
import botocore.serialize
import httpx
from botocore.awsrequest import (
    AWSResponse,
    HeadersDict,
    create_request_object,
    prepare_request_dict,
)
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.model import OperationModel, ServiceModel
from botocore.retries import quota, standard

from qbizfed.aws.sts import (
    DEFAULT_MAX_ATTEMPTS,
    AwsCredentials,
    StsUnreachableError,
    credentials_from,
    federation_client,
    federation_request,
    translate_sts_error,
)
from qbizfed.identity.federated import FederatedIdentity

USER_AGENT = "qbizfed (httpx; botocore serializer)"


@dataclass(frozen=True)
class _Service:
    """What the boto3 client resolved once: where STS is, and its model."""

    endpoint_url: str
    model: ServiceModel


class HttpxStsFederation:
    """Exchanges a :class:`FederatedIdentity` for :class:`AwsCredentials` without a thread.

    Share one instance per ``http`` client (use it on that client's event loop).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._max_attempts = max_attempts
        self._service: _Service | None = None
        self._lock = threading.Lock()
        self._http = http
        # botocore's standard mode, assembled as register_retry_handler does for a client
        # (boto3's ``max_attempts`` counts retries; the checker counts every attempt).
        throttling = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
        self._quota = standard.RetryQuotaChecker(quota.RetryQuota(), throttling)
        self._policy = standard.RetryPolicy(
            retry_checker=standard.StandardRetryConditions(max_attempts=max_attempts + 1),
            retry_backoff=standard.ExponentialBackoff(
                service_name="sts", throttling_detector=throttling
            ),
        )

    def _resolve(self) -> _Service:
        with self._lock:
            if self._service is None:
                client = federation_client(
                    region=self._region,
                    max_attempts=self._max_attempts,
                    endpoint_url=self._endpoint_url,
                )
                self._service = _Service(client.meta.endpoint_url, client.meta.service_model)
            return self._service

    async def _service_ready(self) -> _Service:
        if self._service is not None:
            return self._service
        return await asyncio.to_thread(self._resolve)  # once: making the boto3 client blocks

    async def assume_async(
        self,
        identity: FederatedIdentity,
        role_arn: str | None = None,
        *,
        provider_arn: str | None = None,
        duration_seconds: int | None = None,
    ) -> AwsCredentials:
        """:meth:`qbizfed.aws.sts.StsFederation.assume`, on the running event loop."""
        request = federation_request(identity, role_arn, provider_arn, duration_seconds)
        service = await self._service_ready()
        operation = service.model.operation_model(request.operation)
        try:
            answer = await self._call(service, operation, request.params)
        except BotoCoreError as exc:  # e.g. a parameter STS would refuse, as boto3 reports it
            raise _unreachable(exc) from None
        if "Error" in answer:
            error = ClientError(answer, request.operation)
            raise translate_sts_error(error, identity=identity, role_arn=request.role_arn)
        return credentials_from(answer, identity)

    async def _call(
        self,
        service: _Service,
        operation: OperationModel,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        """The parsed answer (an ``Error`` answer once retries are spent)."""
        protocol = service.model.protocol
        serialized = botocore.serialize.create_serializer(protocol).serialize_to_request(
            params, operation
        )
        prepare_request_dict(serialized, service.endpoint_url, user_agent=USER_AGENT)
        prepared = create_request_object(serialized).prepare()
        parser = botocore.parsers.create_parser(protocol)
        attempt = 0
        shared: dict[str, Any] = {}  # what the quota took, across attempts
        while True:
            attempt += 1
            parsed: dict[str, Any] | None = None
            response: AWSResponse | None = None
            failure: httpx.TransportError | None = None
            try:
                reply = await self._http.request(
                    prepared.method,
                    prepared.url,
                    headers=dict(prepared.headers.items()),
                    content=prepared.body,
                )
            except httpx.TransportError as exc:
                failure = exc
            else:
                headers = HeadersDict(reply.headers.items())
                response = AWSResponse(str(reply.url), reply.status_code, headers, None)
                parsed = parser.parse(
                    {"status_code": reply.status_code, "headers": headers,
                     "body": reply.content, "context": {"operation_name": operation.name}},
                    operation.output_shape,
                )  # fmt: skip
            context = standard.RetryContext(
                attempt_number=attempt,
                operation_model=operation,
                parsed_response=parsed,
                http_response=response,
                caught_exception=_as_botocore(failure),
                request_context=shared,
            )
            retry = self._policy.should_retry(context) and self._quota.acquire_retry_quota(context)
            if not retry:
                if failure is not None:
                    raise _unreachable(failure) from None
                assert parsed is not None
                self._quota.release_retry_quota(shared, response)
                return parsed
            await asyncio.sleep(self._policy.compute_retry_delay(context))


def _unreachable(failure: Exception) -> StsUnreachableError:
    return StsUnreachableError(
        f"could not reach STS: {type(failure).__name__}",
        remedy="check network access to STS, or AWS_ENDPOINT_URL for a local stack",
    )


def _as_botocore(failure: httpx.TransportError | None) -> Exception | None:
    """httpx's transport failures as the botocore error the retry rules know (each is
    transient to botocore too: connection refused, reset, timed out)."""
    return None if failure is None else HTTPClientError(error=failure)
