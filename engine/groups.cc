// Copyright (c) Canopy authors.
//
// Groups: entity, user and account groups owned by an account, their
// members, and the grants that give a user group's members a role
// (docs/model.md, "Groups"). Every write is a change set of group, group
// member and group grant records (docs/changes.md), like any other
// mutation's.

#include <algorithm>
#include <unordered_set>

#include "engine/db_impl.h"
#include "engine/rules.h"
#include "engine/validate.h"
#include "query/access.h"
#include "query/json.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/records.h"

namespace canopy::engine {

using query::AccountNode;
using query::GroupGrantNode;
using query::GroupNode;
using query::Perm;
using query::PermSet;
using query::Quote;
using query::Require;
using query::RoleNode;
using query::UserNode;

namespace {

std::string Named(const GroupNode& g) {
  return std::string(GroupKindName(g.kind)) + " group '" + g.name + "'";
}

Status CheckGroupKind(GroupKind kind) {
  if (!ParseGroupKind(GroupKindName(kind))) return Status::InvalidArgument("unknown group kind");
  return Status::Ok();
}

// Does the actor see the groups of `owner` (group.read, group.write or
// group.share there)?
bool SeesGroups(const query::Catalog& c, const Actor& actor, const AccountNode& owner) {
  if (actor.is_system()) return true;
  const UserNode* u = c.user(actor.user());
  if (u == nullptr || u->disabled) return true;  // refused elsewhere with its own message
  const PermSet held = query::PermsOn(c, *u, owner);
  return held.Has(Perm::kGroupRead) || held.Has(Perm::kGroupWrite) || held.Has(Perm::kGroupShare);
}

// What a grant gives on `owner` of an entity group: the role's permissions
// of that kind only.
PermSet EntityPart(PermSet perms, EntityKind kind) {
  PermSet out;
  for (int a = 0; a < 4; ++a) {
    const Perm p = query::EntityPerm(kind, static_cast<query::EntityAction>(a));
    if (perms.Has(p)) out.Add(p);
  }
  return out;
}

// OK when the actor itself holds what grant `g` gives: on the user group's
// owner (generic), on the entity group's owner (that kind's permissions of
// the role) or on each account of an account group (only `account` when
// not kNoId: the one being added).
Status RequireGives(const query::Catalog& c, const Actor& actor, const GroupGrantNode& g,
                    AccountId account, std::string_view what) {
  const RoleNode* r = c.role(g.role);
  const GroupNode* ug = c.group(g.user_group);
  if (g.target == kNoId) {
    return query::RequireHolds(c, actor, r->perms, g.branch, *c.account(ug->owner), what);
  }
  const GroupNode* t = c.group(g.target);
  if (auto kind = GroupEntityKind(t->kind)) {
    return query::RequireHolds(c, actor, EntityPart(r->perms, *kind), false,
                               *c.account(t->owner), what);
  }
  auto on = [&](AccountId id) -> Status {
    const AccountNode* a = c.account(id);
    if (!query::SeesAccount(c, actor, *a)) {  // refused in any case; named only when seen
      return Status::PermissionDenied(std::string(what) +
                                      ": the grant reaches an account outside the actor's reach");
    }
    return query::RequireHolds(c, actor, r->perms, g.branch, *a, what);
  };
  if (account != kNoId) return on(account);
  for (uint64_t a : t->members) CANOPY_RETURN_IF_ERROR(on(a));
  return Status::Ok();
}

std::string GrantText(const query::Catalog& c, const GroupGrantNode& g) {
  std::string s = "role " + c.role(g.role)->name + " of user group '" +
                  c.group(g.user_group)->name + "'";
  if (g.target != kNoId) s += " on " + Named(*c.group(g.target));
  return s;
}

const GroupMemberItem* FirstOf(const GroupMembersReport& r, GroupMemberItem::Outcome o) {
  for (const auto& it : r.items) {
    if (it.outcome == o) return &it;
  }
  return nullptr;
}

Status Verdict(const GroupMembersReport& rep, size_t n, std::string_view verb) {
  const std::string tail = "; nothing was " + std::string(verb);
  if (rep.unknown > 0) {
    return Status::NotFound(std::to_string(rep.unknown) + " of " + std::to_string(n) +
                            " unknown (first: " +
                            FirstOf(rep, GroupMemberItem::Outcome::kUnknown)->message + ")" + tail);
  }
  if (rep.denied > 0) {
    return Status::PermissionDenied(std::to_string(rep.denied) + " of " + std::to_string(n) +
                                    " not allowed (first: " +
                                    FirstOf(rep, GroupMemberItem::Outcome::kDenied)->message +
                                    ")" + tail);
  }
  if (rep.duplicate > 0) {
    return Status::InvalidArgument(FirstOf(rep, GroupMemberItem::Outcome::kDuplicate)->message +
                                   tail);
  }
  return Status::Ok();
}

}  // namespace

// ---- Helpers shared with accounts.cc, entities.cc, users.cc ----------------

Status DbImpl::LoadGroup(GroupId id, Group* g) const {
  std::string bytes;
  Status s = store_->Get(storage::kGroups, storage::GroupKey(id), &bytes, snap());
  if (s.IsNotFound()) return Status::NotFound("no group with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(s);
  return storage::DecodeGroup(bytes, g);
}

Status DbImpl::RequireGroup(const Actor& actor, GroupId id, const GroupNode** out) const {
  *out = cat().group(id);
  if (*out != nullptr && !SeesGroups(cat(), actor, *cat().account((*out)->owner))) *out = nullptr;
  if (*out == nullptr) return Status::NotFound("no group with id " + std::to_string(id));
  return Status::Ok();
}

Status DbImpl::ScanGroupMembers(GroupId id, uint64_t after, size_t limit,
                                std::vector<uint64_t>* out) const {
  const std::string prefix = storage::GroupMembersPrefix(id);
  const std::string lo = storage::GroupMemberKey(id, after + 1);
  auto it = store_->NewIterator(storage::kGroups, snap(), lo, storage::PrefixSuccessor(prefix));
  for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
    rocksdb::Slice k = (*it)->key();
    if (k.size() != 17) return Status::Corruption("a group member key is damaged");
    out->push_back(storage::DecodeFixed64BE(k.data() + 9));
    if (limit != 0 && out->size() >= limit) break;
  }
  return storage::FromRocks((*it)->status(), "scan group members");
}

Status DbImpl::InGroup(GroupId group, uint64_t entity, bool* in) const {
  return store_->Exists(storage::kGroups, storage::GroupMemberKey(group, entity), in, snap());
}

Status DbImpl::DropMemberships(storage::MemberClass c, uint64_t member, AccountId keep_owner,
                               GroupEdits* edits, Txn* txn) const {
  const std::string prefix = storage::MemberGroupsPrefix(c, member);
  std::vector<GroupId> gids;
  {
    auto it = store_->NewIterator(storage::kGroups, snap(), prefix,
                                  storage::PrefixSuccessor(prefix));
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      rocksdb::Slice k = (*it)->key();
      if (k.size() != prefix.size() + 8) return Status::Corruption("a member group key is damaged");
      gids.push_back(storage::DecodeFixed64BE(k.data() + prefix.size()));
    }
    CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "scan member groups"));
  }
  for (GroupId gid : gids) {
    if (edits->dropped.count(gid)) continue;
    const GroupNode* g = cat().group(gid);
    if (g == nullptr) return Status::Corruption("a member link names missing group " + std::to_string(gid));
    if (keep_owner != kNoId && g->owner == keep_owner) continue;
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(
        store_->Get(storage::kGroups, storage::GroupMemberKey(gid, member), &bytes, snap()));
    storage::GroupMemberRecord m;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroupMember(bytes, &m));
    m.group = gid;
    m.member = member;
    txn->GroupMember(&m, nullptr);
    edits->size_delta[gid] -= 1;
  }
  return Status::Ok();
}

