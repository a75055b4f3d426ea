"""``qbizfed doctor --user EMAIL --document ID``: why a user can or cannot see a document.

Asks Q Business (``CheckDocumentAccess``, admin credentials) for the user's groups and
the document's ACL, then works out which ACL entry decides, as Q Business does: a DENY
entry naming the user or one of the user's groups wins; otherwise an ALLOW entry
naming the user or one of the groups grants access; a document without ALLOW entries
is open to every user of the application. The fix is the smallest change that lets the
user in (add to a group with PutGroup / groups.json, or remove a DENY from the
document's permissions), always ending with ``qbizfed admin docs sync``.

Exit codes (as ``doctor``'s): 0 the user has access, 1 the user has no access or the
document is not in the index, 2 usage errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from qbizfed.aws.denied_calls import as_aws_error


@dataclass(frozen=True)
class AclEntry:
    access: str  # "ALLOW" | "DENY"
    kind: str  # "user" | "group"
    name: str

    def __str__(self) -> str:
        return f"{self.access} {self.kind} {self.name}"


@dataclass(frozen=True)
class AccessExplanation:
    user: str
    document_id: str
    found: bool
    has_access: bool
    user_groups: tuple[str, ...] = ()
    acl: tuple[AclEntry, ...] = ()
    deciding: tuple[AclEntry, ...] = ()
    reason: str = ""
    fixes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        return 0 if self.found and self.has_access else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "document": self.document_id,
            "found": self.found,
            "hasAccess": self.has_access,
            "userGroups": list(self.user_groups),
            "acl": [str(e) for e in self.acl],
            "deciding": [str(e) for e in self.deciding],
            "reason": self.reason,
            "fixes": list(self.fixes),
        }


def _entries(membership: dict[str, Any] | None, access: str) -> list[AclEntry]:
    entries: list[AclEntry] = []
    for condition in (membership or {}).get("conditions", []):
        entries += [AclEntry(access, "user", str(u["id"])) for u in condition.get("users", [])]
        entries += [AclEntry(access, "group", str(g["name"])) for g in condition.get("groups", [])]
    return entries


def _same_user(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


SYNC_HINT = "then run `qbizfed admin docs sync DIR` (or PutGroup / BatchPutDocument directly)"


def explain(user: str, document_id: str, answer: dict[str, Any]) -> AccessExplanation:
    """Interpret a CheckDocumentAccess answer (pure)."""
    groups = tuple(sorted(str(g["name"]) for g in answer.get("userGroups", [])))
    acl_raw = answer.get("documentAcl") or {}
    allow = _entries(acl_raw.get("allowlist"), "ALLOW")
    deny = _entries(acl_raw.get("denyList"), "DENY")

    def hits(entries: list[AclEntry]) -> tuple[AclEntry, ...]:
        return tuple(
            e
            for e in entries
            if (e.kind == "user" and _same_user(e.name, user))
            or (e.kind == "group" and e.name in groups)
        )

    denied_by, allowed_by = hits(deny), hits(allow)
    has_access = bool(answer.get("hasAccess"))
    base = AccessExplanation(user, document_id, True, has_access, groups, tuple(allow + deny))
    if denied_by:
        fixes = []
        for entry in denied_by:
            if entry.kind == "user":
                fixes.append(
                    f"remove {entry.name} from permissions.deny.users in the document's "
                    f"{document_id}.meta.json, {SYNC_HINT}"
                )
            else:
                fixes.append(
                    f"remove group {entry.name} from permissions.deny.groups in "
                    f"{document_id}.meta.json, or take {user} out of group {entry.name} "
                    f"in groups.json, {SYNC_HINT}"
                )
        return _replace(base, denied_by, "denied by " + ", ".join(map(str, denied_by)), fixes)
    if not allow:
        reason = "the document has no ALLOW entries: every user of the application sees it"
        return _replace(base, (), reason, [])
    if allowed_by:
        return _replace(base, allowed_by, "allowed by " + ", ".join(map(str, allowed_by)), [])
    allow_groups = [e.name for e in allow if e.kind == "group"]
    fixes = [
        f"add {user} to group {name} (groups.json, or PutGroup with memberUsers), {SYNC_HINT}"
        for name in allow_groups
    ]
    fixes.append(
        f"or add {user} to permissions.allow.users in {document_id}.meta.json, {SYNC_HINT}"
    )
    reason = f"{user} is not on the allow list (neither the user nor any of the user's groups)"
    return _replace(base, (), reason, fixes)


def _replace(
    base: AccessExplanation, deciding: tuple[AclEntry, ...], reason: str, fixes: list[str]
) -> AccessExplanation:
    return AccessExplanation(
        base.user,
        base.document_id,
        base.found,
        base.has_access,
        base.user_groups,
        base.acl,
        deciding,
        reason,
        tuple(fixes),
    )


def check_document_access(
    qbusiness: Any, *, application_id: str, index_id: str, user: str, document_id: str
) -> AccessExplanation:
    """Call CheckDocumentAccess (admin credentials) and explain the answer."""
    try:
        answer = qbusiness.check_document_access(
            applicationId=application_id, indexId=index_id, userId=user, documentId=document_id
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return AccessExplanation(
                user,
                document_id,
                found=False,
                has_access=False,
                reason=f"the document {document_id} is not in index {index_id}: "
                f"{err.response['Error'].get('Message', '')}",
                fixes=(
                    "check the id (ListDocuments), or add the document to the folder and "
                    "run `qbizfed admin docs sync DIR`",
                ),
            )
        raise as_aws_error(err, qbusiness, "check_document_access", "CheckDocumentAccess") from err
    return explain(user, document_id, answer)


def render_text(result: AccessExplanation, console: Any) -> None:
    from rich.markup import escape

    verdict = (
        "[bold green]CAN see[/]"
        if result.has_access and result.found
        else "[bold red]CANNOT see[/]"
    )
    console.print(f"{escape(result.user)} {verdict} document {escape(result.document_id)}")
    if result.found:
        groups = ", ".join(result.user_groups) or "(none)"
        console.print(f"  user's groups: {escape(groups)}")
        acl = ", ".join(str(e) for e in result.acl) or "(no ACL: open to every user)"
        console.print(f"  document ACL: {escape(acl)}")
    console.print(f"  why: {escape(result.reason)}")
    for fix in result.fixes:
        console.print(f"  [bold]fix:[/] {escape(fix)}")
