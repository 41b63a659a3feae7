// Copyright (c) Canopy authors.
//
// The C API (include/canopy/c.h): accounts, and the account views (the
// "All accounts" table, summaries, the graph view).

#include <cstring>
#include <new>
#include <vector>

#include "bindings/c/c_api_internal.h"

using canopy::Status;
using canopy::c_api::At;
using canopy::c_api::Call;
using canopy::c_api::Guard;
using canopy::c_api::MakeAccount;
using canopy::c_api::ToActor;

namespace {

// A new list handle holding `accounts`.
canopy_accounts_t* NewAccounts(std::vector<canopy::Account> accounts) {
  auto out = std::make_unique<canopy_accounts_t>();
  out->items.reserve(accounts.size());
  for (auto& a : accounts) out->items.push_back(MakeAccount(std::move(a)));
  return out.release();
}

Status ToSort(const Call& call, int sort, canopy::TableSort* out) {
  if (sort < CANOPY_SORT_TREE || sort > CANOPY_SORT_DEVICES_SUBTREE) {
    return call.Invalid("unknown sort order " + std::to_string(sort) +
                        " (expected CANOPY_SORT_TREE..CANOPY_SORT_DEVICES_SUBTREE)");
  }
  *out = static_cast<canopy::TableSort>(sort);
  return Status::Ok();
}

// The graph views share everything but the format.
canopy_code_t Graph(const char* function, bool dot, canopy_db_t* db, uint64_t viewer, uint64_t root,
                    uint32_t max_levels, char** text, size_t* length, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (text != nullptr) *text = nullptr;
    if (length != nullptr) *length = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, text);
    auto graph = dot ? db->db->GraphDot(ToActor(viewer), root, max_levels)
                     : db->db->GraphJson(ToActor(viewer), root, max_levels);
    CANOPY_RETURN_IF_ERROR(graph.status());
    *text = canopy::c_api::MallocString(*graph);
    if (length != nullptr) *length = graph->size();
    return Status::Ok();
  });
}

// canopy_account_table and its _v2 (which adds the consistency token).
canopy_code_t Table(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t root,
                    int sort, int descending, size_t limit, const char* cursor,
                    uint64_t min_revision, canopy_table_page_t** page, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (page != nullptr) *page = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, page);
    canopy::TableRequest request{ToActor(viewer)};
    request.root = root;
    CANOPY_RETURN_IF_ERROR(ToSort(call, sort, &request.sort));
    request.descending = descending != 0;
    request.limit = limit;
    if (cursor != nullptr) request.cursor = cursor;
    request.min_revision = min_revision;
    auto out = std::make_unique<canopy_table_page_t>();
    CANOPY_RETURN_IF_ERROR(db->db->AccountsTable(request, &out->page));
    *page = out.release();
    return Status::Ok();
  });
}

const canopy::AccountRow* Row(const canopy_table_page_t* page, size_t row) {
  return page != nullptr ? At(page->page.rows, row) : nullptr;
}

}  // namespace

static_assert(CANOPY_SORT_TREE == static_cast<int>(canopy::TableSort::kTree));
static_assert(CANOPY_SORT_DEVICES_SUBTREE == static_cast<int>(canopy::TableSort::kDevicesSubtree));

