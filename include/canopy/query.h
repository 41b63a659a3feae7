// Copyright (c) Canopy authors.
//
// Requests and results of Canopy's read side: the visibility-filtered scan
// ("which devices may this user see?"), counts, checks, who-can, and the
// account views (docs/index.md, "Queries" and "Views").
//
// Consistency: every call reads one consistent snapshot of the database;
// many threads may query while another writes.
//
// Cursors are opaque, checksummed tokens. A page resumed from a cursor reads
// the same snapshot as the first page while the cursor is live (it was
// used within Options::cursor_ttl_seconds, is younger than four times that,
// is on the same open Db, is among the Options::max_open_cursors most
// recently used, and the viewer's grants — its memberships and the grants
// of its user groups, their roles, branch flags and granted groups, its
// disabled flag, where the accounts they sit on are — reach at least what
// they reached); it then neither skips nor repeats an entity whatever
// other threads write meanwhile, and shows entities where they were in the
// snapshot (one reassigned or moved out of the viewer's reach since, or
// taken out of a group granted to the viewer, still appears). A cursor that is no longer live (or that crosses a close and
// reopen) resumes on the latest state — with the viewer's current access —
// just after the last key returned, in the same order: every entity that
// stays where it was is still returned exactly once; entities created,
// deleted or reassigned meanwhile may or may not appear, and so may those
// of an account moved meanwhile (a move changes where its subtree's
// entities sort: they may appear twice, or not at all). Expired cursors
// release their snapshots at the next visible query. A cursor
// is bound to its request: reusing it with other filters, another viewer or
// a changed token is refused with InvalidArgument; `limit` may change
// between pages.
//
// Who-can and accounts-table cursors are lighter: each page is computed on
// the latest state; a who-can page resumes after the last user id returned,
// a table page at the next row offset (rows added or removed meanwhile
// shift later pages).
//
// Thread safety: plain values; VisibleIterator is used by one thread at a
// time and must be destroyed before its Db.

#ifndef CANOPY_QUERY_H_
#define CANOPY_QUERY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/status.h"
#include "canopy/types.h"

