// Copyright (c) Canopy authors.
//
// Account mutations and reads: create, update, settings, move (relabels the
// moved subtree and its index range), delete (one or a whole set).

#include <algorithm>
#include <set>
#include <unordered_set>

#include "engine/db_impl.h"
#include "storage/keys.h"
#include "engine/rules.h"
#include "engine/validate.h"
#include "query/access.h"
#include "query/json.h"
#include "query/views.h"
#include "storage/labels.h"
#include "storage/records.h"

namespace canopy::engine {

using query::AccountNode;
using query::Catalog;
using query::Perm;
using query::Plural;
using query::Quote;
using query::Require;
using query::RequireThroughout;

namespace {

Status CheckSettings(const AccountSettings& s) {
  if (static_cast<uint8_t>(s.sub_account_access) > static_cast<uint8_t>(SubAccountAccess::kAlwaysOn)) {
    return Status::InvalidArgument("unknown sub_account_access value " +
                                   std::to_string(static_cast<int>(s.sub_account_access)));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<AccountId> DbImpl::CreateAccount(const Actor& actor, const AccountSpec& spec) {
  AccountId created = kNoId;
  Status s = Mutate(actor, "account.create", [&](Txn* txn) -> Status {
    txn->arguments =
        query::JsonObject().Str("key", spec.key).Str("name", spec.name).Uint("parent", spec.parent).str();
    CANOPY_RETURN_IF_ERROR(CheckKey("account key", spec.key));
    CANOPY_RETURN_IF_ERROR(CheckText("account name", spec.name));
    CANOPY_RETURN_IF_ERROR(CheckAttributes("account", spec.attributes));
    CANOPY_RETURN_IF_ERROR(CheckSettings(spec.settings));
    const AccountNode* parent = nullptr;
    if (spec.parent == kNoId) {
      const query::UserNode* u = nullptr;
      CANOPY_RETURN_IF_ERROR(query::ResolveActor(cat(), actor, &u));
      if (u != nullptr) {
        return Status::PermissionDenied("only the system actor may create a root tenant (user '" +
                                        u->login + "')");
      }
    } else {
      if (spec.settings.group_sharing) {
        return Status::InvalidArgument("group_sharing is a root tenant's setting; account '" +
                                       spec.key + "' is not a root tenant");
      }
      CANOPY_RETURN_IF_ERROR(RequireAccount(actor, spec.parent, "parent", &parent));
      CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kAccountCreate, *parent));
      if (!actor.is_system() && !parent->settings.sub_account_management) {
        return Status::FailedPrecondition("sub-account management is off for account " +
                                          Quote(*parent) +
                                          "; a parent account with "
                                          "account.manage_sub_accounts must turn it on");
      }
      if (spec.settings.sub_account_management) {
        CANOPY_RETURN_IF_ERROR(
            Require(cat(), actor, Perm::kAccountManageSubAccounts, *parent));
      }
      if (spec.settings.sub_account_access != SubAccountAccess::kDefaultOff) {
        CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kAccessGrant, *parent));
      }
      CANOPY_RETURN_IF_ERROR(
          rules::SubAccountDepth(parent->key, parent->depth, cat().max_depth));
    }
    bool taken = false;
    CANOPY_RETURN_IF_ERROR(store_->Exists(storage::kAccountKeys, spec.key, &taken));
    if (taken) return Status::AlreadyExists("account key '" + spec.key + "' is taken");

    const int64_t now = NowMicros();
    uint64_t next = 0;
    CANOPY_RETURN_IF_ERROR(storage::Store::NextId(cat().last_account_id, "account", &next));
    const AccountId id(next);
    std::string label;
    uint64_t ordinal;
    storage::AccountRecord parent_rec;
    if (parent != nullptr) {
      CANOPY_RETURN_IF_ERROR(LoadAccountRecord(parent->id, &parent_rec));
      const storage::AccountRecord before = parent_rec;
      ordinal = parent_rec.next_child_ordinal++;
      label = parent->label;
      txn->Account(&before, &parent_rec);
    } else {
      ordinal = cat().next_root_ordinal;
      txn->Meta(storage::kSeqRootOrdinal, ordinal, ordinal + 1);
    }
    storage::AppendOrdinal(&label, ordinal);

    storage::AccountRecord rec;
    rec.account.id = id;
    rec.account.key = spec.key;
    rec.account.name = spec.name;
    rec.account.parent = spec.parent;
    rec.account.depth = parent ? parent->depth + 1 : 1;
    rec.account.created_us = now;
    rec.account.updated_us = now;
    rec.account.attributes = spec.attributes;
    rec.account.settings = spec.settings;
    rec.label = label;
    rec.next_child_ordinal = 0;
    txn->Account(nullptr, &rec);
    txn->Meta(storage::kSeqAccount, cat().last_account_id, id);
    created = id;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return created;
}

StatusOr<Account> DbImpl::GetAccount(AccountId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  storage::AccountRecord r;
  CANOPY_RETURN_IF_ERROR(LoadAccountRecord(id, &r));
  return std::move(r.account);
}

StatusOr<Account> DbImpl::GetAccount(const Actor& viewer, AccountId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const AccountNode* n = cat().account(id);
  if (n == nullptr || !query::SeesAccount(cat(), viewer, *n)) {
    return Status::NotFound("no account with id " + std::to_string(id));
  }
  storage::AccountRecord r;
  CANOPY_RETURN_IF_ERROR(LoadAccountRecord(id, &r));
  return std::move(r.account);
}

StatusOr<Account> DbImpl::FindAccount(std::string_view key) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  std::string v;
  Status s = store_->Get(storage::kAccountKeys, key, &v, snap());
  if (s.IsNotFound()) return AccountKeyNotFound(key);
  CANOPY_RETURN_IF_ERROR(s);
  if (v.size() != 8) return Status::Corruption("account key index entry is damaged");
  storage::AccountRecord r;
  CANOPY_RETURN_IF_ERROR(LoadAccountRecord(storage::DecodeFixed64BE(v.data()), &r));
  return std::move(r.account);
}

StatusOr<Account> DbImpl::FindAccount(const Actor& viewer, std::string_view key) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  // The viewer before the look-up: an unknown or disabled one learns
  // nothing of what exists.
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  auto a = FindAccount(key);
  if (!a.ok()) return a;
  const AccountNode* n = cat().account(a->id);
  if (n == nullptr || !query::SeesAccount(cat(), viewer, *n)) {
    return AccountKeyNotFound(key);
  }
  return a;
}

