"""The one renderer of credentials a user takes away: ``process``, ``env``, ``json``, ``ini``.

Used by ``qbizfed creds --format process|env|json|ini``, by the web broker's credentials
page and its ``credential_process`` endpoint (:mod:`qbizfed.web.credential_export`), and
(:func:`environment`) by ``qbizfed exec``, so none of them can drift apart. Input is a
credentials record: :meth:`qbizfed.credentials.AwsCredentials.to_record`, or a cache record
as the fast path parsed it (:mod:`qbizfed.creds.record`: ``AccessKeyId``,
``SecretAccessKey``, ``SessionToken``, ``Expiration``, ``region``, ``profile``, ``email``,
``role_arn``).

``process`` is the ``credential_process`` contract of the AWS SDKs and CLI:
``{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}`` with
``Expiration`` in ISO 8601. ``env`` sets ``AWS_REGION`` *and* ``AWS_DEFAULT_REGION``:
boto3 reads only the latter, the AWS CLI v2 and the other SDKs the former. Every format
prints secrets because printing them is what it is asked for; nothing else in qbizfed
does. Light module: it is on the ``credential_process`` fast path (standard library
only, no ``shlex``).
"""

from __future__ import annotations

from qbizfed.creds import lightjson

FORMATS = ("process", "env", "json", "ini")


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def environment(record: dict[str, object]) -> list[tuple[str, str]]:
    """The environment variables that hand these credentials (and region) to AWS tools."""
    pairs = [
        ("AWS_ACCESS_KEY_ID", str(record["AccessKeyId"])),
        ("AWS_SECRET_ACCESS_KEY", str(record["SecretAccessKey"])),
        ("AWS_SESSION_TOKEN", str(record["SessionToken"])),
        ("AWS_CREDENTIAL_EXPIRATION", str(record["Expiration"])),
    ]
    region = record.get("region")
    if isinstance(region, str) and region:
        pairs += [("AWS_REGION", region), ("AWS_DEFAULT_REGION", region)]
    return pairs


def render(record: dict[str, object], fmt: str) -> str:
    """The text to print (ends with a newline); ``ValueError`` on an unknown format."""
    key_id = str(record["AccessKeyId"])
    secret = str(record["SecretAccessKey"])
    token = str(record["SessionToken"])
    expiration = str(record["Expiration"])
    region = record.get("region")
    if fmt == "process":
        return (
            lightjson.dumps_flat(
                {
                    "Version": 1,
                    "AccessKeyId": key_id,
                    "SecretAccessKey": secret,
                    "SessionToken": token,
                    "Expiration": expiration,
                }
            )
            + "\n"
        )
    if fmt == "json":
        import json

        return (
            json.dumps(
                {
                    "AccessKeyId": key_id,
                    "SecretAccessKey": secret,
                    "SessionToken": token,
                    "Expiration": expiration,
                    "Region": region,
                    "Email": record.get("email"),
                    "RoleArn": record.get("role_arn"),
                    "Profile": record.get("profile"),
                },
                indent=2,
            )
            + "\n"
        )
    if fmt == "env":
        pairs = environment(record)
        return "".join(f"export {name}={_shell_quote(value)}\n" for name, value in pairs)
    if fmt == "ini":
        where = f"; region {region}" if isinstance(region, str) and region else ""
        return (
            f"[{record.get('profile')}]\n"
            f"# expires {expiration}{where}\n"
            f"aws_access_key_id = {key_id}\n"
            f"aws_secret_access_key = {secret}\n"
            f"aws_session_token = {token}\n"
        )
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
