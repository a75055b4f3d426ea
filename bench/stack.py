"""The benchmarks' running world: local AWS, a (slow) dev IdP, qbizfed serve, the baseline.

:class:`BenchStack` starts each server in its own process (:mod:`bench.servers`) and
provisions, through boto3 against the local AWS exactly as an administrator would, an
IAM OIDC provider for the IdP, a role trusting it (``sts:TagSession`` included) and an
auto-subscribing Q Business application whose index holds the demo corpus.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import httpx

from bench.processes import ChildServer, listening_socket, url_of
from qbizfed.policies import oidc_trust_policy

REGION = "us-east-1"
CLIENT_ID = "qbizfed-bench"
CLIENT_SECRET = "bench-client-secret-0123456789"
ADMIN_KEY = "AKIAIOSFODNN7EXAMPLE"
ADMIN_SECRET = "fake-secret-for-the-local-stack-only-000"
DEMO_CORPUS = Path(__file__).resolve().parent.parent / "src/qbizfed/local/qbusiness/demo_corpus"
DEMO_USERS = ("alice", "bob", "carol")  # the dev IdP's demo users (…@example.com)
DEMO_PASSWORD = "demo"


@dataclass(frozen=True)
class Federation:
    """What provisioning produced: the role users assume and the application they chat with."""

    role_arn: str
    application_id: str


def admin_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET, region_name=REGION
    )


def provision(aws_url: str, idp_url: str) -> Federation:
    session = admin_session()
    iam = session.client("iam", endpoint_url=aws_url)
    qb = session.client("qbusiness", endpoint_url=aws_url)
    name = "bench" + uuid.uuid4().hex[:8]
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
    return Federation(role_arn=role_arn, application_id=app)


class BenchStack:
    """``with BenchStack(token_delay_ms=100) as stack:`` -> ``stack.serve_url`` etc."""

    def __init__(
        self, *, token_delay_ms: float = 0.0, with_baseline: bool = False, stream_delay_ms: int = 0
    ) -> None:
        self.token_delay_ms = token_delay_ms
        self.stream_delay_ms = stream_delay_ms
        """The emulator's pause between the text events of a streamed answer."""
        self.with_baseline = with_baseline
        self.children: list[ChildServer] = []
        self.aws: ChildServer | None = None
        self.serve: ChildServer | None = None
        self.baseline: ChildServer | None = None
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
        self.idp_url = url_of(idp_sock)
        relying_parties = [url_of(s) for s in (serve_sock, baseline_sock) if s is not None]
        client = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [rp + "/auth/oidc/callback" for rp in relying_parties],
        }
        idp = self._child(
            "idp",
            {"url": self.idp_url, "token_delay_ms": self.token_delay_ms, "clients": [client]},
            sock=idp_sock,
        )
        self.aws = aws.ready()
        idp.ready()
        self.federation = provision(self.aws.url, self.idp_url)
        rp_config: dict[str, Any] = {
            "issuer": self.idp_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "role_arn": self.federation.role_arn,
            "region": REGION,
            "aws_url": self.aws.url,
        }
        serve_config = {
            **rp_config,
            "url": url_of(serve_sock),
            "application_id": self.federation.application_id,
        }
        serve = self._child("serve", serve_config, sock=serve_sock)
        if baseline_sock is not None:
            self.baseline = self._child(
                "baseline", {**rp_config, "url": url_of(baseline_sock)}, sock=baseline_sock
            ).ready()
        self.serve = serve.ready()

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

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    def __enter__(self) -> BenchStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
