// Copyright (c) Canopy authors.
//
// canopy check-db: verifies every invariant of a database.

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json] check-db [--progress]\n\n"
    "Verifies every invariant: account labels and the tree, the visibility index\n"
    "against the entity records, the key indexes, the counters (recomputed),\n"
    "memberships, roles, and groups (members, links, sizes, grants). Prints each\n"
    "problem; exits 1 when any is found, or when the check cannot finish (a block\n"
    "it cannot read: the error names it). --json: {\"ok\", \"problems\": [...]}, and\n"
    "\"error\" when not ok (also when the database does not open).\n"
    "It reads every entity (about a second per million): progress (entities checked\n"
    "of all) is drawn on stderr when stderr is a terminal. It opens the database\n"
    "read-only when it can (a view as of its start), so other processes go on\n"
    "writing meanwhile.\n"
    "  --progress  print progress on stderr also when it is not a terminal, one\n"
    "              line per update ('checking  50% (65536/131072 entities)')\n";

int Run(Context& ctx, Args& args) {
  args.Parse({}, {"progress"});
  args.AtMost(0);
  if (!ctx.RequireSystem("check-db")) return kExitFailed;
  ctx.prefer_read_only = true;  // a check never keeps writers out
  if (!ctx.Open(false)) {
    // A monitor reading --json gets its object also when the database does
    // not open (damaged files it cannot get past, say).
    if (ctx.json && !ctx.open_error.ok()) {
      JsonObject o;
      o.Bool("ok", false).Raw("problems", "[]").Str("error", ctx.open_error.ToString());
      *ctx.out << o.str() << "\n";
    }
    return kExitFailed;
  }
  const bool terminal = StderrIsTerminal();
  ProgressBar bar(*ctx.err, terminal || args.Has("progress"), /*lines=*/!terminal, "checking",
                  "entities");
  std::vector<std::string> problems;
  Status s = ctx.db->CheckIntegrity(&problems, [&bar](uint64_t done, uint64_t total) {
    bar.Update(done, total);
    return true;
  });
  bar.Finish();
  if (ctx.json) {
    // A check that stopped (a block it could not read, the database closed)
    // may have found no problem yet: "error" says why it is not ok.
    JsonObject o;
    o.Bool("ok", s.ok()).Raw("problems", JsonStrings(problems));
    if (!s.ok()) o.Str("error", s.ToString());
    *ctx.out << o.str() << "\n";
  } else if (s.ok()) {
    *ctx.out << "ok: every invariant holds\n";
  } else {
    for (const auto& p : problems) *ctx.out << "problem: " << Printable(p) << "\n";
  }
  if (!s.ok()) return ctx.Fail(s);
  return kExitOk;
}

}  // namespace

Command CheckDbCommand() {
  return {"check-db", "verify every invariant of the database", kUsage, Run};
}

}  // namespace canopy::cli
