// Copyright (c) Canopy authors.
//
// Open/close, the mutation protocol (Mutate) and the record helpers shared
// by the engine's files.

#include "engine/db_impl.h"
#include "engine/folder_copies.h"
#include "replication/log.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "storage/counters.h"
#include "storage/files_position.h"
#include "storage/forks.h"
#include "storage/keys.h"
#include "storage/records.h"
#include "query/access.h"
#include "query/json.h"

#include <unordered_map>
#include <unordered_set>

namespace canopy {

Status Db::Open(const Options& options, std::string_view path, std::unique_ptr<Db>* db) {
  if (db == nullptr) return Status::InvalidArgument("Db::Open: db is null");
  db->reset();
  // Before anything touches a folder or etcd (Store::Open refuses too).
  if (storage::InForkedChild()) return storage::ForkedChildRefusal("open a database");
  try {
    if (path.empty()) return Status::InvalidArgument("database path is empty");
    if (options.max_depth < 1 || options.max_depth > 255) {
      return Status::InvalidArgument("max_depth must be 1..255, not " +
                                     std::to_string(options.max_depth));
    }
    if (options.max_open_cursors == 0) {
      return Status::InvalidArgument("max_open_cursors must be at least 1");
    }
    CANOPY_RETURN_IF_ERROR(engine::ValidateReplication(options.replication));
    if (options.read_only && !options.replication.etcd_endpoints.empty()) {
      return Status::InvalidArgument("a replica cannot be opened read-only (it applies the log)");
    }
    if (!options.replication.checkpoint_dir.empty()) {
      CANOPY_RETURN_IF_ERROR(storage::RefuseInsideFolder(
          "replication checkpoint_dir", options.replication.checkpoint_dir, std::string(path)));
    }
    std::string follower_scratch;
    CANOPY_RETURN_IF_ERROR(engine::ValidateFollower(options, path, &follower_scratch));
    // The scratch folder goes again unless the open succeeds.
    std::unique_ptr<void, std::function<void(void*)>> scratch_guard(
        follower_scratch.empty() ? nullptr : &follower_scratch, [](void* p) {
          std::error_code ec;
          std::filesystem::remove_all(*static_cast<std::string*>(p), ec);
        });
    // A replica's first open that fails (etcd refuses it: another log, a
    // trimmed one...) leaves a folder in which it created the database as
    // it was: a database at revision 0 of no log would only be in the way
    // of the next try. (Decided by the store, under its claim on the
    // folder: a database another process made meanwhile is never touched.)
    std::error_code fs_error;
    const bool existed = std::filesystem::exists(std::string(path), fs_error);
    bool fresh = false;
    // A folder filled from a checkpoint (a new replica) is undone the same
    // way: a damaged or unusable copy must not stay where the next open
    // would take it for this replica's own database.
    std::string copied_from;
    auto undo_creation = [&](std::unique_ptr<engine::DbImpl>* made, Status why) {
      if (copied_from.empty() && !fresh) return why;
      made->reset();  // closed first
      // A process that opened the folder meanwhile (the copy this open
      // made, say, once its lock was released), or another Db of this
      // process, keeps it: it is that one's database now, and this open
      // only failed. Held while the folder is emptied, its LOCK last, the
      // lock keeps every open out of what is left.
      engine::DatabaseLock no_one_else;
      if (!no_one_else.Take(std::string(path))) return why;
      if (!copied_from.empty()) {
        why = why.WithContext("starting this replica from the checkpoint in '" + copied_from +
                              "' (its copy was removed again)");
      }
      std::error_code ec;
      const std::filesystem::path folder = engine::Named(std::string(path));
      std::vector<std::filesystem::path> entries;
      for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
        if (e.path().filename() != "LOCK") entries.push_back(e.path());
      }
      for (const auto& e : entries) std::filesystem::remove_all(e, ec);
      if (!existed) {
        std::filesystem::remove_all(folder, ec);
      } else {
        std::filesystem::remove(folder / "LOCK", ec);
      }
      return why;
    };
    CANOPY_RETURN_IF_ERROR(
        engine::BootstrapReplica(options.replication, std::string(path), &copied_from));
    std::unique_ptr<engine::DbImpl> impl;
    // Opens the store and reads its state into `impl` (setting `fresh`);
    // what fails is undone (undo_creation) and returned.
    auto open_once = [&]() -> Status {
      std::unique_ptr<storage::Store> store;
      storage::StoreOptions so = engine::StoreOptionsOf(options);
      if (!follower_scratch.empty()) so.secondary_path = follower_scratch;
      // A read-only or follower open takes no lock, so a writer may change
      // the folder while it reads: its files in the middle of a flush (one
      // key space read before it, another after), or an image that a writer
      // wrote when it closed after this open read the files, of a newer
      // state than they hold. Such a Corruption is read again, as Store::Open
      // does for a file list that changed under it; only the same Corruption
      // on kSameSightings reads in a row is the folder's own (a rollback, a
      // damaged key space). Writers that keep changing the folder through
      // every attempt leave the last one to open the files it reads without
      // the image.
      constexpr int kSameSightings = 3;
      std::string seen;
      int same = 0;
      // Files that went back behind where the last writer left them (older
      // files copied over, a cut MANIFEST) are refused before RocksDB opens
      // them: a writable open would delete the newer files it takes for
      // obsolete before Init could see the rollback, and a reader would
      // answer the older state. (Without a lock: CURRENT's MANIFEST number
      // and a MANIFEST's size only grow, so a writer meanwhile never makes
      // the files look behind its record.)
      CANOPY_RETURN_IF_ERROR(storage::RefuseFilesBehindRecord(std::string(path)));
      for (int attempt = 1;; ++attempt) {
        if (Status o = storage::Store::Open(so, std::string(path), &store); !o.ok()) {
          return undo_creation(&impl, o);
        }
        fresh = !options.replication.etcd_endpoints.empty() && store->created();
        impl = std::make_unique<engine::DbImpl>(options, std::move(store));
        const bool locked = !options.read_only && !options.follower;
        if (!locked && attempt == storage::kReaderAttempts) impl->IgnoreImageAhead();
        Status init = impl->Init();
        if (init.ok()) break;
        if (locked || init.code() != Code::kCorruption) return undo_creation(&impl, init);
        same = same > 0 && init.message() == seen ? same + 1 : 1;
        if (same == kSameSightings || attempt == storage::kReaderAttempts) {
          return undo_creation(&impl, init);
        }
        seen = init.message();
        impl.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(storage::ReaderPauseMs(attempt)));
      }
      if (!options.read_only && !options.follower) impl->RecordFilesPosition();
      return Status::Ok();
    };
    CANOPY_RETURN_IF_ERROR(open_once());
    Status started = impl->StartReplica(fresh);
    if (!started.ok() && copied_from.empty() && impl->RestartsFromCheckpoint()) {
      // A replica folder the log was trimmed past while it was closed is
      // opened again, from the newest checkpoint (RestartBehindReplica).
      const uint64_t behind = impl->Revision();
      const std::string lineage = impl->LogId();
      impl.reset();  // closed: its folder is replaced
      std::string why_not;
      CANOPY_RETURN_IF_ERROR(engine::RestartBehindReplica(options.replication, std::string(path),
                                                          behind, lineage, &copied_from, &why_not)
                                 .WithContext("this replica is at revision " +
                                              std::to_string(behind) +
                                              ", behind what etcd keeps of the log; starting it "
                                              "again from the newest checkpoint"));
      if (copied_from.empty()) {  // no checkpoint holds what it holds
        return why_not.empty() ? started
                               : Status(started.code(), started.message() + "; " + why_not);
      }
      CANOPY_RETURN_IF_ERROR(open_once());
      started = impl->StartReplica(fresh);
    }
    if (!started.ok()) return undo_creation(&impl, started);
    if (options.follower) {
      (void)scratch_guard.release();
      impl->StartFollower(std::move(follower_scratch));
    }
    *db = std::move(impl);
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("Db::Open: ") + e.what());
  }
}

