// Copyright (c) Canopy authors.
//
// Entity mutations and reads: create, update, delete, and the all-or-
// nothing batch reassign with its per-item report.

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "engine/db_impl.h"
#include "storage/keys.h"
#include "engine/validate.h"
#include "query/access.h"
#include "query/json.h"
#include "storage/records.h"

namespace canopy::engine {

using query::AccountNode;
using query::Catalog;
using query::EntityAction;
using query::EntityPerm;
using query::Quote;
using query::Require;

namespace {

Status CheckKind(EntityKind kind) {
  if (!ParseEntityKind(EntityKindName(kind))) {
    return Status::InvalidArgument("unknown entity kind " + std::to_string(static_cast<int>(kind)));
  }
  return Status::Ok();
}

std::string Describe(EntityKind kind, std::string_view key) {
  return std::string(EntityKindName(kind)) + " '" + std::string(key) + "'";
}

}  // namespace

StatusOr<EntityId> DbImpl::CreateEntity(const Actor& actor, const EntitySpec& spec) {
  EntityId created = kNoId;
  Status s = Mutate(actor, "entity.create", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject()
                         .Str("kind", EntityKindName(spec.kind))
                         .Str("key", spec.key)
                         .Uint("owner", spec.owner)
                         .str();
    CANOPY_RETURN_IF_ERROR(CheckKind(spec.kind));
    const std::string kind_name = EntityKindName(spec.kind);
    CANOPY_RETURN_IF_ERROR(CheckKey(kind_name + " key", spec.key));
    CANOPY_RETURN_IF_ERROR(CheckText(kind_name + " name", spec.name));
    CANOPY_RETURN_IF_ERROR(CheckText(kind_name + " type", spec.type, /*allow_empty=*/true));
    CANOPY_RETURN_IF_ERROR(CheckAttributes(kind_name, spec.attributes));
    if (!spec.unit_id.empty()) {
      if (spec.kind != EntityKind::kDevice) {
        return Status::InvalidArgument("only devices have a unit id (" + kind_name + " '" +
                                       spec.key + "')");
      }
      CANOPY_RETURN_IF_ERROR(CheckText("unit id", spec.unit_id));
      CANOPY_RETURN_IF_ERROR(CheckIdentifier("unit id", spec.unit_id));
    }
    const AccountNode* owner = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, spec.owner, "owner", &owner));
    CANOPY_RETURN_IF_ERROR(
        Require(cat(), actor, EntityPerm(spec.kind, EntityAction::kWrite), *owner));
    const uint8_t k = static_cast<uint8_t>(spec.kind);
    const std::string key_key = storage::EntityKeyKey(k, spec.key);
    bool taken = false;
    CANOPY_RETURN_IF_ERROR(store_->Exists(storage::kEntityKeys, key_key, &taken));
    if (taken) return Status::AlreadyExists(Describe(spec.kind, spec.key) + " already exists");
    if (!spec.unit_id.empty()) {
      CANOPY_RETURN_IF_ERROR(store_->Exists(storage::kUnitIds, spec.unit_id, &taken));
      if (taken) return Status::AlreadyExists("unit id '" + spec.unit_id + "' is taken");
    }
    uint64_t next = 0;
    CANOPY_RETURN_IF_ERROR(storage::Store::NextId(cat().last_entity_id, "entity", &next));
    const EntityId id(next);
    const int64_t now = NowMicros();
    Entity e;
    e.id = id;
    e.kind = spec.kind;
    e.key = spec.key;
    e.unit_id = spec.unit_id;
    e.name = spec.name;
    e.type = spec.type;
    e.owner = owner->id;
    e.created_us = now;
    e.updated_us = now;
    e.attributes = spec.attributes;
    txn->Entity(nullptr, &e);
    txn->Meta(storage::kSeqEntity, cat().last_entity_id, id);
    txn->counts.AddDirect(cat(), owner->id, spec.kind, 1);
    created = id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return created;
}

StatusOr<Entity> DbImpl::GetEntity(EntityId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  Entity e;
  CANOPY_RETURN_IF_ERROR(LoadEntity(id, &e));
  return e;
}

