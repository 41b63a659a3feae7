// Copyright (c) Canopy authors.
//
// canopy::Db — an open Canopy database: accounts in an interval-encoded
// tree, the entities they own, users with their memberships and roles, and
// the visibility-filtered queries over them.
//
// Thread safety: a Db is safe for concurrent use by many threads. Reads run
// in parallel on consistent snapshots; mutations are serialised, each one
// atomic (one RocksDB write batch) and durable when it returns
// (Options::sync).
//
// fork(): the storage engine's background threads are not copied into a
// forked child, so a process forked from one that had opened a database
// (even one closed since) cannot open, use or close any: every call there,
// Open and Close included, is FailedPrecondition, and destroying a Db there
// lets go of it untouched (the parent's database is not affected). Such a
// child ends, when it calls exit(), as if by _exit() after flushing stdio.
// Fork before the first Open, or start workers with exec.
//
// Every mutation takes an Actor and is authorised by the rules of docs/index.md: a
// refusal is PermissionDenied naming the missing permission and the account
// ("permission device.assign missing on account 'acme-a'"). Every refusal,
// of any kind, leaves the database unchanged. One failure is not a refusal:
// when syncing the write-ahead log fails after a write (IOError), the
// change is applied but may not survive a power loss, and every later call
// returns that IOError until the Db is closed and opened again.
//
// On a replica (Options::replication, docs/replication.md) every mutation
// is first appended to the change log in etcd, and may also fail with
// Unavailable (a message starting "etcd") when etcd cannot commit it within
// write_timeout_ms; such a write may still appear later, once, in order.
// Reads never wait for etcd.
//
// Input rules: keys, names, logins and attribute names are valid UTF-8 of
// 1..256 bytes (a type may be empty), attribute values 0..4096 bytes, at
// most 256 attributes (docs/model.md, "Input limits"); otherwise
// InvalidArgument. Unknown ids, keys or logins are NotFound.

#ifndef CANOPY_DB_H_
#define CANOPY_DB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/changes.h"
#include "canopy/options.h"
#include "canopy/query.h"
#include "canopy/status.h"
#include "canopy/types.h"

namespace canopy {

// Progress of a long operation: `done` of `total` units (bytes or records).
// Return false to cancel (the operation then returns Aborted and changes
// nothing). It runs on the calling thread while the operation holds the
// Db open (an import also holds off mutations): it may query the same Db;
// what would wait for the operation (Close; during an import, a mutation,
// Import, ApplyChanges, Checkpoint or Backup) is refused from inside it
// with FailedPrecondition naming the callback.
using ProgressFn = std::function<bool(uint64_t done, uint64_t total)>;

struct ImportOptions {
  // Called about every 16k lines with bytes read and the file size (0
  // while a pipe's is unknown; the bytes read, once a file that grows
  // while it is read passes its size at the start: never done > total);
  // after the last line with done == total ==
  // the bytes read, every 100 ms while a large import's sorted records are
  // written and once more just before the commit, however small the file:
  // returning false at any call imports nothing (Aborted).
  ProgressFn progress;
  // How refusals name the input (empty: the path given), e.g. "(stdin)"
  // for "/dev/stdin".
  std::string name;
};
struct ImportReport {
  uint64_t lines = 0;
  uint64_t accounts = 0;
  uint64_t roles = 0;
  uint64_t users = 0;
  uint64_t memberships = 0;
  uint64_t entities = 0;
  uint64_t groups = 0;
  uint64_t group_members = 0;
  uint64_t group_grants = 0;
};

class Db {
 public:
  // Opens (or, with options.create_if_missing, creates) the database in the
  // folder `path`. Stores the database in *db and returns OK, or stores
  // nullptr and returns: InvalidArgument (bad options; `path` is a file, not
  // a folder), NotFound (missing and not create_if_missing), AlreadyExists
  // (error_if_exists), NotSupported (a newer storage format), Corruption
  // (not a Canopy database or damaged), IOError (for example, the folder is
  // locked by another process), Unavailable (a read-only or follower open
  // kept finding files gone as a running writer replaced them, about 1.3 s
  // of attempts: try again).
  static Status Open(const Options& options, std::string_view path, std::unique_ptr<Db>* db);

  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  // Closes the database (see Close). Every VisibleIterator must be
  // destroyed first: destroying a Db under a live iterator is undefined.
  virtual ~Db() = default;

  // Flushes and closes, after the calls in flight on other threads return
  // (it waits for them). Once Close has begun, calls made on other threads
  // are refused (FailedPrecondition, "the database is closing"), so new
  // calls cannot keep it waiting. FailedPrecondition while a
  // VisibleIterator from NewVisibleIterator or a snapshot from OpenSnapshot
  // is still alive, or from inside a progress callback of an operation of
  // this Db (nothing is closed then: a replica keeps following, a
  // follower keeps catching up; calls that raced with it may have been
  // refused as closing). Outside a forked child, FailedPrecondition from
  // Close always means that nothing was closed. Later calls other than the destructor return
  // FailedPrecondition ("the database is closed"). Idempotent.
  virtual Status Close() = 0;

  // ---- Accounts -------------------------------------------------------