const std::vector<std::string>& Db::PropertyNames() {
  static const std::vector<std::string> names = {
      "canopy.revision",
      "canopy.log-first-revision",
      "canopy.accounts",
      "canopy.users",
      "canopy.roles",
      "canopy.groups",
      "canopy.devices",
      "canopy.assets",
      "canopy.dashboards",
      "canopy.entity-views",
      "canopy.open-cursors",
      "canopy.open-iterators",
      "canopy.catalog-source",
      "canopy.groups-undone",
      "canopy.groups-copied-back",
      "rocksdb.estimate-num-keys",
      "rocksdb.estimate-live-data-size",
      "rocksdb.total-sst-files-size",
      "rocksdb.cur-size-all-mem-tables",
      "rocksdb.block-cache-usage",
      "rocksdb.num-running-compactions",
      "rocksdb.num-running-flushes",
      "rocksdb.estimate-pending-compaction-bytes",
  };
  return names;
}

namespace engine {

StatusOr<std::string> DbImpl::GetProperty(std::string_view name) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  const query::Catalog& c = cat();
  auto entities = [&](EntityKind k) {
    int64_t n = 0;
    for (AccountId r : c.roots) n += c.account(r)->count(k).subtree;
    return std::to_string(n);
  };
  if (name == "canopy.revision") return std::to_string(head());
  if (name == "canopy.log-first-revision") return std::to_string(log_first_.load());
  if (name == "canopy.accounts") return std::to_string(c.accounts.size());
  if (name == "canopy.users") return std::to_string(c.users.size());
  if (name == "canopy.roles") {
    size_t custom = 0;
    for (const auto& [id, r] : c.roles) custom += r.builtin ? 0 : 1;
    return std::to_string(custom);
  }
  if (name == "canopy.groups") return std::to_string(c.groups.size());
  if (name == "canopy.devices") return entities(EntityKind::kDevice);
  if (name == "canopy.assets") return entities(EntityKind::kAsset);
  if (name == "canopy.dashboards") return entities(EntityKind::kDashboard);
  if (name == "canopy.entity-views") return entities(EntityKind::kEntityView);
  if (name == "canopy.open-cursors") return std::to_string(views_.size());
  if (name == "canopy.open-iterators") return std::to_string(open_iterators_.load());
  if (name == "canopy.catalog-source") return catalog_source_;
  if (name == "canopy.groups-undone") return std::to_string(versions_.undone());
  if (name == "canopy.groups-copied-back") return std::to_string(versions_.copied_back());
  if (name.rfind("rocksdb.", 0) == 0) {
    std::string value;
    CANOPY_RETURN_IF_ERROR(store_->GetProperty(name, &value));
    return value;
  }
  return Status::NotFound("no property '" + std::string(name) +
                          "' (canopy.* and rocksdb.* names; see Db::GetProperty)");
}

storage::StoreOptions StoreOptionsOf(const Options& options) {
  storage::StoreOptions so;
  so.create_if_missing = options.create_if_missing;
  so.error_if_exists = options.error_if_exists;
  so.read_only = options.read_only;
  if (options.follower) so.secondary_path = options.follower_dir;
  so.block_cache_bytes = options.block_cache_bytes;
  so.max_depth = options.max_depth;
  so.compression = options.compression;
  so.wal_dir = options.wal_dir;
  so.max_open_files = options.max_open_files;
  so.background_write_bytes_per_second = options.background_write_bytes_per_second;
  so.statistics = options.statistics;
  so.log = options.log;
  so.log_level = options.log_level;
  return so;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
uint64_t RandomInstanceId() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
         static_cast<uint64_t>(NowMicros());
}
}  // namespace

void CountDeltas::AddDirect(const query::Catalog& c, AccountId owner, EntityKind kind,
                            int64_t n) {
  if (n == 0) return;
  deltas_[{owner, static_cast<uint8_t>(kind)}].direct += n;
  AddSubtree(c, owner, kind, n);
}

void CountDeltas::AddSubtree(const query::Catalog& c, AccountId a, EntityKind kind, int64_t n) {
  if (n == 0) return;
  for (const query::AccountNode* node = c.account(a); node != nullptr;
       node = c.account(node->parent)) {
    deltas_[{node->id, static_cast<uint8_t>(kind)}].subtree += n;
  }
}

void CountDeltas::Forget(AccountId account) {
  for (auto it = deltas_.begin(); it != deltas_.end();) {
    it = it->first.first == account ? deltas_.erase(it) : std::next(it);
  }
}

void CountDeltas::Emit(storage::ChangeSet* changes) const {
  for (const auto& [k, d] : deltas_) {
    const uint8_t kind = k.second;
    if (d.direct != 0) changes->counters.push_back({k.first, kind, d.direct});
    if (d.subtree != 0) {
      changes->counters.push_back(
          {k.first, static_cast<uint8_t>(kind | storage::kCounterSubtreeBit), d.subtree});
    }
  }
}

// ---- Txn: the change set of one mutation ---------------------------------

std::string Txn::LabelAfter(AccountId id) const {
  auto it = labels_after_.find(id);
  if (it != labels_after_.end()) return it->second;
  const query::AccountNode* n = c_.account(id);
  return n != nullptr ? n->label : std::string();
}

std::string Txn::LabelBefore(AccountId id) const {
  const query::AccountNode* n = c_.account(id);
  return n != nullptr ? n->label : std::string();
}

template <typename P, typename Encode, typename ScopeBefore, typename ScopeAfter>
void Txn::Add(storage::RecordType type, std::string key, P before, P after, Encode encode,
              ScopeBefore scope_before, ScopeAfter scope_after) {
  storage::RecordChange r;
  r.type = type;
  r.key = std::move(key);
  // std::move copies a const record and moves the others.
  if (before) {
    r.before = encode(*before);
    r.before_scope = scope_before(*before);
    r.before_record = std::move(*before);
  }
  if (after) {
    r.after = encode(*after);
    r.after_scope = scope_after(*after);
    r.after_record = std::move(*after);
  }
  Push(std::move(r));
}