StatusOr<Entity> DbImpl::GetEntity(const Actor& viewer, EntityId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  Entity e;
  CANOPY_RETURN_IF_ERROR(LoadEntity(id, &e));
  const AccountNode* owner = cat().account(e.owner);
  bool sees = false;
  if (owner != nullptr) CANOPY_RETURN_IF_ERROR(SeesEntityOrGroup(viewer, e.kind, e.id, *owner, &sees));
  if (!sees) return Status::NotFound("no entity with id " + std::to_string(id));
  return e;
}

StatusOr<Entity> DbImpl::FindEntity(EntityKind kind, std::string_view key) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckKind(kind));
  EntityId id;
  AccountId owner;
  CANOPY_RETURN_IF_ERROR(LookupEntityKey(kind, key, &id, &owner));
  Entity e;
  CANOPY_RETURN_IF_ERROR(LoadEntity(id, &e));
  return e;
}

StatusOr<Entity> DbImpl::FindEntity(const Actor& viewer, EntityKind kind,
                                    std::string_view key) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));  // first: see FindAccount
  auto e = FindEntity(kind, key);
  if (!e.ok()) return e;
  const AccountNode* owner = cat().account(e->owner);
  bool sees = false;
  if (owner != nullptr) CANOPY_RETURN_IF_ERROR(SeesEntityOrGroup(viewer, kind, e->id, *owner, &sees));
  if (!sees) return EntityNotFound(kind, key);
  return e;
}

StatusOr<Entity> DbImpl::FindDeviceByUnitId(const Actor& viewer, std::string_view unit_id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));  // first: see FindAccount
  auto e = FindDeviceByUnitId(unit_id);
  if (!e.ok()) return e;
  const AccountNode* owner = cat().account(e->owner);
  bool sees = false;
  if (owner != nullptr) {
    CANOPY_RETURN_IF_ERROR(SeesEntityOrGroup(viewer, EntityKind::kDevice, e->id, *owner, &sees));
  }
  if (!sees) {
    return Status::NotFound("no device with unit id '" + std::string(unit_id) + "'");
  }
  return e;
}

StatusOr<Entity> DbImpl::FindDeviceByUnitId(std::string_view unit_id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  std::string v;
  Status s = store_->Get(storage::kUnitIds, unit_id, &v, snap());
  if (s.IsNotFound()) {
    return Status::NotFound("no device with unit id '" + std::string(unit_id) + "'");
  }
  CANOPY_RETURN_IF_ERROR(s);
  if (v.size() != 8) return Status::Corruption("unit id index entry is damaged");
  Entity e;
  CANOPY_RETURN_IF_ERROR(LoadEntity(storage::DecodeFixed64BE(v.data()), &e));
  return e;
}

Status DbImpl::RequireOnEntity(const Actor& actor, query::Perm perm, const Entity& e,
                               const AccountNode& owner) const {
  Status held = Require(cat(), actor, perm, owner);
  if (!held.IsPermissionDenied() || actor.is_system()) return held;
  const query::UserNode* u = cat().user(actor.user());
  if (u == nullptr || u->disabled) return held;
  const query::GroupGrantNode* via = nullptr;
  CANOPY_RETURN_IF_ERROR(EntityGrantOf(*u, e.kind, perm, e.id, owner.id, &via));
  if (via != nullptr) return Status::Ok();
  if (query::PermsOn(cat(), *u, owner).empty()) {
    return Status::PermissionDenied("permission " + query::PermName(perm) + " missing on " +
                                    Describe(e.kind, e.key) + " (user '" + u->login + "')");
  }
  return held;
}

