// Copyright (c) Canopy authors.
//
// CheckIntegrity: verifies every invariant of the stored state from
// scratch, and that the in-memory catalog equals a fresh load of it.
//
// Online: it takes no lock a writer takes. It checks one published state:
// the catalog copy a ReadScope pins and the RocksDB snapshot of exactly that
// state. It copies the pinned catalog and lets go of the pin at once (a pin
// held longer would hold up the writer's next publication, and loading a
// catalog from a snapshot under a write load can take long: counter merges
// pile up), then loads a fresh catalog from the snapshot, compares the copy
// with it, and checks everything else on the snapshot alone, writes going
// on meanwhile.
//
// Fast: the entity indexes are not checked by a point lookup per entity.
// The entity records are scanned (in chunks of ids, by the calling thread
// and a second one) adding up (mod 2^64) a hash of every index entry each
// record implies; the second thread first adds up the hashes of the entries
// the three index key spaces hold. Equal sums and counts: each index holds
// exactly the implied entries. Otherwise the precise pass (point lookups,
// both ways) names each missing or stale entry and each entry that belongs
// to no entity, for the indexes that differ.

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <tuple>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "engine/db_impl.h"
#include "query/access.h"
#include <xxhash.h>

#include "storage/changes.h"
#include "storage/counters.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/records.h"

namespace canopy::engine {

namespace {

constexpr size_t kMaxProblems = 1000;
constexpr uint64_t kProgressEvery = 65536;  // entities between progress calls

class Problems {
 public:
  explicit Problems(std::vector<std::string>* out) : out_(out) {}
  void Add(std::string p) {
    ++count_;
    if (out_ != nullptr && out_->size() < kMaxProblems) out_->push_back(std::move(p));
  }
  // Counts problems found but not listed (beyond a part's own limit).
  void AddUnlisted(size_t n) { count_ += n; }
  size_t count() const { return count_; }

 private:
  std::vector<std::string>* out_;
  size_t count_ = 0;
};

// Calls fn(key, value) for every entry of `cf` in the snapshot `at` (from
// `lower` up to `upper`, exclusive; empty: unbounded). fn may return bool:
// false stops the scan.
template <typename Fn>
Status Scan(const storage::Store& store, const rocksdb::Snapshot* at, int cf, Fn&& fn,
            std::string lower = "", std::string upper = "") {
  auto it = store.NewIterator(cf, at, std::move(lower), std::move(upper), false);
  for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
    rocksdb::Slice k = (*it)->key();
    rocksdb::Slice v = (*it)->value();
    std::string_view key(k.data(), k.size()), value(v.data(), v.size());
    if constexpr (std::is_same_v<decltype(fn(key, value)), bool>) {
      if (!fn(key, value)) break;
    } else {
      fn(key, value);
    }
  }
  return storage::FromRocks((*it)->status(), std::string("check ") + storage::CfName(cf));
}

std::string Id(uint64_t id) { return std::to_string(id); }

// What every part of the check reads: the snapshot, and the catalog freshly
// loaded from it.
struct Checked {
  const storage::Store& store;
  const rocksdb::Snapshot* at;
  const query::Catalog& fresh;
  Problems& problems;
};

// ---- Memory against the stored state (while the copy is pinned) ----------

// ---- Accounts: labels, depth, parent links, key index ---------------------

Status CheckAccounts(const Checked& c) {
  const query::Catalog& fresh = c.fresh;
  for (const auto& [id, a] : fresh.accounts) {
    std::vector<uint64_t> ords;
    if (!storage::DecodeLabel(a.label, &ords)) {
      c.problems.Add("account " + Id(id) + " has a malformed label");
      continue;
    }
    if (ords.size() != a.depth) {
      c.problems.Add("account " + Id(id) + " has depth " + Id(a.depth) + " but a label of " +
                     Id(ords.size()) + " levels");
    }
    if (a.depth > fresh.max_depth) c.problems.Add("account " + Id(id) + " is deeper than the limit");
    if (a.parent == kNoId) {
      if (ords.size() != 1 || ords[0] >= fresh.next_root_ordinal) {
        c.problems.Add("root account " + Id(id) + " has a label not issued to a root");
      }
    } else {
      const query::AccountNode* p = fresh.account(a.parent);
      std::vector<uint64_t> pords;
      if (p == nullptr || !storage::DecodeLabel(p->label, &pords) ||
          pords.size() + 1 != ords.size() ||
          !storage::IsProperAncestorLabel(p->label, a.label) ||
          ords.back() >= p->next_child_ordinal) {
        c.problems.Add("account " + Id(id) + " has a label that is not its parent's plus one "
                       "issued ordinal");
      }
    }
    std::string v;
    Status s = c.store.Get(storage::kAccountKeys, a.key, &v, c.at);
    if (!s.ok() || v != storage::IdKey(id)) {
      c.problems.Add("account key '" + a.key + "' does not point at account " + Id(id));
    }
    if (id > fresh.last_account_id) c.problems.Add("account id " + Id(id) + " beyond the sequence");
  }
  size_t key_entries = 0;
  CANOPY_RETURN_IF_ERROR(
      Scan(c.store, c.at, storage::kAccountKeys, [&](auto, auto) { ++key_entries; }));
  if (key_entries != fresh.accounts.size()) {
    c.problems.Add("account key index has " + Id(key_entries) + " entries for " +
                   Id(fresh.accounts.size()) + " accounts");
  }
  return Status::Ok();
}

// ---- Entities and their three indexes --------------------------------------

// The three indexes an entity record implies entries in.
enum IndexSpace { kVisibilityIndex = 0, kKeyIndex, kUnitIdIndex, kIndexSpaces };
constexpr int kIndexCf[kIndexSpaces] = {storage::kVisibility, storage::kEntityKeys,
                                        storage::kUnitIds};
const char* const kIndexName[kIndexSpaces] = {"visibility index", "key index", "unit id index"};

// The index entries one entity record implies. The visibility entry needs
// the owner's label: none when the owner is missing (reported apart).
struct Implied {
  bool has[kIndexSpaces] = {};
  std::string key[kIndexSpaces];
  std::string value[kIndexSpaces];
};

void Imply(const Entity& e, const query::AccountNode* owner, Implied* out) {
  const uint8_t kind = static_cast<uint8_t>(e.kind);
  out->has[kVisibilityIndex] = owner != nullptr;
  if (owner != nullptr) {
    out->key[kVisibilityIndex] = storage::IndexKey(kind, owner->label, e.id);
    storage::EncodeIndexValue(&out->value[kVisibilityIndex], e.owner, e.key, e.name, e.type);
  }
  out->has[kKeyIndex] = true;
  out->key[kKeyIndex] = storage::EntityKeyKey(kind, e.key);
  out->value[kKeyIndex] = storage::EntityKeyValue(e.id, e.owner);
  out->has[kUnitIdIndex] = !e.unit_id.empty();
  if (!e.unit_id.empty()) {
    out->key[kUnitIdIndex] = e.unit_id;
    out->value[kUnitIdIndex] = storage::IdKey(e.id);
  }
}

// An order-independent hash of a multiset of index entries, per index:
// the sum (mod 2^64) of one 64-bit hash per entry, and the entry count.
struct IndexSums {
  uint64_t sum[kIndexSpaces] = {};
  uint64_t count[kIndexSpaces] = {};

