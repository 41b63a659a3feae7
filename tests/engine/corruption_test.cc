// Copyright (c) Canopy authors.
//
// The corruption matrix: a small but real database (accounts, users,
// memberships, a custom role, devices and assets with attributes; flushed
// into tables by two sessions, plus a live write-ahead log of synced
// writes that were never flushed, plus the change log) is damaged one file
// at a time — a byte flipped at several offsets, the file cut to half or to
// nothing, the file deleted — each on a fresh copy. Then:
//
//   - Db::Open (library defaults, read-only, and as `canopy check-db`
//     opens it) either fails with Corruption, IOError, NotFound or
//     InvalidArgument and a message, or opens;
//   - once open, every query, an export and the integrity check give
//     either an error (Corruption or IOError) or exactly the answer the
//     undamaged database gave at the revision it opened at — never another
//     answer, never a crash (ASan/UBSan runs this too);
//   - when any answer is an error, so is the integrity check (check-db
//     finds every damage a query trips over).
//
// Opening at an earlier revision than the last acknowledged one (a
// consistent but older state) is allowed only where RocksDB cannot tell
// damage from a crash: the live write-ahead log cut short or deleted (see
// docs/testing.md). The test prints what each damage led to.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "tests/fault_fs.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

using Answers = std::map<std::string, std::string>;

std::string Err(const Status& s) { return std::string("error:") + CodeName(s.code()); }

std::string Attrs(const Attributes& a) {
  std::string out;
  for (const auto& [k, v] : a) out += k + "=" + v + ";";
  return out;
}

std::string Render(const Account& a) {
  return std::to_string(a.id) + "|" + a.key + "|" + a.name + "|" + std::to_string(a.parent) +
         "|" + std::to_string(a.depth) + "|" + std::to_string(a.created_us) + "|" +
         std::to_string(a.updated_us) + "|" + Attrs(a.attributes) + "|" +
         std::to_string(a.settings.sub_account_management) +
         SubAccountAccessName(a.settings.sub_account_access);
}
std::string Render(const Entity& e) {
  return std::to_string(e.id) + "|" + EntityKindName(e.kind) + "|" + e.key + "|" + e.unit_id +
         "|" + e.name + "|" + e.type + "|" + std::to_string(e.owner) + "|" +
         std::to_string(e.created_us) + "|" + std::to_string(e.updated_us) + "|" +
         Attrs(e.attributes);
}
std::string Render(const User& u) {
  return std::to_string(u.id) + "|" + u.login + "|" + u.name + "|" + std::to_string(u.account) +
         "|" + std::to_string(u.disabled) + "|" + std::to_string(u.created_us);
}
std::string Render(const Membership& m) {
  return std::to_string(m.user) + "@" + std::to_string(m.account) + ":" + std::to_string(m.role) +
         (m.branch ? "+branch" : "") + "|" + std::to_string(m.created_us);
}
std::string Render(const Role& r) {
  std::string out = std::to_string(r.id) + "|" + r.name + "|" + std::to_string(r.tenant);
  for (const auto& p : r.permissions) out += "," + p;
  return out;
}
std::string Render(const EntityCounts& c) {
  return std::to_string(c.direct) + "/" + std::to_string(c.subtree);
}
std::string Render(const AccountSummary& s) {
  std::string out = Render(s.account);
  for (const auto& p : s.path) out += "/" + p;
  return out + "|" + std::to_string(s.users) + "|" + std::to_string(s.sub_accounts) + "|" +
         std::to_string(s.devices_direct) + "|" + std::to_string(s.devices_subtree);
}
std::string Render(uint64_t v) { return std::to_string(v); }
std::string Render(bool v) { return v ? "true" : "false"; }
std::string Render(const std::string& s) { return s; }
template <typename T>
std::string Render(const std::vector<T>& v) {
  std::string out;
  for (const auto& x : v) out += Render(x) + "\n";
  return out;
}
template <typename T>
std::string Render(const StatusOr<T>& r) {
  return r.ok() ? Render(*r) : Err(r.status());
}

