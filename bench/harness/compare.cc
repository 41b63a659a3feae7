// Copyright (c) Canopy authors.

#include "bench/harness/compare.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>

#include "bench/raw_range.h"
#include "storage/coding.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace canopy::bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint8_t kDevice = static_cast<uint8_t>(EntityKind::kDevice);

const char* const kVariantNames[kNumVariants] = {"canopy", "raw", "sqlite_path", "sqlite_cte"};
const char* const kVariantTitles[kNumVariants] = {"Canopy", "raw RocksDB", "SQLite path",
                                                  "SQLite CTE"};

// A sampled user with everything the variants need, resolved untimed.
struct UserPlan {
  uint32_t user = 0;
  UserId id = kNoId;
  std::vector<Dataset::Grant> grants;
  std::vector<std::string> paths;                           // SQLite materialized path per grant
  std::vector<std::pair<std::string, std::string>> ranges;  // raw index ranges, key order
  std::vector<std::string> counters;                        // raw counter keys
  uint64_t expected = 0;                                    // visible devices, from the generator
};

class Runner {
 public:
  Runner(Dataset* ds, const CompareConfig& c, Progress* p)
      : ds_(ds), c_(c), progress_(p), store_(ds->env().store()), rng_(c.seed ^ 0xC0FFEE) {}

  Status Prepare() {
    std::vector<uint32_t> users(ds_->num_users());
    for (uint32_t u = 0; u < users.size(); ++u) users[u] = u;
    std::shuffle(users.begin(), users.end(), rng_);
    users.resize(std::min(users.size(), std::max<size_t>(c_.samples, 1)));
    for (uint32_t u : users) {
      UserPlan p;
      p.user = u;
      p.id = ds_->user_id(u);
      p.grants = ds_->grants(u);
      p.expected = ds_->VisibleDevices(u);
      for (const Dataset::Grant& g : p.grants) {
        p.paths.push_back(SqliteBaseline::PathOf(ds_->tree(), g.account));
        const AccountId id = ds_->account_id(g.account);
        const std::string label = ds_->env().Label(id);
        if (label.empty()) return Status::Internal("no label for account " + std::to_string(id));
        p.ranges.emplace_back(storage::IndexRangeStart(kDevice, label, g.branch),
                              storage::IndexRangeLimit(kDevice, label, g.branch));
        p.counters.push_back(storage::CounterKey(
            id, static_cast<uint8_t>(kDevice | (g.branch ? storage::kCounterSubtreeBit : 0))));
      }
      std::sort(p.ranges.begin(), p.ranges.end());
      plans_.push_back(std::move(p));
    }
    return Status::Ok();
  }

  Status Run(Op op, OpComparison* out) {
    out->op = op;
    out_ = out;
    if (progress_) progress_->Phase(std::string("comparing ") + OpName(op));
    const size_t n =
        op == Op::kCheck || op == Op::kWhoCan ? std::max<size_t>(c_.samples, 1) : plans_.size();
    const size_t batch = op == Op::kScan ? 4 : 16;
    // A warm-up pass over the same samples, untimed, within a third of the
    // budget, so that the timed pass mostly measures warm caches (a
    // server's steady state) rather than each block's first read. Samples
    // past the warmed ones stay fair: the variants run in varying orders.
    auto start = Clock::now();
    for (size_t i = 0; i < n; i += batch) {
      CANOPY_RETURN_IF_ERROR(Batch(op, i, std::min(n, i + batch), false));
      if (Seconds(start) >= c_.seconds_per_op / 3 || StopRequested()) break;
    }
    start = Clock::now();
    for (size_t i = 0; i < n; i += batch) {
      CANOPY_RETURN_IF_ERROR(Batch(op, i, std::min(n, i + batch), true));
      if (progress_) {
        progress_->Update(std::to_string(std::min(n, i + batch)) + "/" + std::to_string(n) +
                          " samples");
      }
      if (Seconds(start) >= c_.seconds_per_op || StopRequested()) break;
    }
    out->samples = out->at(Variant::kCanopy).latency.count();
    return Status::Ok();
  }

  std::vector<std::pair<uint64_t, uint64_t>> scan_samples;

