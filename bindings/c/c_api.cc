// Copyright (c) Canopy authors.
//
// The C API (include/canopy/c.h), part one: the firewall and converters
// shared by every part, codes and versions, options, open/close, attribute
// maps, interchange and integrity. Accounts, entities, users/roles, the
// queries and the change log live in c_api_accounts.cc, c_api_entities.cc,
// c_api_users.cc, c_api_queries.cc and c_api_changes.cc.
//
// Every fallible entry point is a single Guard(...) call (c_api_internal.h)
// so that no exception crosses the C boundary. Accessors only read fields
// of immutable handles: they neither allocate nor throw.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>

#include "bindings/c/c_api_internal.h"
#include "storage/forks.h"
#include "canopy/version.h"

// The C constants are the C++ enums' values; c.h promises it.
static_assert(CANOPY_OK == static_cast<int>(canopy::Code::kOk));
static_assert(CANOPY_NOT_FOUND == static_cast<int>(canopy::Code::kNotFound));
static_assert(CANOPY_INVALID_ARGUMENT == static_cast<int>(canopy::Code::kInvalidArgument));
static_assert(CANOPY_ALREADY_EXISTS == static_cast<int>(canopy::Code::kAlreadyExists));
static_assert(CANOPY_FAILED_PRECONDITION == static_cast<int>(canopy::Code::kFailedPrecondition));
static_assert(CANOPY_PERMISSION_DENIED == static_cast<int>(canopy::Code::kPermissionDenied));
static_assert(CANOPY_CORRUPTION == static_cast<int>(canopy::Code::kCorruption));
static_assert(CANOPY_IO_ERROR == static_cast<int>(canopy::Code::kIOError));
static_assert(CANOPY_NOT_SUPPORTED == static_cast<int>(canopy::Code::kNotSupported));
static_assert(CANOPY_INTERNAL == static_cast<int>(canopy::Code::kInternal));
static_assert(CANOPY_ABORTED == static_cast<int>(canopy::Code::kAborted));
static_assert(CANOPY_COMPACTED == static_cast<int>(canopy::Code::kCompacted));
static_assert(CANOPY_UNAVAILABLE == static_cast<int>(canopy::Code::kUnavailable));
static_assert(CANOPY_KIND_DEVICE == static_cast<int>(canopy::EntityKind::kDevice));
static_assert(CANOPY_KIND_ASSET == static_cast<int>(canopy::EntityKind::kAsset));
static_assert(CANOPY_KIND_DASHBOARD == static_cast<int>(canopy::EntityKind::kDashboard));
static_assert(CANOPY_KIND_ENTITY_VIEW == static_cast<int>(canopy::EntityKind::kEntityView));
static_assert(CANOPY_ACCESS_DEFAULT_OFF == static_cast<int>(canopy::SubAccountAccess::kDefaultOff));
static_assert(CANOPY_ACCESS_DEFAULT_ON == static_cast<int>(canopy::SubAccountAccess::kDefaultOn));
static_assert(CANOPY_ACCESS_ALWAYS_ON == static_cast<int>(canopy::SubAccountAccess::kAlwaysOn));

