// Copyright (c) Canopy authors.
//
// The JSON Lines interchange (engine/interchange.cc), driven as import and
// export drive it: the input is one import file, loaded into a small
// seeded database (so lines may name its accounts, users and roles). On
// every input:
//  - Import never crashes; a refusal is an error the caller can act on
//    (never Corruption, IOError or Internal, always a message) and commits
//    no revision;
//  - an accepted file leaves a database that passes CheckIntegrity, whose
//    counts grew by exactly what the import reported, and whose export
//    imports into an empty database and exports again to the same records
//    (the same lines; only the order of memberships may differ, as ids
//    are assigned in file order).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "canopy/db.h"
#include "fuzz/fuzz_util.h"

namespace {

using canopy::Actor;
using canopy::Code;
using canopy::Db;
using canopy::ImportOptions;
using canopy::ImportReport;
using canopy::Status;
namespace fs = std::filesystem;

// The seeded database: two tenants (acme shares groups), a sub-account, a
// custom role, two users with memberships, entities of three kinds (one
// typed non-device entity: its "type" is the field export once wrote but
// import refused), and groups with members and grants (so lines may name
// them too).
constexpr char kSeed[] =
    R"({"type":"account","key":"acme","name":"ACME Corp","settings":{"sub_account_management":true,"group_sharing":true}}
{"type":"account","key":"acme-a","name":"Nested customer A","parent":"acme","attributes":{"home_dashboard":"fleet"},"settings":{"sub_account_management":true,"sub_account_access":"default_on"}}
{"type":"account","key":"globex","name":"Globex","settings":{"sub_account_access":"always_on"}}
{"type":"role","tenant":"acme","name":"auditor","permissions":["device.read","account.read"]}
{"type":"user","login":"a@acme.example","name":"User A","account":"acme-a"}
{"type":"membership","login":"a@acme.example","account":"acme-a","role":"account_admin","branch":true}
{"type":"user","login":"audit@acme.example","name":"Auditor","account":"acme"}
{"type":"membership","login":"audit@acme.example","account":"acme","role":"auditor"}
{"type":"device","key":"dev-1","unit_id":"U-0001","name":"Van 1","device_type":"tracker","account":"acme-a","attributes":{"vin":"WVW"}}
{"type":"entity","kind":"asset","key":"site-7","name":"Depot","account":"acme"}
{"type":"entity","kind":"dashboard","key":"dash-1","name":"Fleet","type":"overview","account":"acme-a"}
{"type":"group","kind":"device","name":"vans","account":"acme-a"}
{"type":"group","kind":"user","name":"crew","account":"acme-a"}
{"type":"group","kind":"asset","name":"sites","account":"acme"}
{"type":"group","kind":"account","name":"customers","account":"acme"}
{"type":"group_member","account":"acme-a","kind":"device","group":"vans","member":"dev-1"}
{"type":"group_member","account":"acme-a","kind":"user","group":"crew","member":"a@acme.example"}
{"type":"group_member","account":"acme","kind":"asset","group":"sites","member":"site-7"}
{"type":"group_member","account":"acme","kind":"account","group":"customers","member":"acme-a"}
{"type":"group_grant","account":"acme-a","group":"crew","role":"viewer","target_kind":"device","target":"vans"}
{"type":"group_grant","account":"acme-a","group":"crew","role":"viewer","target_account":"acme","target_kind":"asset","target":"sites"}
)";

struct State {
  std::string base = canopy::fuzz::ScratchDir();
  // Closed databases, copied for each run (a copy opens in a third of the
  // time a new database takes to create).
  std::string seeded = base + "/seeded";
  std::string empty = base + "/empty";
  std::string work = base + "/work";
  std::string fresh = base + "/fresh";
  std::unique_ptr<Db> db;  // the copy of `seeded` at `work`, while unchanged
  ImportReport seeded_counts;
};
State* state = nullptr;

canopy::Options Opts() {
  canopy::Options o;
  o.sync = false;
  o.block_cache_bytes = 1 << 20;
  return o;
}

