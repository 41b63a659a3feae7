// Copyright (c) Canopy authors.

#include "storage/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/rate_limiter.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/utilities/options_util.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <random>
#include <thread>
#include <vector>

#include "canopy/version.h"
#include "storage/counters.h"
#include "storage/files_position.h"
#include "storage/forks.h"

namespace canopy::storage {

namespace {

// The groups key space's memtable insert hints. A batch of members is
// written in key order, as pairs: 'm' group member, then 'r' class member
// group. The memtable keeps one insert position per hint prefix, so that
// each key goes in next to the previous key of its prefix instead of
// searching the whole skip list. The prefix is one group's member keys
// ('m' and the group: 9 bytes), or one class's member links ('r' and the
// class: 2 bytes; a prefix of 9 bytes would change every few members and
// cost a fresh position each). Memory only: nothing on disk depends on it.
class GroupsInsertHint final : public rocksdb::SliceTransform {
 public:
  static constexpr const char* kClassName() { return "canopy.GroupsInsertHint"; }
  const char* Name() const override { return kClassName(); }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key[0] == kGroupMemberPrefix ? 9 : 2);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return (key.size() >= 9 && key[0] == kGroupMemberPrefix) ||
           (key.size() >= 2 && key[0] == kMemberGroupPrefix);
  }
};

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The number of the MANIFEST the folder's CURRENT names (0: unknown). A
// writer's open starts a new one.
uint64_t ManifestNumber(const std::string& path) {
  FilesPosition p;
  return ReadFilesPosition(path, &p) ? p.manifest_number : 0;
}

// How many table files the folder holds (0 when it cannot be listed).
size_t TableFiles(const std::string& path) {
  size_t tables = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
    if (e.path().extension() == ".sst") ++tables;
  }
  return tables;
}

// A folder of at most this many table files has them opened on the
// opening thread (Store::Open).
constexpr size_t kFewTableFiles = 256;

// The newest sequence number held in `db`'s table files (of any key
// space): a flush or an ingestion writes a table newer than all before it;
// a compaction never does.
uint64_t NewestTableSeqno(rocksdb::DB* db) {
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  uint64_t newest = 0;
  for (const auto& f : files) newest = std::max<uint64_t>(newest, f.largest_seqno);
  return newest;
}

// Which MANIFEST the folder's CURRENT names, and how long it is: a writer
// that flushes, compacts or opens changes it.
std::string ManifestState(const std::string& path) {
  FilesPosition p;
  if (!ReadFilesPosition(path, &p)) return "?";
  return ManifestName(p.manifest_number) + ":" + std::to_string(p.manifest_size);
}

// A reader's attempts (open or catch-up) that find a file its MANIFEST
// names gone. After the last one: a writer's race (it kept replacing the
// files being read: busy, not damaged) when the MANIFEST changed since
// the first miss and the last misses were not all of one file; damage
// when nothing wrote, or when the same file stayed missing however often
// the MANIFEST was read again (a writer keeps its files open, so it can go
// on writing beside a deleted one).
class VanishedFiles {
 public:
  explicit VanishedFiles(std::string path) : path_(std::move(path)) {}
  // False for any other error (no retry).
  bool Saw(const rocksdb::Status& s) {
    std::string text = s.ToString();
    if (text.find("No such file or directory") == std::string::npos) return false;
    if (first_manifest_.empty()) first_manifest_ = ManifestState(path_);
    same_ = text == last_ ? same_ + 1 : 1;
    last_ = std::move(text);
    return true;
  }
  bool WriterRace() const { return same_ < 3 && ManifestState(path_) != first_manifest_; }

 private:
  std::string path_;
  std::string first_manifest_;
  std::string last_;
  int same_ = 0;
};

// A reader that kept finding files gone while a writer replaced them:
// busy, not damaged, and worth trying again (Unavailable).
Status WriterRace(const std::string& what, const rocksdb::Status& last) {
  return Status::Unavailable("cannot " + what + ": a writer kept replacing the files being read (" +
                             std::to_string(kReaderAttempts) + " attempts; last: " +
                             last.ToString() + "); try again");
}

bool Supported(rocksdb::CompressionType t) {
  auto all = rocksdb::GetSupportedCompressions();
  return std::find(all.begin(), all.end(), t) != all.end();
}

// Per-column-family tuning. Point-lookup spaces get a bloom filter (groups
// too: a check through a group grant reads one member key); the
// visibility index is scanned, so it gets larger blocks instead.
rocksdb::ColumnFamilyOptions CfOptions(int which, const std::shared_ptr<rocksdb::Cache>& cache,
                                       Compression compression) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  t.format_version = 5;
  switch (which) {
    case kVisibility:
      t.block_size = 16 * 1024;
      break;
    case kChanges:
      // The log is read in order, a page of entries at a time, and rarely
      // sought: large blocks compress it to less than half and read it
      // faster (fewer blocks to find and decompress per entry).
      t.block_size = 64 * 1024;
      break;
    case kAccountKeys:
    case kEntityKeys:
    case kUnitIds:
    case kUserLogins:
    case kEntities:
    case kAccounts:
    case kGroups:
      t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      t.whole_key_filtering = true;
      break;
    default:
      break;
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  switch (compression) {
    case Compression::kDefault:
      if (Supported(rocksdb::kLZ4Compression)) o.compression = rocksdb::kLZ4Compression;
      if (Supported(rocksdb::kZSTD)) o.bottommost_compression = rocksdb::kZSTD;
      break;
    case Compression::kNone:
      o.compression = rocksdb::kNoCompression;
      break;
    case Compression::kLz4:
      o.compression = rocksdb::kLZ4Compression;
      break;
    case Compression::kZstd:
      o.compression = rocksdb::kZSTD;
      break;
  }
  if (which == kCounters) o.merge_operator = NewCounterMergeOperator();
  if (which == kGroups) {
    o.memtable_insert_with_hint_prefix_extractor = std::make_shared<GroupsInsertHint>();
  }
  return o;
}

// RocksDB's messages for a database opened for writing without
// StoreOptions::log: appended to LOG in its folder (when LOG passes
// kFolderLogBytes it becomes LOG.old, replacing the one before), which is
// opened at the first message. What cannot be written (a full disk, a
// read-only folder) is dropped: RocksDB's own file logger aborts the
// process (an assertion in its file writer) at the first message after a
// failed write, so a full disk would kill every writer.
class FolderLog {
 public:
  static constexpr long kFolderLogBytes = 8 << 20;
  explicit FolderLog(const std::string& folder)
      : path_((std::filesystem::path(folder) / "LOG").string()),
        old_((std::filesystem::path(folder) / "LOG.old").string()) {}
  FolderLog(const FolderLog&) = delete;
  FolderLog& operator=(const FolderLog&) = delete;
  ~FolderLog() {
    if (file_ != nullptr) std::fclose(file_);
  }
  void Write(LogLevel level, std::string_view text) {
    static constexpr const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    const auto now = std::chrono::system_clock::now();
    const std::time_t secs = std::chrono::system_clock::to_time_t(now);
    const long micros = static_cast<long>(
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
        1000000);
    std::tm tm{};
    localtime_r(&secs, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof(stamp), "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %s ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  micros, kNames[std::min<size_t>(static_cast<size_t>(level), 3)]);
    std::string line = stamp;
    line.append(text);
    if (line.back() != '\n') line += '\n';
    std::lock_guard<std::mutex> lock(mu_);
    if (file_ != nullptr && rotate_ && std::ftell(file_) > kFolderLogBytes) {
      std::fclose(file_);
      file_ = nullptr;
      // A LOG.old that cannot be replaced: LOG grows on, not reopened at
      // every message.
      rotate_ = std::rename(path_.c_str(), old_.c_str()) == 0;
    }
    // After failed opens, tried again at every 64th message only.
    if (file_ == nullptr && (failed_opens_ < 3 || failed_opens_ % 64 == 0)) file_ = Open();
    if (file_ == nullptr) {
      ++failed_opens_;
      return;
    }
    failed_opens_ = 0;
    // Warnings and errors are written at once; the rest (RocksDB's header
    // of some 1,400 lines at each open) waits in the stream's buffer for
    // the next of them or the close, instead of a write per line.
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() ||
        (level >= LogLevel::kWarn && std::fflush(file_) != 0)) {
      std::clearerr(file_);
    }
  }

