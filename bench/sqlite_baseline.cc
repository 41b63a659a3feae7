// Copyright (c) Canopy authors.

#include "bench/sqlite_baseline.h"

#include <filesystem>
#include <vector>

namespace canopy::bench {

namespace {

Status Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return Status::IOError("sqlite: " + msg + " in: " + sql);
  }
  return Status::Ok();
}

std::string Successor(std::string p) {
  p.back() = static_cast<char>(p.back() + 1);  // '/' + 1 == '0'
  return p;
}

}  // namespace

std::string SqliteBaseline::PathOf(const GeneratedTree& tree, uint32_t account) {
  std::vector<uint32_t> chain;
  for (uint32_t a = account; a != UINT32_MAX; a = tree.parent[a]) chain.push_back(a);
  std::string p = "/";
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) p += std::to_string(*it) + "/";
  return p;
}

sqlite3_stmt* SqliteBaseline::Prepare(const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return nullptr;
  return st;
}

Status SqliteBaseline::Open(const GeneratedTree& tree, const std::string& path,
                            std::unique_ptr<SqliteBaseline>* out) {
  std::unique_ptr<SqliteBaseline> b(new SqliteBaseline());
  b->path_ = path;
  if (sqlite3_open(path.c_str(), &b->db_) != SQLITE_OK) {
    return Status::IOError("sqlite: cannot open " + path);
  }
  sqlite3* db = b->db_;
  // Runs sharing a cache read the baseline while another may still hold
  // a lock on it (its load's last writes): wait for it instead of taking
  // "busy" for a baseline not loaded, then failing to load it again.
  sqlite3_busy_timeout(db, 30000);
  bool loaded = false;
  {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT name FROM marker", -1, &st, nullptr) == SQLITE_OK) {
      if (sqlite3_step(st) == SQLITE_ROW) {
        loaded = reinterpret_cast<const char*>(sqlite3_column_text(st, 0)) == tree.spec.Name();
      }
    }
    sqlite3_finalize(st);
  }
  if (!loaded) {
    CANOPY_RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                                    "DROP TABLE IF EXISTS accounts; DROP TABLE IF EXISTS devices;"
                                    "DROP TABLE IF EXISTS marker;"
                                    "CREATE TABLE accounts(id INTEGER PRIMARY KEY, parent INTEGER,"
                                    " path TEXT NOT NULL);"
                                    "CREATE TABLE devices(id INTEGER PRIMARY KEY, key TEXT NOT NULL,"
                                    " name TEXT NOT NULL, type TEXT, account INTEGER NOT NULL,"
                                    " path TEXT NOT NULL);"
                                    "BEGIN;"));
    std::vector<std::string> paths(tree.parent.size());
    sqlite3_stmt* ins = b->Prepare("INSERT INTO accounts VALUES(?1, ?2, ?3)");
    for (uint32_t i = 0; i < tree.parent.size(); ++i) {
      paths[i] = tree.parent[i] == UINT32_MAX ? "/" + std::to_string(i) + "/"
                                              : paths[tree.parent[i]] + std::to_string(i) + "/";
      sqlite3_bind_int64(ins, 1, i);
      if (tree.parent[i] == UINT32_MAX) {
        sqlite3_bind_null(ins, 2);
      } else {
        sqlite3_bind_int64(ins, 2, tree.parent[i]);
      }
      sqlite3_bind_text(ins, 3, paths[i].c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(ins);
      sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    static const char* const kTypes[] = {"tracker", "sensor", "camera", "gateway"};
    ins = b->Prepare("INSERT INTO devices VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    for (uint64_t d = 0; d < tree.device_owner.size(); ++d) {
      if (d % 65536 == 0 && StopRequested()) {
        // Loaded again by the next run (the marker is written last).
        sqlite3_finalize(ins);
        return Status::Aborted("stopped while loading SQLite");
      }
      std::string key = GeneratedTree::DeviceKey(d);
      std::string name = "Device " + std::to_string(d);
      uint32_t a = tree.device_owner[d];
      sqlite3_bind_int64(ins, 1, static_cast<int64_t>(d));
      sqlite3_bind_text(ins, 2, key.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ins, 3, name.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ins, 4, kTypes[d % 4], -1, SQLITE_STATIC);
      sqlite3_bind_int64(ins, 5, a);
      sqlite3_bind_text(ins, 6, paths[a].c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(ins);
      sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    CANOPY_RETURN_IF_ERROR(Exec(db, "COMMIT;"
                                    "CREATE INDEX accounts_parent ON accounts(parent);"
                                    "CREATE UNIQUE INDEX devices_key ON devices(key);"
                                    "CREATE INDEX devices_account ON devices(account);"
                                    "CREATE INDEX devices_path ON devices(path, id);"
                                    "CREATE TABLE marker(name TEXT);"
                                    "ANALYZE;"));
    CANOPY_RETURN_IF_ERROR(
        Exec(db, "INSERT INTO marker VALUES('" + tree.spec.Name() + "');"));
  }
  CANOPY_RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                  "PRAGMA cache_size=-262144;"));  // 256 MiB, as Canopy's cache
  b->scan_cte_ = b->Prepare(
      "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL SELECT a.id FROM accounts a"
      " JOIN sub s ON a.parent = s.id)"
      " SELECT d.key, d.name FROM sub JOIN devices d ON d.account = sub.id LIMIT ?2");
  b->scan_path_ = b->Prepare(
      "SELECT key, name FROM devices WHERE path >= ?1 AND path < ?2 ORDER BY path, id LIMIT ?3");
  b->count_cte_ = b->Prepare(
      "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL SELECT a.id FROM accounts a"
      " JOIN sub s ON a.parent = s.id)"
      " SELECT COUNT(*) FROM sub JOIN devices d ON d.account = sub.id");
  b->count_path_ = b->Prepare("SELECT COUNT(*) FROM devices WHERE path >= ?1 AND path < ?2");
  b->check_ = b->Prepare("SELECT path FROM devices WHERE key = ?1");
  if (!b->scan_cte_ || !b->scan_path_ || !b->count_cte_ || !b->count_path_ || !b->check_) {
    return Status::Internal(std::string("sqlite: prepare failed: ") + sqlite3_errmsg(db));
  }
  *out = std::move(b);
  return Status::Ok();
}