std::unique_ptr<Db> Open(const std::string& path, const std::string& copy_of = "") {
  if (!copy_of.empty()) {
    fs::remove_all(path);
    fs::copy(copy_of, path, fs::copy_options::recursive);
  }
  std::unique_ptr<Db> db;
  Status s = Db::Open(Opts(), path, &db);
  FUZZ_CHECK(s.ok(), s.ToString());
  return db;
}

void Close(std::unique_ptr<Db>& db, const std::string& path) {
  Status s = db->Close();
  FUZZ_CHECK(s.ok(), s.ToString());
  db.reset();
  fs::remove_all(path);
}

void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr);
  FUZZ_CHECK(size == 0 || std::fwrite(data, 1, size, f) == size);
  FUZZ_CHECK(std::fclose(f) == 0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The record lines of an export (without its end line), sorted.
std::vector<std::string> Records(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("{\"type\":\"end\"", 0) != 0) lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

std::string Export(Db* db, const std::string& path, ImportReport* counts) {
  Status s = db->Export(path, nullptr, counts);
  FUZZ_CHECK(s.ok(), s.ToString());
  return ReadFile(path);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  state = new State();
  const std::string seed = state->base + "/seed.jsonl";
  WriteFile(seed, reinterpret_cast<const uint8_t*>(kSeed), sizeof(kSeed) - 1);
  std::unique_ptr<Db> db = Open(state->seeded);
  Status s = db->Import(Actor::System(), seed, ImportOptions(), nullptr);
  FUZZ_CHECK(s.ok(), s.ToString());
  Export(db.get(), state->base + "/seeded.jsonl", &state->seeded_counts);
  FUZZ_CHECK(db->Close().ok());
  db = Open(state->empty);
  FUZZ_CHECK(db->Close().ok());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  State& st = *state;
  if (st.db == nullptr) st.db = Open(st.work, st.seeded);
  const std::string input = st.base + "/input.jsonl";
  WriteFile(input, data, size);
  const uint64_t revision = st.db->Revision();
  ImportReport report;
  const Status s = st.db->Import(Actor::System(), input, ImportOptions(), &report);
  if (!s.ok()) {
    FUZZ_CHECK(!s.message().empty());
    FUZZ_CHECK(s.code() == Code::kInvalidArgument || s.code() == Code::kNotFound ||
                   s.code() == Code::kAlreadyExists || s.code() == Code::kFailedPrecondition,
               "an import refusal of an unexpected kind: " + s.ToString());
    FUZZ_CHECK(st.db->Revision() == revision, "a refused import committed a revision");
    return 0;
  }

  // Accepted: the database is consistent and holds what was reported.
  std::vector<std::string> problems;
  const Status check = st.db->CheckIntegrity(&problems);
  FUZZ_CHECK(check.ok(), check.ToString() + (problems.empty() ? "" : "; " + problems[0]));
  ImportReport counts;
  const std::string first = Export(st.db.get(), st.base + "/first.jsonl", &counts);
  const ImportReport& seeded = st.seeded_counts;
  FUZZ_CHECK(counts.accounts == seeded.accounts + report.accounts &&
                 counts.roles == seeded.roles + report.roles &&
                 counts.users == seeded.users + report.users &&
                 counts.memberships == seeded.memberships + report.memberships &&
                 counts.entities == seeded.entities + report.entities &&
                 counts.groups == seeded.groups + report.groups &&
                 counts.group_members == seeded.group_members + report.group_members &&
                 counts.group_grants == seeded.group_grants + report.group_grants,
             "the export does not hold what the import reported");
  Close(st.db, st.work);  // changed: the next input starts from a new copy

  // Export -> import into an empty database -> export: the same records.
  std::unique_ptr<Db> fresh = Open(st.fresh, st.empty);
  ImportReport again;
  const Status s2 = fresh->Import(Actor::System(), st.base + "/first.jsonl", ImportOptions(), &again);
  FUZZ_CHECK(s2.ok(), "an export does not import into an empty database: " + s2.ToString());
  const std::string second = Export(fresh.get(), st.base + "/second.jsonl", nullptr);
  Close(fresh, st.fresh);
  FUZZ_CHECK(Records(first) == Records(second),
             "export -> import -> export changed the records:\n" + first + "---\n" + second);
  return 0;
}
