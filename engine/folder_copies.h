// Copyright (c) Canopy authors.
//
// Whole-folder copies made under a scratch name beside their target and
// renamed into place only when whole (backups, restores, the checkpoints
// of read-only and follower opens): a copy cut short never stands under
// the name asked for. Stateless; any thread.

#ifndef CANOPY_ENGINE_FOLDER_COPIES_H_
#define CANOPY_ENGINE_FOLDER_COPIES_H_

#include <filesystem>
#include <string>

#include "canopy/status.h"

namespace rocksdb {
class FileLock;
}

namespace canopy::engine {

// `dir` without a trailing slash ("b/" is "b"): the name made.
std::filesystem::path Named(const std::filesystem::path& dir);

// A name beside `dir` for its copy in progress, "<dir>.partial-<pid>-<n>";
// nothing there yet. Copies that killed processes left there go first.
std::string ScratchBeside(const std::filesystem::path& dir);
// Only that removal: the copies killed processes left beside `dir` (a
// checkpoint RocksDB writes under a scratch name of its own removes them
// as every other copy does).
void RemoveDeadScratchBeside(const std::filesystem::path& dir);

// Moves the finished copy `scratch` to `target`. A target that must not
// exist is never replaced (RENAME_NOREPLACE); with `may_be_empty_folder`
// (a restore) an empty folder there is. Either way a target another call
// filled meanwhile is AlreadyExists ("<what> '<target>' was written by
// another call meanwhile"); IOError otherwise.
Status MoveCopyInto(const std::string& scratch, const std::filesystem::path& target,
                    bool may_be_empty_folder, const std::string& what);

// `text` with every mention of the folder `from` said as `to` (an error
// about a scratch copy, told by the name the caller gave).
std::string Renamed(std::string text, const std::string& from, const std::string& to);

// Swaps the folders `a` and `b` in one step (renameat2 RENAME_EXCHANGE):
// each name holds one whole folder or the other at every moment, whatever
// crashes when. NotSupported when the file system cannot (nothing moved);
// IOError otherwise.
Status ExchangeFolders(const std::filesystem::path& a, const std::filesystem::path& b);

// RocksDB's lock on the database in a folder, taken as RocksDB takes it
// (rocksdb::Env::LockFile: an fcntl lock on the folder's LOCK file, and
// RocksDB's record of this process's own locks, so that a database open
// in this process counts too; closing a descriptor of the file would drop
// them, which Env never does). While it is held, no process opens the
// database there. Destroying it releases the lock. One thread.
class DatabaseLock {
 public:
  DatabaseLock() = default;
  ~DatabaseLock();
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;
  // False when the database is open, in this process or another. True
  // when the lock is taken; also true, holding nothing, for a folder
  // without a LOCK file (no database was ever opened there) and for a
  // LOCK this process may not write (another user's, a read-only folder)
  // that nobody holds.
  bool Take(const std::filesystem::path& folder);

 private:
  rocksdb::FileLock* held_ = nullptr;
};

}  // namespace canopy::engine

#endif  // CANOPY_ENGINE_FOLDER_COPIES_H_