 private:
  // A regular file only, not followed through a link and never waited for
  // (a FIFO).
  std::FILE* Open() const {
    const int fd = ::open(path_.c_str(),
                          O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) return nullptr;
    struct stat st;
    std::FILE* f = nullptr;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) f = ::fdopen(fd, "a");
    if (f == nullptr) ::close(fd);
    return f;
  }

  const std::string path_;
  const std::string old_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  bool rotate_ = true;
  uint64_t failed_opens_ = 0;
};

// RocksDB's messages to a sink: Options::log, a FolderLog, or nowhere.
class CallbackLogger final : public rocksdb::Logger {
 public:
  // `headers`: RocksDB's header lines (its version and options, at each
  // open) are passed on at any level, as its own LOG file keeps them.
  CallbackLogger(std::function<void(LogLevel, std::string_view)> fn, LogLevel level,
                 bool headers = false)
      : rocksdb::Logger(ToRocks(level)), fn_(std::move(fn)), headers_(headers) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::INFO_LEVEL, format, ap); }
  void LogHeader(const char* format, va_list ap) override {
    if (headers_) {
      Emit(rocksdb::INFO_LEVEL, format, ap);
    } else {
      Logv(rocksdb::INFO_LEVEL, format, ap);
    }
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    Emit(level, format, ap);
  }

 private:
  void Emit(const rocksdb::InfoLogLevel level, const char* format, va_list ap) {
    char buf[1024];
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(buf, sizeof(buf), format, copy);
    va_end(copy);
    std::string text;
    if (n >= static_cast<int>(sizeof(buf))) {
      text.resize(static_cast<size_t>(n) + 1);
      std::vsnprintf(text.data(), text.size(), format, ap);
      text.resize(static_cast<size_t>(n));
    } else if (n > 0) {
      text.assign(buf, static_cast<size_t>(n));
    }
    try {
      fn_(FromRocks(level), text);
    } catch (...) {
      // A callback must not throw into RocksDB's threads; drop it.
    }
  }

 public:
  static rocksdb::InfoLogLevel ToRocks(LogLevel l) {
    switch (l) {
      case LogLevel::kDebug: return rocksdb::DEBUG_LEVEL;
      case LogLevel::kInfo: return rocksdb::INFO_LEVEL;
      case LogLevel::kWarn: return rocksdb::WARN_LEVEL;
      case LogLevel::kError: return rocksdb::ERROR_LEVEL;
    }
    return rocksdb::WARN_LEVEL;
  }
  static LogLevel FromRocks(rocksdb::InfoLogLevel l) {
    if (l <= rocksdb::DEBUG_LEVEL) return LogLevel::kDebug;
    if (l == rocksdb::INFO_LEVEL) return LogLevel::kInfo;
    if (l == rocksdb::WARN_LEVEL) return LogLevel::kWarn;
    return LogLevel::kError;
  }

 private:
  std::function<void(LogLevel, std::string_view)> fn_;
  const bool headers_;
};

Status CheckTuning(const StoreOptions& o) {
  if (o.max_open_files != -1 && o.max_open_files < 16) {
    return Status::InvalidArgument("max_open_files must be -1 (no limit) or at least 16, not " +
                                   std::to_string(o.max_open_files));
  }
  if (o.compression == Compression::kLz4 && !Supported(rocksdb::kLZ4Compression)) {
    return Status::InvalidArgument("compression lz4 is not available in this build of RocksDB");
  }
  if (o.compression == Compression::kZstd && !Supported(rocksdb::kZSTD)) {
    return Status::InvalidArgument("compression zstd is not available in this build of RocksDB");
  }
  if (static_cast<uint8_t>(o.compression) > static_cast<uint8_t>(Compression::kZstd)) {
    return Status::InvalidArgument("unknown compression " +
                                   std::to_string(static_cast<int>(o.compression)));
  }
  if (static_cast<uint8_t>(o.log_level) > static_cast<uint8_t>(LogLevel::kError)) {
    return Status::InvalidArgument("unknown log level " +
                                   std::to_string(static_cast<int>(o.log_level)));
  }
  if (o.background_write_bytes_per_second > (uint64_t{1} << 50)) {
    return Status::InvalidArgument("background_write_bytes_per_second is out of range");
  }
  return Status::Ok();
}

}  // namespace

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::Ok();
  // RocksDB's text, with a kind it repeats ("Corruption: Corruption: ...")
  // said once.
  std::string text = s.ToString();
  for (size_t colon = text.find(": "); colon != std::string::npos; colon = text.find(": ")) {
    const std::string head = text.substr(0, colon + 2);
    if (text.compare(head.size(), head.size(), head) != 0) break;
    text.erase(0, head.size());
  }
  std::string msg(context);
  if (!msg.empty()) msg += ": ";
  msg += text;
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  if (s.IsNotSupported()) return Status::NotSupported(msg);
  if (s.IsIOError()) {
    if (text.find("lock hold by current process") != std::string::npos) {
      return Status::IOError(std::string(context) +
                             ": the database folder is in use by this process, already open in it (" +
                             text + "); use that Db, or close it first");
    }
    // RocksDB says "While lock file" when the lock itself is refused
    // (another process holds it), "while open a file for lock" when the
    // lock file cannot be made (a read-only folder, no permission).
    if (text.find("While lock file") != std::string::npos) {
      return Status::IOError(std::string(context) +
                             ": the database folder is in use by another process (" + text + ")");
    }
    return Status::IOError(msg);
  }
  return Status::IOError(msg);
}

Store::BoundedIterator::BoundedIterator(std::string lower, std::string upper)
    : lower_(std::move(lower)), upper_(std::move(upper)) {
  lower_slice_ = rocksdb::Slice(lower_);
  upper_slice_ = rocksdb::Slice(upper_);
}

namespace {

// Creating a database is made atomic with a marker file: the folder is
// claimed (an exclusive flock on the folder itself, so two processes never
// create in one folder at once), the marker is written and synced, RocksDB
// creates every key space and the format record is written with sync; only
// then is the marker removed. A folder that still holds the marker is a
// creation a crash interrupted: the next creating open wipes it and starts
// again, instead of finding half a database forever.
class CreationClaim {
 public:
  ~CreationClaim() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Takes the folder's creation lock (creating the folder if needed).
  Status Claim(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Status::IOError("cannot create the folder '" + path + "': " + ec.message());
    fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) {
      return Status::IOError("cannot open the folder '" + path + "': " + std::strerror(errno));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      return Status::IOError("the database folder '" + path +
                             "' is in use by another process (a database is being created there)");
    }
    return Status::Ok();
  }
  // Whether another process holds the creation lock of the folder at
  // `path` now: a creation under way, not one a crash interrupted.
  static bool HeldElsewhere(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);  // (releases the probe's lock, if it got one)
    return held;
  }
  // Makes the folder's entries (a new or removed marker) durable.
  Status SyncFolder(const std::string& path) const {
    if (::fsync(fd_) != 0) {
      return Status::IOError("cannot sync the folder '" + path + "': " + std::strerror(errno));
    }
    return Status::Ok();
  }

 private:
  int fd_ = -1;
};

Status WriteMarker(const std::filesystem::path& marker) {
  // O_NONBLOCK: a named pipe there is refused (ENXIO) instead of waiting.
  const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::IOError("cannot write '" + marker.string() + "': " + std::strerror(errno));
  }
  static constexpr char kText[] =
      "A Canopy database is being created in this folder. If this file remains, the creation "
      "was interrupted; the next open that may create a database starts it again.\n";
  bool ok = ::write(fd, kText, sizeof(kText) - 1) == static_cast<ssize_t>(sizeof(kText) - 1);
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok) return Status::IOError("cannot write '" + marker.string() + "': " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

namespace {
// A folder with RocksDB's files (a MANIFEST) but no CURRENT, and no
// creation marker: a database whose CURRENT file was lost.
bool LostItsCurrentFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec) ||
      std::filesystem::exists(std::filesystem::path(path) / kCreatingMarker, ec)) {
    return false;
  }
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.path().filename().string().rfind("MANIFEST-", 0) == 0) return true;
  }
  return false;
}
}  // namespace

Status RefuseInsideFolder(std::string_view what, const std::string& dir,
                          const std::string& folder) {
  std::error_code ec;
  const std::filesystem::path d = std::filesystem::weakly_canonical(dir, ec);
  if (ec) return Status::Ok();
  const std::filesystem::path f = std::filesystem::weakly_canonical(folder, ec);
  if (ec) return Status::Ok();
  const std::filesystem::path rel = d.lexically_relative(f);
  if (rel.empty() || *rel.begin() == "..") return Status::Ok();
  return Status::InvalidArgument(std::string(what) + " '" + dir +
                                 "' is inside the database folder '" + folder +
                                 "'; give a folder outside it (a database folder holds only the "
                                 "database's own files)");
}

