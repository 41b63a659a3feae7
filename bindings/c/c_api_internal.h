// Copyright (c) Canopy authors.
//
// Internals shared by the C API's translation units (c_api*.cc): the
// definitions of the opaque handles declared in include/canopy/c.h, the
// exception firewall every fallible entry point runs in, and converters from
// C values to the C++ API's types. Nothing here is installed.

#ifndef CANOPY_BINDINGS_C_C_API_INTERNAL_H_
#define CANOPY_BINDINGS_C_C_API_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/c.h"
#include "canopy/db.h"

// ---- Handle definitions ---------------------------------------------------
// Result handles own plain copies of the C++ values, so they outlive the
// call (and the database) and are immutable once returned.

struct canopy_options_t {
  canopy::Options options;
};

struct canopy_db_t {
  std::unique_ptr<canopy::Db> db;
  // Live canopy_visible_iterator_t of this database: canopy_db_close refuses
  // to close under them (a VisibleIterator must not outlive its Db).
  std::atomic<int64_t> iterators{0};
  // Live snapshots opened from this handle (canopy_db_open_snapshot):
  // canopy_db_close refuses under them too. A snapshot handle holds its
  // parent's counter in `parent_snapshots` and gives its place back on close.
  std::shared_ptr<std::atomic<int64_t>> snapshots = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<std::atomic<int64_t>> parent_snapshots;
};

struct canopy_attributes_t {
  canopy::Attributes map;
};

// Builders (c.h, "Calls that take many fields"): the C++ API's spec and
// patch structs, filled by checked setters and read by the calls.
struct canopy_account_spec_t {
  canopy::AccountSpec spec;
};

struct canopy_account_patch_t {
  canopy::AccountPatch patch;
};

struct canopy_entity_spec_t {
  canopy::EntitySpec spec;
};

struct canopy_entity_patch_t {
  canopy::EntityPatch patch;
};

struct canopy_user_spec_t {
  canopy::UserSpec spec;
};

struct canopy_user_patch_t {
  canopy::UserPatch patch;
};

struct canopy_account_t {
  canopy::Account account;  // account.attributes is moved into `attributes`
  canopy_attributes_t attributes;
};

struct canopy_accounts_t {
  std::vector<canopy_account_t> items;
};

struct canopy_entity_t {
  canopy::Entity entity;  // entity.attributes is moved into `attributes`
  canopy_attributes_t attributes;
};

struct canopy_reassign_report_t {
  canopy::ReassignReport report;
};

struct canopy_user_t {
  canopy::User user;
};

struct canopy_users_t {
  std::vector<canopy_user_t> items;
};

struct canopy_memberships_t {
  std::vector<canopy::Membership> items;
};

struct canopy_role_t {
  canopy::Role role;
};

struct canopy_roles_t {
  std::vector<canopy_role_t> items;
};

// The fields of a canopy::VisibleRequest, kept as given and checked when
// the request is used (setters cannot report errors).
struct canopy_visible_request_t {
  uint64_t viewer = CANOPY_SYSTEM_ACTOR;
  int kind = CANOPY_KIND_DEVICE;
  std::string permission;
  std::optional<std::string> type;
  std::string name_prefix;
  std::optional<canopy::AttributeFilter> attribute;
  uint64_t within = CANOPY_NO_ID;
  bool direct_only = false;
  size_t limit = 100;
  std::string cursor;
  uint64_t min_revision = 0;
  // Set when a setter could not store its value (out of memory); every use
  // of the request then fails with it instead of running another query.
  std::string broken;
};

struct canopy_visible_page_t {
  canopy::VisiblePage page;
};

struct canopy_visible_iterator_t {
  canopy_db_t* db = nullptr;
  std::unique_ptr<canopy::VisibleIterator> it;
  // NUL-terminated copies of the current item's strings (the C++ iterator
  // hands out string_views); reassigned in place, so they rarely allocate.
  std::string key, name, type;
  // An exception caught while stepping: the iterator is then invalid and
  // reports this status.
  canopy::Status error;
};

struct canopy_explanation_t {
  canopy::Explanation explanation;
};

struct canopy_who_can_page_t {
  canopy::WhoCanPage page;
};

struct canopy_table_page_t {
  canopy::TablePage page;
};

struct canopy_summary_t {
  canopy::AccountSummary summary;  // summary.account is moved into `account`
  canopy_account_t account;
};

struct canopy_import_report_t {
  canopy::ImportReport report;
};

struct canopy_strings_t {
  std::vector<std::string> items;
};

struct canopy_changes_t {
  canopy::ChangesPage page;
};

struct canopy_changes_request_t {
  canopy::ChangesRequest request;
};

struct canopy_log_entries_t {
  std::vector<std::string> items;
};

struct canopy_apply_report_t {
  canopy::ApplyReport report;
};

struct canopy_group_spec_t {
  canopy::GroupSpec spec;
};

struct canopy_group_t {
  canopy::Group group;
};

struct canopy_groups_t {
  std::vector<canopy_group_t> items;
};

struct canopy_group_members_report_t {
  canopy::GroupMembersReport report;
};

struct canopy_group_grant_spec_t {
  canopy::GroupGrant grant;
};

struct canopy_group_grants_t {
  std::vector<canopy::GroupGrant> items;
};

namespace canopy::c_api {

// One entry point's context: its name, for messages about its arguments.
class Call {
 public:
  explicit Call(const char* function) : function_(function) {}
  const char* function() const { return function_; }

