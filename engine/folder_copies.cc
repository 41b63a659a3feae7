// Copyright (c) Canopy authors.

#include "engine/folder_copies.h"

#include <fcntl.h>

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

DatabaseLock::~DatabaseLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool DatabaseLock::Take(const fs::path& folder) {
  const fs::path lock = Named(folder) / "LOCK";
  fd_ = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) return true;  // none: nobody has a database open there
  struct flock f {};
  f.l_type = F_WRLCK;
  f.l_whence = SEEK_SET;
  return ::fcntl(fd_, F_SETLK, &f) == 0;
}

std::string Renamed(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace canopy::engine
