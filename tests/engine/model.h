// Copyright (c) Canopy authors.
//
// A tiny in-memory model of the model's rules (docs/index.md), written independently of the
// engine (its own role definitions, its own walk up parent pointers), used
// as the oracle of the model-based test. It predicts the outcome (status
// code) of every mutation in the engine's documented order of checks:
// input -> existence -> permission -> state.

#ifndef CANOPY_TESTS_ENGINE_MODEL_H_
#define CANOPY_TESTS_ENGINE_MODEL_H_

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "canopy/db.h"

namespace canopy::model {

using Perms = std::set<std::string>;

inline const std::vector<std::string>& AllPerms() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v = {"account.read",   "account.create", "account.update",
                                  "account.delete", "account.move",
                                  "account.manage_sub_accounts",     "access.grant",
                                  "user.read",      "user.invite",    "user.update",
                                  "user.remove",    "role.manage",    "audit.read",
                                  "group.read",     "group.write",    "group.share"};
    for (const char* k : {"device", "asset", "dashboard", "entity_view"}) {
      for (const char* a : {"read", "write", "assign", "delete"}) {
        v.push_back(std::string(k) + "." + a);
      }
    }
    return v;
  }();
  return all;
}

inline std::string KindPerm(EntityKind k, const char* action) {
  return std::string(EntityKindName(k)) + "." + action;
}

struct MAccount {
  std::string key;
  AccountId parent = kNoId;
  bool mgmt = false;
  SubAccountAccess access = SubAccountAccess::kDefaultOff;
  AccountId id = kNoId;  // engine id (== map key)
};

struct MRole {
  AccountId tenant = kNoId;  // kNoId: built-in
  std::string name;
  Perms perms;
};

struct MMember {
  RoleId role;
  bool branch;
};

struct MUser {
  std::string login;
  AccountId home;
  bool disabled = false;
  std::map<AccountId, MMember> memberships;
};

struct MEntity {
  AccountId owner;
  std::string unit;
};

// A group: device groups hold entity keys, user groups user ids, account
// groups the owner's direct sub-accounts.
struct MGroup {
  AccountId owner = kNoId;
  GroupKind kind = GroupKind::kDevice;
  std::string name;
  std::set<std::string> entities;  // device keys
  std::set<UserId> users;
  std::set<AccountId> accounts;
};
// A grant: (user group, role, target group or 0) -> branch.
using MGrantKey = std::tuple<GroupId, RoleId, GroupId>;

class Model {
 public:
  Model() {
    Perms admin(AllPerms().begin(), AllPerms().end());
    Perms manager = {"account.read", "user.read"};
    Perms viewer = {"account.read", "user.read"};
    for (EntityKind k : kAllEntityKinds) {
      for (const char* a : {"read", "write", "assign", "delete"}) manager.insert(KindPerm(k, a));
      viewer.insert(KindPerm(k, "read"));
    }
    roles[1] = {kNoId, "account_admin", admin};
    roles[2] = {kNoId, "device_manager", manager};
    roles[3] = {kNoId, "viewer", viewer};
  }

  std::map<AccountId, MAccount> accounts;
  std::map<RoleId, MRole> roles;
  std::map<UserId, MUser> users;
  std::map<std::pair<EntityKind, std::string>, MEntity> entities;
  std::map<GroupId, MGroup> groups;
  std::map<MGrantKey, bool> grants;
  std::set<AccountId> sharing;  // root tenants with group_sharing on

