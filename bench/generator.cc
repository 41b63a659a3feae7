// Copyright (c) Canopy authors.

#include "bench/generator.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

namespace canopy::bench {

namespace {

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

}  // namespace

std::string SpellReal(double v) {
  if (v == 0) v = 0;  // -0 is spelt as 0: the same tree
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  if (std::strtod(buf, nullptr) == v) return buf;
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("nan");
}

void RequestStop() { stop_requested.store(true, std::memory_order_relaxed); }
bool StopRequested() { return stop_requested.load(std::memory_order_relaxed); }

std::string TreeSpec::Name() const {
  // Every field of the spec is in the name (a cached database is found by
  // it): numbers spelt exactly, never cut short.
  std::string name = "r" + std::to_string(roots) + "-a" + std::to_string(accounts) + "-d" +
                     std::to_string(depth) + "-f" + std::to_string(fanout) + "-v" +
                     std::to_string(devices) + "-z" + SpellReal(zipf) + "-u" +
                     std::to_string(users) + "-b" + SpellReal(branch_share) + "-s" +
                     std::to_string(seed);
  if (memberships_per_user != 1) name += "-m" + std::to_string(memberships_per_user);
  if (device_attributes != 0) name += "-x" + std::to_string(device_attributes);
  return name;
}

const char* GeneratedTree::RoleName(uint8_t role) {
  static const char* const kRoles[] = {"account_admin", "device_manager", "viewer"};
  return kRoles[role % 3];
}

uint32_t GeneratedTree::SubtreeAtLeast(uint64_t min_devices) const {
  uint32_t best = UINT32_MAX;
  for (uint32_t i = 0; i < subtree.size(); ++i) {
    if (subtree[i] >= min_devices && (best == UINT32_MAX || subtree[i] < subtree[best])) best = i;
  }
  return best;
}

Status Generate(const TreeSpec& spec, const std::string& path, GeneratedTree* out) {
  if (spec.roots == 0 || spec.accounts < spec.roots || spec.depth == 0 || spec.fanout == 0) {
    return Status::InvalidArgument("tree spec needs roots >= 1, accounts >= roots, depth and fanout >= 1");
  }
  if (spec.memberships_per_user == 0 || spec.memberships_per_user > spec.accounts) {
    return Status::InvalidArgument("tree spec needs 1 <= memberships per user <= accounts");
  }
  if (spec.device_attributes > TreeSpec::kMaxDeviceAttributes) {
    return Status::InvalidArgument("tree spec allows at most " +
                                   std::to_string(TreeSpec::kMaxDeviceAttributes) +
                                   " attributes per device");
  }
  *out = GeneratedTree();
  out->spec = spec;
  std::mt19937_64 rng(spec.seed);
  const uint64_t n = spec.accounts;
  out->parent.assign(n, UINT32_MAX);
  out->depth.assign(n, 1);
  std::vector<uint32_t> children(n, 0);
  // Accounts that can still take a child (not at max depth, not full).
  std::vector<uint32_t> open;
  for (uint32_t i = 0; i < spec.roots; ++i) {
    if (spec.depth > 1) open.push_back(i);
  }
  for (uint32_t i = static_cast<uint32_t>(spec.roots); i < n; ++i) {
    if (open.empty()) {
      return Status::InvalidArgument("depth and fanout cannot hold " + std::to_string(n) +
                                     " accounts");
    }
    size_t pick = rng() % open.size();
    uint32_t p = open[pick];
    out->parent[i] = p;
    out->depth[i] = out->depth[p] + 1;
    if (++children[p] >= spec.fanout) {
      open[pick] = open.back();
      open.pop_back();
    }
    if (out->depth[i] < spec.depth) open.push_back(i);
  }
  // Devices: Zipf over a random permutation of the accounts.
  std::vector<uint32_t> rank(n);
  for (uint32_t i = 0; i < n; ++i) rank[i] = i;
  std::shuffle(rank.begin(), rank.end(), rng);
  std::vector<double> cdf(n);
  double sum = 0;
  for (uint64_t r = 0; r < n; ++r) {
    sum += 1.0 / std::pow(static_cast<double>(r + 1), spec.zipf);
    cdf[r] = sum;
  }
  std::uniform_real_distribution<double> uni(0.0, sum);
  out->direct.assign(n, 0);
  out->device_owner.resize(spec.devices);
  const Status stopped_early = Status::Aborted("stopped while generating the tree");
  for (uint64_t d = 0; d < spec.devices; ++d) {
    if (d % (1 << 20) == 0 && StopRequested()) return stopped_early;
    uint64_t r = std::lower_bound(cdf.begin(), cdf.end(), uni(rng)) - cdf.begin();
    uint32_t a = rank[std::min<uint64_t>(r, n - 1)];
    out->device_owner[d] = a;
    out->direct[a]++;
  }
  out->subtree = out->direct;
  for (uint64_t i = n; i-- > 0;) {  // children have larger indexes than parents
    if (out->parent[i] != UINT32_MAX) out->subtree[out->parent[i]] += out->subtree[i];
  }
  std::bernoulli_distribution branch(spec.branch_share);
  out->user_account.resize(spec.users);
  out->user_branch.resize(spec.users);
  for (uint64_t u = 0; u < spec.users; ++u) {
    out->user_account[u] = static_cast<uint32_t>(rng() % n);
    out->user_branch[u] = branch(rng);
  }
  // Memberships: each user's first one above, then the extra ones (drawn
  // last, so that trees with one membership per user are unchanged). A user
  // may hold roles only in its own account's subtree (access flows top-down only), so
  // the extra ones are on distinct descendants of that account: fewer where
  // the subtree is smaller. Descendants are drawn from the subtree's slice
  // of the accounts in pre-order.
  std::vector<std::vector<GeneratedMembership>> extra(spec.users);
  if (spec.memberships_per_user > 1) {
    std::vector<std::vector<uint32_t>> children(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (out->parent[i] != UINT32_MAX) children[out->parent[i]].push_back(i);
    }
    std::vector<uint32_t> preorder, first(n), size(n, 1);
    std::vector<uint32_t> stack;
    for (uint32_t i = n; i-- > 0;) {
      if (out->parent[i] == UINT32_MAX) stack.push_back(i);
    }
    while (!stack.empty()) {
      uint32_t a = stack.back();
      stack.pop_back();
      first[a] = static_cast<uint32_t>(preorder.size());
      preorder.push_back(a);
      for (auto c = children[a].rbegin(); c != children[a].rend(); ++c) stack.push_back(*c);
    }
    for (uint64_t i = n; i-- > 0;) {  // children have larger indexes than parents
      if (out->parent[i] != UINT32_MAX) size[out->parent[i]] += size[i];
    }
    for (uint64_t u = 0; u < spec.users; ++u) {
      const uint32_t home = out->user_account[u];
      const uint32_t want = static_cast<uint32_t>(
          std::min<uint64_t>(spec.memberships_per_user - 1, size[home] - 1));
      std::vector<uint32_t> taken;
      while (taken.size() < want) {
        uint32_t a = preorder[first[home] + 1 + rng() % (size[home] - 1)];
        if (std::find(taken.begin(), taken.end(), a) != taken.end()) continue;
        taken.push_back(a);
        uint8_t role = static_cast<uint8_t>((u + taken.size()) % 3);
        extra[u].push_back(GeneratedMembership{static_cast<uint32_t>(u), a, branch(rng), role});
      }
    }
  }
  out->memberships.reserve(spec.users * spec.memberships_per_user);
  for (uint64_t u = 0; u < spec.users; ++u) {
    out->memberships.push_back(GeneratedMembership{static_cast<uint32_t>(u), out->user_account[u],
                                                   out->user_branch[u],
                                                   static_cast<uint8_t>(u % 3)});
    out->memberships.insert(out->memberships.end(), extra[u].begin(), extra[u].end());
  }
  if (path.empty()) return Status::Ok();

  const bool to_stdout = path == "-";
  // The buffer outlives the file (closing it flushes through the buffer).
  std::vector<char> buffer(1 << 20);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(
      to_stdout ? stdout : std::fopen(path.c_str(), "wb"),
      to_stdout ? +[](std::FILE*) { return 0; } : &std::fclose);
  if (!f) return Status::IOError("cannot write " + path);
  if (!to_stdout) std::setvbuf(f.get(), buffer.data(), _IOFBF, buffer.size());
  const Status stopped = Status::Aborted("stopped while writing " + path);
  for (uint64_t i = 0; i < n; ++i) {
    if (i % 65536 == 0 && StopRequested()) return stopped;
    if (out->parent[i] == UINT32_MAX) {
      std::fprintf(f.get(),
                   "{\"type\":\"account\",\"key\":\"acc-%llu\",\"name\":\"Account %llu\","
                   "\"settings\":{\"sub_account_management\":true}}\n",
                   (unsigned long long)i, (unsigned long long)i);
    } else {
      std::fprintf(f.get(),
                   "{\"type\":\"account\",\"key\":\"acc-%llu\",\"name\":\"Account %llu\","
                   "\"parent\":\"acc-%u\",\"settings\":{\"sub_account_management\":true}}\n",
                   (unsigned long long)i, (unsigned long long)i, out->parent[i]);
    }
  }
  size_t next_membership = 0;
  for (uint64_t u = 0; u < spec.users; ++u) {
    if (u % 65536 == 0 && StopRequested()) return stopped;
    std::fprintf(f.get(),
                 "{\"type\":\"user\",\"login\":\"user-%llu@bench\",\"name\":\"User %llu\","
                 "\"account\":\"acc-%u\"}\n",
                 (unsigned long long)u, (unsigned long long)u, out->user_account[u]);
    for (; next_membership < out->memberships.size() &&
           out->memberships[next_membership].user == u;
         ++next_membership) {
      const GeneratedMembership& m = out->memberships[next_membership];
      std::fprintf(f.get(),
                   "{\"type\":\"membership\",\"login\":\"user-%llu@bench\",\"account\":\"acc-%u\","
                   "\"role\":\"%s\",\"branch\":%s}\n",
                   (unsigned long long)u, m.account, GeneratedTree::RoleName(m.role),
                   m.branch ? "true" : "false");
    }
  }
  static const char* const kTypes[] = {"tracker", "sensor", "camera", "gateway"};
  static const char* const kRegions[] = {"eu-west", "eu-north", "us-east", "ap-south", "sa-east"};
  char attrs[160];
  for (uint64_t d = 0; d < spec.devices; ++d) {
    if (d % 65536 == 0 && StopRequested()) return stopped;
    // Attributes: a firmware version, a region, a SIM number, an install
    // year (the first device_attributes of them).
    int n = 0;
    attrs[0] = '\0';
    if (spec.device_attributes > 0) {
      n = std::snprintf(attrs, sizeof(attrs), ",\"attributes\":{\"firmware\":\"%llu.%llu.%llu\"",
                        (unsigned long long)(d % 3 + 1), (unsigned long long)(d % 17),
                        (unsigned long long)(d % 5));
      if (spec.device_attributes > 1) {
        n += std::snprintf(attrs + n, sizeof(attrs) - n, ",\"region\":\"%s\"",
                           kRegions[out->device_owner[d] % 5]);
      }
      if (spec.device_attributes > 2) {
        n += std::snprintf(attrs + n, sizeof(attrs) - n, ",\"sim\":\"89%016llu\"",
                           (unsigned long long)(d * 7919 % 10000000000000000ull));
      }
      if (spec.device_attributes > 3) {
        n += std::snprintf(attrs + n, sizeof(attrs) - n, ",\"installed\":\"%llu\"",
                           (unsigned long long)(2015 + d % 10));
      }
      std::snprintf(attrs + n, sizeof(attrs) - n, "}");
    }
    std::fprintf(f.get(),
                 "{\"type\":\"device\",\"key\":\"dev-%llu\",\"unit_id\":\"U-%llu\","
                 "\"name\":\"Device %llu\",\"device_type\":\"%s\",\"account\":\"acc-%u\"%s}\n",
                 (unsigned long long)d, (unsigned long long)d, (unsigned long long)d,
                 kTypes[d % 4], out->device_owner[d], attrs);
  }
  if (std::fflush(f.get()) != 0 || std::ferror(f.get())) {
    return Status::IOError("cannot write " + path);
  }
  return Status::Ok();
}

}  // namespace canopy::bench
