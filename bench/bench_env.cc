// Copyright (c) Canopy authors.

#include "bench/bench_env.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "engine/db_impl.h"
#include "storage/records.h"

namespace canopy::bench {

namespace fs = std::filesystem;

namespace {

// RocksDB's text log (LOG, LOG.old...): not the database. It grows by
// every open, so it is neither counted nor copied.
bool IsInfoLog(const fs::path& file) { return file.filename().string().rfind("LOG", 0) == 0; }

// A lock file (created if missing), opened for flock(2); -1 and *status
// set when it cannot be.
int OpenLockFile(const std::string& path, Status* status) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) *status = Status::IOError("cannot open " + path + ": " + std::strerror(errno));
  return fd;
}

// flock(2) `how` on `fd`, waiting while another process holds a
// conflicting lock (`waiting` called once first); polled, so that a stop
// request ends the wait whenever it comes.
Status Lock(int fd, int how, const std::string& path, const std::function<void()>& waiting) {
  bool told = false;
  while (::flock(fd, how | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Status::IOError("cannot lock " + path + ": " + std::strerror(errno));
    }
    if (StopRequested()) return Status::Aborted("stopped while waiting for " + path);
    if (!told) waiting();
    told = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Ok();
}

}  // namespace

uint64_t FolderBytes(const std::string& path) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
    if (IsInfoLog(e.path())) continue;
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  }
  return n;
}

Status BenchEnv::Prepare(const TreeSpec& spec, const std::string& root_dir, bool with_sqlite,
                         bool verbose, std::unique_ptr<BenchEnv>* out) {
  PrepareOptions options;
  options.with_sqlite = with_sqlite;
  options.verbose = verbose;
  return Prepare(spec, root_dir, options, out);
}

Status BenchEnv::Prepare(const TreeSpec& spec, const std::string& root_dir,
                         const PrepareOptions& options, std::unique_ptr<BenchEnv>* out) {
  auto env = std::make_unique<BenchEnv>();
  env->spec = spec;
  env->options_ = options;
  env->dir = (fs::path(root_dir) / spec.Name()).string();
  std::error_code ec;
  fs::create_directories(env->dir, ec);
  if (ec) return Status::IOError("cannot create " + env->dir + ": " + ec.message());
  const std::string lock_path = env->dir + "/build.lock";
  Status s;
  env->lock_fd_ = OpenLockFile(lock_path, &s);
  CANOPY_RETURN_IF_ERROR(s);
  auto waiting = [&] { env->Log("waiting for another run that is building " + spec.Name()); };
  auto built = [&] {
    return fs::exists(env->MarkerPath()) && fs::exists(env->CachedPath() + "/CURRENT");
  };
  // Shared while the tree is used (its private copies are made of a
  // closed database: only a builder, holding the lock exclusively, opens
  // the cached one); exclusive to build it, once no other run uses it.
  // Linux drops a shared lock that fails to become exclusive at once, so
  // the state is looked at again after each exclusive lock is taken.
  CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_SH, lock_path, waiting));
  bool reuse = built();
  if (!reuse) {
    CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_EX, lock_path, waiting));
    reuse = built();  // another run may have built it meanwhile
    if (!reuse) {
      if (fs::exists(env->MarkerPath())) {
        env->Log("the cached database " + env->CachedPath() +
                 " is missing or incomplete; building it again");
      }
      CANOPY_RETURN_IF_ERROR(env->Build());
    }
    CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_SH, lock_path, waiting));
  }
  if (reuse) {
    env->Log("generating " + spec.Name());
    CANOPY_RETURN_IF_ERROR(Generate(spec, "", &env->tree));
  }
  Status opened = env->OpenDb();
  if (!opened.ok() && reuse && !StopRequested()) {
    // A cached database that cannot be opened (damaged, or files gone) is
    // a cache entry to build again, not a failure of every later run;
    // unless another run, meanwhile, built it again and it opens now.
    (void)env->CloseDb();
    CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_EX, lock_path, [&] {
      env->Log("waiting for the other runs using " + spec.Name() + " to build it again");
    }));
    opened = env->OpenDb();
    if (!opened.ok()) {
      env->Log("the cached database " + env->CachedPath() + " cannot be opened (" +
               opened.message() + "); building it again");
      (void)env->CloseDb();
      CANOPY_RETURN_IF_ERROR(env->Build());
      opened = env->OpenDb();
    }
    CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_SH, lock_path, waiting));
  }
  if (!opened.ok()) return opened.WithContext("the cached database " + env->CachedPath());
  if (options.with_sqlite) CANOPY_RETURN_IF_ERROR(env->OpenSqlite());
  *out = std::move(env);
  return Status::Ok();
}

