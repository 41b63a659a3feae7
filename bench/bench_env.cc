// Copyright (c) Canopy authors.

#include "bench/bench_env.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "engine/db_impl.h"
#include "storage/records.h"

namespace canopy::bench {

namespace fs = std::filesystem;

uint64_t FolderBytes(const std::string& path) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
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
  const std::string db_path = env->dir + "/canopy";
  const std::string done_marker = env->dir + "/canopy.done";
  const bool reuse = fs::exists(done_marker);
  std::string jsonl = reuse ? "" : env->dir + "/tree.jsonl";
  env->Log("generating " + spec.Name());
  CANOPY_RETURN_IF_ERROR(Generate(spec, jsonl, &env->tree));
  if (!reuse) {
    fs::remove_all(db_path, ec);
    CANOPY_RETURN_IF_ERROR(Db::Open(options.db_options, db_path, &env->db));
    env->Log("importing " + jsonl);
    env->import_bytes = fs::file_size(jsonl, ec);
    auto start = std::chrono::steady_clock::now();
    ImportReport report;
    ImportOptions import_options;
    import_options.progress = options.import_progress;
    CANOPY_RETURN_IF_ERROR(env->db->Import(Actor::System(), jsonl, import_options, &report));
    env->import_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    char line[160];
    std::snprintf(line, sizeof(line), "imported %llu devices in %.2f s (%.0f devices/s)",
                  (unsigned long long)report.entities, env->import_seconds,
                  report.entities / env->import_seconds);
    env->Log(line);
    CANOPY_RETURN_IF_ERROR(env->db->Close());
    env->db.reset();
    fs::remove(jsonl, ec);
    std::FILE* f = std::fopen(done_marker.c_str(), "w");
    if (f) std::fclose(f);
  }
  CANOPY_RETURN_IF_ERROR(env->OpenDb(options.private_copy));
  if (options.with_sqlite) CANOPY_RETURN_IF_ERROR(env->OpenSqlite());
  *out = std::move(env);
  return Status::Ok();
}

BenchEnv::~BenchEnv() {
  sqlite.reset();
  (void)CloseDb();
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
  Log("preparing SQLite");
  return SqliteBaseline::Open(tree, dir + "/sqlite.db", &sqlite);
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

uint64_t BenchEnv::CachedDiskBytes() const { return FolderBytes(dir + "/canopy"); }

}  // namespace canopy::bench