void RemoveDeadScratch(const std::filesystem::path& parent, const std::string& stem) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path where = parent.empty() ? fs::path(".") : parent;
  for (fs::directory_iterator it(where, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(stem, 0) != 0) continue;
    const std::string rest = name.substr(stem.size());  // "<pid>-<n>"
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || dash > 9) continue;
    if (rest.find_first_not_of("0123456789-") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(rest.substr(0, dash)));
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    fs::remove_all(it->path(), rm);
  }
}

std::string PidScratchName(const std::filesystem::path& parent, const std::string& stem) {
  namespace fs = std::filesystem;
  std::error_code ec;
  RemoveDeadScratch(parent, stem);
  std::random_device rd;
  for (;;) {
    fs::path p = parent / stem;
    p += std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
    if (!fs::exists(fs::symlink_status(p, ec))) return p.string();
  }
}

bool HoldsDatabase(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(path) / "CURRENT", ec) &&
         !std::filesystem::exists(std::filesystem::path(path) / kCreatingMarker, ec);
}

namespace {

// RocksDB (before 8.3, facebook/rocksdb#11313) starts a new write-ahead log
// file at every open and deletes the previous one only once a flush moves
// past it, so opens that write nothing (every read-only command of the CLI
// on an idle database) leave one empty file each. An empty file holds
// nothing to recover; with the lock held none is written but the current
// one, and the manifest does not list WAL files (track_and_verify_wals_in_
// manifest is off), so those older than the current one are removed here,
// as RocksDB's fix does. A failure only leaves a file behind.
void RemoveEmptyOldWals(rocksdb::DB* db, const std::string& wal_dir) {
  namespace fs = std::filesystem;
  std::unique_ptr<rocksdb::LogFile> current;
  if (!db->GetCurrentWalFile(&current).ok() || current == nullptr) return;
  const uint64_t now = current->LogNumber();
  std::error_code ec;
  for (fs::directory_iterator it(wal_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
    uint64_t number = 0;
    const char* first = name.data();
    const char* last = name.data() + name.size() - 4;
    auto [p, e] = std::from_chars(first, last, number);
    if (e != std::errc() || p != last || number >= now) continue;
    std::error_code size_ec;
    if (it->is_regular_file(size_ec) && fs::file_size(it->path(), size_ec) == 0 && !size_ec) {
      fs::remove(it->path(), size_ec);
    }
  }
}

// A write-ahead log file: its name ("000455.log") and size.
struct WalFile {
  std::string name;
  uint64_t size = 0;
  bool operator<(const WalFile& o) const { return name < o.name; }
};

// The write-ahead log files in `wal_dir`, sorted by name (which is by
// number: RocksDB pads them); with `non_empty`, only those that hold
// records.
std::vector<WalFile> WalFiles(const std::string& wal_dir, bool non_empty) {
  namespace fs = std::filesystem;
  std::vector<WalFile> found;
  std::error_code ec;
  for (fs::directory_iterator it(wal_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
    std::error_code size_ec;
    const uint64_t size = it->is_regular_file(size_ec) ? fs::file_size(it->path(), size_ec) : 0;
    if (size_ec) continue;
    if (non_empty && size == 0) continue;
    found.push_back({name, size});
  }
  std::sort(found.begin(), found.end());
  return found;
}

// True when a log of `before` that may have held writes is not in `after`
// (both as WalFiles lists them): a flush deleted it. An empty log that a
// newer one had already replaced held nothing (a writer's open removes
// those); a log only added (a writer's open, a flush under way) takes
// nothing from what a reader read before it.
bool LostALog(const std::vector<WalFile>& before, const std::vector<WalFile>& after) {
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i].size == 0 && i + 1 < before.size()) continue;
    if (!std::binary_search(after.begin(), after.end(), before[i])) return true;
  }
  return false;
}

// Whether a reader's view holds a logged write that followed an import
// without the import (kMetaIngestSeen above kMetaIngested): RocksDB read
// the MANIFEST before the import's files were ingested, then the later
// write from the log. Read again, the MANIFEST names the import's files,
// so kMetaIngested grows: a view that says so again with the same
// kMetaIngested as the last one that did is not a race but what is stored
// (damage, for CheckIntegrity to name), kept so that such a folder still
// opens (flushes and compactions beside it change nothing of this).
class ImportGap {
 public:
  // `meta`: the meta key space's handle (null: a folder without one).
  bool Torn(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta) {
    if (meta == nullptr) return false;
    auto read = [&](std::string_view key) -> uint64_t {
      std::string v;
      if (!db->Get(rocksdb::ReadOptions(), meta, rocksdb::Slice(key.data(), key.size()), &v)
               .ok() ||
          v.size() != 8) {
        return 0;  // none yet (a damaged value is for CheckIntegrity to name)
      }
      return DecodeFixed64BE(v.data());
    };
    const uint64_t ingested = read(kMetaIngested);
    if (read(kMetaIngestSeen) <= ingested) return false;
    if (last_torn_ingested_ == ingested) return false;
    last_torn_ingested_ = ingested;
    return true;
  }

 private:
  std::optional<uint64_t> last_torn_ingested_;
};

// The write-ahead log files in `wal_dir` that hold records, as
// "000455.log" or "000455.log, 000460.log" (empty: none).
std::string NonEmptyWals(const std::string& wal_dir) {
  std::string out;
  for (const WalFile& f : WalFiles(wal_dir, true)) out += (out.empty() ? "" : ", ") + f.name;
  return out;
}

// Opens a reader's RocksDB instance beside a running writer: read-only,
// or a secondary instance in `secondary_path` when it is set.
//
// Beside a running writer, a flush or compaction may delete a file the
// MANIFEST just read still names ("No such file or directory"): the newer
// MANIFEST is read and the open tried again (kReaderAttempts).
//
// RocksDB reads the MANIFEST, then lists the write-ahead logs. A writer's
// flush that ends between the two deletes a log the MANIFEST just read
// still counts on: the view would lack that log's writes and hold the
// later logs' (a write without the ones before it), and with key spaces
// flushed one by one (a writer before atomic flushes) hold some key
// spaces' flushed state and not the others'. An import's files are
// ingested without a log record: an open that read the MANIFEST before
// they were, and then a later logged write from the log, holds that write
// without the import (ImportGap). A secondary instance must know which of
// the writer's sessions it read (Store::CatchUpWithPrimary): a session
// begun meanwhile (a new MANIFEST) counts too. Each of these opens again
// (kReaderAttempts times, counted apart, with short pauses: the writer's
// MANIFEST record of what it did is there to read by then).
//
// Returns the last attempt's status (`handles` and `db` set when it is
// OK, `manifest` the MANIFEST number it read); `refused` is set instead
// when the writer kept racing the open (WriterRace, named `what`).
rocksdb::Status OpenReader(const rocksdb::DBOptions& dbo, const std::string& path,
                           const std::string& wal_dir, const std::string& secondary_path,
                           const std::vector<rocksdb::ColumnFamilyDescriptor>& descs,
                           const std::string& what,
                           std::vector<rocksdb::ColumnFamilyHandle*>* handles, rocksdb::DB** db,
                           uint64_t* manifest, Status* refused) {
  const bool secondary = !secondary_path.empty();
  VanishedFiles vanished(path);
  ImportGap gap;
  int lost_logs = 0;
  size_t meta = descs.size();
  for (size_t i = 0; i < descs.size(); ++i) {
    if (descs[i].name == CfName(kMeta)) meta = i;
  }
  rocksdb::Status s;
  for (int attempt = 1;; ++attempt) {
    const std::vector<WalFile> wals = WalFiles(wal_dir, false);
    *manifest = ManifestNumber(path);
    s = secondary ? rocksdb::DB::OpenAsSecondary(dbo, path, secondary_path, descs, handles, db)
                  : rocksdb::DB::OpenForReadOnly(dbo, path, descs, handles, db);
    const bool lost_log = s.ok() && (LostALog(wals, WalFiles(wal_dir, false)) ||
                                     (secondary && ManifestNumber(path) != *manifest));
    if (lost_log || (s.ok() && gap.Torn(*db, meta < handles->size() ? (*handles)[meta]
                                                                    : nullptr))) {
      for (auto* h : *handles) (*db)->DestroyColumnFamilyHandle(h);
      handles->clear();
      delete *db;
      *db = nullptr;
      if (++lost_logs == kReaderAttempts) {
        *refused = WriterRace(what, rocksdb::Status::Busy(
                                        lost_log ? "a write-ahead log was deleted during the open"
                                                 : "an import was ingested during the open"));
        return s;
      }
      --attempt;
      std::this_thread::sleep_for(std::chrono::milliseconds(lost_logs));
      continue;
    } else if (s.ok() || !vanished.Saw(s)) {
      return s;
    } else if (attempt == kReaderAttempts) {
      if (vanished.WriterRace()) *refused = WriterRace(what, s);
      return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ReaderPauseMs(attempt)));
  }
}

}  // namespace

