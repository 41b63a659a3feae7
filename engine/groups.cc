// Copyright (c) Canopy authors.
//
// Groups: entity, user and account groups owned by an account, their
// members, and the grants that give a user group's members a role
// (docs/model.md, "Groups"). Every write is a change set of group, group
// member and group grant records (docs/changes.md), like any other
// mutation's.

#include <algorithm>
#include <cstring>
#include <tuple>
#include <unordered_map>
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

using query::EntityPart;
using query::RequireGives;

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

// When members would join or leave and `gives` (what the group's grants
// need of the actor) refuses: each of those members is denied with its
// message, so the report says why, as for a member denied on its own.
Status DenyChanging(const Status& gives, GroupMembersReport* rep) {
  if (gives.ok() || !gives.IsPermissionDenied()) return gives;
  for (GroupMemberItem& it : rep->items) {
    if (it.outcome != GroupMemberItem::Outcome::kDone) continue;
    it.outcome = GroupMemberItem::Outcome::kDenied;
    it.message = gives.message();
    --rep->done;
    ++rep->denied;
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
  if (*out != nullptr && !query::SeesGroups(cat(), actor, *cat().account((*out)->owner))) *out = nullptr;
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

bool DbImpl::MembershipCache::Find(uint64_t epoch, GroupId group, uint64_t entity,
                                   bool* in) const {
  const Shard& s = ShardOf(entity);
  std::lock_guard<std::mutex> l(s.mu);
  if (s.epoch != epoch) return false;
  auto it = s.in.find({group, entity});
  if (it == s.in.end()) return false;
  *in = it->second;
  return true;
}

void DbImpl::MembershipCache::Put(uint64_t epoch, GroupId group, uint64_t entity, bool in) {
  Shard& s = ShardOf(entity);
  std::lock_guard<std::mutex> l(s.mu);
  if (epoch < s.epoch) return;  // read on an older state than the shard holds
  if (epoch != s.epoch || s.in.size() >= kMaxPerShard) {
    s.in.clear();
    s.epoch = epoch;
  }
  s.in[{group, entity}] = in;
}

Status DbImpl::LinksOf(storage::MemberClass c, GroupId id,
                       const std::vector<uint64_t>& sorted_members,
                       const std::set<GroupId>* dropped, std::vector<MemberLinks>* out) const {
  out->assign(sorted_members.size(), MemberLinks());
  if (sorted_members.empty()) return Status::Ok();
  std::string prefix = storage::MemberGroupsPrefix(c, sorted_members.front());
  auto it = store_->NewIterator(
      storage::kGroups, snap(), prefix,
      storage::PrefixSuccessor(storage::MemberGroupsPrefix(c, sorted_members.back())));
  (*it)->SeekToFirst();
  const size_t at = prefix.size() - 8;
  storage::ForwardProbe probe(it->it());
  for (size_t i = 0; i < sorted_members.size(); ++i) {
    storage::EncodeFixed64BE(prefix.data() + at, sorted_members[i]);
    probe.To(prefix);
    MemberLinks& l = (*out)[i];
    for (; (*it)->Valid() && (*it)->key().starts_with(prefix); (*it)->Next()) {
      rocksdb::Slice k = (*it)->key();
      if (k.size() != prefix.size() + 8) return Status::Corruption("a member group key is damaged");
      const GroupId gid = storage::DecodeFixed64BE(k.data() + prefix.size());
      if (gid == id) {
        l.in_group = true;
      } else if (dropped == nullptr || !dropped->count(gid)) {
        ++l.others;
        l.other = gid;
      }
    }
  }
  return storage::FromRocks((*it)->status(), "scan member groups");
}

Status DbImpl::MemberGroups(storage::MemberClass c, uint64_t member,
                            std::vector<GroupId>* out) const {
  out->clear();
  const std::string prefix = storage::MemberGroupsPrefix(c, member);
  auto it = store_->NewIterator(storage::kGroups, snap(), prefix, storage::PrefixSuccessor(prefix));
  for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
    rocksdb::Slice k = (*it)->key();
    if (k.size() != prefix.size() + 8) return Status::Corruption("a member group key is damaged");
    out->push_back(storage::DecodeFixed64BE(k.data() + prefix.size()));
  }
  return storage::FromRocks((*it)->status(), "scan member groups");
}

Status DbImpl::DropMemberships(storage::MemberClass c, uint64_t member, AccountId keep_owner,
                               GroupEdits* edits, Txn* txn) const {
  std::vector<GroupId> gids;
  CANOPY_RETURN_IF_ERROR(MemberGroups(c, member, &gids));
  // Overlap: each group losing the member counted it when it was in two or
  // more live groups; a sole remaining group counted it too.
  std::vector<GroupId> live, removed;
  for (GroupId gid : gids) {
    if (edits->dropped.count(gid)) continue;
    live.push_back(gid);
    const GroupNode* g = cat().group(gid);
    if (g == nullptr) return Status::Corruption("a member link names missing group " + std::to_string(gid));
    if (keep_owner == kNoId || g->owner != keep_owner) removed.push_back(gid);
  }
  if (c == storage::kMemberEntity && live.size() >= 2) {
    for (GroupId gid : removed) edits->overlap_delta[gid] -= 1;
    if (live.size() - removed.size() == 1) {
      for (GroupId gid : live) {
        if (std::find(removed.begin(), removed.end(), gid) == removed.end()) {
          edits->overlap_delta[gid] -= 1;
        }
      }
    }
  }
  for (GroupId gid : removed) {
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
    if (g->overlap > 0) {
      // A member left in exactly one live group no longer overlaps there.
      std::vector<MemberLinks> links;
      CANOPY_RETURN_IF_ERROR(
          LinksOf(storage::kMemberEntity, id, members, &edits->dropped, &links));
      for (const MemberLinks& l : links) {
        if (l.others == 1) edits->overlap_delta[l.other] -= 1;
      }
    }
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
  std::set<GroupId> changed;
  for (const auto& [gid, delta] : edits.size_delta) {
    if (delta != 0) changed.insert(gid);
  }
  for (const auto& [gid, delta] : edits.overlap_delta) {
    if (delta != 0) changed.insert(gid);
  }
  auto delta_of = [](const std::map<GroupId, int64_t>& m, GroupId gid) -> int64_t {
    auto it = m.find(gid);
    return it == m.end() ? 0 : it->second;
  };
  for (GroupId gid : changed) {
    if (edits.dropped.count(gid)) continue;
    Group before;
    CANOPY_RETURN_IF_ERROR(LoadGroup(gid, &before));
    Group after = before;
    const int64_t size = static_cast<int64_t>(before.size) + delta_of(edits.size_delta, gid);
    const int64_t overlap =
        static_cast<int64_t>(before.overlap) + delta_of(edits.overlap_delta, gid);
    if (size < 0 || overlap < 0 || overlap > size) {
      // Only stored counts that disagree with the member keys get here.
      return Status::Corruption("group " + std::to_string(gid) + " would hold " +
                                std::to_string(size) + " members, " + std::to_string(overlap) +
                                " of them also in another group: its stored size or overlap "
                                "does not match its members");
    }
    after.size = static_cast<uint64_t>(size);
    after.overlap = static_cast<uint64_t>(overlap);
    Touch(&after, now);
    txn->Group(&before, &after);
  }
  return Status::Ok();
}

Status DbImpl::EntityGrantOf(const UserNode& u, EntityKind kind, std::optional<Perm> perm,
                             EntityId entity, AccountId owner, const GroupGrantNode** via,
                             MembershipMemo* memo) const {
  *via = nullptr;
  if (u.disabled) return Status::Ok();
  MembershipMemo local;
  MembershipMemo& known = memo != nullptr ? *memo : local;
  for (GroupId gid : u.groups) {
    for (const GroupGrantNode& x : cat().group(gid)->grants) {
      if (x.target == kNoId) continue;
      const GroupNode* t = cat().group(x.target);
      // An entity group holds only entities its owner owns.
      if (t->owner != owner || GroupEntityKind(t->kind) != kind || !query::GrantActive(cat(), x)) {
        continue;
      }
      const PermSet granted = EntityPart(cat().role(x.role)->perms, kind);
      if (perm ? !granted.Has(*perm) : granted.empty()) continue;
      auto k = std::find_if(known.begin(), known.end(),
                            [&](const auto& p) { return p.first == x.target; });
      bool in = false;
      if (k != known.end()) {
        in = k->second;
      } else {
        const uint64_t epoch = cat().members_epoch;
        if (memo == nullptr || !membership_cache_.Find(epoch, x.target, entity, &in)) {
          CANOPY_RETURN_IF_ERROR(InGroup(x.target, entity, &in));
          if (memo != nullptr) membership_cache_.Put(epoch, x.target, entity, in);
        }
        known.emplace_back(x.target, in);
      }
      if (in) {
        *via = &x;
        return Status::Ok();
      }
    }
  }
  return Status::Ok();
}

Status DbImpl::SeesEntityOrGroup(const Actor& actor, EntityKind kind, EntityId entity,
                                 const AccountNode& owner, bool* sees,
                                 MembershipMemo* memo) const {
  *sees = query::SeesEntity(cat(), actor, kind, owner);
  if (*sees) return Status::Ok();
  const UserNode* u = cat().user(actor.user());
  if (u == nullptr) return Status::Ok();
  const GroupGrantNode* via = nullptr;
  CANOPY_RETURN_IF_ERROR(EntityGrantOf(*u, kind, std::nullopt, entity, owner.id, &via, memo));
  *sees = via != nullptr;
  return Status::Ok();
}

Status DbImpl::EntityGrantees(EntityId entity, EntityKind kind, Perm perm,
                              std::vector<WhoCanItem>* out,
                              const query::WhoCanFilter& shown) const {
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
  // A user reached by several grants is named by the one EntityGrantOf
  // (explain) finds first: the least (user group, role, group), the order
  // it walks a user's groups and their grants in.
  auto route = [](const WhoCanItem& i) {
    return std::make_tuple(i.via_user_group.value(), i.role.value(), i.via_group.value());
  };
  std::unordered_map<UserId, WhoCanItem> best;
  for (GroupId gid : gids) {
    const GroupNode* t = cat().group(gid);
    if (t == nullptr || GroupEntityKind(t->kind) != kind) continue;
    for (const GroupGrantNode& x : t->granted_to) {
      if (!query::GrantActive(cat(), x) || !cat().role(x.role)->perms.Has(perm)) continue;
      for (UserId uid : cat().group(x.user_group)->members) {
        const UserNode* u = cat().user(uid);
        if (u->disabled || seen.count(uid)) continue;
        WhoCanItem item{uid, u->login, t->owner, x.role, false, x.user_group, x.target};
        if (shown && !shown(item)) continue;
        auto [at, added] = best.try_emplace(uid, item);
        if (!added && route(item) < route(at->second)) at->second = std::move(item);
      }
    }
  }
  for (auto& [uid, item] : best) out->push_back(std::move(item));
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
    CANOPY_RETURN_IF_ERROR(CheckKey("group name", spec.name));
    const AccountNode* o = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, spec.owner, "group owner", &o));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kGroupWrite, *o));
    for (GroupId gid : o->groups) {
      const GroupNode* g = cat().group(gid);
      if (g->kind == spec.kind && g->name == spec.name) {
        return Status::AlreadyExists("account " + Quote(*o) + " already has " +
                                     query::AGroupOfKind(spec.kind) + " named '" + spec.name + "'");
      }
    }
    uint64_t next = 0;
    CANOPY_RETURN_IF_ERROR(storage::Store::NextId(cat().last_group_id, "group", &next));
    const GroupId id(next);
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
    CANOPY_RETURN_IF_ERROR(CheckKey("group name", name));
    const GroupNode* g = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireGroup(actor, id, &g));
    const AccountNode* o = cat().account(g->owner);
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kGroupWrite, *o));
    if (g->name == name) return Status::Ok();
    for (GroupId gid : o->groups) {
      const GroupNode* x = cat().group(gid);
      if (x->kind == g->kind && x->name == name) {
        return Status::AlreadyExists("account " + Quote(*o) + " already has " +
                                     query::AGroupOfKind(g->kind) + " named '" +
                                     std::string(name) + "'");
      }
    }
    Group before;
    CANOPY_RETURN_IF_ERROR(LoadGroup(id, &before));
    Group after = before;
    after.name = std::string(name);
    Touch(&after, NowMicros());
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
        CANOPY_RETURN_IF_ERROR(query::RequireRevoke(
            cat(), actor, x,
            "cannot delete " + Named(*g) + " and with it " + query::DescribeGrant(cat(), actor, x)));
      }
    }
    GroupEdits edits;
    CANOPY_RETURN_IF_ERROR(DropGroup(id, &edits, txn));
    return EmitGroupEdits(edits, txn);  // the overlap of groups sharing its members
  });
}