extern "C" {

// ---- Builders -----------------------------------------------------------------

canopy_account_spec_t* canopy_account_spec_create(void) {
  return new (std::nothrow) canopy_account_spec_t();
}

void canopy_account_spec_destroy(canopy_account_spec_t* spec) { delete spec; }

canopy_code_t canopy_account_spec_set_key(canopy_account_spec_t* spec, const char* key,
                                          char** errmsg) {
  return Guard("canopy_account_spec_set_key", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, key);
    spec->spec.key = key;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_spec_set_name(canopy_account_spec_t* spec, const char* name,
                                           char** errmsg) {
  return Guard("canopy_account_spec_set_name", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, name);
    spec->spec.name = name;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_spec_set_parent(canopy_account_spec_t* spec, uint64_t parent,
                                             char** errmsg) {
  return Guard("canopy_account_spec_set_parent", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    spec->spec.parent = parent;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_spec_set_attributes(canopy_account_spec_t* spec,
                                                 const canopy_attributes_t* attributes,
                                                 char** errmsg) {
  return Guard("canopy_account_spec_set_attributes", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    CANOPY_C_REQUIRE(call, attributes);
    spec->spec.attributes = attributes->map;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_spec_set_sub_account_management(canopy_account_spec_t* spec, int on,
                                                             char** errmsg) {
  return Guard("canopy_account_spec_set_sub_account_management", errmsg,
               [&](const Call& call) -> Status {
                 CANOPY_C_REQUIRE(call, spec);
                 spec->spec.settings.sub_account_management = on != 0;
                 return Status::Ok();
               });
}

canopy_code_t canopy_account_spec_set_sub_account_access(canopy_account_spec_t* spec, int access,
                                                         char** errmsg) {
  return Guard(
      "canopy_account_spec_set_sub_account_access", errmsg, [&](const Call& call) -> Status {
        CANOPY_C_REQUIRE(call, spec);
        return canopy::c_api::ToAccess(call, access, &spec->spec.settings.sub_account_access);
      });
}

canopy_account_patch_t* canopy_account_patch_create(void) {
  return new (std::nothrow) canopy_account_patch_t();
}

void canopy_account_patch_destroy(canopy_account_patch_t* patch) { delete patch; }

canopy_code_t canopy_account_patch_set_name(canopy_account_patch_t* patch, const char* name,
                                            char** errmsg) {
  return Guard("canopy_account_patch_set_name", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, patch);
    CANOPY_C_REQUIRE(call, name);
    patch->patch.name = name;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_patch_set_attributes(canopy_account_patch_t* patch,
                                                  const canopy_attributes_t* attributes,
                                                  char** errmsg) {
  return Guard("canopy_account_patch_set_attributes", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, patch);
    CANOPY_C_REQUIRE(call, attributes);
    patch->patch.attributes = attributes->map;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_patch_set_sub_account_management(canopy_account_patch_t* patch, int on,
                                                              char** errmsg) {
  return Guard("canopy_account_patch_set_sub_account_management", errmsg,
               [&](const Call& call) -> Status {
                 CANOPY_C_REQUIRE(call, patch);
                 patch->patch.sub_account_management = on != 0;
                 return Status::Ok();
               });
}

canopy_code_t canopy_account_spec_set_group_sharing(canopy_account_spec_t* spec, int on,
                                                   char** errmsg) {
  return Guard("canopy_account_spec_set_group_sharing", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, spec);
    spec->spec.settings.group_sharing = on != 0;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_patch_set_group_sharing(canopy_account_patch_t* patch, int on,
                                                    char** errmsg) {
  return Guard("canopy_account_patch_set_group_sharing", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, patch);
    patch->patch.group_sharing = on != 0;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_patch_set_sub_account_access(canopy_account_patch_t* patch, int access,
                                                          char** errmsg) {
  return Guard("canopy_account_patch_set_sub_account_access", errmsg,
               [&](const Call& call) -> Status {
                 CANOPY_C_REQUIRE(call, patch);
                 canopy::SubAccountAccess value;
                 CANOPY_RETURN_IF_ERROR(canopy::c_api::ToAccess(call, access, &value));
                 patch->patch.sub_account_access = value;
                 return Status::Ok();
               });
}

// ---- Mutations ----------------------------------------------------------------

canopy_code_t canopy_account_create(canopy_db_t* db, uint64_t actor,
                                    const canopy_account_spec_t* spec, uint64_t* id,
                                    char** errmsg) {
  return Guard("canopy_account_create", errmsg, [&](const Call& call) -> Status {
    if (id != nullptr) *id = CANOPY_NO_ID;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, spec);
    auto created = db->db->CreateAccount(ToActor(actor), spec->spec);
    CANOPY_RETURN_IF_ERROR(created.status());
    if (id != nullptr) *id = *created;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_update(canopy_db_t* db, uint64_t actor, uint64_t id,
                                    const canopy_account_patch_t* patch, char** errmsg) {
  return Guard("canopy_account_update", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, patch);
    return db->db->UpdateAccount(ToActor(actor), id, patch->patch);
  });
}

canopy_code_t canopy_account_set_sub_account_management(canopy_db_t* db, uint64_t actor,
                                                        uint64_t id, int on, char** errmsg) {
  return Guard("canopy_account_set_sub_account_management", errmsg,
               [&](const Call& call) -> Status {
                 CANOPY_C_REQUIRE(call, db);
                 return db->db->SetSubAccountManagement(ToActor(actor), id, on != 0);
               });
}

canopy_code_t canopy_account_set_sub_account_access(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                    int access, char** errmsg) {
  return Guard("canopy_account_set_sub_account_access", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    canopy::SubAccountAccess value;
    CANOPY_RETURN_IF_ERROR(canopy::c_api::ToAccess(call, access, &value));
    return db->db->SetSubAccountAccess(ToActor(actor), id, value);
  });
}

canopy_code_t canopy_account_move(canopy_db_t* db, uint64_t actor, uint64_t id, uint64_t new_parent,
                                  char** errmsg) {
  return Guard("canopy_account_move", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->MoveAccount(ToActor(actor), id, new_parent);
  });
}

canopy_code_t canopy_account_delete(canopy_db_t* db, uint64_t actor, uint64_t id, uint64_t receiver,
                                    char** errmsg) {
  return Guard("canopy_account_delete", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    return db->db->DeleteAccount(ToActor(actor), id, receiver);
  });
}

canopy_code_t canopy_account_delete_many(canopy_db_t* db, uint64_t actor, const uint64_t* ids,
                                         size_t n, uint64_t receiver, char** errmsg) {
  return Guard("canopy_account_delete_many", errmsg, [&](const Call& call) -> Status {
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_ARRAY(call, ids, n);
    const std::vector<canopy::AccountId> list(ids, ids + n);
    return db->db->DeleteAccounts(ToActor(actor), list, receiver);
  });
}

// ---- Reads --------------------------------------------------------------------

static canopy_code_t canopy_account_getImpl(const char* function, canopy_db_t* db,
                                            uint64_t viewer, uint64_t id,
                                            canopy_account_t** account, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (account != nullptr) *account = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, account);
    auto a = db->db->GetAccount(ToActor(viewer), id);
    CANOPY_RETURN_IF_ERROR(a.status());
    *account = new canopy_account_t(MakeAccount(std::move(a).value()));
    return Status::Ok();
  });
}

canopy_code_t canopy_account_get(canopy_db_t* db, uint64_t id, canopy_account_t** account,
                                 char** errmsg) {
  return canopy_account_getImpl("canopy_account_get", db, CANOPY_SYSTEM_ACTOR, id, account,
                                errmsg);
}

canopy_code_t canopy_account_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                    canopy_account_t** account, char** errmsg) {
  return canopy_account_getImpl("canopy_account_get_as", db, viewer, id, account, errmsg);
}

static canopy_code_t canopy_account_findImpl(const char* function, canopy_db_t* db, uint64_t viewer, const char* key, canopy_account_t** account, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (account != nullptr) *account = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, key);
    CANOPY_C_REQUIRE(call, account);
    auto a = db->db->FindAccount(ToActor(viewer), key);
    CANOPY_RETURN_IF_ERROR(a.status());
    *account = new canopy_account_t(MakeAccount(std::move(a).value()));
    return Status::Ok();
  });
}

canopy_code_t canopy_account_find(canopy_db_t* db, const char* key, canopy_account_t** account, char** errmsg) {
  return canopy_account_findImpl("canopy_account_find", db, CANOPY_SYSTEM_ACTOR, key, account, errmsg);
}

canopy_code_t canopy_account_find_as(canopy_db_t* db, uint64_t viewer, const char* key, canopy_account_t** account, char** errmsg) {
  return canopy_account_findImpl("canopy_account_find_as", db, viewer, key, account, errmsg);
}

static canopy_code_t canopy_account_count_ownedImpl(const char* function, canopy_db_t* db,
                                                   uint64_t viewer, uint64_t id, int kind,
                                                   uint64_t* direct, uint64_t* subtree,
                                                   char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (direct != nullptr) *direct = 0;
    if (subtree != nullptr) *subtree = 0;
    CANOPY_C_REQUIRE(call, db);
    canopy::EntityKind k;
    CANOPY_RETURN_IF_ERROR(canopy::c_api::ToKind(call, kind, &k));
    auto counts = db->db->CountOwned(ToActor(viewer), id, k);
    CANOPY_RETURN_IF_ERROR(counts.status());
    if (direct != nullptr) *direct = counts->direct;
    if (subtree != nullptr) *subtree = counts->subtree;
    return Status::Ok();
  });
}