void Txn::Push(storage::RecordChange r) {
  added_ += storage::RecordChangeBytes(r);
  changes.records.push_back(std::move(r));
  CheckRoom();
}

void Txn::Expect(uint64_t records, uint64_t bytes) {
  expected_records_ = records;
  expected_ = bytes;
  CheckRoom();
}

void Txn::CheckRoom() const {
  // The records alone (and the entry's fixed part): counters and the
  // arguments are added once the call is built (LogEntryFits).
  const uint64_t bytes = storage::LogEntryOverheadBytes(0) + added_ + expected_;
  if (bytes <= limit_) return;
  // The call is not built whole: it would change this many or more.
  const uint64_t records = changes.records.size() + expected_records_;
  throw CallTooLarge(
      storage::CallTooLarge(operation, records, bytes, limit_, /*at_least=*/true));
}

void Txn::Account(const storage::AccountRecord* before, const storage::AccountRecord* after) {
  auto label = [](const storage::AccountRecord& x) { return x.label; };
  Add(storage::RecordType::kAccount, storage::IdKey(after ? after->account.id : before->account.id),
      before, after, storage::EncodeAccount, label, label);
  if (after) labels_after_[after->account.id] = after->label;
}

template <typename P>
void Txn::EntityChange(P before, P after) {
  Add(storage::RecordType::kEntity, storage::IdKey(after ? after->id : before->id), before, after,
      storage::EncodeEntity, [&](const canopy::Entity& e) { return LabelBefore(e.owner); },
      [&](const canopy::Entity& e) { return LabelAfter(e.owner); });
}

void Txn::Entity(const canopy::Entity* before, const canopy::Entity* after) {
  EntityChange(before, after);
}

void Txn::Entity(canopy::Entity&& before, canopy::Entity&& after) {
  EntityChange(&before, &after);
}

void Txn::User(const canopy::User* before, const canopy::User* after) {
  Add(storage::RecordType::kUser, storage::IdKey(after ? after->id : before->id), before, after,
      storage::EncodeUser, [&](const canopy::User& u) { return LabelBefore(u.account); },
      [&](const canopy::User& u) { return LabelAfter(u.account); });
}

void Txn::Membership(const canopy::Membership* before, const canopy::Membership* after) {
  const canopy::Membership& m = after ? *after : *before;
  Add(storage::RecordType::kMembership, storage::PairKey(m.user, m.account), before, after,
      storage::EncodeMembership,
      [&](const canopy::Membership& x) { return LabelBefore(x.account); },
      [&](const canopy::Membership& x) { return LabelAfter(x.account); });
}

void Txn::Role(const canopy::Role* before, const canopy::Role* after) {
  Add(storage::RecordType::kRole, storage::IdKey(after ? after->id : before->id), before, after,
      storage::EncodeRole, [&](const canopy::Role& x) { return LabelBefore(x.tenant); },
      [&](const canopy::Role& x) { return LabelAfter(x.tenant); });
}

void Txn::Group(const canopy::Group* before, const canopy::Group* after) {
  Add(storage::RecordType::kGroup, storage::IdKey(after ? after->id : before->id), before, after,
      storage::EncodeGroup, [&](const canopy::Group& g) { return LabelBefore(g.owner); },
      [&](const canopy::Group& g) { return LabelAfter(g.owner); });
}

void Txn::GroupMember(const storage::GroupMemberRecord* before,
                      const storage::GroupMemberRecord* after) {
  const storage::GroupMemberRecord& m = after ? *after : *before;
  const query::GroupNode* g = c_.group(m.group);
  const AccountId owner = g != nullptr ? g->owner : kNoId;
  Add(storage::RecordType::kGroupMember, storage::PairKey(m.group, m.member), before, after,
      storage::EncodeGroupMember, [&](const auto&) { return LabelBefore(owner); },
      [&](const auto&) { return LabelAfter(owner); });
}

void Txn::GroupMembers(storage::GroupMembersRecord added) {
  const query::GroupNode* g = c_.group(added.group);
  const AccountId owner = g != nullptr ? g->owner : kNoId;
  storage::RecordChange r;
  r.type = storage::RecordType::kGroupMembers;
  r.key = storage::IdKey(added.group);
  r.after = storage::EncodeGroupMembers(added);
  r.after_scope = LabelAfter(owner);
  r.after_record = std::move(added);
  Push(std::move(r));
}

void Txn::GroupGrant(AccountId owner, const canopy::GroupGrant* before,
                     const canopy::GroupGrant* after) {
  const canopy::GroupGrant& g = after ? *after : *before;
  std::string key = storage::PairKey(g.user_group, g.role);
  storage::PutFixed64BE(&key, g.target);
  Add(storage::RecordType::kGroupGrant, std::move(key), before, after, storage::EncodeGroupGrant,
      [&](const auto&) { return LabelBefore(owner); },
      [&](const auto&) { return LabelAfter(owner); });
}

void Txn::Meta(std::string_view name, uint64_t before, uint64_t after) {
  storage::RecordChange r;
  r.type = storage::RecordType::kMeta;
  r.key = std::string(name);
  if (before != 0) r.before = storage::Fixed64BE(before);
  r.after = storage::Fixed64BE(after);
  Push(std::move(r));
}


DbImpl::DbImpl(const Options& options, std::shared_ptr<storage::Store> store)
    : options_(options),
      store_(std::move(store)),
      instance_id_(RandomInstanceId()),
      views_(options.cursor_ttl_seconds, options.max_open_cursors) {}

DbImpl::~DbImpl() {
  if (storage::InForkedChild()) {
    // This is a copy of the parent's object, without the parent's threads
    // (storage/forks.h): let go of them and of the store untouched.
    for (std::thread* t : {&catch_up_thread_, &follower_, &housekeeper_}) {
      if (t->joinable()) t->detach();
    }
    versions_.LetGoOfCopierAfterFork();
    (void)log_.release();
    return;
  }
  if (!Close().ok()) {
    // Refused (a snapshot of this Db is still open, and keeps the store):
    // the threads that use this object stop all the same.
    StopReplica();
    StopFollower();
  }
}