Status DbImpl::RequireMemberEdit(const Actor& actor, GroupId id,
                                 const std::vector<uint64_t>& list, bool adding, Txn* txn,
                                 const GroupNode** out) const {
  txn->arguments =
      query::JsonObject().Uint("group", id).Raw("members", query::JsonNumbers(list)).str();
  if (list.empty()) {
    return Status::InvalidArgument(adding ? "no members to add" : "no members to remove");
  }
  CANOPY_RETURN_IF_ERROR(RequireGroup(actor, id, out));
  return RequireGroupEdit(actor, **out, adding);
}

Status DbImpl::RequireGroupEdit(const Actor& actor, const GroupNode& g, bool adding) const {
  const AccountNode* o = cat().account(g.owner);
  CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kGroupWrite, *o));
  if (g.kind == GroupKind::kUser) {
    CANOPY_RETURN_IF_ERROR(
        Require(cat(), actor, adding ? Perm::kUserInvite : Perm::kUserRemove, *o)
            .WithContext((adding ? "cannot add members to " : "cannot remove members from ") +
                         Named(g)));
  }
  return Status::Ok();
}

Status DbImpl::RequireGrantsFollow(const Actor& actor, const GroupNode& g, bool adding,
                                   AccountId account, std::string_view item) const {
  const std::string verb = adding ? "cannot add members to " : "cannot remove members from ";
  if (g.kind == GroupKind::kUser) {
    for (const GroupGrantNode& x : g.grants) {
      // The grant of this very group: its role and target, not the group again.
      CANOPY_RETURN_IF_ERROR(
          RequireGives(cat(), actor, x, kNoId,
                       verb + Named(g) + ", which has " + query::DescribeGrantRole(cat(), actor, x)));
    }
  } else if (GroupEntityKind(g.kind) || account != kNoId) {
    const std::string head =
        item.empty() ? verb + Named(g) + ", which is granted as " : std::string(item) + ", granted as ";
    for (const GroupGrantNode& x : g.granted_to) {
      CANOPY_RETURN_IF_ERROR(
          RequireGives(cat(), actor, x, account, head + query::DescribeGrant(cat(), actor, x)));
    }
  }
  return Status::Ok();
}

