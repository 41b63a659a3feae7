// Copyright (c) Canopy authors.
//
// canopy stats: the database's statistics (Db::GetProperty).

#include <algorithm>
#include <cctype>

#include "cli.h"
#include "output.h"
#include "canopy/json.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json] stats [NAME...]\n\n"
    "Prints the database's statistics: without NAME, the ones worth watching\n"
    "(Db::PropertyNames: the canopy.* counts and revisions and the main RocksDB\n"
    "numbers, summed over the key spaces); with NAMEs, those, in that order, any\n"
    "name Db::GetProperty knows:\n"
    "  canopy.revision, canopy.log-first-revision, canopy.accounts, canopy.users,\n"
    "  canopy.roles, canopy.groups, canopy.devices, canopy.assets, canopy.dashboards,\n"
    "  canopy.entity-views, canopy.open-cursors, canopy.open-iterators,\n"
    "  canopy.catalog-source (where the open took the catalog from: image or key spaces),\n"
    "  canopy.groups-undone, canopy.groups-copied-back (a replica's groups of writes\n"
    "  that lost the race for etcd's head, since open)\n"
    "  rocksdb.NAME         a RocksDB property, summed over the key spaces when a number\n"
    "                       (a whole database's, e.g. the shared block cache's\n"
    "                       rocksdb.block-cache-usage, is read once)\n"
    "  rocksdb.NAME@SPACE   one key space's (e.g. rocksdb.stats@entities)\n"
    "  rocksdb.statistics   RocksDB's counters (when the database collects them)\n"
    "An unknown name fails the command (exit 1), naming it; a name given twice is\n"
    "printed once.\n"
    "  --json  one JSON object: each name with its value, a number when the value\n"
    "          is a whole number, else a string\n";

// A value that is a whole number (digits only, fits in 64 bits).
bool IsNumber(const std::string& v) {
  if (v.empty() || v.size() > 19) return false;
  for (char c : v) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

int Run(Context& ctx, Args& args) {
  args.Parse({}, {});
  std::vector<std::string> names;
  for (const std::string& name : args.positionals()) {  // each once, in order
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  if (!ctx.RequireSystem("stats")) return kExitFailed;
  if (!ctx.Open(false)) return kExitFailed;
  if (names.empty()) names = Db::PropertyNames();
  std::vector<std::string> values;
  for (const std::string& name : names) {
    StatusOr<std::string> v = ctx.db->GetProperty(name);
    if (!v.ok()) return ctx.Fail(v.status());
    values.push_back(*v);
  }
  if (ctx.json) {
    JsonObject o;
    for (size_t i = 0; i < names.size(); ++i) {
      if (IsNumber(values[i])) {
        o.Raw(names[i], values[i]);
      } else {
        o.Str(names[i], values[i]);
      }
    }
    *ctx.out << o.str() << "\n";
    return kExitOk;
  }
  // One line a name; a value of several lines (rocksdb.stats...) follows
  // its name on lines of its own.
  Table table({"NAME", "VALUE"});
  std::vector<std::pair<std::string, std::string>> long_values;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string v = values[i];
    while (!v.empty() && v.back() == '\n') v.pop_back();
    if (v.find('\n') != std::string::npos) {
      long_values.emplace_back(names[i], v);
      continue;
    }
    table.Add({Printable(names[i]), Printable(v)});
  }
  if (table.rows() > 0) table.Flush(*ctx.out);
  for (const auto& [name, v] : long_values) {
    *ctx.out << Printable(name) << ":\n" << v << "\n";
  }
  return kExitOk;
}

}  // namespace

Command StatsCommand() {
  return {"stats", "the database's statistics (counts, revisions, RocksDB's numbers)", kUsage,
          Run};
}

}  // namespace canopy::cli
