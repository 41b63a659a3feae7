// Copyright (c) Canopy authors.

#include "query/catalog.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <tuple>

#include "storage/changes.h"
#include "storage/coding.h"
#include "storage/counters.h"
#include "storage/labels.h"
#include "storage/records.h"
#include "storage/store.h"

namespace canopy::query {

namespace {

using storage::Store;

template <typename Fn>
Status ForEach(const Store& store, const rocksdb::Snapshot* snapshot, int cf, Fn&& fn) {
  auto it = store.NewIterator(cf, snapshot, "", "", /*fill_cache=*/false);
  for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
    rocksdb::Slice k = (*it)->key();
    rocksdb::Slice v = (*it)->value();
    CANOPY_RETURN_IF_ERROR(fn(std::string_view(k.data(), k.size()),
                              std::string_view(v.data(), v.size())));
  }
  return storage::FromRocks((*it)->status(), std::string("load ") + storage::CfName(cf));
}

Status Bad(const std::string& what) { return Status::Corruption("catalog: " + what); }

Status Missing(UserId user, AccountId account) {
  return Bad("membership of user " + std::to_string(user) + " on account " +
             std::to_string(account) + " refers to something missing");
}

// The node of a stored account (tenant, children and counts are derived).
AccountNode NodeOf(storage::AccountRecord r) {
  AccountNode n;
  n.id = r.account.id;
  n.parent = r.account.parent;
  n.depth = r.account.depth;
  n.settings = r.account.settings;
  n.next_child_ordinal = r.next_child_ordinal;
  n.key = std::move(r.account.key);
  n.label = std::move(r.label);
  return n;
}

}  // namespace

uint64_t CatalogRest::NewMembersEpoch() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

bool Catalog::CopyFrom(const Catalog& o, const std::atomic<bool>* stop) {
  if (this == &o) return true;
  *this = Catalog();
  Catalog c;
  if (!c.accounts.CopyFrom(o.accounts, stop) || !c.users.CopyFrom(o.users, stop)) return false;
  static_cast<CatalogRest&>(c) = o;
  *this = std::move(c);
  return true;
}

