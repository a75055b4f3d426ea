"""Who may see which document: PutGroup groups and documents' access configuration.

Maps 1:1 to botocore's qbusiness shapes ``AccessConfiguration``, ``AccessControl``,
``Principal{user,group}``, ``GroupMembers{memberUsers,memberGroups}``.

Semantics (AWS docs where they exist, the safer choice where they do not):

* User ids that are email addresses compare case-insensitively and with
  sub-addresses folded (``JohnDoe+work@example.com`` == ``johndoe@example.com``), as
  Q Business does since 2024-12-17 ("How the User Store works"). Other ids compare
  exactly. Group names compare exactly.
* Groups nest: a user in sub-group ``S`` listed in ``G.memberGroups`` is in ``G``.
  Cycles are harmless (breadth-first walk with a visited set).
* A document **without** an access configuration is public to every user of the
  application: AWS indexes documents without ACLs "as public documents" ("How the
  User Store works") and the S3 connector "grants ALL users access" to content that
  no ACL entry covers.
* A matching ``DENY`` principal anywhere in the configuration denies, whatever the
  ``memberRelation`` (DENY beats ALLOW, as the DocumentAcl denyList "overriding
  allowlist permissions"). *Unconfirmed* whether AND would make denies cumulative;
  treating any DENY as decisive can only hide more, never show more.
* ``AccessControl.memberRelation`` combines the ALLOW principals of one control:
  ``OR`` (the default) = any of them, ``AND`` = the user must match all of them.
  ``AccessConfiguration.memberRelation`` combines the controls that have ALLOW
  principals the same way. *Unconfirmed* default: OR, the plain meaning of an ACL.
* A configuration with no ALLOW principal at all (empty, or DENY entries only)
  grants nobody. *Unconfirmed*; chosen because it is the safer reading.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from qbizfed.local.qbusiness.dataplane_errors import DataPlaneValidationError

MAX_INLINE_MEMBERS = 1000


class ReadAccess(StrEnum):
    """``ReadAccessType``."""

    ALLOW = "ALLOW"
    DENY = "DENY"


class MemberRelation(StrEnum):
    """``MemberRelation``."""

    AND = "AND"
    OR = "OR"


class MembershipType(StrEnum):
    """``MembershipType``: whether a group/user mapping belongs to the index or a data source."""

    INDEX = "INDEX"
    DATASOURCE = "DATASOURCE"


def normalize_user_id(user_id: str) -> str:
    """The form Q Business compares user ids in: emails lower-cased, ``+tag`` folded."""
    local, at, domain = user_id.strip().rpartition("@")
    if not at or not local or not domain:
        return user_id
    return f"{local.split('+', 1)[0]}@{domain}".lower()


@dataclass(frozen=True)
class PrincipalUser:
    """``PrincipalUser``; ``id`` is kept as given, matching uses its normalised form."""

    id: str
    access: ReadAccess
    membership_type: MembershipType | None = None


@dataclass(frozen=True)
class PrincipalGroup:
    """``PrincipalGroup``."""

    name: str
    access: ReadAccess
    membership_type: MembershipType | None = None


Principal = PrincipalUser | PrincipalGroup


@dataclass(frozen=True)
class AccessControl:
    """``AccessControl``: a list of principals and how its ALLOW entries combine."""

    principals: tuple[Principal, ...]
    member_relation: MemberRelation | None = None


@dataclass(frozen=True)
class AccessConfiguration:
    """``AccessConfiguration``: access controls and how they combine."""

    access_controls: tuple[AccessControl, ...]
    member_relation: MemberRelation | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AccessConfiguration:
        """Build from the model's JSON shape (as the codec hands it over)."""
        controls: list[AccessControl] = []
        for control in data.get("accessControls", []):
            principals: list[Principal] = []
            for principal in control.get("principals", []):
                if "user" in principal:
                    user = principal["user"]
                    principals.append(
                        PrincipalUser(
                            id=str(user.get("id", "")),
                            access=ReadAccess(user["access"]),
                            membership_type=_membership(user.get("membershipType")),
                        )
                    )
                elif "group" in principal:
                    group = principal["group"]
                    principals.append(
                        PrincipalGroup(
                            name=str(group.get("name", "")),
                            access=ReadAccess(group["access"]),
                            membership_type=_membership(group.get("membershipType")),
                        )
                    )
            controls.append(
                AccessControl(tuple(principals), _relation(control.get("memberRelation")))
            )
        return cls(tuple(controls), _relation(data.get("memberRelation")))


@dataclass(frozen=True)
class MemberUser:
    """``MemberUser`` of a group."""

    user_id: str
    type: MembershipType | None = None


@dataclass(frozen=True)
class MemberGroup:
    """``MemberGroup``: a sub-group of a group."""

    group_name: str
    type: MembershipType | None = None


