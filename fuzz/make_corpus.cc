// Copyright (c) Canopy authors.
//
// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/):
// valid inputs of each surface, made by Canopy's own encoders and export,
// so that the fuzzers start from inputs that get past the first checks.
// Run once, by hand, when a format changes:
//   build-fuzz/fuzz/fuzz_make_corpus fuzz/corpus
// (it replaces the files it writes; the fuzzers never write there).

#include <xxhash.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "canopy/db.h"
#include "query/catalog_image.h"
#include "query/cursor.h"
#include "storage/changes.h"
#include "storage/coding.h"
#include "storage/counters.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/records.h"

namespace {

namespace fs = std::filesystem;
namespace st = canopy::storage;
using canopy::query::EncodeToken;
using canopy::query::TokenType;

std::string out_dir;

void Put(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = fs::path(out_dir) / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string Label(std::initializer_list<uint64_t> path) {
  std::string l;
  for (uint64_t k : path) st::AppendOrdinal(&l, k);
  return l;
}

void Labels() {
  int i = 0;
  for (const std::string& l :
       {Label({0}), Label({0, 1, 2}), Label({246}), Label({247}), Label({255, 256}),
        Label({65535, 65536}), Label({1ull << 40}), Label({~0ull}), Label({3, 0, 0, 0, 0, 0, 0, 9})}) {
    Put("labels", "valid-" + std::to_string(i++), l);
  }
  Put("labels", "bad-zero", std::string("\x01\x00", 2));
  Put("labels", "bad-truncated", "\xf9\x01");
  Put("labels", "bad-nonminimal", "\xf8\x05");
}

canopy::Account SampleAccount() {
  canopy::Account a;
  a.id = 7;
  a.key = "acme-a";
  a.name = "Nested customer A \xc3\xa9";
  a.parent = 3;
  a.depth = 2;
  a.created_us = 1700000000000000;
  a.updated_us = 1700000000000001;
  a.attributes = {{"home_dashboard", "fleet"}, {"address", "Main St 1"}};
  a.settings.sub_account_management = true;
  a.settings.sub_account_access = canopy::SubAccountAccess::kDefaultOn;
  return a;
}

canopy::Entity SampleEntity(canopy::EntityKind kind, bool full) {
  canopy::Entity e;
  e.id = 42;
  e.kind = kind;
  e.key = "dev-1";
  e.name = "Van 1";
  e.owner = 7;
  e.created_us = 5;
  e.updated_us = 6;
  if (full) {
    e.unit_id = "U-0001";
    e.type = "tracker";
    e.attributes = {{"vin", "WVW"}, {"colour", "blue"}};
  }
  return e;
}

void Records() {
  // One file per decoder (first byte), some also at an odd address (0x80).
  auto put = [](uint8_t selector, const std::string& name, const std::string& bytes) {
    Put("records", name, std::string(1, static_cast<char>(selector)) + bytes);
  };
  st::AccountRecord ar;
  ar.account = SampleAccount();
  ar.label = Label({0, 1});
  ar.next_child_ordinal = 4;
  put(0, "account", st::EncodeAccount(ar));
  put(0x80, "account-odd", st::EncodeAccount(ar));
  ar.account.attributes.clear();
  ar.account.parent = 0;
  ar.label = Label({0});
  put(0, "account-root", st::EncodeAccount(ar));
  put(1, "entity-device", st::EncodeEntity(SampleEntity(canopy::EntityKind::kDevice, true)));
  put(0x81, "entity-device-odd", st::EncodeEntity(SampleEntity(canopy::EntityKind::kDevice, true)));
  put(1, "entity-asset", st::EncodeEntity(SampleEntity(canopy::EntityKind::kAsset, false)));
  canopy::User u;
  u.id = 2;
  u.login = "a@acme.example";
  u.name = "User A";
  u.account = 7;
  u.disabled = true;
  put(2, "user", st::EncodeUser(u));
  canopy::Membership m;
  m.role = 3;
  m.branch = true;
  m.created_us = 9;
  put(3, "membership", st::EncodeMembership(m));
  canopy::Role r;
  r.id = 100;
  r.tenant = 1;
  r.name = "auditor";
  r.permissions = {"account.read", "device.read"};
  put(4, "role", st::EncodeRole(r));
  r.permissions.clear();
  put(0x84, "role-empty-odd", st::EncodeRole(r));
  st::FormatRecord f;
  f.magic = std::string(st::kMagic);
  f.version = 1;
  f.max_depth = 32;
  f.created_us = 1;
  f.library_version = "0.1.0";
  put(5, "format", st::EncodeFormat(f));

  // A log entry with one change of every record type.
  st::LogEntry e;
  e.revision = 12;
  e.time_us = 1700000000000000;
  e.log_id = "0123456789abcdef";
  e.actor_user = 2;
  e.actor_login = "a@acme.example";
  e.operation = "account.create";
  e.arguments = R"({"key":"acme-a"})";
  auto change = [&](st::RecordType type, std::string key, std::string before, std::string after) {
    st::RecordChange c;
    c.type = type;
    c.key = std::move(key);
    c.before = std::move(before);
    c.after = std::move(after);
    c.after_scope = Label({0, 1});
    e.changes.records.push_back(std::move(c));
  };
  change(st::RecordType::kAccount, st::IdKey(7), "", st::EncodeAccount(ar));
  change(st::RecordType::kEntity, st::IdKey(42), st::EncodeEntity(SampleEntity(canopy::EntityKind::kDevice, false)),
         st::EncodeEntity(SampleEntity(canopy::EntityKind::kDevice, true)));
  change(st::RecordType::kUser, st::IdKey(2), st::EncodeUser(u), "");
  change(st::RecordType::kMembership, st::PairKey(2, 7), "", st::EncodeMembership(m));
  change(st::RecordType::kRole, st::IdKey(100), "", st::EncodeRole(r));
  change(st::RecordType::kMeta, std::string(st::kSeqAccount), "", st::Fixed64BE(7));
  e.changes.counters.push_back({7, 1, 1});
  e.changes.counters.push_back({3, 0x81, -1});
  const std::string entry = st::EncodeLogEntry(e);
  put(6, "log-entry", entry);
  put(0x87, "log-entry-unsealed-odd", entry.substr(0, entry.size() - 8));  // case 7 adds the checksum
  put(7, "log-entry-unsealed", entry.substr(0, entry.size() - 8));
  st::LogEntry import;
  import.revision = 3;
  import.operation = "import";
  import.import_chunks = 1;
  import.import_bytes = 5;
  import.import_hash = 77;
  const std::string import_entry = st::EncodeLogEntry(import);
  put(7, "log-entry-import-unsealed", import_entry.substr(0, import_entry.size() - 8));
  put(8, "log-framed", st::FrameLogEntry(import_entry, "{}\n{}\n"));

  put(9, "key-log", st::LogKey(12));
  put(9, "key-log-chunk", st::LogChunkKey(12, 3));
  put(9, "key-entity-value", st::EntityKeyValue(42, 7));
  put(9, "key-index", st::IndexKey(1, Label({0, 1}), 42));
  std::string iv;
  st::EncodeIndexValue(&iv, 7, "dev-1", "Van 1", "tracker");
  put(9, "value-index", iv);
  put(9, "value-counter", st::CounterValue(-3));
}

void Cursors() {
  std::string visible;
  st::PutFixed64BE(&visible, 0x1234567890abcdefull);  // instance
  st::PutFixed64BE(&visible, 1);                      // view
  st::PutFixed64BE(&visible, 0xfeedface);             // request fingerprint
  visible += st::IndexKey(1, Label({0, 1}), 42);
  std::string pair;
  st::PutFixed64BE(&pair, 0xfeedface);
  st::PutFixed64BE(&pair, 5);
  Put("cursor", "token-visible", EncodeToken(TokenType::kVisible, visible));
  Put("cursor", "token-who-can", EncodeToken(TokenType::kWhoCan, pair));
  Put("cursor", "token-table", EncodeToken(TokenType::kTable, pair));
  // Payload inputs: kind byte (0 visible, 1 who-can, 2 table), then the payload.
  Put("cursor", "payload-visible", std::string(1, '\0') + visible);
  Put("cursor", "payload-table", std::string(1, '\2') + pair);
  Put("cursor", "base64-padded", "Y2Fub3B5LWRi");
  Put("cursor", "base64-padded-2", "Y2Fub3B5LWQ=");
}

// The C API target's inputs: op, flags, then NUL-separated strings.
void CApi() {
  auto put = [](const std::string& name, uint8_t op, uint8_t flags, std::vector<std::string> s) {
    std::string in{static_cast<char>(op), static_cast<char>(flags)};
    for (size_t i = 0; i < s.size(); ++i) {
      if (i) in.push_back('\0');
      in += s[i];
    }
    Put("c_api", name, in);
  };
  put("account-create", 0, 1, {"acme-b", "Customer B", "region", "eu"});
  put("account-create-by-user", 0, 0x30, {"acme-a-1", "Sub 1"});
  put("account-find", 0, 0, {"acme-a"});
  put("account-update", 1, 0, {"Renamed", "home_dashboard", "map"});
  put("entity-create", 2, 1, {"dev-9", "U-0009", "Van 9", "tracker", "vin", "XYZ"});
  put("entity-create-dashboard", 2, 3, {"dash-1", "", "Fleet", "", "", ""});
  put("entity-update", 3, 0, {"Van 1b", "", "U-0042", "vin", "ABC"});
  put("reassign-keys", 4, 1, {"dev-1", "dev-2"});
  put("reassign-units", 4, 9, {"U-0001"});
  put("user-create", 5, 0, {"new@acme.example", "New User", "Renamed auditor"});
  put("role-create", 6, 0, {"ops", "device.read", "device.write", "fe.secure.read.devices"});
  put("visible-filters", 7, 1, {"device.read", "tracker", "Van", "vin", "WVW", ""});
  put("visible-user", 7, 0x51, {"", "", "", "", "", ""});
  put("access", 8, 1, {"device.read", "dev-1", ""});
  put("access-auditor", 8, 0x11, {"device.write", "dev-2", ""});
  put("table", 9, 0x21, {""});
  put("changes", 10, 1, {"account", "entity", "membership"});
  put("minted-cursor", 11, 0, {st::IndexKey(1, Label({0, 0}), 2)});
  put("attributes", 12, 0, {"a", "1", "b", "2", "a", "3"});
}

// The catalog image a closing database leaves (query/catalog_image.h), as
// the catalog_image target reads it: a mode byte (1: recompute the
// checksum, 2: this build's fingerprint), then the file.
void CatalogImage(const std::string& folder, const std::string& name) {
  std::ifstream f(folder + "/" + canopy::query::kCatalogImageFile, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  if (ss.str().empty()) {
    std::fprintf(stderr, "make_corpus: no catalog image in %s\n", folder.c_str());
    std::exit(1);
  }
  Put("catalog_image", name, "\x03" + ss.str());
}

void EmptyCatalogImage(const std::string& scratch) {
  std::unique_ptr<canopy::Db> db;
  canopy::Options o;
  o.sync = false;
  if (!canopy::Db::Open(o, scratch + "/empty", &db).ok() || !db->Close().ok()) std::exit(1);
  CatalogImage(scratch + "/empty", "empty");
}

// JSON Lines: an export of a database built through the API (the whole
// file, and each line alone), and lines that build on the fuzzer's seeded
// database (accounts acme, acme-a, globex; role auditor; two users).
void JsonLines(const std::string& scratch) {
  const std::string text =
      R"({"type":"account","key":"initech","name":"Initech","attributes":{"tier":"gold"},"settings":{"sub_account_management":true,"sub_account_access":"default_on"}}
{"type":"account","key":"initech-east","name":"East \u00e9","parent":"initech","settings":{"sub_account_management":false}}
{"type":"role","tenant":"initech","name":"ops","permissions":["device.read","device.write","asset.read"]}
{"type":"user","login":"p@initech.example","name":"Peter","account":"initech","disabled":true}
{"type":"membership","login":"p@initech.example","account":"initech-east","role":"ops","branch":false}
{"type":"device","key":"d-1","unit_id":"u-1","name":"Printer","device_type":"printer","account":"initech-east","attributes":{"floor":"2"}}
{"type":"entity","kind":"dashboard","key":"db-1","name":"Overview","type":"main","account":"initech"}
{"type":"entity","kind":"entity_view","key":"ev-1","name":"View","account":"initech"}
{"type":"group","kind":"device","name":"printers","account":"initech-east"}
{"type":"group","kind":"user","name":"ops","account":"initech"}
{"type":"group","kind":"account","name":"regions","account":"initech","id":7}
{"type":"group_member","account":"initech-east","kind":"device","group":"printers","member":"d-1"}
{"type":"group_member","account":"initech","kind":"user","group":"ops","member":"p@initech.example"}
{"type":"group_member","account":"initech","kind":"account","group":"regions","member":"initech-east"}
{"type":"group_grant","account":"initech","group":"ops","role":"ops","target_kind":"account","target":"regions","branch":true}
)";
  const std::string in = scratch + "/in.jsonl", out = scratch + "/out.jsonl";
  std::ofstream(in, std::ios::binary) << text;
  std::unique_ptr<canopy::Db> db;
  canopy::Options o;
  o.sync = false;
  auto must = [](const canopy::Status& s, const char* what) {
    if (!s.ok()) {
      std::fprintf(stderr, "make_corpus: %s: %s\n", what, s.ToString().c_str());
      std::exit(1);
    }
  };
  must(canopy::Db::Open(o, scratch + "/db", &db), "open");
  must(db->Import(canopy::Actor::System(), in, canopy::ImportOptions(), nullptr), "import");
  must(db->Export(out, nullptr, nullptr), "export");
  if (!db->Close().ok()) std::exit(1);
  CatalogImage(scratch + "/db", "import");
  std::ifstream ex(out, std::ios::binary);
  std::stringstream ss;
  ss << ex.rdbuf();
  const std::string exported = ss.str();
  Put("jsonl", "export", exported);
  std::istringstream lines(exported);
  int i = 0;
  std::string first;
  for (std::string line; std::getline(lines, line); ++i) {
    if (i == 0) first = line + "\n";
    Put("jsonl", "export-line-" + std::to_string(i), (i > 0 ? first : std::string()) + line + "\n");
  }
  Put("jsonl", "seeded-device", R"({"type":"device","key":"dev-9","unit_id":"U-0009","name":"Van 9","account":"acme-a"})" "\n");
  Put("jsonl", "seeded-account", R"({"type":"account","key":"acme-b","name":"B","parent":"acme","settings":{"sub_account_access":"always_on"}})" "\n");
  Put("jsonl", "seeded-membership",
      R"({"type":"user","login":"new@acme.example","name":"New","account":"acme"})" "\n"
      R"({"type":"membership","login":"new@acme.example","account":"acme-a","role":"auditor","branch":true})" "\n");
  Put("jsonl", "seeded-role", R"({"type":"role","tenant":"acme","name":"ops","permissions":["fe.secure.read.devices"]})" "\r\n");
  Put("jsonl", "seeded-group",
      R"({"type":"group","kind":"dashboard","name":"boards","account":"acme-a"})" "\n"
      R"({"type":"group_member","account":"acme-a","kind":"dashboard","group":"boards","member":"dash-1"})" "\n");
  Put("jsonl", "seeded-group-member",
      R"({"type":"user","login":"b@acme.example","name":"B","account":"acme-a"})" "\n"
      R"({"type":"group_member","account":"acme-a","kind":"user","group":"crew","member":"b@acme.example"})" "\n");
  Put("jsonl", "seeded-group-grant",
      R"({"type":"group_grant","account":"acme-a","group":"crew","role":"auditor","branch":true})" "\n");
  Put("jsonl", "end-only", "{\"type\":\"end\",\"records\":0,\"xxh3\":\"2d06800538d394c2\"}\n");
  // An export's begin line, cut short before its end line (refused).
  Put("jsonl", "begin-cut",
      R"({"type":"begin","format":1})" "\n"
      R"({"type":"account","key":"cut","name":"Cut"})" "\n");
  Put("jsonl", "blank", "\n \t\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  const fs::path scratch = fs::temp_directory_path() / ("canopy-corpus-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  Labels();
  Records();
  Cursors();
  CApi();
  JsonLines(scratch.string());
  EmptyCatalogImage(scratch.string());
  fs::remove_all(scratch);
  return 0;
}
