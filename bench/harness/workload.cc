// Copyright (c) Canopy authors.

#include "bench/harness/workload.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>

namespace canopy::bench {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t Nanos(Clock::time_point a, Clock::time_point b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

// Shared by the coordinator and the workers.
struct Shared {
  // 0: warm-up (not recorded), 1: measured, 2: stop.
  std::atomic<int> phase{1};
  std::atomic<uint64_t> issued{0};  // ops mode: operations handed out
  std::atomic<uint64_t> done{0};    // measured operations finished
};

// One client thread: its random stream, its open listing and its records.
class Worker {
 public:
  Worker(Dataset* ds, const WorkloadConfig& c, int index)
      : ds_(ds), c_(c), rng_(c.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) + 1) {
    double acc = 0;
    for (int k = 0; k < kNumMixKeys; ++k) {
      acc += c.mix.weight[k];
      cumulative_[k] = acc;
    }
  }

  void Run(Shared* shared) {
    while (true) {
      const int phase = shared->phase.load(std::memory_order_relaxed);
      if (phase == 2) break;
      if (c_.ops > 0 && shared->issued.fetch_add(1, std::memory_order_relaxed) >= c_.ops) break;
      Step(phase == 1);
      if (phase == 1) shared->done.fetch_add(1, std::memory_order_relaxed);
    }
    finished = Clock::now();
  }

  Clock::time_point finished;  // when Run returned

  std::array<OpStats, kNumOps> ops;
  std::vector<std::pair<uint64_t, uint64_t>> scan_samples;
  uint64_t sink = 0;  // bytes read, so no read is optimised away

 private:
  uint32_t RandomUser() { return static_cast<uint32_t>(rng_() % ds_->num_users()); }
  uint32_t RandomAccount() { return static_cast<uint32_t>(rng_() % ds_->num_accounts()); }
  uint32_t RandomDevice() { return static_cast<uint32_t>(rng_() % ds_->num_devices()); }

  MixKey Draw() {
    std::uniform_real_distribution<double> u(0.0, cumulative_[kNumMixKeys - 1]);
    const double x = u(rng_);
    for (int k = 0; k < kNumMixKeys; ++k) {
      if (x < cumulative_[k] && c_.mix.weight[k] > 0) return static_cast<MixKey>(k);
    }
    for (int k = kNumMixKeys - 1; k >= 0; --k) {
      if (c_.mix.weight[k] > 0) return static_cast<MixKey>(k);
    }
    return MixKey::kCount;
  }

  // Records one call: its latency, and whether it failed or was refused.
  void Record(bool record, Op op, uint64_t ns, const Status& s, bool refusal_expected) {
    if (!record) return;
    OpStats& st = ops[int(op)];
    ++st.count;
    st.latency.Record(ns);
    if (s.ok()) return;
    if (refusal_expected && s.code() == Code::kFailedPrecondition) {
      ++st.refused;
    } else if (st.errors++ == 0) {
      st.first_error = s.ToString();
    }
  }

  void Step(bool record) {
    switch (Draw()) {
      case MixKey::kScan:
        Scan(record);
        break;
      case MixKey::kPage:
        Page(record);
        break;
      case MixKey::kCount:
        CountOp(record);
        break;
      case MixKey::kCheck:
        CheckOp(record);
        break;
      case MixKey::kWhoCan:
        WhoCanOp(record);
        break;
      case MixKey::kReassign:
        Reassign(record);
        break;
      case MixKey::kCreate:
        Create(record);
        break;
      case MixKey::kMove:
        Move(record);
        break;
    }
  }

  void Scan(bool record) {
    VisibleRequest req{Actor::User(ds_->user_id(RandomUser()))};
    const auto t0 = Clock::now();
    std::unique_ptr<VisibleIterator> it;
    Status s = ds_->db()->NewVisibleIterator(req, &it);
    uint64_t n = 0;
    if (s.ok()) {
      for (; it->Valid(); it->Next()) {
        sink += it->key().size() + it->name().size();
        ++n;
      }
      s = it->status();
    }
    it.reset();
    const uint64_t ns = Nanos(t0, Clock::now());
    Record(record, Op::kScan, ns, s, false);
    if (record) {
      ops[int(Op::kScan)].items += n;
      if (scan_samples.size() < c_.max_scan_samples) scan_samples.emplace_back(n, ns);
    }
  }

  void Page(bool record) {
    const bool resume = !cursor_.empty();
    if (!resume) {
      listing_user_ = ds_->user_id(RandomUser());
      listing_pages_ = 0;
    }
    VisibleRequest req{Actor::User(listing_user_)};
    req.limit = c_.page_size;
    req.cursor = cursor_;
    VisiblePage page;
    const auto t0 = Clock::now();
    Status s = ds_->db()->Visible(req, &page);
    const uint64_t ns = Nanos(t0, Clock::now());
    const Op op = resume ? Op::kPageNext : Op::kPageFirst;
    Record(record, op, ns, s, false);
    if (record) ops[int(op)].items += page.items.size();
    ++listing_pages_;
    if (s.ok() && !page.next_cursor.empty() && listing_pages_ < c_.pages_per_listing) {
      cursor_ = std::move(page.next_cursor);
    } else {
      cursor_.clear();
    }
  }

  void CountOp(bool record) {
    VisibleRequest req{Actor::User(ds_->user_id(RandomUser()))};
    const auto t0 = Clock::now();
    StatusOr<uint64_t> n = ds_->db()->Count(req);
    const uint64_t ns = Nanos(t0, Clock::now());
    Record(record, Op::kCount, ns, n.status(), false);
    if (record && n.ok()) ops[int(Op::kCount)].items += *n;
  }

  void CheckOp(bool record) {
    const uint32_t user = RandomUser();
    const uint64_t r1 = rng_(), r2 = rng_();
    const std::string key = GeneratedTree::DeviceKey(ds_->CheckTarget(user, r1, r2));
    const auto t0 = Clock::now();
    StatusOr<bool> allowed = ds_->db()->Check(ds_->user_id(user), "device.read", key);
    const uint64_t ns = Nanos(t0, Clock::now());
    // A device out of the user's sight is NotFound: a denial, not an error.
    Record(record, Op::kCheck, ns,
           allowed.status().IsNotFound() ? Status::Ok() : allowed.status(), false);
    if (record && allowed.ok() && *allowed) ++ops[int(Op::kCheck)].allowed;
  }

  void WhoCanOp(bool record) {
    WhoCanRequest req;
    req.permission = "device.read";
    req.entity_key = GeneratedTree::DeviceKey(RandomDevice());
    WhoCanPage page;
    const auto t0 = Clock::now();
    Status s = ds_->db()->WhoCan(req, &page);
    const uint64_t ns = Nanos(t0, Clock::now());
    Record(record, Op::kWhoCan, ns, s, false);
    if (record) ops[int(Op::kWhoCan)].items += page.items.size();
  }

  void Reassign(bool record) {
    const std::vector<std::string> refs = {GeneratedTree::DeviceKey(RandomDevice())};
    const AccountId target = ds_->account_id(RandomAccount());
    const auto t0 = Clock::now();
    Status s = ds_->db()->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey,
                                           refs, target, nullptr);
    Record(record, Op::kReassign, Nanos(t0, Clock::now()), s, false);
  }

