"""End to end, with the user's own sign-in: assume the role, ask who we are, list chats.

This is the one check that sends the token or assertion anywhere, and only to STS,
exactly as a login would. It runs only when asked (``--assume``). With credentials a
user already has (``qbizfed login``, then ``--login-profile``) it skips the STS step.
With the temporary credentials it calls ``GetCallerIdentity`` and
``ListConversations`` (identity-aware and harmless) and explains the error if any.
Note: on AWS, a user's first identity-aware call subscribes the user when
auto-subscription is enabled; doctor reports it and retries once, as qbizfed's chat
client does.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from qbizfed.aws.sts import credentials_from_answer, role_session_name, translate_sts_error
from qbizfed.credentials import AwsCredentials
from qbizfed.doctor.decode import (
    UndecodableError,
    decode_jwt_unverified,
    decode_saml_response_unverified,
)
from qbizfed.doctor.result import CheckResult, Fix, fail, ok, skip, warn
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.settings.stack import Mode, StackConfig

ClientFactory = Callable[[str, AwsCredentials], Any]
SUBSCRIPTION_RETRY_SECONDS = 1.0
CHECKS = ("e2e.assume-role", "e2e.caller-identity", "e2e.list-conversations")


@dataclass(frozen=True)
class E2eInputs:
    role_arn: str
    provider_arn: str
    application_id: str | None
    auto_subscribe_enabled: bool
    duration_seconds: int | None = None


def _diagnostic_identity(config: StackConfig, credential: str) -> FederatedIdentity:
    """A FederatedIdentity built from *unverified* data, used only to word STS's error.

    It carries no credential (the field is empty) and is never used to call anything.
    """
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        try:
            claims = decode_jwt_unverified(credential).claims
        except UndecodableError:
            claims = {}
        principal = (claims.get("https://aws.amazon.com/tags") or {}).get("principal_tags") or {}
        tags = tuple((str(k), str(v[0] if isinstance(v, list) and v else v))
                     for k, v in principal.items()) if isinstance(principal, dict) else ()
        aud = claims.get("aud", config.oidc.client_id)
        return FederatedIdentity(
            protocol="oidc", email=dict(tags).get("Email", ""), subject=str(claims.get("sub", "")),
            issuer=str(claims.get("iss", config.oidc.issuer)), credential="",
            session_tags=tags, audiences=tuple(aud) if isinstance(aud, list) else (str(aud),))
    try:
        attributes = decode_saml_response_unverified(credential).attributes
    except UndecodableError:
        attributes = {}
    prefix = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:"
    tags = tuple((k[len(prefix):], v[0]) for k, v in attributes.items()
                 if k.startswith(prefix) and v)
    return FederatedIdentity(protocol="saml", email=dict(tags).get("Email", ""), subject="",
                             issuer="", credential="", session_tags=tags)


def _saml_base64(raw: str) -> str:
    text = raw.strip()
    if text.startswith("<"):
        return base64.b64encode(text.encode("utf-8")).decode("ascii")
    return "".join(text.split())


def _assume(config: StackConfig, federation: Any, credential: str, inputs: E2eInputs
            ) -> AwsCredentials:
    params: dict[str, Any] = {"RoleArn": inputs.role_arn}
    if inputs.duration_seconds is not None:
        params["DurationSeconds"] = inputs.duration_seconds
    if config.mode is Mode.OIDC:
        email = _diagnostic_identity(config, credential).email or "qbizfed-doctor"
        answer = federation.assume_role_with_web_identity(
            RoleSessionName=role_session_name(email), WebIdentityToken=credential.strip(),
            **params)
    else:
        answer = federation.assume_role_with_saml(
            PrincipalArn=inputs.provider_arn, SAMLAssertion=_saml_base64(credential), **params)
    return credentials_from_answer(answer, role_arn=inputs.role_arn, region=config.region)


def check_end_to_end(config: StackConfig, credential: str, inputs: E2eInputs, *,
                     federation: Any, make_client: ClientFactory) -> list[CheckResult]:
    looked = f"AssumeRoleWith{'WebIdentity' if config.mode is Mode.OIDC else 'SAML'} " \
             f"into {inputs.role_arn}"
    try:
        creds = _assume(config, federation, credential, inputs)
    except ClientError as exc:
        error = translate_sts_error(exc, identity=_diagnostic_identity(config, credential),
                                    role_arn=inputs.role_arn)
        return [fail("e2e.assume-role", looked, error.message, Fix(error.remedy)),
                *(skip(n, looked, "no credentials") for n in CHECKS[1:])]
    except BotoCoreError as exc:
        return [fail("e2e.assume-role", looked, f"STS could not be reached ({type(exc).__name__})",
                     Fix("check network access to STS (or AWS_ENDPOINT_URL for a local stack)")),
                *(skip(n, looked, "no credentials") for n in CHECKS[1:])]
    results = [ok("e2e.assume-role", looked, f"credentials for {creds.assumed_role_arn}")]
    return results + check_signed_in(creds, inputs, make_client=make_client)


def check_signed_in(creds: AwsCredentials, inputs: E2eInputs, *, make_client: ClientFactory
                    ) -> list[CheckResult]:
    """GetCallerIdentity and ListConversations with a signed-in user's credentials."""
    results = [_caller_identity(make_client("sts", creds), inputs.role_arn)]
    if inputs.application_id is None:
        results.append(skip("e2e.list-conversations", "ListConversations", "no application"))
    else:
        results.append(_list_conversations(make_client("qbusiness", creds), inputs))
    return results