Status BenchEnv::Build() {
  std::error_code ec;
  const std::string db_path = CachedPath();
  const std::string done_marker = MarkerPath();
  const std::string jsonl = dir + "/tree.jsonl";
  // What an unfinished build leaves is removed: the next run starts over.
  auto unfinished = [&](const Status& why) {
    (void)CloseDb();
    fs::remove(done_marker, ec);
    fs::remove(jsonl, ec);
    fs::remove_all(db_path, ec);
    return StopRequested() ? Status::Aborted("stopped while building " + dir +
                                             "; what it had built was removed")
                           : why;
  };
  fs::remove(done_marker, ec);
  fs::remove_all(db_path, ec);
  Log("generating " + spec.Name());
  Status s = Generate(spec, jsonl, &tree);
  if (!s.ok()) return unfinished(s);
  s = Db::Open(options_.db_options, db_path, &db);
  if (!s.ok()) return unfinished(s);
  Log("importing " + jsonl);
  import_bytes = fs::file_size(jsonl, ec);
  auto start = std::chrono::steady_clock::now();
  ImportReport report;
  ImportOptions import_options;
  const ProgressFn& progress = options_.import_progress;
  import_options.progress = [&progress](uint64_t done, uint64_t total) {
    if (StopRequested()) return false;  // the import is cancelled: nothing imported
    return progress ? progress(done, total) : true;
  };
  s = db->Import(Actor::System(), jsonl, import_options, &report);
  if (!s.ok()) return unfinished(s);
  import_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char line[160];
  std::snprintf(line, sizeof(line), "imported %llu devices in %.2f s (%.0f devices/s)",
                (unsigned long long)report.entities, import_seconds,
                report.entities / import_seconds);
  Log(line);
  s = db->Close();
  db.reset();
  if (!s.ok()) return unfinished(s);
  fs::remove(jsonl, ec);
  // The marker holds the folder's bytes as built: later opens and closes
  // of the cache (flushes, compactions) move them, and the disk figure is
  // the tree's, the same on every run.
  std::FILE* f = std::fopen(done_marker.c_str(), "w");
  if (f == nullptr || std::fprintf(f, "%llu\n", (unsigned long long)FolderBytes(db_path)) < 0 ||
      std::fclose(f) != 0) {
    return unfinished(Status::IOError("cannot write " + done_marker));
  }
  return Status::Ok();
}

BenchEnv::~BenchEnv() {
  sqlite.reset();
  (void)CloseDb();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the cache entry's lock
}

void BenchEnv::Log(const std::string& message) const {
  if (options_.log) {
    options_.log(message);
  } else if (options_.verbose) {
    std::fprintf(stderr, "bench: %s\n", message.c_str());
  }
}

Status BenchEnv::CloseDb() {
  Status s;
  if (db) s = db->Close();
  db.reset();
  if (!copy_path_.empty()) {
    std::error_code ec;
    fs::remove_all(copy_path_, ec);
    copy_path_.clear();
  }
  return s;
}