  // ---- groups ----
  bool GrantActive(const MGrantKey& g) const {
    const GroupId target = std::get<2>(g);
    if (target == kNoId) return true;
    const AccountId ug_owner = groups.at(std::get<0>(g)).owner;
    if (groups.at(target).owner == ug_owner) return true;
    return sharing.count(Tenant(ug_owner)) > 0;
  }
  // The generic grants of the user's groups, as (owner, role, branch).
  std::vector<std::tuple<AccountId, RoleId, bool>> GenericGrants(UserId uid) const {
    std::vector<std::tuple<AccountId, RoleId, bool>> out;
    for (const auto& [g, branch] : grants) {
      if (std::get<2>(g) != kNoId) continue;
      const MGroup& ug = groups.at(std::get<0>(g));
      if (ug.users.count(uid)) out.emplace_back(ug.owner, std::get<1>(g), branch);
    }
    return out;
  }
  // The grants of the user's groups onto account groups, as (member
  // account, role, branch): each gives the role on the member (with
  // branch, on its subtree). Only the group's own owner's user groups
  // hold one, so it is never a shared grant.
  std::vector<std::tuple<AccountId, RoleId, bool>> AccountGroupGrants(UserId uid) const {
    std::vector<std::tuple<AccountId, RoleId, bool>> out;
    for (const auto& [g, branch] : grants) {
      const GroupId target = std::get<2>(g);
      if (target == kNoId || groups.at(target).kind != GroupKind::kAccount) continue;
      if (!groups.at(std::get<0>(g)).users.count(uid)) continue;
      for (AccountId m : groups.at(target).accounts) out.emplace_back(m, std::get<1>(g), branch);
    }
    return out;
  }
  // Is account `a` in an account group (its parent's)?
  bool InAccountGroups(AccountId a) const {
    for (const auto& [id, g] : groups) {
      if (g.accounts.count(a)) return true;
    }
    return false;
  }
  // Does a grant of one of the user's groups onto a device group holding
  // `key` give `perm` (any device permission when perm is empty)?
  // The grants onto entity groups that give `perm` on that entity to the
  // user, least first (user group, role, group: the route explain and
  // who-can name when the user has no membership route).
  std::vector<MGrantKey> GroupRoutes(UserId uid, EntityKind kind, const std::string& key,
                                     const std::string& perm) const {
    std::vector<MGrantKey> out;
    if (kind != EntityKind::kDevice || users.at(uid).disabled) return out;
    for (const auto& [g, branch] : grants) {  // in (user group, role, group) order
      const GroupId target = std::get<2>(g);
      if (target == kNoId || !groups.at(std::get<0>(g)).users.count(uid)) continue;
      if (!groups.at(target).entities.count(key) || !GrantActive(g)) continue;
      if (roles.at(std::get<1>(g)).perms.count(perm)) out.push_back(g);
    }
    return out;
  }
  bool GroupReach(UserId uid, EntityKind kind, const std::string& key,
                  const std::string& perm) const {
    if (kind != EntityKind::kDevice || users.at(uid).disabled) return false;
    for (const auto& [g, branch] : grants) {
      const GroupId target = std::get<2>(g);
      if (target == kNoId || !groups.at(std::get<0>(g)).users.count(uid)) continue;
      if (!groups.at(target).entities.count(key) || !GrantActive(g)) continue;
      const Perms& rp = roles.at(std::get<1>(g)).perms;
      if (!perm.empty()) {
        if (rp.count(perm)) return true;
        continue;
      }
      for (const char* a : {"read", "write", "assign", "delete"}) {
        if (rp.count(KindPerm(kind, a))) return true;
      }
    }
    return false;
  }
  // The invariants the engine keeps after every change: groups of missing
  // accounts go; entity members are the owner's own entities, user members
  // users created in the owner; grants refer to existing groups whose
  // owner is the user group's owner or an ancestor.
  void Normalize() {
    for (auto it = groups.begin(); it != groups.end();) {
      it = accounts.count(it->second.owner) ? std::next(it) : groups.erase(it);
    }
    for (auto& [id, g] : groups) {
      for (auto it = g.entities.begin(); it != g.entities.end();) {
        auto e = entities.find({EntityKind::kDevice, *it});
        it = e != entities.end() && e->second.owner == g.owner ? std::next(it) : g.entities.erase(it);
      }
      for (auto it = g.users.begin(); it != g.users.end();) {
        auto u = users.find(*it);
        it = u != users.end() && u->second.home == g.owner ? std::next(it) : g.users.erase(it);
      }
      for (auto it = g.accounts.begin(); it != g.accounts.end();) {
        auto a = accounts.find(*it);
        it = a != accounts.end() && a->second.parent == g.owner ? std::next(it)
                                                                : g.accounts.erase(it);
      }
    }
    for (auto it = grants.begin(); it != grants.end();) {
      const auto& [ug, role, target] = it->first;
      bool keep = groups.count(ug) && roles.count(role) &&
                  (target == kNoId ||
                   (groups.count(target) &&
                    IsSelfOrAncestor(groups.at(target).owner, groups.at(ug).owner)));
      it = keep ? std::next(it) : grants.erase(it);
    }
  }