Status DbImpl::UpdateAccount(const Actor& actor, AccountId id, const AccountPatch& patch) {
  return Mutate(actor, "account.update", [&](Txn* txn) -> Status {
    query::JsonObject args;
    args.Uint("id", id);
    if (patch.name) args.Str("name", *patch.name);
    if (patch.sub_account_management) {
      args.Bool("sub_account_management", *patch.sub_account_management);
    }
    if (patch.sub_account_access) {
      args.Str("sub_account_access", SubAccountAccessName(*patch.sub_account_access));
    }
    if (patch.group_sharing) args.Bool("group_sharing", *patch.group_sharing);
    txn->arguments = args.str();
    if (patch.name) CANOPY_RETURN_IF_ERROR(CheckText("account name", *patch.name));
    if (patch.attributes) CANOPY_RETURN_IF_ERROR(CheckAttributes("account", *patch.attributes));
    if (patch.sub_account_access) {
      AccountSettings probe;
      probe.sub_account_access = *patch.sub_account_access;
      CANOPY_RETURN_IF_ERROR(CheckSettings(probe));
    }
    const AccountNode* a = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(id, "account", &a));
    // An account the actor cannot see looks missing. Switching a child's
    // sub-account management, and only that, is decided on its parent: an
    // actor holding account.manage_sub_accounts there may switch a child
    // it does not see. Merely seeing the parent is not enough, or the
    // refusal would tell hidden ids from missing ones.
    const AccountNode* parent = cat().account(a->parent);
    const bool only_sub_account_management =
        patch.sub_account_management && !patch.name && !patch.attributes &&
        !patch.sub_account_access && !patch.group_sharing;
    if (!query::SeesAccount(cat(), actor, *a) &&
        !(only_sub_account_management && parent != nullptr &&
          query::Require(cat(), actor, Perm::kAccountManageSubAccounts, *parent).ok())) {
      return Status::NotFound("account: no account with id " + std::to_string(id));
    }
    // An empty patch changes nothing, but is still an update of the
    // account: it needs what a name change needs.
    const bool empty_patch = !patch.name && !patch.attributes && !patch.sub_account_management &&
                             !patch.sub_account_access && !patch.group_sharing;
    if (patch.name || patch.attributes || empty_patch) {
      CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kAccountUpdate, *a));
    }
    if (patch.sub_account_management) {
      if (a->parent == kNoId) {
        const query::UserNode* u = nullptr;
        CANOPY_RETURN_IF_ERROR(query::ResolveActor(cat(), actor, &u));
        if (u != nullptr) {
          return Status::PermissionDenied(
              "only the system actor may switch sub-account management of root tenant " +
              Quote(*a) + " (user '" + u->login + "')");
        }
      } else {
        CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kAccountManageSubAccounts,
                                       *cat().account(a->parent)));
      }
    }
    if (patch.group_sharing) {
      if (a->parent != kNoId) {
        return Status::InvalidArgument("group_sharing is a root tenant's setting; account " +
                                       Quote(*a) + " is not a root tenant");
      }
      const query::UserNode* u = nullptr;
      CANOPY_RETURN_IF_ERROR(query::ResolveActor(cat(), actor, &u));
      if (u != nullptr) {
        return Status::PermissionDenied("only the system actor may switch group sharing of root "
                                        "tenant " + Quote(*a) + " (user '" + u->login + "')");
      }
    }
    // always_on gives every current member branch access: the actor must
    // hold each such role on the whole branch itself.
    if (patch.sub_account_access) {
      CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kAccessGrant, *a));
      if (*patch.sub_account_access == SubAccountAccess::kAlwaysOn &&
          a->settings.sub_account_access != SubAccountAccess::kAlwaysOn) {
        for (UserId uid : a->members) {
          const query::MembershipNode* m = cat().membership(uid, id);
          if (m->branch) continue;
          const query::RoleNode* r = cat().role(m->role);
          CANOPY_RETURN_IF_ERROR(query::RequireHolds(
              cat(), actor, r->perms, true, *a,
              "switching to always_on gives role " + query::NameRole(cat(), actor, *r) +
                  " branch-wide"));
          Membership mem;
          CANOPY_RETURN_IF_ERROR(LoadMembership(uid, id, &mem));
          const Membership before = mem;
          mem.branch = true;
          txn->Membership(&before, &mem);
        }
      }
    }
    AccountSettings settings = a->settings;
    if (patch.sub_account_management) settings.sub_account_management = *patch.sub_account_management;
    if (patch.sub_account_access) settings.sub_account_access = *patch.sub_account_access;
    if (patch.group_sharing) settings.group_sharing = *patch.group_sharing;
    const bool settings_change =
        settings.sub_account_management != a->settings.sub_account_management ||
        settings.sub_account_access != a->settings.sub_account_access ||
        settings.group_sharing != a->settings.group_sharing;
    if (!patch.name && !patch.attributes && !settings_change) return Status::Ok();
    storage::AccountRecord rec;
    CANOPY_RETURN_IF_ERROR(LoadAccountRecord(id, &rec));
    const storage::AccountRecord before = rec;
    if (patch.name) rec.account.name = *patch.name;
    if (patch.attributes) rec.account.attributes = *patch.attributes;
    rec.account.settings = settings;
    if (rec.account.name == before.account.name &&
        rec.account.attributes == before.account.attributes && !settings_change) {
      return Status::Ok();  // values it already has: nothing to commit
    }
    Touch(&rec.account, NowMicros());
    txn->Account(&before, &rec);
    return Status::Ok();
  });
}

