"""The benchmarks' running world: local AWS, a (slow) dev IdP, qbizfed serve, the baselines.

:class:`BenchStack` starts each server in its own process (:mod:`bench.servers`) and
provisions, through boto3 against the local AWS exactly as an administrator would, an
IAM OIDC provider for the IdP and an IAM SAML provider from its metadata, a role
trusting each (``sts:TagSession`` included; the SAML one for the ACS URLs of serve and
the SAML baseline), both with the web experience permission policy, and an
auto-subscribing Q Business application whose index holds the demo corpus. ``serve``
signs in with OIDC and SAML; with ``with_baseline`` the sample's ``oidcapp.py`` and
``samlapp.py`` designs run beside it, against the same IdP and AWS. With ``workers`` > 1,
serve runs as ``qbizfed serve --workers N`` does (uvicorn's worker processes on one port)
with a real ``redis-server`` of its own as the shared session store.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3
import httpx

from bench.processes import ChildServer, listening_socket, url_of
from qbizfed.identity.saml import SamlSpSettings
from qbizfed.policies import (
    application_arn,
    oidc_trust_policy,
    saml_trust_policy,
    web_experience_permission_policy,
)
from qbizfed.web.sealing import SessionKeys

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

REGION = "us-east-1"
CLIENT_ID = "qbizfed-bench"
CLIENT_SECRET = "bench-client-secret-0123456789"
ADMIN_KEY = "AKIAIOSFODNN7EXAMPLE"
ADMIN_SECRET = "fake-secret-for-the-local-stack-only-000"
DEMO_CORPUS = Path(__file__).resolve().parent.parent / "src/qbizfed/local/qbusiness/demo_corpus"
DEMO_USERS = ("alice", "bob", "carol")  # the dev IdP's demo users (…@example.com)
DEMO_PASSWORD = "demo"
CHAT_CONCURRENCY = 32
"""Q Business calls in flight at once: serve's allowance, and the library side's threads."""


@dataclass(frozen=True)
class Federation:
    """What provisioning produced: the roles users assume and the application they chat with."""

    role_arn: str
    application_id: str
    saml_role_arn: str
    saml_provider_arn: str


def admin_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET, region_name=REGION
    )


def provision(
    aws_url: str, idp_url: str, *, name: str, saml_acs_urls: tuple[str, ...]
) -> Federation:
    session = admin_session()
    iam = session.client("iam", endpoint_url=aws_url)
    qb = session.client("qbusiness", endpoint_url=aws_url)
    provider = iam.create_open_id_connect_provider(
        Url=idp_url, ClientIDList=[CLIENT_ID], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    trust = oidc_trust_policy(
        provider_arn=provider, provider_path=idp_url.split("://", 1)[1], client_id=CLIENT_ID
    )
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    # A loopback issuer's OIDC provider ARN holds ":port", which Q Business's ARN pattern
    # refuses (as AWS would); the IdP's SAML provider stands in for the application.
    metadata = httpx.get(idp_url + "/saml/metadata", timeout=10).text
    saml_provider = iam.create_saml_provider(SAMLMetadataDocument=metadata, Name=name)[
        "SAMLProviderArn"
    ]
    saml_trust = saml_trust_policy(provider_arn=saml_provider, audiences=saml_acs_urls)
    saml_role_arn = iam.create_role(
        RoleName=name + "-saml", AssumeRolePolicyDocument=json.dumps(saml_trust)
    )["Role"]["Arn"]
    app = str(
        qb.create_application(
            displayName=name, identityType="AWS_IAM_IDP_SAML", iamIdentityProviderArn=saml_provider
        )["applicationId"]
    )
    deadline = time.monotonic() + 10
    while qb.get_application(applicationId=app)["status"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise RuntimeError("the Q Business application never became ACTIVE")
        time.sleep(0.02)
    qb.update_application(
        applicationId=app,
        autoSubscriptionConfiguration={
            "autoSubscribe": "ENABLED",
            "defaultSubscriptionType": "Q_LITE",
        },
    )
    qb.create_index(applicationId=app, displayName="demo-corpus")  # loaded from corpus_dir
    arn = application_arn(region=REGION, account_id=role_arn.split(":")[4], application_id=app)
    permissions = json.dumps(web_experience_permission_policy(application_arn=arn, region=REGION))
    for role in (name, name + "-saml"):
        iam.put_role_policy(
            RoleName=role, PolicyName="qbizfed-web-experience", PolicyDocument=permissions
        )
    if (saml_role_arn, saml_provider) != saml_arns(name):
        raise RuntimeError("the SAML role and provider ARNs are not the ones the IdP was given")
    return Federation(role_arn=role_arn, application_id=app, saml_role_arn=saml_role_arn,
                      saml_provider_arn=saml_provider)  # fmt: skip


ACCOUNT_ID = "123456789012"  # the local AWS's account


def saml_arns(name: str) -> tuple[str, str]:
    """The SAML role and provider ARNs :func:`provision` creates for ``name``, known before
    the IdP starts so that its assertions can carry them in their Role attribute."""
    return (f"arn:aws:iam::{ACCOUNT_ID}:role/{name}-saml",
            f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/{name}")  # fmt: skip


class BenchStack:
    """``with BenchStack(token_delay_ms=100) as stack:`` -> ``stack.serve_url`` etc."""

    def __init__(
        self, *, token_delay_ms: float = 0.0, with_baseline: bool = False,
        stream_delay_ms: int = 0, chat_concurrency: int = CHAT_CONCURRENCY, workers: int = 1,
        redis_sessions: bool = False,
    ) -> None:  # fmt: skip
        self.token_delay_ms = token_delay_ms
        self.stream_delay_ms = stream_delay_ms
        """The emulator's pause between the text events of a streamed answer."""
        self.chat_concurrency = chat_concurrency
        """Per serve process (each worker has its own allowance)."""
        self.workers = workers
        """serve's processes; more than one share a Redis session store."""
        self.redis_sessions = redis_sessions or workers > 1
        """Sessions in a Redis of serve's own (always with several workers)."""
        self.redis: RedisServer | None = None
        self.with_baseline = with_baseline
        self.children: list[ChildServer] = []
        self.aws: ChildServer | None = None
        self.serve: ChildServer | None = None
        self.baseline: ChildServer | None = None
        self.saml_baseline: ChildServer | None = None
        self.federation: Federation | None = None
        self.idp_url = ""

    def start(self) -> BenchStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # Processes that do not depend on each other start together (imports take seconds).
        aws = self._child(
            "aws", {"corpus_dir": str(DEMO_CORPUS), "stream_delay_ms": self.stream_delay_ms}
        )
        idp_sock, serve_sock = listening_socket(), listening_socket()
        baseline_sock = listening_socket() if self.with_baseline else None
        saml_baseline_sock = listening_socket() if self.with_baseline else None
        self.idp_url = url_of(idp_sock)
        relying_parties = [url_of(s) for s in (serve_sock, baseline_sock) if s is not None]
        client = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [rp + "/auth/oidc/callback" for rp in relying_parties],
        }
        acs_urls = tuple(
            url_of(s) + "/saml" for s in (serve_sock, saml_baseline_sock) if s is not None
        )
        name = "bench" + uuid.uuid4().hex[:8]
        role_arn, provider_arn = saml_arns(name)
        service_providers = [  # entity ID = ACS URL; Role attribute "<role>,<provider>"
            {"entity_id": acs, "acs_urls": [acs], "role_arn": role_arn,
             "provider_arn": provider_arn}
            for acs in acs_urls
        ]  # fmt: skip
        idp = self._child(
            "idp",
            {"url": self.idp_url, "token_delay_ms": self.token_delay_ms, "clients": [client],
             "service_providers": service_providers},
            sock=idp_sock,
        )  # fmt: skip
        self.aws = aws.ready()
        idp.ready()
        self.federation = provision(self.aws.url, self.idp_url, name=name,
                                    saml_acs_urls=acs_urls)  # fmt: skip
        metadata = SamlSpSettings.from_idp_metadata(
            httpx.get(self.idp_url + "/saml/metadata", timeout=10).text,
            sp_entity_id=acs_urls[0], acs_url=acs_urls[0],
        )  # fmt: skip
        rp_config: dict[str, Any] = {
            "issuer": self.idp_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "role_arn": self.federation.role_arn,
            "region": REGION,
            "aws_url": self.aws.url,
        }
        saml_config: dict[str, Any] = {
            "idp_sso_url": metadata.idp_sso_url,
            "idp_entity_id": metadata.idp_entity_id,
            "idp_certificate": metadata.idp_certificates[0],
            "role_arn": self.federation.saml_role_arn,
            "provider_arn": self.federation.saml_provider_arn,
        }
        serve_config = {
            **rp_config,
            "url": url_of(serve_sock),
            "application_id": self.federation.application_id,
            "saml": saml_config,
            "chat_concurrency": self.chat_concurrency,
            "workers": self.workers,
        }
        if self.redis_sessions:
            from tests.support.redis_server import RedisServer

            self.redis = RedisServer().start()
            serve_config["session_store"] = self.redis.url
            serve_config["session_key"] = SessionKeys.generate().encoded()
        serve = self._child("serve", serve_config, sock=serve_sock)
        if baseline_sock is not None and saml_baseline_sock is not None:
            baseline = self._child(
                "baseline", {**rp_config, "url": url_of(baseline_sock)}, sock=baseline_sock
            )
            self.saml_baseline = self._child(
                "saml_baseline",
                {**rp_config, **saml_config, "url": url_of(saml_baseline_sock)},
                sock=saml_baseline_sock,
            ).ready()
            self.baseline = baseline.ready()
        self.serve = serve.ready()

    def saml_start_url(self, app: ChildServer) -> str:
        """Where a SAML login starts: serve's ``/login/saml``; for the sample, the IdP
        (IdP-initiated: the dev IdP refuses the sample's hand-written AuthnRequest)."""
        if app is self.serve:
            return app.url + "/login/saml"
        return f"{self.idp_url}/saml/sso?providerId={app.url}/saml"

    def set_sts_latency(self, milliseconds: float) -> None:
        """Every STS call of the local AWS waits this long first (0: none), like a real,
        remote STS; through the local stack's fault control endpoint."""
        rules = [{"kind": "latency", "service": "sts", "latency_ms": int(milliseconds)}]
        response = httpx.post(
            self.aws_url + "/_qbizfed/faults",
            json={"rules": rules if milliseconds else []},
            timeout=10,
        )
        response.raise_for_status()

    def _child(self, kind: str, config: dict[str, Any], **kwargs: Any) -> ChildServer:
        child = ChildServer.spawn(kind, config, **kwargs)
        self.children.append(child)
        return child

    @property
    def serve_url(self) -> str:
        assert self.serve is not None
        return self.serve.url

    @property
    def aws_url(self) -> str:
        assert self.aws is not None
        return self.aws.url

    @property
    def application_id(self) -> str:
        assert self.federation is not None
        return self.federation.application_id

    def slow_chatsync(self, latency_ms: int) -> None:
        """The local stack's latency fault: every ChatSync waits ``latency_ms`` first."""
        rules = (
            [{"kind": "latency", "service": "qbusiness", "operation": "ChatSync",
              "latency_ms": latency_ms}] if latency_ms else []
        )  # fmt: skip
        httpx.post(self.aws_url + "/_qbizfed/faults", json={"rules": rules}, timeout=10)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.redis is not None:
            self.redis.close()
            self.redis = None

    def __enter__(self) -> BenchStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
