"""Doctor reads what a third-party SAML IdP (pysaml2's) releases, and finds it healthy.

pysaml2's metadata (its own generator) is applied with ``admin apply``; a real login
through pysaml2 gives the SAML response doctor decodes and, with ``assume``, sends to
the local STS. A healthy setup must report no problem with a peer's response either.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from qbizfed.aws.provision import AwsClients, apply_stack
from qbizfed.aws.sts import federation_client
from qbizfed.credentials import AwsCredentials
from qbizfed.doctor import DoctorOptions, Status, run_doctor
from qbizfed.doctor.run import EndToEndClients
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import config_from_mapping
from tests.peers.flows import login_for_saml

pytestmark = pytest.mark.peers
REGION = "us-east-1"
ACS_URL = "http://127.0.0.1:8000/saml"


def test_pysaml2_response_on_a_healthy_stack_has_no_problems(
    local_aws: LocalAws, unique_name: str
) -> None:
    if not Path("/usr/bin/xmlsec1").exists():
        pytest.skip("pysaml2 needs Debian's xmlsec1 (apt-get install xmlsec1)")
    from tests.peers.pysaml2_idp import PeerSp, PeerUser, Pysaml2Idp

    idp = Pysaml2Idp([PeerUser("carol", "carol@example.com", "Carol Chen")], []).start()
    try:
        config = config_from_mapping({
            "name": unique_name, "mode": "saml", "region": REGION,
            "saml": {"metadata_document": idp.metadata_xml,
                     "sso_url": "https://idp.example.com/sso", "custom_acs_url": ACS_URL}})
        clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
        observed = apply_stack(config, clients=clients)
        assert observed.web_role is not None
        assert observed.provider is not None
        entity = f"urn:qbizfed:doctor:{unique_name}"
        idp.register_sp(PeerSp(entity, ACS_URL,
                               f"{observed.web_role.arn},{observed.provider.arn}"))
        with httpx.Client(timeout=10) as browser:
            posted = login_for_saml(browser, f"{idp.url}/sso/idp-initiated?sp={entity}",
                                    username="carol", password="demo")
    finally:
        idp.stop()
    shared = boto3.session.Session(region_name=REGION)

    def make_client(service: str, creds: AwsCredentials) -> Any:
        return shared.client(service, endpoint_url=local_aws.url, **creds.boto3_session_kwargs())

    e2e = EndToEndClients(federation_client(region=REGION, endpoint_url=local_aws.url),
                          make_client)
    with httpx.Client(timeout=5) as http:
        report = run_doctor(config, DoctorOptions(
            credential=base64.b64encode(posted.saml_response_xml).decode(), assume=True),
            clients=clients, http=http, e2e=e2e)
    assert {r.name: r.detail for r in report.problems} == {}
    assert report.by_name("assertion.email-tag").detail == "Email carol@example.com"
    assert report.by_name("e2e.list-conversations").status is Status.OK