namespace canopy::c_api {

Status Call::NotNull(const void* p, const char* argument) const {
  if (p != nullptr) return Status::Ok();
  return Status::InvalidArgument(std::string(function_) + ": argument '" + argument + "' is NULL");
}

Status Call::Array(const void* items, size_t n, size_t item_size, const char* argument,
                   const char* count, size_t copy_size) const {
  if (n == 0) return Status::Ok();
  if (n > kMaxArrayBytes / std::max(item_size, copy_size)) {
    return Invalid(std::string("argument '") + count + "' (" + std::to_string(n) +
                   ") is more items than an array '" + argument + "' can hold");
  }
  return NotNull(items, argument);
}

Status Call::Invalid(std::string_view message) const {
  return Status::InvalidArgument(std::string(function_) + ": " + std::string(message));
}

canopy_code_t SetError(char** errmsg, canopy_code_t code, std::string_view a, std::string_view b,
                       std::string_view c) noexcept {
  if (errmsg == nullptr) return code;
  if (a.empty() && b.empty() && c.empty()) a = CodeName(static_cast<Code>(code));
  const size_t n = a.size() + b.size() + c.size();
  char* out = static_cast<char*>(std::malloc(n + 1));
  if (out != nullptr) {
    char* end = out;
    for (std::string_view part : {a, b, c}) {
      // An empty view may have a null data(), which memcpy must not get.
      if (!part.empty()) std::memcpy(end, part.data(), part.size());
      end += part.size();
    }
    *end = '\0';
  }
  *errmsg = out;
  return code;
}

char* MallocString(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) throw std::bad_alloc();
  if (!s.empty()) std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

Status ToKind(const Call& call, int kind, EntityKind* out) {
  if (kind < CANOPY_KIND_DEVICE || kind > CANOPY_KIND_ENTITY_VIEW) {
    return call.Invalid("unknown entity kind " + std::to_string(kind) +
                        " (expected CANOPY_KIND_DEVICE..CANOPY_KIND_ENTITY_VIEW)");
  }
  *out = static_cast<EntityKind>(kind);
  return Status::Ok();
}

Status ToAccess(const Call& call, int access, SubAccountAccess* out) {
  if (access < CANOPY_ACCESS_DEFAULT_OFF || access > CANOPY_ACCESS_ALWAYS_ON) {
    return call.Invalid("unknown sub-account access " + std::to_string(access) +
                        " (expected CANOPY_ACCESS_DEFAULT_OFF..CANOPY_ACCESS_ALWAYS_ON)");
  }
  *out = static_cast<SubAccountAccess>(access);
  return Status::Ok();
}

Status ToStrings(const Call& call, const char* const* items, size_t n, const char* argument,
                 const char* count, std::vector<std::string>* out) {
  out->clear();
  if (n == 0) return Status::Ok();
  CANOPY_RETURN_IF_ERROR(
      call.Array(items, n, sizeof(*items), argument, count, sizeof(std::string)));
  out->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (items[i] == nullptr) {
      return call.Invalid(std::string("argument '") + argument + "[" + std::to_string(i) +
                          "]' is NULL");
    }
    out->emplace_back(items[i]);
  }
  return Status::Ok();
}

ProgressFn ToProgress(canopy_progress_fn fn, void* arg) {
  if (fn == nullptr) return nullptr;
  return [fn, arg](uint64_t done, uint64_t total) { return fn(arg, done, total) != 0; };
}

canopy_account_t MakeAccount(Account account) {
  canopy_account_t out;
  out.attributes.map = std::move(account.attributes);
  account.attributes.clear();
  out.account = std::move(account);
  return out;
}

canopy_entity_t MakeEntity(Entity entity) {
  canopy_entity_t out;
  out.attributes.map = std::move(entity.attributes);
  entity.attributes.clear();
  out.entity = std::move(entity);
  return out;
}

}  // namespace canopy::c_api

using canopy::Status;
using canopy::c_api::Call;
using canopy::c_api::Guard;

namespace {

// An options setter: INVALID_ARGUMENT naming `options` when it is NULL
// (CANOPY_C_REQUIRE), else `set` on the options.
template <typename Set>
canopy_code_t SetOption(const char* function, canopy_options_t* options, char** errmsg,
                        Set&& set) noexcept {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, options);
    set(options->options);
    return Status::Ok();
  });
}

}  // namespace

