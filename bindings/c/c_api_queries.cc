// Copyright (c) Canopy authors.
//
// The C API (include/canopy/c.h): the visibility-filtered queries (pages,
// counts, streaming iterators) and access checks (check, explain, who can).

#include <optional>

#include "bindings/c/c_api_internal.h"

using canopy::Status;
using canopy::c_api::At;
using canopy::c_api::Call;
using canopy::c_api::Guard;
using canopy::c_api::ToActor;

namespace {

// Builds the C++ request from the C one, checking what setters could not.
Status ToRequest(const Call& call, const canopy_visible_request_t& in,
                 canopy::VisibleRequest* out) {
  if (!in.broken.empty()) return Status::Internal(call.function() + (": " + in.broken));
  CANOPY_RETURN_IF_ERROR(canopy::c_api::ToKind(call, in.kind, &out->kind));
  out->permission = in.permission;
  out->type = in.type;
  out->name_prefix = in.name_prefix;
  out->attribute = in.attribute;
  out->within = in.within;
  out->direct_only = in.direct_only;
  out->limit = in.limit;
  out->cursor = in.cursor;
  out->min_revision = in.min_revision;
  return Status::Ok();
}

// A request setter: INVALID_ARGUMENT naming `request` when it is NULL
// (CANOPY_C_REQUIRE), else `set(call, request)`. When it throws (out of
// memory) the code says so and the request is also marked broken, so that
// its next use fails instead of running a query that silently lacks a
// filter, should the caller have ignored the code.
template <typename Set>
canopy_code_t Setter(const char* function, canopy_visible_request_t* request, const char* what,
                     char** errmsg, Set&& set) noexcept {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, request);
    try {
      return set(call, *request);
    } catch (...) {
      try {
        request->broken = std::string("could not store the ") + what + " of the request";
      } catch (...) {
        request->broken.clear();  // leave it usable rather than throw across C
      }
      throw;
    }
  });
}

// Copies the iterator's current item into NUL-terminated strings.
void Capture(canopy_visible_iterator_t* it) {
  if (!it->error.ok() || !it->it->Valid()) return;
  it->key.assign(it->it->key());
  it->name.assign(it->it->name());
  it->type.assign(it->it->type());
}

// Makes the iterator invalid with an Internal status after an exception.
// The message may not fit in memory; then the status has none (and
// canopy_visible_iterator_status reports the code's name).
void Fail(canopy_visible_iterator_t* it, const char* what) noexcept {
  try {
    it->error = Status::Internal(std::string("canopy_visible_iterator_next: ") +
                                 (what != nullptr ? what : ""));
  } catch (...) {
    it->error = Status(canopy::Code::kInternal, std::string());  // no allocation
  }
}

bool Valid(const canopy_visible_iterator_t* it) {
  return it != nullptr && it->error.ok() && it->it->Valid();
}

const canopy::VisibleItem* VisibleAt(const canopy_visible_page_t* page, size_t i) {
  return page != nullptr ? At(page->page.items, i) : nullptr;
}

const canopy::WhoCanItem* WhoCanAt(const canopy_who_can_page_t* page, size_t i) {
  return page != nullptr ? At(page->page.items, i) : nullptr;
}

// canopy_access_who_can and its _v2 (which adds the consistency token).
canopy_code_t WhoCan(const char* function, canopy_db_t* db, uint64_t viewer, const char* permission,
                     const char* entity_key, size_t limit, const char* cursor,
                     uint64_t min_revision, canopy_who_can_page_t** page, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (page != nullptr) *page = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, permission);
    CANOPY_C_REQUIRE(call, entity_key);
    CANOPY_C_REQUIRE(call, page);
    canopy::WhoCanRequest request;
    request.permission = permission;
    request.entity_key = entity_key;
    request.limit = limit;
    if (cursor != nullptr) request.cursor = cursor;
    request.min_revision = min_revision;
    request.viewer = ToActor(viewer);
    auto out = std::make_unique<canopy_who_can_page_t>();
    CANOPY_RETURN_IF_ERROR(db->db->WhoCan(request, &out->page));
    *page = out.release();
    return Status::Ok();
  });
}

}  // namespace

