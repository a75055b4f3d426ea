"""Doctor never changes anything, and says which permissions it lacked.

Every AWS call doctor makes goes through botocore's event system; a ``before-call``
hook records them all (``CallLog`` of the admin code). Only Get/List/Describe calls
may appear, plus the federation call of the opt-in end-to-end check.
"""

from __future__ import annotations

import base64
import functools
import io
import json
from typing import Any

import boto3
import httpx
import pytest
from rich.console import Console

from qbizfed.aws.provision import AwsClients, CallLog, apply_stack, observe
from qbizfed.aws.provision.observed import Part, read_stack
from qbizfed.aws.sts import federation_client
from qbizfed.credentials import AwsCredentials
from qbizfed.doctor import DoctorOptions, Status, render_json, render_text, run_doctor
from qbizfed.doctor.run import EndToEndClients
from qbizfed.errors import AwsError
from qbizfed.local.idp.server import DevIdp, DevIdpSettings
from qbizfed.local.idp.users import ServiceProvider
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import StackConfig, config_from_mapping
from tests.peers.flows import login_for_saml
from tests.support.saml_assertions import make_idp

REGION = "us-east-1"
ACS_URL = "http://127.0.0.1:8000/saml"
FEDERATION_CALLS = {("sts", "AssumeRoleWithSAML"), ("sts", "AssumeRoleWithWebIdentity")}


def test_doctor_makes_read_calls_only_and_names_refused_permissions(
    local_aws: LocalAws, unique_name: str
) -> None:
    with DevIdp(DevIdpSettings(port=0)) as idp:
        config = config_from_mapping({
            "name": unique_name, "mode": "saml", "region": REGION,
            "saml": {"metadata_document": idp.saml_metadata_xml,
                     "sso_url": "https://idp.example.com/sso", "custom_acs_url": ACS_URL}})
        admin = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
        observed = apply_stack(config, clients=admin)
        assert observed.web_role is not None
        assert observed.provider is not None
        # Break something so the failure paths run too.
        admin.qbusiness.update_application(
            applicationId=observed.application.id if observed.application else "",
            autoSubscriptionConfiguration={"autoSubscribe": "DISABLED"})
        entity = f"urn:doctor:{unique_name}"
        idp.register_service_provider(ServiceProvider(
            entity, (ACS_URL,), role_arn=observed.web_role.arn,
            provider_arn=observed.provider.arn))
        with httpx.Client(timeout=10) as browser:
            posted = login_for_saml(browser, f"{idp.saml_sso_url}?providerId={entity}",
                                    username="carol", password="demo")
        assertion = base64.b64encode(posted.saml_response_xml).decode()

        clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
        log = clients.attach(CallLog())
        shared = boto3.session.Session(region_name=REGION)

        def make_client(service: str, creds: AwsCredentials) -> Any:
            client = shared.client(service, endpoint_url=local_aws.url,
                                   **creds.boto3_session_kwargs())
            client.meta.events.register("before-call.*.*", log.record)
            return client

        federation = federation_client(region=REGION, endpoint_url=local_aws.url)
        federation.meta.events.register("before-call.*.*", log.record)
        with httpx.Client(timeout=5) as http:
            report = run_doctor(config, DoctorOptions(credential=assertion, assume=True),
                                clients=clients, http=http,
                                e2e=EndToEndClients(federation, make_client))
    assert report.by_name("stack.auto-subscription").status is Status.FAIL
    listed = report.by_name("e2e.list-conversations")
    assert listed.status is Status.FAIL
    assert "does not have a subscription" in listed.detail
    assert listed.fix is not None
    assert "auto-subscription" in listed.fix.summary
    assert len(log.calls) > 10
    changing = [call for call in log.mutating if call not in FEDERATION_CALLS]
    assert changing == []
    assert ("sts", "AssumeRoleWithSAML") in log.calls


@functools.cache
def _metadata() -> str:
    return make_idp().metadata_xml()


def _saml_config(name: str) -> StackConfig:
    """A SAML stack nobody applied: every read finds nothing (or is refused)."""
    return config_from_mapping({
        "name": name, "mode": "saml", "region": REGION,
        "saml": {"metadata_document": _metadata(), "sso_url": "https://idp.example.com/sso",
                 "custom_acs_url": ACS_URL}})


def _deny(operations: set[str]) -> Any:
    """A before-call hook answering AccessDenied for ``operations``, as IAM would."""

    def handler(model: Any, **_: Any) -> Any:
        if model.name not in operations:
            return None
        http = type("Http", (), {"status_code": 403, "headers": {}, "content": b""})()
        return http, {"Error": {"Code": "AccessDenied", "Message": "not authorized"},
                      "ResponseMetadata": {"HTTPStatusCode": 403}}

    return handler


@pytest.mark.parametrize(
    ("denied", "skipped", "permission"),
    [
        ({"GetRole"}, "role.tag-session", "iam:GetRole"),
        ({"ListSAMLProviders"}, "idp.iam-saml-provider", "iam:ListSAMLProviders"),
        ({"ListApplications"}, "stack.auto-subscription", "qbusiness:ListApplications"),
    ],
)
def test_refused_reads_skip_their_checks_and_name_the_permission(
    local_aws: LocalAws, unique_name: str, denied: set[str], skipped: str, permission: str
) -> None:
    config = _saml_config(unique_name)
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    handler = _deny(denied)
    for client in (clients.iam, clients.qbusiness):
        client.meta.events.register("before-call.*.*", handler)
    with httpx.Client(timeout=5) as http:
        report = run_doctor(config, DoctorOptions(), clients=clients, http=http)
    result = report.by_name(skipped)
    assert result.status is Status.SKIP
    assert permission in result.needs
    assert permission in report.missing_permissions
    assert permission in json.loads(render_json(report))["missing_permissions"]
    out = io.StringIO()
    render_text(report, Console(file=out, width=160))
    assert "read-only permissions: " in out.getvalue()
    assert permission in out.getvalue()


def test_a_refused_read_is_unknown_for_doctor_and_an_error_for_admin_plan(
    local_aws: LocalAws, unique_name: str
) -> None:
    """One reader, two policies: doctor goes on without the part, admin stops and says why."""
    config = _saml_config(unique_name)
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    clients.iam.meta.events.register("before-call.*.*", _deny({"GetRole"}))
    reading = read_stack(config, clients)
    unknown = reading.unknown_part(Part.WEB_ROLE)
    assert unknown is not None
    assert "iam:GetRole" in unknown.needs
    assert [u.part for u in reading.unknown] == [Part.WEB_ROLE]
    assert reading.stack.web_role is None
    with pytest.raises(AwsError) as raised:
        observe(config, clients)
    assert raised.value.code == "AccessDenied"
    assert "reading the stack's resources failed: AccessDenied" in raised.value.message