@dataclass(frozen=True)
class GroupMembers:
    """``GroupMembers`` (inline form; an S3 member list is read by the wire layer)."""

    member_users: tuple[MemberUser, ...] = ()
    member_groups: tuple[MemberGroup, ...] = ()

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> GroupMembers:
        """Build from the model's JSON shape (``memberUsers``, ``memberGroups``).

        Inline groups hold at most 1000 members (users and sub-groups together).
        """
        count = len(data.get("memberUsers", [])) + len(data.get("memberGroups", []))
        if count > MAX_INLINE_MEMBERS:
            raise DataPlaneValidationError(
                f"A group can have at most {MAX_INLINE_MEMBERS} inline members; "
                "use s3PathForGroupMembers for more.",
                remedy="Split the group into sub-groups or list the members in an S3 file.",
            )
        return cls(
            member_users=tuple(
                MemberUser(str(u["userId"]), _membership(u.get("type")))
                for u in data.get("memberUsers", [])
            ),
            member_groups=tuple(
                MemberGroup(str(g["groupName"]), _membership(g.get("type")))
                for g in data.get("memberGroups", [])
            ),
        )


@dataclass(frozen=True)
class UserIdentity:
    """A chatting user: normalised id and every group it belongs to (nested included)."""

    user_id: str
    groups: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, user_id: str, groups: Iterable[str] = ()) -> UserIdentity:
        """Normalise ``user_id``; ``groups`` are taken as given."""
        return cls(normalize_user_id(user_id), frozenset(groups))


def _relation(value: object) -> MemberRelation | None:
    return MemberRelation(str(value)) if value else None


def _membership(value: object) -> MembershipType | None:
    return MembershipType(str(value)) if value else None


def _matches(principal: Principal, user: UserIdentity) -> bool:
    if isinstance(principal, PrincipalUser):
        return normalize_user_id(principal.id) == user.user_id
    return principal.name in user.groups


def _combine(values: list[bool], relation: MemberRelation | None) -> bool:
    return all(values) if relation is MemberRelation.AND else any(values)


def may_see(config: AccessConfiguration | None, user: UserIdentity) -> bool:
    """Whether ``user`` may see a document with this access configuration."""
    if config is None:
        return True
    grants: list[bool] = []
    for control in config.access_controls:
        allows: list[bool] = []
        for principal in control.principals:
            hit = _matches(principal, user)
            if principal.access is ReadAccess.DENY:
                if hit:
                    return False
            else:
                allows.append(hit)
        if allows:
            grants.append(_combine(allows, control.member_relation))
    return bool(grants) and _combine(grants, config.member_relation)


def _is_plain(config: AccessConfiguration) -> bool:
    """True when the configuration means "any ALLOW principal, unless denied"."""
    bearing = [
        c for c in config.access_controls if any(p.access is ReadAccess.ALLOW for p in c.principals)
    ]
    if len(bearing) > 1 and config.member_relation is MemberRelation.AND:
        return False
    for control in bearing:
        allows = sum(1 for p in control.principals if p.access is ReadAccess.ALLOW)
        if allows > 1 and control.member_relation is MemberRelation.AND:
            return False
    return True