Status DbImpl::UpdateEntity(const Actor& actor, EntityId id, const EntityPatch& patch) {
  return Mutate(actor, "entity.update", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("id", id).str();
    Entity e;
    CANOPY_RETURN_IF_ERROR(LoadEntity(id, &e, actor));
    const Entity before = e;
    const std::string kind_name = EntityKindName(e.kind);
    if (patch.name) CANOPY_RETURN_IF_ERROR(CheckText(kind_name + " name", *patch.name));
    if (patch.type) CANOPY_RETURN_IF_ERROR(CheckText(kind_name + " type", *patch.type, true));
    if (patch.attributes) CANOPY_RETURN_IF_ERROR(CheckAttributes(kind_name, *patch.attributes));
    if (patch.unit_id) {
      if (e.kind != EntityKind::kDevice && !patch.unit_id->empty()) {
        return Status::InvalidArgument("only devices have a unit id (" + Describe(e.kind, e.key) +
                                       ")");
      }
      CANOPY_RETURN_IF_ERROR(CheckText("unit id", *patch.unit_id, true));
      CANOPY_RETURN_IF_ERROR(CheckIdentifier("unit id", *patch.unit_id));
    }
    const AccountNode* owner = cat().account(e.owner);
    if (owner == nullptr) return Status::Corruption(Describe(e.kind, e.key) + " has no owner");
    CANOPY_RETURN_IF_ERROR(
        RequireOnEntity(actor, EntityPerm(e.kind, EntityAction::kWrite), e, *owner));
    if (patch.unit_id && *patch.unit_id != e.unit_id) {
      if (!patch.unit_id->empty()) {
        bool taken = false;
        CANOPY_RETURN_IF_ERROR(store_->Exists(storage::kUnitIds, *patch.unit_id, &taken));
        if (taken) return Status::AlreadyExists("unit id '" + *patch.unit_id + "' is taken");
      }
      e.unit_id = *patch.unit_id;
    }
    if (patch.name) e.name = *patch.name;
    if (patch.type) e.type = *patch.type;
    if (patch.attributes) e.attributes = *patch.attributes;
    if (e.name == before.name && e.type == before.type && e.attributes == before.attributes &&
        e.unit_id == before.unit_id) {
      return Status::Ok();  // values it already has: nothing to commit
    }
    Touch(&e, NowMicros());
    txn->Entity(&before, &e);
    return Status::Ok();
  });
}

Status DbImpl::DeleteEntity(const Actor& actor, EntityId id) {
  return Mutate(actor, "entity.delete", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("id", id).str();
    Entity e;
    CANOPY_RETURN_IF_ERROR(LoadEntity(id, &e, actor));
    const AccountNode* owner = cat().account(e.owner);
    if (owner == nullptr) return Status::Corruption(Describe(e.kind, e.key) + " has no owner");
    CANOPY_RETURN_IF_ERROR(
        RequireOnEntity(actor, EntityPerm(e.kind, EntityAction::kDelete), e, *owner));
    // Its group memberships go with it (groups keep their other members).
    GroupEdits edits;
    CANOPY_RETURN_IF_ERROR(DropMemberships(storage::kMemberEntity, e.id, kNoId, &edits, txn));
    CANOPY_RETURN_IF_ERROR(EmitGroupEdits(edits, txn));
    txn->Entity(&e, nullptr);
    txn->counts.AddDirect(cat(), owner->id, e.kind, -1);
    return Status::Ok();
  });
}