Status BenchEnv::OpenDb() {
  const std::string cached = CachedPath();
  // Private copies of crashed runs (their process is gone) are removed.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("work-", 0) != 0) continue;
    pid_t pid = static_cast<pid_t>(std::strtol(name.c_str() + 5, nullptr, 10));
    if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
  }
  copy_path_ = dir + "/work-" + std::to_string(getpid());
  fs::remove_all(copy_path_, ec);
  fs::create_directories(copy_path_, ec);
  if (ec) return Status::IOError("cannot create " + copy_path_ + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(cached, ec)) {
    if (!e.is_regular_file(ec) || IsInfoLog(e.path())) continue;
    const fs::path to = fs::path(copy_path_) / e.path().filename();
    if (e.path().extension() == ".sst") {
      fs::create_hard_link(e.path(), to, ec);
    } else {
      fs::copy_file(e.path(), to, ec);
    }
    if (ec) return Status::IOError("cannot copy " + e.path().string() + ": " + ec.message());
  }
  if (ec) return Status::IOError("cannot list " + cached + ": " + ec.message());
  db_path = copy_path_;
  auto start = std::chrono::steady_clock::now();
  CANOPY_RETURN_IF_ERROR(Db::Open(options_.db_options, db_path, &db));
  open_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::Ok();
}

Status BenchEnv::Reopen(const std::function<void()>& between) {
  CANOPY_RETURN_IF_ERROR(CloseDb());
  if (between) between();
  return OpenDb();
}

Status BenchEnv::OpenSqlite() {
  if (sqlite) return Status::Ok();
  // One run at a time loads the baseline (without a journal: a reader
  // beside the load would see it half written).
  const std::string lock_path = dir + "/sqlite.lock";
  Status s;
  const int fd = OpenLockFile(lock_path, &s);
  CANOPY_RETURN_IF_ERROR(s);
  s = Lock(fd, LOCK_EX, lock_path,
           [&] { Log("waiting for another run that is loading SQLite for " + spec.Name()); });
  if (s.ok()) {
    Log("preparing SQLite");
    s = SqliteBaseline::Open(tree, dir + "/sqlite.db", &sqlite);
  }
  ::close(fd);
  return s;
}

storage::Store* BenchEnv::store() const { return static_cast<engine::DbImpl*>(db.get())->store(); }

AccountId BenchEnv::Account(uint32_t index) const {
  auto a = db->FindAccount(GeneratedTree::AccountKey(index));
  return a.ok() ? a->id : kNoId;
}

std::string BenchEnv::Label(AccountId id) const {
  std::string bytes;
  if (!store()->Get(storage::kAccounts, storage::IdKey(id), &bytes).ok()) return "";
  storage::AccountRecord r;
  if (!storage::DecodeAccount(bytes, &r).ok()) return "";
  return r.label;
}

UserId BenchEnv::AdminOf(uint32_t index, bool branch) {
  std::string login = "bench-admin-" + std::to_string(index) + (branch ? "" : "-direct");
  if (auto u = db->FindUser(login); u.ok()) return u->id;
  AccountId a = Account(index);
  auto u = db->CreateUser(Actor::System(), UserSpec{login, login, a});
  if (!u.ok()) return kNoId;
  auto role = db->FindRole(a, "account_admin");
  if (!role.ok() || !db->Invite(Actor::System(), *u, a, role->id, branch).ok()) return kNoId;
  return *u;
}

uint64_t BenchEnv::DiskBytes() const { return FolderBytes(db_path.empty() ? CachedPath() : db_path); }

uint64_t BenchEnv::CachedDiskBytes() const {
  // As built (written in the marker); measured now for a cache built
  // before the marker held it.
  if (std::FILE* f = std::fopen(MarkerPath().c_str(), "r")) {
    unsigned long long bytes = 0;
    const bool read = std::fscanf(f, "%llu", &bytes) == 1;
    std::fclose(f);
    if (read && bytes > 0) return bytes;
  }
  return FolderBytes(CachedPath());
}

}  // namespace canopy::bench