Status DbImpl::SetSubAccountManagement(const Actor& actor, AccountId id, bool on) {
  AccountPatch patch;
  patch.sub_account_management = on;
  return UpdateAccount(actor, id, patch);
}

Status DbImpl::SetSubAccountAccess(const Actor& actor, AccountId id, SubAccountAccess access) {
  AccountPatch patch;
  patch.sub_account_access = access;
  return UpdateAccount(actor, id, patch);
}

Status DbImpl::MoveAccount(const Actor& actor, AccountId id, AccountId new_parent) {
  return Mutate(actor, "account.move", [&](Txn* txn) -> Status {
    txn->arguments = query::JsonObject().Uint("id", id).Uint("new_parent", new_parent).str();
    const AccountNode* a = nullptr;
    const AccountNode* np = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, id, "account", &a));
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, new_parent, "new parent", &np));
    if (a->parent == kNoId) {
      return Status::FailedPrecondition("account " + Quote(*a) +
                                        " is a root tenant; root tenants cannot be moved");
    }
    const AccountNode* op = cat().account(a->parent);
    // All that moves: the account and each of its sub-accounts, which the
    // move hands to the new parent's branch members (as a reassign needs
    // device.assign over each device it moves).
    CANOPY_RETURN_IF_ERROR(RequireThroughout(
        cat(), actor, Perm::kAccountMove, *a,
        "cannot move account " + Quote(*a) + " with its sub-accounts"));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kAccountMove, *op));
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kAccountMove, *np));
    if (Catalog::IsSelfOrAncestor(*a, *np)) {
      return Status::FailedPrecondition("cannot move account " + Quote(*a) + " under " +
                                        Quote(*np) + ": " + Quote(*np) +
                                        " lies inside the moved subtree (a cycle)");
    }
    if (np->id == op->id) return Status::Ok();
    // A move gives the new parent a sub-account: the rule of creating one.
    if (!actor.is_system() && !np->settings.sub_account_management) {
      return Status::FailedPrecondition("sub-account management is off for account " +
                                        Quote(*np) +
                                        "; a parent account with "
                                        "account.manage_sub_accounts must turn it on");
    }

    std::vector<const AccountNode*> subtree;
    uint32_t deepest = a->depth;
    cat().ForEachInSubtree(*a, query::kNoDepthLimit, [&](const AccountNode& n) {
      subtree.push_back(&n);
      deepest = std::max(deepest, n.depth);
    });
    const uint32_t new_depth = np->depth + 1;
    if (new_depth + (deepest - a->depth) > cat().max_depth) {
      // The actor sees every account of the subtree (it holds
      // account.move on each), so the refusal may say how deep it is.
      return Status::FailedPrecondition(
          "moving account " + Quote(*a) + " under " + Quote(*np) + " would put its subtree " +
          std::to_string(deepest - a->depth + 1) + " levels deep below depth " +
          std::to_string(np->depth) + ", past the depth limit of " +
          std::to_string(cat().max_depth));
    }
    // Users keep their memberships inside the subtree of the account they
    // were created in (access flows top-down only): a move may not carry a membership
    // out of its user's reach.
    for (const AccountNode* n : subtree) {
      for (UserId uid : n->members) {
        const query::UserNode* u = cat().user(uid);
        const AccountNode* home = cat().account(u->home);
        if (Catalog::IsSelfOrAncestor(*a, *home) || Catalog::IsSelfOrAncestor(*home, *np)) continue;
        return Status::FailedPrecondition(
            "moving account " + Quote(*a) + " under " + Quote(*np) +
            " would take the membership of " + query::QuoteFor(cat(), actor, *u) + " on " +
            query::QuoteFor(cat(), actor, *n) + " outside " +
            query::QuoteFor(cat(), actor, *home) +
            ", where the user was created; remove that membership first");
      }
    }
    if (np->tenant != a->tenant) {
      for (const AccountNode* n : subtree) {
        for (UserId uid : n->members) {
          const query::RoleNode* r = cat().role(cat().membership(uid, n->id)->role);
          if (!r->builtin) {
            return Status::FailedPrecondition(
                "cannot move account " + Quote(*a) + " to another root tenant: " +
                query::QuoteFor(cat(), actor, *n) + " has a membership with custom role '" +
                query::NameRole(cat(), actor, *r) +
                "' of its current tenant");
          }
        }
      }
    }

    // Groups (docs/model.md, "Groups"): the moved account leaves its old
    // parent's account groups; a user group of the subtree loses the
    // grants onto groups of accounts that are no longer above it.
    std::vector<std::pair<AccountId, const query::GroupGrantNode*>> lost;  // (user group owner, grant)
    for (const AccountNode* n : subtree) {
      for (GroupId gid : n->groups) {
        const query::GroupNode* g = cat().group(gid);
        for (const query::GroupGrantNode& x : g->grants) {
          const query::RoleNode* r = cat().role(x.role);
          if (np->tenant != a->tenant && !r->builtin) {
            return Status::FailedPrecondition(
                "cannot move account " + Quote(*a) + " to another root tenant: " +
                query::DescribeGroup(cat(), actor, *g) + " of account " +
                query::QuoteFor(cat(), actor, *n) + " holds custom role '" +
                query::NameRole(cat(), actor, *r) + "' of its current tenant");
          }
          if (x.target == kNoId) continue;
          const AccountNode* towner = cat().account(cat().group(x.target)->owner);
          if (Catalog::IsSelfOrAncestor(*a, *towner) || Catalog::IsSelfOrAncestor(*towner, *np)) {
            continue;
          }
          lost.emplace_back(n->id, &x);
        }
      }
    }
    // Leaving the old parent's account groups is a change of those groups
    // (group.write on their owner). A grant lost needs what revoking it
    // needs (RequireRevoke, below), as RevokeGroup: nothing of the old
    // parent, which owns neither the user group nor the target.
    if (!a->in_groups.empty()) {
      // (A refusal says what needs it: a bare "group.write missing" would
      // not tell why a move asks for it.)
      CANOPY_RETURN_IF_ERROR(
          Require(cat(), actor, Perm::kGroupWrite, *op)
              .WithContext("cannot move account " + Quote(*a) + " under " + Quote(*np) +
                           " and with it take it out of the account groups of " + Quote(*op)));
    }
    // Leaving an account group takes what its grants give on the account
    // away from their users: the actor must hold that, as for
    // RemoveGroupMembers.
    for (GroupId gid : a->in_groups) {
      const query::GroupNode* g = cat().group(gid);
      CANOPY_RETURN_IF_ERROR(RequireGrantsFollow(
          actor, *g, /*adding=*/false, a->id,
          "cannot move account " + Quote(*a) + " under " + Quote(*np) + " and with it take it out of " +
              query::DescribeGroup(cat(), actor, *g)));
    }
    for (const auto& [owner, x] : lost) {
      CANOPY_RETURN_IF_ERROR(query::RequireRevoke(
          cat(), actor, *x,
          "cannot move account " + Quote(*a) + " under " + Quote(*np) + " and with it revoke " +
              query::DescribeGrant(cat(), actor, *x)));
    }
    {
      GroupEdits edits;
      CANOPY_RETURN_IF_ERROR(
          DropMemberships(storage::kMemberAccount, a->id, kNoId, &edits, txn));
      CANOPY_RETURN_IF_ERROR(EmitGroupEdits(edits, txn));
      for (const auto& [owner, x] : lost) {
        std::string bytes;
        CANOPY_RETURN_IF_ERROR(store_->Get(storage::kGroups,
                                           storage::GroupGrantKey(x->user_group, x->role, x->target),
                                           &bytes, snap()));
        GroupGrant gg;
        CANOPY_RETURN_IF_ERROR(storage::DecodeGroupGrant(bytes, &gg));
        gg.user_group = x->user_group;
        gg.role = x->role;
        gg.target = x->target;
        txn->GroupGrant(owner, &gg, nullptr);
      }
    }

    const int64_t now = NowMicros();
    storage::AccountRecord np_rec;
    CANOPY_RETURN_IF_ERROR(LoadAccountRecord(np->id, &np_rec));
    const storage::AccountRecord np_before = np_rec;
    std::string new_label = np->label;
    storage::AppendOrdinal(&new_label, np_rec.next_child_ordinal++);
    txn->Account(&np_before, &np_rec);
    const std::string old_label = a->label;

    // Every account of the subtree gets its new label and depth (parents
    // first); writing the change set moves the tree keys and the subtree's
    // visibility index range with them (storage::MoveIndexRange).
    for (const AccountNode* n : subtree) {
      storage::AccountRecord rec;
      CANOPY_RETURN_IF_ERROR(LoadAccountRecord(n->id, &rec));
      const storage::AccountRecord before = rec;
      rec.label = new_label + n->label.substr(old_label.size());
      rec.account.depth = n->depth - a->depth + new_depth;
      if (n == a) {
        rec.account.parent = np->id;
        Touch(&rec.account, now);
      }
      txn->Account(&before, &rec);
    }
    for (EntityKind kind : kAllEntityKinds) {
      const int64_t n = a->count(kind).subtree;
      if (n == 0) continue;
      txn->counts.AddSubtree(cat(), op->id, kind, -n);
      txn->counts.AddSubtree(cat(), np->id, kind, n);
    }
    return Status::Ok();
  });
}