// What the test asks a database: every key it ever used (also deleted ones).
struct Probe {
  std::vector<std::string> accounts, devices, assets, users, tenants;
  std::string scratch;  // a folder for exports
};

Answers Ask(Db* db, const Probe& p) {
  Answers a;
  a["revision"] = std::to_string(db->Revision());
  a["log_id"] = db->LogId();
  {
    std::string roots;
    for (AccountId r : db->Roots()) roots += std::to_string(r) + ",";
    a["roots"] = roots;
  }
  for (const auto& k : p.accounts) {
    auto acc = db->FindAccount(k);
    a["account/" + k] = Render(acc);
    if (!acc.ok()) {
      // What depends on it fails the same way (a loud error stays loud).
      for (const char* q : {"get_account/", "ancestors/", "descendants/", "count_devices/",
                            "count_assets/", "summary/", "users_of/", "members_of/"}) {
        a[q + k] = Err(acc.status());
      }
      continue;
    }
    const AccountId id = acc->id;
    a["get_account/" + k] = Render(db->GetAccount(id));
    a["ancestors/" + k] = Render(db->Ancestors(id));
    a["descendants/" + k] = Render(db->Descendants(id, 0));
    a["count_devices/" + k] = Render(db->CountOwned(id, EntityKind::kDevice));
    a["count_assets/" + k] = Render(db->CountOwned(id, EntityKind::kAsset));
    a["summary/" + k] = Render(db->Summary(id));
    a["users_of/" + k] = Render(db->UsersOf(id));
    a["members_of/" + k] = Render(db->MembersOf(id));
  }
  for (const auto& k : p.tenants) {
    auto t = db->FindAccount(k);
    if (!t.ok()) {
      a["roles/" + k] = a["graph/" + k] = Err(t.status());
      continue;
    }
    a["roles/" + k] = Render(db->ListRoles(t->id));
    a["graph/" + k] = Render(db->GraphJson(Actor::System(), t->id, 0));
  }
  for (size_t i = 0; i < p.devices.size(); ++i) {
    const auto& k = p.devices[i];
    auto e = db->FindEntity(EntityKind::kDevice, k);
    a["device/" + k] = Render(e);
    a["unit/" + k] = Render(db->FindDeviceByUnitId("unit-" + k));
    if (i % 7 == 0) a["get_entity/" + k] = e.ok() ? Render(db->GetEntity(e->id)) : Err(e.status());
  }
  for (const auto& k : p.assets) a["asset/" + k] = Render(db->FindEntity(EntityKind::kAsset, k));

  // Visibility: a streamed scan per viewer and kind, a filtered scan,
  // counts, checks and who-can.
  std::vector<std::pair<std::string, Actor>> viewers{{"system", Actor::System()}};
  for (const auto& login : p.users) {
    auto u = db->FindUser(login);
    a["user/" + login] = Render(u);
    if (!u.ok()) {
      a["memberships/" + login] = Err(u.status());
      for (size_t i = 0; i < p.devices.size(); i += 9) {
        a["check/" + login + "/" + p.devices[i]] = Err(u.status());
      }
      for (EntityKind kind : {EntityKind::kDevice, EntityKind::kAsset}) {
        for (const char* f : {"", "/red"}) {
          a[std::string("visible/") + login + "/" + EntityKindName(kind) + f] =
              a[std::string("count/") + login + "/" + EntityKindName(kind) + f] = Err(u.status());
        }
      }
      a["table/" + login] = Err(u.status());
      continue;
    }
    viewers.emplace_back(login, Actor::User(u->id));
    a["memberships/" + login] = Render(db->MembershipsOf(u->id));
    for (size_t i = 0; i < p.devices.size(); i += 9) {
      a["check/" + login + "/" + p.devices[i]] =
          Render(db->Check(u->id, "device.read", p.devices[i]));
    }
  }
  for (const auto& [name, viewer] : viewers) {
    for (EntityKind kind : {EntityKind::kDevice, EntityKind::kAsset}) {
      for (int filtered = 0; filtered < 2; ++filtered) {
        VisibleRequest req{viewer};
        req.kind = kind;
        if (filtered) req.attribute = AttributeFilter{"color", "red"};
        const std::string key = std::string("visible/") + name + "/" + EntityKindName(kind) +
                                (filtered ? "/red" : "");
        std::unique_ptr<VisibleIterator> it;
        Status s = db->NewVisibleIterator(req, &it);
        std::string out;
        if (s.ok()) {
          for (; it->Valid(); it->Next()) {
            out += std::to_string(it->id()) + "|" + std::string(it->key()) + "|" +
                   std::string(it->name()) + "|" + std::string(it->type()) + "|" +
                   std::to_string(it->owner()) + "\n";
          }
          s = it->status();
        }
        a[key] = s.ok() ? out : Err(s);
        a["count/" + name + "/" + EntityKindName(kind) + (filtered ? "/red" : "")] =
            Render(db->Count(req));
      }
    }
    TableRequest t{viewer};
    t.limit = 10000;
    TablePage page;
    Status s = db->AccountsTable(t, &page);
    std::string rows;
    for (const auto& r : page.rows) {
      rows += std::to_string(r.id) + "|" + r.key + "|" + std::to_string(r.users) + "|" +
              std::to_string(r.sub_accounts) + "|" + std::to_string(r.devices_direct) + "|" +
              std::to_string(r.devices_subtree) + "\n";
    }
    a["table/" + name] = s.ok() ? rows + std::to_string(page.total) : Err(s);
  }
  for (size_t i = 0; i < p.devices.size(); i += 11) {
    WhoCanRequest w;
    w.permission = "device.read";
    w.entity_key = p.devices[i];
    w.limit = 10000;
    WhoCanPage page;
    Status s = db->WhoCan(w, &page);
    std::string out;
    for (const auto& item : page.items) {
      out += std::to_string(item.user) + "|" + item.login + "|" + std::to_string(item.via_account) +
             "|" + std::to_string(item.role) + "\n";
    }
    a["who_can/" + p.devices[i]] = s.ok() ? out : Err(s);
  }

  // The change log, as a reader and as a follower gets it.
  {
    ChangesRequest req;
    req.viewer = Actor::System();
    req.limit = 100000;
    ChangesPage page;
    Status s = db->ReadChanges(req, &page);
    std::string out;
    for (const auto& e : page.entries) {
      out += std::to_string(e.revision) + " " + e.operation + " " + e.actor + " " + e.arguments;
      for (const auto& c : e.changes) {
        out += " [" + c.type + " " + c.action + " " + c.id + " " + c.before + " " + c.after + "]";
      }
      out += "\n";
    }
    a["changes"] = s.ok() ? out : Err(s);
    std::vector<std::string> entries;
    s = db->ReadLogEntries(1, 100000, &entries);
    std::string all;
    for (const auto& e : entries) all += std::to_string(e.size()) + ":" + e;
    a["log_entries"] = s.ok() ? all : Err(s);
  }
  // An export reads every record; the integrity check every invariant.
  {
    const std::string path = p.scratch + "/export.jsonl";
    std::error_code ec;
    fs::remove(path, ec);
    Status s = db->Export(path, nullptr, nullptr);
    if (s.ok()) {
      std::ifstream in(path, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      a["export"] = ss.str();
    } else {
      a["export"] = Err(s);
    }
    fs::remove(path, ec);
  }
  std::vector<std::string> problems;
  Status s = db->CheckIntegrity(&problems);
  a["integrity"] = s.ok() ? "ok" : Err(s);
  return a;
}

bool LoudError(const std::string& answer) {
  return answer == "error:corruption" || answer == "error:io_error";
}

// ---- Building the database ----------------------------------------------------

struct Built {
  Probe probe;
  std::map<uint64_t, Answers> by_revision;  // answers at each revision of the live log
  uint64_t flushed_revision = 0;            // the last revision in tables
  uint64_t final_revision = 0;
};

EntityId Device(Db* db, Probe* p, const std::string& key, AccountId owner, int i) {
  EntitySpec s;
  s.key = key;
  s.unit_id = "unit-" + key;
  s.name = "Device " + key;
  s.type = i % 3 ? "tracker" : "dongle";
  s.owner = owner;
  s.attributes = {{"color", i % 4 ? "blue" : "red"}, {"vin", "VIN" + std::to_string(1000 + i)}};
  auto r = db->CreateEntity(Actor::System(), s);
  EXPECT_OK(r);
  p->devices.push_back(key);
  return r.ok() ? *r : kNoId;
}

void Build(const std::string& path, const TempDir& dir, Built* out) {
  Probe& p = out->probe;
  p.scratch = dir.Sub("scratch");
  fs::create_directories(p.scratch);
  auto account = [&](Db* db, const std::string& key, AccountId parent) {
    AccountSpec s{key, "Account " + key, parent};
    s.attributes = {{"region", key.size() % 2 ? "eu" : "us"}};
    s.settings.sub_account_management = true;
    auto r = db->CreateAccount(Actor::System(), s);
    EXPECT_OK(r);
    p.accounts.push_back(key);
    if (parent == kNoId) p.tenants.push_back(key);
    return r.ok() ? *r : kNoId;
  };
  // Two sessions, each closed cleanly: two generations of tables.
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(Db::Open(Options(), path, &db));
    AccountId acme = account(db.get(), "acme", kNoId);
    AccountId globex = account(db.get(), "globex", kNoId);
    AccountId a = account(db.get(), "acme-a", acme);
    AccountId b = account(db.get(), "acme-b", acme);
    AccountId a1 = account(db.get(), "acme-a-1", a);
    AccountId a2 = account(db.get(), "acme-a-2", a);
    AccountId x = account(db.get(), "globex-x", globex);
    const std::vector<AccountId> owners{acme, a, b, a1, a2, x, globex};
    for (int i = 0; i < 120; ++i) {
      Device(db.get(), &p, "dev-" + std::to_string(i), owners[i % owners.size()], i);
    }
    for (int i = 0; i < 6; ++i) {
      EntitySpec s{EntityKind::kAsset, "asset-" + std::to_string(i), "", "Asset", "site",
                   owners[i % owners.size()]};
      ASSERT_OK(db->CreateEntity(Actor::System(), s));
      p.assets.push_back(s.key);
    }
    auto alice = db->CreateUser(Actor::System(), {"alice@acme", "Alice", acme});
    auto bob = db->CreateUser(Actor::System(), {"bob@acme", "Bob", acme});
    auto carol = db->CreateUser(Actor::System(), {"carol@globex", "Carol", globex});
    ASSERT_OK(alice);
    ASSERT_OK(bob);
    ASSERT_OK(carol);
    p.users = {"alice@acme", "bob@acme", "carol@globex", "dave@acme"};
    auto role = db->CreateRole(Actor::System(), acme, "auditor", {"device.read", "audit.read"});
    ASSERT_OK(role);
    ASSERT_OK(db->Invite(Actor::System(), *alice, acme,
                         db->FindRole(acme, "account_admin")->id, true));
    ASSERT_OK(db->Invite(Actor::System(), *bob, a1, db->FindRole(acme, "viewer")->id, false));
    ASSERT_OK(db->Invite(Actor::System(), *bob, b, *role, true));
    ASSERT_OK(db->Invite(Actor::System(), *carol, globex,
                         db->FindRole(globex, "device_manager")->id, true));
    ASSERT_OK(db->Close());
  }
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(Db::Open(Options(), path, &db));
    const AccountId b = db->FindAccount("acme-b")->id;
    ASSERT_OK(db->MoveAccount(Actor::System(), db->FindAccount("acme-a-2")->id, b));
    std::vector<std::string> refs;
    for (int i = 0; i < 120; i += 5) refs.push_back("dev-" + std::to_string(i));
    ASSERT_OK(db->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, refs, b,
                                   nullptr));
    for (int i = 1; i < 120; i += 17) {
      ASSERT_OK(db->DeleteEntity(Actor::System(),
                                 db->FindEntity(EntityKind::kDevice, "dev-" + std::to_string(i))->id));
    }
    EntityPatch patch;
    patch.attributes = Attributes{{"color", "red"}, {"note", "patched"}};
    ASSERT_OK(db->UpdateEntity(Actor::System(), db->FindEntity(EntityKind::kDevice, "dev-2")->id,
                               patch));
    account(db.get(), "acme-c", db->FindAccount("acme")->id);
    out->flushed_revision = db->Revision();
    ASSERT_OK(db->Close());
  }
  // A third session whose synced writes stay in the write-ahead log only:
  // the power goes before any flush.
  auto fault = std::make_shared<testing::FaultFs>(rocksdb::FileSystem::Default(), dir.Sub("trash"));
  auto env = testing::FaultFs::NewEnv(fault);
  {
    std::unique_ptr<Db> db;
    ASSERT_OK(testing::OpenDbWithEnv(Options(), path, env.get(), &db));
    out->by_revision[db->Revision()] = Ask(db.get(), p);
    const AccountId c = db->FindAccount("acme-c")->id;
    const AccountId acme = db->FindAccount("acme")->id;
    for (int i = 0; i < 12; ++i) {
      switch (i % 4) {
        case 0: Device(db.get(), &p, "live-" + std::to_string(i), c, i); break;
        case 1: {
          std::vector<std::string> refs{"dev-" + std::to_string(i * 3)};
          ASSERT_OK(db->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey,
                                         refs, c, nullptr));
          break;
        }
        case 2: {
          AccountPatch patch;
          patch.name = "Renamed " + std::to_string(i);
          ASSERT_OK(db->UpdateAccount(Actor::System(), db->FindAccount("acme-b")->id, patch));
          break;
        }
        case 3:
          if (i == 3) {
            ASSERT_OK(db->CreateUser(Actor::System(), {"dave@acme", "Dave", acme}));
            ASSERT_OK(db->Invite(Actor::System(), db->FindUser("dave@acme")->id, c,
                                 db->FindRole(acme, "viewer")->id, false));
          } else {
            ASSERT_OK(db->MoveAccount(Actor::System(), c, db->FindAccount("acme-a")->id));
          }
          break;
      }
      out->by_revision[db->Revision()] = Ask(db.get(), p);
    }
    out->final_revision = db->Revision();
    fault->CutPower();
    (void)db->Close();
  }
  ASSERT_TRUE(fault->Reboot().ok());
}

