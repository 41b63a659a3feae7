// Copyright (c) Canopy authors.
//
// Import and export through the engine API: round trips, all-or-nothing
// refusals naming the line, the end-line checksum, and the SST path.

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "storage/keys.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::DumpAll;
using testing::KeysIn;
using testing::OpenDb;
using testing::TempDir;

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

const char kSeed[] =
    R"({"type":"account","key":"acme","name":"ACME Corp","settings":{"sub_account_management":true}}
{"type":"account","key":"acme-a","name":"Nested customer A","parent":"acme","attributes":{"home_dashboard":"fleet"},"settings":{"sub_account_management":true,"sub_account_access":"default_on"}}
{"type":"role","tenant":"acme","name":"auditor","permissions":["device.read","account.read"]}
{"type":"user","login":"a@acme.example","name":"User A","account":"acme-a"}
{"type":"membership","login":"a@acme.example","account":"acme-a","role":"account_admin","branch":true}
{"type":"user","login":"audit@acme.example","name":"Auditor","account":"acme"}
{"type":"membership","login":"audit@acme.example","account":"acme","role":"auditor"}
{"type":"device","key":"dev-1","unit_id":"U-0001","name":"Van 1","device_type":"tracker","account":"acme-a","attributes":{"vin":"WVW"}}
{"type":"entity","kind":"asset","key":"site-7","name":"Depot","account":"acme"}
)";

TEST(Interchange, ImportExportRoundTrip) {
  TempDir dir;
  Write(dir.Sub("seed.jsonl"), kSeed);
  auto db = OpenDb(dir.Sub("db"));
  ImportReport report;
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("seed.jsonl"), ImportOptions(), &report));
  EXPECT_EQ(report.accounts, 2u);
  EXPECT_EQ(report.roles, 1u);
  EXPECT_EQ(report.users, 2u);
  EXPECT_EQ(report.memberships, 2u);
  EXPECT_EQ(report.entities, 2u);
  auto a = db->FindAccount("acme-a");
  ASSERT_OK(a);
  EXPECT_EQ(a->attributes.at("home_dashboard"), "fleet");
  EXPECT_EQ(a->settings.sub_account_access, SubAccountAccess::kDefaultOn);
  auto user = db->FindUser("a@acme.example");
  ASSERT_OK(user);
  EXPECT_TRUE(*db->Check(user->id, "device.read", "dev-1"));
  EXPECT_OK(db->CheckIntegrity(nullptr));

  ASSERT_OK(db->Export(dir.Sub("out1.jsonl"), nullptr, nullptr));
  auto db2 = OpenDb(dir.Sub("db2"));
  ASSERT_OK(db2->Import(Actor::System(), dir.Sub("out1.jsonl"), ImportOptions(), nullptr));
  ASSERT_OK(db2->Export(dir.Sub("out2.jsonl"), nullptr, nullptr));
  EXPECT_EQ(Read(dir.Sub("out1.jsonl")), Read(dir.Sub("out2.jsonl")));
  EXPECT_EQ(Read(dir.Sub("out1.jsonl")).rfind("{\"type\":\"begin\",\"format\":1}\n", 0), 0u);
  EXPECT_NE(Read(dir.Sub("out1.jsonl")).find("{\"type\":\"end\",\"records\":9,"), std::string::npos);
  // An export cut short at any line's end is refused, nothing imported.
  {
    const std::string whole = Read(dir.Sub("out1.jsonl"));
    size_t cut = 0;
    auto db3 = OpenDb(dir.Sub("db3"));
    for (int lines = 1; (cut = whole.find('\n', cut)) != std::string::npos && cut + 1 < whole.size();
         ++lines) {
      ++cut;
      Write(dir.Sub("cut.jsonl"), whole.substr(0, cut));
      Status s = db3->Import(Actor::System(), dir.Sub("cut.jsonl"), ImportOptions(), nullptr);
      EXPECT_EQ(s.code(), Code::kInvalidArgument) << lines << ": " << s.ToString();
      EXPECT_NE(s.message().find("ends at line " + std::to_string(lines) + " without the end line"),
                std::string::npos)
          << s.ToString();
      EXPECT_TRUE(db3->Roots().empty());
    }
  }
}

// Every record's times as the API reads them, by what names the record
// (ids differ between databases): "account acme" -> "created/updated".
std::map<std::string, std::string> TimesOf(Db* db) {
  std::map<std::string, std::string> out;
  auto both = [](int64_t c, int64_t u) { return std::to_string(c) + "/" + std::to_string(u); };
  for (const char* key : {"acme", "acme-a", "later"}) {
    auto a = db->FindAccount(key);
    EXPECT_TRUE(a.ok()) << key;
    if (a.ok()) out[std::string("account ") + key] = both(a->created_us, a->updated_us);
  }
  for (const char* login : {"a@acme.example", "audit@acme.example"}) {
    auto u = db->FindUser(login);
    EXPECT_TRUE(u.ok()) << login;
    if (!u.ok()) continue;
    out[std::string("user ") + login] = both(u->created_us, u->updated_us);
    auto ms = db->MembershipsOf(u->id);
    EXPECT_TRUE(ms.ok());
    if (!ms.ok()) continue;
    for (const Membership& m : *ms) {
      out[std::string("membership ") + login + " " + db->GetAccount(m.account)->key] =
          std::to_string(m.created_us);
    }
  }
  for (auto [kind, key] : {std::pair{EntityKind::kDevice, "dev-1"}, std::pair{EntityKind::kAsset, "site-7"},
                           std::pair{EntityKind::kDevice, "dev-2"}}) {
    auto e = db->FindEntity(kind, key);
    EXPECT_TRUE(e.ok()) << key;
    if (e.ok()) out[std::string("entity ") + key] = both(e->created_us, e->updated_us);
  }
  return out;
}

// Export keeps every record's created and updated times, and import takes
// them: a database restored from its export reads the same times.
TEST(Interchange, ExportImportKeepsCreatedAndUpdatedTimes) {
  TempDir dir;
  Write(dir.Sub("seed.jsonl"), kSeed);
  auto db = OpenDb(dir.Sub("db"));
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("seed.jsonl"), ImportOptions(), nullptr));
  // Later changes and records: created and updated times that differ.
  auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(3)); };
  pause();
  const AccountId acme = db->FindAccount("acme")->id;
  ASSERT_OK(db->UpdateAccount(Actor::System(), db->FindAccount("acme-a")->id, {.name = "Renamed"}));
  ASSERT_OK(db->UpdateEntity(Actor::System(), db->FindEntity(EntityKind::kDevice, "dev-1")->id,
                             {.name = "Van 1b"}));
  ASSERT_OK(db->UpdateUser(Actor::System(), db->FindUser("a@acme.example")->id, {.name = "A2"}));
  pause();
  const AccountId later = testing::MakeAccount(db.get(), "later", acme);
  testing::MakeDevice(db.get(), "dev-2", later);
  const UserId audit = db->FindUser("audit@acme.example")->id;
  ASSERT_OK(db->Invite(Actor::System(), audit, later, db->FindRole(kNoId, "viewer")->id));
  const auto before = TimesOf(db.get());
  ASSERT_EQ(before.size(), 11u);
  EXPECT_NE(before.at("account acme-a").substr(0, before.at("account acme-a").find('/')),
            before.at("account acme-a").substr(before.at("account acme-a").find('/') + 1));
  ASSERT_OK(db->Export(dir.Sub("out1.jsonl"), nullptr, nullptr));

  pause();
  auto db2 = OpenDb(dir.Sub("db2"));
  ASSERT_OK(db2->Import(Actor::System(), dir.Sub("out1.jsonl"), ImportOptions(), nullptr));
  EXPECT_EQ(TimesOf(db2.get()), before);
  ASSERT_OK(db2->Export(dir.Sub("out2.jsonl"), nullptr, nullptr));
  EXPECT_EQ(Read(dir.Sub("out1.jsonl")), Read(dir.Sub("out2.jsonl")));
}

