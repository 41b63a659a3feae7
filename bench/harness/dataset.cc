// Copyright (c) Canopy authors.

#include "bench/harness/dataset.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace canopy::bench {

namespace {

std::string Count(uint64_t n) {
  char buf[32];
  if (n >= 1000000) {
    std::snprintf(buf, sizeof(buf), "%.3gM", n / 1e6);
  } else if (n >= 1000) {
    std::snprintf(buf, sizeof(buf), "%.3gk", n / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%llu", (unsigned long long)n);
  }
  return buf;
}

}  // namespace

Status Dataset::Open(const TreeSpec& spec, const DatasetOptions& options,
                     std::unique_ptr<Dataset>* out) {
  std::unique_ptr<Dataset> ds(new Dataset());
  Progress* progress = options.progress;
  PrepareOptions po;
  po.db_options = options.db_options;
  po.log = [progress](const std::string& message) {
    if (progress != nullptr) progress->Phase(message);
  };
  po.import_progress = [progress](uint64_t done, uint64_t total) {
    if (progress != nullptr && total > 0) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.0f%% of %s bytes", 100.0 * done / total,
                    Count(total).c_str());
      progress->Update(buf);
    }
    return true;
  };
  if (progress != nullptr) {
    progress->Phase("preparing " + Count(spec.devices) + " devices, " + Count(spec.accounts) +
                    " accounts (" + spec.Name() + ")");
  }
  CANOPY_RETURN_IF_ERROR(BenchEnv::Prepare(spec, options.cache_dir, po, &ds->env_));
  CANOPY_RETURN_IF_ERROR(ds->Resolve());
  *out = std::move(ds);
  return Status::Ok();
}

Status Dataset::Resolve() {
  const GeneratedTree& t = env_->tree;
  const uint32_t n = static_cast<uint32_t>(t.parent.size());
  account_ids_.resize(n);
  const Status stopped = Status::Aborted("stopped while reading the tree's ids");
  for (uint32_t a = 0; a < n; ++a) {
    if (a % 65536 == 0 && StopRequested()) return stopped;
    auto acc = db()->FindAccount(GeneratedTree::AccountKey(a));
    if (!acc.ok()) return acc.status().WithContext("generated account missing from the database");
    account_ids_[a] = acc->id;
    if (t.depth[a] <= 2) shallow_.push_back(a);
    if (t.parent[a] != UINT32_MAX) non_roots_.push_back(a);
  }
  user_ids_.resize(t.user_account.size());
  for (uint32_t u = 0; u < user_ids_.size(); ++u) {
    if (u % 65536 == 0 && StopRequested()) return stopped;
    auto user = db()->FindUser(GeneratedTree::UserLogin(u));
    if (!user.ok()) return user.status().WithContext("generated user missing from the database");
    user_ids_[u] = user->id;
  }
  // Grants: drop a membership inside another branch membership of the
  // same user, as the engine's planner does.
  grants_.assign(user_ids_.size(), {});
  for (size_t i = 0; i < t.memberships.size();) {
    size_t j = i;
    while (j < t.memberships.size() && t.memberships[j].user == t.memberships[i].user) ++j;
    for (size_t k = i; k < j; ++k) {
      const GeneratedMembership& m = t.memberships[k];
      bool covered = false;
      for (uint32_t p = t.parent[m.account]; p != UINT32_MAX && !covered; p = t.parent[p]) {
        for (size_t o = i; o < j; ++o) {
          covered |= t.memberships[o].account == p && t.memberships[o].branch;
        }
      }
      if (!covered) grants_[m.user].push_back(Grant{m.account, m.branch});
    }
    i = j;
  }
  // Devices by owner (counting sort).
  owned_begin_.assign(n + 1, 0);
  for (uint32_t a : t.device_owner) ++owned_begin_[a + 1];
  for (uint32_t a = 0; a < n; ++a) owned_begin_[a + 1] += owned_begin_[a];
  owned_.resize(t.device_owner.size());
  std::vector<uint64_t> next(owned_begin_.begin(), owned_begin_.end() - 1);
  for (uint32_t d = 0; d < t.device_owner.size(); ++d) owned_[next[t.device_owner[d]]++] = d;
  return Status::Ok();
}

uint64_t Dataset::VisibleDevices(uint32_t user) const {
  uint64_t n = 0;
  for (const Grant& g : grants_[user]) {
    n += g.branch ? env_->tree.subtree[g.account] : env_->tree.direct[g.account];
  }
  return n;
}

uint32_t Dataset::DeviceOwnedBy(uint32_t account, uint64_t r) const {
  const uint64_t begin = owned_begin_[account], end = owned_begin_[account + 1];
  if (begin == end) return UINT32_MAX;
  return owned_[begin + r % (end - begin)];
}

uint32_t Dataset::CheckTarget(uint32_t user, uint64_t r1, uint64_t r2) const {
  const std::vector<Grant>& g = grants_[user];
  if (r1 % 2 == 0 && !g.empty()) {
    uint32_t d = DeviceOwnedBy(g[(r1 / 2) % g.size()].account, r2);
    if (d != UINT32_MAX) return d;
  }
  return static_cast<uint32_t>(r2 % num_devices());
}

}  // namespace canopy::bench