  // ---- tree ----
  bool IsSelfOrAncestor(AccountId a, AccountId d) const {
    for (AccountId x = d; x != kNoId; x = accounts.at(x).parent) {
      if (x == a) return true;
    }
    return false;
  }
  bool IsProperAncestor(AccountId a, AccountId d) const { return a != d && IsSelfOrAncestor(a, d); }
  uint32_t Depth(AccountId a) const {
    uint32_t d = 0;
    for (AccountId x = a; x != kNoId; x = accounts.at(x).parent) ++d;
    return d;
  }
  AccountId Tenant(AccountId a) const {
    while (accounts.at(a).parent != kNoId) a = accounts.at(a).parent;
    return a;
  }
  std::vector<AccountId> Children(AccountId a) const {
    std::vector<AccountId> out;
    for (const auto& [id, acc] : accounts) {
      if (acc.parent == a) out.push_back(id);
    }
    return out;
  }
  std::vector<AccountId> Subtree(AccountId a) const {
    std::vector<AccountId> out;
    for (const auto& [id, acc] : accounts) {
      if (IsSelfOrAncestor(a, id)) out.push_back(id);
    }
    return out;
  }
  uint32_t Height(AccountId a) const {  // levels below a
    uint32_t h = 0;
    for (AccountId d : Subtree(a)) h = std::max(h, Depth(d) - Depth(a));
    return h;
  }
  std::vector<UserId> MembersOf(AccountId a) const {
    std::vector<UserId> out;
    for (const auto& [uid, u] : users) {
      if (u.memberships.count(a)) out.push_back(uid);
    }
    return out;
  }

  // ---- permissions ----
  Perms PermsOn(UserId uid, AccountId a) const {
    Perms out;
    const MUser& u = users.at(uid);
    if (u.disabled) return out;
    for (const auto& [m, mem] : u.memberships) {
      if (m == a || (mem.branch && IsProperAncestor(m, a))) {
        const auto& p = roles.at(mem.role).perms;
        out.insert(p.begin(), p.end());
      }
    }
    for (const auto& list : {GenericGrants(uid), AccountGroupGrants(uid)}) {
      for (const auto& [m, role, branch] : list) {
        if (m == a || (branch && IsProperAncestor(m, a))) {
          const auto& p = roles.at(role).perms;
          out.insert(p.begin(), p.end());
        }
      }
    }
    return out;
  }
  Perms BranchPermsOn(UserId uid, AccountId a) const {
    Perms out;
    const MUser& u = users.at(uid);
    if (u.disabled) return out;
    for (const auto& [m, mem] : u.memberships) {
      if (mem.branch && IsSelfOrAncestor(m, a)) {
        const auto& p = roles.at(mem.role).perms;
        out.insert(p.begin(), p.end());
      }
    }
    for (const auto& list : {GenericGrants(uid), AccountGroupGrants(uid)}) {
      for (const auto& [m, role, branch] : list) {
        if (branch && IsSelfOrAncestor(m, a)) {
          const auto& p = roles.at(role).perms;
          out.insert(p.begin(), p.end());
        }
      }
    }
    return out;
  }
  // The code Require(actor, perm, a) gives.
  Code Require(const Actor& actor, const std::string& perm, AccountId a) const {
    if (actor.is_system()) return Code::kOk;
    Code c = Resolve(actor);
    if (c != Code::kOk) return c;
    return PermsOn(actor.user(), a).count(perm) ? Code::kOk : Code::kPermissionDenied;
  }
  Code Resolve(const Actor& actor) const {
    if (actor.is_system()) return Code::kOk;
    auto it = users.find(actor.user());
    if (it == users.end()) return Code::kNotFound;
    return it->second.disabled ? Code::kPermissionDenied : Code::kOk;
  }
  Code RequireHolds(const Actor& actor, const Perms& granted, bool branch, AccountId a) const {
    if (actor.is_system()) return Code::kOk;
    Code c = Resolve(actor);
    if (c != Code::kOk) return c;
    Perms held = branch ? BranchPermsOn(actor.user(), a) : PermsOn(actor.user(), a);
    for (const auto& p : granted) {
      if (!held.count(p)) return Code::kPermissionDenied;
    }
    return Code::kOk;
  }