Status DbImpl::DropGroup(GroupId id, GroupEdits* edits, Txn* txn) const {
  if (!edits->dropped.insert(id).second) return Status::Ok();
  const GroupNode* g = cat().group(id);
  auto revoke = [&](const GroupGrantNode& x) -> Status {
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(store_->Get(storage::kGroups,
                                       storage::GroupGrantKey(x.user_group, x.role, x.target),
                                       &bytes, snap()));
    GroupGrant gg;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroupGrant(bytes, &gg));
    gg.user_group = x.user_group;
    gg.role = x.role;
    gg.target = x.target;
    txn->GroupGrant(cat().group(x.user_group)->owner, &gg, nullptr);
    return Status::Ok();
  };
  for (const GroupGrantNode& x : g->grants) {
    // A grant onto a group dropped by the same call is revoked there.
    if (x.target != kNoId && edits->dropped.count(x.target) && x.target != id) continue;
    CANOPY_RETURN_IF_ERROR(revoke(x));
  }
  for (const GroupGrantNode& x : g->granted_to) {
    if (edits->dropped.count(x.user_group) && x.user_group != id) continue;
    CANOPY_RETURN_IF_ERROR(revoke(x));
  }
  std::vector<uint64_t> members;
  if (GroupEntityKind(g->kind)) {
    CANOPY_RETURN_IF_ERROR(ScanGroupMembers(id, 0, 0, &members));
  } else {
    members = g->members;
  }
  for (uint64_t member : members) {
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(
        store_->Get(storage::kGroups, storage::GroupMemberKey(id, member), &bytes, snap()));
    storage::GroupMemberRecord m;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroupMember(bytes, &m));
    m.group = id;
    m.member = member;
    txn->GroupMember(&m, nullptr);
  }
  Group rec;
  CANOPY_RETURN_IF_ERROR(LoadGroup(id, &rec));
  txn->Group(&rec, nullptr);
  return Status::Ok();
}

