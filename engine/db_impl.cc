// Copyright (c) Canopy authors.
//
// Open/close, the mutation protocol (Mutate) and the record helpers shared
// by the engine's files.

#include "engine/db_impl.h"

#include <chrono>
#include <random>

#include "storage/counters.h"
#include "storage/keys.h"
#include "storage/records.h"

namespace canopy {

Status Db::Open(const Options& options, std::string_view path, std::unique_ptr<Db>* db) {
  if (db == nullptr) return Status::InvalidArgument("Db::Open: db is null");
  db->reset();
  try {
    if (path.empty()) return Status::InvalidArgument("database path is empty");
    if (options.max_depth < 1 || options.max_depth > 255) {
      return Status::InvalidArgument("max_depth must be 1..255, not " +
                                     std::to_string(options.max_depth));
    }
    if (options.max_open_cursors == 0) {
      return Status::InvalidArgument("max_open_cursors must be at least 1");
    }
    storage::StoreOptions so;
    so.create_if_missing = options.create_if_missing;
    so.error_if_exists = options.error_if_exists;
    so.block_cache_bytes = options.block_cache_bytes;
    so.max_depth = options.max_depth;
    std::unique_ptr<storage::Store> store;
    CANOPY_RETURN_IF_ERROR(storage::Store::Open(so, std::string(path), &store));
    auto impl = std::make_unique<engine::DbImpl>(options, std::move(store));
    CANOPY_RETURN_IF_ERROR(impl->Init());
    *db = std::move(impl);
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("Db::Open: ") + e.what());
  }
}

namespace engine {

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

void CountDeltas::Emit(const storage::Store& store, Txn* txn) const {
  for (const auto& [k, d] : deltas_) {
    const uint8_t kind = k.second;
    if (d.direct != 0) {
      txn->batch.Merge(store.cf(storage::kCounters), storage::CounterKey(k.first, kind),
                       storage::CounterValue(d.direct));
    }
    if (d.subtree != 0) {
      txn->batch.Merge(store.cf(storage::kCounters),
                       storage::CounterKey(k.first, kind | storage::kCounterSubtreeBit),
                       storage::CounterValue(d.subtree));
    }
  }
  auto deltas = deltas_;
  txn->apply.push_back([deltas](query::Catalog& c) {
    for (const auto& [k, d] : deltas) {
      query::AccountNode* n = c.mutable_account(k.first);
      if (n == nullptr) continue;  // deleted by the same mutation
      auto& counts = n->count(static_cast<EntityKind>(k.second));
      counts.direct += d.direct;
      counts.subtree += d.subtree;
    }
  });
}

DbImpl::DbImpl(const Options& options, std::unique_ptr<storage::Store> store)
    : options_(options),
      store_(std::move(store)),
      instance_id_(RandomInstanceId()),
      views_(options.cursor_ttl_seconds, options.max_open_cursors) {}

DbImpl::~DbImpl() { (void)Close(); }

Status DbImpl::Init() {
  std::lock_guard<std::mutex> w(write_mu_);
  WriteLock l(catalog_mu_);
  return catalog_.Load(*store_);
}

Status DbImpl::Close() {
  std::unique_lock<std::shared_mutex> open(close_mu_);
  std::lock_guard<std::mutex> w(write_mu_);
  WriteLock l(catalog_mu_);
  if (closed_) return Status::Ok();
  if (int64_t n = open_iterators_.load(); n > 0) {
    return Status::FailedPrecondition(std::to_string(n) +
                                      " visible iterator(s) still open; destroy them before Close");
  }
  closed_ = true;
  views_.Clear();  // releases the cursors' snapshots before RocksDB closes
  return store_->Close();
}

Status DbImpl::CheckOpen() const {
  if (closed_) return Status::FailedPrecondition("the database is closed");
  if (!poisoned_.ok()) return poisoned_;
  return Status::Ok();
}

Status DbImpl::Mutate(const std::function<Status(Txn*)>& build) {
  std::shared_lock<std::shared_mutex> open(close_mu_);
  std::lock_guard<std::mutex> w(write_mu_);
  CANOPY_RETURN_IF_ERROR(CheckOpen());
  Txn txn;
  try {
    CANOPY_RETURN_IF_ERROR(build(&txn));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("mutation failed before writing: ") + e.what());
  }
  if (txn.batch.Count() == 0 && txn.apply.empty()) return Status::Ok();
  {
    WriteLock l(catalog_mu_);
    CANOPY_RETURN_IF_ERROR(store_->Write(&txn.batch));
    try {
      for (auto& f : txn.apply) f(catalog_);
    } catch (const std::exception& e) {
      // The batch is written but memory may not match it: refuse further
      // work until the database is reopened (which reloads the catalog).
      poisoned_ = Status::Internal(std::string("in-memory state lost after a write (") +
                                   e.what() + "); close and reopen the database");
      return poisoned_;
    }
  }
  if (options_.sync) return SyncOrPoison();
  return Status::Ok();
}

Status DbImpl::SyncOrPoison() {
  Status s = store_->SyncWal();
  if (s.ok()) return s;
  // The mutation is applied (and visible) but may not survive a power
  // loss, and after a failed fsync the file system's state is unknown:
  // refuse further work until the database is reopened.
  WriteLock l(catalog_mu_);
  poisoned_ = Status::IOError("syncing the write-ahead log failed (" + s.message() +
                              "); the last change is applied but may not be durable; close "
                              "and reopen the database");
  return poisoned_;
}

Status DbImpl::RequireAccount(AccountId id, std::string_view what,
                              const query::AccountNode** out) const {
  *out = catalog_.account(id);
  if (*out == nullptr) {
    return Status::NotFound(std::string(what) + ": no account with id " + std::to_string(id));
  }
  return Status::Ok();
}

Status DbImpl::LoadAccountRecord(AccountId id, storage::AccountRecord* r) const {
  std::string bytes;
  Status s = store_->Get(storage::kAccounts, storage::IdKey(id), &bytes);
  if (s.IsNotFound()) return Status::NotFound("no account with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(s);
  return storage::DecodeAccount(bytes, r);
}

Status DbImpl::LoadEntity(EntityId id, Entity* e) const {
  std::string bytes;
  Status s = store_->Get(storage::kEntities, storage::IdKey(id), &bytes);
  if (s.IsNotFound()) return Status::NotFound("no entity with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(s);
  return storage::DecodeEntity(bytes, e);
}

Status DbImpl::LoadUser(UserId id, User* u) const {
  std::string bytes;
  Status s = store_->Get(storage::kUsers, storage::IdKey(id), &bytes);
  if (s.IsNotFound()) return Status::NotFound("no user with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(s);
  return storage::DecodeUser(bytes, u);
}

Status DbImpl::LookupEntityKey(EntityKind kind, std::string_view key, EntityId* id,
                               AccountId* owner) const {
  std::string v;
  Status s = store_->Get(storage::kEntityKeys,
                         storage::EntityKeyKey(static_cast<uint8_t>(kind), key), &v);
  if (s.IsNotFound()) {
    return Status::NotFound(std::string("no ") + EntityKindName(kind) + " with key '" +
                            std::string(key) + "'");
  }
  CANOPY_RETURN_IF_ERROR(s);
  if (!storage::DecodeEntityKeyValue(v, id, owner)) {
    return Status::Corruption("entity key index entry for '" + std::string(key) + "' is damaged");
  }
  return Status::Ok();
}

}  // namespace engine
}  // namespace canopy
