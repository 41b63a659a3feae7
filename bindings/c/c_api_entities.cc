// Copyright (c) Canopy authors.
//
// The C API (include/canopy/c.h): entities (devices, assets, dashboards,
// entity views) and the all-or-nothing batch reassign with its report.

#include <new>

#include "bindings/c/c_api_internal.h"

using canopy::Status;
using canopy::c_api::At;
using canopy::c_api::Call;
using canopy::c_api::Guard;
using canopy::c_api::ItemReportFor;
using canopy::c_api::MakeEntity;
using canopy::c_api::ToActor;

static_assert(CANOPY_REF_KEY == static_cast<int>(canopy::EntityRef::kKey));
static_assert(CANOPY_REF_UNIT_ID == static_cast<int>(canopy::EntityRef::kUnitId));
static_assert(CANOPY_OUTCOME_MOVED == static_cast<int>(canopy::ReassignItem::Outcome::kMoved));
static_assert(CANOPY_OUTCOME_UNCHANGED ==
              static_cast<int>(canopy::ReassignItem::Outcome::kUnchanged));
static_assert(CANOPY_OUTCOME_UNKNOWN == static_cast<int>(canopy::ReassignItem::Outcome::kUnknown));
static_assert(CANOPY_OUTCOME_DENIED == static_cast<int>(canopy::ReassignItem::Outcome::kDenied));
static_assert(CANOPY_OUTCOME_DUPLICATE ==
              static_cast<int>(canopy::ReassignItem::Outcome::kDuplicate));

namespace {

// Stores a new entity handle built from a lookup's result.
Status Hand(canopy::StatusOr<canopy::Entity> found, canopy_entity_t** entity) {
  CANOPY_RETURN_IF_ERROR(found.status());
  *entity = new canopy_entity_t(MakeEntity(std::move(found).value()));
  return Status::Ok();
}

const canopy::ReassignItem* Item(const canopy_reassign_report_t* report, size_t i) {
  return report != nullptr ? At(report->report.items, i) : nullptr;
}

}  // namespace

extern "C" {

// ---- Builders -------------------------------------------------------------------

canopy_entity_spec_t* canopy_entity_spec_create(void) {
  return new (std::nothrow) canopy_entity_spec_t();
}

void canopy_entity_spec_destroy(canopy_entity_spec_t* spec) { delete spec; }

canopy_code_t canopy_entity_spec_set_kind(canopy_entity_spec_t* spec, int kind, char** errmsg) {
  return Guard("canopy_entity_spec_set_kind", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    return canopy::c_api::ToKind(call, kind, &spec->spec.kind);
  });
}

canopy_code_t canopy_entity_spec_set_key(canopy_entity_spec_t* spec, const char* key,
                                         char** errmsg) {
  return Guard("canopy_entity_spec_set_key", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, key);
    spec->spec.key = key;
    return Status::Ok();
  });
}

canopy_code_t canopy_entity_spec_set_unit_id(canopy_entity_spec_t* spec, const char* unit_id,
                                             char** errmsg) {
  return Guard("canopy_entity_spec_set_unit_id", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, unit_id);
    spec->spec.unit_id = unit_id;
    return Status::Ok();
  });
}

canopy_code_t canopy_entity_spec_set_name(canopy_entity_spec_t* spec, const char* name,
                                          char** errmsg) {
  return Guard("canopy_entity_spec_set_name", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, name);
    spec->spec.name = name;
    return Status::Ok();
  });
}

canopy_code_t canopy_entity_spec_set_type(canopy_entity_spec_t* spec, const char* type,
                                          char** errmsg) {
  return Guard("canopy_entity_spec_set_type", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, type);
    spec->spec.type = type;
    return Status::Ok();
  });
}

canopy_code_t canopy_entity_spec_set_owner(canopy_entity_spec_t* spec, uint64_t owner,
                                           char** errmsg) {
  return Guard("canopy_entity_spec_set_owner", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    spec->spec.owner = owner;
    return Status::Ok();
  });
}