// Times given in part: created alone is also the updated time; none is the
// import's time. Bad times refuse the import, naming the line and field.
TEST(Interchange, ImportTimesDefaultsAndRefusals) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  Write(dir.Sub("t.jsonl"),
        "{\"type\":\"account\",\"key\":\"a\",\"name\":\"A\",\"created_us\":1000}\n"
        "{\"type\":\"account\",\"key\":\"b\",\"name\":\"B\",\"created_us\":0,\"updated_us\":0}\n"
        "{\"type\":\"account\",\"key\":\"c\",\"name\":\"C\"}\n"
        "{\"type\":\"user\",\"login\":\"u\",\"name\":\"U\",\"account\":\"a\",\"created_us\":5,\"updated_us\":7}\n"
        "{\"type\":\"membership\",\"login\":\"u\",\"account\":\"a\",\"role\":\"viewer\",\"created_us\":9}\n"
        "{\"type\":\"device\",\"key\":\"d\",\"name\":\"D\",\"account\":\"a\",\"created_us\":11,\"updated_us\":12}\n");
  auto now_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t start = now_us();
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("t.jsonl"), ImportOptions(), nullptr));
  const int64_t end = now_us();
  EXPECT_EQ(db->FindAccount("a")->created_us, 1000);
  EXPECT_EQ(db->FindAccount("a")->updated_us, 1000);
  EXPECT_EQ(db->FindAccount("b")->created_us, 0);
  const Account c = *db->FindAccount("c");
  EXPECT_GE(c.created_us, start);
  EXPECT_LE(c.created_us, end);
  EXPECT_EQ(c.updated_us, c.created_us);
  const User u = *db->FindUser("u");
  EXPECT_EQ(u.created_us, 5);
  EXPECT_EQ(u.updated_us, 7);
  EXPECT_EQ((*db->MembershipsOf(u.id))[0].created_us, 9);
  EXPECT_EQ(db->FindEntity(EntityKind::kDevice, "d")->created_us, 11);
  EXPECT_EQ(db->FindEntity(EntityKind::kDevice, "d")->updated_us, 12);

  const auto before = DumpAll(db.get());
  const std::string ok_line = "{\"type\":\"account\",\"key\":\"x\",\"name\":\"X\"}\n";
  struct Case {
    std::string line;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\",\"created_us\":-1}",
       "line 2: field 'created_us' must be an integer from 0 to 9223372036854775807"},
      {"{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\",\"created_us\":1.5}",
       "line 2: field 'created_us' must be an integer"},
      {"{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\",\"created_us\":9223372036854775808}",
       "line 2: field 'created_us' must be an integer"},
      {"{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\",\"created_us\":\"5\"}",
       "line 2: field 'created_us' must be a number"},
      // Past 2^64: valid JSON, out of every field's range (not "invalid").
      {"{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\",\"created_us\":100000000000000000000}",
       "line 2: a number is malformed or out of range: the records' integers are at most "
       "18446744073709551615"},
      {"{\"type\":\"device\",\"key\":\"e\",\"name\":\"E\",\"account\":\"a\",\"created_us\":100000000000000000000}",
       "line 2: a number is malformed or out of range"},
      {"\xEF\xBB\xBF{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\"}",
       "line 2: the line starts with a byte order mark (BOM)"},
      {"{\"type\":\"group\",\"kind\":\"device\",\"name\":\"g\",\"account\":\"a\",\"id\":-1}",
       "line 2: field 'id' must be a whole number from 0 to 18446744073709551615"},
      {"{\"type\":\"group\",\"kind\":\"device\",\"name\":\"g\",\"account\":\"a\",\"id\":\"1\"}",
       "line 2: field 'id' must be a number"},
      {"{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\",\"created_us\":null}",
       "line 2: field 'created_us' must be a number"},
      {"{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\",\"created_us\":10,\"updated_us\":9}",
       "line 2: updated_us 9 is before created_us 10"},
      {"{\"type\":\"account\",\"key\":\"y\",\"name\":\"Y\",\"updated_us\":9}",
       "line 2: field 'updated_us' is given without 'created_us'"},
      {"{\"type\":\"user\",\"login\":\"v\",\"name\":\"V\",\"account\":\"a\",\"created_us\":10,\"updated_us\":1}",
       "line 2: updated_us 1 is before created_us 10"},
      {"{\"type\":\"user\",\"login\":\"v\",\"name\":\"V\",\"account\":\"a\",\"updated_us\":-3}",
       "line 2: field 'updated_us' must be an integer"},
      {"{\"type\":\"device\",\"key\":\"e\",\"name\":\"E\",\"account\":\"a\",\"created_us\":3,\"updated_us\":2}",
       "line 2: updated_us 2 is before created_us 3"},
      {"{\"type\":\"entity\",\"kind\":\"asset\",\"key\":\"e\",\"name\":\"E\",\"account\":\"a\",\"updated_us\":2}",
       "line 2: field 'updated_us' is given without 'created_us'"},
      {"{\"type\":\"device\",\"key\":\"e\",\"name\":\"E\",\"account\":\"a\",\"created_us\":true}",
       "line 2: field 'created_us' must be a number"},
      {"{\"type\":\"membership\",\"login\":\"u\",\"account\":\"b\",\"role\":\"viewer\",\"updated_us\":2}",
       "line 2: unknown field 'updated_us' in membership record"},
      {"{\"type\":\"membership\",\"login\":\"u\",\"account\":\"b\",\"role\":\"viewer\",\"created_us\":-2}",
       "line 2: field 'created_us' must be an integer"},
      {"{\"type\":\"role\",\"tenant\":\"a\",\"name\":\"r\",\"permissions\":[],\"created_us\":2}",
       "line 2: unknown field 'created_us' in role record"},
  };
  for (const Case& c : cases) {
    Write(dir.Sub("bad.jsonl"), ok_line + c.line + "\n");
    Status s = db->Import(Actor::System(), dir.Sub("bad.jsonl"), ImportOptions(), nullptr);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.line;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.ToString();
    EXPECT_EQ(before, DumpAll(db.get())) << c.line;
  }
}

// Found by the JSON Lines fuzzer's round trip (fuzz/jsonl_fuzzer.cc) and by
// the crash test's export round trip: export writes a non-device entity's
// type as a second "type" field (docs/format.md), which import refused as an
// unknown field, so such a database did not round-trip.
TEST(Interchange, TypedEntitiesOfEveryKindRoundTrip) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const AccountId acme = testing::MakeAccount(db.get(), "acme");
  for (EntityKind kind : kAllEntityKinds) {
    ASSERT_OK(db->CreateEntity(Actor::System(), {.kind = kind,
                                                 .key = std::string(EntityKindName(kind)) + "-1",
                                                 .name = "N",
                                                 .type = std::string(EntityKindName(kind)) + "-type",
                                                 .owner = acme}));
  }
  ASSERT_OK(db->Export(dir.Sub("out1.jsonl"), nullptr, nullptr));
  auto db2 = OpenDb(dir.Sub("db2"));
  ASSERT_OK(db2->Import(Actor::System(), dir.Sub("out1.jsonl"), ImportOptions(), nullptr));
  for (EntityKind kind : kAllEntityKinds) {
    auto e = db2->FindEntity(kind, std::string(EntityKindName(kind)) + "-1");
    ASSERT_OK(e);
    EXPECT_EQ(e->type, std::string(EntityKindName(kind)) + "-type");
  }
  ASSERT_OK(db2->Export(dir.Sub("out2.jsonl"), nullptr, nullptr));
  EXPECT_EQ(Read(dir.Sub("out1.jsonl")), Read(dir.Sub("out2.jsonl")));

  // A field given twice is still refused, by name; so is a third "type".
  Write(dir.Sub("twice.jsonl"),
        "{\"type\":\"account\",\"key\":\"x\",\"name\":\"X\",\"name\":\"Y\"}\n");
  Status s = db2->Import(Actor::System(), dir.Sub("twice.jsonl"), ImportOptions(), nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("field 'name' is repeated"), std::string::npos) << s.ToString();
  Write(dir.Sub("thrice.jsonl"),
        "{\"type\":\"entity\",\"kind\":\"asset\",\"key\":\"a\",\"name\":\"A\","
        "\"account\":\"acme\",\"type\":\"t\",\"type\":\"u\"}\n");
  s = db2->Import(Actor::System(), dir.Sub("thrice.jsonl"), ImportOptions(), nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("field 'type' is repeated"), std::string::npos) << s.ToString();
}

