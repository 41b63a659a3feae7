// Copyright (c) Canopy authors.
//
// The C API (include/canopy/c.h): the change log — revisions, reading
// pages of it (the audit view included), waiting for changes, and
// replication (reading raw entries, applying them to another database).

#include "bindings/c/c_api_internal.h"
#include "storage/json.h"

using canopy::Status;
using canopy::c_api::At;
using canopy::c_api::Call;
using canopy::c_api::Guard;
using canopy::c_api::kMaxArrayBytes;
using canopy::c_api::ToActor;

namespace {

const canopy::ChangeEntry* EntryAt(const canopy_changes_t* changes, size_t i) {
  return changes != nullptr ? At(changes->page.entries, i) : nullptr;
}

const canopy::RecordChangeView* RecordAt(const canopy_changes_t* changes, size_t i, size_t j) {
  const canopy::ChangeEntry* e = EntryAt(changes, i);
  return e != nullptr ? At(e->changes, j) : nullptr;
}

// The page of `request` into a new handle in *changes (both checked by the
// caller): what canopy_changes_read_request and its deprecated positional
// form share.
Status ReadChanges(canopy_db_t* db, const canopy::ChangesRequest& request,
                   canopy_changes_t** changes) {
  auto out = std::make_unique<canopy_changes_t>();
  CANOPY_RETURN_IF_ERROR(db->db->ReadChanges(request, &out->page));
  *changes = out.release();
  return Status::Ok();
}

}  // namespace

extern "C" {

// ---- Revisions ------------------------------------------------------------------

uint64_t canopy_db_revision(canopy_db_t* db) { return db != nullptr ? db->db->Revision() : 0; }

uint64_t canopy_db_last_committed_revision(canopy_db_t* db) {
  return db != nullptr ? db->db->LastCommittedRevision() : 0;
}

canopy_code_t canopy_db_log_id(canopy_db_t* db, char** log_id, char** errmsg) {
  return Guard("canopy_db_log_id", errmsg, [&](const Call& call) -> Status {
    if (log_id != nullptr) *log_id = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, log_id);
    *log_id = canopy::c_api::MallocString(db->db->LogId());
    return Status::Ok();
  });
}

// ---- Checkpoints and replicas ----------------------------------------------------

canopy_code_t canopy_db_checkpoint(canopy_db_t* db, const char* dir, uint64_t* revision,
                                   char** errmsg) {
  return Guard("canopy_db_checkpoint", errmsg, [&](const Call& call) -> Status {
    if (revision != nullptr) *revision = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, dir);
    CANOPY_C_REQUIRE(call, revision);
    auto rev = db->db->Checkpoint(dir);
    CANOPY_RETURN_IF_ERROR(rev.status());
    *revision = *rev;
    return Status::Ok();
  });
}

canopy_code_t canopy_db_backup(canopy_db_t* db, const char* dir, canopy_progress_fn progress,
                               void* progress_arg, uint64_t* revision, char** errmsg) {
  return Guard("canopy_db_backup", errmsg, [&](const Call& call) -> Status {
    if (revision != nullptr) *revision = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, dir);
    CANOPY_C_REQUIRE(call, revision);
    auto rev = db->db->Backup(dir, canopy::c_api::ToProgress(progress, progress_arg));
    CANOPY_RETURN_IF_ERROR(rev.status());
    *revision = *rev;
    return Status::Ok();
  });
}

canopy_code_t canopy_restore(const char* backup, const char* dir, canopy_progress_fn progress,
                             void* progress_arg, char** errmsg) {
  return Guard("canopy_restore", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, backup);
    CANOPY_C_REQUIRE(call, dir);
    return canopy::Db::Restore(backup, dir, canopy::c_api::ToProgress(progress, progress_arg));
  });
}