  // Creates an account under spec.parent (kNoId: a root tenant, system actor
  // only). Needs account.create on the parent, and the parent's
  // sub_account_management on (unless the actor is the system). Turning on
  // the new account's sub_account_management needs
  // account.manage_sub_accounts on the parent. Errors: AlreadyExists (key),
  // NotFound (parent), FailedPrecondition (depth over Options::max_depth).
  virtual StatusOr<AccountId> CreateAccount(const Actor& actor, const AccountSpec& spec) = 0;

  virtual StatusOr<Account> GetAccount(AccountId id) const = 0;
  virtual StatusOr<Account> FindAccount(std::string_view key) const = 0;
  // The account, user or entity as `viewer` may know it: NotFound, worded
  // exactly as for a missing one, when the viewer cannot see it (an enabled
  // user sees an account where it holds any permission, an entity where it
  // holds any permission of its kind on the owner, a user over whom it holds
  // a user.* permission or access.grant; docs/index.md).
  virtual StatusOr<Account> FindAccount(const Actor& viewer, std::string_view key) const = 0;

  // Changes name, attributes and settings in one atomic write. Needs
  // account.update on the account for name and attributes;
  // account.manage_sub_accounts on its parent to switch
  // sub_account_management (root tenants: system actor only); access.grant
  // on the account to change sub_account_access (switching
  // to always_on gives every current member branch access — the actor must
  // hold each member's role branch-wide — and switching away keeps the
  // access already given).
  virtual Status UpdateAccount(const Actor& actor, AccountId id, const AccountPatch& patch) = 0;

  // UpdateAccount with only sub_account_management set.
  virtual Status SetSubAccountManagement(const Actor& actor, AccountId id, bool on) = 0;

  // UpdateAccount with only sub_account_access set.
  virtual Status SetSubAccountAccess(const Actor& actor, AccountId id,
                                     SubAccountAccess access) = 0;

  // Moves the account, with its whole subtree, entities and memberships,
  // under new_parent, as its newest sub-account; visibility changes
  // atomically. Needs account.move on the account and each of its
  // sub-accounts (or branch-wide on the account), its old parent and
  // new_parent. Errors: FailedPrecondition (new_parent inside the moved
  // subtree, a root tenant, for a user new_parent's sub_account_management
  // off, depth over the limit, a membership in the
  // subtree that would leave the subtree of its user's home account, or
  // custom roles of the old tenant in use when crossing tenants). A user
  // group of the subtree loses its grants onto groups of accounts no
  // longer above it: that needs group.write on the old parent and, for
  // each such grant, what revoking it needs (PermissionDenied).
  virtual Status MoveAccount(const Actor& actor, AccountId id, AccountId new_parent) = 0;

  // Deletes an account that has no sub-accounts (FailedPrecondition
  // otherwise). Its entities and the users created in it go to `receiver`,
  // which must be named when there are any (FailedPrecondition otherwise).
  // Memberships on the account are removed. Needs account.delete on the
  // account, and device.assign (per kind) plus user.invite on both accounts
  // when things move to the receiver; for each membership on it, user.remove
  // and every permission of its role, as RemoveMembership. Its groups go
  // with their grants: group.write on it and, for each grant of or onto
  // them, what revoking it needs. A root tenant only the system actor
  // deletes (PermissionDenied for a user).
  virtual Status DeleteAccount(const Actor& actor, AccountId id,
                               AccountId receiver = kNoId) = 0;

  // Deletes several accounts in one atomic call, all or nothing. A whole
  // branch may be given: children are deleted before their parents; any
  // sub-account not in the set makes the call fail. `receiver` (not in the
  // set) takes their entities and users, as for DeleteAccount.
  virtual Status DeleteAccounts(const Actor& actor, Span<AccountId> ids,
                                AccountId receiver = kNoId) = 0;

  // The maintained counts of `kind` entities of the account (no scan).
  virtual StatusOr<EntityCounts> CountOwned(AccountId id, EntityKind kind) const = 0;
  // The same counts as `viewer` may know them (see "Reads as a viewer"):
  // `subtree` adds up only the sub-accounts the viewer sees, as Summary's
  // device totals do (the maintained counters, without a walk, when it
  // reads the whole subtree).
  virtual StatusOr<EntityCounts> CountOwned(const Actor& viewer, AccountId id,
                                            EntityKind kind) const = 0;

  // The account's ancestors, root tenant first, not including itself.
  virtual StatusOr<std::vector<Account>> Ancestors(AccountId id) const = 0;

  // The account's descendants in tree order, at most `max_levels` levels
  // below it (0: no limit), not including itself.
  virtual StatusOr<std::vector<Account>> Descendants(AccountId id, uint32_t max_levels) const = 0;

  // The root tenants, in creation order (empty once the database is closed).
  virtual std::vector<AccountId> Roots() const = 0;

  // ---- Reads as a viewer ----------------------------------------------
  // The reads below return only what `viewer` may see, by the rules of
  // FindAccount(viewer, ...): an account or user out of its sight is
  // NotFound, worded exactly as for a missing one, and is left out of
  // lists. A user viewer that is unknown is NotFound ("actor: no user ...");
  // a disabled one is PermissionDenied (it holds, and so sees, nothing).
  // Actor::System() sees everything.