// ---- Damage -------------------------------------------------------------------

std::string Kind(const std::string& name) {
  if (name == "CURRENT" || name == "IDENTITY" || name == "LOCK") return name;
  if (name.rfind("MANIFEST-", 0) == 0) return "MANIFEST";
  if (name.rfind("OPTIONS-", 0) == 0) return "OPTIONS";
  if (name.rfind("LOG", 0) == 0) return "";  // RocksDB's diagnostics, not the database
  const std::string ext = fs::path(name).extension().string();
  if (ext == ".sst") return "table (.sst)";
  if (ext == ".log") return "write-ahead log (.log)";
  return "other (" + name + ")";
}

struct Damage {
  std::string name;  // "flip@123", "truncate-half", "truncate-zero", "delete"
  int64_t flip_at = -1;
  int64_t truncate_to = -1;
  bool remove = false;
};

// `footer`: also flip the bytes of a table's footer (every table's footer
// has the same layout: a few tables are enough, and keep the test short).
std::vector<Damage> DamagesFor(const std::string& kind, uint64_t size, bool footer) {
  std::vector<Damage> out;
  std::set<uint64_t> offsets;
  if (size > 0) {
    for (uint64_t o : {uint64_t{0}, size / 4, size / 2, 3 * size / 4, size - 1}) offsets.insert(o);
    if (kind == "table (.sst)" && footer) {
      // The footer: checksum type, block handles (and their padding), the
      // format version, the magic number.
      for (uint64_t back : {53, 50, 30, 12, 4}) {
        if (size > back) offsets.insert(size - back);
      }
    }
  }
  for (uint64_t o : offsets) out.push_back({"flip@" + std::to_string(o), static_cast<int64_t>(o)});
  if (size > 1) out.push_back({"truncate-half", -1, static_cast<int64_t>(size / 2)});
  if (size > 0) out.push_back({"truncate-zero", -1, 0});
  out.push_back({"delete", -1, -1, true});
  return out;
}

