# Copyright (c) Canopy authors.
"""The values Canopy's Python API hands out, and its enumerations.

Every result is a plain, immutable copy (a frozen dataclass) made while the
C result handle was alive; none of them refers to the library afterwards,
so they may outlive the database and be shared between threads.

The enumerations are :class:`enum.IntEnum` whose values are the C API's
constants; wherever a method takes one it also accepts its lower-case name
(``"device"``, ``"always_on"``, ``"devices_subtree"``...).
"""

import dataclasses
import enum
from typing import Any, Dict, List, Optional, Tuple

#: The platform's system actor (and the all-seeing viewer):
#: ``CANOPY_SYSTEM_ACTOR``. Pass it where an actor or viewer is expected.
SYSTEM_ACTOR = 0


class EntityKind(enum.IntEnum):
    """The kinds of entity an account owns (``CANOPY_KIND_*``)."""

    DEVICE = 1
    ASSET = 2
    DASHBOARD = 3
    ENTITY_VIEW = 4


class SubAccountAccess(enum.IntEnum):
    """An account's sub-account access default (``CANOPY_ACCESS_*``):
    whether new memberships include its sub-accounts."""

    DEFAULT_OFF = 0
    DEFAULT_ON = 1
    ALWAYS_ON = 2


class EntityRef(enum.IntEnum):
    """How :meth:`canopy.Db.reassign_entities` names its items."""

    KEY = 0
    UNIT_ID = 1


class Outcome(enum.IntEnum):
    """What happened to one item of a reassign (``CANOPY_OUTCOME_*``)."""

    MOVED = 0  #: reassigned (or would have been, had the batch passed)
    UNCHANGED = 1  #: already owned by the target
    UNKNOWN = 2  #: no entity with that key / unit id
    DENIED = 3  #: the actor may not take it from its owner
    DUPLICATE = 4  #: named twice in the batch


class GroupKind(enum.IntEnum):
    """What a group holds (``CANOPY_GROUP_*``): entities of one kind owned
    by the group's owner, users created in it, or its direct sub-accounts."""

    DEVICE = 1
    ASSET = 2
    DASHBOARD = 3
    ENTITY_VIEW = 4
    USER = 5
    ACCOUNT = 6


class MemberOutcome(enum.IntEnum):
    """What happened to one item of a group member batch
    (``CANOPY_MEMBER_*``)."""

    DONE = 0  #: added / removed (or would have been, had the batch passed)
    UNCHANGED = 1  #: already a member / not a member
    UNKNOWN = 2  #: no such member, or one out of the actor's sight
    DENIED = 3  #: not one the group may hold, or the actor may not
    DUPLICATE = 4  #: named twice in the batch


class TableSort(enum.IntEnum):
    """Sort orders of the "All accounts" table (``CANOPY_SORT_*``)."""

    TREE = 0
    NAME = 1
    CREATED = 2
    USERS = 3
    SUB_ACCOUNTS = 4
    DEVICES_DIRECT = 5
    DEVICES_SUBTREE = 6


@dataclasses.dataclass(frozen=True)
class Account:
    """An account (tenant, customer, sub-account)."""

    id: int
    key: str
    name: str
    parent: Optional[int]  #: None for a root tenant
    depth: int  #: 1 for a root tenant
    created_us: int  #: microseconds since the Unix epoch
    updated_us: int
    attributes: Dict[str, str]
    sub_account_management: bool
    sub_account_access: SubAccountAccess
    group_sharing: bool = False  #: root tenants: may groups be shared down?


@dataclasses.dataclass(frozen=True)
class EntityCounts:
    """Maintained entity counts of one kind for an account."""

    direct: int  #: owned by the account itself
    subtree: int  #: owned by the account or any descendant


@dataclasses.dataclass(frozen=True)
class Entity:
    """A device, asset, dashboard or entity view."""

    id: int
    kind: EntityKind
    key: str
    unit_id: str  #: "" when the entity has none (only devices have one)
    name: str
    type: str  #: device type / profile; "" when none
    owner: int
    created_us: int
    updated_us: int
    attributes: Dict[str, str]


@dataclasses.dataclass(frozen=True)
class ReassignItem:
    """One item of a reassign report, in the order the refs were given."""

    ref: str
    outcome: Outcome
    entity: Optional[int]  #: None when unknown
    previous_owner: Optional[int]  #: its owner before the call, when known
    message: str  #: why, for unknown / denied / duplicate items