extern "C" {

// ---- Codes, memory, versions ------------------------------------------------

void canopy_free(void* ptr) { std::free(ptr); }

const char* canopy_code_name(canopy_code_t code) {
  if (code < CANOPY_OK || code > CANOPY_UNAVAILABLE) return "unknown";
  return canopy::CodeName(static_cast<canopy::Code>(code));
}

const char* canopy_version(void) { return canopy::Version(); }

uint32_t canopy_storage_format_version(void) { return canopy::kStorageFormatVersion; }

// ---- Options ----------------------------------------------------------------

canopy_options_t* canopy_options_create(void) { return new (std::nothrow) canopy_options_t(); }

void canopy_options_destroy(canopy_options_t* options) { delete options; }

canopy_code_t canopy_options_set_create_if_missing(canopy_options_t* options, int on,
                                                   char** errmsg) {
  return SetOption("canopy_options_set_create_if_missing", options, errmsg,
                   [&](canopy::Options& o) { o.create_if_missing = on != 0; });
}

canopy_code_t canopy_options_set_error_if_exists(canopy_options_t* options, int on, char** errmsg) {
  return SetOption("canopy_options_set_error_if_exists", options, errmsg,
                   [&](canopy::Options& o) { o.error_if_exists = on != 0; });
}

canopy_code_t canopy_options_set_read_only(canopy_options_t* options, int on, char** errmsg) {
  return SetOption("canopy_options_set_read_only", options, errmsg,
                   [&](canopy::Options& o) { o.read_only = on != 0; });
}

canopy_code_t canopy_options_set_follower(canopy_options_t* options, int on, char** errmsg) {
  return SetOption("canopy_options_set_follower", options, errmsg,
                   [&](canopy::Options& o) { o.follower = on != 0; });
}

canopy_code_t canopy_options_set_follower_dir(canopy_options_t* options, const char* dir,
                                              char** errmsg) {
  return SetOption("canopy_options_set_follower_dir", options, errmsg,
                   [&](canopy::Options& o) { o.follower_dir = dir != nullptr ? dir : ""; });
}

canopy_code_t canopy_options_set_follower_catch_up_ms(canopy_options_t* options, uint32_t ms,
                                                      char** errmsg) {
  return SetOption("canopy_options_set_follower_catch_up_ms", options, errmsg,
                   [&](canopy::Options& o) { o.follower_catch_up_ms = ms; });
}

canopy_code_t canopy_options_set_max_depth(canopy_options_t* options, uint32_t depth,
                                           char** errmsg) {
  return SetOption("canopy_options_set_max_depth", options, errmsg,
                   [&](canopy::Options& o) { o.max_depth = depth; });
}

canopy_code_t canopy_options_set_sync(canopy_options_t* options, int on, char** errmsg) {
  return SetOption("canopy_options_set_sync", options, errmsg,
                   [&](canopy::Options& o) { o.sync = on != 0; });
}

canopy_code_t canopy_options_set_block_cache_bytes(canopy_options_t* options, size_t bytes,
                                                   char** errmsg) {
  return SetOption("canopy_options_set_block_cache_bytes", options, errmsg,
                   [&](canopy::Options& o) { o.block_cache_bytes = bytes; });
}

canopy_code_t canopy_options_set_cursor_ttl_seconds(canopy_options_t* options, uint32_t seconds,
                                                    char** errmsg) {
  return SetOption("canopy_options_set_cursor_ttl_seconds", options, errmsg,
                   [&](canopy::Options& o) { o.cursor_ttl_seconds = seconds; });
}

canopy_code_t canopy_options_set_max_open_cursors(canopy_options_t* options, size_t n,
                                                  char** errmsg) {
  return SetOption("canopy_options_set_max_open_cursors", options, errmsg,
                   [&](canopy::Options& o) { o.max_open_cursors = n; });
}

canopy_code_t canopy_options_set_log_retention_count(canopy_options_t* options, uint64_t n,
                                                     char** errmsg) {
  return SetOption("canopy_options_set_log_retention_count", options, errmsg,
                   [&](canopy::Options& o) { o.log_retention_count = n; });
}

canopy_code_t canopy_options_set_log_retention_seconds(canopy_options_t* options, uint64_t seconds,
                                                       char** errmsg) {
  return SetOption("canopy_options_set_log_retention_seconds", options, errmsg,
                   [&](canopy::Options& o) { o.log_retention_seconds = seconds; });
}

canopy_code_t canopy_options_set_etcd_endpoints(canopy_options_t* options, const char* urls,
                                                char** errmsg) {
  return SetOption("canopy_options_set_etcd_endpoints", options, errmsg, [&](canopy::Options& o) {
    std::vector<std::string> out;
    std::string_view s(urls != nullptr ? urls : "");
    while (!s.empty()) {
      const size_t comma = s.find(',');
      out.emplace_back(s.substr(0, comma));  // an empty URL is refused by canopy_db_open
      if (comma == std::string_view::npos) break;
      s.remove_prefix(comma + 1);
      if (s.empty()) out.emplace_back();
    }
    o.replication.etcd_endpoints = std::move(out);
  });
}

canopy_code_t canopy_options_set_replication_prefix(canopy_options_t* options, const char* prefix,
                                                    char** errmsg) {
  return Guard("canopy_options_set_replication_prefix", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, options);
    CANOPY_C_REQUIRE(call, prefix);
    options->options.replication.prefix = prefix;
    return Status::Ok();
  });
}