  // The viewer's top accounts: those it sees whose parent it does not (for
  // the system actor, the root tenants), by id.
  virtual StatusOr<std::vector<AccountId>> Roots(const Actor& viewer) const = 0;
  // The descendants of `id` the viewer sees, in tree order, at most
  // `max_levels` below it (0: no limit).
  virtual StatusOr<std::vector<Account>> Descendants(const Actor& viewer, AccountId id,
                                                     uint32_t max_levels) const = 0;
  // The users created in the account that the viewer sees.
  virtual StatusOr<std::vector<User>> UsersOf(const Actor& viewer, AccountId account) const = 0;
  // The user's memberships the viewer sees (its own, and those on accounts
  // where it holds a user.* permission or access.grant).
  virtual StatusOr<std::vector<Membership>> MembershipsOf(const Actor& viewer,
                                                          UserId user) const = 0;
  // The account's memberships the viewer sees.
  virtual StatusOr<std::vector<Membership>> MembersOf(const Actor& viewer,
                                                      AccountId account) const = 0;
  // The account's summary as the viewer may know it: the path names only
  // ancestors it sees, and users, sub-accounts and subtree devices count
  // only memberships and accounts it sees.
  virtual StatusOr<AccountSummary> Summary(const Actor& viewer, AccountId id) const = 0;
  // The account, entity, user or role with that id as the viewer may know
  // it (a custom role: when it sees the role's root tenant or holds the
  // role itself; a built-in: always).
  virtual StatusOr<Account> GetAccount(const Actor& viewer, AccountId id) const = 0;
  virtual StatusOr<Entity> GetEntity(const Actor& viewer, EntityId id) const = 0;
  virtual StatusOr<User> GetUser(const Actor& viewer, UserId id) const = 0;
  virtual StatusOr<Role> GetRole(const Actor& viewer, RoleId id) const = 0;
  // The ancestors of an account the viewer sees that it sees, root first.
  virtual StatusOr<std::vector<Account>> Ancestors(const Actor& viewer, AccountId id) const = 0;
  // The built-in roles and the custom roles of `tenant`'s root tenant, for
  // a `tenant` the viewer sees (kNoId: the built-ins only); the custom
  // roles only when it sees them (as GetRole).
  virtual StatusOr<std::vector<Role>> ListRoles(const Actor& viewer, AccountId tenant) const = 0;

  // ---- Entities -------------------------------------------------------

  // Creates an entity owned by spec.owner. Needs <kind>.write on the owner.
  // Errors: AlreadyExists (key of that kind, or unit id), NotFound (owner),
  // InvalidArgument (a unit id on a kind other than device).
  virtual StatusOr<EntityId> CreateEntity(const Actor& actor, const EntitySpec& spec) = 0;

  virtual StatusOr<Entity> GetEntity(EntityId id) const = 0;
  virtual StatusOr<Entity> FindEntity(EntityKind kind, std::string_view key) const = 0;
  virtual StatusOr<Entity> FindEntity(const Actor& viewer, EntityKind kind,
                                      std::string_view key) const = 0;
  virtual StatusOr<Entity> FindDeviceByUnitId(std::string_view unit_id) const = 0;
  // The same as `viewer` may know it (see FindAccount(viewer, ...)).
  virtual StatusOr<Entity> FindDeviceByUnitId(const Actor& viewer,
                                              std::string_view unit_id) const = 0;

  // Needs <kind>.write on the owner.
  virtual Status UpdateEntity(const Actor& actor, EntityId id, const EntityPatch& patch) = 0;

  // Needs <kind>.delete on the owner.
  virtual Status DeleteEntity(const Actor& actor, EntityId id) = 0;

  // Reassigns a batch of entities of one kind, named by key or unit id, to
  // `target`, all or nothing (AutoPi's "Manage devices -> Process"). Needs
  // <kind>.assign on every source owner and on the target. *report (may be
  // null) receives one item per ref, in order, also when the call fails
  // over its items: NotFound when any ref is unknown, PermissionDenied when
  // any is denied, InvalidArgument for a duplicate ref; nothing changes
  // then. (Refusals before any item is looked at — an unknown target, bad
  // arguments, an unknown or disabled actor — leave the report empty.) An entity
  // the actor may neither read nor assign is reported as unknown, exactly
  // like a missing one, so a refusal never reveals what exists elsewhere.
  Status ReassignEntities(const Actor& actor, EntityKind kind, EntityRef by,
                          Span<std::string> refs, AccountId target, ReassignReport* report) {
    return ReassignEntities(actor, kind, by, refs, target, {}, report);
  }
  // As above, and every entity it moves joins `groups`: entity groups of
  // `kind` owned by `target` (ThingsBoard's change of owner naming groups
  // of the new owner). Needs, besides, group.write on the target and, for
  // a group granted to a user group, what each such grant gives (as
  // AddGroupMembers). A group that is unknown (or unseen), of another kind,
  // owned by another account or named twice refuses the call before any
  // item is judged (report empty), as does a missing permission on one.
  // Entities already owned by the target ("unchanged") keep their groups.
  virtual Status ReassignEntities(const Actor& actor, EntityKind kind, EntityRef by,
                                  Span<std::string> refs, AccountId target,
                                  Span<GroupId> groups, ReassignReport* report) = 0;

