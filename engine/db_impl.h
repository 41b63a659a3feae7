// Copyright (c) Canopy authors.
//
// DbImpl: the engine behind canopy::Db. It owns the Store (RocksDB), the
// in-memory catalog (two copies: CatalogVersions) and the locks:
//
//   close_mu_    every call holds it shared; Close() holds it exclusively, so
//                the database never closes under a running call.
//   write_mu_    serialises mutations: authorise and build against the
//                latest catalog, write one WriteBatch, apply it to the
//                latest catalog. The thread holding it is "the writer".
//
// Readers never take a lock a writer holds: a ReadScope pins the published
// catalog copy together with the RocksDB snapshot of exactly its state
// (engine/catalog_versions.h), and every read in the scope uses both. A
// mutation becomes visible when it is published: at once with sync off;
// with sync on, only after the write-ahead log holding it is synced. Then
// concurrent mutations share one sync (group commit): each writes its batch
// under write_mu_ and waits; one of them (the leader) takes write_mu_ again,
// syncs once for all that were written, and publishes them together.
// Mutations are split by concern across accounts.cc, entities.cc,
// users.cc; reads are in queries.cc.

#ifndef CANOPY_ENGINE_DB_IMPL_H_
#define CANOPY_ENGINE_DB_IMPL_H_

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "canopy/db.h"
#include "engine/catalog_versions.h"
#include "query/catalog.h"
#include "query/catalog_image.h"
#include "query/cursor.h"
#include "storage/changes.h"
#include "storage/store.h"
#include "storage/writes.h"

namespace canopy::replication {
class EtcdLog;
struct LogEntryBytes;
}

namespace canopy::engine {

int64_t NowMicros();

// Stamps a changed record (an account, entity, user or group) as updated
// at `now`, or at its creation when that is later (a time imported from
// the future, or a clock stepped back): updated_us is never before
// created_us, as import requires of every record, so an export always
// imports again.
template <class Record>
void Touch(Record* r, int64_t now) {
  r->updated_us = std::max(now, r->created_us);
}

// The storage options a Db opened with `options` uses (its RocksDB Env is
// the default; tests set StoreOptions::env to inject faults).
storage::StoreOptions StoreOptionsOf(const Options& options);

// The refusals for a key that names nothing, also given for one the caller
// may not see (so that an answer never tells the two apart).
Status EntityNotFound(EntityKind kind, std::string_view key);
Status AccountKeyNotFound(std::string_view key);

// Replicas (replica.cc): checks the replication options; before the store
// opens, fills an empty folder from the newest registered checkpoint.
Status ValidateReplication(const ReplicationOptions& r);
// *copied_from: the checkpoint folder copied into `path` ("" when none was).
Status BootstrapReplica(const ReplicationOptions& r, const std::string& path,
                        std::string* copied_from);
// A replica folder the log was trimmed past while it was closed (its
// revision `behind`, its lineage `lineage`; the store closed): replaced by
// a copy of the newest registered checkpoint when that one is of the same
// lineage and further on, so that it holds everything the folder held.
// *copied_from as above; "" when the folder was left as it was, and then
// *why_not says why, when there is more to say than that the log was
// trimmed. No process may open the folder meanwhile (refused: IOError).
Status RestartBehindReplica(const ReplicationOptions& r, const std::string& path,
                            uint64_t behind, const std::string& lineage,
                            std::string* copied_from, std::string* why_not);
// Followers (follower.cc): checks the follower options against the rest;
// for a follower without a folder of its own, makes a scratch one
// (*scratch; empty otherwise).
Status ValidateFollower(const Options& options, std::string_view path, std::string* scratch);

// Per-account, per-kind entity count changes of one mutation; Emit() adds
// them to its change set (merges on disk, sums in the catalog). A direct change
// on an account also changes the subtree counts of it and its ancestors.
class CountDeltas {
 public:
  void AddDirect(const query::Catalog& c, AccountId owner, EntityKind kind, int64_t n);
  // Subtree-only change on `a` and its ancestors (moves of whole subtrees).
  void AddSubtree(const query::Catalog& c, AccountId a, EntityKind kind, int64_t n);
  // Drops every change of `account` (deleted by the same mutation).
  void Forget(AccountId account);
  // Adds the changes to the change set.
  void Emit(storage::ChangeSet* changes) const;

 private:
  struct Delta {
    int64_t direct = 0;
    int64_t subtree = 0;
  };
  std::map<std::pair<AccountId, uint8_t>, Delta> deltas_;
};

// Thrown by a Txn once its call is known to be too large for one
// change-log entry; MutateLocked turns it into the refusal it carries.
class CallTooLarge : public std::exception {
 public:
  explicit CallTooLarge(Status s) : status_(std::move(s)) {}
  const char* what() const noexcept override { return "call too large"; }
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// One mutation in the making: the operation with its arguments (for the
// log) and its change set, built record by record. Nothing else describes
// what a mutation writes: Commit() turns the change set into keys
// (storage/writes.h), the catalog applies it, the log stores it.
class Txn {
 public:
  // `limit`: the most the call's change-log entry may take (bytes). Once
  // the records added, and those the call says it will add (Expect), pass
  // it, the next Add or Expect throws CallTooLarge: a call too large is
  // refused as soon as that is known, not once it has built everything.
  Txn(const query::Catalog& c, uint64_t limit) : c_(c), limit_(limit) {}
  std::string operation;   // "account.create", ...
  std::string arguments;   // a JSON object (query::JsonObject)
  CountDeltas counts;      // emitted into the change set on commit
  storage::ChangeSet changes;

  // Record changes; null before: created; null after: deleted.
  void Account(const storage::AccountRecord* before, const storage::AccountRecord* after);
  void Entity(const canopy::Entity* before, const canopy::Entity* after);
  // The same, taking both records over instead of copying them (a batch
  // that changes many entities).
  void Entity(canopy::Entity&& before, canopy::Entity&& after);
  void User(const canopy::User* before, const canopy::User* after);
  void Membership(const canopy::Membership* before, const canopy::Membership* after);
  void Role(const canopy::Role* before, const canopy::Role* after);
  void Group(const canopy::Group* before, const canopy::Group* after);
  void GroupMember(const storage::GroupMemberRecord* before, const storage::GroupMemberRecord* after);
  // A batch of members joining a group: one change record for all of
  // them (storage::RecordType::kGroupMembers).
  void GroupMembers(storage::GroupMembersRecord added);
  // A grant's scope is its user group's owner.
  void GroupGrant(AccountId user_group_owner, const canopy::GroupGrant* before,
                  const canopy::GroupGrant* after);
  // A meta value (a sequence) going from `before` (0: never set) to `after`.
  void Meta(std::string_view name, uint64_t before, uint64_t after);

  // At least `records` record changes of `bytes` (storage::RecordChangeBytes)
  // the call is yet to add, judged before building them (0, 0 once it
  // builds them); throws CallTooLarge when they would not fit.
  void Expect(uint64_t records, uint64_t bytes);
  // Room for `n` more record changes.
  void Reserve(size_t n) { changes.records.reserve(changes.records.size() + n); }