  void Add(int space, std::string_view key, std::string_view value) {
    sum[space] += XXH3_64bits_withSeed(value.data(), value.size(),
                                       XXH3_64bits(key.data(), key.size()));
    ++count[space];
  }
  bool Matches(const IndexSums& o, int space) const {
    return sum[space] == o.sum[space] && count[space] == o.count[space];
  }
};

// Sums what the three index key spaces hold; stops early once *stop is set.
Status SumIndexes(const storage::Store& store, const rocksdb::Snapshot* at,
                  const std::atomic<bool>& stop, IndexSums* out) {
  for (int space = 0; space < kIndexSpaces; ++space) {
    uint64_t n = 0;
    CANOPY_RETURN_IF_ERROR(Scan(store, at, kIndexCf[space], [&](auto k, auto v) {
      out->Add(space, k, v);
      return (++n % 4096 != 0) || !stop.load(std::memory_order_relaxed);
    }));
    if (stop.load(std::memory_order_relaxed)) break;
  }
  return Status::Ok();
}

// Reports progress (entities done / total) every kProgressEvery entities;
// the callback may cancel.
class Ticker {
 public:
  Ticker(const ProgressFn& fn, uint64_t total) : fn_(fn), total_(total) {}
  // Reports when `done` is a multiple of kProgressEvery; false once
  // cancelled.
  bool Tick(uint64_t done) { return done % kProgressEvery != 0 ? !cancelled_ : Report(done); }
  // Reports `done` now; false once cancelled.
  bool Report(uint64_t done) {
    if (fn_ && !cancelled_ && !fn_(done, std::max<uint64_t>(done, total_))) cancelled_ = true;
    return !cancelled_;
  }
  bool cancelled() const { return cancelled_; }

 private:
  const ProgressFn& fn_;
  uint64_t total_;
  bool cancelled_ = false;
};

// The accounts by id, for the per-entity lookups: a table indexed by id
// (ids come from a sequence, so they are dense), the catalog beyond it.
class AccountTable {
 public:
  explicit AccountTable(const query::Catalog& c) : c_(c) {
    const uint64_t n = std::min<uint64_t>(c.last_account_id, 4 * c.accounts.size() + 1024);
    nodes_.assign(n + 1, nullptr);
    for (const auto& [id, a] : c.accounts) {
      if (id < nodes_.size()) nodes_[id] = &a;
    }
  }
  const query::AccountNode* Find(AccountId id) const {
    return id < nodes_.size() ? nodes_[id] : c_.account(id);
  }
  uint64_t size() const { return nodes_.size(); }

 private:
  const query::Catalog& c_;
  std::vector<const query::AccountNode*> nodes_;
};

// Entities owned directly, per account and kind: a table for the ids of an
// AccountTable, a map beyond.
class DirectCounts {
 public:
  explicit DirectCounts(uint64_t ids) : ids_(ids), table_(ids * kSlots, 0) {}
  void Add(AccountId id, EntityKind kind, int64_t n = 1) {
    if (id < ids_) {
      table_[id * kSlots + static_cast<uint64_t>(kind)] += n;
    } else {
      beyond_[{id, kind}] += n;
    }
  }
  int64_t Get(AccountId id, EntityKind kind) const {
    if (id < ids_) return table_[id * kSlots + static_cast<uint64_t>(kind)];
    auto it = beyond_.find({id, kind});
    return it == beyond_.end() ? 0 : it->second;
  }
  // Adds `o`'s counts (of a table as large).
  void Merge(const DirectCounts& o) {
    for (size_t i = 0; i < table_.size() && i < o.table_.size(); ++i) table_[i] += o.table_[i];
    for (const auto& [slot, n] : o.beyond_) beyond_[slot] += n;
  }