  // ---- Users, memberships, roles ---------------------------------------

  // Creates a user in spec.account. Needs user.invite on that account.
  virtual StatusOr<UserId> CreateUser(const Actor& actor, const UserSpec& spec) = 0;
  virtual StatusOr<User> GetUser(UserId id) const = 0;
  virtual StatusOr<User> FindUser(std::string_view login) const = 0;
  virtual StatusOr<User> FindUser(const Actor& viewer, std::string_view login) const = 0;
  // Users created in the account, by id.
  virtual StatusOr<std::vector<User>> UsersOf(AccountId account) const = 0;

  // Acting on a user as a whole (UpdateUser, SetUserDisabled, RemoveUser)
  // needs the permission named on the user's account, and the actor must
  // itself hold every permission of each of the user's memberships on that
  // membership's account (branch-wide for a branch membership), and what
  // every grant of the user groups it is in gives: nobody acts on a user
  // who holds more, or holds it out of the actor's reach.
  // Needs user.update on the user's account.
  virtual Status UpdateUser(const Actor& actor, UserId id, const UserPatch& patch) = 0;
  // A disabled user holds no permissions. Needs user.update on its account.
  virtual Status SetUserDisabled(const Actor& actor, UserId id, bool disabled) = 0;
  // Removes the user and all its memberships. Needs user.remove on its account.
  virtual Status RemoveUser(const Actor& actor, UserId id) = 0;

  // Gives `user` the role on `account`. `branch` unset follows the account's
  // sub_account_access (always_on forces true). Needs user.invite on the
  // account, and the actor must itself hold every permission of the role
  // there (on the whole branch when branch is given). FailedPrecondition
  // when the account is not the one the user was created in or one of its
  // sub-accounts (access flows top-down: a user of a nested customer never gains
  // anything above it), or for a custom role of another root tenant;
  // AlreadyExists when the user is already a member.
  virtual Status Invite(const Actor& actor, UserId user, AccountId account, RoleId role,
                        std::optional<bool> branch = std::nullopt) = 0;
  // Changes a membership's role. Needs user.invite on the account and every
  // permission of both the old and the new role.
  virtual Status ChangeRole(const Actor& actor, UserId user, AccountId account, RoleId role) = 0;
  // Gives (true) or removes (false) access to the account's sub-accounts,
  // retroactively. Needs access.grant on the account and every permission
  // of the role as the membership has it now (and on its branch to give). Removing is refused
  // (FailedPrecondition) on an always_on account.
  virtual Status SetBranchAccess(const Actor& actor, UserId user, AccountId account,
                                 bool branch) = 0;
  // Needs user.remove on the account and every permission of the role.
  virtual Status RemoveMembership(const Actor& actor, UserId user, AccountId account) = 0;

  virtual StatusOr<std::vector<Membership>> MembershipsOf(UserId user) const = 0;
  virtual StatusOr<std::vector<Membership>> MembersOf(AccountId account) const = 0;

  // Creates a custom role in a root tenant. Needs role.manage on the tenant
  // and every permission given, held branch-wide on it (the role can be
  // used anywhere in the tenant). Permission names may be Canopy's or
  // Frontegg's (fe.account-hierarchy.*); they are stored as Canopy's.
  virtual StatusOr<RoleId> CreateRole(const Actor& actor, AccountId tenant, std::string_view name,
                                      const std::vector<std::string>& permissions) = 0;
  // Replaces a custom role's permissions (same rules as CreateRole).
  virtual Status UpdateRole(const Actor& actor, RoleId id,
                            const std::vector<std::string>& permissions) = 0;
  // Deletes a custom role. Needs role.manage on its tenant;
  // FailedPrecondition while a membership uses it or for a built-in role.
  virtual Status DeleteRole(const Actor& actor, RoleId id) = 0;
  virtual StatusOr<Role> GetRole(RoleId id) const = 0;
  // A built-in role by name, or a custom role of `tenant`'s root tenant
  // (kNoId: built-ins only). NotFound for an unknown tenant or name.
  virtual StatusOr<Role> FindRole(AccountId tenant, std::string_view name) const = 0;
  // The built-in roles and `tenant`'s custom roles (kNoId: built-ins only).
  virtual StatusOr<std::vector<Role>> ListRoles(AccountId tenant) const = 0;

  // ---- Queries (query.h) ------------------------------------------------

  // One page of the entities `request.viewer` may see with the permission.
  virtual Status Visible(const VisibleRequest& request, VisiblePage* page) const = 0;
  // The whole selection as a stream (request.limit and cursor are ignored).
  virtual Status NewVisibleIterator(const VisibleRequest& request,
                                    std::unique_ptr<VisibleIterator>* it) const = 0;
  // The exact size of the selection. With no filter beyond kind and
  // permission it sums maintained counters and does not scan.
  virtual StatusOr<uint64_t> Count(const VisibleRequest& request) const = 0;