 private:
  void Push(storage::RecordChange r);
  // Throws CallTooLarge when what is added and expected passes the limit.
  void CheckRoom() const;
  // Appends one record change: both sides encoded, decoded and scoped.
  // The records are copied from const pointers, moved from others.
  template <typename P, typename Encode, typename ScopeBefore, typename ScopeAfter>
  void Add(storage::RecordType type, std::string key, P before, P after, Encode encode,
           ScopeBefore scope_before, ScopeAfter scope_after);
  template <typename P>
  void EntityChange(P before, P after);  // both Entity overloads
  // The label of an account as this change set leaves it (its own account
  // changes first, then the catalog); empty when unknown.
  std::string LabelAfter(AccountId id) const;
  std::string LabelBefore(AccountId id) const;
  const query::Catalog& c_;
  std::unordered_map<AccountId, std::string> labels_after_;  // accounts changed here
  uint64_t limit_;
  uint64_t added_ = 0;     // RecordChangeBytes of the records added
  uint64_t expected_records_ = 0, expected_ = 0;  // Expect's
};

class DbImpl final : public Db {
 public:
  DbImpl(const Options& options, std::shared_ptr<storage::Store> store);
  ~DbImpl() override;

  // Loads the catalog; called once by Db::Open.
  Status Init();
  // Tests: lowers the bound of one call's change-log entry (at most
  // storage::kMaxLogEntryBytes), so that a refusal needs no huge call.
  // While no other call runs.
  void SetMaxCallBytesForTesting(uint64_t bytes) {
    max_call_bytes_ = std::min(bytes, storage::kMaxLogEntryBytes);
  }
  // Before Init, on an open that takes no lock: an image ahead of the files
  // is not used, nor refused (writers kept changing the folder while the
  // open read it, so what it saw says nothing of a rollback).
  void IgnoreImageAhead() { ignore_image_ahead_ = true; }
  // A writer's record of where its files stand (storage/files_position.h),
  // written by Db::Open once it has opened, and by Close; best effort (a
  // failure is logged).
  void RecordFilesPosition();

  Status Close() override;
  StatusOr<std::unique_ptr<Db>> OpenSnapshot() const override;

  // Accounts (accounts.cc)
  StatusOr<AccountId> CreateAccount(const Actor& actor, const AccountSpec& spec) override;
  StatusOr<Account> GetAccount(AccountId id) const override;
  StatusOr<Account> FindAccount(std::string_view key) const override;
  StatusOr<Account> FindAccount(const Actor& viewer, std::string_view key) const override;
  Status UpdateAccount(const Actor& actor, AccountId id, const AccountPatch& patch) override;
  Status SetSubAccountManagement(const Actor& actor, AccountId id, bool on) override;
  Status SetSubAccountAccess(const Actor& actor, AccountId id, SubAccountAccess access) override;
  Status MoveAccount(const Actor& actor, AccountId id, AccountId new_parent) override;
  Status DeleteAccount(const Actor& actor, AccountId id, AccountId receiver) override;
  Status DeleteAccounts(const Actor& actor, Span<AccountId> ids,
                        AccountId receiver) override;
  StatusOr<EntityCounts> CountOwned(AccountId id, EntityKind kind) const override;
  StatusOr<EntityCounts> CountOwned(const Actor& viewer, AccountId id,
                                    EntityKind kind) const override;
  StatusOr<std::vector<Account>> Ancestors(AccountId id) const override;
  StatusOr<std::vector<Account>> Descendants(AccountId id, uint32_t max_levels) const override;
  std::vector<AccountId> Roots() const override;
  StatusOr<std::vector<AccountId>> Roots(const Actor& viewer) const override;
  StatusOr<std::vector<Account>> Descendants(const Actor& viewer, AccountId id,
                                             uint32_t max_levels) const override;
  StatusOr<std::vector<User>> UsersOf(const Actor& viewer, AccountId account) const override;
  StatusOr<std::vector<Membership>> MembershipsOf(const Actor& viewer,
                                                  UserId user) const override;
  StatusOr<std::vector<Membership>> MembersOf(const Actor& viewer,
                                              AccountId account) const override;
  StatusOr<AccountSummary> Summary(const Actor& viewer, AccountId id) const override;

  // Entities (entities.cc)
  StatusOr<EntityId> CreateEntity(const Actor& actor, const EntitySpec& spec) override;
  StatusOr<Entity> GetEntity(EntityId id) const override;
  StatusOr<Entity> FindEntity(EntityKind kind, std::string_view key) const override;
  StatusOr<Entity> FindEntity(const Actor& viewer, EntityKind kind,
                              std::string_view key) const override;
  StatusOr<Entity> FindDeviceByUnitId(std::string_view unit_id) const override;
  StatusOr<Entity> FindDeviceByUnitId(const Actor& viewer,
                                      std::string_view unit_id) const override;
  Status UpdateEntity(const Actor& actor, EntityId id, const EntityPatch& patch) override;
  Status DeleteEntity(const Actor& actor, EntityId id) override;
  using Db::ReassignEntities;
  Status ReassignEntities(const Actor& actor, EntityKind kind, EntityRef by,
                          Span<std::string> refs, AccountId target, Span<GroupId> groups,
                          ReassignReport* report) override;

  // Users, memberships, roles (users.cc)
  StatusOr<UserId> CreateUser(const Actor& actor, const UserSpec& spec) override;
  StatusOr<User> GetUser(UserId id) const override;
  StatusOr<User> FindUser(std::string_view login) const override;
  StatusOr<User> FindUser(const Actor& viewer, std::string_view login) const override;
  StatusOr<std::vector<User>> UsersOf(AccountId account) const override;
  Status UpdateUser(const Actor& actor, UserId id, const UserPatch& patch) override;
  Status SetUserDisabled(const Actor& actor, UserId id, bool disabled) override;
  Status RemoveUser(const Actor& actor, UserId id) override;
  Status Invite(const Actor& actor, UserId user, AccountId account, RoleId role,
                std::optional<bool> branch) override;
  Status ChangeRole(const Actor& actor, UserId user, AccountId account, RoleId role) override;
  Status SetBranchAccess(const Actor& actor, UserId user, AccountId account,
                         bool branch) override;
  Status RemoveMembership(const Actor& actor, UserId user, AccountId account) override;
  StatusOr<std::vector<Membership>> MembershipsOf(UserId user) const override;
  StatusOr<std::vector<Membership>> MembersOf(AccountId account) const override;
  StatusOr<RoleId> CreateRole(const Actor& actor, AccountId tenant, std::string_view name,
                              const std::vector<std::string>& permissions) override;
  Status UpdateRole(const Actor& actor, RoleId id,
                    const std::vector<std::string>& permissions) override;
  Status DeleteRole(const Actor& actor, RoleId id) override;
  StatusOr<Role> GetRole(RoleId id) const override;
  StatusOr<Role> GetRole(const Actor& viewer, RoleId id) const override;
  StatusOr<Account> GetAccount(const Actor& viewer, AccountId id) const override;
  StatusOr<Entity> GetEntity(const Actor& viewer, EntityId id) const override;
  StatusOr<User> GetUser(const Actor& viewer, UserId id) const override;
  StatusOr<std::vector<Account>> Ancestors(const Actor& viewer, AccountId id) const override;
  StatusOr<std::vector<Role>> ListRoles(const Actor& viewer, AccountId tenant) const override;
  // The built-in roles and the custom roles of root tenant `root` (kNoId:
  // built-ins only), by id; inside a ReadScope.
  std::vector<Role> RolesOf(AccountId root) const;
  StatusOr<Role> FindRole(AccountId tenant, std::string_view name) const override;
  StatusOr<std::vector<Role>> ListRoles(AccountId tenant) const override;

