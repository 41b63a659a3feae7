// Copyright (c) Canopy authors.
//
// The C API's string arguments (include/canopy/c.h, bindings/c), against a
// small database opened once. The first input byte picks a family of calls,
// the second gives the small numbers they take (kind, actor, flags, limit);
// the rest, split on NUL bytes (C strings cannot hold one), are the strings:
// keys, names, logins, unit ids, types, attribute names and values, role and
// permission names, filters, cursor tokens, record type names. A missing
// string is passed as NULL. On every call:
//  - no crash, no leak, no undefined behaviour (ASan, LSan, UBSan);
//  - success leaves *errmsg NULL; a failure sets a non-empty message and a
//    code a caller can act on (never INTERNAL, CORRUPTION or IO_ERROR);
//  - a mutation that succeeds is undone at once (delete, remove, restore),
//    and the undo must succeed, so every input meets the same database.
// One family mints visible cursors: the header of a real cursor (instance,
// view, request fingerprint) with fuzzed bytes after it and a correct
// checksum, as anyone can forge one, to reach the resume path. One family
// makes, fills and deletes a group of fuzzed kind and names.

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "canopy/c.h"
#include "fuzz/fuzz_util.h"

namespace {

struct World {
  canopy_db_t* db = nullptr;
  uint64_t acme = 0, acme_a = 0, globex = 0;
  uint64_t user_a = 0, auditor = 0;
  uint64_t role_auditor = 0;
  uint64_t dev1 = 0;
  std::string cursor_header;  // version, type and the first 24 payload bytes of a real cursor
};
World* w = nullptr;

// *errmsg is set to this before a call, to see that the call overwrites it.
char sentinel_byte;
char* const kUnset = &sentinel_byte;

// The contract of every fallible call.
canopy_code_t Check(canopy_code_t code, char* errmsg, const char* call) {
  if (code == CANOPY_OK) {
    FUZZ_CHECK(errmsg == nullptr, std::string(call) + ": success with an error message");
    return code;
  }
  FUZZ_CHECK(errmsg != nullptr && errmsg != kUnset && errmsg[0] != '\0',
             std::string(call) + ": a failure without a message");
  const std::string message = errmsg;
  canopy_free(errmsg);
  FUZZ_CHECK(code > 0 && code <= CANOPY_UNAVAILABLE, std::string(call) + ": unknown code");
  FUZZ_CHECK(code != CANOPY_INTERNAL && code != CANOPY_CORRUPTION && code != CANOPY_IO_ERROR,
             std::string(call) + " returned " + canopy_code_name(code) + ": " + message);
  return code;
}
#define CALL(fn, ...)                                  \
  [&] {                                                \
    char* errmsg = kUnset;                             \
    canopy_code_t c = fn(__VA_ARGS__, &errmsg);        \
    return Check(c, errmsg, #fn);                      \
  }()
// A call that must succeed (set-up, and undoing a mutation).
#define MUST(fn, ...) FUZZ_CHECK(CALL(fn, __VA_ARGS__) == CANOPY_OK, #fn " failed")

// ---- The cursor codec, redone here (a forger's view: libcanopy exports none).

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64Url(const std::string& in) {
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kB64[(v >> s) & 63]);
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
  }
  return out;
}