  // May `user` exercise `permission` on what `key` names? For an entity
  // permission the key is an entity's (the kind follows the permission:
  // "device.read" -> a device); for an account-level one (account.*,
  // user.*, access.grant, role.manage, audit.read) it is an account's key:
  // Check(u, "account.create", "acme") asks whether u may create
  // sub-accounts of acme, by the rule the mutation itself applies.
  // Errors: InvalidArgument for an unknown permission; NotFound for an
  // unknown user, and for a key that names nothing *or* something the user
  // may not see, worded alike, so the answer never reveals what exists out
  // of the user's sight. `false` only for what the user sees. A disabled
  // user gets `false` for every key. `user` kNoId is the system actor,
  // which may do anything (true for any existing entity or account).
  virtual StatusOr<bool> Check(UserId user, std::string_view permission,
                               std::string_view key) const = 0;
  // Check's verdict with the reason and the granting membership; the same
  // targets and errors. Its reason, path and role name name only the
  // accounts, groups and custom roles the user sees (others as kHidden,
  // "(hidden)"), and, of its own access, the user groups it is in and the
  // groups their grants are on.
  virtual Status Explain(UserId user, std::string_view permission, std::string_view key,
                         Explanation* explanation) const = 0;
  // Explain as `asker` learns it. The system actor (an operator, who sees
  // everything) is told that a target exists which the user cannot see:
  // not allowed, the reason saying so, instead of NotFound. Any other
  // asker gets Explain's answer, and NotFound (no user with id <id>) for a
  // user it does not see. Either way the reason, path and role name name
  // only the accounts, groups and custom roles the asker sees (its own
  // groups only when the user is the asker itself), and of the user's
  // memberships only those the asker sees (as MembershipsOf lists them): a
  // verdict allowed only through others says so, with no role, path or
  // membership account. An asker
  // that is another user is refused first when unknown (NotFound, actor:
  // no user with id <id>) or disabled (PermissionDenied).
  virtual Status Explain(const Actor& asker, UserId user, std::string_view permission,
                         std::string_view key, Explanation* explanation) const = 0;
  // The users that may exercise the permission on the entity (or, for an
  // account-level permission, the account) request.entity_key names,
  // paginated.
  virtual Status WhoCan(const WhoCanRequest& request, WhoCanPage* page) const = 0;

  // ---- Views ------------------------------------------------------------

  // The "All accounts" table: the accounts the viewer may read
  // (account.read), sorted and paginated. The table and the graph views
  // refuse an unknown viewer (NotFound) and a disabled one
  // (PermissionDenied), as the reads as a viewer do (docs/model.md;
  // Visible, Count and Check answer a disabled viewer with nothing).
  virtual Status AccountsTable(const TableRequest& request, TablePage* page) const = 0;
  virtual StatusOr<AccountSummary> Summary(AccountId id) const = 0;
  // The graph view of `root`'s subtree (at most max_levels below it, 0: all)
  // restricted to accounts the viewer may read, as JSON or Graphviz DOT.
  virtual StatusOr<std::string> GraphJson(const Actor& viewer, AccountId root,
                                          uint32_t max_levels) const = 0;
  virtual StatusOr<std::string> GraphDot(const Actor& viewer, AccountId root,
                                         uint32_t max_levels) const = 0;

  // ---- Interchange and maintenance ------------------------------------

  // Loads a JSON Lines file (docs/format.md, "Interchange") all or nothing:
  // a bad line fails the call with InvalidArgument naming the line number,
  // and nothing is written. Large files go through SST ingestion. `path`
  // may also be a pipe, a FIFO or /dev/stdin (streamed); a folder, or a
  // line longer than 64 MiB, is InvalidArgument. System actor only
  // (PermissionDenied otherwise); NotFound when the file cannot be opened;
  // Aborted when `options.progress` cancels.
  virtual Status Import(const Actor& actor, std::string_view path, const ImportOptions& options,
                        ImportReport* report) = 0;
  // Writes the whole database in the same format (parents before children)
  // so that export -> import into an empty database gives the same keys,
  // names, tree, groups and access (ids are given out again, in file
  // order).
  // A regular file is written as PATH.tmp, synced and renamed into place
  // (never half-written; FailedPrecondition while another export writes
  // the same PATH.tmp); a symbolic link is followed and the file it
  // names replaced, never the link; a pipe or device is written in place;
  // "-" writes to the process's standard output (descriptor 1) as it is.
  // A path inside the database folder (by any way there) is
  // InvalidArgument: the folder holds only the database's own files.
  virtual Status Export(std::string_view path, const ProgressFn& progress,
                        ImportReport* counts) const = 0;

  // Verifies every invariant: labels and the tree, the visibility index
  // against the entity records, key indexes, counters recomputed from
  // scratch, memberships, roles and groups (members, both directions of
  // their links, sizes, grants), and every block of every table file
  // against its checksum (damage no read touches, such as a bloom
  // filter's, included). Appends one line per problem to
  // *problems (may be null; at most 1000 lines) and returns Corruption if
  // any was found. Online: it checks the state published when it starts
  // (catalog and snapshot of one revision) while mutations and queries go
  // on; it reads every entity and every index entry, on two threads.
  // `progress` (may be empty) is called on the calling thread every 64k
  // entities with the entities checked and the total (again from 0 when a
  // damaged index needs the precise pass), and once more when all are
  // done (done == total); any call may cancel (Aborted).
  virtual Status CheckIntegrity(std::vector<std::string>* problems,
                                const ProgressFn& progress = nullptr) const = 0;