TEST(Interchange, BadLinesAreNamedAndNothingIsWritten) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  ASSERT_OK(db->CreateAccount(Actor::System(), {.key = "existing", .name = "E"}));
  const auto before = DumpAll(db.get());
  struct Case {
    std::string text;
    std::string message;
  };
  std::vector<Case> cases = {
      {"{\"type\":\"account\",\"key\":\"x\",\"name\":\"X\"}\nnot json\n", "line 2: not valid JSON"},
      {"{\"type\":\"account\",\"key\":\"x\"}\n", "line 1: missing field 'name'"},
      {"{\"type\":\"account\",\"key\":\"x\",\"name\":\"X\",\"colour\":\"red\"}\n", "unknown field 'colour'"},
      {"{\"type\":\"account\",\"key\":\"x\",\"name\":\"X\",\"parent\":\"nope\"}\n", "'nope'"},
      {"{\"type\":\"account\",\"key\":\"existing\",\"name\":\"X\"}\n", "is taken"},
      {"{\"type\":\"device\",\"key\":\"d\",\"name\":\"D\",\"account\":\"existing\"}\n"
       "{\"type\":\"device\",\"key\":\"d\",\"name\":\"D\",\"account\":\"existing\"}\n",
       "line 2: device 'd' appears twice (also on line 1)"},
      {"{\"type\":\"device\",\"key\":\"d1\",\"unit_id\":\"U\",\"name\":\"D\",\"account\":\"existing\"}\n"
       "{\"type\":\"device\",\"key\":\"d2\",\"unit_id\":\"U\",\"name\":\"D\",\"account\":\"existing\"}\n",
       "unit id 'U' appears twice"},
      {"{\"type\":\"membership\",\"login\":\"ghost\",\"account\":\"existing\",\"role\":\"viewer\"}\n", "'ghost'"},
      {"{\"type\":\"gadget\"}\n", "unknown record type 'gadget'"},
      {"{\"type\":\"account\",\"key\":\"x\",\"name\":\"X\",\"name\":\"Y\"}\n",
       "line 1: field 'name' is repeated in account record"},
      {[] {
         // Among thousands of entities (the sort does not keep file order),
         // the later line is named as the offending one.
         std::string t;
         for (int i = 1; i <= 3000; ++i) {
           const int k = i == 2500 ? 7 : i;
           t += "{\"type\":\"device\",\"key\":\"k" + std::to_string(k) +
                "\",\"name\":\"D\",\"account\":\"existing\"}\n";
         }
         return t;
       }(),
       "line 2500: device 'k7' appears twice (also on line 7)"},
      {"{\"type\":\"account\",\"key\":\"sub\",\"name\":\"S\",\"parent\":\"existing\"}\n"
       "{\"type\":\"user\",\"login\":\"s@x\",\"name\":\"S\",\"account\":\"sub\"}\n"
       "{\"type\":\"membership\",\"login\":\"s@x\",\"account\":\"existing\",\"role\":\"viewer\"}\n",
       "line 3: user 's@x' may hold roles only in the account it was created in"},
      {"[1,2]\n", "must be a JSON object"},
      {"{\"type\":\"account\",\"key\":\"\\u00ff\\u0000\",\"name\":\"X\"}\n", "NUL"},
      {"{\"type\":\"end\",\"records\":5,\"xxh3\":\"0000000000000000\"}\n", "end line counts 5 records"},
      // An export's begin line promises an end line: a copy cut short at a
      // line's end is refused; the begin line comes first, once.
      {"{\"type\":\"begin\",\"format\":1}\n"
       "{\"type\":\"account\",\"key\":\"cut\",\"name\":\"C\"}\n",
       "ends at line 2 without the end line its begin line promises (an export cut short?)"},
      {"\n{\"type\":\"begin\",\"format\":1}\n", "ends at line 2 without the end line"},
      {"{\"type\":\"account\",\"key\":\"cut\",\"name\":\"C\"}\n"
       "{\"type\":\"begin\",\"format\":1}\n",
       "line 2: the begin line comes first, before every record"},
      {"{\"type\":\"begin\",\"format\":1}\n{\"type\":\"begin\",\"format\":1}\n",
       "line 2: the begin line comes first"},
      {"{\"type\":\"begin\",\"format\":2}\n", "line 1: begin line: interchange format 2 is not"},
      {"{\"type\":\"begin\"}\n", "line 1: "},
      {"{\"type\":\"begin\",\"format\":1,\"x\":1}\n", "unknown field 'x' in begin record"},
  };
  for (const auto& c : cases) {
    Write(dir.Sub("bad.jsonl"), c.text);
    Status s = db->Import(Actor::System(), dir.Sub("bad.jsonl"), ImportOptions(), nullptr);
    EXPECT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("nothing was imported"), std::string::npos) << s.ToString();
    EXPECT_EQ(before, DumpAll(db.get())) << c.text;
  }
  EXPECT_EQ(db->Import(Actor::System(), dir.Sub("missing.jsonl"), ImportOptions(), nullptr).code(),
            Code::kNotFound);
  Write(dir.Sub("ok.jsonl"), kSeed);
  auto uid = testing::MakeUser(db.get(), "someone", db->FindAccount("existing")->id);
  EXPECT_EQ(db->Import(Actor::User(uid), dir.Sub("ok.jsonl"), ImportOptions(), nullptr).code(),
            Code::kPermissionDenied);
}

// A damaged index is reported as corruption, never followed: here a login
// index entry that points at no user.
TEST(Interchange, StaleLoginIndexEntryIsCorruptionNotACrash) {
  TempDir dir;
  {
    auto db = OpenDb(dir.Sub("db"));
    ASSERT_OK(db->CreateAccount(Actor::System(), {.key = "existing", .name = "E"}));
  }
  {
    std::unique_ptr<storage::Store> st;
    ASSERT_OK(storage::Store::Open(storage::StoreOptions(), dir.Sub("db"), &st));
    ASSERT_TRUE(st->db()
                    ->Put(rocksdb::WriteOptions(), st->cf(storage::kUserLogins), "ghost",
                          storage::IdKey(987654))
                    .ok());
  }
  auto db = OpenDb(dir.Sub("db"));
  const auto before = DumpAll(db.get());
  Write(dir.Sub("m.jsonl"),
        "{\"type\":\"membership\",\"login\":\"ghost\",\"account\":\"existing\",\"role\":\"viewer\"}\n");
  Status s = db->Import(Actor::System(), dir.Sub("m.jsonl"), ImportOptions(), nullptr);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("'ghost'"), std::string::npos) << s.ToString();
  EXPECT_EQ(before, DumpAll(db.get()));
}

TEST(Interchange, AlteredExportIsRefusedByItsChecksum) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  Write(dir.Sub("seed.jsonl"), kSeed);
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("seed.jsonl"), ImportOptions(), nullptr));
  ASSERT_OK(db->Export(dir.Sub("out.jsonl"), nullptr, nullptr));
  std::string text = Read(dir.Sub("out.jsonl"));
  size_t pos = text.find("Van 1");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 5, "Van 9");
  Write(dir.Sub("edited.jsonl"), text);
  auto db2 = OpenDb(dir.Sub("db2"));
  Status s = db2->Import(Actor::System(), dir.Sub("edited.jsonl"), ImportOptions(), nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.ToString();
  EXPECT_TRUE(db2->Roots().empty());
  // A checksum not written as the grammar says (16 lower-case hex digits)
  // is a malformed end line, not a mismatch.
  const std::string exported = Read(dir.Sub("out.jsonl"));
  const size_t at = exported.rfind("\"xxh3\":\"") + 8;
  for (const std::string& bad : {std::string("ABCDEF0123456789"), std::string("abc"),
                                 std::string("0123456789abcdef0"), std::string("0123456789abcdeg")}) {
    std::string text = exported;
    text.replace(at, 16, bad);
    Write(dir.Sub("badhex.jsonl"), text);
    s = db2->Import(Actor::System(), dir.Sub("badhex.jsonl"), ImportOptions(), nullptr);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("xxh3 must be 16 lower-case hexadecimal digits"), std::string::npos)
        << s.ToString();
    EXPECT_TRUE(db2->Roots().empty());
  }
  // The caller may name the input in refusals.
  ImportOptions named;
  named.name = "(the edited copy)";
  s = db2->Import(Actor::System(), dir.Sub("edited.jsonl"), named, nullptr);
  EXPECT_EQ(s.message().rfind("import '(the edited copy)' line", 0), 0u) << s.ToString();
}

// Devices naming an account that was defined before many later accounts:
// the importer's cached owner must survive its account list growing.
TEST(Interchange, DevicesInterleavedWithAccountsKeepTheirOwners) {
  TempDir dir;
  std::string text = "{\"type\":\"account\",\"key\":\"first\",\"name\":\"F\"}\n";
  text += "{\"type\":\"device\",\"key\":\"d-0\",\"name\":\"D\",\"account\":\"first\"}\n";
  for (int i = 0; i < 2000; ++i) {
    text += "{\"type\":\"account\",\"key\":\"a-" + std::to_string(i) +
            "\",\"name\":\"A\",\"parent\":\"first\"}\n";
  }
  for (int i = 1; i < 50; ++i) {
    text += "{\"type\":\"device\",\"key\":\"d-" + std::to_string(i) +
            "\",\"name\":\"D\",\"account\":\"first\"}\n";
  }
  Write(dir.Sub("t.jsonl"), text);
  auto db = OpenDb(dir.Sub("db"));
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("t.jsonl"), ImportOptions(), nullptr));
  AccountId first = db->FindAccount("first")->id;
  EXPECT_EQ(KeysIn(db.get(), first, EntityKind::kDevice, /*direct_only=*/true).size(), 50u);
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

// A file that grows while it is imported is read to its end (what was
// appended is imported), and progress never reports more bytes done than
// in total: the total becomes what was read once it passes the size the
// file had at the start.
TEST(Interchange, AFileThatGrowsWhileReadIsReadWholeAndProgressStaysWithinItsTotal) {
  TempDir dir;
  std::string text = "{\"type\":\"account\",\"key\":\"t\",\"name\":\"T\"}\n";
  auto devices = [](int from, int to) {
    std::string out;
    for (int i = from; i < to; ++i) {
      out += "{\"type\":\"device\",\"key\":\"dev-" + std::to_string(i) +
             "\",\"name\":\"Device\",\"account\":\"t\"}\n";
    }
    return out;
  };
  Write(dir.Sub("grows.jsonl"), text + devices(0, 200000));
  auto db = OpenDb(dir.Sub("db"));
  bool appended = false;
  uint64_t past_start = 0, calls = 0;
  const uint64_t start_size = std::filesystem::file_size(dir.Sub("grows.jsonl"));
  ImportOptions opts;
  opts.progress = [&](uint64_t done, uint64_t total) {
    ++calls;
    EXPECT_LE(done, total);
    if (total > start_size) ++past_start;
    if (!appended) {  // at the first call, while the file is being read
      appended = true;
      std::ofstream(dir.Sub("grows.jsonl"), std::ios::app) << devices(200000, 300000);
    }
    return true;
  };
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("grows.jsonl"), opts, nullptr));
  EXPECT_GT(calls, 2u);
  EXPECT_GT(past_start, 0u);
  EXPECT_EQ(db->CountOwned(db->FindAccount("t")->id, EntityKind::kDevice)->subtree, 300000u);
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