std::string UnBase64Url(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const char* p = std::char_traits<char>::find(kB64, 64, c);
    FUZZ_CHECK(p != nullptr);
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string Mint(std::string raw) {
  const uint64_t h = XXH3_64bits(raw.data(), raw.size());
  for (int i = 7; i >= 0; --i) raw.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
  return Base64Url(raw);
}

// ---- Builders ------------------------------------------------------------
// Creates and updates through their builders (c.h, "Calls that take many
// fields"): every setter is held to the contract too, and the first that
// refuses (a NULL key or name, a kind out of range) ends the call there, as
// a caller would. NULL optional values (unit id, type, attributes; an
// update's name) are left unset.

canopy_code_t CreateAccount(uint64_t actor, const char* key, const char* name, uint64_t parent,
                            const canopy_attributes_t* attrs, int mgmt, int access, uint64_t* id) {
  canopy_account_spec_t* spec = canopy_account_spec_create();
  FUZZ_CHECK(spec != nullptr);
  canopy_code_t c = CALL(canopy_account_spec_set_key, spec, key);
  if (c == CANOPY_OK) c = CALL(canopy_account_spec_set_name, spec, name);
  if (c == CANOPY_OK) c = CALL(canopy_account_spec_set_parent, spec, parent);
  if (c == CANOPY_OK && attrs != nullptr) c = CALL(canopy_account_spec_set_attributes, spec, attrs);
  if (c == CANOPY_OK) c = CALL(canopy_account_spec_set_sub_account_management, spec, mgmt);
  if (c == CANOPY_OK) c = CALL(canopy_account_spec_set_sub_account_access, spec, access);
  if (c == CANOPY_OK) c = CALL(canopy_account_create, w->db, actor, spec, id);
  canopy_account_spec_destroy(spec);
  return c;
}

canopy_code_t UpdateAccount(uint64_t actor, uint64_t id, const char* name,
                            const canopy_attributes_t* attrs) {
  canopy_account_patch_t* patch = canopy_account_patch_create();
  FUZZ_CHECK(patch != nullptr);
  canopy_code_t c = CANOPY_OK;
  if (name != nullptr) c = CALL(canopy_account_patch_set_name, patch, name);
  if (c == CANOPY_OK && attrs != nullptr)
    c = CALL(canopy_account_patch_set_attributes, patch, attrs);
  if (c == CANOPY_OK) c = CALL(canopy_account_update, w->db, actor, id, patch);
  canopy_account_patch_destroy(patch);
  return c;
}

canopy_code_t CreateEntity(uint64_t actor, int kind, const char* key, const char* unit,
                           const char* name, const char* type, uint64_t owner,
                           const canopy_attributes_t* attrs, uint64_t* id) {
  canopy_entity_spec_t* spec = canopy_entity_spec_create();
  FUZZ_CHECK(spec != nullptr);
  canopy_code_t c = CALL(canopy_entity_spec_set_kind, spec, kind);
  if (c == CANOPY_OK) c = CALL(canopy_entity_spec_set_key, spec, key);
  if (c == CANOPY_OK && unit != nullptr) c = CALL(canopy_entity_spec_set_unit_id, spec, unit);
  if (c == CANOPY_OK) c = CALL(canopy_entity_spec_set_name, spec, name);
  if (c == CANOPY_OK && type != nullptr) c = CALL(canopy_entity_spec_set_type, spec, type);
  if (c == CANOPY_OK) c = CALL(canopy_entity_spec_set_owner, spec, owner);
  if (c == CANOPY_OK && attrs != nullptr) c = CALL(canopy_entity_spec_set_attributes, spec, attrs);
  if (c == CANOPY_OK) c = CALL(canopy_entity_create, w->db, actor, spec, id);
  canopy_entity_spec_destroy(spec);
  return c;
}

canopy_code_t UpdateEntity(uint64_t actor, uint64_t id, const char* name, const char* type,
                           const char* unit, const canopy_attributes_t* attrs) {
  canopy_entity_patch_t* patch = canopy_entity_patch_create();
  FUZZ_CHECK(patch != nullptr);
  canopy_code_t c = CANOPY_OK;
  if (name != nullptr) c = CALL(canopy_entity_patch_set_name, patch, name);
  if (c == CANOPY_OK && type != nullptr) c = CALL(canopy_entity_patch_set_type, patch, type);
  if (c == CANOPY_OK && unit != nullptr) c = CALL(canopy_entity_patch_set_unit_id, patch, unit);
  if (c == CANOPY_OK && attrs != nullptr)
    c = CALL(canopy_entity_patch_set_attributes, patch, attrs);
  if (c == CANOPY_OK) c = CALL(canopy_entity_update, w->db, actor, id, patch);
  canopy_entity_patch_destroy(patch);
  return c;
}

canopy_code_t CreateUser(uint64_t actor, const char* login, const char* name, uint64_t account,
                         uint64_t* id) {
  canopy_user_spec_t* spec = canopy_user_spec_create();
  FUZZ_CHECK(spec != nullptr);
  canopy_code_t c = CALL(canopy_user_spec_set_login, spec, login);
  if (c == CANOPY_OK) c = CALL(canopy_user_spec_set_name, spec, name);
  if (c == CANOPY_OK) c = CALL(canopy_user_spec_set_account, spec, account);
  if (c == CANOPY_OK) c = CALL(canopy_user_create, w->db, actor, spec, id);
  canopy_user_spec_destroy(spec);
  return c;
}

canopy_code_t UpdateUser(uint64_t actor, uint64_t id, const char* name) {
  canopy_user_patch_t* patch = canopy_user_patch_create();
  FUZZ_CHECK(patch != nullptr);
  canopy_code_t c = CANOPY_OK;
  if (name != nullptr) c = CALL(canopy_user_patch_set_name, patch, name);
  if (c == CANOPY_OK) c = CALL(canopy_user_update, w->db, actor, id, patch);
  canopy_user_patch_destroy(patch);
  return c;
}

// ---- Set-up ------------------------------------------------------------

uint64_t Account(const char* key, const char* name, uint64_t parent, int mgmt, int access) {
  uint64_t id = 0;
  FUZZ_CHECK(CreateAccount(CANOPY_SYSTEM_ACTOR, key, name, parent, nullptr, mgmt, access, &id) ==
                 CANOPY_OK,
             "creating an account failed");
  return id;
}

uint64_t Device(const char* key, const char* unit, const char* name, uint64_t owner,
                canopy_attributes_t* attrs) {
  uint64_t id = 0;
  FUZZ_CHECK(CreateEntity(CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE, key, unit, name, "tracker",
                          owner, attrs, &id) == CANOPY_OK,
             "creating a device failed");
  return id;
}

canopy_visible_request_t* FirstPageRequest() {
  canopy_visible_request_t* r = canopy_visible_request_create(CANOPY_SYSTEM_ACTOR, CANOPY_KIND_DEVICE);
  canopy_visible_request_set_limit(r, 1, nullptr);
  return r;
}

// ---- Inputs ------------------------------------------------------------

struct Input {
  uint8_t op = 0, flags = 0;
  std::vector<std::string> strings;
  std::string rest;  // the bytes after op and flags, unsplit
  const char* S(size_t i) const { return i < strings.size() ? strings[i].c_str() : nullptr; }
  std::vector<const char*> All() const {
    std::vector<const char*> v;
    for (const auto& s : strings) v.push_back(s.c_str());
    return v;
  }
  uint64_t Actor() const { return (flags & 0x10) ? w->user_a : CANOPY_SYSTEM_ACTOR; }
};

canopy_attributes_t* Attrs(const char* name, const char* value) {
  canopy_attributes_t* a = canopy_attributes_create();
  if (name != nullptr) CALL(canopy_attributes_set, a, name, value != nullptr ? value : "");
  return a;
}

void Accounts(const Input& in) {
  canopy_account_t* found = nullptr;
  CALL(canopy_account_find, w->db, in.S(0), &found);
  canopy_account_destroy(found);
  canopy_attributes_t* attrs = Attrs(in.S(2), in.S(3));
  uint64_t id = 0;
  if (CreateAccount(in.Actor(), in.S(0), in.S(1), (in.flags & 0x20) ? w->acme_a : w->acme, attrs,
                    in.flags & 1, (in.flags >> 1) & 3, &id) == CANOPY_OK) {
    MUST(canopy_account_delete, w->db, CANOPY_SYSTEM_ACTOR, id, CANOPY_NO_ID);
  }
  canopy_attributes_destroy(attrs);
}

void AccountUpdate(const Input& in) {
  canopy_attributes_t* attrs = in.S(1) != nullptr ? Attrs(in.S(1), in.S(2)) : nullptr;
  if (UpdateAccount(in.Actor(), w->acme_a, in.S(0), attrs) == CANOPY_OK) {
    canopy_attributes_t* original = Attrs("home_dashboard", "fleet");
    FUZZ_CHECK(
        UpdateAccount(CANOPY_SYSTEM_ACTOR, w->acme_a, "Nested customer A", original) == CANOPY_OK,
        "restoring acme-a failed");
    canopy_attributes_destroy(original);
  }
  canopy_attributes_destroy(attrs);
}

void Entities(const Input& in) {
  const int kind = in.flags % 6;  // 0 and 5 are not kinds
  canopy_attributes_t* attrs = Attrs(in.S(4), in.S(5));
  uint64_t id = 0;
  if (CreateEntity(in.Actor(), kind, in.S(0), in.S(1), in.S(2), in.S(3), w->acme_a, attrs, &id) ==
      CANOPY_OK) {
    MUST(canopy_entity_delete, w->db, CANOPY_SYSTEM_ACTOR, id);
  }
  canopy_attributes_destroy(attrs);
  canopy_entity_t* e = nullptr;
  CALL(canopy_entity_find, w->db, kind, in.S(0), &e);
  canopy_entity_destroy(e);
  e = nullptr;
  CALL(canopy_entity_find_by_unit_id, w->db, in.S(1), &e);
  canopy_entity_destroy(e);
}

void EntityUpdate(const Input& in) {
  canopy_attributes_t* attrs = in.S(3) != nullptr ? Attrs(in.S(3), in.S(4)) : nullptr;
  if (UpdateEntity(in.Actor(), w->dev1, in.S(0), in.S(1), in.S(2), attrs) == CANOPY_OK) {
    canopy_attributes_t* original = Attrs("vin", "WVW");
    FUZZ_CHECK(UpdateEntity(CANOPY_SYSTEM_ACTOR, w->dev1, "Van 1", "tracker", "U-0001", original) ==
                   CANOPY_OK,
               "restoring dev-1 failed");
    canopy_attributes_destroy(original);
  }
  canopy_attributes_destroy(attrs);
}

void Reassign(const Input& in) {
  const int kind = in.flags % 6;
  const int by = (in.flags >> 3) % 3;  // 2 is not a reference type
  const std::vector<const char*> refs = in.All();
  canopy_reassign_report_t* report = nullptr;
  const canopy_code_t code = CALL(canopy_entity_reassign, w->db, in.Actor(), kind, by, refs.data(),
                                  refs.size(), w->acme, &report);
  for (size_t i = 0; i < canopy_reassign_report_count(report); ++i) {
    FUZZ_CHECK(canopy_reassign_report_ref(report, i) != nullptr);
    FUZZ_CHECK(canopy_reassign_report_message(report, i) != nullptr);
    // Undo: each moved entity goes back to the owner it came from.
    if (code == CANOPY_OK && canopy_reassign_report_outcome(report, i) == CANOPY_OUTCOME_MOVED) {
      const char* ref = canopy_reassign_report_ref(report, i);
      canopy_reassign_report_t* back = nullptr;
      MUST(canopy_entity_reassign, w->db, CANOPY_SYSTEM_ACTOR, kind, by, &ref, 1,
           canopy_reassign_report_previous_owner(report, i), &back);
      canopy_reassign_report_destroy(back);
    }
  }
  canopy_reassign_report_destroy(report);
}

void Users(const Input& in) {
  uint64_t id = 0;
  if (CreateUser(in.Actor(), in.S(0), in.S(1), w->acme_a, &id) == CANOPY_OK) {
    MUST(canopy_user_remove, w->db, CANOPY_SYSTEM_ACTOR, id);
  }
  canopy_user_t* u = nullptr;
  CALL(canopy_user_find, w->db, in.S(0), &u);
  canopy_user_destroy(u);
  if (UpdateUser(in.Actor(), w->auditor, in.S(2)) == CANOPY_OK) {
    FUZZ_CHECK(UpdateUser(CANOPY_SYSTEM_ACTOR, w->auditor, "Auditor") == CANOPY_OK,
               "restoring the auditor failed");
  }
}

void Roles(const Input& in) {
  const std::vector<const char*> all = in.All();
  const char* const* perms = all.size() > 1 ? all.data() + 1 : nullptr;
  const size_t n = all.size() > 1 ? all.size() - 1 : 0;
  uint64_t id = 0;
  if (CALL(canopy_role_create, w->db, in.Actor(), (in.flags & 0x20) ? w->acme_a : w->acme, in.S(0),
           perms, n, &id) == CANOPY_OK) {
    MUST(canopy_role_delete, w->db, CANOPY_SYSTEM_ACTOR, id);
  }
  canopy_role_t* r = nullptr;
  CALL(canopy_role_find, w->db, w->acme, in.S(0), &r);
  canopy_role_destroy(r);
  if (CALL(canopy_role_update, w->db, in.Actor(), w->role_auditor, all.data(), all.size()) ==
      CANOPY_OK) {
    const char* original[] = {"device.read", "account.read"};
    MUST(canopy_role_update, w->db, CANOPY_SYSTEM_ACTOR, w->role_auditor, original, 2);
  }
}

void Visible(const Input& in, const char* cursor) {
  canopy_visible_request_t* r =
      canopy_visible_request_create((in.flags & 0x10) ? w->user_a : CANOPY_SYSTEM_ACTOR, in.flags % 6);
  if (cursor == nullptr) {
    canopy_visible_request_set_permission(r, in.S(0), nullptr);
    canopy_visible_request_set_type(r, in.S(1), nullptr);
    canopy_visible_request_set_name_prefix(r, in.S(2), nullptr);
    canopy_visible_request_set_attribute(r, in.S(3), in.S(4), nullptr);
    canopy_visible_request_set_cursor(r, in.S(5), nullptr);
    if (in.flags & 0x40) canopy_visible_request_set_within(r, w->acme_a, nullptr);
    if (in.flags & 0x80) canopy_visible_request_set_direct_only(r, 1, nullptr);
  } else {
    canopy_visible_request_destroy(r);
    r = FirstPageRequest();
    canopy_visible_request_set_cursor(r, cursor, nullptr);
  }
  canopy_visible_request_set_limit(r, 1 + (in.flags >> 5), nullptr);
  canopy_visible_page_t* page = nullptr;
  if (CALL(canopy_visible_list, w->db, r, &page) == CANOPY_OK) {
    for (size_t i = 0; i < canopy_visible_page_count(page); ++i) {
      FUZZ_CHECK(canopy_visible_page_key(page, i) != nullptr);
    }
    FUZZ_CHECK(canopy_visible_page_next_cursor(page) != nullptr);
  }
  canopy_visible_page_destroy(page);
  if (cursor != nullptr) {
    canopy_visible_request_destroy(r);
    return;
  }
  uint64_t count = 0;
  CALL(canopy_visible_count, w->db, r, &count);
  canopy_visible_iterator_t* it = nullptr;
  if (CALL(canopy_visible_iterator_create, w->db, r, &it) == CANOPY_OK) {
    for (int i = 0; canopy_visible_iterator_valid(it) && i < 100; ++i) canopy_visible_iterator_next(it);
    CALL(canopy_visible_iterator_status, it);
  }
  canopy_visible_iterator_destroy(it);
  canopy_visible_request_destroy(r);
}

void Access(const Input& in) {
  int allowed = 0;
  CALL(canopy_access_check, w->db, w->user_a, in.S(0), in.S(1), &allowed);
  canopy_explanation_t* ex = nullptr;
  CALL(canopy_access_explain, w->db, (in.flags & 0x10) ? w->auditor : w->user_a, in.S(0), in.S(1), &ex);
  canopy_explanation_destroy(ex);
  canopy_who_can_page_t* page = nullptr;
  CALL(canopy_access_who_can, w->db, in.S(0), in.S(1), in.flags % 3, in.S(2), &page);
  canopy_who_can_page_destroy(page);
  page = nullptr;
  CALL(canopy_access_who_can_v2, w->db, in.S(0), in.S(1), 1 + in.flags % 3, in.S(2), 0, &page);
  canopy_who_can_page_destroy(page);
}

void Table(const Input& in) {
  canopy_table_page_t* page = nullptr;
  CALL(canopy_account_table, w->db, in.Actor(), (in.flags & 0x20) ? w->acme : CANOPY_NO_ID,
       in.flags % 8, (in.flags >> 3) & 1, 1 + (in.flags >> 6), in.S(0), &page);
  canopy_table_page_destroy(page);
  page = nullptr;
  CALL(canopy_account_table_v2, w->db, in.Actor(), CANOPY_NO_ID, in.flags % 7, 0, 1, in.S(1), 0,
       &page);
  canopy_table_page_destroy(page);
}

void Changes(const Input& in) {
  const std::vector<const char*> types = in.All();
  canopy_changes_t* page = nullptr;
  CALL(canopy_changes_read, w->db, in.Actor(), 1, 50, (in.flags & 0x20) ? w->acme_a : CANOPY_NO_ID,
       types.empty() ? nullptr : types.data(), types.size(), in.flags & 1, 0, &page);
  canopy_changes_destroy(page);
}

void MintedCursor(const Input& in) {
  // The real header with fuzzed bytes after it (an index key, normally), or
  // (flag 1) a wholly fuzzed payload under a correct checksum.
  std::string raw = (in.flags & 1) ? w->cursor_header.substr(0, 2) : w->cursor_header;
  raw += in.rest;
  Visible(in, Mint(raw).c_str());
}

// Groups: a group of the fuzzed kind and name in acme-a, renamed, given
// members of every id space, looked up by member, and deleted again.
void Groups(const Input& in) {
  const int kind = in.flags % 8;  // 0 and 7 are not kinds
  canopy_group_spec_t* spec = canopy_group_spec_create();
  FUZZ_CHECK(spec != nullptr);
  uint64_t id = 0;
  canopy_code_t c = CALL(canopy_group_spec_set_kind, spec, kind);
  if (c == CANOPY_OK) c = CALL(canopy_group_spec_set_name, spec, in.S(0));
  if (c == CANOPY_OK) c = CALL(canopy_group_spec_set_owner, spec, w->acme_a);
  if (c == CANOPY_OK) c = CALL(canopy_group_create, w->db, in.Actor(), spec, &id);
  canopy_group_spec_destroy(spec);
  canopy_groups_t* groups = nullptr;
  CALL(canopy_group_list_by_member_as, w->db, in.Actor(), kind, w->dev1, &groups);
  canopy_groups_destroy(groups);
  if (c != CANOPY_OK) return;
  CALL(canopy_group_rename, w->db, in.Actor(), id, in.S(1));
  const uint64_t members[] = {w->dev1, w->user_a, w->acme_a};
  canopy_group_members_report_t* report = nullptr;
  CALL(canopy_group_members_add, w->db, in.Actor(), id, members, 1 + (in.flags >> 3) % 3, &report);
  for (size_t i = 0; i < canopy_group_members_report_count(report); ++i) {
    FUZZ_CHECK(canopy_group_members_report_message(report, i) != nullptr);
  }
  canopy_group_members_report_destroy(report);
  MUST(canopy_group_delete, w->db, CANOPY_SYSTEM_ACTOR, id);
}

void AttributeMaps(const Input& in) {
  canopy_attributes_t* a = canopy_attributes_create();
  for (size_t i = 0; i + 1 < in.strings.size(); i += 2) {
    CALL(canopy_attributes_set, a, in.S(i), in.S(i + 1));
  }
  CALL(canopy_attributes_set, a, in.S(0), nullptr);  // a NULL value: INVALID_ARGUMENT
  for (size_t i = 0; i < in.strings.size(); ++i) canopy_attributes_get(a, in.S(i));
  for (size_t i = 0; i < canopy_attributes_count(a); ++i) {
    FUZZ_CHECK(canopy_attributes_name(a, i) != nullptr && canopy_attributes_value(a, i) != nullptr);
  }
  canopy_attributes_destroy(a);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  w = new World();
  canopy_options_t* o = canopy_options_create();
  canopy_options_set_sync(o, 0, nullptr);
  canopy_options_set_block_cache_bytes(o, 1 << 20, nullptr);
  MUST(canopy_db_open, o, (canopy::fuzz::ScratchDir() + "/db").c_str(), &w->db);
  canopy_options_destroy(o);
  w->acme = Account("acme", "ACME Corp", CANOPY_NO_ID, 1, CANOPY_ACCESS_DEFAULT_OFF);
  w->acme_a = Account("acme-a", "Nested customer A", w->acme, 1, CANOPY_ACCESS_DEFAULT_ON);
  canopy_attributes_t* dash = Attrs("home_dashboard", "fleet");
  FUZZ_CHECK(UpdateAccount(CANOPY_SYSTEM_ACTOR, w->acme_a, nullptr, dash) == CANOPY_OK);
  canopy_attributes_destroy(dash);
  w->globex = Account("globex", "Globex", CANOPY_NO_ID, 0, CANOPY_ACCESS_ALWAYS_ON);
  const char* perms[] = {"device.read", "account.read"};
  MUST(canopy_role_create, w->db, CANOPY_SYSTEM_ACTOR, w->acme, "auditor", perms, 2, &w->role_auditor);
  FUZZ_CHECK(CreateUser(CANOPY_SYSTEM_ACTOR, "a@acme.example", "User A", w->acme_a, &w->user_a) ==
             CANOPY_OK);
  FUZZ_CHECK(CreateUser(CANOPY_SYSTEM_ACTOR, "audit@acme.example", "Auditor", w->acme,
                        &w->auditor) == CANOPY_OK);
  canopy_role_t* admin = nullptr;
  MUST(canopy_role_find, w->db, w->acme, "account_admin", &admin);
  MUST(canopy_membership_invite, w->db, CANOPY_SYSTEM_ACTOR, w->user_a, w->acme_a,
       canopy_role_id(admin), 1);
  canopy_role_destroy(admin);
  MUST(canopy_membership_invite, w->db, CANOPY_SYSTEM_ACTOR, w->auditor, w->acme, w->role_auditor, 1);
  canopy_attributes_t* vin = Attrs("vin", "WVW");
  w->dev1 = Device("dev-1", "U-0001", "Van 1", w->acme_a, vin);
  canopy_attributes_destroy(vin);
  Device("dev-2", "U-0002", "Van 2", w->acme_a, nullptr);
  Device("dev-3", nullptr, "Van 3", w->acme_a, nullptr);
  uint64_t site = 0;
  FUZZ_CHECK(CreateEntity(CANOPY_SYSTEM_ACTOR, CANOPY_KIND_ASSET, "site-7", nullptr, "Depot",
                          nullptr, w->acme, nullptr, &site) == CANOPY_OK);

  // A real first page's cursor, for MintedCursor.
  canopy_visible_request_t* r = FirstPageRequest();
  canopy_visible_page_t* page = nullptr;
  MUST(canopy_visible_list, w->db, r, &page);
  const std::string raw = UnBase64Url(canopy_visible_page_next_cursor(page));
  FUZZ_CHECK(raw.size() >= 2 + 24 + 8, "the first page has no cursor");
  w->cursor_header = raw.substr(0, 2 + 24);
  canopy_visible_page_destroy(page);
  canopy_visible_request_destroy(r);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Input in;
  in.op = data[0];
  in.flags = data[1];
  in.rest.assign(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (!in.rest.empty()) {
    size_t start = 0;
    for (size_t i = 0; i <= in.rest.size(); ++i) {
      if (i == in.rest.size() || in.rest[i] == '\0') {
        in.strings.push_back(in.rest.substr(start, i - start));
        start = i + 1;
      }
    }
  }
  switch (in.op % 14) {
    case 0: Accounts(in); break;
    case 1: AccountUpdate(in); break;
    case 2: Entities(in); break;
    case 3: EntityUpdate(in); break;
    case 4: Reassign(in); break;
    case 5: Users(in); break;
    case 6: Roles(in); break;
    case 7: Visible(in, nullptr); break;
    case 8: Access(in); break;
    case 9: Table(in); break;
    case 10: Changes(in); break;
    case 11: MintedCursor(in); break;
    case 13: Groups(in); break;
    default: AttributeMaps(in); break;
  }
  return 0;
}