Status DbImpl::EmitGroupEdits(const GroupEdits& edits, Txn* txn) const {
  const int64_t now = NowMicros();
  for (const auto& [gid, delta] : edits.size_delta) {
    if (delta == 0 || edits.dropped.count(gid)) continue;
    Group before;
    CANOPY_RETURN_IF_ERROR(LoadGroup(gid, &before));
    Group after = before;
    after.size = static_cast<uint64_t>(static_cast<int64_t>(before.size) + delta);
    after.updated_us = now;
    txn->Group(&before, &after);
  }
  return Status::Ok();
}

Status DbImpl::EntityGrantOf(const UserNode& u, EntityKind kind, std::optional<Perm> perm,
                             EntityId entity, const GroupGrantNode** via) const {
  *via = nullptr;
  if (u.disabled) return Status::Ok();
  for (GroupId gid : u.groups) {
    for (const GroupGrantNode& x : cat().group(gid)->grants) {
      if (x.target == kNoId) continue;
      const GroupNode* t = cat().group(x.target);
      if (GroupEntityKind(t->kind) != kind || !query::GrantActive(cat(), x)) continue;
      const PermSet granted = EntityPart(cat().role(x.role)->perms, kind);
      if (perm ? !granted.Has(*perm) : granted.empty()) continue;
      bool in = false;
      CANOPY_RETURN_IF_ERROR(InGroup(x.target, entity, &in));
      if (in) {
        *via = &x;
        return Status::Ok();
      }
    }
  }
  return Status::Ok();
}

Status DbImpl::SeesEntityOrGroup(const Actor& actor, EntityKind kind, EntityId entity,
                                 const AccountNode& owner, bool* sees) const {
  *sees = query::SeesEntity(cat(), actor, kind, owner);
  if (*sees) return Status::Ok();
  const UserNode* u = cat().user(actor.user());
  if (u == nullptr) return Status::Ok();
  const GroupGrantNode* via = nullptr;
  CANOPY_RETURN_IF_ERROR(EntityGrantOf(*u, kind, std::nullopt, entity, &via));
  *sees = via != nullptr;
  return Status::Ok();
}

Status DbImpl::EntityGrantees(EntityId entity, EntityKind kind, Perm perm,
                              std::vector<WhoCanItem>* out) const {
  const std::string prefix = storage::MemberGroupsPrefix(storage::kMemberEntity, entity);
  std::vector<GroupId> gids;
  auto it = store_->NewIterator(storage::kGroups, snap(), prefix, storage::PrefixSuccessor(prefix));
  for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
    rocksdb::Slice k = (*it)->key();
    if (k.size() != prefix.size() + 8) return Status::Corruption("a member group key is damaged");
    gids.push_back(storage::DecodeFixed64BE(k.data() + prefix.size()));
  }
  CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "scan member groups"));
  std::unordered_set<UserId> seen;
  for (const auto& item : *out) seen.insert(item.user);
  for (GroupId gid : gids) {
    const GroupNode* t = cat().group(gid);
    if (t == nullptr || GroupEntityKind(t->kind) != kind) continue;
    for (const GroupGrantNode& x : t->granted_to) {
      if (!query::GrantActive(cat(), x) || !cat().role(x.role)->perms.Has(perm)) continue;
      for (UserId uid : cat().group(x.user_group)->members) {
        const UserNode* u = cat().user(uid);
        if (u->disabled || !seen.insert(uid).second) continue;
        out->push_back(WhoCanItem{uid, u->login, t->owner, x.role, false, x.user_group, x.target});
      }
    }
  }
  std::sort(out->begin(), out->end(),
            [](const WhoCanItem& a, const WhoCanItem& b) { return a.user < b.user; });
  return Status::Ok();
}