// Above 100k key/value pairs an import is written as SST files and
// ingested; the result must be the same as through a write batch.
TEST(Interchange, LargeImportsGoThroughSstIngestion) {
  TempDir dir;
  std::string text = "{\"type\":\"account\",\"key\":\"t\",\"name\":\"T\"}\n";
  for (int a = 0; a < 10; ++a) {
    text += "{\"type\":\"account\",\"key\":\"t-" + std::to_string(a) + "\",\"name\":\"T\",\"parent\":\"t\"}\n";
  }
  const int n = 40000;  // 4 pairs each: past the batch limit
  for (int i = 0; i < n; ++i) {
    text += "{\"type\":\"device\",\"key\":\"dev-" + std::to_string(i) + "\",\"unit_id\":\"U-" +
            std::to_string(i) + "\",\"name\":\"Device\",\"account\":\"t-" + std::to_string(i % 10) + "\"}\n";
  }
  Write(dir.Sub("big.jsonl"), text);
  auto db = OpenDb(dir.Sub("db"));
  uint64_t calls = 0;
  ImportOptions opts;
  opts.progress = [&](uint64_t done, uint64_t total) {
    EXPECT_LE(done, total);
    ++calls;
    return true;
  };
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("big.jsonl"), opts, nullptr));
  EXPECT_GT(calls, 0u);
  EXPECT_EQ(db->CountOwned(db->FindAccount("t")->id, EntityKind::kDevice)->subtree,
            static_cast<uint64_t>(n));
  EXPECT_EQ(db->FindDeviceByUnitId("U-39999")->key, "dev-39999");
  EXPECT_OK(db->CheckIntegrity(nullptr));
  // Cancelling leaves nothing behind.
  auto db2 = OpenDb(dir.Sub("db2"));
  opts.progress = [](uint64_t, uint64_t) { return false; };
  EXPECT_EQ(db2->Import(Actor::System(), dir.Sub("big.jsonl"), opts, nullptr).code(),
            Code::kAborted);
  EXPECT_TRUE(db2->Roots().empty());
  // Also once the entity records stream to their file (after 25k
  // entities): cancelled at line 32768, or a bad last line.
  int progress_calls = 0;
  opts.progress = [&](uint64_t, uint64_t) { return ++progress_calls < 2; };
  EXPECT_EQ(db2->Import(Actor::System(), dir.Sub("big.jsonl"), opts, nullptr).code(),
            Code::kAborted);
  EXPECT_EQ(progress_calls, 2);
  // After the last line progress goes on with the whole input read
  // (done == total) while the files are written, and once more before the
  // commit: a cancel at the first such call stops the writing.
  const uint64_t size = std::filesystem::file_size(dir.Sub("big.jsonl"));
  std::vector<std::pair<uint64_t, uint64_t>> seen;
  opts.progress = [&](uint64_t done, uint64_t total) {
    seen.emplace_back(done, total);
    return done < total;
  };
  const uint64_t rev2 = db2->Revision();
  Status cancel = db2->Import(Actor::System(), dir.Sub("big.jsonl"), opts, nullptr);
  EXPECT_EQ(cancel.code(), Code::kAborted) << cancel.ToString();
  EXPECT_EQ(cancel.message(), "import cancelled while writing its files; nothing was imported");
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), std::make_pair(size, size));
  EXPECT_TRUE(db2->Roots().empty());
  EXPECT_EQ(db2->Revision(), rev2);
  for (const auto& e : std::filesystem::directory_iterator(dir.Sub("db2"))) {
    EXPECT_EQ(e.path().filename().string().rfind(storage::kScratchPrefix, 0), std::string::npos)
        << "scratch left behind: " << e.path();
  }
  seen.clear();
  opts.progress = [&](uint64_t done, uint64_t total) {
    seen.emplace_back(done, total);
    return true;
  };
  auto db3 = OpenDb(dir.Sub("db3"));
  ASSERT_OK(db3->Import(Actor::System(), dir.Sub("big.jsonl"), opts, nullptr));
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[seen.size() - 2], std::make_pair(size, size));  // writing
  EXPECT_EQ(seen.back(), std::make_pair(size, size));             // before the commit
  Write(dir.Sub("bad-end.jsonl"), text + "{\"type\":\"device\",\"key\":\"dev-0\",\"name\":\"D\",\"account\":\"t\"}\n");
  Status s = db2->Import(Actor::System(), dir.Sub("bad-end.jsonl"), ImportOptions(), nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("appears twice"), std::string::npos) << s.ToString();
  EXPECT_TRUE(db2->Roots().empty());
  // An export cancelled before its first line, or midway (after 16384
  // entities), leaves neither PATH.tmp nor a changed PATH behind.
  const std::string out = dir.Sub("out.jsonl");
  for (int stop_after : {0, 1}) {
    // The first time there is no PATH yet; the second, an older export.
    if (stop_after == 1) Write(out, "an older export\n");
    int calls_made = 0;
    auto cancel = [&](uint64_t, uint64_t) { return calls_made++ < stop_after; };
    EXPECT_EQ(db->Export(out, cancel, nullptr).code(), Code::kAborted);
    EXPECT_EQ(calls_made, stop_after + 1);
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
    if (stop_after == 0) {
      EXPECT_FALSE(std::filesystem::exists(out));
    }
  }
  EXPECT_EQ(Read(out), "an older export\n");
  // A second export to the same PATH while the first writes its PATH.tmp
  // is refused (it would write into the first one's file); the first ends
  // whole, and the second succeeds once the first is done.
  Status second;
  bool asked = false;
  auto start_second = [&](uint64_t, uint64_t) {
    if (!asked) {
      asked = true;
      std::thread([&] { second = db->Export(out, nullptr, nullptr); }).join();
    }
    return true;
  };
  ASSERT_OK(db->Export(out, start_second, nullptr));
  EXPECT_EQ(second.code(), Code::kFailedPrecondition) << second.ToString();
  EXPECT_NE(second.message().find("another export is writing"), std::string::npos)
      << second.ToString();
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
  const std::string whole = Read(out);
  EXPECT_NE(whole.find("\"type\":\"end\""), std::string::npos);
  ASSERT_OK(db->Export(out, nullptr, nullptr));
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
  EXPECT_EQ(Read(out), whole);
  // No scratch folder is left behind, whatever the outcome.
  for (const char* db_dir : {"db", "db2"}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir.Sub(db_dir))) {
      EXPECT_NE(entry.path().filename().string().rfind("import-", 0), 0u) << entry.path();
    }
  }
}

// ---- Groups --------------------------------------------------------------

// A database with groups of every kind, members, grants of every shape
// (generic, onto an entity group, onto an account group with branch, and
// one shared down from the root tenant) and an id gap (a deleted group).
struct GroupWorld {
  AccountId acme, shop, north;
  EntityId van, truck, crane;
  UserId ann, bob;
  GroupId fleet, cranes, ops, subs, shared;
  RoleId viewer, manager;

  explicit GroupWorld(Db* db) {
    acme = testing::MakeAccount(db, "acme");
    EXPECT_OK(db->UpdateAccount(Actor::System(), acme, AccountPatch{.group_sharing = true}));
    shop = testing::MakeAccount(db, "shop", acme);
    north = testing::MakeAccount(db, "north", shop);
    van = testing::MakeDevice(db, "van", shop);
    truck = testing::MakeDevice(db, "truck", shop);
    crane = *db->CreateEntity(Actor::System(), EntitySpec{.kind = EntityKind::kAsset,
                                                          .key = "crane",
                                                          .name = "Crane",
                                                          .owner = shop});
    testing::MakeDevice(db, "hq-1", acme);
    ann = testing::MakeUser(db, "ann@shop", shop);
    bob = testing::MakeUser(db, "bob@shop", shop);
    const auto roles = db->ListRoles(Actor::System(), kNoId);
    EXPECT_OK(roles);
    for (const Role& r : *roles) {
      if (r.name == "viewer") viewer = r.id;
      if (r.name == "device_manager") manager = r.id;
    }
    auto make = [&](GroupKind kind, const char* name, AccountId owner) {
      auto g = db->CreateGroup(Actor::System(), GroupSpec{kind, name, owner});
      EXPECT_OK(g);
      return *g;
    };
    const GroupId gone = make(GroupKind::kDevice, "gone", shop);
    fleet = make(GroupKind::kDevice, "fleet \"one\"", shop);
    EXPECT_OK(db->DeleteGroup(Actor::System(), gone));
    cranes = make(GroupKind::kAsset, "cranes", shop);
    ops = make(GroupKind::kUser, "ops", shop);
    subs = make(GroupKind::kAccount, "subs", shop);
    shared = make(GroupKind::kDevice, "shared", acme);
    const std::vector<uint64_t> vehicles = {van, truck}, assets = {crane}, users = {ann, bob},
                                accounts = {north};
    EXPECT_OK(db->AddGroupMembers(Actor::System(), fleet, vehicles, nullptr));
    EXPECT_OK(db->AddGroupMembers(Actor::System(), cranes, assets, nullptr));
    EXPECT_OK(db->AddGroupMembers(Actor::System(), ops, users, nullptr));
    EXPECT_OK(db->AddGroupMembers(Actor::System(), subs, accounts, nullptr));
    EXPECT_OK(db->GrantGroup(Actor::System(), GroupGrant{ops, viewer, kNoId, true}));
    EXPECT_OK(db->GrantGroup(Actor::System(), GroupGrant{ops, manager, fleet, false}));
    EXPECT_OK(db->GrantGroup(Actor::System(), GroupGrant{ops, viewer, subs, true}));
    EXPECT_OK(db->GrantGroup(Actor::System(), GroupGrant{ops, viewer, shared, false}));
  }
};

