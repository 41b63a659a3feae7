// Copyright (c) Canopy authors.

#include "engine/folder_copies.h"

#include <fcntl.h>
#include <rocksdb/env.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "storage/store.h"

namespace canopy::engine {

namespace fs = std::filesystem;

fs::path Named(const fs::path& dir) { return dir.has_filename() ? dir : dir.parent_path(); }

std::string ScratchBeside(const fs::path& dir) {
  return storage::PidScratchName(Named(dir).parent_path(),
                                 Named(dir).filename().string() + ".partial-");
}

void RemoveDeadScratchBeside(const fs::path& dir) {
  storage::RemoveDeadScratch(Named(dir).parent_path(),
                             Named(dir).filename().string() + ".partial-");
}

Status MoveCopyInto(const std::string& scratch, const fs::path& target, bool may_be_empty_folder,
                    const std::string& what) {
  const int r = may_be_empty_folder
                    ? ::rename(scratch.c_str(), target.c_str())
                    : ::renameat2(AT_FDCWD, scratch.c_str(), AT_FDCWD, target.c_str(),
                                  RENAME_NOREPLACE);
  if (r == 0) return Status::Ok();
  const int err = errno;
  if (err == EEXIST || err == ENOTEMPTY) {
    return Status::AlreadyExists(what + " '" + target.string() +
                                 "' was written by another call meanwhile");
  }
  return Status::IOError("cannot rename '" + scratch + "' to '" + target.string() +
                         "': " + std::strerror(err));
}

Status ExchangeFolders(const fs::path& a, const fs::path& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) {
    return Status::Ok();
  }
  const int err = errno;
  if (err == EINVAL || err == ENOSYS || err == ENOTSUP) {
    return Status::NotSupported("the file system of '" + b.string() +
                                "' cannot swap two folders in one step (renameat2 "
                                "RENAME_EXCHANGE): " + std::strerror(err));
  }
  return Status::IOError("cannot swap '" + a.string() + "' and '" + b.string() +
                         "': " + std::strerror(err));
}

DatabaseLock::~DatabaseLock() {
  if (held_ != nullptr) rocksdb::Env::Default()->UnlockFile(held_).PermitUncheckedError();
}

bool DatabaseLock::Take(const fs::path& folder) {
  const std::string lock = (Named(folder) / "LOCK").string();
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(lock, ec))) return true;  // never opened there
  if (::access(lock.c_str(), W_OK) != 0) {
    // Not this process's to lock: only asked whether someone holds it.
    const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
    struct flock probe {};
    probe.l_type = F_RDLCK;
    probe.l_whence = SEEK_SET;
    const bool busy = fd >= 0 && ::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
    if (fd >= 0) ::close(fd);
    return !busy;
  }
  return rocksdb::Env::Default()->LockFile(lock, &held_).ok();
}

std::string Renamed(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace canopy::engine