canopy_code_t canopy_options_set_checkpoint_dir(canopy_options_t* options, const char* dir,
                                                char** errmsg) {
  return SetOption("canopy_options_set_checkpoint_dir", options, errmsg, [&](canopy::Options& o) {
    o.replication.checkpoint_dir = dir != nullptr ? dir : "";
  });
}

canopy_code_t canopy_options_set_checkpoint_every(canopy_options_t* options, uint64_t n,
                                                  char** errmsg) {
  return SetOption("canopy_options_set_checkpoint_every", options, errmsg,
                   [&](canopy::Options& o) { o.replication.checkpoint_every = n; });
}

canopy_code_t canopy_options_set_compression(canopy_options_t* options, int compression,
                                             char** errmsg) {
  return Guard("canopy_options_set_compression", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, options);
    if (compression < CANOPY_COMPRESSION_DEFAULT || compression > CANOPY_COMPRESSION_ZSTD) {
      return call.Invalid("compression " + std::to_string(compression) +
                          " is not a CANOPY_COMPRESSION_* value (0..3)");
    }
    options->options.compression = static_cast<canopy::Compression>(compression);
    return Status::Ok();
  });
}

canopy_code_t canopy_options_set_wal_dir(canopy_options_t* options, const char* dir,
                                         char** errmsg) {
  return SetOption("canopy_options_set_wal_dir", options, errmsg,
                   [&](canopy::Options& o) { o.wal_dir = dir != nullptr ? dir : ""; });
}

canopy_code_t canopy_options_set_max_open_files(canopy_options_t* options, int n, char** errmsg) {
  // Its range is checked by canopy_db_open.
  return SetOption("canopy_options_set_max_open_files", options, errmsg,
                   [&](canopy::Options& o) { o.max_open_files = n; });
}

canopy_code_t canopy_options_set_background_write_bytes_per_second(canopy_options_t* options,
                                                                   uint64_t bytes, char** errmsg) {
  return SetOption("canopy_options_set_background_write_bytes_per_second", options, errmsg,
                   [&](canopy::Options& o) { o.background_write_bytes_per_second = bytes; });
}

canopy_code_t canopy_options_set_catalog_image(canopy_options_t* options, int on,
                                               char** errmsg) {
  return SetOption("canopy_options_set_catalog_image", options, errmsg,
                   [&](canopy::Options& o) { o.catalog_image = on != 0; });
}

canopy_code_t canopy_options_set_statistics(canopy_options_t* options, int on, char** errmsg) {
  return SetOption("canopy_options_set_statistics", options, errmsg,
                   [&](canopy::Options& o) { o.statistics = on != 0; });
}

canopy_code_t canopy_options_set_log_level(canopy_options_t* options, int level, char** errmsg) {
  return Guard("canopy_options_set_log_level", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, options);
    if (level < CANOPY_LOG_DEBUG || level > CANOPY_LOG_ERROR) {
      return call.Invalid("level " + std::to_string(level) + " is not a CANOPY_LOG_* value (0..3)");
    }
    options->options.log_level = static_cast<canopy::LogLevel>(level);
    return Status::Ok();
  });
}

canopy_code_t canopy_options_set_log(canopy_options_t* options, canopy_log_fn fn, void* arg,
                                     char** errmsg) {
  return Guard("canopy_options_set_log", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, options);
    if (fn == nullptr) {
      options->options.log = nullptr;
      return Status::Ok();
    }
    options->options.log = [fn, arg](canopy::LogLevel level, std::string_view message) {
      // NUL-terminated for C; nothing may escape into RocksDB's threads.
      try {
        const std::string text(message);
        fn(arg, static_cast<int>(level), text.c_str(), text.size());
      } catch (...) {
      }
    };
    return Status::Ok();
  });
}

// ---- Database ---------------------------------------------------------------

canopy_code_t canopy_db_open(const canopy_options_t* options, const char* path, canopy_db_t** db,
                             char** errmsg) {
  return Guard("canopy_db_open", errmsg, [&](const Call& call) -> Status {
    if (db != nullptr) *db = nullptr;
    CANOPY_C_REQUIRE(call, path);
    CANOPY_C_REQUIRE(call, db);
    auto handle = std::make_unique<canopy_db_t>();
    const canopy::Options defaults;
    CANOPY_RETURN_IF_ERROR(
        canopy::Db::Open(options != nullptr ? options->options : defaults, path, &handle->db));
    *db = handle.release();
    return Status::Ok();
  });
}