Status DbImpl::RequireJoinGroups(const Actor& actor, EntityKind kind, const AccountNode& target,
                                 Span<GroupId> groups, std::vector<const GroupNode*>* out) const {
  out->clear();
  for (GroupId id : groups) {
    const GroupNode* g = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireGroup(actor, id, &g));
    if (std::find(out->begin(), out->end(), g) != out->end()) {
      return Status::InvalidArgument(Named(*g) + " is named more than once");
    }
    if (GroupEntityKind(g->kind) != kind) {
      return Status::InvalidArgument(Named(*g) + " cannot hold " + query::AnEntityOfKind(kind));
    }
    if (g->owner != target.id) {
      return Status::InvalidArgument(Named(*g) + " is not owned by account " + Quote(target) +
                                     ", the new owner");
    }
    CANOPY_RETURN_IF_ERROR(RequireGroupEdit(actor, *g, /*adding=*/true));
    out->push_back(g);
  }
  return Status::Ok();
}

void DbImpl::JoinGroups(const std::vector<const GroupNode*>& groups,
                        const std::vector<uint64_t>& sorted_ids, int64_t now, GroupEdits* edits,
                        Txn* txn) const {
  if (sorted_ids.empty()) return;
  const auto n = static_cast<int64_t>(sorted_ids.size());
  for (const GroupNode* g : groups) {
    edits->size_delta[g->id] += n;
    // Each joins every one of the groups: in two or more, it overlaps in each.
    if (groups.size() >= 2) edits->overlap_delta[g->id] += n;
    storage::GroupMembersRecord batch;
    batch.group = g->id;
    batch.kind = g->kind;
    batch.created_us = now;
    batch.members = sorted_ids;
    txn->GroupMembers(std::move(batch));
  }
}