  // InvalidArgument naming the argument when `p` is NULL.
  Status NotNull(const void* p, const char* argument) const;
  // An array argument `items` of `n` items of `item_size` bytes: NULL is
  // refused when n > 0, and so is an `n` no array in memory can have (a
  // count gone wrong: more than kMaxArrayBytes of items, or of the copy
  // the call then makes, `copy_size` bytes per item), before any item is
  // read. `count` names n.
  Status Array(const void* items, size_t n, size_t item_size, const char* argument,
               const char* count, size_t copy_size = 0) const;
  // InvalidArgument "<function>: <message>".
  Status Invalid(std::string_view message) const;

 private:
  const char* function_;
};

// The largest array a process can hold: 128 TiB, the whole user address
// space of 64-bit Linux (x86-64 and arm64 with 4-level page tables). A
// count beyond it is a count gone wrong, whatever the item.
inline constexpr uint64_t kMaxArrayBytes = uint64_t{1} << 47;

// `CANOPY_C_REQUIRE(call, ptr)`: returns InvalidArgument naming `ptr` (the
// parameter's name in c.h) from the enclosing lambda when it is NULL.
#define CANOPY_C_REQUIRE(call, ptr) CANOPY_RETURN_IF_ERROR((call).NotNull((ptr), #ptr))
// `CANOPY_C_ARRAY(call, ptr, n)`: the same for the array `ptr` of `n` items.
#define CANOPY_C_ARRAY(call, ptr, n) \
  CANOPY_RETURN_IF_ERROR((call).Array((ptr), (n), sizeof(*(ptr)), #ptr, #n))
// The same, for an array the call copies into items of `copy` bytes each.
#define CANOPY_C_ARRAY_COPIED(call, ptr, n, copy) \
  CANOPY_RETURN_IF_ERROR((call).Array((ptr), (n), sizeof(*(ptr)), #ptr, #n, (copy)))

// Stores a malloc'd copy of the concatenated parts in *errmsg (when errmsg
// is not NULL); an empty result is replaced by the code's name. Never
// throws (it uses malloc only): when memory runs out *errmsg stays NULL.
// Returns `code`.
canopy_code_t SetError(char** errmsg, canopy_code_t code, std::string_view a,
                       std::string_view b = {}, std::string_view c = {}) noexcept;

// The firewall (DuckDB's duckdb-c.cpp): clears *errmsg, runs `body` (which
// returns a canopy::Status) and turns its result, or any exception it
// throws, into a code and a message. Every fallible entry point is one
// call to Guard, so no exception crosses the C boundary.
template <typename Body>
canopy_code_t Guard(const char* function, char** errmsg, Body&& body) noexcept {
  if (errmsg != nullptr) *errmsg = nullptr;
  try {
    const Call call(function);
    Status s = body(call);
    if (s.ok()) return CANOPY_OK;
    return SetError(errmsg, static_cast<canopy_code_t>(s.code()), ShortMessage(s.message()));
  } catch (const std::bad_alloc&) {  // not a bug: the process ran out of memory
    return SetError(errmsg, CANOPY_INTERNAL, function, ": out of memory");
  } catch (const std::exception& e) {
    // Nothing here allocates with new: the handler must not throw itself.
    return SetError(errmsg, CANOPY_INTERNAL, function,
                    ": exception: ", e.what() != nullptr ? e.what() : "");
  } catch (...) {
    return SetError(errmsg, CANOPY_INTERNAL, function, ": unknown exception");
  }
}

// A malloc'd NUL-terminated copy, for strings the caller frees with
// canopy_free. Throws std::bad_alloc when memory runs out.
char* MallocString(std::string_view s);

// C values to the C++ API's, with InvalidArgument for values out of range.
inline Actor ToActor(uint64_t actor) {
  return actor == CANOPY_SYSTEM_ACTOR ? Actor::System() : Actor::User(actor);
}
Status ToKind(const Call& call, int kind, EntityKind* out);
Status ToAccess(const Call& call, int access, SubAccountAccess* out);
// A copy of a NUL-terminated string, or nullopt for NULL.
inline std::optional<std::string> OptionalString(const char* s) {
  if (s == nullptr) return std::nullopt;
  return std::string(s);
}
// Whether a batch call's per-item report (canopy::ReassignReport,
// canopy::GroupMembersReport) of `n` items goes to the caller after the
// call returned `s`: only when the engine judged every item, and for a
// success or a failure of items (c.h); an error after every item passed
// (a write that failed) changed nothing that a report could describe.
// The items' messages are then made what every message the C API gives
// is, ShortMessage (valid UTF-8: an item quotes its input, which may not be).
template <typename Report>
bool ItemReportFor(const Status& s, Report& r, size_t n) {
  if (!(n > 0 && r.items.size() == n && (s.ok() || r.unknown + r.denied + r.duplicate > 0))) {
    return false;
  }
  for (auto& item : r.items) item.message = ShortMessage(item.message);
  return true;
}

// Up to n NUL-terminated strings, each required ("<argument>[i] is NULL");
// `count` names n.
Status ToStrings(const Call& call, const char* const* items, size_t n, const char* argument,
                 const char* count, std::vector<std::string>* out);
// A progress callback for the C++ API (empty when `fn` is NULL).
ProgressFn ToProgress(canopy_progress_fn fn, void* arg);

// Result handles built from C++ values.
canopy_account_t MakeAccount(Account account);
canopy_entity_t MakeEntity(Entity entity);

// The element at `i`, or nullptr when `i` is out of range.
template <typename T>
const T* At(const std::vector<T>& v, size_t i) {
  return i < v.size() ? &v[i] : nullptr;
}

}  // namespace canopy::c_api

#endif  // CANOPY_BINDINGS_C_C_API_INTERNAL_H_
