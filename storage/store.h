// Copyright (c) Canopy authors.
//
// Store: the RocksDB database behind a Canopy database — its column
// families (keys.h), the format record checked on open, and the narrow
// interface the layers above use: point reads, bounded iterators, snapshots
// and atomic write batches.
//
// Thread safety: safe for concurrent use; callers serialise writes. An
// Overlay is the writer's (see there).

#ifndef CANOPY_STORAGE_STORE_H_
#define CANOPY_STORAGE_STORE_H_

#include <rocksdb/db.h>
#include <rocksdb/utilities/write_batch_with_index.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <cstdint>
#include <functional>
#include <filesystem>
#include <memory>
#include <string>
#include <shared_mutex>
#include <string_view>
#include <vector>

#include "canopy/options.h"
#include "canopy/status.h"
#include "storage/keys.h"
#include "storage/records.h"

namespace canopy::storage {

// Maps a RocksDB status to Canopy's, prefixing `context` to the message.
Status FromRocks(const rocksdb::Status& s, std::string_view context);

// Folders inside a database folder whose names start with this are an
// import's scratch space (SST files before ingestion): Open removes them.
inline constexpr std::string_view kScratchPrefix = "import-";

// While a database folder is being created it holds this file; a folder
// that still holds it after a crash is created again by the next open.
inline constexpr std::string_view kCreatingMarker = "CANOPY-CREATING";

// An open that takes no lock (read-only, follower) and a follower's
// catch-up read the files again when a writer changed them under it: up to
// kReaderAttempts times, pausing ReaderPauseMs(attempt) after attempt n
// (about 1.3 s in all).
inline constexpr int kReaderAttempts = 12;
inline int ReaderPauseMs(int attempt) { return 20 * attempt; }

// InvalidArgument when the folder `dir` (named `what` in the message) is
// the database folder `folder` or lies inside it, both resolved as far as
// they exist (links followed, "..", relative to the working folder); else
// OK. A database's folder holds only its own files: a copy or a folder of
// another kind placed inside it would be taken for part of it, or removed
// by the next open (kScratchPrefix).
Status RefuseInsideFolder(std::string_view what, const std::string& dir,
                          const std::string& folder);

// A scratch name that carries this process's id, "<parent>/<stem><pid>-<n>",
// where nothing is yet, so that a later run can tell what a killed process
// left (kill -9, a power loss): every "<stem><pid>-<n>" in `parent` whose
// process no longer runs is removed first. A live process's (this one's
// included) are left alone. An empty `parent` is the working folder.
std::string PidScratchName(const std::filesystem::path& parent, const std::string& stem);
// Only the removal PidScratchName does first: every "<stem><pid>-<n>" in
// `parent` whose process no longer runs.
void RemoveDeadScratch(const std::filesystem::path& parent, const std::string& stem);

// True when `path` holds a database whose creation finished (a RocksDB
// CURRENT file and no creation marker).
bool HoldsDatabase(const std::string& path);

struct StoreOptions {
  bool create_if_missing = true;
  bool error_if_exists = false;
  // RocksDB's read-only instance: no lock, no writes, a fixed view.
  bool read_only = false;
  // Non-empty: RocksDB's secondary instance, keeping its own files in this
  // folder: no lock, no writes, a view that moves only on
  // CatchUpWithPrimary(). read_only must be off.
  std::string secondary_path;
  size_t block_cache_bytes = size_t{256} << 20;
  uint32_t max_depth = 32;  // written into the format record on creation
  // The RocksDB Env (file system); null for the default. Tests pass one
  // that injects faults.
  rocksdb::Env* env = nullptr;
  // Tuning and diagnostics (see canopy::Options).
  Compression compression = Compression::kDefault;
  std::string wal_dir;
  int max_open_files = -1;
  uint64_t background_write_bytes_per_second = 0;
  bool statistics = false;
  std::function<void(LogLevel, std::string_view)> log;
  LogLevel log_level = LogLevel::kWarn;
  // A writer's close looks for small table files to merge in a key space
  // holding at least this many files (Store::MergeSmallFiles; tests lower
  // it).
  size_t merge_files_at = 32;
};

class Store {
 public:
  // Opens or creates the database in `path`; checks magic and format
  // version (Corruption / NotSupported). On error *out is null.
  static Status Open(const StoreOptions& options, const std::string& path,
                     std::unique_ptr<Store>* out);
  ~Store();

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Flushes memtables (unless Settle did, or `flush` is false: after a
  // failed write, whose error RocksDB keeps until reopened, the
  // write-ahead log holds them; a failed Settle is then not reported
  // again) and closes RocksDB. Idempotent.
  Status Close(bool flush = true);

  // The first half of a writer's Close: flushes every key space, then
  // lets no background work (compaction, flush) start or go on, so the
  // files stay as they are until Close; a position read meanwhile
  // (storage/files_position.h) is the one Close leaves. The flush's error,
  // which Close then returns again. Once; a read-only store does nothing.
  Status Settle();

  // In a key space holding at least merge_files_at table files, compacts
  // every run of at least 8 files of under 1 MiB lying side by side in a
  // level (by key) into that same level: exactly those files, nothing
  // above or below them, so the cost is the run's bytes (under 8 MiB or
  // so). A writer's close calls it (engine): a process that opens, writes
  // a little and closes, again and again (the command line), flushes small
  // files at each close, and RocksDB moves them down a level without
  // merging them with the files there when their keys overlap none (new
  // ids, new revisions); they would pile up without bound, each kept open
  // by every later open (with the usual limit of 1,024 descriptors, a
  // database edited by a thousand commands could no longer be opened).
  // Best effort: a refused or failed merge leaves the files as they were.
  // A read-only store does nothing.
  void MergeSmallFiles();

  // Asks for every key space's memtable to be written to table files in
  // the background, without waiting (after a large write: a reader that
  // opens beside the writer, and the writer's next open after a crash,
  // replay the write-ahead log's unflushed writes into memory; a write of
  // tens of MB costs them as much). Best effort: a refusal changes nothing
  // and is only logged by RocksDB. A read-only store does nothing.
  void FlushSoon();

  rocksdb::DB* db() const { return db_; }
  // A RocksDB property: "rocksdb.NAME" is summed over the key spaces when
  // it is a number (else the default key space's text), "rocksdb.NAME@SPACE"
  // is one key space's, and "rocksdb.statistics" the statistics' report
  // (Options::statistics). NotFound for a name RocksDB does not know.
  Status GetProperty(std::string_view name, std::string* value) const;
  rocksdb::ColumnFamilyHandle* cf(int which) const { return cfs_[which]; }
  const FormatRecord& format() const { return format_; }
  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  // This open created the database (the folder held none).
  bool created() const { return created_; }

  // Reads one value. NotFound when absent (message names cf and nothing
  // more; callers give context). `snapshot` may be null (latest state).
  Status Get(int which, std::string_view key, std::string* value,
             const rocksdb::Snapshot* snapshot = nullptr) const;
  // Like Get but reports absence as false; errors as a Status.
  Status Exists(int which, std::string_view key, bool* exists,
                const rocksdb::Snapshot* snapshot = nullptr) const;

  // Reads several values of one key space at once (RocksDB MultiGet; keys
  // ascending when `sorted`): statuses[i] is OK with values[i], NotFound,
  // or the error. `snapshot` may be null (latest state). `values` may be
  // reused from call to call (its slices are released and made anew).
  void MultiGet(int which, const std::vector<rocksdb::Slice>& keys,
                std::vector<rocksdb::PinnableSlice>* values,
                std::vector<rocksdb::Status>* statuses, const rocksdb::Snapshot* snapshot,
                bool sorted) const;

  // An iterator over one column family bounded to [lower, upper) (either
  // may be empty: unbounded). The bounds must outlive the iterator: they are
  // stored in the returned object.
  class BoundedIterator;
  std::unique_ptr<BoundedIterator> NewIterator(int which, const rocksdb::Snapshot* snapshot,
                                               std::string lower, std::string upper,
                                               bool fill_cache = true) const;

  // Writes staged on top of the latest state that are not in RocksDB yet
  // (a replica's mutations while etcd has not accepted them). The reads of
  // the latest state (no snapshot) that the thread inside a Scope makes
  // see them as if written: Get, Exists, MultiGet, NewIterator and
  // ReadSequence. Reads with a snapshot never do, nor other threads.
  // Merges are left out (only counters are merged, and nothing reads a
  // counter back while it writes). Thread safety: the writer's alone.
  class Overlay;

  // A secondary instance: reads what the primary wrote since (its MANIFEST
  // and write-ahead log). Not thread-safe against reads: the caller keeps
  // readers out meanwhile.
  Status CatchUpWithPrimary();
  // False once a catch-up read while the writer deleted a write-ahead log,
  // or read a logged write without the import before it, and no later one
  // ended without either: the view may lack writes (a hole), which only a
  // whole catch-up mends. A writer that closed and opened the database
  // again makes a catch-up open this instance again; false while that open
  // has not succeeded.
  bool Whole() const { return whole_; }

  // Applies a batch atomically (without syncing; see SyncWal).
  Status Write(rocksdb::WriteBatch* batch);
  // Makes every applied write durable (fsyncs the write-ahead log).
  Status SyncWal();
  // Writes `message` where RocksDB's messages go (StoreOptions::log; else
  // the LOG file of a writer, nowhere for a reader), at `level` and above
  // StoreOptions::log_level. Any thread.
  void Log(LogLevel level, std::string_view message) const;

  // The last value handed out by a meta sequence ("seq.account"...); 0 when
  // none was. Writers store the new value in the mutation's own batch.
  // `snapshot` may be null (latest state).
  Status ReadSequence(std::string_view name, uint64_t* last,
                      const rocksdb::Snapshot* snapshot = nullptr) const;
  // The id after `last` in a sequence of `what` ids ("account", ...);
  // FailedPrecondition when `last` is the largest id (an imported group may
  // take it): an id never wraps to 0 (no id) or to one already handed out.
  static Status NextId(uint64_t last, std::string_view what, uint64_t* next);

 private:
  size_t merge_files_at_ = 32;

  Store() = default;
  Status CheckOrWriteFormat(bool created, const StoreOptions& options);
  // True when no key space holds a key.
  bool Empty() const;

  std::string path_;
  std::string wal_dir_;  // the write-ahead logs' folder (path_ unless set apart)
  bool read_only_ = false;  // also for a secondary instance
  bool settled_ = false;
  Status settle_status_;
  bool secondary_ = false;
  bool whole_ = true;  // see Whole()
  uint64_t manifest_number_ = 0;  // a reader's: the MANIFEST it opened on (CatchUpWithPrimary)
  // A secondary instance's: the newest sequence number in its table files
  // when it was opened (CatchUpWithPrimary: a writer's flush since then).
  uint64_t tables_seqno_ = 0;
  // A secondary instance's open, kept to open it again when its writer
  // started a new session (CatchUpWithPrimary).
  struct SecondaryOpen {
    rocksdb::DBOptions db_options;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    std::string secondary_path;
  };
  std::unique_ptr<SecondaryOpen> secondary_open_;
  // Held shared by GetProperty, exclusive while a secondary instance is
  // opened again (its other reads are kept out by the caller).
  mutable std::shared_mutex reopen_mu_;
  Status ReopenSecondary();
  // Keeps the handles of the known key spaces (by `families`' names, in
  // the order RocksDB returned `handles`) and lets the others go.
  void AdoptHandles(const std::vector<rocksdb::ColumnFamilyDescriptor>& families,
                    const std::vector<rocksdb::ColumnFamilyHandle*>& handles);
  bool created_ = false;
  rocksdb::DB* db_ = nullptr;
  std::shared_ptr<rocksdb::Statistics> statistics_;  // with StoreOptions::statistics
  std::shared_ptr<rocksdb::Logger> logger_;           // RocksDB's info_log
  std::array<rocksdb::ColumnFamilyHandle*, kNumCfs> cfs_{};
  FormatRecord format_;
};

// Probes ascending keys (a sorted batch) with one iterator: To(target)
// moves it forward to the first key at or after `target` (or past the
// end), never backward. A near target costs a few Next() calls instead of
// a Seek (several times dearer); a far one costs one Seek after the
// steps. The number of steps adapts to the keys: it halves (down to 4)
// after each target the steps did not reach and doubles (up to 64) after
// each they did, so sparse keys do not pay many wasted steps per seek.
class ForwardProbe {
 public:
  explicit ForwardProbe(rocksdb::Iterator* it) : it_(it) {}
  void To(std::string_view target);