  // Queries and views (queries.cc)
  Status Visible(const VisibleRequest& request, VisiblePage* page) const override;
  Status NewVisibleIterator(const VisibleRequest& request,
                            std::unique_ptr<VisibleIterator>* it) const override;
  StatusOr<uint64_t> Count(const VisibleRequest& request) const override;
  StatusOr<bool> Check(UserId user, std::string_view permission,
                       std::string_view key) const override;
  Status Explain(UserId user, std::string_view permission, std::string_view key,
                 Explanation* explanation) const override;
  Status Explain(const Actor& asker, UserId user, std::string_view permission,
                 std::string_view key, Explanation* explanation) const override;
  Status WhoCan(const WhoCanRequest& request, WhoCanPage* page) const override;
  Status AccountsTable(const TableRequest& request, TablePage* page) const override;
  StatusOr<AccountSummary> Summary(AccountId id) const override;
  StatusOr<std::string> GraphJson(const Actor& viewer, AccountId root,
                                  uint32_t max_levels) const override;
  StatusOr<std::string> GraphDot(const Actor& viewer, AccountId root,
                                 uint32_t max_levels) const override;

  // Groups (groups.cc)
  StatusOr<GroupId> CreateGroup(const Actor& actor, const GroupSpec& spec) override;
  Status RenameGroup(const Actor& actor, GroupId id, std::string_view name) override;
  Status DeleteGroup(const Actor& actor, GroupId id) override;
  Status AddGroupMembers(const Actor& actor, GroupId id, Span<uint64_t> members,
                         GroupMembersReport* report) override;
  Status RemoveGroupMembers(const Actor& actor, GroupId id, Span<uint64_t> members,
                            GroupMembersReport* report) override;
  StatusOr<Group> GetGroup(const Actor& viewer, GroupId id) const override;
  StatusOr<std::vector<Group>> GroupsOf(const Actor& viewer, AccountId owner) const override;
  StatusOr<Group> FindGroup(const Actor& viewer, AccountId owner, GroupKind kind,
                            std::string_view name) const override;
  Status GroupMembers(const Actor& viewer, GroupId id, uint64_t after, size_t limit,
                      GroupMembersPage* page) const override;
  StatusOr<std::vector<Group>> GroupsOfMember(const Actor& viewer, GroupKind kind,
                                              uint64_t member) const override;
  Status GrantGroup(const Actor& actor, const GroupGrant& grant) override;
  Status RevokeGroup(const Actor& actor, GroupId user_group, RoleId role,
                     GroupId target) override;
  StatusOr<std::vector<GroupGrant>> GroupGrants(const Actor& viewer, GroupId id) const override;

  // Interchange (interchange.cc) and integrity (integrity.cc)
  Status Import(const Actor& actor, std::string_view path, const ImportOptions& options,
                ImportReport* report) override;
  Status Export(std::string_view path, const ProgressFn& progress,
                ImportReport* counts) const override;
  Status CheckIntegrity(std::vector<std::string>* problems,
                        const ProgressFn& progress) const override;

  // Change log (changelog.cc)
  uint64_t Revision() const override;
  uint64_t LastCommittedRevision() const override;
  std::string LogId() const override;
  // What every paging cursor of this database is bound to, beside its
  // request: its change log's id (the same in its copies, snapshots and
  // replicas), hashed.
  uint64_t CursorScope() const;
  Status ReadChanges(const ChangesRequest& request, ChangesPage* page) const override;
  StatusOr<uint64_t> WaitForChanges(uint64_t after, uint32_t timeout_ms) const override;
  Status ReadLogEntries(uint64_t since, size_t limit,
                        std::vector<std::string>* entries) const override;
  Status ApplyChanges(const std::vector<std::string>& entries, ApplyReport* report) override;

  // Checkpoints and replicas (replica.cc)
  StatusOr<uint64_t> Checkpoint(std::string_view dir) override;
  StatusOr<std::string> GetProperty(std::string_view name) const override;
  StatusOr<ReplicaStatus> GetReplicaStatus() const override;
  StatusOr<uint64_t> SyncWithLog(uint32_t timeout_ms) override;
  // Joins etcd (checks lineage, catches up) and starts the follower and
  // housekeeping threads; called once by Db::Open for a replica.
  // `fresh`: the open created the folder's database (refused, and the
  // folder removed again, when etcd does not answer: a new replica has
  // nothing to serve before it has read the log).
  Status StartReplica(bool fresh);
  // After StartReplica refused a folder because etcd trimmed the log past
  // its revision: true when a checkpoint folder is configured and the
  // newest registered checkpoint may replace the folder
  // (RestartBehindReplica; Db::Open does it and opens again).
  bool RestartsFromCheckpoint() const { return restart_from_checkpoint_; }

  // Followers (follower.cc): Options::follower, on RocksDB's secondary
  // instance, which has no snapshots. Consistency comes from a gate
  // instead: every read holds the state (HoldState: a SharedSnapshot with
  // no RocksDB snapshot in it, released when dropped); CatchUp closes the
  // gate to new holds, waits until none is left, moves RocksDB and the
  // catalog forward together, and opens it again.
  StatusOr<uint64_t> CatchUp() override;
  // Starts the automatic catch-up thread (Options::follower_catch_up_ms);
  // called once by Db::Open. `scratch` is a folder this open made for the
  // secondary's files (empty: none), removed on Close.
  void StartFollower(std::string scratch);

  // For tests: a replica's follower stops applying the log (without
  // holding a lock) while paused, so a test can make this replica stale.
  void TEST_PauseFollower(bool paused) { follower_paused_ = paused; }

  // For tests and tools: the store (hold the right locks).
  storage::Store* store() const { return store_.get(); }

  private:
  // Db's non-virtual calls (Backup, engine/backup.cc) wrap their progress
  // callbacks in InCallback as this class's own operations do.
  friend class canopy::Db;

  // write_mu_'s type: a mutex that knows which thread holds it, so that
  // code shared by readers and the writer reads the right catalog copy.
  class WriterMutex {
   public:
    void lock() {
      mu_.lock();
      owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    }
    bool try_lock() {
      if (!mu_.try_lock()) return false;
      owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
      return true;
    }
    void unlock() {
      owner_.store(std::thread::id(), std::memory_order_relaxed);
      mu_.unlock();
    }
    bool HeldByMe() const {
      return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
    }

   private:
    std::mutex mu_;
    std::atomic<std::thread::id> owner_{};
  };
  using WriteGuard = std::lock_guard<WriterMutex>;
  // A group's leader's turn (WaitPublished, WaitSettled): sets `flag` and
  // unlocks `g`; however the turn ends (an exception included), locks `g`
  // again, clears `flag` and wakes the waiters, so none waits for a
  // leader that is gone.
  class LeaderTurn {
   public:
    LeaderTurn(std::unique_lock<std::mutex>& g, bool& flag, std::condition_variable& cv)
        : g_(g), flag_(flag), cv_(cv) {
      flag_ = true;
      g_.unlock();
    }
    ~LeaderTurn() {
      g_.lock();
      flag_ = false;
      cv_.notify_all();
    }
    LeaderTurn(const LeaderTurn&) = delete;
    LeaderTurn& operator=(const LeaderTurn&) = delete;

   private:
    std::unique_lock<std::mutex>& g_;
    bool& flag_;
    std::condition_variable& cv_;
  };

  // A reader's view, found by cat()/snap()/head() through a thread-local
  // stack (ReadScopes may nest, also across databases).
  struct ReadContext {
    const DbImpl* db = nullptr;
    CatalogVersions::Pin pin;   // released once a scan has planned
    SharedSnapshot snapshot;    // kept for the scan
    uint64_t revision = 0;
    ReadContext* prev = nullptr;
  };