  // ---- Groups (docs/model.md, "Groups") -----------------------------------
  // Groups are owned by an account. An entity group holds entities of its
  // kind owned by that account; a user group, users created in it; an
  // account group, its direct sub-accounts. Reading a group needs
  // group.read (or group.write or group.share) on its owner (a group out
  // of sight is NotFound, worded as a missing one); changing one needs
  // group.write there.

  // Creates a group. Errors: InvalidArgument (name), NotFound (owner),
  // AlreadyExists (a group of that kind and name in the owner),
  // FailedPrecondition (no group id is left after the largest).
  virtual StatusOr<GroupId> CreateGroup(const Actor& actor, const GroupSpec& spec) = 0;
  virtual Status RenameGroup(const Actor& actor, GroupId id, std::string_view name) = 0;
  // Deletes the group, its member links and every grant it holds or that
  // is made onto it (revoking each as RevokeGroup would); the members
  // themselves stay.
  virtual Status DeleteGroup(const Actor& actor, GroupId id) = 0;
  // Adds (removes) members by id, all or nothing; *report (may be null)
  // gets one item per id as ReassignEntities does: NotFound when any is
  // unknown (or out of the actor's sight), PermissionDenied when any is
  // denied (not one the group may hold, or one whose grants the actor
  // could not hand on or take away), InvalidArgument for a duplicate.
  // Adding a user needs user.invite on the owner, removing one
  // user.remove. A member that joins or leaves takes the group's grants
  // with it (to or from it, or its grantees): the actor must hold what
  // each grant gives there (no escalation); a member reported unchanged
  // needs nothing of it.
  virtual Status AddGroupMembers(const Actor& actor, GroupId id, Span<uint64_t> members,
                                 GroupMembersReport* report) = 0;
  virtual Status RemoveGroupMembers(const Actor& actor, GroupId id, Span<uint64_t> members,
                                    GroupMembersReport* report) = 0;
  virtual StatusOr<Group> GetGroup(const Actor& viewer, GroupId id) const = 0;
  // The owner's groups the viewer sees, by id.
  virtual StatusOr<std::vector<Group>> GroupsOf(const Actor& viewer, AccountId owner) const = 0;
  // The owner's group of `kind` named `name` (names are unique per owner
  // and kind). NotFound, naming the group, when there is none the viewer
  // sees.
  virtual StatusOr<Group> FindGroup(const Actor& viewer, AccountId owner, GroupKind kind,
                                    std::string_view name) const = 0;
  // A page of the group's members (ids above `after`, at most `limit`,
  // 1..100000), in id order.
  virtual Status GroupMembers(const Actor& viewer, GroupId id, uint64_t after, size_t limit,
                              GroupMembersPage* page) const = 0;
  // The groups (that the viewer sees) holding the entity, user or account
  // `member`: kind kUser names a user, kAccount an account, any entity kind
  // an entity.
  virtual StatusOr<std::vector<Group>> GroupsOfMember(const Actor& viewer, GroupKind kind,
                                                      uint64_t member) const = 0;
  // Grants a role to a user group: generic (target kNoId), on an entity
  // group (branch must be false) or on an account group. The target is
  // owned by the user group's owner or one of its ancestors (an account
  // group: by the user group's owner itself); when by an
  // ancestor (sharing down), the root tenant's group_sharing must be on
  // and the actor needs group.share on the target's owner. Always
  // user.invite on the user group's owner, and the actor must itself hold
  // what the grant gives. Errors: NotFound, InvalidArgument,
  // FailedPrecondition (upward or sideways; sharing off; a custom role of
  // another tenant), PermissionDenied, AlreadyExists.
  virtual Status GrantGroup(const Actor& actor, const GroupGrant& grant) = 0;
  // Revokes a grant: user.invite on the user group's owner, and the actor
  // must hold what the grant gives.
  virtual Status RevokeGroup(const Actor& actor, GroupId user_group, RoleId role,
                             GroupId target) = 0;
  // The grants a user group holds, or (any other group) those onto it.
  virtual StatusOr<std::vector<GroupGrant>> GroupGrants(const Actor& viewer,
                                                        GroupId id) const = 0;

  // ---- Change log (changes.h, docs/changes.md) ----------------------------