namespace canopy {

// Selects entities by attribute value: attributes[name] == value.
struct AttributeFilter {
  std::string name;
  std::string value;
};

// The selection of Visible, Count and NewVisibleIterator.
struct VisibleRequest {
  explicit VisibleRequest(Actor v) : viewer(v) {}
  // Whose visibility: Actor::User(id) sees what its memberships grant;
  // Actor::System() sees everything (administration, exports).
  Actor viewer;
  EntityKind kind = EntityKind::kDevice;
  // The permission needed on each entity; empty means "<kind>.read". It must
  // be one of the kind's permissions ("device.read", "device.assign"...).
  std::string permission;
  // Filters; all given filters must match.
  std::optional<std::string> type;         // exact device type / profile
  std::string name_prefix;                 // name starts with this
  std::optional<AttributeFilter> attribute;
  AccountId within = kNoId;  // only this account's subtree (or itself alone
                             // with direct_only)
  // Only entities owned directly by an account where the viewer holds a
  // membership whose role grants the permission (not by its sub-accounts,
  // nor where it holds the permission only through a membership above),
  // and the members of entity groups granted to the viewer's user groups
  // (each granted on its members alone). With `within`, a different set,
  // not a narrowing of that one: the entities owned by `within` itself
  // that the viewer holds the permission on, through whichever membership.
  // For the system viewer without `within`: those owned by the root
  // tenants themselves.
  bool direct_only = false;
  // Paging (Visible only): at most `limit` items (1..10000) per page,
  // resumed from `cursor` ("" starts at the beginning).
  size_t limit = 100;
  std::string cursor;
  // Consistency token ("at least as fresh as"): FailedPrecondition unless
  // the database has reached this revision (Db::LastCommittedRevision of
  // the write to read back). 0: any.
  uint64_t min_revision = 0;
};

// One visible entity, in scan order (tree order of the owner, then id).
struct VisibleItem {
  EntityId id = kNoId;
  std::string key;
  std::string name;
  std::string type;
  AccountId owner = kNoId;
};

struct VisiblePage {
  std::vector<VisibleItem> items;
  std::string next_cursor;  // empty when there is nothing more
  // The revision the page was read at (a live cursor's pages keep the
  // revision of its first page).
  uint64_t revision = 0;
};

// A streaming scan over a visible selection, on one snapshot; it never
// allocates per entity. Follows LevelDB's iterator protocol: check Valid()
// before reading, then status() once Valid() is false.
class VisibleIterator {
 public:
  virtual ~VisibleIterator() = default;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  virtual EntityId id() const = 0;
  // The views below stay valid until the next call to Next().
  virtual std::string_view key() const = 0;
  virtual std::string_view name() const = 0;
  virtual std::string_view type() const = 0;
  virtual AccountId owner() const = 0;
  // OK at the end of the selection, or what went wrong.
  virtual Status status() const = 0;
};

// What an answer to a viewer shows in place of the name of an account,
// user or custom role the viewer does not see: an explanation's reason,
// path and role name, and the CLI's and the web console's listings.
inline constexpr const char kHidden[] = "(hidden)";

// Why a permission is allowed or denied on an entity.
struct Explanation {
  bool allowed = false;
  std::string reason;  // why, in one sentence a person can read (the verdict is `allowed`)
  EntityId entity = kNoId;  // kNoId when the question was about an account
  AccountId owner = kNoId;   // the entity's owner, or the account asked about
  // When allowed: the membership that grants it...
  AccountId via_account = kNoId;
  RoleId via_role = kNoId;
  std::string via_role_name;  // kHidden when the asker does not see the role
  bool via_branch = false;
  // ...through the grant of this user group (kNoId: a membership of the
  // user's own), onto this group (kNoId: the grant's generic role on the
  // user group's owner, or a membership)...
  GroupId via_user_group = kNoId;
  GroupId via_group = kNoId;
  // ...and the account path (keys) from that membership's account down to
  // the owner (a single key when it is the owner itself).
  std::vector<std::string> path;
};

struct WhoCanRequest {
  std::string permission;  // e.g. "device.read", or "user.invite"
  // The entity's key (the kind follows the permission), or the account's
  // key for an account-level permission (see Db::Check).
  std::string entity_key;
  // Who asks: an entity out of its sight is NotFound, worded as a missing
  // one, and only users whose granting membership it sees are listed (see
  // Db's "Reads as a viewer"). The system actor sees every answer.
  Actor viewer = Actor::System();
  size_t limit = 100;      // 1..10000 per page
  std::string cursor;
  // Consistency token ("at least as fresh as"): FailedPrecondition unless
  // the database has reached this revision (Db::LastCommittedRevision of
  // the write to read back). 0: any.
  uint64_t min_revision = 0;
};

struct WhoCanItem {
  UserId user = kNoId;
  std::string login;
  AccountId via_account = kNoId;  // the membership that grants it
  RoleId role = kNoId;
  bool branch = false;
  GroupId via_user_group = kNoId;  // reached through this user group's grant (kNoId: a membership)
  GroupId via_group = kNoId;       // onto this group (kNoId: generic or a membership)
};

struct WhoCanPage {
  std::vector<WhoCanItem> items;  // ordered by user id
  std::string next_cursor;        // empty when there is nothing more
  uint64_t revision = 0;  // the revision the page was read at
};

// Sort orders of the "All accounts" table.
enum class TableSort : uint8_t {
  kTree = 0,  // tree order: each account before its sub-accounts
  kName = 1,
  kCreated = 2,
  kUsers = 3,
  kSubAccounts = 4,
  kDevicesDirect = 5,
  kDevicesSubtree = 6,
};

struct TableRequest {
  explicit TableRequest(Actor v) : viewer(v) {}
  Actor viewer;               // rows are the accounts it may read
  AccountId root = kNoId;     // only this account's subtree
  TableSort sort = TableSort::kTree;
  bool descending = false;   // ties keep tree order
  size_t limit = 100;         // 1..10000 rows per page
  std::string cursor;         // resumes at the next row offset, on the latest state
  // Consistency token ("at least as fresh as"): FailedPrecondition unless
  // the database has reached this revision (Db::LastCommittedRevision of
  // the write to read back). 0: any.
  uint64_t min_revision = 0;
};

// One row of the "All accounts" table.
struct AccountRow {
  AccountId id = kNoId;
  AccountId parent = kNoId;
  std::string key;
  std::string name;
  uint32_t depth = 0;
  std::vector<std::string> path;  // keys from the root tenant to this account
  uint64_t users = 0;             // users with a membership on this account
  uint64_t sub_accounts = 0;      // all descendants
  uint64_t devices_direct = 0;
  uint64_t devices_subtree = 0;
  uint64_t groups = 0;            // groups it owns (0 unless the viewer sees them)
  int64_t created_us = 0;
};

struct TablePage {
  std::vector<AccountRow> rows;
  uint64_t total = 0;       // rows in the whole table
  std::string next_cursor;  // empty when there is nothing more
  uint64_t revision = 0;  // the revision the page was read at
};

// An account summary (the Frontegg sub-account page).
struct AccountSummary {
  Account account;
  // The account's path from the root tenant down to itself, as keys (as
  // AccountRow::path and Explanation::path) and, in the same order, as
  // names; for a viewer, only the ancestors it sees.
  std::vector<std::string> path;
  std::vector<std::string> path_names;
  uint64_t users = 0;
  uint64_t sub_accounts = 0;
  uint64_t devices_direct = 0;
  uint64_t devices_subtree = 0;
};

}  // namespace canopy

#endif  // CANOPY_QUERY_H_