Status DbImpl::Init() {
  WriteGuard w(write_mu_);
  query::Catalog& latest = versions_.LatestToReplace();
  catalog_source_ = "key spaces (catalog_image is off)";
  bool from_image = false;
  const bool writer = !options_.read_only && !options_.follower;
  if (UsesCatalogImage()) {
    query::ImageStamp stamp;
    CANOPY_RETURN_IF_ERROR(ImageStampNow(&stamp));
    std::string why = "no change log yet";
    query::ImageStamp written;
    if (!stamp.log_id.empty() &&
        query::ReadCatalogImage(store_->path(), stamp, &latest, &why, &written)) {
      // The stamp says the state is the one the image was written of; the
      // stored sequences are read again all the same (a few keys).
      query::CatalogRest stored;
      CANOPY_RETURN_IF_ERROR(stored.LoadSequences(*store_, nullptr));
      from_image = stored.SameSequences(latest) && latest.max_depth == store_->format().max_depth;
      if (from_image) {
        image_read_ = stamp;
      } else {
        why = "its sequences differ from the stored ones";
        latest = query::Catalog();
      }
    }
    catalog_source_ = from_image ? "image" : "key spaces (" + why + ")";
    // An image written of a newer state than the files hold: a rollback
    // (refused; Db::Open reads the files again first when it took no lock).
    bool image_ahead = !from_image && query::StampIsAhead(written, stamp);
    if (image_ahead && ignore_image_ahead_) {
      image_ahead = false;
      catalog_source_ =
          "key spaces (its image is of a newer state than the files this open read: a writer "
          "changed the folder during the open)";
    }
    if (image_ahead) {
      // Refused in every mode, and the image kept as the evidence: opened
      // for writing, the older state would be built on for good.
      return Status::Corruption(
          "the database in '" + store_->path() + "' went back to an older state: it was closed "
          "at revision " + std::to_string(written.revision) + " (RocksDB sequence " +
          std::to_string(written.sequence) + ", as its catalog image " +
          query::kCatalogImageFile + " records), and its files now hold revision " +
          std::to_string(stamp.revision) + " (sequence " + std::to_string(stamp.sequence) +
          "): its MANIFEST is damaged, files were lost, or older files were copied over it. "
          "Restore it from a backup; to open the older state as it is, remove " +
          query::kCatalogImageFile + " and " + storage::kFilesRecordFile + " from the folder");
    }
  }
  // A writer keeps no image it did not use (stale, or unwanted): Close
  // writes a current one.
  if (writer && !from_image) query::RemoveCatalogImage(store_->path());
  if (!from_image) CANOPY_RETURN_IF_ERROR(latest.Load(*store_));
  versions_.NoteReplaced();
  CANOPY_RETURN_IF_ERROR(InitLog());
  if (options_.read_only) {
    // Never written, so one copy of the catalog: the one readers enter (the
    // writer's stays empty, as a snapshot's does).
    versions_.Freeze(std::move(versions_.latest()), NewSnapshot(), revision_.load());
    initialised_ = true;
    return Status::Ok();
  }
  CANOPY_RETURN_IF_ERROR(versions_.Publish(NewSnapshot(), revision_.load()));
  initialised_ = true;
  return Status::Ok();
}

StatusOr<std::unique_ptr<Db>> DbImpl::OpenSnapshot() const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  Options o = options_;
  o.read_only = true;
  o.replication = ReplicationOptions();
  // A follower's snapshot reads its store under the hold this scope took
  // (scope.snapshot()), kept for the snapshot's life: the follower's
  // catch-ups wait for it like for an open iterator, with the follower's
  // reads going on meanwhile (KeepHold). The snapshot itself never
  // catches up.
  o.follower = false;
  o.follower_dir.clear();
  o.follower_catch_up_ms = 0;
  auto view = std::make_unique<DbImpl>(o, store_);
  view->snapshot_view_ = true;
  view->open_snapshots_ = open_snapshots_;
  {
    WriteGuard w(view->write_mu_);
    // The copy is taken while this reader's pin holds the published
    // catalog: a writer publishing meanwhile waits for it (once).
    view->versions_.Freeze(cat(), KeepHold(scope.snapshot()), head());
    view->revision_ = head();
    view->published_ = head();
    view->log_first_ = log_first_.load();
    view->log_id_ = LogId();
  }
  open_snapshots_->fetch_add(1);
  if (closing_.load()) {  // Close has begun (see Close): the view closes again
    view.reset();
    return Closing();
  }
  return std::unique_ptr<Db>(std::move(view));
}

Status DbImpl::Close() {
  if (storage::InForkedChild()) return ForkedChild();
  if (const char* in = CallbackInProgress()) {
    return Status::FailedPrecondition(
        std::string("Close called from inside the progress callback of ") + in +
        " on the same database: the " + in +
        " holds the database open until it returns, so Close would wait for itself "
        "(return false from the callback to cancel it, then close)");
  }
  if (int64_t n = open_iterators_.load(); n > 0) {
    return Status::FailedPrecondition(std::to_string(n) +
                                      " visible iterator(s) still open; destroy them before Close");
  }
  if (snapshot_view_) {
    closing_.fetch_add(1);  // WaitForChanges on a snapshot returns now
    {
      std::lock_guard<std::mutex> g(wait_mu_);
    }
    wait_cv_.notify_all();
    std::unique_lock<std::shared_mutex> open(close_mu_);
    WriteGuard w(write_mu_);
    if (closed_) return Status::Ok();
    closed_ = true;
    views_.Clear();
    versions_.DropSnapshots();
    versions_.Freeze(query::Catalog(), nullptr, 0);  // its memory goes now
    open_snapshots_->fetch_sub(1);
    return Status::Ok();
  }
  // From here no iterator or snapshot opens (each checks closing_ after
  // counting itself, this checks the counts after setting it: one of the
  // two sees the other), so once the counts are 0 below, nothing can make
  // Close refuse after it stopped the replica or the follower's thread.
  closing_.fetch_add(1);
  if (int64_t n = open_iterators_.load(); n > 0) {
    closing_.fetch_sub(1);
    return Status::FailedPrecondition(std::to_string(n) +
                                      " visible iterator(s) still open; destroy them before Close");
  }
  if (int64_t n = open_snapshots_->load(); n > 0) {
    closing_.fetch_sub(1);
    return Status::FailedPrecondition(std::to_string(n) +
                                      " snapshot(s) still open; destroy them before Close");
  }
  // A replica stops following etcd first (its threads take the locks
  // below), a follower its catch-up thread.
  StopReplica();
  StopFollower();
  // Wake WaitForChanges callers (they hold the database open) before
  // waiting for every call to return.
  {
    std::lock_guard<std::mutex> g(wait_mu_);
  }
  wait_cv_.notify_all();
  std::unique_lock<std::shared_mutex> open(close_mu_);
  WriteGuard w(write_mu_);
  if (closed_) return Status::Ok();
  closed_ = true;
  views_.Clear();  // releases the cursors' snapshots before RocksDB closes
  versions_.DropSnapshots();
  versions_.StopCopy();  // a Db closed right after opening waits for no copy
  WriteCatalogImageAtClose();
  // A database that opened whole and may write merges its small table
  // files (storage::Store::MergeSmallFiles); one refused at open is left
  // as it was found. Then the close's flush, after which nothing changes
  // the files (Store::Settle), and the record of where they stand.
  if (initialised_ && !options_.read_only && !options_.follower && !poisoned_flag_.load()) {
    store_->MergeSmallFiles();
    if (store_->Settle().ok()) RecordFilesPosition();
  }
  // After a failed write or sync RocksDB may refuse to flush (its error
  // stays until reopened): then close without, as a crash would; the
  // write-ahead log holds what was written, and the next open replays it.
  // (After a failure of memory it flushes, as any close does.)
  const bool poisoned = poisoned_flag_.load();
  bool flush = true;
  if (poisoned) {
    Status settled = store_->Settle();
    if (!settled.ok()) {
      Log(LogLevel::kWarn, "canopy: closing without a flush after a failed write: " +
                               settled.ToString());
      flush = false;
    }
  }
  Status closed = store_->Close(flush);
  if (!flush && closed.code() == Code::kIOError) {
    // RocksDB repeats the I/O failure it kept (the write was refused, and
    // said so, then): the close itself is done.
    Log(LogLevel::kWarn, "canopy: closed after a failed write: " + closed.ToString());
    closed = Status::Ok();
  }
  if (!follower_scratch_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(follower_scratch_, ec);
    follower_scratch_.clear();
  }
  return closed;
}

