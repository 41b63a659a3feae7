// Copyright (c) Canopy authors.
//
// FaultFs: a RocksDB file system for tests that simulates power loss. It
// passes every call through to a real file system and remembers what a
// power loss could still take away:
//
//   - per file written through it, how many bytes were synced (Sync or
//     Fsync; Close, Flush and RangeSync make nothing durable);
//   - per directory, the creates, renames, hard links and deletes since
//     that directory was last fsynced (a rename over an existing file keeps
//     the old one, and a delete keeps the file, in `trash_dir` until then).
//
// CutPower() (or CutPowerAfter(n) write operations, to stop at a random
// point) makes every later write, sync, create, rename and delete fail with
// IOError "simulated power loss" without reaching the disk; reads still
// work. Once the database on it is closed (or destroyed), Reboot() leaves
// the disk as the power loss would have: it undoes every create, rename and
// delete not made durable by a directory fsync (newest first), truncates
// every file to its synced size, and then forgets everything (what is on
// disk now is durable) and turns the power back on. With a random source,
// Reboot keeps a random prefix of each directory's pending operations and a
// random prefix of each file's unsynced bytes instead, as a journaling file
// system that had written back part of its cache would.
//
// A renamed folder takes what is pending inside it along, and its rename
// is pending in its parent like a file's.
//
// Not simulated: directories created or removed (treated as durable),
// writes through NewRandomRWFile (untracked), reordered or garbled
// unsynced data (only a prefix survives), and a file truncated by
// reopening it with NewWritableFile (its old content counts as gone).
//
// The base must be a local file system (Reboot truncates files with
// std::filesystem, as RocksDB's Posix file system has no Truncate).
//
// Thread safety: safe for concurrent use, as RocksDB requires; Reboot must
// not run while a database is open on the file system.

#ifndef CANOPY_TESTS_FAULT_FS_H_
#define CANOPY_TESTS_FAULT_FS_H_

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "canopy/db.h"

namespace canopy::testing {

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  // `trash_dir` (created when needed) holds deleted and overwritten files
  // until their directory is synced; it must be on the same file system as
  // the database and outside its folder. Empty: deletes are final at once
  // (and a rename over a file cannot be undone).
  FaultFs(const std::shared_ptr<rocksdb::FileSystem>& base, std::string trash_dir);
  ~FaultFs() override;

  static const char* kClassName() { return "CanopyFaultFs"; }
  const char* Name() const override { return kClassName(); }

  // An Env that uses this file system (for storage::StoreOptions::env).
  static std::unique_ptr<rocksdb::Env> NewEnv(const std::shared_ptr<FaultFs>& fs);

  // ---- Power ------------------------------------------------------------

  // From now on every write-side call fails and changes nothing on disk.
  void CutPower();
  // Cuts the power on the n-th write-side call from now (n >= 1): that
  // call fails already. Write-side calls: creating, renaming, linking,
  // deleting or truncating a file, Append, Flush, Sync, Fsync, RangeSync,
  // Close, and directory fsyncs.
  void CutPowerAfter(uint64_t n);
  bool powered() const { return powered_.load(); }

  // Applies the power loss to the disk (see above), forgets all tracking
  // and turns the power back on. Call it with no database open on this file
  // system. `rng` null: drop everything not durable (the worst case).
  rocksdb::IOStatus Reboot(std::mt19937_64* rng = nullptr);

  // Called with a file's path at the start of each Sync/Fsync of a file
  // whose name ends with `suffix` (e.g. ".log"), before the power check: a
  // test can hold a sync there. Empty function: none.
  void SetSyncHook(std::string suffix, std::function<void(const std::string&)> hook);

  // ---- Statistics ---------------------------------------------------------

  uint64_t write_ops() const { return write_ops_.load(); }
  uint64_t syncs() const { return syncs_.load(); }
  uint64_t dir_syncs() const { return dir_syncs_.load(); }
  // What the last Reboot undid: bytes cut, creates, renames, deletes.
  struct RebootReport {
    uint64_t bytes_dropped = 0;
    uint64_t files_truncated = 0;
    uint64_t creates_undone = 0;
    uint64_t renames_undone = 0;
    uint64_t deletes_undone = 0;
    std::string ToString() const;
  };
  RebootReport last_reboot() const;