 private:
  static constexpr uint64_t kSlots = 5;  // EntityKind 1..4
  uint64_t ids_;
  std::vector<int64_t> table_;
  std::map<std::pair<AccountId, EntityKind>, int64_t> beyond_;
};

// The hash pass over the entity records, shared by two threads: the key
// space is cut into chunks of entity ids, handed out in order; each thread
// checks whole chunks into its own EntityShare.
struct EntityPass {
  static constexpr uint64_t kChunkIds = 65536;   // ids per chunk, at least
  static constexpr uint64_t kMaxChunks = 4096;   // (a damaged sequence stays cheap)
  static constexpr uint64_t kBatch = 256;  // entities between reports to `done`

  EntityPass(const Checked& checked, const AccountTable& table)
      : c(checked),
        accounts(table),
        chunk_ids(std::max(kChunkIds, checked.fresh.last_entity_id / kMaxChunks + 1)),
        chunks(checked.fresh.last_entity_id / chunk_ids + 1) {}
  // Chunk i's keys; the first and last are unbounded (every key is in one).
  std::string Lower(uint64_t i) const { return i == 0 ? "" : storage::IdKey(i * chunk_ids); }
  std::string Upper(uint64_t i) const {
    return i + 1 == chunks ? "" : storage::IdKey((i + 1) * chunk_ids);
  }

  const Checked& c;
  const AccountTable& accounts;
  const uint64_t chunk_ids;
  const uint64_t chunks;
  std::atomic<uint64_t> next_chunk{0};
  std::atomic<uint64_t> done{0};  // entities checked, by both threads
  std::atomic<bool> stop{false};  // cancelled or failed
};

struct EntityShare {
  explicit EntityShare(uint64_t ids) : direct(ids) {}
  IndexSums implied;
  DirectCounts direct;
  uint64_t entities = 0;
  // Problems found, with their chunk (listed in chunk order once merged).
  std::vector<std::pair<uint64_t, std::string>> problems;
  size_t unlisted = 0;
  Status status;