canopy_code_t canopy_entity_spec_set_attributes(canopy_entity_spec_t* spec,
                                                const canopy_attributes_t* attributes,
                                                char** errmsg) {
  return Guard("canopy_entity_spec_set_attributes", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, attributes);
    spec->spec.attributes = attributes->map;
    return Status::Ok();
  });
}

canopy_entity_patch_t* canopy_entity_patch_create(void) {
  return new (std::nothrow) canopy_entity_patch_t();
}

void canopy_entity_patch_destroy(canopy_entity_patch_t* patch) { delete patch; }

canopy_code_t canopy_entity_patch_set_name(canopy_entity_patch_t* patch, const char* name,
                                           char** errmsg) {
  return Guard("canopy_entity_patch_set_name", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, patch);
    CANOPY_C_REQUIRE(call, name);
    patch->patch.name = name;
    return Status::Ok();
  });
}

canopy_code_t canopy_entity_patch_set_type(canopy_entity_patch_t* patch, const char* type,
                                           char** errmsg) {
  return Guard("canopy_entity_patch_set_type", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, patch);
    CANOPY_C_REQUIRE(call, type);
    patch->patch.type = type;
    return Status::Ok();
  });
}

canopy_code_t canopy_entity_patch_set_unit_id(canopy_entity_patch_t* patch, const char* unit_id,
                                              char** errmsg) {
  return Guard("canopy_entity_patch_set_unit_id", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, patch);
    CANOPY_C_REQUIRE(call, unit_id);
    patch->patch.unit_id = unit_id;
    return Status::Ok();
  });
}

canopy_code_t canopy_entity_patch_set_attributes(canopy_entity_patch_t* patch,
                                                 const canopy_attributes_t* attributes,
                                                 char** errmsg) {
  return Guard("canopy_entity_patch_set_attributes", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, patch);
    CANOPY_C_REQUIRE(call, attributes);
    patch->patch.attributes = attributes->map;
    return Status::Ok();
  });
}

// ---- Entities -----------------------------------------------------------------

canopy_code_t canopy_entity_create(canopy_db_t* db, uint64_t actor,
                                   const canopy_entity_spec_t* spec, uint64_t* id, char** errmsg) {
  return Guard("canopy_entity_create", errmsg, [&](const Call& call) -> Status {
    if (id != nullptr) *id = CANOPY_NO_ID;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, spec);
    auto created = db->db->CreateEntity(ToActor(actor), spec->spec);
    CANOPY_RETURN_IF_ERROR(created.status());
    if (id != nullptr) *id = *created;
    return Status::Ok();
  });
}

static canopy_code_t canopy_entity_getImpl(const char* function, canopy_db_t* db,
                                           uint64_t viewer, uint64_t id,
                                           canopy_entity_t** entity, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (entity != nullptr) *entity = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, entity);
    return Hand(db->db->GetEntity(ToActor(viewer), id), entity);
  });
}

canopy_code_t canopy_entity_get(canopy_db_t* db, uint64_t id, canopy_entity_t** entity,
                                char** errmsg) {
  return canopy_entity_getImpl("canopy_entity_get", db, CANOPY_SYSTEM_ACTOR, id, entity, errmsg);
}

canopy_code_t canopy_entity_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                   canopy_entity_t** entity, char** errmsg) {
  return canopy_entity_getImpl("canopy_entity_get_as", db, viewer, id, entity, errmsg);
}

static canopy_code_t canopy_entity_findImpl(const char* function, canopy_db_t* db, uint64_t viewer, int kind, const char* key, canopy_entity_t** entity, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (entity != nullptr) *entity = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, key);
    CANOPY_C_REQUIRE(call, entity);
    canopy::EntityKind k;
    CANOPY_RETURN_IF_ERROR(canopy::c_api::ToKind(call, kind, &k));
    return Hand(db->db->FindEntity(ToActor(viewer), k, key), entity);
  });
}