// ---- Mutations ---------------------------------------------------------------

StatusOr<GroupId> DbImpl::CreateGroup(const Actor& actor, const GroupSpec& spec) {
  GroupId created = kNoId;
  Status s = Mutate(actor, "group.create", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject()
                         .Str("kind", GroupKindName(spec.kind))
                         .Str("name", spec.name)
                         .Uint("owner", spec.owner)
                         .str();
    CANOPY_RETURN_IF_ERROR(CheckGroupKind(spec.kind));
    CANOPY_RETURN_IF_ERROR(CheckText("group name", spec.name));
    const AccountNode* o = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, spec.owner, "group owner", &o));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kGroupWrite, *o));
    for (GroupId gid : o->groups) {
      const GroupNode* g = cat().group(gid);
      if (g->kind == spec.kind && g->name == spec.name) {
        return Status::AlreadyExists("account " + Quote(*o) + " already has a " +
                                     GroupKindName(spec.kind) + " group named '" + spec.name + "'");
      }
    }
    const GroupId id = cat().last_group_id + 1;
    Group g;
    g.id = id;
    g.kind = spec.kind;
    g.name = spec.name;
    g.owner = o->id;
    g.created_us = g.updated_us = NowMicros();
    txn->Group(nullptr, &g);
    txn->Meta(storage::kSeqGroup, cat().last_group_id, id);
    created = id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return created;
}

Status DbImpl::RenameGroup(const Actor& actor, GroupId id, std::string_view name) {
  return Mutate(actor, "group.rename", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("group", id).Str("name", name).str();
    CANOPY_RETURN_IF_ERROR(CheckText("group name", name));
    const GroupNode* g = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireGroup(actor, id, &g));
    const AccountNode* o = cat().account(g->owner);
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kGroupWrite, *o));
    if (g->name == name) return Status::Ok();
    for (GroupId gid : o->groups) {
      const GroupNode* x = cat().group(gid);
      if (x->kind == g->kind && x->name == name) {
        return Status::AlreadyExists("account " + Quote(*o) + " already has a " +
                                     GroupKindName(g->kind) + " group named '" +
                                     std::string(name) + "'");
      }
    }
    Group before;
    CANOPY_RETURN_IF_ERROR(LoadGroup(id, &before));
    Group after = before;
    after.name = std::string(name);
    after.updated_us = NowMicros();
    txn->Group(&before, &after);
    return Status::Ok();
  });
}

Status DbImpl::DeleteGroup(const Actor& actor, GroupId id) {
  return Mutate(actor, "group.delete", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("group", id).str();
    const GroupNode* g = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireGroup(actor, id, &g));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kGroupWrite, *cat().account(g->owner)));
    // Its grants go with it: the actor must be allowed to revoke each.
    for (const auto* list : {&g->grants, &g->granted_to}) {
      for (const GroupGrantNode& x : *list) {
        const AccountNode* ugo = cat().account(cat().group(x.user_group)->owner);
        CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserInvite, *ugo));
        CANOPY_RETURN_IF_ERROR(RequireGives(cat(), actor, x, kNoId,
                                            "cannot delete " + Named(*g) + " and with it " +
                                                GrantText(cat(), x)));
      }
    }
    GroupEdits edits;
    return DropGroup(id, &edits, txn);
  });
}