  void Problem(uint64_t chunk, std::string p) {
    if (problems.size() < kMaxProblems) {
      problems.emplace_back(chunk, std::move(p));
    } else {
      ++unlisted;
    }
  }
};

// Checks chunks of `pass` into `share` until none is left or the pass
// stops; calls `batch_done` after every kBatch entities (false: stop).
template <typename BatchDone>
void CheckEntityChunks(EntityPass& pass, EntityShare* share, BatchDone&& batch_done) {
  const query::Catalog& fresh = pass.c.fresh;
  Entity e;
  Implied implied;
  uint64_t batch = 0;
  while (!pass.stop.load(std::memory_order_relaxed)) {
    const uint64_t chunk = pass.next_chunk.fetch_add(1);
    if (chunk >= pass.chunks) break;
    share->status = Scan(
        pass.c.store, pass.c.at, storage::kEntities,
        [&](auto k, auto v) {
          if (++batch == EntityPass::kBatch) {
            pass.done.fetch_add(batch, std::memory_order_relaxed);
            batch = 0;
            if (!batch_done() || pass.stop.load(std::memory_order_relaxed)) return false;
          }
          ++share->entities;
          Status s = storage::DecodeEntity(v, &e);
          if (!s.ok()) {
            share->Problem(chunk, s.message());
            return true;
          }
          if (k != storage::IdKey(e.id)) {
            share->Problem(chunk, "entity record key differs from id " + Id(e.id));
          }
          if (e.id > fresh.last_entity_id) {
            share->Problem(chunk, "entity id " + Id(e.id) + " beyond the sequence");
          }
          const query::AccountNode* owner = pass.accounts.Find(e.owner);
          if (owner == nullptr) {
            share->Problem(chunk,
                           "entity " + Id(e.id) + " is owned by missing account " + Id(e.owner));
          } else {
            share->direct.Add(e.owner, e.kind);
          }
          Imply(e, owner, &implied);
          for (int space = 0; space < kIndexSpaces; ++space) {
            if (implied.has[space]) {
              share->implied.Add(space, implied.key[space], implied.value[space]);
            }
          }
          return true;
        },
        pass.Lower(chunk), pass.Upper(chunk));
    if (!share->status.ok()) pass.stop = true;
  }
  pass.done.fetch_add(batch, std::memory_order_relaxed);
}

// The precise pass over the indexes whose sums differ (`redo`): every
// entity's implied entries looked up (missing or stale), then every entry
// of those indexes matched to the entity it names (belongs to no entity).
Status PreciseIndexPass(const Checked& c, const AccountTable& accounts,
                        const bool (&redo)[kIndexSpaces], Ticker* ticker) {
  Entity e;
  Implied implied;
  std::string got;
  uint64_t done = 0;
  CANOPY_RETURN_IF_ERROR(Scan(c.store, c.at, storage::kEntities, [&](auto, auto v) {
    if (!ticker->Tick(++done)) return false;
    if (!storage::DecodeEntity(v, &e).ok()) return true;  // reported by the first pass
    Imply(e, accounts.Find(e.owner), &implied);
    for (int space = 0; space < kIndexSpaces; ++space) {
      if (!redo[space] || !implied.has[space]) continue;
      Status s = c.store.Get(kIndexCf[space], implied.key[space], &got, c.at);
      if (!s.ok() || got != implied.value[space]) {
        c.problems.Add(std::string(kIndexName[space]) + " entry of entity " + Id(e.id) +
                       " is missing or stale");
      }
    }
    return true;
  }));
  if (ticker->cancelled()) return Status::Ok();

  std::unordered_set<std::string_view> labels;
  for (const auto& [id, a] : c.fresh.accounts) labels.insert(a.label);
  for (int space = 0; space < kIndexSpaces; ++space) {
    if (!redo[space]) continue;
    const std::string name = kIndexName[space];
    CANOPY_RETURN_IF_ERROR(Scan(c.store, c.at, kIndexCf[space], [&](auto k, auto v) {
      uint64_t eid = 0, owner = 0;
      if (space == kVisibilityIndex) {
        uint8_t kind;
        std::string_view label;
        if (!storage::DecodeIndexKey(k, &kind, &label, &eid)) {
          c.problems.Add("a visibility index key is damaged");
          return;
        }
        if (labels.count(label) == 0) {
          c.problems.Add("visibility index entry under no account's label (entity " + Id(eid) +
                         ")");
          return;
        }
      } else if (space == kKeyIndex) {
        if (!storage::DecodeEntityKeyValue(v, &eid, &owner)) {
          c.problems.Add("a key index value is damaged");
          return;
        }
      } else {
        if (v.size() != 8) {
          c.problems.Add("a unit id index value is damaged");
          return;
        }
        eid = storage::DecodeFixed64BE(v.data());
      }
      std::string record;
      Status s = c.store.Get(storage::kEntities, storage::IdKey(eid), &record, c.at);
      if (!s.ok() || !storage::DecodeEntity(record, &e).ok()) {
        c.problems.Add(name + " entry of entity " + Id(eid) +
                       " belongs to no entity: there is no entity " + Id(eid));
        return;
      }
      Imply(e, accounts.Find(e.owner), &implied);
      if (!implied.has[space] || implied.key[space] != k) {
        c.problems.Add(name + " entry of entity " + Id(eid) + " belongs to no entity: entity " +
                       Id(eid) +
                       (space == kVisibilityIndex ? " is owned elsewhere or of another kind"
                        : space == kKeyIndex      ? " has another kind or key"
                                                  : " has another unit id or none"));
      }
    }));
  }
  return Status::Ok();
}

// Entity records, the indexes against them (fast; precise where they
// differ), and the direct counts for the counters' check. This thread and
// a second one share the work: the second first sums what the index key
// spaces hold, then joins this one in the entity chunks; progress is
// reported (and may cancel) on this thread only.
Status CheckEntities(const Checked& c, const ProgressFn& progress, const AccountTable& accounts,
                     DirectCounts* direct, uint64_t* entities_out) {
  const query::Catalog& fresh = c.fresh;
  uint64_t total = 0;
  for (AccountId r : fresh.roots) {
    for (EntityKind k : kAllEntityKinds) total += fresh.account(r)->count(k).subtree;
  }
  Ticker ticker(progress, total);
  EntityPass pass(c, accounts);
  EntityShare mine(accounts.size()), theirs(accounts.size());
  IndexSums stored;
  Status stored_status;
  auto helper = [&] {
    stored_status = SumIndexes(c.store, c.at, pass.stop, &stored);
    if (!stored_status.ok()) pass.stop = true;
    CheckEntityChunks(pass, &theirs, [] { return true; });
  };
  std::thread second;
  try {
    second = std::thread(helper);
  } catch (const std::system_error&) {
  }
  // Progress is due each time the entities done by both threads pass a
  // multiple of kProgressEvery; reported here, so also once the other
  // thread has passed one last.
  uint64_t reported = 0;
  auto report = [&] {
    const uint64_t done = pass.done.load(std::memory_order_relaxed);
    if (done / kProgressEvery > reported / kProgressEvery) {
      reported = done;
      if (!ticker.Report(done)) pass.stop = true;
    }
    return !pass.stop.load(std::memory_order_relaxed);
  };
  CheckEntityChunks(pass, &mine, report);
  if (second.joinable()) {
    second.join();
  } else if (!pass.stop) {
    helper();  // no second thread: the index key spaces here, after the entities
  }
  if (!pass.stop) report();
  if (ticker.cancelled()) return Status::Aborted("integrity check cancelled");
  CANOPY_RETURN_IF_ERROR(mine.status);
  CANOPY_RETURN_IF_ERROR(theirs.status);
  CANOPY_RETURN_IF_ERROR(stored_status);

  // The two shares' problems in chunk (entity id) order, then their sums.
  std::vector<std::pair<uint64_t, std::string>> found = std::move(mine.problems);
  found.insert(found.end(), std::make_move_iterator(theirs.problems.begin()),
               std::make_move_iterator(theirs.problems.end()));
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [chunk, p] : found) c.problems.Add(std::move(p));
  c.problems.AddUnlisted(mine.unlisted + theirs.unlisted);
  IndexSums implied = mine.implied;
  for (int space = 0; space < kIndexSpaces; ++space) {
    implied.sum[space] += theirs.implied.sum[space];
    implied.count[space] += theirs.implied.count[space];
  }
  *direct = std::move(mine.direct);
  direct->Merge(theirs.direct);
  const uint64_t entities = mine.entities + theirs.entities;
  *entities_out = entities;