  // What a read holds: the database open, and the published catalog copy
  // with its snapshot (ReleaseCatalog lets go of the copy, keeping the
  // snapshot; LockCatalog pins the now published copy again). On the
  // writer's thread (a read inside a mutation) it reads the latest state.
  class ReadScope {
   public:
    explicit ReadScope(const DbImpl* db);
    ~ReadScope();
    ReadScope(const ReadScope&) = delete;
    ReadScope& operator=(const ReadScope&) = delete;
    const Status& status() const { return status_; }
    void ReleaseCatalog();
    void LockCatalog();
    // The snapshot every read in this scope uses (for the writer: a new
    // one of the latest state).
    const SharedSnapshot& snapshot() const { return ctx_.snapshot; }

   private:
    const DbImpl* db_;
    std::shared_lock<std::shared_mutex> open_;
    bool writer_;
    ReadContext ctx_;
    Status status_;
  };

  // The catalog the calling thread reads: the latest copy for the writer,
  // the pinned published copy inside a ReadScope. Aborts anywhere else (a
  // read outside any scope is a bug that would race with the writer).
  const query::Catalog& cat() const;
  // The snapshot reads on this thread use: null (the latest state) for the
  // writer, the scope's for a reader.
  const rocksdb::Snapshot* snap() const;
  // The revision the calling thread's state holds (latest for the writer,
  // the pinned one for a reader).
  uint64_t head() const;
  const ReadContext* ReadContextOfThisThread() const;
  // Holds the database open for one call (close_mu_ shared). Once Close
  // has begun, a call that does not already hold it is refused instead
  // ("the database is closing", FailedPrecondition): the lock lets new
  // holders in ahead of a waiting Close, so a steady stream of calls would
  // keep Close waiting for ever. A thread already inside a call of this
  // database (the writer, a nested read) takes it again unrefused.
  Status HoldOpen(std::shared_lock<std::shared_mutex>* open) const;

  // Calls a user's progress callback may not make. A callback runs on the
  // calling thread while its operation holds this database open (and an
  // import holds off writes): a Close, or a write during an import, made
  // from inside it would wait for itself. `progress` wrapped so that this
  // thread is known to be inside `operation`'s callback while it runs.
  ProgressFn InCallback(const ProgressFn& progress, const char* operation) const;
  // The operation whose progress callback this thread is inside, or null.
  const char* CallbackInProgress() const;
  // FailedPrecondition naming `what` when this thread already holds the
  // write lock (so taking it again would never return); Ok otherwise.
  Status RefuseReentry(std::string_view what) const;
  // The refusal of a call made after Close began, and its test (the
  // database's own threads let such a refusal pass silently: Close stops
  // them next, or, refused, lets them go on at their next turn).
  static Status Closing();
  static bool IsClosing(const Status& s);
  // The refusal of every call, Close included, in a process forked from
  // the one that opened this database (storage/forks.h).
  static Status ForkedChild();
  // A new snapshot of the store's current state, released when dropped
  // (on a follower: empty; readers hold the state with HoldState instead).
  SharedSnapshot NewSnapshot() const;
  // A follower's hold on its current state: CatchUp waits until every
  // hold is dropped. Blocks while a catch-up is under way.
  SharedSnapshot HoldState() const;
  // `held` (a read's hold) kept past the call by a snapshot or a visible
  // iterator: on a follower also counted as kept, so that CatchUp waits for
  // it with its gate open (reads go on meanwhile) instead of holding every
  // new read off for as long as it waits. Elsewhere `held` itself.
  SharedSnapshot KeepHold(const SharedSnapshot& held) const;
  // With write_mu_ held and no hold left: brings the latest catalog and
  // the log's state to the store's last logged revision and publishes it.
  Status FollowStoreLocked();
  // Reloads the latest catalog from the store (FollowStoreLocked).
  Status ReloadCatalogLocked();
  void StopFollower();  // joins the catch-up thread (no lock held)
  // The checkpoint of a follower or a read-only open, with write_mu_ held
  // (no catch-up meanwhile): a new database in `dir` holding every key of
  // the state this open reads (*revision), written and synced.
  Status CopyReaderState(const std::string& dir, uint64_t* revision);
  // Applies a decoded change set to the latest catalog and records it for
  // the next publication (Commit; a follower's catch-up).
  Status ApplyToLatestCatalog(storage::ChangeSet changes);

  // With write_mu_ held: publishes what the latest catalog holds beyond
  // the published one (syncing the WAL first when Options::sync), then
  // wakes those waiting for it. Poisons the database when the sync or the
  // catalog replay fails.
  Status PublishLocked();
  // With write_mu_ not held: returns once revision `rev` is published
  // (becoming the group's sync leader when no sync is under way), or the
  // database's poisoned state.
  Status WaitPublished(uint64_t rev);
  // With write_mu_ held: refuse every further write with `why` (the first
  // reason stays). Reads go on from the state last published when the
  // failure was this database's own write (`local`: a write, sync, apply
  // or import that failed, none of it acknowledged) and it follows no one;
  // they stop too on a follower or replica, whose published state would
  // then fall behind the writes it follows without a word.
  void Poison(Status why, bool local = false);