Status Catalog::Load(const Store& store, const rocksdb::Snapshot* snapshot) {
  members_epoch = NewMembersEpoch();
  accounts.clear();
  roots.clear();
  users.clear();
  roles.clear();
  groups.clear();
  max_depth = store.format().max_depth;

  for (const auto& b : BuiltinRoles()) {
    roles[b.id] = RoleNode{b.id, kNoId, b.name, b.perms, true, 0};
  }

  // Two threads. This one loads accounts and roles, then the tree and
  // the counters; the other loads users, then, once accounts and roles are
  // in, checks the users' home accounts and loads memberships. They change
  // different fields of an account (tree and counters; members), and only
  // the other thread touches users and role uses until both are done.
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  enum class Gate { kWait, kGo, kStop } gate = Gate::kWait;
  auto set_gate = [&](Gate g) {
    {
      std::lock_guard<std::mutex> l(gate_mu);
      if (gate == Gate::kWait) gate = g;
    }
    gate_cv.notify_all();
  };
  Status second = Status::Ok();
  std::thread second_thread([&] {
    try {
      second = ForEach(store, snapshot, storage::kUsers, [&](auto, auto v) -> Status {
        User u;
        CANOPY_RETURN_IF_ERROR(storage::DecodeUser(v, &u, storage::RecordDetail::kCatalog));
        users.emplace(u.id, UserNode{u.id, u.account, u.disabled, std::move(u.login), {}});
        return Status::Ok();
      });
      if (!second.ok()) return;
      {
        std::unique_lock<std::mutex> l(gate_mu);
        gate_cv.wait(l, [&] { return gate != Gate::kWait; });
        if (gate == Gate::kStop) return;
      }
      for (const auto& [uid, u] : users) {
        if (account(u.home) == nullptr) {
          second = Bad("user '" + u.login + "' in missing account");
          return;
        }
      }
      // Memberships come in (user, account) order: each user's list is
      // appended to in order, and the accounts' member lists are filled
      // afterwards in account order, from the pairs sorted, so that the
      // account nodes are visited once each, in sequence.
      std::vector<std::pair<AccountId, UserId>> links;
      second = ForEach(store, snapshot, storage::kMemberships, [&](auto k, auto v) -> Status {
        if (k.size() != 16) return Bad("damaged membership key");
        Membership m;
        CANOPY_RETURN_IF_ERROR(storage::DecodeMembership(v, &m));
        const UserId uid = storage::DecodeFixed64BE(k.data());
        const AccountId aid = storage::DecodeFixed64BE(k.data() + 8);
        UserNode* u = mutable_user(uid);
        auto r = roles.find(m.role);
        if (u == nullptr || r == roles.end()) return Missing(uid, aid);
        auto& list = u->memberships;  // kept sorted by account: keys come in order
        if (!list.empty() && !(list.back().account < aid)) return Bad("memberships out of order");
        list.push_back(MembershipNode{aid, m.role, m.branch});
        r->second.uses += 1;
        links.emplace_back(aid, uid);
        return Status::Ok();
      });
      if (!second.ok()) return;
      std::sort(links.begin(), links.end());
      for (size_t i = 0, j = 0; i < links.size(); i = j) {
        AccountNode* a = mutable_account(links[i].first);
        if (a == nullptr) {
          second = Missing(links[i].second, links[i].first);
          return;
        }
        for (j = i; j < links.size() && links[j].first == links[i].first; ++j) {}
        a->members.reserve(j - i);
        for (size_t x = i; x < j; ++x) a->members.push_back(links[x].second);
      }
    } catch (const std::exception& e) {
      second = Status::Internal(std::string("catalog: loading users: ") + e.what());
    }
  });
  struct Joiner {  // on every way out: stop the other thread, or let it end
    std::function<void(Gate)> set_gate;
    std::thread& t;
    ~Joiner() {
      set_gate(Gate::kStop);
      if (t.joinable()) t.join();
    }
  } joiner{set_gate, second_thread};

  CANOPY_RETURN_IF_ERROR(ForEach(store, snapshot, storage::kAccounts, [&](auto k, auto v) -> Status {
    storage::AccountRecord r;
    CANOPY_RETURN_IF_ERROR(storage::DecodeAccount(v, &r, storage::RecordDetail::kCatalog));
    if (k.size() != 8 || storage::DecodeFixed64BE(k.data()) != r.account.id) {
      return Bad("account record key does not match its id " + std::to_string(r.account.id));
    }
    const AccountId id = r.account.id;
    accounts.emplace(id, NodeOf(std::move(r)));
    return Status::Ok();
  }));

  CANOPY_RETURN_IF_ERROR(ForEach(store, snapshot, storage::kRoles, [&](auto, auto v) -> Status {
    Role r;
    CANOPY_RETURN_IF_ERROR(storage::DecodeRole(v, &r));
    PermSet perms;
    Status s = ParsePermNames(r.permissions, &perms);
    if (!s.ok()) return Bad("role '" + r.name + "': " + s.message());
    if (r.id < kFirstCustomRoleId || account(r.tenant) == nullptr) {
      return Bad("role '" + r.name + "' has a bad id or tenant");
    }
    roles[r.id] = RoleNode{r.id, r.tenant, r.name, perms, false, 0};
    return Status::Ok();
  }));
  set_gate(Gate::kGo);

  // The tree key space lists labels in pre-order: parents come before
  // children, siblings in ordinal order.
  // Each account with its parent's node (null for a root): node addresses
  // in the map stay put, so the sums below need no look-up.
  std::vector<std::pair<AccountNode*, AccountNode*>> preorder;
  preorder.reserve(accounts.size());
  CANOPY_RETURN_IF_ERROR(ForEach(store, snapshot, storage::kTree, [&](auto k, auto v) -> Status {
    if (v.size() != 8) return Bad("tree entry with a damaged value");
    AccountId id = storage::DecodeFixed64BE(v.data());
    AccountNode* n = mutable_account(id);
    if (n == nullptr) return Bad("tree entry for missing account " + std::to_string(id));
    if (n->label != k) return Bad("tree label of account " + std::to_string(id) + " differs");
    AccountNode* p = nullptr;
    if (n->parent == kNoId) {
      n->tenant = n->id;
      roots.push_back(id);
    } else {
      // Siblings come one after another: their parent is the last one's.
      p = !preorder.empty() && preorder.back().second != nullptr &&
                  preorder.back().second->id == n->parent
              ? preorder.back().second
              : mutable_account(n->parent);
      if (p == nullptr || !storage::IsProperAncestorLabel(p->label, n->label)) {
        return Bad("account " + std::to_string(id) + " has a missing or misplaced parent");
      }
      n->tenant = p->tenant;
      p->children.push_back(id);
    }
    preorder.emplace_back(n, p);
    return Status::Ok();
  }));
  if (preorder.size() != accounts.size()) {
    return Bad(std::to_string(accounts.size() - preorder.size()) +
               " account(s) missing from the tree key space");
  }
  for (auto it = preorder.rbegin(); it != preorder.rend(); ++it) {
    if (it->second != nullptr) it->second->descendants += 1 + it->first->descendants;
  }

  AccountNode* last = nullptr;  // an account's counters are next to each other
  CANOPY_RETURN_IF_ERROR(ForEach(store, snapshot, storage::kCounters, [&](auto k, auto v) -> Status {
    int64_t value = 0;
    if (k.size() != 9 || !storage::DecodeCounter(v, &value)) return Bad("damaged counter");
    const AccountId aid = storage::DecodeFixed64BE(k.data());
    AccountNode* n = last != nullptr && last->id == aid ? last : mutable_account(aid);
    last = n;
    uint8_t code = static_cast<uint8_t>(k[8]);
    int kind = code & 0x7f;
    if (n == nullptr || kind < 1 || kind > 4) return Bad("counter of a missing account or kind");
    if (code & storage::kCounterSubtreeBit) {
      n->counts[kind - 1].subtree = value;
    } else {
      n->counts[kind - 1].direct = value;
    }
    return Status::Ok();
  }));


  second_thread.join();
  CANOPY_RETURN_IF_ERROR(second);


  // Groups: records, then the members of user and account groups (entity
  // group members stay on disk), then grants.
  auto for_prefix = [&](char prefix, auto&& fn) -> Status {
    const std::string lo(1, prefix), hi(1, static_cast<char>(prefix + 1));
    auto it = store.NewIterator(storage::kGroups, snapshot, lo, hi, /*fill_cache=*/false);
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      rocksdb::Slice k = (*it)->key();
      rocksdb::Slice v = (*it)->value();
      CANOPY_RETURN_IF_ERROR(fn(std::string_view(k.data() + 1, k.size() - 1),
                                std::string_view(v.data(), v.size())));
    }
    return storage::FromRocks((*it)->status(), "load groups");
  };
  CANOPY_RETURN_IF_ERROR(for_prefix(storage::kGroupPrefix, [&](auto k, auto v) -> Status {
    Group g;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroup(v, &g));
    if (k.size() != 8 || storage::DecodeFixed64BE(k.data()) != g.id) {
      return Bad("group record key does not match its id " + std::to_string(g.id));
    }
    AccountNode* o = mutable_account(g.owner);
    if (o == nullptr) return Bad("group " + std::to_string(g.id) + " of a missing account");
    groups[g.id] = GroupNode{g.id, g.owner, g.kind, g.name, g.size, {}, {}, {}, g.overlap};
    o->groups.insert(std::lower_bound(o->groups.begin(), o->groups.end(), g.id), g.id);
    return Status::Ok();
  }));
  for (auto& [id, g] : groups) {
    if (g.kind != GroupKind::kUser && g.kind != GroupKind::kAccount) continue;
    const std::string lo = storage::GroupMembersPrefix(id);
    auto it = store.NewIterator(storage::kGroups, snapshot, lo, storage::PrefixSuccessor(lo),
                                /*fill_cache=*/false);
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      rocksdb::Slice k = (*it)->key();
      if (k.size() != 17) return Bad("damaged group member key");
      CANOPY_RETURN_IF_ERROR(AddGroupMember(id, storage::DecodeFixed64BE(k.data() + 9)));
    }
    CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "load group members"));
    if (g.members.size() != g.size) {
      return Bad("group " + std::to_string(id) + " records " + std::to_string(g.size) +
                 " members but holds " + std::to_string(g.members.size()));
    }
  }
  CANOPY_RETURN_IF_ERROR(for_prefix(storage::kGroupGrantPrefix, [&](auto k, auto v) -> Status {
    if (k.size() != 24) return Bad("damaged group grant key");
    GroupGrant g;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroupGrant(v, &g));
    return AddGroupGrant(GroupGrantNode{storage::DecodeFixed64BE(k.data()),
                                        storage::DecodeFixed64BE(k.data() + 8),
                                        storage::DecodeFixed64BE(k.data() + 16), g.branch});
  }));
  return LoadSequences(store, snapshot);
}

