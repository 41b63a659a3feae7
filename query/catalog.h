// Copyright (c) Canopy authors.
//
// Catalog: the in-memory read model of the account tree, users,
// memberships and roles, loaded on open and kept equal to the stored state
// by the engine (which changes both under one exclusive lock). The query
// planner reads it to turn memberships into key ranges without touching
// disk; entities are never held in memory.
//
// It changes only through Load and Apply (a committed change set), so the
// stored state, the change log and memory are changed by one description.
//
// Thread safety: none of its own. The engine's writer changes a copy no
// reader is in (engine/catalog_versions.h). Copies share the pages of
// their account and user tables, and a shared page is never changed, so
// one copy may be changed, copied or destroyed while others are read.

#ifndef CANOPY_QUERY_CATALOG_H_
#define CANOPY_QUERY_CATALOG_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "canopy/status.h"
#include "canopy/types.h"
#include "query/compact_vector.h"
#include "query/id_table.h"
#include "query/permissions.h"

namespace rocksdb {
class Snapshot;
}

namespace canopy::storage {
class Store;
struct ChangeSet;
}

namespace canopy::query {

struct KindCounts {
  int64_t direct = 0;   // owned by the account itself
  int64_t subtree = 0;  // owned by the account or a descendant
};

struct AccountNode {
  AccountId id = kNoId;
  AccountId parent = kNoId;
  AccountId tenant = kNoId;  // its root tenant (itself for a root)
  uint32_t depth = 0;
  AccountSettings settings;
  uint64_t next_child_ordinal = 0;
  std::string key;
  std::string label;
  CompactVector<AccountId> children;  // in label (creation) order
  CompactVector<UserId> members;      // users with a membership here, sorted
  std::array<KindCounts, 4> counts{};  // by EntityKind (1..4), less one
  CompactVector<GroupId> groups;       // groups it owns, sorted
  CompactVector<GroupId> in_groups;    // account groups holding it, sorted
  int64_t descendants = 0;             // sub-accounts at every level below

  KindCounts& count(EntityKind k) { return counts[static_cast<int>(k) - 1]; }
  const KindCounts& count(EntityKind k) const { return counts[static_cast<int>(k) - 1]; }
};

struct MembershipNode {
  AccountId account = kNoId;
  RoleId role = kNoId;
  bool branch = false;
};

struct UserNode {
  UserId id = kNoId;
  AccountId home = kNoId;
  bool disabled = false;
  std::string login;
  CompactVector<MembershipNode> memberships;  // sorted by account
  CompactVector<GroupId> groups;              // user groups holding it, sorted
};

// The longest list a write to a shared copy of the node would copy
// (query/id_table.h keeps pages with long lists apart).
inline size_t ValuesCopiedOnWrite(const AccountNode& n) {
  return std::max({n.children.size(), n.members.size(), n.groups.size(), n.in_groups.size()});
}
inline size_t ValuesCopiedOnWrite(const UserNode& n) {
  return std::max(n.memberships.size(), n.groups.size());
}

struct GroupGrantNode {
  GroupId user_group = kNoId;
  RoleId role = kNoId;
  GroupId target = kNoId;  // kNoId: generic (on the user group's owner)
  bool branch = false;
};

struct GroupNode {
  GroupId id = kNoId;
  AccountId owner = kNoId;
  GroupKind kind = GroupKind::kDevice;
  std::string name;
  uint64_t size = 0;
  // User and account groups only (entity group members stay on disk).
  std::vector<uint64_t> members;  // sorted
  std::vector<GroupGrantNode> grants;      // user groups: the grants they hold
  std::vector<GroupGrantNode> granted_to;  // entity and account groups: grants onto them
  // Entity groups: members also in another group (of the same owner, as
  // every entity group holding an entity is its owner's). 0: the group is
  // disjoint from every other group, so a union of such groups is counted
  // as the sum of their sizes (docs/model.md, "Groups").
  uint64_t overlap = 0;
};

struct RoleNode {
  RoleId id = kNoId;
  AccountId tenant = kNoId;  // kNoId for built-ins
  std::string name;
  PermSet perms;
  bool builtin = false;
  uint64_t uses = 0;  // memberships with this role
};

inline constexpr uint32_t kNoDepthLimit = std::numeric_limits<uint32_t>::max();

// The deepest level `max_levels` below an account at `depth` reaches
// (0: no limit); saturates instead of wrapping.
inline uint32_t DepthLimit(uint32_t depth, uint32_t max_levels) {
  if (max_levels == 0 || max_levels >= kNoDepthLimit - depth) return kNoDepthLimit;
  return depth + max_levels;
}

// Everything a Catalog holds besides its two tables (accounts, users), which
// hold nearly all of its bytes: Catalog::CopyFrom copies this part whole
// and the tables a page at a time. A new member of the catalog belongs
// here (a static_assert below checks that Catalog adds only the tables).
struct CatalogRest {
  uint32_t max_depth = 32;
  std::vector<AccountId> roots;  // in label (creation) order
  std::unordered_map<RoleId, RoleNode> roles;
  std::unordered_map<GroupId, GroupNode> groups;
  // Sequences: the last id handed out, and the next root ordinal.
  uint64_t last_account_id = 0;
  uint64_t last_user_id = 0;
  uint64_t last_entity_id = 0;
  uint64_t last_role_id = kFirstCustomRoleId - 1;
  uint64_t next_root_ordinal = 0;
  uint64_t last_group_id = 0;
  // Which state of the entity group members this catalog goes with: a new
  // value (never handed out before, in this process) on every Load and on
  // every Apply that changes members or deletes a group. Two catalogs with
  // the same value read the same members on their snapshots, so a
  // membership read may be reused under it (DbImpl's membership cache).
  uint64_t members_epoch = NewMembersEpoch();
  static uint64_t NewMembersEpoch();