bool DbImpl::UsesCatalogImage() const {
  return options_.catalog_image && !snapshot_view_;
}

Status DbImpl::ImageStampNow(query::ImageStamp* stamp) const {
  *stamp = query::ImageStamp();
  std::string id;
  Status s = store_->Get(storage::kMeta, storage::kMetaLogId, &id);
  if (s.IsNotFound()) return Status::Ok();  // no log id yet: no image
  CANOPY_RETURN_IF_ERROR(s);
  CANOPY_RETURN_IF_ERROR(LastLoggedRevision(&stamp->revision));
  stamp->sequence = store_->db()->GetLatestSequenceNumber();
  stamp->created_us = store_->format().created_us;
  stamp->max_depth = store_->format().max_depth;
  stamp->log_id = std::move(id);
  return Status::Ok();
}

void DbImpl::WriteCatalogImageAtClose() {
  // Only a database that opened whole, may write, and whose published
  // catalog is the stored state: nothing pending, nothing failed.
  if (!UsesCatalogImage() || !initialised_ || options_.read_only || options_.follower) return;
  if (poisoned_flag_.load() || versions_.HasPending() || image_untrusted_.load()) {
    if (image_untrusted_.load()) query::RemoveCatalogImage(store_->path());
    return;
  }
  Status s;
  try {
    query::ImageStamp stamp;
    s = ImageStampNow(&stamp);
    if (s.ok() && (stamp.log_id.empty() || stamp == image_read_)) return;  // nothing new
    // The state must be durable before an image of it exists: a power
    // loss must never take the database back behind its image.
    if (s.ok()) s = store_->SyncWal();
    if (s.ok()) {
      CatalogVersions::Pin pin = versions_.Enter();
      s = query::WriteCatalogImage(pin.catalog(), stamp, store_->path());
    }
  } catch (const std::exception& e) {
    query::RemoveCatalogImage(store_->path());
    s = Status::Internal(e.what());
  }
  if (!s.ok()) {
    Log(LogLevel::kWarn, "canopy: no catalog image written (the next open loads the catalog "
                         "from its key spaces): " + s.ToString());
  }
}

void DbImpl::RecordFilesPosition() {
  storage::FilesPosition files;
  Status s = storage::FilesPositionOf(*store_, &files);
  if (s.ok()) s = storage::WriteFilesRecord(store_->path(), files);
  if (!s.ok()) {
    Log(LogLevel::kWarn, "canopy: the record of where the files stand (" +
                             std::string(storage::kFilesRecordFile) +
                             ") is not up to date; a later rollback of the files may go "
                             "unnoticed: " + s.ToString());
  }
}

void DbImpl::Log(LogLevel level, const std::string& message) const {
  if (level < options_.log_level) return;
  if (!options_.log) {
    // Where RocksDB's messages go: the LOG file of a writer (nowhere for a
    // reader).
    if (store_ != nullptr) store_->Log(level, message);
    return;
  }
  try {  // nothing the callback throws reaches the caller
    options_.log(level, message);
  } catch (...) {
  }
}

Status DbImpl::HoldOpen(std::shared_lock<std::shared_mutex>* open) const {
  if (storage::InForkedChild()) return ForkedChild();
  if (closing_.load(std::memory_order_acquire) != 0 && !write_mu_.HeldByMe() &&
      ReadContextOfThisThread() == nullptr) {
    return closed_.load() ? Status::FailedPrecondition("the database is closed") : Closing();
  }
  *open = std::shared_lock<std::shared_mutex>(close_mu_);
  return Status::Ok();
}

Status DbImpl::Closing() { return Status::FailedPrecondition("the database is closing"); }

bool DbImpl::IsClosing(const Status& s) {
  return s.code() == Code::kFailedPrecondition && s.message() == "the database is closing";
}

Status DbImpl::ForkedChild() {
  return storage::ForkedChildRefusal("use or close a database opened before fork()");
}

Status DbImpl::CheckReadable() const {
  if (storage::InForkedChild()) return ForkedChild();
  if (closed_) return Status::FailedPrecondition("the database is closed");
  if (poisoned_flag_.load(std::memory_order_acquire) &&
      poisoned_reads_.load(std::memory_order_relaxed)) {
    return poisoned_;
  }
  if (gap_flag_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> g(gap_mu_);
    return gap_;
  }
  return Status::Ok();
}

Status DbImpl::CheckOpen() const {
  CANOPY_RETURN_IF_ERROR(CheckReadable());
  if (poisoned_flag_.load(std::memory_order_acquire)) return poisoned_;
  return Status::Ok();
}

Status DbImpl::CheckOpenToFollow() const {
  if (storage::InForkedChild()) return ForkedChild();
  if (closed_) return Status::FailedPrecondition("the database is closed");
  if (poisoned_flag_.load(std::memory_order_acquire)) return poisoned_;
  return Status::Ok();
}

// ---- Calls from inside a progress callback --------------------------------

namespace {
struct CallbackFrame {
  const void* db;  // a DbImpl
  const char* operation;
  const CallbackFrame* prev;
};
thread_local const CallbackFrame* tls_callbacks = nullptr;
}  // namespace

ProgressFn DbImpl::InCallback(const ProgressFn& progress, const char* operation) const {
  if (!progress) return progress;
  return [this, progress, operation](uint64_t done, uint64_t total) {
    const CallbackFrame frame{this, operation, tls_callbacks};
    tls_callbacks = &frame;
    struct Pop {
      const CallbackFrame* prev;
      ~Pop() { tls_callbacks = prev; }
    } pop{frame.prev};
    return progress(done, total);
  };
}

const char* DbImpl::CallbackInProgress() const {
  for (const CallbackFrame* f = tls_callbacks; f != nullptr; f = f->prev) {
    if (f->db == this) return f->operation;
  }
  return nullptr;
}

Status DbImpl::RefuseReentry(std::string_view what) const {
  if (!write_mu_.HeldByMe()) return Status::Ok();
  const char* in = CallbackInProgress();
  return Status::FailedPrecondition(
      std::string(what) + " called from inside " +
      (in != nullptr ? "the progress callback of " + std::string(in) : std::string("a write")) +
      " on the same database and thread, which holds off writes until it returns: it would "
      "wait for itself");
}