  // Runs `build` under the write mutex; when it returns OK, commits the
  // transaction (Commit), then syncs the WAL. `operation` names it in the log.
  // On a replica, stages it in a group of writes instead (StageLocked) and
  // waits for the group's append (WaitSettled); a write whose group lost
  // the race for the log's head is built again.
  Status Mutate(const Actor& actor, std::string_view operation,
                const std::function<Status(Txn*)>& build);
  // A write's tries on a replica: the count, when the first began, the
  // size of its last log entry (a large one claims the turn to append), and
  // the log whose turn it claimed (AfterLostRace), given back when the
  // write ends without having appended.
  struct WriteTries {
    int attempt = 1;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    size_t entry_bytes = 0;
    replication::EtcdLog* turn = nullptr;
    uint64_t turn_claim = 0;
    int64_t turn_waited_us = 0;  // the log's TurnWaitedMicros, set as the write begins
    WriteTries() = default;
    WriteTries(const WriteTries&) = delete;
    WriteTries& operator=(const WriteTries&) = delete;
    ~WriteTries();
  };
  // Mutate's part under write_mu_; sets *deferred to the revision to wait
  // for (WaitPublished) when the mutation is durable and not yet published,
  // or *ticket to the staged write to wait for (WaitSettled) on a replica.
  Status MutateLocked(const Actor& actor, std::string_view operation,
                      const std::function<Status(Txn*)>& build, WriteTries* tries,
                      uint64_t* deferred, uint64_t* ticket);
  // With write_mu_ held: gives the change set the next revision, writes its
  // keys, the log entry and the revision in one batch and applies it to the
  // latest catalog; then publishes it (PublishLocked) unless `defer`, when
  // the caller waits for a group's publication (WaitPublished) instead.
  // `entry` carries time, actor and operation; its revision and log id are
  // set here unless `replayed` (an entry from another database, kept as is).
  Status Commit(storage::LogEntry* entry, bool replayed, bool defer = false);
  // The keys of revision entry.revision into `batch`: its change set's
  // (WriteChangeSet), its log entry (`encoded`) and, for revision 1 when
  // `adopt_lineage`, the lineage it brings. With write_mu_ held.
  Status WriteEntryKeys(const storage::LogEntry& entry, std::string_view encoded,
                        bool adopt_lineage, rocksdb::WriteBatch* batch) const;
  // Writes `batch` through the write-ahead log: every write of a writer
  // to the log goes through here (a revision, a small import's batch, the
  // lineage's first record). The first after an ingested import also
  // names it (kMetaIngestSeen), so that a reader that missed the import
  // can tell. With write_mu_ held (or alone, on open).
  Status WriteLogged(rocksdb::WriteBatch* batch);
  // Adds the log's retention trim to `batch` and writes it as revision
  // `rev` (WriteLogged; poisoning the database when the write fails with
  // an I/O error).
  Status WriteRevision(rocksdb::WriteBatch* batch, uint64_t rev, int64_t time_us);
  // Writes a change set's keys into `sink` (reads labels from the catalog,
  // the pre-state). With write_mu_ held.
  Status WriteChangeSet(const storage::ChangeSet& changes, storage::BatchSink* sink) const;
  // Loads the log's state (revision, lineage, first kept) on open.
  Status InitLog();
  // The revision of the change log's last key (0: empty log). The log's
  // newest entry is never trimmed, so this is the database's revision.
  Status LastLoggedRevision(uint64_t* rev) const;
  // The stamp of the stored state as it is now (no writer may be under
  // way): the one a catalog image of it carries. An empty log id when the
  // database has none yet (no image then).
  Status ImageStampNow(query::ImageStamp* stamp) const;
  // Is a catalog image read at open and written at Close (the options
  // say so, and this is not a snapshot view)?
  bool UsesCatalogImage() const;
  // Writes the catalog image of the state being closed (Close, under the
  // write mutex, before the store closes); a failure is logged, never
  // returned (the next open then loads from the key spaces).
  void WriteCatalogImageAtClose();
  // Canopy's own message to Options::log, when set and at log_level or
  // above; whatever the callback throws is swallowed.
  void Log(LogLevel level, const std::string& message) const;
  // Adds the retention trim (if due) to the batch of revision `rev`.
  void TrimLog(uint64_t rev, int64_t now_us, storage::BatchSink* sink);
  // Records `rev` as the calling thread's last committed revision on this
  // Db (kept per thread for the kThreadRevisions databases it wrote to
  // last, by instance_, never by address: an address is reused).
  void NoteCommitted(uint64_t rev) const;
  static constexpr size_t kThreadRevisions = 64;
  // This Db's number among every Db the process opened (from 1).
  const uint64_t instance_ = NextInstance();
  static uint64_t NextInstance();
  // Makes revision `rev` the latest one (with write_mu_ held, right after
  // its writes and catalog changes); an applied entry 1 also sets the
  // lineage it brings.
  void Advance(uint64_t rev, const std::string* applied_log_id);
  // Compacted / FailedPrecondition for a read of the log from `since`.
  Status CheckLogRange(uint64_t since, uint64_t head) const;
  // The revision that deleted account `id` and the account's label then,
  // looked for in the log from `head` back to `since` (a follower's cursor
  // is near the head) and remembered; *revision 0: not deleted there.
  Status FindAccountDeletion(const rocksdb::Snapshot* snap, uint64_t since, uint64_t head,
                             AccountId id, uint64_t* revision, std::string* label) const;
  // Applies one entry from another database (ApplyChanges, which holds the
  // database open).
  Status ApplyOne(const std::string& bytes, bool* skipped);
  // ApplyOne's core, with write_mu_ held: an encoded entry and its import
  // input, checked against this database's revision and lineage.
  Status ApplyLocked(std::string_view entry_bytes, std::string_view input, bool* skipped,
                     bool defer = false);

  // Replicas (replica.cc). All with write_mu_ held unless said otherwise.
  // Appends a framed entry as revision revision_ + 1 in etcd; on a lost
  // race, catches up and sets *conflict (the caller rebuilds and retries).
  Status AppendToLog(const std::string& framed, bool* conflict);
  // Groups of writes (replica.cc). A replica's mutation is built on the
  // latest state including the writes staged before it, then staged: its
  // keys go to overlay_ (which the writer's reads see), its changes to
  // the latest catalog (unpublished), its entry to staged_. One append in
  // etcd takes the whole group (SettleLocked): then the keys are written
  // and the group published; a group that lost the race is taken back
  // and its writers build again on the new state.
  //
  // Stages `entry` as the revision after the staged ones; *ticket is what
  // its writer waits for. Settles at once when nothing may be built on it
  // before it is written (the overlay cannot show it, or the group is full).
  Status StageLocked(storage::LogEntry* entry, uint64_t* ticket, size_t* framed_bytes = nullptr);
  // Appends the staged group in etcd and writes and publishes it, or takes
  // it back; records each staged write's outcome. *taken_back (may be
  // null): the group was taken back (lost the race, or etcd failed), so
  // whatever was decided on it must be decided again; *failed (may be
  // null): etcd's error when that was why. Errors only when the database
  // stops serving (the writers' own errors go to their outcomes).
  Status SettleLocked(bool* taken_back = nullptr, Status* failed = nullptr);
  // Takes the staged group back (overlay, catalog, staged_) and returns
  // its tickets, unresolved. Errors only when the database stops serving.
  Status TakeBackStagedLocked(std::vector<uint64_t>* tickets);
  // Gives each ticket its outcome (with its revision, when committed) and
  // wakes the writers waiting for them.
  void ResolveStaged(const std::vector<uint64_t>& tickets, const std::vector<uint64_t>& revisions,
                     bool lost, const Status& outcome);
  // TakeBackStagedLocked, then ResolveStaged with `lost` and `outcome`.
  Status DiscardStagedLocked(bool lost, const Status& outcome);
  // Without write_mu_: returns once staged write `ticket` is settled
  // (leading a settlement when none is under way): its outcome, *lost when
  // its group lost the race.
  Status WaitSettled(uint64_t ticket, bool* lost);
  // Applies entries from etcd until the revision reaches `target`.
  Status CatchUpLocked(uint64_t target);
  // Applies one entry read from etcd (skips one already applied here).
  // With `defer`, leaves the publication to the caller (PublishLocked).
  Status ApplyFromLog(const std::string& framed, uint64_t revision, bool defer = false);
  // Applies entries read from etcd, in order, and publishes them once;
  // `follower`: records the last one's apply delay. The first error, after
  // publishing what was applied before it.
  Status ApplyBatchLocked(const std::vector<replication::LogEntryBytes>& entries, bool follower);
  static int MaxWriteAttempts();
  // After a write lost the race for the next revision (attempt n): claims
  // the turn to append (EtcdLog::ClaimTurn) for a large write (an entry of
  // kGroupBytes or more, built again after each loss), unless its replica
  // holds it; Unavailable once the write's time budget is spent (unless it
  // has just claimed its first turn), else backs off (from the eighth attempt on,
  // a random few milliseconds, unless its replica holds the turn) before
  // the caller tries again.
  Status AfterLostRace(WriteTries* tries);
  // A refusal on a replica may come from a state behind etcd's: when etcd
  // holds newer revisions, applies them and sets *caught_up (the caller
  // then authorises again). Errors only when etcd does not answer.
  Status CatchUpIfBehind(bool* caught_up);
  // Checkpoint() without registering it (holds off mutations meanwhile);
  // refusals name `operation` (a backup takes one too).
  Status TakeCheckpoint(const std::string& dir, uint64_t* revision,
                        std::string_view operation = "checkpoint");
  void StopReplica();  // joins the threads (no lock held)
  void FollowLoop();
  void HousekeepingLoop();
  Status TrimPass(uint64_t first);
  // What a replica does in the background or on request; each keeps its
  // own last error, which only its own next success clears, so that one
  // activity going well never hides another's failure (the status shows
  // the newest error still standing).
  enum class ReplicaWork : int { kFollow, kHousekeeping, kCheckpoints, kWrites, kProbe, kCount };
  // etcd answered (head, first as read; first 0: not read).
  void NoteContact(uint64_t head, uint64_t first);
  void NoteError(ReplicaWork work, const Status& s);
  void ClearError(ReplicaWork work);
  void NoteApplied(const std::string& framed);
  // The follower's standing error that retrying does not mend (its next
  // revision trimmed from etcd, the log gone, replaced or behind, an entry
  // there damaged or of another history), or OK: set (waking
  // WaitForChanges) by whichever activity finds it, and cleared by the
  // follower's good reads unless the log is lost for good (LogLost).
  void NoteFollowStuck(const Status& s);
  Status FollowStuck() const;
  // The refusal of a log that ends at `head`, before the revision this
  // replica applied from it (etcd lost or deleted its entries); noted for
  // LogLost and LogBehind.
  Status LogEndsBehind(uint64_t head, uint64_t applied);
  // A log found behind this replica, or holding another entry at its
  // applied revision (etcd restored from an older backup), stays so for
  // this open, though its head passes the replica again: NoteLogBehind
  // keeps the first finding, LogBehind gives it (OK: none). Every read
  // from etcd, append and apply asks first.
  void NoteLogBehind(const Status& s);
  Status LogBehind() const;
  // Notes an entry of etcd's that is not this folder's at the same
  // revision (`found`, SameEntry's), or the log's replacement when etcd
  // tells it, and returns what was noted.
  Status AnotherHistory(const Status& found);
  // OK when this folder's entry at `rev` is the one etcd holds (`framed`),
  // or is not kept here; FailedPrecondition otherwise.
  // `stored`: this folder's entry when already read.
  Status SameEntry(uint64_t rev, const std::string& framed,
                   const std::string* stored = nullptr) const;
  // Reads from etcd the entries after the applied revision; with `check`,
  // the applied one too, compared with this folder's (SameEntry) and
  // dropped. `retrying`: ReadRetrying.
  Status ReadAfterApplied(bool check, bool retrying, size_t limit,
                          std::vector<replication::LogEntryBytes>* entries,
                          int64_t* etcd_revision);
  // Whether `s` is the log's refusal for good (gone, replaced, or ending
  // behind this replica), not etcd's own FailedPrecondition (out of space).
  bool LogLost(const Status& s) const;
  // The log gone, replaced, behind or of another history (for good).
  bool LostForGood() const;
  // Sleeps `ms` unless the replica stops (false: stopping).
  bool SleepUnlessStopped(int ms);
  // Replays an import entry: re-imports its carried input (interchange.cc).
  Status ReplayImport(const storage::LogEntry& entry, std::string_view input);
  // The import's core: validates `path` and commits it as one revision
  // with time `now_us`; `entry` carries actor and operation (interchange.cc).
  // Messages name the file `shown` (the caller's name for a copy it
  // imports), or `path` when empty.
  Status ImportFile(std::string_view path, const ImportOptions& options, ImportReport* report,
                    storage::LogEntry* entry, bool replayed, std::string_view shown = {});
  // `s` from ImportFile, ending "; nothing was imported" when it is a
  // refusal that did not reach the commit (the revision is still
  // `revision_before`) and does not say so already.
  Status NothingImported(Status s, uint64_t revision_before) const;
  // FailedPrecondition once closed, or the poisoned state (see Mutate).
  Status CheckOpen() const;
  // What readers check: FailedPrecondition once closed, the poisoned
  // state when it stops reads too (Poison), or a follower's gap.
  Status CheckReadable() const;
  // CheckOpen without a follower's gap: what a catch-up, which may end
  // the gap, and a wait for changes check.
  Status CheckOpenToFollow() const;