  if (stored.count[kVisibilityIndex] != entities) {
    c.problems.Add("visibility index has " + Id(stored.count[kVisibilityIndex]) +
                   " entries for " + Id(entities) + " entities");
  }
  if (stored.count[kKeyIndex] != entities) {
    c.problems.Add("entity key index size differs from the entity count");
  }
  if (stored.count[kUnitIdIndex] != implied.count[kUnitIdIndex]) {
    c.problems.Add("unit id index size differs from the devices with one");
  }
  bool redo[kIndexSpaces];
  bool any = false;
  for (int space = 0; space < kIndexSpaces; ++space) {
    redo[space] = !stored.Matches(implied, space);
    any = any || redo[space];
  }
  if (!any) return Status::Ok();
  CANOPY_RETURN_IF_ERROR(PreciseIndexPass(c, accounts, redo, &ticker));
  if (ticker.cancelled()) return Status::Aborted("integrity check cancelled");
  return Status::Ok();
}

// ---- Counters, recomputed ---------------------------------------------------

void CheckCounters(const Checked& c, const DirectCounts& direct) {
  auto direct_of = [&](AccountId id, EntityKind k) { return direct.Get(id, k); };
  for (const auto& [id, a] : c.fresh.accounts) {
    for (EntityKind k : kAllEntityKinds) {
      const int64_t want_direct = direct_of(id, k);
      int64_t want_subtree = 0;
      c.fresh.ForEachInSubtree(a, query::kNoDepthLimit, [&](const query::AccountNode& n) {
        want_subtree += direct_of(n.id, k);
      });
      if (a.count(k).direct != want_direct || a.count(k).subtree != want_subtree) {
        c.problems.Add("counters of account '" + a.key + "' for " + EntityKindName(k) +
                       ": stored " + Id(a.count(k).direct) + "/" + Id(a.count(k).subtree) +
                       ", actual " + Id(want_direct) + "/" + Id(want_subtree));
      }
    }
  }
}

// ---- Users, memberships, roles ----------------------------------------------

Status CheckUsersAndRoles(const Checked& c) {
  const query::Catalog& fresh = c.fresh;
  size_t logins = 0, homes = 0, member_entries = 0;
  CANOPY_RETURN_IF_ERROR(Scan(c.store, c.at, storage::kUserLogins, [&](auto k, auto v) {
    ++logins;
    const query::UserNode* u =
        v.size() == 8 ? fresh.user(storage::DecodeFixed64BE(v.data())) : nullptr;
    if (u == nullptr || u->login != k) {
      c.problems.Add("login index entry '" + std::string(k) + "' is stale");
    }
  }));
  CANOPY_RETURN_IF_ERROR(Scan(c.store, c.at, storage::kUserHomes, [&](auto k, auto) {
    ++homes;
    const query::UserNode* u =
        k.size() == 16 ? fresh.user(storage::DecodeFixed64BE(k.data() + 8)) : nullptr;
    if (u == nullptr || u->home != storage::DecodeFixed64BE(k.data())) {
      c.problems.Add("user home index entry is stale");
    }
  }));
  CANOPY_RETURN_IF_ERROR(Scan(c.store, c.at, storage::kMembers, [&](auto k, auto) {
    ++member_entries;
    if (k.size() != 16 || fresh.membership(storage::DecodeFixed64BE(k.data() + 8),
                                           storage::DecodeFixed64BE(k.data())) == nullptr) {
      c.problems.Add("members index entry without a membership");
    }
  }));
  size_t memberships = 0;
  for (const auto& [uid, u] : fresh.users) {
    if (uid > fresh.last_user_id) c.problems.Add("user id " + Id(uid) + " beyond the sequence");
    for (const auto& m : u.memberships) {
      ++memberships;
      const query::AccountNode* a = fresh.account(m.account);
      const query::RoleNode* r = fresh.role(m.role);
      if (!query::Catalog::IsSelfOrAncestor(*fresh.account(u.home), *a)) {
        c.problems.Add("user " + Id(uid) + " has a membership on '" + a->key +
                       "', outside the account it was created in");
      }
      if (!r->builtin && r->tenant != a->tenant) {
        c.problems.Add("membership of user " + Id(uid) + " on '" + a->key +
                       "' uses a custom role of another tenant");
      }
      if (a->settings.sub_account_access == SubAccountAccess::kAlwaysOn && !m.branch) {
        c.problems.Add("membership of user " + Id(uid) + " on always_on account '" + a->key +
                       "' lacks branch access");
      }
    }
  }
  if (logins != fresh.users.size()) c.problems.Add("login index size differs from the user count");
  if (homes != fresh.users.size()) {
    c.problems.Add("user home index size differs from the user count");
  }
  if (member_entries != memberships) {
    c.problems.Add("members index size differs from the memberships");
  }
  size_t role_names = 0;
  CANOPY_RETURN_IF_ERROR(Scan(c.store, c.at, storage::kRoleNames, [&](auto k, auto v) {
    ++role_names;
    const query::RoleNode* r =
        v.size() == 8 ? fresh.role(storage::DecodeFixed64BE(v.data())) : nullptr;
    if (r == nullptr || k.size() < 8 || storage::DecodeFixed64BE(k.data()) != r->tenant ||
        k.substr(8) != r->name) {
      c.problems.Add("role name index entry is stale");
    }
  }));
  size_t custom = 0;
  for (const auto& [rid, r] : fresh.roles) custom += r.builtin ? 0 : 1;
  if (role_names != custom) c.problems.Add("role name index size differs from the custom roles");
  return Status::Ok();
}