// ---- Reading the right state ---------------------------------------------

namespace {
thread_local const void* tls_read_context = nullptr;  // a DbImpl::ReadContext
}  // namespace

DbImpl::ReadScope::ReadScope(const DbImpl* db) : db_(db), writer_(db->write_mu_.HeldByMe()) {
  status_ = db->HoldOpen(&open_);
  if (!status_.ok()) return;
  // After a failed write or sync of its own (Poison) readers still read
  // the state last published, which the failure never touched; the
  // writer's own reads (of the latest state) stop with the writes.
  status_ = writer_ ? db->CheckOpen() : db->CheckReadable();
  if (!status_.ok()) return;
  ctx_.db = db;
  if (writer_) {
    ctx_.snapshot = db->NewSnapshot();
    ctx_.revision = db->revision_.load();
    return;
  }
  if (db->options_.follower) {
    // No snapshots on a follower: the scope holds the state instead (a
    // scope nested in another of the same database shares its hold).
    const ReadContext* outer = db->ReadContextOfThisThread();
    ctx_.snapshot = outer != nullptr ? outer->snapshot : db->HoldState();
    if (outer == nullptr) {
      // A catch-up that ended while this read waited for it may have left
      // the follower without a view (a gap): checked again, holding it.
      status_ = db->CheckReadable();
      if (!status_.ok()) {
        ctx_.db = nullptr;
        ctx_.snapshot.reset();
        return;
      }
    }
    ctx_.pin = db->versions_.Enter();
  } else {
    ctx_.pin = db->versions_.Enter();
    ctx_.snapshot = ctx_.pin.snapshot();
  }
  ctx_.revision = ctx_.pin.revision();
  ctx_.prev = static_cast<ReadContext*>(const_cast<void*>(tls_read_context));
  tls_read_context = &ctx_;
}

DbImpl::ReadScope::~ReadScope() {
  if (ctx_.db != nullptr && !writer_) tls_read_context = ctx_.prev;
  ctx_.pin.Release();
  ctx_.snapshot.reset();  // before open_ lets Close() release the store
}

void DbImpl::ReadScope::ReleaseCatalog() { ctx_.pin.Release(); }

void DbImpl::ReadScope::LockCatalog() {
  if (ctx_.db != nullptr && !writer_) ctx_.pin = db_->versions_.Enter();
}

const DbImpl::ReadContext* DbImpl::ReadContextOfThisThread() const {
  for (auto* c = static_cast<const ReadContext*>(tls_read_context); c != nullptr; c = c->prev) {
    if (c->db == this) return c;
  }
  return nullptr;
}

const query::Catalog& DbImpl::cat() const {
  if (write_mu_.HeldByMe()) return versions_.latest();
  const ReadContext* c = ReadContextOfThisThread();
  if (c != nullptr && c->pin.held()) return c->pin.catalog();
  std::fprintf(stderr, "canopy: internal error: catalog read outside a read scope\n");
  std::abort();
}

const rocksdb::Snapshot* DbImpl::snap() const {
  if (write_mu_.HeldByMe()) return nullptr;
  const ReadContext* c = ReadContextOfThisThread();
  return c != nullptr ? c->snapshot.get() : nullptr;
}

uint64_t DbImpl::head() const {
  if (write_mu_.HeldByMe()) return revision_.load();
  const ReadContext* c = ReadContextOfThisThread();
  return c != nullptr ? c->revision : published_.load();
}

SharedSnapshot DbImpl::NewSnapshot() const {
  if (options_.follower) return SharedSnapshot();
  rocksdb::DB* db = store_->db();
  return SharedSnapshot(db->GetSnapshot(), [db](const rocksdb::Snapshot* s) {
    if (s != nullptr) db->ReleaseSnapshot(s);
  });
}

Status DbImpl::CheckWritable(std::string_view what) const {
  CANOPY_RETURN_IF_ERROR(CheckOpen());
  if (snapshot_view_) {
    return Status::FailedPrecondition(std::string(what) + ": a snapshot is read-only");
  }
  if (options_.read_only) {
    return Status::FailedPrecondition(std::string(what) +
                                      ": the database is open read-only (Options::read_only)");
  }
  if (options_.follower) {
    return Status::FailedPrecondition(std::string(what) +
                                      ": the database is open as a follower (Options::follower); "
                                      "only the process that has it open for writing changes it");
  }
  return Status::Ok();
}

Status DbImpl::CheckChangeable(std::string_view what) const {
  CANOPY_RETURN_IF_ERROR(CheckWritable(what));
  if (!replica_of_.empty() && !log_) {
    return Status::FailedPrecondition(
        std::string(what) + ": this database is a replica of the log in etcd under prefix '" +
        replica_of_ + "'; a change made without etcd would fork it from the log (the other "
        "replicas would never see it, and it could never follow the log again): open it with "
        "the log's endpoints (canopy --etcd URLS --prefix " + replica_of_ +
        ", ReplicationOptions) to change it; without them it can be read, exported, backed up "
        "and checkpointed");
  }
  return Status::Ok();
}

namespace {
// Counts one (in *n, when not null) for as long as it lives.
class Counted {
 public:
  explicit Counted(std::atomic<int>* n) : n_(n) {
    if (n_ != nullptr) n_->fetch_add(1);
  }
  ~Counted() {
    if (n_ != nullptr) n_->fetch_sub(1);
  }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;

 private:
  std::atomic<int>* n_;
};
}  // namespace

Status DbImpl::Mutate(const Actor& actor, std::string_view operation,
                      const std::function<Status(Txn*)>& build) {
  std::shared_lock<std::shared_mutex> open;
  CANOPY_RETURN_IF_ERROR(HoldOpen(&open));
  CANOPY_RETURN_IF_ERROR(RefuseReentry(operation));
  WriteTries tries;
  if (log_) tries.turn_waited_us = log_->TurnWaitedMicros();
  for (;;) {
    uint64_t committed = 0, ticket = 0;
    {
      // On a replica, counted as building until it has staged (or failed),
      // whatever way MutateLocked ends.
      const Counted building(log_ ? &staging_ : nullptr);
      writers_queued_.fetch_add(1);
      std::unique_lock<WriterMutex> w(write_mu_);
      writers_queued_.fetch_sub(1);
      Status s = MutateLocked(actor, operation, build, &tries, &committed, &ticket);
      if (!s.ok()) return s;
    }
    if (ticket != 0) {
      // A replica's write: acknowledged once its group is in etcd and
      // written here; built again when the group lost the race.
      bool lost = false;
      Status s = WaitSettled(ticket, &lost);
      if (!s.ok() || !lost) return s;
      CANOPY_RETURN_IF_ERROR(AfterLostRace(&tries));
      ++tries.attempt;
      continue;
    }
    if (committed == 0) return Status::Ok();
    // A durable mutation: visible (and acknowledged) once its group is synced.
    return WaitPublished(committed);
  }
}