  // ---- rocksdb::FileSystem ------------------------------------------------

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                 std::unique_ptr<rocksdb::FSDirectory>* r,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& f, size_t size, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& s, const std::string& t,
                               const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& s, const std::string& t,
                             const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& d, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& d, const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& d, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override;

 private:
  class File;
  class Dir;
  // What survives of one file's content: shared by its hard links.
  struct FileState {
    uint64_t written = 0;  // the file's size as written through us
    uint64_t synced = 0;   // of which this much is durable
  };
  // A change to a directory's entries not yet made durable.
  struct PendingOp {
    enum Kind { kCreate, kRename, kDelete } kind;
    std::string name;                   // the entry created / renamed to / deleted
    std::string from;                   // kRename: the old name
    std::string saved;                  // trash copy of a deleted / overwritten file
    std::shared_ptr<FileState> state;   // the saved file's tracking, if any
  };

  // Counts a write-side call; an error when the power is (now) off.
  rocksdb::IOStatus Gate();
  void Track(const std::string& path, std::shared_ptr<FileState> state);
  void Pending(PendingOp op);
  std::string NextTrashPath(const std::string& path);
  void DirSynced(const std::string& dir);
  // Re-keys what is tracked inside folder `from` to `to` (mu_ held).
  void MoveFolderLocked(const std::string& from, const std::string& to);
  void RunSyncHook(const std::string& path);

  const std::string trash_dir_;
  std::atomic<bool> powered_{true};
  std::atomic<int64_t> countdown_{0};  // > 0: cut the power on reaching zero
  std::atomic<uint64_t> write_ops_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> dir_syncs_{0};

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> files_;  // tracked paths
  std::map<std::string, std::vector<PendingOp>> pending_;     // by directory
  uint64_t trash_seq_ = 0;
  RebootReport last_reboot_;
  std::string hook_suffix_;
  std::function<void(const std::string&)> hook_;
};

// A file system that runs `at` inside directory listings, where RocksDB
// lists the write-ahead logs to read (a reader's open after it read the
// MANIFEST and IDENTITY; a follower's catch-up): with `after` empty, in
// every listing while `armed`; else once, in the first listing after a
// file whose path ends with `after` was opened for reading. `calls`
// counts the runs. Safe for concurrent use.
class ListingHook : public rocksdb::FileSystemWrapper {
 public:
  ListingHook(std::function<void()> at, std::string after = "")
      : FileSystemWrapper(rocksdb::FileSystem::Default()),
        at_(std::move(at)),
        after_(std::move(after)) {}
  static const char* kClassName() { return "ListingHook"; }
  const char* Name() const override { return kClassName(); }
  rocksdb::IOStatus NewSequentialFile(const std::string& f, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* r,
                                      rocksdb::IODebugContext* d) override {
    if (!after_.empty() && calls.load() == 0 && f.size() >= after_.size() &&
        f.compare(f.size() - after_.size(), after_.size(), after_) == 0) {
      armed = true;
    }
    return target()->NewSequentialFile(f, o, r, d);
  }
  rocksdb::IOStatus GetChildren(const std::string& dir, const rocksdb::IOOptions& o,
                                std::vector<std::string>* r, rocksdb::IODebugContext* d) override {
    if (after_.empty() ? armed.load() : armed.exchange(false)) {
      ++calls;
      at_();
    }
    return target()->GetChildren(dir, o, r, d);
  }
  std::atomic<bool> armed{false};
  std::atomic<int> calls{0};

 private:
  std::function<void()> at_;
  std::string after_;
};

// Opens a Canopy database whose RocksDB uses `env` (e.g. FaultFs::NewEnv):
// what Db::Open does for a database that is not a replica.
Status OpenDbWithEnv(const Options& options, const std::string& path, rocksdb::Env* env,
                     std::unique_ptr<Db>* db);

}  // namespace canopy::testing

#endif  // CANOPY_TESTS_FAULT_FS_H_