canopy_code_t canopy_account_count_owned(canopy_db_t* db, uint64_t id, int kind, uint64_t* direct,
                                         uint64_t* subtree, char** errmsg) {
  return canopy_account_count_ownedImpl("canopy_account_count_owned", db, CANOPY_SYSTEM_ACTOR, id,
                                        kind, direct, subtree, errmsg);
}

canopy_code_t canopy_account_count_owned_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                            int kind, uint64_t* direct, uint64_t* subtree,
                                            char** errmsg) {
  return canopy_account_count_ownedImpl("canopy_account_count_owned_as", db, viewer, id, kind,
                                        direct, subtree, errmsg);
}

static canopy_code_t canopy_account_ancestorsImpl(const char* function, canopy_db_t* db,
                                                  uint64_t viewer, uint64_t id,
                                                  canopy_accounts_t** accounts, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (accounts != nullptr) *accounts = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, accounts);
    auto list = db->db->Ancestors(ToActor(viewer), id);
    CANOPY_RETURN_IF_ERROR(list.status());
    *accounts = NewAccounts(std::move(list).value());
    return Status::Ok();
  });
}

canopy_code_t canopy_account_ancestors(canopy_db_t* db, uint64_t id, canopy_accounts_t** accounts,
                                       char** errmsg) {
  return canopy_account_ancestorsImpl("canopy_account_ancestors", db, CANOPY_SYSTEM_ACTOR, id,
                                      accounts, errmsg);
}