SqliteBaseline::~SqliteBaseline() {
  for (sqlite3_stmt* st : {scan_cte_, scan_path_, count_cte_, count_path_, check_, scan_direct_,
                           count_direct_, device_path_, owner_chain_}) {
    sqlite3_finalize(st);
  }
  sqlite3_close(db_);
}

uint64_t SqliteBaseline::ScanCte(uint32_t account, uint64_t limit) {
  sqlite3_bind_int64(scan_cte_, 1, account);
  sqlite3_bind_int64(scan_cte_, 2, static_cast<int64_t>(std::min<uint64_t>(limit, INT64_MAX)));
  uint64_t n = 0, bytes = 0;
  while (sqlite3_step(scan_cte_) == SQLITE_ROW) {
    bytes += sqlite3_column_bytes(scan_cte_, 0) + sqlite3_column_bytes(scan_cte_, 1);
    ++n;
  }
  sqlite3_reset(scan_cte_);
  sink_ += bytes;
  return n;
}

uint64_t SqliteBaseline::ScanPath(const std::string& path, uint64_t limit) {
  std::string hi = Successor(path);
  sqlite3_bind_text(scan_path_, 1, path.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(scan_path_, 2, hi.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_int64(scan_path_, 3, static_cast<int64_t>(std::min<uint64_t>(limit, INT64_MAX)));
  uint64_t n = 0, bytes = 0;
  while (sqlite3_step(scan_path_) == SQLITE_ROW) {
    bytes += sqlite3_column_bytes(scan_path_, 0) + sqlite3_column_bytes(scan_path_, 1);
    ++n;
  }
  sqlite3_reset(scan_path_);
  sink_ += bytes;
  return n;
}

uint64_t SqliteBaseline::CountCte(uint32_t account) {
  sqlite3_bind_int64(count_cte_, 1, account);
  uint64_t n = sqlite3_step(count_cte_) == SQLITE_ROW ? sqlite3_column_int64(count_cte_, 0) : 0;
  sqlite3_reset(count_cte_);
  return n;
}

uint64_t SqliteBaseline::CountPath(const std::string& path) {
  std::string hi = Successor(path);
  sqlite3_bind_text(count_path_, 1, path.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(count_path_, 2, hi.c_str(), -1, SQLITE_STATIC);
  uint64_t n = sqlite3_step(count_path_) == SQLITE_ROW ? sqlite3_column_int64(count_path_, 0) : 0;
  sqlite3_reset(count_path_);
  return n;
}

bool SqliteBaseline::CheckPath(const std::string& key, const std::string& grant) {
  sqlite3_bind_text(check_, 1, key.c_str(), -1, SQLITE_STATIC);
  bool ok = false;
  if (sqlite3_step(check_) == SQLITE_ROW) {
    const char* p = reinterpret_cast<const char*>(sqlite3_column_text(check_, 0));
    ok = std::string_view(p).substr(0, grant.size()) == grant;
  }
  sqlite3_reset(check_);
  return ok;
}

uint64_t SqliteBaseline::ScanDirect(uint32_t account, uint64_t limit) {
  if (!scan_direct_) {
    scan_direct_ = Prepare("SELECT key, name FROM devices WHERE account = ?1 ORDER BY id LIMIT ?2");
    if (!scan_direct_) return 0;
  }
  sqlite3_bind_int64(scan_direct_, 1, account);
  sqlite3_bind_int64(scan_direct_, 2, static_cast<int64_t>(std::min<uint64_t>(limit, INT64_MAX)));
  uint64_t n = 0, bytes = 0;
  while (sqlite3_step(scan_direct_) == SQLITE_ROW) {
    bytes += sqlite3_column_bytes(scan_direct_, 0) + sqlite3_column_bytes(scan_direct_, 1);
    ++n;
  }
  sqlite3_reset(scan_direct_);
  sink_ += bytes;
  return n;
}

uint64_t SqliteBaseline::CountDirect(uint32_t account) {
  if (!count_direct_) {
    count_direct_ = Prepare("SELECT COUNT(*) FROM devices WHERE account = ?1");
    if (!count_direct_) return 0;
  }
  sqlite3_bind_int64(count_direct_, 1, account);
  uint64_t n =
      sqlite3_step(count_direct_) == SQLITE_ROW ? sqlite3_column_int64(count_direct_, 0) : 0;
  sqlite3_reset(count_direct_);
  return n;
}

bool SqliteBaseline::DevicePath(const std::string& key, uint32_t* owner, std::string* path) {
  if (!device_path_) {
    device_path_ = Prepare("SELECT account, path FROM devices WHERE key = ?1");
    if (!device_path_) return false;
  }
  sqlite3_bind_text(device_path_, 1, key.c_str(), -1, SQLITE_STATIC);
  bool found = sqlite3_step(device_path_) == SQLITE_ROW;
  if (found) {
    *owner = static_cast<uint32_t>(sqlite3_column_int64(device_path_, 0));
    path->assign(reinterpret_cast<const char*>(sqlite3_column_text(device_path_, 1)));
  }
  sqlite3_reset(device_path_);
  return found;
}

bool SqliteBaseline::OwnerChainCte(const std::string& key, std::vector<uint32_t>* chain) {
  if (!owner_chain_) {
    owner_chain_ = Prepare(
        "WITH RECURSIVE up(id) AS (SELECT account FROM devices WHERE key = ?1"
        " UNION ALL SELECT a.parent FROM accounts a JOIN up ON a.id = up.id"
        " WHERE a.parent IS NOT NULL) SELECT id FROM up");
    if (!owner_chain_) return false;
  }
  chain->clear();
  sqlite3_bind_text(owner_chain_, 1, key.c_str(), -1, SQLITE_STATIC);
  while (sqlite3_step(owner_chain_) == SQLITE_ROW) {
    chain->push_back(static_cast<uint32_t>(sqlite3_column_int64(owner_chain_, 0)));
  }
  sqlite3_reset(owner_chain_);
  return !chain->empty();
}

uint64_t SqliteBaseline::MovePath(uint32_t account, uint32_t new_parent, const GeneratedTree& tree) {
  std::string old_path = PathOf(tree, account);
  std::string new_path = PathOf(tree, new_parent) + std::to_string(account) + "/";
  std::string hi = Successor(old_path);
  sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
  sqlite3_stmt* up = Prepare(
      "UPDATE devices SET path = ?1 || substr(path, ?2) WHERE path >= ?3 AND path < ?4");
  sqlite3_bind_text(up, 1, new_path.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_int64(up, 2, static_cast<int64_t>(old_path.size()) + 1);
  sqlite3_bind_text(up, 3, old_path.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(up, 4, hi.c_str(), -1, SQLITE_STATIC);
  sqlite3_step(up);
  uint64_t changed = static_cast<uint64_t>(sqlite3_changes(db_));
  sqlite3_finalize(up);
  up = Prepare("UPDATE accounts SET path = ?1 || substr(path, ?2) WHERE path >= ?3 AND path < ?4");
  sqlite3_bind_text(up, 1, new_path.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_int64(up, 2, static_cast<int64_t>(old_path.size()) + 1);
  sqlite3_bind_text(up, 3, old_path.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(up, 4, hi.c_str(), -1, SQLITE_STATIC);
  sqlite3_step(up);
  sqlite3_finalize(up);
  // Undo, so the baseline's data stays the generated tree.
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return changed;
}

size_t SqliteBaseline::DiskBytes() const {
  std::error_code ec;
  size_t n = std::filesystem::file_size(path_, ec);
  return ec ? 0 : n;
}

}  // namespace canopy::bench