// ---- Groups -----------------------------------------------------------------
// The groups key space (storage/keys.h) against the rules of docs/model.md,
// "Groups": group records (unique names per owner and kind, ids within the
// sequence), member links in both directions ('m' and 'r'), each member
// existing, of the group's kind and where the group may hold it, the sizes
// the records keep (and an entity group's overlap: its members another
// entity group also holds), and grants (a user group, a role of its tenant, a
// target above it that is not a user group, branch only onto account
// groups). The catalog's load already refuses a user or account group
// holding a missing member, a size of those groups that differs from their
// members, and a grant of a missing group or role.

Status CheckGroups(const Checked& c) {
  const query::Catalog& fresh = c.fresh;
  auto where = [&](const query::GroupNode& g) {
    const query::AccountNode* o = fresh.account(g.owner);
    return std::string(GroupKindName(g.kind)) + " group " + Id(g.id) + " ('" + g.name +
           "') of account '" + (o != nullptr ? o->key : Id(g.owner)) + "'";
  };
  std::set<std::tuple<uint64_t, uint8_t, std::string>> names;
  for (const auto& [gid, g] : fresh.groups) {
    if (gid > fresh.last_group_id) c.problems.Add("group id " + Id(gid) + " beyond the sequence");
    if (!names.emplace(g.owner.value(), static_cast<uint8_t>(g.kind), g.name).second) {
      c.problems.Add("two " + std::string(GroupKindName(g.kind)) + " groups named '" + g.name +
                     "' in account " + Id(g.owner));
    }
  }
  // Members: 'm' group, member -> record.
  std::unordered_map<uint64_t, uint64_t> held;  // group -> members found
  uint64_t links = 0;
  const std::string m_lo(1, storage::kGroupMemberPrefix),
      m_hi(1, static_cast<char>(storage::kGroupMemberPrefix + 1));
  Status failed;
  CANOPY_RETURN_IF_ERROR(Scan(c.store, c.at, storage::kGroups, [&](auto k, auto v) -> bool {
    if (k.size() != 17) {
      c.problems.Add("group member key of " + Id(k.size()) + " bytes is damaged");
      return true;
    }
    ++links;
    const uint64_t gid = storage::DecodeFixed64BE(k.data() + 1);
    const uint64_t member = storage::DecodeFixed64BE(k.data() + 9);
    const query::GroupNode* g = fresh.group(gid);
    if (g == nullptr) {
      c.problems.Add("member " + Id(member) + " of group " + Id(gid) + ", which does not exist");
      return true;
    }
    ++held[gid];
    storage::GroupMemberRecord m;
    Status d = storage::DecodeGroupMember(v, &m);
    if (!d.ok()) {
      c.problems.Add("member " + Id(member) + " of " + where(*g) + ": " + d.message());
      return true;
    }
    if (m.kind != g->kind) {
      c.problems.Add("member " + Id(member) + " of " + where(*g) + " is recorded as of a " +
                     GroupKindName(m.kind) + " group");
    }
    if (auto ekind = GroupEntityKind(g->kind)) {
      std::string bytes;
      Status s = c.store.Get(storage::kEntities, storage::IdKey(member), &bytes, c.at);
      Entity e;
      if (s.IsNotFound()) {
        c.problems.Add(where(*g) + " holds missing entity " + Id(member));
      } else if (!s.ok() || !storage::DecodeEntity(bytes, &e).ok()) {
        if (!s.ok() && s.code() != Code::kCorruption) {
          failed = s;
          return false;
        }
        c.problems.Add(where(*g) + " holds entity " + Id(member) + ", whose record is damaged");
      } else if (e.kind != *ekind) {
        c.problems.Add(where(*g) + " holds " + EntityKindName(e.kind) + " '" + e.key + "'");
      } else if (e.owner != g->owner) {
        c.problems.Add(where(*g) + " holds " + EntityKindName(e.kind) + " '" + e.key +
                       "' of another account (" + Id(e.owner) + ")");
      }
    } else if (g->kind == GroupKind::kUser) {
      const query::UserNode* u = fresh.user(member);
      if (u != nullptr && u->home != g->owner) {
        c.problems.Add(where(*g) + " holds user '" + u->login +
                       "', who was created in another account");
      }
    } else {
      const query::AccountNode* a = fresh.account(member);
      if (a != nullptr && a->parent != g->owner) {
        c.problems.Add(where(*g) + " holds account '" + a->key +
                       "', which is not one of its owner's direct sub-accounts");
      }
    }
    // The reverse link.
    bool back = false;
    Status e = c.store.Exists(
        storage::kGroups,
        storage::MemberGroupKey(storage::MemberClassOf(static_cast<uint8_t>(g->kind)), member, gid),
        &back, c.at);
    if (!e.ok()) {
      failed = e;
      return false;
    }
    if (!back) c.problems.Add("member " + Id(member) + " of " + where(*g) + " lacks its reverse link");
    return true;
  }, m_lo, m_hi));
  CANOPY_RETURN_IF_ERROR(failed);
  for (const auto& [gid, g] : fresh.groups) {
    auto n = held.find(gid);
    const uint64_t found = n == held.end() ? 0 : n->second;
    if (found != g.size) {
      c.problems.Add(where(g) + " records " + Id(g.size) + " members but holds " + Id(found));
    }
  }
  // Reverse links: 'r' class, member, group -> (empty). They come sorted by
  // member, so each entity member's groups are consecutive: an entity
  // group's overlap is how many of its members have two or more.
  uint64_t reverse = 0;
  std::unordered_map<uint64_t, uint64_t> overlap;  // entity group -> shared members
  uint64_t run_member = 0;
  std::vector<uint64_t> run;  // the entity groups of run_member
  auto close_run = [&] {
    if (run.size() >= 2) {
      for (uint64_t gid : run) ++overlap[gid];
    }
    run.clear();
  };
  const std::string r_lo(1, storage::kMemberGroupPrefix),
      r_hi(1, static_cast<char>(storage::kMemberGroupPrefix + 1));
  CANOPY_RETURN_IF_ERROR(Scan(c.store, c.at, storage::kGroups, [&](auto k, auto) -> bool {
    ++reverse;
    if (k.size() != 18) {
      c.problems.Add("group reverse link key of " + Id(k.size()) + " bytes is damaged");
      return true;
    }
    const auto cls = static_cast<uint8_t>(k[1]);
    const uint64_t member = storage::DecodeFixed64BE(k.data() + 2);
    const uint64_t gid = storage::DecodeFixed64BE(k.data() + 10);
    const query::GroupNode* g = fresh.group(gid);
    if (cls == storage::kMemberEntity) {
      if (member != run_member) close_run();
      run_member = member;
      run.push_back(gid);
    }
    bool there = false;
    if (g != nullptr && storage::MemberClassOf(static_cast<uint8_t>(g->kind)) == cls) {
      Status e = c.store.Exists(storage::kGroups, storage::GroupMemberKey(gid, member), &there, c.at);
      if (!e.ok()) {
        failed = e;
        return false;
      }
    }
    if (!there) {
      c.problems.Add("reverse link of member " + Id(member) + " to group " + Id(gid) +
                     " without its member entry");
    }
    return true;
  }, r_lo, r_hi));
  CANOPY_RETURN_IF_ERROR(failed);
  close_run();
  for (const auto& [gid, g] : fresh.groups) {
    auto n = overlap.find(gid);
    const uint64_t found = n == overlap.end() ? 0 : n->second;
    if (found != g.overlap) {
      c.problems.Add(where(g) + " records " + Id(g.overlap) +
                     " members also held by another group but has " + Id(found));
    }
  }
  if (reverse != links) {
    c.problems.Add("group member links (" + Id(links) + ") and reverse links (" + Id(reverse) +
                   ") differ in number");
  }
  // Grants, as loaded (the load refuses missing groups and roles).
  for (const auto& [gid, ug] : fresh.groups) {
    for (const query::GroupGrantNode& x : ug.grants) {
      const query::RoleNode* r = fresh.role(x.role);
      const query::AccountNode* owner = fresh.account(ug.owner);
      const std::string grant = "grant of role '" + r->name + "' to " + where(ug);
      if (!r->builtin && r->tenant != owner->tenant) {
        c.problems.Add(grant + " uses a custom role of another tenant");
      }
      if (x.target == kNoId) continue;
      const query::GroupNode* t = fresh.group(x.target);
      const query::AccountNode* towner = fresh.account(t->owner);
      if (x.branch && t->kind != GroupKind::kAccount) {
        c.problems.Add(grant + " onto " + where(*t) + " has branch, which only account groups take");
      }
      if (!query::Catalog::IsSelfOrAncestor(*towner, *owner)) {
        c.problems.Add(grant + " onto " + where(*t) +
                       ", which is neither its owner's nor one of its ancestors'");
      }
    }
  }
  return Status::Ok();
}

