"""The federation-validating STS of ``qbizfed local aws``.

service.py         FederationSts: the edge's handler for ``sts`` (routing, wire errors)
web_identity.py    OIDC ID token -> WebIdentity (issuer, signature, aud, exp/nbf/iat, tags)
jwks.py            the issuers' signing keys: discovery, per-issuer cache, one refetch
saml_response.py   SAML Response -> SamlIdentity (signature, wrapping, subject, attributes)
saml_metadata.py   the IAM SAML provider's entity ID and signing certificates
saml_xml.py        XML parsing with DTDs, entities and network access forbidden
authorization.py   trust policy decision for the assume action, TagSession, SetSourceIdentity
trust_policy.py    policy statements: Principal, Action, Effect (Deny beats Allow); the
                   condition evaluator is the shared ``qbizfed.iam.conditions``
session_tags.py    session tag limits and their condition keys
parameters.py      RoleArn, RoleSessionName, DurationSeconds, Policy validation
responses.py       success responses in the query protocol
refusal.py         StsRefusalError: an STS error code, message and HTTP status
"""