 private:
  rocksdb::Iterator* it_;
  int steps_ = 32;
};

class Store::BoundedIterator {
 public:
  BoundedIterator(std::string lower, std::string upper);
  rocksdb::Iterator* it() { return it_.get(); }
  rocksdb::Iterator* operator->() { return it_.get(); }

 private:
  friend class Store;
  std::string lower_;
  std::string upper_;
  rocksdb::Slice lower_slice_;
  rocksdb::Slice upper_slice_;
  rocksdb::ReadOptions read_options_;  // an overlay's iterator keeps a pointer to it
  std::unique_ptr<rocksdb::Iterator> it_;
};

class Store::Overlay {
 public:
  explicit Overlay(const Store& store);
  Overlay(const Overlay&) = delete;
  Overlay& operator=(const Overlay&) = delete;

  // Adds the puts and deletes of `batch`, written after everything added
  // before. *complete is false when the batch holds something an overlay
  // cannot show (a range delete, a merge outside the counters): reads
  // through it are then not the state with `batch` written, and the
  // writer must write what it staged before reading again.
  Status Add(const rocksdb::WriteBatch& batch, bool* complete);
  void Clear();
  bool empty() const { return count_ == 0; }
  bool StoreIs(const Store* store) const { return &store_ == store; }

  // While alive, the calling thread's reads of `store`'s latest state go
  // through `overlay` (null: none). Scopes nest.
  class Scope {
   public:
    explicit Scope(const Overlay* overlay);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    const Overlay* previous_;
  };

 private:
  friend class Store;
  const Store& store_;
  rocksdb::WriteBatchWithIndex index_;
  size_t count_ = 0;
};

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_STORE_H_
