// Copyright (c) Canopy authors.
//
// Dataset: one measured size of the harness. It is a BenchEnv (the
// generated tree, its Canopy database built by Db::Import in the cache and
// reused, SQLite on request) plus the look-ups the workload and the
// baselines need: engine ids of the generated users and accounts, each
// user's disjoint grants (from the generator's memberships), devices by
// owner, and the accounts a subtree move may target.
//
// Thread safety: after Open, the const accessors may be used by many
// threads at once (the Db is thread-safe); NextSerial is atomic.

#ifndef CANOPY_BENCH_HARNESS_DATASET_H_
#define CANOPY_BENCH_HARNESS_DATASET_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_env.h"
#include "bench/harness/progress.h"

namespace canopy::bench {

struct DatasetOptions {
  std::string cache_dir;
  Options db_options;
  Progress* progress = nullptr;  // may be null
};

class Dataset {
 public:
  // A membership that is not inside another of the same user's branches.
  struct Grant {
    uint32_t account = 0;  // generator index
    bool branch = false;
  };

  static Status Open(const TreeSpec& spec, const DatasetOptions& options,
                     std::unique_ptr<Dataset>* out);

  BenchEnv& env() { return *env_; }
  Db* db() const { return env_->db.get(); }
  const GeneratedTree& tree() const { return env_->tree; }
  const TreeSpec& spec() const { return env_->spec; }

  uint32_t num_users() const { return static_cast<uint32_t>(user_ids_.size()); }
  uint32_t num_accounts() const { return static_cast<uint32_t>(account_ids_.size()); }
  uint64_t num_devices() const { return env_->tree.device_owner.size(); }
  UserId user_id(uint32_t user) const { return user_ids_[user]; }
  AccountId account_id(uint32_t account) const { return account_ids_[account]; }
  const std::vector<Grant>& grants(uint32_t user) const { return grants_[user]; }
  // Devices in the grants of `user`, from the generated tree.
  uint64_t VisibleDevices(uint32_t user) const;

  // A device owned by `account` itself, picked by `r`; UINT32_MAX if none.
  uint32_t DeviceOwnedBy(uint32_t account, uint64_t r) const;
  // A device the user may see half of the time (one of its grants' own
  // devices, when it has any), else any device; picked by r1 and r2.
  uint32_t CheckTarget(uint32_t user, uint64_t r1, uint64_t r2) const;
  // Accounts at depth <= 2 (targets of subtree moves) and non-roots.
  const std::vector<uint32_t>& shallow_accounts() const { return shallow_; }
  const std::vector<uint32_t>& non_roots() const { return non_roots_; }

  // A number unique within this process, for keys of created accounts.
  uint64_t NextSerial() { return serial_.fetch_add(1) + 1; }

  // Was the database built by this run (else reused from the cache)?
  bool built() const { return env_->import_seconds > 0; }

 private:
  Dataset() = default;
  Status Resolve();

  std::unique_ptr<BenchEnv> env_;
  std::vector<UserId> user_ids_;
  std::vector<AccountId> account_ids_;
  std::vector<std::vector<Grant>> grants_;
  std::vector<uint64_t> owned_begin_;  // CSR of devices by owner
  std::vector<uint32_t> owned_;
  std::vector<uint32_t> shallow_;
  std::vector<uint32_t> non_roots_;
  std::atomic<uint64_t> serial_{0};
};

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_DATASET_H_