Status DbImpl::AddGroupMembers(const Actor& actor, GroupId id, Span<uint64_t> members,
                               GroupMembersReport* report) {
  GroupMembersReport local;
  GroupMembersReport* rep = report != nullptr ? report : &local;
  *rep = GroupMembersReport();
  const std::vector<uint64_t> list(members.begin(), members.end());
  return Mutate(actor, "group.add", [&](Txn* txn) -> Status {
    txn->arguments =
        query::JsonObject().Uint("group", id).Raw("members", query::JsonNumbers(list)).str();
    *rep = GroupMembersReport();
    if (list.empty()) return Status::InvalidArgument("no members to add");
    const GroupNode* g = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireGroup(actor, id, &g));
    const AccountNode* o = cat().account(g->owner);
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kGroupWrite, *o));
    if (g->kind == GroupKind::kUser) {
      CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserInvite, *o));
      for (const GroupGrantNode& x : g->grants) {
        CANOPY_RETURN_IF_ERROR(RequireGives(cat(), actor, x, kNoId,
                                            "cannot add members to " + Named(*g) + ", which has " +
                                                GrantText(cat(), x)));
      }
    } else if (GroupEntityKind(g->kind)) {
      for (const GroupGrantNode& x : g->granted_to) {
        CANOPY_RETURN_IF_ERROR(RequireGives(cat(), actor, x, kNoId,
                                            "cannot add members to " + Named(*g) +
                                                ", which is granted as " + GrantText(cat(), x)));
      }
    }
    const auto ekind = GroupEntityKind(g->kind);
    std::unordered_set<uint64_t> seen;
    std::vector<uint64_t> adding;
    for (uint64_t mid : list) {
      GroupMemberItem item;
      item.member = mid;
      auto put = [&](GroupMemberItem::Outcome o, std::string msg, size_t* counter) {
        item.outcome = o;
        item.message = std::move(msg);
        ++*counter;
        rep->items.push_back(item);
      };
      std::string what;
      if (ekind) {
        Entity e;
        Status found = LoadEntity(mid, &e, actor);
        if (found.IsNotFound()) {
          put(GroupMemberItem::Outcome::kUnknown, "no entity with id " + std::to_string(mid),
              &rep->unknown);
          continue;
        }
        CANOPY_RETURN_IF_ERROR(found);
        what = std::string(EntityKindName(e.kind)) + " '" + e.key + "'";
        if (!seen.insert(mid).second) {
          put(GroupMemberItem::Outcome::kDuplicate, what + " is named more than once",
              &rep->duplicate);
          continue;
        }
        if (e.kind != *ekind) {
          put(GroupMemberItem::Outcome::kDenied,
              what + " is not a " + EntityKindName(*ekind) + " (" + Named(*g) + ")", &rep->denied);
          continue;
        }
        if (e.owner != o->id) {
          put(GroupMemberItem::Outcome::kDenied,
              what + " is not owned by account " + Quote(*o) + ", the group's owner",
              &rep->denied);
          continue;
        }
        bool in = false;
        CANOPY_RETURN_IF_ERROR(InGroup(id, mid, &in));
        if (in) {
          put(GroupMemberItem::Outcome::kUnchanged, "", &rep->unchanged);
          continue;
        }
      } else if (g->kind == GroupKind::kUser) {
        const UserNode* u = cat().user(mid);
        if (u == nullptr || !query::SeesUser(cat(), actor, *u)) {
          put(GroupMemberItem::Outcome::kUnknown, "no user with id " + std::to_string(mid),
              &rep->unknown);
          continue;
        }
        what = "user '" + u->login + "'";
        if (!seen.insert(mid).second) {
          put(GroupMemberItem::Outcome::kDuplicate, what + " is named more than once",
              &rep->duplicate);
          continue;
        }
        if (u->home != o->id) {
          put(GroupMemberItem::Outcome::kDenied,
              what + " was not created in account " + Quote(*o) + ", the group's owner",
              &rep->denied);
          continue;
        }
        if (std::binary_search(u->groups.begin(), u->groups.end(), id)) {
          put(GroupMemberItem::Outcome::kUnchanged, "", &rep->unchanged);
          continue;
        }
      } else {
        const AccountNode* a = cat().account(mid);
        if (a == nullptr || !query::SeesAccount(cat(), actor, *a)) {
          put(GroupMemberItem::Outcome::kUnknown, "no account with id " + std::to_string(mid),
              &rep->unknown);
          continue;
        }
        what = "account " + Quote(*a);
        if (!seen.insert(mid).second) {
          put(GroupMemberItem::Outcome::kDuplicate, what + " is named more than once",
              &rep->duplicate);
          continue;
        }
        if (a->parent != o->id) {
          put(GroupMemberItem::Outcome::kDenied,
              what + " is not a direct sub-account of account " + Quote(*o) + ", the group's owner",
              &rep->denied);
          continue;
        }
        if (std::binary_search(a->in_groups.begin(), a->in_groups.end(), id)) {
          put(GroupMemberItem::Outcome::kUnchanged, "", &rep->unchanged);
          continue;
        }
        Status gives;
        for (const GroupGrantNode& x : g->granted_to) {
          gives = RequireGives(cat(), actor, x, a->id,
                               "cannot add " + what + " to " + Named(*g) + ", granted as " +
                                   GrantText(cat(), x));
          if (!gives.ok()) break;
        }
        if (!gives.ok()) {
          if (!gives.IsPermissionDenied()) return gives;
          put(GroupMemberItem::Outcome::kDenied, gives.message(), &rep->denied);
          continue;
        }
      }
      put(GroupMemberItem::Outcome::kDone, "", &rep->done);
      adding.push_back(mid);
    }
    CANOPY_RETURN_IF_ERROR(Verdict(*rep, list.size(), "added"));
    if (adding.empty()) return Status::Ok();
    const int64_t now = NowMicros();
    for (uint64_t mid : adding) {
      storage::GroupMemberRecord m;
      m.group = id;
      m.member = mid;
      m.kind = g->kind;
      m.created_us = now;
      txn->GroupMember(nullptr, &m);
    }
    GroupEdits edits;
    edits.size_delta[id] = static_cast<int64_t>(adding.size());
    return EmitGroupEdits(edits, txn);
  });
}