  // Acting on a user as a whole (rename, disable, remove): `perm` on its
  // home account, and the actor holds every membership's role there
  // (branch-wide for a branch membership).
  Code RequireOverUser(const Actor& actor, const std::string& perm, UserId target) const {
    const MUser& t = users.at(target);
    Code c = Require(actor, perm, t.home);
    for (const auto& [a, m] : t.memberships) {
      if (c == Code::kOk) c = RequireHolds(actor, roles.at(m.role).perms, m.branch, a);
    }
    return c;
  }

  // ---- what an actor can see (an enabled user; others see everything) ----
  const MUser* Seer(const Actor& actor) const {
    if (actor.is_system()) return nullptr;
    auto it = users.find(actor.user());
    return it == users.end() || it->second.disabled ? nullptr : &it->second;
  }
  bool Sees(const Actor& actor, AccountId a) const {
    return Seer(actor) == nullptr || !PermsOn(actor.user(), a).empty();
  }
  bool SeesEntity(const Actor& actor, EntityKind kind, AccountId owner) const {
    if (Seer(actor) == nullptr) return true;
    Perms held = PermsOn(actor.user(), owner);
    for (const char* a : {"read", "write", "assign", "delete"}) {
      if (held.count(KindPerm(kind, a))) return true;
    }
    return false;
  }
  // The same for one entity: also when a group grant reaches it.
  bool SeesEntityKey(const Actor& actor, EntityKind kind, const std::string& key) const {
    if (SeesEntity(actor, kind, entities.at({kind, key}).owner)) return true;
    return GroupReach(actor.user(), kind, key, "");
  }
  // Does the viewer see the groups of `owner`?
  bool SeesGroups(const Actor& actor, AccountId owner) const {
    if (Seer(actor) == nullptr) return true;
    Perms held = PermsOn(actor.user(), owner);
    return held.count("group.read") || held.count("group.write") || held.count("group.share");
  }
  // May what the actor is told of `subject`'s access name group `g`? When
  // it sees its owner's groups, and, told of its own access (as it is told
  // the roles it holds), when `g` is a user group it is in or the group a
  // grant of one is on.
  bool NamesGroup(const Actor& actor, GroupId g, UserId subject) const {
    if (SeesGroups(actor, groups.at(g).owner)) return true;
    if (Seer(actor) == nullptr || subject != actor.user()) return false;
    for (const auto& [gid, ug] : groups) {
      if (ug.kind != GroupKind::kUser || !ug.users.count(actor.user())) continue;
      if (gid == g) return true;
      for (const auto& [key, branch] : grants) {
        if (std::get<0>(key) == gid && std::get<2>(key) == g) return true;
      }
    }
    return false;
  }
  bool SeesUsersOn(const Actor& actor, AccountId a) const {
    Perms held = PermsOn(actor.user(), a);
    for (const char* p : {"user.read", "user.invite", "user.update", "user.remove", "access.grant"}) {
      if (held.count(p)) return true;
    }
    return false;
  }
  bool SeesUser(const Actor& actor, UserId u) const {
    if (Seer(actor) == nullptr || actor.user() == u) return true;
    const MUser& t = users.at(u);
    if (SeesUsersOn(actor, t.home)) return true;
    for (const auto& [a, m] : t.memberships) {
      if (SeesUsersOn(actor, a)) return true;
    }
    return false;
  }
  bool SeesMembership(const Actor& actor, UserId u, AccountId a) const {
    return Seer(actor) == nullptr || actor.user() == u || SeesUsersOn(actor, a);
  }
  // The members of `a` whose membership there the viewer sees.
  uint64_t SeenMembers(const Actor& viewer, AccountId a) const {
    uint64_t n = 0;
    for (UserId u : MembersOf(a)) n += SeesMembership(viewer, u, a) ? 1 : 0;
    return n;
  }
  // The keys from the root tenant down to `a` that the viewer sees (`a`'s
  // own always).
  std::vector<std::string> SeenPath(const Actor& viewer, AccountId a) const {
    std::vector<std::string> out;
    for (AccountId x = accounts.at(a).parent; x != kNoId; x = accounts.at(x).parent) {
      if (Sees(viewer, x)) out.insert(out.begin(), accounts.at(x).key);
    }
    out.push_back(accounts.at(a).key);
    return out;
  }
  // The first key of an account, or login of a user, that the actor (an
  // enabled user) cannot see and `message` names, quoted as the engine
  // quotes them; "" if none.
  std::string LeakedKey(const Actor& actor, const std::string& message) const {
    if (Seer(actor) == nullptr) return "";
    for (const auto& [id, acc] : accounts) {
      if (!Sees(actor, id) && message.find("'" + acc.key + "'") != std::string::npos) {
        return acc.key;
      }
    }
    // Nor a user it cannot see.
    for (const auto& [id, u] : users) {
      if (!SeesUser(actor, id) && message.find("'" + u.login + "'") != std::string::npos) {
        return u.login;
      }
    }
    // Nor a custom role it cannot see (the test's custom role names are
    // unique and end in '#', so a plain find is exact).
    for (const auto& [id, r] : roles) {
      if (!SeesRole(actor, id) && message.find(r.name) != std::string::npos) return r.name;
    }
    return "";
  }
  // The account / user / role exists and the actor sees it.
  bool Found(const Actor& actor, AccountId a) const { return accounts.count(a) && Sees(actor, a); }
  bool FoundUser(const Actor& actor, UserId u) const { return users.count(u) && SeesUser(actor, u); }
  bool FoundRole(const Actor& actor, RoleId r) const {
    return roles.count(r) && SeesRole(actor, r);
  }
  // A custom role is seen with its root tenant, and by a user holding it
  // (a membership of its own, or a grant of a user group it is in).
  bool SeesRole(const Actor& actor, RoleId r) const {
    const MRole& role = roles.at(r);
    const MUser* u = Seer(actor);
    if (role.tenant == kNoId || u == nullptr || Sees(actor, role.tenant)) return true;
    for (const auto& [a, m] : u->memberships) {
      if (m.role == r) return true;
    }
    for (const auto& [key, branch] : grants) {
      auto ug = groups.find(std::get<0>(key));
      if (std::get<1>(key) == r && ug != groups.end() && ug->second.users.count(actor.user())) {
        return true;
      }
    }
    return false;
  }