Status Store::Open(const StoreOptions& options, const std::string& path,
                   std::unique_ptr<Store>* out) {
  out->reset();
  if (InForkedChild()) return ForkedChildRefusal("open a database");
  WatchForks();
  CANOPY_RETURN_IF_ERROR(CheckTuning(options));
  namespace fs = std::filesystem;
  std::error_code ec;
  // RocksDB's files are files: a named pipe, socket or device in their
  // place (CURRENT, an OPTIONS file...) would make the open wait on it or
  // read from it, so it is refused by name first. (Canopy's own files are
  // opened without waiting by their readers.)
  auto rocksdb_file = [](const std::string& n) {
    auto ends = [&](std::string_view x) {
      return n.size() >= x.size() && n.compare(n.size() - x.size(), x.size(), x) == 0;
    };
    return n == "CURRENT" || n == "IDENTITY" || n == "LOCK" || n == "LOG" ||
           n.rfind("OPTIONS-", 0) == 0 || n.rfind("MANIFEST-", 0) == 0 || ends(".sst") ||
           ends(".log") || ends(".blob");
  };
  if (fs::is_directory(path, ec)) {
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      if (!rocksdb_file(it->path().filename().string())) continue;
      // The type the directory listing gave (no stat per file); a link is
      // followed.
      fs::file_status st = it->symlink_status(ec);
      if (!ec && fs::is_symlink(st)) st = fs::status(it->path(), ec);
      if (ec) {
        ec.clear();
        continue;  // a dangling link: RocksDB says what it misses, if anything
      }
      if (fs::is_fifo(st) || fs::is_socket(st) || fs::is_block_file(st) ||
          fs::is_character_file(st)) {
        return Status::FailedPrecondition("'" + it->path().string() +
                                          "' is not a regular file (a pipe, socket or device): "
                                          "RocksDB's files in a database folder are files");
      }
    }
    ec.clear();
  }
  const fs::path marker = fs::path(path) / kCreatingMarker;
  bool exists = HoldsDatabase(path);
  if (exists && options.error_if_exists) {
    return Status::AlreadyExists("a database already exists in '" + path + "'");
  }
  if (!exists && LostItsCurrentFile(path)) {
    return Status::Corruption("'" + path + "' holds a database without its CURRENT file (damaged; "
                              "restore it from a checkpoint or an export)");
  }
  if (!exists && fs::exists(path, ec) && !fs::is_directory(path, ec)) {
    // Whatever the mode: "no database" would send the reader to create one.
    return Status::InvalidArgument("'" + path + "' exists and is not a folder (a database is a "
                                   "folder)");
  }
  CreationClaim claim;
  bool creating = false;
  const bool secondary = !options.secondary_path.empty();
  if (secondary && options.read_only) {
    return Status::InvalidArgument("a store opens read-only or as a secondary, not both");
  }
  // Both open an existing database and never write to it.
  const bool reader = options.read_only || secondary;
  const std::string how = secondary ? "as a follower" : "read-only";
  // A marker without a database: a creation under way in another
  // process (it holds the creation lock), or one a crash interrupted.
  auto unfinished = [&](const std::string& why) {
    return CreationClaim::HeldElsewhere(path)
               ? "the database in '" + path +
                     "' is being created by another process; open it again once that is done"
               : "the database in '" + path +
                     "' was never fully created (a crash during its creation); " + why;
  };
  if (reader && !exists) {
    return Status::NotFound(fs::exists(marker, ec) ? unfinished("it cannot be opened " + how)
                                                   : "no database in '" + path + "' (opening " +
                                                         how + ")");
  }
  if (!exists) {
    if (!options.create_if_missing) {
      return Status::NotFound(fs::exists(marker, ec)
                                  ? unfinished("create_if_missing is off")
                                  : "no database in '" + path + "' (create_if_missing is off)");
    }
    CANOPY_RETURN_IF_ERROR(claim.Claim(path));
    // Decided again under the claim: another process may have finished or
    // begun a creation meanwhile.
    exists = HoldsDatabase(path);
    if (!exists) {
      if (fs::exists(marker, ec)) {
        // An interrupted creation: everything here is its debris.
        for (const auto& entry : fs::directory_iterator(path, ec)) {
          if (entry.path().filename() == kCreatingMarker) continue;
          fs::remove_all(entry.path(), ec);
          if (ec) {
            return Status::IOError("cannot clear the unfinished database in '" + path +
                                   "': " + ec.message());
          }
        }
      } else if (!fs::is_empty(path, ec)) {
        return Status::InvalidArgument("'" + path +
                                       "' is a folder with other files and no Canopy database; "
                                       "refusing to create one there");
      }
      CANOPY_RETURN_IF_ERROR(WriteMarker(marker));
      CANOPY_RETURN_IF_ERROR(claim.SyncFolder(path));
      creating = true;
    } else if (options.error_if_exists) {
      return Status::AlreadyExists("a database already exists in '" + path + "'");
    }
  }

  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  // A format-1 database lacks the change log's key space: it is added (and
  // the format record upgraded) on open.
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = 2;
  // A flush commits every key space's memtable in one MANIFEST record.
  // Recovery needs no such thing (the log holds what a key space had not
  // flushed), but a reader beside the writer does: a follower catching up,
  // or a read-only open, reads the MANIFEST and the logs while the writer
  // works, and with key spaces flushed one by one it could find some of
  // them past a write and others before it (see also Open's reader loop).
  dbo.atomic_flush = true;
  // Replaying the write-ahead log tolerates a torn last record (a crash
  // mid-write) and nothing else: a damaged record anywhere before the tail
  // makes Open fail with Corruption instead of silently dropping it and
  // every later write (RocksDB's default, point-in-time recovery).
  dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  if (options.env != nullptr) dbo.env = options.env;
  dbo.max_open_files = options.max_open_files;
  // RocksDB opens table files on up to 16 threads it starts for the
  // purpose, at the open and again at every catch-up of a follower, even
  // when no file is new: on this 2-core machine starting them cost a
  // reader's open at 1 M devices (61 files) 50-75 ms against 10 ms on the
  // calling thread, a writer's about 60 ms of its 120-195, and every
  // catch-up 40-70 ms against under 2 ms. A folder of many files keeps
  // the threads, which read cold files side by side.
  if (TableFiles(path) <= kFewTableFiles) dbo.max_file_opening_threads = 1;
  if (!options.wal_dir.empty()) dbo.wal_dir = options.wal_dir;
  if (options.background_write_bytes_per_second > 0) {
    dbo.rate_limiter.reset(rocksdb::NewGenericRateLimiter(
        static_cast<int64_t>(options.background_write_bytes_per_second)));
  }
  std::shared_ptr<rocksdb::Statistics> statistics;
  if (options.statistics) {
    statistics = rocksdb::CreateDBStatistics();
    dbo.statistics = statistics;
  }
  // Without a callback, a writer's messages go to the folder's LOG (see
  // FolderLog); a reader's (read-only, follower) are dropped: a reader
  // writes nothing into the folder, which may be read-only or another
  // process's.
  std::function<void(LogLevel, std::string_view)> sink = options.log;
  const bool to_folder = !sink && !reader;
  if (to_folder) {
    sink = [log = std::make_shared<FolderLog>(path)](LogLevel level, std::string_view text) {
      log->Write(level, text);
    };
  }
  if (!sink) sink = [](LogLevel, std::string_view) {};
  dbo.info_log = std::make_shared<CallbackLogger>(std::move(sink), options.log_level, to_folder);
  dbo.info_log_level = CallbackLogger::ToRocks(options.log_level);

  std::vector<std::string> names;
  if (exists) {
    rocksdb::Status ls = rocksdb::DB::ListColumnFamilies(dbo, path, &names);
    if (!ls.ok()) return FromRocks(ls, "cannot read database '" + path + "'");
    if (std::find(names.begin(), names.end(), CfName(kMeta)) == names.end()) {
      // An emptied manifest reads as a database of the default key space
      // alone: damage, not another program's database.
      FilesPosition p;
      if (ReadFilesPosition(path, &p) && p.manifest_size == 0) {
        return Status::Corruption("database '" + path + "' is damaged: its manifest file '" +
                                  ManifestName(p.manifest_number) +
                                  "' (named by CURRENT) is empty; restore it from a backup");
      }
      return Status::Corruption("'" + path + "' is a RocksDB database but not a Canopy database "
                                "(no 'meta' key space)");
    }
    for (int i = 0; i < kNumCfs; ++i) {
      if (std::find(names.begin(), names.end(), CfName(i)) == names.end()) {
        if (i == kChanges || i == kGroups) {
          if (reader) {
            return Status::NotSupported("database '" + path +
                                        "' has an older storage format; open it once for "
                                        "writing (which upgrades it) before opening it " + how);
          }
          names.push_back(CfName(i));
          continue;
        }
        return Status::Corruption("database '" + path + "' lacks the key space '" + CfName(i) +
                                  "'");
      }
    }
  } else {
    for (int i = 0; i < kNumCfs; ++i) names.push_back(CfName(i));
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (const auto& name : names) {
    int which = -1;
    for (int i = 0; i < kNumCfs; ++i) {
      if (name == CfName(i)) which = i;
    }
    descs.emplace_back(name, CfOptions(which, cache, options.compression));
  }

  std::unique_ptr<Store> store(new Store());
  store->logger_ = dbo.info_log;
  store->path_ = path;
  store->wal_dir_ = options.wal_dir.empty() ? path : options.wal_dir;
  store->statistics_ = statistics;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  store->read_only_ = reader;
  store->merge_files_at_ = options.merge_files_at;
  store->secondary_ = secondary;
  store->created_ = creating;
  rocksdb::Status s;
  if (reader) {
    // Beside a running writer: see OpenReader.
    Status refused;
    s = OpenReader(dbo, path, store->wal_dir_, options.secondary_path, descs,
                   "open database '" + path + "' " + how, &handles, &store->db_,
                   &store->manifest_number_, &refused);
    CANOPY_RETURN_IF_ERROR(refused);
  } else {
    s = rocksdb::DB::Open(dbo, path, descs, &handles, &store->db_);
  }
  if (s.IsCorruption()) {
    // RocksDB names the file of a damaged table or manifest, not that of
    // a damaged write-ahead log record ("checksum mismatch"): name the
    // logs it replayed.
    const std::string text = s.ToString();
    const std::string logs =
        text.find(".sst") == std::string::npos && text.find("MANIFEST") == std::string::npos &&
                text.find(".log") == std::string::npos
            ? NonEmptyWals(store->wal_dir_)
            : "";
    if (!logs.empty()) {
      return Status::Corruption(FromRocks(s, "cannot open database '" + path + "'").message() +
                                " (in the write-ahead log replayed on open: " + logs + ")");
    }
  }
  if (!s.ok() && s.ToString().find("Too many open files") != std::string::npos) {
    // Every table file is kept open (max_open_files -1).
    const size_t tables = TableFiles(path);
    return Status::IOError(FromRocks(s, "cannot open database '" + path + "'").message() +
                           " (the database has " + std::to_string(tables) +
                           " table files, each kept open (max_open_files -1): raise the "
                           "process's limit on open files, ulimit -n, or set max_open_files to "
                           "a number below it)");
  }
  if (!s.ok()) return FromRocks(s, "cannot open database '" + path + "'");
  if (secondary) {
    store->secondary_open_ = std::make_unique<SecondaryOpen>(
        SecondaryOpen{dbo, descs, options.secondary_path});
    store->tables_seqno_ = NewestTableSeqno(store->db_);
  }
  store->AdoptHandles(descs, handles);
  CANOPY_RETURN_IF_ERROR(store->CheckOrWriteFormat(creating, options));
  if (creating) {
    // Every key space and the format record are durable: the database is.
    if (!fs::remove(marker, ec) || ec) {
      return Status::IOError("cannot finish creating the database in '" + path +
                             "': cannot remove '" + marker.string() + "': " + ec.message());
    }
    CANOPY_RETURN_IF_ERROR(claim.SyncFolder(path));
  }
  // What killed processes left, removed while this open holds the lock:
  // an import's SST files in its scratch folder, and the temporary
  // options file of an open killed midway (RocksDB writes OPTIONS-N.dbtmp,
  // then renames it; it writes one only within an open, which is over).
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    if (reader) break;  // not ours to clean
    const std::string name = entry.path().filename().string();
    if (entry.is_directory(ec) && name.rfind(kScratchPrefix, 0) == 0) {
      fs::remove_all(entry.path(), ec);
    } else if (name.rfind("OPTIONS-", 0) == 0 && name.size() > 14 &&
               name.compare(name.size() - 6, 6, ".dbtmp") == 0 && entry.is_regular_file(ec)) {
      fs::remove(entry.path(), ec);
    }
  }
  if (!reader) RemoveEmptyOldWals(store->db_, store->wal_dir_);
  *out = std::move(store);
  return Status::Ok();
}

