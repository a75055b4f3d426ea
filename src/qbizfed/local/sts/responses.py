"""STS's query-protocol success responses, element for element as AWS sends them,
so that botocore (and therefore boto3 and the AWS CLI) parse them unchanged."""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from qbizfed.local.sessions import IssuedSession
from qbizfed.local.wire import request_id

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


def _element(name: str, value: str | int | None) -> str:
    if value is None:
        return ""
    return f"<{name}>{escape(str(value))}</{name}>"


def _envelope(operation: str, members: Iterable[str]) -> Response:
    rid = request_id()
    body = (
        f'<{operation}Response xmlns="{STS_NAMESPACE}">'
        f"<{operation}Result>{''.join(members)}</{operation}Result>"
        f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    )
    return Response(body, status=200, content_type="text/xml", headers={"x-amzn-RequestId": rid})


def _credentials(session: IssuedSession) -> str:
    return (
        "<Credentials>"
        + _element("AccessKeyId", session.access_key_id)
        + _element("SecretAccessKey", session.secret_access_key)
        + _element("SessionToken", session.session_token)
        + _element("Expiration", session.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"))
        + "</Credentials>"
    )


def _assumed_role_user(session: IssuedSession) -> str:
    return (
        "<AssumedRoleUser>"
        + _element("AssumedRoleId", session.assumed_role_id)
        + _element("Arn", session.assumed_role_arn)
        + "</AssumedRoleUser>"
    )


def packed_policy_size(session: IssuedSession) -> int | None:
    """A percentage of the packed-size limit, present when the session carries tags."""
    if not session.tags:
        return None
    packed = sum(len(k) + len(v) + 2 for k, v in session.tags.items())
    return max(1, min(100, packed * 100 // 2048))


def web_identity_response(
    session: IssuedSession,
    *,
    subject: str,
    audience: str,
    provider: str,
    source_identity: str | None,
) -> Response:
    return _envelope(
        "AssumeRoleWithWebIdentity",
        [
            _credentials(session),
            _element("SubjectFromWebIdentityToken", subject),
            _assumed_role_user(session),
            _element("PackedPolicySize", packed_policy_size(session)),
            _element("Provider", provider),
            _element("Audience", audience),
            _element("SourceIdentity", source_identity),
        ],
    )


def saml_response(
    session: IssuedSession,
    *,
    subject: str,
    subject_type: str,
    issuer: str,
    audience: str,
    name_qualifier: str,
    source_identity: str | None,
) -> Response:
    return _envelope(
        "AssumeRoleWithSAML",
        [
            _credentials(session),
            _assumed_role_user(session),
            _element("PackedPolicySize", packed_policy_size(session)),
            _element("Subject", subject),
            _element("SubjectType", subject_type),
            _element("Issuer", issuer),
            _element("Audience", audience),
            _element("NameQualifier", name_qualifier),
            _element("SourceIdentity", source_identity),
        ],
    )


def caller_identity_response(session: IssuedSession) -> Response:
    return _envelope(
        "GetCallerIdentity",
        [
            _element("Arn", session.assumed_role_arn),
            _element("UserId", session.assumed_role_id),
            _element("Account", session.account_id),
        ],
    )