Status CatalogRest::LoadSequences(const Store& store, const rocksdb::Snapshot* snapshot) {
  CANOPY_RETURN_IF_ERROR(store.ReadSequence(storage::kSeqGroup, &last_group_id, snapshot));
  CANOPY_RETURN_IF_ERROR(store.ReadSequence(storage::kSeqAccount, &last_account_id, snapshot));
  CANOPY_RETURN_IF_ERROR(store.ReadSequence(storage::kSeqUser, &last_user_id, snapshot));
  CANOPY_RETURN_IF_ERROR(store.ReadSequence(storage::kSeqEntity, &last_entity_id, snapshot));
  CANOPY_RETURN_IF_ERROR(store.ReadSequence(storage::kSeqRole, &last_role_id, snapshot));
  if (last_role_id < kFirstCustomRoleId - 1) last_role_id = kFirstCustomRoleId - 1;
  CANOPY_RETURN_IF_ERROR(store.ReadSequence(storage::kSeqRootOrdinal, &next_root_ordinal, snapshot));
  return Status::Ok();
}

bool CatalogRest::SameSequences(const CatalogRest& o) const {
  return last_account_id == o.last_account_id && last_user_id == o.last_user_id &&
         last_entity_id == o.last_entity_id && last_role_id == o.last_role_id &&
         next_root_ordinal == o.next_root_ordinal && last_group_id == o.last_group_id;
}