// Everything the API says about the groups of `owners`: records, members,
// grants, the groups of each member.
std::string GroupsOf(Db* db, const std::vector<std::string>& owners) {
  std::ostringstream out;
  for (const std::string& key : owners) {
    const AccountId owner = db->FindAccount(key)->id;
    out << key << " sharing=" << db->GetAccount(owner)->settings.group_sharing << "\n";
    const auto groups = db->GroupsOf(Actor::System(), owner);
    EXPECT_OK(groups);
    for (const Group& g : *groups) {
      out << g.id << " " << GroupKindName(g.kind) << " " << g.name << " owner=" << g.owner
          << " size=" << g.size << " overlap=" << g.overlap << " " << g.created_us << "/" << g.updated_us << " members:";
      GroupMembersPage page;
      EXPECT_OK(db->GroupMembers(Actor::System(), g.id, 0, 1000, &page));
      for (uint64_t m : page.members) out << " " << m;
      out << " grants:";
      const auto grants = db->GroupGrants(Actor::System(), g.id);
      EXPECT_OK(grants);
      for (const GroupGrant& x : *grants) {
        out << " (" << x.user_group << "," << x.role << "," << x.target << "," << x.branch << ","
            << x.created_us << ")";
      }
      out << "\n";
    }
  }
  return out.str();
}

TEST(Interchange, GroupsRoundTripExactly) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  GroupWorld w(db.get());
  ImportReport counts;
  ASSERT_OK(db->Export(dir.Sub("out1.jsonl"), nullptr, &counts));
  EXPECT_EQ(counts.groups, 5u);
  EXPECT_EQ(counts.group_members, 6u);
  EXPECT_EQ(counts.group_grants, 4u);
  const std::string text = Read(dir.Sub("out1.jsonl"));
  EXPECT_NE(text.find(R"("settings":{"sub_account_management":true,"sub_account_access":"default_off","group_sharing":true})"),
            std::string::npos) << text;
  EXPECT_NE(text.find(R"({"type":"group","id":2,"kind":"device","name":"fleet \"one\"","account":"shop",)"),
            std::string::npos) << text;
  EXPECT_NE(text.find(R"({"type":"group_member","account":"shop","kind":"device","group":"fleet \"one\"","member":"van",)"),
            std::string::npos) << text;
  EXPECT_NE(text.find(R"({"type":"group_grant","account":"shop","group":"ops","role":"viewer","target_account":"acme","target_kind":"device","target":"shared","branch":false,)"),
            std::string::npos) << text;

  auto db2 = OpenDb(dir.Sub("db2"));
  ImportReport report;
  ASSERT_OK(db2->Import(Actor::System(), dir.Sub("out1.jsonl"), ImportOptions(), &report));
  EXPECT_EQ(report.groups, 5u);
  EXPECT_EQ(report.group_members, 6u);
  EXPECT_EQ(report.group_grants, 4u);
  EXPECT_OK(db2->CheckIntegrity(nullptr));
  // The same ids, names, sizes, members, grants and times.
  EXPECT_EQ(GroupsOf(db.get(), {"acme", "shop", "north"}), GroupsOf(db2.get(), {"acme", "shop", "north"}));
  EXPECT_EQ(db2->GetGroup(Actor::System(), w.fleet)->name, "fleet \"one\"");
  ASSERT_OK(db2->Export(dir.Sub("out2.jsonl"), nullptr, nullptr));
  EXPECT_EQ(text, Read(dir.Sub("out2.jsonl")));
  // The grants work in the copy: ann sees the shared group's device.
  auto hq = db2->FindEntity(EntityKind::kDevice, "hq-1");
  ASSERT_OK(hq);
  ASSERT_OK(db2->AddGroupMembers(Actor::System(), w.shared, std::vector<uint64_t>{hq->id}, nullptr));
  EXPECT_TRUE(testing::Allowed(*db2, w.ann, "device.read", "hq-1"));
  // A new group after the import takes the next id.
  auto next = db2->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "later", w.shop});
  ASSERT_OK(next);
  EXPECT_EQ(*next, GroupId(w.shared.value() + 1));
}

// A file too small to reach a progress step is still asked once, just
// before the commit: a cancel there imports nothing.
TEST(Interchange, ASmallImportIsCancelledBeforeItsCommit) {
  TempDir dir;
  Write(dir.Sub("seed.jsonl"), kSeed);
  auto db = OpenDb(dir.Sub("db"));
  const uint64_t before = db->Revision();
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  ImportOptions opts;
  opts.progress = [&](uint64_t done, uint64_t total) {
    calls.emplace_back(done, total);
    return false;
  };
  Status s = db->Import(Actor::System(), dir.Sub("seed.jsonl"), opts, nullptr);
  EXPECT_EQ(s.code(), Code::kAborted) << s.ToString();
  EXPECT_NE(s.message().find("nothing was imported"), std::string::npos) << s.ToString();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].first, calls[0].second);
  EXPECT_EQ(db->Revision(), before);
  EXPECT_TRUE(db->Roots().empty());
  // Going on imports it, asked once.
  calls.clear();
  opts.progress = [&](uint64_t done, uint64_t total) {
    calls.emplace_back(done, total);
    return true;
  };
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("seed.jsonl"), opts, nullptr));
  EXPECT_EQ(calls.size(), 1u);
  EXPECT_EQ(db->Revision(), before + 1);
}

// An empty path is a bad argument, named as one, before any file is
// touched (an export wrote a scratch '.tmp' in the working folder, then
// failed to rename it to '').
TEST(Interchange, EmptyPathsAreRefusedAsSuch) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const uint64_t before = db->Revision();
  Status s = db->Import(Actor::System(), "", ImportOptions(), nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), "import file path is empty");
  s = db->Export("", nullptr, nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), "export file path is empty");
  EXPECT_FALSE(std::filesystem::exists(".tmp"));
  EXPECT_EQ(db->Revision(), before);
}

// A progress callback runs on the calling thread while its operation holds
// the database open (an import also holds off writes). Calls from inside it
// that would wait for that operation (a write or Close during an import, a
// Close during an export or integrity check) are refused, naming the
// callback, instead of hanging; reads go on, and so does the operation.
TEST(Interchange, ProgressCallbacksCannotMakeCallsThatWaitForThemselves) {
  TempDir dir;
  Write(dir.Sub("seed.jsonl"), kSeed);
  Write(dir.Sub("more.jsonl"),
        R"({"type":"account","key":"other","name":"Other"})"
        "\n");
  auto db = OpenDb(dir.Sub("db"));
  auto refused = [](const Status& s, const char* operation) {
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find(std::string("progress callback of ") + operation),
              std::string::npos)
        << s.ToString();
  };

  int calls = 0;
  ImportOptions opts;
  opts.progress = [&](uint64_t, uint64_t) {
    ++calls;
    refused(db->CreateAccount(Actor::System(), AccountSpec{"inner", "Inner", kNoId, {}, {}})
                .status(),
            "import");
    refused(db->Import(Actor::System(), dir.Sub("more.jsonl"), ImportOptions(), nullptr),
            "import");
    refused(db->Checkpoint(dir.Sub("cp")).status(), "import");
    refused(db->Close(), "import");
    EXPECT_TRUE(db->Roots().empty());  // reads go on (the import is not committed yet)
    return true;
  };
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("seed.jsonl"), opts, nullptr));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(db->FindAccount("acme").ok());
  EXPECT_TRUE(db->FindAccount("inner").status().IsNotFound());
  EXPECT_TRUE(db->FindAccount("other").status().IsNotFound());
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("cp")));

  // An export holds no write lock: a write from its callback goes through;
  // a Close does not.
  calls = 0;
  auto during_export = [&](uint64_t, uint64_t) {
    if (calls++ == 0) {
      auto during = db->CreateAccount(Actor::System(), AccountSpec{"during", "During", kNoId, {}, {}});
      EXPECT_TRUE(during.ok()) << during.status().ToString();
    }
    refused(db->Close(), "export");
    return true;
  };
  ASSERT_OK(db->Export(dir.Sub("out.jsonl"), during_export, nullptr));
  EXPECT_GE(calls, 2);

  // The integrity check likewise; and its last call may cancel it, which on
  // a small database is its only call.
  calls = 0;
  Status checked = db->CheckIntegrity(nullptr, [&](uint64_t, uint64_t) {
    ++calls;
    refused(db->Close(), "integrity check");
    return false;
  });
  EXPECT_EQ(checked.code(), Code::kAborted) << checked.ToString();
  EXPECT_EQ(calls, 1);
  ASSERT_OK(db->CheckIntegrity(nullptr, [](uint64_t, uint64_t) { return true; }));

  // Outside the callbacks all of it works again.
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("more.jsonl"), ImportOptions(), nullptr));
  ASSERT_OK(db->Close());
}

