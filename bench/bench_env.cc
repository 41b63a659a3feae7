// Copyright (c) Canopy authors.

#include "bench/bench_env.h"

#include <chrono>
#include <cstdio>
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
  auto env = std::make_unique<BenchEnv>();
  env->spec = spec;
  env->dir = (fs::path(root_dir) / spec.Name()).string();
  std::error_code ec;
  fs::create_directories(env->dir, ec);
  if (ec) return Status::IOError("cannot create " + env->dir + ": " + ec.message());
  const std::string db_path = env->dir + "/canopy";
  const std::string done_marker = env->dir + "/canopy.done";
  const bool reuse = fs::exists(done_marker);
  std::string jsonl = reuse ? "" : env->dir + "/tree.jsonl";
  if (verbose) std::fprintf(stderr, "bench: generating %s\n", spec.Name().c_str());
  CANOPY_RETURN_IF_ERROR(Generate(spec, jsonl, &env->tree));
  if (!reuse) {
    fs::remove_all(db_path, ec);
    Options o;
    o.sync = false;
    CANOPY_RETURN_IF_ERROR(Db::Open(o, db_path, &env->db));
    if (verbose) std::fprintf(stderr, "bench: importing %s\n", jsonl.c_str());
    env->import_bytes = fs::file_size(jsonl, ec);
    auto start = std::chrono::steady_clock::now();
    ImportReport report;
    CANOPY_RETURN_IF_ERROR(env->db->Import(Actor::System(), jsonl, ImportOptions(), &report));
    env->import_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (verbose) {
      std::fprintf(stderr, "bench: imported %llu devices in %.2f s (%.0f devices/s)\n",
                   (unsigned long long)report.entities, env->import_seconds,
                   report.entities / env->import_seconds);
    }
    CANOPY_RETURN_IF_ERROR(env->db->Close());
    env->db.reset();
    fs::remove(jsonl, ec);
    std::FILE* f = std::fopen(done_marker.c_str(), "w");
    if (f) std::fclose(f);
  }
  Options o;
  o.sync = false;
  CANOPY_RETURN_IF_ERROR(Db::Open(o, db_path, &env->db));
  if (with_sqlite) {
    if (verbose) std::fprintf(stderr, "bench: preparing SQLite\n");
    CANOPY_RETURN_IF_ERROR(SqliteBaseline::Open(env->tree, env->dir + "/sqlite.db", &env->sqlite));
  }
  *out = std::move(env);
  return Status::Ok();
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

uint64_t BenchEnv::DiskBytes() const { return FolderBytes(dir + "/canopy"); }

}  // namespace canopy::bench
