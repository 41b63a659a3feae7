// Copyright (c) Canopy authors.

#include "tests/test_util.h"

#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <utility>

#include "engine/db_impl.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace canopy::testing {

TempDir::TempDir() : TempDir(std::filesystem::temp_directory_path().string()) {}

TempDir::TempDir(const std::string& parent) {
  std::string tmpl = parent + "/canopy-test-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  if (p == nullptr) {
    tmpl = (std::filesystem::temp_directory_path() / "canopy-test-XXXXXX").string();
    p = mkdtemp(tmpl.data());
  }
  if (p == nullptr) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Dump DumpAll(Db* db) {
  Dump out;
  auto* impl = static_cast<engine::DbImpl*>(db);
  storage::Store* store = impl->store();
  for (int cf = 0; cf < storage::kNumCfs; ++cf) {
    auto it = store->NewIterator(cf, nullptr, "", "");
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      out[std::string(storage::CfName(cf)) + "/" + (*it)->key().ToString()] =
          (*it)->value().ToString();
    }
  }
  return out;
}

Dump DumpReplicated(Db* db) {
  Dump out = DumpAll(db);
  const std::string meta = std::string(storage::CfName(storage::kMeta)) + "/";
  out.erase(meta + std::string(storage::kFormatKey));
  // How this database wrote its imports (files or a logged batch, by its
  // own import's sizes), for its readers: not the replicated state.
  out.erase(meta + std::string(storage::kMetaIngested));
  out.erase(meta + std::string(storage::kMetaIngestSeen));
  // Which log in etcd this folder follows (a replica's own mark, which a
  // database following it through ApplyChanges does not carry).
  out.erase(meta + std::string(storage::kMetaReplicaOf));
  return out;
}

bool Allowed(const Db& db, UserId user, std::string_view permission, std::string_view key) {
  auto r = db.Check(user, permission, key);
  if (r.status().IsNotFound()) return false;
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() && *r;
}