@dataclasses.dataclass(frozen=True)
class ReassignReport:
    """The per-item report of :meth:`canopy.Db.reassign_entities`."""

    items: List[ReassignItem]
    moved: int
    unchanged: int
    unknown: int
    denied: int
    duplicate: int


@dataclasses.dataclass(frozen=True)
class User:
    """A user: a login created in an account."""

    id: int
    login: str
    name: str
    account: int  #: the account it was created in
    disabled: bool  #: a disabled user holds no permissions
    created_us: int
    updated_us: int


@dataclasses.dataclass(frozen=True)
class Membership:
    """A user's role on an account (and, with ``branch``, on its whole
    current and future subtree)."""

    user: int
    account: int
    role: int
    branch: bool
    created_us: int


@dataclasses.dataclass(frozen=True)
class Role:
    """A named set of permissions: built in, or custom to a root tenant."""

    id: int
    tenant: Optional[int]  #: None for a built-in role
    name: str
    permissions: List[str]  #: canonical names, sorted
    builtin: bool


@dataclasses.dataclass(frozen=True)
class VisibleItem:
    """One entity of a visibility query, in scan order."""

    id: int
    key: str
    name: str
    type: str
    owner: int


@dataclasses.dataclass(frozen=True)
class VisiblePage:
    """One page of a visibility query; pass ``next_cursor`` to get the
    next one ("" when there is nothing more, as in C and C++)."""

    items: List[VisibleItem]
    next_cursor: str  #: "" on the last page
    #: the revision the page was read at (a live cursor's pages keep the
    #: revision of the first page)
    revision: int = 0


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why a permission is allowed or denied on an entity."""

    allowed: bool
    reason: str  #: one sentence a person can read
    entity: int
    owner: int
    via_account: Optional[int]  #: the granting membership's account, when allowed
    via_role: Optional[int]
    via_role_name: str
    via_branch: bool
    path: List[str]  #: account keys from via_account down to the owner
    #: when allowed through a group grant: its user group (None: a membership)
    via_user_group: Optional[int] = None
    #: the group that grant is on (None: a generic grant, or a membership)
    via_group: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class WhoCanItem:
    """A user who may exercise a permission, and the membership (or group
    grant) that grants it."""

    user: int
    login: str
    via_account: int
    role: int
    branch: bool
    #: reached through a group grant: its user group (None: a membership)
    via_user_group: Optional[int] = None
    #: the group that grant is on (None: a generic grant, or a membership)
    via_group: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class WhoCanPage:
    """One page of :meth:`canopy.Db.who_can_page`."""

    items: List[WhoCanItem]
    next_cursor: str  #: "" on the last page
    revision: int = 0  #: the revision the page was read at


@dataclasses.dataclass(frozen=True)
class AccountRow:
    """One row of the "All accounts" table."""

    id: int
    parent: Optional[int]
    key: str
    name: str
    depth: int
    path: List[str]  #: keys from the root tenant down to this account
    users: int  #: users with a membership on the account
    sub_accounts: int  #: all descendants
    devices_direct: int
    devices_subtree: int
    groups: int  #: groups it owns (0 unless the viewer sees them)
    created_us: int


@dataclasses.dataclass(frozen=True)
class TablePage:
    """One page of the "All accounts" table."""

    rows: List[AccountRow]
    total: int  #: rows in the whole table
    next_cursor: str  #: "" on the last page
    revision: int = 0  #: the revision the page was read at


@dataclasses.dataclass(frozen=True)
class Summary:
    """The summary of an account (the Frontegg sub-account page)."""

    account: Account
    path: List[str]  #: account keys from the root tenant down (the ones seen)
    path_names: List[str]  #: the same accounts' names
    users: int
    sub_accounts: int
    devices_direct: int
    devices_subtree: int


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What an import loaded, or what an export wrote."""

    lines: int
    accounts: int
    roles: int
    users: int
    memberships: int
    entities: int
    groups: int = 0
    group_members: int = 0
    group_grants: int = 0


