// Copyright (c) Canopy authors.
//
// The crash test's expected state (docs/testing.md, "Crash test"): every
// object of a database as the stress tool believes it to be, keyed by its
// external key, without engine ids or timestamps, so that the state read
// from a database after a crash compares with the state the acknowledged
// mutations lead to.
//
// The state is split into partitions, one per stress thread: every key a
// thread makes starts with "t<N>." (accounts, entity keys, unit ids,
// logins, custom role names), and a thread only touches the objects of its
// own partition, so threads never race on an object and each partition's
// history is sequential. Custom roles and memberships belong to the
// partition of their tenant / user.
//
// Each object also has a flat form: an object key ("A:acme",
// "E:device:dev-1", "U:login", "M:login|account", "R:tenant|name") and a
// one-line value; the journal records a mutation's effect as such pairs.

#ifndef CANOPY_TESTS_CRASH_STATE_H_
#define CANOPY_TESTS_CRASH_STATE_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "canopy/db.h"

namespace canopy::crash {

struct AccountState {
  std::string name;
  std::string parent;  // "" for a root tenant
  Attributes attributes;
  bool management = false;
  SubAccountAccess access = SubAccountAccess::kDefaultOff;
  bool operator==(const AccountState&) const = default;
};

struct UserState {
  std::string name;
  std::string account;  // the account it was created in (or received by)
  bool disabled = false;
  bool operator==(const UserState&) const = default;
};

struct MemberState {
  std::string role;  // a built-in role, or a custom role of the tenant
  bool branch = false;
  bool operator==(const MemberState&) const = default;
};

struct RoleState {
  std::vector<std::string> permissions;  // canonical names, sorted
  bool operator==(const RoleState&) const = default;
};

struct EntityState {
  std::string unit_id;
  std::string name;
  std::string type;
  std::string owner;
  Attributes attributes;
  bool operator==(const EntityState&) const = default;
};

// Object keys to values; a missing key is an absent object.
using Flat = std::map<std::string, std::string>;
// One mutation's effect: object keys to their values after it (nullopt: the
// object is gone).
using Effects = std::vector<std::pair<std::string, std::optional<std::string>>>;

struct State {
  std::map<std::string, AccountState> accounts;  // by key
  std::map<std::string, UserState> users;        // by login
  std::map<std::string, MemberState> members;    // by "login|account"
  std::map<std::string, RoleState> roles;        // by "tenant|name"
  std::map<std::string, EntityState> entities;   // by "kind:key"

  Flat ToFlat() const;
  // Sets or removes one object from its flat form; false when the key or
  // value is malformed.
  bool Apply(const std::string& key, const std::optional<std::string>& value);
  bool ApplyAll(const Effects& effects);
  static bool FromFlat(const Flat& flat, State* out);

  // Derived facts.
  std::string TenantOf(const std::string& account) const;  // its root's key
  uint32_t Depth(const std::string& account) const;         // 1 for a root
  bool IsSelfOrAncestor(const std::string& ancestor, const std::string& account) const;
  std::vector<std::string> ChildrenOf(const std::string& account) const;
  std::vector<std::string> SubtreeOf(const std::string& account) const;  // itself included

  // Only the objects of partition `p` ("t3").
  State Partition(const std::string& p) const;
};

// Object keys and values.
std::string AccountKey(const std::string& key);
std::string UserKey(const std::string& login);
std::string MemberKey(const std::string& login, const std::string& account);
std::string RoleKey(const std::string& tenant, const std::string& name);
std::string EntityKey(EntityKind kind, const std::string& key);
std::string Encode(const AccountState& a);
std::string Encode(const UserState& u);
std::string Encode(const MemberState& m);
std::string Encode(const RoleState& r);
std::string Encode(const EntityState& e);
// The partition of an object key ("t3" of "A:t3.a5"), or "" when it follows
// no partition's naming.
std::string PartitionOf(const std::string& object_key);
// "kind:key" -> kind and key.
bool SplitEntityKey(const std::string& k, EntityKind* kind, std::string* key);

// Reads every object of the database through the public API (accounts from
// the roots down, users of each account, their memberships, custom roles,
// entities of every kind with their attributes). With `partition`, only the
// root tenants of that partition and what hangs off them.
Status ReadState(const Db& db, State* out, const std::string& partition = "");

// The permissions of each built-in role, by name.
using BuiltinRoles = std::map<std::string, std::set<std::string>>;
Status ReadBuiltinRoles(const Db& db, BuiltinRoles* out);

// May `login` exercise `permission` on the entity (kind:key) under `state`?
// (enabled, and a membership whose role holds the permission on the owner or,
// with branch, on one of its ancestors.)
bool ModelAllows(const State& state, const BuiltinRoles& builtin, const std::string& login,
                 const std::string& permission, const std::string& entity);

// The differences between two flat states, one line per object, at most
// `max` lines.
std::vector<std::string> Diff(const Flat& want, const Flat& got, size_t max = 20);

}  // namespace canopy::crash

#endif  // CANOPY_TESTS_CRASH_STATE_H_