  // Record helpers (latest state; callers hold write_mu_ or a read lock).
  Status LoadAccountRecord(AccountId id, storage::AccountRecord* r) const;
  Status LoadEntity(EntityId id, Entity* e) const;
  // The same for a call by `actor`: an entity the actor cannot see
  // (query::SeesEntity) is reported exactly like a missing one.
  Status LoadEntity(EntityId id, Entity* e, const Actor& actor) const;
  Status LoadUser(UserId id, User* u) const;
  Status LoadMembership(UserId user, AccountId account, Membership* m) const;
  Status LoadRole(RoleId id, Role* r) const;
  // What check, explain and who-can are asked about: an entity (for an
  // entity permission) or an account (for an account-level one).
  // The entity group memberships of one entity a call has read already
  // (group, holds it): each is read at most once per call.
  using MembershipMemo = std::vector<std::pair<GroupId, bool>>;
  // Entity group memberships read by check, explain and who-can, kept for
  // the next calls while the catalog's members_epoch stays (a membership
  // change, a group deleted or a reload starts a new epoch, and entries of
  // another epoch are never used). Bounded: a shard that fills is emptied.
  // Thread safety: any thread (a mutex per shard).
  class MembershipCache {
   public:
    bool Find(uint64_t epoch, GroupId group, uint64_t entity, bool* in) const;
    void Put(uint64_t epoch, GroupId group, uint64_t entity, bool in);

   private:
    static constexpr size_t kShards = 16;
    static constexpr size_t kMaxPerShard = 8192;
    struct PairHash {
      size_t operator()(const std::pair<uint64_t, uint64_t>& p) const {
        return std::hash<uint64_t>()(p.first * 0x9E3779B97F4A7C15ull ^ p.second);
      }
    };
    struct Shard {
      mutable std::mutex mu;
      uint64_t epoch = 0;
      std::unordered_map<std::pair<uint64_t, uint64_t>, bool, PairHash> in;
    };
    Shard& ShardOf(uint64_t entity) const { return shards_[entity % kShards]; }
    mutable Shard shards_[kShards];
  };
  struct Target {
    EntityId entity = kNoId;                      // kNoId for an account
    const query::AccountNode* account = nullptr;  // the entity's owner, or the account
    MembershipMemo memo;                          // what finding it read
  };
  // Finds the target `key` names for `perm`, as `asker` may know it: one
  // it cannot see is NotFound, worded exactly as a missing one.
  Status FindTarget(const Actor& asker, query::Perm perm, std::string_view key, Target* target) const;
  // Looks up an entity by kind and key: id and owner from entity_keys.
  Status LookupEntityKey(EntityKind kind, std::string_view key, EntityId* id,
                         AccountId* owner) const;
  const query::AccountNode* AccountOrNull(AccountId id) const { return cat().account(id); }
  // CheckOpen, and FailedPrecondition naming `what` on a read-only open.
  Status CheckWritable(std::string_view what) const;
  // CheckWritable, and, for a replica's folder opened without etcd, the
  // refusal of a change of its own (it would fork the folder from the
  // log): every mutation and import asks it (ApplyChanges applies entries
  // of the log's own lineage, which fork nothing).
  Status CheckChangeable(std::string_view what) const;
  // A viewer-scoped read's viewer: OK for the system and an enabled user;
  // NotFound for an unknown user, PermissionDenied for a disabled one.
  Status CheckViewer(const Actor& viewer) const;
  Status RequireAccount(AccountId id, std::string_view what,
                        const query::AccountNode** out) const;
  // The same for a call by `actor`: an account the actor cannot see
  // (query::SeesAccount) is reported exactly like a missing one.
  Status RequireAccount(const Actor& actor, AccountId id, std::string_view what,
                        const query::AccountNode** out) const;
  // The user `id` as `actor` may know it: NotFound "no user with id N" when
  // it is missing or the actor cannot see it (query::SeesUser).
  Status RequireUser(const Actor& actor, UserId id, const query::UserNode** out) const;
  // The role `id` as `actor` may know it: a custom role of a tenant the
  // actor cannot see is reported like a missing one.
  Status RequireRole(const Actor& actor, RoleId id, const query::RoleNode** out) const;