@dataclasses.dataclass(frozen=True)
class RecordChange:
    """One record's change within a change-log entry."""

    #: "account", "entity", "user", "membership", "role", "meta", "group",
    #: "group_member", "group_members" or "group_grant"
    type: str
    action: str  #: "created", "changed" or "deleted"
    #: the record's id; "<user>/<account>" for a membership, "<group>/<member>"
    #: for a group member, "<user group>/<role>/<target>" for a group grant
    id: str
    #: the record (parsed JSON) before / after the change; None when it did
    #: not exist / no longer exists, or lies outside an audit viewer's reach
    before: Optional[Dict[str, Any]]
    after: Optional[Dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class ChangeEntry:
    """One committed mutation of the change log."""

    revision: int
    time_us: int  #: commit time, microseconds since the Unix epoch
    actor: Optional[str]  #: the acting user's login, "system", or None when hidden
    operation: str  #: "account.create", "entity.reassign", "import"...
    #: the call's arguments (parsed JSON); None when hidden in an audit view
    arguments: Optional[Dict[str, Any]]
    changes: List[RecordChange]


@dataclasses.dataclass(frozen=True)
class ChangesPage:
    """One page of :meth:`canopy.Db.changes`: read on from ``next``; the
    log is read to its head once ``next`` is past ``revision`` (a filtered
    page may be short, even empty, without being the last)."""

    entries: List[ChangeEntry]
    next: int  #: the revision to read from next
    revision: int  #: the database's revision when the page was read
    #: filtered by an account that was deleted: the page reached its
    #: deletion, the end of its log (a read from ``next`` raises NotFound)
    ended: bool = False

    @property
    def at_head(self):
        """True when nothing more was committed when the page was read."""
        return self.next > self.revision


@dataclasses.dataclass(frozen=True)
class ApplyReport:
    """What :meth:`canopy.Db.apply_changes` did."""

    applied: int  #: entries applied
    skipped: int  #: entries already applied (identical), skipped
    revision: int  #: the database's revision afterwards


@dataclasses.dataclass(frozen=True)
class Group:
    """A group of entities, users or accounts, owned by an account."""

    id: int
    kind: GroupKind
    name: str
    owner: int
    size: int  #: how many members it holds
    created_us: int
    updated_us: int
    #: entity groups: members another group (of the owner) also holds; 0
    #: means disjoint, and a count through it costs nothing per member
    overlap: int = 0


@dataclasses.dataclass(frozen=True)
class GroupMemberItem:
    """One item of a group member batch, in the order the ids were given."""

    member: int
    outcome: MemberOutcome
    message: str  #: why, for unknown / denied / duplicate items


@dataclasses.dataclass(frozen=True)
class GroupMembersReport:
    """The per-item report of :meth:`canopy.Db.add_group_members` and
    :meth:`canopy.Db.remove_group_members`."""

    items: List[GroupMemberItem]
    done: int
    unchanged: int
    unknown: int
    denied: int
    duplicate: int


@dataclasses.dataclass(frozen=True)
class GroupMembersPage:
    """A page of a group's member ids, in id order."""

    members: List[int]
    next: Optional[int]  #: the ``after`` of the next page; None after the last


@dataclasses.dataclass(frozen=True)
class GroupGrant:
    """A role given to every member of a user group: generic (``target``
    None: on the user group's owner), on an entity group, or on an account
    group."""

    user_group: int
    role: int
    target: Optional[int]
    branch: bool
    created_us: int


def parse_enum(enum_type, value, what) -> Tuple[int, str]:
    """Returns the C value of ``value`` (a member of ``enum_type`` or its
    lower-case name) and its name.

    Raises TypeError for another Python type and
    :class:`canopy.InvalidArgument` for an unknown name.
    """
    from canopy.errors import InvalidArgument  # avoid a cycle at import

    if isinstance(value, enum_type):
        return int(value), value.name.lower()
    if isinstance(value, str):
        try:
            # Names are lower-case, as the C API, the CLI and JSON Lines
            # spell them: "DEVICE" is refused there too.
            # Looked up by the exact lower-case name: str.upper() would take
            # look-alikes ("devıce" with a dotless i) for a name.
            member = {m.name.lower(): m for m in enum_type}[value]
        except KeyError:
            names = ", ".join(m.name.lower() for m in enum_type)
            raise InvalidArgument("unknown %s '%s' (expected one of: %s)" %
                                  (what, value, names)) from None
        return int(member), value
    raise TypeError("%s must be a %s or its name (str), not %s" %
                    (what, enum_type.__name__, type(value).__name__))