canopy_code_t canopy_db_replica_status(canopy_db_t* db, char** json, char** errmsg) {
  return Guard("canopy_db_replica_status", errmsg, [&](const Call& call) -> Status {
    if (json != nullptr) *json = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, json);
    auto st = db->db->GetReplicaStatus();
    CANOPY_RETURN_IF_ERROR(st.status());
    *json = canopy::c_api::MallocString(canopy::storage::ReplicaStatusJson(*st));
    return Status::Ok();
  });
}

canopy_code_t canopy_db_sync_with_log(canopy_db_t* db, uint32_t timeout_ms, uint64_t* revision,
                                      char** errmsg) {
  return Guard("canopy_db_sync_with_log", errmsg, [&](const Call& call) -> Status {
    if (revision != nullptr) *revision = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, revision);
    auto rev = db->db->SyncWithLog(timeout_ms);
    CANOPY_RETURN_IF_ERROR(rev.status());
    *revision = *rev;
    return Status::Ok();
  });
}

canopy_code_t canopy_db_catch_up(canopy_db_t* db, uint64_t* revision, char** errmsg) {
  return Guard("canopy_db_catch_up", errmsg, [&](const Call& call) -> Status {
    if (revision != nullptr) *revision = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, revision);
    auto rev = db->db->CatchUp();
    CANOPY_RETURN_IF_ERROR(rev.status());
    *revision = *rev;
    return Status::Ok();
  });
}

// ---- Reading and following ------------------------------------------------------

canopy_changes_request_t* canopy_changes_request_create(uint64_t viewer) {
  auto* request = new (std::nothrow) canopy_changes_request_t();
  if (request != nullptr) request->request.viewer = ToActor(viewer);
  return request;
}

void canopy_changes_request_destroy(canopy_changes_request_t* request) { delete request; }

canopy_code_t canopy_changes_request_set_since(canopy_changes_request_t* request, uint64_t since,
                                               char** errmsg) {
  return Guard("canopy_changes_request_set_since", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, request);
    request->request.since = since;
    return Status::Ok();
  });
}

canopy_code_t canopy_changes_request_set_limit(canopy_changes_request_t* request, size_t limit,
                                               char** errmsg) {
  return Guard("canopy_changes_request_set_limit", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, request);
    request->request.limit = limit;
    return Status::Ok();
  });
}

canopy_code_t canopy_changes_request_set_account(canopy_changes_request_t* request,
                                                 uint64_t account, char** errmsg) {
  return Guard("canopy_changes_request_set_account", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, request);
    request->request.account = account;
    return Status::Ok();
  });
}

canopy_code_t canopy_changes_request_add_type(canopy_changes_request_t* request, const char* type,
                                              char** errmsg) {
  return Guard("canopy_changes_request_add_type", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, request);
    CANOPY_C_REQUIRE(call, type);
    request->request.types.emplace_back(type);
    return Status::Ok();
  });
}

canopy_code_t canopy_changes_request_set_values(canopy_changes_request_t* request, int on,
                                                char** errmsg) {
  return Guard("canopy_changes_request_set_values", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, request);
    request->request.values = on != 0;
    return Status::Ok();
  });
}

canopy_code_t canopy_changes_request_set_min_revision(canopy_changes_request_t* request,
                                                      uint64_t revision, char** errmsg) {
  return Guard("canopy_changes_request_set_min_revision", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, request);
    request->request.min_revision = revision;
    return Status::Ok();
  });
}

canopy_code_t canopy_changes_read_request(canopy_db_t* db, const canopy_changes_request_t* request,
                                          canopy_changes_t** changes, char** errmsg) {
  return Guard("canopy_changes_read_request", errmsg, [&](const Call& call) -> Status {
    if (changes != nullptr) *changes = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, request);
    CANOPY_C_REQUIRE(call, changes);
    return ReadChanges(db, request->request, changes);
  });
}

