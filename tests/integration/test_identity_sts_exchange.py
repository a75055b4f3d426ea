"""From a validated identity to tagged STS credentials, against ``qbizfed local aws``.

The identity comes out of qbizfed's own validators (OIDC relying party, SAML service
provider); the exchange runs through :class:`qbizfed.aws.sts.StsFederation` with the
endpoint taken from ``AWS_ENDPOINT_URL`` (set by the ``local_aws`` fixture), exactly
as users configure it. The local STS validates tokens and trust policies as AWS does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from qbizfed.aws.sts import (
    OidcProviderNotFoundError,
    StsFederation,
    StsThrottledError,
    TagSessionNotAllowedError,
    TokenAudienceError,
)
from qbizfed.identity.federated import FederatedIdentity
from qbizfed.identity.oidc import OidcRelyingParty, identity_from_id_token
from qbizfed.identity.saml import SamlServiceProvider, SamlSpSettings
from qbizfed.identity.saml_stores import MemoryReplayCache, MemoryRequestIdStore
from qbizfed.local.faults import FaultKind, FaultRule
from qbizfed.local.stack import LocalAws
from qbizfed.settings.oidc import OidcRegistration
from tests.support.oidc_issuer import (
    OidcIssuer,
    ensure_oidc_provider,
    oidc_trust_policy,
    register_oidc_role,
    running_oidc_issuer,
)
from tests.support.saml_assertions import (
    build_response,
    encode,
    make_idp,
    register_saml_role,
    saml_trust_policy,
)

NONCE = "integration-nonce-0123456789abcdef"
ACS = "https://app.rp-test.example/saml/acs"


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with running_oidc_issuer() as running:
        yield running


def validated_identity(
    issuer: OidcIssuer, *, client_id: str | None = None, **knobs: Any
) -> FederatedIdentity:
    """Mint a token at the loopback issuer and pass it through qbizfed's relying party."""
    settings = OidcRegistration(
        issuer=issuer.url,
        client_id=client_id or issuer.client_id,
        redirect_uri="http://127.0.0.1:1/callback",
        allow_insecure_loopback_http=True,
    )
    token = issuer.mint(nonce=NONCE, aud=settings.client_id, **knobs)

    async def main() -> FederatedIdentity:
        async with httpx.AsyncClient(timeout=5) as http:
            rp = await OidcRelyingParty.discover(settings, http=http)
            return identity_from_id_token(await rp.validate(token, nonce=NONCE))

    return asyncio.run(main())


def test_oidc_identity_becomes_tagged_credentials(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    identity = validated_identity(issuer, email="ada@example.com", sub="user-ada")
    creds = StsFederation().assume(identity, role.role_arn, duration_seconds=900)
    assert str(creds.assumed_role_arn).endswith(f"/{unique_name}/ada@example.com")
    session = local_aws.registry.lookup(creds.access_key_id)
    assert session is not None
    assert dict(session.tags) == {"Email": "ada@example.com"}
    assert session.session_name == "ada@example.com"
    assert creds.tags == {"Email": "ada@example.com"}
    assert creds.secret_access_key not in repr(creds)


def test_async_exchange_gives_the_same_result(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    identity = validated_identity(issuer, email="bo@example.com")
    creds = asyncio.run(StsFederation().assume_async(identity, role.role_arn))
    session = local_aws.registry.lookup(creds.access_key_id)
    assert session is not None
    assert session.email == "bo@example.com"


def test_trust_policy_without_tag_session_is_explained(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    iam = admin_client("iam")
    provider_arn = ensure_oidc_provider(iam, issuer)
    policy = oidc_trust_policy(provider_arn, issuer.host_path, issuer.client_id, tag_session=False)
    role = register_oidc_role(iam, issuer, unique_name, trust_policy=policy)
    with pytest.raises(TagSessionNotAllowedError) as info:
        StsFederation().assume(validated_identity(issuer), role.role_arn)
    assert "sts:TagSession" in info.value.remedy


def test_client_id_missing_from_the_iam_provider_is_explained(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    identity = validated_identity(issuer, client_id="another-client-id")
    with pytest.raises(TokenAudienceError) as info:
        StsFederation().assume(identity, role.role_arn)
    assert "add client id another-client-id to the IAM OIDC provider" in info.value.remedy


def test_issuer_without_iam_provider_is_explained(
    local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    with running_oidc_issuer() as stranger:
        identity = validated_identity(stranger)
        with pytest.raises(OidcProviderNotFoundError) as info:
            StsFederation().assume(identity, role.role_arn)
    assert stranger.url in info.value.remedy


def test_saml_identity_becomes_tagged_credentials(
    local_aws: LocalAws, admin_client: Any, unique_name: str
) -> None:
    idp = make_idp()
    iam = admin_client("iam")
    role = register_saml_role(iam, idp, unique_name, trust_policy=None)
    iam.update_assume_role_policy(
        RoleName=role.role_name,
        PolicyDocument=json.dumps(saml_trust_policy(role.provider_arn, audiences=[ACS])),
    )
    sp_settings = SamlSpSettings.from_idp_metadata(
        idp.metadata_xml(), sp_entity_id=ACS, acs_url=ACS, allow_unsolicited=True
    )
    sp = SamlServiceProvider(
        sp_settings, requests=MemoryRequestIdStore(), replay=MemoryReplayCache()
    )
    response = build_response(
        idp,
        role.spec(
            recipient=ACS, audience=ACS, email="cy@example.com", session_name="cy@example.com"
        ),
    )
    identity = sp.validate_response(encode(response))
    creds = StsFederation().assume(identity)
    session = local_aws.registry.lookup(creds.access_key_id)
    assert session is not None
    assert session.email == "cy@example.com"
    assert str(creds.assumed_role_arn).endswith(f"/{unique_name}/cy@example.com")


def test_throttling_is_retried_with_backoff(
    fresh_local_aws: LocalAws, admin_client: Any, issuer: OidcIssuer, unique_name: str
) -> None:
    role = register_oidc_role(admin_client("iam"), issuer, unique_name)
    identity = validated_identity(issuer)
    fresh_local_aws.faults.replace_rules(
        [FaultRule(kind=FaultKind.THROTTLE, service="sts", remaining=1)]
    )
    creds = StsFederation(endpoint_url=fresh_local_aws.url, max_attempts=3).assume(
        identity, role.role_arn
    )
    assert fresh_local_aws.registry.lookup(creds.access_key_id) is not None
    fresh_local_aws.faults.replace_rules([FaultRule(kind=FaultKind.THROTTLE, service="sts")])
    with pytest.raises(StsThrottledError):
        StsFederation(endpoint_url=fresh_local_aws.url, max_attempts=2).assume(
            identity, role.role_arn
        )
