// Copyright (c) Canopy authors.
//
// A C program using an installed libcanopy through include/canopy/c.h:
// a tenant, a sub-account, a user and a device, then what the user sees.
// Usage: consumer_c <new database folder>. Exits non-zero on any failure.

#include <stdio.h>
#include <string.h>

#include "canopy/c.h"

static int Check(canopy_code_t code, char* err, const char* what) {
  if (code == CANOPY_OK) return 1;
  fprintf(stderr, "consumer_c: %s: %s: %s\n", what, canopy_code_name(code), err ? err : "");
  canopy_free(err);
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: consumer_c <database folder>\n");
    return 2;
  }
  char* err = NULL;
  canopy_db_t* db = NULL;
  if (!Check(canopy_db_open(NULL, argv[1], &db, &err), err, "open")) return 1;
  uint64_t root = 0, sub = 0, user = 0, device = 0;
  // Creates take a builder (a spec): fill it, pass it, destroy it.
  canopy_account_spec_t* account = canopy_account_spec_create();
  int ok =
      Check(canopy_account_spec_set_key(account, "acme", &err), err, "key") &&
      Check(canopy_account_spec_set_name(account, "ACME", &err), err, "name") &&
      Check(canopy_account_spec_set_sub_account_management(account, 1, &err), err, "management") &&
      Check(canopy_account_spec_set_sub_account_access(account, CANOPY_ACCESS_DEFAULT_ON, &err),
            err, "access") &&
      Check(canopy_account_create(db, CANOPY_SYSTEM_ACTOR, account, &root, &err), err,
            "create root") &&
      // The same spec again, changed where the sub-account differs.
      Check(canopy_account_spec_set_key(account, "acme-a", &err), err, "key") &&
      Check(canopy_account_spec_set_parent(account, root, &err), err, "parent") &&
      Check(canopy_account_spec_set_sub_account_management(account, 0, &err), err, "management") &&
      Check(canopy_account_create(db, CANOPY_SYSTEM_ACTOR, account, &sub, &err), err,
            "create sub-account");
  canopy_account_spec_destroy(account);
  canopy_user_spec_t* person = canopy_user_spec_create();
  ok = ok && Check(canopy_user_spec_set_login(person, "a@acme.example", &err), err, "login") &&
       Check(canopy_user_spec_set_name(person, "User A", &err), err, "name") &&
       Check(canopy_user_spec_set_account(person, root, &err), err, "account") &&
       Check(canopy_user_create(db, CANOPY_SYSTEM_ACTOR, person, &user, &err), err, "create user");
  canopy_user_spec_destroy(person);
  canopy_role_t* viewer = NULL;
  ok = ok && Check(canopy_role_find(db, root, "viewer", &viewer, &err), err, "find role") &&
       Check(canopy_membership_invite(db, CANOPY_SYSTEM_ACTOR, user, root, canopy_role_id(viewer),
                                      CANOPY_BRANCH_DEFAULT, &err),
             err, "invite");
  canopy_role_destroy(viewer);
  canopy_entity_spec_t* van = canopy_entity_spec_create();
  ok = ok && Check(canopy_entity_spec_set_kind(van, CANOPY_KIND_DEVICE, &err), err, "kind") &&
       Check(canopy_entity_spec_set_key(van, "dev-1", &err), err, "key") &&
       Check(canopy_entity_spec_set_unit_id(van, "U-1", &err), err, "unit id") &&
       Check(canopy_entity_spec_set_name(van, "Van 1", &err), err, "name") &&
       Check(canopy_entity_spec_set_type(van, "tracker", &err), err, "type") &&
       Check(canopy_entity_spec_set_owner(van, sub, &err), err, "owner") &&
       Check(canopy_entity_create(db, CANOPY_SYSTEM_ACTOR, van, &device, &err), err,
             "create device");
  canopy_entity_spec_destroy(van);
  uint64_t seen = 0;
  canopy_visible_request_t* request = canopy_visible_request_create(user, CANOPY_KIND_DEVICE);
  ok = ok && Check(canopy_visible_count(db, request, &seen, &err), err, "count");
  canopy_visible_request_destroy(request);
  if (ok && seen != 1) {
    fprintf(stderr, "consumer_c: the user sees %llu devices, expected 1\n",
            (unsigned long long)seen);
    ok = 0;
  }
  ok = Check(canopy_db_close(db, &err), err, "close") && ok;
  if (ok) printf("consumer_c: libcanopy %s works\n", canopy_version());
  return ok ? 0 : 1;
}
