// Copyright (c) Canopy authors.
//
// The UTF-8 check every text goes through (engine/validate.h): well-formed
// sequences pass; overlong forms, surrogates, code points past U+10FFFF,
// stray continuation bytes and truncated sequences fail, also through the
// API (CheckText's message).

#include <gtest/gtest.h>
#include <xxhash.h>

#include <fstream>
#include <string>

#include "engine/validate.h"
#include "storage/changes.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using engine::IsValidUtf8;

TEST(Utf8, WellFormedSequencesPass) {
  for (const std::string& s : {std::string(), std::string("plain ascii"), std::string("\xC2\x80"),
                              std::string("caf\xC3\xA9"), std::string("\xE0\xA0\x80"),
                              std::string("\xED\x9F\xBF"),       // U+D7FF, below the surrogates
                              std::string("\xEE\x80\x80"),       // U+E000, above them
                              std::string("\xEF\xBF\xBF"),       // U+FFFF
                              std::string("\xF0\x90\x80\x80"),   // U+10000
                              std::string("\xF4\x8F\xBF\xBF")}) {  // U+10FFFF
    EXPECT_TRUE(IsValidUtf8(s)) << ::testing::PrintToString(s);
  }
  // Long enough for a vectorised path, with the multi-byte text at the end.
  EXPECT_TRUE(IsValidUtf8(std::string(100, 'a') + "\xF0\x9F\x98\x80"));
}

TEST(Utf8, OverlongSurrogatesAndOutOfRangeFail) {
  for (const std::string& s : {
           std::string("\xC0\x80"),               // overlong NUL
           std::string("\xC1\xBF"),               // overlong U+007F
           std::string("\xE0\x80\x80"),           // overlong U+0000 in 3 bytes
           std::string("\xE0\x9F\xBF"),           // overlong U+07FF
           std::string("\xF0\x80\x80\x80"),       // overlong in 4 bytes
           std::string("\xF0\x8F\xBF\xBF"),       // overlong U+FFFF
           std::string("\xED\xA0\x80"),           // U+D800, a high surrogate
           std::string("\xED\xBF\xBF"),           // U+DFFF, a low surrogate
           std::string("\xED\xA0\xBD\xED\xB8\x80"),  // a surrogate pair (CESU-8)
           std::string("\xF4\x90\x80\x80"),       // U+110000
           std::string("\xF5\x80\x80\x80"),       // lead byte past F4
           std::string("\xF8\x88\x80\x80\x80"),   // a 5-byte form
           std::string("\xFF"), std::string("\xFE"),
           std::string("\x80"),                   // a stray continuation byte
           std::string("a\xC3"),                  // truncated at the end
           std::string("\xE2\x82"),               // truncated 3-byte sequence
           std::string("\xE2\x28\xA1"),           // a bad continuation byte
       }) {
    EXPECT_FALSE(IsValidUtf8(s)) << ::testing::PrintToString(s);
    EXPECT_FALSE(IsValidUtf8(std::string(100, 'a') + s)) << ::testing::PrintToString(s);
  }
}

TEST(Utf8, TheApiRefusesIllFormedTextNamingIt) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  for (const std::string& bad : {std::string("\xC0\xAF"), std::string("\xED\xA0\x80")}) {
    StatusOr<AccountId> id = db->CreateAccount(Actor::System(), {.key = "k" + bad, .name = "N"});
    EXPECT_EQ(id.status().code(), Code::kInvalidArgument);
    EXPECT_NE(id.status().message().find("account key is not valid UTF-8"), std::string::npos)
        << id.status().ToString();
  }
  EXPECT_TRUE(db->Roots().empty());
}

// A query's attribute filter value is checked as a stored value is: every
// request that names bad text is refused naming it, by Visible and Count.
TEST(Utf8, AttributeFilterValuesAreCheckedAsStoredValuesAre) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  for (const std::string& bad :
       {std::string("\xC0\xAF"), std::string("a\0b", 3), std::string(engine::kMaxAttributeValueBytes + 1, 'v')}) {
    VisibleRequest r(Actor::System());
    r.attribute = AttributeFilter{"color", bad};
    VisiblePage page;
    Status s = db->Visible(r, &page);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("attribute filter value"), std::string::npos) << s.ToString();
    EXPECT_EQ(db->Count(r).status().code(), Code::kInvalidArgument);
  }
  VisibleRequest ok(Actor::System());
  ok.attribute = AttributeFilter{"color", ""};  // empty, as a stored value may be
  VisiblePage page;
  EXPECT_TRUE(db->Visible(ok, &page).ok());
}