void Apply(const std::string& file, const Damage& d) {
  if (d.remove) {
    fs::remove(file);
  } else if (d.truncate_to >= 0) {
    fs::resize_file(file, static_cast<uintmax_t>(d.truncate_to));
  } else {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(d.flip_at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(d.flip_at);
    f.write(&c, 1);
  }
}

bool AllowedOpenError(Code c) {
  return c == Code::kCorruption || c == Code::kIOError || c == Code::kNotFound ||
         c == Code::kInvalidArgument;
}

TEST(Corruption, EveryDamagedFileGivesAnErrorOrTheOriginalAnswers) {
  TempDir dir("/dev/shm");
  const std::string pristine = dir.Sub("pristine");
  Built built;
  Build(pristine, dir, &built);
  if (HasFatalFailure()) return;
  ASSERT_GT(built.final_revision, built.flushed_revision);
  const Answers& final_answers = built.by_revision.at(built.final_revision);
  const bool verbose = std::getenv("CANOPY_CORRUPTION_VERBOSE") != nullptr;
  if (verbose) {
    // Kept for a look with RocksDB's tools (sst_dump, ldb).
    const std::string keep = fs::temp_directory_path() / "canopy-corruption-pristine";
    fs::remove_all(keep);
    fs::copy(pristine, keep, fs::copy_options::recursive);
    std::printf("the undamaged database: %s\n", keep.c_str());
  }

  // The undamaged copy opens with exactly the final answers (the synced
  // writes in the log included).
  {
    const std::string copy = dir.Sub("undamaged");
    fs::copy(pristine, copy, fs::copy_options::recursive);
    std::unique_ptr<Db> db;
    ASSERT_OK(Db::Open(Options(), copy, &db));
    Answers got = Ask(db.get(), built.probe);
    for (const auto& [k, v] : final_answers) EXPECT_EQ(got[k], v) << k;
    ASSERT_OK(db->Close());
    fs::remove_all(copy);
  }
  if (HasFailure()) return;

  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(pristine)) {
    if (!Kind(e.path().filename().string()).empty()) files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  std::map<std::string, std::map<std::string, int>> outcomes;  // kind -> outcome -> cases
  int n = 0, tables = 0;
  for (const auto& name : files) {
    const std::string kind = Kind(name);
    const uint64_t size = fs::file_size(fs::path(pristine) / name);
    const bool footer = kind == "table (.sst)" && tables++ % 4 == 0;
    for (const Damage& d : DamagesFor(kind, size, footer)) {
      const std::string what = name + " " + d.name;
      SCOPED_TRACE(what);
      const std::string copy = dir.Sub("case-" + std::to_string(++n));
      fs::copy(pristine, copy, fs::copy_options::recursive);
      Apply(copy + "/" + name, d);
      // Opens the damaged copy with `o` and, when it opens, asks everything;
      // says what happened.
      auto open_and_ask = [&](const Options& o, const char* how) -> std::string {
        SCOPED_TRACE(how);
        std::unique_ptr<Db> db;
        Status s = Db::Open(o, copy, &db);
        if (!s.ok()) {
          EXPECT_TRUE(AllowedOpenError(s.code())) << s.ToString();
          EXPECT_FALSE(s.message().empty());
          EXPECT_EQ(db, nullptr);
          return std::string("open fails: ") + CodeName(s.code());
        }
        const uint64_t rev = db->Revision();
        auto snapshot = built.by_revision.find(rev);
        if (rev < built.final_revision) {
          // A consistent older state: only a cut or missing live log.
          EXPECT_TRUE(kind == "write-ahead log (.log)" && d.flip_at < 0)
              << "opened at revision " << rev << " of " << built.final_revision;
        }
        std::string outcome;
        if (snapshot == built.by_revision.end()) {
          ADD_FAILURE() << "opened at revision " << rev << ", which the log never had";
        } else {
          Answers got = Ask(db.get(), built.probe);
          int errors = 0;
          for (const auto& [k, want] : snapshot->second) {
            const std::string& g = got[k];
            if (g == want) continue;
            if (LoudError(g)) {
              if (verbose) std::printf("  %s %s: %s\n", how, k.c_str(), g.c_str());
              ++errors;
              continue;
            }
            ADD_FAILURE() << k << ": a different answer\n  want: " << want.substr(0, 300)
                          << "\n  got:  " << g.substr(0, 300);
          }
          // check-db finds every damage a query trips over.
          if (errors > 0) {
            EXPECT_TRUE(LoudError(got["integrity"]))
                << errors << " answers failed, yet the integrity check says " << got["integrity"];
          }
          outcome = rev < built.final_revision
                        ? "opens at an older revision (" + std::to_string(rev) + "), consistent"
                    : errors > 0 ? "opens; damaged reads are errors"
                                 : "opens; every answer unchanged";
        }
        (void)db->Close();
        return outcome;
      };
      // 1. Read-only (Options::read_only: beside a writer; it changes no
      // file, so it goes first on the same copy). Tables all behave alike
      // (and a missing one makes it retry for a second or so, as for a
      // writer's compaction): the first one is enough.
      std::string read_only;
      if (kind != "table (.sst)" || tables == 1) {
        Options ro;
        ro.read_only = true;
        read_only = open_and_ask(ro, "read-only");
      }
      // 2. The library's defaults, then every query.
      std::string outcome = open_and_ask(Options(), "read-write");
      if (!read_only.empty() && read_only != outcome) outcome += " (read-only: " + read_only + ")";
      fs::remove_all(copy);
      // 3. As `canopy check-db` opens it (create_if_missing off), then the
      // integrity check. Only where the library's open failed: where it
      // opened, check-db's calls (Open, CheckIntegrity) ran above already.
      if (outcome.rfind("open fails", 0) == 0) {
        fs::copy(pristine, copy, fs::copy_options::recursive);
        Apply(copy + "/" + name, d);
        Options cli;
        cli.create_if_missing = false;
        std::unique_ptr<Db> db;
        Status s = Db::Open(cli, copy, &db);
        if (!s.ok()) {
          EXPECT_TRUE(AllowedOpenError(s.code())) << "check-db open: " << s.ToString();
        } else {
          // It differs only in create_if_missing: it must refuse too.
          ADD_FAILURE() << "check-db's open accepts what the library's refused";
          (void)db->Close();
        }
        fs::remove_all(copy);
      }
      outcomes[kind][d.name.rfind("flip", 0) == 0 ? "flip: " + outcome : d.name + ": " + outcome]++;
      if (verbose) {
        std::printf("%s (%llu bytes): %s\n", what.c_str(), static_cast<unsigned long long>(size),
                    outcome.c_str());
      }
      if (HasFailure()) {
        ADD_FAILURE() << "stopping at the first damaged case";
        return;
      }
    }
  }
  std::printf("corruption matrix: %d cases over %zu files\n", n, files.size());
  for (const auto& [kind, m] : outcomes) {
    std::printf("  %s\n", kind.c_str());
    for (const auto& [o, count] : m) std::printf("    %3d x %s\n", count, o.c_str());
  }
}

}  // namespace
}  // namespace canopy