canopy_code_t canopy_entity_find(canopy_db_t* db, int kind, const char* key, canopy_entity_t** entity, char** errmsg) {
  return canopy_entity_findImpl("canopy_entity_find", db, CANOPY_SYSTEM_ACTOR, kind, key, entity, errmsg);
}

canopy_code_t canopy_entity_find_as(canopy_db_t* db, uint64_t viewer, int kind, const char* key, canopy_entity_t** entity, char** errmsg) {
  return canopy_entity_findImpl("canopy_entity_find_as", db, viewer, kind, key, entity, errmsg);
}

static canopy_code_t canopy_entity_find_by_unit_idImpl(const char* function, canopy_db_t* db, uint64_t viewer, const char* unit_id, canopy_entity_t** entity, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (entity != nullptr) *entity = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, unit_id);
    CANOPY_C_REQUIRE(call, entity);
    return Hand(db->db->FindDeviceByUnitId(ToActor(viewer), unit_id), entity);
  });
}

canopy_code_t canopy_entity_find_by_unit_id(canopy_db_t* db, const char* unit_id, canopy_entity_t** entity, char** errmsg) {
  return canopy_entity_find_by_unit_idImpl("canopy_entity_find_by_unit_id", db, CANOPY_SYSTEM_ACTOR, unit_id, entity, errmsg);
}

canopy_code_t canopy_entity_find_by_unit_id_as(canopy_db_t* db, uint64_t viewer, const char* unit_id, canopy_entity_t** entity, char** errmsg) {
  return canopy_entity_find_by_unit_idImpl("canopy_entity_find_by_unit_id_as", db, viewer, unit_id, entity, errmsg);
}

canopy_code_t canopy_entity_update(canopy_db_t* db, uint64_t actor, uint64_t id,
                                   const canopy_entity_patch_t* patch, char** errmsg) {
  return Guard("canopy_entity_update", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, patch);
    return db->db->UpdateEntity(ToActor(actor), id, patch->patch);
  });
}

canopy_code_t canopy_entity_delete(canopy_db_t* db, uint64_t actor, uint64_t id, char** errmsg) {
  return Guard("canopy_entity_delete", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->DeleteEntity(ToActor(actor), id);
  });
}

canopy_code_t canopy_entity_reassign(canopy_db_t* db, uint64_t actor, int kind, int by,
                                     const char* const* refs, size_t n, uint64_t target,
                                     canopy_reassign_report_t** report, char** errmsg) {
  return canopy_entity_reassign_into(db, actor, kind, by, refs, n, target, nullptr, 0, report,
                                     errmsg);
}

canopy_code_t canopy_entity_reassign_into(canopy_db_t* db, uint64_t actor, int kind, int by,
                                          const char* const* refs, size_t n, uint64_t target,
                                          const uint64_t* groups, size_t n_groups,
                                          canopy_reassign_report_t** report, char** errmsg) {
  return Guard(n_groups > 0 ? "canopy_entity_reassign_into" : "canopy_entity_reassign", errmsg,
               [&](const Call& call) -> Status {
    if (report != nullptr) *report = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_ARRAY(call, groups, n_groups);
    canopy::EntityKind k;
    CANOPY_RETURN_IF_ERROR(canopy::c_api::ToKind(call, kind, &k));
    if (by != CANOPY_REF_KEY && by != CANOPY_REF_UNIT_ID) {
      return call.Invalid("unknown reference type " + std::to_string(by) +
                          " (expected CANOPY_REF_KEY or CANOPY_REF_UNIT_ID)");
    }
    std::vector<std::string> items;
    CANOPY_RETURN_IF_ERROR(canopy::c_api::ToStrings(call, refs, n, "refs", "n", &items));
    auto out = std::make_unique<canopy_reassign_report_t>();
    const std::vector<canopy::GroupId> joining(groups, groups + n_groups);
    Status s = db->db->ReassignEntities(ToActor(actor), k, static_cast<canopy::EntityRef>(by),
                                        items, target, joining, &out->report);
    if (report != nullptr && ItemReportFor(s, out->report, items.size())) {
      *report = out.release();
    }
    return s;
  });
}

