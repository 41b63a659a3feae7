// Copyright (c) Canopy authors.
//
// Command-line flags of the capacity harness (config.h), their help text,
// and the sizes of the scaling sweep.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include <filesystem>

#include "bench/harness/config.h"
#include "bindings/cli/cli11_flags.h"
#include "canopy/options.h"

namespace canopy::bench {

namespace {

constexpr const char* kMixKeyNames[kNumMixKeys] = {"scan",    "page",     "count",  "check",
                                                   "who_can", "reassign", "create", "move"};
constexpr const char* kOpNames[kNumOps] = {"scan",    "page_first", "page_next", "count", "check",
                                           "who_can", "reassign",   "create",    "move"};
constexpr const char* kDefaultMix = "scan=1,page=40,count=20,check=30,who_can=5,reassign=4";
constexpr uint64_t kPlanCap = 2000000;
// Accounts and users are numbered with 32 bits by the generator.
constexpr uint64_t kMaxIndexed = 1000000000;

bool ParseDouble(std::string_view text, double* out) {
  std::string s(text);
  // Decimal only: strtod alone would also take leading spaces, hexadecimal
  // ("0x10"), "inf" and "nan".
  if (s.empty() || s.find_first_not_of("0123456789.eE+-") != std::string::npos) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool ParseInt(std::string_view text, int* out) {
  uint64_t v;
  if (!ParseCount(text, &v) || v > 1u << 20) return false;
  *out = static_cast<int>(v);
  return true;
}

Status Bad(const std::string& flag, std::string_view value, const std::string& want) {
  return Status::InvalidArgument("bad value '" + std::string(value) + "' for " + flag + ": " +
                                 want + " (see --help)");
}

// Splits "a,b,c"; empty items are kept (and then rejected by the parsers).
std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string_view::npos ? s.npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

const char* MixKeyName(MixKey key) { return kMixKeyNames[int(key)]; }
const char* OpName(Op op) { return kOpNames[int(op)]; }

std::optional<Op> ParseOpName(std::string_view name) {
  for (int i = 0; i < kNumOps; ++i) {
    if (name == kOpNames[i]) return static_cast<Op>(i);
  }
  return std::nullopt;
}

MixKey MixKeyOf(Op op) {
  switch (op) {
    case Op::kScan:
      return MixKey::kScan;
    case Op::kPageFirst:
    case Op::kPageNext:
      return MixKey::kPage;
    case Op::kCount:
      return MixKey::kCount;
    case Op::kCheck:
      return MixKey::kCheck;
    case Op::kWhoCan:
      return MixKey::kWhoCan;
    case Op::kReassign:
      return MixKey::kReassign;
    case Op::kCreate:
      return MixKey::kCreate;
    case Op::kMove:
      return MixKey::kMove;
  }
  return MixKey::kScan;
}

bool IsWrite(Op op) { return op == Op::kReassign || op == Op::kCreate || op == Op::kMove; }

double Mix::Total() const {
  double t = 0;
  for (double w : weight) t += w;
  return t;
}

bool Mix::HasWrites() const {
  return Has(MixKey::kReassign) || Has(MixKey::kCreate) || Has(MixKey::kMove);
}

std::vector<Op> Mix::Ops() const {
  std::vector<Op> out;
  for (int i = 0; i < kNumOps; ++i) {
    if (Has(MixKeyOf(static_cast<Op>(i)))) out.push_back(static_cast<Op>(i));
  }
  return out;
}

std::string Mix::ToString() const {
  std::string s;
  for (int i = 0; i < kNumMixKeys; ++i) {
    if (weight[i] <= 0) continue;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s%s=%g", s.empty() ? "" : ",", kMixKeyNames[i], weight[i]);
    s += buf;
  }
  return s;
}

Status ParseMix(std::string_view text, Mix* mix) {
  Mix m;
  bool seen[kNumMixKeys] = {};
  for (std::string_view item : Split(text)) {
    size_t eq = item.find('=');
    std::string_view name = item.substr(0, eq);
    double w = 0;
    if (eq == std::string_view::npos || !ParseDouble(item.substr(eq + 1), &w) || w < 0) {
      return Status::InvalidArgument("bad --mix item '" + std::string(item) +
                                     "': want name=weight, e.g. page=40");
    }
    int key = -1;
    for (int i = 0; i < kNumMixKeys; ++i) {
      if (name == kMixKeyNames[i]) key = i;
    }
    if (key < 0) {
      return Status::InvalidArgument("unknown --mix operation '" + std::string(name) +
                                     "' (scan, page, count, check, who_can, reassign, create, "
                                     "move)");
    }
    if (seen[key]) {
      return Status::InvalidArgument("--mix names '" + std::string(name) +
                                     "' twice: give each operation one weight");
    }
    seen[key] = true;
    m.weight[key] = w;
  }
  if (m.Total() <= 0) return Status::InvalidArgument("--mix needs a weight above 0");
  *mix = m;
  return Status::Ok();
}

namespace {

// A whole number with an optional suffix (k, M, G) worth `unit` to the
// power 1, 2, 3: 1000 for counts, 1024 for bytes.
bool ParseScaled(std::string_view text, double unit, uint64_t* out) {
  if (text.empty()) return false;
  double scale = 1;
  switch (text.back()) {
    case 'k':
    case 'K':
      scale = unit;
      break;
    case 'M':
    case 'm':
      scale = unit * unit;
      break;
    case 'G':
    case 'g':
      scale = unit * unit * unit;
      break;
    default:
      break;
  }
  if (scale != 1) text.remove_suffix(1);
  double v;
  if (!ParseDouble(text, &v) || v < 0) return false;
  v *= scale;
  if (v > 1e15 || v != std::floor(v)) return false;
  *out = static_cast<uint64_t>(v);
  return true;
}

}  // namespace

bool ParseCount(std::string_view text, uint64_t* out) { return ParseScaled(text, 1e3, out); }

bool ParseBytes(std::string_view text, uint64_t* out) { return ParseScaled(text, 1024, out); }

bool ParseDuration(std::string_view text, double* seconds) {
  double scale = 1;
  if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
    scale = 1e-3;
    text.remove_suffix(2);
  } else if (!text.empty() && (text.back() == 's' || text.back() == 'm' || text.back() == 'h')) {
    scale = text.back() == 's' ? 1 : text.back() == 'm' ? 60 : 3600;
    text.remove_suffix(1);
  }
  double v;
  if (!ParseDouble(text, &v) || v < 0) return false;
  v *= scale;
  if (!std::isfinite(v) || v > kMaxDurationSeconds) return false;
  *seconds = v;
  return true;
}

std::string HelpText(const std::string& program) {
  std::string text = R"(PROGRAM: capacity planning for Canopy. For N tenants, M devices, depth D
and a query mix: what latency, throughput, disk and memory, how each cost grows
with size, beside a raw RocksDB loop over the same keys and SQLite on the same tree.

usage: PROGRAM [flags]        (flags take "--flag value" or "--flag=value")
Counts accept 1e6, 50e6, 2M, 10k; durations 10s, 500ms, 2m, 1h (at most
24h); byte sizes 256M, 1G (binary: M = 2^20).

Tree (the one you plan for; generated from a seed and imported with Db::Import):
  --roots N              root tenants                                 (1)
  --accounts N           accounts, roots included                     (10000)
  --devices N            devices                                      (1e6)
  --depth D              deepest level, a root is level 1; at most 32,  (6)
                         Canopy's default depth limit
  --fanout F             at most F sub-accounts per account           (16)
  --zipf S               Zipf skew of devices over accounts; 0 = even (0.8)
  --users N              users, each created in a random account      (1000)
  --memberships N        memberships per user: on its own account and (1)
                         distinct accounts below it (fewer where there
                         are fewer below: a user holds roles only there)
  --branch-share F       share of memberships with branch access      (0.7)
  --device-attributes N  attributes of each device, 0..4 (firmware,   (0)
                         region, sim, installed, in that order)
  --seed N               generator and workload seed                  (42)

Sizes (each size is the tree above scaled to that many devices: accounts,
roots and users keep their ratio to devices, with at least 2 accounts and
100 users; depth, fan-out, skew stay):
  --sweep LIST           device counts to measure, e.g. 1e4,1e5,1e6 (up to 1e7
                         and beyond when asked), or "none". Default: the
                         decades from 1e4 below --devices plus --devices
                         itself (1e4,1e5,1e6), or devices/100, devices/10,
                         devices for small trees. With --devices given it is
                         always measured (within the cap).
  --max-measured-devices N   measure no size above N: --sweep sizes above it
                         are left out (with a note), and --plan extrapolates
                         to --devices from the growth fits
                         (default: no cap; 2e6 with --plan)
  --plan                 capacity plan: measure up to the cap, fit growth, and
                         predict disk, memory, p99 latency per operation and
                         queries per second per core at --devices, saying which
                         figures are measured and which extrapolated

Workload (run at every size, with the database reused from the cache):
  --mix LIST             operation weights, each operation once (default
                         scan=1,page=40,count=20,check=30,who_can=5,reassign=4):
                           scan      stream every device the user may see
                           page      a listing: first page, then up to
                                     --pages-per-listing resumed pages (cursor)
                           count     count of visible devices (no filter)
                           check     may the user read this device? (half of
                                     them on devices the user may see)
                           who_can   the users who may read a device
                           reassign  move one device to another account
                           create    create an account under a random one
                           move      move a random account's subtree under a
                                     shallow account (refused moves counted)
                         Users are the generated ones, with their memberships.
                         A mix with writes runs on a private copy of the
                         cached database (hard-linked SSTs), dropped after.
  --threads N            concurrent client threads                    (1)
  --duration D           measured time per size and thread count      (5s)
  --ops N                or a fixed number of operations instead
  --warmup D             unmeasured time first (duration mode)        (1s)
  --page-size N          items per page                               (100)
  --pages-per-listing N  pages per listing before a new one starts    (5)
  --threads-sweep LIST   thread counts to run at the largest measured
                         size, for throughput against threads (e.g. 1,2,4)

Baselines (same tree, same keys, same sampled users, single thread):
  --no-raw               skip the raw RocksDB loops (range iteration over the
                         user's index ranges, point gets)
  --no-sqlite            skip SQLite (recursive CTE and materialized path)
  --no-baselines         skip both (and the side-by-side Canopy timings)
  --compare-seconds D    time budget of each operation's comparison (1s)
  --compare-samples N    sampled users or checks per operation        (200)

Database:
  --cache-dir DIR        where generated databases are kept and reused
                         (/tmp/canopy-bench)
  --block-cache BYTES    Options::block_cache_bytes                   (256M)
  --sync                 fsync every mutation (Options::sync); off by default
                         to measure the engine rather than the disk

Output:
  --write-tree FILE      only write the tree (at --devices; the sweep and the
                         workload are not run) as a JSON Lines file for
                         `canopy import`, e.g. --devices 1e6 --accounts 10000
                         --depth 4 --fanout 32 --users 20000 --device-attributes 2;
                         "-" writes it to standard output (the summary line
                         goes to stderr). Takes none of the flags of a
                         measuring run (workload, sizes, baselines, output)
  --report-json FILE     the full results as JSON
  --plots DIR            SVG plots: latency against size (log-log, all
                         operations and one per operation with baselines),
                         throughput against threads
  --markdown FILE        the Markdown report to FILE instead of stdout
  --progress MODE        auto (one updating line on a terminal, periodic lines
                         otherwise), line, lines, none
  --quiet                same as --progress none
  -h, --help             this text

A flag that takes a value may be given once.
Exit status: 0 when every operation succeeded, 1 when any operation failed,
none completed, or Canopy and a baseline disagreed on an answer, 2 for bad
flags, 130 when stopped by Ctrl-C (no report is written; a tree whose build
was cut short is removed from the cache; a second Ctrl-C ends it at once).
)";
  for (size_t at; (at = text.find("PROGRAM")) != std::string::npos;) {
    text.replace(at, 7, program);
  }
  return text;
}

Status ParseFlags(const std::vector<std::string>& args, HarnessConfig* config, bool* help) {
  HarnessConfig c;
  *help = false;
  c.mix = Mix();
  (void)ParseMix(kDefaultMix, &c.mix);
  for (const std::string& a : args) c.command_line += (c.command_line.empty() ? "" : " ") + a;

  // CLI11 reads the command line (cli11_flags.h); each value is then read
  // by the harness's own rules (counts like 2M, durations like 500ms).
  static const std::set<std::string> kValued = {
      "roots",       "accounts",        "devices",         "depth",
      "fanout",      "zipf",            "users",           "memberships",
      "branch-share", "seed",           "sweep",           "max-measured-devices",
      "mix",         "threads",         "duration",        "ops",
      "warmup",      "page-size",       "pages-per-listing", "threads-sweep",
      "compare-seconds", "compare-samples", "cache-dir",   "block-cache",
      "report-json", "plots",           "markdown",        "progress",
      "write-tree",  "device-attributes"};
  static const std::set<std::string> kBooleans = {"plan",      "sync",         "no-raw",
                                                  "no-sqlite", "no-baselines", "quiet"};
  CLI::App app;
  app.set_help_flag();
  app.allow_extras();  // unknown flags are named below
  std::map<std::string, std::vector<std::string>> values;
  std::map<std::string, CLI::Option*> booleans;
  for (const std::string& name : kValued) cli11::AddValued(app, name, &values[name]);
  for (const std::string& name : kBooleans) booleans[name] = cli11::AddBoolean(app, name);
  CLI::Option* help_flag = app.add_flag("-h,--help")->disable_flag_override();
  std::vector<std::string> positionals;
  app.add_option("ARGS", positionals);
  std::vector<std::string> rest;
  try {
    rest = cli11::Parse(app, args, kValued);
  } catch (const cli11::FlagError& e) {
    return Status::InvalidArgument(e.message + " (see --help)");
  }
  for (const std::string& r : rest) {
    if (r == "--") continue;
    if (r == "--json" || r.starts_with("--json=")) {
      return Status::InvalidArgument(
          "unknown flag --json: the JSON report is --report-json FILE (see --help)");
    }
    std::string unknown = cli11::UnknownFlag(r);
    if (!unknown.empty()) return Status::InvalidArgument(unknown + " (see --help)");
  }
  if (!positionals.empty()) {
    return Status::InvalidArgument("unexpected argument '" + positionals[0] +
                                   "': the harness takes flags only (see --help)");
  }
  if (help_flag->count() > 0) {
    *help = true;
    return Status::Ok();
  }
  auto has = [&](const char* name) { return booleans.at(name)->count() > 0; };
  c.plan = has("plan");
  c.sync = has("sync");
  if (has("no-raw") || has("no-baselines")) c.raw_baseline = false;
  if (has("no-sqlite") || has("no-baselines")) c.sqlite_baseline = false;
  if (has("quiet")) c.progress = ProgressMode::kNone;

  bool cap_given = false;
  for (const auto& [name, given] : values) {
    std::optional<std::string> text;
    try {
      text = cli11::Single(name, given);
    } catch (const cli11::FlagError& e) {
      return Status::InvalidArgument(e.message + " (see --help)");
    }
    if (!text) continue;
    const std::string flag = "--" + name;
    const std::string& value = *text;
    uint64_t n = 0;
    double d = 0;
    if (flag == "--roots" || flag == "--accounts" || flag == "--devices" || flag == "--users" ||
        flag == "--seed" || flag == "--ops" || flag == "--max-measured-devices" ||
        flag == "--compare-samples" || flag == "--page-size") {
      const bool digits = !value.empty() && value.find_first_not_of("0123456789") == value.npos;
      if (flag == "--seed" && digits) {
        // Any 64-bit seed, written out (counts like 2M stop at 1e15).
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || end != value.data() + value.size()) {
          return Bad(flag, value, "want a number from 0 to 18446744073709551615");
        }
      } else if (!ParseCount(value, &n)) {
        return Bad(flag, value, "want a count like 1000, 1e6 or 2M");
      }
      if ((flag == "--accounts" || flag == "--users" || flag == "--roots") && n > kMaxIndexed) {
        return Bad(flag, value, "want at most 1e9");
      }
      if (n == 0 && flag == "--ops") {
        return Bad(flag, value, "want 1 or more (leave --ops out to run for --duration)");
      }
      if (n == 0 && (flag == "--compare-samples" || flag == "--max-measured-devices")) {
        return Bad(flag, value, "want 1 or more");
      }
      if (flag == "--roots") c.tree.roots = n;
      if (flag == "--accounts") c.tree.accounts = n;
      if (flag == "--devices") c.tree.devices = n, c.devices_given = true;
      if (flag == "--users") c.tree.users = n;
      if (flag == "--seed") c.tree.seed = n;
      if (flag == "--ops") c.ops = n;
      if (flag == "--max-measured-devices") c.max_measured_devices = n, cap_given = true;
      if (flag == "--compare-samples") c.compare_samples = n;
      if (flag == "--page-size") c.page_size = n;
    } else if (flag == "--block-cache") {
      if (!ParseBytes(value, &n)) return Bad(flag, value, "want a size in bytes like 256M or 1G");
      c.block_cache_bytes = n;
    } else if (flag == "--device-attributes") {
      if (!ParseCount(value, &n) || n > TreeSpec::kMaxDeviceAttributes) {
        return Bad(flag, value, "want 0..4");
      }
      c.tree.device_attributes = static_cast<uint32_t>(n);
    } else if (flag == "--depth" || flag == "--fanout" || flag == "--memberships") {
      if (!ParseCount(value, &n) || n == 0 || n > 1000000) {
        return Bad(flag, value, "want a whole number >= 1");
      }
      if (flag == "--depth" && n > Options().max_depth) {
        // Deeper trees would be refused by the import (Options::max_depth).
        return Bad(flag, value,
                   "want 1.." + std::to_string(Options().max_depth) +
                       " (Canopy's default depth limit, Options::max_depth)");
      }
      if (flag == "--depth") c.tree.depth = static_cast<uint32_t>(n);
      if (flag == "--fanout") c.tree.fanout = static_cast<uint32_t>(n);
      if (flag == "--memberships") c.tree.memberships_per_user = static_cast<uint32_t>(n);
    } else if (flag == "--zipf" || flag == "--branch-share") {
      if (!ParseDouble(value, &d) || d < 0 || (flag == "--branch-share" && d > 1)) {
        return Bad(flag, value, flag == "--zipf" ? "want a number >= 0" : "want 0..1");
      }
      if (d == 0) d = 0;  // not -0
      if (flag == "--zipf") c.tree.zipf = d;
      if (flag == "--branch-share") c.tree.branch_share = d;
    } else if (flag == "--duration" || flag == "--warmup" || flag == "--compare-seconds") {
      if (!ParseDuration(value, &d)) {
        return Bad(flag, value, "want a duration like 10s or 500ms, at most 24h");
      }
      if (flag == "--duration") c.duration_s = d;
      if (flag == "--warmup") c.warmup_s = d;
      if (flag == "--compare-seconds") c.compare_seconds = d;
    } else if (flag == "--threads" || flag == "--pages-per-listing") {
      int t;
      if (!ParseInt(value, &t) || t < 1 || t > 1024) return Bad(flag, value, "want 1..1024");
      if (flag == "--threads") c.threads = t;
      if (flag == "--pages-per-listing") c.pages_per_listing = t;
    } else if (flag == "--mix") {
      CANOPY_RETURN_IF_ERROR(ParseMix(value, &c.mix));
    } else if (flag == "--sweep") {
      c.sweep.clear();
      c.sweep_given = true;
      if (value != "none") {
        for (std::string_view item : Split(value)) {
          if (!ParseCount(item, &n) || n == 0) {
            return Bad(flag, item, "want device counts like 1e4,1e5,1e6 or none");
          }
          c.sweep.push_back(n);
        }
      }
    } else if (flag == "--threads-sweep") {
      c.threads_sweep.clear();
      for (std::string_view item : Split(value)) {
        int t;
        if (!ParseInt(item, &t) || t < 1 || t > 1024) {
          return Bad(flag, item, "want thread counts like 1,2,4");
        }
        c.threads_sweep.push_back(t);
      }
    } else if (value.empty() && (flag == "--cache-dir" || flag == "--report-json" ||
                                 flag == "--write-tree" || flag == "--plots" ||
                                 flag == "--markdown")) {
      return Bad(flag, value, "want a path");
    } else if (flag == "--cache-dir") {
      c.cache_dir = value;
    } else if (flag == "--report-json") {
      c.json_path = value;
    } else if (flag == "--write-tree") {
      c.write_tree_path = value;
    } else if (flag == "--plots") {
      c.plots_dir = value;
    } else if (flag == "--markdown") {
      c.markdown_path = value;
    } else if (flag == "--progress") {
      if (value == "auto")
        c.progress = ProgressMode::kAuto;
      else if (value == "line")
        c.progress = ProgressMode::kLine;
      else if (value == "lines")
        c.progress = ProgressMode::kLines;
      else if (value == "none")
        c.progress = ProgressMode::kNone;
      else
        return Bad(flag, value, "want auto, line, lines or none");
    }
  }
  if (has("quiet") && values.at("progress").size() > 0) {
    return Status::InvalidArgument("--quiet and --progress exclude each other");
  }
  if (!c.write_tree_path.empty()) {
    // Only the tree is written: a flag of a measuring run would be ignored.
    for (const char* name :
         {"sweep", "max-measured-devices", "mix", "threads", "duration", "ops", "warmup",
          "page-size", "pages-per-listing", "threads-sweep", "compare-seconds", "compare-samples",
          "cache-dir", "block-cache", "report-json", "plots", "markdown", "plan", "sync",
          "no-raw", "no-sqlite", "no-baselines"}) {
      const bool given = booleans.count(name) ? has(name) : !values.at(name).empty();
      if (given) {
        return Status::InvalidArgument(std::string("--write-tree only writes the tree; --") +
                                       name + " is for a measuring run (see --help)");
      }
    }
  }
  {
    // Two outputs into one file would overwrite each other.
    namespace fs = std::filesystem;
    const std::pair<const char*, std::string> files[] = {{"--report-json", c.json_path},
                                                         {"--markdown", c.markdown_path}};
    std::error_code ec0, ec1;
    if (!files[0].second.empty() && !files[1].second.empty() &&
        fs::weakly_canonical(files[0].second, ec0) == fs::weakly_canonical(files[1].second, ec1) &&
        !ec0 && !ec1) {
      return Status::InvalidArgument("--report-json and --markdown name the same file '" +
                                     files[0].second + "'");
    }
  }
  if (c.tree.devices == 0) return Status::InvalidArgument("--devices must be at least 1");
  if (c.tree.users == 0) return Status::InvalidArgument("--users must be at least 1");
  if (c.tree.roots == 0 || c.tree.accounts < c.tree.roots) {
    return Status::InvalidArgument("need --roots >= 1 and --accounts >= --roots");
  }
  if (c.tree.memberships_per_user > c.tree.accounts) {
    return Status::InvalidArgument("--memberships cannot exceed --accounts");
  }
  if (c.page_size == 0 || c.page_size > 10000) {
    return Status::InvalidArgument("--page-size must be 1..10000");
  }
  if (c.ops == 0 && c.duration_s <= 0) {
    return Status::InvalidArgument("--duration must be above 0 (or give --ops)");
  }
  if (c.plan && !cap_given) c.max_measured_devices = kPlanCap;
  if (c.sweep_given && !c.devices_given && c.sweep.empty()) {
    return Status::InvalidArgument("--sweep none needs --devices");
  }
  *config = std::move(c);
  return Status::Ok();
}

uint64_t MeasuredTop(const HarnessConfig& c) {
  uint64_t top = c.tree.devices;
  if (c.sweep_given && !c.devices_given) top = *std::max_element(c.sweep.begin(), c.sweep.end());
  if (c.max_measured_devices > 0) top = std::min(top, c.max_measured_devices);
  return top;
}

std::vector<uint64_t> MeasuredSizes(const HarnessConfig& c) {
  const uint64_t cap = c.max_measured_devices > 0 ? c.max_measured_devices : UINT64_MAX;
  const uint64_t top = MeasuredTop(c);
  std::set<uint64_t> sizes;
  if (c.sweep_given) {
    for (uint64_t s : c.sweep) {
      if (s <= cap) sizes.insert(s);
    }
    if (c.devices_given) sizes.insert(top);
  } else {
    for (uint64_t s = 10000; s < top; s *= 10) sizes.insert(s);
    sizes.insert(top);
    if (sizes.size() < 3) {
      sizes.clear();
      for (uint64_t s : {top / 100, top / 10, top}) sizes.insert(std::max<uint64_t>(s, 100));
    }
  }
  if (sizes.empty()) sizes.insert(top);
  return {sizes.begin(), sizes.end()};
}

namespace {

// Accounts the depth and fan-out can hold under the roots (capped at 1e18).
uint64_t Capacity(const TreeSpec& s) {
  double capacity = 0, level = static_cast<double>(s.roots);
  for (uint32_t d = 0; d < s.depth && capacity < 1e18; ++d) {
    capacity += level;
    level *= s.fanout;
  }
  return capacity >= 1e18 ? uint64_t{1000000000000000000} : static_cast<uint64_t>(capacity);
}

}  // namespace

Status ScaleSpec(const TreeSpec& target, uint64_t devices, TreeSpec* out) {
  TreeSpec s = target;
  if (devices != target.devices) {
    const double f = static_cast<double>(devices) / static_cast<double>(target.devices);
    auto scaled = [f](uint64_t v) {
      return std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(static_cast<double>(v) * f)));
    };
    s.devices = devices;
    s.roots = scaled(target.roots);
    // At least two accounts (or all of them, or as many as the roots,
    // depth and fan-out hold): with one, a reassign or a move has nowhere
    // to go and would be timed as a no-op.
    s.accounts = std::max({s.roots, scaled(target.accounts),
                           std::min<uint64_t>({target.accounts, 2, Capacity(s)})});
    // At least 100 users (or all of them): enough distinct viewers for
    // visibility to vary at small sizes.
    s.users = std::max(scaled(target.users), std::min<uint64_t>(target.users, 100));
    s.memberships_per_user =
        static_cast<uint32_t>(std::min<uint64_t>(target.memberships_per_user, s.accounts));
  }
  if (Capacity(s) < s.accounts) {
    return Status::InvalidArgument(
        "depth " + std::to_string(s.depth) + " and fan-out " + std::to_string(s.fanout) +
        " cannot hold " + std::to_string(s.accounts) + " accounts under " +
        std::to_string(s.roots) + " roots (at " + std::to_string(devices) +
        " devices); raise --fanout or --depth");
  }
  *out = s;
  return Status::Ok();
}

}  // namespace canopy::bench