Status Store::CheckOrWriteFormat(bool created, const StoreOptions& options) {
  std::string bytes;
  Status s = Get(kMeta, kFormatKey, &bytes);
  if (s.IsNotFound()) {
    if (read_only_) {
      return Status::Corruption("database '" + path_ + "' has no format record");
    }
    if (!created && !Empty()) {
      return Status::Corruption("database '" + path_ + "' has no format record");
    }
    // New, or a creation that crashed before the format record was
    // written (every key space still empty): initialise it.
    format_.magic = std::string(kMagic);
    format_.version = kStorageFormatVersion;
    format_.max_depth = options.max_depth;
    format_.created_us = NowMicros();
    format_.library_version = Version();
    rocksdb::WriteBatch batch;
    batch.Put(cf(kMeta), std::string(kFormatKey), EncodeFormat(format_));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(db_->Write(wo, &batch), "cannot initialise database '" + path_ + "'");
  }
  CANOPY_RETURN_IF_ERROR(s);
  Status d = DecodeFormat(bytes, &format_);
  if (!d.ok()) {
    return Status::Corruption("database '" + path_ + "' has a damaged format record: " +
                              d.message());
  }
  if (format_.magic != kMagic) {
    return Status::Corruption("'" + path_ + "' is not a Canopy database (magic '" +
                              format_.magic + "')");
  }
  if (format_.version > kStorageFormatVersion) {
    return Status::NotSupported("database '" + path_ + "' has storage format " +
                                std::to_string(format_.version) + ", newer than the " +
                                std::to_string(kStorageFormatVersion) +
                                " this library reads (written by Canopy " +
                                format_.library_version + ")");
  }
  if (format_.version == 0) {
    return Status::Corruption("database '" + path_ + "' has storage format 0");
  }
  if (format_.max_depth == 0) {
    return Status::Corruption("database '" + path_ + "' has a depth limit of 0");
  }
  if (format_.version < kStorageFormatVersion && read_only_) {
    return Status::NotSupported("database '" + path_ + "' has storage format " +
                                std::to_string(format_.version) +
                                "; open it once for writing (which upgrades it) before opening "
                                "it read-only");
  }
  if (format_.version < kStorageFormatVersion) {
    // Format 1 -> 2 adds the change log (an empty key space, created on
    // open); its log starts at the next mutation. 2 -> 3 adds the groups
    // key space (empty, created on open).
    format_.version = kStorageFormatVersion;
    rocksdb::WriteBatch batch;
    batch.Put(cf(kMeta), std::string(kFormatKey), EncodeFormat(format_));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(db_->Write(wo, &batch), "cannot upgrade database '" + path_ + "'");
  }
  return Status::Ok();
}

bool Store::Empty() const {
  for (int c = 0; c < kNumCfs; ++c) {
    auto it = NewIterator(c, nullptr, "", "", false);
    (*it)->SeekToFirst();
    if ((*it)->Valid() || !(*it)->status().ok()) return false;
  }
  return true;
}

Store::~Store() { (void)Close(); }  // in a forked child it refuses, touching nothing

Status Store::Close(bool flush) {
  if (db_ == nullptr) return Status::Ok();
  if (InForkedChild()) return ForkedChildRefusal("close a database");
  if (!flush && !read_only_) {
    settled_ = true;
    settle_status_ = Status::Ok();  // a failed flush was already told
    (void)db_->PauseBackgroundWork();
  }
  const Status result = Settle();
  for (auto*& h : cfs_) {
    if (h != nullptr) {
      db_->DestroyColumnFamilyHandle(h);
      h = nullptr;
    }
  }
  Status closed = FromRocks(db_->Close(), "close");
  delete db_;
  db_ = nullptr;
  return result.ok() ? closed : result;
}