Status DbImpl::ReassignEntities(const Actor& actor, EntityKind kind, EntityRef by,
                                Span<std::string> refs, AccountId target,
                                Span<GroupId> groups, ReassignReport* report) {
  ReassignReport local;
  ReassignReport* rep = report != nullptr ? report : &local;
  *rep = ReassignReport();
  return Mutate(actor, "entity.reassign", [&](Txn* txn) -> Status {
    query::JsonObject args;
    args.Str("kind", EntityKindName(kind))
        .Str("by", by == EntityRef::kUnitId ? "unit_id" : "key")
        .Raw("refs", query::JsonStrings(std::vector<std::string>(refs.begin(), refs.end())))
        .Uint("target", target);
    if (!groups.empty()) {
      args.Raw("groups", query::JsonNumbers(std::vector<uint64_t>(groups.begin(), groups.end())));
    }
    txn->arguments = args.str();
    *rep = ReassignReport();
    CANOPY_RETURN_IF_ERROR(CheckKind(kind));
    if (by != EntityRef::kKey && by != EntityRef::kUnitId) {
      return Status::InvalidArgument("unknown entity reference type");
    }
    if (by == EntityRef::kUnitId && kind != EntityKind::kDevice) {
      return Status::InvalidArgument("only devices have unit ids");
    }
    if (refs.empty()) return Status::InvalidArgument("no entities to reassign");
    const AccountNode* to = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, target, "target", &to));
    const query::Perm assign = EntityPerm(kind, EntityAction::kAssign);
    const query::UserNode* user = nullptr;
    CANOPY_RETURN_IF_ERROR(query::ResolveActor(cat(), actor, &user));
    // Denied on the target: every item is denied (and reported as such).
    const Status target_ok = Require(cat(), actor, assign, *to);
    if (!target_ok.ok() && !target_ok.IsPermissionDenied()) return target_ok;
    // Groups of the new owner the moved entities join: checked before any
    // item (a bad group is the call's mistake, not an item's).
    std::vector<const query::GroupNode*> joining;
    CANOPY_RETURN_IF_ERROR(RequireJoinGroups(actor, kind, *to, groups, &joining));

    // Does `owner` have a group of this kind with grants onto it?
    std::unordered_map<AccountId, bool> granted;
    auto granted_groups = [&](AccountId owner) {
      auto it = granted.find(owner);
      if (it != granted.end()) return it->second;
      bool any = false;
      for (GroupId gid : cat().account(owner)->groups) {
        const query::GroupNode* g = cat().group(gid);
        any |= g->kind == EntityGroupKind(kind) && !g->granted_to.empty();
      }
      return granted.emplace(owner, any).first->second;
    };

    // Resolve every ref and judge it; nothing is written unless all pass.
    std::unordered_set<EntityId> seen;
    std::unordered_map<AccountId, Status> source_ok;
    std::vector<Entity> moving;
    moving.reserve(refs.size());
    // At least what the moving ones' record changes will take (before and
    // after): a call too large for one log entry is refused as soon as
    // that passes its bound, not once every ref is resolved.
    uint64_t expected = 0;
    for (const std::string& ref : refs) {
      ReassignItem item;
      item.ref = ref;
      EntityId eid = kNoId;
      Status found;
      if (by == EntityRef::kKey) {
        AccountId owner;
        found = LookupEntityKey(kind, ref, &eid, &owner);
      } else {
        std::string v;
        found = store_->Get(storage::kUnitIds, ref, &v, snap());
        if (found.IsNotFound()) {
          found = Status::NotFound("no device with unit id '" + ref + "'");
        } else if (found.ok() && v.size() == 8) {
          eid = storage::DecodeFixed64BE(v.data());
        } else if (found.ok()) {
          found = Status::Corruption("unit id index entry is damaged");
        }
      }
      Entity e;
      if (found.ok()) found = LoadEntity(eid, &e);
      if (found.ok() && user != nullptr) {
        // An entity the actor can neither read nor assign is reported like
        // a missing one, so a refusal does not reveal that it exists.
        const AccountNode* owner = cat().account(e.owner);
        bool sees = false;
        if (owner != nullptr) CANOPY_RETURN_IF_ERROR(SeesEntityOrGroup(actor, kind, e.id, *owner, &sees));
        if (!sees) {
          found = Status::NotFound(by == EntityRef::kKey
                                       ? "no " + std::string(EntityKindName(kind)) + " with key '" + ref + "'"
                                       : "no device with unit id '" + ref + "'");
        }
      }
      if (found.IsNotFound()) {
        item.outcome = ReassignItem::Outcome::kUnknown;
        item.message = found.message();
        rep->unknown++;
        rep->items.push_back(std::move(item));
        continue;
      }
      CANOPY_RETURN_IF_ERROR(found);
      item.entity = e.id;
      item.previous_owner = e.owner;
      if (!seen.insert(e.id).second) {
        item.outcome = ReassignItem::Outcome::kDuplicate;
        item.message = Describe(kind, e.key) + " is named more than once";
        rep->duplicate++;
        rep->items.push_back(std::move(item));
        continue;
      }
      if (e.owner == to->id) {
        item.outcome = ReassignItem::Outcome::kUnchanged;
        rep->unchanged++;
        rep->items.push_back(std::move(item));
        continue;
      }
      auto judged = source_ok.find(e.owner);
      if (!target_ok.ok()) {
        judged = source_ok.emplace(e.owner, target_ok).first;
      } else if (judged == source_ok.end()) {
        const AccountNode* from = cat().account(e.owner);
        Status st = from == nullptr
                        ? Status::Corruption(Describe(kind, e.key) + " has no owner")
                        : Require(cat(), actor, assign, *from);
        judged = source_ok.emplace(e.owner, st).first;
      }
      // A new owner takes it out of its old owner's groups, and with it
      // what their grants give on it: the actor must hold that too
      // (as for RemoveGroupMembers). Links are read only when the old
      // owner has a group of this kind that is granted.
      Status leaves = judged->second;
      if (leaves.ok() && granted_groups(e.owner)) {
        std::vector<GroupId> in;
        CANOPY_RETURN_IF_ERROR(MemberGroups(storage::kMemberEntity, e.id, &in));
        for (GroupId gid : in) {
          const query::GroupNode* g = cat().group(gid);
          if (g == nullptr || g->granted_to.empty()) continue;
          leaves = RequireGrantsFollow(actor, *g, /*adding=*/false, kNoId,
                                       "cannot reassign " + Describe(kind, e.key) + " out of " +
                                           query::DescribeGroup(cat(), actor, *g));
          if (!leaves.ok()) break;
        }
      }
      if (!leaves.ok()) {
        if (!leaves.IsPermissionDenied()) return leaves;
        item.outcome = ReassignItem::Outcome::kDenied;
        item.message = leaves.message();
        rep->denied++;
        rep->items.push_back(std::move(item));
        continue;
      }
      item.outcome = ReassignItem::Outcome::kMoved;
      rep->moved++;
      rep->items.push_back(std::move(item));
      expected += storage::kRecordChangeFixedBytes + sizeof(uint64_t) /* its id key */ +
                  2 * storage::EntityBytesAtLeast(e) + to->label.size() +
                  cat().account(e.owner)->label.size();
      txn->Expect(moving.size() + 1, expected);
      moving.push_back(std::move(e));
    }
    txn->Expect(0, 0);  // built below
    // The groups they join hand them their grants: once any entity moves,
    // the actor must hold what those give; if not, the moving ones are
    // denied, saying why.
    if (!moving.empty()) {
      for (const query::GroupNode* g : joining) {
        Status gives = RequireGrantsFollow(actor, *g, /*adding=*/true, kNoId);
        if (gives.ok()) continue;
        if (!gives.IsPermissionDenied()) return gives;
        for (ReassignItem& it : rep->items) {
          if (it.outcome != ReassignItem::Outcome::kMoved) continue;
          it.outcome = ReassignItem::Outcome::kDenied;
          it.message = gives.message();
          rep->moved--;
          rep->denied++;
        }
        moving.clear();
        break;
      }
    }
    auto first_of = [&](ReassignItem::Outcome o) -> const ReassignItem* {
      for (const auto& it : rep->items) {
        if (it.outcome == o) return &it;
      }
      return nullptr;
    };
    if (rep->unknown > 0) {
      return Status::NotFound(std::to_string(rep->unknown) + " of " +
                              std::to_string(refs.size()) + " unknown (first: " +
                              first_of(ReassignItem::Outcome::kUnknown)->message +
                              "); nothing was reassigned");
    }
    if (rep->denied > 0) {
      return Status::PermissionDenied(std::to_string(rep->denied) + " of " +
                                      std::to_string(refs.size()) + " not allowed (first: " +
                                      first_of(ReassignItem::Outcome::kDenied)->message +
                                      "); nothing was reassigned");
    }
    if (rep->duplicate > 0) {
      return Status::InvalidArgument(first_of(ReassignItem::Outcome::kDuplicate)->message +
                                     "; nothing was reassigned");
    }

    const int64_t now = NowMicros();
    // A new owner: the entity leaves the groups of its old owner (an
    // entity group holds only entities its owner owns).
    GroupEdits edits;
    for (const Entity& e : moving) {
      CANOPY_RETURN_IF_ERROR(DropMemberships(storage::kMemberEntity, e.id, kNoId, &edits, txn));
    }
    std::vector<uint64_t> moved_ids;
    moved_ids.reserve(moving.size());
    txn->Reserve(moving.size());
    for (Entity& e : moving) {
      Entity after = e;
      after.owner = to->id;
      Touch(&after, now);
      const AccountId from = e.owner;
      moved_ids.push_back(e.id);
      // Both records go into the change set: one copy per entity, and
      // `moving` keeps none of them.
      txn->Entity(std::move(e), std::move(after));
      txn->counts.AddDirect(cat(), from, kind, -1);
      txn->counts.AddDirect(cat(), to->id, kind, 1);
    }
    // ... and, in no group now, joins those of the new owner it names.
    std::sort(moved_ids.begin(), moved_ids.end());
    JoinGroups(joining, moved_ids, now, &edits, txn);
    return EmitGroupEdits(edits, txn);
  });
}

}  // namespace canopy::engine