Status DbImpl::DeleteAccount(const Actor& actor, AccountId id, AccountId receiver) {
  return Mutate(actor, "account.delete", [&](Txn* txn) {
    txn->arguments = query::JsonObject().Raw("ids", query::JsonNumbers({id})).Uint("receiver", receiver).str();
    return BuildDeleteAccounts(actor, {id}, receiver, txn);
  });
}

Status DbImpl::DeleteAccounts(const Actor& actor, Span<AccountId> ids,
                              AccountId receiver) {
  std::vector<AccountId> list(ids.begin(), ids.end());
  return Mutate(actor, "account.delete", [&](Txn* txn) {
    txn->arguments = query::JsonObject().Raw("ids", query::JsonNumbers(std::vector<uint64_t>(list.begin(), list.end()))).Uint("receiver", receiver).str();
    return BuildDeleteAccounts(actor, list, receiver, txn);
  });
}

Status DbImpl::BuildDeleteAccounts(const Actor& actor, std::vector<AccountId> ids,
                                   AccountId receiver, Txn* txn) {
  if (ids.empty()) return Status::InvalidArgument("no accounts to delete");
  std::unordered_set<AccountId> set;
  std::vector<const AccountNode*> nodes;
  for (AccountId id : ids) {
    const AccountNode* n = nullptr;
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, id, "delete", &n));
    if (!set.insert(id).second) {
      return Status::InvalidArgument("account " + Quote(*n) + " is named twice");
    }
    nodes.push_back(n);
  }
  const AccountNode* r = nullptr;
  if (receiver != kNoId) {
    CANOPY_RETURN_IF_ERROR(RequireAccount(actor, receiver, "receiver", &r));
    if (set.count(receiver)) {
      return Status::InvalidArgument("receiving account " + Quote(*r) +
                                     " is itself being deleted");
    }
  }
  for (const AccountNode* n : nodes) {
    CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kAccountDelete, *n));
    // As only the system actor creates a root tenant, only it deletes one.
    if (n->parent == kNoId && !actor.is_system()) {
      return Status::PermissionDenied("only the system actor may delete a root tenant ('" +
                                      n->key + "')");
    }
  }
  // Children before parents: deepest first.
  std::sort(nodes.begin(), nodes.end(), [](const AccountNode* x, const AccountNode* y) {
    return x->depth != y->depth ? x->depth > y->depth : x->id < y->id;
  });
  for (const AccountNode* n : nodes) {
    for (AccountId child : n->children) {
      if (!set.count(child)) {
        return Status::FailedPrecondition(
            "account " + Quote(*n) + " has sub-account " +
            query::QuoteFor(cat(), actor, *cat().account(child)) +
            "; delete its sub-accounts first (or in the same call)");
      }
    }
  }
  // Users created in the deleted accounts.
  std::map<AccountId, std::vector<UserId>> homed;
  for (const AccountNode* n : nodes) {
    std::string prefix = storage::IdKey(n->id);
    auto it = store_->NewIterator(storage::kUserHomes, snap(), prefix,
                                  storage::PrefixSuccessor(prefix));
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      if ((*it)->key().size() != 16) return Status::Corruption("a user home index entry is damaged");
      homed[n->id].push_back(storage::DecodeFixed64BE((*it)->key().data() + 8));
    }
    CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "delete: list users"));
  }
  for (const AccountNode* n : nodes) {
    // What the account still holds, as the refusal without a receiver
    // names it: counted only where the actor sees it (entities of a kind
    // it reads there, users it sees); the rest is "more out of sight".
    std::string owned;
    bool unseen = false;
    for (EntityKind kind : kAllEntityKinds) {
      int64_t c = n->count(kind).direct;
      if (c == 0) continue;
      if (r != nullptr) {
        // A kind the actor does not see there is not named (assigning it
        // would need a permission that would let the actor see it).
        if (!query::SeesEntity(cat(), actor, kind, *n)) {
          return Status::PermissionDenied(
              "cannot delete account " + Quote(*n) + " and give what it holds to " +
              query::QuoteFor(cat(), actor, *r) +
              ": it holds entities out of the actor's sight, which the actor may not reassign");
        }
        Perm p = query::EntityPerm(kind, query::EntityAction::kAssign);
        const std::string why = "cannot delete account " + Quote(*n) + " and give its " +
                                EntityKindName(kind) + "s to " + query::QuoteFor(cat(), actor, *r);
        CANOPY_RETURN_IF_ERROR(Require(cat(), actor, p, *n).WithContext(why));
        CANOPY_RETURN_IF_ERROR(Require(cat(), actor, p, *r).WithContext(why));
      }
      if (!query::SeesEntity(cat(), actor, kind, *n)) {
        unseen = true;
        continue;
      }
      owned += (owned.empty() ? "" : ", ") + Plural(c, EntityKindName(kind));
    }
    const std::vector<UserId>& users = homed[n->id];
    if (!users.empty() && r != nullptr) {
      const std::string why = "cannot delete account " + Quote(*n) + " and move its users to " +
                              query::QuoteFor(cat(), actor, *r);
      CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserInvite, *n).WithContext(why));
      CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserInvite, *r).WithContext(why));
    }
    int64_t seen_users = 0;
    for (UserId uid : users) {
      const query::UserNode* un = cat().user(uid);
      if (un != nullptr && query::SeesUser(cat(), actor, *un)) {
        ++seen_users;
      } else {
        unseen = true;
      }
    }
    if (seen_users > 0) owned += (owned.empty() ? "" : ", ") + Plural(seen_users, "user");
    if (unseen) owned += owned.empty() ? "users or entities out of sight" : " and more out of sight";
    // Deleting an account removes its memberships: the actor must be
    // allowed to remove each, as when uninviting (docs/index.md).
    for (UserId uid : n->members) {
      const query::UserNode* un = cat().user(uid);
      const query::MembershipNode* m = cat().membership(uid, n->id);
      const std::string why =
          "cannot delete account " + Quote(*n) + " and with it the membership of " +
          query::QuoteFor(cat(), actor, *un) + " (role " +
          query::NameRole(cat(), actor, *cat().role(m->role)) + ")";
      CANOPY_RETURN_IF_ERROR(Require(cat(), actor, Perm::kUserRemove, *n).WithContext(why));
      CANOPY_RETURN_IF_ERROR(query::RequireHoldsMembership(cat(), actor, *un, *m, why));
    }
    if (!owned.empty() && r == nullptr) {
      return Status::FailedPrecondition("account " + Quote(*n) + " still has " + owned +
                                        "; name an account to receive them");
    }
  }

  // Groups owned by a deleted account go (with their links and grants):
  // the actor needs group.write there. Its entities and users leave those
  // groups with them; the account itself leaves its parent's account groups.
  // Their grants go too, each only as RevokeGroup would let the actor.
  for (const AccountNode* n : nodes) {
    if (n->groups.empty()) continue;
    CANOPY_RETURN_IF_ERROR(
        Require(cat(), actor, Perm::kGroupWrite, *n)
            .WithContext("cannot delete account " + Quote(*n) + " and with it its " +
                         std::to_string(n->groups.size()) + " group(s)"));
  }
  // Taking it out of its parent's account groups needs group.write on the
  // parent, as moving it out does (unless the parent goes too, with its
  // groups, which needs that already).
  for (const AccountNode* n : nodes) {
    if (n->in_groups.empty() || set.count(n->parent)) continue;
    CANOPY_RETURN_IF_ERROR(
        Require(cat(), actor, Perm::kGroupWrite, *cat().account(n->parent))
            .WithContext("cannot delete account " + Quote(*n) +
                         " and with it take it out of the account groups of " +
                         query::QuoteFor(cat(), actor, *cat().account(n->parent))));
  }
  for (const AccountNode* n : nodes) {
    for (GroupId gid : n->groups) {
      const query::GroupNode* g = cat().group(gid);
      for (const auto* list : {&g->grants, &g->granted_to}) {
        for (const query::GroupGrantNode& x : *list) {
          CANOPY_RETURN_IF_ERROR(query::RequireRevoke(
              cat(), actor, x,
              "cannot delete account " + Quote(*n) + " and with it the grant of " +
                  query::DescribeGrant(cat(), actor, x)));
        }
      }
    }
  }

  // The change set, in an order its readers can apply one by one: group
  // links and groups first, then entities and users leave, then
  // memberships go, then the accounts (children before parents), then a
  // deleted tenant's custom roles.
  GroupEdits group_edits;
  for (const AccountNode* n : nodes) {
    for (GroupId gid : n->groups) CANOPY_RETURN_IF_ERROR(DropGroup(gid, &group_edits, txn));
  }
  for (const AccountNode* n : nodes) {
    CANOPY_RETURN_IF_ERROR(
        DropMemberships(storage::kMemberAccount, n->id, kNoId, &group_edits, txn));
  }
  CANOPY_RETURN_IF_ERROR(EmitGroupEdits(group_edits, txn));
  const int64_t now = NowMicros();
  for (const AccountNode* n : nodes) {
    for (EntityKind kind : kAllEntityKinds) {
      const uint8_t k = static_cast<uint8_t>(kind);
      const int64_t count = n->count(kind).direct;
      if (count == 0) continue;
      // Hand the entities to the receiver.
      std::string lo = storage::IndexRangeStart(k, n->label, false);
      std::string hi = storage::IndexRangeLimit(k, n->label, false);
      auto it = store_->NewIterator(storage::kVisibility, snap(), lo, hi);
      for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
        rocksdb::Slice key = (*it)->key();
        if (key.size() < 11) return Status::Corruption("a visibility index key is damaged");
        EntityId eid = storage::DecodeFixed64BE(key.data() + key.size() - 8);
        Entity e;
        CANOPY_RETURN_IF_ERROR(LoadEntity(eid, &e));
        const Entity before = e;
        e.owner = r->id;
        Touch(&e, now);
        txn->Entity(&before, &e);
      }
      CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "delete: scan index"));
      txn->counts.AddDirect(cat(), r->id, kind, count);
      if (n->parent != kNoId) txn->counts.AddSubtree(cat(), n->parent, kind, -count);
    }
    if (homed.count(n->id)) {
      for (UserId uid : homed[n->id]) {
        User u;
        CANOPY_RETURN_IF_ERROR(LoadUser(uid, &u));
        const User before = u;
        u.account = r->id;
        Touch(&u, now);
        txn->User(&before, &u);
      }
    }
    for (UserId uid : n->members) {
      Membership m;
      CANOPY_RETURN_IF_ERROR(LoadMembership(uid, n->id, &m));
      txn->Membership(&m, nullptr);
    }
  }
  for (const AccountNode* n : nodes) {
    storage::AccountRecord rec;
    CANOPY_RETURN_IF_ERROR(LoadAccountRecord(n->id, &rec));
    txn->Account(&rec, nullptr);
  }
  for (const AccountNode* n : nodes) {
    if (n->parent != kNoId) continue;
    // A deleted root tenant takes its custom roles along: they can only
    // be used in its own (now empty) tree.
    for (const auto& [rid, role] : cat().roles) {
      if (role.builtin || role.tenant != n->id) continue;
      Role ro;
      CANOPY_RETURN_IF_ERROR(LoadRole(rid, &ro));
      txn->Role(&ro, nullptr);
    }
  }
  // Counter changes of deleted accounts would revive their keys: drop them.
  for (const AccountNode* n : nodes) txn->counts.Forget(n->id);
  return Status::Ok();
}