Status Store::Settle() {
  if (db_ == nullptr || read_only_ || settled_) return settle_status_;
  settled_ = true;
  rocksdb::FlushOptions fo;
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  for (auto* h : cfs_) {
    if (h != nullptr) all.push_back(h);
  }
  settle_status_ = FromRocks(db_->Flush(fo, all), "flush on close");
  // Waits for the work running now (a compaction the flush set off); none
  // starts after it. Close cancels what stays queued.
  (void)db_->PauseBackgroundWork();
  return settle_status_;
}

void Store::FlushSoon() {
  if (db_ == nullptr || read_only_ || settled_ || InForkedChild()) return;
  rocksdb::FlushOptions fo;
  fo.wait = false;
  fo.allow_write_stall = true;  // never waits for a stall to clear either
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  for (auto* h : cfs_) {
    if (h != nullptr) all.push_back(h);
  }
  (void)db_->Flush(fo, all);
}

void Store::MergeSmallFiles() {
  if (db_ == nullptr || read_only_) return;
  constexpr uint64_t kSmallFile = 1 << 20;
  constexpr size_t kRun = 8;
  for (int c = 0; c < kNumCfs; ++c) {
    if (cfs_[c] == nullptr) continue;
    rocksdb::ColumnFamilyMetaData meta;
    db_->GetColumnFamilyMetaData(cfs_[c], &meta);
    if (meta.file_count < merge_files_at_) continue;
    for (const rocksdb::LevelMetaData& level : meta.levels) {
      if (level.level == 0) continue;
      // Runs of small files side by side (below level 0 a level's files
      // are in key order and disjoint), each compacted into its own level:
      // exactly those files, nothing above or below them.
      size_t start = 0;
      for (size_t i = 0; i <= level.files.size(); ++i) {
        if (i < level.files.size() && level.files[i].size < kSmallFile &&
            !level.files[i].being_compacted) {
          continue;
        }
        if (i - start >= kRun) {
          std::vector<std::string> run;
          for (size_t k = start; k < i; ++k) run.push_back(level.files[k].name);
          // Best effort: refused (a background compaction took one of
          // them meanwhile) or failed, the files stay as they were.
          (void)db_->CompactFiles(rocksdb::CompactionOptions(), cfs_[c], run, level.level);
        }
        start = i + 1;
      }
    }
  }
}

// ---- Overlay ---------------------------------------------------------------

namespace {

thread_local const Store::Overlay* t_overlay = nullptr;

// An overlay's iterator (a RocksDB base-delta iterator) kept inside
// [lower, upper): the delta part does not honour the read options' bounds.
class BoundedView final : public rocksdb::Iterator {
 public:
  BoundedView(rocksdb::Iterator* inner, rocksdb::Slice lower, rocksdb::Slice upper)
      : inner_(inner), lower_(lower), upper_(upper) {}
  bool Valid() const override { return inner_->Valid() && Inside(inner_->key()); }
  void SeekToFirst() override {
    if (lower_.empty()) {
      inner_->SeekToFirst();
    } else {
      inner_->Seek(lower_);
    }
  }
  void SeekToLast() override {
    if (upper_.empty()) {
      inner_->SeekToLast();
      return;
    }
    inner_->SeekForPrev(upper_);
    if (inner_->Valid() && inner_->key().compare(upper_) >= 0) inner_->Prev();
  }
  void Seek(const rocksdb::Slice& target) override {
    inner_->Seek(!lower_.empty() && target.compare(lower_) < 0 ? lower_ : target);
  }
  void SeekForPrev(const rocksdb::Slice& target) override {
    const bool past = !upper_.empty() && target.compare(upper_) >= 0;
    inner_->SeekForPrev(past ? upper_ : target);
    if (past && inner_->Valid() && inner_->key().compare(upper_) >= 0) inner_->Prev();
  }
  void Next() override { inner_->Next(); }
  void Prev() override { inner_->Prev(); }
  rocksdb::Slice key() const override { return inner_->key(); }
  rocksdb::Slice value() const override { return inner_->value(); }
  rocksdb::Status status() const override { return inner_->status(); }

 private:
  bool Inside(const rocksdb::Slice& k) const {
    return (lower_.empty() || k.compare(lower_) >= 0) && (upper_.empty() || k.compare(upper_) < 0);
  }
  std::unique_ptr<rocksdb::Iterator> inner_;
  rocksdb::Slice lower_, upper_;
};

}  // namespace

Store::Overlay::Overlay(const Store& store)
    : store_(store), index_(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true) {}

Status Store::Overlay::Add(const rocksdb::WriteBatch& batch, bool* complete) {
  struct Adder : rocksdb::WriteBatch::Handler {
    Overlay* o = nullptr;
    bool complete = true;
    rocksdb::ColumnFamilyHandle* Cf(uint32_t id, int* which) const {
      for (int i = 0; i < kNumCfs; ++i) {
        if (o->store_.cfs_[i] != nullptr && o->store_.cfs_[i]->GetID() == id) {
          *which = i;
          return o->store_.cfs_[i];
        }
      }
      return nullptr;
    }
    rocksdb::Status PutCF(uint32_t id, const rocksdb::Slice& key,
                          const rocksdb::Slice& value) override {
      int which = 0;
      rocksdb::ColumnFamilyHandle* cf = Cf(id, &which);
      if (cf == nullptr) return rocksdb::Status::InvalidArgument("unknown key space");
      ++o->count_;
      return o->index_.Put(cf, key, value);
    }
    rocksdb::Status DeleteCF(uint32_t id, const rocksdb::Slice& key) override {
      int which = 0;
      rocksdb::ColumnFamilyHandle* cf = Cf(id, &which);
      if (cf == nullptr) return rocksdb::Status::InvalidArgument("unknown key space");
      ++o->count_;
      return o->index_.Delete(cf, key);
    }
    rocksdb::Status SingleDeleteCF(uint32_t id, const rocksdb::Slice& key) override {
      return DeleteCF(id, key);
    }
    rocksdb::Status DeleteRangeCF(uint32_t, const rocksdb::Slice&,
                                  const rocksdb::Slice&) override {
      complete = false;
      return rocksdb::Status::OK();
    }
    rocksdb::Status MergeCF(uint32_t id, const rocksdb::Slice&, const rocksdb::Slice&) override {
      int which = 0;
      if (Cf(id, &which) == nullptr || which != kCounters) complete = false;
      return rocksdb::Status::OK();
    }
  };
  Adder adder;
  adder.o = this;
  rocksdb::Status s = batch.Iterate(&adder);
  *complete = adder.complete && s.ok();
  return FromRocks(s, "stage a write");
}

void Store::Overlay::Clear() {
  index_.Clear();
  count_ = 0;
}

Store::Overlay::Scope::Scope(const Overlay* overlay) : previous_(t_overlay) {
  t_overlay = overlay;
}

Store::Overlay::Scope::~Scope() { t_overlay = previous_; }

// The overlay a read of `store` with `snapshot` goes through (null: none).
static const Store::Overlay* OverlayOf(const Store* store, const rocksdb::Snapshot* snapshot) {
  const Store::Overlay* o = t_overlay;
  if (o == nullptr || snapshot != nullptr || o->empty()) return nullptr;
  return o->StoreIs(store) ? o : nullptr;
}

Status Store::Get(int which, std::string_view key, std::string* value,
                  const rocksdb::Snapshot* snapshot) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  const rocksdb::Slice k(key.data(), key.size());
  const Overlay* o = OverlayOf(this, snapshot);
  rocksdb::Status s = o != nullptr
                          ? const_cast<Overlay*>(o)->index_.GetFromBatchAndDB(db_, ro, cfs_[which],
                                                                              k, value)
                          : db_->Get(ro, cfs_[which], k, value);
  if (s.IsNotFound()) return Status::NotFound(std::string("not in ") + CfName(which));
  return FromRocks(s, std::string("read from ") + CfName(which));
}