// A file of no records changes nothing, so it commits nothing: no
// revision, no log entry (an empty file, blank lines, an empty database's
// export).
TEST(Interchange, AFileOfNoRecordsCommitsNothing) {
  TempDir dir;
  auto empty = OpenDb(dir.Sub("empty"));
  ASSERT_OK(empty->Export(dir.Sub("none.jsonl"), nullptr, nullptr));
  Write(dir.Sub("blank.jsonl"), "\n\n  \n");
  Write(dir.Sub("zero.jsonl"), "");
  auto db = OpenDb(dir.Sub("db"));
  Write(dir.Sub("seed.jsonl"), kSeed);
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("seed.jsonl"), ImportOptions(), nullptr));
  const uint64_t before = db->Revision();
  for (const char* name : {"none.jsonl", "blank.jsonl", "zero.jsonl"}) {
    ImportReport report;
    Status st = db->Import(Actor::System(), dir.Sub(name), ImportOptions(), &report);
    ASSERT_TRUE(st.ok()) << name << ": " << st.ToString();
    EXPECT_EQ(report.accounts + report.users + report.entities, 0u) << name;
    EXPECT_EQ(db->Revision(), before) << name;
  }
  std::vector<std::string> entries;
  ASSERT_OK(db->ReadLogEntries(1, 1000, &entries));
  EXPECT_EQ(entries.size(), before);
}

// Import gives accounts ids in file (tree) order, so what an export lists
// by account (a user's memberships, an account group's members) is written
// in tree order: accounts created in one order and moved into another
// still re-export byte for byte.
TEST(Interchange, AccountsCreatedOutOfTreeOrderRoundTripExactly) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  using testing::MakeAccount;
  AccountId r = MakeAccount(db.get(), "r");
  AccountId p = MakeAccount(db.get(), "p", r);
  AccountId q = MakeAccount(db.get(), "q", r);
  AccountId p1 = MakeAccount(db.get(), "p1", p);  // after q, but before it in the tree
  AccountId s = MakeAccount(db.get(), "s", p);
  AccountId a = MakeAccount(db.get(), "a", r);
  ASSERT_OK(db->MoveAccount(Actor::System(), s, r));  // now after a
  UserId u = testing::MakeUser(db.get(), "u@x", r);
  auto viewer = db->FindRole(r, "viewer");
  ASSERT_OK(viewer);
  ASSERT_OK(db->Invite(Actor::System(), u, q, viewer->id, false));
  ASSERT_OK(db->Invite(Actor::System(), u, p1, viewer->id, false));
  auto g = db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kAccount, "ag", r});
  ASSERT_OK(g);
  ASSERT_OK(db->AddGroupMembers(Actor::System(), *g, std::vector<uint64_t>{s, a, q}, nullptr));
  ASSERT_OK(db->Export(dir.Sub("out1.jsonl"), nullptr, nullptr));
  const std::string text = Read(dir.Sub("out1.jsonl"));
  // Tree order: p, p1, q, a, s.
  EXPECT_LT(text.find(R"("login":"u@x","account":"p1")"), text.find(R"("login":"u@x","account":"q")"));
  EXPECT_LT(text.find(R"("member":"q")"), text.find(R"("member":"a")"));
  EXPECT_LT(text.find(R"("member":"a")"), text.find(R"("member":"s")"));
  auto db2 = OpenDb(dir.Sub("db2"));
  ASSERT_OK(db2->Import(Actor::System(), dir.Sub("out1.jsonl"), ImportOptions(), nullptr));
  ASSERT_OK(db2->Export(dir.Sub("out2.jsonl"), nullptr, nullptr));
  EXPECT_EQ(text, Read(dir.Sub("out2.jsonl")));
}

// A grant shared down is suspended while its tenant's group_sharing is off
// (switched off after the grant, or the accounts moved into a tenant with
// it off): a state the database keeps, so its export imports again, with
// the grant still suspended until sharing is switched on.
TEST(Interchange, SuspendedSharedGrantsRoundTrip) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  GroupWorld w(db.get());
  auto hq = db->FindEntity(EntityKind::kDevice, "hq-1");
  ASSERT_OK(hq);
  ASSERT_OK(db->AddGroupMembers(Actor::System(), w.shared, std::vector<uint64_t>{hq->id}, nullptr));
  EXPECT_TRUE(testing::Allowed(*db, w.ann, "device.read", "hq-1"));
  ASSERT_OK(db->UpdateAccount(Actor::System(), w.acme, AccountPatch{.group_sharing = false}));
  EXPECT_FALSE(testing::Allowed(*db, w.ann, "device.read", "hq-1"));
  ASSERT_OK(db->CheckIntegrity(nullptr));
  ASSERT_OK(db->Export(dir.Sub("out.jsonl"), nullptr, nullptr));

  auto db2 = OpenDb(dir.Sub("db2"));
  ImportReport report;
  ASSERT_OK(db2->Import(Actor::System(), dir.Sub("out.jsonl"), ImportOptions(), &report));
  EXPECT_EQ(report.group_grants, 4u);
  EXPECT_OK(db2->CheckIntegrity(nullptr));
  ASSERT_OK(db2->Export(dir.Sub("out2.jsonl"), nullptr, nullptr));
  EXPECT_EQ(Read(dir.Sub("out.jsonl")), Read(dir.Sub("out2.jsonl")));
  EXPECT_FALSE(testing::Allowed(*db2, w.ann, "device.read", "hq-1"));  // still suspended
  ASSERT_OK(db2->UpdateAccount(Actor::System(), w.acme, AccountPatch{.group_sharing = true}));
  EXPECT_TRUE(testing::Allowed(*db2, w.ann, "device.read", "hq-1"));
  // GrantGroup itself still asks for sharing on.
  auto db3 = OpenDb(dir.Sub("db3"));
  GroupWorld w3(db3.get());
  ASSERT_OK(db3->UpdateAccount(Actor::System(), w3.acme, AccountPatch{.group_sharing = false}));
  EXPECT_EQ(db3->GrantGroup(Actor::System(), GroupGrant{w3.ops, w3.manager, w3.shared, false}).code(),
            Code::kFailedPrecondition);
}

// An entity group's overlap (members another group also holds) is derived
// by import, from an empty database and beside stored groups alike.
TEST(Interchange, ImportKeepsGroupOverlapExact) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const AccountId t = testing::MakeAccount(db.get(), "t");
  std::vector<uint64_t> d;
  for (int i = 1; i <= 4; ++i) d.push_back(testing::MakeDevice(db.get(), "d" + std::to_string(i), t));
  auto g1 = db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "g1", t});
  auto g2 = db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "g2", t});
  ASSERT_OK(g1);
  ASSERT_OK(g2);
  ASSERT_OK(db->AddGroupMembers(Actor::System(), *g1, std::vector<uint64_t>{d[0], d[1]}, nullptr));
  ASSERT_OK(db->AddGroupMembers(Actor::System(), *g2, std::vector<uint64_t>{d[1], d[2]}, nullptr));
  auto overlap = [](Db* x, GroupId g) { return x->GetGroup(Actor::System(), g)->overlap; };
  ASSERT_EQ((std::pair{overlap(db.get(), *g1), overlap(db.get(), *g2)}), (std::pair<uint64_t, uint64_t>{1, 1}));
  ASSERT_OK(db->Export(dir.Sub("out.jsonl"), nullptr, nullptr));
  auto db2 = OpenDb(dir.Sub("db2"));
  ASSERT_OK(db2->Import(Actor::System(), dir.Sub("out.jsonl"), ImportOptions(), nullptr));
  EXPECT_EQ(GroupsOf(db.get(), {"t"}), GroupsOf(db2.get(), {"t"}));
  EXPECT_OK(db2->CheckIntegrity(nullptr));
  // Into the database that holds them: a new group sharing d1 (g1's alone
  // until now), d3 (g2's alone) and d4 (nobody's).
  Write(dir.Sub("more.jsonl"),
        "{\"type\":\"group\",\"kind\":\"device\",\"name\":\"g3\",\"account\":\"t\"}\n"
        "{\"type\":\"group_member\",\"account\":\"t\",\"kind\":\"device\",\"group\":\"g3\",\"member\":\"d1\"}\n"
        "{\"type\":\"group_member\",\"account\":\"t\",\"kind\":\"device\",\"group\":\"g3\",\"member\":\"d3\"}\n"
        "{\"type\":\"group_member\",\"account\":\"t\",\"kind\":\"device\",\"group\":\"g3\",\"member\":\"d4\"}\n"
        "{\"type\":\"group_member\",\"account\":\"t\",\"kind\":\"device\",\"group\":\"g1\",\"member\":\"d4\"}\n");
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("more.jsonl"), ImportOptions(), nullptr));
  auto groups = db->GroupsOf(Actor::System(), t);
  ASSERT_OK(groups);
  std::map<std::string, std::pair<uint64_t, uint64_t>> got;  // name -> size, overlap
  for (const Group& g : *groups) got[g.name] = {g.size, g.overlap};
  // g1 {d1,d2,d4}: all shared; g2 {d2,d3}: both; g3 {d1,d3,d4}: all.
  EXPECT_EQ(got["g1"], (std::pair<uint64_t, uint64_t>{3, 3}));
  EXPECT_EQ(got["g2"], (std::pair<uint64_t, uint64_t>{2, 2}));
  EXPECT_EQ(got["g3"], (std::pair<uint64_t, uint64_t>{3, 3}));
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