StatusOr<EntityCounts> DbImpl::CountOwned(AccountId id, EntityKind kind) const {
  return CountOwned(Actor::System(), id, kind);
}

StatusOr<EntityCounts> DbImpl::CountOwned(const Actor& viewer, AccountId id,
                                          EntityKind kind) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  if (!ParseEntityKind(EntityKindName(kind))) return Status::InvalidArgument("unknown entity kind");
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const AccountNode* a = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireAccount(viewer, id, "count", &a));
  return query::SeeSubtree(cat(), viewer, *a, kind).counts;
}

StatusOr<std::vector<Account>> DbImpl::Ancestors(AccountId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  const AccountNode* a = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireAccount(id, "ancestors", &a));
  std::vector<Account> out;
  for (const AccountNode* n : cat().Ancestors(*a)) {
    storage::AccountRecord r;
    CANOPY_RETURN_IF_ERROR(LoadAccountRecord(n->id, &r));
    out.push_back(std::move(r.account));
  }
  return out;
}

StatusOr<std::vector<Account>> DbImpl::Ancestors(const Actor& viewer, AccountId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const AccountNode* a = cat().account(id);
  if (a == nullptr || !query::SeesAccount(cat(), viewer, *a)) {
    return Status::NotFound("ancestors: no account with id " + std::to_string(id));
  }
  std::vector<Account> out;
  for (const AccountNode* n : cat().Ancestors(*a)) {
    if (!query::SeesAccount(cat(), viewer, *n)) continue;
    storage::AccountRecord r;
    CANOPY_RETURN_IF_ERROR(LoadAccountRecord(n->id, &r));
    out.push_back(std::move(r.account));
  }
  return out;
}