const MembershipNode* Catalog::membership(UserId uid, AccountId aid) const {
  const UserNode* u = user(uid);
  if (u == nullptr) return nullptr;
  auto it = std::lower_bound(u->memberships.begin(), u->memberships.end(), aid,
                             [](const MembershipNode& m, AccountId a) { return m.account < a; });
  return (it != u->memberships.end() && it->account == aid) ? &*it : nullptr;
}

bool Catalog::IsSelfOrAncestor(const AccountNode& a, const AccountNode& d) {
  return storage::IsSelfOrAncestorLabel(a.label, d.label);
}

std::vector<const AccountNode*> Catalog::Ancestors(const AccountNode& a) const {
  std::vector<const AccountNode*> out;
  for (AccountId p = a.parent; p != kNoId;) {
    const AccountNode* n = account(p);
    out.push_back(n);
    p = n->parent;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

void Catalog::InsertAccount(AccountNode node) {
  AccountId id = node.id;
  AccountId parent = node.parent;
  if (parent == kNoId) {
    node.tenant = id;
    roots.push_back(id);
  } else {
    AccountNode* p = mutable_account(parent);
    node.tenant = p->tenant;
    p->children.push_back(id);
    for (AccountNode* a = p; a != nullptr; a = mutable_account(a->parent)) a->descendants += 1;
  }
  accounts.emplace(id, std::move(node));
}

void Catalog::EraseAccount(AccountId id) {
  AccountNode* n = mutable_account(id);
  if (n->parent == kNoId) {
    roots.erase(std::find(roots.begin(), roots.end(), id));
  } else {
    AccountNode* p = mutable_account(n->parent);
    p->children.erase(std::find(p->children.begin(), p->children.end(), id));
    for (AccountNode* a = p; a != nullptr; a = mutable_account(a->parent)) a->descendants -= 1;
  }
  accounts.erase(id);
}

void Catalog::Reparent(AccountId id, AccountId new_parent, bool in_label_order) {
  AccountNode* a = mutable_account(id);
  const int64_t size = 1 + a->descendants;
  AccountNode* op = mutable_account(a->parent);
  op->children.erase(std::find(op->children.begin(), op->children.end(), id));
  for (AccountNode* p = op; p != nullptr; p = mutable_account(p->parent)) p->descendants -= size;
  AccountNode* np = mutable_account(new_parent);
  if (in_label_order) {
    auto at = std::lower_bound(np->children.begin(), np->children.end(), a->label,
                               [this](AccountId c, const std::string& label) {
                                 return account(c)->label < label;
                               });
    np->children.insert(at, id);
  } else {
    np->children.push_back(id);  // the newest ordinal: last in label order
  }
  for (AccountNode* p = np; p != nullptr; p = mutable_account(p->parent)) p->descendants += size;
  a->parent = new_parent;
}

Status Catalog::Apply(const storage::ChangeSet& changes) {
  return ApplyChanges(changes, /*undo=*/false);
}

Status Catalog::Undo(const storage::ChangeSet& changes) {
  using storage::RecordType;
  storage::ChangeSet back;
  back.records.reserve(changes.records.size());
  for (auto it = changes.records.rbegin(); it != changes.records.rend(); ++it) {
    if (it->type == RecordType::kAccount && it->after.empty()) {
      return Status::FailedPrecondition(
          "catalog: a change set that deletes an account cannot be taken back from its records");
    }
    storage::RecordChange r;
    r.type = it->type;
    r.key = it->key;
    r.before = it->after;
    r.after = it->before;
    r.before_record = it->after_record;
    r.after_record = it->before_record;
    back.records.push_back(std::move(r));
  }
  back.counters.reserve(changes.counters.size());
  for (const storage::CounterChange& c : changes.counters) {
    back.counters.push_back(storage::CounterChange{c.account, c.counter, -c.delta});
  }
  CANOPY_RETURN_IF_ERROR(ApplyChanges(back, /*undo=*/true));
  // A subtree moved to another root tenant goes back to its old one: the
  // reversed records came children first, so their tenants are set again
  // in the set's own order, parents first.
  for (const storage::RecordChange& r : changes.records) {
    if (r.type != RecordType::kAccount) continue;
    const auto* ap = std::get_if<storage::AccountRecord>(&r.before_record);
    if (ap == nullptr) continue;  // created by the set: gone again
    AccountNode* n = mutable_account(ap->account.id);
    if (n == nullptr) return Bad("undo lost account " + std::to_string(ap->account.id));
    n->tenant = n->parent == kNoId ? n->id : account(n->parent)->tenant;
  }
  return Status::Ok();
}

Status Catalog::ApplyChanges(const storage::ChangeSet& changes, bool undo) {
  using storage::RecordType;
  for (const storage::RecordChange& r : changes.records) {
    const bool created = r.before.empty();
    const bool deleted = r.after.empty();
    if (r.type == RecordType::kGroupMember || r.type == RecordType::kGroupMembers ||
        (r.type == RecordType::kGroup && deleted)) {
      members_epoch = NewMembersEpoch();
    }
    switch (r.type) {
      case RecordType::kAccount: {
        const auto* ap = std::get_if<storage::AccountRecord>(deleted ? &r.before_record
                                                                     : &r.after_record);
        if (ap == nullptr) return Bad("an account change without its record");
        const storage::AccountRecord& a = *ap;
        const AccountId id = a.account.id;
        if (deleted) {
          if (account(id) == nullptr) return Bad("change deletes missing account " + std::to_string(id));
          EraseAccount(id);
          break;
        }
        if (a.account.parent != kNoId && account(a.account.parent) == nullptr) {
          return Bad("change puts account " + std::to_string(id) + " under a missing parent");
        }
        if (created) {
          if (account(id) != nullptr) return Bad("change creates existing account " + std::to_string(id));
          InsertAccount(NodeOf(a));
          break;
        }
        AccountNode* n = mutable_account(id);
        if (n == nullptr) return Bad("change updates missing account " + std::to_string(id));
        if (n->parent != a.account.parent) {
          if (n->parent == kNoId || a.account.parent == kNoId) {
            return Bad("change moves root tenant " + std::to_string(id));
          }
          if (undo) n->label = a.label;  // its place among its old siblings
          Reparent(id, a.account.parent, /*in_label_order=*/undo);
        }
        n->depth = a.account.depth;
        n->settings = a.account.settings;
        n->next_child_ordinal = a.next_child_ordinal;
        n->key = a.account.key;
        n->label = a.label;
        // Change sets list a moved subtree parents first.
        n->tenant = n->parent == kNoId ? n->id : account(n->parent)->tenant;
        break;
      }
      case RecordType::kEntity:
        break;  // entities are not held in memory; their counts come below
      case RecordType::kUser: {
        const auto* up = std::get_if<User>(deleted ? &r.before_record : &r.after_record);
        if (up == nullptr) return Bad("a user change without its record");
        const User& u = *up;
        if (deleted) {
          UserNode* n = mutable_user(u.id);
          if (n == nullptr) return Bad("change deletes missing user " + std::to_string(u.id));
          std::vector<AccountId> accounts;
          for (const auto& m : n->memberships) accounts.push_back(m.account);
          for (AccountId a : accounts) RemoveMembership(u.id, a);
          users.erase(u.id);
          break;
        }
        if (account(u.account) == nullptr) {
          return Bad("change puts user '" + u.login + "' in a missing account");
        }
        UserNode* n = mutable_user(u.id);
        if (created != (n == nullptr)) return Bad("change to user " + std::to_string(u.id) + " does not fit");
        if (n == nullptr) n = users.emplace(u.id, UserNode{}).first;
        n->id = u.id;
        n->home = u.account;
        n->disabled = u.disabled;
        n->login = u.login;
        break;
      }
      case RecordType::kMembership: {
        if (r.key.size() != 16) return Bad("damaged membership key in a change");
        const UserId uid = storage::DecodeFixed64BE(r.key.data());
        const AccountId aid = storage::DecodeFixed64BE(r.key.data() + 8);
        if (user(uid) == nullptr) return Bad("membership change of missing user " + std::to_string(uid));
        if (!created) RemoveMembership(uid, aid);
        if (!deleted) {
          const auto* mp = std::get_if<Membership>(&r.after_record);
          if (mp == nullptr) return Bad("a membership change without its record");
          const Membership& m = *mp;
          if (account(aid) == nullptr || role(m.role) == nullptr) {
            return Bad("membership change refers to a missing account or role");
          }
          AddMembership(uid, MembershipNode{aid, m.role, m.branch});
        }
        break;
      }
      case RecordType::kRole: {
        const auto* rp = std::get_if<Role>(deleted ? &r.before_record : &r.after_record);
        if (rp == nullptr) return Bad("a role change without its record");
        const Role& ro = *rp;
        if (deleted) {
          roles.erase(ro.id);
          break;
        }
        PermSet perms;
        Status s = ParsePermNames(ro.permissions, &perms);
        if (!s.ok()) return Bad("role '" + ro.name + "' in a change: " + s.message());
        auto it = roles.find(ro.id);
        const uint64_t uses = it == roles.end() ? 0 : it->second.uses;
        roles[ro.id] = RoleNode{ro.id, ro.tenant, ro.name, perms, false, uses};
        break;
      }
      case RecordType::kMeta: {
        // Taking back a sequence's first value leaves it unset (0).
        const bool unset = undo && r.after.empty();
        if (r.after.size() != 8 && !unset) return Bad("damaged meta value in a change");
        const uint64_t v = unset ? 0 : storage::DecodeFixed64BE(r.after.data());
        if (r.key == storage::kSeqAccount) {
          last_account_id = v;
        } else if (r.key == storage::kSeqUser) {
          last_user_id = v;
        } else if (r.key == storage::kSeqEntity) {
          last_entity_id = v;
        } else if (r.key == storage::kSeqRole) {
          last_role_id = std::max<uint64_t>(v, kFirstCustomRoleId - 1);  // as LoadSequences
        } else if (r.key == storage::kSeqRootOrdinal) {
          next_root_ordinal = v;
        } else if (r.key == storage::kSeqGroup) {
          last_group_id = v;
        }
        break;
      }
      case RecordType::kGroup: {
        const auto* gp = std::get_if<Group>(deleted ? &r.before_record : &r.after_record);
        if (gp == nullptr) return Bad("a group change without its record");
        const Group& g = *gp;
        GroupNode* n = mutable_group(g.id);
        if (deleted) {
          if (n == nullptr) return Bad("change deletes missing group " + std::to_string(g.id));
          if (!n->members.empty() || !n->grants.empty() || !n->granted_to.empty()) {
            return Bad("change deletes group " + std::to_string(g.id) +
                       " that still has members or grants");
          }
          if (AccountNode* o = mutable_account(n->owner)) {
            auto it = std::lower_bound(o->groups.begin(), o->groups.end(), g.id);
            if (it != o->groups.end() && *it == g.id) o->groups.erase(it);
          }
          groups.erase(g.id);
          break;
        }
        AccountNode* o = mutable_account(g.owner);
        if (o == nullptr) return Bad("change puts group " + std::to_string(g.id) + " in a missing account");
        if (created != (n == nullptr)) return Bad("change to group " + std::to_string(g.id) + " does not fit");
        if (n == nullptr) {
          n = &groups[g.id];
          n->id = g.id;
          o->groups.insert(std::lower_bound(o->groups.begin(), o->groups.end(), g.id), g.id);
        } else if (n->owner != g.owner || n->kind != g.kind) {
          return Bad("change moves group " + std::to_string(g.id));
        }
        n->owner = g.owner;
        n->kind = g.kind;
        n->name = g.name;
        n->size = g.size;
        n->overlap = g.overlap;
        break;
      }
      case RecordType::kGroupMember: {
        if (r.key.size() != 16) return Bad("damaged group member key in a change");
        const GroupId gid = storage::DecodeFixed64BE(r.key.data());
        const uint64_t member = storage::DecodeFixed64BE(r.key.data() + 8);
        const GroupNode* g = group(gid);
        if (g == nullptr) return Bad("member change of missing group " + std::to_string(gid));
        if (g->kind != GroupKind::kUser && g->kind != GroupKind::kAccount) break;  // on disk only
        if (!created) RemoveGroupMember(gid, member);
        if (!deleted) CANOPY_RETURN_IF_ERROR(AddGroupMember(gid, member));
        break;
      }
      case RecordType::kGroupMembers: {
        // A batch only ever joins; taken back (undo), it leaves.
        const bool leave = undo && deleted;
        const auto* mp =
            std::get_if<storage::GroupMembersRecord>(leave ? &r.before_record : &r.after_record);
        if (mp == nullptr) return Bad("a group members change without its record");
        const GroupNode* g = group(mp->group);
        if (g == nullptr) return Bad("member change of missing group " + std::to_string(mp->group));
        if (g->kind != mp->kind) return Bad("member change of the wrong kind for group " + std::to_string(mp->group));
        if (g->kind != GroupKind::kUser && g->kind != GroupKind::kAccount) break;  // on disk only
        for (uint64_t member : mp->members) {
          if (leave) {
            RemoveGroupMember(mp->group, member);
          } else {
            CANOPY_RETURN_IF_ERROR(AddGroupMember(mp->group, member));
          }
        }
        break;
      }
      case RecordType::kGroupGrant: {
        const auto* gp = std::get_if<GroupGrant>(deleted ? &r.before_record : &r.after_record);
        if (gp == nullptr) return Bad("a group grant change without its record");
        if (!created) RemoveGroupGrant(gp->user_group, gp->role, gp->target);
        if (!deleted) {
          CANOPY_RETURN_IF_ERROR(
              AddGroupGrant(GroupGrantNode{gp->user_group, gp->role, gp->target, gp->branch}));
        }
        break;
      }
    }
  }
  for (const storage::CounterChange& c : changes.counters) {
    AccountNode* n = mutable_account(c.account);
    const int kind = c.counter & 0x7f;
    if (n == nullptr) continue;  // deleted by the same change set
    if (kind < 1 || kind > 4) return Bad("change to an unknown counter");
    if (c.counter & storage::kCounterSubtreeBit) {
      n->counts[kind - 1].subtree += c.delta;
    } else {
      n->counts[kind - 1].direct += c.delta;
    }
  }
  return Status::Ok();
}

const GroupGrantNode* Catalog::grant(GroupId user_group, RoleId role, GroupId target) const {
  const GroupNode* g = group(user_group);
  if (g == nullptr) return nullptr;
  for (const auto& x : g->grants) {
    if (x.role == role && x.target == target) return &x;
  }
  return nullptr;
}

namespace {
template <typename T>
void InsertSorted(T& v, typename T::value_type x) {
  auto it = std::lower_bound(v.begin(), v.end(), x);
  if (it == v.end() || *it != x) v.insert(it, x);
}
template <typename T>
void EraseSorted(T& v, typename T::value_type x) {
  auto it = std::lower_bound(v.begin(), v.end(), x);
  if (it != v.end() && *it == x) v.erase(it);
}
}  // namespace

Status Catalog::AddGroupMember(GroupId gid, uint64_t member) {
  GroupNode* g = mutable_group(gid);
  if (g->kind == GroupKind::kUser) {
    UserNode* u = mutable_user(member);
    if (u == nullptr) return Bad("group " + std::to_string(gid) + " holds missing user " + std::to_string(member));
    InsertSorted(u->groups, gid);
  } else {
    AccountNode* a = mutable_account(member);
    if (a == nullptr) {
      return Bad("group " + std::to_string(gid) + " holds missing account " + std::to_string(member));
    }
    InsertSorted(a->in_groups, gid);
  }
  InsertSorted(g->members, member);
  return Status::Ok();
}

void Catalog::RemoveGroupMember(GroupId gid, uint64_t member) {
  GroupNode* g = mutable_group(gid);
  EraseSorted(g->members, member);
  if (g->kind == GroupKind::kUser) {
    if (UserNode* u = mutable_user(member)) EraseSorted(u->groups, gid);
  } else if (AccountNode* a = mutable_account(member)) {
    EraseSorted(a->in_groups, gid);
  }
}

namespace {

// Grants are kept in the order of their keys (user group, role, target),
// the order a load reads them in, wherever they were added from: so both
// copies of a catalog, and a change undone and made again, list them alike
// (the first grant found is the one a who-can or an explanation names).
void InsertGrant(std::vector<GroupGrantNode>* v, const GroupGrantNode& x) {
  auto key = [](const GroupGrantNode& g) {
    return std::make_tuple(g.user_group.value(), g.role.value(), g.target.value());
  };
  v->insert(std::upper_bound(v->begin(), v->end(), x,
                             [&](const GroupGrantNode& a, const GroupGrantNode& b) {
                               return key(a) < key(b);
                             }),
            x);
}

}  // namespace

Status Catalog::AddGroupGrant(const GroupGrantNode& x) {
  GroupNode* ug = mutable_group(x.user_group);
  if (ug == nullptr || ug->kind != GroupKind::kUser || role(x.role) == nullptr) {
    return Bad("group grant of a missing user group or role");
  }
  if (x.target != kNoId) {
    GroupNode* t = mutable_group(x.target);
    if (t == nullptr || t->kind == GroupKind::kUser) return Bad("group grant onto a missing group");
    InsertGrant(&t->granted_to, x);
  }
  InsertGrant(&ug->grants, x);
  roles[x.role].uses += 1;
  return Status::Ok();
}

void Catalog::RemoveGroupGrant(GroupId user_group, RoleId role_id, GroupId target) {
  auto drop = [&](std::vector<GroupGrantNode>& v) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it->user_group == user_group && it->role == role_id && it->target == target) {
        v.erase(it);
        return true;
      }
    }
    return false;
  };
  GroupNode* ug = mutable_group(user_group);
  if (ug == nullptr || !drop(ug->grants)) return;
  if (GroupNode* t = mutable_group(target)) drop(t->granted_to);
  roles[role_id].uses -= 1;
}