  // Groups (groups.cc), with write_mu_ held. The group `id` as `actor`
  // may know it (group.read on its owner): NotFound otherwise.
  Status RequireGroup(const Actor& actor, GroupId id, const query::GroupNode** out) const;
  // RequireGroup, and InvalidArgument naming it when it is not a user group.
  Status RequireUserGroup(const Actor& actor, GroupId id, const query::GroupNode** out) const;
  // Group changes a mutation gathers before adding them to its change set
  // (EmitGroupEdits): each changed group's size is written once.
  // Each changed group's overlap (members also in another group) too.
  struct GroupEdits {
    std::map<GroupId, int64_t> size_delta;
    std::map<GroupId, int64_t> overlap_delta;
    std::set<GroupId> dropped;
  };
  // The opening shared by AddGroupMembers and RemoveGroupMembers: records
  // the arguments, refuses an empty list, finds group `id` and requires
  // RequireGroupEdit.
  Status RequireMemberEdit(const Actor& actor, GroupId id, const std::vector<uint64_t>& list,
                           bool adding, Txn* txn, const query::GroupNode** out) const;
  // What editing group `g`'s members needs, whatever they are: group.write
  // on its owner; for a user group also user.invite (adding) or
  // user.remove there.
  Status RequireGroupEdit(const Actor& actor, const query::GroupNode& g, bool adding) const;
  // What it needs when members do join (adding) or leave: they take the
  // group's grants with them, so the actor must hold what each gives
  // (RequireGives) — each grant of a user group, each grant onto an
  // entity group. (An account group's grants give a role on each account:
  // checked per account, `account` here, or kNoId to skip them; `item`
  // then begins the refusal: "cannot add account 'x' to account group
  // 'g'".)
  Status RequireGrantsFollow(const Actor& actor, const query::GroupNode& g, bool adding,
                             AccountId account, std::string_view item = {}) const;
  // The groups a reassignment to `target` names (ReassignEntities): each
  // seen, of `kind`, owned by `target`, named once, and open to the actor's
  // additions (RequireGroupEdit; what their grants need is asked only once
  // entities do move); in the order given.
  Status RequireJoinGroups(const Actor& actor, EntityKind kind, const query::AccountNode& target,
                           Span<GroupId> groups,
                           std::vector<const query::GroupNode*>* out) const;
  // Adds to `txn` and `edits` that the entities `sorted_ids` (of no group
  // before) join each of `groups` (one group_members record per group).
  void JoinGroups(const std::vector<const query::GroupNode*>& groups,
                  const std::vector<uint64_t>& sorted_ids, int64_t now, GroupEdits* edits,
                  Txn* txn) const;
  // The groups `member` (of class `c`) is in, by id, from its links.
  Status MemberGroups(storage::MemberClass c, uint64_t member, std::vector<GroupId>* out) const;
  // What the 'r' links say of each of `members` (of class `c`): whether
  // group `id` holds it, and how many other groups (not dropped by `edits`)
  // hold it, with one of them. One ordered walk for the whole batch.
  struct MemberLinks {
    bool in_group = false;
    uint32_t others = 0;
    GroupId other = kNoId;
  };
  Status LinksOf(storage::MemberClass c, GroupId id, const std::vector<uint64_t>& sorted_members,
                 const std::set<GroupId>* dropped, std::vector<MemberLinks>* out) const;
  // Adds to `txn` the removal of every group membership of `member` (of
  // class `c`): all of them (keep_owner kNoId), or those in groups owned by
  // another account than keep_owner.
  Status DropMemberships(storage::MemberClass c, uint64_t member, AccountId keep_owner,
                         GroupEdits* edits, Txn* txn) const;
  // Adds to `txn` the deletion of group `id`: its grants (held and onto
  // it), its member links, its record.
  Status DropGroup(GroupId id, GroupEdits* edits, Txn* txn) const;
  // Adds the size changes of the groups that remain.
  Status EmitGroupEdits(const GroupEdits& edits, Txn* txn) const;
  Status LoadGroup(GroupId id, Group* g) const;
  // The members of a group on disk (after `after`, at most `limit`; 0: all).
  Status ScanGroupMembers(GroupId id, uint64_t after, size_t limit,
                          std::vector<uint64_t>* out) const;
  // Does entity group `group` hold `entity`? (a point read)
  Status InGroup(GroupId group, uint64_t entity, bool* in) const;
  // The grant (in force) of one of `u`'s user groups onto an entity group
  // of `kind` holding `entity` whose role has `perm` (with perm unset: any
  // permission of that kind), or null in *via. `owner` is the entity's:
  // only its groups can hold it. One point read per such group not in
  // `memo` (which keeps what was read, when given; with a memo, reads
  // also go through the membership cache: readers only).
  Status EntityGrantOf(const query::UserNode& u, EntityKind kind, std::optional<query::Perm> perm,
                       EntityId entity, AccountId owner, const query::GroupGrantNode** via,
                       MembershipMemo* memo = nullptr) const;
  // query::Require(actor, perm, owner), or else `perm` given on entity `e`
  // itself by a grant onto an entity group that holds it (EntityGrantOf),
  // as Check answers: what updating and deleting one entity need. A user
  // who holds nothing on the owner is told of the entity, never of the
  // owner (out of its sight).
  Status RequireOnEntity(const Actor& actor, query::Perm perm, const Entity& e,
                         const query::AccountNode& owner) const;
  // query::SeesEntity, or reached through a group grant (any permission
  // of its kind).
  Status SeesEntityOrGroup(const Actor& actor, EntityKind kind, EntityId entity,
                           const query::AccountNode& owner, bool* sees,
                           MembershipMemo* memo = nullptr) const;
  // The users reached through grants onto the entity groups holding
  // `entity` whose role has `perm`, appended to *out unless already in it.
  Status EntityGrantees(EntityId entity, EntityKind kind, query::Perm perm,
                        std::vector<WhoCanItem>* out,
                        const query::WhoCanFilter& shown = nullptr) const;

  // Shared by DeleteAccount(s) (accounts.cc).
  Status BuildDeleteAccounts(const Actor& actor, std::vector<AccountId> ids, AccountId receiver,
                             Txn* txn);
  // FailedPrecondition when the database has not reached min_revision
  // (under the held read scope).
  Status CheckFresh(uint64_t min_revision) const;
  // Plans a visibility request under the held read scope: its grants, on
  // a new snapshot.
  Status PlanView(const VisibleRequest& request, query::Perm perm, uint64_t fingerprint,
                  std::shared_ptr<const query::ScanView>* view) const;

  const Options options_;
  std::shared_ptr<storage::Store> store_;  // shared with snapshot views
  const uint64_t instance_id_;  // tells this open's cursors from others'

