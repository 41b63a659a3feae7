// Copyright (c) Canopy authors.
//
// Permission evaluation over the catalog (docs/index.md, "Permissions and the rules"): a
// membership on account X grants its role on X and, with `branch`, on every
// descendant of X — never on X's parent, ancestors or siblings. A disabled
// user holds nothing; the system actor holds everything.
//
// All functions read the catalog: callers hold the engine's shared (or
// exclusive) lock.

#ifndef CANOPY_QUERY_ACCESS_H_
#define CANOPY_QUERY_ACCESS_H_

#include <functional>
#include <string>
#include <vector>

#include "canopy/query.h"
#include "canopy/status.h"
#include "canopy/types.h"
#include "query/catalog.h"
#include "query/permissions.h"

namespace canopy::query {

// A role a user holds on an account: one of its memberships, or one it
// holds through a user group's grant (`via` set): a generic grant on the
// user group's owner, or a grant onto an account group for each of its
// accounts. Entity group grants reach entities, not accounts: not here.
struct Held {
  MembershipNode m;
  const GroupGrantNode* via = nullptr;
};
// Is grant g in force? A grant onto a group of another account than the
// user group's owner (shared down) is only while its root tenant's
// group_sharing is on.
inline bool GrantActive(const Catalog& c, const GroupGrantNode& g) {
  if (g.target == kNoId) return true;
  const GroupNode* ug = c.group(g.user_group);
  const GroupNode* t = c.group(g.target);
  if (t->owner == ug->owner) return true;
  return c.account(c.account(ug->owner)->tenant)->settings.group_sharing;
}

template <typename Fn>
void ForEachHeld(const Catalog& c, const UserNode& user, Fn&& fn) {
  for (const auto& m : user.memberships) fn(Held{m, nullptr});
  for (GroupId gid : user.groups) {
    const GroupNode* ug = c.group(gid);
    for (const GroupGrantNode& g : ug->grants) {
      if (g.target == kNoId) {
        fn(Held{MembershipNode{ug->owner, g.role, g.branch}, &g});
        continue;
      }
      const GroupNode* t = c.group(g.target);
      if (t->kind != GroupKind::kAccount || !GrantActive(c, g)) continue;
      for (uint64_t a : t->members) fn(Held{MembershipNode{a, g.role, g.branch}, &g});
    }
  }
}

// Does membership m grant anything on `target`?
bool Covers(const Catalog& c, const MembershipNode& m, const AccountNode& target);

// The routes by which `user` holds `perm` on `owner` (memberships and
// grants of its user groups that cover it with a role that has it), best
// first: the one on the account closest to `owner`; on the same account a
// membership of its own before a group's grant, grants in ForEachHeld's
// order. Explain names the first; who-can the first its filter accepts.
std::vector<Held> GrantingRoutes(const Catalog& c, const UserNode& user, Perm perm,
                                 const AccountNode& owner);

// The permissions `user` holds on `a` (through any covering membership).
PermSet PermsOn(const Catalog& c, const UserNode& user, const AccountNode& a);
// The permissions `user` holds on `a` and every descendant of `a` alike:
// those of branch memberships on `a` or an ancestor.
PermSet BranchPermsOn(const Catalog& c, const UserNode& user, const AccountNode& a);

// Resolves a user actor: NotFound for an unknown user, PermissionDenied
// for a disabled one. *out is null for the system actor. `role` names the
// user in the NotFound message: "actor" for a mutation, "viewer" for a
// query asked on a user's behalf.
Status ResolveActor(const Catalog& c, const Actor& actor, const UserNode** out,
                    std::string_view role = "actor");

// OK when the actor holds `p` on account `a`; otherwise PermissionDenied
// "permission <p> missing on account '<key>' (user '<login>')", or, when
// the user holds nothing there (so cannot see it), "permission <p> missing
// on an account user '<login>' cannot see", which names no account.
Status Require(const Catalog& c, const Actor& actor, Perm p, const AccountNode& a);
// As Require, on `a` and on each account of its subtree: what a call
// that carries the whole subtree along (a move) needs. A branch-wide `p`
// on `a` covers them all; otherwise each sub-account is checked, and a
// refusal on one reads "<what>: permission <p> missing on ..." (naming
// the sub-account only when the actor sees it).
Status RequireThroughout(const Catalog& c, const Actor& actor, Perm p, const AccountNode& a,
                         std::string_view what);

// OK when the actor itself holds every permission of `granted` on `a` (on
// its whole branch when `branch`), so handing them on escalates nothing.
Status RequireHolds(const Catalog& c, const Actor& actor, PermSet granted, bool branch,
                    const AccountNode& a, std::string_view what);

// ---- What an actor can see (docs/index.md, "What an actor can see") ----
// What an actor cannot see is reported exactly like something missing. An
// enabled user actor sees an account on which it holds any permission; an
// entity when it holds any permission of the entity's kind on its owner; a
// user that is itself or over which it holds a user.* permission or
// access.grant (on the account the user was created in or on an account
// the user is a member of); a membership on an account where it holds one
// of those (and its own). The system actor sees everything; so, here, does a disabled or
// unknown actor, which the permission checks refuse with their own message.
bool SeesAccount(const Catalog& c, const Actor& actor, const AccountNode& a);
bool SeesEntity(const Catalog& c, const Actor& actor, EntityKind kind, const AccountNode& owner);
bool SeesUser(const Catalog& c, const Actor& actor, const UserNode& u);
bool SeesMembership(const Catalog& c, const Actor& actor, const UserNode& u, const AccountNode& a);
// What a grant gives on the owner of an entity group: the role's
// permissions of that kind only.
PermSet EntityPart(PermSet perms, EntityKind kind);
// OK when the actor itself holds what grant `g` gives: on the user group's
// owner (generic), on the entity group's owner (that kind's permissions of
// the role) or on each account of an account group (only `account` when
// not kNoId: the one being added). PermissionDenied with `what` otherwise;
// an account the actor cannot see is not named.
Status RequireGives(const Catalog& c, const Actor& actor, const GroupGrantNode& g,
                    AccountId account, std::string_view what);
// May `actor` take grant `g` away? The one rule of every change that drops
// a grant: RevokeGroup, deleting its user group or its target group (by
// DeleteGroup or with their owner's account), and a move after which the
// target is no longer above the user group. It needs user.invite on the
// user group's owner and what the grant gives (RequireGives); `what`
// begins the refusal.
Status RequireRevoke(const Catalog& c, const Actor& actor, const GroupGrantNode& g,
                     const std::string& what);
// How a message to `actor` names grant `g`: "role R of user group 'U' on
// device group 'G'", each group named only as NamesGroup allows (a
// refusal never names what the actor cannot see).
std::string DescribeGrant(const Catalog& c, const Actor& actor, const GroupGrantNode& g);
// The same without the user group: "role R on device group 'G'".
std::string DescribeGrantRole(const Catalog& c, const Actor& actor, const GroupGrantNode& g);
// "a device group", "an account group": the kind with its article.
std::string AGroupOfKind(GroupKind kind);
// "a device", "an asset", "a dashboard", "an entity_view".
std::string AnEntityOfKind(EntityKind kind);
// May what `actor` is told name group `g`? When it sees the groups of g's
// owner (SeesGroups); and, as a user is told the roles it holds, in what
// tells it of its own access (`subject` is the actor's own user) when g is
// a user group it is in or the group a grant of one is on. Of another
// user's access they would tell who else is in the group: not named.
// Naming is not listing: GroupsOf and GroupMembers still need SeesGroups.
bool NamesGroup(const Catalog& c, const Actor& actor, const GroupNode& g,
                const UserNode* subject = nullptr);
// "device group 'G'", or, when NamesGroup says no, "a group out of the
// actor's sight" (its kind is not told either, but a user group's, "a user
// group out of the actor's sight", which is known wherever one is named:
// only user groups hold grants and users).
std::string DescribeGroup(const Catalog& c, const Actor& actor, const GroupNode& g,
                          const UserNode* subject = nullptr);
// How what `actor` is told names account `a`: 'key' (quoted), or kHidden
// (canopy/query.h) when the actor does not see it.
std::string NameAccount(const Catalog& c, const Actor& actor, const AccountNode& a);
// Does the actor see role `r`? A built-in role always; a custom role when
// it sees the role's root tenant, or holds the role itself (a membership
// of its own, or a grant of a user group it is in), as its own
// memberships are seen. An unknown or disabled actor: as SeesAccount.
bool SeesRole(const Catalog& c, const Actor& actor, const RoleNode& r);
// How what `actor` is told names role `r`: its name (unquoted; the caller
// quotes as its sentence needs), or kHidden when the actor does not see it.
// Every message, explanation and listing that names a role goes through
// this, so a custom role of a root tenant out of sight is never named.
std::string NameRole(const Catalog& c, const Actor& actor, const RoleNode& r);
// Does the actor see the groups `owner` owns (group.read, group.write or
// group.share there)? True for an unknown or disabled user, which the
// caller refuses with its own message.
bool SeesGroups(const Catalog& c, const Actor& actor, const AccountNode& owner);

// ---- Acting on users and memberships (docs/index.md, "Acting on users") ----
// An actor may act on what a user holds only when it reaches all of it and
// holds at least as much itself. RequireHoldsMembership: the actor holds
// every permission of m's role on m's account (on its whole branch when m
// has `branch`). RequireOverUser, for acting on the user as a whole
// (rename, disable, enable, remove): `p` on the account the user was
// created in, RequireHoldsMembership for every membership it has, and
// RequireGives for every grant of the user groups it is in. `what` starts
// the refusal ("cannot disable user 'x'"); an account or group the actor
// cannot see is not named.
Status RequireHoldsMembership(const Catalog& c, const Actor& actor, const UserNode& target,
                              const MembershipNode& m, std::string_view what);
Status RequireOverUser(const Catalog& c, const Actor& actor, Perm p, const UserNode& target,
                       std::string_view what);

// The account ranges a viewer may read entities through, for `perm`,
// restricted to `within`'s subtree (kNoId: everywhere) and, with
// direct_only, to the accounts themselves. Sorted by label and disjoint: no
// range lies inside another. The viewer is resolved first: an unknown one
// is NotFound and a disabled one gets no ranges, whatever `within` names.
//
// With `with_groups` (an entity permission), a grant may also be sparse:
// `groups` not empty names the entity groups (all owned by `account`, so
// their members lie in its direct range) whose members alone it reaches,
// through the viewer's user groups' grants in force. A sparse grant is left
// out when a kept range covers its account.
struct Grant {
  std::string label;
  bool branch = false;
  AccountId account = kNoId;
  std::vector<GroupId> groups;  // sorted; empty: the whole range
};
Status PlanGrants(const Catalog& c, const Actor& viewer, Perm perm, AccountId within,
                  bool direct_only, std::vector<Grant>* out, bool with_groups = false);

// check() and explain() for an entity owned by `owner`, told to `asker`:
// accounts and groups it does not see are not named (NameAccount,
// DescribeGroup), in the reason and in the path.
Explanation ExplainAccess(const Catalog& c, const Actor& asker, const UserNode& user, Perm perm,
                          const AccountNode& owner);

// Every user that may exercise `perm` on an entity owned by `owner`, with
// the membership that grants it (the one closest to the owner), ordered by
// user id. With `shown`, only routes it accepts count (a user whose
// closest route it refuses is listed with the next one it accepts).
using WhoCanFilter = std::function<bool(const WhoCanItem&)>;
std::vector<WhoCanItem> UsersWhoCan(const Catalog& c, Perm perm, const AccountNode& owner,
                                    const WhoCanFilter& shown = nullptr);

// "'<key>'" for messages.
std::string Quote(const AccountNode& a);
// "1 device", "2 devices": a count and a noun made plural by an "s" when
// the count is not 1 (every noun used with it takes one).
std::string Plural(uint64_t n, std::string_view noun);
// How a refusal to `actor` names an account or a user that the call did
// not name itself (a sub-account, a member's home, a member): quoted as
// Quote does when the actor sees it, else "an account you cannot see" /
// "a user you cannot see", so that a refusal says why without naming what
// lies out of the actor's sight. Every such name goes through these.
std::string QuoteFor(const Catalog& c, const Actor& actor, const AccountNode& a);
std::string QuoteFor(const Catalog& c, const Actor& actor, const UserNode& u);

}  // namespace canopy::query

#endif  // CANOPY_QUERY_ACCESS_H_