void Store::MultiGet(int which, const std::vector<rocksdb::Slice>& keys,
                     std::vector<rocksdb::PinnableSlice>* values,
                     std::vector<rocksdb::Status>* statuses, const rocksdb::Snapshot* snapshot,
                     bool sorted) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  // Never move a PinnableSlice (a vector's resize moves its elements when
  // it grows): RocksDB 7.8's move leaves a pinned slice without its own
  // buffer, and a later value read from the memtable into it is copied
  // through that dangling pointer. Destroyed and made anew instead (the
  // capacity stays, so nothing is moved later either).
  values->clear();
  values->resize(keys.size());
  statuses->resize(keys.size());
  if (keys.empty()) return;
  if (const Overlay* o = OverlayOf(this, snapshot)) {
    const_cast<Overlay*>(o)->index_.MultiGetFromBatchAndDB(db_, ro, cfs_[which], keys.size(),
                                                            keys.data(), values->data(),
                                                            statuses->data(), sorted);
    return;
  }
  db_->MultiGet(ro, cfs_[which], keys.size(), keys.data(), values->data(), statuses->data(),
                sorted);
}

void ForwardProbe::To(std::string_view target) {
  const rocksdb::Slice t(target.data(), target.size());
  for (int i = 0; i < steps_; ++i) {
    if (!it_->Valid() || it_->key().compare(t) >= 0) {
      steps_ = std::min(steps_ * 2, 64);
      return;
    }
    it_->Next();
  }
  if (it_->Valid() && it_->key().compare(t) < 0) {
    it_->Seek(t);
    steps_ = std::max(steps_ / 2, 4);
  }
}

Status Store::Exists(int which, std::string_view key, bool* exists,
                     const rocksdb::Snapshot* snapshot) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  rocksdb::PinnableSlice ignored;  // pinned in the block cache: no copy
  const rocksdb::Slice k(key.data(), key.size());
  const Overlay* o = OverlayOf(this, snapshot);
  rocksdb::Status s =
      o != nullptr
          ? const_cast<Overlay*>(o)->index_.GetFromBatchAndDB(db_, ro, cfs_[which], k, &ignored)
          : db_->Get(ro, cfs_[which], k, &ignored);
  *exists = s.ok();
  if (s.ok() || s.IsNotFound()) return Status::Ok();
  return FromRocks(s, std::string("read from ") + CfName(which));
}

namespace {

// RocksDB 7.8, reading with range deletions honoured, puts a mark at the
// end of each table file of a level; stepping past the mark into the next
// file, it drops that file's read error (a first block that fails its
// checksum) and goes on as if the file were empty: the iteration ends, or
// goes on without that file's keys, with an OK status (fixed in RocksDB
// 8.6, pull request 11782). Key spaces without range deletions are read
// with them ignored, which has no such mark (storage/keys.h). For the
// others, this wrapper checks where an iteration ends: past the last key
// it returned forward (or, backward, from the lower bound) it seeks once,
// which opens the next file directly and reports its error; a key found
// there that the steps did not return is Corruption. (An iteration that
// goes on with another level's keys after such a drop ends elsewhere, and
// the check then cannot see it: the integrity check's checksums do.)
class EndChecked final : public rocksdb::Iterator {
 public:
  EndChecked(rocksdb::Iterator* inner, const std::string& lower, std::string_view what)
      : inner_(inner), lower_(lower), what_(what) {}
  bool Valid() const override { return inner_->Valid(); }
  void SeekToFirst() override {
    Reset();
    inner_->SeekToFirst();
  }
  void SeekToLast() override {
    Reset();
    inner_->SeekToLast();
  }
  void Seek(const rocksdb::Slice& target) override {
    Reset();
    inner_->Seek(target);
  }
  void SeekForPrev(const rocksdb::Slice& target) override {
    Reset();
    inner_->SeekForPrev(target);
  }
  void Next() override {
    Step(true);
    inner_->Next();
    if (!inner_->Valid() && inner_->status().ok()) CheckEnd(true);
  }
  void Prev() override {
    Step(false);
    inner_->Prev();
    if (!inner_->Valid() && inner_->status().ok()) CheckEnd(false);
  }
  rocksdb::Slice key() const override { return inner_->key(); }
  rocksdb::Slice value() const override { return inner_->value(); }
  rocksdb::Status status() const override { return status_.ok() ? inner_->status() : status_; }

 private:
  // The key a step leaves is copied at each of an iteration's first kEvery
  // steps (a short read ends with the last key at hand), then once every
  // kEvery steps (a long scan's cost); where such an iteration ends, the
  // steps since the copy are taken again from it, back to the last key
  // returned.
  static constexpr uint32_t kEvery = 64;
  void Reset() {
    status_ = rocksdb::Status::OK();
    steps_ = kEvery;  // no copy yet
    taken_ = 0;
  }
  void Step(bool forward) {
    if (steps_ >= kEvery || taken_ < kEvery || forward != forward_) {
      const rocksdb::Slice k = inner_->key();
      copy_.assign(k.data(), k.size());
      forward_ = forward;
      steps_ = 0;
    }
    ++steps_;
    if (taken_ < kEvery) ++taken_;
  }
  void CheckEnd(bool forward) {
    if (steps_ > 1) {
      // Back to the last key returned: the copy, then the steps since but
      // the one that ended.
      if (forward) {
        inner_->Seek(copy_);
      } else {
        inner_->SeekForPrev(copy_);
      }
      for (uint32_t i = 1; i < steps_ && inner_->Valid(); ++i) {
        forward ? inner_->Next() : inner_->Prev();
      }
      if (!inner_->Valid()) {
        if (inner_->status().ok()) Dropped(forward ? "after" : "before");  // (not as before)
        return;
      }
      const rocksdb::Slice k = inner_->key();
      copy_.assign(k.data(), k.size());
    }
    steps_ = kEvery;
    if (forward) {
      // Nothing is past it, unless a step dropped it: a seek opens the file
      // after it directly.
      copy_.push_back('\0');
      inner_->Seek(copy_);
      if (inner_->Valid()) Dropped("after");
      return;
    }
    // Nothing is before it in the range, unless a step dropped it.
    if (lower_.empty()) {
      inner_->SeekToFirst();
    } else {
      inner_->Seek(lower_);
    }
    if (!inner_->Valid()) return;  // (its error, if any, is the status)
    if (inner_->key().compare(copy_) < 0) {
      Dropped("before");
    } else {
      inner_->Prev();  // where the iteration ended: before the range
    }
  }
  void Dropped(const char* where) {
    inner_->SeekToLast();  // then past the range: no longer Valid()
    if (inner_->Valid()) inner_->Next();
    status_ = rocksdb::Status::Corruption(
        std::string("a read of the ") + std::string(what_) + " key space ended early: keys " +
        where + " the last one it returned were skipped (a table file that cannot be read; "
        "run the integrity check)");
  }
  std::unique_ptr<rocksdb::Iterator> inner_;
  const std::string& lower_;  // the BoundedIterator's, which outlives this
  std::string_view what_;
  std::string copy_;
  uint32_t steps_ = kEvery;
  uint32_t taken_ = 0;
  bool forward_ = true;
  rocksdb::Status status_;
};

}  // namespace

std::unique_ptr<Store::BoundedIterator> Store::NewIterator(int which,
                                                           const rocksdb::Snapshot* snapshot,
                                                           std::string lower, std::string upper,
                                                           bool fill_cache) const {
  auto bi = std::make_unique<BoundedIterator>(std::move(lower), std::move(upper));
  rocksdb::ReadOptions& ro = bi->read_options_;
  ro.snapshot = snapshot;
  ro.fill_cache = fill_cache;
  if (!bi->lower_.empty()) ro.iterate_lower_bound = &bi->lower_slice_;
  if (!bi->upper_.empty()) ro.iterate_upper_bound = &bi->upper_slice_;
  // (storage/keys.h, and EndChecked above)
  ro.ignore_range_deletions = !RangeDeletesIn(which);
  rocksdb::Iterator* base = db_->NewIterator(ro, cfs_[which]);
  if (RangeDeletesIn(which)) base = new EndChecked(base, bi->lower_, CfName(which));
  if (const Overlay* o = OverlayOf(this, snapshot)) {
    rocksdb::Iterator* merged =
        const_cast<Overlay*>(o)->index_.NewIteratorWithBase(cfs_[which], base, &ro);
    bi->it_.reset(new BoundedView(merged, bi->lower_slice_, bi->upper_slice_));
  } else {
    bi->it_.reset(base);
  }
  return bi;
}

Status Store::Write(rocksdb::WriteBatch* batch) {
  rocksdb::WriteOptions wo;
  wo.sync = false;
  return FromRocks(db_->Write(wo, batch), "write");
}