  void Create(bool record) {
    AccountSpec spec;
    spec.key = "bench-new-" + std::to_string(ds_->NextSerial());
    spec.name = "Created " + spec.key;
    spec.parent = ds_->account_id(RandomAccount());
    const auto t0 = Clock::now();
    StatusOr<AccountId> id = ds_->db()->CreateAccount(Actor::System(), spec);
    // Refused beyond Options::max_depth: expected, not an error.
    Record(record, Op::kCreate, Nanos(t0, Clock::now()), id.status(), true);
  }

  void Move(bool record) {
    const auto& movable = ds_->non_roots();
    const auto& targets = ds_->shallow_accounts();
    if (movable.empty() || targets.empty()) {
      Record(record, Op::kMove, 0, Status::FailedPrecondition("no account to move"), true);
      return;
    }
    const uint32_t x = movable[rng_() % movable.size()];
    const uint32_t p = targets[rng_() % targets.size()];
    const auto t0 = Clock::now();
    // A target inside the moved subtree (or the account itself) is refused
    // with FailedPrecondition: counted as refused.
    Status s = ds_->db()->MoveAccount(Actor::System(), ds_->account_id(x), ds_->account_id(p));
    Record(record, Op::kMove, Nanos(t0, Clock::now()), s, true);
  }