Status DbImpl::MutateLocked(const Actor& actor, std::string_view operation,
                            const std::function<Status(Txn*)>& build, WriteTries* tries,
                            uint64_t* deferred, uint64_t* ticket) {
  *deferred = 0;
  *ticket = 0;
  // On a replica, the writer's reads see the writes staged before it.
  storage::Store::Overlay::Scope staged(log_ ? overlay_.get() : nullptr);
  // A replica that loses the race for the next revision to another one
  // catches up and authorises and builds the change again on the new state.
  for (;; ++tries->attempt) {
    CANOPY_RETURN_IF_ERROR(CheckChangeable(operation));
    const query::Catalog& catalog = cat();
    Txn txn(catalog, max_call_bytes_);
    txn.operation = std::string(operation);
    storage::LogEntry entry;
    Status built;
    try {
      built = build(&txn);
      // A mutation's checks refuse an unknown or disabled actor where they
      // first ask what it holds (docs/model.md, "The actor of a call"); one
      // that asked nothing (nothing to change, nothing checked) must not
      // succeed for it either: NotFound / PermissionDenied as there.
      if (built.ok()) {
        const query::UserNode* who = nullptr;
        built = query::ResolveActor(catalog, actor, &who);
      }
      if (built.ok()) txn.counts.Emit(&txn.changes);
      // Every mutation's change set becomes one log entry: refused here,
      // before anything is written, when it could not be stored as one.
      if (built.ok()) {
        // Its other strings (operation, login, lineage) are short, within
        // the bound's slack; the arguments carry a batch's whole list.
        built = storage::LogEntryFits(txn.changes, operation, txn.arguments.size(),
                                      max_call_bytes_);
      }
    } catch (const CallTooLarge& e) {
      built = e.status();
    } catch (const std::exception& e) {
      return Status::Internal(std::string("mutation failed before writing: ") + e.what());
    }
    // A refusal, or nothing to change, decided on staged writes stands only
    // once they are in etcd: settle them first, and decide again if they
    // were taken back.
    if (log_ && !staged_.empty() && (!built.ok() || txn.changes.empty())) {
      bool taken_back = false;
      Status failed;
      CANOPY_RETURN_IF_ERROR(SettleLocked(&taken_back, &failed));
      if (!failed.ok()) return failed;  // etcd failed them: this one with them
      if (taken_back) {
        CANOPY_RETURN_IF_ERROR(AfterLostRace(tries));
        continue;
      }
    }
    if (!built.ok()) {
      // A replica behind etcd decides again on the newest state; without
      // etcd, the refusal stands on the state it has.
      bool caught_up = false;
      if (log_ && tries->attempt < MaxWriteAttempts() && CatchUpIfBehind(&caught_up).ok() &&
          caught_up) {
        continue;
      }
      return built;
    }
    if (txn.changes.empty()) {
      // Nothing to change (a move to the current parent, a setting already
      // set...): no revision; the caller's token is the latest one, which
      // it waits for (it may still be in a group waiting for its sync).
      NoteCommitted(revision_.load());
      if (published_.load() < revision_.load()) *deferred = revision_.load();
      return Status::Ok();
    }
    entry.time_us = NowMicros();
    entry.operation = std::move(txn.operation);
    entry.arguments = std::move(txn.arguments);
    entry.changes = std::move(txn.changes);
    // Mutations check their actor first, so an unknown actor never gets here.
    const query::UserNode* u = nullptr;
    if (query::ResolveActor(catalog, actor, &u).ok() && u != nullptr) {
      entry.actor_user = u->id;
      entry.actor_login = u->login;
    }
    if (log_) return StageLocked(&entry, ticket, &tries->entry_bytes);
    // With sync on, the group's leader syncs and publishes (WaitPublished).
    CANOPY_RETURN_IF_ERROR(Commit(&entry, /*replayed=*/false, /*defer=*/options_.sync));
    if (options_.sync) *deferred = entry.revision;
    return Status::Ok();
  }
}

Status DbImpl::WriteChangeSet(const storage::ChangeSet& changes, storage::BatchSink* sink) const {
  using storage::RecordType;
  // Accounts relabelled by this change set (moves): their labels after.
  std::unordered_map<AccountId, std::string> relabelled;
  std::unordered_set<AccountId> deleted;
  for (const auto& r : changes.records) {
    if (r.type != RecordType::kAccount) continue;
    const AccountId id = storage::DecodeFixed64BE(r.key.data());
    if (r.after.empty()) deleted.insert(id);
    if (!r.before.empty() && !r.after.empty() && r.before_scope != r.after_scope) {
      relabelled.emplace(id, r.after_scope);
    }
  }
  auto label_after = [&](AccountId id) -> std::string {
    auto it = relabelled.find(id);
    if (it != relabelled.end()) return it->second;
    const query::AccountNode* n = cat().account(id);
    return n != nullptr ? n->label : std::string();
  };
  // Records are read in their decoded form (the change set carries it:
  // Txn sets it, DecodeRecords fills it for an entry read back).
  for (const auto& r : changes.records) {
    switch (r.type) {
      case RecordType::kAccount: {
        const auto* b = std::get_if<storage::AccountRecord>(&r.before_record);
        const auto* a = std::get_if<storage::AccountRecord>(&r.after_record);
        if (b == nullptr && a == nullptr) return Status::Corruption("change set: empty account change");
        storage::WriteAccount(*sink, b, a, r.after);
        // A relabelled account whose parent keeps its label is the root of
        // a moved subtree: its whole index range moves (once, for all the
        // subtree's accounts).
        if (b != nullptr && a != nullptr && b->label != a->label &&
            !relabelled.count(a->account.parent)) {
          const query::AccountNode* n = cat().account(a->account.id);
          uint32_t kinds = 0;
          for (EntityKind k : kAllEntityKinds) {
            if (n == nullptr || n->count(k).subtree != 0) kinds |= 1u << static_cast<int>(k);
          }
          CANOPY_RETURN_IF_ERROR(
              storage::MoveIndexRange(*store_, *sink, b->label, a->label, kinds));
        }
        break;
      }
      case RecordType::kEntity: {
        const auto* b = std::get_if<Entity>(&r.before_record);
        const auto* a = std::get_if<Entity>(&r.after_record);
        if (b == nullptr && a == nullptr) return Status::Corruption("change set: empty entity change");
        std::string bl, al;
        if (b != nullptr) {
          const query::AccountNode* o = cat().account(b->owner);
          if (o == nullptr) {
            return Status::Corruption("change set: entity " + std::to_string(b->id) +
                                      " of account " + std::to_string(b->owner) +
                                      ", which this database does not have");
          }
          bl = o->label;
        }
        if (a != nullptr) {
          al = label_after(a->owner);
          if (al.empty()) {
            return Status::Corruption("change set: entity " + std::to_string(a->id) +
                                      " of account " + std::to_string(a->owner) +
                                      ", which this database does not have");
          }
        }
        storage::WriteEntity(*sink, b, bl, a, al, r.after);
        break;
      }
      case RecordType::kUser:
        storage::WriteUser(*sink, std::get_if<User>(&r.before_record),
                           std::get_if<User>(&r.after_record), r.after);
        break;
      case RecordType::kMembership:
        storage::WriteMembership(*sink, std::get_if<Membership>(&r.before_record),
                                 std::get_if<Membership>(&r.after_record), r.after);
        break;
      case RecordType::kRole:
        storage::WriteRole(*sink, std::get_if<Role>(&r.before_record),
                           std::get_if<Role>(&r.after_record), r.after);
        break;
      case RecordType::kMeta:
        if (r.after.size() != 8) return Status::Corruption("change set: damaged meta value");
        sink->Put(storage::kMeta, r.key, r.after);
        break;
      case RecordType::kGroup:
        storage::WriteGroup(*sink, std::get_if<Group>(&r.before_record),
                            std::get_if<Group>(&r.after_record), r.after);
        break;
      case RecordType::kGroupMember:
        storage::WriteGroupMember(*sink, std::get_if<storage::GroupMemberRecord>(&r.before_record),
                                  std::get_if<storage::GroupMemberRecord>(&r.after_record),
                                  r.after);
        break;
      case RecordType::kGroupGrant:
        storage::WriteGroupGrant(*sink, std::get_if<GroupGrant>(&r.before_record),
                                 std::get_if<GroupGrant>(&r.after_record), r.after);
        break;
      case RecordType::kGroupMembers: {
        const auto* a = std::get_if<storage::GroupMembersRecord>(&r.after_record);
        if (a == nullptr) return Status::Corruption("change set: empty group members change");
        storage::WriteGroupMembers(*sink, *a);
        break;
      }
    }
  }
  for (const auto& c : changes.counters) {
    if (deleted.count(c.account)) continue;
    storage::WriteCount(*sink, c.account, c.counter, c.delta);
  }
  return Status::Ok();
}