Status DbImpl::RemoveGroupMembers(const Actor& actor, GroupId id, Span<uint64_t> members,
                                  GroupMembersReport* report) {
  GroupMembersReport local;
  GroupMembersReport* rep = report != nullptr ? report : &local;
  *rep = GroupMembersReport();
  const std::vector<uint64_t> list(members.begin(), members.end());
  return Mutate(actor, "group.remove", [&](Txn* txn) -> Status {
    txn->arguments =
        query::JsonObject().Uint("group", id).Raw("members", query::JsonNumbers(list)).str();
    *rep = GroupMembersReport();
    if (list.empty()) return Status::InvalidArgument("no members to remove");
    const GroupNode* g = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireGroup(actor, id, &g));
    const AccountNode* o = cat().account(g->owner);
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kGroupWrite, *o));
    if (g->kind == GroupKind::kUser) {
      CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserRemove, *o));
      for (const GroupGrantNode& x : g->grants) {
        CANOPY_RETURN_IF_ERROR(RequireGives(cat(), actor, x, kNoId,
                                            "cannot remove members from " + Named(*g) +
                                                ", which has " + GrantText(cat(), x)));
      }
    }
    std::unordered_set<uint64_t> seen;
    std::vector<storage::GroupMemberRecord> removing;
    for (uint64_t mid : list) {
      GroupMemberItem item;
      item.member = mid;
      std::string bytes;
      Status st = store_->Get(storage::kGroups, storage::GroupMemberKey(id, mid), &bytes, snap());
      if (!st.ok() && !st.IsNotFound()) return st;
      if (!seen.insert(mid).second) {
        item.outcome = GroupMemberItem::Outcome::kDuplicate;
        item.message = "member " + std::to_string(mid) + " is named more than once";
        rep->duplicate++;
      } else if (st.IsNotFound()) {
        item.outcome = GroupMemberItem::Outcome::kUnchanged;
        rep->unchanged++;
      } else {
        storage::GroupMemberRecord m;
        CANOPY_RETURN_IF_ERROR(storage::DecodeGroupMember(bytes, &m));
        m.group = id;
        m.member = mid;
        removing.push_back(m);
        item.outcome = GroupMemberItem::Outcome::kDone;
        rep->done++;
      }
      rep->items.push_back(std::move(item));
    }
    CANOPY_RETURN_IF_ERROR(Verdict(*rep, list.size(), "removed"));
    if (removing.empty()) return Status::Ok();
    for (const auto& m : removing) txn->GroupMember(&m, nullptr);
    GroupEdits edits;
    edits.size_delta[id] = -static_cast<int64_t>(removing.size());
    return EmitGroupEdits(edits, txn);
  });
}