  mutable std::shared_mutex close_mu_;
  mutable WriterMutex write_mu_;
  CatalogVersions versions_;  // latest copy: write_mu_; published: ReadScope
  std::atomic<bool> closed_{false};  // set under close_mu_ (exclusive)
  // Streaming iterators handed out and not yet destroyed: Close() refuses
  // while any is open (RocksDB aborts if it closes under an iterator).
  mutable std::atomic<int64_t> open_iterators_{0};
  // Snapshot views (OpenSnapshot) alive: the Db that opened them counts
  // them (Close refuses while any is); a view holds the same counter and
  // knows it is one (it never writes, and never closes the shared store).
  std::shared_ptr<std::atomic<int64_t>> open_snapshots_ =
      std::make_shared<std::atomic<int64_t>>(0);
  bool snapshot_view_ = false;
  // The catalog image (query/catalog_image.h): where Init took the catalog
  // from, for canopy.catalog-source ("image", or "key spaces" and why not
  // the image; set before the Db is shared), and the stamp of the image it
  // read (empty log id: none), so Close writes none again when nothing
  // changed.
  std::string catalog_source_ = "copy";
  query::ImageStamp image_read_;
  // Set by IgnoreImageAhead.
  bool ignore_image_ahead_ = false;
  // Set by StartReplica (RestartsFromCheckpoint).
  bool restart_from_checkpoint_ = false;
  // Init completed (under write_mu_): only then is the catalog one whose
  // image Close may write.
  bool initialised_ = false;
  // CheckIntegrity found memory differing from the stored state: Close
  // removes the image instead of writing this catalog into one.
  mutable std::atomic<bool> image_untrusted_{false};
  // Set once (under write_mu_) when memory no longer matches disk or a sync
  // failed; poisoned_flag_ (release/acquire) tells readers it is set.
  Status poisoned_;
  std::atomic<bool> poisoned_flag_{false};
  // Set with it (before): readers are refused too (Poison).
  std::atomic<bool> poisoned_reads_{false};
  // A follower whose store is not whole after a catch-up (Store::Whole: a
  // write-ahead log deleted while it was read, or the open again after the
  // writer's flush refused by a writer that kept replacing files): every
  // read is refused with gap_ (Unavailable) until a catch-up ends whole.
  // Set and cleared by CatchUp (under write_mu_, no read under way).
  mutable std::mutex gap_mu_;
  Status gap_;
  std::atomic<bool> gap_flag_{false};
  // The most one call's change-log entry may take (Txn); lowered by tests.
  uint64_t max_call_bytes_ = storage::kMaxLogEntryBytes;
  // The change log. revision_ is the latest revision (the writer's, under
  // write_mu_); published_ the one readers see. They differ only while a
  // group of durable mutations waits for its sync.
  std::atomic<uint64_t> revision_{0};
  std::atomic<uint64_t> published_{0};
  // Group commit (WaitPublished): one leader at a time syncs and publishes.
  mutable std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool sync_leader_ = false;           // guarded by sync_mu_
  std::atomic<int> writers_queued_{0};  // mutations between entry and commit
  std::atomic<uint64_t> log_first_{1};  // oldest revision kept
  // The revision of an import whose files were ingested (kMetaIngested)
  // and which no logged write has named yet (kMetaIngestSeen): the next
  // one names it (WriteLogged). 0: none. write_mu_.
  uint64_t ingest_unseen_ = 0;
  std::string log_id_;                  // guarded by write_mu_ (set once on open / first apply)
  std::string replica_of_;              // kMetaReplicaOf as read at open (guarded by write_mu_ after)
  mutable std::mutex log_id_mu_;        // for LogId() readers
  int64_t log_first_time_us_ = 0;       // time of the oldest kept entry (0: unknown); write_mu_
  mutable std::mutex wait_mu_;
  mutable std::condition_variable wait_cv_;
  // The Close calls begun (a refused one takes itself back, so of two
  // at once, one refused leaves the other's mark): nonzero refuses new
  // calls (HoldOpen), iterators and snapshots, and wakes WaitForChanges.
  std::atomic<int> closing_{0};
  mutable query::ViewRegistry views_;
  mutable MembershipCache membership_cache_;
  // Who-can answers kept for the pages after the first: a page is cut from
  // the whole answer, which costs as much to work out as the whole answer,
  // so paging through N users one page at a time cost N²/page. Each kept
  // answer is for one request (its cursor's fingerprint) at one revision,
  // and used only at that revision: the same answer the page would work
  // out. A few answers, and a bounded number of users in all.
  class WhoCanAnswers {
   public:
    using Items = std::shared_ptr<const std::vector<WhoCanItem>>;
    Items Find(uint64_t fingerprint, uint64_t revision);
    void Keep(uint64_t fingerprint, uint64_t revision, Items items);

   private:
    static constexpr size_t kMaxAnswers = 8;
    static constexpr size_t kMaxUsers = 1000000;
    struct Answer {
      uint64_t fingerprint, revision, used;
      Items items;
    };
    std::mutex mu_;
    std::vector<Answer> answers_;
    uint64_t clock_ = 0;
  };
  mutable WhoCanAnswers who_can_answers_;

  // Follower state (follower.cc).
  // Shared with every hold handed out (a snapshot of the follower keeps
  // its hold, and so the gate, after this Db object is gone).
  struct HoldGate {
    std::mutex mu;
    std::condition_variable cv;
    int64_t holds = 0;         // guarded by mu
    int64_t kept = 0;          // guarded by mu: of them, kept past a call (KeepHold)
    bool catching_up = false;  // guarded by mu: new holds wait
  };
  const std::shared_ptr<HoldGate> gate_ = std::make_shared<HoldGate>();
  std::string follower_scratch_;  // removed on Close
  std::thread catch_up_thread_;
  std::mutex catch_up_mu_;        // guards stop_catch_up_ with catch_up_cv_
  std::condition_variable catch_up_cv_;
  bool stop_catch_up_ = false;

  // Replica state (replica.cc); log_ is null for a single-process database.
  std::unique_ptr<replication::EtcdLog> log_;
  std::string replica_id_;
  int64_t lease_ = 0;                 // the housekeeping thread's
  std::thread follower_;
  std::thread housekeeper_;
  std::atomic<bool> stop_replica_{false};
  std::atomic<bool> follower_paused_{false};
  mutable std::mutex replica_mu_;     // guards the fields below and replica_cv_
  std::condition_variable replica_cv_;
  uint64_t head_seen_ = 0;
  uint64_t log_first_seen_ = 0;
  uint64_t checkpoint_seen_ = 0;
  int64_t last_contact_us_ = 0;
  int64_t apply_delay_us_ = 0;
  struct WorkError {
    std::string message;  // "" while none stands
    uint64_t order = 0;   // when it was noted (a sequence number)
  };
  WorkError replica_errors_[static_cast<int>(ReplicaWork::kCount)];
  uint64_t replica_error_seq_ = 0;
  Status follow_stuck_;                        // NoteFollowStuck's (replica_mu_)
  // FindAccountDeletion's finds: id -> (revision, label), facts of this
  // database's history (deleted_mu_; a few thousand at most).
  mutable std::mutex deleted_mu_;
  mutable std::map<AccountId, std::pair<uint64_t, std::string>> deleted_accounts_;
  // And the revisions [first, second] looked through without finding one.
  mutable std::map<AccountId, std::pair<uint64_t, uint64_t>> deletion_absent_;
  std::atomic<bool> log_behind_{false};        // NoteLogBehind was called
  Status behind_;                              // its finding (replica_mu_)
  std::atomic<bool> follow_stuck_flag_{false};  // !follow_stuck_.ok(), for WaitForChanges
  // Set by ImportFile when its append lost the race to another replica.
  bool import_conflict_ = false;
  // The staged group of writes (write_mu_).
  struct Staged {
    uint64_t ticket = 0;
    uint64_t revision = 0;
    int64_t time_us = 0;
    std::string log_id;
    std::string framed;       // the entry as etcd stores it
    std::string batch;        // its keys (a WriteBatch's bytes)
  };
  std::vector<Staged> staged_;
  size_t staged_bytes_ = 0;
  std::unique_ptr<storage::Store::Overlay> overlay_;
  uint64_t next_ticket_ = 0;
  // Settled writes (sync_mu_): every ticket up to settled_ticket_ has an
  // outcome in outcomes_ until its writer takes it.
  struct Outcome {
    Status status;
    bool lost = false;
    uint64_t revision = 0;
  };
  uint64_t settled_ticket_ = 0;
  std::unordered_map<uint64_t, Outcome> outcomes_;
  bool settle_leader_ = false;
  // Writers between entering Mutate and staging (or failing): a group's
  // leader waits briefly for them to join.
  std::atomic<int> staging_{0};
};

}  // namespace canopy::engine

#endif  // CANOPY_ENGINE_DB_IMPL_H_
