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

#include "engine/db_impl.h"
#include "storage/records.h"

namespace canopy::bench {

namespace fs = std::filesystem;

uint64_t FolderBytes(const std::string& path) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
    // RocksDB's text log (LOG, LOG.old...) is not the database: it grows
    // by every open, so counting it would make the same data weigh more
    // each run.
    if (e.path().filename().string().rfind("LOG", 0) == 0) continue;
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  }
  return n;
}

namespace {

// flock(2) on `fd`, waiting (`waiting` called once first when another
// process holds a conflicting lock); a stop request ends the wait.
Status Lock(int fd, int how, const std::string& path, const std::function<void()>& waiting) {
  if (::flock(fd, how | LOCK_NB) == 0) return Status::Ok();
  if (errno != EWOULDBLOCK) {
    return Status::IOError("cannot lock " + path + ": " + std::strerror(errno));
  }
  waiting();
  while (::flock(fd, how) != 0) {
    if (errno != EINTR) return Status::IOError("cannot lock " + path + ": " + std::strerror(errno));
    if (StopRequested()) return Status::Aborted("stopped (interrupted) while waiting for " + path);
  }
  return Status::Ok();
}

bool InUse(const Status& s) {
  return s.code() == Code::kIOError &&
         s.message().find("in use by another process") != std::string::npos;
}

}  // namespace

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
  env->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (env->lock_fd_ < 0) {
    return Status::IOError("cannot open " + lock_path + ": " + std::strerror(errno));
  }
  auto waiting = [&] { env->Log("waiting for another run that is building " + spec.Name()); };
  auto built = [&] {
    return fs::exists(env->dir + "/canopy.done") && fs::exists(env->dir + "/canopy/CURRENT");
  };
  // Shared while the tree is used; exclusive (once no other run uses it)
  // to build it, or to build it again when the cached copy is damaged.
  CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_SH, lock_path, waiting));
  bool reuse = built();
  if (!reuse) {
    CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_EX, lock_path, waiting));
    reuse = built();  // another run may have built it meanwhile
    if (!reuse && fs::exists(env->dir + "/canopy.done")) {
      env->Log("the cached database " + env->dir + "/canopy is missing or incomplete; building "
               "it again");
    }
    if (!reuse) CANOPY_RETURN_IF_ERROR(env->Build());
    CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_SH, lock_path, waiting));
  }
  if (reuse) {
    env->Log("generating " + spec.Name());
    CANOPY_RETURN_IF_ERROR(Generate(spec, "", &env->tree));
  }
  const std::string db_path = env->dir + "/canopy";
  Status opened = env->OpenDb(options.private_copy);
  if (!opened.ok() && reuse && opened.code() == Code::kCorruption) {
    // A cached database that cannot be read is a cache entry to build
    // again (once no other run uses it), not a failure of the run.
    env->Log("the cached database " + db_path + " cannot be opened (" + opened.message() +
             "); building it again");
    (void)env->CloseDb();
    CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_EX, lock_path, [&] {
      env->Log("waiting for the other runs using " + spec.Name() + " to build it again");
    }));
    CANOPY_RETURN_IF_ERROR(env->Build());
    CANOPY_RETURN_IF_ERROR(Lock(env->lock_fd_, LOCK_SH, lock_path, waiting));
    opened = env->OpenDb(options.private_copy);
  }
  if (!opened.ok()) return opened.WithContext("the cached database " + db_path);
  if (options.with_sqlite) CANOPY_RETURN_IF_ERROR(env->OpenSqlite());
  *out = std::move(env);
  return Status::Ok();
}

Status BenchEnv::Build() {
  std::error_code ec;
  const std::string db_path = dir + "/canopy";
  const std::string done_marker = dir + "/canopy.done";
  const std::string jsonl = dir + "/tree.jsonl";
  // What an unfinished build leaves is removed: the next run starts over.
  auto unfinished = [&](const Status& why) {
    (void)CloseDb();
    fs::remove(done_marker, ec);
    fs::remove(jsonl, ec);
    fs::remove_all(db_path, ec);
    return StopRequested() ? Status::Aborted("it was building " + dir) : why;
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

Status BenchEnv::OpenDb(bool private_copy) {
  Status s = OpenDbAt(private_copy);
  if (!private_copy && InUse(s)) {
    // Another run has the cached database open: measure a private copy
    // (nothing is written to it either way).
    Log("the cached database is open in another run; using a private copy of it");
    s = OpenDbAt(true);
  }
  return s;
}

Status BenchEnv::OpenDbAt(bool private_copy) {
  const std::string cached = dir + "/canopy";
  db_path = cached;
  if (private_copy) {
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
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file(ec) || name.rfind("LOG", 0) == 0) continue;
      const fs::path to = fs::path(copy_path_) / name;
      if (e.path().extension() == ".sst") {
        fs::create_hard_link(e.path(), to, ec);
      } else {
        fs::copy_file(e.path(), to, ec);
      }
      if (ec) return Status::IOError("cannot copy " + e.path().string() + ": " + ec.message());
    }
    if (ec) return Status::IOError("cannot list " + cached + ": " + ec.message());
    db_path = copy_path_;
  }
  auto start = std::chrono::steady_clock::now();
  CANOPY_RETURN_IF_ERROR(Db::Open(options_.db_options, db_path, &db));
  open_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::Ok();
}

Status BenchEnv::Reopen(bool private_copy, const std::function<void()>& between) {
  CANOPY_RETURN_IF_ERROR(CloseDb());
  if (between) between();
  return OpenDb(private_copy);
}

Status BenchEnv::OpenSqlite() {
  if (sqlite) return Status::Ok();
  // One run at a time loads the baseline (without a journal: a reader
  // beside the load would see it half written).
  const std::string lock_path = dir + "/sqlite.lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot open " + lock_path + ": " + std::strerror(errno));
  Status s = Lock(fd, LOCK_EX, lock_path,
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

uint64_t BenchEnv::DiskBytes() const {
  return FolderBytes(db_path.empty() ? dir + "/canopy" : db_path);
}

uint64_t BenchEnv::CachedDiskBytes() const {
  // As built (written in the marker); measured now for a cache built
  // before the marker held it.
  if (std::FILE* f = std::fopen((dir + "/canopy.done").c_str(), "r")) {
    unsigned long long bytes = 0;
    const bool read = std::fscanf(f, "%llu", &bytes) == 1;
    std::fclose(f);
    if (read && bytes > 0) return bytes;
  }
  return FolderBytes(dir + "/canopy");
}

}  // namespace canopy::bench
