// Copyright (c) Canopy authors.

#include "query/access.h"

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "storage/labels.h"

namespace canopy::query {

std::string Quote(const AccountNode& a) { return "'" + a.key + "'"; }

std::string Plural(uint64_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

std::string QuoteFor(const Catalog& c, const Actor& actor, const AccountNode& a) {
  return SeesAccount(c, actor, a) ? Quote(a) : "an account you cannot see";
}

std::string QuoteFor(const Catalog& c, const Actor& actor, const UserNode& u) {
  return SeesUser(c, actor, u) ? "user '" + u.login + "'" : "a user you cannot see";
}

bool Covers(const Catalog& c, const MembershipNode& m, const AccountNode& target) {
  if (m.account == target.id) return true;
  if (!m.branch) return false;
  const AccountNode* ma = c.account(m.account);
  return ma != nullptr && storage::IsProperAncestorLabel(ma->label, target.label);
}

bool SeesGroups(const Catalog& c, const Actor& actor, const AccountNode& owner) {
  if (actor.is_system()) return true;
  const UserNode* u = c.user(actor.user());
  if (u == nullptr || u->disabled) return true;
  const PermSet held = PermsOn(c, *u, owner);
  return held.Has(Perm::kGroupRead) || held.Has(Perm::kGroupWrite) || held.Has(Perm::kGroupShare);
}

PermSet PermsOn(const Catalog& c, const UserNode& user, const AccountNode& a) {
  PermSet perms;
  if (user.disabled) return perms;
  ForEachHeld(c, user, [&](const Held& h) {
    if (Covers(c, h.m, a)) perms.AddAll(c.role(h.m.role)->perms);
  });
  return perms;
}

PermSet BranchPermsOn(const Catalog& c, const UserNode& user, const AccountNode& a) {
  PermSet perms;
  if (user.disabled) return perms;
  ForEachHeld(c, user, [&](const Held& h) {
    if (!h.m.branch) return;
    const AccountNode* ma = c.account(h.m.account);
    if (Catalog::IsSelfOrAncestor(*ma, a)) perms.AddAll(c.role(h.m.role)->perms);
  });
  return perms;
}

Status ResolveActor(const Catalog& c, const Actor& actor, const UserNode** out,
                    std::string_view role) {
  *out = nullptr;
  if (actor.is_system()) return Status::Ok();
  const UserNode* u = c.user(actor.user());
  if (u == nullptr) {
    return Status::NotFound(std::string(role) + ": no user with id " +
                            std::to_string(actor.user()));
  }
  if (u->disabled) {
    return Status::PermissionDenied("user '" + u->login + "' is disabled and holds no permissions");
  }
  *out = u;
  return Status::Ok();
}

Status Require(const Catalog& c, const Actor& actor, Perm p, const AccountNode& a) {
  if (actor.is_system()) return Status::Ok();
  const UserNode* u = c.user(actor.user());
  if (u == nullptr) {
    return Status::NotFound("actor: no user with id " + std::to_string(actor.user()));
  }
  const PermSet held = PermsOn(c, *u, a);
  if (held.Has(p)) return Status::Ok();
  // An account the user cannot see is not named (a disabled user is told
  // that it is disabled instead).
  if (held.empty() && !u->disabled) {
    return Status::PermissionDenied("permission " + PermName(p) +
                                    " missing on an account user '" + u->login +
                                    "' cannot see");
  }
  return Status::PermissionDenied("permission " + PermName(p) + " missing on account " +
                                  Quote(a) + " (user '" + u->login + "'" +
                                  (u->disabled ? " is disabled and holds no permissions)" : ")"));
}

Status RequireThroughout(const Catalog& c, const Actor& actor, Perm p, const AccountNode& a,
                         std::string_view what) {
  CANOPY_RETURN_IF_ERROR(Require(c, actor, p, a));
  if (actor.is_system()) return Status::Ok();
  const UserNode* u = c.user(actor.user());  // known and enabled: Require passed
  if (BranchPermsOn(c, *u, a).Has(p)) return Status::Ok();
  Status s;
  c.ForEachInSubtree(a, kNoDepthLimit, [&](const AccountNode& n) {
    if (s.ok() && n.id != a.id) s = Require(c, actor, p, n);
  });
  return s.ok() ? s : s.WithContext(what);
}

Status RequireHolds(const Catalog& c, const Actor& actor, PermSet granted, bool branch,
                    const AccountNode& a, std::string_view what) {
  const UserNode* u = nullptr;
  CANOPY_RETURN_IF_ERROR(ResolveActor(c, actor, &u));
  if (u == nullptr) return Status::Ok();
  PermSet held = branch ? BranchPermsOn(c, *u, a) : PermsOn(c, *u, a);
  PermSet missing = granted.Minus(held);
  if (missing.empty()) return Status::Ok();
  std::string names;
  for (const auto& n : missing.Names()) names += (names.empty() ? "" : ", ") + n;
  return Status::PermissionDenied(std::string(what) + ": user '" + u->login +
                                  "' does not itself hold " + names + " on account " + Quote(a) +
                                  (branch ? " and all its sub-accounts" : ""));
}

namespace {
// The enabled user behind `actor`, or null for the system, an unknown or a
// disabled actor (which see everything here; see access.h).
const UserNode* Seer(const Catalog& c, const Actor& actor) {
  if (actor.is_system()) return nullptr;
  const UserNode* u = c.user(actor.user());
  return u == nullptr || u->disabled ? nullptr : u;
}
bool AnyUserPerm(const PermSet& held) {
  return held.Has(Perm::kUserRead) || held.Has(Perm::kUserInvite) ||
         held.Has(Perm::kUserUpdate) || held.Has(Perm::kUserRemove) ||
         held.Has(Perm::kAccessGrant);
}
}  // namespace

bool SeesAccount(const Catalog& c, const Actor& actor, const AccountNode& a) {
  const UserNode* u = Seer(c, actor);
  return u == nullptr || !PermsOn(c, *u, a).empty();
}

bool SeesEntity(const Catalog& c, const Actor& actor, EntityKind kind, const AccountNode& owner) {
  const UserNode* u = Seer(c, actor);
  if (u == nullptr) return true;
  const PermSet held = PermsOn(c, *u, owner);
  for (EntityAction action : {EntityAction::kRead, EntityAction::kWrite, EntityAction::kAssign,
                              EntityAction::kDelete}) {
    if (held.Has(EntityPerm(kind, action))) return true;
  }
  return false;
}

bool SeesUser(const Catalog& c, const Actor& actor, const UserNode& target) {
  const UserNode* u = Seer(c, actor);
  if (u == nullptr || u->id == target.id) return true;
  if (AnyUserPerm(PermsOn(c, *u, *c.account(target.home)))) return true;
  for (const MembershipNode& m : target.memberships) {
    if (AnyUserPerm(PermsOn(c, *u, *c.account(m.account)))) return true;
  }
  return false;
}

bool SeesMembership(const Catalog& c, const Actor& actor, const UserNode& target,
                    const AccountNode& a) {
  const UserNode* u = Seer(c, actor);
  return u == nullptr || u->id == target.id || AnyUserPerm(PermsOn(c, *u, a));
}

Status RequireHoldsMembership(const Catalog& c, const Actor& actor, const UserNode& target,
                              const MembershipNode& m, std::string_view what) {
  const AccountNode* a = c.account(m.account);
  const RoleNode* r = c.role(m.role);
  if (!SeesAccount(c, actor, *a)) {
    // Refused in any case (the actor holds nothing there); name nothing.
    return Status::PermissionDenied(std::string(what) + ": user '" + target.login +
                                    "' holds a role on an account outside the reach of user '" +
                                    c.user(actor.user())->login + "'");
  }
  return RequireHolds(c, actor, r->perms, m.branch, *a, what);
}

// What a grant gives on `owner` of an entity group: the role's permissions
// of that kind only.
PermSet EntityPart(PermSet perms, EntityKind kind) {
  PermSet out;
  for (int a = 0; a < 4; ++a) {
    const Perm p = EntityPerm(kind, static_cast<EntityAction>(a));
    if (perms.Has(p)) out.Add(p);
  }
  return out;
}

// OK when the actor itself holds what grant `g` gives: on the user group's
// owner (generic), on the entity group's owner (that kind's permissions of
// the role) or on each account of an account group (only `account` when
// not kNoId: the one being added).
Status RequireGives(const Catalog& c, const Actor& actor, const GroupGrantNode& g,
                    AccountId account, std::string_view what) {
  const RoleNode* r = c.role(g.role);
  // Every check names its account only when the actor sees it; one it
  // does not see is refused in any case (the actor holds nothing there).
  auto on = [&](AccountId id, PermSet perms, bool branch) -> Status {
    const AccountNode* a = c.account(id);
    if (!SeesAccount(c, actor, *a)) {
      return Status::PermissionDenied(std::string(what) +
                                      ": the grant reaches an account outside the actor's reach");
    }
    return RequireHolds(c, actor, perms, branch, *a, what);
  };
  if (g.target == kNoId) return on(c.group(g.user_group)->owner, r->perms, g.branch);
  const GroupNode* t = c.group(g.target);
  if (auto kind = GroupEntityKind(t->kind)) return on(t->owner, EntityPart(r->perms, *kind), false);
  if (account != kNoId) return on(account, r->perms, g.branch);
  for (uint64_t a : t->members) CANOPY_RETURN_IF_ERROR(on(a, r->perms, g.branch));
  return Status::Ok();
}

Status RequireRevoke(const Catalog& c, const Actor& actor, const GroupGrantNode& g,
                     const std::string& what) {
  // The refusal says what it was needed for (`what`), as RequireGives does.
  CANOPY_RETURN_IF_ERROR(
      Require(c, actor, Perm::kUserInvite, *c.account(c.group(g.user_group)->owner))
          .WithContext(what));
  return RequireGives(c, actor, g, kNoId, what);
}

std::string AGroupOfKind(GroupKind kind) {
  const std::string name = GroupKindName(kind);
  // "an account group", "an asset group", "an entity_view group", but "a
  // user group" (said "you-ser").
  return (std::string("aeio").find(name[0]) == std::string::npos ? "a " : "an ") + name +
         " group";
}

std::string AnEntityOfKind(EntityKind kind) {
  const std::string name = EntityKindName(kind);
  return (std::string("aeio").find(name[0]) == std::string::npos ? "a " : "an ") + name;
}

bool NamesGroup(const Catalog& c, const Actor& actor, const GroupNode& g,
                const UserNode* subject) {
  if (SeesGroups(c, actor, *c.account(g.owner))) return true;
  // As a user is told the roles it holds: the user groups it is in, and
  // the groups their grants are on, where it is told of its own access
  // (named in another user's, they would tell who else is in them).
  const UserNode* u = Seer(c, actor);
  if (u == nullptr || subject == nullptr || subject->id != u->id) return false;
  for (GroupId gid : u->groups) {
    if (gid == g.id) return true;
    const GroupNode* ug = c.group(gid);
    if (ug == nullptr) continue;
    for (const GroupGrantNode& x : ug->grants) {
      if (x.target == g.id) return true;
    }
  }
  return false;
}

std::string DescribeGroup(const Catalog& c, const Actor& actor, const GroupNode& g,
                          const UserNode* subject) {
  if (!NamesGroup(c, actor, g, subject)) {
    // Not even its kind, but for a user group: only a user group holds a
    // grant or users, so where one is named its kind is known anyway.
    return g.kind == GroupKind::kUser ? "a user group out of the actor's sight"
                                      : "a group out of the actor's sight";
  }
  return std::string(GroupKindName(g.kind)) + " group '" + g.name + "'";
}

std::string NameAccount(const Catalog& c, const Actor& actor, const AccountNode& a) {
  return SeesAccount(c, actor, a) ? Quote(a) : kHidden;
}

bool SeesRole(const Catalog& c, const Actor& actor, const RoleNode& r) {
  if (r.builtin) return true;
  const UserNode* u = Seer(c, actor);
  if (u == nullptr) return true;
  const AccountNode* t = c.account(r.tenant);
  if (t != nullptr && !PermsOn(c, *u, *t).empty()) return true;
  // A role it holds itself, as its own memberships are seen.
  for (const MembershipNode& m : u->memberships) {
    if (m.role == r.id) return true;
  }
  for (GroupId gid : u->groups) {
    const GroupNode* ug = c.group(gid);
    if (ug == nullptr) continue;
    for (const GroupGrantNode& g : ug->grants) {
      if (g.role == r.id) return true;
    }
  }
  return false;
}

std::string NameRole(const Catalog& c, const Actor& actor, const RoleNode& r) {
  return SeesRole(c, actor, r) ? r.name : kHidden;
}

std::string DescribeGrantRole(const Catalog& c, const Actor& actor, const GroupGrantNode& g) {
  std::string s = "role " + NameRole(c, actor, *c.role(g.role));
  if (g.target != kNoId) s += " on " + DescribeGroup(c, actor, *c.group(g.target));
  return s;
}

std::string DescribeGrant(const Catalog& c, const Actor& actor, const GroupGrantNode& g) {
  std::string s = "role " + NameRole(c, actor, *c.role(g.role)) + " of " +
                  DescribeGroup(c, actor, *c.group(g.user_group));
  if (g.target != kNoId) s += " on " + DescribeGroup(c, actor, *c.group(g.target));
  return s;
}

Status RequireOverUser(const Catalog& c, const Actor& actor, Perm p, const UserNode& target,
                       std::string_view what) {
  CANOPY_RETURN_IF_ERROR(Require(c, actor, p, *c.account(target.home)));
  for (const MembershipNode& m : target.memberships) {
    const AccountNode* a = c.account(m.account);
    std::string why(what);
    if (SeesAccount(c, actor, *a)) {
      why += " (it has role " + NameRole(c, actor, *c.role(m.role)) + " on account " + Quote(*a) +
             (m.branch ? " with branch access)" : ")");
    }
    CANOPY_RETURN_IF_ERROR(RequireHoldsMembership(c, actor, target, m, why));
  }
  // And what it holds through the user groups it is in: the actor must
  // hold what each of their grants gives.
  for (GroupId gid : target.groups) {
    const GroupNode* ug = c.group(gid);
    if (ug == nullptr) continue;
    for (const GroupGrantNode& g : ug->grants) {
      std::string why(what);
      if (SeesGroups(c, actor, *c.account(ug->owner))) {
        why += " (it is in user group '" + ug->name + "', which has role " +
               NameRole(c, actor, *c.role(g.role));
        if (g.target != kNoId) why += " on " + DescribeGroup(c, actor, *c.group(g.target));
        why += ")";
      }
      CANOPY_RETURN_IF_ERROR(RequireGives(c, actor, g, kNoId, why));
    }
  }
  return Status::Ok();
}

Status PlanGrants(const Catalog& c, const Actor& viewer, Perm perm, AccountId within,
                  bool direct_only, std::vector<Grant>* out, bool with_groups) {
  out->clear();
  // The viewer before `within`: an unknown or disabled one learns nothing
  // of which accounts exist.
  const UserNode* u = nullptr;
  if (!viewer.is_system()) {
    u = c.user(viewer.user());
    if (u == nullptr) return Status::NotFound("no user with id " + std::to_string(viewer.user()));
    if (u->disabled) return Status::Ok();  // holds nothing
  }
  const AccountNode* w = nullptr;
  if (within != kNoId) {
    w = c.account(within);
    // An account out of the viewer's sight is worded as a missing one.
    if (w == nullptr || !SeesAccount(c, viewer, *w)) {
      return Status::NotFound("within: no account with id " + std::to_string(within));
    }
  }
  std::vector<Grant> grants;
  if (viewer.is_system()) {
    for (AccountId r : c.roots) grants.push_back({c.account(r)->label, true, r, {}});
  } else {
    ForEachHeld(c, *u, [&](const Held& h) {
      if (!c.role(h.m.role)->perms.Has(perm)) return;
      const AccountNode* a = c.account(h.m.account);
      grants.push_back({a->label, h.m.branch, a->id, {}});
    });
    EntityKind kind;
    EntityAction action;
    if (with_groups && IsEntityPerm(perm, &kind, &action)) {
      for (GroupId gid : u->groups) {
        for (const GroupGrantNode& g : c.group(gid)->grants) {
          if (g.target == kNoId || !c.role(g.role)->perms.Has(perm)) continue;
          const GroupNode* t = c.group(g.target);
          if (GroupEntityKind(t->kind) != kind || !GrantActive(c, g)) continue;
          const AccountNode* a = c.account(t->owner);
          grants.push_back({a->label, false, a->id, {t->id}});
        }
      }
    }
  }
  // Restrict to `within` and direct_only.
  std::vector<Grant> kept;
  for (auto& g : grants) {
    if (w != nullptr && !g.groups.empty()) {
      // A sparse grant stays when its account lies within (or is) `within`.
      if (g.account == w->id ||
          (!direct_only && storage::IsProperAncestorLabel(w->label, g.label))) {
        kept.push_back(std::move(g));
      }
      continue;
    }
    if (w != nullptr) {
      if (g.account == w->id || (g.branch && storage::IsProperAncestorLabel(g.label, w->label))) {
        // The grant covers `within` itself.
        bool branch = g.branch && !direct_only;
        kept.push_back({w->label, branch, w->id, {}});
        continue;
      }
      if (!storage::IsProperAncestorLabel(w->label, g.label) || direct_only) continue;
    }
    if (direct_only) g.branch = false;
    kept.push_back(std::move(g));
  }
  // Sort by label, a branch grant before a direct one on the same account
  // and a sparse one last, then drop grants that lie inside a kept branch
  // grant, sparse ones covered by a full direct grant, and merge the
  // sparse grants of one account.
  std::sort(kept.begin(), kept.end(), [](const Grant& a, const Grant& b) {
    if (a.label != b.label) return a.label < b.label;
    if (a.branch != b.branch) return a.branch > b.branch;
    return a.groups.size() < b.groups.size();
  });
  std::string cover;  // the last kept branch grant's label; "" while none
  for (auto& g : kept) {
    if (!cover.empty() && storage::IsSelfOrAncestorLabel(cover, g.label)) continue;
    if (g.branch) cover = g.label;
    if (!out->empty() && out->back().label == g.label) {
      Grant& prev = out->back();
      if (prev.groups.empty()) continue;  // a full range covers it (or is a duplicate)
      if (g.groups.empty()) {
        prev = std::move(g);  // cannot happen after the sort; kept for safety
        continue;
      }
      prev.groups.insert(prev.groups.end(), g.groups.begin(), g.groups.end());
      std::sort(prev.groups.begin(), prev.groups.end());
      prev.groups.erase(std::unique(prev.groups.begin(), prev.groups.end()), prev.groups.end());
      continue;
    }
    out->push_back(std::move(g));
  }
  return Status::Ok();
}

Explanation ExplainAccess(const Catalog& c, const Actor& asker, const UserNode& user, Perm perm,
                          const AccountNode& owner) {
  auto name = [&](const AccountNode& a) { return NameAccount(c, asker, a); };
  Explanation e;
  e.owner = owner.id;
  if (user.disabled) {
    e.reason = "user '" + user.login + "' is disabled and holds no permissions";
    return e;
  }
  // A membership of another user is told only to an asker that sees it
  // (SeesMembership), as MembershipsOf lists it; a route through a group
  // is told with the groups named as DescribeGroup names them.
  auto told = [&](const Held& h) {
    return h.via != nullptr || SeesMembership(c, asker, user, *c.account(h.m.account));
  };
  // The best route: the closest to the owner (GrantingRoutes) of those the
  // asker may be told.
  const std::vector<Held> routes = GrantingRoutes(c, user, perm, owner);
  const Held* best = nullptr;
  for (const Held& h : routes) {
    if (told(h)) {
      best = &h;
      break;
    }
  }
  if (best == nullptr && !routes.empty()) {
    // Allowed only through memberships out of the asker's sight: the
    // verdict, and nothing of them.
    e.allowed = true;
    e.via_role_name = kHidden;
    e.reason = "user '" + user.login + "' holds " + PermName(perm) + " on account " + name(owner) +
               " through a membership out of the asker's sight";
    return e;
  }
  const AccountNode* best_account = best ? c.account(best->m.account) : nullptr;
  // Without one, what each of the user's roles lacks.
  std::vector<std::string> near_misses;
  if (best == nullptr) ForEachHeld(c, user, [&](const Held& h) {
    if (!told(h)) return;
    const MembershipNode& m = h.m;
    const AccountNode* a = c.account(m.account);
    const RoleNode* r = c.role(m.role);
    bool covers = Covers(c, m, owner);
    std::string why;
    if (!covers) {
      if (storage::IsProperAncestorLabel(a->label, owner.label)) {
        why = "not branch-wide, so it does not reach sub-account " + name(owner);
      } else {
        why = "does not contain account " + name(owner) + " (access flows top-down only)";
      }
    } else {
      why = "role lacks " + PermName(perm);
    }
    near_misses.push_back(NameRole(c, asker, *r) + " on " + name(*a) + (m.branch ? " (branch)" : "") +
                          (h.via ? " through " + DescribeGroup(c, asker, *c.group(h.via->user_group), &user)
                                 : std::string()) +
                          ": " + why);
  });
  if (best) {
    const RoleNode* r = c.role(best->m.role);
    e.allowed = true;
    e.via_account = best_account->id;
    e.via_role = r->id;
    e.via_role_name = NameRole(c, asker, *r);
    e.via_branch = best->m.branch;
    if (best->via != nullptr) {
      e.via_user_group = best->via->user_group;
      e.via_group = best->via->target;
    }
    std::vector<const AccountNode*> chain;
    for (const AccountNode* n = &owner; n != nullptr; n = c.account(n->parent)) {
      chain.push_back(n);
      if (n == best_account) break;
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      e.path.push_back(SeesAccount(c, asker, **it) ? (*it)->key : kHidden);
    }
    e.reason = "user '" + user.login + "' has role " + e.via_role_name + " on account " +
               name(*best_account) +
               (best_account->id == owner.id ? "" : " with branch access, which contains " +
                                                        name(owner));
    if (best->via != nullptr) {
      e.reason += " through " + DescribeGroup(c, asker, *c.group(best->via->user_group), &user) +
                  (best->via->target == kNoId
                       ? std::string()
                       : " (granted on " + DescribeGroup(c, asker, *c.group(best->via->target), &user) +
                             ")");
    }
    return e;
  }
  e.reason = "no membership or group of user '" + user.login + "' grants " + PermName(perm) +
             " on account " + name(owner);
  const UserNode* seer = Seer(c, asker);
  if (near_misses.empty() && seer != nullptr && seer->id != user.id) {
    // Said whether or not the user holds memberships the asker cannot see.
    e.reason += " (no membership of the user in the asker's sight)";
  } else if (near_misses.empty()) {
    e.reason += " (the user has no memberships)";
  } else {
    e.reason += "; memberships: ";
    for (size_t i = 0; i < near_misses.size(); ++i) {
      e.reason += (i ? "; " : "") + near_misses[i];
    }
  }
  return e;
}

std::vector<Held> GrantingRoutes(const Catalog& c, const UserNode& user, Perm perm,
                                 const AccountNode& owner) {
  std::vector<Held> routes;
  if (user.disabled) return routes;
  // What ForEachHeld yields that covers `owner`, in its order, but an
  // account group's grant is looked for on the path from `owner` up (its
  // accounts' in_groups), not through every account of the group: a
  // who-can asks this for every candidate.
  for (const MembershipNode& m : user.memberships) {
    if (Covers(c, m, owner) && c.role(m.role)->perms.Has(perm)) routes.push_back(Held{m, nullptr});
  }
  for (GroupId gid : user.groups) {
    const GroupNode* ug = c.group(gid);
    for (const GroupGrantNode& g : ug->grants) {
      if (!c.role(g.role)->perms.Has(perm)) continue;
      if (g.target == kNoId) {
        const MembershipNode m{ug->owner, g.role, g.branch};
        if (Covers(c, m, owner)) routes.push_back(Held{m, &g});
        continue;
      }
      const GroupNode* t = c.group(g.target);
      if (t->kind != GroupKind::kAccount || !GrantActive(c, g)) continue;
      for (const AccountNode* a = &owner; a != nullptr; a = g.branch ? c.account(a->parent) : nullptr) {
        if (std::binary_search(a->in_groups.begin(), a->in_groups.end(), t->id)) {
          routes.push_back(Held{MembershipNode{a->id, g.role, g.branch}, &g});
        }
      }
    }
  }
  // Stable: memberships come before grants, and the grants keep their
  // order among themselves (one route per account of the path each).
  std::stable_sort(routes.begin(), routes.end(), [&](const Held& x, const Held& y) {
    return c.account(x.m.account)->depth > c.account(y.m.account)->depth;
  });
  return routes;
}

std::vector<WhoCanItem> UsersWhoCan(const Catalog& c, Perm perm, const AccountNode& owner,
                                    const WhoCanFilter& shown) {
  // The candidates: members of the accounts from the owner up, and the
  // users of the user groups whose grants reach one of them (generic
  // grants of user groups owned there, grants onto account groups holding
  // one). Each is listed with its best route (GrantingRoutes, as explain
  // names it), or the best one `shown` accepts.
  std::unordered_set<UserId> candidates;
  for (const AccountNode* a = &owner; a != nullptr; a = c.account(a->parent)) {
    candidates.insert(a->members.begin(), a->members.end());
    auto add_users_of = [&](const GroupGrantNode& g) {
      if ((a != &owner && !g.branch) || !c.role(g.role)->perms.Has(perm)) return;
      const auto& users = c.group(g.user_group)->members;
      candidates.insert(users.begin(), users.end());
    };
    for (GroupId gid : a->groups) {
      const GroupNode* ug = c.group(gid);
      if (ug->kind != GroupKind::kUser) continue;
      for (const GroupGrantNode& g : ug->grants) {
        if (g.target == kNoId) add_users_of(g);
      }
    }
    for (GroupId gid : a->in_groups) {
      for (const GroupGrantNode& g : c.group(gid)->granted_to) add_users_of(g);
    }
  }
  std::vector<WhoCanItem> out;
  for (UserId uid : candidates) {
    const UserNode* u = c.user(uid);
    for (const Held& h : GrantingRoutes(c, *u, perm, owner)) {
      WhoCanItem item{uid, u->login, h.m.account, h.m.role, h.m.branch};
      if (h.via != nullptr) {
        item.via_user_group = h.via->user_group;
        item.via_group = h.via->target;
      }
      if (shown && !shown(item)) continue;
      out.push_back(std::move(item));
      break;
    }
  }
  std::sort(out.begin(), out.end(),
            [](const WhoCanItem& x, const WhoCanItem& y) { return x.user < y.user; });
  return out;
}

}  // namespace canopy::query
