// Copyright (c) Canopy authors.
//
// The C API of Canopy: the whole of canopy::Db (db.h, query.h) for C and for
// every language with a C foreign-function interface (the Python package in
// bindings/python is one). Link libcanopy (CMake: find_package(Canopy) and
// canopy::canopy; pkg-config: canopy) and include only this header.
//
// Conventions (they hold for every function below unless it says otherwise):
//
// - Handles are opaque pointers (canopy_db_t, canopy_account_t...). Nothing
//   about their layout is public.
// - Names are canopy_<object>_<verb>: canopy_account_create,
//   canopy_entity_reassign, canopy_visible_list.
// - Objects the caller makes come in create/destroy pairs; the database in
//   an open/close pair. Every destroy (and canopy_db_close) accepts NULL and
//   then does nothing. "_destroy" frees a handle in memory and never touches
//   the database; "_delete" and "_remove" change the database.
// - Strings going in are NUL-terminated UTF-8 (const char*). Canopy refuses
//   a NUL byte inside any name, key, login or attribute, so a NUL-terminated
//   string can carry every value Canopy accepts. The one exception is the
//   change log's replication entries (canopy_log_entries_read,
//   canopy_changes_apply): opaque byte strings passed as pointer and
//   length. Strings coming out of a result handle are NUL-terminated, borrowed
//   from the handle, and valid until it is destroyed. Strings and arrays
//   returned through a char** or uint64_t** out-parameter belong to the
//   caller, who frees them with canopy_free (large ones, such as the graph
//   views, also report their length).
// - Every fallible call returns a canopy_code_t (CANOPY_OK = 0 on success;
//   the values equal canopy::Code in status.h and never change) and takes
//   a last parameter `char** errmsg`, which may be NULL. When it is not
//   NULL, *errmsg is set to NULL on success and to a message a person can
//   act on (never empty; free it with canopy_free) on failure. Its previous
//   value is neither read nor freed. Out-parameters are cleared on entry
//   (NULL or 0), so on failure they hold nothing to free, except where a
//   function says it also fills one on failure (reassign reports, integrity
//   problems).
// - Calls that take many fields (creating and updating accounts, entities
//   and users) take a builder handle instead of one parameter per field:
//   canopy_<object>_spec_t for a create, canopy_<object>_patch_t for an
//   update, as canopy::AccountSpec and canopy::AccountPatch in C++. Make
//   one with _create (empty; NULL only when memory is exhausted), fill it
//   with its _set_<field> setters, pass it to the call, and free it with
//   _destroy. The call only reads it, so one builder may serve several
//   calls. Each setter returns a code: CANOPY_INVALID_ARGUMENT, with a
//   message naming the setter and the argument, for a NULL builder, a NULL
//   string or map, or an enumerated value out of range; the builder is then
//   unchanged. What a value must look like (non-empty keys, lengths,
//   UTF-8) is checked by the call that uses the builder, with the errors
//   listed there. A field added to Canopy later comes as a new setter, so
//   no call's signature changes for it.
// - Results with more than one field come back as opaque result handles
//   with accessor functions (canopy_account_key(a)), never as structs by
//   value, so that fields can be added without breaking the ABI. Accessors
//   never fail: given a NULL handle or an index out of range they return
//   NULL (strings and handles) or 0 (numbers), except where one says
//   otherwise (an outcome is -1, as 0 is an outcome).
// - A required pointer argument that is NULL makes the call return
//   CANOPY_INVALID_ARGUMENT with a message naming the argument; it never
//   crashes. Enumerated values (entity kinds, sort orders...) out of range
//   are CANOPY_INVALID_ARGUMENT as well. An array passed with its count
//   (ids, n) may be NULL only when the count is 0, and a count larger than
//   any array can be is CANOPY_INVALID_ARGUMENT naming it, before any item
//   is read.
// - Every mutation takes an actor as `uint64_t actor`: a user id, or
//   CANOPY_SYSTEM_ACTOR (0), the platform's system actor that bootstraps
//   root tenants and is allowed everything. Viewers of queries are passed
//   the same way (CANOPY_SYSTEM_ACTOR sees everything). Engine ids are
//   uint64_t and 0 (CANOPY_NO_ID) is never a valid id; where an account id is
//   optional (a root tenant's parent, no receiver, no subtree restriction),
//   pass CANOPY_NO_ID.
// - Flags going in or coming out are int: 0 is false, anything else true.
// - No C++ exception crosses this API: any that escapes the engine becomes
//   CANOPY_INTERNAL with its message ("<function>: out of memory" when
//   memory ran out).
// - Thread safety: a canopy_db_t may be used by many threads at once, as
//   canopy::Db. Result handles are immutable and may be read from several
//   threads. Options, attribute maps, builders, visible requests and
//   iterators are used by one thread at a time.
// - fork(): in a process forked from one that had opened a database, every
//   call on a database is FAILED_PRECONDITION, canopy_db_open included
//   (the storage engine's threads stay in the parent); canopy_db_close
//   there frees the handle (once its iterators and snapshots are gone, as
//   anywhere) without touching the parent's database and returns
//   FAILED_PRECONDITION. canopy/db.h says more.
// - Stability: from version 1.0 on, a function's signature and meaning
//   never change once shipped: a changed function is added under a new
//   name ending in _v2 (then _v3), and the old one keeps working.
//   Constants are only appended. Before 1.0 a function may still change;
//   CHANGELOG.md names every such change. The exported functions are listed
//   in bindings/c/abi.txt, which the tests compare with the library.
//
// See include/canopy/db.h for the rules each call enforces (permissions,
// input limits); the comments below say which errors to expect.

#ifndef CANOPY_C_H_
#define CANOPY_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CANOPY_EXPORT __attribute__((visibility("default")))
#else
#define CANOPY_EXPORT
#endif

// ---- Codes, constants, memory, versions --------------------------------

// The result of every fallible call; one of the CANOPY_* codes below.
typedef int canopy_code_t;

#define CANOPY_OK 0
#define CANOPY_NOT_FOUND 1            // an id, key, login or role does not exist
#define CANOPY_INVALID_ARGUMENT 2     // malformed input, NULL argument, bad value
#define CANOPY_ALREADY_EXISTS 3       // a unique key, login or membership is taken
#define CANOPY_FAILED_PRECONDITION 4  // the state forbids it: children, cycles...
#define CANOPY_PERMISSION_DENIED 5    // the actor lacks a permission on a scope
#define CANOPY_CORRUPTION 6           // stored bytes are not what Canopy wrote
#define CANOPY_IO_ERROR 7             // the file system or RocksDB failed
#define CANOPY_NOT_SUPPORTED 8        // e.g. a database of a newer storage format
#define CANOPY_INTERNAL 9             // a bug in Canopy (please report it), or
                                      // memory ran out ("<function>: out of memory")
#define CANOPY_ABORTED 10             // a long operation was cancelled by its caller
#define CANOPY_COMPACTED 11           // a change-log revision trimmed by retention
#define CANOPY_UNAVAILABLE 12         // etcd (for a replica) does not answer, or a
                                      // reader's open raced a busy writer: try again

// The system actor (and the all-seeing viewer), and "no account".
#define CANOPY_SYSTEM_ACTOR ((uint64_t)0)
#define CANOPY_NO_ID ((uint64_t)0)

// Entity kinds (canopy::EntityKind).
#define CANOPY_KIND_DEVICE 1
#define CANOPY_KIND_ASSET 2
#define CANOPY_KIND_DASHBOARD 3
#define CANOPY_KIND_ENTITY_VIEW 4

// Sub-account access defaults of an account (canopy::SubAccountAccess).
#define CANOPY_ACCESS_DEFAULT_OFF 0
#define CANOPY_ACCESS_DEFAULT_ON 1
#define CANOPY_ACCESS_ALWAYS_ON 2

// The `branch` argument of canopy_membership_invite: follow the account's
// sub-account access default. 0 and 1 ask for false and true.
#define CANOPY_BRANCH_DEFAULT (-1)

// How canopy_entity_reassign names its items (canopy::EntityRef).
#define CANOPY_REF_KEY 0
#define CANOPY_REF_UNIT_ID 1

// Per-item outcomes of a reassign report (canopy::ReassignItem::Outcome).
#define CANOPY_OUTCOME_MOVED 0      // reassigned (or would have been)
#define CANOPY_OUTCOME_UNCHANGED 1  // already owned by the target
#define CANOPY_OUTCOME_UNKNOWN 2    // no entity with that key / unit id
#define CANOPY_OUTCOME_DENIED 3     // the actor may not take it from its owner
#define CANOPY_OUTCOME_DUPLICATE 4  // named twice in the batch

// Sort orders of the "All accounts" table (canopy::TableSort).
#define CANOPY_SORT_TREE 0  // each account before its sub-accounts
#define CANOPY_SORT_NAME 1
#define CANOPY_SORT_CREATED 2
#define CANOPY_SORT_USERS 3
#define CANOPY_SORT_SUB_ACCOUNTS 4
#define CANOPY_SORT_DEVICES_DIRECT 5
#define CANOPY_SORT_DEVICES_SUBTREE 6

// Frees a string or array that Canopy returned through an out-parameter
// (error messages, graph texts, id arrays). NULL is fine.
CANOPY_EXPORT void canopy_free(void* ptr);

// The stable lower-case name of a code ("not_found", "permission_denied"),
// "unknown" for a value that is not a code. Static storage; never NULL.
CANOPY_EXPORT const char* canopy_code_name(canopy_code_t code);

// The library's semantic version, e.g. "0.1.0". Static storage.
CANOPY_EXPORT const char* canopy_version(void);

// The on-disk format version this library writes (canopy::
// kStorageFormatVersion); databases of a newer format are refused.
CANOPY_EXPORT uint32_t canopy_storage_format_version(void);

// Progress of a long operation (import, export, integrity check): `done`
// of `total` units. Return non-zero to go on, 0 to cancel: the operation
// then returns CANOPY_ABORTED and changes nothing. Called on the calling
// thread; `arg` is passed through untouched. It may read the same
// database; a call that would wait for the operation (canopy_db_close; a
// write during an import) fails from inside it with
// CANOPY_FAILED_PRECONDITION naming the callback. Every callback of this
// API (progress, log) returns to its caller: leaving it another way
// (longjmp, pthread_exit, a thread cancelled inside it) unwinds through the
// library, which does not support that, and aborts the process.
typedef int (*canopy_progress_fn)(void* arg, uint64_t done, uint64_t total);

// ---- Opaque types ------------------------------------------------------

typedef struct canopy_options_t canopy_options_t;
typedef struct canopy_db_t canopy_db_t;
typedef struct canopy_attributes_t canopy_attributes_t;
typedef struct canopy_account_spec_t canopy_account_spec_t;
typedef struct canopy_account_patch_t canopy_account_patch_t;
typedef struct canopy_account_t canopy_account_t;
typedef struct canopy_accounts_t canopy_accounts_t;
typedef struct canopy_entity_spec_t canopy_entity_spec_t;
typedef struct canopy_entity_patch_t canopy_entity_patch_t;
typedef struct canopy_entity_t canopy_entity_t;
typedef struct canopy_reassign_report_t canopy_reassign_report_t;
typedef struct canopy_user_spec_t canopy_user_spec_t;
typedef struct canopy_user_patch_t canopy_user_patch_t;
typedef struct canopy_user_t canopy_user_t;
typedef struct canopy_users_t canopy_users_t;
typedef struct canopy_memberships_t canopy_memberships_t;
typedef struct canopy_role_t canopy_role_t;
typedef struct canopy_roles_t canopy_roles_t;
typedef struct canopy_visible_request_t canopy_visible_request_t;
typedef struct canopy_visible_page_t canopy_visible_page_t;
typedef struct canopy_visible_iterator_t canopy_visible_iterator_t;
typedef struct canopy_explanation_t canopy_explanation_t;
typedef struct canopy_who_can_page_t canopy_who_can_page_t;
typedef struct canopy_table_page_t canopy_table_page_t;
typedef struct canopy_summary_t canopy_summary_t;
typedef struct canopy_import_report_t canopy_import_report_t;
typedef struct canopy_strings_t canopy_strings_t;
typedef struct canopy_changes_t canopy_changes_t;
typedef struct canopy_changes_request_t canopy_changes_request_t;
typedef struct canopy_log_entries_t canopy_log_entries_t;
typedef struct canopy_apply_report_t canopy_apply_report_t;
typedef struct canopy_group_spec_t canopy_group_spec_t;
typedef struct canopy_group_t canopy_group_t;
typedef struct canopy_groups_t canopy_groups_t;
typedef struct canopy_group_members_report_t canopy_group_members_report_t;
typedef struct canopy_group_grant_spec_t canopy_group_grant_spec_t;
typedef struct canopy_group_grants_t canopy_group_grants_t;

// ---- Options -----------------------------------------------------------