StatusOr<std::vector<Account>> DbImpl::Descendants(AccountId id, uint32_t max_levels) const {
  return Descendants(Actor::System(), id, max_levels);
}

StatusOr<std::vector<Account>> DbImpl::Descendants(const Actor& viewer, AccountId id,
                                                   uint32_t max_levels) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const AccountNode* a = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireAccount(viewer, id, "descendants", &a));
  const uint32_t limit = query::DepthLimit(a->depth, max_levels);
  std::vector<Account> out;
  Status status;
  cat().ForEachInSubtree(*a, limit, [&](const AccountNode& n) {
    if (n.id == id || !status.ok() || !query::SeesAccount(cat(), viewer, n)) return;
    storage::AccountRecord r;
    status = LoadAccountRecord(n.id, &r);
    out.push_back(std::move(r.account));
  });
  CANOPY_RETURN_IF_ERROR(status);
  return out;
}

StatusOr<std::vector<AccountId>> DbImpl::Roots(const Actor& viewer) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  if (viewer.is_system()) return cat().roots;
  // Every account a user sees is a membership's account or lies below a
  // branch membership's (whose parent it then sees too): the tops are
  // among the membership accounts.
  // (Group grants count as memberships here: query::ForEachHeld.)
  std::vector<AccountId> out;
  query::ForEachHeld(cat(), *cat().user(viewer.user()), [&](const query::Held& h) {
    const AccountNode* a = cat().account(h.m.account);
    const AccountNode* parent = cat().account(a->parent);
    if (!query::SeesAccount(cat(), viewer, *a)) return;
    if (parent != nullptr && query::SeesAccount(cat(), viewer, *parent)) return;
    out.push_back(a->id);
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<AccountId> DbImpl::Roots() const {
  ReadScope scope(this);
  if (!scope.status().ok()) return {};
  return cat().roots;
}

}  // namespace canopy::engine
