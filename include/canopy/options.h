// Copyright (c) Canopy authors.
//
// Options: how a database is opened and tuned. Every field has a default
// that suits an embedded server; the comment says why.
//
// Thread safety: a plain value, read once by Db::Open.

#ifndef CANOPY_OPTIONS_H_
#define CANOPY_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace canopy {

// A replica: this database follows a change log kept in etcd, shared with
// the other replicas (docs/replication.md). Every replica may write; each
// write is appended to the log in etcd first and applied locally before it
// returns; a background thread applies the others' writes.
struct ReplicationOptions {
  // etcd's client URLs, e.g. {"http://127.0.0.1:2379", ...}. Empty: not a
  // replica (a single-process database, the default).
  std::vector<std::string> etcd_endpoints;
  // The etcd key prefix of this log: replicas with the same prefix share
  // one database. Letters, digits and "_-./" only, and no part after the
  // first named head, log, blob, replicas or checkpoint (the names of its
  // own keys: docs/replication.md, "Keys in etcd").
  std::string prefix = "canopy";
  // A folder (shared by the replicas, or reachable from them) where
  // checkpoints are written and where a new replica looks for the newest
  // one; a replica the log was trimmed past while it was closed starts
  // from it too (its folder replaced: docs/replication.md). Empty: no
  // checkpoints, and etcd keeps the whole log. Outside the database folder
  // (Db::Open: InvalidArgument otherwise).
  std::string checkpoint_dir;
  // Take a checkpoint into checkpoint_dir automatically once this many
  // revisions were appended after the newest one (0: only on request).
  uint64_t checkpoint_every = 100000;
  // A replica's registration (its applied revision) lives this long in
  // etcd after the replica stops refreshing it; the log below every live
  // replica and the newest checkpoint is trimmed from etcd.
  uint32_t lease_ttl_seconds = 10;
  // One etcd request waits this long on one member before trying the next.
  uint32_t request_timeout_ms = 2000;
  // An append keeps trying this long while etcd cannot commit it (a leader
  // election after a member died takes a second or two; under load more)
  // before it fails with Unavailable. A call may wait longer: for the group
  // of writes ahead of it first, and for another replica's turn to append
  // (a large write's; up to 15 s more: docs/replication.md).
  uint32_t write_timeout_ms = 10000;
  // How often registration is refreshed and trimming considered.
  uint32_t housekeeping_interval_ms = 1000;
};

// How much a log message matters (Options::log).
enum class LogLevel : uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Compression of the stored tables (Options::compression).
enum class Compression : uint8_t {
  kDefault = 0,  // LZ4, and ZSTD for the oldest (largest) level
  kNone = 1,
  kLz4 = 2,
  kZstd = 3,
};

struct Options {
  // Create the database folder and an empty database when none exists.
  bool create_if_missing = true;
  // Refuse to open an existing database (useful for imports into a new one).
  bool error_if_exists = false;

  // Open without taking the folder's lock, beside a process that has it
  // open for writing (or on read-only media): the view is the database as
  // it was when opened (open again for a fresh one). Every mutation,
  // import and ApplyChanges is FailedPrecondition (a checkpoint or backup
  // is a key-by-key copy of the view). The database must exist
  // (create_if_missing does not apply) and be of the current storage
  // format; replication must be off.
  bool read_only = false;

  // Open as a follower beside the process that has the database open for
  // writing (RocksDB's secondary instance): like read_only, no lock is
  // taken, every mutation, import and ApplyChanges is FailedPrecondition
  // and a checkpoint is a copy of the view; unlike it, the view moves
  // forward: Db::CatchUp() (or the automatic interval below) brings it to
  // the writer's latest written revision. Reads are consistent because a
  // catch-up waits until no read is under way and holds new ones off while
  // it runs (a follower has no RocksDB snapshots); it drops paging
  // cursors' saved state (their next page reads the new state). The
  // database must exist and be of the current storage format; replication
  // must be off; read_only and follower exclude each other
  // (InvalidArgument); max_open_files must stay -1 (docs/index.md).
  bool follower = false;
  // A folder of the follower's own (for RocksDB's secondary instance);
  // created when missing, never inside the database folder. Empty: a
  // scratch folder in the system's temporary folder, removed on Close.
  std::string follower_dir;
  // Catch up automatically this often (a background thread); 0: only when
  // Db::CatchUp() is called.
  uint32_t follower_catch_up_ms = 0;