canopy_code_t canopy_account_ancestors_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                          canopy_accounts_t** accounts, char** errmsg) {
  return canopy_account_ancestorsImpl("canopy_account_ancestors_as", db, viewer, id, accounts,
                                      errmsg);
}

static canopy_code_t canopy_account_descendantsImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t id, uint32_t max_levels, canopy_accounts_t** accounts, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (accounts != nullptr) *accounts = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, accounts);
    auto list = db->db->Descendants(ToActor(viewer), id, max_levels);
    CANOPY_RETURN_IF_ERROR(list.status());
    *accounts = NewAccounts(std::move(list).value());
    return Status::Ok();
  });
}

canopy_code_t canopy_account_descendants(canopy_db_t* db, uint64_t id, uint32_t max_levels, canopy_accounts_t** accounts, char** errmsg) {
  return canopy_account_descendantsImpl("canopy_account_descendants", db, CANOPY_SYSTEM_ACTOR, id, max_levels, accounts, errmsg);
}

canopy_code_t canopy_account_descendants_as(canopy_db_t* db, uint64_t viewer, uint64_t id, uint32_t max_levels, canopy_accounts_t** accounts, char** errmsg) {
  return canopy_account_descendantsImpl("canopy_account_descendants_as", db, viewer, id, max_levels, accounts, errmsg);
}

static canopy_code_t canopy_account_rootsImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t** ids, size_t* count, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (ids != nullptr) *ids = nullptr;
    if (count != nullptr) *count = 0;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, ids);
    CANOPY_C_REQUIRE(call, count);
    auto listed = db->db->Roots(ToActor(viewer));
    CANOPY_RETURN_IF_ERROR(listed.status());
    const std::vector<canopy::AccountId> roots = std::move(listed).value();
    if (roots.empty()) return Status::Ok();
    auto* out = static_cast<uint64_t*>(std::malloc(roots.size() * sizeof(uint64_t)));
    if (out == nullptr) throw std::bad_alloc();
    std::memcpy(out, roots.data(), roots.size() * sizeof(uint64_t));
    *ids = out;
    *count = roots.size();
    return Status::Ok();
  });
}

canopy_code_t canopy_account_roots(canopy_db_t* db, uint64_t** ids, size_t* count, char** errmsg) {
  return canopy_account_rootsImpl("canopy_account_roots", db, CANOPY_SYSTEM_ACTOR, ids, count, errmsg);
}

canopy_code_t canopy_account_roots_as(canopy_db_t* db, uint64_t viewer, uint64_t** ids, size_t* count, char** errmsg) {
  return canopy_account_rootsImpl("canopy_account_roots_as", db, viewer, ids, count, errmsg);
}