namespace {

// The positions of `list` in ascending order of their ids (the first
// occurrence of an id first), and the ids once each in that order.
void SortedOnce(const std::vector<uint64_t>& list, std::vector<uint32_t>* order,
                std::vector<uint64_t>* ids) {
  order->resize(list.size());
  for (uint32_t i = 0; i < list.size(); ++i) (*order)[i] = i;
  if (!std::is_sorted(list.begin(), list.end())) {  // a batch often comes in id order
    std::stable_sort(order->begin(), order->end(),
                     [&](uint32_t a, uint32_t b) { return list[a] < list[b]; });
  }
  ids->clear();
  ids->reserve(list.size());
  for (uint32_t i : *order) {
    if (ids->empty() || ids->back() != list[i]) ids->push_back(list[i]);
  }
}

}  // namespace

Status DbImpl::AddGroupMembers(const Actor& actor, GroupId id, Span<uint64_t> members,
                               GroupMembersReport* report) {
  GroupMembersReport local;
  GroupMembersReport* rep = report != nullptr ? report : &local;
  *rep = GroupMembersReport();
  const std::vector<uint64_t> list(members.begin(), members.end());
  return Mutate(actor, "group.add", [&](Txn* txn) -> Status {
    *rep = GroupMembersReport();
    const GroupNode* g = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireMemberEdit(actor, id, list, /*adding=*/true, txn, &g));
    const AccountNode* o = cat().account(g->owner);
    const auto ekind = GroupEntityKind(g->kind);
    // Entity groups: the batch in id order, probed with one ordered walk
    // over the owner's index range (an entity of the group's kind that the
    // owner owns is there) and one over the members' group links (in this
    // group already? in how many others?), not a look-up per member.
    std::vector<uint32_t> order;
    std::vector<uint64_t> ids;
    std::vector<MemberLinks> links;
    std::vector<uint8_t> indexed;  // by position in ids
    std::vector<uint32_t> slot;    // position in `list` -> position in ids
    std::vector<uint8_t> first;    // by position in `list`: the id's first occurrence
    bool fast = false;
    if (ekind) {
      SortedOnce(list, &order, &ids);
      slot.resize(list.size());
      first.assign(list.size(), 0);
      for (size_t k = 0, j = 0; k < order.size(); ++k) {
        if (k > 0 && list[order[k]] != list[order[k - 1]]) ++j;
        slot[order[k]] = static_cast<uint32_t>(j);
        if (k == 0 || list[order[k]] != list[order[k - 1]]) first[order[k]] = 1;
      }
      CANOPY_RETURN_IF_ERROR(LinksOf(storage::kMemberEntity, id, ids, nullptr, &links));
      // An actor that sees the owner's entities of this kind sees every
      // indexed member: those need no entity record.
      fast = query::SeesEntity(cat(), actor, *ekind, *o);
      if (fast) {
        const uint8_t k = static_cast<uint8_t>(*ekind);
        indexed.assign(ids.size(), 0);
        // Members far apart (the owner's index holds several entries
        // between two of them, estimated from its count over the id
        // range) are read by exact key at once; close ones by one walk,
        // which steps over fewer entries than a read per member costs.
        const double span = static_cast<double>(ids.back() - ids.front() + 1);
        const double between =
            static_cast<double>(o->count(*ekind).direct) *
            std::min(1.0, span / static_cast<double>(std::max<uint64_t>(cat().last_entity_id, 1)));
        if (between > 4.0 * static_cast<double>(ids.size())) {
          std::string key = storage::IndexKey(k, o->label, 0);
          const size_t n = key.size();
          std::string keys_bytes(n * ids.size(), '\0');
          std::vector<rocksdb::Slice> keys(ids.size());
          for (size_t j = 0; j < ids.size(); ++j) {
            storage::EncodeFixed64BE(key.data() + n - 8, ids[j]);
            std::memcpy(keys_bytes.data() + j * n, key.data(), n);
            keys[j] = rocksdb::Slice(keys_bytes.data() + j * n, n);
          }
          std::vector<rocksdb::PinnableSlice> values;
          std::vector<rocksdb::Status> statuses;
          store_->MultiGet(storage::kVisibility, keys, &values, &statuses, snap(), /*sorted=*/true);
          for (size_t j = 0; j < ids.size(); ++j) {
            if (statuses[j].ok()) {
              indexed[j] = 1;
            } else if (!statuses[j].IsNotFound()) {
              return storage::FromRocks(statuses[j], "read visibility index");
            }
          }
        } else {
          auto it = store_->NewIterator(storage::kVisibility, snap(),
                                        storage::IndexRangeStart(k, o->label, false),
                                        storage::IndexRangeLimit(k, o->label, false));
          (*it)->SeekToFirst();
          std::string key = storage::IndexKey(k, o->label, 0);
          storage::ForwardProbe probe(it->it());
          for (size_t j = 0; j < ids.size(); ++j) {
            storage::EncodeFixed64BE(key.data() + key.size() - 8, ids[j]);
            probe.To(key);
            indexed[j] = (*it)->Valid() && (*it)->key() == rocksdb::Slice(key);
          }
          CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "scan visibility index"));
        }
      }
    }
    std::unordered_set<uint64_t> seen;
    std::vector<uint64_t> adding;
    GroupEdits edits;
    rep->items.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const uint64_t mid = list[i];
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
        const MemberLinks& l = links[slot[i]];
        if (fast && indexed[slot[i]]) {
          if (!first[i]) {
            Entity e;
            CANOPY_RETURN_IF_ERROR(LoadEntity(mid, &e));
            put(GroupMemberItem::Outcome::kDuplicate,
                std::string(EntityKindName(e.kind)) + " '" + e.key + "' is named more than once",
                &rep->duplicate);
            continue;
          }
        } else {
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
                what + " is not " + query::AnEntityOfKind(*ekind) + " (" + Named(*g) + ")",
                &rep->denied);
            continue;
          }
          if (e.owner != o->id) {
            put(GroupMemberItem::Outcome::kDenied,
                what + " is not owned by account " + Quote(*o) + ", the group's owner",
                &rep->denied);
            continue;
          }
        }
        if (l.in_group) {
          put(GroupMemberItem::Outcome::kUnchanged, "", &rep->unchanged);
          continue;
        }
        // Overlap: the group gains a member some other group holds; a sole
        // other holder now shares it too.
        if (l.others >= 1) edits.overlap_delta[id] += 1;
        if (l.others == 1) edits.overlap_delta[l.other] += 1;
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
        Status gives = RequireGrantsFollow(actor, *g, /*adding=*/true, a->id,
                                           "cannot add " + what + " to " + Named(*g));
        if (!gives.ok()) {
          if (!gives.IsPermissionDenied()) return gives;
          put(GroupMemberItem::Outcome::kDenied, gives.message(), &rep->denied);
          continue;
        }
      }
      put(GroupMemberItem::Outcome::kDone, "", &rep->done);
      adding.push_back(mid);
    }
    // Members that join take the group's grants (an account group's were
    // checked per account above); unchanged ones take nothing.
    if (!adding.empty() && g->kind != GroupKind::kAccount) {
      CANOPY_RETURN_IF_ERROR(
          DenyChanging(RequireGrantsFollow(actor, *g, /*adding=*/true, kNoId), rep));
    }
    CANOPY_RETURN_IF_ERROR(Verdict(*rep, list.size(), "added"));
    if (adding.empty()) return Status::Ok();
    edits.size_delta[id] = static_cast<int64_t>(adding.size());
    std::sort(adding.begin(), adding.end());
    storage::GroupMembersRecord batch;
    batch.group = id;
    batch.kind = g->kind;
    batch.created_us = NowMicros();
    batch.members = std::move(adding);
    txn->GroupMembers(std::move(batch));
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
    *rep = GroupMembersReport();
    const GroupNode* g = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireMemberEdit(actor, id, list, /*adding=*/false, txn, &g));
    const auto ekind = GroupEntityKind(g->kind);
    const bool entities = ekind.has_value();
    std::vector<uint32_t> order;
    std::vector<uint64_t> ids;
    std::vector<MemberLinks> links;
    // An actor that sees the owner's entities of this kind sees every
    // member of the group (each is one of them): only ids not in the group
    // are looked up, to tell an unknown id from a non-member.
    bool fast = false;
    if (entities) {
      SortedOnce(list, &order, &ids);
      CANOPY_RETURN_IF_ERROR(LinksOf(storage::kMemberEntity, id, ids, nullptr, &links));
      fast = query::SeesEntity(cat(), actor, *ekind, *cat().account(g->owner));
    }
    // Whether `mid` names something the actor sees, as adding asks: an id
    // that is unknown, or out of the actor's sight, is NotFound whether or
    // not it is a member, so removing tells nothing adding would not.
    auto known = [&](uint64_t mid, bool member, std::string* unknown) -> Status {
      unknown->clear();
      if (entities) {
        if (fast && member) return Status::Ok();
        Entity e;
        Status found = LoadEntity(mid, &e, actor);
        if (found.IsNotFound()) *unknown = "no entity with id " + std::to_string(mid);
        return found.IsNotFound() ? Status::Ok() : found;
      }
      if (g->kind == GroupKind::kUser) {
        const UserNode* u = cat().user(mid);
        if (u == nullptr || !query::SeesUser(cat(), actor, *u)) {
          *unknown = "no user with id " + std::to_string(mid);
        }
        return Status::Ok();
      }
      const AccountNode* a = cat().account(mid);
      if (a == nullptr || !query::SeesAccount(cat(), actor, *a)) {
        *unknown = "no account with id " + std::to_string(mid);
      }
      return Status::Ok();
    };
    // A member named twice, as the actor may know it: its key or login
    // when the actor sees it, else the id it gave.
    auto describe = [&](uint64_t mid) -> std::string {
      if (entities) {
        Entity e;
        if (LoadEntity(mid, &e, actor).ok()) return EntityKindName(e.kind) + (" '" + e.key + "'");
      } else if (g->kind == GroupKind::kUser) {
        const UserNode* u = cat().user(mid);
        if (u != nullptr && query::SeesUser(cat(), actor, *u)) return "user '" + u->login + "'";
      } else {
        const AccountNode* a = cat().account(mid);
        if (a != nullptr && query::SeesAccount(cat(), actor, *a)) return "account " + Quote(*a);
      }
      return "member " + std::to_string(mid);
    };
    std::unordered_set<uint64_t> seen;
    std::vector<storage::GroupMemberRecord> removing;
    GroupEdits edits;
    rep->items.reserve(list.size());
    for (uint64_t mid : list) {
      GroupMemberItem item;
      item.member = mid;
      std::string bytes;
      Status st = store_->Get(storage::kGroups, storage::GroupMemberKey(id, mid), &bytes, snap());
      if (!st.ok() && !st.IsNotFound()) return st;
      std::string unknown;
      CANOPY_RETURN_IF_ERROR(known(mid, st.ok(), &unknown));
      if (!unknown.empty()) {
        item.outcome = GroupMemberItem::Outcome::kUnknown;
        item.message = std::move(unknown);
        rep->unknown++;
      } else if (!seen.insert(mid).second) {
        item.outcome = GroupMemberItem::Outcome::kDuplicate;
        item.message = describe(mid) + " is named more than once";
        rep->duplicate++;
      } else if (st.IsNotFound()) {
        item.outcome = GroupMemberItem::Outcome::kUnchanged;
        rep->unchanged++;
      } else if (Status gives = g->kind == GroupKind::kAccount
                                    ? RequireGrantsFollow(actor, *g, /*adding=*/false, mid,
                                                          "cannot remove " + describe(mid) +
                                                              " from " + Named(*g))
                                    : Status::Ok();
                 !gives.ok()) {
        // An account leaving a granted account group takes the grants'
        // role on it away from their users.
        if (!gives.IsPermissionDenied()) return gives;
        item.outcome = GroupMemberItem::Outcome::kDenied;
        item.message = gives.message();
        rep->denied++;
      } else {
        storage::GroupMemberRecord m;
        CANOPY_RETURN_IF_ERROR(storage::DecodeGroupMember(bytes, &m));
        m.group = id;
        m.member = mid;
        removing.push_back(m);
        item.outcome = GroupMemberItem::Outcome::kDone;
        rep->done++;
        if (entities) {
          // Overlap: the group loses a member another group holds; a sole
          // other holder no longer shares it.
          const MemberLinks& l =
              links[std::lower_bound(ids.begin(), ids.end(), mid) - ids.begin()];
          if (l.others >= 1) edits.overlap_delta[id] -= 1;
          if (l.others == 1) edits.overlap_delta[l.other] -= 1;
        }
      }
      rep->items.push_back(std::move(item));
    }
    // Members that leave take the group's grants away (as above).
    if (!removing.empty() && g->kind != GroupKind::kAccount) {
      CANOPY_RETURN_IF_ERROR(
          DenyChanging(RequireGrantsFollow(actor, *g, /*adding=*/false, kNoId), rep));
    }
    CANOPY_RETURN_IF_ERROR(Verdict(*rep, list.size(), "removed"));
    if (removing.empty()) return Status::Ok();
    for (const auto& m : removing) txn->GroupMember(&m, nullptr);
    edits.size_delta[id] = -static_cast<int64_t>(removing.size());
    return EmitGroupEdits(edits, txn);
  });
}