// ---- The change log ---------------------------------------------------------

// Consecutive revisions from the oldest kept to `revision` (the checked
// state's), each entry whole (checksum, its own revision, the lineage
// `lineage`, an import's input complete).
Status CheckChangeLog(const Checked& c, uint64_t revision, const std::string& lineage) {
  uint64_t first = 0;
  CANOPY_RETURN_IF_ERROR(c.store.ReadSequence(storage::kMetaLogFirst, &first, c.at));
  if (first == 0) first = 1;
  uint64_t expect = first;
  uint64_t last = 0;      // the last entry's revision
  uint64_t last_key = 0;  // the revision of the last key (the database's revision)
  storage::LogEntry pending;  // the import whose chunks are being read
  uint32_t chunks_seen = 0;
  uint64_t chunk_bytes = 0;
  XXH3_state_t* hash = XXH3_createState();
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> hash_owner(hash, XXH3_freeState);
  auto close_import = [&] {
    if (pending.import_chunks == 0) return;
    if (chunks_seen != pending.import_chunks || chunk_bytes != pending.import_bytes ||
        XXH3_64bits_digest(hash) != pending.import_hash) {
      c.problems.Add("change-log revision " + Id(pending.revision) +
                     ": the import input is incomplete or damaged");
    }
    pending = storage::LogEntry();
  };
  CANOPY_RETURN_IF_ERROR(Scan(c.store, c.at, storage::kChanges, [&](auto k, auto v) {
    uint64_t rev;
    int64_t chunk;
    if (!storage::DecodeLogKey(k, &rev, &chunk)) {
      c.problems.Add("a change-log key is damaged");
      return;
    }
    last_key = rev;
    if (chunk >= 0) {
      if (rev != pending.revision || pending.import_chunks == 0 ||
          static_cast<uint64_t>(chunk) != chunks_seen) {
        c.problems.Add("change-log revision " + Id(rev) + " has a stray import chunk");
        return;
      }
      ++chunks_seen;
      chunk_bytes += v.size();
      XXH3_64bits_update(hash, v.data(), v.size());
      return;
    }
    close_import();
    storage::LogEntry e;
    Status d = storage::DecodeLogEntry(v, &e);
    if (!d.ok()) {
      c.problems.Add("change-log revision " + Id(rev) + ": " + d.message());
      return;
    }
    if (e.revision != rev) {
      c.problems.Add("change-log entry under " + Id(rev) + " says " + Id(e.revision));
    }
    if (rev != expect) {
      c.problems.Add("change log skips from revision " + Id(expect) + " to " + Id(rev));
    }
    if (e.log_id != lineage) {
      c.problems.Add("change-log revision " + Id(rev) + " is of another lineage");
    }
    expect = rev + 1;
    last = rev;
    if (e.import_chunks > 0) {
      pending = e;
      chunks_seen = 0;
      chunk_bytes = 0;
      XXH3_64bits_reset(hash);
    }
  }));
  close_import();
  if (last_key != revision) {
    c.problems.Add("stored revision " + Id(last_key) + " differs from the in-memory " +
                   Id(revision));
  }
  if (last != last_key) {
    c.problems.Add("the change log's last entry is revision " + Id(last) +
                   " but its last key says " + Id(last_key));
  }
  // The end marker is never past the last entry (behind it by fewer than
  // storage::kLogMarkEvery small entries, or by more when a build before
  // the marker wrote them).
  uint64_t marked = 0;
  CANOPY_RETURN_IF_ERROR(c.store.ReadSequence(storage::kMetaLogLast, &marked, c.at));
  if (marked > last_key) {
    c.problems.Add("the change log's end is marked as revision " + Id(marked) +
                   " (log.last), past its last key's " + Id(last_key));
  }
  // An import's mark and the later write's that names it.
  uint64_t ingested = 0, seen = 0;
  CANOPY_RETURN_IF_ERROR(c.store.ReadSequence(storage::kMetaIngested, &ingested, c.at));
  CANOPY_RETURN_IF_ERROR(c.store.ReadSequence(storage::kMetaIngestSeen, &seen, c.at));
  if (seen > ingested) {
    c.problems.Add("a write names the import of revision " + Id(seen) +
                   ", but the last import stored is of revision " + Id(ingested) +
                   " (ingest.seen above ingest.last: a write without the import before it)");
  }
  if (ingested > last_key) {
    c.problems.Add("the last import is marked as revision " + Id(ingested) +
                   ", past the database's revision " + Id(last_key));
  }
  return Status::Ok();
}

}  // namespace