// ---- Account handles and lists ------------------------------------------------

void canopy_account_destroy(canopy_account_t* account) { delete account; }

uint64_t canopy_account_id(const canopy_account_t* account) {
  return account != nullptr ? account->account.id : canopy::kNoId;
}

const char* canopy_account_key(const canopy_account_t* account) {
  return account != nullptr ? account->account.key.c_str() : nullptr;
}

const char* canopy_account_name(const canopy_account_t* account) {
  return account != nullptr ? account->account.name.c_str() : nullptr;
}

uint64_t canopy_account_parent(const canopy_account_t* account) {
  return account != nullptr ? account->account.parent : canopy::kNoId;
}

uint32_t canopy_account_depth(const canopy_account_t* account) {
  return account != nullptr ? account->account.depth : 0;
}

int64_t canopy_account_created_us(const canopy_account_t* account) {
  return account != nullptr ? account->account.created_us : 0;
}

int64_t canopy_account_updated_us(const canopy_account_t* account) {
  return account != nullptr ? account->account.updated_us : 0;
}

const canopy_attributes_t* canopy_account_attributes(const canopy_account_t* account) {
  return account != nullptr ? &account->attributes : nullptr;
}

int canopy_account_sub_account_management(const canopy_account_t* account) {
  return account != nullptr && account->account.settings.sub_account_management ? 1 : 0;
}

int canopy_account_sub_account_access(const canopy_account_t* account) {
  return account != nullptr ? static_cast<int>(account->account.settings.sub_account_access) : 0;
}

int canopy_account_group_sharing(const canopy_account_t* account) {
  return account != nullptr && account->account.settings.group_sharing ? 1 : 0;
}

void canopy_accounts_destroy(canopy_accounts_t* accounts) { delete accounts; }

size_t canopy_accounts_count(const canopy_accounts_t* accounts) {
  return accounts != nullptr ? accounts->items.size() : 0;
}

const canopy_account_t* canopy_accounts_at(const canopy_accounts_t* accounts, size_t i) {
  return accounts != nullptr ? At(accounts->items, i) : nullptr;
}

// ---- The "All accounts" table ---------------------------------------------------

canopy_code_t canopy_account_table(canopy_db_t* db, uint64_t viewer, uint64_t root, int sort,
                                   int descending, size_t limit, const char* cursor,
                                   canopy_table_page_t** page, char** errmsg) {
  return Table("canopy_account_table", db, viewer, root, sort, descending, limit, cursor, 0, page,
               errmsg);
}

canopy_code_t canopy_account_table_v2(canopy_db_t* db, uint64_t viewer, uint64_t root, int sort,
                                      int descending, size_t limit, const char* cursor,
                                      uint64_t min_revision, canopy_table_page_t** page,
                                      char** errmsg) {
  return Table("canopy_account_table_v2", db, viewer, root, sort, descending, limit, cursor,
               min_revision, page, errmsg);
}

void canopy_table_page_destroy(canopy_table_page_t* page) { delete page; }

size_t canopy_table_page_count(const canopy_table_page_t* page) {
  return page != nullptr ? page->page.rows.size() : 0;
}

uint64_t canopy_table_page_total(const canopy_table_page_t* page) {
  return page != nullptr ? page->page.total : 0;
}

const char* canopy_table_page_next_cursor(const canopy_table_page_t* page) {
  return page != nullptr ? page->page.next_cursor.c_str() : nullptr;
}

uint64_t canopy_table_page_revision(const canopy_table_page_t* page) {
  return page != nullptr ? page->page.revision : 0;
}

uint64_t canopy_table_page_id(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->id : canopy::kNoId;
}

uint64_t canopy_table_page_parent(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->parent : canopy::kNoId;
}

const char* canopy_table_page_key(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->key.c_str() : nullptr;
}

const char* canopy_table_page_name(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->name.c_str() : nullptr;
}

uint32_t canopy_table_page_depth(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->depth : 0;
}

size_t canopy_table_page_path_count(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->path.size() : 0;
}

const char* canopy_table_page_path(const canopy_table_page_t* page, size_t row, size_t i) {
  const canopy::AccountRow* r = Row(page, row);
  const std::string* s = r != nullptr ? At(r->path, i) : nullptr;
  return s != nullptr ? s->c_str() : nullptr;
}

