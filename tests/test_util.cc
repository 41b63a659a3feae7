// Copyright (c) Canopy authors.

#include "tests/test_util.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "engine/db_impl.h"
#include "storage/keys.h"

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
  out.erase(std::string(storage::CfName(storage::kMeta)) + "/" + std::string(storage::kFormatKey));
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

}  // namespace canopy::testing