canopy_code_t canopy_db_close(canopy_db_t* db, char** errmsg) {
  return Guard("canopy_db_close", errmsg, [&](const Call& call) -> Status {
    if (db == nullptr) return Status::Ok();
    const int64_t live = db->iterators.load();
    if (live > 0) {
      return Status::FailedPrecondition(
          std::string(call.function()) + ": " + std::to_string(live) +
          " visible iterator(s) of this database are still alive; destroy them first");
    }
    if (const int64_t snaps = db->snapshots->load(); snaps > 0) {
      return Status::FailedPrecondition(std::string(call.function()) + ": " +
                                        std::to_string(snaps) +
                                        " snapshot(s) of this database are still open; close "
                                        "them first");
    }
    // Close refuses, and closes nothing, with FailedPrecondition (from
    // inside a progress callback of an operation it would wait for): the
    // handle stays the caller's, still in use on the stack. Otherwise it
    // is freed whatever Close() says; in a forked child too (c.h), where
    // every call is FailedPrecondition.
    Status closed = db->db->Close();
    if (closed.code() == canopy::Code::kFailedPrecondition && !canopy::storage::InForkedChild()) {
      return closed;
    }
    std::unique_ptr<canopy_db_t> owned(db);
    if (owned->parent_snapshots) owned->parent_snapshots->fetch_sub(1);
    return closed;
  });
}

canopy_code_t canopy_db_open_snapshot(canopy_db_t* db, canopy_db_t** snapshot, char** errmsg) {
  return Guard("canopy_db_open_snapshot", errmsg, [&](const Call& call) -> Status {
    if (snapshot != nullptr) *snapshot = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, snapshot);
    auto view = db->db->OpenSnapshot();
    CANOPY_RETURN_IF_ERROR(view.status());
    auto handle = std::make_unique<canopy_db_t>();
    handle->db = std::move(view).value();
    handle->parent_snapshots = db->snapshots;
    db->snapshots->fetch_add(1);
    *snapshot = handle.release();
    return Status::Ok();
  });
}

// ---- Attribute maps ---------------------------------------------------------

canopy_attributes_t* canopy_attributes_create(void) {
  return new (std::nothrow) canopy_attributes_t();
}

void canopy_attributes_destroy(canopy_attributes_t* attributes) { delete attributes; }

canopy_code_t canopy_attributes_set(canopy_attributes_t* attributes, const char* name,
                                    const char* value, char** errmsg) {
  return Guard("canopy_attributes_set", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, attributes);
    CANOPY_C_REQUIRE(call, name);
    CANOPY_C_REQUIRE(call, value);
    attributes->map.insert_or_assign(std::string(name), std::string(value));
    return Status::Ok();
  });
}

size_t canopy_attributes_count(const canopy_attributes_t* attributes) {
  return attributes != nullptr ? attributes->map.size() : 0;
}

const char* canopy_attributes_name(const canopy_attributes_t* attributes, size_t i) {
  if (attributes == nullptr || i >= attributes->map.size()) return nullptr;
  return std::next(attributes->map.begin(), static_cast<std::ptrdiff_t>(i))->first.c_str();
}

const char* canopy_attributes_value(const canopy_attributes_t* attributes, size_t i) {
  if (attributes == nullptr || i >= attributes->map.size()) return nullptr;
  return std::next(attributes->map.begin(), static_cast<std::ptrdiff_t>(i))->second.c_str();
}

const char* canopy_attributes_get(const canopy_attributes_t* attributes, const char* name) {
  if (attributes == nullptr || name == nullptr) return nullptr;
  auto it = attributes->map.find(std::string_view(name));
  return it != attributes->map.end() ? it->second.c_str() : nullptr;
}

// ---- Interchange and maintenance ----------------------------------------------

canopy_code_t canopy_db_import(canopy_db_t* db, uint64_t actor, const char* path,
                               canopy_progress_fn progress, void* progress_arg,
                               canopy_import_report_t** report, char** errmsg) {
  return Guard("canopy_db_import", errmsg, [&](const Call& call) -> Status {
    if (report != nullptr) *report = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, path);
    canopy::ImportOptions options;
    options.progress = canopy::c_api::ToProgress(progress, progress_arg);
    auto out = std::make_unique<canopy_import_report_t>();
    CANOPY_RETURN_IF_ERROR(
        db->db->Import(canopy::c_api::ToActor(actor), path, options, &out->report));
    if (report != nullptr) *report = out.release();
    return Status::Ok();
  });
}

