// Copyright (c) Canopy authors.
//
// The value types of Canopy's C++ API: ids, entity kinds, actors, and the
// plain structs that describe accounts, entities, users, memberships and
// roles. See ../../docs/index.md for the model they describe.
//
// Thread safety: these are plain values; no internal synchronisation.

#ifndef CANOPY_TYPES_H_
#define CANOPY_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace canopy {

// A read-only view of values laid out one after another, for the arguments
// that take a batch (Db::DeleteAccounts, Db::ReassignEntities): what
// std::span<const T> is in C++20, in C++17 so that the public headers need
// no more. Made from a std::vector, a std::array, a C array, a braced list
// ({a, b}), a pointer and a count, or any contiguous container with data()
// and size() (a C++20 std::span too). It owns nothing: what it views must
// outlive it, so keep one only for the length of a call.
template <typename T>
class Span {
 public:
  using element_type = const T;
  using value_type = std::remove_cv_t<T>;
  using iterator = const T*;

  constexpr Span() noexcept = default;
  constexpr Span(const T* data, size_t size) noexcept : data_(data), size_(size) {}
  template <size_t N>
  constexpr Span(const T (&array)[N]) noexcept : data_(array), size_(N) {}
  // A braced list lives until the end of the full expression: fine for an
  // argument, never for a stored Span.
  constexpr Span(std::initializer_list<T> list) noexcept : Span(list.begin(), list.size()) {}
  template <
      typename Container,
      typename = std::enable_if_t<
          !std::is_same_v<std::decay_t<Container>, Span> &&
          std::is_convertible_v<decltype(std::declval<const Container&>().data()), const T*> &&
          std::is_convertible_v<decltype(std::declval<const Container&>().size()),
                                size_t>>>
  constexpr Span(const Container& container) noexcept  // NOLINT: implicit on purpose
      : data_(container.data()), size_(container.size()) {}

  constexpr const T* data() const noexcept { return data_; }
  constexpr size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr const T& operator[](size_t i) const noexcept { return data_[i]; }
  constexpr const T* begin() const noexcept { return data_; }
  constexpr const T* end() const noexcept { return data_ + size_; }

 private:
  const T* data_ = nullptr;
  size_t size_ = 0;
};

// Engine ids. Assigned by Canopy, never reused; 0 (kNoId) is never a valid
// id. Each kind of object has its own id type, so that an account's id
// passed where a user's is expected (Invite(actor, account, user, ...))
// does not compile. An id converts to and from a plain uint64_t (what the
// C API and storage use) without a cast; ids of two kinds never convert
// into each other, even through a uint64_t, without writing .value().
template <typename Kind>
class Id {
 public:
  constexpr Id() noexcept = default;
  // From any integer (a uint64_t from the C API or a file).
  template <typename Integer, typename = std::enable_if_t<std::is_integral_v<Integer>>>
  constexpr Id(Integer value) noexcept  // NOLINT: implicit on purpose
      : value_(static_cast<uint64_t>(value)) {}
  // Another kind's id is refused (a deleted constructor, so the compiler
  // names the mistake), also in a cast.
  template <typename OtherKind>
  Id(Id<OtherKind>) = delete;

  constexpr operator uint64_t() const noexcept { return value_; }  // NOLINT: implicit
  constexpr uint64_t value() const noexcept { return value_; }

 private:
  uint64_t value_ = 0;
};
namespace id_kind {
struct Account;
struct User;
struct Entity;
struct Role;
struct Group;
}  // namespace id_kind
using AccountId = Id<id_kind::Account>;
using UserId = Id<id_kind::User>;
using EntityId = Id<id_kind::Entity>;
using RoleId = Id<id_kind::Role>;
using GroupId = Id<id_kind::Group>;

// kNoId: "no id", of any kind (a root tenant's parent, the system actor's
// user). It converts to every id type and to the integer 0, so that
// `found ? *id : kNoId` and `id == kNoId` work for every id type.
struct NoId {
  template <typename Kind>
  constexpr operator Id<Kind>() const noexcept {  // NOLINT: implicit on purpose
    return Id<Kind>();
  }
  constexpr operator uint64_t() const noexcept { return 0; }  // NOLINT: implicit on purpose
};
inline constexpr NoId kNoId{};

// Names, keys, logins and attribute names are UTF-8, 1..256 bytes
// (attribute values: 0..4096 bytes).
inline constexpr size_t kMaxNameBytes = 256;

// The kinds of entity an account can own. Persisted: do not change these
// values, only append.
enum class EntityKind : uint8_t {
  kDevice = 1,
  kAsset = 2,
  kDashboard = 3,
  kEntityView = 4,
};
inline constexpr EntityKind kAllEntityKinds[] = {EntityKind::kDevice, EntityKind::kAsset,
                                                 EntityKind::kDashboard,
                                                 EntityKind::kEntityView};
