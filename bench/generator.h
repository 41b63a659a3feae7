// Copyright (c) Canopy authors.
//
// The tree generator of the benchmarks and the capacity harness: roots,
// accounts to a given depth and fan-out, devices spread over the accounts
// with a Zipf skew, users with memberships (branch and direct), all from a
// seed. It writes the JSON Lines interchange format (docs/format.md), so a database is
// built with Db::Import (SST ingestion) and the same file feeds SQLite.

#ifndef CANOPY_BENCH_GENERATOR_H_
#define CANOPY_BENCH_GENERATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "canopy/status.h"

namespace canopy::bench {

struct TreeSpec {
  uint64_t roots = 1;
  uint64_t accounts = 10000;  // all accounts, roots included
  uint32_t depth = 6;         // the deepest level (a root is level 1)
  uint32_t fanout = 16;       // at most this many children per account
  uint64_t devices = 1000000;
  double zipf = 0.8;          // skew of devices over accounts; 0 is uniform
  uint64_t users = 1000;
  double branch_share = 0.7;  // memberships with branch access
  uint64_t seed = 42;
  // Memberships of each user, on distinct accounts (1..accounts). The first
  // one is on the account the user is created in; the others on accounts
  // below it (a user holds roles only in its own account's subtree), so a
  // user whose account has fewer descendants gets fewer. They are drawn
  // after everything else, so the rest of the tree does not depend on it.
  uint32_t memberships_per_user = 1;
  // Attributes of each device (0..kMaxDeviceAttributes), e.g. a firmware
  // version and a region, so that files look like real fleets' exports.
  uint32_t device_attributes = 0;
  static constexpr uint32_t kMaxDeviceAttributes = 4;

  // A short stable name for caching built databases, e.g. "r1-a10000-...".
  // memberships_per_user appears only when it is not 1, and
  // device_attributes only when it is not 0, so the names (and caches) of
  // earlier trees stay valid.
  std::string Name() const;
};

// One generated membership (user and account are generator indexes).
struct GeneratedMembership {
  uint32_t user = 0;
  uint32_t account = 0;
  bool branch = false;
  uint8_t role = 0;  // index into GeneratedTree::RoleName
};

// What was generated, for choosing benchmark targets.
struct GeneratedTree {
  TreeSpec spec;
  std::vector<uint32_t> parent;      // account index -> parent index (UINT32_MAX: root)
  std::vector<uint32_t> depth;       // account index -> level (1 = root)
  std::vector<uint64_t> direct;      // devices owned by the account
  std::vector<uint64_t> subtree;     // devices in its subtree
  std::vector<uint32_t> device_owner;  // device index -> account index
  std::vector<uint32_t> user_account;  // user index -> membership account
  std::vector<bool> user_branch;       // user index -> branch membership
  // Every membership, grouped by user in user order; each user's first one
  // is (user_account, user_branch), the others are on its descendants.
  std::vector<GeneratedMembership> memberships;
  // "account_admin", "device_manager" or "viewer" (role 0, 1, 2).
  static const char* RoleName(uint8_t role);
  static std::string AccountKey(uint64_t i) { return "acc-" + std::to_string(i); }
  static std::string DeviceKey(uint64_t i) { return "dev-" + std::to_string(i); }
  static std::string UserLogin(uint64_t i) { return "user-" + std::to_string(i) + "@bench"; }
  // The account whose subtree holds the fewest devices >= min_devices
  // (UINT32_MAX if none).
  uint32_t SubtreeAtLeast(uint64_t min_devices) const;
};

// Generates the tree for `spec` (deterministic), and writes it as JSON Lines
// to `path` when it is not empty ("-": standard output). Aborted when a
// stop was requested (RequestStop) while it wrote; the file is then
// incomplete (the caller removes it).
Status Generate(const TreeSpec& spec, const std::string& path, GeneratedTree* out);

// A real number as the tree's name and reports spell it: with two decimals
// when that spelling is exact ("0.80", the names earlier runs used), else
// the shortest spelling that reads back as the same number ("0.804"), so
// that two different values never look the same.
std::string SpellReal(double v);

// A stop asked for from outside (the harness's Ctrl-C handler; safe to call
// from a signal handler): long loops of the generator, the environment's
// import and the harness's workloads end early when StopRequested().
void RequestStop();
bool StopRequested();

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_GENERATOR_H_
