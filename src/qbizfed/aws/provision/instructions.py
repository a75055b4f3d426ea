"""What the IdP administrator must set once the stack exists (pure over ObservedStack).

OIDC: sign-in redirect URIs (the web experience endpoint + ``/authorization-code/callback``
and the custom app's callback) and the sign-out URI. SAML: the ACS URL(s), the
audience, and the exact ``https://aws.amazon.com/SAML/Attributes/Role`` value
(``<role-arn>,<saml-provider-arn>``, in this order), plus the attributes STS needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from qbizfed.aws.provision.observed import ObservedStack
from qbizfed.settings.stack import Mode, StackConfig

ROLE_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/Role"
SESSION_NAME_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
EMAIL_TAG_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:Email"
OIDC_TAGS_CLAIM = "https://aws.amazon.com/tags"
PENDING = "<known after apply>"


@dataclass(frozen=True)
class IdpInstructions:
    mode: str
    application_id: str
    web_experience_url: str
    web_experience_role_arn: str
    identity_provider_arn: str
    redirect_uris: tuple[str, ...] = ()
    sign_out_uri: str | None = None
    acs_urls: tuple[str, ...] = ()
    audience: str | None = None
    role_attribute_value: str | None = None
    required_attributes: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "mode": self.mode,
            "application_id": self.application_id,
            "web_experience_url": self.web_experience_url,
            "web_experience_role_arn": self.web_experience_role_arn,
            "identity_provider_arn": self.identity_provider_arn,
        }
        if self.mode == Mode.OIDC.value:
            data["redirect_uris"] = list(self.redirect_uris)
            data["sign_out_uri"] = self.sign_out_uri
            data["id_token_claims"] = dict(self.required_attributes)
        else:
            data["acs_urls"] = list(self.acs_urls)
            data["audience"] = self.audience
            data["role_attribute_value"] = self.role_attribute_value
            data["attributes"] = dict(self.required_attributes)
        return data

    def lines(self) -> list[str]:
        """Human-readable, one setting per line."""
        out = [f"Application ID: {self.application_id}",
               f"Web experience URL: {self.web_experience_url}",
               f"Web experience role: {self.web_experience_role_arn}"]
        if self.mode == Mode.OIDC.value:
            out.append("In the IdP's OIDC app integration, set:")
            out += [f"  sign-in redirect URI: {uri}" for uri in self.redirect_uris]
            if self.sign_out_uri:
                out.append(f"  sign-out redirect URI: {self.sign_out_uri}")
            out += [f"  ID token claim {k}: {v}" for k, v in self.required_attributes]
        else:
            out.append("In the IdP's SAML app integration, set:")
            out += [f"  ACS (reply) URL: {url}" for url in self.acs_urls]
            out.append(f"  audience (SP entity ID): {self.audience}")
            out.append(f"  attribute {ROLE_ATTRIBUTE} = {self.role_attribute_value}")
            out += [f"  attribute {k} = {v}" for k, v in self.required_attributes]
        return out


def idp_instructions(config: StackConfig, observed: ObservedStack) -> IdpInstructions:
    web = observed.web_experience
    endpoint = (web.endpoint or PENDING) if web else PENDING
    base = endpoint.rstrip("/")
    role_arn = observed.web_role.arn if observed.web_role else PENDING
    provider_arn = observed.provider.arn if observed.provider else PENDING
    common = IdpInstructions(
        mode=config.mode.value,
        application_id=observed.application.id if observed.application else PENDING,
        web_experience_url=endpoint,
        web_experience_role_arn=role_arn,
        identity_provider_arn=provider_arn,
    )
    if config.mode is Mode.OIDC:
        assert config.oidc is not None
        redirects = [f"{base}/authorization-code/callback"]
        if config.oidc.redirect_uri:
            redirects.append(config.oidc.redirect_uri)
        return replace(
            common,
            redirect_uris=tuple(redirects),
            sign_out_uri=config.oidc.logout_redirect_uri,
            required_attributes=((OIDC_TAGS_CLAIM,
                                  '{"principal_tags": {"Email": ["<user email>"]}}'),),
        )
    assert config.saml is not None
    acs = [f"{base}/saml"]
    if config.saml.acs_url:
        acs.append(config.saml.acs_url)
    return replace(
        common,
        acs_urls=tuple(acs),
        audience=acs[0],
        role_attribute_value=f"{role_arn},{provider_arn}",
        required_attributes=((SESSION_NAME_ATTRIBUTE, "<user email>"),
                             (EMAIL_TAG_ATTRIBUTE, "<user email>")),
    )