// "(hidden)" stands for a name out of the reader's sight in every answer,
// so nothing may be named so: refused by each call that names a record and
// by import, naming the field, with nothing changed.
TEST(ReservedName, HiddenIsNoKeyLoginOrRoleName) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  const AccountId acme = testing::MakeAccount(db.get(), "acme");
  const uint64_t revision = db->Revision();
  auto refused = [](const Status& s, const std::string& what) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << what << ": " << s.ToString();
    EXPECT_NE(s.message().find(what + " '(hidden)' is reserved"), std::string::npos)
        << s.ToString();
  };
  refused(db->CreateAccount(Actor::System(), {.key = kHidden, .name = "H", .parent = acme}).status(),
          "account key");
  for (EntityKind kind : {EntityKind::kDevice, EntityKind::kAsset}) {
    EntitySpec e;
    e.kind = kind;
    e.key = kHidden;
    e.name = "H";
    e.owner = acme;
    refused(db->CreateEntity(Actor::System(), e).status(), std::string(EntityKindName(kind)) + " key");
  }
  refused(db->CreateUser(Actor::System(), {.login = kHidden, .name = "H", .account = acme}).status(),
          "login");
  refused(db->CreateRole(Actor::System(), acme, kHidden, {"device.read"}).status(), "role name");
  // Near misses are names like any other.
  EXPECT_TRUE(db->CreateAccount(Actor::System(), {.key = "(hidden)x", .name = "H", .parent = acme}).ok());
  EXPECT_TRUE(db->CreateUser(Actor::System(), {.login = "hidden", .name = "H", .account = acme}).ok());
  const uint64_t after_near_misses = db->Revision();
  EXPECT_EQ(after_near_misses, revision + 2);

  const std::string lines[] = {
      R"j({"type":"account","key":"(hidden)","name":"H","parent":"acme"})j",
      R"j({"type":"device","key":"(hidden)","name":"H","account":"acme"})j",
      R"j({"type":"entity","kind":"asset","key":"(hidden)","name":"H","account":"acme"})j",
      R"j({"type":"user","login":"(hidden)","name":"H","account":"acme"})j",
      R"j({"type":"role","tenant":"acme","name":"(hidden)","permissions":["device.read"]})j",
  };
  const std::string whats[] = {"account key", "device key", "asset key", "login", "role name"};
  for (size_t i = 0; i < std::size(lines); ++i) {
    const std::string path = dir.Sub("in-" + std::to_string(i) + ".jsonl");
    std::ofstream(path) << R"j({"type":"device","key":"fine","name":"F","account":"acme"})j" << "\n"
                        << lines[i] << "\n";
    refused(db->Import(Actor::System(), path, ImportOptions(), nullptr), whats[i]);
    EXPECT_EQ(db->Revision(), after_near_misses) << lines[i];
  }
  EXPECT_EQ(db->FindEntity(EntityKind::kDevice, "fine").status().code(), Code::kNotFound);
}

// What a user types to name a record (a key, a login, a role name, a unit
// id) has no control or invisible characters and no space at either end:
// two such names would look alike (`viewer` and `viewer ` in a role list),
// or one would look like another. Refused naming the character, through
// every call that sets one and through an import, and nothing changes.
TEST(Identifiers, LookAlikesAreRefusedNamingTheCharacter) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  const AccountId acme = testing::MakeAccount(db.get(), "acme");
  EntitySpec dev;
  dev.key = "dev";
  dev.name = "D";
  dev.owner = acme;
  const EntityId d = *db->CreateEntity(Actor::System(), dev);
  const struct {
    std::string text, why;
  } bad[] = {
      {"viewer ", "ends with a space (U+0020)"},
      {" viewer", "begins with a space (U+0020)"},
      {"viewer\xC2\xA0", "ends with a space (U+00A0)"},
      {"view\ter", "contains a control character (U+0009)"},
      {"k\x1B[31m", "contains a control character (U+001B)"},
      {"k\xC2\x9B", "contains a control character (U+009B)"},
      {"viewer\xE2\x80\x8B", "contains an invisible character (U+200B)"},
      {"abc\xE2\x80\xAE" "evil", "contains an invisible character (U+202E)"},
      {"\xEF\xBB\xBF" "acme", "contains an invisible character (U+FEFF)"},
  };
  const auto before = testing::DumpAll(db.get());
  const uint64_t revision = db->Revision();
  for (const auto& [text, why] : bad) {
    SCOPED_TRACE(text);
    auto refused = [&, why = why](const Status& s, const std::string& what) {
      EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
      EXPECT_EQ(s.message(), what + " " + why);
    };
    refused(db->CreateAccount(Actor::System(), {.key = text, .name = "N", .parent = acme}).status(),
            "account key");
    EntitySpec e = dev;
    e.key = text;
    refused(db->CreateEntity(Actor::System(), e).status(), "device key");
    e.key = "dev-2";
    e.unit_id = text;
    refused(db->CreateEntity(Actor::System(), e).status(), "unit id");
    EntityPatch patch;
    patch.unit_id = text;
    refused(db->UpdateEntity(Actor::System(), d, patch), "unit id");
    refused(db->CreateUser(Actor::System(), {.login = text, .name = "N", .account = acme}).status(),
            "login");
    refused(db->CreateRole(Actor::System(), acme, text, {"device.read"}).status(), "role name");
    // JSON Lines carries the same text (escaped as JSON).
    std::string quoted;
    for (unsigned char ch : text) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), ch < 0x20 ? "\\u%04x" : "%c", ch);
      quoted += buf;
    }
    const std::string path = dir.Sub("in.jsonl");
    std::ofstream(path) << R"j({"type":"role","tenant":"acme","name":")j" << quoted
                        << R"j(","permissions":["device.read"]})j" << "\n";
    Status s = db->Import(Actor::System(), path, ImportOptions(), nullptr);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find("role name " + why), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(db->Revision(), revision);
  EXPECT_TRUE(testing::DumpAll(db.get()) == before);
  // Spaces inside, letters of any script, symbols: names like any other.
  for (const std::string& fine :
       {std::string("Nested customer A"), std::string("caf\xC3\xA9"),
        std::string("\xE6\x9D\xB1\xE4\xBA\xAC"), std::string("a@b.example")}) {
    EXPECT_OK(db->CreateAccount(Actor::System(), {.key = fine, .name = fine, .parent = acme}));
  }
}