canopy_code_t canopy_changes_read(canopy_db_t* db, uint64_t viewer, uint64_t since, size_t limit,
                                  uint64_t account, const char* const* types, size_t n_types,
                                  int values, uint64_t min_revision, canopy_changes_t** changes,
                                  char** errmsg) {
  return Guard("canopy_changes_read", errmsg, [&](const Call& call) -> Status {
    if (changes != nullptr) *changes = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, changes);
    canopy::ChangesRequest request{ToActor(viewer)};
    request.since = since;
    request.limit = limit;
    request.account = account;
    CANOPY_RETURN_IF_ERROR(
        canopy::c_api::ToStrings(call, types, n_types, "types", "n_types", &request.types));
    request.values = values != 0;
    request.min_revision = min_revision;
    return ReadChanges(db, request, changes);
  });
}

canopy_code_t canopy_changes_wait(canopy_db_t* db, uint64_t after, uint32_t timeout_ms,
                                  uint64_t* revision, char** errmsg) {
  return Guard("canopy_changes_wait", errmsg, [&](const Call& call) -> Status {
    if (revision != nullptr) *revision = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, revision);
    auto rev = db->db->WaitForChanges(after, timeout_ms);
    CANOPY_RETURN_IF_ERROR(rev.status());
    *revision = *rev;
    return Status::Ok();
  });
}

void canopy_changes_destroy(canopy_changes_t* changes) { delete changes; }

size_t canopy_changes_count(const canopy_changes_t* changes) {
  return changes != nullptr ? changes->page.entries.size() : 0;
}

uint64_t canopy_changes_next(const canopy_changes_t* changes) {
  return changes != nullptr ? changes->page.next : 0;
}

uint64_t canopy_changes_revision(const canopy_changes_t* changes) {
  return changes != nullptr ? changes->page.revision : 0;
}

int canopy_changes_ended(const canopy_changes_t* changes) {
  return changes != nullptr && changes->page.ended ? 1 : 0;
}

uint64_t canopy_changes_entry_revision(const canopy_changes_t* changes, size_t i) {
  const canopy::ChangeEntry* e = EntryAt(changes, i);
  return e != nullptr ? e->revision : 0;
}

int64_t canopy_changes_entry_time_us(const canopy_changes_t* changes, size_t i) {
  const canopy::ChangeEntry* e = EntryAt(changes, i);
  return e != nullptr ? e->time_us : 0;
}

const char* canopy_changes_entry_actor(const canopy_changes_t* changes, size_t i) {
  const canopy::ChangeEntry* e = EntryAt(changes, i);
  return e != nullptr ? e->actor.c_str() : nullptr;
}

const char* canopy_changes_entry_operation(const canopy_changes_t* changes, size_t i) {
  const canopy::ChangeEntry* e = EntryAt(changes, i);
  return e != nullptr ? e->operation.c_str() : nullptr;
}

const char* canopy_changes_entry_arguments(const canopy_changes_t* changes, size_t i) {
  const canopy::ChangeEntry* e = EntryAt(changes, i);
  return e != nullptr ? e->arguments.c_str() : nullptr;
}

size_t canopy_changes_record_count(const canopy_changes_t* changes, size_t i) {
  const canopy::ChangeEntry* e = EntryAt(changes, i);
  return e != nullptr ? e->changes.size() : 0;
}

const char* canopy_changes_record_type(const canopy_changes_t* changes, size_t i, size_t j) {
  const canopy::RecordChangeView* r = RecordAt(changes, i, j);
  return r != nullptr ? r->type.c_str() : nullptr;
}

const char* canopy_changes_record_action(const canopy_changes_t* changes, size_t i, size_t j) {
  const canopy::RecordChangeView* r = RecordAt(changes, i, j);
  return r != nullptr ? r->action.c_str() : nullptr;
}

const char* canopy_changes_record_id(const canopy_changes_t* changes, size_t i, size_t j) {
  const canopy::RecordChangeView* r = RecordAt(changes, i, j);
  return r != nullptr ? r->id.c_str() : nullptr;
}

const char* canopy_changes_record_before(const canopy_changes_t* changes, size_t i, size_t j) {
  const canopy::RecordChangeView* r = RecordAt(changes, i, j);
  return r != nullptr ? r->before.c_str() : nullptr;
}

