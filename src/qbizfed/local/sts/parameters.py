"""Request parameters every federation call shares, validated as STS validates them.

Messages follow AWS's ``1 validation error detected: Value '...' at '...' failed to
satisfy constraint: ...`` form (the request's own values are echoed, but never a
token or assertion).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from qbizfed.iam.policy import PermissionPolicy, PolicyError
from qbizfed.local.sts.refusal import StsRefusalError, validation_error

ROLE_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}", re.ASCII)
PROVIDER_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:saml-provider/[\w.-]{1,128}", re.ASCII)
MIN_DURATION = 900
MAX_DURATION = 43200
DEFAULT_DURATION = 3600
MAX_SESSION_POLICY_CHARS = 2048
MAX_SESSION_POLICY_ARNS = 10
POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,512}", re.ASCII)


def _constraint(value: str, member: str, constraint: str) -> StsRefusalError:
    shown = value if len(value) <= 200 else value[:200] + "..."
    return validation_error(
        f"1 validation error detected: Value '{shown}' at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )


def required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if value is None or value == "":
        member = name[0].lower() + name[1:]
        raise validation_error(
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null"
        )
    return value


def role_session_name(value: str, member: str = "roleSessionName") -> str:
    if len(value) < 2 or len(value) > 64:
        raise _constraint(value, member, "Member must have length between 2 and 64")
    if not ROLE_SESSION_NAME.fullmatch(value):
        raise _constraint(
            value, member, r"Member must satisfy regular expression pattern: [\w+=,.@-]*"
        )
    return value


def role_arn(value: str) -> str:
    if len(value) < 20 or len(value) > 2048 or not ROLE_ARN.fullmatch(value):
        raise _constraint(value, "roleArn", "Member must be a valid IAM role ARN")
    return value


def saml_provider_arn(value: str) -> str:
    if len(value) < 20 or len(value) > 2048 or not PROVIDER_ARN.fullmatch(value):
        raise _constraint(value, "principalArn", "Member must be a valid SAML provider ARN")
    return value


def requested_duration(raw: str | None) -> int | None:
    """``DurationSeconds`` as given (None if absent); range-checked against STS's bounds."""
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"-?\d{1,12}", raw):
        raise _constraint(raw, "durationSeconds", "Member must be an integer")
    seconds = int(raw)
    if seconds < MIN_DURATION:
        raise _constraint(
            raw,
            "durationSeconds",
            f"Member must have value greater than or equal to {MIN_DURATION}",
        )
    if seconds > MAX_DURATION:
        raise _constraint(
            raw, "durationSeconds", f"Member must have value less than or equal to {MAX_DURATION}"
        )
    return seconds


def check_against_role(seconds: int | None, max_session_duration: int) -> int:
    """The duration to issue: the request's, at most the role's maximum; default one hour."""
    if seconds is None:
        return min(DEFAULT_DURATION, max_session_duration)
    if seconds > max_session_duration:
        raise validation_error(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return seconds


def session_policy(raw: str | None) -> str | None:
    """The inline session policy (``Policy``), validated as a permission policy, or None.

    It never widens the role: Q Business calls of the session are allowed only where
    both the role's policies and this one allow them (``qbizfed.iam.policy``).
    """
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_SESSION_POLICY_CHARS:
        raise StsRefusalError(
            "PackedPolicyTooLarge",
            "Packed policy consumes more than 100% of allotted space",
        )
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise StsRefusalError("MalformedPolicyDocument", "Syntax errors in policy.") from exc
    if not isinstance(parsed, dict) or "Statement" not in parsed:
        raise StsRefusalError("MalformedPolicyDocument", "Syntax errors in policy.")
    try:
        PermissionPolicy.parse(raw)
    except PolicyError as exc:
        message = f"Syntax errors in policy: {exc}."
        raise StsRefusalError("MalformedPolicyDocument", message) from exc
    return raw


def session_policy_arns(form: Mapping[str, str]) -> tuple[str, ...]:
    """The managed session policies (``PolicyArns.member.N.arn``), at most 10."""
    arns: list[str] = []
    index = 1
    while (value := form.get(f"PolicyArns.member.{index}.arn")) is not None:
        if not POLICY_ARN.fullmatch(value):
            raise _constraint(value, f"policyArns.{index}.member.arn", "Member must be a valid ARN")
        arns.append(value)
        index += 1
    if len(arns) > MAX_SESSION_POLICY_ARNS:
        raise validation_error(
            f"1 validation error detected: Value at 'policyArns' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_SESSION_POLICY_ARNS}"
        )
    return tuple(arns)