std::unique_ptr<Db> OpenDb(const std::string& path, Options options) {
  options.sync = false;
  std::unique_ptr<Db> db;
  Status s = Db::Open(options, path, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return db;
}

AccountId MakeAccount(Db* db, const std::string& key, AccountId parent,
                      bool sub_account_management, const Actor& actor) {
  AccountSpec spec;
  spec.key = key;
  spec.name = "Account " + key;
  spec.parent = parent;
  spec.settings.sub_account_management = sub_account_management;
  auto r = db->CreateAccount(actor, spec);
  EXPECT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  return r.ok() ? *r : kNoId;
}

EntityId MakeDevice(Db* db, const std::string& key, AccountId owner, const std::string& unit_id,
                    const Actor& actor) {
  EntitySpec spec;
  spec.kind = EntityKind::kDevice;
  spec.key = key;
  spec.unit_id = unit_id;
  spec.name = "Device " + key;
  spec.type = "tracker";
  spec.owner = owner;
  auto r = db->CreateEntity(actor, spec);
  EXPECT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  return r.ok() ? *r : kNoId;
}

UserId MakeUser(Db* db, const std::string& login, AccountId account, const Actor& actor) {
  auto r = db->CreateUser(actor, UserSpec{login, "User " + login, account});
  EXPECT_TRUE(r.ok()) << login << ": " << r.status().ToString();
  return r.ok() ? *r : kNoId;
}

std::vector<std::string> KeysIn(Db* db, AccountId account, EntityKind kind, bool direct_only) {
  VisibleRequest req{Actor::System()};
  req.kind = kind;
  req.within = account;
  req.direct_only = direct_only;
  std::unique_ptr<VisibleIterator> it;
  Status s = db->NewVisibleIterator(req, &it);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<std::string> keys;
  if (!s.ok()) return keys;
  for (; it->Valid(); it->Next()) keys.emplace_back(it->key());
  EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  return keys;
}

namespace {
std::string Escape(const std::string& bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}
}  // namespace

std::string DescribeDiff(const Dump& before, const Dump& after, size_t max_keys) {
  std::string out;
  size_t shown = 0, total = 0;
  auto note = [&](const char* what, const std::string& key) {
    ++total;
    if (shown == max_keys) return;
    ++shown;
    out += std::string("\n  ") + what + " " + Escape(key);
  };
  for (const auto& [key, value] : before) {
    auto it = after.find(key);
    if (it == after.end()) {
      note("removed", key);
    } else if (it->second != value) {
      note("changed", key);
    }
  }
  for (const auto& [key, value] : after) {
    if (before.count(key) == 0) note("added", key);
  }
  if (total == 0) return "no difference";
  if (total > shown) out += "\n  ... " + std::to_string(total - shown) + " more";
  return std::to_string(total) + " keys differ:" + out;
}

Status ReadLog(Db* db, std::vector<storage::LogEntry>* entries) {
  entries->clear();
  for (uint64_t since = 1;;) {
    std::vector<std::string> page;
    CANOPY_RETURN_IF_ERROR(db->ReadLogEntries(since, 500, &page));
    if (page.empty()) return Status::Ok();
    for (const std::string& bytes : page) {
      storage::LogEntry e;
      std::string_view entry, input;
      CANOPY_RETURN_IF_ERROR(storage::UnframeLogEntry(bytes, &entry, &input));
      CANOPY_RETURN_IF_ERROR(storage::DecodeLogEntry(entry, &e));
      CANOPY_RETURN_IF_ERROR(storage::DecodeRecords(&e.changes));
      since = e.revision + 1;
      entries->push_back(std::move(e));
    }
  }
}

Status StoredCatalog(const std::string& folder, query::Catalog* catalog) {
  storage::StoreOptions so;
  so.read_only = true;
  so.create_if_missing = false;
  std::unique_ptr<storage::Store> store;
  CANOPY_RETURN_IF_ERROR(storage::Store::Open(so, folder, &store));
  *catalog = query::Catalog();
  return catalog->Load(*store);
}

Status EmptyCatalog(const std::string& scratch, query::Catalog* catalog) {
  OpenDb(scratch).reset();
  return StoredCatalog(scratch, catalog);
}

std::vector<std::string> CheckUndoAlongTheLog(Db* db, const std::string& scratch,
                                              size_t* entries, size_t* undone) {
  std::vector<std::string> problems;
  *entries = 0;
  *undone = 0;
  auto fail = [&](const storage::LogEntry& e, const std::string& what) {
    problems.push_back("entry " + std::to_string(e.revision) + " (" + e.operation + "): " + what);
  };
  query::Catalog cat;
  Status s = EmptyCatalog(scratch, &cat);
  if (!s.ok()) return {"the empty catalog: " + s.ToString()};
  std::vector<storage::LogEntry> log;
  if (!(s = ReadLog(db, &log)).ok()) return {"read the log: " + s.ToString()};
  // The last entries and the catalog before each: runs of them are undone
  // newest first, as a replica takes back a group of writes.
  std::deque<std::pair<const storage::LogEntry*, query::Catalog>> recent;
  auto deletes_an_account = [](const storage::LogEntry& e) {
    for (const auto& r : e.changes.records) {
      if (r.type == storage::RecordType::kAccount && r.after.empty()) return true;
    }
    return false;
  };
  for (const storage::LogEntry& e : log) {
    ++*entries;
    if (e.import_chunks > 0 || e.import_bytes > 0) {
      fail(e, "an import (its entry carries its input, not its records)");
      return problems;
    }
    const query::Catalog before = cat;
    if (!(s = cat.Apply(e.changes)).ok()) {
      fail(e, "apply: " + s.ToString());
      return problems;
    }
    const query::Catalog after = cat;
    const bool deletes_account = deletes_an_account(e);
    recent.emplace_back(&e, before);
    if (recent.size() > 8) recent.pop_front();
    // Every third entry, a run of the last 2..8 undone, newest first.
    const size_t n = 2 + *entries % 7;
    if (*entries % 3 == 0 && recent.size() >= n) {
      bool undoable = true;
      for (size_t i = recent.size() - n; i < recent.size(); ++i) {
        undoable &= !deletes_an_account(*recent[i].first);
      }
      query::Catalog run = cat;
      for (size_t i = recent.size(); undoable && i-- > recent.size() - n;) {
        if (!(s = run.Undo(recent[i].first->changes)).ok()) {
          fail(*recent[i].first, "undo in a run of " + std::to_string(n) + ": " + s.ToString());
          undoable = false;
        }
      }
      if (undoable) {
        query::CompareCatalogs(run, recent[recent.size() - n].second, [&](std::string p) {
          fail(e, "a run of " + std::to_string(n) + " entries undone: " + p);
        });
      }
    }
    s = cat.Undo(e.changes);
    if (deletes_account || !s.ok()) {
      if (!deletes_account || s.code() != Code::kFailedPrecondition) fail(e, "undo: " + s.ToString());
      cat = after;
      continue;
    }
    ++*undone;
    query::CompareCatalogs(cat, before, [&](std::string p) { fail(e, "undone: " + p); });
    if (!(s = cat.Apply(e.changes)).ok()) {
      fail(e, "applied again: " + s.ToString());
      cat = after;
      continue;
    }
    query::CompareCatalogs(cat, after, [&](std::string p) { fail(e, "applied again: " + p); });
    if (problems.size() > 20) return problems;
  }
  return problems;
}

}  // namespace canopy::testing