extern "C" {

// ---- Requests -------------------------------------------------------------------

canopy_visible_request_t* canopy_visible_request_create(uint64_t viewer, int kind) {
  auto* request = new (std::nothrow) canopy_visible_request_t();
  if (request != nullptr) {
    request->viewer = viewer;
    request->kind = kind;
  }
  return request;
}

void canopy_visible_request_destroy(canopy_visible_request_t* request) { delete request; }

canopy_code_t canopy_visible_request_set_permission(canopy_visible_request_t* request,
                                                    const char* permission, char** errmsg) {
  return Setter("canopy_visible_request_set_permission", request, "permission", errmsg,
                [&](const Call&, canopy_visible_request_t& r) {
                  r.permission = permission != nullptr ? permission : "";
                  return Status::Ok();
                });
}

canopy_code_t canopy_visible_request_set_type(canopy_visible_request_t* request, const char* type,
                                              char** errmsg) {
  return Setter("canopy_visible_request_set_type", request, "type filter", errmsg,
                [&](const Call&, canopy_visible_request_t& r) {
                  r.type = canopy::c_api::OptionalString(type);
                  return Status::Ok();
                });
}

canopy_code_t canopy_visible_request_set_name_prefix(canopy_visible_request_t* request,
                                                     const char* prefix, char** errmsg) {
  return Setter("canopy_visible_request_set_name_prefix", request, "name prefix", errmsg,
                [&](const Call&, canopy_visible_request_t& r) {
                  r.name_prefix = prefix != nullptr ? prefix : "";
                  return Status::Ok();
                });
}

canopy_code_t canopy_visible_request_set_attribute(canopy_visible_request_t* request,
                                                   const char* name, const char* value,
                                                   char** errmsg) {
  return Setter("canopy_visible_request_set_attribute", request, "attribute filter", errmsg,
                [&](const Call& call, canopy_visible_request_t& r) -> Status {
                  if (name == nullptr) {
                    r.attribute.reset();
                    return Status::Ok();
                  }
                  CANOPY_C_REQUIRE(call, value);
                  r.attribute = canopy::AttributeFilter{name, value};
                  return Status::Ok();
                });
}

canopy_code_t canopy_visible_request_set_within(canopy_visible_request_t* request,
                                                uint64_t account, char** errmsg) {
  return Setter("canopy_visible_request_set_within", request, "account", errmsg,
                [&](const Call&, canopy_visible_request_t& r) {
                  r.within = account;
                  return Status::Ok();
                });
}

canopy_code_t canopy_visible_request_set_direct_only(canopy_visible_request_t* request, int on,
                                                     char** errmsg) {
  return Setter("canopy_visible_request_set_direct_only", request, "direct-only flag", errmsg,
                [&](const Call&, canopy_visible_request_t& r) {
                  r.direct_only = on != 0;
                  return Status::Ok();
                });
}

canopy_code_t canopy_visible_request_set_limit(canopy_visible_request_t* request, size_t limit,
                                               char** errmsg) {
  return Setter("canopy_visible_request_set_limit", request, "limit", errmsg,
                [&](const Call&, canopy_visible_request_t& r) {
                  r.limit = limit;
                  return Status::Ok();
                });
}

canopy_code_t canopy_visible_request_set_cursor(canopy_visible_request_t* request,
                                                const char* cursor, char** errmsg) {
  return Setter("canopy_visible_request_set_cursor", request, "cursor", errmsg,
                [&](const Call&, canopy_visible_request_t& r) {
                  r.cursor = cursor != nullptr ? cursor : "";
                  return Status::Ok();
                });
}

canopy_code_t canopy_visible_request_set_min_revision(canopy_visible_request_t* request,
                                                      uint64_t revision, char** errmsg) {
  return Setter("canopy_visible_request_set_min_revision", request, "minimum revision", errmsg,
                [&](const Call&, canopy_visible_request_t& r) {
                  r.min_revision = revision;
                  return Status::Ok();
                });
}

// ---- Pages and counts -------------------------------------------------------------

canopy_code_t canopy_visible_list(canopy_db_t* db, const canopy_visible_request_t* request,
                                  canopy_visible_page_t** page, char** errmsg) {
  return Guard("canopy_visible_list", errmsg, [&](const Call& call) -> Status {
    if (page != nullptr) *page = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, request);
    CANOPY_C_REQUIRE(call, page);
    canopy::VisibleRequest r{ToActor(request->viewer)};
    CANOPY_RETURN_IF_ERROR(ToRequest(call, *request, &r));
    auto out = std::make_unique<canopy_visible_page_t>();
    CANOPY_RETURN_IF_ERROR(db->db->Visible(r, &out->page));
    *page = out.release();
    return Status::Ok();
  });
}