Status DbImpl::CheckIntegrity(std::vector<std::string>* problems_out,
                              const ProgressFn& progress_fn) const {
  const ProgressFn progress = InCallback(progress_fn, "integrity check");
  if (problems_out != nullptr) problems_out->clear();
  // One published state: the pinned catalog copy and its snapshot. No lock
  // a writer takes is held: writes go on while the check runs.
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  Problems problems(problems_out);
  const rocksdb::Snapshot* at = scope.snapshot().get();
  const uint64_t revision = head();
  const query::Catalog memory = cat();
  scope.ReleaseCatalog();  // from here on: the copy and the snapshot only

  query::Catalog fresh;
  Status loaded = fresh.Load(*store_, at);
  if (!loaded.ok()) {
    problems.Add("stored state does not load: " + loaded.ToString());
    return Status::Corruption("1 problem found: " + loaded.message());
  }
  const size_t before_memory = problems.count();
  query::CompareCatalogs(memory, fresh, [&](std::string p) { problems.Add(std::move(p)); });
  if (problems.count() != before_memory) {
    // Memory drifted from the stored state: Close must not keep it in a
    // catalog image (the next open then loads the stored state afresh).
    image_untrusted_.store(true);
  }

  // Every block of every table file against its checksum, first: what the
  // reads below never touch (bloom filters, which RocksDB skips when
  // damaged, blocks of keys no check reads, the change log's stored import
  // input) would stay damaged unseen until a backup of them is needed, and
  // a damaged file is the cause of what the checks below then find
  // missing (listed first, it is never among the problems left out).
  // A read-only or follower open holds no file: a writer beside it may
  // have removed one it lists (compacted away), which is no damage.
  const rocksdb::Status sums = store_->db()->VerifyChecksum(rocksdb::ReadOptions());
  const bool vanished = (options_.read_only || options_.follower) &&
                        (sums.IsPathNotFound() || (sums.IsIOError() &&
                                                   sums.ToString().find("No such file") !=
                                                       std::string::npos));
  if (sums.IsCorruption()) {
    problems.Add(storage::FromRocks(sums, "table file checksums").message() +
                 " (the problems after this one may follow from it)");
  } else if (!sums.ok() && !vanished) {
    return storage::FromRocks(sums, "verify the table files' checksums");
  }
  const Checked checked{*store_, at, fresh, problems};
  CANOPY_RETURN_IF_ERROR(CheckAccounts(checked));
  const AccountTable accounts(fresh);
  DirectCounts direct(accounts.size());
  uint64_t entities = 0;
  CANOPY_RETURN_IF_ERROR(CheckEntities(checked, progress, accounts, &direct, &entities));
  CheckCounters(checked, direct);
  CANOPY_RETURN_IF_ERROR(CheckUsersAndRoles(checked));
  CANOPY_RETURN_IF_ERROR(CheckGroups(checked));
  CANOPY_RETURN_IF_ERROR(CheckChangeLog(checked, revision, LogId()));
  // The last call may cancel too, as with few entities it is the only one.
  if (progress && !progress(entities, entities)) {
    return Status::Aborted("integrity check cancelled");
  }
  if (problems.count() == 0) return Status::Ok();
  return Status::Corruption(std::to_string(problems.count()) + " problem(s) found");
}

}  // namespace canopy::engine