canopy_code_t canopy_db_export(canopy_db_t* db, const char* path, canopy_progress_fn progress,
                               void* progress_arg, canopy_import_report_t** counts, char** errmsg) {
  return Guard("canopy_db_export", errmsg, [&](const Call& call) -> Status {
    if (counts != nullptr) *counts = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, path);
    auto out = std::make_unique<canopy_import_report_t>();
    CANOPY_RETURN_IF_ERROR(
        db->db->Export(path, canopy::c_api::ToProgress(progress, progress_arg), &out->report));
    if (counts != nullptr) *counts = out.release();
    return Status::Ok();
  });
}

void canopy_import_report_destroy(canopy_import_report_t* report) { delete report; }

uint64_t canopy_import_report_lines(const canopy_import_report_t* report) {
  return report != nullptr ? report->report.lines : 0;
}

uint64_t canopy_import_report_accounts(const canopy_import_report_t* report) {
  return report != nullptr ? report->report.accounts : 0;
}

uint64_t canopy_import_report_roles(const canopy_import_report_t* report) {
  return report != nullptr ? report->report.roles : 0;
}

uint64_t canopy_import_report_users(const canopy_import_report_t* report) {
  return report != nullptr ? report->report.users : 0;
}

uint64_t canopy_import_report_memberships(const canopy_import_report_t* report) {
  return report != nullptr ? report->report.memberships : 0;
}

uint64_t canopy_import_report_entities(const canopy_import_report_t* report) {
  return report != nullptr ? report->report.entities : 0;
}

uint64_t canopy_import_report_groups(const canopy_import_report_t* report) {
  return report != nullptr ? report->report.groups : 0;
}

uint64_t canopy_import_report_group_members(const canopy_import_report_t* report) {
  return report != nullptr ? report->report.group_members : 0;
}

uint64_t canopy_import_report_group_grants(const canopy_import_report_t* report) {
  return report != nullptr ? report->report.group_grants : 0;
}

canopy_code_t canopy_db_check_integrity(canopy_db_t* db, canopy_progress_fn progress,
                                        void* progress_arg, canopy_strings_t** problems,
                                        char** errmsg) {
  return Guard("canopy_db_check_integrity", errmsg, [&](const Call& call) -> Status {
    if (problems != nullptr) *problems = nullptr;
    CANOPY_C_REQUIRE(call, db);
    auto out = std::make_unique<canopy_strings_t>();
    Status s =
        db->db->CheckIntegrity(&out->items, canopy::c_api::ToProgress(progress, progress_arg));
    // The problems are the point of a failed check: hand them over too.
    if (problems != nullptr) *problems = out.release();
    return s;
  });
}

canopy_code_t canopy_get_property(canopy_db_t* db, const char* name, char** value,
                                  char** errmsg) {
  return Guard("canopy_get_property", errmsg, [&](const Call& call) -> Status {
    if (value != nullptr) *value = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, name);
    CANOPY_C_REQUIRE(call, value);
    canopy::StatusOr<std::string> v = db->db->GetProperty(name);
    CANOPY_RETURN_IF_ERROR(v.status());
    *value = canopy::c_api::MallocString(*v);
    return Status::Ok();
  });
}

canopy_code_t canopy_property_names(canopy_strings_t** names, char** errmsg) {
  return Guard("canopy_property_names", errmsg, [&](const Call& call) -> Status {
    if (names != nullptr) *names = nullptr;
    CANOPY_C_REQUIRE(call, names);
    auto out = std::make_unique<canopy_strings_t>();
    out->items = canopy::Db::PropertyNames();
    *names = out.release();
    return Status::Ok();
  });
}

void canopy_strings_destroy(canopy_strings_t* strings) { delete strings; }

size_t canopy_strings_count(const canopy_strings_t* strings) {
  return strings != nullptr ? strings->items.size() : 0;
}

const char* canopy_strings_at(const canopy_strings_t* strings, size_t i) {
  if (strings == nullptr) return nullptr;
  const std::string* s = canopy::c_api::At(strings->items, i);
  return s != nullptr ? s->c_str() : nullptr;
}

}  // extern "C"