  // The revision of the last committed mutation (0: none yet). Every
  // successful mutation call that changes something commits exactly one
  // revision, the previous plus one, atomically with its writes; a refusal,
  // or a call that changes nothing (moving an account under its current
  // parent, setting a value it already has), commits none.
  virtual uint64_t Revision() const = 0;
  // The revision committed by the calling thread's last successful
  // mutation on this Db (0: none; after a call that changed nothing, the
  // revision then current): a mutation's consistency token, to pass as
  // min_revision to a read that must see it. Each thread keeps it for the
  // 64 Dbs it wrote to last (then 0), whatever it writes to others between.
  virtual uint64_t LastCommittedRevision() const = 0;
  // A read-only Db fixed at the state readers of this one see now (revision
  // Revision()): every read on it, as any viewer, answers from that one
  // revision however long it is kept and whatever is written meanwhile,
  // so that a report or an export of many calls agrees with itself. Its
  // mutations (and Checkpoint, Import, ApplyChanges) are FailedPrecondition
  // ("... a snapshot is read-only"); WaitForChanges never sees a change.
  // Costs one copy of the in-memory catalog, taken here, and keeps RocksDB
  // from discarding what is overwritten or deleted while it lives (disk
  // grows with the writes meanwhile): destroy it when done. Close this Db
  // only after its snapshots are destroyed (FailedPrecondition otherwise);
  // destroying this Db object first is allowed (its threads stop, and the
  // snapshot keeps the files open until it goes). A follower does not
  // catch up while a snapshot of it lives (CatchUp waits for it, then is
  // Aborted); its other reads go on.
  // Safe for many threads, like any Db. FailedPrecondition once closed.
  virtual StatusOr<std::unique_ptr<Db>> OpenSnapshot() const = 0;
  // This database's lineage id: the id of the database whose log it holds
  // (its own, or the one it follows through ApplyChanges).
  virtual std::string LogId() const = 0;

  // A page of the log from request.since, in revision order; filtered
  // pages may be short or empty without being the last (resume from
  // page->next until it passes page->revision). A user viewer gets the
  // audit view (changes.h). Errors: Compacted (naming the oldest revision
  // kept) when `since` was trimmed by retention; InvalidArgument (since 0,
  // a bad limit or type); NotFound (unknown account or viewer; an account
  // filter past the account's deletion);
  // PermissionDenied (a user viewer holding audit.read nowhere or not on
  // the filtered account, or disabled); FailedPrecondition (min_revision
  // not reached, or `since` past Revision() + 1: no revision of this
  // database, such as a cursor of another database or of this one before
  // it was restored from an older backup).
  virtual Status ReadChanges(const ChangesRequest& request, ChangesPage* page) const = 0;
  // Blocks until the revision passes `after` or `timeout_ms` elapses, and
  // returns the revision then (follow mode: read, then wait for more).
  // Close() wakes waiters; once closed, FailedPrecondition. On a replica
  // whose follower cannot go on (its next revision trimmed from etcd, the
  // log gone, replaced or ending behind it, an entry there damaged), a
  // waiter at or past
  // Revision() gets the follower's error (Compacted, FailedPrecondition or
  // Corruption) at once instead of waiting.
  virtual StatusOr<uint64_t> WaitForChanges(uint64_t after, uint32_t timeout_ms) const = 0;

  // Replication: the stored log entries from `since` (at most `limit`),
  // each an opaque, checksummed byte string for ApplyChanges on another
  // database; none when `since` is Revision() + 1. Compacted and
  // FailedPrecondition (`since` past Revision() + 1) as for ReadChanges.
  virtual Status ReadLogEntries(uint64_t since, size_t limit,
                                std::vector<std::string>* entries) const = 0;
  // Applies entries read from another database, in revision order: each
  // must be this database's revision + 1 (FailedPrecondition names a gap);
  // an entry already applied is skipped when identical and refused when
  // not. An empty database adopts the source's lineage; otherwise entries
  // of another lineage are refused. Damaged entries are Corruption. Each
  // entry is applied atomically; on an error the entries before it stay
  // applied (*report says how far it got).
  virtual Status ApplyChanges(const std::vector<std::string>& entries, ApplyReport* report) = 0;

  // ---- Checkpoints and replicas (docs/replication.md) ---------------------