Status Store::CatchUpWithPrimary() {
  if (!secondary_) {
    return Status::FailedPrecondition("catch up: the store is not a secondary instance");
  }
  // As on open: a file the primary deleted meanwhile means a newer
  // MANIFEST to read; try again (kReaderAttempts).
  // As on open too: a log deleted during the catch-up (a writer's flush)
  // may have left a hole in what was read; catch up again, which reads
  // the MANIFEST that recorded the flush. So is a catch-up that read a
  // logged write without the import before it (ImportGap): the next
  // one reads the MANIFEST record of the import's files. A catch-up cannot
  // be taken back: until one ends whole, the store is not (Whole()).
  // A writer that closed and opened the database again since this
  // instance opened started a new MANIFEST. RocksDB 7.8's secondary
  // instance follows it, but keeps in memory what it had replayed from the
  // old session's logs, which that writer's close flushed to table files:
  // counter updates (merges) then count twice, and older values hide newer
  // ones in the files. Such a view cannot be mended by catching up: the
  // instance is opened again instead (ReopenSecondary).
  // So is a flush within one session of the writer (a close, a
  // checkpoint, a full memtable, an import's ingestion): RocksDB 7.8's
  // secondary instance keeps the memtable it had replayed from the flushed
  // log and reads it before the new table file. A point read then returns
  // a value the table holds a newer one for, and counter updates count
  // twice (once in the memtable, once in the table), until the process
  // opens the database again. A catch-up that finds a table newer than any
  // the instance opened on opens it again (one open's cost, once per flush
  // of the writer's).
  auto flushed = [this] { return NewestTableSeqno(db_) > tables_seqno_; };
  auto writer_reopened = [this] {
    const uint64_t now = ManifestNumber(path_);
    return now != 0 && now != manifest_number_;
  };
  // (No instance: the last open again failed; try it once more.)
  if (db_ == nullptr || writer_reopened()) return ReopenSecondary();
  rocksdb::Status s;
  VanishedFiles vanished(path_);
  ImportGap gap;
  int lost_logs = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (int attempt = 1;; ++attempt) {
    const std::vector<WalFile> wals = WalFiles(wal_dir_, false);
    s = db_->TryCatchUpWithPrimary();
    if (writer_reopened()) return ReopenSecondary();
    const bool lost_log = s.ok() && LostALog(wals, WalFiles(wal_dir_, false));
    if (lost_log || (s.ok() && gap.Torn(db_, cfs_[kMeta]))) {
      whole_ = false;
      ++lost_logs;
      if (std::chrono::steady_clock::now() >= give_up) {
        return Status::Unavailable(
            lost_log ? "cannot catch up with the database's writer: a write-ahead log was "
                       "deleted during each of " + std::to_string(lost_logs) +
                           " catch-ups in 5 s (a writer flushing without pause), so what was "
                           "read may lack that log's writes"
                     : "cannot catch up with the database's writer: for 5 s (" +
                           std::to_string(lost_logs) + " catch-ups) what was read held a "
                           "write without the import before it");
      }
      --attempt;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(lost_logs, 20)));
      continue;
    }
    if (s.ok()) {
      if (flushed()) return ReopenSecondary();
      whole_ = true;
    }
    if (s.ok() || !vanished.Saw(s)) {
      break;
    } else if (attempt == kReaderAttempts) {
      if (vanished.WriterRace()) return WriterRace("catch up with the database's writer", s);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ReaderPauseMs(attempt)));
  }
  return FromRocks(s, "catch up with the database's writer");
}

Status Store::ReopenSecondary() {
  std::unique_lock<std::shared_mutex> l(reopen_mu_);
  const SecondaryOpen& o = *secondary_open_;
  if (db_ != nullptr) {
    for (auto*& h : cfs_) {
      if (h != nullptr) db_->DestroyColumnFamilyHandle(h);
      h = nullptr;
    }
    (void)db_->Close();
    delete db_;
    db_ = nullptr;
  }
  whole_ = false;  // until the open below succeeds
  const std::string what = "open the database again after its writer flushed or reopened it";
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  Status refused;
  rocksdb::Status s = OpenReader(o.db_options, path_, wal_dir_, o.secondary_path, o.families,
                                 what, &handles, &db_, &manifest_number_, &refused);
  CANOPY_RETURN_IF_ERROR(refused);
  if (!s.ok()) return FromRocks(s, what);
  AdoptHandles(o.families, handles);
  tables_seqno_ = NewestTableSeqno(db_);
  whole_ = true;
  return Status::Ok();
}

void Store::AdoptHandles(const std::vector<rocksdb::ColumnFamilyDescriptor>& families,
                         const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  for (size_t i = 0; i < families.size(); ++i) {
    bool known = false;
    for (int c = 0; c < kNumCfs; ++c) {
      if (families[i].name == CfName(c)) {
        cfs_[c] = handles[i];
        known = true;
      }
    }
    // Key spaces of a newer format stay open (RocksDB requires it) but
    // unused; the version check refuses such a database.
    if (!known) db_->DestroyColumnFamilyHandle(handles[i]);
  }
}

void Store::Log(LogLevel level, std::string_view message) const {
  rocksdb::Log(CallbackLogger::ToRocks(level), logger_, "%.*s", static_cast<int>(message.size()),
               message.data());
}

Status Store::SyncWal() { return FromRocks(db_->SyncWAL(), "sync write-ahead log"); }

Status Store::GetProperty(std::string_view name, std::string* value) const {
  value->clear();
  std::shared_lock<std::shared_mutex> l(reopen_mu_);
  if (db_ == nullptr) return Status::FailedPrecondition("the database is not open");
  std::string n(name);
  if (n == "rocksdb.statistics") {
    if (statistics_ == nullptr) {
      return Status::FailedPrecondition(
          "rocksdb.statistics: statistics are off (Options::statistics)");
    }
    *value = statistics_->ToString();
    return Status::Ok();
  }
  const auto at = n.find('@');
  if (at != std::string::npos) {
    const std::string space = n.substr(at + 1);
    n.resize(at);
    for (int i = 0; i < kNumCfs; ++i) {
      if (space == CfName(i)) {
        if (cfs_[i] != nullptr && db_->GetProperty(cfs_[i], n, value)) return Status::Ok();
        return Status::NotFound("no property '" + std::string(name) + "'");
      }
    }
    return Status::NotFound("no key space '" + space + "' (property '" + std::string(name) + "')");
  }
  // Properties of the whole database (the key spaces share one block
  // cache) read the same through every key space: they are not summed.
  static constexpr std::string_view kWhole[] = {
      "rocksdb.block-cache-capacity",     "rocksdb.block-cache-usage",
      "rocksdb.block-cache-pinned-usage", "rocksdb.num-snapshots",
      "rocksdb.oldest-snapshot-time",     "rocksdb.oldest-snapshot-sequence",
      "rocksdb.is-file-deletions-enabled", "rocksdb.background-errors",
      "rocksdb.num-running-compactions",  "rocksdb.num-running-flushes",
      "rocksdb.actual-delayed-write-rate", "rocksdb.is-write-stopped",
      "rocksdb.min-log-number-to-keep",   "rocksdb.min-obsolete-sst-number-to-keep"};
  const bool whole = std::find(std::begin(kWhole), std::end(kWhole), n) != std::end(kWhole);
  uint64_t sum = 0;
  bool numeric = true;
  for (int i = 0; i < kNumCfs && numeric; ++i) {
    uint64_t v = 0;
    if (cfs_[i] == nullptr) continue;
    if (db_->GetIntProperty(cfs_[i], n, &v)) {
      sum += v;
      if (whole) break;
    } else {
      numeric = false;
    }
  }
  if (numeric) {
    *value = std::to_string(sum);
    return Status::Ok();
  }
  if (db_->GetProperty(n, value)) return Status::Ok();
  return Status::NotFound("no property '" + std::string(name) + "'");
}

Status Store::NextId(uint64_t last, std::string_view what, uint64_t* next) {
  if (last == UINT64_MAX) {
    return Status::FailedPrecondition("no " + std::string(what) + " id is left: the largest, " +
                                     std::to_string(last) + ", is taken");
  }
  *next = last + 1;
  return Status::Ok();
}

Status Store::ReadSequence(std::string_view name, uint64_t* last,
                           const rocksdb::Snapshot* snapshot) const {
  std::string v;
  Status s = Get(kMeta, name, &v, snapshot);
  if (s.IsNotFound()) {
    *last = 0;
    return Status::Ok();
  }
  CANOPY_RETURN_IF_ERROR(s);
  if (v.size() != 8) return Status::Corruption("meta sequence '" + std::string(name) + "' is damaged");
  *last = DecodeFixed64BE(v.data());
  return Status::Ok();
}

}  // namespace canopy::storage
