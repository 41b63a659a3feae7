// Copyright (c) Canopy authors.

#include "storage/files_position.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include <rocksdb/db.h>
#include <xxhash.h>

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

// XXH3-64 of the first `size` bytes of the file at `path`: false when it
// holds fewer or cannot be read. Opened without waiting (a pipe is no
// MANIFEST).
bool HashPrefix(const std::string& path, uint64_t size, uint64_t* hash) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) < size) {
    return false;
  }
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return false;
  XXH3_64bits_reset(state);
  char buf[1 << 16];
  uint64_t left = size;
  bool ok = true;
  while (left > 0) {
    const ssize_t n = ::read(fd.get(), buf, static_cast<size_t>(std::min<uint64_t>(left, sizeof buf)));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      ok = false;
      break;
    }
    XXH3_64bits_update(state, buf, static_cast<size_t>(n));
    left -= static_cast<uint64_t>(n);
  }
  if (ok) *hash = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return ok;
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
      position->has_manifest_hash =
          HashPrefix(store.path() + "/" + ManifestName(number), size, &position->manifest_hash);
      return Status::Ok();
    }
  }
  return Status::Internal("RocksDB listed no MANIFEST among the live files");
}

bool ReadFilesPosition(const std::string& folder, FilesPosition* position) {
  *position = FilesPosition();
  std::string identity, current;
  uint64_t number = 0;
  // Without IDENTITY (RocksDB makes a new one at open) the identity stays
  // empty: the files are then nobody's in particular.
  (void)ReadSmallFile(folder + "/IDENTITY", &identity);
  if (!ReadSmallFile(folder + "/CURRENT", &current) || !ManifestNumber(current, &number)) {
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
           ManifestName(then.manifest_number) + ", which a writer last left it with";
    return true;
  }
  if (now.manifest_number == then.manifest_number && now.manifest_size < then.manifest_size) {
    *how = "its " + ManifestName(now.manifest_number) + " holds " +
           std::to_string(now.manifest_size) + " bytes, fewer than the " +
           std::to_string(then.manifest_size) + " a writer last left it with";
    return true;
  }
  return false;
}

Status WriteFilesRecord(const std::string& folder, const FilesPosition& position) {
  const std::string path = folder + "/" + kFilesRecordFile;
  const std::string tmp = path + ".tmp";
  std::string text = "identity " + position.identity + "\nmanifest " +
                     std::to_string(position.manifest_number) + "\nmanifest-size " +
                     std::to_string(position.manifest_size) + "\n";
  if (position.has_manifest_hash) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(position.manifest_hash));
    text += "manifest-hash " + std::string(hex) + "\n";
  }
  ::unlink(tmp.c_str());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  bool ok = fd.get() >= 0 && ::write(fd.get(), text.data(), text.size()) ==
                                 static_cast<ssize_t>(text.size());
  ok = fd.Close() && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return Status::IOError("cannot write '" + path + "': " + std::strerror(e));
  }
  return Status::Ok();
}

bool ReadFilesRecord(const std::string& folder, FilesPosition* position) {
  *position = FilesPosition();
  std::string text;
  if (!ReadSmallFile(folder + "/" + kFilesRecordFile, &text)) return false;
  FilesPosition p;
  bool has_number = false, has_size = false;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    const size_t space = line.find(' ');
    if (space == std::string::npos) return false;
    const std::string name = line.substr(0, space), value = line.substr(space + 1);
    auto number = [&](uint64_t* out) {
      if (value.empty() || value.size() > 19 ||
          value.find_first_not_of("0123456789") != std::string::npos) {
        return false;
      }
      *out = std::stoull(value);
      return true;
    };
    if (name == "identity") {
      p.identity = value;
    } else if (name == "manifest") {
      if (!number(&p.manifest_number)) return false;
      has_number = true;
    } else if (name == "manifest-size") {
      if (!number(&p.manifest_size)) return false;
      has_size = true;
    } else if (name == "manifest-hash") {
      if (value.size() != 16 || value.find_first_not_of("0123456789abcdef") != std::string::npos) {
        return false;
      }
      p.manifest_hash = std::stoull(value, nullptr, 16);
      p.has_manifest_hash = true;
    }  // other lines: written by a later version, ignored
  }
  if (p.identity.empty() || !has_number || !has_size) return false;
  *position = std::move(p);
  return true;
}

Status RefuseFilesBehindRecord(const std::string& folder) {
  FilesPosition then, now;
  // The record first, the files after: a writer that writes a record
  // meanwhile records a position the files then hold at least (CURRENT's
  // MANIFEST number only grows, a MANIFEST only grows).
  if (!ReadFilesRecord(folder, &then) || !ReadFilesPosition(folder, &now)) return Status::Ok();
  std::string how;
  uint64_t hash = 0;
  const std::string recorded_manifest = folder + "/" + ManifestName(then.manifest_number);
  if (!then.identity.empty() && then.identity == now.identity &&
      now.manifest_number == then.manifest_number && now.manifest_size >= then.manifest_size &&
      then.has_manifest_hash && HashPrefix(recorded_manifest, then.manifest_size, &hash) &&
      hash != then.manifest_hash) {
    how = "the first " + std::to_string(then.manifest_size) + " bytes of its " +
          ManifestName(now.manifest_number) + " are not those a writer last left it with "
          "(changed in place: damage RocksDB may read past, opening an older state)";
  } else if (!FilesWentBack(then, now, &how)) {
    // Another database's files (another IDENTITY, or none) beside the
    // MANIFEST of the one last written here: its files would be deleted.
    struct stat st {};
    const std::string recorded = ManifestName(then.manifest_number);
    if (then.identity == now.identity || now.manifest_number == then.manifest_number ||
        ::stat(recorded_manifest.c_str(), &st) != 0) {
      return Status::Ok();
    }
    how = "its CURRENT file names " + ManifestName(now.manifest_number) + " of another " +
          "database (" + (now.identity.empty() ? "no IDENTITY file" : "IDENTITY " + now.identity) +
          "), while " + recorded + " of the database last written here (IDENTITY " +
          then.identity + ") is still in the folder";
  }
  // The MANIFEST to point CURRENT back at, when it is still there: the
  // newest one at or after the recorded one (a writer that changed nothing
  // may have left a later one than the record names).
  std::string back;
  uint64_t newest = 0;
  if (then.identity != now.identity) {
    back = ManifestName(then.manifest_number);
  } else if (now.manifest_number < then.manifest_number && NewestManifest(folder, &newest) &&
             newest >= then.manifest_number) {
    back = ManifestName(newest);
  }
  std::string newer;
  if (!back.empty()) {
    newer = " " + back + " is still in the folder: other files were copied over newer ones, "
            "and pointing CURRENT back at it (a file holding the line \"" + back +
            "\") may bring the newer state back.";
  }
  return Status::Corruption(
      "the database in '" + folder + "' went back to an older state: " + how +
      " (as Canopy's record of its files, " + kFilesRecordFile + ", says): its MANIFEST is "
      "damaged or cut, or older files were copied over it. Nothing was opened or changed." +
      newer + " Restore it from a backup; to open the older state as it is, remove " +
      kFilesRecordFile + " and CANOPY-CATALOG from the folder (opening it for writing then "
      "deletes the newer files)");
}

}  // namespace canopy::storage