Status DbImpl::GrantGroup(const Actor& actor, const GroupGrant& grant) {
  return Mutate(actor, "group.grant", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject()
                         .Uint("user_group", grant.user_group)
                         .Uint("role", grant.role)
                         .Uint("target", grant.target)
                         .Bool("branch", grant.branch)
                         .str();
    const GroupNode* ug = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireGroup(actor, grant.user_group, &ug));
    if (ug->kind != GroupKind::kUser) {
      return Status::InvalidArgument(Named(*ug) + " is not a user group: roles are granted to "
                                     "user groups");
    }
    const RoleNode* r = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireRole(actor, grant.role, &r));
    const AccountNode* owner = cat().account(ug->owner);
    if (!r->builtin && r->tenant != owner->tenant) {
      return Status::FailedPrecondition("custom role '" + r->name +
                                        "' belongs to another root tenant than account " +
                                        Quote(*owner));
    }
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserInvite, *owner));
    if (grant.target != kNoId) {
      const GroupNode* t = nullptr;
      CANOPY_RETURN_IF_ERROR(RequireGroup(actor, grant.target, &t));
      const AccountNode* towner = cat().account(t->owner);
      const AccountNode* tenant = cat().account(owner->tenant);
      rules::GroupGrantShape shape;
      shape.user_group_name = ug->name;
      const std::string owner_name = Quote(*owner), towner_name = Quote(*towner);
      // (The root tenant is named only to an actor that sees it.)
      const std::string tenant_phrase =
          "root tenant " + (query::SeesAccount(cat(), actor, *tenant) ? Quote(*tenant)
                                                                      : "of account " + owner_name);
      shape.owner_name = owner_name;
      shape.target_kind = t->kind;
      shape.target_name = t->name;
      shape.target_owner_name = towner_name;
      shape.branch = grant.branch;
      shape.same_owner = towner->id == owner->id;
      shape.target_above = query::Catalog::IsSelfOrAncestor(*towner, *owner);
      shape.sharing = tenant->settings.group_sharing;
      shape.tenant_phrase = tenant_phrase;
      CANOPY_RETURN_IF_ERROR(rules::GroupGrantTarget(shape));
      if (towner->id != owner->id) {
        CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kGroupShare, *towner));
      }
    }
    GroupGrantNode node{grant.user_group, grant.role, grant.target, grant.branch};
    CANOPY_RETURN_IF_ERROR(RequireGives(cat(), actor, node, kNoId,
                                        "cannot grant role " + r->name));
    if (cat().grant(grant.user_group, grant.role, grant.target) != nullptr) {
      return Status::AlreadyExists("user group '" + ug->name + "' already has role " + r->name +
                                   (grant.target == kNoId
                                        ? std::string()
                                        : " on " + Named(*cat().group(grant.target))));
    }
    GroupGrant g = grant;
    g.created_us = NowMicros();
    txn->GroupGrant(owner->id, nullptr, &g);
    return Status::Ok();
  });
}

Status DbImpl::RevokeGroup(const Actor& actor, GroupId user_group, RoleId role, GroupId target) {
  return Mutate(actor, "group.revoke", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject()
                         .Uint("user_group", user_group)
                         .Uint("role", role)
                         .Uint("target", target)
                         .str();
    const GroupNode* ug = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireGroup(actor, user_group, &ug));
    const GroupGrantNode* x = cat().grant(user_group, role, target);
    if (x == nullptr) {
      return Status::NotFound("user group '" + ug->name + "' has no such grant (role " +
                              std::to_string(role) + ", target " + std::to_string(target) + ")");
    }
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserInvite, *cat().account(ug->owner)));
    CANOPY_RETURN_IF_ERROR(
        RequireGives(cat(), actor, *x, kNoId, "cannot revoke " + GrantText(cat(), *x)));
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(store_->Get(storage::kGroups,
                                       storage::GroupGrantKey(user_group, role, target), &bytes,
                                       snap()));
    GroupGrant g;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroupGrant(bytes, &g));
    g.user_group = user_group;
    g.role = role;
    g.target = target;
    txn->GroupGrant(ug->owner, &g, nullptr);
    return Status::Ok();
  });
}