void Catalog::AddMembership(UserId uid, const MembershipNode& m) {
  UserNode* u = mutable_user(uid);
  auto it = std::lower_bound(u->memberships.begin(), u->memberships.end(), m.account,
                             [](const MembershipNode& x, AccountId a) { return x.account < a; });
  u->memberships.insert(it, m);
  auto& members = mutable_account(m.account)->members;
  members.insert(std::lower_bound(members.begin(), members.end(), uid), uid);
  roles[m.role].uses += 1;
}

void Catalog::RemoveMembership(UserId uid, AccountId aid) {
  UserNode* u = mutable_user(uid);
  auto it = std::lower_bound(u->memberships.begin(), u->memberships.end(), aid,
                             [](const MembershipNode& x, AccountId a) { return x.account < a; });
  if (it == u->memberships.end() || it->account != aid) return;
  roles[it->role].uses -= 1;
  u->memberships.erase(it);
  if (AccountNode* a = mutable_account(aid)) {
    auto& members = a->members;
    auto mit = std::lower_bound(members.begin(), members.end(), uid);
    if (mit != members.end() && *mit == uid) members.erase(mit);
  }
}

void CompareCatalogs(const Catalog& mem, const Catalog& fresh,
                     const std::function<void(std::string)>& problem) {
  for (const auto& [id, a] : fresh.accounts) {
    const AccountNode* m = mem.account(id);
    if (m == nullptr || m->label != a.label || m->parent != a.parent || m->depth != a.depth ||
        m->children != a.children || m->members != a.members ||
        m->descendants != a.descendants || m->tenant != a.tenant ||
        m->settings.sub_account_management != a.settings.sub_account_management ||
        m->settings.sub_account_access != a.settings.sub_account_access ||
        m->next_child_ordinal != a.next_child_ordinal || m->key != a.key ||
        m->settings.group_sharing != a.settings.group_sharing || m->groups != a.groups ||
        m->in_groups != a.in_groups) {
      problem("in-memory account " + std::to_string(id) + " differs from the stored one");
      continue;
    }
    for (EntityKind k : kAllEntityKinds) {
      if (m->count(k).direct != a.count(k).direct || m->count(k).subtree != a.count(k).subtree) {
        problem("in-memory counts of account " + std::to_string(id) + " differ from the stored ones");
      }
    }
  }
  if (mem.accounts.size() != fresh.accounts.size() || mem.roots != fresh.roots) {
    problem("in-memory account set differs from the stored one");
  }
  for (const auto& [uid, u] : fresh.users) {
    const UserNode* m = mem.user(uid);
    if (m == nullptr || m->home != u.home || m->disabled != u.disabled || m->login != u.login ||
        m->memberships.size() != u.memberships.size() || m->groups != u.groups) {
      problem("in-memory user " + std::to_string(uid) + " differs from the stored one");
      continue;
    }
    for (size_t i = 0; i < u.memberships.size(); ++i) {
      const auto& a = u.memberships[i];
      const auto& b = m->memberships[i];
      if (a.account != b.account || a.role != b.role || a.branch != b.branch) {
        problem("in-memory membership of user " + std::to_string(uid) + " differs from the stored one");
      }
    }
  }
  if (mem.users.size() != fresh.users.size()) problem("in-memory user set differs");
  for (const auto& [rid, r] : fresh.roles) {
    if (r.builtin) continue;
    const RoleNode* m = mem.role(rid);
    if (m == nullptr || !(m->perms == r.perms) || m->uses != r.uses || m->name != r.name) {
      problem("in-memory role '" + r.name + "' differs from the stored one (uses " +
                   (m ? std::to_string(m->uses) : "-") + " vs " + std::to_string(r.uses) + ")");
    }
  }
  if (mem.roles.size() != fresh.roles.size()) problem("in-memory role set differs");
  auto same_grants = [](const std::vector<GroupGrantNode>& a,
                        const std::vector<GroupGrantNode>& b) {
    auto key = [](const GroupGrantNode& x) {
      return std::make_tuple(x.user_group.value(), x.role.value(), x.target.value(), x.branch);
    };
    if (a.size() != b.size()) return false;
    std::vector<std::tuple<uint64_t, uint64_t, uint64_t, bool>> ka, kb;
    for (const auto& x : a) ka.push_back(key(x));
    for (const auto& x : b) kb.push_back(key(x));
    std::sort(ka.begin(), ka.end());
    std::sort(kb.begin(), kb.end());
    return ka == kb;
  };
  for (const auto& [gid, g] : fresh.groups) {
    const GroupNode* m = mem.group(gid);
    if (m == nullptr || m->owner != g.owner || m->kind != g.kind || m->name != g.name ||
        m->size != g.size || m->members != g.members || !same_grants(m->grants, g.grants) ||
        !same_grants(m->granted_to, g.granted_to) || m->overlap != g.overlap) {
      problem("in-memory group " + std::to_string(gid) + " differs from the stored one");
    }
  }
  if (mem.groups.size() != fresh.groups.size()) problem("in-memory group set differs");
  if (!mem.SameSequences(fresh)) {
    problem("in-memory sequences differ from the stored ones");
  }
}

}  // namespace canopy::query
