// Copyright (c) Canopy authors.
//
// CheckIntegrity: verifies every invariant of the stored state from
// scratch, and that the in-memory catalog equals a fresh load of it.

#include <algorithm>
#include <map>
#include <unordered_map>

#include "engine/db_impl.h"
#include "query/access.h"
#include <xxhash.h>

#include "storage/changes.h"
#include "storage/counters.h"
#include "storage/labels.h"
#include "storage/records.h"

namespace canopy::engine {

namespace {

constexpr size_t kMaxProblems = 1000;

class Problems {
 public:
  explicit Problems(std::vector<std::string>* out) : out_(out) {}
  void Add(std::string p) {
    ++count_;
    if (out_ != nullptr && out_->size() < kMaxProblems) out_->push_back(std::move(p));
  }
  size_t count() const { return count_; }

 private:
  std::vector<std::string>* out_;
  size_t count_ = 0;
};

template <typename Fn>
Status Scan(const storage::Store& store, int cf, Fn&& fn) {
  auto it = store.NewIterator(cf, nullptr, "", "", false);
  for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
    rocksdb::Slice k = (*it)->key();
    rocksdb::Slice v = (*it)->value();
    fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()));
  }
  return storage::FromRocks((*it)->status(), std::string("check ") + storage::CfName(cf));
}

std::string Id(uint64_t id) { return std::to_string(id); }

}  // namespace