 private:
  // What one sample runs: each variant's call (empty: not measured),
  // returning its answer (items, a count, or 1/0 for a check), whether that
  // answer must equal Canopy's, and the generator's own answer.
  struct SampleSpec {
    std::array<std::function<uint64_t()>, kNumVariants> fn;
    std::array<bool, kNumVariants> comparable = {false, true, true, true};
    std::optional<uint64_t> expected;
    uint32_t user = 0;
  };

  static double Seconds(Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
  }

  // A well-mixed number for sample i (splitmix64), so that a sample is the
  // same in the warm-up and the timed pass.
  uint64_t Mix(uint64_t i) const {
    uint64_t z = c_.seed * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Times fn (returning its answer) as variant v; *ns receives the time.
  uint64_t Time(Variant v, bool record, const std::function<uint64_t()>& fn, uint64_t* ns) {
    const auto t0 = Clock::now();
    const uint64_t answer = fn();
    *ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    if (record) {
      VariantStats& s = out_->variants[int(v)];
      s.measured = true;
      s.latency.Record(*ns);
      if (Counts(out_->op)) s.items += answer;
    }
    return answer;
  }

  // Operations whose answer is a number of devices returned.
  static bool Counts(Op op) {
    return op == Op::kScan || op == Op::kPageFirst || op == Op::kPageNext;
  }

  void Mismatch(bool record, const std::string& what) {
    if (!record) return;
    if (out_->mismatches++ == 0) out_->first_mismatch = what;
  }

  // One sample while its batch runs: what to call, Canopy's status, and
  // each variant's answer.
  struct Pending {
    SampleSpec spec;
    Status status;
    std::array<std::optional<uint64_t>, kNumVariants> answer;
    std::array<uint64_t, kNumVariants> ns{};
  };

  // The variants' order for the batch starting at sample `begin`: one of
  // the 24 permutations, drawn afresh for each batch, so that over a run
  // every variant follows every other one equally often (a fixed or merely
  // rotated order would always let the same variant reuse what the one
  // before it had just brought into the CPU caches).
  std::array<int, kNumVariants> Order(size_t begin) const {
    static_assert(kNumVariants == 4, "Order enumerates the permutations of four variants");
    std::array<int, kNumVariants> order = {0, 1, 2, 3};
    uint64_t code = Mix(~static_cast<uint64_t>(begin)) % 24;  // a Lehmer code
    for (int k = 0; k < kNumVariants - 1; ++k) {
      const uint64_t f = k == 0 ? 6 : k == 1 ? 2 : 1;  // (kNumVariants - 1 - k)!
      std::swap(order[k], order[k + static_cast<int>(code / f)]);
      std::sort(order.begin() + k + 1, order.end());
      code %= f;
    }
    return order;
  }

  // Samples [begin, end) of `op`: each variant runs the whole batch back to
  // back (as a server doing only that would, with its own data in the CPU
  // caches), the variants in the order above.
  Status Batch(Op op, size_t begin, size_t end, bool record) {
    std::vector<std::unique_ptr<Pending>> batch;  // stable addresses for the calls
    for (size_t i = begin; i < end; ++i) {
      auto p = std::make_unique<Pending>();
      CANOPY_RETURN_IF_ERROR(Build(op, i, &p->spec, &p->status));
      if (p->spec.fn[int(Variant::kCanopy)]) batch.push_back(std::move(p));
    }
    for (int v : Order(begin)) {
      for (auto& p : batch) {
        if (!p->spec.fn[v]) continue;
        p->answer[v] = Time(static_cast<Variant>(v), record, p->spec.fn[v], &p->ns[v]);
      }
    }
    for (auto& p : batch) {
      CANOPY_RETURN_IF_ERROR(p->status);
      const uint64_t canopy = *p->answer[int(Variant::kCanopy)];
      if (record && op == Op::kScan) scan_samples.emplace_back(canopy, p->ns[0]);
      if (record) {
        std::array<uint64_t, kNumVariants> ns{};
        for (int v = 0; v < kNumVariants; ++v)
          ns[v] = p->answer[v] ? std::max<uint64_t>(1, p->ns[v]) : 0;
        out_->paired.push_back(ns);
      }
      auto agree = [&](const char* what, uint64_t other) {
        if (canopy == other) return;
        Mismatch(record, std::string(OpName(op)) + " of user-" + std::to_string(p->spec.user) +
                             ": Canopy " + std::to_string(canopy) + " vs " + what + " " +
                             std::to_string(other));
      };
      if (p->spec.expected) agree("generator", *p->spec.expected);
      for (int v = 1; v < kNumVariants; ++v) {
        if (p->answer[v] && p->spec.comparable[v]) {
          agree(VariantTitle(static_cast<Variant>(v)), *p->answer[v]);
        }
      }
    }
    return Status::Ok();
  }

  uint64_t RawIterate(const UserPlan& p, size_t first_range, const std::string& seek,
                      uint64_t limit) {
    uint64_t n = 0;
    for (size_t r = first_range; r < p.ranges.size() && n < limit; ++r) {
      RawRange it(*store_, storage::kVisibility, p.ranges[r].first, p.ranges[r].second);
      if (r == first_range && !seek.empty()) {
        it->Seek(seek);
      } else {
        it->SeekToFirst();
      }
      for (; it->Valid() && n < limit; it->Next()) {
        sink_ += it->key().size() + it->value().size();
        ++n;
      }
    }
    return n;
  }

  uint64_t SqliteRows(const UserPlan& p, bool cte, uint64_t limit) {
    uint64_t n = 0;
    SqliteBaseline* sql = ds_->env().sqlite.get();
    for (size_t g = 0; g < p.grants.size() && n < limit; ++g) {
      const Dataset::Grant& grant = p.grants[g];
      if (!grant.branch) {
        n += sql->ScanDirect(grant.account, limit - n);
      } else if (cte) {
        n += sql->ScanCte(grant.account, limit - n);
      } else {
        n += sql->ScanPath(p.paths[g], limit - n);
      }
    }
    return n;
  }

  uint64_t RawGet(const std::string& key) {
    std::string v;
    Status s = store_->Get(storage::kEntityKeys, storage::EntityKeyKey(kDevice, key), &v);
    return s.ok() ? 1 : 0;
  }

  // Fills *spec for sample i of `op`; the Canopy call stores its status in
  // *status. Untimed preparation (a cursor to resume) happens here.
  Status Build(Op op, size_t i, SampleSpec* spec, Status* status) {
    const UserPlan& p = plans_[i % plans_.size()];
    spec->user = p.user;
    const bool raw = c_.raw;
    const bool sql = c_.sqlite && ds_->env().sqlite != nullptr;
    SqliteBaseline* sqlite = ds_->env().sqlite.get();
    auto& fn = spec->fn;
    const uint64_t limit = c_.page_size;
    switch (op) {
      case Op::kScan:
        out_->raw_what = "one bounded iterator per index range, reading every key and value";
        spec->expected = p.expected;
        fn[0] = [this, &p, status] {
          VisibleRequest req{Actor::User(p.id)};
          std::unique_ptr<VisibleIterator> it;
          *status = ds_->db()->NewVisibleIterator(req, &it);
          uint64_t n = 0;
          if (!status->ok()) return n;
          for (; it->Valid(); it->Next()) {
            sink_ += it->key().size() + it->name().size();
            ++n;
          }
          *status = it->status();
          return n;
        };
        if (raw) fn[1] = [this, &p] { return RawIterate(p, 0, "", UINT64_MAX); };
        if (sql) fn[2] = [this, &p] { return SqliteRows(p, false, UINT64_MAX); };
        if (sql) fn[3] = [this, &p] { return SqliteRows(p, true, UINT64_MAX); };
        return Status::Ok();
      case Op::kPageFirst:
        out_->raw_what = "seek + " + std::to_string(limit) + " nexts over the ranges";
        spec->expected = std::min(limit, p.expected);
        fn[0] = [this, &p, status, limit] {
          VisibleRequest req{Actor::User(p.id)};
          req.limit = limit;
          VisiblePage page;
          *status = ds_->db()->Visible(req, &page);
          return static_cast<uint64_t>(page.items.size());
        };
        if (raw) fn[1] = [this, &p, limit] { return RawIterate(p, 0, "", limit); };
        if (sql) fn[2] = [this, &p, limit] { return SqliteRows(p, false, limit); };
        if (sql) fn[3] = [this, &p, limit] { return SqliteRows(p, true, limit); };
        return Status::Ok();
      case Op::kPageNext:
        return BuildPageNext(p, spec, status);
      case Op::kCount:
        out_->raw_what = "point get of each range's maintained counter";
        spec->expected = p.expected;
        fn[0] = [this, &p, status] {
          StatusOr<uint64_t> n = ds_->db()->Count(VisibleRequest{Actor::User(p.id)});
          *status = n.status();
          return n.ok() ? *n : 0;
        };
        if (raw) {
          fn[1] = [this, &p] {
            uint64_t n = 0;
            std::string v;
            for (const std::string& k : p.counters) {
              if (store_->Get(storage::kCounters, k, &v).ok() && v.size() == 8) {
                n += storage::DecodeFixed64BE(v.data());
              }
            }
            return n;
          };
        }
        for (int v = 2; v <= 3 && sql; ++v) {
          const bool cte = v == 3;
          fn[v] = [&p, sqlite, cte] {
            uint64_t n = 0;
            for (size_t g = 0; g < p.grants.size(); ++g) {
              const Dataset::Grant& grant = p.grants[g];
              n += !grant.branch ? sqlite->CountDirect(grant.account)
                   : cte         ? sqlite->CountCte(grant.account)
                                 : sqlite->CountPath(p.paths[g]);
            }
            return n;
          };
        }
        return Status::Ok();
      case Op::kCheck:
        return BuildCheck(p, i, spec, status);
      case Op::kWhoCan: {
        out_->raw_what = "point get of the device's key";
        spec->comparable[1] = false;  // raw answers "found", not who
        auto key = std::make_shared<std::string>(
            GeneratedTree::DeviceKey(static_cast<uint32_t>(Mix(i) % ds_->num_devices())));
        fn[0] = [this, key, status] {
          WhoCanRequest req;
          req.permission = "device.read";
          req.entity_key = *key;
          WhoCanPage page;
          *status = ds_->db()->WhoCan(req, &page);
          return static_cast<uint64_t>(page.items.size());
        };
        if (raw) fn[1] = [this, key] { return RawGet(*key); };
        return Status::Ok();
      }
      default:
        return Status::InvalidArgument(std::string("no comparison for ") + OpName(op));
    }
  }

  Status BuildPageNext(const UserPlan& p, SampleSpec* spec, Status* status) {
    const uint64_t limit = c_.page_size;
    out_->raw_what = "seek past the first page's last key + " + std::to_string(limit) + " nexts";
    if (p.expected <= limit) return Status::Ok();  // a single page: nothing to resume
    spec->expected = std::min(limit, p.expected - limit);
    // Untimed: the first page (Canopy's cursor; the raw loop's last key).
    VisibleRequest first_req{Actor::User(p.id)};
    first_req.limit = limit;
    VisiblePage first;
    CANOPY_RETURN_IF_ERROR(ds_->db()->Visible(first_req, &first));
    auto resume = std::make_shared<VisibleRequest>(first_req);
    resume->cursor = first.next_cursor;
    auto last_key = std::make_shared<std::string>();
    size_t range = 0;
    uint64_t seen = 0;
    for (; range < p.ranges.size(); ++range) {
      RawRange it(*store_, storage::kVisibility, p.ranges[range].first, p.ranges[range].second);
      for (it->SeekToFirst(); it->Valid() && seen < limit; it->Next()) {
        if (++seen == limit) *last_key = it->key().ToString();
      }
      if (seen == limit) break;
    }
    last_key->push_back('\0');  // strictly after the last key returned
    spec->fn[0] = [this, resume, status] {
      VisiblePage page;
      *status = ds_->db()->Visible(*resume, &page);
      return static_cast<uint64_t>(page.items.size());
    };
    if (c_.raw && seen == limit) {
      spec->fn[1] = [this, &p, range, last_key, limit] {
        return RawIterate(p, range, *last_key, limit);
      };
    }
    return Status::Ok();
  }

  Status BuildCheck(const UserPlan& p, size_t i, SampleSpec* spec, Status* status) {
    out_->raw_what = "point get of the device's key";
    spec->comparable[1] = false;  // raw answers "found", not "allowed"
    const GeneratedTree& t = ds_->tree();
    const uint32_t d = ds_->CheckTarget(p.user, Mix(2 * i), Mix(2 * i + 1));
    auto key = std::make_shared<std::string>(GeneratedTree::DeviceKey(d));
    // The generator's answer: is the owner inside one of the grants?
    bool expected = false;
    for (const Dataset::Grant& g : p.grants) {
      for (uint32_t a = t.device_owner[d]; a != UINT32_MAX && !expected; a = t.parent[a]) {
        expected |= a == g.account;
        if (!g.branch) break;  // a direct grant covers its own account only
      }
    }
    spec->expected = expected ? 1 : 0;
    spec->fn[0] = [this, &p, key, status] {
      StatusOr<bool> r = ds_->db()->Check(p.id, "device.read", *key);
      // A device out of the user's sight is NotFound (worded as missing):
      // denied, not an error.
      *status = r.status().IsNotFound() ? Status::Ok() : r.status();
      return uint64_t{r.ok() && *r ? 1u : 0u};
    };
    if (c_.raw) spec->fn[1] = [this, key] { return RawGet(*key); };
    if (c_.sqlite && ds_->env().sqlite != nullptr) {
      SqliteBaseline* s = ds_->env().sqlite.get();
      spec->fn[2] = [s, &p, key] {
        uint32_t owner;
        std::string path;
        if (!s->DevicePath(*key, &owner, &path)) return uint64_t{0};
        for (size_t g = 0; g < p.grants.size(); ++g) {
          const bool ok = p.grants[g].branch ? path.compare(0, p.paths[g].size(), p.paths[g]) == 0
                                             : owner == p.grants[g].account;
          if (ok) return uint64_t{1};
        }
        return uint64_t{0};
      };
      spec->fn[3] = [s, &p, key] {
        std::vector<uint32_t> chain;
        if (!s->OwnerChainCte(*key, &chain)) return uint64_t{0};
        for (const Dataset::Grant& g : p.grants) {
          const bool ok = g.branch ? std::find(chain.begin(), chain.end(), g.account) != chain.end()
                                   : chain[0] == g.account;
          if (ok) return uint64_t{1};
        }
        return uint64_t{0};
      };
    }
    return Status::Ok();
  }

  Dataset* ds_;
  const CompareConfig& c_;
  Progress* progress_;
  storage::Store* store_;
  std::mt19937_64 rng_;
  std::vector<UserPlan> plans_;
  OpComparison* out_ = nullptr;
  uint64_t sink_ = 0;
};

}  // namespace

