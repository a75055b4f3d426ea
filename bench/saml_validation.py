"""SAML response validation per response: qbizfed's service provider vs the sample's parse.

The dev IdP (in process, loopback) signs N distinct responses, each answering its own
AuthnRequest from the SP (real HTTP through the IdP's login form). Then, interleaved,
each response is handled as the sample's ACS handles it before calling STS (decode and
escape for the page, no checks: :mod:`bench.baselines.sample_samlapp`) and validated by
:meth:`qbizfed.identity.saml.SamlServiceProvider.validate_response` (structure, signature,
audience, recipient, time window, InResponseTo, replay, AWS attributes). Printed: p50s
and their ratio; goal: validation p50 under 2 ms.

Run: ``.venv/bin/python -m bench.saml_validation [--responses 200]``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from urllib.parse import urljoin

import httpx

from bench.baselines.sample_samlapp import decode_for_the_page
from bench.browser import _FormParser, _login_data
from bench.stack import DEMO_PASSWORD
from bench.stats import Latency
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import ServiceProvider

ACS_URL = "http://127.0.0.1:9/saml"  # never contacted: responses are validated in process
ROLE_ARN = "arn:aws:iam::123456789012:role/qbizfed-bench-saml"
PROVIDER_ARN = "arn:aws:iam::123456789012:saml-provider/qbizfed-bench"
ROLE_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/Role"


@dataclass(frozen=True)
class SamlResult:
    responses: int
    qbizfed: Latency
    baseline: Latency

    @property
    def ratio(self) -> float:
        return self.qbizfed.p50 / self.baseline.p50

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio}


def _signed_response(client: httpx.Client, url: str) -> str:
    """Walk the IdP's pages for one AuthnRequest until its auto-post form's SAMLResponse."""
    response = client.get(url)
    for _ in range(8):
        if response.is_redirect:
            response = client.get(urljoin(str(response.url), response.headers["location"]))
            continue
        parser = _FormParser()
        parser.feed(response.text)
        if not parser.forms:
            raise RuntimeError(f"the IdP answered {response.status_code} without a form")
        form = parser.forms[0]
        if "SAMLResponse" in form.fields:
            return form.fields["SAMLResponse"]
        response = client.post(urljoin(str(response.url), form.action),
                               data=_login_data(form, "alice", DEMO_PASSWORD))  # fmt: skip
    raise RuntimeError("no SAMLResponse from the IdP")


def run(*, responses: int) -> SamlResult:
    sp_entity = "urn:qbizfed:bench:sp"
    with DevIdp(DevIdpSettings(port=0)) as idp:
        idp.register_service_provider(ServiceProvider(
            entity_id=sp_entity, acs_urls=(ACS_URL,), role_arn=ROLE_ARN, provider_arn=PROVIDER_ARN
        ))  # fmt: skip
        sp = SamlServiceProvider(
            SamlSpSettings.from_idp_metadata(
                idp.saml_metadata_xml, sp_entity_id=sp_entity, acs_url=ACS_URL
            ),
            requests=MemoryRequestIdStore(),
            replay=MemoryReplayCache(),
        )
        with httpx.Client(timeout=30) as client:
            signed = [_signed_response(client, sp.authn_request().url) for _ in range(responses)]
    sp.validate_response(signed[0])  # warms imports and caches; not timed
    ours: list[float] = []
    theirs: list[float] = []
    for response in signed[1:]:
        started = time.perf_counter()
        page_text = decode_for_the_page(response)
        theirs.append(time.perf_counter() - started)
        started = time.perf_counter()
        identity = sp.validate_response(response)
        ours.append(time.perf_counter() - started)
        if identity.email != "alice@example.com" or ROLE_ATTRIBUTE not in page_text:
            raise RuntimeError("a response was read wrongly")
    return SamlResult(
        responses=len(ours), qbizfed=Latency.of_seconds(ours), baseline=Latency.of_seconds(theirs)
    )


def describe(result: SamlResult) -> list[str]:
    return [
        f"SAML response validation, {result.responses} distinct signed responses",
        f"  sample design (decode + escape, no checks): {result.baseline.brief()}",
        f"  qbizfed SamlServiceProvider.validate_response: {result.qbizfed.brief()}",
        f"  ratio of p50s: {result.ratio:.1f}x; goal p50 < 2 ms: "
        f"{'met' if result.qbizfed.p50 < 2 else 'missed'}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(responses=args.responses)
    print(json.dumps(result.as_dict()) if args.json else "\n".join(describe(result)))


if __name__ == "__main__":
    main()
