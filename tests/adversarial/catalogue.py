"""Generate ``tests/adversarial/CATALOGUE.md``: every adversarial case, by group.

    .venv/bin/python -m tests.adversarial.catalogue            # rewrite CATALOGUE.md
    .venv/bin/python -m tests.adversarial.catalogue --check    # exit 1 if it is stale

The list of cases comes from pytest's own collection of ``tests/adversarial`` (so the
catalogue cannot name a test that does not exist), the fuzz crashers and the fault
tests. Two tables written by hand give it meaning:

- ``SURFACES``: per test file, the group (OIDC, SAML, Web, Local stack, CLI), the
  part of qbizfed under attack and its scope: the *product* users deploy (``serve``,
  ``login`` and the identity code both share, the credential cache) or the *local
  stack* (the local STS and AWS endpoint, the Q Business emulator, the dev IdP), which
  are counted apart; ``GROUP_OVERRIDES`` moves single test functions (an open-redirect
  test in an OIDC file is a Web attack) and ``LOCAL_STACK_FUNCTIONS`` the cases of a
  mixed file that attack the local stack;
- ``ISSUE_ITEMS``: each attack the security issue lists, with a pattern over test ids;
  an item no collected test matches is printed as a GAP.

A case is an attack unless its name says it is a control (a genuine input that must
be accepted, so that refusals are not accidents of the setup). ``xfail`` cases are
open product gaps, listed with their reason.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
OUTPUT = Path(__file__).with_name("CATALOGUE.md")
COLLECT = ["tests/adversarial", "tests/fuzz/test_fuzz_crashers.py"]
FAULTS = [
    "tests/integration/test_faults_chat.py",
    "tests/integration/test_faults_idp.py",
    "tests/integration/test_faults_sts.py",
    "tests/integration/test_faults_session_store.py",
]
GROUPS = ("OIDC", "SAML", "Web", "Local stack", "CLI")
PRODUCT = "product"
LOCAL = "local stack"
SCOPES = {
    PRODUCT: "the product: serve, login and the identity code they share, the credential cache",
    LOCAL: "the local stack: local STS and AWS endpoint, Q Business emulator, dev IdP",
}
CONTROL = re.compile(
    r"control|genuine|_is_accepted|_are_accepted|passes_authentication|accepted_by|"
    r"_is_honoured|_are_kept|_succeeds|signs_in_when_allowed|picks_one_of|"
    r"_redirects$|_within_fourteen_minutes|go_to_moto|owner_does_see|checker_itself|"
    r"rotated_key_is_found|every_attack_has_a_reason|in_the_csrf_table|"
    r"has_its_crasher_file"
)


@dataclass(frozen=True)
class Surface:
    group: str
    target: str
    scope: str = PRODUCT


SURFACES: dict[str, Surface] = {
    "test_identity_oidc_tokens.py": Surface("OIDC", "relying party: ID-token validator"),
    "test_identity_endpoint_urls.py": Surface("OIDC", "relying party: discovery and endpoints"),
    "test_gap_oidc_attacks.py": Surface("OIDC", "relying party callback / local STS"),
    "test_web_oidc_refusals.py": Surface("OIDC", "serve: OIDC login"),
    "test_creds_login_attacks.py": Surface("OIDC", "login: CLI OIDC login"),
    "test_creds_login_saml_refusals.py": Surface("SAML", "login: CLI SAML login"),
    "test_creds_loopback_attacks.py": Surface("OIDC", "login: loopback callback receiver"),
    "test_idp_oidc_refusals.py": Surface("OIDC", "dev IdP: OIDC provider", LOCAL),
    "test_sts_web_identity_attacks.py": Surface(
        "OIDC", "local STS: AssumeRoleWithWebIdentity", LOCAL
    ),
    "test_idp_loopback_redirects.py": Surface("OIDC", "dev IdP: loopback redirect URIs", LOCAL),
    "test_identity_saml_responses.py": Surface("SAML", "service provider: response validation"),
    "test_gap_saml_xsw.py": Surface("SAML", "service provider and local STS"),
    "test_gap_saml_attacks.py": Surface("SAML", "local STS: assertion validation", LOCAL),
    "test_web_saml_refusals.py": Surface("SAML", "serve: SAML login"),
    "test_serve_workers_attacks.py": Surface("SAML", "serve --workers: shared replay cache"),
    "test_idp_saml_refusals.py": Surface("SAML", "dev IdP: SAML IdP", LOCAL),
    "test_sts_saml_attacks.py": Surface("SAML", "local STS: AssumeRoleWithSAML", LOCAL),
    "test_web_open_redirects.py": Surface("Web", "serve: redirects"),
    "test_web_request_limits.py": Surface("Web", "serve: request body limits"),
    "test_web_userinfo.py": Surface("OIDC", "serve and login: UserInfo"),
    "test_web_session_renewal.py": Surface("OIDC", "serve: credential renewal (refresh grant)"),
    "test_web_chat_xss.py": Surface("Web", "serve: chat page"),
    "test_web_chat_stream_attacks.py": Surface("Web", "serve: streamed answers"),
    "test_gap_web_attacks.py": Surface("Web", "serve: pages, cookies, headers, rendering"),
    "test_sigv4_attacks.py": Surface("Local stack", "local AWS: SigV4 verification", LOCAL),
    "test_sts_malformed_requests.py": Surface("Local stack", "local STS: request parsing", LOCAL),
    "test_gap_local_attacks.py": Surface("Local stack", "Q Business emulator: isolation", LOCAL),
    "test_qbusiness_iam_attacks.py": Surface(
        "Local stack", "Q Business emulator: IAM checks", LOCAL
    ),
    "test_stream_chat_attacks.py": Surface(
        "Local stack", "local AWS: streaming chat WebSocket", LOCAL
    ),
    "test_creds_cache_attacks.py": Surface("CLI", "credential cache on disk"),
    "test_mcp_attacks.py": Surface("CLI", "mcp: streamable HTTP bearer token, bind address"),
    "test_documents_folder_attacks.py": Surface(
        "CLI", "admin docs sync: document folder symbolic links"
    ),
    "test_device_flow_attacks.py": Surface("OIDC", "device sign-in: dev IdP and CLI parsing"),
    "test_fuzz_crashers.py": Surface("Local stack", "fuzz crasher replayed against its target"),
    "test_managed_features_attacks.py": Surface(
        "Local stack", "Q Business emulator: documents' content, presigned links, attachments"
    ),
}
LOCAL_STACK_FUNCTIONS = re.compile(r"local_sts|_by_both$")
"""Cases of the mixed files (relying party and local STS) that attack the local STS."""
CRASHER_GROUPS = {  # fuzz target -> (group, scope), for crashers replayed by tests/fuzz
    "saml_sp": ("SAML", PRODUCT),
    "sts_saml": ("SAML", LOCAL),
    "id_token": ("OIDC", PRODUCT),
    "oidc_callback": ("OIDC", PRODUCT),
    "sts_web_identity": ("OIDC", LOCAL),
    "qbusiness_request": ("Local stack", LOCAL),
}
GROUP_OVERRIDES: dict[str, str] = {
    "test_web_oidc_refusals.py::test_open_redirect_via_next_parameter_is_refused": "Web",
    "test_web_oidc_refusals.py::test_markup_in_claims_is_rendered_inert": "Web",
    "test_web_oidc_refusals.py::test_login_csrf_with_a_state_from_another_browser_is_refused": (
        "Web"
    ),
    "test_web_saml_refusals.py::test_open_redirect_via_relay_state_is_refused": "Web",
    "test_web_saml_refusals.py::test_open_redirect_via_next_parameter_is_refused_for_saml": "Web",
    "test_web_saml_refusals.py::"
    "test_login_csrf_posting_an_attackers_response_in_the_victims_browser_is_refused": "Web",
    "test_web_saml_refusals.py::test_forged_role_choice_is_refused": "Web",
    "test_gap_saml_xsw.py::test_signature_wrapping_is_refused_by_the_local_sts": "SAML",
    "test_managed_features_attacks.py::test_path_tricks_in_the_source_route_are_not_found": "Web",
    "test_managed_features_attacks.py::"
    "test_a_citation_number_the_answer_does_not_have_is_refused": "Web",
    "test_managed_features_attacks.py::test_a_source_with_a_url_is_not_fetched_through_serve": (
        "Web"
    ),
    "test_managed_features_attacks.py::"
    "test_an_html_document_with_script_is_served_as_an_inert_download": "Web",
    "test_managed_features_attacks.py::"
    "test_oversized_attachment_is_refused_by_the_library_before_sending": "CLI",
}


@dataclass(frozen=True)
class IssueItem:
    group: str
    attack: str
    pattern: str


ISSUE_ITEMS: tuple[IssueItem, ...] = (
    IssueItem("OIDC", "alg none", r"alg_none|unsigned_alg_none"),
    IssueItem("OIDC", "HS256 signed with the RSA public key", r"hs256_key_confusion"),
    IssueItem("OIDC", "unknown kid", r"unknown_kid"),
    IssueItem("OIDC", "kid of another issuer's key", r"kid_of_another_issuer"),
    IssueItem("OIDC", "wrong iss", r"wrong_iss|wrong_issuer"),
    IssueItem("OIDC", "aud array with extra audience, azp missing/wrong",
              r"extra_audience|azp_of_another"),
    IssueItem("OIDC", "expired",
              r"expired_beyond_leeway|(oidc|web_identity).*\[expired(_token)?\]|never_expires"),
    IssueItem("OIDC", "nbf in the future", r"nbf_in_(the_)?future"),
    IssueItem("OIDC", "iat far in the future", r"iat_(far_)?in_(the_)?future"),
    IssueItem("OIDC", "nonce missing / mismatched / replayed",
              r"nonce_(missing|mismatched|replay)"),
    IssueItem("OIDC", "state missing / mismatched", r"state_missing|missing_state|wrong_state|"
              r"state_of_another_login"),
    IssueItem("OIDC", "code reused", r"code_reused|reused_code|callback_replay_reusing_the_code"),
    IssueItem("OIDC", "PKCE verifier wrong / missing", r"pkce"),
    IssueItem("OIDC", "mix-up (response from another IdP)", r"mix_up"),
    IssueItem("OIDC", "token in a fragment", r"token_in_fragment|token_in_callback_instead"),
    IssueItem("OIDC", "JWKS with a weak RSA key", r"weak_1024_bit"),
    IssueItem("OIDC", "oversized token", r"(oidc_tokens|gap_oidc).*oversized"),
    IssueItem("SAML", "XSW1-XSW8", r"xsw[1-8]_"),
    IssueItem("SAML", "unsigned response / unsigned assertion",
              r"unsigned_response|unsigned_assertion|\[unsigned\]"),
    IssueItem("SAML", "signature by a key not in metadata", r"signed_by_another_key|"
              r"signed_with_wrong_key"),
    IssueItem("SAML", "comment injection in NameID / attributes", r"comment_injection"),
    IssueItem("SAML", "XXE", r"xxe"),
    IssueItem("SAML", "billion laughs", r"billion_laughs"),
    IssueItem("SAML", "external DTD", r"external_dtd"),
    IssueItem("SAML", "wrong audience", r"saml.*wrong_audience|wrong_audience.*saml|"
              r"test_web_saml_refusals.py.*wrong_audience"),
    IssueItem("SAML", "wrong recipient / destination", r"wrong_recipient|wrong_destination"),
    IssueItem("SAML", "expired", r"saml.*expired"),
    IssueItem("SAML", "not yet valid", r"not_yet_valid"),
    IssueItem("SAML", "InResponseTo for a request never sent", r"in_response_to_unknown|"
              r"request_never_issued"),
    IssueItem("SAML", "replayed assertion", r"saml.*replay"),
    IssueItem("SAML", "Role attribute naming another account's role",
              r"role_pair_for_another|another_account"),
    IssueItem("Web", "CSRF on every POST", r"csrf"),
    IssueItem("Web", "session fixation", r"session_fixation"),
    IssueItem("Web", "open redirect via RelayState", r"open_redirect_via_relay_state"),
    IssueItem("Web", "open redirect via next", r"open_redirect_via_next|hostile_next_targets"),
    IssueItem("Web", "open redirect after logout", r"open_redirect_at_logout|"
              r"end_session_never_redirects"),
    IssueItem("Web", "XSS through the model's answer", r"xss_.*answer|in_answer\]"),
    IssueItem("Web", "XSS through citation titles / urls (javascript:)", r"citation_(title|url)"),
    IssueItem("Web", "XSS through user names", r"markup_in_claims|hostile_identity_values"),
    IssueItem("Web", "XSS through error messages", r"error_description|error_message_"),
    IssueItem("Web", "cookie flags", r"cookie_flags"),
    IssueItem("Web", "security headers and clickjacking", r"clickjacking"),
    IssueItem("Local stack", "SigV4 with a wrong secret", r"(sigv4|sts_malformed).*wrong_secret"),
    IssueItem("Local stack", "SigV4 with a tampered body or path", r"tampered_body|tampered_path"),
    IssueItem("Local stack", "replay of an expired session", r"expired_session"),
    IssueItem("Local stack", "another user's conversation id", r"another_users_conversation"),
    IssueItem("Local stack", "a document outside the user's permissions",
              r"outside_the_users_permissions"),
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    nodeid: str
    file: str
    function: str
    param: str | None
    group: str
    target: str
    scope: str
    control: bool
    open_gap: str | None

    @property
    def attack(self) -> str:
        return self.param or self.function.removeprefix("test_")

    @property
    def asserts(self) -> str:
        words = self.function.removeprefix("test_").replace("_", " ")
        return f"{self.target}: {words}"


class _Collector:
    def __init__(self) -> None:
        self.items: list[pytest.Item] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)


def collect(paths: list[str]) -> list[pytest.Item]:
    collector = _Collector()
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *paths],
                       plugins=[collector])  # fmt: skip
    if code not in (0, 5):
        raise SystemExit(f"pytest could not collect {paths} (exit {code})")
    return collector.items


def _xfail_reason(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xfail")
    if marker is None:
        return None
    return str(marker.kwargs.get("reason", "xfail"))


def to_case(item: pytest.Item) -> Case:
    path, _, rest = item.nodeid.partition("::")
    file = Path(path).name
    function = getattr(item, "originalname", rest.split("[")[0])
    callspec = getattr(item, "callspec", None)
    param = callspec.id if callspec is not None else None
    surface = surface_of(file)
    group = GROUP_OVERRIDES.get(f"{file}::{function}", surface.group)
    scope = scope_of(file, function)
    if file == "test_fuzz_crashers.py" and param:
        group, scope = CRASHER_GROUPS.get(param.split("-", 1)[0], (group, scope))
    return Case(
        nodeid=item.nodeid, file=file, function=function, param=param, group=group,
        target=surface.target, scope=scope, control=bool(CONTROL.search(function)),
        open_gap=_xfail_reason(item),
    )  # fmt: skip


def _guess_group(file: str) -> str:
    prefixes = (("test_web_", "Web"), ("test_sts_saml", "SAML"), ("test_idp_saml", "SAML"),
                ("test_identity_saml", "SAML"), ("test_creds_", "CLI"))  # fmt: skip
    for prefix, group in prefixes:
        if file.startswith(prefix):
            return group
    return "OIDC" if "oidc" in file else "Local stack"


def surface_of(file: str) -> Surface:
    known = SURFACES.get(file)
    if known is not None:
        return known
    local = ("test_sts_", "test_idp_", "test_sigv4", "test_gap_local", "test_qbusiness")
    scope = LOCAL if file.startswith(local) else PRODUCT
    return Surface(_guess_group(file), file.removesuffix(".py"), scope)


def scope_of(file: str, function: str) -> str:
    """Product or local stack, for the cases of test function ``function`` in ``file``."""
    return LOCAL if LOCAL_STACK_FUNCTIONS.search(function) else surface_of(file).scope


def scope_counts(cases: list[Case]) -> dict[str, int]:
    """Attack cases (controls excluded) per scope."""
    counts = Counter(c.scope for c in cases if not c.control)
    return {scope: counts[scope] for scope in SCOPES}


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(cases: list[Case], faults: list[Case]) -> str:
    attacks = [c for c in cases if not c.control]
    out = [
        "# Attack catalogue",
        "",
        "Generated by `tests/adversarial/catalogue.py` from pytest's collection; do not edit",
        "by hand (`.venv/bin/python -m tests.adversarial.catalogue` rewrites it). Every case",
        "is a hostile input kept as data and named after its attack; it asserts that the",
        "input is refused with the right error, that no credentials are issued, that no",
        "server error occurs and that nothing secret is echoed. Controls (genuine inputs",
        "that must be accepted) prove the refusals are not accidents of the setup.",
        "",
        "## Counts",
        "",
        "Attacks on the product and on the local stack are counted apart: the local",
        "stack is a test double of AWS and a development IdP, not what users deploy.",
        "",
    ]
    by_scope = scope_counts(cases)
    out += [f"- **{by_scope[scope]}** attack cases against {what}" for scope, what in
            SCOPES.items()]  # fmt: skip
    out += [
        "",
        "| group | attack cases: product | attack cases: local stack | controls | "
        "open product gaps (xfail) |",
        "|---|---:|---:|---:|---:|",
    ]
    for group in GROUPS:
        in_group = [c for c in cases if c.group == group]
        per_scope = Counter(c.scope for c in attacks if c.group == group)
        out.append(
            f"| {group} | {per_scope[PRODUCT]} | {per_scope[LOCAL]} | "
            f"{sum(c.control for c in in_group)} | {sum(1 for c in in_group if c.open_gap)} |"
        )
    out.append(f"| **all** | **{by_scope[PRODUCT]}** | **{by_scope[LOCAL]}** | "
               f"**{len(cases) - len(attacks)}** | "
               f"**{sum(1 for c in cases if c.open_gap)}** |")  # fmt: skip
    out += ["", "## The issue's list, item by item", "",
            "| group | attack | cases | e.g. |", "|---|---|---:|---|"]  # fmt: skip
    for item in ISSUE_ITEMS:
        matched = [c for c in attacks if re.search(item.pattern, c.nodeid)]
        example = f"`{matched[0].nodeid}`" if matched else "**GAP: no test**"
        out.append(f"| {item.group} | {_md(item.attack)} | {len(matched)} | {_md(example)} |")
    gaps = [c for c in cases if c.open_gap]
    if gaps:
        out += ["", "## Open product gaps (strict xfail: they fail until fixed)", "",
                "| test id | gap |", "|---|---|"]  # fmt: skip
        out += [f"| `{c.nodeid}` | {_md(c.open_gap or '')} |" for c in gaps]
    for group in GROUPS:
        rows = sorted((c for c in attacks if c.group == group), key=lambda c: c.nodeid)
        out += ["", f"## {group} ({len(rows)} cases)", "",
                "| attack | scope | test id | asserts |", "|---|---|---|---|"]  # fmt: skip
        out += [f"| {_md(c.attack)} | {c.scope} | `{_md(c.nodeid)}` | {_md(c.asserts)} |"
                for c in rows]  # fmt: skip
    out += ["", f"## Faults ({len(faults)} tests)", "",
            "Failure of a dependency rather than an attack: the IdP down, slow or answering",
            "garbage; STS and Q Business throttling and 5xx; credentials expiring mid-chat;",
            "the Redis session store down. See SECURITY.md.", "",
            "| test id |", "|---|"]  # fmt: skip
    out += [f"| `{_md(c.nodeid)}` |" for c in faults]
    out += ["", "## Controls", "", "| test id |", "|---|"]
    out += [f"| `{_md(c.nodeid)}` |" for c in sorted(cases, key=lambda c: c.nodeid) if c.control]
    return "\n".join(out) + "\n"


def build() -> str:
    cases = [to_case(item) for item in collect(COLLECT)]
    faults = [to_case(item) for item in collect(FAULTS)]
    return render(cases, faults)


def main(argv: list[str]) -> int:
    text = build()
    if "--check" in argv:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run python -m tests.adversarial.catalogue")
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