  Dataset* ds_;
  const WorkloadConfig& c_;
  std::mt19937_64 rng_;
  std::array<double, kNumMixKeys> cumulative_{};
  std::string cursor_;
  UserId listing_user_ = kNoId;
  int listing_pages_ = 0;
};

std::string Short(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2fM", v / 1e6);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  }
  return buf;
}

}  // namespace

void OpStats::Merge(const OpStats& other) {
  latency.Merge(other.latency);
  count += other.count;
  if (errors == 0 && other.errors > 0) first_error = other.first_error;
  errors += other.errors;
  refused += other.refused;
  items += other.items;
  allowed += other.allowed;
}

uint64_t WorkloadResult::Errors() const {
  uint64_t n = 0;
  for (const OpStats& s : ops) n += s.errors;
  return n;
}

WorkloadResult RunWorkload(Dataset* dataset, const WorkloadConfig& config, Progress* progress,
                           const std::string& label) {
  Shared shared;
  const bool timed = config.ops == 0;
  const bool warm = timed && config.warmup_s > 0;
  shared.phase = warm ? 0 : 1;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < config.threads; ++i) {
    workers.push_back(std::make_unique<Worker>(dataset, config, i));
  }
  if (progress) progress->Phase(label);
  std::vector<std::thread> threads;
  Clock::time_point start = Clock::now();
  for (auto& w : workers) threads.emplace_back([&shared, &w] { w->Run(&shared); });
  if (warm) {
    while (Clock::now() - start < std::chrono::duration<double>(config.warmup_s) &&
           !StopRequested()) {
      if (progress) progress->Update("warming up");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    shared.phase = 1;
    start = Clock::now();
  }
  // Watch until the duration is over (timed) or every operation is done.
  while (true) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const uint64_t done = shared.done.load(std::memory_order_relaxed);
    if (timed && elapsed >= config.duration_s) break;
    if (!timed && done >= config.ops) break;
    if (StopRequested()) break;  // the caller sees it and reports nothing
    if (progress) {
      char status[96];
      if (timed) {
        std::snprintf(status, sizeof(status), "%.1f/%.1f s, ", elapsed, config.duration_s);
      } else {
        std::snprintf(status, sizeof(status), "%llu/%llu ops, ", (unsigned long long)done,
                      (unsigned long long)config.ops);
      }
      progress->Update(status + Short(static_cast<double>(done)) + " ops, " +
                       Short(elapsed > 0 ? done / elapsed : 0) + " ops/s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(timed ? 50 : 10));
  }
  shared.phase = 2;
  for (auto& t : threads) t.join();
  WorkloadResult r;
  r.threads = config.threads;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!timed) {
    // A fixed number of operations took until the last worker finished,
    // not until the watch loop (which polls every 10 ms) saw it.
    Clock::time_point last = start;
    for (auto& w : workers) last = std::max(last, w->finished);
    r.seconds = std::chrono::duration<double>(last - start).count();
  }
  uint64_t sink = 0;
  for (auto& w : workers) {
    for (int k = 0; k < kNumOps; ++k) r.ops[k].Merge(w->ops[k]);
    r.scan_samples.insert(r.scan_samples.end(), w->scan_samples.begin(), w->scan_samples.end());
    sink += w->sink;
  }
  for (const OpStats& s : r.ops) r.total_ops += s.count;
  if (progress) {
    progress->Update(Short(static_cast<double>(r.total_ops)) + " ops in " + Short(r.seconds) +
                     " s (" + Short(r.OpsPerSecond()) + " ops/s; read " +
                     Short(static_cast<double>(sink)) + " bytes)");
  }
  return r;
}

}  // namespace canopy::bench