// A custom role may not take a built-in role's name in another case: it
// would be listed beside the built-in as its twin. Through the API and an
// import alike, and nothing changes.
TEST(Identifiers, ARoleNameIsNotABuiltInsButForCase) {
  testing::TempDir dir;
  auto db = testing::OpenDb(dir.Sub("db"));
  const AccountId acme = testing::MakeAccount(db.get(), "acme");
  const auto before = testing::DumpAll(db.get());
  const uint64_t revision = db->Revision();
  const struct {
    std::string name, message;
  } bad[] = {
      {"viewer", "role name 'viewer' is a built-in role"},
      {"Viewer", "role name 'Viewer' differs only in case from the built-in role 'viewer'"},
      {"ACCOUNT_ADMIN",
       "role name 'ACCOUNT_ADMIN' differs only in case from the built-in role 'account_admin'"},
      {"Device_Manager",
       "role name 'Device_Manager' differs only in case from the built-in role 'device_manager'"},
  };
  for (const auto& [name, message] : bad) {
    SCOPED_TRACE(name);
    Status s = db->CreateRole(Actor::System(), acme, name, {"device.read"}).status();
    EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
    EXPECT_EQ(s.message(), message);
    const std::string path = dir.Sub("in.jsonl");
    std::ofstream(path) << R"j({"type":"role","tenant":"acme","name":")j" << name
                        << R"j(","permissions":["device.read"]})j" << "\n";
    s = db->Import(Actor::System(), path, ImportOptions(), nullptr);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();  // as every bad line
    EXPECT_NE(s.message().find("line 1: " + message + "; nothing was imported"), std::string::npos)
        << s.ToString();
  }
  EXPECT_EQ(db->Revision(), revision);
  EXPECT_TRUE(testing::DumpAll(db.get()) == before);
  // A name that only contains a built-in's, or differs by more than case.
  for (const char* fine : {"viewers", "Viewer 2", "site_viewer", "vi\xC3\xA9wer"}) {
    EXPECT_OK(db->CreateRole(Actor::System(), acme, fine, {"device.read"}));
  }
}

// An import replayed from the change log was accepted once, under the rules
// of its day: a log written before the name was reserved still applies
// (a replica catching up, a new one started from an old checkpoint). The
// entry is made as such a writer made it: its input says "(hidden)".
TEST(ReservedName, AnImportAcceptedBeforeStillReplays) {
  testing::TempDir dir;
  auto source = testing::OpenDb(dir.Sub("source"));
  testing::MakeAccount(source.get(), "acme");
  const std::string path = dir.Sub("in.jsonl");
  std::ofstream(path) << R"j({"type":"device","key":"(hiddeX)","name":"H","account":"acme"})j" << "\n"
                      << R"j({"type":"user","login":"(hiddeX)","name":"H","account":"acme"})j" << "\n";
  ASSERT_TRUE(source->Import(Actor::System(), path, ImportOptions(), nullptr).ok());
  std::vector<std::string> entries;
  ASSERT_TRUE(source->ReadLogEntries(1, 10, &entries).ok());
  ASSERT_EQ(entries.size(), 2u);
  std::string_view entry_bytes, input_view;
  ASSERT_TRUE(storage::UnframeLogEntry(entries[1], &entry_bytes, &input_view).ok());
  std::string input(input_view);
  for (size_t at; (at = input.find("(hiddeX)")) != std::string::npos;) input.replace(at, 8, kHidden);
  storage::LogEntry entry;
  ASSERT_TRUE(storage::DecodeLogEntry(entry_bytes, &entry).ok());
  ASSERT_EQ(entry.operation, "import");
  entry.import_hash = XXH3_64bits(input.data(), input.size());
  entries[1] = storage::FrameLogEntry(storage::EncodeLogEntry(entry), input);

  auto replica = testing::OpenDb(dir.Sub("replica"));
  ApplyReport report;
  Status s = replica->ApplyChanges(entries, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.applied, 2u);
  EXPECT_TRUE(replica->FindEntity(EntityKind::kDevice, kHidden).ok());
  EXPECT_TRUE(replica->FindUser(kHidden).ok());
  // What is new is still refused there.
  EXPECT_EQ(replica->CreateAccount(Actor::System(), {.key = kHidden, .name = "H"}).status().code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace canopy