// ---- Reads -----------------------------------------------------------------

StatusOr<Group> DbImpl::GetGroup(const Actor& viewer, GroupId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const GroupNode* g = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireGroup(viewer, id, &g));
  Group out;
  CANOPY_RETURN_IF_ERROR(LoadGroup(id, &out));
  return out;
}

StatusOr<std::vector<Group>> DbImpl::GroupsOf(const Actor& viewer, AccountId owner) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const AccountNode* o = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireAccount(viewer, owner, "groups of", &o));
  std::vector<Group> out;
  if (!SeesGroups(cat(), viewer, *o)) return out;
  for (GroupId gid : o->groups) {
    Group g;
    CANOPY_RETURN_IF_ERROR(LoadGroup(gid, &g));
    out.push_back(std::move(g));
  }
  return out;
}

Status DbImpl::GroupMembers(const Actor& viewer, GroupId id, uint64_t after, size_t limit,
                            GroupMembersPage* page) const {
  *page = GroupMembersPage();
  if (limit == 0 || limit > 100000) {
    return Status::InvalidArgument("limit must be 1..100000, not " + std::to_string(limit));
  }
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const GroupNode* g = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireGroup(viewer, id, &g));
  if (after == UINT64_MAX) return Status::Ok();
  CANOPY_RETURN_IF_ERROR(ScanGroupMembers(id, after, limit + 1, &page->members));
  if (page->members.size() > limit) {
    page->members.resize(limit);
    page->next = page->members.back();
  }
  return Status::Ok();
}

StatusOr<std::vector<Group>> DbImpl::GroupsOfMember(const Actor& viewer, GroupKind kind,
                                                    uint64_t member) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  CANOPY_RETURN_IF_ERROR(CheckGroupKind(kind));
  const storage::MemberClass c = storage::MemberClassOf(static_cast<uint8_t>(kind));
  std::vector<GroupId> gids;
  if (c == storage::kMemberUser) {
    const UserNode* u = cat().user(member);
    if (u == nullptr || !query::SeesUser(cat(), viewer, *u)) {
      return Status::NotFound("no user with id " + std::to_string(member));
    }
    gids = u->groups;
  } else if (c == storage::kMemberAccount) {
    const AccountNode* a = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(viewer, member, "groups of", &a));
    gids = a->in_groups;
  } else {
    Entity e;
    CANOPY_RETURN_IF_ERROR(LoadEntity(member, &e, viewer));
    const std::string prefix = storage::MemberGroupsPrefix(c, member);
    auto it = store_->NewIterator(storage::kGroups, snap(), prefix,
                                  storage::PrefixSuccessor(prefix));
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      rocksdb::Slice k = (*it)->key();
      if (k.size() != prefix.size() + 8) return Status::Corruption("a member group key is damaged");
      gids.push_back(storage::DecodeFixed64BE(k.data() + prefix.size()));
    }
    CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "scan member groups"));
  }
  std::vector<Group> out;
  for (GroupId gid : gids) {
    const GroupNode* g = cat().group(gid);
    if (g == nullptr || !SeesGroups(cat(), viewer, *cat().account(g->owner))) continue;
    Group x;
    CANOPY_RETURN_IF_ERROR(LoadGroup(gid, &x));
    out.push_back(std::move(x));
  }
  return out;
}

StatusOr<std::vector<GroupGrant>> DbImpl::GroupGrants(const Actor& viewer, GroupId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const GroupNode* g = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireGroup(viewer, id, &g));
  std::vector<GroupGrant> out;
  for (const GroupGrantNode& x : g->kind == GroupKind::kUser ? g->grants : g->granted_to) {
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(store_->Get(storage::kGroups,
                                       storage::GroupGrantKey(x.user_group, x.role, x.target),
                                       &bytes, snap()));
    GroupGrant gg;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroupGrant(bytes, &gg));
    gg.user_group = x.user_group;
    gg.role = x.role;
    gg.target = x.target;
    out.push_back(gg);
  }
  std::sort(out.begin(), out.end(), [](const GroupGrant& a, const GroupGrant& b) {
    return std::tie(a.user_group, a.role, a.target) < std::tie(b.user_group, b.role, b.target);
  });
  return out;
}

}  // namespace canopy::engine