class GroupDirectory:
    """PutGroup state of one application index: groups, members, nested resolution.

    Thread-safe. ``version`` grows on every change so callers can cache.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._groups: dict[str, GroupMembers] = {}
        self._direct: dict[str, set[str]] = {}  # normalised user -> groups listing it
        self._parents: dict[str, set[str]] = {}  # sub-group -> groups listing it
        self._resolved: dict[str, frozenset[str]] = {}
        self.version = 0

    def put_group(self, name: str, members: GroupMembers) -> None:
        """Create or replace a group (PutGroup replaces the member list)."""
        with self._lock:
            self._unlink(name)
            self._groups[name] = members
            for user in members.member_users:
                self._direct.setdefault(normalize_user_id(user.user_id), set()).add(name)
            for sub in members.member_groups:
                self._parents.setdefault(sub.group_name, set()).add(name)
            self._changed()

    def delete_group(self, name: str) -> bool:
        """Remove a group; False when it did not exist."""
        with self._lock:
            if name not in self._groups:
                return False
            self._unlink(name)
            del self._groups[name]
            self._changed()
            return True

    def get_group(self, name: str) -> GroupMembers | None:
        """The members last put for ``name``."""
        with self._lock:
            return self._groups.get(name)

    def group_names(self) -> list[str]:
        """All group names, sorted."""
        with self._lock:
            return sorted(self._groups)

    def groups_of(self, user_id: str) -> frozenset[str]:
        """Every group ``user_id`` belongs to, directly or through sub-groups."""
        user = normalize_user_id(user_id)
        with self._lock:
            cached = self._resolved.get(user)
            if cached is not None:
                return cached
            seen: set[str] = set()
            queue = deque(self._direct.get(user, ()))
            while queue:
                group = queue.popleft()
                if group in seen:
                    continue
                seen.add(group)
                queue.extend(self._parents.get(group, ()))
            result = frozenset(seen)
            self._resolved[user] = result
            return result

    def identity(self, user_id: str) -> UserIdentity:
        """The user with all its groups resolved."""
        return UserIdentity(normalize_user_id(user_id), self.groups_of(user_id))

    def _unlink(self, name: str) -> None:
        old = self._groups.get(name)
        if old is None:
            return
        for user in old.member_users:
            listed = self._direct.get(normalize_user_id(user.user_id))
            if listed is not None:
                listed.discard(name)
        for sub in old.member_groups:
            parents = self._parents.get(sub.group_name)
            if parents is not None:
                parents.discard(name)

    def _changed(self) -> None:
        self._resolved.clear()
        self.version += 1


class PermissionIndex:
    """Documents' access configurations, answering "which documents may X see" fast.

    Plain ACLs (any ALLOW principal, unless denied) go into inverted indexes by user
    and group; ACLs using ``AND`` are evaluated one by one. Results are cached per
    (user, groups) and dropped whenever a document's ACL changes. Thread-safe.
    """

    def __init__(self, *, cache_size: int = 1024) -> None:
        self._lock = threading.RLock()
        self._configs: dict[str, AccessConfiguration | None] = {}
        self._public: set[str] = set()
        self._complex: set[str] = set()
        self._allow_user: dict[str, set[str]] = {}
        self._allow_group: dict[str, set[str]] = {}
        self._deny_user: dict[str, set[str]] = {}
        self._deny_group: dict[str, set[str]] = {}
        self._cache: OrderedDict[UserIdentity, frozenset[str]] = OrderedDict()
        self._cache_size = cache_size
        self.version = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._configs)

    def set_access(self, document_id: str, config: AccessConfiguration | None) -> None:
        """Record (or replace) the access configuration of a document."""
        with self._lock:
            self._forget(document_id)
            self._configs[document_id] = config
            if config is None:
                self._public.add(document_id)
            else:
                plain = _is_plain(config)
                if not plain:
                    self._complex.add(document_id)
                for control in config.access_controls:
                    for p in control.principals:
                        key = normalize_user_id(p.id) if isinstance(p, PrincipalUser) else p.name
                        table = self._table(p)
                        if p.access is ReadAccess.DENY or plain:
                            table.setdefault(key, set()).add(document_id)
            self._changed()

    def remove(self, document_id: str) -> None:
        """Forget a document."""
        with self._lock:
            if document_id in self._configs:
                self._forget(document_id)
                del self._configs[document_id]
                self._changed()

    def access_of(self, document_id: str) -> AccessConfiguration | None:
        """The stored configuration (None = public, or unknown document)."""
        with self._lock:
            return self._configs.get(document_id)

    def may_see(self, document_id: str, user: UserIdentity) -> bool:
        """Whether ``user`` may see ``document_id`` (False for unknown documents)."""
        with self._lock:
            if document_id not in self._configs:
                return False
            return may_see(self._configs[document_id], user)

    def permitted(self, user: UserIdentity) -> frozenset[str]:
        """All document ids ``user`` may see."""
        with self._lock:
            cached = self._cache.get(user)
            if cached is not None:
                self._cache.move_to_end(user)
                return cached
            allowed = set(self._public)
            allowed.update(self._allow_user.get(user.user_id, ()))
            for group in user.groups:
                allowed.update(self._allow_group.get(group, ()))
            allowed.difference_update(self._deny_user.get(user.user_id, ()))
            for group in user.groups:
                allowed.difference_update(self._deny_group.get(group, ()))
            for doc in self._complex:
                if may_see(self._configs[doc], user):
                    allowed.add(doc)
            result = frozenset(allowed)
            self._cache[user] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return result

    def _table(self, principal: Principal) -> dict[str, set[str]]:
        if isinstance(principal, PrincipalUser):
            return self._allow_user if principal.access is ReadAccess.ALLOW else self._deny_user
        return self._allow_group if principal.access is ReadAccess.ALLOW else self._deny_group

    def _forget(self, document_id: str) -> None:
        config = self._configs.get(document_id)
        self._public.discard(document_id)
        self._complex.discard(document_id)
        if config is None:
            return
        for control in config.access_controls:
            for p in control.principals:
                key = normalize_user_id(p.id) if isinstance(p, PrincipalUser) else p.name
                docs = self._table(p).get(key)
                if docs is not None:
                    docs.discard(document_id)

    def _changed(self) -> None:
        self._cache.clear()
        self.version += 1
