// Copyright (c) Canopy authors.
//
// World: a small tenant tree built through the public API, together with an
// oracle of the visibility rules written independently of the engine
// (its own role definitions, its own parent pointers, its own entity list).
// The query tests compare every answer of the engine with it.
//
// The standard world (BuildStandard):
//
//   acme                    root-viewer: viewer, branch
//   |                       disabled: account_admin, branch (disabled)
//   |_ a                    a-admin: account_admin, branch
//   |  |                    a-direct: device_manager, not branch
//   |  |                    assigner: custom "assigner" {device.assign,
//   |  |                              account.read}, branch
//   |  |_ a1                a1-home: account_admin, branch
//   |  |  |                 mix: viewer, branch
//   |  |  |_ a1x            assigner: viewer, not branch
//   |  |_ a2
//   |_ b                    mix: device_manager, not branch
//   |  |_ b1
//   |_ c                    c-reader: custom "dev-reader" {device.read}, branch
//   globex                  g-admin: account_admin, branch
//   |                       mix: viewer, not branch
//   |_ g1
//   nobody (in acme) has no membership.
//
// Devices dev-00..dev-35 are spread round-robin over the accounts (so that
// id order differs from tree order), with names "Van N", "Truck N" and
// "Vanguard N", types "tracker", "obd" and "", a "color" attribute on some
// and a "serial" on all; b1 also owns a device keyed "asset-0". A few
// assets, dashboards and entity views too.

#ifndef CANOPY_TESTS_QUERY_WORLD_H_
#define CANOPY_TESTS_QUERY_WORLD_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "canopy/db.h"

namespace canopy::testing {

class World {
 public:
  struct AccountInfo {
    std::string key;
    std::string name;
    AccountId parent = kNoId;
  };
  struct EntityInfo {
    EntityKind kind = EntityKind::kDevice;
    std::string key;
    std::string name;
    std::string type;
    AccountId owner = kNoId;
    Attributes attributes;
  };
  struct MemberInfo {
    std::string role;  // role name
    bool branch = false;
  };
  struct UserInfo {
    std::string login;
    AccountId home = kNoId;
    bool disabled = false;
    std::map<AccountId, MemberInfo> memberships;
  };

  explicit World(Db* db) : db_(db) {}
  // After a reopen: the same world in another Db object.
  void set_db(Db* db) { db_ = db; }
  Db* db() const { return db_; }

  void BuildStandard();

  // ---- Builders (system actor; each records a test failure if the engine
  // refuses) that keep the oracle in step.
  AccountId AddAccount(const std::string& key, const std::string& parent_key = "",
                       const std::string& name = "");
  EntityId AddEntity(EntityKind kind, const std::string& key, const std::string& owner_key,
                     const std::string& name, const std::string& type = "",
                     const Attributes& attributes = {}, const std::string& unit_id = "");
  UserId AddUser(const std::string& login, const std::string& home_key);
  void AddMember(const std::string& login, const std::string& account_key, const std::string& role,
                 bool branch);
  void AddRole(const std::string& tenant_key, const std::string& name,
               const std::set<std::string>& permissions);
  void SetDisabled(const std::string& login, bool disabled);
  void Move(const std::string& key, const std::string& new_parent_key);
  void Reassign(EntityKind kind, const std::string& key, const std::string& owner_key);
  void RemoveEntity(EntityKind kind, const std::string& key);
  // Deletes a childless account; `receiver_key` takes its entities and the
  // users created in it; memberships on it go.
  void RemoveAccount(const std::string& key, const std::string& receiver_key);

  // ---- Look-ups.
  AccountId account(const std::string& key) const;
  const std::string& account_key(AccountId id) const { return accounts_.at(id).key; }
  UserId user(const std::string& login) const;
  const std::map<AccountId, AccountInfo>& accounts() const { return accounts_; }
  const std::map<UserId, UserInfo>& users() const { return users_; }
  const std::map<EntityId, EntityInfo>& entities() const { return entities_; }
  // Every user id plus kNoId for the system actor.
  std::vector<UserId> viewers() const;
  static Actor ActorOf(UserId viewer) {
    return viewer == kNoId ? Actor::System() : Actor::User(viewer);
  }

  // ---- The oracle.
  // Is `a` a proper ancestor of `d`?
  bool IsAncestor(AccountId a, AccountId d) const;
  bool RoleHas(const std::string& role, const std::string& permission) const;
  // May `user` exercise `permission` on an entity owned by `owner`?
  bool Allows(UserId user, const std::string& permission, AccountId owner) const;
  // The keys Visible must return, in order (tree order of the owner, then
  // id). Tree order comes from TreeOrder().
  std::vector<std::string> ExpectedVisible(const VisibleRequest& request) const;
  // The accounts the viewer may read (account.read), in tree order.
  std::vector<AccountId> ReadableAccounts(UserId viewer, AccountId root = kNoId) const;
  // The accounts in tree order as the engine reports it (Roots, then each
  // root's Descendants), after checking that it is a pre-order of this
  // oracle's tree: every account once, each right before its own subtree,
  // which is contiguous. Records a test failure otherwise.
  std::vector<AccountId> TreeOrder() const;
  // Descendants of `a` (all levels), per the oracle.
  std::vector<AccountId> SubtreeOf(AccountId a) const;
  uint32_t Depth(AccountId a) const;
  uint64_t DevicesDirect(AccountId a) const;
  uint64_t DevicesSubtree(AccountId a) const;
  uint64_t MembersOn(AccountId a) const;
  // Does `viewer` see account `a`, holding any permission on it? The system
  // viewer and a disabled one (refused by other checks) see every account.
  bool SeesAccount(UserId viewer, AccountId a) const;
  // The members of `a` whose membership there `viewer` sees: its own, or
  // all when it holds a user.* permission or access.grant on `a`.
  uint64_t SeenMembersOn(UserId viewer, AccountId a) const;

 private:
  Db* db_;
  std::map<AccountId, AccountInfo> accounts_;
  std::map<std::string, AccountId> account_ids_;
  std::vector<AccountId> roots_;  // creation order
  std::map<EntityId, EntityInfo> entities_;
  std::map<UserId, UserInfo> users_;
  std::map<std::string, UserId> user_ids_;
  std::map<std::string, std::set<std::string>> custom_roles_;  // by name (unique here)
};

// The display of a request in failure messages.
std::string Describe(const VisibleRequest& request);

// All items of a selection, paging with `page_size`; records a failure
// (and stops) on an error. When `pages` is not null it receives each page's
// size.
std::vector<VisibleItem> AllPages(Db* db, VisibleRequest request, size_t page_size,
                                  std::vector<size_t>* pages = nullptr);
std::vector<std::string> KeysOf(const std::vector<VisibleItem>& items);

}  // namespace canopy::testing

#endif  // CANOPY_TESTS_QUERY_WORLD_H_