canopy_code_t canopy_visible_count(canopy_db_t* db, const canopy_visible_request_t* request,
                                   uint64_t* count, char** errmsg) {
  return Guard("canopy_visible_count", errmsg, [&](const Call& call) -> Status {
    if (count != nullptr) *count = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, request);
    CANOPY_C_REQUIRE(call, count);
    canopy::VisibleRequest r{ToActor(request->viewer)};
    CANOPY_RETURN_IF_ERROR(ToRequest(call, *request, &r));
    auto n = db->db->Count(r);
    CANOPY_RETURN_IF_ERROR(n.status());
    *count = *n;
    return Status::Ok();
  });
}

void canopy_visible_page_destroy(canopy_visible_page_t* page) { delete page; }

size_t canopy_visible_page_count(const canopy_visible_page_t* page) {
  return page != nullptr ? page->page.items.size() : 0;
}

uint64_t canopy_visible_page_id(const canopy_visible_page_t* page, size_t i) {
  const canopy::VisibleItem* item = VisibleAt(page, i);
  return item != nullptr ? item->id : canopy::kNoId;
}

const char* canopy_visible_page_key(const canopy_visible_page_t* page, size_t i) {
  const canopy::VisibleItem* item = VisibleAt(page, i);
  return item != nullptr ? item->key.c_str() : nullptr;
}

const char* canopy_visible_page_name(const canopy_visible_page_t* page, size_t i) {
  const canopy::VisibleItem* item = VisibleAt(page, i);
  return item != nullptr ? item->name.c_str() : nullptr;
}

const char* canopy_visible_page_type(const canopy_visible_page_t* page, size_t i) {
  const canopy::VisibleItem* item = VisibleAt(page, i);
  return item != nullptr ? item->type.c_str() : nullptr;
}

uint64_t canopy_visible_page_owner(const canopy_visible_page_t* page, size_t i) {
  const canopy::VisibleItem* item = VisibleAt(page, i);
  return item != nullptr ? item->owner : canopy::kNoId;
}

const char* canopy_visible_page_next_cursor(const canopy_visible_page_t* page) {
  return page != nullptr ? page->page.next_cursor.c_str() : nullptr;
}

uint64_t canopy_visible_page_revision(const canopy_visible_page_t* page) {
  return page != nullptr ? page->page.revision : 0;
}

// ---- Streaming iterators ------------------------------------------------------------

canopy_code_t canopy_visible_iterator_create(canopy_db_t* db,
                                             const canopy_visible_request_t* request,
                                             canopy_visible_iterator_t** iterator, char** errmsg) {
  return Guard("canopy_visible_iterator_create", errmsg, [&](const Call& call) -> Status {
    if (iterator != nullptr) *iterator = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, request);
    CANOPY_C_REQUIRE(call, iterator);
    canopy::VisibleRequest r{ToActor(request->viewer)};
    CANOPY_RETURN_IF_ERROR(ToRequest(call, *request, &r));
    auto out = std::make_unique<canopy_visible_iterator_t>();
    CANOPY_RETURN_IF_ERROR(db->db->NewVisibleIterator(r, &out->it));
    if (out->it == nullptr) return Status::Internal("the engine returned no iterator");
    Capture(out.get());
    out->db = db;
    db->iterators.fetch_add(1);
    *iterator = out.release();
    return Status::Ok();
  });
}

void canopy_visible_iterator_destroy(canopy_visible_iterator_t* iterator) {
  if (iterator == nullptr) return;
  canopy_db_t* db = iterator->db;
  delete iterator;  // releases the snapshot before the database may close
  if (db != nullptr) db->iterators.fetch_sub(1);
}

int canopy_visible_iterator_valid(const canopy_visible_iterator_t* iterator) {
  return Valid(iterator) ? 1 : 0;
}

void canopy_visible_iterator_next(canopy_visible_iterator_t* iterator) {
  if (!Valid(iterator)) return;
  try {
    iterator->it->Next();
    Capture(iterator);
  } catch (const std::exception& e) {
    Fail(iterator, e.what());
  } catch (...) {
    Fail(iterator, "unknown exception");
  }
}

uint64_t canopy_visible_iterator_id(const canopy_visible_iterator_t* iterator) {
  return Valid(iterator) ? iterator->it->id() : canopy::kNoId;
}