  // Reads the sequences above from the store (Load's last step).
  Status LoadSequences(const storage::Store& store, const rocksdb::Snapshot* snapshot);
  // Are the sequences above equal to `o`'s?
  bool SameSequences(const CatalogRest& o) const;
};

struct Catalog : CatalogRest {
  // Accounts and users by id, in pages (query/id_table.h): their ids are
  // dense, so no per-node allocation or hashing. A copy of the catalog
  // shares these pages until one side writes to them.
  IdTable<AccountId, AccountNode> accounts;
  IdTable<UserId, UserNode> users;

  // Makes this a copy of `o`, as assignment does, checking `stop` (when
  // not null) as it goes: false when it was set before the copy ended
  // (this catalog is then empty and must be copied or loaded again). `o`
  // must not change meanwhile (other threads may read it).
  bool CopyFrom(const Catalog& o, const std::atomic<bool>* stop);
  // Shares again the account and user pages that this catalog and `o`
  // hold separate copies of (query/id_table.h), once both hold the same
  // state: the writer's copy brought level with the published one.
  void ShareChangedFrom(Catalog& o) {
    accounts.ShareChangedFrom(o.accounts);
    users.ShareChangedFrom(o.users);
  }

  // Reads the whole stored state: the latest one, or the state of
  // `snapshot` when it is not null. Corruption when stored records
  // contradict each other (a dangling parent, a bad label...). Reads on
  // two threads (this one and one it starts and joins before returning).
  Status Load(const storage::Store& store, const rocksdb::Snapshot* snapshot = nullptr);

  // Applies a committed change set (storage/changes.h), record by record
  // in its order: the catalog's only way to change after Load. Corruption
  // when a change does not fit the current state (the caller must then
  // reload).
  Status Apply(const storage::ChangeSet& changes);
  // Takes back `changes`, the change set applied last: its records in
  // reverse order, each from its after state back to its before state,
  // and its counter changes negated, so that the catalog is as it was
  // before Apply (a replica's group of writes that etcd refused). Costs
  // what applying it cost, not a copy. FailedPrecondition when the set
  // cannot be taken back from what it holds (it deletes an account, whose
  // counts it does not carry); Corruption when a change does not fit.
  // After a refusal the catalog may be part-way: copy or reload it.
  Status Undo(const storage::ChangeSet& changes);