uint64_t canopy_table_page_users(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->users : 0;
}

uint64_t canopy_table_page_sub_accounts(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->sub_accounts : 0;
}

uint64_t canopy_table_page_devices_direct(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->devices_direct : 0;
}

uint64_t canopy_table_page_devices_subtree(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->devices_subtree : 0;
}

uint64_t canopy_table_page_groups(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->groups : 0;
}

int64_t canopy_table_page_created_us(const canopy_table_page_t* page, size_t row) {
  const canopy::AccountRow* r = Row(page, row);
  return r != nullptr ? r->created_us : 0;
}

// ---- Summary and graph ----------------------------------------------------------

static canopy_code_t canopy_account_summarizeImpl(const char* function, canopy_db_t* db, uint64_t viewer, uint64_t id, canopy_summary_t** summary, char** errmsg) {
  return Guard(function, errmsg, [&](const Call& call) -> Status {
    if (summary != nullptr) *summary = nullptr;
    CANOPY_C_REQUIRE(call, db);
    CANOPY_C_REQUIRE(call, summary);
    auto s = db->db->Summary(ToActor(viewer), id);
    CANOPY_RETURN_IF_ERROR(s.status());
    auto out = std::make_unique<canopy_summary_t>();
    out->summary = std::move(s).value();
    out->account = MakeAccount(std::move(out->summary.account));
    out->summary.account = canopy::Account();
    *summary = out.release();
    return Status::Ok();
  });
}

canopy_code_t canopy_account_summarize(canopy_db_t* db, uint64_t id, canopy_summary_t** summary, char** errmsg) {
  return canopy_account_summarizeImpl("canopy_account_summarize", db, CANOPY_SYSTEM_ACTOR, id, summary, errmsg);
}

canopy_code_t canopy_account_summarize_as(canopy_db_t* db, uint64_t viewer, uint64_t id, canopy_summary_t** summary, char** errmsg) {
  return canopy_account_summarizeImpl("canopy_account_summarize_as", db, viewer, id, summary, errmsg);
}

void canopy_summary_destroy(canopy_summary_t* summary) { delete summary; }

const canopy_account_t* canopy_summary_account(const canopy_summary_t* summary) {
  return summary != nullptr ? &summary->account : nullptr;
}

size_t canopy_summary_path_count(const canopy_summary_t* summary) {
  return summary != nullptr ? summary->summary.path.size() : 0;
}

const char* canopy_summary_path(const canopy_summary_t* summary, size_t i) {
  const std::string* s = summary != nullptr ? At(summary->summary.path, i) : nullptr;
  return s != nullptr ? s->c_str() : nullptr;
}

const char* canopy_summary_path_name(const canopy_summary_t* summary, size_t i) {
  const std::string* s = summary != nullptr ? At(summary->summary.path_names, i) : nullptr;
  return s != nullptr ? s->c_str() : nullptr;
}

uint64_t canopy_summary_users(const canopy_summary_t* summary) {
  return summary != nullptr ? summary->summary.users : 0;
}

uint64_t canopy_summary_sub_accounts(const canopy_summary_t* summary) {
  return summary != nullptr ? summary->summary.sub_accounts : 0;
}

uint64_t canopy_summary_devices_direct(const canopy_summary_t* summary) {
  return summary != nullptr ? summary->summary.devices_direct : 0;
}

uint64_t canopy_summary_devices_subtree(const canopy_summary_t* summary) {
  return summary != nullptr ? summary->summary.devices_subtree : 0;
}

canopy_code_t canopy_account_graph_json(canopy_db_t* db, uint64_t viewer, uint64_t root,
                                        uint32_t max_levels, char** text, size_t* length,
                                        char** errmsg) {
  return Graph("canopy_account_graph_json", false, db, viewer, root, max_levels, text, length,
               errmsg);
}

canopy_code_t canopy_account_graph_dot(canopy_db_t* db, uint64_t viewer, uint64_t root,
                                       uint32_t max_levels, char** text, size_t* length,
                                       char** errmsg) {
  return Graph("canopy_account_graph_dot", true, db, viewer, root, max_levels, text, length,
               errmsg);
}

}  // extern "C"