// "device", "asset", "dashboard", "entity_view".
const char* EntityKindName(EntityKind kind);
std::optional<EntityKind> ParseEntityKind(std::string_view name);

// Frontegg's sub-account access default of an account (docs/index.md).
// Persisted: do not change these values.
enum class SubAccountAccess : uint8_t {
  kDefaultOff = 0,  // new memberships get branch = false unless asked
  kDefaultOn = 1,   // new memberships get branch = true unless asked
  kAlwaysOn = 2,    // every current and future member has branch access
};
// "default_off", "default_on", "always_on".
const char* SubAccountAccessName(SubAccountAccess access);
std::optional<SubAccountAccess> ParseSubAccountAccess(std::string_view name);

// Free string attributes (home dashboard, address, VIN, ...), sorted by key.
using Attributes = std::map<std::string, std::string, std::less<>>;

// Who performs a mutation: a user, or the platform's system actor (which
// bootstraps root tenants and is allowed everything).
class Actor {
 public:
  static Actor System() { return Actor(true, kNoId); }
  static Actor User(UserId user) { return Actor(false, user); }
  bool is_system() const { return system_; }
  UserId user() const { return user_; }

 private:
  Actor(bool system, UserId user) : system_(system), user_(user) {}
  bool system_;
  UserId user_;
};

struct AccountSettings {
  // May sub-accounts be created under this account by users (Frontegg's
  // "isReseller")? The system actor may always create them.
  bool sub_account_management = false;
  SubAccountAccess sub_account_access = SubAccountAccess::kDefaultOff;
  // Root tenants only: may a group be shared down to a user group of a
  // sub-account (docs/model.md, "Groups")? Ignored on other accounts.
  bool group_sharing = false;
};

// What CreateAccount needs. `parent` = kNoId makes a root tenant.
struct AccountSpec {
  std::string key;   // unique external key, e.g. "acme-a"
  std::string name;  // display name
  AccountId parent = kNoId;
  Attributes attributes;
  AccountSettings settings;
};

struct Account {
  AccountId id = kNoId;
  std::string key;
  std::string name;
  AccountId parent = kNoId;  // kNoId for a root tenant
  uint32_t depth = 0;        // 1 for a root tenant
  int64_t created_us = 0;    // microseconds since the Unix epoch
  int64_t updated_us = 0;
  Attributes attributes;
  AccountSettings settings;
};

// Fields to change on UpdateAccount, all in one atomic write; unset fields
// stay as they are. `attributes` replaces the whole map.
struct AccountPatch {
  std::optional<std::string> name;
  std::optional<Attributes> attributes;
  std::optional<bool> sub_account_management;
  std::optional<SubAccountAccess> sub_account_access;
  std::optional<bool> group_sharing;
};

// What CreateEntity needs.
struct EntitySpec {
  EntityKind kind = EntityKind::kDevice;
  std::string key;      // device id / asset key; unique per kind
  std::string unit_id;  // devices only; optional, unique when set
  std::string name;
  std::string type;  // device type / profile; optional
  AccountId owner = kNoId;
  Attributes attributes;
};

struct Entity {
  EntityId id = kNoId;
  EntityKind kind = EntityKind::kDevice;
  std::string key;
  std::string unit_id;
  std::string name;
  std::string type;
  AccountId owner = kNoId;
  int64_t created_us = 0;
  int64_t updated_us = 0;
  Attributes attributes;
};

// Fields to change on UpdateEntity; unset fields stay as they are.
struct EntityPatch {
  std::optional<std::string> name;
  std::optional<std::string> type;
  std::optional<std::string> unit_id;  // devices only; "" removes it
  std::optional<Attributes> attributes;
};

// How ReassignEntities names its items.
enum class EntityRef : uint8_t { kKey = 0, kUnitId = 1 };

// The per-item report of ReassignEntities.
struct ReassignItem {
  enum class Outcome : uint8_t {
    kMoved = 0,      // reassigned (or would have been, had the batch passed)
    kUnchanged = 1,  // already owned by the target
    kUnknown = 2,    // no entity with that key / unit id
    kDenied = 3,     // the actor may not take it from its owner
    kDuplicate = 4,  // named twice in the batch
  };
  std::string ref;
  Outcome outcome = Outcome::kMoved;
  EntityId entity = kNoId;           // when known
  AccountId previous_owner = kNoId;  // its owner before the call, when known
  std::string message;               // why, for kUnknown / kDenied / kDuplicate
};
// "moved", "unchanged", "unknown", "denied", "duplicate".
const char* ReassignOutcomeName(ReassignItem::Outcome outcome);

struct ReassignReport {
  std::vector<ReassignItem> items;  // in the order given
  size_t moved = 0;
  size_t unchanged = 0;
  size_t unknown = 0;
  size_t denied = 0;
  size_t duplicate = 0;
};