// ---- Entity handles ---------------------------------------------------------

void canopy_entity_destroy(canopy_entity_t* entity) { delete entity; }

uint64_t canopy_entity_id(const canopy_entity_t* entity) {
  return entity != nullptr ? entity->entity.id : canopy::kNoId;
}

int canopy_entity_kind(const canopy_entity_t* entity) {
  return entity != nullptr ? static_cast<int>(entity->entity.kind) : 0;
}

const char* canopy_entity_key(const canopy_entity_t* entity) {
  return entity != nullptr ? entity->entity.key.c_str() : nullptr;
}

const char* canopy_entity_unit_id(const canopy_entity_t* entity) {
  return entity != nullptr ? entity->entity.unit_id.c_str() : nullptr;
}

const char* canopy_entity_name(const canopy_entity_t* entity) {
  return entity != nullptr ? entity->entity.name.c_str() : nullptr;
}

const char* canopy_entity_type(const canopy_entity_t* entity) {
  return entity != nullptr ? entity->entity.type.c_str() : nullptr;
}

uint64_t canopy_entity_owner(const canopy_entity_t* entity) {
  return entity != nullptr ? entity->entity.owner : canopy::kNoId;
}

int64_t canopy_entity_created_us(const canopy_entity_t* entity) {
  return entity != nullptr ? entity->entity.created_us : 0;
}

int64_t canopy_entity_updated_us(const canopy_entity_t* entity) {
  return entity != nullptr ? entity->entity.updated_us : 0;
}

const canopy_attributes_t* canopy_entity_attributes(const canopy_entity_t* entity) {
  return entity != nullptr ? &entity->attributes : nullptr;
}

// ---- Reassign reports ---------------------------------------------------------

void canopy_reassign_report_destroy(canopy_reassign_report_t* report) { delete report; }

size_t canopy_reassign_report_count(const canopy_reassign_report_t* report) {
  return report != nullptr ? report->report.items.size() : 0;
}

size_t canopy_reassign_report_total(const canopy_reassign_report_t* report, int outcome) {
  if (report == nullptr) return 0;
  switch (outcome) {
    case CANOPY_OUTCOME_MOVED:
      return report->report.moved;
    case CANOPY_OUTCOME_UNCHANGED:
      return report->report.unchanged;
    case CANOPY_OUTCOME_UNKNOWN:
      return report->report.unknown;
    case CANOPY_OUTCOME_DENIED:
      return report->report.denied;
    case CANOPY_OUTCOME_DUPLICATE:
      return report->report.duplicate;
    default:
      return 0;
  }
}

const char* canopy_reassign_report_ref(const canopy_reassign_report_t* report, size_t i) {
  const canopy::ReassignItem* item = Item(report, i);
  return item != nullptr ? item->ref.c_str() : nullptr;
}

int canopy_reassign_report_outcome(const canopy_reassign_report_t* report, size_t i) {
  const canopy::ReassignItem* item = Item(report, i);
  return item != nullptr ? static_cast<int>(item->outcome) : -1;
}

uint64_t canopy_reassign_report_entity(const canopy_reassign_report_t* report, size_t i) {
  const canopy::ReassignItem* item = Item(report, i);
  return item != nullptr ? item->entity : canopy::kNoId;
}

uint64_t canopy_reassign_report_previous_owner(const canopy_reassign_report_t* report, size_t i) {
  const canopy::ReassignItem* item = Item(report, i);
  return item != nullptr ? item->previous_owner : canopy::kNoId;
}

const char* canopy_reassign_report_message(const canopy_reassign_report_t* report, size_t i) {
  const canopy::ReassignItem* item = Item(report, i);
  return item != nullptr ? item->message.c_str() : nullptr;
}

}  // extern "C"