// Options with canopy::Options' defaults (see options.h for each field and
// why it defaults as it does). NULL only when memory is exhausted. Every
// setter returns INVALID_ARGUMENT naming `options` when it is NULL (and a
// NULL string where none is allowed, naming it); values are checked by
// canopy_db_open.
CANOPY_EXPORT canopy_options_t* canopy_options_create(void);
CANOPY_EXPORT void canopy_options_destroy(canopy_options_t* options);
CANOPY_EXPORT canopy_code_t canopy_options_set_create_if_missing(canopy_options_t* options, int on,
                                                                 char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_options_set_error_if_exists(canopy_options_t* options, int on,
                                                               char** errmsg);
// Open without the folder's lock beside a writer: a fixed view; every
// mutation, import and ApplyChanges is FAILED_PRECONDITION (a checkpoint
// is a copy of the view).
CANOPY_EXPORT canopy_code_t canopy_options_set_read_only(canopy_options_t* options, int on,
                                                         char** errmsg);
// Open as a follower beside a writer (RocksDB's secondary instance): like
// read-only, but canopy_db_catch_up (or the automatic interval) moves the
// view to the writer's latest revision. Excludes read-only.
CANOPY_EXPORT canopy_code_t canopy_options_set_follower(canopy_options_t* options, int on,
                                                        char** errmsg);
// A follower's own folder (NULL or "": a scratch one, removed on close).
CANOPY_EXPORT canopy_code_t canopy_options_set_follower_dir(canopy_options_t* options,
                                                            const char* dir, char** errmsg);
// A follower catches up automatically this often; 0 (the default): only
// on canopy_db_catch_up.
CANOPY_EXPORT canopy_code_t canopy_options_set_follower_catch_up_ms(canopy_options_t* options,
                                                                    uint32_t ms, char** errmsg);
// 1..255; fixed when the database is created.
CANOPY_EXPORT canopy_code_t canopy_options_set_max_depth(canopy_options_t* options, uint32_t depth,
                                                         char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_options_set_sync(canopy_options_t* options, int on,
                                                    char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_options_set_block_cache_bytes(canopy_options_t* options,
                                                                 size_t bytes, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_options_set_cursor_ttl_seconds(canopy_options_t* options,
                                                                  uint32_t seconds, char** errmsg);
// At least 1.
CANOPY_EXPORT canopy_code_t canopy_options_set_max_open_cursors(canopy_options_t* options, size_t n,
                                                                char** errmsg);
// Change-log retention: entries beyond the newest `n` (0: no limit; the
// default keeps a million) / older than `seconds` (0, the default: no
// limit) are trimmed; reading a trimmed revision is CANOPY_COMPACTED.
CANOPY_EXPORT canopy_code_t canopy_options_set_log_retention_count(canopy_options_t* options,
                                                                   uint64_t n, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_options_set_log_retention_seconds(canopy_options_t* options,
                                                                     uint64_t seconds,
                                                                     char** errmsg);
// Replication (docs/replication.md): open the database as a replica of the
// change log kept in etcd at these client URLs, comma-separated
// ("http://127.0.0.1:2379,http://127.0.0.1:2381"); NULL or "": not a
// replica (the default).
CANOPY_EXPORT canopy_code_t canopy_options_set_etcd_endpoints(canopy_options_t* options,
                                                              const char* urls, char** errmsg);
// The log's etcd key prefix (default "canopy"); not NULL.
CANOPY_EXPORT canopy_code_t canopy_options_set_replication_prefix(canopy_options_t* options,
                                                                  const char* prefix,
                                                                  char** errmsg);
// The folder of checkpoints (new replicas, and ones the log was trimmed
// past, start from the newest; etcd is trimmed below it); NULL or "": none.
CANOPY_EXPORT canopy_code_t canopy_options_set_checkpoint_dir(canopy_options_t* options,
                                                              const char* dir, char** errmsg);
// Revisions between automatic checkpoints (0: only on request).
CANOPY_EXPORT canopy_code_t canopy_options_set_checkpoint_every(canopy_options_t* options,
                                                                uint64_t n, char** errmsg);

// Storage tuning and diagnostics (options.h, "Storage tuning"). These
// setters are checked: INVALID_ARGUMENT naming the parameter for a NULL
// `options` or a value out of range, and the options are then unchanged.
// Values within range that the build or the system cannot honour (a codec
// not compiled in) are refused by canopy_db_open.
#define CANOPY_COMPRESSION_DEFAULT 0  // LZ4, and ZSTD for the oldest (largest) level
#define CANOPY_COMPRESSION_NONE 1
#define CANOPY_COMPRESSION_LZ4 2
#define CANOPY_COMPRESSION_ZSTD 3
CANOPY_EXPORT canopy_code_t canopy_options_set_compression(canopy_options_t* options,
                                                           int compression, char** errmsg);
// A folder for the write-ahead log (e.g. on a faster disk); NULL or "":
// inside the database folder. Open it with the same one every time.
CANOPY_EXPORT canopy_code_t canopy_options_set_wal_dir(canopy_options_t* options, const char* dir,
                                                       char** errmsg);
// Table files kept open at once: -1 (the default) keeps all open; else at
// least 16 (canopy_db_open refuses fewer).
CANOPY_EXPORT canopy_code_t canopy_options_set_max_open_files(canopy_options_t* options, int n,
                                                              char** errmsg);
// A cap on the bytes per second background flushes and compactions write;
// 0 (the default): none.
CANOPY_EXPORT canopy_code_t canopy_options_set_background_write_bytes_per_second(
    canopy_options_t* options, uint64_t bytes, char** errmsg);
// Keep a catalog image (1, the default) or not (0): canopy::Options::
// catalog_image (a writing database leaves its catalog in one file at close,
// and the next open of the same state reads it instead of the key spaces).
CANOPY_EXPORT canopy_code_t canopy_options_set_catalog_image(canopy_options_t* options, int on,
                                                             char** errmsg);
// Collect RocksDB's statistics (canopy_get_property "rocksdb.statistics").
CANOPY_EXPORT canopy_code_t canopy_options_set_statistics(canopy_options_t* options, int on,
                                                          char** errmsg);
// Message levels (canopy::LogLevel).
#define CANOPY_LOG_DEBUG 0
#define CANOPY_LOG_INFO 1
#define CANOPY_LOG_WARN 2
#define CANOPY_LOG_ERROR 3
// The lowest level passed to the log callback (default CANOPY_LOG_WARN).
CANOPY_EXPORT canopy_code_t canopy_options_set_log_level(canopy_options_t* options, int level,
                                                         char** errmsg);
// Receives RocksDB's messages (flushes, compactions, errors) and Canopy's
// own at the log level and above: `message` is `length` bytes followed by
// a NUL, valid during the call; `arg` is passed through untouched. Called
// from any thread, RocksDB's background threads included; it must not call
// into the database, and `arg` must stay valid while a database opened
// with these options is open.
typedef void (*canopy_log_fn)(void* arg, int level, const char* message, size_t length);
// `fn` NULL: no callback (the default: a database open for writing
// appends the messages to a LOG file in its folder, see Options::log).
CANOPY_EXPORT canopy_code_t canopy_options_set_log(canopy_options_t* options, canopy_log_fn fn,
                                                   void* arg, char** errmsg);

// ---- Database ----------------------------------------------------------

// Opens (or, with create_if_missing, creates) the database in the folder
// `path`. `options` may be NULL for the defaults; it is not retained. On
// success stores a handle in *db, to be released with canopy_db_close.
// Errors: INVALID_ARGUMENT (bad options, NULL path/db), NOT_FOUND (missing
// and not create_if_missing), ALREADY_EXISTS (error_if_exists),
// NOT_SUPPORTED (newer storage format), CORRUPTION (not a Canopy database),
// IO_ERROR (e.g. the folder is in use by another process).
CANOPY_EXPORT canopy_code_t canopy_db_open(const canopy_options_t* options, const char* path,
                                           canopy_db_t** db, char** errmsg);

// Flushes and closes the database and frees the handle, which must not be
// used again, also when an error is returned (the close itself failed).
// The exceptions: while visible iterators or snapshots of this database
// are still alive, and from inside a progress callback of an operation of
// this database, it returns FAILED_PRECONDITION and does nothing (the
// handle stays valid: destroy or close them, or return from the callback,
// and call again). No other thread may be using the handle. NULL: CANOPY_OK.
CANOPY_EXPORT canopy_code_t canopy_db_close(canopy_db_t* db, char** errmsg);

// A read-only handle fixed at the revision readers of `db` see now: every
// read through it, as any viewer, answers from that one revision whatever
// is written to `db` meanwhile (a report of many calls that agrees with
// itself). Its writes are FAILED_PRECONDITION ("... a snapshot is
// read-only"). It costs a copy of the in-memory catalog and holds on to
// data RocksDB would otherwise discard: release it with canopy_db_close.
// canopy_db_close(db) refuses (FAILED_PRECONDITION, nothing done) while
// snapshots of `db` are open. A follower's catch-ups wait for its open
// snapshots (canopy_db_catch_up). Errors: INVALID_ARGUMENT (NULL argument),
// FAILED_PRECONDITION (closed).
CANOPY_EXPORT canopy_code_t canopy_db_open_snapshot(canopy_db_t* db, canopy_db_t** snapshot,
                                                    char** errmsg);

// ---- Attribute maps ----------------------------------------------------

// A string map (name -> value), sorted by name: attributes going into
// accounts and entities, and read out of them. NULL only when memory is
// exhausted. The strings canopy_attributes_name, _value and _get return
// are the map's: valid until it is destroyed or changed by
// canopy_attributes_set (which frees the value it replaces, and moves the
// entries after a new name one position on); copy them to keep them.
CANOPY_EXPORT canopy_attributes_t* canopy_attributes_create(void);
CANOPY_EXPORT void canopy_attributes_destroy(canopy_attributes_t* attributes);
// Adds or replaces one entry. Errors: INVALID_ARGUMENT for a NULL argument
// (content rules are checked when the map is used: names 1..256 bytes of
// UTF-8, values up to 4096, at most 256 entries).
CANOPY_EXPORT canopy_code_t canopy_attributes_set(canopy_attributes_t* attributes, const char* name,
                                                  const char* value, char** errmsg);
CANOPY_EXPORT size_t canopy_attributes_count(const canopy_attributes_t* attributes);
// The i-th entry in name order.
CANOPY_EXPORT const char* canopy_attributes_name(const canopy_attributes_t* attributes, size_t i);
CANOPY_EXPORT const char* canopy_attributes_value(const canopy_attributes_t* attributes, size_t i);
// The value of `name`, or NULL when there is no such entry.
CANOPY_EXPORT const char* canopy_attributes_get(const canopy_attributes_t* attributes,
                                                const char* name);

// ---- Accounts ----------------------------------------------------------

// What canopy_account_create makes (canopy::AccountSpec), a builder (see
// the conventions above). A new spec has no key and no name (both must be
// set), parent CANOPY_NO_ID (a root tenant), no attributes, sub-account
// management off and access CANOPY_ACCESS_DEFAULT_OFF.
CANOPY_EXPORT canopy_account_spec_t* canopy_account_spec_create(void);
CANOPY_EXPORT void canopy_account_spec_destroy(canopy_account_spec_t* spec);
// The unique external key, e.g. "acme-a".
CANOPY_EXPORT canopy_code_t canopy_account_spec_set_key(canopy_account_spec_t* spec,
                                                        const char* key, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_account_spec_set_name(canopy_account_spec_t* spec,
                                                         const char* name, char** errmsg);
// CANOPY_NO_ID (the default): a root tenant, system actor only.
CANOPY_EXPORT canopy_code_t canopy_account_spec_set_parent(canopy_account_spec_t* spec,
                                                           uint64_t parent, char** errmsg);
// Copies the map (`attributes` is not retained).
CANOPY_EXPORT canopy_code_t canopy_account_spec_set_attributes(
    canopy_account_spec_t* spec, const canopy_attributes_t* attributes, char** errmsg);
CANOPY_EXPORT canopy_code_t
canopy_account_spec_set_sub_account_management(canopy_account_spec_t* spec, int on, char** errmsg);
// A CANOPY_ACCESS_* value.
CANOPY_EXPORT canopy_code_t canopy_account_spec_set_sub_account_access(canopy_account_spec_t* spec,
                                                                       int access, char** errmsg);
// Root tenants only: may their groups be shared down to user groups of
// sub-accounts (docs/model.md, "Groups")? Default off.
CANOPY_EXPORT canopy_code_t canopy_account_spec_set_group_sharing(canopy_account_spec_t* spec,
                                                                  int on, char** errmsg);

// Creates the account `spec` describes and stores its id in *id (`id` may
// be NULL). Needs account.create on the parent and the parent's
// sub-account management on (unless the actor is the system); turning on
// the new account's management needs account.manage_sub_accounts, a
// non-default access needs access.grant. Errors: INVALID_ARGUMENT (NULL
// db or spec; a key or name unset, empty, over-long or invalid UTF-8; bad
// attributes), ALREADY_EXISTS (key), NOT_FOUND (parent, actor),
// PERMISSION_DENIED, FAILED_PRECONDITION (management off, depth limit).
CANOPY_EXPORT canopy_code_t canopy_account_create(canopy_db_t* db, uint64_t actor,
                                                  const canopy_account_spec_t* spec, uint64_t* id,
                                                  char** errmsg);

// Reads an account by id / by external key into a new handle (*account),
// freed with canopy_account_destroy. Errors: NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_account_get(canopy_db_t* db, uint64_t id,
                                               canopy_account_t** account, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_account_find(canopy_db_t* db, const char* key,
                                                canopy_account_t** account, char** errmsg);

// What canopy_account_update changes (canopy::AccountPatch), a builder:
// only the fields set change, the others stay as they are.
CANOPY_EXPORT canopy_account_patch_t* canopy_account_patch_create(void);
CANOPY_EXPORT void canopy_account_patch_destroy(canopy_account_patch_t* patch);
CANOPY_EXPORT canopy_code_t canopy_account_patch_set_name(canopy_account_patch_t* patch,
                                                          const char* name, char** errmsg);
// Replaces the whole map (copied); an empty map removes every attribute.
CANOPY_EXPORT canopy_code_t canopy_account_patch_set_attributes(
    canopy_account_patch_t* patch, const canopy_attributes_t* attributes, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_account_patch_set_sub_account_management(
    canopy_account_patch_t* patch, int on, char** errmsg);
// A CANOPY_ACCESS_* value.
CANOPY_EXPORT canopy_code_t canopy_account_patch_set_sub_account_access(
    canopy_account_patch_t* patch, int access, char** errmsg);
// Root tenants only, system actor only (canopy::AccountPatch::group_sharing).
CANOPY_EXPORT canopy_code_t canopy_account_patch_set_group_sharing(canopy_account_patch_t* patch,
                                                                   int on, char** errmsg);

// Applies `patch` to the account in one atomic write. Needs account.update
// for the name and attributes; the settings need what
// canopy_account_set_sub_account_management and _access need. Errors:
// INVALID_ARGUMENT (NULL db or patch, bad values), NOT_FOUND,
// PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_account_update(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                  const canopy_account_patch_t* patch,
                                                  char** errmsg);

// Turns sub-account management on or off. Needs account.manage_sub_accounts
// on the parent (root tenants: system actor only).
CANOPY_EXPORT canopy_code_t canopy_account_set_sub_account_management(canopy_db_t* db,
                                                                      uint64_t actor, uint64_t id,
                                                                      int on, char** errmsg);

// Sets the sub-account access default (a CANOPY_ACCESS_* value). Needs
// access.grant; always_on widens every current membership to the branch.
CANOPY_EXPORT canopy_code_t canopy_account_set_sub_account_access(canopy_db_t* db, uint64_t actor,
                                                                  uint64_t id, int access,
                                                                  char** errmsg);

// Moves the account and its whole subtree under new_parent, atomically.
// Needs account.move on the account and each of its sub-accounts (or
// branch-wide on the account), its old and its new parent. Errors:
// NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION (a cycle, a root tenant,
// the depth limit, a membership that would leave the subtree of its user's
// home account, custom roles crossing tenants).
CANOPY_EXPORT canopy_code_t canopy_account_move(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                uint64_t new_parent, char** errmsg);

// Deletes an account without sub-accounts. Its entities and users go to
// `receiver` (CANOPY_NO_ID when it has none). Errors: NOT_FOUND,
// PERMISSION_DENIED, FAILED_PRECONDITION (sub-accounts, or things to hand
// on and no receiver), INVALID_ARGUMENT (receiver is the account).
CANOPY_EXPORT canopy_code_t canopy_account_delete(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                  uint64_t receiver, char** errmsg);

// Deletes the `n` accounts of `ids` in one atomic call, all or nothing
// (children before parents; a sub-account not in the set fails the call).
// `ids` may be NULL only when n is 0 (which the engine refuses with
// INVALID_ARGUMENT). Errors as canopy_account_delete, plus INVALID_ARGUMENT
// for an id named twice.
CANOPY_EXPORT canopy_code_t canopy_account_delete_many(canopy_db_t* db, uint64_t actor,
                                                       const uint64_t* ids, size_t n,
                                                       uint64_t receiver, char** errmsg);

// The maintained counts of `kind` (CANOPY_KIND_*) entities owned by the
// account itself (*direct) and by its whole subtree (*subtree); either
// out-parameter may be NULL. No scan. Errors: NOT_FOUND, INVALID_ARGUMENT.
CANOPY_EXPORT canopy_code_t canopy_account_count_owned(canopy_db_t* db, uint64_t id, int kind,
                                                       uint64_t* direct, uint64_t* subtree,
                                                       char** errmsg);

// The account's ancestors, root tenant first, without itself.
CANOPY_EXPORT canopy_code_t canopy_account_ancestors(canopy_db_t* db, uint64_t id,
                                                     canopy_accounts_t** accounts, char** errmsg);

// The account's descendants in tree order, at most max_levels below it
// (0: all), without itself.
CANOPY_EXPORT canopy_code_t canopy_account_descendants(canopy_db_t* db, uint64_t id,
                                                       uint32_t max_levels,
                                                       canopy_accounts_t** accounts, char** errmsg);

// The root tenants' ids in creation order: *ids is a malloc'd array of
// *count ids (NULL when there are none), freed with canopy_free.
CANOPY_EXPORT canopy_code_t canopy_account_roots(canopy_db_t* db, uint64_t** ids, size_t* count,
                                                 char** errmsg);

// Account handles: the fields of canopy::Account.
CANOPY_EXPORT void canopy_account_destroy(canopy_account_t* account);
CANOPY_EXPORT uint64_t canopy_account_id(const canopy_account_t* account);
CANOPY_EXPORT const char* canopy_account_key(const canopy_account_t* account);
CANOPY_EXPORT const char* canopy_account_name(const canopy_account_t* account);
// CANOPY_NO_ID for a root tenant.
CANOPY_EXPORT uint64_t canopy_account_parent(const canopy_account_t* account);
// 1 for a root tenant.
CANOPY_EXPORT uint32_t canopy_account_depth(const canopy_account_t* account);
// Microseconds since the Unix epoch.
CANOPY_EXPORT int64_t canopy_account_created_us(const canopy_account_t* account);
CANOPY_EXPORT int64_t canopy_account_updated_us(const canopy_account_t* account);
// Borrowed: valid while the account handle lives; never destroy it.
CANOPY_EXPORT const canopy_attributes_t* canopy_account_attributes(const canopy_account_t* account);
CANOPY_EXPORT int canopy_account_sub_account_management(const canopy_account_t* account);
// A CANOPY_ACCESS_* value.
CANOPY_EXPORT int canopy_account_sub_account_access(const canopy_account_t* account);
// The root tenant's group sharing setting (0 on other accounts).
CANOPY_EXPORT int canopy_account_group_sharing(const canopy_account_t* account);

// Lists of accounts. canopy_accounts_at borrows: the handle it returns is
// valid while the list lives; never destroy it.
CANOPY_EXPORT void canopy_accounts_destroy(canopy_accounts_t* accounts);
CANOPY_EXPORT size_t canopy_accounts_count(const canopy_accounts_t* accounts);
CANOPY_EXPORT const canopy_account_t* canopy_accounts_at(const canopy_accounts_t* accounts,
                                                         size_t i);

// ---- Entities ----------------------------------------------------------

// What canopy_entity_create makes (canopy::EntitySpec), a builder. A new
// spec is a CANOPY_KIND_DEVICE with no key, name or owner (the three must
// be set), no unit id, no type and no attributes.
CANOPY_EXPORT canopy_entity_spec_t* canopy_entity_spec_create(void);
CANOPY_EXPORT void canopy_entity_spec_destroy(canopy_entity_spec_t* spec);
// A CANOPY_KIND_* value.
CANOPY_EXPORT canopy_code_t canopy_entity_spec_set_kind(canopy_entity_spec_t* spec, int kind,
                                                        char** errmsg);
// The device id / asset key, unique per kind.
CANOPY_EXPORT canopy_code_t canopy_entity_spec_set_key(canopy_entity_spec_t* spec, const char* key,
                                                       char** errmsg);
// Devices only; unique when set ("": none).
CANOPY_EXPORT canopy_code_t canopy_entity_spec_set_unit_id(canopy_entity_spec_t* spec,
                                                           const char* unit_id, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_entity_spec_set_name(canopy_entity_spec_t* spec,
                                                        const char* name, char** errmsg);
// The device type / profile ("": none).
CANOPY_EXPORT canopy_code_t canopy_entity_spec_set_type(canopy_entity_spec_t* spec,
                                                        const char* type, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_entity_spec_set_owner(canopy_entity_spec_t* spec, uint64_t owner,
                                                         char** errmsg);
// Copies the map.
CANOPY_EXPORT canopy_code_t canopy_entity_spec_set_attributes(canopy_entity_spec_t* spec,
                                                              const canopy_attributes_t* attributes,
                                                              char** errmsg);

// Creates the entity `spec` describes and stores its id in *id (`id` may be
// NULL). Needs <kind>.write on the owner. Errors: INVALID_ARGUMENT (NULL db
// or spec; text rules, a key or name unset, a unit id on another kind),
// ALREADY_EXISTS (key of that kind, or unit id), NOT_FOUND (owner unset or
// unknown), PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_entity_create(canopy_db_t* db, uint64_t actor,
                                                 const canopy_entity_spec_t* spec, uint64_t* id,
                                                 char** errmsg);

// Reads an entity by id, by kind and key, or a device by unit id into a
// new handle freed with canopy_entity_destroy. Errors: NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_entity_get(canopy_db_t* db, uint64_t id,
                                              canopy_entity_t** entity, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_entity_find(canopy_db_t* db, int kind, const char* key,
                                               canopy_entity_t** entity, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_entity_find_by_unit_id(canopy_db_t* db, const char* unit_id,
                                                          canopy_entity_t** entity, char** errmsg);

// What canopy_entity_update changes (canopy::EntityPatch), a builder:
// only the fields set change.
CANOPY_EXPORT canopy_entity_patch_t* canopy_entity_patch_create(void);
CANOPY_EXPORT void canopy_entity_patch_destroy(canopy_entity_patch_t* patch);
CANOPY_EXPORT canopy_code_t canopy_entity_patch_set_name(canopy_entity_patch_t* patch,
                                                         const char* name, char** errmsg);
// "" clears the type.
CANOPY_EXPORT canopy_code_t canopy_entity_patch_set_type(canopy_entity_patch_t* patch,
                                                         const char* type, char** errmsg);
// Devices only; "" removes the unit id.
CANOPY_EXPORT canopy_code_t canopy_entity_patch_set_unit_id(canopy_entity_patch_t* patch,
                                                            const char* unit_id, char** errmsg);
// Replaces the whole map (copied); an empty map removes every attribute.
CANOPY_EXPORT canopy_code_t canopy_entity_patch_set_attributes(
    canopy_entity_patch_t* patch, const canopy_attributes_t* attributes, char** errmsg);

// Applies `patch` to the entity in one atomic write. Needs <kind>.write on
// the owner. Errors: INVALID_ARGUMENT (NULL db or patch, bad values),
// NOT_FOUND, ALREADY_EXISTS (unit id), PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_entity_update(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                 const canopy_entity_patch_t* patch, char** errmsg);

// Needs <kind>.delete on the owner. Errors: NOT_FOUND, PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_entity_delete(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                 char** errmsg);

// Reassigns the `n` entities of `kind` named in `refs` (keys, or unit ids
// with by = CANOPY_REF_UNIT_ID) to `target`, all or nothing. Needs
// <kind>.assign on every source owner and on the target. When `report` is
// not NULL it receives a new report (one item per ref, in order) also when
// the call fails for an item: NOT_FOUND when a ref is unknown (an entity
// the actor may not see is reported as unknown), PERMISSION_DENIED when one
// is denied, INVALID_ARGUMENT for a duplicate; nothing changes then.
// Other errors (NULL refs, a bad kind, an unknown target) leave *report
// NULL.
CANOPY_EXPORT canopy_code_t canopy_entity_reassign(canopy_db_t* db, uint64_t actor, int kind,
                                                   int by, const char* const* refs, size_t n,
                                                   uint64_t target,
                                                   canopy_reassign_report_t** report,
                                                   char** errmsg);
// As canopy_entity_reassign, and every entity it moves joins the `n_groups`
// entity groups of `groups` (of `kind`, owned by `target`). Needs, besides,
// group.write on the target and what each grant onto those groups gives.
// A group that is unknown, of another kind, owned by another account or
// named twice fails the call (NOT_FOUND / INVALID_ARGUMENT /
// PERMISSION_DENIED) with *report NULL. Entities already owned by the
// target keep their groups. n_groups 0 (groups may then be NULL) is
// canopy_entity_reassign.
CANOPY_EXPORT canopy_code_t canopy_entity_reassign_into(canopy_db_t* db, uint64_t actor,
                                                        int kind, int by,
                                                        const char* const* refs, size_t n,
                                                        uint64_t target, const uint64_t* groups,
                                                        size_t n_groups,
                                                        canopy_reassign_report_t** report,
                                                        char** errmsg);

// Entity handles: the fields of canopy::Entity.
CANOPY_EXPORT void canopy_entity_destroy(canopy_entity_t* entity);
CANOPY_EXPORT uint64_t canopy_entity_id(const canopy_entity_t* entity);
CANOPY_EXPORT int canopy_entity_kind(const canopy_entity_t* entity);
CANOPY_EXPORT const char* canopy_entity_key(const canopy_entity_t* entity);
// "" when the entity has none.
CANOPY_EXPORT const char* canopy_entity_unit_id(const canopy_entity_t* entity);
CANOPY_EXPORT const char* canopy_entity_name(const canopy_entity_t* entity);
CANOPY_EXPORT const char* canopy_entity_type(const canopy_entity_t* entity);
CANOPY_EXPORT uint64_t canopy_entity_owner(const canopy_entity_t* entity);
CANOPY_EXPORT int64_t canopy_entity_created_us(const canopy_entity_t* entity);
CANOPY_EXPORT int64_t canopy_entity_updated_us(const canopy_entity_t* entity);
// Borrowed: valid while the entity handle lives.
CANOPY_EXPORT const canopy_attributes_t* canopy_entity_attributes(const canopy_entity_t* entity);

// Reassign reports (canopy::ReassignReport).
CANOPY_EXPORT void canopy_reassign_report_destroy(canopy_reassign_report_t* report);
// The number of items (one per ref given).
CANOPY_EXPORT size_t canopy_reassign_report_count(const canopy_reassign_report_t* report);
// How many items had `outcome` (a CANOPY_OUTCOME_* value).
CANOPY_EXPORT size_t canopy_reassign_report_total(const canopy_reassign_report_t* report,
                                                  int outcome);
CANOPY_EXPORT const char* canopy_reassign_report_ref(const canopy_reassign_report_t* report,
                                                     size_t i);
// A CANOPY_OUTCOME_* value; -1 for an index out of range or a NULL report
// (0 would read as an outcome).
CANOPY_EXPORT int canopy_reassign_report_outcome(const canopy_reassign_report_t* report, size_t i);
// The entity and its owner before the call, when known (else 0).
CANOPY_EXPORT uint64_t canopy_reassign_report_entity(const canopy_reassign_report_t* report,
                                                     size_t i);
CANOPY_EXPORT uint64_t canopy_reassign_report_previous_owner(const canopy_reassign_report_t* report,
                                                             size_t i);
// Why, for unknown / denied / duplicate items; "" otherwise.
CANOPY_EXPORT const char* canopy_reassign_report_message(const canopy_reassign_report_t* report,
                                                         size_t i);

// ---- Users -------------------------------------------------------------

// What canopy_user_create makes (canopy::UserSpec), a builder. A new spec
// has no login, name or account; all three must be set.
CANOPY_EXPORT canopy_user_spec_t* canopy_user_spec_create(void);
CANOPY_EXPORT void canopy_user_spec_destroy(canopy_user_spec_t* spec);
// Unique, e.g. an e-mail address.
CANOPY_EXPORT canopy_code_t canopy_user_spec_set_login(canopy_user_spec_t* spec, const char* login,
                                                       char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_user_spec_set_name(canopy_user_spec_t* spec, const char* name,
                                                      char** errmsg);
// The account the user is created in.
CANOPY_EXPORT canopy_code_t canopy_user_spec_set_account(canopy_user_spec_t* spec, uint64_t account,
                                                         char** errmsg);

// Creates the user `spec` describes and stores its id in *id (`id` may be
// NULL). Needs user.invite on the account. Errors: INVALID_ARGUMENT (NULL
// db or spec, a login or name unset or breaking the text rules),
// ALREADY_EXISTS (login), NOT_FOUND (account unset or unknown),
// PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_user_create(canopy_db_t* db, uint64_t actor,
                                               const canopy_user_spec_t* spec, uint64_t* id,
                                               char** errmsg);

// Reads a user by id / by login. Errors: NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_user_get(canopy_db_t* db, uint64_t id, canopy_user_t** user,
                                            char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_user_find(canopy_db_t* db, const char* login,
                                             canopy_user_t** user, char** errmsg);

// The users created in `account`, by id. Errors: NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_user_list(canopy_db_t* db, uint64_t account,
                                             canopy_users_t** users, char** errmsg);

// What canopy_user_update changes (canopy::UserPatch), a builder: only
// the fields set change.
CANOPY_EXPORT canopy_user_patch_t* canopy_user_patch_create(void);
CANOPY_EXPORT void canopy_user_patch_destroy(canopy_user_patch_t* patch);
CANOPY_EXPORT canopy_code_t canopy_user_patch_set_name(canopy_user_patch_t* patch, const char* name,
                                                       char** errmsg);

// Applies `patch` to the user. Needs user.update on the user's account.
// Errors: INVALID_ARGUMENT (NULL db or patch, bad values), NOT_FOUND,
// PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_user_update(canopy_db_t* db, uint64_t actor, uint64_t id,
                                               const canopy_user_patch_t* patch, char** errmsg);

// A disabled user holds no permissions. Needs user.update.
CANOPY_EXPORT canopy_code_t canopy_user_set_disabled(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                     int disabled, char** errmsg);

// Removes the user and its memberships. Needs user.remove.
CANOPY_EXPORT canopy_code_t canopy_user_remove(canopy_db_t* db, uint64_t actor, uint64_t id,
                                               char** errmsg);

// User handles: the fields of canopy::User.
CANOPY_EXPORT void canopy_user_destroy(canopy_user_t* user);
CANOPY_EXPORT uint64_t canopy_user_id(const canopy_user_t* user);
CANOPY_EXPORT const char* canopy_user_login(const canopy_user_t* user);
CANOPY_EXPORT const char* canopy_user_name(const canopy_user_t* user);
// The account the user was created in (or received by on a delete).
CANOPY_EXPORT uint64_t canopy_user_account(const canopy_user_t* user);
CANOPY_EXPORT int canopy_user_disabled(const canopy_user_t* user);
CANOPY_EXPORT int64_t canopy_user_created_us(const canopy_user_t* user);
CANOPY_EXPORT int64_t canopy_user_updated_us(const canopy_user_t* user);

// Lists of users; canopy_users_at borrows (valid while the list lives).
CANOPY_EXPORT void canopy_users_destroy(canopy_users_t* users);
CANOPY_EXPORT size_t canopy_users_count(const canopy_users_t* users);
CANOPY_EXPORT const canopy_user_t* canopy_users_at(const canopy_users_t* users, size_t i);

// ---- Memberships -------------------------------------------------------

// Gives `user` the role on `account`. `branch`: 1 also on every existing
// and future sub-account, 0 not, CANOPY_BRANCH_DEFAULT follows the
// account's sub-account access. Needs user.invite on the account and every
// permission of the role (branch-wide for a branch grant). Errors:
// NOT_FOUND, ALREADY_EXISTS (already a member), PERMISSION_DENIED,
// FAILED_PRECONDITION (the account is outside the subtree of the account
// the user was created in: access flows top-down only; a custom role of
// another tenant; branch 0 on an always_on account).
CANOPY_EXPORT canopy_code_t canopy_membership_invite(canopy_db_t* db, uint64_t actor, uint64_t user,
                                                     uint64_t account, uint64_t role, int branch,
                                                     char** errmsg);

// Changes a membership's role. Needs user.invite and every permission of
// both roles. Errors: NOT_FOUND (no such membership), PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_membership_change_role(canopy_db_t* db, uint64_t actor,
                                                          uint64_t user, uint64_t account,
                                                          uint64_t role, char** errmsg);

// Gives (1) or removes (0) access to the account's sub-accounts,
// retroactively. Needs access.grant. Errors: NOT_FOUND, PERMISSION_DENIED,
// FAILED_PRECONDITION (removing on an always_on account).
CANOPY_EXPORT canopy_code_t canopy_membership_set_branch(canopy_db_t* db, uint64_t actor,
                                                         uint64_t user, uint64_t account,
                                                         int branch, char** errmsg);

// Needs user.remove and every permission of the role.
CANOPY_EXPORT canopy_code_t canopy_membership_remove(canopy_db_t* db, uint64_t actor, uint64_t user,
                                                     uint64_t account, char** errmsg);

// The memberships of a user / on an account. Errors: NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_membership_list_by_user(canopy_db_t* db, uint64_t user,
                                                           canopy_memberships_t** memberships,
                                                           char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_membership_list_by_account(canopy_db_t* db, uint64_t account,
                                                              canopy_memberships_t** memberships,
                                                              char** errmsg);

// Lists of memberships (canopy::Membership), read by index.
CANOPY_EXPORT void canopy_memberships_destroy(canopy_memberships_t* memberships);
CANOPY_EXPORT size_t canopy_memberships_count(const canopy_memberships_t* memberships);
CANOPY_EXPORT uint64_t canopy_memberships_user(const canopy_memberships_t* memberships, size_t i);
CANOPY_EXPORT uint64_t canopy_memberships_account(const canopy_memberships_t* memberships,
                                                  size_t i);
CANOPY_EXPORT uint64_t canopy_memberships_role(const canopy_memberships_t* memberships, size_t i);
CANOPY_EXPORT int canopy_memberships_branch(const canopy_memberships_t* memberships, size_t i);
CANOPY_EXPORT int64_t canopy_memberships_created_us(const canopy_memberships_t* memberships,
                                                    size_t i);

// ---- Roles -------------------------------------------------------------

// Creates a custom role in root tenant `tenant` with the `n` permission
// names of `permissions` (Canopy's or Frontegg's names) and stores its id
// in *id. Needs role.manage on the tenant and every permission given.
// Errors: INVALID_ARGUMENT (unknown permission, not a root tenant),
// ALREADY_EXISTS (name), NOT_FOUND, PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_role_create(canopy_db_t* db, uint64_t actor, uint64_t tenant,
                                               const char* name, const char* const* permissions,
                                               size_t n, uint64_t* id, char** errmsg);

// Replaces a custom role's permissions (same rules as create). Errors also
// FAILED_PRECONDITION for a built-in role.
CANOPY_EXPORT canopy_code_t canopy_role_update(canopy_db_t* db, uint64_t actor, uint64_t id,
                                               const char* const* permissions, size_t n,
                                               char** errmsg);

// Deletes a custom role. Errors: NOT_FOUND, PERMISSION_DENIED,
// FAILED_PRECONDITION (built in, or used by a membership).
CANOPY_EXPORT canopy_code_t canopy_role_delete(canopy_db_t* db, uint64_t actor, uint64_t id,
                                               char** errmsg);

// Reads a role by id; or by name, a built-in role or a custom role of the
// root tenant of account `tenant` (0: built-ins only). Errors: NOT_FOUND
// (also for an unknown tenant).
CANOPY_EXPORT canopy_code_t canopy_role_get(canopy_db_t* db, uint64_t id, canopy_role_t** role,
                                            char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_role_find(canopy_db_t* db, uint64_t tenant, const char* name,
                                             canopy_role_t** role, char** errmsg);

// The built-in roles and the custom roles of `tenant`'s root tenant
// (CANOPY_NO_ID: built-ins only), by id. Errors: NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_role_list(canopy_db_t* db, uint64_t tenant,
                                             canopy_roles_t** roles, char** errmsg);

// Role handles: the fields of canopy::Role.
CANOPY_EXPORT void canopy_role_destroy(canopy_role_t* role);
CANOPY_EXPORT uint64_t canopy_role_id(const canopy_role_t* role);
// CANOPY_NO_ID for a built-in role.
CANOPY_EXPORT uint64_t canopy_role_tenant(const canopy_role_t* role);
CANOPY_EXPORT const char* canopy_role_name(const canopy_role_t* role);
CANOPY_EXPORT int canopy_role_builtin(const canopy_role_t* role);
// Canonical permission names, sorted.
CANOPY_EXPORT size_t canopy_role_permission_count(const canopy_role_t* role);
CANOPY_EXPORT const char* canopy_role_permission(const canopy_role_t* role, size_t i);

// Lists of roles; canopy_roles_at borrows (valid while the list lives).
CANOPY_EXPORT void canopy_roles_destroy(canopy_roles_t* roles);
CANOPY_EXPORT size_t canopy_roles_count(const canopy_roles_t* roles);
CANOPY_EXPORT const canopy_role_t* canopy_roles_at(const canopy_roles_t* roles, size_t i);

// ---- Visibility queries ------------------------------------------------

// The selection of canopy_visible_list, canopy_visible_count and
// canopy_visible_iterator_create (canopy::VisibleRequest): the `kind`
// (CANOPY_KIND_*) entities that `viewer` (a user id, or CANOPY_SYSTEM_ACTOR
// for everything) may see. NULL only when memory is exhausted. Every
// setter returns INVALID_ARGUMENT naming `request` when it is NULL (the
// request is then unchanged); values are checked when the request is used
// (INVALID_ARGUMENT).
CANOPY_EXPORT canopy_visible_request_t* canopy_visible_request_create(uint64_t viewer, int kind);
CANOPY_EXPORT void canopy_visible_request_destroy(canopy_visible_request_t* request);
// The permission needed on each entity; NULL or "" means "<kind>.read".
CANOPY_EXPORT canopy_code_t canopy_visible_request_set_permission(canopy_visible_request_t* request,
                                                                  const char* permission,
                                                                  char** errmsg);
// Exact type filter; NULL removes the filter ("" selects untyped ones).
CANOPY_EXPORT canopy_code_t canopy_visible_request_set_type(canopy_visible_request_t* request,
                                                            const char* type, char** errmsg);
// Name prefix filter; NULL or "" removes it.
CANOPY_EXPORT canopy_code_t canopy_visible_request_set_name_prefix(
    canopy_visible_request_t* request, const char* prefix, char** errmsg);
// attributes[name] == value; a NULL name removes the filter (`value` is
// then not read); a NULL value with a name is INVALID_ARGUMENT naming
// `value`.
CANOPY_EXPORT canopy_code_t canopy_visible_request_set_attribute(canopy_visible_request_t* request,
                                                                 const char* name,
                                                                 const char* value, char** errmsg);
// Only this account's subtree; CANOPY_NO_ID (the default) for no limit.
CANOPY_EXPORT canopy_code_t canopy_visible_request_set_within(canopy_visible_request_t* request,
                                                              uint64_t account, char** errmsg);
// Only entities owned directly by an account where the viewer holds a
// membership, and the members of entity groups granted to the viewer's
// user groups (with `within`: owned by `within` itself).
CANOPY_EXPORT canopy_code_t canopy_visible_request_set_direct_only(
    canopy_visible_request_t* request, int on, char** errmsg);
// Paging (canopy_visible_list only): 1..10000 items per page (default 100).
CANOPY_EXPORT canopy_code_t canopy_visible_request_set_limit(canopy_visible_request_t* request,
                                                             size_t limit, char** errmsg);
// Resumes after the page that returned this cursor; NULL or "" starts at
// the beginning. See query.h for what a resumed page guarantees.
CANOPY_EXPORT canopy_code_t canopy_visible_request_set_cursor(canopy_visible_request_t* request,
                                                              const char* cursor, char** errmsg);
// Consistency token ("at least as fresh as"): the request fails with
// FAILED_PRECONDITION while the database has not reached this revision
// (the canopy_db_last_committed_revision of the write to read back). 0
// (the default): any.
CANOPY_EXPORT canopy_code_t canopy_visible_request_set_min_revision(
    canopy_visible_request_t* request, uint64_t revision, char** errmsg);

// One page of the selection, in scan order (tree order of the owner, then
// id), into a new page handle. Errors: INVALID_ARGUMENT (bad kind,
// permission, filter or limit; a forged cursor, or one from another
// request), NOT_FOUND (viewer, `within`), FAILED_PRECONDITION (the
// request's min_revision is not reached; also for count and iterators).
CANOPY_EXPORT canopy_code_t canopy_visible_list(canopy_db_t* db,
                                                const canopy_visible_request_t* request,
                                                canopy_visible_page_t** page, char** errmsg);

// The exact size of the selection (limit and cursor are ignored); with no
// filter beyond kind and permission it sums maintained counters.
CANOPY_EXPORT canopy_code_t canopy_visible_count(canopy_db_t* db,
                                                 const canopy_visible_request_t* request,
                                                 uint64_t* count, char** errmsg);

// Visible pages: the items of canopy::VisiblePage, read by index.
CANOPY_EXPORT void canopy_visible_page_destroy(canopy_visible_page_t* page);
CANOPY_EXPORT size_t canopy_visible_page_count(const canopy_visible_page_t* page);
CANOPY_EXPORT uint64_t canopy_visible_page_id(const canopy_visible_page_t* page, size_t i);
CANOPY_EXPORT const char* canopy_visible_page_key(const canopy_visible_page_t* page, size_t i);
CANOPY_EXPORT const char* canopy_visible_page_name(const canopy_visible_page_t* page, size_t i);
CANOPY_EXPORT const char* canopy_visible_page_type(const canopy_visible_page_t* page, size_t i);
CANOPY_EXPORT uint64_t canopy_visible_page_owner(const canopy_visible_page_t* page, size_t i);
// The cursor of the next page; "" when there is nothing more.
CANOPY_EXPORT const char* canopy_visible_page_next_cursor(const canopy_visible_page_t* page);
// The revision the page was read at (a live cursor's pages keep the
// revision of its first page).
CANOPY_EXPORT uint64_t canopy_visible_page_revision(const canopy_visible_page_t* page);

// A stream over the whole selection on one snapshot (limit and cursor are
// ignored), LevelDB-style: while canopy_visible_iterator_valid() read the
// current item, then canopy_visible_iterator_next(); once it is not valid,
// canopy_visible_iterator_status() says whether the end was reached (OK) or
// what failed. Destroy every iterator before closing its database. Errors
// of create: as canopy_visible_list.
CANOPY_EXPORT canopy_code_t canopy_visible_iterator_create(canopy_db_t* db,
                                                           const canopy_visible_request_t* request,
                                                           canopy_visible_iterator_t** iterator,
                                                           char** errmsg);
CANOPY_EXPORT void canopy_visible_iterator_destroy(canopy_visible_iterator_t* iterator);
CANOPY_EXPORT int canopy_visible_iterator_valid(const canopy_visible_iterator_t* iterator);
// Steps to the next item; does nothing when not valid.
CANOPY_EXPORT void canopy_visible_iterator_next(canopy_visible_iterator_t* iterator);
// The current item (0 / NULL when not valid). The strings stay valid until
// the next call to canopy_visible_iterator_next or _destroy.
CANOPY_EXPORT uint64_t canopy_visible_iterator_id(const canopy_visible_iterator_t* iterator);
CANOPY_EXPORT const char* canopy_visible_iterator_key(const canopy_visible_iterator_t* iterator);
CANOPY_EXPORT const char* canopy_visible_iterator_name(const canopy_visible_iterator_t* iterator);
CANOPY_EXPORT const char* canopy_visible_iterator_type(const canopy_visible_iterator_t* iterator);
CANOPY_EXPORT uint64_t canopy_visible_iterator_owner(const canopy_visible_iterator_t* iterator);
// CANOPY_OK while valid or at the end of the selection, else what failed.
CANOPY_EXPORT canopy_code_t
canopy_visible_iterator_status(const canopy_visible_iterator_t* iterator, char** errmsg);

// ---- Access: check, explain, who can -----------------------------------

// May `user` exercise `permission` on what `entity_key` names? For an
// entity permission (e.g. "device.assign"; the entity kind follows from it)
// it is an entity's key; for an account-level one (account.*, user.*,
// access.grant, role.manage, audit.read) an account's key: whether the
// user holds the permission there (not whether a given change would pass
// with the state as it is). `user` 0 is the system actor (1 for
// anything that exists). Stores 1 or 0 in *allowed; a disabled user gets 0.
// Errors: INVALID_ARGUMENT (unknown permission), NOT_FOUND (user; a key
// that names nothing or something the user does not see, worded alike).
CANOPY_EXPORT canopy_code_t canopy_access_check(canopy_db_t* db, uint64_t user,
                                                const char* permission, const char* entity_key,
                                                int* allowed, char** errmsg);

// Why the permission is allowed or denied, into a new explanation handle.
// Errors as canopy_access_check.
CANOPY_EXPORT canopy_code_t canopy_access_explain(canopy_db_t* db, uint64_t user,
                                                  const char* permission, const char* entity_key,
                                                  canopy_explanation_t** explanation,
                                                  char** errmsg);

// The users that may exercise `permission` on the entity (or, for an
// account-level permission, the account) `entity_key` names, by user id, at
// most `limit` (1..10000) per page, resumed from `cursor` (NULL or "":
// from the start). Errors: INVALID_ARGUMENT (permission, limit, cursor),
// NOT_FOUND (entity).
CANOPY_EXPORT canopy_code_t canopy_access_who_can(canopy_db_t* db, const char* permission,
                                                  const char* entity_key, size_t limit,
                                                  const char* cursor, canopy_who_can_page_t** page,
                                                  char** errmsg);
// canopy_access_who_can with a consistency token: FAILED_PRECONDITION
// while the database has not reached `min_revision` (0: any).
CANOPY_EXPORT canopy_code_t canopy_access_who_can_v2(canopy_db_t* db, const char* permission,
                                                     const char* entity_key, size_t limit,
                                                     const char* cursor, uint64_t min_revision,
                                                     canopy_who_can_page_t** page, char** errmsg);

// Explanations (canopy::Explanation).
CANOPY_EXPORT void canopy_explanation_destroy(canopy_explanation_t* explanation);
CANOPY_EXPORT int canopy_explanation_allowed(const canopy_explanation_t* explanation);
// One sentence a person can read.
CANOPY_EXPORT const char* canopy_explanation_reason(const canopy_explanation_t* explanation);
CANOPY_EXPORT uint64_t canopy_explanation_entity(const canopy_explanation_t* explanation);
CANOPY_EXPORT uint64_t canopy_explanation_owner(const canopy_explanation_t* explanation);
// When allowed: the membership that grants it (account, role, branch).
CANOPY_EXPORT uint64_t canopy_explanation_via_account(const canopy_explanation_t* explanation);
CANOPY_EXPORT uint64_t canopy_explanation_via_role(const canopy_explanation_t* explanation);
CANOPY_EXPORT const char* canopy_explanation_via_role_name(const canopy_explanation_t* explanation);
CANOPY_EXPORT int canopy_explanation_via_branch(const canopy_explanation_t* explanation);
// When allowed through a group grant instead of a membership: the user
// group whose grant gives it, and the group the grant is on
// (CANOPY_NO_ID: the grant is generic, or it is a membership; then
// via_account is the account the grant reaches and via_role its role).
CANOPY_EXPORT uint64_t canopy_explanation_via_user_group(const canopy_explanation_t* explanation);
CANOPY_EXPORT uint64_t canopy_explanation_via_group(const canopy_explanation_t* explanation);
// The account keys from the granting membership's account down to the
// owner.
CANOPY_EXPORT size_t canopy_explanation_path_count(const canopy_explanation_t* explanation);
CANOPY_EXPORT const char* canopy_explanation_path(const canopy_explanation_t* explanation,
                                                  size_t i);

// Who-can pages (canopy::WhoCanPage), read by index.
CANOPY_EXPORT void canopy_who_can_page_destroy(canopy_who_can_page_t* page);
CANOPY_EXPORT size_t canopy_who_can_page_count(const canopy_who_can_page_t* page);
CANOPY_EXPORT uint64_t canopy_who_can_page_user(const canopy_who_can_page_t* page, size_t i);
CANOPY_EXPORT const char* canopy_who_can_page_login(const canopy_who_can_page_t* page, size_t i);
CANOPY_EXPORT uint64_t canopy_who_can_page_via_account(const canopy_who_can_page_t* page, size_t i);
CANOPY_EXPORT uint64_t canopy_who_can_page_role(const canopy_who_can_page_t* page, size_t i);
CANOPY_EXPORT int canopy_who_can_page_branch(const canopy_who_can_page_t* page, size_t i);
// Reached through a group grant: its user group, and the group it is on
// (CANOPY_NO_ID: a membership, or a generic grant), as for explanations.
CANOPY_EXPORT uint64_t canopy_who_can_page_via_user_group(const canopy_who_can_page_t* page,
                                                          size_t i);
CANOPY_EXPORT uint64_t canopy_who_can_page_via_group(const canopy_who_can_page_t* page, size_t i);
// "" when there is nothing more.
CANOPY_EXPORT const char* canopy_who_can_page_next_cursor(const canopy_who_can_page_t* page);
// The revision the page was read at.
CANOPY_EXPORT uint64_t canopy_who_can_page_revision(const canopy_who_can_page_t* page);

// ---- Views: accounts table, summary, graph ------------------------------

// One page of the "All accounts" table: the accounts `viewer` may read
// (account.read), within `root`'s subtree (CANOPY_NO_ID: all), sorted by
// `sort` (CANOPY_SORT_*), `limit` (1..10000) rows, resumed from `cursor`
// (NULL or "": first page). Errors: INVALID_ARGUMENT (limit, sort,
// cursor), NOT_FOUND (viewer, root).
CANOPY_EXPORT canopy_code_t canopy_account_table(canopy_db_t* db, uint64_t viewer, uint64_t root,
                                                 int sort, int descending, size_t limit,
                                                 const char* cursor, canopy_table_page_t** page,
                                                 char** errmsg);
// canopy_account_table with a consistency token: FAILED_PRECONDITION while
// the database has not reached `min_revision` (0: any).
CANOPY_EXPORT canopy_code_t canopy_account_table_v2(canopy_db_t* db, uint64_t viewer,
                                                    uint64_t root, int sort, int descending,
                                                    size_t limit, const char* cursor,
                                                    uint64_t min_revision,
                                                    canopy_table_page_t** page, char** errmsg);

// Table pages (canopy::TablePage): rows read by index.
CANOPY_EXPORT void canopy_table_page_destroy(canopy_table_page_t* page);
// Rows on this page / rows in the whole table.
CANOPY_EXPORT size_t canopy_table_page_count(const canopy_table_page_t* page);
CANOPY_EXPORT uint64_t canopy_table_page_total(const canopy_table_page_t* page);
// "" when there is nothing more.
CANOPY_EXPORT const char* canopy_table_page_next_cursor(const canopy_table_page_t* page);
// The revision the page was read at.
CANOPY_EXPORT uint64_t canopy_table_page_revision(const canopy_table_page_t* page);
CANOPY_EXPORT uint64_t canopy_table_page_id(const canopy_table_page_t* page, size_t row);
CANOPY_EXPORT uint64_t canopy_table_page_parent(const canopy_table_page_t* page, size_t row);
CANOPY_EXPORT const char* canopy_table_page_key(const canopy_table_page_t* page, size_t row);
CANOPY_EXPORT const char* canopy_table_page_name(const canopy_table_page_t* page, size_t row);
CANOPY_EXPORT uint32_t canopy_table_page_depth(const canopy_table_page_t* page, size_t row);
// The keys from the root tenant down to the row's account.
CANOPY_EXPORT size_t canopy_table_page_path_count(const canopy_table_page_t* page, size_t row);
CANOPY_EXPORT const char* canopy_table_page_path(const canopy_table_page_t* page, size_t row,
                                                 size_t i);
// Users with a membership on the account.
CANOPY_EXPORT uint64_t canopy_table_page_users(const canopy_table_page_t* page, size_t row);
// All descendants.
CANOPY_EXPORT uint64_t canopy_table_page_sub_accounts(const canopy_table_page_t* page, size_t row);
CANOPY_EXPORT uint64_t canopy_table_page_devices_direct(const canopy_table_page_t* page,
                                                        size_t row);
CANOPY_EXPORT uint64_t canopy_table_page_devices_subtree(const canopy_table_page_t* page,
                                                         size_t row);
// Groups the account owns (0 unless the viewer holds a group.* permission
// there).
CANOPY_EXPORT uint64_t canopy_table_page_groups(const canopy_table_page_t* page, size_t row);
CANOPY_EXPORT int64_t canopy_table_page_created_us(const canopy_table_page_t* page, size_t row);

// The summary of an account (the Frontegg sub-account page) into a new
// handle. Errors: NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_account_summarize(canopy_db_t* db, uint64_t id,
                                                     canopy_summary_t** summary, char** errmsg);
CANOPY_EXPORT void canopy_summary_destroy(canopy_summary_t* summary);
// Borrowed: valid while the summary lives.
CANOPY_EXPORT const canopy_account_t* canopy_summary_account(const canopy_summary_t* summary);
// The path from the root tenant down to the account (for a viewer, the
// ancestors it sees): the i-th account's key, and its name (NULL past the
// end).
CANOPY_EXPORT size_t canopy_summary_path_count(const canopy_summary_t* summary);
CANOPY_EXPORT const char* canopy_summary_path(const canopy_summary_t* summary, size_t i);
CANOPY_EXPORT const char* canopy_summary_path_name(const canopy_summary_t* summary, size_t i);
CANOPY_EXPORT uint64_t canopy_summary_users(const canopy_summary_t* summary);
CANOPY_EXPORT uint64_t canopy_summary_sub_accounts(const canopy_summary_t* summary);
CANOPY_EXPORT uint64_t canopy_summary_devices_direct(const canopy_summary_t* summary);
CANOPY_EXPORT uint64_t canopy_summary_devices_subtree(const canopy_summary_t* summary);

// The graph view of `root`'s subtree (CANOPY_NO_ID: every root tenant), at
// most max_levels below it (0: all), restricted to the accounts `viewer`
// may read, as JSON / as Graphviz DOT. *text is a NUL-terminated malloc'd
// string freed with canopy_free; *length (may be NULL) its length.
// Errors: NOT_FOUND (viewer, root).
CANOPY_EXPORT canopy_code_t canopy_account_graph_json(canopy_db_t* db, uint64_t viewer,
                                                      uint64_t root, uint32_t max_levels,
                                                      char** text, size_t* length, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_account_graph_dot(canopy_db_t* db, uint64_t viewer,
                                                     uint64_t root, uint32_t max_levels,
                                                     char** text, size_t* length, char** errmsg);

// ---- Reads as a viewer ------------------------------------------------
// The reads above as `viewer` (a user id, or CANOPY_SYSTEM_ACTOR: all)
// may know them: what is out of its sight is NOT_FOUND, worded exactly as
// for a missing one, and left out of lists (an account where it holds any
// permission; an entity where it holds any permission of its kind on the
// owner; a user that is itself or over which it holds a user.* permission
// or access.grant; a membership on an account where it holds one of
// those). A summary's path names only ancestors it sees and its totals
// count only what it sees; who-can answers only for an entity it sees and
// lists only users whose granting membership it sees. Roots are the
// viewer's top accounts (those it sees whose parent it does not). A
// disabled viewer is PERMISSION_DENIED, an unknown one NOT_FOUND. Outputs
// and their freeing as for the forms without a viewer.
CANOPY_EXPORT canopy_code_t canopy_account_find_as(canopy_db_t* db, uint64_t viewer,
                                                   const char* key, canopy_account_t** account,
                                                   char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_account_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                                  canopy_account_t** account, char** errmsg);
// The counts of canopy_account_count_owned as the viewer may know them:
// *subtree adds up only the sub-accounts it sees.
CANOPY_EXPORT canopy_code_t canopy_account_count_owned_as(canopy_db_t* db, uint64_t viewer,
                                                          uint64_t id, int kind, uint64_t* direct,
                                                          uint64_t* subtree, char** errmsg);
// The ancestors the viewer sees, of an account it sees.
CANOPY_EXPORT canopy_code_t canopy_account_ancestors_as(canopy_db_t* db, uint64_t viewer,
                                                        uint64_t id, canopy_accounts_t** accounts,
                                                        char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_entity_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                                 canopy_entity_t** entity, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_user_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                               canopy_user_t** user, char** errmsg);
// A custom role when the viewer sees its root tenant or holds the role
// itself; a built-in always.
CANOPY_EXPORT canopy_code_t canopy_role_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                               canopy_role_t** role, char** errmsg);
// For a `tenant` the viewer sees (CANOPY_NO_ID: the built-ins); its root
// tenant's custom roles only when the viewer sees them (as role_get_as).
CANOPY_EXPORT canopy_code_t canopy_role_list_as(canopy_db_t* db, uint64_t viewer,
                                                uint64_t tenant, canopy_roles_t** roles,
                                                char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_account_descendants_as(canopy_db_t* db, uint64_t viewer,
                                                          uint64_t id, uint32_t max_levels,
                                                          canopy_accounts_t** accounts,
                                                          char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_account_roots_as(canopy_db_t* db, uint64_t viewer,
                                                    uint64_t** ids, size_t* count, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_account_summarize_as(canopy_db_t* db, uint64_t viewer,
                                                        uint64_t id, canopy_summary_t** summary,
                                                        char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_entity_find_as(canopy_db_t* db, uint64_t viewer, int kind,
                                                  const char* key, canopy_entity_t** entity,
                                                  char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_entity_find_by_unit_id_as(canopy_db_t* db, uint64_t viewer,
                                                             const char* unit_id,
                                                             canopy_entity_t** entity,
                                                             char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_user_find_as(canopy_db_t* db, uint64_t viewer,
                                                const char* login, canopy_user_t** user,
                                                char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_user_list_as(canopy_db_t* db, uint64_t viewer,
                                                uint64_t account, canopy_users_t** users,
                                                char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_membership_list_by_user_as(canopy_db_t* db, uint64_t viewer,
                                                              uint64_t user,
                                                              canopy_memberships_t** memberships,
                                                              char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_membership_list_by_account_as(
    canopy_db_t* db, uint64_t viewer, uint64_t account, canopy_memberships_t** memberships,
    char** errmsg);
// canopy_access_explain as `asker` learns it (canopy::Db::Explain with an
// asker): another user gets the answer only for a user it sees (NOT_FOUND,
// "no user with id <id>", otherwise), and the reason, path and role name
// name only what the asker sees. CANOPY_SYSTEM_ACTOR, an operator, is
// told that a target exists which the user cannot see (not allowed, the
// reason saying so) instead of NOT_FOUND. An asker that is another user is
// refused first when unknown (NOT_FOUND, "viewer: no user with id <id>") or
// disabled (PERMISSION_DENIED).
CANOPY_EXPORT canopy_code_t canopy_access_explain_as(canopy_db_t* db, uint64_t asker,
                                                     uint64_t user, const char* permission,
                                                     const char* entity_key,
                                                     canopy_explanation_t** explanation,
                                                     char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_access_who_can_as(canopy_db_t* db, uint64_t viewer,
                                                     const char* permission,
                                                     const char* entity_key, size_t limit,
                                                     const char* cursor, uint64_t min_revision,
                                                     canopy_who_can_page_t** page,
                                                     char** errmsg);

// ---- Groups (docs/model.md, "Groups") ---------------------------------
//
// Groups are owned by an account. An entity group holds entities of its
// kind owned by that account; a user group, users created in it; an
// account group, its direct sub-accounts. Reading a group needs group.read
// (or group.write or group.share) on its owner (a group out of the viewer's
// sight is NOT_FOUND, worded as a missing one); changing one needs
// group.write there. Members are named by id: entity ids, user ids or
// account ids, as the group's kind says.

// Group kinds (canopy::GroupKind).
#define CANOPY_GROUP_DEVICE 1
#define CANOPY_GROUP_ASSET 2
#define CANOPY_GROUP_DASHBOARD 3
#define CANOPY_GROUP_ENTITY_VIEW 4
#define CANOPY_GROUP_USER 5
#define CANOPY_GROUP_ACCOUNT 6

// Per-item outcomes of a group members report
// (canopy::GroupMemberItem::Outcome).
#define CANOPY_MEMBER_DONE 0       // added / removed (or would have been)
#define CANOPY_MEMBER_UNCHANGED 1  // already a member / not a member
#define CANOPY_MEMBER_UNKNOWN 2    // no such member, or one out of the actor's sight
#define CANOPY_MEMBER_DENIED 3     // not one the group may hold, or the actor may not
#define CANOPY_MEMBER_DUPLICATE 4  // named twice in the batch

// What canopy_group_create makes (canopy::GroupSpec), a builder. A new spec
// is a CANOPY_GROUP_DEVICE group with no name and no owner (both must be
// set).
CANOPY_EXPORT canopy_group_spec_t* canopy_group_spec_create(void);
CANOPY_EXPORT void canopy_group_spec_destroy(canopy_group_spec_t* spec);
// A CANOPY_GROUP_* value.
CANOPY_EXPORT canopy_code_t canopy_group_spec_set_kind(canopy_group_spec_t* spec, int kind,
                                                       char** errmsg);
// Unique among the owner's groups of that kind.
CANOPY_EXPORT canopy_code_t canopy_group_spec_set_name(canopy_group_spec_t* spec, const char* name,
                                                       char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_spec_set_owner(canopy_group_spec_t* spec, uint64_t owner,
                                                        char** errmsg);

// Creates the group `spec` describes and stores its id in *id (`id` may be
// NULL). Needs group.write on the owner. Errors: INVALID_ARGUMENT (NULL db
// or spec, a name unset or breaking the text rules), NOT_FOUND (owner unset
// or unknown), ALREADY_EXISTS (a group of that kind and name in the owner),
// PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_group_create(canopy_db_t* db, uint64_t actor,
                                                const canopy_group_spec_t* spec, uint64_t* id,
                                                char** errmsg);
// Renames a group. Errors: INVALID_ARGUMENT (NULL db or name, text rules),
// NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_group_rename(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                const char* name, char** errmsg);
// Deletes the group, its member links and every grant it holds or that is
// made onto it; the members themselves stay. Errors: NOT_FOUND,
// PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_group_delete(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                char** errmsg);

// Adds (removes) the `n` members of `members` to (from) the group, all or
// nothing. Adding or removing users also needs user.invite (user.remove)
// on the owner, and a member that joins or leaves takes the group's grants
// with it: the actor must hold what each grant gives there (nothing of it
// for a member reported unchanged). When `report` is not NULL
// it receives a new report (one item per id, in order) also when the call
// fails for an item: NOT_FOUND when an id is unknown (or out of the
// actor's sight), PERMISSION_DENIED when one is denied, INVALID_ARGUMENT
// for a duplicate; nothing changes then. Other errors (NULL or empty
// members, an unknown group) leave *report NULL.
CANOPY_EXPORT canopy_code_t canopy_group_members_add(canopy_db_t* db, uint64_t actor, uint64_t id,
                                                     const uint64_t* members, size_t n,
                                                     canopy_group_members_report_t** report,
                                                     char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_members_remove(canopy_db_t* db, uint64_t actor,
                                                        uint64_t id, const uint64_t* members,
                                                        size_t n,
                                                        canopy_group_members_report_t** report,
                                                        char** errmsg);

// Group members reports (canopy::GroupMembersReport).
CANOPY_EXPORT void canopy_group_members_report_destroy(canopy_group_members_report_t* report);
// The number of items (one per id given).
CANOPY_EXPORT size_t canopy_group_members_report_count(const canopy_group_members_report_t* report);
// How many items had `outcome` (a CANOPY_MEMBER_* value).
CANOPY_EXPORT size_t canopy_group_members_report_total(const canopy_group_members_report_t* report,
                                                       int outcome);
CANOPY_EXPORT uint64_t canopy_group_members_report_member(
    const canopy_group_members_report_t* report, size_t i);
// A CANOPY_MEMBER_* value; -1 for an index out of range or a NULL report
// (0 would read as an outcome).
CANOPY_EXPORT int canopy_group_members_report_outcome(const canopy_group_members_report_t* report,
                                                      size_t i);
// Why, for unknown / denied / duplicate items; "" otherwise.
CANOPY_EXPORT const char* canopy_group_members_report_message(
    const canopy_group_members_report_t* report, size_t i);

// Reads a group by id into a new handle freed with canopy_group_destroy.
// Errors: NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_group_get(canopy_db_t* db, uint64_t id, canopy_group_t** group,
                                             char** errmsg);
// The group of `kind` named `name` that `owner` owns (names are unique per
// owner and kind). Errors: NOT_FOUND (owner, or no such group, naming it),
// INVALID_ARGUMENT (kind, NULL name or group).
CANOPY_EXPORT canopy_code_t canopy_group_find(canopy_db_t* db, uint64_t owner, int kind,
                                              const char* name, canopy_group_t** group,
                                              char** errmsg);
// The groups of `owner`, by id. Errors: NOT_FOUND (owner).
CANOPY_EXPORT canopy_code_t canopy_group_list(canopy_db_t* db, uint64_t owner,
                                              canopy_groups_t** groups, char** errmsg);
// The groups holding `member`: `kind` CANOPY_GROUP_USER names a user,
// CANOPY_GROUP_ACCOUNT an account, any entity group kind an entity.
// Errors: INVALID_ARGUMENT (kind), NOT_FOUND (member).
CANOPY_EXPORT canopy_code_t canopy_group_list_by_member(canopy_db_t* db, int kind, uint64_t member,
                                                        canopy_groups_t** groups, char** errmsg);
// A page of the group's members by id: ids above `after` (0: from the
// first), at most `limit` (1..100000). *members is a malloc'd array of
// *count ids (NULL when there are none) freed with canopy_free; *next is
// the `after` of the next page (0: this was the last; `next` may be NULL).
// Errors: INVALID_ARGUMENT (limit, NULL members or count), NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_group_members_list(canopy_db_t* db, uint64_t id, uint64_t after,
                                                      size_t limit, uint64_t** members,
                                                      size_t* count, uint64_t* next,
                                                      char** errmsg);

// The same reads as `viewer` may know them (see "Reads as a viewer"):
// groups on owners where the viewer holds no group.* permission are
// NOT_FOUND and left out of lists.
CANOPY_EXPORT canopy_code_t canopy_group_get_as(canopy_db_t* db, uint64_t viewer, uint64_t id,
                                                canopy_group_t** group, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_find_as(canopy_db_t* db, uint64_t viewer, uint64_t owner,
                                                 int kind, const char* name,
                                                 canopy_group_t** group, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_list_as(canopy_db_t* db, uint64_t viewer, uint64_t owner,
                                                 canopy_groups_t** groups, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_list_by_member_as(canopy_db_t* db, uint64_t viewer,
                                                           int kind, uint64_t member,
                                                           canopy_groups_t** groups,
                                                           char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_members_list_as(canopy_db_t* db, uint64_t viewer,
                                                         uint64_t id, uint64_t after, size_t limit,
                                                         uint64_t** members, size_t* count,
                                                         uint64_t* next, char** errmsg);

// Group handles: the fields of canopy::Group.
CANOPY_EXPORT void canopy_group_destroy(canopy_group_t* group);
CANOPY_EXPORT uint64_t canopy_group_id(const canopy_group_t* group);
// A CANOPY_GROUP_* value.
CANOPY_EXPORT int canopy_group_kind(const canopy_group_t* group);
CANOPY_EXPORT const char* canopy_group_name(const canopy_group_t* group);
CANOPY_EXPORT uint64_t canopy_group_owner(const canopy_group_t* group);
// How many members it holds.
CANOPY_EXPORT uint64_t canopy_group_size(const canopy_group_t* group);
// Entity groups: how many members another group of the owner also holds
// (0: disjoint from every other group, so counting through it costs
// nothing per member). 0 for user and account groups.
CANOPY_EXPORT uint64_t canopy_group_overlap(const canopy_group_t* group);
CANOPY_EXPORT int64_t canopy_group_created_us(const canopy_group_t* group);
CANOPY_EXPORT int64_t canopy_group_updated_us(const canopy_group_t* group);

// Lists of groups; canopy_groups_at borrows (valid while the list lives).
CANOPY_EXPORT void canopy_groups_destroy(canopy_groups_t* groups);
CANOPY_EXPORT size_t canopy_groups_count(const canopy_groups_t* groups);
CANOPY_EXPORT const canopy_group_t* canopy_groups_at(const canopy_groups_t* groups, size_t i);

// What canopy_group_grant gives (canopy::GroupGrant), a builder: a role
// for every member of a user group, generic (target CANOPY_NO_ID: on the
// user group's owner), on an entity group, or on an account group (with
// branch, also on their sub-accounts). A new spec names no user group and
// no role (both must be set), no target, branch off.
CANOPY_EXPORT canopy_group_grant_spec_t* canopy_group_grant_spec_create(void);
CANOPY_EXPORT void canopy_group_grant_spec_destroy(canopy_group_grant_spec_t* spec);
CANOPY_EXPORT canopy_code_t canopy_group_grant_spec_set_user_group(canopy_group_grant_spec_t* spec,
                                                                   uint64_t user_group,
                                                                   char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_grant_spec_set_role(canopy_group_grant_spec_t* spec,
                                                             uint64_t role, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_grant_spec_set_target(canopy_group_grant_spec_t* spec,
                                                               uint64_t target, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_grant_spec_set_branch(canopy_group_grant_spec_t* spec,
                                                               int on, char** errmsg);

// Gives the grant `spec` describes. The target is owned by the user
// group's owner or one of its ancestors (an account group: by the user
// group's owner itself); an ancestor's (sharing down)
// needs the root tenant's group sharing on and group.share on the target's
// owner. Always user.invite on the user group's owner, and the actor must
// itself hold what the grant gives. Errors: INVALID_ARGUMENT (NULL db or
// spec; not a user group; branch on an entity group), NOT_FOUND,
// FAILED_PRECONDITION (upward or sideways, an account group of another
// account, sharing off, a custom role of another tenant), PERMISSION_DENIED,
// ALREADY_EXISTS.
CANOPY_EXPORT canopy_code_t canopy_group_grant(canopy_db_t* db, uint64_t actor,
                                               const canopy_group_grant_spec_t* spec,
                                               char** errmsg);
// Revokes the grant (user group, role, target; CANOPY_NO_ID for a generic
// one). Needs user.invite on the user group's owner, and the actor must
// hold what the grant gives. Errors: NOT_FOUND, PERMISSION_DENIED.
CANOPY_EXPORT canopy_code_t canopy_group_revoke(canopy_db_t* db, uint64_t actor,
                                                uint64_t user_group, uint64_t role,
                                                uint64_t target, char** errmsg);
// The grants a user group holds, or (any other group) those made onto it,
// into a new list. Errors: NOT_FOUND.
CANOPY_EXPORT canopy_code_t canopy_group_grant_list(canopy_db_t* db, uint64_t id,
                                                    canopy_group_grants_t** grants, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_group_grant_list_as(canopy_db_t* db, uint64_t viewer,
                                                       uint64_t id, canopy_group_grants_t** grants,
                                                       char** errmsg);

// Lists of group grants (canopy::GroupGrant), read by index.
CANOPY_EXPORT void canopy_group_grants_destroy(canopy_group_grants_t* grants);
CANOPY_EXPORT size_t canopy_group_grants_count(const canopy_group_grants_t* grants);
CANOPY_EXPORT uint64_t canopy_group_grants_user_group(const canopy_group_grants_t* grants,
                                                      size_t i);
CANOPY_EXPORT uint64_t canopy_group_grants_role(const canopy_group_grants_t* grants, size_t i);
// CANOPY_NO_ID for a generic grant.
CANOPY_EXPORT uint64_t canopy_group_grants_target(const canopy_group_grants_t* grants, size_t i);
CANOPY_EXPORT int canopy_group_grants_branch(const canopy_group_grants_t* grants, size_t i);
CANOPY_EXPORT int64_t canopy_group_grants_created_us(const canopy_group_grants_t* grants,
                                                     size_t i);

// ---- Interchange and maintenance ---------------------------------------

// Loads the JSON Lines file at `path` (docs/format.md, "Interchange") all
// or nothing. System actor only. `progress` may be NULL. `report` may be
// NULL; else it receives a new report on success. Errors:
// INVALID_ARGUMENT (a bad line, named by number; records that clash with
// the database), PERMISSION_DENIED (not the system actor), NOT_FOUND (no
// such file), IO_ERROR, ABORTED (cancelled by `progress`: it is called
// every 16k lines with the bytes read and the file's size; after the last
// line with done == total == the bytes read, every 100 ms while a large
// import's sorted records are written and once more just before the
// commit, however small the file; a cancel at any call imports nothing).
CANOPY_EXPORT canopy_code_t canopy_db_import(canopy_db_t* db, uint64_t actor, const char* path,
                                             canopy_progress_fn progress, void* progress_arg,
                                             canopy_import_report_t** report, char** errmsg);

// Writes the whole database to `path` in the same format, so that export
// then import into an empty database round-trips. `progress` and `counts`
// may be NULL. Errors: INVALID_ARGUMENT (a folder, a symbolic link to
// nothing, a path inside the database folder), FAILED_PRECONDITION
// (another export is writing the same path), IO_ERROR, ABORTED (cancelled
// by `progress`; `path` is as it was).
CANOPY_EXPORT canopy_code_t canopy_db_export(canopy_db_t* db, const char* path,
                                             canopy_progress_fn progress, void* progress_arg,
                                             canopy_import_report_t** counts, char** errmsg);

// Import reports and export counts (canopy::ImportReport).
CANOPY_EXPORT void canopy_import_report_destroy(canopy_import_report_t* report);
CANOPY_EXPORT uint64_t canopy_import_report_lines(const canopy_import_report_t* report);
CANOPY_EXPORT uint64_t canopy_import_report_accounts(const canopy_import_report_t* report);
CANOPY_EXPORT uint64_t canopy_import_report_roles(const canopy_import_report_t* report);
CANOPY_EXPORT uint64_t canopy_import_report_users(const canopy_import_report_t* report);
CANOPY_EXPORT uint64_t canopy_import_report_memberships(const canopy_import_report_t* report);
CANOPY_EXPORT uint64_t canopy_import_report_entities(const canopy_import_report_t* report);
CANOPY_EXPORT uint64_t canopy_import_report_groups(const canopy_import_report_t* report);
CANOPY_EXPORT uint64_t canopy_import_report_group_members(const canopy_import_report_t* report);
CANOPY_EXPORT uint64_t canopy_import_report_group_grants(const canopy_import_report_t* report);

// Verifies every invariant of the stored database (see db.h). When
// `problems` is not NULL it receives a new list of the problems found (at
// most 1000; empty when there are none) whatever the call returns, unless
// `db` is NULL: the list is the point of a CORRUPTION. `progress` may be
// NULL. Errors: CORRUPTION (problems found), ABORTED.
CANOPY_EXPORT canopy_code_t canopy_db_check_integrity(canopy_db_t* db, canopy_progress_fn progress,
                                                      void* progress_arg,
                                                      canopy_strings_t** problems, char** errmsg);

// Lists of strings; canopy_strings_at borrows (valid while the list lives).
CANOPY_EXPORT void canopy_strings_destroy(canopy_strings_t* strings);
CANOPY_EXPORT size_t canopy_strings_count(const canopy_strings_t* strings);
CANOPY_EXPORT const char* canopy_strings_at(const canopy_strings_t* strings, size_t i);

// ---- Statistics ----------------------------------------------------------

// One statistic by name (canopy::Db::GetProperty: canopy.* counts and
// revisions, rocksdb.NAME summed over the key spaces, rocksdb.NAME@SPACE,
// rocksdb.statistics): *value receives a copy as text, to free with
// canopy_free. Errors: NOT_FOUND (no such statistic, named),
// INVALID_ARGUMENT (NULL arguments), FAILED_PRECONDITION (closed).
CANOPY_EXPORT canopy_code_t canopy_get_property(canopy_db_t* db, const char* name, char** value,
                                                char** errmsg);
// The names worth watching (canopy::Db::PropertyNames), as a new list.
CANOPY_EXPORT canopy_code_t canopy_property_names(canopy_strings_t** names, char** errmsg);

// ---- Change log ----------------------------------------------------------
//
// Every mutation that changes something commits one revision (1, 2, 3...
// without gaps) and one log entry describing, record by record, what it
// changed (canopy::ChangeEntry in changes.h); a refusal, or a call that
// changes nothing, commits none. The log can be read page by page (an
// audit trail, a change feed), followed (read to the head, then wait for
// more) and replayed into another database, which then follows this one.
// Entries older than the retention (canopy_options_set_log_retention_*)
// are trimmed; reading from a trimmed revision is CANOPY_COMPACTED.

// The revision of the last committed mutation (0: none yet; 0 for NULL).
CANOPY_EXPORT uint64_t canopy_db_revision(canopy_db_t* db);
// The revision committed by the calling thread's last successful mutation
// on this database (0: none; 0 for NULL; after a call that changed nothing,
// the revision then current): the consistency token to pass as
// min_revision to a read that must see that write. Each thread keeps it
// for the 64 databases it wrote to last (then 0), whatever it writes to
// other databases in between.
CANOPY_EXPORT uint64_t canopy_db_last_committed_revision(canopy_db_t* db);
// The database's lineage id: the id of the database whose log it holds (its
// own, or the one it follows through canopy_changes_apply), as a malloc'd
// string in *log_id freed with canopy_free. Errors: INVALID_ARGUMENT (NULL
// db or log_id).
CANOPY_EXPORT canopy_code_t canopy_db_log_id(canopy_db_t* db, char** log_id, char** errmsg);

// Writes a consistent copy of the database into the new folder `dir` and
// stores its revision in *revision (a replica with a checkpoint folder
// registers a copy written directly inside it). Errors: INVALID_ARGUMENT
// (NULL or empty, or inside the database folder), ALREADY_EXISTS (`dir`
// exists), IO_ERROR, UNAVAILABLE (a replica could not register it in
// etcd; the copy is written).
CANOPY_EXPORT canopy_code_t canopy_db_checkpoint(canopy_db_t* db, const char* dir,
                                                 uint64_t* revision, char** errmsg);
// A verified backup in the new folder `dir` (canopy::Db::Backup: a
// checkpoint written under a scratch name beside `dir`, opened and
// integrity-checked, then renamed to `dir`); stores its revision in
// *revision. `progress` may be NULL; it hears the check (entities checked,
// total) and may cancel. Errors: INVALID_ARGUMENT (NULL or empty, or
// inside the database folder), ALREADY_EXISTS, CORRUPTION (the copy fails
// its check), IO_ERROR, ABORTED (cancelled); nothing is left behind.
CANOPY_EXPORT canopy_code_t canopy_db_backup(canopy_db_t* db, const char* dir,
                                             canopy_progress_fn progress, void* progress_arg,
                                             uint64_t* revision, char** errmsg);
// Makes the folder `dir` (absent or empty) a database restored from the
// backup in `backup` (canopy::Db::Restore: copied under a scratch name,
// synced, integrity-checked, renamed); needs no open database. `progress`
// may be NULL; it hears the copy (bytes copied, bytes to copy; last with
// done == total), then the check from 0 (entities), and may cancel.
// Errors: INVALID_ARGUMENT (NULL or empty; not a folder; `dir` inside the
// backup), NOT_FOUND (no backup there), ALREADY_EXISTS (`dir` not empty),
// FAILED_PRECONDITION (`backup` is a database open for writing),
// CORRUPTION, IO_ERROR, ABORTED (cancelled); on any error `dir` is as it
// was.
CANOPY_EXPORT canopy_code_t canopy_restore(const char* backup, const char* dir,
                                           canopy_progress_fn progress, void* progress_arg,
                                           char** errmsg);
// Where a replica stands, as a malloc'd JSON object in *json (free with
// canopy_free): {"replicated", "replica_id", "applied", "head", "lag",
// "last_contact_us", "apply_delay_us", "checkpoint", "log_first", "error",
// "members": [{"endpoint", "reachable", "has_leader", "version", "error"}]}
// (see canopy::ReplicaStatus); "head", "lag", "checkpoint" and "log_first"
// are null while etcd never answered ("last_contact_us" 0). Asks every
// etcd member for its health.
CANOPY_EXPORT canopy_code_t canopy_db_replica_status(canopy_db_t* db, char** json,
                                                     char** errmsg);
// On a replica: waits at most timeout_ms until everything etcd held when
// the call began is applied here, and stores that revision (a read after
// it sees every write acknowledged anywhere before). UNAVAILABLE when
// etcd does not answer, ABORTED on timeout. Not a replica: the revision.
CANOPY_EXPORT canopy_code_t canopy_db_sync_with_log(canopy_db_t* db, uint32_t timeout_ms,
                                                    uint64_t* revision, char** errmsg);
// On a follower: reads what the writer wrote since and stores the new
// revision (canopy::Db::CatchUp). ABORTED when reads still hold the state
// after 5 s (an open snapshot or visible iterator of the follower holds it
// until destroyed; the follower's reads go on while the call waits for
// them); FAILED_PRECONDITION when the database is not a follower, or from
// inside a progress callback of its own export or integrity check;
// UNAVAILABLE when the writer kept replacing
// the files being read (try again: until a catch-up succeeds, reads are
// UNAVAILABLE too).
CANOPY_EXPORT canopy_code_t canopy_db_catch_up(canopy_db_t* db, uint64_t* revision,
                                               char** errmsg);

// The selection of canopy_changes_read_request (canopy::ChangesRequest),
// a builder like the account and entity specs: a new field gets a setter,
// never a changed signature. NULL only when memory is exhausted. The
// setters are checked: a NULL `request` (or `type`) is INVALID_ARGUMENT
// naming it, and the request is then unchanged; values are checked when
// the request is read.
//   viewer   CANOPY_SYSTEM_ACTOR sees every change; a user id gets the
//            audit view: only the changes inside accounts where the user
//            holds audit.read (entries with none are left out; a record
//            side outside that reach reads as ""; so do the arguments of an
//            entry not wholly shown and actors whose home account lies
//            outside it)
//   since    the first revision to read (default 1; 0 is refused)
//   limit    1..100000 entries per page (default 1000)
//   account  only the changes inside this account's subtree (default
//            CANOPY_NO_ID: all)
//   types    record type names ("account", "entity", "user", "membership",
//            "role", "meta", "group", "group_member", "group_members",
//            "group_grant"), added one at a time; none (the default): all
//   values   0 leaves out the records' JSON (before and after read as "";
//            type, action and id stay), like etcd's keys_only: enough to
//            invalidate caches and several times faster; nonzero (the
//            default) includes them
//   min_revision  a consistency token (0, the default: any):
//            FAILED_PRECONDITION while the database has not reached it
CANOPY_EXPORT canopy_changes_request_t* canopy_changes_request_create(uint64_t viewer);
CANOPY_EXPORT void canopy_changes_request_destroy(canopy_changes_request_t* request);
CANOPY_EXPORT canopy_code_t canopy_changes_request_set_since(canopy_changes_request_t* request,
                                                             uint64_t since, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_changes_request_set_limit(canopy_changes_request_t* request,
                                                             size_t limit, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_changes_request_set_account(canopy_changes_request_t* request,
                                                               uint64_t account, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_changes_request_add_type(canopy_changes_request_t* request,
                                                            const char* type, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_changes_request_set_values(canopy_changes_request_t* request,
                                                              int on, char** errmsg);
CANOPY_EXPORT canopy_code_t canopy_changes_request_set_min_revision(
    canopy_changes_request_t* request, uint64_t revision, char** errmsg);

// One page of the log as `request` selects it, in revision order, into a
// new page handle. A filtered page may be short, even empty, without being
// the last: read on from canopy_changes_next until it is past
// canopy_changes_revision. Errors: INVALID_ARGUMENT (NULL arguments, since
// 0, limit, an unknown type), NOT_FOUND (viewer, account; an account
// deleted before `since`: its changes end at its deletion),
// PERMISSION_DENIED (a user viewer holding audit.read on no account, or
// filtering by an account where it lacks audit.read), COMPACTED (`since`
// was trimmed by retention; the message names the oldest revision kept),
// FAILED_PRECONDITION (min_revision not
// reached, or `since` past the revision + 1: a cursor of another database,
// or of this one before it was restored from an older backup).
CANOPY_EXPORT canopy_code_t canopy_changes_read_request(canopy_db_t* db,
                                                        const canopy_changes_request_t* request,
                                                        canopy_changes_t** changes, char** errmsg);

// Deprecated: canopy_changes_read_request with a canopy_changes_request_t
// instead (this one changes whenever the request gains a field). The same
// selection with every field positional: `types`, `n_types` (NULL and 0:
// all; a NULL entry is INVALID_ARGUMENT naming it).
CANOPY_EXPORT canopy_code_t canopy_changes_read(canopy_db_t* db, uint64_t viewer, uint64_t since,
                                                size_t limit, uint64_t account,
                                                const char* const* types, size_t n_types,
                                                int values, uint64_t min_revision,
                                                canopy_changes_t** changes, char** errmsg);

// Blocks the calling thread until the database's revision passes `after`
// or `timeout_ms` elapses (or the database closes), then stores the
// revision in *revision: follow mode reads to the head, then waits for
// more. Other threads may use the database meanwhile; closing it still
// needs every call on it to have returned. Errors: INVALID_ARGUMENT (NULL
// db or revision); on a replica whose follower cannot go on (its next
// revision trimmed from etcd, the log gone, replaced or behind it), the follower's
// error at once (COMPACTED, FAILED_PRECONDITION or CORRUPTION) to a waiter
// at or past its revision.
CANOPY_EXPORT canopy_code_t canopy_changes_wait(canopy_db_t* db, uint64_t after,
                                                uint32_t timeout_ms, uint64_t* revision,
                                                char** errmsg);

// Change-log pages (canopy::ChangesPage): entries read by index `i`, the
// record changes of an entry by index `j`.
CANOPY_EXPORT void canopy_changes_destroy(canopy_changes_t* changes);
// Entries on this page.
CANOPY_EXPORT size_t canopy_changes_count(const canopy_changes_t* changes);
// The revision to read from next (past the last one scanned).
CANOPY_EXPORT uint64_t canopy_changes_next(const canopy_changes_t* changes);
// The database's revision when the page was read.
CANOPY_EXPORT uint64_t canopy_changes_revision(const canopy_changes_t* changes);
// 1 when the request's account was deleted and this page reached its
// deletion, the end of its log: stop reading (a read from
// canopy_changes_next is refused, NOT_FOUND). 0 otherwise.
CANOPY_EXPORT int canopy_changes_ended(const canopy_changes_t* changes);
CANOPY_EXPORT uint64_t canopy_changes_entry_revision(const canopy_changes_t* changes, size_t i);
// Commit time, microseconds since the Unix epoch.
CANOPY_EXPORT int64_t canopy_changes_entry_time_us(const canopy_changes_t* changes, size_t i);
// The acting user's login, "system", or "" (hidden in an audit view).
CANOPY_EXPORT const char* canopy_changes_entry_actor(const canopy_changes_t* changes, size_t i);
// "account.create", "entity.reassign", "import"...
CANOPY_EXPORT const char* canopy_changes_entry_operation(const canopy_changes_t* changes,
                                                         size_t i);
// The call's arguments as a JSON object; "" when hidden in an audit view.
CANOPY_EXPORT const char* canopy_changes_entry_arguments(const canopy_changes_t* changes,
                                                         size_t i);
// Record changes of entry `i`.
CANOPY_EXPORT size_t canopy_changes_record_count(const canopy_changes_t* changes, size_t i);
// "account", "entity", "user", "membership", "role", "meta", "group",
// "group_member", "group_members" or "group_grant".
CANOPY_EXPORT const char* canopy_changes_record_type(const canopy_changes_t* changes, size_t i,
                                                     size_t j);
// "created", "changed" or "deleted".
CANOPY_EXPORT const char* canopy_changes_record_action(const canopy_changes_t* changes, size_t i,
                                                       size_t j);
// The record's id; "<user>/<account>" for a membership, "<group>/<member>"
// for a group member, "<user group>/<role>/<target>" for a group grant, the
// name for meta.
CANOPY_EXPORT const char* canopy_changes_record_id(const canopy_changes_t* changes, size_t i,
                                                   size_t j);
// The record as a JSON object before / after the change; "" when it did
// not exist / no longer exists, or lies outside an audit viewer's reach.
CANOPY_EXPORT const char* canopy_changes_record_before(const canopy_changes_t* changes, size_t i,
                                                       size_t j);
CANOPY_EXPORT const char* canopy_changes_record_after(const canopy_changes_t* changes, size_t i,
                                                      size_t j);

// Replication: the stored log entries from revision `since`, at most
// `limit` (1..100000), each an opaque checksummed byte string for
// canopy_changes_apply on another database, into a new list (empty when
// `since` is the revision + 1). Errors: INVALID_ARGUMENT (since 0, limit),
// COMPACTED (`since` was trimmed by retention), FAILED_PRECONDITION
// (`since` past the revision + 1).
CANOPY_EXPORT canopy_code_t canopy_log_entries_read(canopy_db_t* db, uint64_t since, size_t limit,
                                                    canopy_log_entries_t** entries, char** errmsg);

// Lists of log entries; canopy_log_entries_data borrows (valid while the
// list lives; NULL out of range) and canopy_log_entries_size gives its
// length in bytes (the data may hold NUL bytes).
CANOPY_EXPORT void canopy_log_entries_destroy(canopy_log_entries_t* entries);
CANOPY_EXPORT size_t canopy_log_entries_count(const canopy_log_entries_t* entries);
CANOPY_EXPORT const uint8_t* canopy_log_entries_data(const canopy_log_entries_t* entries,
                                                     size_t i);
CANOPY_EXPORT size_t canopy_log_entries_size(const canopy_log_entries_t* entries, size_t i);

// Applies `n` entries read with canopy_log_entries_read from another
// database (entry i is the `sizes[i]` bytes at `entries[i]`), in revision
// order: each must be this database's revision + 1; an entry already
// applied is skipped when identical. An empty database adopts the source's
// lineage, so that it follows it from then on. Each entry is applied
// atomically; on an error the entries before it stay applied. When
// `report` is not NULL it receives a new report whatever the call returns
// (saying how far it got), unless an argument is invalid. `entries` and
// `sizes` may be NULL only when n is 0. Errors: INVALID_ARGUMENT (NULL
// arguments; a size, or all sizes together, larger than any buffer can
// be, naming that size, before any entry is read), FAILED_PRECONDITION (a gap, a repeated revision with other
// contents, another lineage, a database with data but no log to follow
// from), CORRUPTION (a damaged entry).
CANOPY_EXPORT canopy_code_t canopy_changes_apply(canopy_db_t* db, const uint8_t* const* entries,
                                                 const size_t* sizes, size_t n,
                                                 canopy_apply_report_t** report, char** errmsg);

// Apply reports (canopy::ApplyReport).
CANOPY_EXPORT void canopy_apply_report_destroy(canopy_apply_report_t* report);
// Entries applied / skipped as already applied.
CANOPY_EXPORT uint64_t canopy_apply_report_applied(const canopy_apply_report_t* report);
CANOPY_EXPORT uint64_t canopy_apply_report_skipped(const canopy_apply_report_t* report);
// The database's revision afterwards.
CANOPY_EXPORT uint64_t canopy_apply_report_revision(const canopy_apply_report_t* report);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // CANOPY_C_H_
