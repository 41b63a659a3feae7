# Copyright (c) Canopy authors.
"""Canopy for Python: an embedded graph database for multi-tenant account
hierarchies, over libcanopy's C API (``canopy/c.h``) through ctypes.

A first program::

    import canopy

    with canopy.open("./canopy-data") as db:
        system = canopy.SYSTEM_ACTOR
        acme = db.create_account(system, "acme", "ACME Corp",
                                 sub_account_management=True)
        a = db.create_account(system, "acme-a", "Nested customer A", acme)
        user = db.create_user(system, "a@acme.example", "User A", a)
        db.invite(system, user, a, db.find_role(a, "viewer").id, branch=True)
        db.create_entity(system, "device", "dev-1", "Van 1", a, unit_id="U-1")
        for item in db.visible(user):          # pages through cursors
            print(item.key, item.name)

Every failure raises a :class:`CanopyError` subclass chosen by the engine's
error code (:class:`NotFound`, :class:`PermissionDenied`...); values of
the wrong Python type raise :class:`TypeError`. See ``canopy.Db`` for every
call. The library is found through ``CANOPY_LIBRARY``, in the prefix
``cmake --install`` put the package in, next to the package, or on the
system's library path (see ``canopy._lib`` and docs/python.md).
"""

from canopy.db import (  # noqa: A004
    Db, VisibleStream, open, restore, storage_format_version, version,
)
from canopy.errors import (
    Aborted,
    Compacted,
    AlreadyExists,
    CanopyError,
    Corruption,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    IoError,
    NotFound,
    NotSupported,
    PermissionDenied,
    Unavailable,
    error_for,
)
from canopy.model import (
    SYSTEM_ACTOR,
    Account,
    AccountRow,
    ApplyReport,
    ChangeEntry,
    ChangesPage,
    Entity,
    EntityCounts,
    EntityKind,
    EntityRef,
    Explanation,
    Group,
    GroupGrant,
    GroupKind,
    GroupMemberItem,
    GroupMembersPage,
    GroupMembersReport,
    ImportReport,
    MemberOutcome,
    Membership,
    Outcome,
    ReassignItem,
    ReassignReport,
    RecordChange,
    Role,
    SubAccountAccess,
    Summary,
    TablePage,
    TableSort,
    User,
    VisibleItem,
    VisiblePage,
    WhoCanItem,
    WhoCanPage,
)

__version__ = version()

__all__ = [
    "Aborted", "Account", "AccountRow", "AlreadyExists", "ApplyReport", "CanopyError",
    "ChangeEntry", "ChangesPage", "Compacted", "Corruption", "Db",
    "Entity", "EntityCounts", "EntityKind", "EntityRef", "Explanation", "FailedPrecondition",
    "Group", "GroupGrant", "GroupKind", "GroupMemberItem", "GroupMembersPage",
    "GroupMembersReport", "ImportReport", "Internal", "InvalidArgument", "IoError", "MemberOutcome", "Membership", "NotFound",
    "NotSupported", "Outcome", "PermissionDenied", "ReassignItem", "ReassignReport",
    "RecordChange", "Role",
    "SYSTEM_ACTOR", "SubAccountAccess", "Summary", "TablePage", "TableSort", "Unavailable", "User",
    "VisibleItem", "VisiblePage", "VisibleStream", "WhoCanItem", "WhoCanPage", "error_for",
    "open", "restore", "storage_format_version", "version",
]