  // Writes a consistent copy of the database into the new folder `dir`
  // (a RocksDB checkpoint: hard links where the file system allows) and
  // returns its revision. The copy opens as a database of its own (same
  // lineage), synced with its name when the call returns (a power loss
  // keeps it). Mutations wait meanwhile; reads go on. AlreadyExists when
  // `dir` exists; IOError when it cannot be written. On a replica with a
  // checkpoint folder, a checkpoint written there is also registered in
  // etcd, so new replicas start from it and etcd may trim below it. On a
  // read-only open or a follower (Options::read_only, ::follower) it is a
  // new database written key by key from the view (no hard links; a
  // follower's catch-ups wait meanwhile), under a scratch name beside
  // `dir` (`dir.partial-...`) renamed to `dir` when whole, so that a copy
  // cut short is never found under `dir`; such copies of processes that no
  // longer run are removed first, by either kind of open. InvalidArgument
  // when `dir` is inside the database folder (Backup's too).
  virtual StatusOr<uint64_t> Checkpoint(std::string_view dir) = 0;
  // A verified backup in the new folder `dir` (docs/index.md, "Backup and
  // restore"): a checkpoint written under a scratch name beside `dir`
  // (`dir.partial-...`), opened read-only and integrity-checked, then
  // renamed to `dir` and synced with its folder; returns its revision.
  // Online as Checkpoint is. AlreadyExists when `dir` exists; Corruption
  // when the copy fails its check (nothing is left behind then); IOError.
  // Scratch copies beside `dir` of processes that no longer run (killed
  // mid-way) are removed first; Restore does the same. `progress` (may be
  // empty) is the copy's integrity check's, as CheckIntegrity calls it
  // (entities checked, total); any call may cancel: Aborted, and nothing
  // is left behind.
  StatusOr<uint64_t> Backup(std::string_view dir, const ProgressFn& progress = nullptr);
  // Puts the backup in `backup` (a folder Backup or Checkpoint wrote) in
  // place as the database folder `dir`: copies every file under a scratch
  // name beside `dir` (the backup itself is never changed), syncs the
  // copy, opens it read-only and runs the integrity check, then renames it
  // to `dir` in one step and syncs its folder. `dir` must not exist or be
  // an empty folder (AlreadyExists otherwise: a restore never replaces a
  // database). NotFound: no backup there; InvalidArgument: not a folder;
  // Corruption: not a Canopy database, or damaged; FailedPrecondition: a
  // database folder that is open (in this process or another: it would
  // change under the copy; a closed one restores like a backup). A catalog
  // image in it is not copied (the restored database builds its own). On
  // any error `dir` is as it was and no scratch copy is left. `progress`
  // (may be empty) is called on the calling thread first with the bytes
  // copied and the bytes to copy (after each piece of at most 8 MiB, last
  // with done == total), then from 0 again as the copy's integrity check calls it
  // (entities); any call may cancel: Aborted, `dir` as it was.
  static Status Restore(std::string_view backup, std::string_view dir,
                        const ProgressFn& progress = nullptr);
  // Where this replica stands; asks every etcd member for its health.
  virtual StatusOr<ReplicaStatus> GetReplicaStatus() const = 0;
  // On a replica: waits (at most timeout_ms) until this replica has
  // applied every entry that etcd held when the call began, and returns
  // that revision: a read after it sees every write acknowledged anywhere
  // before the call (a linearizable read barrier). Unavailable when etcd
  // does not answer; Aborted on timeout. timeout_ms is checked between
  // steps, not within one: asking etcd for its head (up to
  // ReplicationOptions::request_timeout_ms per member), catching up with
  // the backlog once begun (every batch until the head), and settling
  // writes of other threads that wait for etcd (up to write_timeout_ms)
  // run to their end. Not a replica: the revision.
  virtual StatusOr<uint64_t> SyncWithLog(uint32_t timeout_ms) = 0;
  // On a follower (Options::follower): reads what the database's writer
  // has written since (RocksDB's TryCatchUpWithPrimary), brings the
  // in-memory catalog to that revision (applying the change-log entries
  // after the follower's revision, or reloading it when the log was
  // trimmed past it or an import happened) and returns the new revision
  // (also Revision()). Waits for the reads under way to finish and holds
  // new ones off meanwhile; a snapshot (OpenSnapshot) or a visible iterator
  // of the follower holds the state until destroyed, and is waited for
  // with new reads going on. Aborted when reads still hold the state after
  // 5 seconds, nothing changed then. FailedPrecondition on a database not
  // opened as a follower, once closed, or from inside a progress callback
  // of this follower's own reads (an export or an integrity check).
  // Unavailable when the writer kept replacing the files being read
  // (about 1.3 s of attempts): try again. A catch-up
  // during which the writer deleted a write-ahead log is done again, for
  // up to 5 s. After a catch-up that ended Unavailable without a whole view
  // (those 5 s, or an open again after the writer's flush that the writer
  // kept racing), every read is Unavailable until a later catch-up ends
  // whole, as what was read may lack writes.
  virtual StatusOr<uint64_t> CatchUp() = 0;

  // ---- Statistics ---------------------------------------------------------

  // One statistic by name, as text:
  //   canopy.revision, canopy.log-first-revision   the change log's range
  //   canopy.accounts, canopy.users, canopy.roles  how many (roles: custom)
  //   canopy.devices, canopy.assets, canopy.dashboards, canopy.entity-views
  //   canopy.open-cursors, canopy.open-iterators    live paging state
  //   canopy.catalog-source  where open took the catalog from: "image" (the
  //                       catalog image, Options::catalog_image) or "key
  //                       spaces (why not the image)", e.g. "key spaces
  //                       (catalog_image is off)"; "copy" for a snapshot
  //   canopy.groups-undone, canopy.groups-copied-back   a replica's groups
  //                       of writes that lost the race for etcd's head,
  //                       taken back by undoing them or (one deleting an
  //                       account) by copying the catalog; 0 elsewhere
  //   rocksdb.NAME        a RocksDB property, summed over the key spaces
  //                       when it is a number (rocksdb.estimate-num-keys,
  //                       rocksdb.total-sst-files-size,
  //                       rocksdb.cur-size-all-mem-tables, ...), but read
  //                       once for the whole database's (the shared block
  //                       cache's rocksdb.block-cache-usage and -capacity,
  //                       rocksdb.num-running-compactions, ...)
  //   rocksdb.NAME@SPACE  one key space's (e.g. rocksdb.stats@entities)
  //   rocksdb.statistics  RocksDB's counters (with Options::statistics)
  // NotFound for an unknown name; FailedPrecondition once closed.
  virtual StatusOr<std::string> GetProperty(std::string_view name) const = 0;
  // The canopy.* names and the RocksDB numbers most worth watching, for
  // listing them all (`canopy stats`).
  static const std::vector<std::string>& PropertyNames();
};

}  // namespace canopy

#endif  // CANOPY_DB_H_