const char* VariantName(Variant v) { return kVariantNames[int(v)]; }
const char* VariantTitle(Variant v) { return kVariantTitles[int(v)]; }

double OpComparison::MedianRatio(Variant num, Variant den) const {
  std::vector<double> r;
  for (const auto& ns : paired) {
    if (ns[int(num)] > 0 && ns[int(den)] > 0) {
      r.push_back(static_cast<double>(ns[int(num)]) / static_cast<double>(ns[int(den)]));
    }
  }
  if (r.empty()) return 0;
  std::nth_element(r.begin(), r.begin() + static_cast<ptrdiff_t>(r.size() / 2), r.end());
  return r[r.size() / 2];
}

const OpComparison* CompareResult::Find(Op op) const {
  for (const OpComparison& c : ops) {
    if (c.op == op) return &c;
  }
  return nullptr;
}

uint64_t CompareResult::Mismatches() const {
  uint64_t n = 0;
  for (const OpComparison& c : ops) n += c.mismatches;
  return n;
}

Status RunComparisons(Dataset* dataset, const CompareConfig& config, Progress* progress,
                      CompareResult* out) {
  *out = CompareResult();
  if (dataset->num_users() == 0) return Status::InvalidArgument("the tree has no users");
  Runner runner(dataset, config, progress);
  CANOPY_RETURN_IF_ERROR(runner.Prepare());
  for (Op op : config.ops) {
    OpComparison c;
    CANOPY_RETURN_IF_ERROR(runner.Run(op, &c));
    out->ops.push_back(std::move(c));
  }
  out->scan_samples = std::move(runner.scan_samples);
  return Status::Ok();
}

}  // namespace canopy::bench