// Members may name entities defined anywhere in the file: a few (looked up
// one by one) and many (one merged pass over the staged keys), on the SST
// path; a member of another account is refused by its line.
TEST(Interchange, GroupMembersOfEntitiesInTheSameFile) {
  TempDir dir;
  std::string text = "{\"type\":\"account\",\"key\":\"t\",\"name\":\"T\"}\n"
                     "{\"type\":\"account\",\"key\":\"u\",\"name\":\"U\",\"parent\":\"t\"}\n"
                     "{\"type\":\"group\",\"kind\":\"device\",\"name\":\"few\",\"account\":\"t\"}\n"
                     "{\"type\":\"group\",\"kind\":\"device\",\"name\":\"many\",\"account\":\"t\"}\n";
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    text += "{\"type\":\"device\",\"key\":\"dev-" + std::to_string(i) +
            "\",\"name\":\"Device\",\"account\":\"" + (i == 7 ? "u" : "t") + "\"}\n";
  }
  std::string members;
  for (int i = 0; i < 3; ++i) {
    members += "{\"type\":\"group_member\",\"account\":\"t\",\"kind\":\"device\",\"group\":\"few\","
               "\"member\":\"dev-" + std::to_string(i * 1000 + 1) + "\"}\n";
  }
  for (int i = 10000; i < 13000; ++i) {
    members += "{\"type\":\"group_member\",\"account\":\"t\",\"kind\":\"device\",\"group\":\"many\","
               "\"member\":\"dev-" + std::to_string(i) + "\"}\n";
  }
  Write(dir.Sub("groups.jsonl"), text + members);
  auto db = OpenDb(dir.Sub("db"));
  ImportReport report;
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("groups.jsonl"), ImportOptions(), &report));
  EXPECT_EQ(report.group_members, 3003u);
  const AccountId t = db->FindAccount("t")->id;
  auto groups = db->GroupsOf(Actor::System(), t);
  ASSERT_OK(groups);
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[0].size, 3u);
  EXPECT_EQ((*groups)[1].size, 3000u);
  auto e = db->FindEntity(EntityKind::kDevice, "dev-12345");
  auto of = db->GroupsOfMember(Actor::System(), GroupKind::kDevice, e->id);
  ASSERT_OK(of);
  ASSERT_EQ(of->size(), 1u);
  EXPECT_EQ((*of)[0].name, "many");
  EXPECT_OK(db->CheckIntegrity(nullptr));

  // dev-7 is u's: refused, naming the member's line; nothing is written.
  const int bad_line = 4 + n + 1;
  Write(dir.Sub("bad.jsonl"),
        text + "{\"type\":\"group_member\",\"account\":\"t\",\"kind\":\"device\",\"group\":\"few\","
               "\"member\":\"dev-7\"}\n");
  auto db2 = OpenDb(dir.Sub("db2"));
  Status s = db2->Import(Actor::System(), dir.Sub("bad.jsonl"), ImportOptions(), nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("line " + std::to_string(bad_line) +
                             ": device 'dev-7' is not owned by account 't', the group's owner"),
            std::string::npos)
      << s.ToString();
  EXPECT_TRUE(db2->Roots().empty());
  Write(dir.Sub("bad.jsonl"),
        text + "{\"type\":\"group_member\",\"account\":\"t\",\"kind\":\"device\",\"group\":\"few\","
               "\"member\":\"dev-x\"}\n");
  s = db2->Import(Actor::System(), dir.Sub("bad.jsonl"), ImportOptions(), nullptr);
  EXPECT_NE(s.message().find("line " + std::to_string(bad_line) +
                             ": device 'dev-x' is not an entity defined in the file or in the "
                             "database"),
            std::string::npos)
      << s.ToString();
  EXPECT_TRUE(db2->Roots().empty());
}

TEST(Interchange, BadGroupLinesAreNamedAndNothingIsWritten) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const AccountId acme = testing::MakeAccount(db.get(), "acme");
  const AccountId shop = testing::MakeAccount(db.get(), "shop", acme);
  testing::MakeAccount(db.get(), "globex");
  const EntityId d_shop = testing::MakeDevice(db.get(), "d-shop", shop);
  testing::MakeDevice(db.get(), "d-acme", acme);
  testing::MakeUser(db.get(), "u@shop", shop);
  testing::MakeUser(db.get(), "u@acme", acme);
  const GroupId fleet = *db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "fleet", shop});
  ASSERT_OK(db->AddGroupMembers(Actor::System(), fleet, std::vector<uint64_t>{d_shop}, nullptr));
  ASSERT_OK(db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kUser, "ops", shop}));
  ASSERT_OK(db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "hq", acme}));
  ASSERT_OK(db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kUser, "staff", acme}));
  ASSERT_OK(db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kAccount, "subs", acme}));
  const auto before = DumpAll(db.get());
  const std::string g = R"({"type":"group",)";
  const std::string m = R"({"type":"group_member",)";
  const std::string a = R"({"type":"group_grant",)";
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      // group
      {g + R"("kind":"gizmo","name":"x","account":"shop"})", "line 1: unknown group kind 'gizmo'"},
      {g + R"("kind":"device","account":"shop"})", "line 1: missing field 'name'"},
      {g + R"("kind":"device","name":"","account":"shop"})", "group name is empty"},
      {g + R"("kind":"device","name":"fleet\u200b","account":"shop"})",
       "line 1: group name contains an invisible character (U+200B)"},
      {g + R"x("kind":"user","name":"(hidden)","account":"shop"})x",
       "line 1: group name '(hidden)' is reserved"},
      {g + R"("kind":"device","name":"x","account":"nope"})",
       "account 'nope' is not an account defined earlier"},
      {g + R"("kind":"device","name":"fleet","account":"shop"})",
       "line 1: device group 'fleet' already exists in account 'shop'"},
      {g + R"("kind":"user","name":"n","account":"shop"})" "\n" + g +
           R"("kind":"user","name":"n","account":"shop"})",
       "line 2: user group 'n' already exists in account 'shop'"},
      {g + R"("kind":"device","name":"x","account":"shop","id":3})",
       "line 1: group id 3 is not above 5"},
      {g + R"("kind":"device","name":"x","account":"shop","colour":"red"})",
       "unknown field 'colour' in group record"},
      {g + R"("kind":"device","name":"x","account":"shop","created_us":-1})", "created_us"},
      // group_member
      {m + R"("account":"shop","kind":"device","group":"nope","member":"d-shop"})",
       "line 1: device group 'nope' of account 'shop' is not a group defined earlier"},
      {m + R"("account":"shop","kind":"device","group":"fleet","member":"d-acme"})",
       "device 'd-acme' is not owned by account 'shop', the group's owner"},
      {m + R"("account":"shop","kind":"device","group":"fleet","member":"d-shop"})",
       "device 'd-shop' is already a member of device group 'fleet'"},
      {m + R"("account":"shop","kind":"device","group":"fleet","member":"ghost"})",
       "line 1: device 'ghost' is not an entity defined in the file or in the database"},
      {m + R"("account":"shop","kind":"user","group":"ops","member":"u@acme"})",
       "user 'u@acme' was not created in account 'shop', the group's owner"},
      {m + R"("account":"shop","kind":"user","group":"ops","member":"u@shop"})" "\n" + m +
           R"("account":"shop","kind":"user","group":"ops","member":"u@shop"})",
       "line 2: user 'u@shop' is already a member of user group 'ops'"},
      {m + R"("account":"shop","kind":"user","group":"ops","member":"nobody"})",
       "login 'nobody' is not a user defined earlier"},
      {m + R"("account":"acme","kind":"account","group":"subs","member":"globex"})",
       "account 'globex' is not a direct sub-account of account 'acme', the group's owner"},
      {m + R"("account":"shop","kind":"device","group":"fleet"})", "missing field 'member'"},
      // group_grant
      {a + R"("account":"shop","group":"fleet","role":"viewer"})",
       "user group 'fleet' of account 'shop' is not a group defined earlier"},
      {a + R"("account":"shop","group":"ops","role":"nope"})",
       "role 'nope' is neither built in nor a role of the tenant of account 'shop'"},
      {a + R"("account":"shop","group":"ops","role":"viewer","target_kind":"user","target":"ops"})",
       "a role is granted on an entity or account group, not on user group 'ops'"},
      {a + R"("account":"shop","group":"ops","role":"viewer","target_kind":"device","target":"fleet","branch":true})",
       "branch applies to account groups; device group 'fleet' holds entities"},
      {a + R"("account":"acme","group":"staff","role":"viewer","target_account":"shop","target_kind":"device","target":"fleet"})",
       "cannot be granted to user group 'staff' of account 'acme': a group is shared only down"},
      {a + R"("account":"shop","group":"ops","role":"viewer"})" "\n" + a +
           R"("account":"shop","group":"ops","role":"viewer","branch":true})",
       "line 2: user group 'ops' already has role viewer"},
      {a + R"("account":"shop","group":"ops","role":"viewer","target":"fleet"})",
       "missing field 'target_kind'"},
      {a + R"("account":"shop","group":"ops","role":"viewer","target_kind":"device"})",
       "field 'target_kind' is given without 'target'"},
      // the root tenant's setting
      {R"({"type":"account","key":"sub","name":"S","parent":"acme","settings":{"group_sharing":true}})",
       "settings.group_sharing is a root tenant's setting; account 'sub' has a parent"},
      {R"({"type":"account","key":"t2","name":"T","settings":{"group_sharing":1}})",
       "field 'group_sharing' must be true or false"},
  };
  for (const auto& c : cases) {
    Write(dir.Sub("bad.jsonl"), c.text + "\n");
    Status s = db->Import(Actor::System(), dir.Sub("bad.jsonl"), ImportOptions(), nullptr);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.text;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("nothing was imported"), std::string::npos) << s.ToString();
    EXPECT_EQ(before, DumpAll(db.get())) << c.text;
  }
  // The good ones: into existing groups, a grant, sharing on a new tenant.
  Write(dir.Sub("ok.jsonl"),
        m + R"("account":"shop","kind":"user","group":"ops","member":"u@shop"})" "\n" + a +
            R"("account":"shop","group":"ops","role":"viewer","target_kind":"device","target":"fleet"})" "\n"
            R"({"type":"account","key":"t3","name":"T","settings":{"group_sharing":true}})" "\n" + g +
            R"("kind":"device","name":"x","account":"shop","id":9})" "\n" + g +
            R"("kind":"device","name":"y","account":"shop"})" "\n");
  ImportReport report;
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("ok.jsonl"), ImportOptions(), &report));
  EXPECT_EQ(report.groups, 2u);
  EXPECT_EQ(report.group_members, 1u);
  EXPECT_EQ(report.group_grants, 1u);
  EXPECT_TRUE(db->FindAccount("t3")->settings.group_sharing);
  auto groups = db->GroupsOf(Actor::System(), shop);
  ASSERT_OK(groups);
  EXPECT_EQ(groups->back().id, GroupId(10));
  EXPECT_EQ(groups->back().name, "y");
  EXPECT_EQ(db->GetGroup(Actor::System(), GroupId(9))->name, "x");
  EXPECT_EQ(db->GroupGrants(Actor::System(), fleet)->size(), 1u);
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