  // The deepest an account may sit (a root tenant is at depth 1). Trees
  // up to 32 deep are the design point; deeper trees cost a byte or more per level in
  // every index key. Checked on create and move; fixed when the database is
  // created (later opens keep the stored value).
  uint32_t max_depth = 32;

  // Sync the write-ahead log before a mutation returns, so that it survives
  // an operating-system crash or power loss ("durable once it returns"). A process crash never loses a returned mutation even
  // with false; turn it off only for bulk loads you can repeat.
  bool sync = true;

  // RocksDB block cache shared by all key spaces. Scans and checks are fast
  // when the index blocks they touch stay in memory.
  size_t block_cache_bytes = size_t{256} << 20;

  // Paging cursors hold a read snapshot so that every page of one listing
  // reads the same state. A cursor idle for longer than this, older than
  // four times this, or beyond max_open_cursors (the least recently used
  // goes first) releases its snapshot at the next visible query; resuming
  // it then reads the latest state (see query.h).
  uint32_t cursor_ttl_seconds = 300;
  size_t max_open_cursors = 1024;

  // The change log (docs/changes.md) keeps every mutation's revision and
  // change set. Entries beyond the newest `log_retention_count` (0: no
  // limit), or older than `log_retention_seconds` (0: no limit), are
  // trimmed; reading a trimmed revision is Compacted. The defaults keep the
  // last million mutations, enough for followers to catch up after an outage.
  uint64_t log_retention_count = 1000000;
  uint64_t log_retention_seconds = 0;

  // Replication through etcd (none by default).
  ReplicationOptions replication;

  // ---- Storage tuning (RocksDB) and diagnostics -----------------------
  // Compression of the tables; a codec this build lacks is InvalidArgument.
  Compression compression = Compression::kDefault;
  // A folder for the write-ahead log (e.g. on a faster disk); empty: inside
  // the database folder. A database opened with one must be opened with the
  // same one again.
  std::string wal_dir;
  // Table files kept open at once; -1 (the default) opens all of them on
  // open and keeps them, the fastest reads; a positive number (at least
  // 16) bounds file descriptors and opens a file when first read, so a
  // large database opens sooner and with less memory (docs/PERFORMANCE.md).
  int max_open_files = -1;
  // Keep a catalog image: a database open for writing writes its
  // in-memory catalog (accounts, users, memberships, roles, groups) to one
  // file in its folder when it closes, and the next open reads it back
  // instead of rebuilding the catalog from the stored records, which takes
  // seconds at a million accounts and users. The image is used only for
  // exactly the state it was written of (else the open loads as before);
  // it costs its size on disk (about 115 bytes per account and user) and
  // a sync and a pass over the catalog at Close. Off, a writing open
  // removes any image, and every open loads from the stored records.
  bool catalog_image = true;
  // Caps the bytes per second that background flushes and compactions
  // write, so that they do not crowd out a latency-sensitive disk; 0: no cap.
  uint64_t background_write_bytes_per_second = 0;
  // Collect RocksDB's statistics (cache hits and misses, bytes read and
  // written...), read with Db::GetProperty("rocksdb.statistics"); costs a
  // few percent of throughput.
  bool statistics = false;
  // Where messages go: RocksDB's (flushes, compactions, errors) and
  // Canopy's own (a failed sync that stops the database...), at `log_level`
  // and above. Null: a database open for writing appends them to a LOG
  // file in its folder (past 8 MiB it becomes LOG.old, replacing the one
  // before), dropping what it cannot write (a full disk); read-only and
  // follower opens write none. Called from any thread, also RocksDB's background
  // threads; it must not call back into the database.
  std::function<void(LogLevel level, std::string_view message)> log;
  LogLevel log_level = LogLevel::kWarn;
};

}  // namespace canopy

#endif  // CANOPY_OPTIONS_H_