Status DbImpl::CheckIntegrity(std::vector<std::string>* problems_out,
                              const ProgressFn& progress) const {
  if (problems_out != nullptr) problems_out->clear();
  // Hold off mutations (so the store and the catalog stay put and agree)
  // without holding the catalog lock: queries go on while the check runs.
  // Every change to the catalog or poisoned_ happens under write_mu_.
  std::shared_lock<std::shared_mutex> open(close_mu_);
  WriteGuard no_writes(write_mu_);
  CANOPY_RETURN_IF_ERROR(CheckOpen());
  Problems problems(problems_out);
  const storage::Store& st = *store_;

  query::Catalog fresh;
  Status loaded = fresh.Load(st);
  if (!loaded.ok()) {
    problems.Add("stored state does not load: " + loaded.ToString());
    return Status::Corruption("1 problem found: " + loaded.message());
  }

  // Accounts: labels, depth, parent links, key index; memory vs disk.
  std::unordered_map<std::string, AccountId> by_label;
  for (const auto& [id, a] : fresh.accounts) {
    by_label[a.label] = id;
    std::vector<uint64_t> ords;
    if (!storage::DecodeLabel(a.label, &ords)) {
      problems.Add("account " + Id(id) + " has a malformed label");
      continue;
    }
    if (ords.size() != a.depth) {
      problems.Add("account " + Id(id) + " has depth " + Id(a.depth) + " but a label of " +
                   Id(ords.size()) + " levels");
    }
    if (a.depth > fresh.max_depth) problems.Add("account " + Id(id) + " is deeper than the limit");
    if (a.parent == kNoId) {
      if (ords.size() != 1 || ords[0] >= fresh.next_root_ordinal) {
        problems.Add("root account " + Id(id) + " has a label not issued to a root");
      }
    } else {
      const query::AccountNode* p = fresh.account(a.parent);
      std::vector<uint64_t> pords;
      if (p == nullptr || !storage::DecodeLabel(p->label, &pords) ||
          pords.size() + 1 != ords.size() ||
          !storage::IsProperAncestorLabel(p->label, a.label) ||
          ords.back() >= p->next_child_ordinal) {
        problems.Add("account " + Id(id) + " has a label that is not its parent's plus one "
                     "issued ordinal");
      }
    }
    std::string v;
    Status s = st.Get(storage::kAccountKeys, a.key, &v);
    if (!s.ok() || v != storage::IdKey(id)) {
      problems.Add("account key '" + a.key + "' does not point at account " + Id(id));
    }
    if (id > fresh.last_account_id) problems.Add("account id " + Id(id) + " beyond the sequence");
    const query::AccountNode* mem = cat().account(id);
    if (mem == nullptr || mem->label != a.label || mem->parent != a.parent ||
        mem->depth != a.depth || mem->children != a.children || mem->members != a.members ||
        mem->descendants != a.descendants || mem->tenant != a.tenant ||
        mem->settings.sub_account_management != a.settings.sub_account_management ||
        mem->settings.sub_account_access != a.settings.sub_account_access ||
        mem->next_child_ordinal != a.next_child_ordinal || mem->key != a.key) {
      problems.Add("in-memory account " + Id(id) + " differs from the stored one");
    } else {
      for (EntityKind k : kAllEntityKinds) {
        if (mem->count(k).direct != a.count(k).direct ||
            mem->count(k).subtree != a.count(k).subtree) {
          problems.Add("in-memory counts of account " + Id(id) + " differ from the stored ones");
        }
      }
    }
  }
  if (cat().accounts.size() != fresh.accounts.size() || cat().roots != fresh.roots) {
    problems.Add("in-memory account set differs from the stored one");
  }
  size_t key_entries = 0;
  CANOPY_RETURN_IF_ERROR(Scan(st, storage::kAccountKeys, [&](auto, auto) { ++key_entries; }));
  if (key_entries != fresh.accounts.size()) {
    problems.Add("account key index has " + Id(key_entries) + " entries for " +
                 Id(fresh.accounts.size()) + " accounts");
  }

  // Entities against the indexes; recount.
  std::map<std::pair<AccountId, int>, int64_t> direct;
  size_t entities = 0, with_unit = 0;
  uint64_t total_entities = 0;
  for (AccountId r : fresh.roots) {
    for (EntityKind k : kAllEntityKinds) total_entities += fresh.account(r)->count(k).subtree;
  }
  bool cancelled = false;
  CANOPY_RETURN_IF_ERROR(Scan(st, storage::kEntities, [&](auto k, auto v) {
    ++entities;
    if (progress && entities % 65536 == 0 && !cancelled &&
        !progress(entities, std::max<uint64_t>(entities, total_entities))) {
      cancelled = true;
    }
    if (cancelled) return;
    Entity e;
    Status s = storage::DecodeEntity(v, &e);
    if (!s.ok()) {
      problems.Add(s.message());
      return;
    }
    if (k != storage::IdKey(e.id)) problems.Add("entity record key differs from id " + Id(e.id));
    if (e.id > fresh.last_entity_id) problems.Add("entity id " + Id(e.id) + " beyond the sequence");
    const query::AccountNode* owner = fresh.account(e.owner);
    if (owner == nullptr) {
      problems.Add("entity " + Id(e.id) + " is owned by missing account " + Id(e.owner));
      return;
    }
    direct[{e.owner, static_cast<int>(e.kind)}] += 1;
    const uint8_t kind = static_cast<uint8_t>(e.kind);
    std::string iv;
    Status ks = st.Get(storage::kEntityKeys, storage::EntityKeyKey(kind, e.key), &iv);
    if (!ks.ok() || iv != storage::EntityKeyValue(e.id, e.owner)) {
      problems.Add("key index entry of entity " + Id(e.id) + " is missing or stale");
    }
    if (!e.unit_id.empty()) {
      ++with_unit;
      Status us = st.Get(storage::kUnitIds, e.unit_id, &iv);
      if (!us.ok() || iv != storage::IdKey(e.id)) {
        problems.Add("unit id index entry of entity " + Id(e.id) + " is missing or stale");
      }
    }
    std::string expect;
    storage::EncodeIndexValue(&expect, e.owner, e.key, e.name, e.type);
    Status vs = st.Get(storage::kVisibility, storage::IndexKey(kind, owner->label, e.id), &iv);
    if (!vs.ok() || iv != expect) {
      problems.Add("visibility index entry of entity " + Id(e.id) + " is missing or stale");
    }
  }));
  if (cancelled) return Status::Aborted("integrity check cancelled");
  size_t index_entries = 0, key_index = 0, unit_index = 0;
  CANOPY_RETURN_IF_ERROR(Scan(st, storage::kVisibility, [&](auto k, auto) {
    ++index_entries;
    uint8_t kind;
    std::string_view label;
    uint64_t eid;
    if (!storage::DecodeIndexKey(k, &kind, &label, &eid) ||
        by_label.find(std::string(label)) == by_label.end()) {
      problems.Add("visibility index entry under no account's label (entity " + Id(eid) + ")");
    }
  }));
  CANOPY_RETURN_IF_ERROR(Scan(st, storage::kEntityKeys, [&](auto, auto) { ++key_index; }));
  CANOPY_RETURN_IF_ERROR(Scan(st, storage::kUnitIds, [&](auto, auto) { ++unit_index; }));
  if (index_entries != entities) {
    problems.Add("visibility index has " + Id(index_entries) + " entries for " + Id(entities) +
                 " entities");
  }
  if (key_index != entities) problems.Add("entity key index size differs from the entity count");
  if (unit_index != with_unit) problems.Add("unit id index size differs from the devices with one");

  // Counters, recomputed.
  for (const auto& [id, a] : fresh.accounts) {
    for (EntityKind k : kAllEntityKinds) {
      int64_t want_direct = direct.count({id, static_cast<int>(k)}) ? direct[{id, static_cast<int>(k)}] : 0;
      int64_t want_subtree = 0;
      fresh.ForEachInSubtree(a, query::kNoDepthLimit, [&](const query::AccountNode& n) {
        auto it = direct.find({n.id, static_cast<int>(k)});
        if (it != direct.end()) want_subtree += it->second;
      });
      if (a.count(k).direct != want_direct || a.count(k).subtree != want_subtree) {
        problems.Add("counters of account '" + a.key + "' for " + EntityKindName(k) + ": stored " +
                     Id(a.count(k).direct) + "/" + Id(a.count(k).subtree) + ", actual " +
                     Id(want_direct) + "/" + Id(want_subtree));
      }
    }
  }

  // Users, memberships, roles.
  size_t logins = 0, homes = 0, member_entries = 0;
  CANOPY_RETURN_IF_ERROR(Scan(st, storage::kUserLogins, [&](auto k, auto v) {
    ++logins;
    const query::UserNode* u = v.size() == 8 ? fresh.user(storage::DecodeFixed64BE(v.data())) : nullptr;
    if (u == nullptr || u->login != k) problems.Add("login index entry '" + std::string(k) + "' is stale");
  }));
  CANOPY_RETURN_IF_ERROR(Scan(st, storage::kUserHomes, [&](auto k, auto) {
    ++homes;
    const query::UserNode* u = k.size() == 16 ? fresh.user(storage::DecodeFixed64BE(k.data() + 8)) : nullptr;
    if (u == nullptr || u->home != storage::DecodeFixed64BE(k.data())) {
      problems.Add("user home index entry is stale");
    }
  }));
  CANOPY_RETURN_IF_ERROR(Scan(st, storage::kMembers, [&](auto k, auto) {
    ++member_entries;
    if (k.size() != 16 ||
        fresh.membership(storage::DecodeFixed64BE(k.data() + 8), storage::DecodeFixed64BE(k.data())) ==
            nullptr) {
      problems.Add("members index entry without a membership");
    }
  }));
  size_t memberships = 0;
  for (const auto& [uid, u] : fresh.users) {
    if (uid > fresh.last_user_id) problems.Add("user id " + Id(uid) + " beyond the sequence");
    const query::UserNode* mem = cat().user(uid);
    if (mem == nullptr || mem->home != u.home || mem->disabled != u.disabled ||
        mem->login != u.login || mem->memberships.size() != u.memberships.size()) {
      problems.Add("in-memory user " + Id(uid) + " differs from the stored one");
    } else {
      for (size_t i = 0; i < u.memberships.size(); ++i) {
        const auto& a = u.memberships[i];
        const auto& b = mem->memberships[i];
        if (a.account != b.account || a.role != b.role || a.branch != b.branch) {
          problems.Add("in-memory membership of user " + Id(uid) + " differs from the stored one");
        }
      }
    }
    for (const auto& m : u.memberships) {
      ++memberships;
      const query::AccountNode* a = fresh.account(m.account);
      const query::RoleNode* r = fresh.role(m.role);
      if (!query::Catalog::IsSelfOrAncestor(*fresh.account(u.home), *a)) {
        problems.Add("user " + Id(uid) + " has a membership on '" + a->key +
                     "', outside the account it was created in");
      }
      if (!r->builtin && r->tenant != a->tenant) {
        problems.Add("membership of user " + Id(uid) + " on '" + a->key +
                     "' uses a custom role of another tenant");
      }
      if (a->settings.sub_account_access == SubAccountAccess::kAlwaysOn && !m.branch) {
        problems.Add("membership of user " + Id(uid) + " on always_on account '" + a->key +
                     "' lacks branch access");
      }
    }
  }
  if (logins != fresh.users.size()) problems.Add("login index size differs from the user count");
  if (homes != fresh.users.size()) problems.Add("user home index size differs from the user count");
  if (member_entries != memberships) problems.Add("members index size differs from the memberships");
  if (cat().users.size() != fresh.users.size()) problems.Add("in-memory user set differs");
  size_t role_names = 0;
  CANOPY_RETURN_IF_ERROR(Scan(st, storage::kRoleNames, [&](auto k, auto v) {
    ++role_names;
    const query::RoleNode* r = v.size() == 8 ? fresh.role(storage::DecodeFixed64BE(v.data())) : nullptr;
    if (r == nullptr || k.size() < 8 || storage::DecodeFixed64BE(k.data()) != r->tenant ||
        k.substr(8) != r->name) {
      problems.Add("role name index entry is stale");
    }
  }));
  size_t custom = 0;
  for (const auto& [rid, r] : fresh.roles) {
    if (r.builtin) continue;
    ++custom;
    const query::RoleNode* mem = cat().role(rid);
    if (mem == nullptr || !(mem->perms == r.perms) || mem->uses != r.uses || mem->name != r.name) {
      problems.Add("in-memory role '" + r.name + "' differs from the stored one (uses " +
                   (mem ? Id(mem->uses) : "-") + " vs " + Id(r.uses) + ")");
    }
  }
  if (role_names != custom) problems.Add("role name index size differs from the custom roles");
  if (cat().roles.size() != fresh.roles.size()) problems.Add("in-memory role set differs");
  if (cat().last_account_id != fresh.last_account_id ||
      cat().last_entity_id != fresh.last_entity_id ||
      cat().last_user_id != fresh.last_user_id || cat().last_role_id != fresh.last_role_id ||
      cat().next_root_ordinal != fresh.next_root_ordinal) {
    problems.Add("in-memory sequences differ from the stored ones");
  }

  // The change log: consecutive revisions from the oldest kept to the
  // current one, each entry whole (checksum, its own revision, the
  // database's lineage, an import's input complete).
  {
    uint64_t stored_rev = 0, first = 0;
    CANOPY_RETURN_IF_ERROR(LastLoggedRevision(&stored_rev));
    CANOPY_RETURN_IF_ERROR(store_->ReadSequence(storage::kMetaLogFirst, &first));
    if (first == 0) first = 1;
    if (stored_rev != revision_.load()) {
      problems.Add("stored revision " + Id(stored_rev) + " differs from the in-memory " +
                   Id(revision_.load()));
    }
    const std::string lineage = LogId();
    uint64_t expect = first;
    uint64_t last = 0;
    storage::LogEntry pending;  // the import whose chunks are being read
    uint32_t chunks_seen = 0;
    uint64_t chunk_bytes = 0;
    XXH3_state_t* hash = XXH3_createState();
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> hash_owner(hash, XXH3_freeState);
    auto close_import = [&] {
      if (pending.import_chunks == 0) return;
      if (chunks_seen != pending.import_chunks || chunk_bytes != pending.import_bytes ||
          XXH3_64bits_digest(hash) != pending.import_hash) {
        problems.Add("change-log revision " + Id(pending.revision) +
                     ": the import input is incomplete or damaged");
      }
      pending = storage::LogEntry();
    };
    CANOPY_RETURN_IF_ERROR(Scan(*store_, storage::kChanges, [&](auto k, auto v) {
      uint64_t rev;
      int64_t chunk;
      if (!storage::DecodeLogKey(k, &rev, &chunk)) {
        problems.Add("a change-log key is damaged");
        return;
      }
      if (chunk >= 0) {
        if (rev != pending.revision || pending.import_chunks == 0 ||
            static_cast<uint64_t>(chunk) != chunks_seen) {
          problems.Add("change-log revision " + Id(rev) + " has a stray import chunk");
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
        problems.Add("change-log revision " + Id(rev) + ": " + d.message());
        return;
      }
      if (e.revision != rev) problems.Add("change-log entry under " + Id(rev) + " says " + Id(e.revision));
      if (rev != expect) {
        problems.Add("change log skips from revision " + Id(expect) + " to " + Id(rev));
      }
      if (e.log_id != lineage) problems.Add("change-log revision " + Id(rev) + " is of another lineage");
      expect = rev + 1;
      last = rev;
      if (e.import_chunks > 0) {
        pending = e;
        chunks_seen = 0;
        chunk_bytes = 0;
        XXH3_64bits_reset(hash);
      }
      return;
    }));
    close_import();
    if (last != stored_rev) {
      problems.Add("the change log's last entry is revision " + Id(last) +
                   " but its last key says " + Id(stored_rev));
    }
  }

  if (progress) progress(entities, entities);
  if (problems.count() == 0) return Status::Ok();
  return Status::Corruption(std::to_string(problems.count()) + " problem(s) found");
}

}  // namespace canopy::engine