// Exact entity counts of one kind for an account, kept by the engine.
struct EntityCounts {
  uint64_t direct = 0;   // owned by the account itself
  uint64_t subtree = 0;  // owned by the account or any descendant
};

struct UserSpec {
  std::string login;  // unique, e.g. an e-mail address
  std::string name;
  AccountId account = kNoId;  // the account the user is created in
};

struct User {
  UserId id = kNoId;
  std::string login;
  std::string name;
  AccountId account = kNoId;
  bool disabled = false;  // a disabled user holds no permissions
  int64_t created_us = 0;
  int64_t updated_us = 0;
};

struct UserPatch {
  std::optional<std::string> name;
};

// A user's role on an account; with `branch` also on every existing and
// future descendant of the account.
struct Membership {
  UserId user = kNoId;
  AccountId account = kNoId;
  RoleId role = kNoId;
  bool branch = false;
  int64_t created_us = 0;
};

// A named set of permissions. Built-in roles (account_admin,
// device_manager, viewer) have tenant kNoId; custom roles belong to a root
// tenant and may be used in its tree only.
struct Role {
  RoleId id = kNoId;
  AccountId tenant = kNoId;
  std::string name;
  std::vector<std::string> permissions;  // canonical names, sorted
  bool builtin = false;
};

// ---- Groups (docs/model.md, "Groups") ----------------------------------

// What a group holds. Entity groups hold entities of one kind owned by the
// group's owner; user groups hold users created in it; account groups hold
// its direct sub-accounts. Persisted: do not change these values.
enum class GroupKind : uint8_t {
  kDevice = 1,
  kAsset = 2,
  kDashboard = 3,
  kEntityView = 4,
  kUser = 5,
  kAccount = 6,
};
inline constexpr GroupKind kAllGroupKinds[] = {GroupKind::kDevice,     GroupKind::kAsset,
                                               GroupKind::kDashboard,  GroupKind::kEntityView,
                                               GroupKind::kUser,       GroupKind::kAccount};
// "device", "asset", "dashboard", "entity_view", "user", "account".
const char* GroupKindName(GroupKind kind);
std::optional<GroupKind> ParseGroupKind(std::string_view name);
// The entity kind of an entity group (nullopt for user and account groups).
std::optional<EntityKind> GroupEntityKind(GroupKind kind);
// The kind of the entity groups that hold entities of `kind`.
GroupKind EntityGroupKind(EntityKind kind);

struct GroupSpec {
  GroupKind kind = GroupKind::kDevice;
  std::string name;  // unique among the owner's groups of that kind
  AccountId owner = kNoId;
};

struct Group {
  GroupId id = kNoId;
  GroupKind kind = GroupKind::kDevice;
  std::string name;
  AccountId owner = kNoId;
  uint64_t size = 0;  // members
  int64_t created_us = 0;
  int64_t updated_us = 0;
  // Entity groups: members also in another group of the owner (kept on
  // every write; 0 means the group is disjoint from all others, and a count
  // through it costs nothing per member).
  uint64_t overlap = 0;
};

// The per-item report of AddGroupMembers / RemoveGroupMembers.
struct GroupMemberItem {
  enum class Outcome : uint8_t {
    kDone = 0,       // added / removed (or would have been, had the batch passed)
    kUnchanged = 1,  // already a member / not a member
    kUnknown = 2,    // no such entity, user or account (or not one the actor may see)
    kDenied = 3,     // not one the group may hold, or the actor may not add it
    kDuplicate = 4,  // named twice in the batch
  };
  uint64_t member = 0;
  Outcome outcome = Outcome::kDone;
  std::string message;  // why, for kUnknown / kDenied / kDuplicate
};
struct GroupMembersReport {
  std::vector<GroupMemberItem> items;  // in the order given
  size_t done = 0;
  size_t unchanged = 0;
  size_t unknown = 0;
  size_t denied = 0;
  size_t duplicate = 0;
};

// A role given to every member of a user group: on the user group's owner
// (target kNoId, "generic"; with branch also on its sub-accounts), on the
// entities of an entity group (target an entity group; the role's
// permissions of that kind), or on the accounts of an account group (with
// branch also on their sub-accounts).
struct GroupGrant {
  GroupId user_group = kNoId;
  RoleId role = kNoId;
  GroupId target = kNoId;
  bool branch = false;
  int64_t created_us = 0;
};

// A page of a group's members, by id.
struct GroupMembersPage {
  std::vector<uint64_t> members;
  uint64_t next = 0;  // pass as `after` for the next page; 0: this was the last
};

}  // namespace canopy

// Ids hash as their values, so they key unordered containers.
namespace std {
template <typename Kind>
struct hash<canopy::Id<Kind>> {
  size_t operator()(canopy::Id<Kind> id) const noexcept {
    return std::hash<uint64_t>()(id.value());
  }
};
}  // namespace std

#endif  // CANOPY_TYPES_H_
