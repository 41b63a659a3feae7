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
  int ok = Check(canopy_account_create(db, CANOPY_SYSTEM_ACTOR, "acme", "ACME", CANOPY_NO_ID, NULL,
                                       1, CANOPY_ACCESS_DEFAULT_ON, &root, &err),
                 err, "create root") &&
           Check(canopy_account_create(db, CANOPY_SYSTEM_ACTOR, "acme-a", "A", root, NULL, 0,
                                       CANOPY_ACCESS_DEFAULT_OFF, &sub, &err),
                 err, "create sub-account") &&
           Check(canopy_user_create(db, CANOPY_SYSTEM_ACTOR, "a@acme.example", "User A", root,
                                    &user, &err),
                 err, "create user");
  canopy_role_t* viewer = NULL;
  ok = ok && Check(canopy_role_find(db, root, "viewer", &viewer, &err), err, "find role") &&
       Check(canopy_membership_invite(db, CANOPY_SYSTEM_ACTOR, user, root, canopy_role_id(viewer),
                                      CANOPY_BRANCH_DEFAULT, &err),
             err, "invite") &&
       Check(canopy_entity_create(db, CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE, "dev-1", "U-1",
                                  "Van 1", "tracker", sub, NULL, &device, &err),
             err, "create device");
  canopy_role_destroy(viewer);
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
