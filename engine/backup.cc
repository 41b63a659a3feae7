// Copyright (c) Canopy authors.
//
// Db::Backup and Db::Restore (include/canopy/db.h): a backup is a
// checkpoint written under a scratch name beside its folder, opened and
// integrity-checked, then renamed to its name; a restore copies a backup
// under a scratch name beside the target, checks the copy the same way and
// renames it into place. Either way the name appears only for a copy that
// passed, and is synced with its folder.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include <rocksdb/env.h>

#include "canopy/db.h"
#include "engine/db_impl.h"
#include "engine/folder_copies.h"
#include "query/catalog_image.h"
#include "storage/files_position.h"
#include "storage/fd.h"
#include "storage/store.h"

namespace canopy {

namespace fs = std::filesystem;

namespace {

using engine::MoveCopyInto;
using engine::Named;
using engine::Renamed;
using engine::ScratchBeside;

Status SyncPath(const std::string& path, bool folder) {
  const int fd = ::open(path.c_str(), (folder ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::IOError("cannot open '" + path + "' to sync it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError("cannot sync '" + path + "': " + std::strerror(err));
  return Status::Ok();
}

// The parent folder of `dir` ("." for a bare name).
std::string ParentOf(const fs::path& dir) {
  const fs::path parent = fs::absolute(dir).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Opens the copy in `dir` read-only and runs the integrity check (which
// reads every block of every table file too); `what` names it in errors
// ("backup '<dir>'"), and `source` is the folder whose files `dir` copies:
// a damaged file is named there, not in the scratch copy the error
// removes.
// `progress` (may be empty) is the check's (CheckIntegrity): Aborted when
// it cancels, with `cancelled` as the message.
Status Verify(const std::string& dir, const std::string& what, const std::string& source,
              const ProgressFn& progress, const std::string& cancelled) {
  Options o;
  o.read_only = true;
  o.create_if_missing = false;
  std::unique_ptr<Db> db;
  Status s = Db::Open(o, dir, &db);
  if (!s.ok()) {
    return Status(s.code() == Code::kIOError ? Code::kIOError : Code::kCorruption,
                  what + " does not open as a Canopy database: " +
                      Renamed(s.message(), dir, source));
  }
  std::vector<std::string> problems;
  s = db->CheckIntegrity(&problems, progress);
  if (s.code() == Code::kAborted) return Status::Aborted(cancelled);
  if (!s.ok()) {
    // Problems found, or a read that failed before they could be counted.
    const std::string found =
        problems.empty() ? "" : " (" + std::to_string(problems.size()) + " problem(s))";
    const std::string first = problems.empty() ? s.message() : problems.front();
    return Status(s.code() == Code::kIOError ? Code::kIOError : Code::kCorruption,
                  what + " fails the integrity check" + found + ": " +
                      Renamed(first, dir, source));
  }
  return db->Close();
}

// Copies the regular file `from` to the new file `to` with its permission
// bits, and syncs it; `copied(n)` hears of every piece of n bytes copied
// and returns false to stop (*stopped is then set, and `to` is left for
// the caller's scratch folder to take away).
Status CopyFile(const fs::path& from, const fs::path& to,
                const std::function<bool(uint64_t)>& copied, bool* stopped) {
  *stopped = false;
  const auto failed = [](const std::string& what, const fs::path& path) {
    return Status::IOError("cannot " + what + " '" + path.string() + "': " + std::strerror(errno));
  };
  storage::Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return failed("open", from);
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return failed("read", from);
  storage::Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777));
  if (out.get() < 0) return failed("create", to);
  // Pieces of 8 MiB: the kernel copies them (copy_file_range), or, where
  // it cannot between these file systems, read and write do.
  constexpr size_t kPiece = size_t{8} << 20;
  bool in_kernel = true;
  std::vector<char> buffer;
  for (;;) {
    ssize_t n = -1;
    if (in_kernel) {
      n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, kPiece, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
                    errno == EPERM)) {
        in_kernel = false;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return failed("copy", from);
    } else {
      buffer.resize(kPiece);
      n = ::read(in.get(), buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return failed("read", from);
      for (ssize_t at = 0; at < n;) {
        const ssize_t w = ::write(out.get(), buffer.data() + at, static_cast<size_t>(n - at));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return failed("write", to);
        at += w;
      }
    }
    if (n == 0) break;
    if (!copied(static_cast<uint64_t>(n))) {
      *stopped = true;
      return Status::Ok();
    }
  }
  if (::fsync(out.get()) != 0) return failed("sync", to);
  if (!out.Close()) return failed("close", to);
  return Status::Ok();
}

// Removes a scratch copy when the operation fails (or is left unfinished).
class ScratchGuard {
 public:
  explicit ScratchGuard(std::string path) : path_(std::move(path)) {}
  ~ScratchGuard() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  void Keep() { path_.clear(); }

 private:
  std::string path_;
};

}  // namespace

StatusOr<uint64_t> Db::Backup(std::string_view dir, const ProgressFn& progress) {
  if (dir.empty()) return Status::InvalidArgument("backup folder is empty");
  const fs::path target{std::string(dir)};
  std::error_code ec;
  if (fs::exists(fs::symlink_status(target, ec))) {
    return Status::AlreadyExists("backup folder '" + target.string() + "' already exists");
  }
  // The checkpoint goes one level down, into a scratch folder beside the
  // target: never directly inside the folder of a replica's checkpoints,
  // where Checkpoint would register it in etcd under its scratch name.
  const std::string scratch_root = ScratchBeside(target);
  ScratchGuard guard(scratch_root);
  const std::string scratch = (fs::path(scratch_root) / "db").string();
  // (The copy's files are the database's, linked or copied.) Its check
  // runs on the copy, but its callback runs inside this call: this
  // database refuses a Close from it, as from its own operations' callbacks.
  auto* impl = dynamic_cast<engine::DbImpl*>(this);
  // A checkpoint, synced, parents created; refusals name the backup (and
  // the scratch folder is never registered as a replica's checkpoint).
  StatusOr<uint64_t> rev = [&]() -> StatusOr<uint64_t> {
    if (impl == nullptr) return Checkpoint(scratch);
    uint64_t at = 0;
    CANOPY_RETURN_IF_ERROR(impl->TakeCheckpoint(scratch, &at, "backup"));
    return at;
  }();
  if (!rev.ok()) {
    if (rev.status().code() != Code::kInvalidArgument) return rev.status();
    // E.g. inside the database folder: say which argument was wrong, by
    // the name the caller gave (the scratch folder is ours, not theirs).
    const std::string named =
        std::string(impl != nullptr ? "backup" : "checkpoint") + " folder '" + scratch + "'";
    const std::string& m = rev.status().message();
    if (m.rfind(named, 0) == 0) {
      return Status::InvalidArgument("backup folder '" + target.string() + "'" +
                                     m.substr(named.size()));
    }
    return Status::InvalidArgument("backup folder '" + target.string() + "': " + m);
  }
  CANOPY_RETURN_IF_ERROR(Verify(scratch, "backup '" + target.string() + "'", "the database folder",
                                impl != nullptr ? impl->InCallback(progress, "backup") : progress,
                                "backup cancelled; '" + target.string() + "' was not written"));
  if (fs::exists(fs::symlink_status(target, ec))) {
    return Status::AlreadyExists("backup folder '" + target.string() + "' already exists");
  }
  CANOPY_RETURN_IF_ERROR(MoveCopyInto(scratch, target, false, "backup folder"));
  CANOPY_RETURN_IF_ERROR(SyncPath(ParentOf(target), true));
  return *rev;  // the guard removes the emptied scratch folder
}

Status Db::Restore(std::string_view backup, std::string_view dir, const ProgressFn& progress) {
  if (backup.empty()) return Status::InvalidArgument("backup folder is empty");
  if (dir.empty()) return Status::InvalidArgument("restore folder is empty");
  const fs::path from{std::string(backup)}, target{std::string(dir)};
  const std::string what = "backup '" + from.string() + "'";
  std::error_code ec;
  const auto from_status = fs::status(from, ec);
  if (!fs::exists(from_status)) return Status::NotFound(what + " does not exist");
  if (!fs::is_directory(from_status)) {
    return Status::InvalidArgument(what + " is not a folder (a backup is the folder canopy backup wrote)");
  }
  // The target: absent, or an empty folder (replaced by the rename).
  const auto target_status = fs::symlink_status(target, ec);
  if (fs::exists(target_status)) {
    if (!fs::is_directory(target_status)) {
      return Status::AlreadyExists("restore target '" + target.string() + "' exists and is not a folder");
    }
    if (!fs::is_empty(target, ec) || ec) {
      return Status::AlreadyExists("restore target '" + target.string() +
                                   "' is not empty (restore never replaces a database; give a new folder)");
    }
  }
  if (fs::equivalent(from, target, ec)) {
    return Status::InvalidArgument("restore target '" + target.string() + "' is the backup itself");
  }
  {
    // Nor inside it: the copy would copy itself (and add to the backup).
    std::error_code ca, cb;
    const fs::path src = fs::weakly_canonical(from, ca), dst = fs::weakly_canonical(target, cb);
    const fs::path rel = dst.lexically_relative(src);
    if (!ca && !cb && !rel.empty() && *rel.begin() != "..") {
      return Status::InvalidArgument("restore target '" + target.string() + "' is inside " + what +
                                     "; restore into a folder outside it");
    }
  }
  {
    // A database open (in this process or another) changes under the
    // copy: refused, its LOCK file being locked (a backup's never is).
    // The answer holds for the moment asked.
    engine::DatabaseLock probe;
    if (!probe.Take(from)) {
      return Status::FailedPrecondition(
          what + " is a database that is open, not a backup; make one with canopy backup "
                 "(Db::Backup), which copies a database in use consistently");
    }
  }
  // A folder without RocksDB's CURRENT file is no database: said before
  // its bytes are copied (a large folder took the whole copy to be told).
  if (!fs::is_regular_file(from / "CURRENT", ec)) {
    return Status::Corruption(what + " does not open as a Canopy database: it has no CURRENT "
                                     "file, so it holds no database (a backup is the folder "
                                     "canopy backup wrote)");
  }
  const fs::path parent = ParentOf(target);
  fs::create_directories(parent, ec);
  if (ec) return Status::IOError("cannot create '" + parent.string() + "': " + ec.message());

  const std::string scratch = ScratchBeside(target);
  ScratchGuard guard(scratch);
  // A real copy (not hard links): the restored database appends to its
  // files, which must not change the backup. What is copied is listed
  // first, so that progress can say how many bytes are left.
  fs::create_directory(scratch, ec);
  if (ec) return Status::IOError("cannot create '" + scratch + "': " + ec.message());
  struct Item {
    fs::path from, to;
    bool folder;
  };
  std::vector<Item> items;
  uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(from, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    // Lexically: fs::relative follows symbolic links, and a link would be
    // named by what it points to.
    const fs::path rel = it->path().lexically_relative(from);
    const auto st = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(st)) {
      items.push_back({it->path(), fs::path(scratch) / rel, true});
    } else if (fs::is_regular_file(st)) {
      if (rel == "LOCK") continue;  // RocksDB's lock file: the copy makes its own
      // A catalog image and a files record belong to the folder that
      // wrote them (a backup has neither): the restored database writes
      // its own.
      if (rel == query::kCatalogImageFile ||
          rel == std::string(query::kCatalogImageFile) + ".tmp" ||
          rel == storage::kFilesRecordFile ||
          rel == std::string(storage::kFilesRecordFile) + ".tmp") {
        continue;
      }
      const uint64_t size = it->file_size(ec);
      if (ec) break;
      items.push_back({it->path(), fs::path(scratch) / rel, false});
      total += size;
    } else {
      return Status::InvalidArgument(
          what + " holds '" + rel.string() + "', " +
          (fs::is_symlink(st) ? "a symbolic link (a backup holds files and folders only)"
                              : "which is neither a file nor a folder"));
    }
  }
  if (ec) return Status::IOError("cannot read " + what + ": " + ec.message());
  const std::string cancelled = "restore cancelled; '" + target.string() + "' is as it was";
  uint64_t done = 0;
  const auto report = [&](uint64_t n) {
    done += n;
    return !progress || progress(done, std::max(done, total));  // (a file may have grown)
  };
  if (!report(0)) return Status::Aborted(cancelled);
  for (const Item& item : items) {
    if (item.folder) {
      fs::create_directory(item.to, ec);
      if (ec) {
        return Status::IOError("cannot create '" + item.to.string() + "': " + ec.message());
      }
      continue;
    }
    bool stopped = false;
    CANOPY_RETURN_IF_ERROR(CopyFile(item.from, item.to, report, &stopped));
    if (stopped) return Status::Aborted(cancelled);
  }
  // The copy's last report says done == total (a file that shrank since
  // it was listed leaves it short).
  if (progress && done != total && !progress(done, done)) return Status::Aborted(cancelled);
  for (auto it = fs::recursive_directory_iterator(scratch, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory()) CANOPY_RETURN_IF_ERROR(SyncPath(it->path().string(), true));
  }
  CANOPY_RETURN_IF_ERROR(SyncPath(scratch, true));
  CANOPY_RETURN_IF_ERROR(Verify(scratch, what, Named(from).string(), progress, cancelled));
  CANOPY_RETURN_IF_ERROR(MoveCopyInto(scratch, target, true, "restore target"));
  guard.Keep();
  return SyncPath(parent.string(), true);
}

}  // namespace canopy