Status DbImpl::CheckViewer(const Actor& viewer) const {
  const query::UserNode* u = nullptr;
  return query::ResolveActor(cat(), viewer, &u, "viewer");
}

Status DbImpl::RequireAccount(AccountId id, std::string_view what,
                              const query::AccountNode** out) const {
  *out = cat().account(id);
  if (*out == nullptr) {
    return Status::NotFound(std::string(what) + ": no account with id " + std::to_string(id));
  }
  return Status::Ok();
}

Status DbImpl::RequireAccount(const Actor& actor, AccountId id, std::string_view what,
                              const query::AccountNode** out) const {
  Status s = RequireAccount(id, what, out);
  if (s.ok() && !query::SeesAccount(cat(), actor, **out)) {
    *out = nullptr;
    return Status::NotFound(std::string(what) + ": no account with id " + std::to_string(id));
  }
  return s;
}

Status DbImpl::RequireUser(const Actor& actor, UserId id, const query::UserNode** out) const {
  *out = cat().user(id);
  if (*out == nullptr || !query::SeesUser(cat(), actor, **out)) {
    *out = nullptr;
    return Status::NotFound("no user with id " + std::to_string(id));
  }
  return Status::Ok();
}

Status DbImpl::RequireRole(const Actor& actor, RoleId id, const query::RoleNode** out) const {
  *out = cat().role(id);
  if (*out != nullptr && !query::SeesRole(cat(), actor, **out)) *out = nullptr;
  if (*out == nullptr) return Status::NotFound("no role with id " + std::to_string(id));
  return Status::Ok();
}

Status DbImpl::LoadAccountRecord(AccountId id, storage::AccountRecord* r) const {
  std::string bytes;
  Status s = store_->Get(storage::kAccounts, storage::IdKey(id), &bytes, snap());
  if (s.IsNotFound()) return Status::NotFound("no account with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(s);
  return storage::DecodeAccount(bytes, r);
}

Status DbImpl::LoadEntity(EntityId id, Entity* e) const {
  std::string bytes;
  Status s = store_->Get(storage::kEntities, storage::IdKey(id), &bytes, snap());
  if (s.IsNotFound()) return Status::NotFound("no entity with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(s);
  return storage::DecodeEntity(bytes, e);
}

Status DbImpl::LoadEntity(EntityId id, Entity* e, const Actor& actor) const {
  CANOPY_RETURN_IF_ERROR(LoadEntity(id, e));
  const query::AccountNode* owner = cat().account(e->owner);
  bool sees = true;
  if (owner != nullptr) CANOPY_RETURN_IF_ERROR(SeesEntityOrGroup(actor, e->kind, id, *owner, &sees));
  if (!sees) {
    *e = Entity();
    return Status::NotFound("no entity with id " + std::to_string(id));
  }
  return Status::Ok();
}

Status DbImpl::LoadUser(UserId id, User* u) const {
  std::string bytes;
  Status s = store_->Get(storage::kUsers, storage::IdKey(id), &bytes, snap());
  if (s.IsNotFound()) return Status::NotFound("no user with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(s);
  return storage::DecodeUser(bytes, u);
}

Status DbImpl::LoadMembership(UserId user, AccountId account, Membership* m) const {
  std::string bytes;
  Status s = store_->Get(storage::kMemberships, storage::PairKey(user, account), &bytes, snap());
  if (s.IsNotFound()) {
    return Status::NotFound("no membership of user " + std::to_string(user) + " on account " +
                            std::to_string(account));
  }
  CANOPY_RETURN_IF_ERROR(s);
  CANOPY_RETURN_IF_ERROR(storage::DecodeMembership(bytes, m));
  m->user = user;
  m->account = account;
  return Status::Ok();
}

Status DbImpl::LoadRole(RoleId id, Role* r) const {
  std::string bytes;
  Status s = store_->Get(storage::kRoles, storage::IdKey(id), &bytes, snap());
  if (s.IsNotFound()) return Status::NotFound("no role with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(s);
  return storage::DecodeRole(bytes, r);
}

Status EntityNotFound(EntityKind kind, std::string_view key) {
  return Status::NotFound(std::string("no ") + EntityKindName(kind) + " with key '" +
                          std::string(key) + "'");
}

Status AccountKeyNotFound(std::string_view key) {
  return Status::NotFound("no account with key '" + std::string(key) + "'");
}

Status DbImpl::LookupEntityKey(EntityKind kind, std::string_view key, EntityId* id,
                               AccountId* owner) const {
  std::string v;
  Status s = store_->Get(storage::kEntityKeys,
                         storage::EntityKeyKey(static_cast<uint8_t>(kind), key), &v, snap());
  if (s.IsNotFound()) return EntityNotFound(kind, key);
  CANOPY_RETURN_IF_ERROR(s);
  uint64_t entity = 0;
  uint64_t owned_by = 0;
  if (!storage::DecodeEntityKeyValue(v, &entity, &owned_by)) {
    return Status::Corruption("entity key index entry for '" + std::string(key) + "' is damaged");
  }
  *id = entity;
  *owner = owned_by;
  return Status::Ok();
}

}  // namespace engine
}  // namespace canopy
