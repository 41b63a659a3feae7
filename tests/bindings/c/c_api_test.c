// Copyright (c) Canopy authors.
//
// A pure C11 program over include/canopy/c.h (LevelDB's db/c_test.c habit):
// it drives every function the header declares, the refusals included
// (NULL arguments, unknown ids, invalid UTF-8, forged cursors, missing
// permissions, compacted revisions), and checks each code and that every
// failure carries a message. c_api_coverage (CTest) checks that every declared function is
// named here. The first failed check stops the program with its line.

#define _XOPEN_SOURCE 700  // mkdtemp, nftw

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "canopy/c.h"

// ---- Checks -------------------------------------------------------------------

static const char* phase = "start";
static char* err = NULL;  // the errmsg of the call under test

static void Fail(int line, const char* what, const char* detail) {
  fprintf(stderr, "c_api_test.c:%d: [%s] %s%s%s\n", line, phase, what, detail ? ": " : "",
          detail ? detail : "");
  exit(1);
}

#define CHECK(cond)                           \
  do {                                        \
    if (!(cond)) Fail(__LINE__, #cond, NULL); \
  } while (0)

#define CHECK_STR(got, want)                                     \
  do {                                                           \
    const char* got_ = (got);                                    \
    if (got_ == NULL || strcmp(got_, (want)) != 0) {             \
      Fail(__LINE__, #got " == " #want, got_ ? got_ : "(null)"); \
    }                                                            \
  } while (0)

// Checks the code of a call whose last argument is &err, and its message:
// none on success, a non-empty one (containing `needle` when given) on
// failure. Frees the message.
static void Expect(int line, const char* call, canopy_code_t got, canopy_code_t want,
                   const char* needle) {
  char detail[1024];
  if (got != want) {
    snprintf(detail, sizeof detail, "%s returned %s (%s), expected %s", call, canopy_code_name(got),
             err ? err : "no message", canopy_code_name(want));
    Fail(line, "unexpected code", detail);
  }
  if (want == CANOPY_OK && err != NULL) Fail(line, "message set on success", err);
  if (want != CANOPY_OK) {
    if (err == NULL || err[0] == '\0') Fail(line, "empty message on failure", call);
    if (needle != NULL && strstr(err, needle) == NULL) {
      snprintf(detail, sizeof detail, "message \"%s\" lacks \"%s\"", err, needle);
      Fail(line, call, detail);
    }
  }
  canopy_free(err);
  err = NULL;
}

#define OK(expr) Expect(__LINE__, #expr, (expr), CANOPY_OK, NULL)
#define FAILS(code, expr) Expect(__LINE__, #expr, (expr), (code), NULL)
// A refusal whose message must contain `needle` (e.g. "'db'" for a NULL db).
#define FAILS_WITH(code, needle, expr) Expect(__LINE__, #expr, (expr), (code), (needle))

// ---- Helpers -------------------------------------------------------------------

static char dir[256];

static void Path(char* out, size_t size, const char* name) {
  snprintf(out, size, "%s/%s", dir, name);
}

static int RemoveEntry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static uint64_t AccountId(canopy_db_t* db, const char* key) {
  canopy_account_t* a = NULL;
  OK(canopy_account_find(db, key, &a, &err));
  uint64_t id = canopy_account_id(a);
  canopy_account_destroy(a);
  return id;
}

static uint64_t AccountOwnerOf(canopy_db_t* db, const char* device_key) {
  canopy_entity_t* e = NULL;
  OK(canopy_entity_find(db, CANOPY_KIND_DEVICE, device_key, &e, &err));
  uint64_t owner = canopy_entity_owner(e);
  canopy_entity_destroy(e);
  return owner;
}

static uint64_t RoleId(canopy_db_t* db, uint64_t tenant, const char* name) {
  canopy_role_t* r = NULL;
  OK(canopy_role_find(db, tenant, name, &r, &err));
  uint64_t id = canopy_role_id(r);
  canopy_role_destroy(r);
  return id;
}

static size_t RootCount(canopy_db_t* db) {
  uint64_t* ids = NULL;
  size_t n = 0;
  OK(canopy_account_roots(db, &ids, &n, &err));
  canopy_free(ids);
  return n;
}

// The builder calls (c.h, "Calls that take many fields") in one call each,
// for the many creates and updates below; TestBuilders drives the builders
// themselves. Each string goes to its setter as given (a NULL one fails
// there, naming itself), except the optional fields: a NULL unit id, type or
// map is not set, and a NULL name or map leaves an update's field unset. The
// first failure is returned with its message in *errmsg.
static canopy_code_t CreateAccount(canopy_db_t* db, uint64_t actor, const char* key,
                                   const char* name, uint64_t parent,
                                   const canopy_attributes_t* attributes, int management,
                                   int access, uint64_t* id, char** errmsg) {
  canopy_account_spec_t* spec = canopy_account_spec_create();
  CHECK(spec != NULL);
  canopy_code_t code = canopy_account_spec_set_key(spec, key, errmsg);
  if (code == CANOPY_OK) code = canopy_account_spec_set_name(spec, name, errmsg);
  if (code == CANOPY_OK) code = canopy_account_spec_set_parent(spec, parent, errmsg);
  if (code == CANOPY_OK && attributes != NULL) {
    code = canopy_account_spec_set_attributes(spec, attributes, errmsg);
  }
  if (code == CANOPY_OK) {
    code = canopy_account_spec_set_sub_account_management(spec, management, errmsg);
  }
  if (code == CANOPY_OK) code = canopy_account_spec_set_sub_account_access(spec, access, errmsg);
  if (code == CANOPY_OK) code = canopy_account_create(db, actor, spec, id, errmsg);
  canopy_account_spec_destroy(spec);
  return code;
}

static canopy_code_t UpdateAccount(canopy_db_t* db, uint64_t actor, uint64_t id, const char* name,
                                   const canopy_attributes_t* attributes, char** errmsg) {
  canopy_account_patch_t* patch = canopy_account_patch_create();
  CHECK(patch != NULL);
  canopy_code_t code = CANOPY_OK;
  if (name != NULL) code = canopy_account_patch_set_name(patch, name, errmsg);
  if (code == CANOPY_OK && attributes != NULL) {
    code = canopy_account_patch_set_attributes(patch, attributes, errmsg);
  }
  if (code == CANOPY_OK) code = canopy_account_update(db, actor, id, patch, errmsg);
  canopy_account_patch_destroy(patch);
  return code;
}

static canopy_code_t CreateEntity(canopy_db_t* db, uint64_t actor, int kind, const char* key,
                                  const char* unit_id, const char* name, const char* type,
                                  uint64_t owner, const canopy_attributes_t* attributes,
                                  uint64_t* id, char** errmsg) {
  canopy_entity_spec_t* spec = canopy_entity_spec_create();
  CHECK(spec != NULL);
  canopy_code_t code = canopy_entity_spec_set_kind(spec, kind, errmsg);
  if (code == CANOPY_OK) code = canopy_entity_spec_set_key(spec, key, errmsg);
  if (code == CANOPY_OK && unit_id != NULL) {
    code = canopy_entity_spec_set_unit_id(spec, unit_id, errmsg);
  }
  if (code == CANOPY_OK) code = canopy_entity_spec_set_name(spec, name, errmsg);
  if (code == CANOPY_OK && type != NULL) code = canopy_entity_spec_set_type(spec, type, errmsg);
  if (code == CANOPY_OK) code = canopy_entity_spec_set_owner(spec, owner, errmsg);
  if (code == CANOPY_OK && attributes != NULL) {
    code = canopy_entity_spec_set_attributes(spec, attributes, errmsg);
  }
  if (code == CANOPY_OK) code = canopy_entity_create(db, actor, spec, id, errmsg);
  canopy_entity_spec_destroy(spec);
  return code;
}

static canopy_code_t UpdateEntity(canopy_db_t* db, uint64_t actor, uint64_t id, const char* name,
                                  const char* type, const char* unit_id,
                                  const canopy_attributes_t* attributes, char** errmsg) {
  canopy_entity_patch_t* patch = canopy_entity_patch_create();
  CHECK(patch != NULL);
  canopy_code_t code = CANOPY_OK;
  if (name != NULL) code = canopy_entity_patch_set_name(patch, name, errmsg);
  if (code == CANOPY_OK && type != NULL) code = canopy_entity_patch_set_type(patch, type, errmsg);
  if (code == CANOPY_OK && unit_id != NULL) {
    code = canopy_entity_patch_set_unit_id(patch, unit_id, errmsg);
  }
  if (code == CANOPY_OK && attributes != NULL) {
    code = canopy_entity_patch_set_attributes(patch, attributes, errmsg);
  }
  if (code == CANOPY_OK) code = canopy_entity_update(db, actor, id, patch, errmsg);
  canopy_entity_patch_destroy(patch);
  return code;
}

static canopy_code_t CreateUser(canopy_db_t* db, uint64_t actor, const char* login,
                                const char* name, uint64_t account, uint64_t* id, char** errmsg) {
  canopy_user_spec_t* spec = canopy_user_spec_create();
  CHECK(spec != NULL);
  canopy_code_t code = canopy_user_spec_set_login(spec, login, errmsg);
  if (code == CANOPY_OK) code = canopy_user_spec_set_name(spec, name, errmsg);
  if (code == CANOPY_OK) code = canopy_user_spec_set_account(spec, account, errmsg);
  if (code == CANOPY_OK) code = canopy_user_create(db, actor, spec, id, errmsg);
  canopy_user_spec_destroy(spec);
  return code;
}

static canopy_code_t UpdateUser(canopy_db_t* db, uint64_t actor, uint64_t id, const char* name,
                                char** errmsg) {
  canopy_user_patch_t* patch = canopy_user_patch_create();
  CHECK(patch != NULL);
  canopy_code_t code = CANOPY_OK;
  if (name != NULL) code = canopy_user_patch_set_name(patch, name, errmsg);
  if (code == CANOPY_OK) code = canopy_user_update(db, actor, id, patch, errmsg);
  canopy_user_patch_destroy(patch);
  return code;
}

// Progress callbacks: count the calls; the cancelling one says stop.
typedef struct {
  int calls;
  uint64_t last_done;
  uint64_t last_total;
} Progress;

static int CountProgress(void* arg, uint64_t done, uint64_t total) {
  Progress* p = (Progress*)arg;
  p->calls++;
  p->last_done = done;
  p->last_total = total;
  return 1;
}

// Tries to close the database whose operation is calling it (arg: the
// handle), counting the refusals; the operation goes on.
static int close_refusals = 0;
static int CloseFromProgress(void* arg, uint64_t done, uint64_t total) {
  (void)done;
  (void)total;
  char* e = NULL;
  if (canopy_db_close((canopy_db_t*)arg, &e) == CANOPY_FAILED_PRECONDITION && e != NULL &&
      strstr(e, "progress callback") != NULL) {
    close_refusals++;
  }
  canopy_free(e);
  return 1;
}

static int CancelProgress(void* arg, uint64_t done, uint64_t total) {
  (void)done;
  (void)total;
  ((Progress*)arg)->calls++;
  return 0;
}

// The keys of a visible page, joined by ','.
static void PageKeys(const canopy_visible_page_t* page, char* out, size_t size) {
  out[0] = '\0';
  for (size_t i = 0; i < canopy_visible_page_count(page); ++i) {
    if (i > 0) strncat(out, ",", size - strlen(out) - 1);
    strncat(out, canopy_visible_page_key(page, i), size - strlen(out) - 1);
  }
}

// The keys `viewer` sees with `request`, through canopy_visible_list.
static void VisibleKeys(canopy_db_t* db, const canopy_visible_request_t* request, char* out,
                        size_t size) {
  canopy_visible_page_t* page = NULL;
  OK(canopy_visible_list(db, request, &page, &err));
  PageKeys(page, out, size);
  CHECK_STR(canopy_visible_page_next_cursor(page), "");
  canopy_visible_page_destroy(page);
}

// ---- The tree used throughout -----------------------------------------------------
//
// acme (root; sub-account management on, attributes home_dashboard/address)
//   acme-a (management on, access default_on)
//     acme-a1
//   acme-b
// globex (root)
// Users: admin (account_admin on acme, branch), a (account_admin on acme-a,
// branch by default_on), b (viewer on acme-b), aud (custom auditor on acme-b).

typedef struct {
  canopy_db_t* db;
  uint64_t acme, acme_a, acme_a1, acme_b, globex;
  uint64_t admin, a, b, aud;
  uint64_t account_admin, viewer, device_manager, auditor;
} World;

static void TestVersions(void) {
  phase = "versions";
  CHECK_STR(canopy_version(), CANOPY_EXPECTED_VERSION);
  CHECK(canopy_storage_format_version() == 3);
  CHECK_STR(canopy_code_name(CANOPY_OK), "ok");
  CHECK_STR(canopy_code_name(CANOPY_NOT_FOUND), "not_found");
  CHECK_STR(canopy_code_name(CANOPY_PERMISSION_DENIED), "permission_denied");
  CHECK_STR(canopy_code_name(CANOPY_ABORTED), "aborted");
  CHECK_STR(canopy_code_name(CANOPY_COMPACTED), "compacted");
  CHECK_STR(canopy_code_name(-1), "unknown");
  CHECK_STR(canopy_code_name(CANOPY_UNAVAILABLE), "unavailable");
  CHECK_STR(canopy_code_name(13), "unknown");
  canopy_free(NULL);
}

static canopy_db_t* TestOpen(const char* path) {
  phase = "open";
  canopy_options_t* options = canopy_options_create();
  CHECK(options != NULL);
  OK(canopy_options_set_create_if_missing(options, 1, &err));
  OK(canopy_options_set_error_if_exists(options, 0, &err));
  OK(canopy_options_set_max_depth(options, 8, &err));
  OK(canopy_options_set_sync(options, 0, &err));  // a test: no fsync per mutation
  OK(canopy_options_set_block_cache_bytes(options, (size_t)8 << 20, &err));
  OK(canopy_options_set_cursor_ttl_seconds(options, 60, &err));
  OK(canopy_options_set_max_open_cursors(options, 16, &err));
  OK(canopy_options_set_log_retention_count(options, 0, &err));  // keep every entry
  OK(canopy_options_set_log_retention_seconds(options, 0, &err));
  // Every setter refuses a NULL handle, naming it (no setter ignores one
  // silently); so does the prefix a NULL string. destroy accepts NULL.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_options_set_read_only: argument 'options' is NULL",
             canopy_options_set_read_only(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'",
             canopy_options_set_etcd_endpoints(NULL, "http://127.0.0.1:1", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'",
             canopy_options_set_replication_prefix(NULL, "p", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'prefix'",
             canopy_options_set_replication_prefix(options, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_checkpoint_dir(NULL, "d", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_checkpoint_every(NULL, 1, &err));
  // Without errmsg the code still comes back.
  CHECK(canopy_options_set_sync(NULL, 1, NULL) == CANOPY_INVALID_ARGUMENT);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_create_if_missing(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_error_if_exists(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_max_depth(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_sync(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_block_cache_bytes(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_cursor_ttl_seconds(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_max_open_cursors(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_log_retention_count(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_log_retention_seconds(NULL, 1, &err));
  canopy_options_destroy(NULL);

  canopy_db_t* db = (canopy_db_t*)1;  // cleared by the failing call
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'path'", canopy_db_open(options, NULL, &db, &err));
  CHECK(db == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_db_open(options, path, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_open(options, "", &db, &err));
  // Without errmsg the code still comes back.
  CHECK(canopy_db_open(options, NULL, &db, NULL) == CANOPY_INVALID_ARGUMENT);

  canopy_options_t* bad = canopy_options_create();
  OK(canopy_options_set_max_depth(bad, 0, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "max_depth", canopy_db_open(bad, path, &db, &err));
  OK(canopy_options_set_max_depth(bad, 8, &err));
  OK(canopy_options_set_max_open_cursors(bad, 0, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_open(bad, path, &db, &err));
  OK(canopy_options_set_max_open_cursors(bad, 16, &err));
  OK(canopy_options_set_create_if_missing(bad, 0, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_db_open(bad, path, &db, &err));
  CHECK(db == NULL);
  canopy_options_destroy(bad);

  OK(canopy_db_open(options, path, &db, &err));
  CHECK(db != NULL);
  // The folder is locked while open.
  canopy_db_t* second = NULL;
  FAILS(CANOPY_IO_ERROR, canopy_db_open(options, path, &second, &err));
  CHECK(second == NULL);
  canopy_options_destroy(options);
  OK(canopy_db_close(NULL, &err));
  return db;
}

static void TestAttributes(void) {
  phase = "attributes";
  canopy_attributes_t* attrs = canopy_attributes_create();
  CHECK(attrs != NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'attributes'", canopy_attributes_set(NULL, "k", "v", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'name'", canopy_attributes_set(attrs, NULL, "v", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'value'", canopy_attributes_set(attrs, "k", NULL, &err));
  OK(canopy_attributes_set(attrs, "zeta", "1", &err));
  OK(canopy_attributes_set(attrs, "alpha", "2", &err));
  OK(canopy_attributes_set(attrs, "zeta", "3", &err));  // replaces
  CHECK(canopy_attributes_count(attrs) == 2);
  CHECK_STR(canopy_attributes_name(attrs, 0), "alpha");  // sorted by name
  CHECK_STR(canopy_attributes_value(attrs, 0), "2");
  CHECK_STR(canopy_attributes_name(attrs, 1), "zeta");
  CHECK_STR(canopy_attributes_value(attrs, 1), "3");
  CHECK(canopy_attributes_name(attrs, 2) == NULL);
  CHECK(canopy_attributes_value(attrs, 2) == NULL);
  CHECK_STR(canopy_attributes_get(attrs, "zeta"), "3");
  CHECK(canopy_attributes_get(attrs, "missing") == NULL);
  CHECK(canopy_attributes_get(attrs, NULL) == NULL);
  CHECK(canopy_attributes_get(NULL, "zeta") == NULL);
  CHECK(canopy_attributes_count(NULL) == 0);
  canopy_attributes_destroy(attrs);
  canopy_attributes_destroy(NULL);
}

static void TestAccounts(World* w) {
  phase = "accounts";
  canopy_db_t* db = w->db;
  canopy_attributes_t* attrs = canopy_attributes_create();
  OK(canopy_attributes_set(attrs, "home_dashboard", "fleet", &err));
  OK(canopy_attributes_set(attrs, "address", "1 Main St", &err));

  uint64_t id = 7;
  OK(CreateAccount(db, CANOPY_SYSTEM_ACTOR, "acme", "ACME Corp", CANOPY_NO_ID, attrs, 1,
                   CANOPY_ACCESS_DEFAULT_OFF, &w->acme, &err));
  CHECK(w->acme != CANOPY_NO_ID);
  OK(CreateAccount(db, CANOPY_SYSTEM_ACTOR, "acme-a", "Nested customer A", w->acme, NULL, 1,
                   CANOPY_ACCESS_DEFAULT_ON, &w->acme_a, &err));
  OK(CreateAccount(db, CANOPY_SYSTEM_ACTOR, "acme-a1", "Sub-account A1", w->acme_a, NULL, 0,
                   CANOPY_ACCESS_DEFAULT_OFF, &w->acme_a1, &err));
  OK(CreateAccount(db, CANOPY_SYSTEM_ACTOR, "acme-b", "Nested customer B", w->acme, NULL, 0,
                   CANOPY_ACCESS_DEFAULT_OFF, &w->acme_b, &err));
  // The id out-parameter is optional.
  OK(CreateAccount(db, CANOPY_SYSTEM_ACTOR, "globex", "Globex", CANOPY_NO_ID, NULL, 1,
                   CANOPY_ACCESS_DEFAULT_OFF, NULL, &err));
  w->globex = AccountId(db, "globex");

  // Refusals: NULL arguments, bad input, duplicates, unknown parents.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'",
             CreateAccount(NULL, 0, "x", "X", 0, NULL, 0, 0, &id, &err));
  CHECK(id == CANOPY_NO_ID);  // cleared on entry
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'key'",
             CreateAccount(db, 0, NULL, "X", 0, NULL, 0, 0, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'name'",
             CreateAccount(db, 0, "x", NULL, 0, NULL, 0, 0, &id, &err));
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "acme",
             CreateAccount(db, 0, "acme", "Again", 0, NULL, 0, 0, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "UTF-8",
             CreateAccount(db, 0, "bad-utf8", "Caf\xC3 name", 0, NULL, 0, 0, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "UTF-8",
             CreateAccount(db, 0, "\xFF\xFE", "Name", 0, NULL, 0, 0, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, CreateAccount(db, 0, "", "Empty key", 0, NULL, 0, 0, &id, &err));
  char long_name[300];
  memset(long_name, 'n', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  FAILS(CANOPY_INVALID_ARGUMENT, CreateAccount(db, 0, "long", long_name, 0, NULL, 0, 0, &id, &err));
  FAILS(CANOPY_NOT_FOUND, CreateAccount(db, 0, "orphan", "Orphan", 9999, NULL, 0, 0, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "sub-account access",
             CreateAccount(db, 0, "x", "X", 0, NULL, 0, 7, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, CreateAccount(db, 0, "x", "X", 0, NULL, 0, -1, &id, &err));
  CHECK(RootCount(db) == 2);

  // get / find and every accessor of an account.
  canopy_account_t* a = (canopy_account_t*)1;
  OK(canopy_account_get(db, w->acme, &a, &err));
  CHECK(canopy_account_id(a) == w->acme);
  CHECK_STR(canopy_account_key(a), "acme");
  CHECK_STR(canopy_account_name(a), "ACME Corp");
  CHECK(canopy_account_parent(a) == CANOPY_NO_ID);
  CHECK(canopy_account_depth(a) == 1);
  CHECK(canopy_account_created_us(a) > 0);
  CHECK(canopy_account_updated_us(a) >= canopy_account_created_us(a));
  CHECK(canopy_account_sub_account_management(a) == 1);
  CHECK(canopy_account_sub_account_access(a) == CANOPY_ACCESS_DEFAULT_OFF);
  const canopy_attributes_t* got = canopy_account_attributes(a);
  CHECK(canopy_attributes_count(got) == 2);
  CHECK_STR(canopy_attributes_get(got, "home_dashboard"), "fleet");
  canopy_account_destroy(a);
  canopy_account_destroy(NULL);

  OK(canopy_account_find(db, "acme-a", &a, &err));
  CHECK(canopy_account_id(a) == w->acme_a);
  CHECK(canopy_account_parent(a) == w->acme);
  CHECK(canopy_account_depth(a) == 2);
  CHECK(canopy_account_sub_account_access(a) == CANOPY_ACCESS_DEFAULT_ON);
  CHECK(canopy_attributes_count(canopy_account_attributes(a)) == 0);
  canopy_account_destroy(a);

  a = (canopy_account_t*)1;
  FAILS_WITH(CANOPY_NOT_FOUND, "4242", canopy_account_get(db, 4242, &a, &err));
  CHECK(a == NULL);
  FAILS(CANOPY_NOT_FOUND, canopy_account_get(db, CANOPY_NO_ID, &a, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'account'", canopy_account_get(db, w->acme, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_account_get(NULL, w->acme, &a, &err));
  FAILS_WITH(CANOPY_NOT_FOUND, "nope", canopy_account_find(db, "nope", &a, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'key'", canopy_account_find(db, NULL, &a, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'account'", canopy_account_find(db, "acme", NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_find(NULL, "acme", &a, &err));

  // update: name and attributes; NULL keeps.
  canopy_attributes_t* new_attrs = canopy_attributes_create();
  OK(canopy_attributes_set(new_attrs, "tier", "gold", &err));
  OK(UpdateAccount(db, CANOPY_SYSTEM_ACTOR, w->acme_b, "Customer B", new_attrs, &err));
  OK(UpdateAccount(db, CANOPY_SYSTEM_ACTOR, w->acme_b, NULL, NULL, &err));
  OK(canopy_account_get(db, w->acme_b, &a, &err));
  CHECK_STR(canopy_account_name(a), "Customer B");
  CHECK(canopy_attributes_count(canopy_account_attributes(a)) == 1);
  CHECK_STR(canopy_attributes_get(canopy_account_attributes(a), "tier"), "gold");
  canopy_account_destroy(a);
  OK(UpdateAccount(db, CANOPY_SYSTEM_ACTOR, w->acme_b, "Nested customer B", NULL, &err));
  FAILS(CANOPY_NOT_FOUND, UpdateAccount(db, 0, 4242, "X", NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, UpdateAccount(db, 0, w->acme_b, "\xC0\xAF", NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, UpdateAccount(db, 0, w->acme_b, "", NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", UpdateAccount(NULL, 0, w->acme_b, "X", NULL, &err));
  canopy_attributes_destroy(new_attrs);

  // Settings.
  OK(canopy_account_set_sub_account_management(db, 0, w->acme_b, 1, &err));
  OK(canopy_account_get(db, w->acme_b, &a, &err));
  CHECK(canopy_account_sub_account_management(a) == 1);
  canopy_account_destroy(a);
  OK(canopy_account_set_sub_account_management(db, 0, w->acme_b, 0, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_set_sub_account_management(db, 0, 4242, 1, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_set_sub_account_management(NULL, 0, 1, 1, &err));
  OK(canopy_account_set_sub_account_access(db, 0, w->acme_a1, CANOPY_ACCESS_DEFAULT_ON, &err));
  OK(canopy_account_get(db, w->acme_a1, &a, &err));
  CHECK(canopy_account_sub_account_access(a) == CANOPY_ACCESS_DEFAULT_ON);
  canopy_account_destroy(a);
  OK(canopy_account_set_sub_account_access(db, 0, w->acme_a1, CANOPY_ACCESS_DEFAULT_OFF, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_set_sub_account_access(db, 0, w->acme_a1, 3, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_set_sub_account_access(db, 0, 4242, 0, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_set_sub_account_access(NULL, 0, 1, 0, &err));

  // Ancestors, descendants, roots.
  canopy_accounts_t* list = (canopy_accounts_t*)1;
  OK(canopy_account_ancestors(db, w->acme_a1, &list, &err));
  CHECK(canopy_accounts_count(list) == 2);
  CHECK_STR(canopy_account_key(canopy_accounts_at(list, 0)), "acme");
  CHECK_STR(canopy_account_key(canopy_accounts_at(list, 1)), "acme-a");
  CHECK(canopy_accounts_at(list, 2) == NULL);
  canopy_accounts_destroy(list);
  canopy_accounts_destroy(NULL);
  OK(canopy_account_ancestors(db, w->acme, &list, &err));
  CHECK(canopy_accounts_count(list) == 0);
  canopy_accounts_destroy(list);
  list = (canopy_accounts_t*)1;
  FAILS(CANOPY_NOT_FOUND, canopy_account_ancestors(db, 4242, &list, &err));
  CHECK(list == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'accounts'", canopy_account_ancestors(db, 1, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_ancestors(NULL, 1, &list, &err));

  OK(canopy_account_descendants(db, w->acme, 0, &list, &err));
  CHECK(canopy_accounts_count(list) == 3);
  CHECK_STR(canopy_account_key(canopy_accounts_at(list, 0)), "acme-a");  // tree order
  CHECK_STR(canopy_account_key(canopy_accounts_at(list, 1)), "acme-a1");
  CHECK_STR(canopy_account_key(canopy_accounts_at(list, 2)), "acme-b");
  canopy_accounts_destroy(list);
  OK(canopy_account_descendants(db, w->acme, 1, &list, &err));
  CHECK(canopy_accounts_count(list) == 2);
  canopy_accounts_destroy(list);
  FAILS(CANOPY_NOT_FOUND, canopy_account_descendants(db, 4242, 0, &list, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'accounts'",
             canopy_account_descendants(db, w->acme, 0, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_descendants(NULL, w->acme, 0, &list, &err));

  uint64_t* roots = NULL;
  size_t n = 99;
  OK(canopy_account_roots(db, &roots, &n, &err));
  CHECK(n == 2 && roots[0] == w->acme && roots[1] == w->globex);
  canopy_free(roots);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'ids'", canopy_account_roots(db, NULL, &n, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'count'", canopy_account_roots(db, &roots, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_roots(NULL, &roots, &n, &err));

  // Moves: there and back; cycles, roots and unknown ids are refused.
  OK(canopy_account_move(db, 0, w->acme_a1, w->acme_b, &err));
  OK(canopy_account_get(db, w->acme_a1, &a, &err));
  CHECK(canopy_account_parent(a) == w->acme_b);
  canopy_account_destroy(a);
  OK(canopy_account_move(db, 0, w->acme_a1, w->acme_a, &err));
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "cycle",
             canopy_account_move(db, 0, w->acme_a, w->acme_a1, &err));
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "root",
             canopy_account_move(db, 0, w->acme, w->globex, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_move(db, 0, 4242, w->acme, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_move(db, 0, w->acme_a1, 4242, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_move(NULL, 0, w->acme_a1, w->acme, &err));
  canopy_attributes_destroy(attrs);
}

static void TestRolesUsersMemberships(World* w) {
  phase = "roles";
  canopy_db_t* db = w->db;
  canopy_roles_t* roles = NULL;
  OK(canopy_role_list(db, CANOPY_NO_ID, &roles, &err));
  CHECK(canopy_roles_count(roles) == 3);  // account_admin, device_manager, viewer
  for (size_t i = 0; i < canopy_roles_count(roles); ++i) {
    CHECK(canopy_role_builtin(canopy_roles_at(roles, i)) == 1);
  }
  CHECK(canopy_roles_at(roles, 3) == NULL);
  canopy_roles_destroy(roles);
  canopy_roles_destroy(NULL);
  FAILS(CANOPY_NOT_FOUND, canopy_role_list(db, 4242, &roles, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'roles'", canopy_role_list(db, 0, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_role_list(NULL, 0, &roles, &err));

  w->account_admin = RoleId(db, w->acme, "account_admin");
  w->viewer = RoleId(db, w->acme, "viewer");
  w->device_manager = RoleId(db, CANOPY_NO_ID, "device_manager");
  canopy_role_t* role = NULL;
  OK(canopy_role_get(db, w->account_admin, &role, &err));
  CHECK_STR(canopy_role_name(role), "account_admin");
  CHECK(canopy_role_id(role) == w->account_admin);
  CHECK(canopy_role_tenant(role) == CANOPY_NO_ID);
  CHECK(canopy_role_builtin(role) == 1);
  CHECK(canopy_role_permission_count(role) > 10);
  CHECK(canopy_role_permission(role, 0) != NULL);
  CHECK(canopy_role_permission(role, canopy_role_permission_count(role)) == NULL);
  canopy_role_destroy(role);
  canopy_role_destroy(NULL);
  role = (canopy_role_t*)1;
  FAILS(CANOPY_NOT_FOUND, canopy_role_get(db, 4242, &role, &err));
  CHECK(role == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'role'", canopy_role_get(db, 1, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_role_get(NULL, 1, &role, &err));
  FAILS_WITH(CANOPY_NOT_FOUND, "auditor", canopy_role_find(db, w->acme, "auditor", &role, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'name'", canopy_role_find(db, w->acme, NULL, &role, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'role'",
             canopy_role_find(db, w->acme, "viewer", NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_role_find(NULL, w->acme, "viewer", &role, &err));

  // A custom role; Frontegg names are accepted and stored as Canopy's.
  const char* perms[] = {"device.read", "fe.account-hierarchy.read.subAccount"};
  OK(canopy_role_create(db, 0, w->acme, "auditor", perms, 2, &w->auditor, &err));
  OK(canopy_role_get(db, w->auditor, &role, &err));
  CHECK(canopy_role_tenant(role) == w->acme);
  CHECK(canopy_role_builtin(role) == 0);
  CHECK(canopy_role_permission_count(role) == 2);
  CHECK_STR(canopy_role_permission(role, 0), "account.read");  // canonical order
  CHECK_STR(canopy_role_permission(role, 1), "device.read");
  canopy_role_destroy(role);
  uint64_t id = 7;
  const char* unknown_perm[] = {"device.fly"};
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "device.fly",
             canopy_role_create(db, 0, w->acme, "pilot", unknown_perm, 1, &id, &err));
  CHECK(id == CANOPY_NO_ID);
  const char* with_null[] = {"device.read", NULL};
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'permissions[1]'",
             canopy_role_create(db, 0, w->acme, "pilot", with_null, 2, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'permissions'",
             canopy_role_create(db, 0, w->acme, "pilot", NULL, 2, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'name'",
             canopy_role_create(db, 0, w->acme, NULL, perms, 1, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_role_create(NULL, 0, w->acme, "pilot", perms, 1, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_role_create(db, 0, w->acme_a, "pilot", perms, 1, &id, &err));  // not a root
  FAILS(CANOPY_ALREADY_EXISTS, canopy_role_create(db, 0, w->acme, "auditor", perms, 1, &id, &err));
  FAILS(CANOPY_ALREADY_EXISTS, canopy_role_create(db, 0, w->acme, "viewer", perms, 1, &id, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_role_create(db, 0, 4242, "pilot", perms, 1, &id, &err));
  // No permissions at all is a valid (empty) role.
  uint64_t empty_role = 0;
  OK(canopy_role_create(db, 0, w->acme, "nobody", NULL, 0, &empty_role, &err));

  OK(canopy_role_update(db, 0, w->auditor, perms, 1, &err));
  OK(canopy_role_get(db, w->auditor, &role, &err));
  CHECK(canopy_role_permission_count(role) == 1);
  canopy_role_destroy(role);
  OK(canopy_role_update(db, 0, w->auditor, perms, 2, &err));
  FAILS(CANOPY_FAILED_PRECONDITION, canopy_role_update(db, 0, w->viewer, perms, 1, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_role_update(db, 0, 4242, perms, 1, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_role_update(db, 0, w->auditor, unknown_perm, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'permissions'",
             canopy_role_update(db, 0, w->auditor, NULL, 1, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_role_update(NULL, 0, w->auditor, perms, 1, &err));
  OK(canopy_role_list(db, w->acme_a, &roles, &err));  // any account of the tenant
  CHECK(canopy_roles_count(roles) == 5);
  canopy_roles_destroy(roles);
  OK(canopy_role_delete(db, 0, empty_role, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_role_delete(db, 0, empty_role, &err));
  FAILS(CANOPY_FAILED_PRECONDITION, canopy_role_delete(db, 0, w->viewer, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_role_delete(NULL, 0, w->auditor, &err));

  phase = "users";
  OK(CreateUser(db, 0, "admin@acme.example", "Admin", w->acme, &w->admin, &err));
  OK(CreateUser(db, 0, "a@acme.example", "User A", w->acme_a, &w->a, &err));
  OK(CreateUser(db, 0, "b@acme.example", "User B", w->acme_b, &w->b, &err));
  OK(CreateUser(db, 0, "aud@acme.example", "Auditor", w->acme, &w->aud, &err));
  FAILS(CANOPY_ALREADY_EXISTS, CreateUser(db, 0, "a@acme.example", "Again", w->acme, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        CreateUser(db, 0, "\xED\xA0\x80@x", "Surrogate", w->acme, &id, &err));
  FAILS(CANOPY_NOT_FOUND, CreateUser(db, 0, "c@acme.example", "C", 4242, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'login'", CreateUser(db, 0, NULL, "C", w->acme, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'name'",
             CreateUser(db, 0, "c@acme.example", NULL, w->acme, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, CreateUser(NULL, 0, "c", "C", w->acme, &id, &err));
  // An unknown actor is not a user.
  FAILS_WITH(CANOPY_NOT_FOUND, "actor",
             CreateUser(db, 4242, "c@acme.example", "C", w->acme, &id, &err));

  canopy_user_t* user = NULL;
  OK(canopy_user_get(db, w->a, &user, &err));
  CHECK(canopy_user_id(user) == w->a);
  CHECK_STR(canopy_user_login(user), "a@acme.example");
  CHECK_STR(canopy_user_name(user), "User A");
  CHECK(canopy_user_account(user) == w->acme_a);
  CHECK(canopy_user_disabled(user) == 0);
  CHECK(canopy_user_created_us(user) > 0);
  CHECK(canopy_user_updated_us(user) >= canopy_user_created_us(user));
  canopy_user_destroy(user);
  canopy_user_destroy(NULL);
  OK(canopy_user_find(db, "b@acme.example", &user, &err));
  CHECK(canopy_user_id(user) == w->b);
  canopy_user_destroy(user);
  user = (canopy_user_t*)1;
  FAILS(CANOPY_NOT_FOUND, canopy_user_get(db, 4242, &user, &err));
  CHECK(user == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'user'", canopy_user_get(db, w->a, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_user_get(NULL, w->a, &user, &err));
  FAILS_WITH(CANOPY_NOT_FOUND, "z@acme.example",
             canopy_user_find(db, "z@acme.example", &user, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'login'", canopy_user_find(db, NULL, &user, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'user'", canopy_user_find(db, "a@acme.example", NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_user_find(NULL, "a@acme.example", &user, &err));

  canopy_users_t* users = NULL;
  OK(canopy_user_list(db, w->acme, &users, &err));
  CHECK(canopy_users_count(users) == 2);
  CHECK_STR(canopy_user_login(canopy_users_at(users, 0)), "admin@acme.example");
  CHECK_STR(canopy_user_login(canopy_users_at(users, 1)), "aud@acme.example");
  CHECK(canopy_users_at(users, 2) == NULL);
  canopy_users_destroy(users);
  canopy_users_destroy(NULL);
  FAILS(CANOPY_NOT_FOUND, canopy_user_list(db, 4242, &users, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'users'", canopy_user_list(db, w->acme, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_user_list(NULL, w->acme, &users, &err));

  OK(UpdateUser(db, 0, w->b, "User Bee", &err));
  OK(UpdateUser(db, 0, w->b, NULL, &err));  // nothing to change
  OK(canopy_user_find(db, "b@acme.example", &user, &err));
  CHECK_STR(canopy_user_name(user), "User Bee");
  canopy_user_destroy(user);
  FAILS(CANOPY_NOT_FOUND, UpdateUser(db, 0, 4242, "X", &err));
  FAILS(CANOPY_INVALID_ARGUMENT, UpdateUser(db, 0, w->b, "\xFF", &err));
  FAILS(CANOPY_INVALID_ARGUMENT, UpdateUser(NULL, 0, w->b, "X", &err));

  phase = "memberships";
  OK(canopy_membership_invite(db, 0, w->admin, w->acme, w->account_admin, 1, &err));
  OK(canopy_membership_invite(db, 0, w->a, w->acme_a, w->account_admin, CANOPY_BRANCH_DEFAULT,
                              &err));
  OK(canopy_membership_invite(db, 0, w->b, w->acme_b, w->viewer, 0, &err));
  OK(canopy_membership_invite(db, 0, w->aud, w->acme_b, w->auditor, 0, &err));
  FAILS(CANOPY_ALREADY_EXISTS,
        canopy_membership_invite(db, 0, w->b, w->acme_b, w->viewer, 0, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "branch",
             canopy_membership_invite(db, 0, w->b, w->acme_a, w->viewer, 5, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_membership_invite(db, 0, w->b, w->acme_a, 4242, 0, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_membership_invite(db, 0, 4242, w->acme_a, w->viewer, 0, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_membership_invite(db, 0, w->b, 4242, w->viewer, 0, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_membership_invite(NULL, 0, w->b, w->acme_a, w->viewer, 0, &err));
  // The custom role of acme cannot be used in globex's tree.
  uint64_t g = 0;
  OK(CreateUser(db, 0, "g@globex.example", "G", w->globex, &g, &err));
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "tenant",
             canopy_membership_invite(db, 0, g, w->globex, w->auditor, 0, &err));
  // Top-down only: a user of acme-a can hold nothing on acme.
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "top-down",
             canopy_membership_invite(db, 0, w->a, w->acme, w->viewer, 0, &err));
  // No escalation: a viewer cannot invite anyone.
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "user.invite",
             canopy_membership_invite(db, w->b, w->aud, w->acme_b, w->viewer, 0, &err));

  canopy_memberships_t* ms = NULL;
  OK(canopy_membership_list_by_user(db, w->a, &ms, &err));
  CHECK(canopy_memberships_count(ms) == 1);
  CHECK(canopy_memberships_user(ms, 0) == w->a);
  CHECK(canopy_memberships_account(ms, 0) == w->acme_a);
  CHECK(canopy_memberships_role(ms, 0) == w->account_admin);
  CHECK(canopy_memberships_branch(ms, 0) == 1);  // acme-a is default_on
  CHECK(canopy_memberships_created_us(ms, 0) > 0);
  CHECK(canopy_memberships_user(ms, 1) == 0);
  CHECK(canopy_memberships_account(ms, 1) == 0);
  CHECK(canopy_memberships_role(ms, 1) == 0);
  CHECK(canopy_memberships_branch(ms, 1) == 0);
  CHECK(canopy_memberships_created_us(ms, 1) == 0);
  canopy_memberships_destroy(ms);
  canopy_memberships_destroy(NULL);
  OK(canopy_membership_list_by_account(db, w->acme_b, &ms, &err));
  CHECK(canopy_memberships_count(ms) == 2);
  canopy_memberships_destroy(ms);
  ms = (canopy_memberships_t*)1;
  FAILS(CANOPY_NOT_FOUND, canopy_membership_list_by_user(db, 4242, &ms, &err));
  CHECK(ms == NULL);
  FAILS(CANOPY_NOT_FOUND, canopy_membership_list_by_account(db, 4242, &ms, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'memberships'",
             canopy_membership_list_by_user(db, w->a, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'memberships'",
             canopy_membership_list_by_account(db, w->acme, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_membership_list_by_user(NULL, w->a, &ms, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_membership_list_by_account(NULL, w->acme, &ms, &err));

  // Change role, branch access, removal; with the admin as actor.
  OK(canopy_membership_change_role(db, w->admin, w->b, w->acme_b, w->device_manager, &err));
  OK(canopy_membership_list_by_user(db, w->b, &ms, &err));
  CHECK(canopy_memberships_role(ms, 0) == w->device_manager);
  CHECK(canopy_memberships_branch(ms, 0) == 0);
  canopy_memberships_destroy(ms);
  FAILS(CANOPY_NOT_FOUND,
        canopy_membership_change_role(db, w->admin, w->b, w->acme_a, w->viewer, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_membership_change_role(db, w->admin, w->b, w->acme_b, 4242, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_membership_change_role(NULL, w->admin, w->b, w->acme_b, w->viewer, &err));
  OK(canopy_membership_set_branch(db, w->admin, w->b, w->acme_b, 1, &err));
  OK(canopy_membership_list_by_user(db, w->b, &ms, &err));
  CHECK(canopy_memberships_branch(ms, 0) == 1);
  canopy_memberships_destroy(ms);
  OK(canopy_membership_set_branch(db, w->admin, w->b, w->acme_b, 0, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_membership_set_branch(db, w->admin, w->b, w->acme, 1, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_membership_set_branch(NULL, 0, w->b, w->acme_b, 1, &err));
  // always_on: branch access cannot be revoked.
  OK(canopy_account_set_sub_account_access(db, 0, w->acme_a1, CANOPY_ACCESS_ALWAYS_ON, &err));
  OK(canopy_membership_invite(db, 0, w->a, w->acme_a1, w->viewer, CANOPY_BRANCH_DEFAULT, &err));
  OK(canopy_membership_list_by_account(db, w->acme_a1, &ms, &err));
  CHECK(canopy_memberships_count(ms) == 1 && canopy_memberships_branch(ms, 0) == 1);
  canopy_memberships_destroy(ms);
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "always_on",
             canopy_membership_set_branch(db, 0, w->a, w->acme_a1, 0, &err));
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "always_on",
             canopy_membership_invite(db, 0, w->aud, w->acme_a1, w->viewer, 0, &err));
  OK(canopy_membership_remove(db, w->admin, w->a, w->acme_a1, &err));
  OK(canopy_account_set_sub_account_access(db, 0, w->acme_a1, CANOPY_ACCESS_DEFAULT_OFF, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_membership_remove(db, w->admin, w->a, w->acme_a1, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_membership_remove(NULL, 0, w->b, w->acme_b, &err));

  // Roles in use are kept; users are disabled and removed.
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "auditor", canopy_role_delete(db, 0, w->auditor, &err));
  uint64_t temp = 0;
  OK(CreateUser(db, 0, "temp@acme.example", "Temp", w->acme_b, &temp, &err));
  OK(canopy_membership_invite(db, 0, temp, w->acme_b, w->auditor, 0, &err));
  OK(canopy_user_set_disabled(db, w->admin, temp, 1, &err));
  OK(canopy_user_get(db, temp, &user, &err));
  CHECK(canopy_user_disabled(user) == 1);
  canopy_user_destroy(user);
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "disabled", UpdateUser(db, temp, temp, "Self", &err));
  FAILS(CANOPY_NOT_FOUND, canopy_user_set_disabled(db, 0, 4242, 1, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_user_set_disabled(NULL, 0, temp, 1, &err));
  OK(canopy_user_remove(db, w->admin, temp, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_user_get(db, temp, &user, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_user_remove(db, 0, temp, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_user_remove(NULL, 0, temp, &err));
  OK(canopy_membership_list_by_account(db, w->acme_b, &ms, &err));
  CHECK(canopy_memberships_count(ms) == 2);  // b and aud; temp's went with it
  canopy_memberships_destroy(ms);

  // Top-down only: a's admin role on acme-a gives nothing on acme, which it
  // does not even see (it looks missing).
  FAILS_WITH(CANOPY_NOT_FOUND, "parent: no account with id",
             CreateAccount(db, w->a, "acme-c", "C", w->acme, NULL, 0, 0, &id, &err));
  OK(CreateAccount(db, w->a, "acme-a2", "Sub-account A2", w->acme_a, NULL, 0, 0, &id, &err));
  FAILS(CANOPY_PERMISSION_DENIED,
        CreateAccount(db, w->b, "acme-b1", "B1", w->acme_b, NULL, 0, 0, &id, &err));
  // What lies out of a's sight (acme, acme-b and their users and roles) looks
  // missing to it: NotFound, as for an unknown id.
  FAILS(CANOPY_NOT_FOUND, UpdateAccount(db, w->a, w->acme, "Mine now", NULL, &err));
  FAILS(CANOPY_NOT_FOUND,
        canopy_account_set_sub_account_management(db, w->a, w->acme_b, 1, &err));
  FAILS(CANOPY_NOT_FOUND,
        canopy_account_set_sub_account_access(db, w->a, w->acme_b, 1, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_move(db, w->a, w->acme_a1, w->acme_b, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_delete(db, w->a, w->acme_b, 0, &err));
  FAILS(CANOPY_NOT_FOUND,
        canopy_role_create(db, w->a, w->acme, "mine", perms, 1, &id, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_role_update(db, w->a, w->auditor, perms, 1, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_role_delete(db, w->a, w->auditor, &err));
  FAILS(CANOPY_NOT_FOUND, CreateUser(db, w->a, "x@acme.example", "X", w->acme, &id, &err));
  FAILS(CANOPY_NOT_FOUND, UpdateUser(db, w->a, w->admin, "X", &err));
  FAILS(CANOPY_NOT_FOUND, canopy_user_set_disabled(db, w->a, w->admin, 1, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_user_remove(db, w->a, w->admin, &err));
  FAILS(CANOPY_NOT_FOUND,
        canopy_membership_change_role(db, w->a, w->b, w->acme_b, w->viewer, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_membership_set_branch(db, w->a, w->b, w->acme_b, 1, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_membership_remove(db, w->a, w->b, w->acme_b, &err));
}

static void TestEntities(World* w) {
  phase = "entities";
  canopy_db_t* db = w->db;
  canopy_attributes_t* vin = canopy_attributes_create();
  OK(canopy_attributes_set(vin, "vin", "V1", &err));
  uint64_t id = 7, dev_a1 = 0;
  OK(CreateEntity(db, 0, CANOPY_KIND_DEVICE, "dev-c1", "U-0001", "Van 1", "tracker", w->acme, NULL,
                  &id, &err));
  OK(CreateEntity(db, w->a, CANOPY_KIND_DEVICE, "dev-a1", "U-0101", "Truck A1", "tracker",
                  w->acme_a, vin, &dev_a1, &err));
  OK(CreateEntity(db, w->a, CANOPY_KIND_DEVICE, "dev-a2", "U-0102", "Camera A2", "camera",
                  w->acme_a, NULL, &id, &err));
  OK(CreateEntity(db, w->a, CANOPY_KIND_DEVICE, "dev-a11", "U-1101", "Truck A11", "tracker",
                  w->acme_a1, NULL, &id, &err));
  OK(CreateEntity(db, 0, CANOPY_KIND_DEVICE, "dev-b1", "U-0201", "Bus B1", "tracker", w->acme_b,
                  NULL, NULL, &err));
  OK(CreateEntity(db, 0, CANOPY_KIND_ASSET, "site-7", NULL, "Depot", NULL, w->acme_a, NULL, &id,
                  &err));

  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "unit id",
             CreateEntity(db, 0, CANOPY_KIND_ASSET, "site-8", "U-9", "Yard", "", w->acme, NULL, &id,
                          &err));
  CHECK(id == CANOPY_NO_ID);
  FAILS(CANOPY_ALREADY_EXISTS, CreateEntity(db, 0, CANOPY_KIND_DEVICE, "dev-a1", NULL, "Dup", NULL,
                                            w->acme, NULL, &id, &err));
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "U-0101",
             CreateEntity(db, 0, CANOPY_KIND_DEVICE, "dev-x", "U-0101", "Dup unit", NULL, w->acme,
                          NULL, &id, &err));
  FAILS(CANOPY_NOT_FOUND,
        CreateEntity(db, 0, CANOPY_KIND_DEVICE, "dev-x", NULL, "X", NULL, 4242, NULL, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "entity kind",
             CreateEntity(db, 0, 0, "dev-x", NULL, "X", NULL, w->acme, NULL, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        CreateEntity(db, 0, 9, "dev-x", NULL, "X", NULL, w->acme, NULL, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "UTF-8",
             CreateEntity(db, 0, CANOPY_KIND_DEVICE, "dev-x", NULL, "\xE2\x82", NULL, w->acme, NULL,
                          &id, &err));
  FAILS_WITH(
      CANOPY_INVALID_ARGUMENT, "'key'",
      CreateEntity(db, 0, CANOPY_KIND_DEVICE, NULL, NULL, "X", NULL, w->acme, NULL, &id, &err));
  FAILS_WITH(
      CANOPY_INVALID_ARGUMENT, "'name'",
      CreateEntity(db, 0, CANOPY_KIND_DEVICE, "dev-x", NULL, NULL, NULL, w->acme, NULL, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, CreateEntity(NULL, 0, CANOPY_KIND_DEVICE, "dev-x", NULL, "X", NULL,
                                              w->acme, NULL, &id, &err));
  canopy_attributes_t* bad_attr = canopy_attributes_create();
  OK(canopy_attributes_set(bad_attr, "", "empty name", &err));
  FAILS(CANOPY_INVALID_ARGUMENT, CreateEntity(db, 0, CANOPY_KIND_DEVICE, "dev-x", NULL, "X", NULL,
                                              w->acme, bad_attr, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, CreateAccount(db, 0, "x", "X", 0, bad_attr, 0, 0, &id, &err));
  canopy_attributes_destroy(bad_attr);
  // acme is out of b's sight: it looks missing.
  FAILS_WITH(CANOPY_NOT_FOUND, "owner: no account with id",
             CreateEntity(db, w->b, CANOPY_KIND_DEVICE, "dev-x", NULL, "X", NULL, w->acme, NULL,
                          &id, &err));

  // get, find, find by unit id, and every accessor.
  canopy_entity_t* e = NULL;
  OK(canopy_entity_get(db, dev_a1, &e, &err));
  CHECK(canopy_entity_id(e) == dev_a1);
  CHECK(canopy_entity_kind(e) == CANOPY_KIND_DEVICE);
  CHECK_STR(canopy_entity_key(e), "dev-a1");
  CHECK_STR(canopy_entity_unit_id(e), "U-0101");
  CHECK_STR(canopy_entity_name(e), "Truck A1");
  CHECK_STR(canopy_entity_type(e), "tracker");
  CHECK(canopy_entity_owner(e) == w->acme_a);
  CHECK(canopy_entity_created_us(e) > 0);
  CHECK(canopy_entity_updated_us(e) >= canopy_entity_created_us(e));
  CHECK_STR(canopy_attributes_get(canopy_entity_attributes(e), "vin"), "V1");
  canopy_entity_destroy(e);
  canopy_entity_destroy(NULL);
  OK(canopy_entity_find(db, CANOPY_KIND_ASSET, "site-7", &e, &err));
  CHECK(canopy_entity_kind(e) == CANOPY_KIND_ASSET);
  CHECK_STR(canopy_entity_unit_id(e), "");
  CHECK_STR(canopy_entity_type(e), "");
  canopy_entity_destroy(e);
  OK(canopy_entity_find_by_unit_id(db, "U-0102", &e, &err));
  CHECK_STR(canopy_entity_key(e), "dev-a2");
  canopy_entity_destroy(e);
  e = (canopy_entity_t*)1;
  FAILS(CANOPY_NOT_FOUND, canopy_entity_get(db, 4242, &e, &err));
  CHECK(e == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entity'", canopy_entity_get(db, dev_a1, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_entity_get(NULL, dev_a1, &e, &err));
  // A device key is not an asset key.
  FAILS(CANOPY_NOT_FOUND, canopy_entity_find(db, CANOPY_KIND_ASSET, "dev-a1", &e, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_entity_find(db, 5, "dev-a1", &e, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'key'",
             canopy_entity_find(db, CANOPY_KIND_DEVICE, NULL, &e, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entity'",
             canopy_entity_find(db, CANOPY_KIND_DEVICE, "dev-a1", NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_entity_find(NULL, CANOPY_KIND_DEVICE, "dev-a1", &e, &err));
  FAILS_WITH(CANOPY_NOT_FOUND, "U-404", canopy_entity_find_by_unit_id(db, "U-404", &e, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'unit_id'",
             canopy_entity_find_by_unit_id(db, NULL, &e, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entity'",
             canopy_entity_find_by_unit_id(db, "U-0102", NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_entity_find_by_unit_id(NULL, "U-0102", &e, &err));

  // update: every field, NULL keeps, "" clears the type and the unit id.
  canopy_attributes_t* attrs2 = canopy_attributes_create();
  OK(canopy_attributes_set(attrs2, "vin", "V2", &err));
  OK(canopy_attributes_set(attrs2, "color", "red", &err));
  OK(UpdateEntity(db, w->a, dev_a1, "Truck A1 (new)", "truck", "U-0109", attrs2, &err));
  OK(UpdateEntity(db, w->a, dev_a1, NULL, NULL, NULL, NULL, &err));
  OK(canopy_entity_get(db, dev_a1, &e, &err));
  CHECK_STR(canopy_entity_name(e), "Truck A1 (new)");
  CHECK_STR(canopy_entity_type(e), "truck");
  CHECK_STR(canopy_entity_unit_id(e), "U-0109");
  CHECK(canopy_attributes_count(canopy_entity_attributes(e)) == 2);
  canopy_entity_destroy(e);
  FAILS(CANOPY_NOT_FOUND, canopy_entity_find_by_unit_id(db, "U-0101", &e, &err));
  OK(UpdateEntity(db, w->a, dev_a1, "Truck A1", "", "", vin, &err));
  OK(canopy_entity_get(db, dev_a1, &e, &err));
  CHECK_STR(canopy_entity_type(e), "");
  CHECK_STR(canopy_entity_unit_id(e), "");
  canopy_entity_destroy(e);
  OK(UpdateEntity(db, w->a, dev_a1, NULL, "tracker", "U-0101", NULL, &err));
  FAILS(CANOPY_ALREADY_EXISTS, UpdateEntity(db, w->a, dev_a1, NULL, NULL, "U-0102", NULL, &err));
  FAILS(CANOPY_NOT_FOUND, UpdateEntity(db, 0, 4242, "X", NULL, NULL, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        UpdateEntity(db, 0, dev_a1, "\xF5\x80\x80\x80", NULL, NULL, NULL, &err));
  FAILS_WITH(CANOPY_NOT_FOUND, "no entity with id",  // out of b's sight: looks missing
             UpdateEntity(db, w->b, dev_a1, "Mine", NULL, NULL, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, UpdateEntity(NULL, 0, dev_a1, "X", NULL, NULL, NULL, &err));
  canopy_attributes_destroy(attrs2);

  // delete
  uint64_t doomed = 0;
  OK(CreateEntity(db, 0, CANOPY_KIND_DASHBOARD, "dash-1", NULL, "Fleet", NULL, w->acme, NULL,
                  &doomed, &err));
  FAILS_WITH(CANOPY_NOT_FOUND, "no entity with id",  // out of a's sight: looks missing
             canopy_entity_delete(db, w->a, doomed, &err));
  OK(canopy_entity_delete(db, w->admin, doomed, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_entity_delete(db, 0, doomed, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_entity_delete(NULL, 0, doomed, &err));

  // Maintained counts.
  uint64_t direct = 99, subtree = 99;
  OK(canopy_account_count_owned(db, w->acme_a, CANOPY_KIND_DEVICE, &direct, &subtree, &err));
  CHECK(direct == 2 && subtree == 3);
  OK(canopy_account_count_owned(db, w->acme, CANOPY_KIND_DEVICE, &direct, &subtree, &err));
  CHECK(direct == 1 && subtree == 5);
  OK(canopy_account_count_owned(db, w->acme, CANOPY_KIND_ASSET, NULL, &subtree, &err));
  CHECK(subtree == 1);
  OK(canopy_account_count_owned(db, w->acme, CANOPY_KIND_DASHBOARD, &direct, NULL, &err));
  CHECK(direct == 0);
  FAILS(CANOPY_NOT_FOUND,
        canopy_account_count_owned(db, 4242, CANOPY_KIND_DEVICE, &direct, &subtree, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_account_count_owned(db, w->acme, 0, &direct, &subtree, &err));
  CHECK(direct == 0 && subtree == 0);
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_account_count_owned(NULL, w->acme, CANOPY_KIND_DEVICE, &direct, &subtree, &err));

  phase = "reassign";
  canopy_reassign_report_t* report = NULL;
  const char* both[] = {"dev-a1", "dev-a2"};
  OK(canopy_entity_reassign(db, w->admin, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, both, 2, w->acme_b,
                            &report, &err));
  CHECK(canopy_reassign_report_count(report) == 2);
  CHECK(canopy_reassign_report_total(report, CANOPY_OUTCOME_MOVED) == 2);
  CHECK(canopy_reassign_report_total(report, CANOPY_OUTCOME_UNCHANGED) == 0);
  CHECK(canopy_reassign_report_total(report, 42) == 0);
  CHECK_STR(canopy_reassign_report_ref(report, 0), "dev-a1");
  CHECK(canopy_reassign_report_outcome(report, 0) == CANOPY_OUTCOME_MOVED);
  CHECK(canopy_reassign_report_entity(report, 0) == dev_a1);
  CHECK(canopy_reassign_report_previous_owner(report, 0) == w->acme_a);
  CHECK_STR(canopy_reassign_report_message(report, 0), "");
  CHECK(canopy_reassign_report_outcome(report, 2) == -1);
  CHECK(canopy_reassign_report_ref(report, 2) == NULL);
  CHECK(canopy_reassign_report_entity(report, 2) == 0);
  CHECK(canopy_reassign_report_previous_owner(report, 2) == 0);
  CHECK(canopy_reassign_report_message(report, 2) == NULL);
  canopy_reassign_report_destroy(report);
  canopy_reassign_report_destroy(NULL);
  CHECK(AccountOwnerOf(db, "dev-a2") == w->acme_b);
  // Back by unit ids; the report is optional.
  const char* units[] = {"U-0101", "U-0102"};
  OK(canopy_entity_reassign(db, w->admin, CANOPY_KIND_DEVICE, CANOPY_REF_UNIT_ID, units, 2,
                            w->acme_a, NULL, &err));
  CHECK(AccountOwnerOf(db, "dev-a2") == w->acme_a);

  // Unknown, duplicate, denied and unchanged items; all or nothing.
  const char* with_unknown[] = {"dev-a1", "dev-nope"};
  report = NULL;
  FAILS_WITH(CANOPY_NOT_FOUND, "dev-nope",
             canopy_entity_reassign(db, w->admin, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, with_unknown,
                                    2, w->acme_b, &report, &err));
  CHECK(canopy_reassign_report_count(report) == 2);
  CHECK(canopy_reassign_report_outcome(report, 0) == CANOPY_OUTCOME_MOVED);  // would have been
  CHECK(canopy_reassign_report_outcome(report, 1) == CANOPY_OUTCOME_UNKNOWN);
  CHECK(canopy_reassign_report_total(report, CANOPY_OUTCOME_UNKNOWN) == 1);
  CHECK(strlen(canopy_reassign_report_message(report, 1)) > 0);
  canopy_reassign_report_destroy(report);
  CHECK(AccountOwnerOf(db, "dev-a1") == w->acme_a);  // nothing moved
  // A message quoting input that is not UTF-8 is text all the same, as
  // *errmsg is: the bad byte written \xff.
  const char* not_text[] = {"dev-\xff"};
  report = NULL;
  FAILS_WITH(CANOPY_NOT_FOUND, "dev-\\xff",
             canopy_entity_reassign(db, w->admin, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, not_text, 1,
                                    w->acme_b, &report, &err));
  CHECK(strstr(canopy_reassign_report_message(report, 0), "'dev-\\xff'") != NULL);
  canopy_reassign_report_destroy(report);
  const char* twice[] = {"dev-a1", "dev-a1"};
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_entity_reassign(db, w->admin, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, twice, 2,
                               w->acme_b, &report, &err));
  CHECK(canopy_reassign_report_outcome(report, 1) == CANOPY_OUTCOME_DUPLICATE);
  CHECK(canopy_reassign_report_total(report, CANOPY_OUTCOME_DUPLICATE) == 1);
  canopy_reassign_report_destroy(report);
  // peek (auditor on acme-b, viewer on acme) reads dev-b1 but may assign
  // nothing: denied.
  uint64_t peek = 0;
  OK(CreateUser(db, 0, "peek@acme.example", "Peek", w->acme, &peek, &err));
  OK(canopy_membership_invite(db, 0, peek, w->acme_b, w->auditor, 0, &err));
  OK(canopy_membership_invite(db, 0, peek, w->acme, w->viewer, 0, &err));
  const char* foreign[] = {"dev-b1"};
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "device.assign",
             canopy_entity_reassign(db, peek, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, foreign, 1,
                                    w->acme, &report, &err));
  CHECK(canopy_reassign_report_outcome(report, 0) == CANOPY_OUTCOME_DENIED);
  CHECK(canopy_reassign_report_total(report, CANOPY_OUTCOME_DENIED) == 1);
  CHECK(strstr(canopy_reassign_report_message(report, 0), "device.assign") != NULL);
  canopy_reassign_report_destroy(report);
  OK(canopy_user_remove(db, 0, peek, &err));
  // a cannot even read dev-b1: it is reported as unknown, not revealed.
  const char* hidden[] = {"dev-a2", "dev-b1"};
  FAILS(CANOPY_NOT_FOUND, canopy_entity_reassign(db, w->a, CANOPY_KIND_DEVICE, CANOPY_REF_KEY,
                                                 hidden, 2, w->acme_a1, &report, &err));
  CHECK(canopy_reassign_report_outcome(report, 0) == CANOPY_OUTCOME_MOVED);
  CHECK(canopy_reassign_report_outcome(report, 1) == CANOPY_OUTCOME_UNKNOWN);
  canopy_reassign_report_destroy(report);
  CHECK(AccountOwnerOf(db, "dev-a2") == w->acme_a);
  CHECK(AccountOwnerOf(db, "dev-b1") == w->acme_b);
  const char* home[] = {"dev-a1"};
  OK(canopy_entity_reassign(db, w->a, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, home, 1, w->acme_a,
                            &report, &err));
  CHECK(canopy_reassign_report_outcome(report, 0) == CANOPY_OUTCOME_UNCHANGED);
  CHECK(canopy_reassign_report_total(report, CANOPY_OUTCOME_UNCHANGED) == 1);
  canopy_reassign_report_destroy(report);
  // Refusals before any item is judged leave no report.
  report = (canopy_reassign_report_t*)1;
  FAILS(CANOPY_NOT_FOUND, canopy_entity_reassign(db, 0, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, home, 1,
                                                 4242, &report, &err));
  CHECK(report == NULL);
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_entity_reassign(db, 0, CANOPY_KIND_ASSET, CANOPY_REF_UNIT_ID, units, 1, w->acme,
                               &report, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "reference type",
             canopy_entity_reassign(db, 0, CANOPY_KIND_DEVICE, 7, home, 1, w->acme, &report, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_entity_reassign(db, 0, 0, CANOPY_REF_KEY, home, 1, w->acme, &report, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'refs'",
             canopy_entity_reassign(db, 0, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, NULL, 1, w->acme,
                                    &report, &err));
  const char* null_ref[] = {"dev-a1", NULL};
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'refs[1]'",
             canopy_entity_reassign(db, 0, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, null_ref, 2, w->acme,
                                    &report, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_entity_reassign(db, 0, CANOPY_KIND_DEVICE, CANOPY_REF_KEY,
                                                        NULL, 0, w->acme, &report, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_entity_reassign(NULL, 0, CANOPY_KIND_DEVICE, CANOPY_REF_KEY,
                                                        home, 1, w->acme, &report, &err));
  CHECK(report == NULL);
  canopy_attributes_destroy(vin);
}

// The builders themselves, on a database of their own: every setter
// refuses a NULL builder, a NULL string or map and an enumerated value out
// of range with a message naming itself and the argument, and then leaves
// the builder as it was; the calls refuse a NULL builder and judge the
// values; a builder is only read by the call (and holds copies), so one
// serves several calls.
static void TestBuilders(void) {
  phase = "builders";
  char path[512];
  Path(path, sizeof path, "builders");
  canopy_options_t* options = canopy_options_create();
  OK(canopy_options_set_sync(options, 0, &err));
  canopy_db_t* db = NULL;
  OK(canopy_db_open(options, path, &db, &err));
  canopy_options_destroy(options);
  canopy_attributes_t* attrs = canopy_attributes_create();
  OK(canopy_attributes_set(attrs, "tier", "gold", &err));
  canopy_attributes_t* none = canopy_attributes_create();
  uint64_t id = 7, root = 0, second = 0;

  // Account specs: refusals first.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_spec_set_key: argument 'spec' is NULL",
             canopy_account_spec_set_key(NULL, "k", &err));
  CHECK(canopy_account_spec_set_key(NULL, "k", NULL) == CANOPY_INVALID_ARGUMENT);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_spec_set_name: argument 'spec'",
             canopy_account_spec_set_name(NULL, "n", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_spec_set_parent: argument 'spec'",
             canopy_account_spec_set_parent(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_spec_set_attributes: argument 'spec'",
             canopy_account_spec_set_attributes(NULL, attrs, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT,
             "canopy_account_spec_set_sub_account_management: argument 'spec'",
             canopy_account_spec_set_sub_account_management(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_spec_set_sub_account_access: argument 'spec'",
             canopy_account_spec_set_sub_account_access(NULL, CANOPY_ACCESS_DEFAULT_ON, &err));
  canopy_account_spec_t* spec = canopy_account_spec_create();
  CHECK(spec != NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_create: argument 'spec' is NULL",
             canopy_account_create(db, 0, NULL, &id, &err));
  CHECK(id == CANOPY_NO_ID);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_account_create(NULL, 0, spec, &id, &err));
  // A new spec has no key: the call says which field is missing.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "account key is empty",
             canopy_account_create(db, 0, spec, &id, &err));
  OK(canopy_account_spec_set_key(spec, "acme", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "account name is empty",
             canopy_account_create(db, 0, spec, &id, &err));
  OK(canopy_account_spec_set_name(spec, "ACME", &err));
  OK(canopy_account_spec_set_attributes(spec, attrs, &err));
  OK(canopy_account_spec_set_sub_account_management(spec, 1, &err));
  OK(canopy_account_spec_set_sub_account_access(spec, CANOPY_ACCESS_DEFAULT_ON, &err));
  // Failed setters leave the spec unchanged.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_spec_set_key: argument 'key' is NULL",
             canopy_account_spec_set_key(spec, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_spec_set_name: argument 'name'",
             canopy_account_spec_set_name(spec, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_spec_set_attributes: argument 'attributes'",
             canopy_account_spec_set_attributes(spec, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT,
             "canopy_account_spec_set_sub_account_access: unknown sub-account access 3",
             canopy_account_spec_set_sub_account_access(spec, 3, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_spec_set_sub_account_access(spec, -1, &err));
  // The spec holds a copy of the map: changing or freeing it afterwards
  // changes nothing.
  OK(canopy_attributes_set(attrs, "tier", "bronze", &err));
  OK(canopy_account_create(db, 0, spec, &root, &err));
  canopy_account_t* a = NULL;
  OK(canopy_account_get(db, root, &a, &err));
  CHECK_STR(canopy_account_key(a), "acme");
  CHECK_STR(canopy_account_name(a), "ACME");
  CHECK(canopy_account_parent(a) == CANOPY_NO_ID);
  CHECK_STR(canopy_attributes_get(canopy_account_attributes(a), "tier"), "gold");
  CHECK(canopy_account_sub_account_management(a) == 1);
  CHECK(canopy_account_sub_account_access(a) == CANOPY_ACCESS_DEFAULT_ON);
  canopy_account_destroy(a);
  // The same spec again: only the key is taken now.
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "acme", canopy_account_create(db, 0, spec, &id, &err));
  OK(canopy_account_spec_set_key(spec, "acme-a", &err));
  OK(canopy_account_spec_set_parent(spec, root, &err));
  OK(canopy_account_create(db, 0, spec, &second, &err));
  OK(canopy_account_get(db, second, &a, &err));
  CHECK(canopy_account_parent(a) == root);
  CHECK_STR(canopy_account_name(a), "ACME");
  canopy_account_destroy(a);
  OK(canopy_account_spec_set_key(spec, "orphan", &err));
  OK(canopy_account_spec_set_parent(spec, 4242, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_create(db, 0, spec, &id, &err));
  canopy_account_spec_destroy(spec);
  canopy_account_spec_destroy(NULL);

  // Account patches: only what is set changes.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_patch_set_name: argument 'patch'",
             canopy_account_patch_set_name(NULL, "n", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_patch_set_attributes: argument 'patch'",
             canopy_account_patch_set_attributes(NULL, attrs, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT,
             "canopy_account_patch_set_sub_account_management: argument 'patch'",
             canopy_account_patch_set_sub_account_management(NULL, 0, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT,
             "canopy_account_patch_set_sub_account_access: argument 'patch'",
             canopy_account_patch_set_sub_account_access(NULL, 0, &err));
  canopy_account_patch_t* patch = canopy_account_patch_create();
  CHECK(patch != NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_update: argument 'patch' is NULL",
             canopy_account_update(db, 0, second, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_account_update(NULL, 0, second, patch, &err));
  const uint64_t before = canopy_db_revision(db);
  OK(canopy_account_update(db, 0, second, patch, &err));  // an empty patch changes nothing
  CHECK(canopy_db_revision(db) == before);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_patch_set_name: argument 'name'",
             canopy_account_patch_set_name(patch, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_patch_set_attributes: argument 'attributes'",
             canopy_account_patch_set_attributes(patch, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT,
             "canopy_account_patch_set_sub_account_access: unknown sub-account access 9",
             canopy_account_patch_set_sub_account_access(patch, 9, &err));
  OK(canopy_account_update(db, 0, second, patch, &err));  // still empty
  CHECK(canopy_db_revision(db) == before);
  OK(canopy_account_patch_set_sub_account_management(patch, 0, &err));
  OK(canopy_account_patch_set_sub_account_access(patch, CANOPY_ACCESS_ALWAYS_ON, &err));
  OK(canopy_account_patch_set_attributes(patch, none, &err));  // removes every attribute
  OK(canopy_account_update(db, 0, second, patch, &err));
  CHECK(canopy_db_revision(db) == before + 1);  // one atomic write
  OK(canopy_account_get(db, second, &a, &err));
  CHECK_STR(canopy_account_name(a), "ACME");
  CHECK(canopy_account_sub_account_management(a) == 0);
  CHECK(canopy_account_sub_account_access(a) == CANOPY_ACCESS_ALWAYS_ON);
  CHECK(canopy_attributes_count(canopy_account_attributes(a)) == 0);
  canopy_account_destroy(a);
  OK(canopy_account_patch_set_name(patch, "", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "account name is empty",
             canopy_account_update(db, 0, second, patch, &err));
  canopy_account_patch_destroy(patch);
  canopy_account_patch_destroy(NULL);

  // Entity specs: a device by default; a failed kind leaves the kind.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_kind: argument 'spec'",
             canopy_entity_spec_set_kind(NULL, CANOPY_KIND_ASSET, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_key: argument 'spec'",
             canopy_entity_spec_set_key(NULL, "k", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_unit_id: argument 'spec'",
             canopy_entity_spec_set_unit_id(NULL, "u", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_name: argument 'spec'",
             canopy_entity_spec_set_name(NULL, "n", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_type: argument 'spec'",
             canopy_entity_spec_set_type(NULL, "t", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_owner: argument 'spec'",
             canopy_entity_spec_set_owner(NULL, root, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_attributes: argument 'spec'",
             canopy_entity_spec_set_attributes(NULL, attrs, &err));
  canopy_entity_spec_t* espec = canopy_entity_spec_create();
  CHECK(espec != NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_create: argument 'spec' is NULL",
             canopy_entity_create(db, 0, NULL, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_entity_create(NULL, 0, espec, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "device key is empty",
             canopy_entity_create(db, 0, espec, &id, &err));
  OK(canopy_entity_spec_set_key(espec, "dev-1", &err));
  OK(canopy_entity_spec_set_name(espec, "Van 1", &err));
  // No owner set: the owner is missing.
  FAILS_WITH(CANOPY_NOT_FOUND, "owner", canopy_entity_create(db, 0, espec, &id, &err));
  OK(canopy_entity_spec_set_owner(espec, second, &err));
  OK(canopy_entity_spec_set_unit_id(espec, "U-1", &err));
  OK(canopy_entity_spec_set_type(espec, "tracker", &err));
  OK(canopy_entity_spec_set_attributes(espec, attrs, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT,
             "canopy_entity_spec_set_kind: unknown entity kind 0 (expected CANOPY_KIND_DEVICE",
             canopy_entity_spec_set_kind(espec, 0, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_entity_spec_set_kind(espec, 5, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_key: argument 'key'",
             canopy_entity_spec_set_key(espec, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_unit_id: argument 'unit_id'",
             canopy_entity_spec_set_unit_id(espec, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_name: argument 'name'",
             canopy_entity_spec_set_name(espec, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_type: argument 'type'",
             canopy_entity_spec_set_type(espec, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_spec_set_attributes: argument 'attributes'",
             canopy_entity_spec_set_attributes(espec, NULL, &err));
  uint64_t dev = 0;
  OK(canopy_entity_create(db, 0, espec, &dev, &err));
  canopy_entity_t* e = NULL;
  OK(canopy_entity_get(db, dev, &e, &err));
  CHECK(canopy_entity_kind(e) == CANOPY_KIND_DEVICE);
  CHECK_STR(canopy_entity_key(e), "dev-1");
  CHECK_STR(canopy_entity_unit_id(e), "U-1");
  CHECK_STR(canopy_entity_name(e), "Van 1");
  CHECK_STR(canopy_entity_type(e), "tracker");
  CHECK(canopy_entity_owner(e) == second);
  CHECK_STR(canopy_attributes_get(canopy_entity_attributes(e), "tier"), "bronze");
  canopy_entity_destroy(e);
  // An asset with the same spec: a unit id is refused by the call, and
  // cleared with "".
  OK(canopy_entity_spec_set_kind(espec, CANOPY_KIND_ASSET, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "unit id", canopy_entity_create(db, 0, espec, &id, &err));
  OK(canopy_entity_spec_set_unit_id(espec, "", &err));
  OK(canopy_entity_spec_set_type(espec, "", &err));
  uint64_t site = 0;
  OK(canopy_entity_create(db, 0, espec, &site, &err));
  OK(canopy_entity_get(db, site, &e, &err));
  CHECK(canopy_entity_kind(e) == CANOPY_KIND_ASSET);
  CHECK_STR(canopy_entity_key(e), "dev-1");  // keys are unique per kind
  CHECK_STR(canopy_entity_type(e), "");
  canopy_entity_destroy(e);
  canopy_entity_spec_destroy(espec);
  canopy_entity_spec_destroy(NULL);

  // Entity patches.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_patch_set_name: argument 'patch'",
             canopy_entity_patch_set_name(NULL, "n", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_patch_set_type: argument 'patch'",
             canopy_entity_patch_set_type(NULL, "t", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_patch_set_unit_id: argument 'patch'",
             canopy_entity_patch_set_unit_id(NULL, "u", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_patch_set_attributes: argument 'patch'",
             canopy_entity_patch_set_attributes(NULL, attrs, &err));
  canopy_entity_patch_t* epatch = canopy_entity_patch_create();
  CHECK(epatch != NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_update: argument 'patch' is NULL",
             canopy_entity_update(db, 0, dev, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_entity_update(NULL, 0, dev, epatch, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_patch_set_name: argument 'name'",
             canopy_entity_patch_set_name(epatch, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_patch_set_type: argument 'type'",
             canopy_entity_patch_set_type(epatch, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_patch_set_unit_id: argument 'unit_id'",
             canopy_entity_patch_set_unit_id(epatch, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_entity_patch_set_attributes: argument 'attributes'",
             canopy_entity_patch_set_attributes(epatch, NULL, &err));
  OK(canopy_entity_patch_set_unit_id(epatch, "", &err));
  OK(canopy_entity_patch_set_attributes(epatch, none, &err));
  OK(canopy_entity_update(db, 0, dev, epatch, &err));
  OK(canopy_entity_get(db, dev, &e, &err));
  CHECK_STR(canopy_entity_unit_id(e), "");
  CHECK_STR(canopy_entity_name(e), "Van 1");
  CHECK_STR(canopy_entity_type(e), "tracker");
  CHECK(canopy_attributes_count(canopy_entity_attributes(e)) == 0);
  canopy_entity_destroy(e);
  OK(canopy_entity_patch_set_unit_id(epatch, "U-2", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "unit id", canopy_entity_update(db, 0, site, epatch, &err));
  canopy_entity_patch_destroy(epatch);
  canopy_entity_patch_destroy(NULL);

  // User specs and patches.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_user_spec_set_login: argument 'spec'",
             canopy_user_spec_set_login(NULL, "l", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_user_spec_set_name: argument 'spec'",
             canopy_user_spec_set_name(NULL, "n", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_user_spec_set_account: argument 'spec'",
             canopy_user_spec_set_account(NULL, root, &err));
  canopy_user_spec_t* uspec = canopy_user_spec_create();
  CHECK(uspec != NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_user_create: argument 'spec' is NULL",
             canopy_user_create(db, 0, NULL, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_user_create(NULL, 0, uspec, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "login is empty",
             canopy_user_create(db, 0, uspec, &id, &err));
  OK(canopy_user_spec_set_login(uspec, "a@acme.example", &err));
  OK(canopy_user_spec_set_name(uspec, "User A", &err));
  FAILS(CANOPY_NOT_FOUND, canopy_user_create(db, 0, uspec, &id, &err));  // no account set
  OK(canopy_user_spec_set_account(uspec, second, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_user_spec_set_login: argument 'login'",
             canopy_user_spec_set_login(uspec, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_user_spec_set_name: argument 'name'",
             canopy_user_spec_set_name(uspec, NULL, &err));
  uint64_t user = 0;
  OK(canopy_user_create(db, 0, uspec, &user, &err));
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "a@acme.example", canopy_user_create(db, 0, uspec, NULL, &err));
  canopy_user_spec_destroy(uspec);
  canopy_user_spec_destroy(NULL);
  canopy_user_t* u = NULL;
  OK(canopy_user_get(db, user, &u, &err));
  CHECK_STR(canopy_user_login(u), "a@acme.example");
  CHECK_STR(canopy_user_name(u), "User A");
  CHECK(canopy_user_account(u) == second);
  canopy_user_destroy(u);

  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_user_patch_set_name: argument 'patch'",
             canopy_user_patch_set_name(NULL, "n", &err));
  canopy_user_patch_t* upatch = canopy_user_patch_create();
  CHECK(upatch != NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_user_update: argument 'patch' is NULL",
             canopy_user_update(db, 0, user, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_user_update(NULL, 0, user, upatch, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_user_patch_set_name: argument 'name'",
             canopy_user_patch_set_name(upatch, NULL, &err));
  OK(canopy_user_update(db, 0, user, upatch, &err));  // nothing to change
  OK(canopy_user_patch_set_name(upatch, "User Ay", &err));
  OK(canopy_user_update(db, 0, user, upatch, &err));
  OK(canopy_user_get(db, user, &u, &err));
  CHECK_STR(canopy_user_name(u), "User Ay");
  canopy_user_destroy(u);
  OK(canopy_user_patch_set_name(upatch, "\xFF", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "UTF-8", canopy_user_update(db, 0, user, upatch, &err));
  canopy_user_patch_destroy(upatch);
  canopy_user_patch_destroy(NULL);

  canopy_attributes_destroy(attrs);
  canopy_attributes_destroy(none);
  OK(canopy_db_close(db, &err));
}

static void TestVisible(World* w) {
  phase = "visible";
  canopy_db_t* db = w->db;
  char keys[512];
  canopy_visible_request_t* req = canopy_visible_request_create(w->a, CANOPY_KIND_DEVICE);
  CHECK(req != NULL);
  VisibleKeys(db, req, keys, sizeof keys);
  CHECK_STR(keys, "dev-a1,dev-a2,dev-a11");  // tree order of owners, then id

  canopy_visible_page_t* page = NULL;
  OK(canopy_visible_list(db, req, &page, &err));
  CHECK(canopy_visible_page_count(page) == 3);
  CHECK(canopy_visible_page_id(page, 0) != 0);
  CHECK_STR(canopy_visible_page_name(page, 0), "Truck A1");
  CHECK_STR(canopy_visible_page_type(page, 1), "camera");
  CHECK(canopy_visible_page_owner(page, 2) == w->acme_a1);
  CHECK(canopy_visible_page_id(page, 3) == 0);
  CHECK(canopy_visible_page_key(page, 3) == NULL);
  CHECK(canopy_visible_page_name(page, 3) == NULL);
  CHECK(canopy_visible_page_type(page, 3) == NULL);
  CHECK(canopy_visible_page_owner(page, 3) == 0);
  canopy_visible_page_destroy(page);
  canopy_visible_page_destroy(NULL);

  // Paging with a cursor; a forged or foreign cursor is refused.
  OK(canopy_visible_request_set_limit(req, 2, &err));
  OK(canopy_visible_list(db, req, &page, &err));
  PageKeys(page, keys, sizeof keys);
  CHECK_STR(keys, "dev-a1,dev-a2");
  char cursor[512];
  snprintf(cursor, sizeof cursor, "%s", canopy_visible_page_next_cursor(page));
  CHECK(strlen(cursor) > 0);
  canopy_visible_page_destroy(page);
  OK(canopy_visible_request_set_cursor(req, cursor, &err));
  OK(canopy_visible_list(db, req, &page, &err));
  PageKeys(page, keys, sizeof keys);
  CHECK_STR(keys, "dev-a11");
  CHECK_STR(canopy_visible_page_next_cursor(page), "");
  canopy_visible_page_destroy(page);
  char forged[512];
  snprintf(forged, sizeof forged, "%s", cursor);
  forged[strlen(forged) / 2] = forged[strlen(forged) / 2] == 'A' ? 'B' : 'A';
  OK(canopy_visible_request_set_cursor(req, forged, &err));
  page = (canopy_visible_page_t*)1;
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "cursor", canopy_visible_list(db, req, &page, &err));
  CHECK(page == NULL);
  OK(canopy_visible_request_set_cursor(req, "not a cursor!", &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_visible_list(db, req, &page, &err));
  OK(canopy_visible_request_set_cursor(req, cursor, &err));
  OK(canopy_visible_request_set_name_prefix(req, "Truck", &err));  // another request now
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "another request", canopy_visible_list(db, req, &page, &err));
  OK(canopy_visible_request_set_cursor(req, NULL, &err));
  OK(canopy_visible_request_set_limit(req, 100, &err));

  // Filters.
  VisibleKeys(db, req, keys, sizeof keys);
  CHECK_STR(keys, "dev-a1,dev-a11");
  OK(canopy_visible_request_set_name_prefix(req, NULL, &err));
  OK(canopy_visible_request_set_type(req, "camera", &err));
  VisibleKeys(db, req, keys, sizeof keys);
  CHECK_STR(keys, "dev-a2");
  OK(canopy_visible_request_set_type(req, NULL, &err));
  OK(canopy_visible_request_set_attribute(req, "vin", "V1", &err));
  VisibleKeys(db, req, keys, sizeof keys);
  CHECK_STR(keys, "dev-a1");
  OK(canopy_visible_request_set_attribute(req, NULL, NULL, &err));
  OK(canopy_visible_request_set_within(req, w->acme_a1, &err));
  VisibleKeys(db, req, keys, sizeof keys);
  CHECK_STR(keys, "dev-a11");
  OK(canopy_visible_request_set_within(req, w->acme_a, &err));
  OK(canopy_visible_request_set_direct_only(req, 1, &err));
  VisibleKeys(db, req, keys, sizeof keys);
  CHECK_STR(keys, "dev-a1,dev-a2");
  OK(canopy_visible_request_set_direct_only(req, 0, &err));
  OK(canopy_visible_request_set_within(req, CANOPY_NO_ID, &err));
  OK(canopy_visible_request_set_permission(req, "device.assign", &err));
  VisibleKeys(db, req, keys, sizeof keys);
  CHECK_STR(keys, "dev-a1,dev-a2,dev-a11");

  // Bad requests.
  OK(canopy_visible_request_set_permission(req, "account.read", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "account.read", canopy_visible_list(db, req, &page, &err));
  OK(canopy_visible_request_set_permission(req, "device.fly", &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_visible_list(db, req, &page, &err));
  OK(canopy_visible_request_set_permission(req, NULL, &err));
  OK(canopy_visible_request_set_limit(req, 0, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "limit", canopy_visible_list(db, req, &page, &err));
  OK(canopy_visible_request_set_limit(req, 10001, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_visible_list(db, req, &page, &err));
  OK(canopy_visible_request_set_limit(req, 100, &err));
  OK(canopy_visible_request_set_name_prefix(req, "\xFF", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "UTF-8", canopy_visible_list(db, req, &page, &err));
  OK(canopy_visible_request_set_name_prefix(req, "", &err));
  OK(canopy_visible_request_set_within(req, 4242, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_visible_list(db, req, &page, &err));
  OK(canopy_visible_request_set_within(req, CANOPY_NO_ID, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_visible_list(NULL, req, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_list(db, NULL, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'page'", canopy_visible_list(db, req, NULL, &err));
  canopy_visible_request_t* bad_kind = canopy_visible_request_create(w->a, 42);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "entity kind",
             canopy_visible_list(db, bad_kind, &page, &err));
  canopy_visible_request_destroy(bad_kind);
  canopy_visible_request_t* stranger = canopy_visible_request_create(4242, CANOPY_KIND_DEVICE);
  FAILS(CANOPY_NOT_FOUND, canopy_visible_list(db, stranger, &page, &err));
  canopy_visible_request_destroy(stranger);
  // Every setter refuses a NULL request, naming it; an attribute filter
  // with a name needs a value, and a refused setter leaves the request as
  // it was. destroy accepts NULL.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT,
             "canopy_visible_request_set_min_revision: argument 'request' is NULL",
             canopy_visible_request_set_min_revision(NULL, 1, &err));
  char before_keys[512];
  VisibleKeys(db, req, before_keys, sizeof before_keys);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'value'",
             canopy_visible_request_set_attribute(req, "vin", NULL, &err));
  VisibleKeys(db, req, keys, sizeof keys);
  CHECK_STR(keys, before_keys);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_request_set_permission(NULL, "device.read", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_request_set_type(NULL, "x", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_request_set_name_prefix(NULL, "x", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_request_set_attribute(NULL, "x", "y", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_request_set_within(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_request_set_direct_only(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_request_set_limit(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_request_set_cursor(NULL, "x", &err));
  canopy_visible_request_destroy(NULL);

  // The system viewer sees every device; b sees its own; assets are apart.
  canopy_visible_request_t* all =
      canopy_visible_request_create(CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE);
  VisibleKeys(db, all, keys, sizeof keys);
  CHECK_STR(keys, "dev-c1,dev-a1,dev-a2,dev-a11,dev-b1");
  canopy_visible_request_t* mine = canopy_visible_request_create(w->b, CANOPY_KIND_DEVICE);
  VisibleKeys(db, mine, keys, sizeof keys);
  CHECK_STR(keys, "dev-b1");
  canopy_visible_request_t* assets = canopy_visible_request_create(w->a, CANOPY_KIND_ASSET);
  VisibleKeys(db, assets, keys, sizeof keys);
  CHECK_STR(keys, "site-7");

  // Counts.
  uint64_t n = 99;
  OK(canopy_visible_count(db, all, &n, &err));
  CHECK(n == 5);
  OK(canopy_visible_count(db, req, &n, &err));
  CHECK(n == 3);
  OK(canopy_visible_request_set_type(req, "tracker", &err));
  OK(canopy_visible_count(db, req, &n, &err));  // filtered: a scan
  CHECK(n == 2);
  OK(canopy_visible_request_set_type(req, NULL, &err));
  OK(canopy_visible_request_set_limit(req, 0, &err));  // ignored by count
  OK(canopy_visible_count(db, req, &n, &err));
  CHECK(n == 3);
  OK(canopy_visible_request_set_limit(req, 100, &err));
  OK(canopy_visible_request_set_permission(req, "asset.read", &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_visible_count(db, req, &n, &err));
  CHECK(n == 0);
  OK(canopy_visible_request_set_permission(req, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'count'", canopy_visible_count(db, req, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_count(db, NULL, &n, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_visible_count(NULL, req, &n, &err));

  phase = "iterator";
  canopy_visible_iterator_t* it = NULL;
  OK(canopy_visible_iterator_create(db, all, &it, &err));
  keys[0] = '\0';
  int items = 0;
  for (; canopy_visible_iterator_valid(it); canopy_visible_iterator_next(it)) {
    CHECK(canopy_visible_iterator_id(it) != 0);
    CHECK(canopy_visible_iterator_owner(it) != 0);
    CHECK(strlen(canopy_visible_iterator_name(it)) > 0);
    CHECK(canopy_visible_iterator_type(it) != NULL);
    OK(canopy_visible_iterator_status(it, &err));
    if (items++ > 0) strncat(keys, ",", sizeof keys - strlen(keys) - 1);
    strncat(keys, canopy_visible_iterator_key(it), sizeof keys - strlen(keys) - 1);
  }
  CHECK_STR(keys, "dev-c1,dev-a1,dev-a2,dev-a11,dev-b1");
  OK(canopy_visible_iterator_status(it, &err));
  // Past the end: accessors are empty and next does nothing.
  canopy_visible_iterator_next(it);
  CHECK(canopy_visible_iterator_valid(it) == 0);
  CHECK(canopy_visible_iterator_id(it) == 0);
  CHECK(canopy_visible_iterator_key(it) == NULL);
  CHECK(canopy_visible_iterator_name(it) == NULL);
  CHECK(canopy_visible_iterator_type(it) == NULL);
  CHECK(canopy_visible_iterator_owner(it) == 0);
  // The database refuses to close under a live iterator, and stays usable.
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "iterator", canopy_db_close(db, &err));
  OK(canopy_visible_count(db, all, &n, &err));
  canopy_visible_iterator_destroy(it);
  canopy_visible_iterator_destroy(NULL);
  // An iterator ignores limit and cursor.
  OK(canopy_visible_request_set_limit(req, 0, &err));
  OK(canopy_visible_request_set_cursor(req, "ignored", &err));
  OK(canopy_visible_iterator_create(db, req, &it, &err));
  CHECK(canopy_visible_iterator_valid(it) == 1);
  CHECK_STR(canopy_visible_iterator_key(it), "dev-a1");
  canopy_visible_iterator_destroy(it);
  OK(canopy_visible_request_set_limit(req, 100, &err));
  OK(canopy_visible_request_set_cursor(req, "", &err));
  it = (canopy_visible_iterator_t*)1;
  OK(canopy_visible_request_set_permission(req, "device.fly", &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_visible_iterator_create(db, req, &it, &err));
  CHECK(it == NULL);
  OK(canopy_visible_request_set_permission(req, "", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'iterator'",
             canopy_visible_iterator_create(db, req, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'",
             canopy_visible_iterator_create(db, NULL, &it, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_visible_iterator_create(NULL, req, &it, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'iterator'", canopy_visible_iterator_status(NULL, &err));
  CHECK(canopy_visible_iterator_valid(NULL) == 0);
  canopy_visible_iterator_next(NULL);

  canopy_visible_request_destroy(req);
  canopy_visible_request_destroy(all);
  canopy_visible_request_destroy(mine);
  canopy_visible_request_destroy(assets);
}

static void TestAccess(World* w) {
  phase = "access";
  canopy_db_t* db = w->db;
  int allowed = 7;
  OK(canopy_access_check(db, w->a, "device.read", "dev-a11", &allowed, &err));
  CHECK(allowed == 1);
  /* Out of the user's sight: "no such device", as for a missing key. */
  FAILS(CANOPY_NOT_FOUND, canopy_access_check(db, w->b, "device.read", "dev-a11", &allowed, &err));
  CHECK(allowed == 0);
  FAILS(CANOPY_NOT_FOUND, canopy_access_check(db, w->a, "device.read", "dev-c1", &allowed, &err));
  CHECK(allowed == 0);
  /* An account-level permission names an account. */
  OK(canopy_access_check(db, w->a, "account.read", "acme-a1", &allowed, &err));
  CHECK(allowed == 1);
  OK(canopy_access_check(db, w->a, "asset.delete", "site-7", &allowed, &err));
  CHECK(allowed == 1);
  FAILS(CANOPY_NOT_FOUND, canopy_access_check(db, w->a, "device.read", "dev-zz", &allowed, &err));
  CHECK(allowed == 0);
  FAILS(CANOPY_NOT_FOUND, canopy_access_check(db, 4242, "device.read", "dev-a1", &allowed, &err));
  // The system actor may do anything, as it sees everything in visible.
  OK(canopy_access_check(db, CANOPY_SYSTEM_ACTOR, "device.delete", "dev-c1", &allowed, &err));
  CHECK(allowed == 1);
  FAILS(CANOPY_NOT_FOUND,
        canopy_access_check(db, CANOPY_SYSTEM_ACTOR, "device.read", "dev-zz", &allowed, &err));
  FAILS(CANOPY_NOT_FOUND, /* an account-level permission names an account */
        canopy_access_check(db, w->a, "account.read", "dev-a1", &allowed, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'permission'",
             canopy_access_check(db, w->a, NULL, "dev-a1", &allowed, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entity_key'",
             canopy_access_check(db, w->a, "device.read", NULL, &allowed, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'allowed'",
             canopy_access_check(db, w->a, "device.read", "dev-a1", NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_access_check(NULL, w->a, "device.read", "dev-a1", &allowed, &err));
  /* A huge input is not quoted back whole: the message keeps its
     beginning and end and says what it left out. */
  {
    const size_t n = (size_t)1 << 20;
    char* big = malloc(n + 1);
    CHECK(big != NULL);
    memset(big, 'a', n);
    big[n] = '\0';
    FAILS_WITH(CANOPY_NOT_FOUND, "no device with key 'aaa",
               canopy_access_check(db, w->a, "device.read", big, &allowed, &err));
    FAILS_WITH(CANOPY_INVALID_ARGUMENT, "bytes left out",
               canopy_access_check(db, w->a, big, "dev-a1", &allowed, &err));
    char* msg = NULL;
    CHECK(canopy_access_check(db, w->a, big, "dev-a1", &allowed, &msg) == CANOPY_INVALID_ARGUMENT);
    CHECK(msg != NULL && strlen(msg) < 1100);
    canopy_free(msg);
    free(big);
  }

  canopy_explanation_t* why = NULL;
  OK(canopy_access_explain(db, w->a, "device.read", "dev-a11", &why, &err));
  CHECK(canopy_explanation_allowed(why) == 1);
  CHECK(strlen(canopy_explanation_reason(why)) > 0);
  CHECK(canopy_explanation_entity(why) != 0);
  CHECK(canopy_explanation_owner(why) == w->acme_a1);
  CHECK(canopy_explanation_via_account(why) == w->acme_a);
  CHECK(canopy_explanation_via_role(why) == w->account_admin);
  CHECK_STR(canopy_explanation_via_role_name(why), "account_admin");
  CHECK(canopy_explanation_via_branch(why) == 1);
  CHECK(canopy_explanation_path_count(why) == 2);
  CHECK_STR(canopy_explanation_path(why, 0), "acme-a");
  CHECK_STR(canopy_explanation_path(why, 1), "acme-a1");
  CHECK(canopy_explanation_path(why, 2) == NULL);
  canopy_explanation_destroy(why);
  canopy_explanation_destroy(NULL);
  why = (canopy_explanation_t*)1;
  /* Out of the user's sight: worded as a missing key. */
  FAILS_WITH(CANOPY_NOT_FOUND, "no device with key 'dev-a11'",
             canopy_access_explain(db, w->b, "device.read", "dev-a11", &why, &err));
  CHECK(why == NULL);
  why = (canopy_explanation_t*)1;
  FAILS(CANOPY_NOT_FOUND, canopy_access_explain(db, w->a, "device.read", "dev-zz", &why, &err));
  CHECK(why == NULL);
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_access_explain(db, w->a, "nope", "dev-a1", &why, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'permission'",
             canopy_access_explain(db, w->a, NULL, "dev-a1", &why, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entity_key'",
             canopy_access_explain(db, w->a, "device.read", NULL, &why, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'explanation'",
             canopy_access_explain(db, w->a, "device.read", "dev-a1", NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_access_explain(NULL, w->a, "device.read", "dev-a1", &why, &err));

  /* As an asker learns it. The operator is told that dev-a11 exists out
     of b's sight (not allowed, saying so), where b itself is told "no
     device"; a asking about b, whom it does not see, learns nothing; b
     asking about itself gets explain's own answer. */
  OK(canopy_access_explain_as(db, CANOPY_SYSTEM_ACTOR, w->b, "device.read", "dev-a11", &why,
                              &err));
  CHECK(canopy_explanation_allowed(why) == 0);
  CHECK(strstr(canopy_explanation_reason(why), "cannot see device 'dev-a11'") != NULL);
  CHECK(canopy_explanation_owner(why) == w->acme_a1);
  canopy_explanation_destroy(why);
  OK(canopy_access_explain_as(db, CANOPY_SYSTEM_ACTOR, w->a, "device.read", "dev-a11", &why,
                              &err));
  CHECK(canopy_explanation_allowed(why) == 1);
  CHECK(canopy_explanation_via_account(why) == w->acme_a);
  canopy_explanation_destroy(why);
  why = (canopy_explanation_t*)1;
  FAILS_WITH(CANOPY_NOT_FOUND, "no user with id",
             canopy_access_explain_as(db, w->a, w->b, "device.read", "dev-b1", &why, &err));
  CHECK(why == NULL);
  FAILS_WITH(CANOPY_NOT_FOUND, "no device with key 'dev-a11'",
             canopy_access_explain_as(db, w->b, w->b, "device.read", "dev-a11", &why, &err));
  FAILS_WITH(CANOPY_NOT_FOUND, "no user with id 424242",
             canopy_access_explain_as(db, 424242, w->a, "device.read", "dev-a1", &why, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'explanation'",
             canopy_access_explain_as(db, w->a, w->a, "device.read", "dev-a1", NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_access_explain_as: argument 'db'",
             canopy_access_explain_as(NULL, w->a, w->a, "device.read", "dev-a1", &why, &err));

  // Who can read dev-a11: admin (acme, branch) and a (acme-a, branch), by id.
  canopy_who_can_page_t* page = NULL;
  OK(canopy_access_who_can(db, "device.read", "dev-a11", 1, NULL, &page, &err));
  CHECK(canopy_who_can_page_count(page) == 1);
  CHECK(canopy_who_can_page_user(page, 0) == w->admin);
  CHECK_STR(canopy_who_can_page_login(page, 0), "admin@acme.example");
  CHECK(canopy_who_can_page_via_account(page, 0) == w->acme);
  CHECK(canopy_who_can_page_role(page, 0) == w->account_admin);
  CHECK(canopy_who_can_page_branch(page, 0) == 1);
  CHECK(canopy_who_can_page_user(page, 1) == 0);
  CHECK(canopy_who_can_page_login(page, 1) == NULL);
  CHECK(canopy_who_can_page_via_account(page, 1) == 0);
  CHECK(canopy_who_can_page_role(page, 1) == 0);
  CHECK(canopy_who_can_page_branch(page, 1) == 0);
  char cursor[512];
  snprintf(cursor, sizeof cursor, "%s", canopy_who_can_page_next_cursor(page));
  CHECK(strlen(cursor) > 0);
  canopy_who_can_page_destroy(page);
  canopy_who_can_page_destroy(NULL);
  OK(canopy_access_who_can(db, "device.read", "dev-a11", 1, cursor, &page, &err));
  CHECK(canopy_who_can_page_count(page) == 1);
  CHECK(canopy_who_can_page_user(page, 0) == w->a);
  CHECK_STR(canopy_who_can_page_next_cursor(page), "");
  canopy_who_can_page_destroy(page);
  page = (canopy_who_can_page_t*)1;
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "cursor",
             canopy_access_who_can(db, "device.read", "dev-a1", 1, cursor, &page, &err));
  CHECK(page == NULL);
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_access_who_can(db, "device.read", "dev-a11", 1, "forged!", &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "limit",
             canopy_access_who_can(db, "device.read", "dev-a11", 0, NULL, &page, &err));
  FAILS(CANOPY_NOT_FOUND,
        canopy_access_who_can(db, "device.read", "dev-zz", 10, NULL, &page, &err));
  FAILS(CANOPY_NOT_FOUND, /* an account-level permission names an account */
        canopy_access_who_can(db, "user.read", "dev-a11", 10, NULL, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'permission'",
             canopy_access_who_can(db, NULL, "dev-a11", 10, NULL, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entity_key'",
             canopy_access_who_can(db, "device.read", NULL, 10, NULL, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'page'",
             canopy_access_who_can(db, "device.read", "dev-a11", 10, NULL, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_access_who_can(NULL, "device.read", "dev-a11", 10, NULL, &page, &err));
}

// Reads as a viewer: what the viewer cannot see is NOT_FOUND (as a missing
// one) and left out of lists; a disabled viewer is refused.
static void TestViewerReads(World* w) {
  phase = "reads as a viewer";
  canopy_db_t* db = w->db;
  canopy_account_t* account = NULL;
  OK(canopy_account_find_as(db, w->a, "acme-a", &account, &err));
  CHECK(canopy_account_id(account) == w->acme_a);
  canopy_account_destroy(account);
  FAILS_WITH(CANOPY_NOT_FOUND, "no account with key 'acme-b'",
             canopy_account_find_as(db, w->a, "acme-b", &account, &err));
  CHECK(account == NULL);
  FAILS(CANOPY_NOT_FOUND, canopy_account_find_as(db, 4242, "acme-a", &account, &err));
  OK(canopy_account_find_as(db, CANOPY_SYSTEM_ACTOR, "acme-b", &account, &err));
  canopy_account_destroy(account);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'key'", canopy_account_find_as(db, w->a, NULL, &account, &err));
  // By id: out of sight is worded as a missing id.
  OK(canopy_account_get_as(db, w->a, w->acme_a, &account, &err));
  CHECK(canopy_account_id(account) == w->acme_a);
  canopy_account_destroy(account);
  FAILS_WITH(CANOPY_NOT_FOUND, "no account with id ",
             canopy_account_get_as(db, w->a, w->acme_b, &account, &err));
  CHECK(account == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'account'",
             canopy_account_get_as(db, w->a, w->acme_a, NULL, &err));
  canopy_accounts_t* above = NULL;
  OK(canopy_account_ancestors_as(db, w->a, w->acme_a, &above, &err));
  CHECK(canopy_accounts_count(above) == 0);  // acme is out of its sight
  canopy_accounts_destroy(above);
  OK(canopy_account_ancestors_as(db, CANOPY_SYSTEM_ACTOR, w->acme_a, &above, &err));
  CHECK(canopy_accounts_count(above) == 1);
  canopy_accounts_destroy(above);
  FAILS(CANOPY_NOT_FOUND, canopy_account_ancestors_as(db, w->a, w->acme_b, &above, &err));
  canopy_user_t* seen_user = NULL;
  OK(canopy_user_get_as(db, w->a, w->a, &seen_user, &err));
  CHECK(canopy_user_id(seen_user) == w->a);
  canopy_user_destroy(seen_user);
  FAILS(CANOPY_NOT_FOUND, canopy_user_get_as(db, w->a, w->admin, &seen_user, &err));
  canopy_role_t* role = NULL;
  OK(canopy_role_get_as(db, w->a, w->viewer, &role, &err));
  canopy_role_destroy(role);
  canopy_roles_t* roles = NULL;
  OK(canopy_role_list_as(db, w->a, CANOPY_NO_ID, &roles, &err));
  CHECK(canopy_roles_count(roles) >= 3);
  canopy_roles_destroy(roles);
  FAILS(CANOPY_NOT_FOUND, canopy_role_list_as(db, w->a, w->acme_b, &roles, &err));

  uint64_t* ids = NULL;
  size_t n = 0;
  OK(canopy_account_roots_as(db, w->a, &ids, &n, &err));
  CHECK(n == 1 && ids[0] == w->acme_a);
  canopy_free(ids);
  canopy_accounts_t* list = NULL;
  OK(canopy_account_descendants_as(db, w->a, w->acme_a, 0, &list, &err));
  const size_t seen = canopy_accounts_count(list);
  canopy_accounts_destroy(list);
  OK(canopy_account_descendants(db, w->acme_a, 0, &list, &err));
  CHECK(seen >= 1 && seen == canopy_accounts_count(list));  // a branch-wide admin sees all
  canopy_accounts_destroy(list);
  FAILS(CANOPY_NOT_FOUND, canopy_account_descendants_as(db, w->a, w->acme, 0, &list, &err));
  canopy_summary_t* summary = NULL;
  OK(canopy_account_summarize_as(db, w->a, w->acme_a, &summary, &err));
  CHECK(canopy_summary_path_count(summary) == 1);  // acme is out of its sight
  canopy_summary_destroy(summary);
  FAILS(CANOPY_NOT_FOUND, canopy_account_summarize_as(db, w->a, w->acme, &summary, &err));
  uint64_t direct = 99, subtree = 99, all_direct = 0, all_subtree = 0;
  OK(canopy_account_count_owned_as(db, w->a, w->acme_a, CANOPY_KIND_DEVICE, &direct, &subtree,
                                   &err));
  OK(canopy_account_count_owned(db, w->acme_a, CANOPY_KIND_DEVICE, &all_direct, &all_subtree,
                                &err));
  CHECK(direct == all_direct && subtree == all_subtree);  // the branch-wide admin sees all
  FAILS_WITH(CANOPY_NOT_FOUND, "no account with id",  // out of its sight: looks missing
             canopy_account_count_owned_as(db, w->a, w->acme, CANOPY_KIND_DEVICE, &direct,
                                           &subtree, &err));
  CHECK(direct == 0 && subtree == 0);
  FAILS(CANOPY_NOT_FOUND, canopy_account_count_owned_as(db, 4242, w->acme_a, CANOPY_KIND_DEVICE,
                                                        &direct, &subtree, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_account_count_owned_as(NULL, w->a, w->acme_a, CANOPY_KIND_DEVICE, &direct,
                                      &subtree, &err));

  canopy_entity_t* entity = NULL;
  OK(canopy_entity_find_as(db, w->a, CANOPY_KIND_DEVICE, "dev-a1", &entity, &err));
  const uint64_t dev_a1 = canopy_entity_id(entity);
  canopy_entity_destroy(entity);
  OK(canopy_entity_get_as(db, w->a, dev_a1, &entity, &err));
  CHECK_STR(canopy_entity_key(entity), "dev-a1");
  canopy_entity_destroy(entity);
  OK(canopy_entity_find(db, CANOPY_KIND_DEVICE, "dev-c1", &entity, &err));
  const uint64_t dev_c1 = canopy_entity_id(entity);
  canopy_entity_destroy(entity);
  FAILS_WITH(CANOPY_NOT_FOUND, "no entity with id ",
             canopy_entity_get_as(db, w->a, dev_c1, &entity, &err));
  FAILS_WITH(CANOPY_NOT_FOUND, "no device with key 'dev-c1'",
             canopy_entity_find_as(db, w->a, CANOPY_KIND_DEVICE, "dev-c1", &entity, &err));
  OK(canopy_entity_find_by_unit_id_as(db, w->a, "U-0101", &entity, &err));
  canopy_entity_destroy(entity);
  FAILS_WITH(CANOPY_NOT_FOUND, "no device with unit id 'U-0001'",
             canopy_entity_find_by_unit_id_as(db, w->a, "U-0001", &entity, &err));

  canopy_user_t* user = NULL;
  OK(canopy_user_find_as(db, w->a, "a@acme.example", &user, &err));
  canopy_user_destroy(user);
  FAILS_WITH(CANOPY_NOT_FOUND, "no user with login 'admin@acme.example'",
             canopy_user_find_as(db, w->a, "admin@acme.example", &user, &err));
  canopy_users_t* users = NULL;
  OK(canopy_user_list_as(db, w->a, w->acme_a, &users, &err));
  CHECK(canopy_users_count(users) >= 1);
  canopy_users_destroy(users);
  FAILS(CANOPY_NOT_FOUND, canopy_user_list_as(db, w->a, w->acme, &users, &err));
  canopy_memberships_t* ms = NULL;
  FAILS(CANOPY_NOT_FOUND, canopy_membership_list_by_user_as(db, w->a, w->admin, &ms, &err));
  OK(canopy_membership_list_by_user_as(db, w->a, w->a, &ms, &err));
  CHECK(canopy_memberships_count(ms) >= 1);
  canopy_memberships_destroy(ms);
  OK(canopy_membership_list_by_account_as(db, w->a, w->acme_a, &ms, &err));
  for (size_t i = 0; i < canopy_memberships_count(ms); ++i) {
    CHECK(canopy_memberships_user(ms, i) != w->admin);
  }
  canopy_memberships_destroy(ms);
  FAILS(CANOPY_NOT_FOUND, canopy_membership_list_by_account_as(db, w->a, w->acme, &ms, &err));

  canopy_who_can_page_t* page = NULL;
  OK(canopy_access_who_can_as(db, w->a, "device.read", "dev-a1", 100, NULL, 0, &page, &err));
  CHECK(canopy_who_can_page_count(page) >= 1);
  for (size_t i = 0; i < canopy_who_can_page_count(page); ++i) {
    CHECK(canopy_who_can_page_user(page, i) != w->admin);  // out of its sight
  }
  canopy_who_can_page_destroy(page);
  FAILS_WITH(CANOPY_NOT_FOUND, "no device with key 'dev-c1'",
             canopy_access_who_can_as(db, w->a, "device.read", "dev-c1", 100, NULL, 0, &page,
                                      &err));

  // A disabled viewer holds, and sees, nothing.
  uint64_t off = 0;
  OK(CreateUser(db, 0, "off@acme.example", "Off", w->acme_a, &off, &err));
  OK(canopy_user_set_disabled(db, 0, off, 1, &err));
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "is disabled",
             canopy_account_find_as(db, off, "acme-a", &account, &err));
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "is disabled",
             canopy_account_roots_as(db, off, &ids, &n, &err));
  CHECK(ids == NULL && n == 0);
  OK(canopy_user_remove(db, 0, off, &err));
}

// A read-only open beside the writer (w->db holds the folder): reads work,
// writes are FAILED_PRECONDITION naming read-only.
static void TestReadOnly(World* w, const char* path) {
  phase = "read-only";
  canopy_options_t* options = canopy_options_create();
  OK(canopy_options_set_read_only(options, 1, &err));
  canopy_db_t* ro = NULL;
  OK(canopy_db_open(options, path, &ro, &err));
  canopy_options_destroy(options);
  canopy_account_t* account = NULL;
  OK(canopy_account_find(ro, "acme-a", &account, &err));
  CHECK(canopy_account_id(account) == w->acme_a);
  canopy_account_destroy(account);
  uint64_t id = 0;
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "read-only",
             CreateAccount(ro, 0, "ro-x", "X", 0, NULL, 0, 0, &id, &err));
  OK(canopy_db_close(ro, &err));
}

static void TestSnapshot(World* w) {
  phase = "snapshot";
  canopy_db_t* snap = NULL;
  OK(canopy_db_open_snapshot(w->db, &snap, &err));
  const uint64_t rev = canopy_db_revision(w->db);
  CHECK(canopy_db_revision(snap) == rev);
  uint64_t id = 0;
  OK(CreateAccount(w->db, 0, "snap-later", "Later", w->acme, NULL, 0, 0, &id, &err));
  canopy_account_t* account = NULL;
  OK(canopy_account_find(w->db, "snap-later", &account, &err));
  canopy_account_destroy(account);
  account = NULL;
  FAILS(CANOPY_NOT_FOUND, canopy_account_find(snap, "snap-later", &account, &err));
  CHECK(canopy_db_revision(snap) == rev);
  uint64_t refused = 0;
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "a snapshot is read-only",
             CreateAccount(snap, 0, "snap-x", "X", w->acme, NULL, 0, 0, &refused, &err));
  // The database does not close under its snapshot, and nothing is done.
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "snapshot(s) of this database are still open",
             canopy_db_close(w->db, &err));
  OK(canopy_account_find(w->db, "snap-later", &account, &err));
  canopy_account_destroy(account);
  OK(canopy_account_delete(w->db, 0, id, 0, &err));
  OK(canopy_db_close(snap, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_open_snapshot(NULL, &snap, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_open_snapshot(w->db, NULL, &err));
}

// A follower beside the writer: sees nothing new until canopy_db_catch_up,
// then the writer's revision; writes are FAILED_PRECONDITION naming the
// follower; follower and read-only together are refused.
static void TestFollower(World* w, const char* path) {
  phase = "follower";
  canopy_options_t* options = canopy_options_create();
  OK(canopy_options_set_follower(options, 1, &err));
  OK(canopy_options_set_follower_dir(options, NULL, &err));
  OK(canopy_options_set_follower_catch_up_ms(options, 0, &err));
  canopy_db_t* f = NULL;
  OK(canopy_db_open(options, path, &f, &err));
  const uint64_t at = canopy_db_revision(f);
  CHECK(at == canopy_db_revision(w->db));
  uint64_t id = 0;
  OK(CreateAccount(w->db, 0, "fo-new", "New", 0, NULL, 0, 0, &id, &err));
  const uint64_t created = id;
  canopy_account_t* account = NULL;
  FAILS_WITH(CANOPY_NOT_FOUND, "fo-new", canopy_account_find(f, "fo-new", &account, &err));
  uint64_t rev = 0;
  OK(canopy_db_catch_up(f, &rev, &err));
  CHECK(rev == canopy_db_revision(w->db) && rev > at);
  OK(canopy_account_find(f, "fo-new", &account, &err));
  CHECK(canopy_account_id(account) == id);
  canopy_account_destroy(account);
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "follower",
             CreateAccount(f, 0, "fo-x", "X", 0, NULL, 0, 0, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'revision'", canopy_db_catch_up(f, NULL, &err));
  OK(canopy_db_close(f, &err));
  OK(canopy_account_delete(w->db, 0, created, 0, &err));
  {
    // Its log, read by the account: the page that reaches its deletion
    // says it ended; the read after it is refused.
    canopy_changes_request_t* life = canopy_changes_request_create(CANOPY_SYSTEM_ACTOR);
    OK(canopy_changes_request_set_account(life, created, &err));
    OK(canopy_changes_request_set_since(life, at, &err));
    canopy_changes_t* page = NULL;
    OK(canopy_changes_read_request(w->db, life, &page, &err));
    CHECK(canopy_changes_count(page) == 2);  /* its creation, its deletion */
    CHECK(canopy_changes_ended(page) == 1);
    OK(canopy_changes_request_set_since(life, canopy_changes_next(page), &err));
    canopy_changes_destroy(page);
    FAILS_WITH(CANOPY_NOT_FOUND, "was deleted at revision",
               canopy_changes_read_request(w->db, life, &page, &err));
    OK(canopy_changes_request_set_account(life, CANOPY_NO_ID, &err));
    OK(canopy_changes_request_set_since(life, at, &err));
    OK(canopy_changes_read_request(w->db, life, &page, &err));
    CHECK(canopy_changes_ended(page) == 0);
    canopy_changes_destroy(page);
    canopy_changes_request_destroy(life);
    CHECK(canopy_changes_ended(NULL) == 0);
  }
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "not open as a follower",
             canopy_db_catch_up(w->db, &rev, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_follower(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'",
             canopy_options_set_follower_dir(NULL, "x", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'",
             canopy_options_set_follower_catch_up_ms(NULL, 1, &err));
  OK(canopy_options_set_read_only(options, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "read_only and follower exclude each other",
             canopy_db_open(options, path, &f, &err));
  CHECK(f == NULL);
  canopy_options_destroy(options);
}

static void TestViews(World* w) {
  phase = "views";
  canopy_db_t* db = w->db;
  // The admin's table: acme's tree (acme, acme-a, acme-a1, acme-a2, acme-b).
  canopy_table_page_t* t = NULL;
  OK(canopy_account_table(db, w->admin, CANOPY_NO_ID, CANOPY_SORT_TREE, 0, 100, NULL, &t, &err));
  CHECK(canopy_table_page_count(t) == 5);
  CHECK(canopy_table_page_total(t) == 5);
  CHECK_STR(canopy_table_page_next_cursor(t), "");
  CHECK_STR(canopy_table_page_key(t, 0), "acme");
  CHECK_STR(canopy_table_page_key(t, 1), "acme-a");
  CHECK(canopy_table_page_id(t, 1) == w->acme_a);
  CHECK(canopy_table_page_parent(t, 1) == w->acme);
  CHECK_STR(canopy_table_page_name(t, 1), "Nested customer A");
  CHECK(canopy_table_page_depth(t, 1) == 2);
  CHECK(canopy_table_page_path_count(t, 1) == 2);
  CHECK_STR(canopy_table_page_path(t, 1, 0), "acme");
  CHECK_STR(canopy_table_page_path(t, 1, 1), "acme-a");
  CHECK(canopy_table_page_path(t, 1, 2) == NULL);
  CHECK(canopy_table_page_users(t, 1) == 1);
  CHECK(canopy_table_page_sub_accounts(t, 1) == 2);
  CHECK(canopy_table_page_devices_direct(t, 1) == 2);
  CHECK(canopy_table_page_devices_subtree(t, 1) == 3);
  CHECK(canopy_table_page_groups(t, 1) == 0);  // it owns none
  CHECK(canopy_table_page_created_us(t, 1) > 0);
  // Rows out of range.
  CHECK(canopy_table_page_id(t, 5) == 0);
  CHECK(canopy_table_page_parent(t, 5) == 0);
  CHECK(canopy_table_page_key(t, 5) == NULL);
  CHECK(canopy_table_page_name(t, 5) == NULL);
  CHECK(canopy_table_page_depth(t, 5) == 0);
  CHECK(canopy_table_page_path_count(t, 5) == 0);
  CHECK(canopy_table_page_path(t, 5, 0) == NULL);
  CHECK(canopy_table_page_users(t, 5) == 0);
  CHECK(canopy_table_page_sub_accounts(t, 5) == 0);
  CHECK(canopy_table_page_devices_direct(t, 5) == 0);
  CHECK(canopy_table_page_devices_subtree(t, 5) == 0);
  CHECK(canopy_table_page_groups(t, 5) == 0);
  CHECK(canopy_table_page_created_us(t, 5) == 0);
  canopy_table_page_destroy(t);
  canopy_table_page_destroy(NULL);
  // Sorted, descending, paged; a's table is its own subtree only.
  OK(canopy_account_table(db, w->admin, w->acme, CANOPY_SORT_DEVICES_SUBTREE, 1, 2, "", &t, &err));
  CHECK(canopy_table_page_count(t) == 2);
  CHECK_STR(canopy_table_page_key(t, 0), "acme");
  char cursor[512];
  snprintf(cursor, sizeof cursor, "%s", canopy_table_page_next_cursor(t));
  CHECK(strlen(cursor) > 0);
  canopy_table_page_destroy(t);
  OK(canopy_account_table(db, w->admin, w->acme, CANOPY_SORT_DEVICES_SUBTREE, 1, 2, cursor, &t,
                          &err));
  CHECK(canopy_table_page_count(t) == 2);
  canopy_table_page_destroy(t);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "cursor",
             canopy_account_table(db, w->admin, w->acme, CANOPY_SORT_NAME, 1, 2, cursor, &t, &err));
  OK(canopy_account_table(db, w->a, CANOPY_NO_ID, CANOPY_SORT_NAME, 0, 10, NULL, &t, &err));
  CHECK(canopy_table_page_total(t) == 3);
  CHECK_STR(canopy_table_page_key(t, 0), "acme-a");  // "Nested customer A" < "Sub-account..."
  canopy_table_page_destroy(t);
  t = (canopy_table_page_t*)1;
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "sort order",
             canopy_account_table(db, w->admin, 0, 99, 0, 10, NULL, &t, &err));
  CHECK(t == NULL);
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_table(db, w->admin, 0, -1, 0, 10, NULL, &t, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "limit",
             canopy_account_table(db, w->admin, 0, CANOPY_SORT_TREE, 0, 0, NULL, &t, &err));
  FAILS(CANOPY_NOT_FOUND,
        canopy_account_table(db, 4242, 0, CANOPY_SORT_TREE, 0, 10, NULL, &t, &err));
  FAILS(CANOPY_NOT_FOUND,
        canopy_account_table(db, w->admin, 4242, CANOPY_SORT_TREE, 0, 10, NULL, &t, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'page'",
             canopy_account_table(db, w->admin, 0, CANOPY_SORT_TREE, 0, 10, NULL, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_account_table(NULL, w->admin, 0, CANOPY_SORT_TREE, 0, 10, NULL, &t, &err));

  canopy_summary_t* s = NULL;
  OK(canopy_account_summarize(db, w->acme_a, &s, &err));
  CHECK_STR(canopy_account_key(canopy_summary_account(s)), "acme-a");
  CHECK(canopy_summary_path_count(s) == 2);
  CHECK_STR(canopy_summary_path(s, 0), "acme");
  CHECK_STR(canopy_summary_path(s, 1), "acme-a");
  CHECK(canopy_summary_path(s, 2) == NULL);
  CHECK_STR(canopy_summary_path_name(s, 0), "ACME Corp");
  CHECK_STR(canopy_summary_path_name(s, 1), "Nested customer A");
  CHECK(canopy_summary_path_name(s, 2) == NULL);
  CHECK(canopy_summary_users(s) == 1);
  CHECK(canopy_summary_sub_accounts(s) == 2);
  CHECK(canopy_summary_devices_direct(s) == 2);
  CHECK(canopy_summary_devices_subtree(s) == 3);
  canopy_summary_destroy(s);
  canopy_summary_destroy(NULL);
  OK(canopy_account_summarize(db, w->acme, &s, &err));
  CHECK_STR(
      canopy_attributes_get(canopy_account_attributes(canopy_summary_account(s)), "home_dashboard"),
      "fleet");
  canopy_summary_destroy(s);
  s = (canopy_summary_t*)1;
  FAILS(CANOPY_NOT_FOUND, canopy_account_summarize(db, 4242, &s, &err));
  CHECK(s == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'summary'",
             canopy_account_summarize(db, w->acme, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_summarize(NULL, w->acme, &s, &err));

  char* text = NULL;
  size_t len = 0;
  OK(canopy_account_graph_json(db, CANOPY_SYSTEM_ACTOR, w->acme, 0, &text, &len, &err));
  CHECK(len == strlen(text));
  CHECK(strncmp(text, "{\"accounts\":[", 13) == 0);
  CHECK(strstr(text, "\"key\":\"acme-a1\"") != NULL);
  canopy_free(text);
  OK(canopy_account_graph_json(db, w->a, CANOPY_NO_ID, 1, &text, NULL, &err));
  CHECK(strstr(text, "\"key\":\"acme-a\"") != NULL);
  CHECK(strstr(text, "\"key\":\"acme-b\"") == NULL);  // not a's to read
  canopy_free(text);
  OK(canopy_account_graph_dot(db, CANOPY_SYSTEM_ACTOR, w->acme, 0, &text, &len, &err));
  CHECK(len == strlen(text));
  CHECK(strncmp(text, "digraph", 7) == 0);
  CHECK(strstr(text, "\"acme\" -> \"acme-a\"") != NULL);
  canopy_free(text);
  text = (char*)1;
  FAILS(CANOPY_NOT_FOUND, canopy_account_graph_json(db, 0, 4242, 0, &text, &len, &err));
  CHECK(text == NULL && len == 0);
  FAILS(CANOPY_NOT_FOUND, canopy_account_graph_dot(db, 4242, w->acme, 0, &text, &len, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'text'",
             canopy_account_graph_json(db, 0, w->acme, 0, NULL, &len, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'text'",
             canopy_account_graph_dot(db, 0, w->acme, 0, NULL, &len, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_graph_json(NULL, 0, w->acme, 0, &text, &len, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_graph_dot(NULL, 0, w->acme, 0, &text, &len, &err));
}

static void TestDeletes(World* w) {
  phase = "delete";
  canopy_db_t* db = w->db;
  uint64_t acme_a2 = AccountId(db, "acme-a2");
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "sub-account",
             canopy_account_delete(db, 0, w->acme_a, w->acme, &err));
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "receive",
             canopy_account_delete(db, 0, w->acme_a1, CANOPY_NO_ID, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_delete(db, 0, w->acme_a1, w->acme_a1, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_delete(db, 0, 4242, CANOPY_NO_ID, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_delete(db, 0, acme_a2, 4242, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_delete(NULL, 0, acme_a2, 0, &err));
  OK(canopy_account_delete(db, w->a, acme_a2, CANOPY_NO_ID, &err));
  OK(canopy_account_delete(db, 0, w->acme_a1, w->acme_a, &err));
  CHECK(AccountOwnerOf(db, "dev-a11") == w->acme_a);

  // A branch in one call, children first whatever the order given.
  uint64_t x1 = 0, x2 = 0, x3 = 0;
  OK(CreateAccount(db, 0, "x1", "X1", w->globex, NULL, 0, 0, &x1, &err));
  OK(CreateAccount(db, 0, "x2", "X2", x1, NULL, 0, 0, &x2, &err));
  OK(CreateAccount(db, 0, "x3", "X3", x2, NULL, 0, 0, &x3, &err));
  uint64_t partial[] = {x1, x2};
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "x3",
             canopy_account_delete_many(db, 0, partial, 2, CANOPY_NO_ID, &err));
  uint64_t dup[] = {x3, x3};
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_delete_many(db, 0, dup, 2, CANOPY_NO_ID, &err));
  uint64_t unknown[] = {x3, 4242};
  FAILS(CANOPY_NOT_FOUND, canopy_account_delete_many(db, 0, unknown, 2, CANOPY_NO_ID, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'ids'",
             canopy_account_delete_many(db, 0, NULL, 2, CANOPY_NO_ID, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_delete_many(db, 0, NULL, 0, CANOPY_NO_ID, &err));
  // A count no array can have is refused naming it, before any item is
  // read (ids + n would wrap around, a copy of n items cannot be made).
  const size_t huge = (size_t)1 << 62;
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "argument 'n' (4611686018427387904) is more items",
             canopy_account_delete_many(db, 0, partial, huge, CANOPY_NO_ID, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "argument 'n' (4611686018427387904) is more items",
             canopy_group_members_add(db, 0, 1, partial, huge, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "than an array 'refs' can hold",
             canopy_entity_reassign(db, 0, CANOPY_KIND_DEVICE, CANOPY_REF_KEY,
                                    (const char* const*)partial, huge, x1, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "than an array 'groups' can hold",
             canopy_entity_reassign_into(db, 0, CANOPY_KIND_DEVICE, CANOPY_REF_KEY, NULL, 0, x1,
                                         partial, huge, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "than an array 'permissions' can hold",
             canopy_role_update(db, 0, 4242, (const char* const*)partial, huge, &err));
  {
    const uint8_t* entries[1] = {NULL};
    size_t sizes[1] = {0};
    FAILS_WITH(CANOPY_INVALID_ARGUMENT, "than an array 'entries' can hold",
               canopy_changes_apply(db, entries, sizes, huge, NULL, &err));
  }
  // Counts below that but beyond any address space (128 TiB), of the
  // caller's array or of the copy the call makes (32 bytes a string): the
  // same, never INTERNAL from a copy that cannot be made.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "argument 'n' (288230376151711744) is more items",
             canopy_account_delete_many(db, 0, partial, (size_t)1 << 58, CANOPY_NO_ID, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "than an array 'members' can hold",
             canopy_group_members_add(db, 0, 1, partial, (size_t)1 << 45, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "than an array 'permissions' can hold",
             canopy_role_update(db, 0, 4242, (const char* const*)partial,
                                ((size_t)1 << 42) + 1, &err));
  {
    const uint8_t* entries[1] = {NULL};
    size_t sizes[1] = {0};
    FAILS_WITH(CANOPY_INVALID_ARGUMENT, "than an array 'entries' can hold",
               canopy_changes_apply(db, entries, sizes, ((size_t)1 << 42) + 1, NULL, &err));
  }
  {
    canopy_changes_t* changes = NULL;
    const char* types[1] = {"account"};
    FAILS_WITH(CANOPY_INVALID_ARGUMENT, "argument 'n_types'",
               canopy_changes_read(db, CANOPY_SYSTEM_ACTOR, 1, 10, CANOPY_NO_ID, types, SIZE_MAX,
                                   1, 0, &changes, &err));
    CHECK(changes == NULL);
  }
  CHECK(AccountOwnerOf(db, "dev-a11") == w->acme_a);
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_account_delete_many(NULL, 0, partial, 2, 0, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_account_delete_many(db, w->a, partial, 2, 0, &err));
  uint64_t branch[] = {x1, x3, x2};
  OK(canopy_account_delete_many(db, 0, branch, 3, CANOPY_NO_ID, &err));
  canopy_account_t* a = NULL;
  FAILS(CANOPY_NOT_FOUND, canopy_account_get(db, x2, &a, &err));
}

static void TestInterchange(World* w) {
  phase = "interchange";
  canopy_db_t* db = w->db;
  char exported[512], copy_path[512], bad[512], big[512];
  Path(exported, sizeof exported, "export.jsonl");
  Path(copy_path, sizeof copy_path, "copy");
  Path(bad, sizeof bad, "bad.jsonl");
  Path(big, sizeof big, "big.jsonl");

  Progress progress = {0, 0, 0};
  canopy_import_report_t* counts = NULL;
  OK(canopy_db_export(db, exported, CountProgress, &progress, &counts, &err));
  CHECK(progress.calls >= 1 && progress.last_done == progress.last_total);
  CHECK(canopy_import_report_accounts(counts) == 4);  // acme, acme-a, acme-b, globex
  CHECK(canopy_import_report_roles(counts) == 1);     // the custom auditor
  CHECK(canopy_import_report_users(counts) == 5);     // admin, a, b, aud, g
  CHECK(canopy_import_report_memberships(counts) == 4);
  CHECK(canopy_import_report_entities(counts) == 6);
  CHECK(canopy_import_report_lines(counts) >= 19);
  OK(canopy_db_export(db, exported, NULL, NULL, NULL, &err));  // everything optional
  // Closing from inside the export's own callback is refused and frees
  // nothing: the export finishes and the handle stays usable.
  close_refusals = 0;
  OK(canopy_db_export(db, exported, CloseFromProgress, db, NULL, &err));
  CHECK(close_refusals >= 1);
  CHECK(AccountId(db, "acme-a") != 0);
  canopy_import_report_t* report = (canopy_import_report_t*)1;
  FAILS(CANOPY_IO_ERROR,
        canopy_db_export(db, "/nonexistent-canopy-dir/x.jsonl", NULL, NULL, &report, &err));
  CHECK(report == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'path'",
             canopy_db_export(db, NULL, NULL, NULL, &report, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_export(NULL, exported, NULL, NULL, &report, &err));

  // Import into a fresh database: the same counts, and a clean check.
  canopy_db_t* copy = NULL;
  OK(canopy_db_open(NULL, copy_path, &copy, &err));
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "system",
             canopy_db_import(copy, w->a, exported, NULL, NULL, &report, &err));
  progress.calls = 0;
  OK(canopy_db_import(copy, CANOPY_SYSTEM_ACTOR, exported, CountProgress, &progress, &report,
                      &err));
  CHECK(progress.calls >= 1);
  CHECK(canopy_import_report_lines(report) == canopy_import_report_lines(counts));
  CHECK(canopy_import_report_accounts(report) == canopy_import_report_accounts(counts));
  CHECK(canopy_import_report_roles(report) == canopy_import_report_roles(counts));
  CHECK(canopy_import_report_users(report) == canopy_import_report_users(counts));
  CHECK(canopy_import_report_memberships(report) == canopy_import_report_memberships(counts));
  CHECK(canopy_import_report_entities(report) == canopy_import_report_entities(counts));
  canopy_import_report_destroy(report);
  canopy_import_report_destroy(counts);
  canopy_import_report_destroy(NULL);
  CHECK(canopy_import_report_lines(NULL) == 0);
  CHECK(canopy_import_report_groups(NULL) == 0);
  CHECK(canopy_import_report_group_members(NULL) == 0);
  CHECK(canopy_import_report_group_grants(NULL) == 0);
  CHECK(AccountOwnerOf(copy, "dev-a11") == AccountId(copy, "acme-a"));
  canopy_strings_t* problems = NULL;
  OK(canopy_db_check_integrity(copy, CountProgress, &progress, &problems, &err));
  CHECK(canopy_strings_count(problems) == 0);
  CHECK(canopy_strings_at(problems, 0) == NULL);
  canopy_strings_destroy(problems);
  canopy_strings_destroy(NULL);
  OK(canopy_db_check_integrity(db, NULL, NULL, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_check_integrity(NULL, NULL, NULL, &problems, &err));
  CHECK(problems == NULL);
  // Importing the same file again clashes with what is there: nothing changes.
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_db_import(copy, CANOPY_SYSTEM_ACTOR, exported, NULL, NULL, NULL, &err));
  OK(canopy_db_close(copy, &err));

  // A bad line is named; nothing is written.
  FILE* f = fopen(bad, "w");
  CHECK(f != NULL);
  fputs("{\"type\":\"account\",\"key\":\"initech\",\"name\":\"Initech\"}\n", f);
  fputs("{\"type\":\"account\",\"key\":\n", f);
  fclose(f);
  size_t roots = RootCount(db);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "line 2",
             canopy_db_import(db, CANOPY_SYSTEM_ACTOR, bad, NULL, NULL, &report, &err));
  CHECK(report == NULL);
  CHECK(RootCount(db) == roots);
  FAILS(CANOPY_NOT_FOUND, canopy_db_import(db, CANOPY_SYSTEM_ACTOR, "/nonexistent-canopy-dir/x",
                                           NULL, NULL, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'path'",
             canopy_db_import(db, CANOPY_SYSTEM_ACTOR, NULL, NULL, NULL, NULL, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_db_import(NULL, CANOPY_SYSTEM_ACTOR, bad, NULL, NULL, NULL, &err));

  // Cancelling: progress is asked every 16k lines.
  f = fopen(big, "w");
  CHECK(f != NULL);
  for (int i = 0; i < 20000; ++i) {
    fprintf(f, "{\"type\":\"account\",\"key\":\"bulk-%d\",\"name\":\"Bulk %d\"}\n", i, i);
  }
  fclose(f);
  progress.calls = 0;
  FAILS_WITH(CANOPY_ABORTED, "cancelled",
             canopy_db_import(db, CANOPY_SYSTEM_ACTOR, big, CancelProgress, &progress, NULL, &err));
  CHECK(progress.calls == 1);
  CHECK(RootCount(db) == roots);
}

// Every accessor copes with a NULL handle.
// Groups (c.h, "Groups") in a database of their own: builders, every call
// with its refusals (which change nothing), the member report, grants and
// the viewer forms.
static canopy_code_t CreateGroup(canopy_db_t* db, uint64_t actor, int kind, const char* name,
                                 uint64_t owner, uint64_t* id, char** errmsg) {
  canopy_group_spec_t* spec = canopy_group_spec_create();
  CHECK(spec != NULL);
  canopy_code_t code = canopy_group_spec_set_kind(spec, kind, errmsg);
  if (code == CANOPY_OK) code = canopy_group_spec_set_name(spec, name, errmsg);
  if (code == CANOPY_OK) code = canopy_group_spec_set_owner(spec, owner, errmsg);
  if (code == CANOPY_OK) code = canopy_group_create(db, actor, spec, id, errmsg);
  canopy_group_spec_destroy(spec);
  return code;
}

static canopy_code_t Grant(canopy_db_t* db, uint64_t actor, uint64_t user_group, uint64_t role,
                           uint64_t target, int branch, char** errmsg) {
  canopy_group_grant_spec_t* spec = canopy_group_grant_spec_create();
  CHECK(spec != NULL);
  canopy_code_t code = canopy_group_grant_spec_set_user_group(spec, user_group, errmsg);
  if (code == CANOPY_OK) code = canopy_group_grant_spec_set_role(spec, role, errmsg);
  if (code == CANOPY_OK) code = canopy_group_grant_spec_set_target(spec, target, errmsg);
  if (code == CANOPY_OK) code = canopy_group_grant_spec_set_branch(spec, branch, errmsg);
  if (code == CANOPY_OK) code = canopy_group_grant(db, actor, spec, errmsg);
  canopy_group_grant_spec_destroy(spec);
  return code;
}

static uint64_t GroupSize(canopy_db_t* db, uint64_t id) {
  canopy_group_t* g = NULL;
  OK(canopy_group_get(db, id, &g, &err));
  uint64_t n = canopy_group_size(g);
  canopy_group_destroy(g);
  return n;
}

static void TestGroups(void) {
  phase = "groups";
  char path[512];
  Path(path, sizeof path, "groups-db");
  canopy_options_t* options = canopy_options_create();
  OK(canopy_options_set_create_if_missing(options, 1, &err));
  canopy_db_t* db = NULL;
  OK(canopy_db_open(options, path, &db, &err));
  canopy_options_destroy(options);

  // acme (root, group sharing on) > shop; globex (root). Devices d1, d2 of
  // shop, hq of acme; users ann (shop, account_admin there) and out
  // (globex, account_admin there).
  canopy_account_spec_t* aspec = canopy_account_spec_create();
  OK(canopy_account_spec_set_key(aspec, "acme", &err));
  OK(canopy_account_spec_set_name(aspec, "ACME", &err));
  OK(canopy_account_spec_set_sub_account_management(aspec, 1, &err));
  OK(canopy_account_spec_set_group_sharing(aspec, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_account_spec_set_group_sharing(NULL, 1, &err));
  uint64_t acme = 0, shop = 0, globex = 0;
  OK(canopy_account_create(db, CANOPY_SYSTEM_ACTOR, aspec, &acme, &err));
  canopy_account_spec_destroy(aspec);
  OK(CreateAccount(db, CANOPY_SYSTEM_ACTOR, "shop", "Shop", acme, NULL, 0,
                   CANOPY_ACCESS_DEFAULT_OFF, &shop, &err));
  OK(CreateAccount(db, CANOPY_SYSTEM_ACTOR, "globex", "Globex", CANOPY_NO_ID, NULL, 0,
                   CANOPY_ACCESS_DEFAULT_OFF, &globex, &err));
  canopy_account_t* acc = NULL;
  OK(canopy_account_get(db, acme, &acc, &err));
  CHECK(canopy_account_group_sharing(acc) == 1);
  canopy_account_destroy(acc);
  OK(canopy_account_get(db, globex, &acc, &err));
  CHECK(canopy_account_group_sharing(acc) == 0);
  canopy_account_destroy(acc);
  CHECK(canopy_account_group_sharing(NULL) == 0);
  canopy_account_patch_t* patch = canopy_account_patch_create();
  OK(canopy_account_patch_set_group_sharing(patch, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'patch'", canopy_account_patch_set_group_sharing(NULL, 1, &err));
  OK(canopy_account_update(db, CANOPY_SYSTEM_ACTOR, globex, patch, &err));
  canopy_account_patch_destroy(patch);
  OK(canopy_account_get(db, globex, &acc, &err));
  CHECK(canopy_account_group_sharing(acc) == 1);
  canopy_account_destroy(acc);

  uint64_t d1 = 0, d2 = 0, hq = 0, ann = 0, out = 0;
  OK(CreateEntity(db, CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE, "d1", NULL, "D1", NULL, shop, NULL, &d1, &err));
  OK(CreateEntity(db, CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE, "d2", NULL, "D2", NULL, shop, NULL, &d2, &err));
  OK(CreateEntity(db, CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE, "hq", NULL, "HQ", NULL, acme, NULL, &hq, &err));
  OK(CreateUser(db, CANOPY_SYSTEM_ACTOR, "ann@shop", "Ann", shop, &ann, &err));
  OK(CreateUser(db, CANOPY_SYSTEM_ACTOR, "out@globex", "Out", globex, &out, &err));
  const uint64_t admin = RoleId(db, CANOPY_NO_ID, "account_admin");
  const uint64_t viewer = RoleId(db, CANOPY_NO_ID, "viewer");
  OK(canopy_membership_invite(db, CANOPY_SYSTEM_ACTOR, ann, shop, admin, 0, &err));
  OK(canopy_membership_invite(db, CANOPY_SYSTEM_ACTOR, out, globex, admin, 0, &err));
  uint64_t vic = 0;
  OK(CreateUser(db, CANOPY_SYSTEM_ACTOR, "vic@shop", "Vic", shop, &vic, &err));
  OK(canopy_membership_invite(db, CANOPY_SYSTEM_ACTOR, vic, shop, viewer, 0, &err));

  // Builders: NULL builders and strings, kinds out of range.
  canopy_group_spec_t* spec = canopy_group_spec_create();
  CHECK(spec != NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_group_spec_set_kind(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "group kind", canopy_group_spec_set_kind(spec, 0, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "group kind", canopy_group_spec_set_kind(spec, 7, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_group_spec_set_name(NULL, "x", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'name'", canopy_group_spec_set_name(spec, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_group_spec_set_owner(NULL, 1, &err));
  uint64_t id = 7;
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_group_create(NULL, 0, spec, &id, &err));
  CHECK(id == CANOPY_NO_ID);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_group_create(db, 0, NULL, &id, &err));
  // A new spec has no owner and no name.
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_group_create(db, 0, spec, &id, &err));
  OK(canopy_group_spec_set_name(spec, "nobody's", &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_create(db, 0, spec, &id, &err));
  canopy_group_spec_destroy(spec);
  canopy_group_spec_destroy(NULL);
  canopy_group_grant_spec_t* gspec = canopy_group_grant_spec_create();
  CHECK(gspec != NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_group_grant_spec_set_user_group(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_group_grant_spec_set_role(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_group_grant_spec_set_target(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_group_grant_spec_set_branch(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_group_grant(NULL, 0, gspec, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'spec'", canopy_group_grant(db, 0, NULL, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_grant(db, 0, gspec, &err));  // no user group set
  canopy_group_grant_spec_destroy(gspec);
  canopy_group_grant_spec_destroy(NULL);

  // Create: by ann on her account; refusals change nothing.
  uint64_t fleet = 0, ops = 0, shared = 0, subs = 0;
  OK(CreateGroup(db, ann, CANOPY_GROUP_DEVICE, "fleet", shop, &fleet, &err));
  CHECK(fleet != CANOPY_NO_ID);
  OK(CreateGroup(db, ann, CANOPY_GROUP_USER, "ops", shop, &ops, &err));
  OK(CreateGroup(db, CANOPY_SYSTEM_ACTOR, CANOPY_GROUP_DEVICE, "shared", acme, &shared, &err));
  OK(CreateGroup(db, CANOPY_SYSTEM_ACTOR, CANOPY_GROUP_ACCOUNT, "subs", acme, &subs, &err));
  const uint64_t revision = canopy_db_revision(db);
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "fleet",
             CreateGroup(db, ann, CANOPY_GROUP_DEVICE, "fleet", shop, &id, &err));
  // acme is out of ann's sight: worded as missing; vic sees shop as a viewer.
  FAILS_WITH(CANOPY_NOT_FOUND, "no account with id",
             CreateGroup(db, ann, CANOPY_GROUP_DEVICE, "mine", acme, &id, &err));
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "group.write",
             CreateGroup(db, vic, CANOPY_GROUP_DEVICE, "mine", shop, &id, &err));
  FAILS(CANOPY_NOT_FOUND, CreateGroup(db, ann, CANOPY_GROUP_DEVICE, "x", 4242, &id, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, CreateGroup(db, ann, CANOPY_GROUP_DEVICE, "", shop, &id, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "UTF-8",
             CreateGroup(db, ann, CANOPY_GROUP_DEVICE, "bad\xFF", shop, &id, &err));
  CHECK(canopy_db_revision(db) == revision);

  // Get and the accessors.
  canopy_group_t* g = (canopy_group_t*)1;
  OK(canopy_group_get(db, fleet, &g, &err));
  CHECK(canopy_group_id(g) == fleet);
  CHECK(canopy_group_kind(g) == CANOPY_GROUP_DEVICE);
  CHECK_STR(canopy_group_name(g), "fleet");
  CHECK(canopy_group_owner(g) == shop);
  CHECK(canopy_group_size(g) == 0);
  CHECK(canopy_group_created_us(g) > 0);
  CHECK(canopy_group_updated_us(g) >= canopy_group_created_us(g));
  canopy_group_destroy(g);
  canopy_group_destroy(NULL);
  g = (canopy_group_t*)1;
  FAILS_WITH(CANOPY_NOT_FOUND, "4242", canopy_group_get(db, 4242, &g, &err));
  CHECK(g == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_group_get(NULL, fleet, &g, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'group'", canopy_group_get(db, fleet, NULL, &err));

  // Members: the report names each item; a batch with any bad item changes
  // nothing.
  canopy_group_members_report_t* report = (canopy_group_members_report_t*)1;
  const uint64_t bad_batch[] = {d1, hq, 4242, d1};
  FAILS(CANOPY_NOT_FOUND, canopy_group_members_add(db, ann, fleet, bad_batch, 4, &report, &err));
  CHECK(report != NULL);
  CHECK(canopy_group_members_report_count(report) == 4);
  CHECK(canopy_group_members_report_member(report, 0) == d1);
  CHECK(canopy_group_members_report_outcome(report, 0) == CANOPY_MEMBER_DONE);
  // hq is acme's: out of ann's sight, so unknown like 4242.
  CHECK(canopy_group_members_report_outcome(report, 1) == CANOPY_MEMBER_UNKNOWN);
  CHECK(canopy_group_members_report_outcome(report, 2) == CANOPY_MEMBER_UNKNOWN);
  CHECK(strstr(canopy_group_members_report_message(report, 2), "4242") != NULL);
  CHECK(canopy_group_members_report_outcome(report, 3) == CANOPY_MEMBER_DUPLICATE);
  CHECK(strstr(canopy_group_members_report_message(report, 3), "d1") != NULL);
  CHECK_STR(canopy_group_members_report_message(report, 0), "");
  CHECK(canopy_group_members_report_total(report, CANOPY_MEMBER_DONE) == 1);
  CHECK(canopy_group_members_report_total(report, CANOPY_MEMBER_UNKNOWN) == 2);
  CHECK(canopy_group_members_report_total(report, CANOPY_MEMBER_DUPLICATE) == 1);
  CHECK(canopy_group_members_report_total(report, CANOPY_MEMBER_DENIED) == 0);
  CHECK(canopy_group_members_report_total(report, CANOPY_MEMBER_UNCHANGED) == 0);
  CHECK(canopy_group_members_report_total(report, 99) == 0);
  CHECK(canopy_group_members_report_outcome(report, 4) == -1);
  CHECK(canopy_group_members_report_member(report, 4) == 0);
  CHECK(canopy_group_members_report_message(report, 4) == NULL);
  canopy_group_members_report_destroy(report);
  canopy_group_members_report_destroy(NULL);
  CHECK(GroupSize(db, fleet) == 0);
  CHECK(canopy_db_revision(db) == revision);
  // The system sees hq, which is not shop's: denied, naming the owner.
  const uint64_t foreign[] = {d1, hq};
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "hq",
             canopy_group_members_add(db, CANOPY_SYSTEM_ACTOR, fleet, foreign, 2, &report, &err));
  CHECK(canopy_group_members_report_outcome(report, 1) == CANOPY_MEMBER_DENIED);
  CHECK(strstr(canopy_group_members_report_message(report, 1), "shop") != NULL);
  canopy_group_members_report_destroy(report);
  CHECK(GroupSize(db, fleet) == 0);
  // Arguments refused before any item: no report.
  report = (canopy_group_members_report_t*)1;
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'",
             canopy_group_members_add(NULL, ann, fleet, bad_batch, 1, &report, &err));
  CHECK(report == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'members'",
             canopy_group_members_add(db, ann, fleet, NULL, 1, &report, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_group_members_add(db, ann, fleet, NULL, 0, &report, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_members_add(db, ann, 4242, bad_batch, 1, &report, &err));
  CHECK(report == NULL);
  const uint64_t good[] = {d1, d2};
  OK(canopy_group_members_add(db, ann, fleet, good, 2, &report, &err));
  CHECK(canopy_group_members_report_total(report, CANOPY_MEMBER_DONE) == 2);
  canopy_group_members_report_destroy(report);
  OK(canopy_group_members_add(db, ann, fleet, good, 1, NULL, &err));  // report optional
  CHECK(GroupSize(db, fleet) == 2);
  const uint64_t people[] = {ann};
  OK(canopy_group_members_add(db, ann, ops, people, 1, NULL, &err));
  // A user is not a device: adding ann's id to fleet names an entity.
  const uint64_t accounts[] = {shop};
  OK(canopy_group_members_add(db, CANOPY_SYSTEM_ACTOR, subs, accounts, 1, NULL, &err));

  // The members page: ids in order, resumed from `next`.
  uint64_t* members = (uint64_t*)1;
  size_t count = 9;
  uint64_t next = 9;
  OK(canopy_group_members_list(db, fleet, 0, 1, &members, &count, &next, &err));
  CHECK(count == 1 && members[0] == (d1 < d2 ? d1 : d2) && next == members[0]);
  canopy_free(members);
  OK(canopy_group_members_list(db, fleet, next, 10, &members, &count, &next, &err));
  CHECK(count == 1 && members[0] == (d1 < d2 ? d2 : d1) && next == 0);
  canopy_free(members);
  OK(canopy_group_members_list(db, fleet, d2 > d1 ? d2 : d1, 10, &members, &count, NULL, &err));
  CHECK(count == 0 && members == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "limit",
             canopy_group_members_list(db, fleet, 0, 0, &members, &count, &next, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_group_members_list(db, fleet, 0, 100001, &members, &count, &next, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_members_list(db, 4242, 0, 10, &members, &count, &next, &err));
  CHECK(members == NULL && count == 0 && next == 0);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'members'",
             canopy_group_members_list(db, fleet, 0, 10, NULL, &count, &next, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'count'",
             canopy_group_members_list(db, fleet, 0, 10, &members, NULL, &next, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'",
             canopy_group_members_list(NULL, fleet, 0, 10, &members, &count, &next, &err));

  // Lists: an owner's groups, a member's groups.
  canopy_groups_t* list = (canopy_groups_t*)1;
  OK(canopy_group_list(db, shop, &list, &err));
  CHECK(canopy_groups_count(list) == 2);
  CHECK(canopy_group_id(canopy_groups_at(list, 0)) == fleet);
  CHECK_STR(canopy_group_name(canopy_groups_at(list, 1)), "ops");
  CHECK(canopy_groups_at(list, 2) == NULL);
  canopy_groups_destroy(list);
  canopy_groups_destroy(NULL);
  FAILS(CANOPY_NOT_FOUND, canopy_group_list(db, 4242, &list, &err));
  CHECK(list == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'groups'", canopy_group_list(db, shop, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_group_list(NULL, shop, &list, &err));
  OK(canopy_group_list_by_member(db, CANOPY_GROUP_DEVICE, d1, &list, &err));
  CHECK(canopy_groups_count(list) == 1 && canopy_group_id(canopy_groups_at(list, 0)) == fleet);
  canopy_groups_destroy(list);
  OK(canopy_group_list_by_member(db, CANOPY_GROUP_USER, ann, &list, &err));
  CHECK(canopy_groups_count(list) == 1 && canopy_group_id(canopy_groups_at(list, 0)) == ops);
  canopy_groups_destroy(list);
  OK(canopy_group_list_by_member(db, CANOPY_GROUP_ACCOUNT, shop, &list, &err));
  CHECK(canopy_groups_count(list) == 1 && canopy_group_id(canopy_groups_at(list, 0)) == subs);
  canopy_groups_destroy(list);
  OK(canopy_group_list_by_member(db, CANOPY_GROUP_DEVICE, hq, &list, &err));
  CHECK(canopy_groups_count(list) == 0);
  canopy_groups_destroy(list);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "group kind",
             canopy_group_list_by_member(db, 0, d1, &list, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_list_by_member(db, CANOPY_GROUP_USER, 4242, &list, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'groups'",
             canopy_group_list_by_member(db, CANOPY_GROUP_USER, ann, NULL, &err));

  // Grants: onto shop's own group; shared down from acme (sharing on);
  // upward refused; revoke.
  OK(Grant(db, ann, ops, viewer, fleet, 0, &err));
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "", Grant(db, ann, ops, viewer, fleet, 0, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, Grant(db, ann, ops, viewer, fleet, 1, &err));  // branch on entities
  FAILS(CANOPY_INVALID_ARGUMENT, Grant(db, ann, fleet, viewer, fleet, 0, &err));  // not a user group
  FAILS(CANOPY_NOT_FOUND, Grant(db, ann, ops, 4242, fleet, 0, &err));
  OK(Grant(db, CANOPY_SYSTEM_ACTOR, ops, viewer, shared, 0, &err));
  uint64_t up = 0;
  OK(CreateGroup(db, CANOPY_SYSTEM_ACTOR, CANOPY_GROUP_USER, "acme-staff", acme, &up, &err));
  FAILS(CANOPY_FAILED_PRECONDITION, Grant(db, CANOPY_SYSTEM_ACTOR, up, viewer, fleet, 0, &err));
  canopy_group_grants_t* grants = (canopy_group_grants_t*)1;
  OK(canopy_group_grant_list(db, ops, &grants, &err));
  CHECK(canopy_group_grants_count(grants) == 2);
  CHECK(canopy_group_grants_user_group(grants, 0) == ops);
  CHECK(canopy_group_grants_role(grants, 0) == viewer);
  CHECK(canopy_group_grants_target(grants, 0) == (fleet < shared ? fleet : shared));
  CHECK(canopy_group_grants_branch(grants, 0) == 0);
  CHECK(canopy_group_grants_created_us(grants, 0) > 0);
  CHECK(canopy_group_grants_user_group(grants, 2) == 0);
  CHECK(canopy_group_grants_role(grants, 2) == 0);
  CHECK(canopy_group_grants_target(grants, 2) == 0);
  CHECK(canopy_group_grants_branch(grants, 2) == 0);
  CHECK(canopy_group_grants_created_us(grants, 2) == 0);
  canopy_group_grants_destroy(grants);
  canopy_group_grants_destroy(NULL);
  OK(canopy_group_grant_list(db, fleet, &grants, &err));  // the grants onto it
  CHECK(canopy_group_grants_count(grants) == 1 && canopy_group_grants_target(grants, 0) == fleet);
  canopy_group_grants_destroy(grants);
  FAILS(CANOPY_NOT_FOUND, canopy_group_grant_list(db, 4242, &grants, &err));
  CHECK(grants == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'grants'", canopy_group_grant_list(db, ops, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_group_grant_list(NULL, ops, &grants, &err));

  // Reached through a group grant, and named as such: its user group and
  // the group it is on (a membership leaves both CANOPY_NO_ID).
  const uint64_t hq_only[] = {hq};
  OK(canopy_group_members_add(db, CANOPY_SYSTEM_ACTOR, shared, hq_only, 1, NULL, &err));
  canopy_explanation_t* through = NULL;
  OK(canopy_access_explain(db, ann, "device.read", "hq", &through, &err));
  CHECK(canopy_explanation_allowed(through) == 1);
  CHECK(canopy_explanation_via_user_group(through) == ops);
  CHECK(canopy_explanation_via_group(through) == shared);
  canopy_explanation_destroy(through);
  OK(canopy_access_explain(db, vic, "device.read", "d1", &through, &err));  // a membership
  CHECK(canopy_explanation_allowed(through) == 1);
  CHECK(canopy_explanation_via_user_group(through) == CANOPY_NO_ID);
  CHECK(canopy_explanation_via_group(through) == CANOPY_NO_ID);
  canopy_explanation_destroy(through);
  CHECK(canopy_explanation_via_user_group(NULL) == CANOPY_NO_ID);
  CHECK(canopy_explanation_via_group(NULL) == CANOPY_NO_ID);
  canopy_who_can_page_t* who = NULL;
  OK(canopy_access_who_can(db, "device.read", "hq", 100, NULL, &who, &err));
  int ann_listed = 0;
  for (size_t i = 0; i < canopy_who_can_page_count(who); ++i) {
    if (canopy_who_can_page_user(who, i) != ann) continue;
    ann_listed = 1;
    CHECK(canopy_who_can_page_via_user_group(who, i) == ops);
    CHECK(canopy_who_can_page_via_group(who, i) == shared);
  }
  CHECK(ann_listed);
  CHECK(canopy_who_can_page_via_user_group(who, 1000) == CANOPY_NO_ID);
  CHECK(canopy_who_can_page_via_group(who, 1000) == CANOPY_NO_ID);
  canopy_who_can_page_destroy(who);
  OK(canopy_access_who_can(db, "device.read", "d2", 100, NULL, &who, &err));
  for (size_t i = 0; i < canopy_who_can_page_count(who); ++i) {
    if (canopy_who_can_page_user(who, i) != vic) continue;
    CHECK(canopy_who_can_page_via_user_group(who, i) == CANOPY_NO_ID);
    CHECK(canopy_who_can_page_via_group(who, i) == CANOPY_NO_ID);
  }
  canopy_who_can_page_destroy(who);
  CHECK(canopy_who_can_page_via_user_group(NULL, 0) == CANOPY_NO_ID);

  // Viewer forms: out (globex) sees none of shop's groups, worded as
  // missing; ann sees her own.
  FAILS_WITH(CANOPY_NOT_FOUND, "4242", canopy_group_get_as(db, out, 4242, &g, &err));
  char missing[64];
  snprintf(missing, sizeof missing, "%" PRIu64, fleet);
  FAILS_WITH(CANOPY_NOT_FOUND, missing, canopy_group_get_as(db, out, fleet, &g, &err));
  CHECK(g == NULL);
  OK(canopy_group_get_as(db, ann, fleet, &g, &err));
  CHECK(canopy_group_size(g) == 2);
  canopy_group_destroy(g);
  FAILS(CANOPY_NOT_FOUND, canopy_group_list_as(db, out, shop, &list, &err));
  OK(canopy_group_list_as(db, ann, shop, &list, &err));
  CHECK(canopy_groups_count(list) == 2);
  canopy_groups_destroy(list);
  OK(canopy_group_list_by_member_as(db, ann, CANOPY_GROUP_DEVICE, d1, &list, &err));
  CHECK(canopy_groups_count(list) == 1);
  canopy_groups_destroy(list);
  FAILS(CANOPY_NOT_FOUND, canopy_group_list_by_member_as(db, out, CANOPY_GROUP_DEVICE, d1, &list, &err));
  OK(canopy_group_members_list_as(db, ann, fleet, 0, 10, &members, &count, &next, &err));
  CHECK(count == 2);
  canopy_free(members);
  FAILS(CANOPY_NOT_FOUND, canopy_group_members_list_as(db, out, fleet, 0, 10, &members, &count, &next, &err));
  OK(canopy_group_grant_list_as(db, ann, ops, &grants, &err));
  CHECK(canopy_group_grants_count(grants) == 2);
  canopy_group_grants_destroy(grants);
  FAILS(CANOPY_NOT_FOUND, canopy_group_grant_list_as(db, out, ops, &grants, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_get_as(db, 4242, fleet, &g, &err));  // unknown viewer

  // Rename, revoke, remove members, delete; each refusal changes nothing.
  uint64_t before = canopy_db_revision(db);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'name'", canopy_group_rename(db, ann, fleet, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_group_rename(NULL, ann, fleet, "x", &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_rename(db, ann, 4242, "x", &err));
  uint64_t spare = 0;
  OK(CreateGroup(db, ann, CANOPY_GROUP_DEVICE, "spare", shop, &spare, &err));
  const uint64_t before_rename = canopy_db_revision(db);
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "fleet", canopy_group_rename(db, ann, spare, "fleet", &err));
  CHECK(canopy_db_revision(db) == before_rename);
  FAILS(CANOPY_NOT_FOUND, canopy_group_rename(db, out, fleet, "x", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_group_revoke(NULL, ann, ops, viewer, fleet, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_revoke(db, ann, ops, admin, fleet, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_group_delete(NULL, ann, fleet, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_delete(db, ann, 4242, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_delete(db, out, fleet, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'",
             canopy_group_members_remove(NULL, ann, fleet, good, 2, &report, &err));
  // Removing: an unknown id refuses the batch, as in adding; so does one
  // named twice.
  const uint64_t unknown[] = {d1, 4242};
  FAILS_WITH(CANOPY_NOT_FOUND, "no entity with id 4242",
             canopy_group_members_remove(db, ann, fleet, unknown, 2, &report, &err));
  CHECK(canopy_group_members_report_outcome(report, 0) == CANOPY_MEMBER_DONE);
  CHECK(canopy_group_members_report_outcome(report, 1) == CANOPY_MEMBER_UNKNOWN);
  canopy_group_members_report_destroy(report);
  const uint64_t twice[] = {d1, d1};
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "more than once",
             canopy_group_members_remove(db, ann, fleet, twice, 2, &report, &err));
  CHECK(canopy_group_members_report_outcome(report, 0) == CANOPY_MEMBER_DONE);
  CHECK(canopy_group_members_report_outcome(report, 1) == CANOPY_MEMBER_DUPLICATE);
  canopy_group_members_report_destroy(report);
  CHECK(GroupSize(db, fleet) == 2);
  CHECK(canopy_db_revision(db) == before + 1);  // only the spare group's creation
  OK(canopy_group_rename(db, ann, fleet, "trucks", &err));
  OK(canopy_group_get(db, fleet, &g, &err));
  CHECK_STR(canopy_group_name(g), "trucks");
  canopy_group_destroy(g);
  OK(canopy_group_revoke(db, ann, ops, viewer, fleet, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_revoke(db, ann, ops, viewer, fleet, &err));
  OK(canopy_group_members_remove(db, ann, fleet, good, 1, &report, &err));
  CHECK(canopy_group_members_report_total(report, CANOPY_MEMBER_DONE) == 1);
  canopy_group_members_report_destroy(report);
  CHECK(GroupSize(db, fleet) == 1);
  OK(canopy_group_delete(db, CANOPY_SYSTEM_ACTOR, shared, &err));
  OK(canopy_group_grant_list(db, ops, &grants, &err));
  CHECK(canopy_group_grants_count(grants) == 0);  // the grant onto it went with it
  canopy_group_grants_destroy(grants);
  OK(canopy_group_delete(db, ann, fleet, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_get(db, fleet, &g, &err));
  canopy_entity_t* e = NULL;
  OK(canopy_entity_get(db, d1, &e, &err));  // members stay
  canopy_entity_destroy(e);
  OK(canopy_db_check_integrity(db, NULL, NULL, NULL, &err));

  // Export and import carry the groups, their members and grants.
  OK(Grant(db, ann, ops, viewer, spare, 0, &err));
  char exported[512], copy_path[512];
  Path(exported, sizeof exported, "groups.jsonl");
  Path(copy_path, sizeof copy_path, "groups-copy");
  canopy_import_report_t* counts = NULL;
  OK(canopy_db_export(db, exported, NULL, NULL, &counts, &err));
  CHECK(canopy_import_report_groups(counts) == 4);  // ops, subs, acme-staff, spare
  CHECK(canopy_import_report_group_members(counts) == 2);  // ann in ops, shop in subs
  CHECK(canopy_import_report_group_grants(counts) == 1);
  canopy_db_t* copy = NULL;
  OK(canopy_db_open(NULL, copy_path, &copy, &err));
  canopy_import_report_t* imported = NULL;
  OK(canopy_db_import(copy, CANOPY_SYSTEM_ACTOR, exported, NULL, NULL, &imported, &err));
  CHECK(canopy_import_report_groups(imported) == 4);
  CHECK(canopy_import_report_group_members(imported) == 2);
  CHECK(canopy_import_report_group_grants(imported) == 1);
  canopy_import_report_destroy(imported);
  canopy_import_report_destroy(counts);
  OK(canopy_group_get(copy, ops, &g, &err));
  CHECK_STR(canopy_group_name(g), "ops");
  CHECK(canopy_group_size(g) == 1);
  canopy_group_destroy(g);
  OK(canopy_group_grant_list(copy, ops, &grants, &err));
  CHECK(canopy_group_grants_count(grants) == 1 && canopy_group_grants_target(grants, 0) == spare);
  canopy_group_grants_destroy(grants);
  OK(canopy_account_find(copy, "acme", &acc, &err));
  CHECK(canopy_account_group_sharing(acc) == 1);
  canopy_account_destroy(acc);
  OK(canopy_db_check_integrity(copy, NULL, NULL, NULL, &err));
  OK(canopy_db_close(copy, &err));

  // Reassign into groups of the new owner; a bad group list refuses the
  // call before any item (no report, nothing changed).
  const char* const moving[] = {"hq"};
  const uint64_t spare_twice[] = {spare, spare};
  canopy_reassign_report_t* rr = (canopy_reassign_report_t*)1;
  const uint64_t before_reassign = canopy_db_revision(db);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "more than once",
             canopy_entity_reassign_into(db, CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE,
                                         CANOPY_REF_KEY, moving, 1, shop, spare_twice, 2, &rr, &err));
  CHECK(rr == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'groups'",
             canopy_entity_reassign_into(db, CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE,
                                         CANOPY_REF_KEY, moving, 1, shop, NULL, 1, &rr, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "not owned by account",
             canopy_entity_reassign_into(db, CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE,
                                         CANOPY_REF_KEY, moving, 1, acme, spare_twice, 1, &rr, &err));
  CHECK(canopy_db_revision(db) == before_reassign);
  OK(canopy_entity_reassign_into(db, CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE, CANOPY_REF_KEY,
                                 moving, 1, shop, spare_twice, 1, &rr, &err));
  CHECK(canopy_reassign_report_total(rr, CANOPY_OUTCOME_MOVED) == 1);
  canopy_reassign_report_destroy(rr);
  CHECK(GroupSize(db, spare) == 1);
  // Overlap: hq in two of shop's groups.
  uint64_t extra = 0;
  OK(CreateGroup(db, ann, CANOPY_GROUP_DEVICE, "extra", shop, &extra, &err));
  const uint64_t just_hq[] = {hq};
  OK(canopy_group_members_add(db, ann, extra, just_hq, 1, NULL, &err));
  OK(canopy_group_get(db, spare, &g, &err));
  CHECK(canopy_group_overlap(g) == 1);
  canopy_group_destroy(g);
  CHECK(canopy_group_overlap(NULL) == 0);
  // Find by name: shop's device group 'extra'; as ann, and as vic (a
  // viewer of shop, without group.read: not found, as missing).
  OK(canopy_group_find(db, shop, CANOPY_GROUP_DEVICE, "extra", &g, &err));
  CHECK(canopy_group_id(g) == extra);
  canopy_group_destroy(g);
  OK(canopy_group_find_as(db, ann, shop, CANOPY_GROUP_DEVICE, "extra", &g, &err));
  CHECK(canopy_group_id(g) == extra);
  canopy_group_destroy(g);
  g = (canopy_group_t*)1;
  FAILS_WITH(CANOPY_NOT_FOUND, "no device group named 'extra'",
             canopy_group_find_as(db, vic, shop, CANOPY_GROUP_DEVICE, "extra", &g, &err));
  CHECK(g == NULL);
  FAILS_WITH(CANOPY_NOT_FOUND, "no asset group named 'extra'",
             canopy_group_find(db, shop, CANOPY_GROUP_ASSET, "extra", &g, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "group kind",
             canopy_group_find(db, shop, 0, "extra", &g, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'name'",
             canopy_group_find(db, shop, CANOPY_GROUP_DEVICE, NULL, &g, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'group'",
             canopy_group_find(db, shop, CANOPY_GROUP_DEVICE, "extra", NULL, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_group_find(db, 4242, CANOPY_GROUP_DEVICE, "extra", &g, &err));
  OK(canopy_db_check_integrity(db, NULL, NULL, NULL, &err));
  OK(canopy_db_close(db, &err));
}

static void TestNullHandles(void) {
  phase = "null handles";
  CHECK(canopy_account_id(NULL) == 0);
  CHECK(canopy_account_key(NULL) == NULL);
  CHECK(canopy_account_name(NULL) == NULL);
  CHECK(canopy_account_parent(NULL) == 0);
  CHECK(canopy_account_depth(NULL) == 0);
  CHECK(canopy_account_created_us(NULL) == 0);
  CHECK(canopy_account_updated_us(NULL) == 0);
  CHECK(canopy_account_attributes(NULL) == NULL);
  CHECK(canopy_account_sub_account_management(NULL) == 0);
  CHECK(canopy_account_sub_account_access(NULL) == 0);
  CHECK(canopy_accounts_count(NULL) == 0);
  CHECK(canopy_accounts_at(NULL, 0) == NULL);
  CHECK(canopy_attributes_name(NULL, 0) == NULL);
  CHECK(canopy_attributes_value(NULL, 0) == NULL);
  CHECK(canopy_entity_id(NULL) == 0);
  CHECK(canopy_entity_kind(NULL) == 0);
  CHECK(canopy_entity_key(NULL) == NULL);
  CHECK(canopy_entity_unit_id(NULL) == NULL);
  CHECK(canopy_entity_name(NULL) == NULL);
  CHECK(canopy_entity_type(NULL) == NULL);
  CHECK(canopy_entity_owner(NULL) == 0);
  CHECK(canopy_entity_created_us(NULL) == 0);
  CHECK(canopy_entity_updated_us(NULL) == 0);
  CHECK(canopy_entity_attributes(NULL) == NULL);
  CHECK(canopy_reassign_report_count(NULL) == 0);
  CHECK(canopy_reassign_report_total(NULL, CANOPY_OUTCOME_MOVED) == 0);
  CHECK(canopy_reassign_report_ref(NULL, 0) == NULL);
  CHECK(canopy_reassign_report_outcome(NULL, 0) == -1);
  CHECK(canopy_reassign_report_entity(NULL, 0) == 0);
  CHECK(canopy_reassign_report_previous_owner(NULL, 0) == 0);
  CHECK(canopy_reassign_report_message(NULL, 0) == NULL);
  CHECK(canopy_group_id(NULL) == 0);
  CHECK(canopy_group_kind(NULL) == 0);
  CHECK(canopy_group_name(NULL) == NULL);
  CHECK(canopy_group_owner(NULL) == 0);
  CHECK(canopy_group_size(NULL) == 0);
  CHECK(canopy_group_created_us(NULL) == 0);
  CHECK(canopy_group_updated_us(NULL) == 0);
  CHECK(canopy_groups_count(NULL) == 0);
  CHECK(canopy_groups_at(NULL, 0) == NULL);
  CHECK(canopy_group_members_report_count(NULL) == 0);
  CHECK(canopy_group_members_report_total(NULL, CANOPY_MEMBER_DONE) == 0);
  CHECK(canopy_group_members_report_member(NULL, 0) == 0);
  CHECK(canopy_group_members_report_outcome(NULL, 0) == -1);
  CHECK(canopy_group_members_report_message(NULL, 0) == NULL);
  CHECK(canopy_group_grants_count(NULL) == 0);
  CHECK(canopy_group_grants_user_group(NULL, 0) == 0);
  CHECK(canopy_user_id(NULL) == 0);
  CHECK(canopy_user_login(NULL) == NULL);
  CHECK(canopy_user_name(NULL) == NULL);
  CHECK(canopy_user_account(NULL) == 0);
  CHECK(canopy_user_disabled(NULL) == 0);
  CHECK(canopy_user_created_us(NULL) == 0);
  CHECK(canopy_user_updated_us(NULL) == 0);
  CHECK(canopy_users_count(NULL) == 0);
  CHECK(canopy_users_at(NULL, 0) == NULL);
  CHECK(canopy_memberships_count(NULL) == 0);
  CHECK(canopy_memberships_user(NULL, 0) == 0);
  CHECK(canopy_memberships_account(NULL, 0) == 0);
  CHECK(canopy_memberships_role(NULL, 0) == 0);
  CHECK(canopy_memberships_branch(NULL, 0) == 0);
  CHECK(canopy_memberships_created_us(NULL, 0) == 0);
  CHECK(canopy_role_id(NULL) == 0);
  CHECK(canopy_role_tenant(NULL) == 0);
  CHECK(canopy_role_name(NULL) == NULL);
  CHECK(canopy_role_builtin(NULL) == 0);
  CHECK(canopy_role_permission_count(NULL) == 0);
  CHECK(canopy_role_permission(NULL, 0) == NULL);
  CHECK(canopy_roles_count(NULL) == 0);
  CHECK(canopy_roles_at(NULL, 0) == NULL);
  CHECK(canopy_visible_page_count(NULL) == 0);
  CHECK(canopy_visible_page_id(NULL, 0) == 0);
  CHECK(canopy_visible_page_key(NULL, 0) == NULL);
  CHECK(canopy_visible_page_name(NULL, 0) == NULL);
  CHECK(canopy_visible_page_type(NULL, 0) == NULL);
  CHECK(canopy_visible_page_owner(NULL, 0) == 0);
  CHECK(canopy_visible_page_next_cursor(NULL) == NULL);
  CHECK(canopy_visible_iterator_id(NULL) == 0);
  CHECK(canopy_visible_iterator_key(NULL) == NULL);
  CHECK(canopy_visible_iterator_name(NULL) == NULL);
  CHECK(canopy_visible_iterator_type(NULL) == NULL);
  CHECK(canopy_visible_iterator_owner(NULL) == 0);
  CHECK(canopy_explanation_allowed(NULL) == 0);
  CHECK(canopy_explanation_reason(NULL) == NULL);
  CHECK(canopy_explanation_entity(NULL) == 0);
  CHECK(canopy_explanation_owner(NULL) == 0);
  CHECK(canopy_explanation_via_account(NULL) == 0);
  CHECK(canopy_explanation_via_role(NULL) == 0);
  CHECK(canopy_explanation_via_role_name(NULL) == NULL);
  CHECK(canopy_explanation_via_branch(NULL) == 0);
  CHECK(canopy_explanation_path_count(NULL) == 0);
  CHECK(canopy_explanation_path(NULL, 0) == NULL);
  CHECK(canopy_who_can_page_count(NULL) == 0);
  CHECK(canopy_who_can_page_user(NULL, 0) == 0);
  CHECK(canopy_who_can_page_login(NULL, 0) == NULL);
  CHECK(canopy_who_can_page_via_account(NULL, 0) == 0);
  CHECK(canopy_who_can_page_role(NULL, 0) == 0);
  CHECK(canopy_who_can_page_branch(NULL, 0) == 0);
  CHECK(canopy_who_can_page_next_cursor(NULL) == NULL);
  CHECK(canopy_table_page_count(NULL) == 0);
  CHECK(canopy_table_page_total(NULL) == 0);
  CHECK(canopy_table_page_next_cursor(NULL) == NULL);
  CHECK(canopy_table_page_id(NULL, 0) == 0);
  CHECK(canopy_table_page_key(NULL, 0) == NULL);
  CHECK(canopy_table_page_path(NULL, 0, 0) == NULL);
  CHECK(canopy_summary_account(NULL) == NULL);
  CHECK(canopy_summary_path_count(NULL) == 0);
  CHECK(canopy_summary_path(NULL, 0) == NULL);
  CHECK(canopy_summary_path_name(NULL, 0) == NULL);
  CHECK(canopy_summary_users(NULL) == 0);
  CHECK(canopy_summary_sub_accounts(NULL) == 0);
  CHECK(canopy_summary_devices_direct(NULL) == 0);
  CHECK(canopy_summary_devices_subtree(NULL) == 0);
  CHECK(canopy_import_report_lines(NULL) == 0);
  CHECK(canopy_import_report_accounts(NULL) == 0);
  CHECK(canopy_import_report_roles(NULL) == 0);
  CHECK(canopy_import_report_users(NULL) == 0);
  CHECK(canopy_import_report_memberships(NULL) == 0);
  CHECK(canopy_import_report_entities(NULL) == 0);
  CHECK(canopy_strings_count(NULL) == 0);
  CHECK(canopy_strings_at(NULL, 0) == NULL);
  CHECK(canopy_visible_page_revision(NULL) == 0);
  CHECK(canopy_who_can_page_revision(NULL) == 0);
  CHECK(canopy_table_page_revision(NULL) == 0);
  CHECK(canopy_db_revision(NULL) == 0);
  CHECK(canopy_db_last_committed_revision(NULL) == 0);
  CHECK(canopy_changes_count(NULL) == 0);
  CHECK(canopy_changes_next(NULL) == 0);
  CHECK(canopy_changes_revision(NULL) == 0);
  CHECK(canopy_changes_entry_revision(NULL, 0) == 0);
  CHECK(canopy_changes_entry_time_us(NULL, 0) == 0);
  CHECK(canopy_changes_entry_actor(NULL, 0) == NULL);
  CHECK(canopy_changes_entry_operation(NULL, 0) == NULL);
  CHECK(canopy_changes_entry_arguments(NULL, 0) == NULL);
  CHECK(canopy_changes_record_count(NULL, 0) == 0);
  CHECK(canopy_changes_record_type(NULL, 0, 0) == NULL);
  CHECK(canopy_changes_record_action(NULL, 0, 0) == NULL);
  CHECK(canopy_changes_record_id(NULL, 0, 0) == NULL);
  CHECK(canopy_changes_record_before(NULL, 0, 0) == NULL);
  CHECK(canopy_changes_record_after(NULL, 0, 0) == NULL);
  CHECK(canopy_log_entries_count(NULL) == 0);
  CHECK(canopy_log_entries_data(NULL, 0) == NULL);
  CHECK(canopy_log_entries_size(NULL, 0) == 0);
  CHECK(canopy_apply_report_applied(NULL) == 0);
  CHECK(canopy_apply_report_skipped(NULL) == 0);
  CHECK(canopy_apply_report_revision(NULL) == 0);
}

// ---- Change log -------------------------------------------------------------------

// Does any record side of the page's entries contain `needle`?
static int ChangesMention(const canopy_changes_t* page, const char* needle) {
  for (size_t i = 0; i < canopy_changes_count(page); ++i) {
    for (size_t j = 0; j < canopy_changes_record_count(page, i); ++j) {
      if (strstr(canopy_changes_record_before(page, i, j), needle) != NULL ||
          strstr(canopy_changes_record_after(page, i, j), needle) != NULL) {
        return 1;
      }
    }
  }
  return 0;
}

// The index of entry i's first record change of `type` (there must be one).
static size_t RecordOf(const canopy_changes_t* page, size_t i, const char* type) {
  for (size_t j = 0; j < canopy_changes_record_count(page, i); ++j) {
    if (strcmp(canopy_changes_record_type(page, i, j), type) == 0) return j;
  }
  Fail(__LINE__, "no record change of that type", type);
  return 0;
}

static void TestChanges(World* w) {
  phase = "changes";
  canopy_db_t* db = w->db;
  const uint64_t head = canopy_db_revision(db);
  CHECK(head > 20);  // every successful mutation so far

  // A mutation commits the next revision, and says so to its thread.
  OK(UpdateAccount(db, CANOPY_SYSTEM_ACTOR, w->acme_b, "Customer B", NULL, &err));
  const uint64_t rev = canopy_db_revision(db);
  CHECK(rev == head + 1);
  CHECK(canopy_db_last_committed_revision(db) == rev);
  // A refusal, or a call that changes nothing, commits none.
  FAILS(CANOPY_NOT_FOUND, UpdateAccount(db, CANOPY_SYSTEM_ACTOR, 4242, "X", NULL, &err));
  OK(canopy_account_set_sub_account_management(db, CANOPY_SYSTEM_ACTOR, w->acme_b, 0, &err));
  CHECK(canopy_db_revision(db) == rev);

  char* log_id = (char*)1;
  OK(canopy_db_log_id(db, &log_id, &err));
  CHECK(log_id != NULL && strlen(log_id) > 0);
  canopy_free(log_id);
  log_id = (char*)1;
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_db_log_id(NULL, &log_id, &err));
  CHECK(log_id == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'log_id'", canopy_db_log_id(db, NULL, &err));

  // The whole log, system view: one entry per revision, in order.
  canopy_changes_t* page = NULL;
  OK(canopy_changes_read(db, CANOPY_SYSTEM_ACTOR, 1, 1000, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(canopy_changes_count(page) == rev);
  CHECK(canopy_changes_revision(page) == rev);
  CHECK(canopy_changes_next(page) == rev + 1);
  for (size_t i = 0; i < canopy_changes_count(page); ++i) {
    CHECK(canopy_changes_entry_revision(page, i) == i + 1);
    CHECK(canopy_changes_entry_time_us(page, i) > 0);
    CHECK(strlen(canopy_changes_entry_operation(page, i)) > 0);
  }
  // Revision 1 created acme.
  CHECK_STR(canopy_changes_entry_operation(page, 0), "account.create");
  CHECK_STR(canopy_changes_entry_actor(page, 0), "system");
  CHECK(canopy_changes_entry_arguments(page, 0)[0] == '{');
  CHECK(canopy_changes_record_count(page, 0) >= 1);
  size_t j = RecordOf(page, 0, "account");
  CHECK_STR(canopy_changes_record_type(page, 0, j), "account");
  CHECK_STR(canopy_changes_record_action(page, 0, j), "created");
  char id_text[32];
  snprintf(id_text, sizeof id_text, "%" PRIu64, w->acme);
  CHECK_STR(canopy_changes_record_id(page, 0, j), id_text);
  CHECK_STR(canopy_changes_record_before(page, 0, j), "");
  CHECK(strstr(canopy_changes_record_after(page, 0, j), "\"key\":\"acme\"") != NULL);
  // The last one renamed acme-b: before and after.
  const size_t last = canopy_changes_count(page) - 1;
  CHECK_STR(canopy_changes_entry_operation(page, last), "account.update");
  j = RecordOf(page, last, "account");
  CHECK_STR(canopy_changes_record_action(page, last, j), "changed");
  CHECK(strstr(canopy_changes_record_before(page, last, j), "Nested customer B") != NULL);
  CHECK(strstr(canopy_changes_record_after(page, last, j), "Customer B") != NULL);
  // Out of range.
  CHECK(canopy_changes_entry_revision(page, rev) == 0);
  CHECK(canopy_changes_entry_time_us(page, rev) == 0);
  CHECK(canopy_changes_entry_actor(page, rev) == NULL);
  CHECK(canopy_changes_entry_operation(page, rev) == NULL);
  CHECK(canopy_changes_entry_arguments(page, rev) == NULL);
  CHECK(canopy_changes_record_count(page, rev) == 0);
  CHECK(canopy_changes_record_type(page, 0, 99) == NULL);
  CHECK(canopy_changes_record_action(page, 0, 99) == NULL);
  CHECK(canopy_changes_record_id(page, 0, 99) == NULL);
  CHECK(canopy_changes_record_before(page, 0, 99) == NULL);
  CHECK(canopy_changes_record_after(page, rev, 0) == NULL);
  canopy_changes_destroy(page);
  canopy_changes_destroy(NULL);

  // Paging: `next` says where to go on.
  OK(canopy_changes_read(db, CANOPY_SYSTEM_ACTOR, 2, 3, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(canopy_changes_count(page) == 3);
  CHECK(canopy_changes_entry_revision(page, 0) == 2);
  CHECK(canopy_changes_next(page) == 5);
  canopy_changes_destroy(page);
  // Past the head: an empty page.
  OK(canopy_changes_read(db, 0, rev + 1, 10, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(canopy_changes_count(page) == 0);
  CHECK(canopy_changes_next(page) > canopy_changes_revision(page));
  canopy_changes_destroy(page);

  // Filters: an account's subtree, record types.
  OK(canopy_changes_read(db, 0, 1, 1000, w->globex, NULL, 0, 1, 0, &page, &err));
  CHECK(canopy_changes_count(page) >= 1);
  CHECK(strstr(canopy_changes_record_after(page, 0, RecordOf(page, 0, "account")),
               "\"key\":\"globex\"") != NULL);
  CHECK(!ChangesMention(page, "\"key\":\"acme\""));
  canopy_changes_destroy(page);
  // Keys only: every change keeps type, action and id, never the records.
  OK(canopy_changes_read(db, 0, 1, 1000, CANOPY_NO_ID, NULL, 0, 0, 0, &page, &err));
  CHECK(canopy_changes_count(page) == rev);
  for (size_t i = 0; i < canopy_changes_count(page); ++i) {
    for (size_t j = 0; j < canopy_changes_record_count(page, i); ++j) {
      CHECK(strlen(canopy_changes_record_type(page, i, j)) > 0);
      CHECK(strlen(canopy_changes_record_id(page, i, j)) > 0);
      CHECK(strcmp(canopy_changes_record_before(page, i, j), "") == 0);
      CHECK(strcmp(canopy_changes_record_after(page, i, j), "") == 0);
    }
  }
  canopy_changes_destroy(page);
  const char* user_types[] = {"user", "membership"};
  OK(canopy_changes_read(db, 0, 1, 1000, CANOPY_NO_ID, user_types, 2, 1, 0, &page, &err));
  CHECK(canopy_changes_count(page) >= 5);
  for (size_t i = 0; i < canopy_changes_count(page); ++i) {
    for (size_t j = 0; j < canopy_changes_record_count(page, i); ++j) {
      const char* type = canopy_changes_record_type(page, i, j);
      CHECK(strcmp(type, "user") == 0 || strcmp(type, "membership") == 0);
    }
  }
  canopy_changes_destroy(page);

  // The audit view: a holds audit.read (account_admin) on acme-a's branch
  // only; b (viewer) nowhere.
  size_t all = 0;
  OK(canopy_changes_read(db, 0, 1, 1000, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  all = canopy_changes_count(page);
  canopy_changes_destroy(page);
  OK(canopy_changes_read(db, w->a, 1, 1000, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(canopy_changes_count(page) > 0 && canopy_changes_count(page) < all);
  CHECK(ChangesMention(page, "\"key\":\"acme-a1\""));
  CHECK(!ChangesMention(page, "\"key\":\"globex\""));
  CHECK(!ChangesMention(page, "Customer B"));
  canopy_changes_destroy(page);
  page = (canopy_changes_t*)1;
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "audit.read",
             canopy_changes_read(db, w->b, 1, 1000, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(page == NULL);
  page = (canopy_changes_t*)1;
  /* An account out of a's sight is worded as a missing one. */
  FAILS_WITH(CANOPY_NOT_FOUND, "no account with id",
             canopy_changes_read(db, w->a, 1, 1000, w->globex, NULL, 0, 1, 0, &page, &err));
  CHECK(page == NULL);

  // Refusals.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'",
             canopy_changes_read(NULL, 0, 1, 10, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'changes'",
             canopy_changes_read(db, 0, 1, 10, CANOPY_NO_ID, NULL, 0, 1, 0, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "since",
             canopy_changes_read(db, 0, 0, 10, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "limit",
             canopy_changes_read(db, 0, 1, 0, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  FAILS(CANOPY_INVALID_ARGUMENT,
        canopy_changes_read(db, 0, 1, 100001, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  const char* bogus[] = {"account", "bogus"};
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "bogus",
             canopy_changes_read(db, 0, 1, 10, CANOPY_NO_ID, bogus, 2, 1, 0, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'types'",
             canopy_changes_read(db, 0, 1, 10, CANOPY_NO_ID, NULL, 1, 1, 0, &page, &err));
  const char* null_type[] = {NULL};
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'types[0]'",
             canopy_changes_read(db, 0, 1, 10, CANOPY_NO_ID, null_type, 1, 1, 0, &page, &err));
  FAILS(CANOPY_NOT_FOUND, canopy_changes_read(db, 0, 1, 10, 4242, NULL, 0, 1, 0, &page, &err));
  FAILS(CANOPY_NOT_FOUND,
        canopy_changes_read(db, 4242, 1, 10, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "revision",
             canopy_changes_read(db, 0, 1, 10, CANOPY_NO_ID, NULL, 0, 1, rev + 1, &page, &err));
  CHECK(page == NULL);
  OK(canopy_changes_read(db, 0, 1, 10, CANOPY_NO_ID, NULL, 0, 1, rev, &page, &err));
  canopy_changes_destroy(page);

  // Waiting: at once when the revision is already past `after`, else until
  // the timeout.
  uint64_t now = 7;
  OK(canopy_changes_wait(db, rev - 1, 60000, &now, &err));
  CHECK(now == rev);
  now = 7;
  OK(canopy_changes_wait(db, rev, 20, &now, &err));
  CHECK(now == rev);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_changes_wait(NULL, 0, 0, &now, &err));
  CHECK(now == 0);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'revision'", canopy_changes_wait(db, 0, 0, NULL, &err));

  // Consistency tokens on the other reads, and the revision they read at.
  canopy_visible_request_t* req = canopy_visible_request_create(w->a, CANOPY_KIND_DEVICE);
  OK(canopy_visible_request_set_min_revision(req, rev, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_visible_request_set_min_revision(NULL, rev, &err));
  canopy_visible_page_t* vpage = NULL;
  OK(canopy_visible_list(db, req, &vpage, &err));
  CHECK(canopy_visible_page_count(vpage) > 0);
  CHECK(canopy_visible_page_revision(vpage) == rev);
  canopy_visible_page_destroy(vpage);
  OK(canopy_visible_request_set_min_revision(req, rev + 1, &err));
  vpage = (canopy_visible_page_t*)1;
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "revision", canopy_visible_list(db, req, &vpage, &err));
  CHECK(vpage == NULL);
  uint64_t n = 0;
  FAILS(CANOPY_FAILED_PRECONDITION, canopy_visible_count(db, req, &n, &err));
  canopy_visible_iterator_t* it = NULL;
  FAILS(CANOPY_FAILED_PRECONDITION, canopy_visible_iterator_create(db, req, &it, &err));
  CHECK(it == NULL);
  canopy_visible_request_destroy(req);

  canopy_who_can_page_t* wpage = NULL;
  OK(canopy_access_who_can_v2(db, "device.read", "dev-a1", 10, NULL, rev, &wpage, &err));
  CHECK(canopy_who_can_page_count(wpage) >= 2);
  CHECK(canopy_who_can_page_revision(wpage) == rev);
  canopy_who_can_page_destroy(wpage);
  OK(canopy_access_who_can(db, "device.read", "dev-a1", 10, NULL, &wpage, &err));
  CHECK(canopy_who_can_page_revision(wpage) == rev);
  canopy_who_can_page_destroy(wpage);
  wpage = (canopy_who_can_page_t*)1;
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "revision",
             canopy_access_who_can_v2(db, "device.read", "dev-a1", 10, NULL, rev + 1, &wpage,
                                      &err));
  CHECK(wpage == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_access_who_can_v2",
             canopy_access_who_can_v2(NULL, "device.read", "dev-a1", 10, NULL, 0, &wpage, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entity_key'",
             canopy_access_who_can_v2(db, "device.read", NULL, 10, NULL, 0, &wpage, &err));

  canopy_table_page_t* t = NULL;
  OK(canopy_account_table_v2(db, w->admin, CANOPY_NO_ID, CANOPY_SORT_TREE, 0, 100, NULL, rev, &t,
                             &err));
  CHECK(canopy_table_page_count(t) >= 4);
  CHECK(canopy_table_page_revision(t) == rev);
  canopy_table_page_destroy(t);
  t = (canopy_table_page_t*)1;
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "revision",
             canopy_account_table_v2(db, w->admin, CANOPY_NO_ID, CANOPY_SORT_TREE, 0, 100, NULL,
                                     rev + 1, &t, &err));
  CHECK(t == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "sort order",
             canopy_account_table_v2(db, w->admin, CANOPY_NO_ID, 99, 0, 100, NULL, 0, &t, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "canopy_account_table_v2",
             canopy_account_table_v2(NULL, w->admin, 0, CANOPY_SORT_TREE, 0, 10, NULL, 0, &t,
                                     &err));
}

// Retention: a log that keeps only the newest entries refuses older ones.
static void TestCompacted(void) {
  phase = "compacted";
  char path[512];
  Path(path, sizeof path, "small-log");
  canopy_options_t* options = canopy_options_create();
  OK(canopy_options_set_sync(options, 0, &err));
  OK(canopy_options_set_log_retention_count(options, 2, &err));
  OK(canopy_options_set_log_retention_seconds(options, 3600, &err));
  canopy_db_t* db = NULL;
  OK(canopy_db_open(options, path, &db, &err));
  canopy_options_destroy(options);
  CHECK(canopy_db_revision(db) == 0);
  for (int i = 0; i < 8; ++i) {
    char key[16];
    snprintf(key, sizeof key, "t%d", i);
    OK(CreateAccount(db, 0, key, key, CANOPY_NO_ID, NULL, 0, 0, NULL, &err));
  }
  CHECK(canopy_db_revision(db) == 8);
  canopy_changes_t* page = (canopy_changes_t*)1;
  FAILS_WITH(CANOPY_COMPACTED, "oldest",
             canopy_changes_read(db, 0, 1, 100, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(page == NULL);
  canopy_log_entries_t* entries = (canopy_log_entries_t*)1;
  FAILS(CANOPY_COMPACTED, canopy_log_entries_read(db, 1, 100, &entries, &err));
  CHECK(entries == NULL);
  // The newest entry is always kept.
  OK(canopy_changes_read(db, 0, 8, 100, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(canopy_changes_count(page) == 1);
  CHECK(canopy_changes_entry_revision(page, 0) == 8);
  canopy_changes_destroy(page);
  OK(canopy_log_entries_read(db, 8, 100, &entries, &err));
  CHECK(canopy_log_entries_count(entries) == 1);
  canopy_log_entries_destroy(entries);
  // At the head + 1, an empty page; past it, no revision of this database.
  OK(canopy_changes_read(db, 0, 9, 100, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(canopy_changes_count(page) == 0);
  canopy_changes_destroy(page);
  page = (canopy_changes_t*)1;
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "revision 10 is past this database's head (revision 8",
             canopy_changes_read(db, 0, 10, 100, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(page == NULL);
  OK(canopy_db_close(db, &err));
}

// Checkpoints and the replica calls on a database that is not a replica;
// replication options are checked when the database opens.
static void TestCheckpointAndReplicaOptions(void) {
  phase = "checkpoint";
  char path[512], copy[512], bad[512];
  Path(path, sizeof path, "cp-source");
  Path(copy, sizeof copy, "cp-copy");
  Path(bad, sizeof bad, "cp-bad");
  canopy_options_t* options = canopy_options_create();
  OK(canopy_options_set_sync(options, 0, &err));
  canopy_db_t* db = NULL;
  OK(canopy_db_open(options, path, &db, &err));
  OK(CreateAccount(db, 0, "cp", "Checkpointed", CANOPY_NO_ID, NULL, 0, 0, NULL, &err));
  uint64_t rev = 0;
  OK(canopy_db_checkpoint(db, copy, &rev, &err));
  CHECK(rev == canopy_db_revision(db));
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "already exists", canopy_db_checkpoint(db, copy, &rev, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_checkpoint(db, NULL, &rev, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_checkpoint(db, "", &rev, &err));
  char inside[600];
  snprintf(inside, sizeof inside, "%s/import-copy", path);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "inside the database folder",
             canopy_db_checkpoint(db, inside, &rev, &err));
  struct stat st;
  CHECK(stat(inside, &st) != 0);
  // A verified backup, with its check's progress; a cancelled one leaves
  // nothing. A restore from it, with its copy's and check's progress.
  char backup[512], restored[512], cancelled[512];
  Path(backup, sizeof backup, "cp-backup");
  Path(restored, sizeof restored, "cp-restored");
  Path(cancelled, sizeof cancelled, "cp-cancelled");
  Progress progress = {0, 0, 0};
  FAILS_WITH(CANOPY_ABORTED, "backup cancelled",
             canopy_db_backup(db, cancelled, CancelProgress, &progress, &rev, &err));
  CHECK(progress.calls == 1 && rev == 0);
  CHECK(stat(cancelled, &st) != 0);
  OK(canopy_db_backup(db, backup, CountProgress, &progress, &rev, &err));
  CHECK(rev == canopy_db_revision(db));
  CHECK(progress.calls >= 2 && progress.last_done == 0 && progress.last_total == 0);  // no entity
  OK(canopy_db_backup(db, cancelled, NULL, NULL, &rev, &err));  // no progress: fine too
  // Closing from inside the backup's own callback is refused and frees
  // nothing: the backup finishes and the handle stays usable.
  char closed_in[512];
  Path(closed_in, sizeof closed_in, "cp-backup-close");
  close_refusals = 0;
  OK(canopy_db_backup(db, closed_in, CloseFromProgress, db, &rev, &err));
  CHECK(close_refusals >= 1);
  CHECK(rev == canopy_db_revision(db));
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "already exists",
             canopy_db_backup(db, backup, NULL, NULL, &rev, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "dir", canopy_db_backup(db, NULL, NULL, NULL, &rev, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "revision",
             canopy_db_backup(db, backup, NULL, NULL, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "db", canopy_db_backup(NULL, backup, NULL, NULL, &rev, &err));
  progress.calls = 0;
  FAILS_WITH(CANOPY_ABORTED, "restore cancelled",
             canopy_restore(backup, restored, CancelProgress, &progress, &err));
  CHECK(progress.calls == 1);
  CHECK(stat(restored, &st) != 0);
  progress.calls = 0;
  OK(canopy_restore(backup, restored, CountProgress, &progress, &err));
  CHECK(progress.calls >= 3 && progress.last_done == progress.last_total);
  FAILS_WITH(CANOPY_ALREADY_EXISTS, "not empty", canopy_restore(backup, restored, NULL, NULL, &err));
  FAILS_WITH(CANOPY_NOT_FOUND, "does not exist", canopy_restore(bad, restored, NULL, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "backup", canopy_restore(NULL, restored, NULL, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "dir", canopy_restore(backup, NULL, NULL, NULL, &err));
  canopy_db_t* again = NULL;
  OK(canopy_db_open(options, restored, &again, &err));
  canopy_account_t* found = NULL;
  OK(canopy_account_find(again, "cp", &found, &err));
  canopy_account_destroy(found);
  OK(canopy_db_close(again, &err));
  char* json = NULL;
  OK(canopy_db_replica_status(db, &json, &err));
  CHECK(strstr(json, "\"replicated\":false") != NULL);
  CHECK(strstr(json, "\"applied\":1") != NULL);
  CHECK(strstr(json, "\"head\":null,\"lag\":null") != NULL);  // no etcd to tell them
  canopy_free(json);
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_replica_status(db, NULL, &err));
  OK(canopy_db_sync_with_log(db, 100, &rev, &err));
  CHECK(rev == 1);
  OK(canopy_db_close(db, &err));
  // The copy opens as a database of its own.
  OK(canopy_db_open(options, copy, &db, &err));
  canopy_account_t* account = NULL;
  OK(canopy_account_find(db, "cp", &account, &err));
  canopy_account_destroy(account);
  OK(canopy_db_close(db, &err));
  // Bad replication options are refused at open, before any folder is made.
  OK(canopy_options_set_etcd_endpoints(options, "127.0.0.1:2379", &err));
  OK(canopy_options_set_replication_prefix(options, "canopy-test", &err));
  OK(canopy_options_set_checkpoint_dir(options, copy, &err));
  OK(canopy_options_set_checkpoint_every(options, 10, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "127.0.0.1:2379", canopy_db_open(options, bad, &db, &err));
  OK(canopy_options_set_etcd_endpoints(options, "http://127.0.0.1:1,", &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_db_open(options, bad, &db, &err));
  OK(canopy_options_set_etcd_endpoints(options, "http://127.0.0.1:2379", &err));
  OK(canopy_options_set_replication_prefix(options, "/bad prefix", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "prefix", canopy_db_open(options, bad, &db, &err));
  OK(canopy_options_set_etcd_endpoints(options, NULL, &err));  // not a replica again
  canopy_options_destroy(options);
}

// Reads `db`'s log entries from `since` (pages of `page_size`) and applies
// them to `follower`; returns how many were applied.
static uint64_t Replicate(canopy_db_t* db, canopy_db_t* follower, uint64_t since,
                          size_t page_size) {
  uint64_t applied = 0;
  for (;;) {
    canopy_log_entries_t* entries = NULL;
    OK(canopy_log_entries_read(db, since, page_size, &entries, &err));
    const size_t n = canopy_log_entries_count(entries);
    if (n == 0) {
      canopy_log_entries_destroy(entries);
      return applied;
    }
    const uint8_t* data[64];
    size_t sizes[64];
    CHECK(n <= 64);
    for (size_t i = 0; i < n; ++i) {
      data[i] = canopy_log_entries_data(entries, i);
      sizes[i] = canopy_log_entries_size(entries, i);
      CHECK(data[i] != NULL && sizes[i] > 4);
    }
    CHECK(canopy_log_entries_data(entries, n) == NULL);
    CHECK(canopy_log_entries_size(entries, n) == 0);
    canopy_apply_report_t* report = NULL;
    OK(canopy_changes_apply(follower, data, sizes, n, &report, &err));
    CHECK(canopy_apply_report_applied(report) == n);
    CHECK(canopy_apply_report_skipped(report) == 0);
    CHECK(canopy_apply_report_revision(report) == canopy_db_revision(follower));
    canopy_apply_report_destroy(report);
    canopy_log_entries_destroy(entries);
    applied += n;
    since += n;
  }
}

// The whole text of a file, malloc'd.
static char* ReadFile(const char* path) {
  FILE* f = fopen(path, "rb");
  CHECK(f != NULL);
  CHECK(fseek(f, 0, SEEK_END) == 0);
  long size = ftell(f);
  CHECK(size >= 0);
  rewind(f);
  char* text = (char*)malloc((size_t)size + 1);
  CHECK(text != NULL);
  CHECK(fread(text, 1, (size_t)size, f) == (size_t)size);
  text[size] = '\0';
  fclose(f);
  return text;
}

static void TestReplication(World* w) {
  phase = "replication";
  canopy_db_t* db = w->db;
  char follower_path[512], other_path[512], copy_path[512];
  char source_export[512], follower_export[512];
  Path(follower_path, sizeof follower_path, "follower");
  Path(other_path, sizeof other_path, "other-follower");
  Path(copy_path, sizeof copy_path, "copy");  // made by TestInterchange
  Path(source_export, sizeof source_export, "source.jsonl");
  Path(follower_export, sizeof follower_export, "follower.jsonl");

  // A new, empty database follows db: same revision, lineage and data.
  const uint64_t head = canopy_db_revision(db);
  canopy_db_t* follower = NULL;
  OK(canopy_db_open(NULL, follower_path, &follower, &err));
  CHECK(canopy_db_revision(follower) == 0);
  CHECK(Replicate(db, follower, 1, 7) == head);
  CHECK(canopy_db_revision(follower) == head);
  char* source_id = NULL;
  char* follower_id = NULL;
  OK(canopy_db_log_id(db, &source_id, &err));
  OK(canopy_db_log_id(follower, &follower_id, &err));
  CHECK_STR(follower_id, source_id);
  canopy_free(source_id);
  canopy_free(follower_id);
  CHECK(AccountId(follower, "acme-a") == w->acme_a);
  CHECK(AccountOwnerOf(follower, "dev-a11") == AccountOwnerOf(db, "dev-a11"));
  OK(canopy_db_export(db, source_export, NULL, NULL, NULL, &err));
  OK(canopy_db_export(follower, follower_export, NULL, NULL, NULL, &err));
  char* a = ReadFile(source_export);
  char* b = ReadFile(follower_export);
  CHECK(strlen(a) > 100);
  CHECK(strcmp(a, b) == 0);
  free(a);
  free(b);
  // Its own log reads the same.
  canopy_changes_t* page = NULL;
  OK(canopy_changes_read(follower, 0, head, 10, CANOPY_NO_ID, NULL, 0, 1, 0, &page, &err));
  CHECK(canopy_changes_count(page) == 1);
  CHECK(canopy_changes_entry_revision(page, 0) == head);
  canopy_changes_destroy(page);

  // Applying again skips; a gap, a damaged entry or a NULL are refused.
  canopy_log_entries_t* entries = NULL;
  OK(canopy_log_entries_read(db, 1, 3, &entries, &err));
  CHECK(canopy_log_entries_count(entries) == 3);
  const uint8_t* data[3];
  size_t sizes[3];
  for (size_t i = 0; i < 3; ++i) {
    data[i] = canopy_log_entries_data(entries, i);
    sizes[i] = canopy_log_entries_size(entries, i);
  }
  canopy_apply_report_t* report = NULL;
  OK(canopy_changes_apply(follower, data, sizes, 3, &report, &err));
  CHECK(canopy_apply_report_applied(report) == 0);
  CHECK(canopy_apply_report_skipped(report) == 3);
  CHECK(canopy_apply_report_revision(report) == head);
  canopy_apply_report_destroy(report);
  canopy_apply_report_destroy(NULL);
  OK(canopy_changes_apply(follower, NULL, NULL, 0, NULL, &err));

  OK(CreateAccount(db, 0, "initech", "Initech", CANOPY_NO_ID, NULL, 0, 0, NULL, &err));
  OK(CreateAccount(db, 0, "umbrella", "Umbrella", CANOPY_NO_ID, NULL, 0, 0, NULL, &err));
  canopy_log_entries_t* newer = NULL;
  OK(canopy_log_entries_read(db, head + 2, 10, &newer, &err));
  CHECK(canopy_log_entries_count(newer) == 1);
  const uint8_t* gap_data[1] = {canopy_log_entries_data(newer, 0)};
  size_t gap_size[1] = {canopy_log_entries_size(newer, 0)};
  report = NULL;
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "gap",
             canopy_changes_apply(follower, gap_data, gap_size, 1, &report, &err));
  CHECK(report != NULL);  // also on failure: how far it got
  CHECK(canopy_apply_report_applied(report) == 0);
  CHECK(canopy_apply_report_revision(report) == head);
  canopy_apply_report_destroy(report);
  canopy_log_entries_destroy(newer);

  uint8_t damaged[4096];
  CHECK(sizes[0] <= sizeof damaged);
  memcpy(damaged, data[0], sizes[0]);
  damaged[sizes[0] - 1] ^= 0x5A;
  const uint8_t* damaged_data[1] = {damaged};
  size_t damaged_size[1] = {sizes[0]};
  FAILS(CANOPY_CORRUPTION,
        canopy_changes_apply(follower, damaged_data, damaged_size, 1, NULL, &err));
  size_t short_size[1] = {2};
  FAILS_WITH(CANOPY_CORRUPTION, "truncated",
             canopy_changes_apply(follower, damaged_data, short_size, 1, NULL, &err));
  report = (canopy_apply_report_t*)1;
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'",
             canopy_changes_apply(NULL, data, sizes, 3, &report, &err));
  CHECK(report == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entries'",
             canopy_changes_apply(follower, NULL, sizes, 3, &report, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'sizes'",
             canopy_changes_apply(follower, data, NULL, 3, &report, &err));
  const uint8_t* null_data[1] = {NULL};
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entries[0]'",
             canopy_changes_apply(follower, null_data, sizes, 1, &report, &err));
  CHECK(report == NULL);
  /* A size no buffer can have, alone or added to the others, is named
     before any entry is read (not an attempt to copy it). */
  const size_t huge_sizes[][3] = {{sizes[0], SIZE_MAX, sizes[2]},
                                  {sizes[0], SIZE_MAX / 2, sizes[2]},
                                  {(size_t)1 << 62, sizes[1], sizes[2]},
                                  {(size_t)1 << 46, (size_t)1 << 46, (size_t)1 << 46}};
  const char* named[] = {"'sizes[1]'", "'sizes[1]'", "'sizes[0]'", "'sizes[2]'"};
  for (size_t i = 0; i < 4; ++i) {
    report = (canopy_apply_report_t*)1;
    FAILS_WITH(CANOPY_INVALID_ARGUMENT, named[i],
               canopy_changes_apply(follower, data, huge_sizes[i], 3, &report, &err));
    CHECK(report == NULL);
  }
  CHECK(canopy_db_revision(follower) == head);

  // It catches up with the two new revisions.
  CHECK(Replicate(db, follower, head + 1, 10) == 2);
  CHECK(canopy_db_revision(follower) == head + 2);
  CHECK(AccountId(follower, "umbrella") == AccountId(db, "umbrella"));

  // Reading entries: an empty list at the head + 1, refusals past it.
  canopy_log_entries_t* none = (canopy_log_entries_t*)1;
  OK(canopy_log_entries_read(db, head + 3, 10, &none, &err));
  CHECK(canopy_log_entries_count(none) == 0);
  canopy_log_entries_destroy(none);
  none = (canopy_log_entries_t*)1;
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "past this database's head",
             canopy_log_entries_read(db, head + 4, 10, &none, &err));
  CHECK(none == NULL);
  canopy_log_entries_destroy(NULL);
  none = (canopy_log_entries_t*)1;
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "since", canopy_log_entries_read(db, 0, 10, &none, &err));
  CHECK(none == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "limit", canopy_log_entries_read(db, 1, 0, &none, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_log_entries_read(NULL, 1, 10, &none, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'entries'",
             canopy_log_entries_read(db, 1, 10, NULL, &err));

  // An import is one revision and replays too; another lineage is refused.
  canopy_db_t* copy = NULL;
  OK(canopy_db_open(NULL, copy_path, &copy, &err));
  CHECK(canopy_db_revision(copy) == 1);
  canopy_db_t* other = NULL;
  OK(canopy_db_open(NULL, other_path, &other, &err));
  CHECK(Replicate(copy, other, 1, 10) == 1);
  CHECK(canopy_db_revision(other) == 1);
  CHECK(AccountOwnerOf(other, "dev-a11") == AccountOwnerOf(copy, "dev-a11"));
  FAILS_WITH(CANOPY_FAILED_PRECONDITION, "lineage",
             canopy_changes_apply(other, data, sizes, 1, NULL, &err));
  canopy_log_entries_destroy(entries);
  OK(canopy_db_close(other, &err));
  OK(canopy_db_close(copy, &err));
  OK(canopy_db_close(follower, &err));
}

static void TestReopen(const char* path) {
  phase = "reopen";
  canopy_options_t* options = canopy_options_create();
  OK(canopy_options_set_error_if_exists(options, 1, &err));
  canopy_db_t* db = NULL;
  FAILS(CANOPY_ALREADY_EXISTS, canopy_db_open(options, path, &db, &err));
  canopy_options_destroy(options);
  OK(canopy_db_open(NULL, path, &db, &err));  // the defaults
  uint64_t acme = AccountId(db, "acme");
  CHECK(acme != 0);
  CHECK(AccountOwnerOf(db, "dev-a11") == AccountId(db, "acme-a"));
  OK(canopy_db_close(db, &err));

  // A folder holding something else is not a Canopy database.
  char other[512], junk[512];
  Path(other, sizeof other, "other");
  Path(junk, sizeof junk, "other/notes.txt");
  CHECK(mkdir(other, 0700) == 0);
  FILE* f = fopen(junk, "w");
  CHECK(f != NULL);
  fputs("not a database\n", f);
  fclose(f);
  db = (canopy_db_t*)1;
  canopy_code_t code = canopy_db_open(NULL, other, &db, &err);
  CHECK(code != CANOPY_OK && db == NULL && err != NULL && err[0] != '\0');
  canopy_free(err);
  err = NULL;
}

// The changes request builder reads what the positional (deprecated)
// canopy_changes_read reads; its setters refuse a NULL request or type by
// name.
static void TestChangesRequest(World* w) {
  phase = "changes request";
  canopy_db_t* db = w->db;
  canopy_changes_request_t* request = canopy_changes_request_create(CANOPY_SYSTEM_ACTOR);
  CHECK(request != NULL);
  OK(canopy_changes_request_set_since(request, 2, &err));
  OK(canopy_changes_request_set_limit(request, 3, &err));
  canopy_changes_t* page = (canopy_changes_t*)1;
  OK(canopy_changes_read_request(db, request, &page, &err));
  CHECK(canopy_changes_count(page) == 3);
  CHECK(canopy_changes_entry_revision(page, 0) == 2);
  CHECK(canopy_changes_next(page) == 5);
  canopy_changes_destroy(page);

  // Types, values, account, min_revision: the same page as positionally.
  canopy_changes_request_t* typed = canopy_changes_request_create(CANOPY_SYSTEM_ACTOR);
  OK(canopy_changes_request_add_type(typed, "user", &err));
  OK(canopy_changes_request_add_type(typed, "membership", &err));
  OK(canopy_changes_request_set_values(typed, 0, &err));
  OK(canopy_changes_request_set_min_revision(typed, 1, &err));
  OK(canopy_changes_read_request(db, typed, &page, &err));
  canopy_changes_t* positional = NULL;
  const char* user_types[] = {"user", "membership"};
  OK(canopy_changes_read(db, 0, 1, 1000, CANOPY_NO_ID, user_types, 2, 0, 1, &positional, &err));
  CHECK(canopy_changes_count(page) >= 5);
  CHECK(canopy_changes_count(page) == canopy_changes_count(positional));
  for (size_t i = 0; i < canopy_changes_count(page); ++i) {
    CHECK(canopy_changes_entry_revision(page, i) == canopy_changes_entry_revision(positional, i));
    for (size_t j = 0; j < canopy_changes_record_count(page, i); ++j) {
      const char* type = canopy_changes_record_type(page, i, j);
      CHECK(strcmp(type, "user") == 0 || strcmp(type, "membership") == 0);
      CHECK(strcmp(canopy_changes_record_after(page, i, j), "") == 0);
    }
  }
  canopy_changes_destroy(page);
  canopy_changes_destroy(positional);
  canopy_changes_request_t* within = canopy_changes_request_create(CANOPY_SYSTEM_ACTOR);
  OK(canopy_changes_request_set_account(within, w->globex, &err));
  OK(canopy_changes_read_request(db, within, &page, &err));
  CHECK(canopy_changes_count(page) >= 1);
  CHECK(!ChangesMention(page, "\"key\":\"acme\""));
  canopy_changes_destroy(page);
  canopy_changes_request_destroy(within);

  // The audit view through the builder: b holds audit.read nowhere.
  canopy_changes_request_t* as_b = canopy_changes_request_create(w->b);
  page = (canopy_changes_t*)1;
  FAILS_WITH(CANOPY_PERMISSION_DENIED, "audit.read",
             canopy_changes_read_request(db, as_b, &page, &err));
  CHECK(page == NULL);
  canopy_changes_request_destroy(as_b);

  // Bad values are refused when read; NULLs by the setter, by name.
  OK(canopy_changes_request_set_since(request, 0, &err));
  FAILS(CANOPY_INVALID_ARGUMENT, canopy_changes_read_request(db, request, &page, &err));
  OK(canopy_changes_request_set_since(request, 1, &err));
  OK(canopy_changes_request_set_limit(request, 0, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "limit", canopy_changes_read_request(db, request, &page, &err));
  OK(canopy_changes_request_set_limit(request, 10, &err));
  OK(canopy_changes_request_add_type(typed, "gadget", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "gadget", canopy_changes_read_request(db, typed, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'type'", canopy_changes_request_add_type(request, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_changes_request_set_since(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_changes_request_set_limit(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'",
             canopy_changes_request_set_account(NULL, CANOPY_NO_ID, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'",
             canopy_changes_request_add_type(NULL, "user", &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_changes_request_set_values(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'",
             canopy_changes_request_set_min_revision(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'request'", canopy_changes_read_request(db, NULL, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_changes_read_request(NULL, request, &page, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'changes'",
             canopy_changes_read_request(db, request, NULL, &err));
  // The request read after a refusal still works.
  OK(canopy_changes_read_request(db, request, &page, &err));
  CHECK(canopy_changes_count(page) == 10);
  canopy_changes_destroy(page);
  canopy_changes_request_destroy(typed);
  canopy_changes_request_destroy(request);
  canopy_changes_request_destroy(NULL);
}

// The log callback: counts messages and checks each is NUL-terminated at
// its length.
typedef struct {
  int messages;
  int bad;
  int below_level;
} LogSeen;

static void CountLog(void* arg, int level, const char* message, size_t length) {
  LogSeen* seen = (LogSeen*)arg;
  seen->messages++;
  if (message == NULL || strlen(message) != length) seen->bad++;
  if (level < CANOPY_LOG_INFO || level > CANOPY_LOG_ERROR) seen->below_level++;
}

// Statistics (canopy_get_property, canopy_property_names) and the checked
// storage-tuning setters, with the log callback.
static void TestStatsAndTuning(void) {
  phase = "stats";
  char path[512];
  Path(path, sizeof path, "tuned");
  char wal[512];
  Path(wal, sizeof wal, "tuned-wal");
  canopy_options_t* options = canopy_options_create();
  CHECK(options != NULL);
  LogSeen seen = {0, 0, 0};
  OK(canopy_options_set_compression(options, CANOPY_COMPRESSION_ZSTD, &err));
  OK(canopy_options_set_wal_dir(options, wal, &err));
  OK(canopy_options_set_max_open_files(options, 64, &err));
  OK(canopy_options_set_background_write_bytes_per_second(options, 1 << 20, &err));
  OK(canopy_options_set_statistics(options, 1, &err));
  OK(canopy_options_set_catalog_image(options, 0, &err));
  OK(canopy_options_set_log_level(options, CANOPY_LOG_INFO, &err));
  OK(canopy_options_set_log(options, CountLog, &seen, &err));
  // Bad values and NULL handles are named; the options keep their values.
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'",
             canopy_options_set_compression(NULL, CANOPY_COMPRESSION_NONE, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "compression 7",
             canopy_options_set_compression(options, 7, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "compression -1",
             canopy_options_set_compression(options, -1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_wal_dir(NULL, wal, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_max_open_files(NULL, 64, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'",
             canopy_options_set_background_write_bytes_per_second(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_statistics(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'",
             canopy_options_set_catalog_image(NULL, 1, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'",
             canopy_options_set_log_level(NULL, CANOPY_LOG_WARN, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "level 4", canopy_options_set_log_level(options, 4, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'options'", canopy_options_set_log(NULL, CountLog, NULL, &err));

  canopy_db_t* db = NULL;
  OK(canopy_db_open(options, path, &db, &err));
  uint64_t acme = CANOPY_NO_ID;
  OK(CreateAccount(db, CANOPY_SYSTEM_ACTOR, "acme", "ACME", CANOPY_NO_ID, NULL, 1,
                   CANOPY_ACCESS_DEFAULT_OFF, &acme, &err));
  char* value = (char*)1;
  OK(canopy_get_property(db, "canopy.accounts", &value, &err));
  CHECK_STR(value, "1");
  canopy_free(value);
  OK(canopy_get_property(db, "rocksdb.statistics", &value, &err));
  CHECK(strstr(value, "rocksdb.block.cache") != NULL);
  canopy_free(value);
  value = (char*)1;
  FAILS_WITH(CANOPY_NOT_FOUND, "'canopy.nope'", canopy_get_property(db, "canopy.nope", &value, &err));
  CHECK(value == NULL);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'db'", canopy_get_property(NULL, "canopy.users", &value, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'name'", canopy_get_property(db, NULL, &value, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'value'", canopy_get_property(db, "canopy.users", NULL, &err));
  canopy_strings_t* names = NULL;
  OK(canopy_property_names(&names, &err));
  CHECK(canopy_strings_count(names) > 10);
  CHECK_STR(canopy_strings_at(names, 0), "canopy.revision");
  canopy_strings_destroy(names);
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "'names'", canopy_property_names(NULL, &err));
  OK(canopy_get_property(db, "canopy.catalog-source", &value, &err));
  CHECK_STR(value, "key spaces (catalog_image is off)");
  canopy_free(value);
  OK(canopy_db_close(db, &err));
  CHECK(seen.messages > 0);  // RocksDB logs its options at open, at info level
  CHECK(seen.bad == 0);
  CHECK(seen.below_level == 0);
  char image[600];
  snprintf(image, sizeof image, "%s/CANOPY-CATALOG", path);
  CHECK(access(image, F_OK) != 0);  // and none written at close
  // With the image (the default), a reopen of the same state reads it.
  OK(canopy_options_set_catalog_image(options, 1, &err));
  OK(canopy_options_set_log(options, NULL, NULL, &err));
  OK(canopy_db_open(options, path, &db, &err));
  OK(canopy_db_close(db, &err));
  CHECK(access(image, F_OK) == 0);
  OK(canopy_db_open(options, path, &db, &err));
  OK(canopy_get_property(db, "canopy.catalog-source", &value, &err));
  CHECK_STR(value, "image");
  canopy_free(value);
  OK(canopy_db_close(db, &err));

  // An out-of-range value the setter stores is refused by canopy_db_open.
  OK(canopy_options_set_max_open_files(options, 3, &err));
  OK(canopy_options_set_log(options, NULL, NULL, &err));
  FAILS_WITH(CANOPY_INVALID_ARGUMENT, "max_open_files", canopy_db_open(options, path, &db, &err));
  canopy_options_destroy(options);
}

// Not under the sanitizers: TSan cannot run a child forked from a process
// with threads, and ASan's allocator (GCC 12's libasan) takes no lock around
// fork(), so the child can deadlock in malloc if a RocksDB thread of the
// parent was inside it at that moment. The Release run covers it.
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
// fork(): in the child every call on the parent's database, and any open,
// is FAILED_PRECONDITION naming the fork; close frees the handle without
// touching the parent's database; exit() returns (it would wait for ever
// on the storage engine's threads, which stayed in the parent). The parent
// goes on as before.
static void TestFork(World* w) {
  phase = "fork";
  char other[512];
  Path(other, sizeof other, "forked");
  fflush(NULL);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    canopy_account_t* a = NULL;
    FAILS_WITH(CANOPY_FAILED_PRECONDITION, "forked", canopy_account_get(w->db, w->acme, &a, &err));
    CHECK(a == NULL);
    canopy_db_t* db2 = NULL;
    FAILS_WITH(CANOPY_FAILED_PRECONDITION, "forked", canopy_db_open(NULL, other, &db2, &err));
    CHECK(db2 == NULL);
    FAILS_WITH(CANOPY_FAILED_PRECONDITION, "forked", canopy_db_close(w->db, &err));
    exit(0);  // Fail() exits with 1
  }
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 3000 && done == 0; ++i) {  // up to 30 s
    done = waitpid(child, &status, WNOHANG);
    if (done == 0) nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
  }
  if (done == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    Fail(__LINE__, "the forked child did not end within 30 s", NULL);
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  struct stat st;
  CHECK(stat(other, &st) != 0);  // the child created nothing
  canopy_account_t* a = NULL;
  OK(canopy_account_get(w->db, w->acme, &a, &err));
  canopy_account_destroy(a);
}
#endif

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/canopy-c-api-test-XXXXXX");
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  char path[512];
  Path(path, sizeof path, "db");

  TestVersions();
  TestAttributes();
  TestNullHandles();
  TestGroups();
  World w;
  memset(&w, 0, sizeof w);
  w.db = TestOpen(path);
  TestAccounts(&w);
  TestRolesUsersMemberships(&w);
  TestEntities(&w);
  TestBuilders();
  TestVisible(&w);
  TestAccess(&w);
  TestViewerReads(&w);
  TestReadOnly(&w, path);
  TestSnapshot(&w);
  TestViews(&w);
  TestChanges(&w);
  TestChangesRequest(&w);
  TestDeletes(&w);
  TestInterchange(&w);
  TestReplication(&w);
  TestCompacted();
  TestCheckpointAndReplicaOptions();
  TestStatsAndTuning();
  TestFollower(&w, path);
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)  // see TestFork
  TestFork(&w);
#endif
  phase = "close";
  OK(canopy_db_close(w.db, &err));
  TestReopen(path);

  nftw(dir, RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  printf("c_api_test: all checks passed (canopy %s)\n", canopy_version());
  return 0;
}