const char* canopy_changes_record_after(const canopy_changes_t* changes, size_t i, size_t j) {
  const canopy::RecordChangeView* r = RecordAt(changes, i, j);
  return r != nullptr ? r->after.c_str() : nullptr;
}

// ---- Replication -------------------------------------------------------------------

canopy_code_t canopy_log_entries_read(canopy_db_t* db, uint64_t since, size_t limit,
                                      canopy_log_entries_t** entries, char** errmsg) {
  return Guard("canopy_log_entries_read", errmsg, [&](const Call& call) -> Status {
    if (entries != nullptr) *entries = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, entries);
    auto out = std::make_unique<canopy_log_entries_t>();
    CANOPY_RETURN_IF_ERROR(db->db->ReadLogEntries(since, limit, &out->items));
    *entries = out.release();
    return Status::Ok();
  });
}

void canopy_log_entries_destroy(canopy_log_entries_t* entries) { delete entries; }

size_t canopy_log_entries_count(const canopy_log_entries_t* entries) {
  return entries != nullptr ? entries->items.size() : 0;
}

const uint8_t* canopy_log_entries_data(const canopy_log_entries_t* entries, size_t i) {
  const std::string* s = entries != nullptr ? At(entries->items, i) : nullptr;
  return s != nullptr ? reinterpret_cast<const uint8_t*>(s->data()) : nullptr;
}

size_t canopy_log_entries_size(const canopy_log_entries_t* entries, size_t i) {
  const std::string* s = entries != nullptr ? At(entries->items, i) : nullptr;
  return s != nullptr ? s->size() : 0;
}

canopy_code_t canopy_changes_apply(canopy_db_t* db, const uint8_t* const* entries,
                                   const size_t* sizes, size_t n, canopy_apply_report_t** report,
                                   char** errmsg) {
  return Guard("canopy_changes_apply", errmsg, [&](const Call& call) -> Status {
    if (report != nullptr) *report = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_ARRAY_COPIED(call, entries, n, sizeof(std::string));
    CANOPY_C_ARRAY(call, sizes, n);
    // Every size is checked before any entry is read or copied: one no
    // buffer can have (alone or with the others) is a wrong argument.
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      total += std::min<uint64_t>(sizes[i], kMaxArrayBytes + 1);
      if (sizes[i] > kMaxArrayBytes || total > kMaxArrayBytes) {
        return call.Invalid("argument 'sizes[" + std::to_string(i) + "]' (" +
                            std::to_string(sizes[i]) + ") " +
                            (sizes[i] > kMaxArrayBytes ? "is more bytes than an entry can hold"
                                                       : "makes the entries more bytes than an "
                                                         "array can hold"));
      }
    }
    std::vector<std::string> items;
    items.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (entries[i] == nullptr && sizes[i] > 0) {
        return call.Invalid("argument 'entries[" + std::to_string(i) + "]' is NULL");
      }
      if (entries[i] == nullptr) {
        items.emplace_back();
      } else {
        items.emplace_back(reinterpret_cast<const char*>(entries[i]), sizes[i]);
      }
    }
    auto out = std::make_unique<canopy_apply_report_t>();
    Status s = db->db->ApplyChanges(items, &out->report);
    // How far it got is the point of a failed apply: hand the report over too.
    if (report != nullptr) *report = out.release();
    return s;
  });
}

void canopy_apply_report_destroy(canopy_apply_report_t* report) { delete report; }

uint64_t canopy_apply_report_applied(const canopy_apply_report_t* report) {
  return report != nullptr ? report->report.applied : 0;
}

uint64_t canopy_apply_report_skipped(const canopy_apply_report_t* report) {
  return report != nullptr ? report->report.skipped : 0;
}

uint64_t canopy_apply_report_revision(const canopy_apply_report_t* report) {
  return report != nullptr ? report->report.revision : 0;
}

}  // extern "C"