// The group a grant is given to (or revoked from): one the actor sees, of
// kind user.
Status DbImpl::RequireUserGroup(const Actor& actor, GroupId id, const GroupNode** out) const {
  CANOPY_RETURN_IF_ERROR(RequireGroup(actor, id, out));
  if ((*out)->kind != GroupKind::kUser) {
    return Status::InvalidArgument(Named(**out) + " is not a user group: roles are granted to "
                                   "user groups");
  }
  return Status::Ok();
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
    CANOPY_RETURN_IF_ERROR(RequireUserGroup(actor, grant.user_group, &ug));
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
    CANOPY_RETURN_IF_ERROR(RequireUserGroup(actor, user_group, &ug));
    const GroupGrantNode* x = cat().grant(user_group, role, target);
    if (x == nullptr) {
      // Named as the actor may know them: a role or group out of its
      // sight by the id it gave.
      const query::RoleNode* r = nullptr;
      const query::GroupNode* t = target == kNoId ? nullptr : cat().group(target);
      std::string what = RequireRole(actor, role, &r).ok() ? "role " + r->name
                                                            : "role with id " + std::to_string(role);
      if (target == kNoId) {
        what += " (generic)";
      } else {
        // A group out of the actor's sight is worded as a missing one (it
        // must not learn that such a group exists, or its kind).
        const bool seen = t != nullptr && query::SeesGroups(cat(), actor, *cat().account(t->owner));
        what += " on " + (seen ? query::DescribeGroup(cat(), actor, *t)
                               : "group with id " + std::to_string(target));
      }
      return Status::NotFound("user group '" + ug->name + "' has no grant of " + what);
    }
    CANOPY_RETURN_IF_ERROR(query::RequireRevoke(
        cat(), actor, *x, "cannot revoke " + query::DescribeGrant(cat(), actor, *x)));
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
  if (!query::SeesGroups(cat(), viewer, *o)) return out;
  for (GroupId gid : o->groups) {
    Group g;
    CANOPY_RETURN_IF_ERROR(LoadGroup(gid, &g));
    out.push_back(std::move(g));
  }
  return out;
}

StatusOr<Group> DbImpl::FindGroup(const Actor& viewer, AccountId owner, GroupKind kind,
                                  std::string_view name) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  CANOPY_RETURN_IF_ERROR(CheckGroupKind(kind));
  const AccountNode* o = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireAccount(viewer, owner, "groups of", &o));
  if (query::SeesGroups(cat(), viewer, *o)) {
    for (GroupId gid : o->groups) {
      const GroupNode* g = cat().group(gid);
      if (g->kind != kind || g->name != name) continue;
      Group out;
      CANOPY_RETURN_IF_ERROR(LoadGroup(gid, &out));
      return out;
    }
  }
  return Status::NotFound("no " + std::string(GroupKindName(kind)) + " group named '" +
                          std::string(name) + "' in account " + Quote(*o));
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
    if (g == nullptr || !query::SeesGroups(cat(), viewer, *cat().account(g->owner))) continue;
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