  const AccountNode* account(AccountId id) const { return accounts.find(id); }
  const UserNode* user(UserId id) const { return users.find(id); }
  const RoleNode* role(RoleId id) const {
    auto it = roles.find(id);
    return it == roles.end() ? nullptr : &it->second;
  }
  const MembershipNode* membership(UserId user, AccountId account) const;
  const GroupNode* group(GroupId id) const {
    auto it = groups.find(id);
    return it == groups.end() ? nullptr : &it->second;
  }
  // The grant (user_group, role, target), or null.
  const GroupGrantNode* grant(GroupId user_group, RoleId role, GroupId target) const;

  // Is `a` the account `d` or one of its ancestors?
  static bool IsSelfOrAncestor(const AccountNode& a, const AccountNode& d);

  // Calls fn(node) for the subtree of `root` in pre-order (label order),
  // root first, skipping accounts deeper than `depth_limit`.
  template <typename Fn>
  void ForEachInSubtree(const AccountNode& root, uint32_t depth_limit, Fn&& fn) const;

  // The ancestors of `a`, root first, not including `a`.
  std::vector<const AccountNode*> Ancestors(const AccountNode& a) const;

 private:
  AccountNode* mutable_account(AccountId id) { return accounts.find(id); }
  UserNode* mutable_user(UserId id) { return users.find(id); }
  GroupNode* mutable_group(GroupId id) {
    auto it = groups.find(id);
    return it == groups.end() ? nullptr : &it->second;
  }
  // Group members and grants (keep both directions and role uses in step).
  Status AddGroupMember(GroupId group, uint64_t member);
  void RemoveGroupMember(GroupId group, uint64_t member);
  Status AddGroupGrant(const GroupGrantNode& g);
  void RemoveGroupGrant(GroupId user_group, RoleId role, GroupId target);
  // Adds or removes a membership (keeps members, role uses in step).
  void AddMembership(UserId user, const MembershipNode& m);
  void RemoveMembership(UserId user, AccountId account);
  // Adds a new account below its parent (or as a root) and bumps the
  // ancestors' descendant totals.
  void InsertAccount(AccountNode node);
  // Removes a childless account and its member links (the change set
  // removes the memberships first).
  void EraseAccount(AccountId id);
  // Moves an account (with its subtree) under another parent: last among
  // its children (a move gives it the newest ordinal), or, taking a move
  // back, at its place in label order (its old label set beforehand).
  void Reparent(AccountId id, AccountId new_parent, bool in_label_order = false);
  // Apply, or Undo's inverted change set (undo: a move goes back to its
  // place, a sequence may go back to unset, a batch of members leaves).
  Status ApplyChanges(const storage::ChangeSet& changes, bool undo);
};

// Compares two catalogs node by node, links, counts and sequences
// included: calls `problem` once for each account, user, role or group
// that differs (and for a differing set or sequences), naming `mem` the
// in-memory one and `fresh` the stored one (the integrity check compares
// the catalog with a fresh load; tests compare a catalog with its undo).
void CompareCatalogs(const Catalog& mem, const Catalog& fresh,
                     const std::function<void(std::string)>& problem);

static_assert(sizeof(Catalog) == sizeof(CatalogRest) + sizeof(Catalog::accounts) +
                                     sizeof(Catalog::users),
              "a new member of Catalog belongs in CatalogRest, or CopyFrom misses it");

template <typename Fn>
void Catalog::ForEachInSubtree(const AccountNode& root, uint32_t depth_limit, Fn&& fn) const {
  if (root.depth > depth_limit) return;
  std::vector<const AccountNode*> stack{&root};
  while (!stack.empty()) {
    const AccountNode* n = stack.back();
    stack.pop_back();
    fn(*n);
    if (n->depth >= depth_limit) continue;
    for (auto it = n->children.rbegin(); it != n->children.rend(); ++it) {
      stack.push_back(account(*it));
    }
  }
}

}  // namespace canopy::query

#endif  // CANOPY_QUERY_CATALOG_H_
