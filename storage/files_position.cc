// Copyright (c) Canopy authors.

#include "storage/files_position.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <system_error>
#include <vector>

#include <rocksdb/db.h>

#include "storage/fd.h"
#include "storage/store.h"

namespace canopy::storage {

namespace {

constexpr std::string_view kManifest = "MANIFEST-";

// "MANIFEST-000012" (with or without a leading '/') -> 12.
bool ManifestNumber(std::string_view name, uint64_t* number) {
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  if (name.substr(0, kManifest.size()) != kManifest) return false;
  name.remove_prefix(kManifest.size());
  if (name.empty() || name.size() > 19) return false;
  uint64_t n = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *number = n;
  return true;
}

// A small regular file's text, without its trailing white space; opened
// without waiting, so a pipe in its place is refused, not read.
bool ReadSmallFile(const std::string& path, std::string* text) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size > 4096) {
    return false;
  }
  char buf[4096];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return false;
  std::string t(buf, static_cast<size_t>(n));
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  *text = std::move(t);
  return !text->empty();
}

}  // namespace

std::string ManifestName(uint64_t number) {
  char name[40];
  std::snprintf(name, sizeof name, "MANIFEST-%06llu", static_cast<unsigned long long>(number));
  return name;
}

Status FilesPositionOf(const Store& store, FilesPosition* position) {
  *position = FilesPosition();
  rocksdb::DB* db = store.db();
  if (db == nullptr) return Status::FailedPrecondition("the store is closed");
  std::string identity;
  if (rocksdb::Status s = db->GetDbIdentity(identity); !s.ok()) {
    return Status::IOError("cannot read the database's identity: " + s.ToString());
  }
  std::vector<std::string> files;
  uint64_t size = 0;
  if (rocksdb::Status s = db->GetLiveFiles(files, &size, /*flush_memtable=*/false); !s.ok()) {
    return Status::IOError("cannot list the database's live files: " + s.ToString());
  }
  for (const std::string& f : files) {
    uint64_t number = 0;
    if (ManifestNumber(f, &number)) {
      position->identity = std::move(identity);
      position->manifest_number = number;
      position->manifest_size = size;
      return Status::Ok();
    }
  }
  return Status::Internal("RocksDB listed no MANIFEST among the live files");
}

bool ReadFilesPosition(const std::string& folder, FilesPosition* position) {
  *position = FilesPosition();
  std::string identity, current;
  uint64_t number = 0;
  if (!ReadSmallFile(folder + "/IDENTITY", &identity) ||
      !ReadSmallFile(folder + "/CURRENT", &current) || !ManifestNumber(current, &number)) {
    return false;
  }
  struct stat st {};
  const std::string manifest = folder + "/" + current;
  if (::stat(manifest.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  position->identity = std::move(identity);
  position->manifest_number = number;
  position->manifest_size = static_cast<uint64_t>(st.st_size);
  return true;
}

bool NewestManifest(const std::string& folder, uint64_t* number) {
  std::error_code ec;
  bool found = false;
  *number = 0;
  for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end;
       it.increment(ec)) {
    uint64_t n = 0;
    if (ManifestNumber(it->path().filename().string(), &n) && (!found || n > *number)) {
      *number = n;
      found = true;
    }
  }
  return found;
}

bool FilesWentBack(const FilesPosition& then, const FilesPosition& now, std::string* how) {
  if (then.identity.empty() || then.identity != now.identity) return false;
  if (now.manifest_number < then.manifest_number) {
    *how = "its CURRENT file names " + ManifestName(now.manifest_number) + ", older than " +
           ManifestName(then.manifest_number) + " that it was closed with";
    return true;
  }
  if (now.manifest_number == then.manifest_number && now.manifest_size < then.manifest_size) {
    *how = "its " + ManifestName(now.manifest_number) + " holds " +
           std::to_string(now.manifest_size) + " bytes, fewer than the " +
           std::to_string(then.manifest_size) + " it held when it was closed";
    return true;
  }
  return false;
}

}  // namespace canopy::storage
