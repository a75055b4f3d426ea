"""The applied stack works for a federated user: STS accepts the trust policy admin wrote,
and the first ChatSync auto-subscribes the user (SAML, against ``qbizfed local aws``).

The local STS evaluates trust policies (``SAML:aud``, ``aws:RequestTag/Email``,
``sts:TagSession``), so this checks the documents ``apply`` produced, not just their
presence.
"""

from __future__ import annotations

import time

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from qbizfed.aws.provision import AwsClients, apply_stack, destroy_stack
from qbizfed.local.stack import LocalAws
from qbizfed.settings.stack import config_from_mapping
from tests.support.saml_assertions import AssertionSpec, build_response, encode, make_idp

REGION = "us-east-1"


def test_saml_user_assumes_the_web_role_and_is_auto_subscribed(local_aws: LocalAws,
                                                                unique_name: str) -> None:
    idp = make_idp(f"https://{unique_name}.idp.example.test")
    config = config_from_mapping({
        "name": unique_name, "mode": "saml", "region": REGION,
        "saml": {"metadata_document": idp.metadata_xml(),
                 "sso_url": f"https://{unique_name}.idp.example.test/sso",
                 "custom_acs_url": "http://localhost:8000/saml"},
    })
    clients = AwsClients.from_session(region=REGION, endpoint_url=local_aws.url)
    final = apply_stack(config, clients=clients)
    assert final.web_role is not None
    assert final.provider is not None
    assert final.application is not None
    sts = boto3.client("sts", region_name=REGION, endpoint_url=local_aws.url,
                       config=Config(signature_version=UNSIGNED))

    def assume(**knobs: object) -> dict[str, str]:
        spec = AssertionSpec(role_arn=final.web_role.arn if final.web_role else "",
                             provider_arn=final.provider.arn if final.provider else "",
                             email="ada@example.com", session_name="ada@example.com",
                             recipient="http://localhost:8000/saml",
                             audience="http://localhost:8000/saml")
        spec = AssertionSpec(**{**spec.__dict__, **knobs})
        answer = sts.assume_role_with_saml(RoleArn=spec.role_arn,
                                           PrincipalArn=spec.provider_arn,
                                           SAMLAssertion=encode(build_response(idp, spec)))
        return dict(answer["Credentials"])

    # The Email tag is required on the assume statement (require_email_tag = true).
    with pytest.raises(ClientError) as refused:
        assume(email=None)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    creds = assume()
    chat = boto3.client("qbusiness", region_name=REGION, endpoint_url=local_aws.url,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])
    app_id = final.application.id
    with pytest.raises(ClientError) as first:
        chat.chat_sync(applicationId=app_id, userMessage="hello")
    assert first.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "subscription" in first.value.response["Error"]["Message"]
    answer: dict[str, object] = {}
    for _ in range(20):  # the first call subscribed the user; retry after a short wait
        try:
            answer = chat.chat_sync(applicationId=app_id, userMessage="hello")
            break
        except ClientError as err:
            if err.response["Error"]["Code"] != "AccessDeniedException":
                raise
            time.sleep(0.1)
    assert answer.get("conversationId")
    destroy_stack(config, clients=clients)