def _caller_identity(sts: Any, role_arn: str) -> CheckResult:
    looked = "GetCallerIdentity with the federated credentials"
    try:
        arn = str(sts.get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError) as exc:
        return fail("e2e.caller-identity", looked, f"refused: {_code(exc)}",
                    Fix("the credentials do not work (expired?): sign in again "
                        "(`qbizfed login`) and check the endpoint/region"))
    role_name = role_arn.rsplit("/", 1)[-1]
    if f":assumed-role/{role_name}/" not in arn:
        return warn("e2e.caller-identity", looked,
                    f"signed in as {arn}, not as the checked role {role_arn}",
                    Fix("sign in with the web experience role (the profile's role_arn, or "
                        "the IdP's Role attribute), or pass --role-arn"))
    return ok("e2e.caller-identity", looked, arn)


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Unknown')}: {str(error.get('Message', ''))[:300]}"
    return type(exc).__name__


def _list_conversations(qbusiness: Any, inputs: E2eInputs) -> CheckResult:
    looked = f"ListConversations on application {inputs.application_id}"
    subscribed_now = False
    for attempt in range(2):
        try:
            qbusiness.list_conversations(applicationId=inputs.application_id, maxResults=1)
        except ClientError as exc:
            message = _code(exc)
            lowered = message.lower()
            if "subscription" in lowered and inputs.auto_subscribe_enabled and attempt == 0:
                subscribed_now = True
                time.sleep(SUBSCRIPTION_RETRY_SECONDS)
                continue
            return fail("e2e.list-conversations", looked, message, _interpret(lowered, inputs))
        except BotoCoreError as exc:
            return fail("e2e.list-conversations", looked, type(exc).__name__,
                        Fix("check network access to Q Business in this region"))
        detail = "the user's conversations are readable"
        if subscribed_now:
            detail += " (the first call subscribed the user, as AWS does)"
        return ok("e2e.list-conversations", looked, detail)
    raise AssertionError("unreachable")  # pragma: no cover


def _interpret(lowered: str, inputs: E2eInputs) -> Fix:
    if "subscription" in lowered:
        return Fix("the user has no subscription: enable auto-subscription (see "
                   "app.auto-subscription) or subscribe the user (CreateSubscription), and "
                   "allow user-subscriptions:CreateClaim (role.create-claim)")
    if "not authorized for this service call" in lowered:
        return Fix("the credentials carry no Email session tag: make the IdP release it "
                   "(token.email-tag / assertion.email-tag) and allow sts:TagSession")
    if "not authorized to perform" in lowered or "accessdenied" in lowered:
        return Fix(f"allow the chat actions on the application for {inputs.role_arn} "
                   "(see role.chat-permissions)")
    if "resourcenotfound" in lowered:
        return Fix("the application does not exist in this region: check region and id")
    return Fix("see the error; `qbizfed doctor` without --assume lists configuration problems")