const char* canopy_visible_iterator_key(const canopy_visible_iterator_t* iterator) {
  return Valid(iterator) ? iterator->key.c_str() : nullptr;
}

const char* canopy_visible_iterator_name(const canopy_visible_iterator_t* iterator) {
  return Valid(iterator) ? iterator->name.c_str() : nullptr;
}

const char* canopy_visible_iterator_type(const canopy_visible_iterator_t* iterator) {
  return Valid(iterator) ? iterator->type.c_str() : nullptr;
}

uint64_t canopy_visible_iterator_owner(const canopy_visible_iterator_t* iterator) {
  return Valid(iterator) ? iterator->it->owner() : canopy::kNoId;
}

canopy_code_t canopy_visible_iterator_status(const canopy_visible_iterator_t* iterator,
                                             char** errmsg) {
  return Guard("canopy_visible_iterator_status", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, iterator);
    if (!iterator->error.ok()) return iterator->error;
    return iterator->it->status();
  });
}

// ---- Check, explain, who can -----------------------------------------------------------

canopy_code_t canopy_access_check(canopy_db_t* db, uint64_t user, const char* permission,
                                  const char* entity_key, int* allowed, char** errmsg) {
  return Guard("canopy_access_check", errmsg, [&](const Call& call) -> Status {
    if (allowed != nullptr) *allowed = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, permission);
    CANOPY_C_REQUIRE(call, entity_key);
    CANOPY_C_REQUIRE(call, allowed);
    auto ok = db->db->Check(user, permission, entity_key);
    CANOPY_RETURN_IF_ERROR(ok.status());
    *allowed = *ok ? 1 : 0;
    return Status::Ok();
  });
}

namespace {

// canopy_access_explain and its _as form; no asker: the user asks itself.
canopy_code_t Explain(const char* function, canopy_db_t* db, std::optional<uint64_t> asker,
                      uint64_t user, const char* permission, const char* entity_key,
                      canopy_explanation_t** explanation, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (explanation != nullptr) *explanation = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, permission);
    CANOPY_C_REQUIRE(call, entity_key);
    CANOPY_C_REQUIRE(call, explanation);
    auto out = std::make_unique<canopy_explanation_t>();
    CANOPY_RETURN_IF_ERROR(
        asker ? db->db->Explain(ToActor(*asker), user, permission, entity_key, &out->explanation)
              : db->db->Explain(user, permission, entity_key, &out->explanation));
    *explanation = out.release();
    return Status::Ok();
  });
}

}  // namespace

canopy_code_t canopy_access_explain(canopy_db_t* db, uint64_t user, const char* permission,
                                    const char* entity_key, canopy_explanation_t** explanation,
                                    char** errmsg) {
  return Explain("canopy_access_explain", db, std::nullopt, user, permission, entity_key,
                 explanation, errmsg);
}

canopy_code_t canopy_access_explain_as(canopy_db_t* db, uint64_t asker, uint64_t user,
                                       const char* permission, const char* entity_key,
                                       canopy_explanation_t** explanation, char** errmsg) {
  return Explain("canopy_access_explain_as", db, asker, user, permission, entity_key, explanation,
                 errmsg);
}

canopy_code_t canopy_access_who_can(canopy_db_t* db, const char* permission, const char* entity_key,
                                    size_t limit, const char* cursor, canopy_who_can_page_t** page,
                                    char** errmsg) {
  return WhoCan("canopy_access_who_can", db, CANOPY_SYSTEM_ACTOR, permission, entity_key, limit, cursor, 0, page,
                errmsg);
}

canopy_code_t canopy_access_who_can_v2(canopy_db_t* db, const char* permission,
                                       const char* entity_key, size_t limit, const char* cursor,
                                       uint64_t min_revision, canopy_who_can_page_t** page,
                                       char** errmsg) {
  return WhoCan("canopy_access_who_can_v2", db, CANOPY_SYSTEM_ACTOR, permission, entity_key, limit, cursor,
                min_revision, page, errmsg);
}

canopy_code_t canopy_access_who_can_as(canopy_db_t* db, uint64_t viewer, const char* permission,
                                       const char* entity_key, size_t limit, const char* cursor,
                                       uint64_t min_revision, canopy_who_can_page_t** page,
                                       char** errmsg) {
  return WhoCan("canopy_access_who_can_as", db, viewer, permission, entity_key, limit, cursor,
                min_revision, page, errmsg);
}

void canopy_explanation_destroy(canopy_explanation_t* explanation) { delete explanation; }

