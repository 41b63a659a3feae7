// Copyright (c) Canopy authors.
//
// canopy check-db: verifies every invariant of a database.

#include "bindings/cli/cli.h"
#include "bindings/cli/output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json] check-db\n\n"
    "Verifies every invariant: account labels and the tree, the visibility index\n"
    "against the entity records, the key indexes, the counters (recomputed),\n"
    "memberships and roles. Prints each problem; exits 1 when any is found.\n";

int Run(Context& ctx, Args& args) {
  args.Parse({}, {});
  args.AtMost(0);
  if (!ctx.RequireSystem("check-db")) return kExitFailed;
  if (!ctx.Open(false)) return kExitFailed;
  std::vector<std::string> problems;
  Status s = ctx.db->CheckIntegrity(&problems);
  if (ctx.json) {
    *ctx.out << "{\"ok\":" << (s.ok() ? "true" : "false") << ",\"problems\":[";
    for (size_t i = 0; i < problems.size(); ++i) *ctx.out << (i ? "," : "") << Json(problems[i]);
    *ctx.out << "]}\n";
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
