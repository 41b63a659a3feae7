// Copyright (c) Canopy authors.

#include "tests/query/world.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "tests/test_util.h"

namespace canopy::testing {

namespace {

// Built-in roles, written down here from docs/index.md and db.h rather than taken
// from query/permissions.cc.
bool IsEntityPermission(const std::string& p) {
  for (EntityKind k : kAllEntityKinds) {
    const std::string prefix = std::string(EntityKindName(k)) + ".";
    if (p.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

bool BuiltinHas(const std::string& role, const std::string& p) {
  if (role == "account_admin") return true;
  if (role == "device_manager") {
    return IsEntityPermission(p) || p == "account.read" || p == "user.read";
  }
  if (role == "viewer") {
    return (IsEntityPermission(p) && p.size() > 5 && p.substr(p.size() - 5) == ".read") ||
           p == "account.read" || p == "user.read";
  }
  return false;
}

}  // namespace

void World::BuildStandard() {
  AddAccount("acme");
  AddAccount("a", "acme");
  AddAccount("a1", "a");
  AddAccount("a1x", "a1");
  AddAccount("a2", "a");
  AddAccount("b", "acme");
  AddAccount("b1", "b");
  AddAccount("c", "acme");
  AddAccount("globex");
  AddAccount("g1", "globex");

  const std::vector<std::string> slots = {"acme", "a", "a1",     "a1x", "a2", "b",
                                          "b1",   "c", "globex", "g1",  "a",  "a1"};
  const std::vector<std::string> names = {"Van", "Truck", "Vanguard"};
  const std::vector<std::string> types = {"tracker", "obd", "", "tracker"};
  for (int i = 0; i < 36; ++i) {
    char key[16];
    snprintf(key, sizeof key, "dev-%02d", i);
    Attributes attrs;
    if (i % 5 < 2) attrs["color"] = "red";
    if (i % 5 == 2) attrs["color"] = "blue";
    attrs["serial"] = "S" + std::to_string(i);
    // Vary names and types within each account too (12 slots would
    // otherwise pin them to the slot).
    const int k = i % 12 + i / 12;
    AddEntity(EntityKind::kDevice, key, slots[i % slots.size()],
              names[k % 3] + " " + std::to_string(i), types[k % 4], attrs,
              i % 2 == 0 ? "U-" + std::string(key + 4) : "");
  }
  const std::vector<std::string> asset_owners = {"acme", "a", "a1", "b", "globex"};
  for (int i = 0; i < 10; ++i) {
    AddEntity(EntityKind::kAsset, "asset-" + std::to_string(i), asset_owners[i % 5],
              "Site " + std::to_string(i), i % 2 ? "depot" : "");
  }
  AddEntity(EntityKind::kDashboard, "dash-acme", "acme", "Fleet");
  AddEntity(EntityKind::kDashboard, "dash-a1", "a1", "Fleet A1");
  AddEntity(EntityKind::kDashboard, "dash-g1", "g1", "Fleet G1");
  AddEntity(EntityKind::kEntityView, "view-a", "a", "View A");
  AddEntity(EntityKind::kEntityView, "view-b1", "b1", "View B1");
  // A device with the same key as an asset: kinds share nothing.
  AddEntity(EntityKind::kDevice, "asset-0", "b1", "Van twin", "tracker");

  AddRole("acme", "assigner", {"device.assign", "account.read"});
  AddRole("acme", "dev-reader", {"device.read"});
  AddUser("root-viewer", "acme");
  AddMember("root-viewer", "acme", "viewer", true);
  AddUser("a-admin", "a");
  AddMember("a-admin", "a", "account_admin", true);
  AddUser("a-direct", "a");
  AddMember("a-direct", "a", "device_manager", false);
  AddUser("mix", "acme");
  AddMember("mix", "a1", "viewer", true);
  AddMember("mix", "b", "device_manager", false);
  // (Not on globex: a user holds roles only below the account it was
  // created in — the top-down rule; tests/engine/access_test.cc covers that.)
  AddUser("assigner", "a");
  AddMember("assigner", "a", "assigner", true);
  AddMember("assigner", "a1x", "viewer", false);
  AddUser("nobody", "acme");
  AddUser("disabled", "acme");
  AddMember("disabled", "acme", "account_admin", true);
  SetDisabled("disabled", true);
  AddUser("g-admin", "globex");
  AddMember("g-admin", "globex", "account_admin", true);
  AddUser("a1-home", "a1");
  AddMember("a1-home", "a1", "account_admin", true);
  AddUser("c-reader", "c");
  AddMember("c-reader", "c", "dev-reader", true);
}

AccountId World::AddAccount(const std::string& key, const std::string& parent_key,
                            const std::string& name) {
  AccountSpec spec;
  spec.key = key;
  spec.name = name.empty() ? "Account " + key : name;
  spec.parent = parent_key.empty() ? kNoId : account(parent_key);
  spec.settings.sub_account_management = true;
  auto r = db_->CreateAccount(Actor::System(), spec);
  EXPECT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  if (!r.ok()) return kNoId;
  accounts_[*r] = AccountInfo{key, spec.name, spec.parent};
  account_ids_[key] = *r;
  if (spec.parent == kNoId) roots_.push_back(*r);
  return *r;
}

EntityId World::AddEntity(EntityKind kind, const std::string& key, const std::string& owner_key,
                          const std::string& name, const std::string& type,
                          const Attributes& attributes, const std::string& unit_id) {
  EntitySpec spec;
  spec.kind = kind;
  spec.key = key;
  spec.name = name;
  spec.type = type;
  spec.owner = account(owner_key);
  spec.attributes = attributes;
  spec.unit_id = unit_id;
  auto r = db_->CreateEntity(Actor::System(), spec);
  EXPECT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  if (!r.ok()) return kNoId;
  entities_[*r] = EntityInfo{kind, key, name, type, spec.owner, attributes};
  return *r;
}

UserId World::AddUser(const std::string& login, const std::string& home_key) {
  auto r = db_->CreateUser(Actor::System(), UserSpec{login, "User " + login, account(home_key)});
  EXPECT_TRUE(r.ok()) << login << ": " << r.status().ToString();
  if (!r.ok()) return kNoId;
  users_[*r] = UserInfo{login, account(home_key), false, {}};
  user_ids_[login] = *r;
  return *r;
}

void World::AddMember(const std::string& login, const std::string& account_key,
                      const std::string& role, bool branch) {
  auto r = db_->FindRole(account(account_key), role);
  ASSERT_TRUE(r.ok()) << role << ": " << r.status().ToString();
  Status s = db_->Invite(Actor::System(), user(login), account(account_key), r->id, branch);
  ASSERT_TRUE(s.ok()) << login << " on " << account_key << ": " << s.ToString();
  users_[user(login)].memberships[account(account_key)] = MemberInfo{role, branch};
}

void World::AddRole(const std::string& tenant_key, const std::string& name,
                    const std::set<std::string>& permissions) {
  std::vector<std::string> list(permissions.begin(), permissions.end());
  auto r = db_->CreateRole(Actor::System(), account(tenant_key), name, list);
  ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
  custom_roles_[name] = permissions;
}

void World::SetDisabled(const std::string& login, bool disabled) {
  Status s = db_->SetUserDisabled(Actor::System(), user(login), disabled);
  ASSERT_TRUE(s.ok()) << s.ToString();
  users_[user(login)].disabled = disabled;
}

void World::Move(const std::string& key, const std::string& new_parent_key) {
  Status s = db_->MoveAccount(Actor::System(), account(key), account(new_parent_key));
  ASSERT_TRUE(s.ok()) << key << " -> " << new_parent_key << ": " << s.ToString();
  accounts_[account(key)].parent = account(new_parent_key);
}

void World::Reassign(EntityKind kind, const std::string& key, const std::string& owner_key) {
  std::vector<std::string> refs = {key};
  Status s = db_->ReassignEntities(Actor::System(), kind, EntityRef::kKey, refs, account(owner_key),
                                   nullptr);
  ASSERT_TRUE(s.ok()) << key << " -> " << owner_key << ": " << s.ToString();
  for (auto& [id, e] : entities_) {
    if (e.kind == kind && e.key == key) e.owner = account(owner_key);
  }
}

void World::RemoveEntity(EntityKind kind, const std::string& key) {
  auto e = db_->FindEntity(kind, key);
  ASSERT_TRUE(e.ok()) << key << ": " << e.status().ToString();
  Status s = db_->DeleteEntity(Actor::System(), e->id);
  ASSERT_TRUE(s.ok()) << key << ": " << s.ToString();
  entities_.erase(e->id);
}

void World::RemoveAccount(const std::string& key, const std::string& receiver_key) {
  const AccountId gone = account(key);
  const AccountId receiver = account(receiver_key);
  Status s = db_->DeleteAccount(Actor::System(), gone, receiver);
  ASSERT_TRUE(s.ok()) << key << ": " << s.ToString();
  for (auto& [id, e] : entities_) {
    if (e.owner == gone) e.owner = receiver;
  }
  for (auto& [id, u] : users_) {
    if (u.home == gone) u.home = receiver;
    u.memberships.erase(gone);
  }
  accounts_.erase(gone);
  account_ids_.erase(key);
}

AccountId World::account(const std::string& key) const {
  auto it = account_ids_.find(key);
  EXPECT_TRUE(it != account_ids_.end()) << "no account " << key << " in the world";
  return it == account_ids_.end() ? kNoId : it->second;
}

UserId World::user(const std::string& login) const {
  auto it = user_ids_.find(login);
  EXPECT_TRUE(it != user_ids_.end()) << "no user " << login << " in the world";
  return it == user_ids_.end() ? kNoId : it->second;
}

std::vector<UserId> World::viewers() const {
  std::vector<UserId> out = {kNoId};
  for (const auto& [id, u] : users_) out.push_back(id);
  return out;
}

bool World::IsAncestor(AccountId a, AccountId d) const {
  for (AccountId p = accounts_.at(d).parent; p != kNoId; p = accounts_.at(p).parent) {
    if (p == a) return true;
  }
  return false;
}

bool World::RoleHas(const std::string& role, const std::string& permission) const {
  auto it = custom_roles_.find(role);
  if (it != custom_roles_.end()) return it->second.count(permission) > 0;
  return BuiltinHas(role, permission);
}

bool World::Allows(UserId user, const std::string& permission, AccountId owner) const {
  if (user == kNoId) return true;
  const UserInfo& u = users_.at(user);
  if (u.disabled) return false;
  for (const auto& [account, m] : u.memberships) {
    if (!RoleHas(m.role, permission)) continue;
    if (account == owner || (m.branch && IsAncestor(account, owner))) return true;
  }
  return false;
}

std::vector<std::string> World::ExpectedVisible(const VisibleRequest& r) const {
  const std::string perm =
      r.permission.empty() ? std::string(EntityKindName(r.kind)) + ".read" : r.permission;
  const UserId viewer = r.viewer.is_system() ? kNoId : r.viewer.user();
  std::vector<std::string> keys;
  for (AccountId x : TreeOrder()) {
    if (r.within != kNoId) {
      if (x != r.within && !IsAncestor(r.within, x)) continue;
      if (r.direct_only && x != r.within) continue;
    }
    if (!Allows(viewer, perm, x)) continue;
    if (r.direct_only && r.within == kNoId) {
      // Only accounts where the viewer itself holds a granting membership.
      if (viewer == kNoId) {
        if (accounts_.at(x).parent != kNoId) continue;
      } else {
        auto m = users_.at(viewer).memberships.find(x);
        if (m == users_.at(viewer).memberships.end() || !RoleHas(m->second.role, perm)) continue;
      }
    }
    for (const auto& [id, e] : entities_) {  // by id
      if (e.owner != x || e.kind != r.kind) continue;
      if (r.type && e.type != *r.type) continue;
      if (e.name.rfind(r.name_prefix, 0) != 0) continue;
      if (r.attribute) {
        auto a = e.attributes.find(r.attribute->name);
        if (a == e.attributes.end() || a->second != r.attribute->value) continue;
      }
      keys.push_back(e.key);
    }
  }
  return keys;
}

std::vector<AccountId> World::ReadableAccounts(UserId viewer, AccountId root) const {
  std::vector<AccountId> out;
  for (AccountId x : TreeOrder()) {
    if (root != kNoId && x != root && !IsAncestor(root, x)) continue;
    if (Allows(viewer, "account.read", x)) out.push_back(x);
  }
  return out;
}

std::vector<AccountId> World::SubtreeOf(AccountId a) const {
  std::vector<AccountId> out;
  for (const auto& [id, info] : accounts_) {
    if (IsAncestor(a, id)) out.push_back(id);
  }
  return out;
}

std::vector<AccountId> World::TreeOrder() const {
  std::vector<AccountId> order;
  std::vector<AccountId> roots = db_->Roots();
  EXPECT_EQ(roots, roots_) << "Roots() must list the root tenants in creation order";
  for (AccountId r : roots) {
    order.push_back(r);
    auto d = db_->Descendants(r, 0);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (!d.ok()) continue;
    for (const Account& a : *d) order.push_back(a.id);
  }
  // A pre-order of the oracle's tree: each account once, its subtree right
  // after it.
  EXPECT_EQ(order.size(), accounts_.size());
  std::map<AccountId, size_t> pos;
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_TRUE(accounts_.count(order[i])) << "unknown account " << order[i];
    EXPECT_TRUE(pos.emplace(order[i], i).second) << "account listed twice " << order[i];
  }
  for (size_t i = 0; i < order.size() && accounts_.count(order[i]); ++i) {
    const size_t size = SubtreeOf(order[i]).size();
    for (size_t j = i + 1; j <= i + size && j < order.size(); ++j) {
      EXPECT_TRUE(accounts_.count(order[j]) && IsAncestor(order[i], order[j]))
          << "tree order breaks the subtree of " << accounts_.at(order[i]).key;
    }
  }
  return order;
}

uint32_t World::Depth(AccountId a) const {
  uint32_t d = 1;
  for (AccountId p = accounts_.at(a).parent; p != kNoId; p = accounts_.at(p).parent) ++d;
  return d;
}

uint64_t World::DevicesDirect(AccountId a) const {
  uint64_t n = 0;
  for (const auto& [id, e] : entities_) n += e.kind == EntityKind::kDevice && e.owner == a;
  return n;
}

uint64_t World::DevicesSubtree(AccountId a) const {
  uint64_t n = DevicesDirect(a);
  for (AccountId d : SubtreeOf(a)) n += DevicesDirect(d);
  return n;
}

uint64_t World::MembersOn(AccountId a) const {
  uint64_t n = 0;
  for (const auto& [id, u] : users_) n += u.memberships.count(a);
  return n;
}

bool World::SeesAccount(UserId viewer, AccountId a) const {
  if (viewer == kNoId || users_.at(viewer).disabled) return true;
  for (const auto& [account, m] : users_.at(viewer).memberships) {
    if (account == a || (m.branch && IsAncestor(account, a))) return true;  // no role is empty
  }
  return false;
}

uint64_t World::SeenMembersOn(UserId viewer, AccountId a) const {
  bool all = viewer == kNoId;
  for (const char* p : {"user.read", "user.invite", "user.update", "user.remove", "access.grant"}) {
    all = all || Allows(viewer, p, a);
  }
  uint64_t n = 0;
  for (const auto& [id, u] : users_) n += u.memberships.count(a) && (all || id == viewer);
  return n;
}

std::string Describe(const VisibleRequest& r) {
  std::string s = r.viewer.is_system() ? "system" : "user " + std::to_string(r.viewer.user());
  s += std::string(" kind=") + EntityKindName(r.kind);
  if (!r.permission.empty()) s += " perm=" + r.permission;
  if (r.type) s += " type='" + *r.type + "'";
  if (!r.name_prefix.empty()) s += " prefix='" + r.name_prefix + "'";
  if (r.attribute) s += " attr " + r.attribute->name + "=" + r.attribute->value;
  if (r.within != kNoId) s += " within=" + std::to_string(r.within);
  if (r.direct_only) s += " direct_only";
  return s;
}

std::vector<VisibleItem> AllPages(Db* db, VisibleRequest request, size_t page_size,
                                  std::vector<size_t>* pages) {
  std::vector<VisibleItem> out;
  request.limit = page_size;
  request.cursor.clear();
  for (int guard = 0; guard < 100000; ++guard) {
    VisiblePage page;
    Status s = db->Visible(request, &page);
    EXPECT_TRUE(s.ok()) << Describe(request) << ": " << s.ToString();
    if (!s.ok()) break;
    if (pages != nullptr) pages->push_back(page.items.size());
    out.insert(out.end(), page.items.begin(), page.items.end());
    if (page.next_cursor.empty()) break;
    request.cursor = page.next_cursor;
  }
  return out;
}

std::vector<std::string> KeysOf(const std::vector<VisibleItem>& items) {
  std::vector<std::string> keys;
  keys.reserve(items.size());
  for (const auto& i : items) keys.push_back(i.key);
  return keys;
}

}  // namespace canopy::testing