int canopy_explanation_allowed(const canopy_explanation_t* explanation) {
  return explanation != nullptr && explanation->explanation.allowed ? 1 : 0;
}

const char* canopy_explanation_reason(const canopy_explanation_t* explanation) {
  return explanation != nullptr ? explanation->explanation.reason.c_str() : nullptr;
}

uint64_t canopy_explanation_entity(const canopy_explanation_t* explanation) {
  return explanation != nullptr ? explanation->explanation.entity : canopy::kNoId;
}

uint64_t canopy_explanation_owner(const canopy_explanation_t* explanation) {
  return explanation != nullptr ? explanation->explanation.owner : canopy::kNoId;
}

uint64_t canopy_explanation_via_account(const canopy_explanation_t* explanation) {
  return explanation != nullptr ? explanation->explanation.via_account : canopy::kNoId;
}

uint64_t canopy_explanation_via_role(const canopy_explanation_t* explanation) {
  return explanation != nullptr ? explanation->explanation.via_role : canopy::kNoId;
}

const char* canopy_explanation_via_role_name(const canopy_explanation_t* explanation) {
  return explanation != nullptr ? explanation->explanation.via_role_name.c_str() : nullptr;
}

int canopy_explanation_via_branch(const canopy_explanation_t* explanation) {
  return explanation != nullptr && explanation->explanation.via_branch ? 1 : 0;
}

uint64_t canopy_explanation_via_user_group(const canopy_explanation_t* explanation) {
  return explanation != nullptr ? explanation->explanation.via_user_group : canopy::kNoId;
}

uint64_t canopy_explanation_via_group(const canopy_explanation_t* explanation) {
  return explanation != nullptr ? explanation->explanation.via_group : canopy::kNoId;
}

size_t canopy_explanation_path_count(const canopy_explanation_t* explanation) {
  return explanation != nullptr ? explanation->explanation.path.size() : 0;
}

const char* canopy_explanation_path(const canopy_explanation_t* explanation, size_t i) {
  const std::string* s = explanation != nullptr ? At(explanation->explanation.path, i) : nullptr;
  return s != nullptr ? s->c_str() : nullptr;
}

void canopy_who_can_page_destroy(canopy_who_can_page_t* page) { delete page; }

size_t canopy_who_can_page_count(const canopy_who_can_page_t* page) {
  return page != nullptr ? page->page.items.size() : 0;
}

uint64_t canopy_who_can_page_user(const canopy_who_can_page_t* page, size_t i) {
  const canopy::WhoCanItem* item = WhoCanAt(page, i);
  return item != nullptr ? item->user : canopy::kNoId;
}

const char* canopy_who_can_page_login(const canopy_who_can_page_t* page, size_t i) {
  const canopy::WhoCanItem* item = WhoCanAt(page, i);
  return item != nullptr ? item->login.c_str() : nullptr;
}

uint64_t canopy_who_can_page_via_account(const canopy_who_can_page_t* page, size_t i) {
  const canopy::WhoCanItem* item = WhoCanAt(page, i);
  return item != nullptr ? item->via_account : canopy::kNoId;
}

uint64_t canopy_who_can_page_role(const canopy_who_can_page_t* page, size_t i) {
  const canopy::WhoCanItem* item = WhoCanAt(page, i);
  return item != nullptr ? item->role : canopy::kNoId;
}

int canopy_who_can_page_branch(const canopy_who_can_page_t* page, size_t i) {
  const canopy::WhoCanItem* item = WhoCanAt(page, i);
  return item != nullptr && item->branch ? 1 : 0;
}

uint64_t canopy_who_can_page_via_user_group(const canopy_who_can_page_t* page, size_t i) {
  const canopy::WhoCanItem* item = WhoCanAt(page, i);
  return item != nullptr ? item->via_user_group : canopy::kNoId;
}

uint64_t canopy_who_can_page_via_group(const canopy_who_can_page_t* page, size_t i) {
  const canopy::WhoCanItem* item = WhoCanAt(page, i);
  return item != nullptr ? item->via_group : canopy::kNoId;
}

const char* canopy_who_can_page_next_cursor(const canopy_who_can_page_t* page) {
  return page != nullptr ? page->page.next_cursor.c_str() : nullptr;
}

uint64_t canopy_who_can_page_revision(const canopy_who_can_page_t* page) {
  return page != nullptr ? page->page.revision : 0;
}

}  // extern "C"