// Times are not checked against the clock: a record may come from the
// future. A change stamps it updated at the later of now and its
// creation, so updated_us is never before created_us and its export
// imports again.
TEST(Interchange, RecordsCreatedInTheFutureExportAndImportAgainAfterAChange) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const int64_t future =
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count() +
      int64_t{3600} * 1000000;
  const std::string t = std::to_string(future);
  Write(dir.Sub("in.jsonl"),
        R"({"type":"account","key":"acme","name":"A","created_us":)" + t + "}\n" +
            R"({"type":"user","login":"u@acme","name":"U","account":"acme","created_us":)" + t +
            "}\n" +
            R"({"type":"device","key":"d1","name":"D","account":"acme","created_us":)" + t + "}\n" +
            R"({"type":"group","kind":"device","name":"g","account":"acme","created_us":)" + t +
            "}\n");
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("in.jsonl"), ImportOptions(), nullptr));
  const AccountId acme = db->FindAccount("acme")->id;
  AccountPatch ap;
  ap.name = "A2";
  ASSERT_OK(db->UpdateAccount(Actor::System(), acme, ap));
  UserPatch up;
  up.name = "U2";
  ASSERT_OK(db->UpdateUser(Actor::System(), db->FindUser("u@acme")->id, up));
  EntityPatch ep;
  ep.name = "D2";
  ASSERT_OK(db->UpdateEntity(Actor::System(), db->FindEntity(EntityKind::kDevice, "d1")->id, ep));
  const GroupId g = db->FindGroup(Actor::System(), acme, GroupKind::kDevice, "g")->id;
  ASSERT_OK(db->RenameGroup(Actor::System(), g, "g2"));
  EXPECT_EQ(db->FindAccount("acme")->updated_us, future);
  EXPECT_EQ(db->FindUser("u@acme")->updated_us, future);
  EXPECT_EQ(db->FindEntity(EntityKind::kDevice, "d1")->updated_us, future);
  EXPECT_EQ(db->GetGroup(Actor::System(), g)->updated_us, future);
  ASSERT_OK(db->Export(dir.Sub("out.jsonl"), nullptr, nullptr));
  auto db2 = OpenDb(dir.Sub("db2"));
  ASSERT_OK(db2->Import(Actor::System(), dir.Sub("out.jsonl"), ImportOptions(), nullptr));
  EXPECT_EQ(db2->FindEntity(EntityKind::kDevice, "d1")->name, "D2");
  EXPECT_OK(db2->CheckIntegrity(nullptr));
}

// A batch of a few entities at the attribute limit (about 1 MiB each)
// before batches of many small ones: what a batch reserves for its records
// is bounded by its own input, not by the largest entity seen before (45 k
// small devices times 1 MiB would ask for tens of GB and fail).
TEST(Interchange, LargeEntitiesDoNotInflateTheNextBatchesMemory) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  std::string attrs;
  for (int i = 0; i < 256; ++i) {
    attrs += (i ? "," : "") + std::string("\"a") + std::to_string(i) + "\":\"" +
             std::string(4096, 'x') + "\"";
  }
  std::string text = R"({"type":"account","key":"acme","name":"A"})" "\n";
  for (int i = 0; i < 4; ++i) {
    text += R"({"type":"device","key":"big-)" + std::to_string(i) +
            R"(","name":"B","account":"acme","attributes":{)" + attrs + "}}\n";
  }
  for (int i = 0; i < 60000; ++i) {
    text += R"({"type":"device","key":"d)" + std::to_string(i) + R"(","name":"D","account":"acme"})" "\n";
  }
  Write(dir.Sub("mixed.jsonl"), text);
  ImportReport report;
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("mixed.jsonl"), ImportOptions(), &report));
  EXPECT_EQ(report.entities, 60004u);
  EXPECT_EQ(db->FindEntity(EntityKind::kDevice, "big-3")->attributes.size(), 256u);
}

// A group may be imported with the largest id there is. No id comes after
// it: creating or importing another group is refused (nothing changes),
// never wrapped to 0 (no group, so a grant on it would read as one on the
// whole account) or to an id already held; the groups there stay usable.
TEST(Interchange, TheLargestGroupIdEndsTheSequence) {
  TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const AccountId acme = testing::MakeAccount(db.get(), "acme");
  const EntityId d1 = testing::MakeDevice(db.get(), "d1", acme);
  testing::MakeDevice(db.get(), "d2", acme);
  const GroupId fleet = *db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "fleet", acme});
  ASSERT_OK(db->AddGroupMembers(Actor::System(), fleet, std::vector<uint64_t>{d1}, nullptr));
  Write(dir.Sub("max.jsonl"),
        R"({"type":"group","id":18446744073709551615,"kind":"device","name":"big","account":"acme"})"
        "\n");
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("max.jsonl"), ImportOptions(), nullptr));
  EXPECT_EQ(db->GetGroup(Actor::System(), GroupId(UINT64_MAX))->name, "big");
  const auto before = DumpAll(db.get());

  auto created = db->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "next", acme});
  EXPECT_EQ(created.status().code(), Code::kFailedPrecondition) << created.status().ToString();
  EXPECT_NE(created.status().message().find("no group id is left"), std::string::npos)
      << created.status().ToString();
  EXPECT_EQ(before, DumpAll(db.get()));

  Write(dir.Sub("next.jsonl"),
        R"({"type":"group","kind":"device","name":"next","account":"acme"})" "\n");
  Status s = db->Import(Actor::System(), dir.Sub("next.jsonl"), ImportOptions(), nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();  // as every bad line
  EXPECT_NE(s.message().find("line 1: no group id is left"), std::string::npos) << s.ToString();
  EXPECT_EQ(before, DumpAll(db.get()));

  // The groups there, existing before the file, take members from one.
  Write(dir.Sub("member.jsonl"),
        R"({"type":"group_member","account":"acme","kind":"device","group":"fleet","member":"d2"})"
        "\n"
        R"({"type":"group_member","account":"acme","kind":"device","group":"big","member":"d1"})"
        "\n");
  ASSERT_OK(db->Import(Actor::System(), dir.Sub("member.jsonl"), ImportOptions(), nullptr));
  GroupMembersPage page;
  ASSERT_OK(db->GroupMembers(Actor::System(), fleet, 0, 100, &page));
  EXPECT_EQ(page.members.size(), 2u);
  EXPECT_EQ(db->GetGroup(Actor::System(), fleet)->name, "fleet");
  ASSERT_OK(db->GroupMembers(Actor::System(), GroupId(UINT64_MAX), 0, 100, &page));
  EXPECT_EQ(page.members, std::vector<uint64_t>{d1});
  EXPECT_OK(db->CheckIntegrity(nullptr));
}

}  // namespace
}  // namespace canopy