  // ---- queries ----
  // Does the user hold `perm` on that one entity (as Visible would list it)?
  bool Holds(UserId uid, EntityKind kind, const std::string& key, const std::string& perm) const {
    return PermsOn(uid, entities.at({kind, key}).owner).count(perm) > 0 ||
           GroupReach(uid, kind, key, perm);
  }
  // The entities of `kind` on which the user holds `perm`: PermsOn on
  // their owner, or GroupReach (each worked out once per owner and per
  // granted group here, not per entity: the same answers, fewer walks).
  std::set<std::string> Visible(UserId uid, EntityKind kind, const std::string& perm) const {
    std::map<AccountId, bool> on_owner;
    std::vector<const MGroup*> reach;  // the groups whose grants give `perm` to the user
    if (kind == EntityKind::kDevice && !users.at(uid).disabled) {
      for (const auto& [g, branch] : grants) {
        const GroupId target = std::get<2>(g);
        if (target == kNoId || !groups.at(std::get<0>(g)).users.count(uid)) continue;
        if (GrantActive(g) && roles.at(std::get<1>(g)).perms.count(perm)) {
          reach.push_back(&groups.at(target));
        }
      }
    }
    std::set<std::string> out;
    for (const auto& [k, e] : entities) {
      if (k.first != kind) continue;
      auto it = on_owner.find(e.owner);
      if (it == on_owner.end()) it = on_owner.emplace(e.owner, PermsOn(uid, e.owner).count(perm) > 0).first;
      bool in = it->second;
      for (size_t i = 0; !in && i < reach.size(); ++i) in = reach[i]->entities.count(k.second) > 0;
      if (in) out.insert(k.second);
    }
    return out;
  }
  int64_t Direct(AccountId a, EntityKind kind) const {
    int64_t n = 0;
    for (const auto& [k, e] : entities) n += (k.first == kind && e.owner == a);
    return n;
  }
  int64_t SubtreeCount(AccountId a, EntityKind kind) const {
    int64_t n = 0;
    for (const auto& [k, e] : entities) n += (k.first == kind && IsSelfOrAncestor(a, e.owner));
    return n;
  }
};

}  // namespace canopy::model

#endif  // CANOPY_TESTS_ENGINE_MODEL_H_
