// Copyright (c) Canopy authors.
//
// What a capacity-harness run measures: the tree to plan for (shape and
// size), the sizes of the scaling sweep, the query mix and its threads and
// length, the baselines, and where the reports go. ParseFlags turns the
// command line into a HarnessConfig; HelpText describes every flag.
//
// Thread safety: plain values and functions.

#ifndef CANOPY_BENCH_HARNESS_CONFIG_H_
#define CANOPY_BENCH_HARNESS_CONFIG_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/generator.h"
#include "canopy/status.h"

namespace canopy::bench {

// The kinds of operation a mix can ask for (--mix keys).
enum class MixKey : int { kScan, kPage, kCount, kCheck, kWhoCan, kReassign, kCreate, kMove };
inline constexpr int kNumMixKeys = 8;
// "scan", "page", "count", "check", "who_can", "reassign", "create", "move".
const char* MixKeyName(MixKey key);

// The operations reported: a `page` is a first page or a resumed one.
enum class Op : int {
  kScan,       // stream every visible device (NewVisibleIterator)
  kPageFirst,  // first page of a listing (Visible)
  kPageNext,   // a page resumed from the previous page's cursor
  kCount,      // Count, no filter (maintained counters)
  kCheck,      // Check(user, device.read, device)
  kWhoCan,     // WhoCan(device.read, device), first page
  kReassign,   // ReassignEntities: one device to another account
  kCreate,     // CreateAccount under a random account
  kMove,       // MoveAccount: a subtree under a shallow account
};
inline constexpr int kNumOps = 9;
const char* OpName(Op op);
std::optional<Op> ParseOpName(std::string_view name);
// The mix key an operation is drawn by.
MixKey MixKeyOf(Op op);
bool IsWrite(Op op);

// Relative weights of the mix keys.
struct Mix {
  std::array<double, kNumMixKeys> weight{};
  double Total() const;
  double Share(MixKey key) const { return Total() > 0 ? weight[int(key)] / Total() : 0; }
  bool HasWrites() const;
  bool Has(MixKey key) const { return weight[int(key)] > 0; }
  // The operations this mix produces, in Op order.
  std::vector<Op> Ops() const;
  std::string ToString() const;  // "scan=1,page=40,..."
};
// Parses "scan=1,page=40,count=20" (names of MixKeyName, weights >= 0).
Status ParseMix(std::string_view text, Mix* mix);

enum class ProgressMode { kAuto, kLine, kLines, kNone };

struct HarnessConfig {
  // The tree planned for. Sizes of the sweep scale it (ScaleSpec).
  TreeSpec tree;
  bool devices_given = false;

  Mix mix;
  int threads = 1;
  double duration_s = 5;  // per measured size and thread count...
  uint64_t ops = 0;       // ...or this many operations when > 0
  double warmup_s = 1;    // unmeasured operations first (duration mode only)
  size_t page_size = 100;
  int pages_per_listing = 5;  // a listing stops after this many pages

  std::vector<uint64_t> sweep;  // device counts given by --sweep
  bool sweep_given = false;
  std::vector<int> threads_sweep;

  bool raw_baseline = true;
  bool sqlite_baseline = true;
  double compare_seconds = 1;    // budget of each op's side-by-side phase
  size_t compare_samples = 200;  // users (or checks) sampled at most

  bool plan = false;
  uint64_t max_measured_devices = 0;  // 0: no cap (--plan: 2e6)

  std::string cache_dir = "/tmp/canopy-bench";
  std::string json_path;
  std::string plots_dir;
  std::string markdown_path;  // empty: the output stream
  ProgressMode progress = ProgressMode::kAuto;
  size_t block_cache_bytes = size_t{256} << 20;
  bool sync = false;

  std::string command_line;  // as given, for the reports

  // --write-tree: write the tree (at --devices) as JSON Lines to this file
  // and stop; nothing is measured. A test file for `canopy import`.
  std::string write_tree_path;
};

// Parses the arguments (without the program name) with CLI11. *help is
// set by --help / -h (config then untouched beyond defaults).
// InvalidArgument names the bad flag (unknown, missing its value, given
// twice, or with a bad value).
Status ParseFlags(const std::vector<std::string>& args, HarnessConfig* config, bool* help);
// The --help text, naming the program as invoked ("canopy-bench", or
// "canopy bench" when the canopy command runs it).
std::string HelpText(const std::string& program);

// "50e6", "2M", "10k", "1000" -> a count. False when malformed.
bool ParseCount(std::string_view text, uint64_t* out);
// "10s", "500ms", "2m", "1h", "1.5" (seconds) -> seconds. False when
// malformed or above kMaxDurationSeconds.
inline constexpr double kMaxDurationSeconds = 24 * 3600;
bool ParseDuration(std::string_view text, double* seconds);
// "268435456", "256M", "1G", "64k" (binary multiples) -> bytes.
bool ParseBytes(std::string_view text, uint64_t* out);

// The largest size the run measures: devices capped by
// max_measured_devices (or the sweep's largest when only --sweep is
// given).
uint64_t MeasuredTop(const HarnessConfig& config);
// The device counts measured, ascending (see --help "Sizes").
std::vector<uint64_t> MeasuredSizes(const HarnessConfig& config);
// The target tree scaled to `devices`: accounts, roots and users keep their
// ratio to devices (users: at least 100, or all of them); depth, fan-out,
// skew, memberships and seed stay. At the
// target's own size it is the target. InvalidArgument when depth and
// fan-out cannot hold the accounts.
Status ScaleSpec(const TreeSpec& target, uint64_t devices, TreeSpec* out);

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_HARNESS_CONFIG_H_
