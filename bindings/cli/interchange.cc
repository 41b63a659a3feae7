// Copyright (c) Canopy authors.
//
// canopy import / canopy export: the JSON Lines interchange format
// (docs/format.md), through Db::Import and Db::Export. A progress bar is drawn on
// stderr only when stderr is a terminal (so logs and pipes stay clean); a
// summary with counts, elapsed time and rate ends every run.

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kImportUsage[] =
    "usage: canopy [--db DIR] [--json] import FILE|-\n\n"
    "Loads a JSON Lines file (the interchange format: accounts, roles,\n"
    "users, memberships, devices and other entities, groups with their members\n"
    "and grants, parents before children)\n"
    "(- reads standard input) into the database, creating the database folder if\n"
    "needed. All or nothing:\n"
    "a bad line fails the import with its line number and nothing is written;\n"
    "so does Ctrl-C (SIGINT or SIGTERM) until the commit (it is looked at\n"
    "every 16384 lines, every 100 ms while the sorted records are written\n"
    "after the last line, and once more just before the commit; a second\n"
    "one ends the process at once).\n"
    "Import needs the system actor (no --actor). A progress bar is shown on\n"
    "stderr when stderr is a terminal; a summary (counts, elapsed time, rate)\n"
    "is printed at the end (one JSON object with --json).\n";

const char kExportUsage[] =
    "usage: canopy [--db DIR] [--json] export FILE|-\n\n"
    "Writes the whole database to FILE (- : standard output, and the summary\n"
    "goes to stderr) in the JSON Lines interchange format\n"
    "(a begin line, accounts in tree order, roles, users, memberships, entities,\n"
    "groups, group members and group grants, then an end line with a record\n"
    "count and checksum: a copy cut short or edited is refused by import), so\n"
    "that importing it into an empty database round-trips exactly. FILE is\n"
    "written whole or not at all (one export at a time: another one writing\n"
    "FILE meanwhile is refused): Ctrl-C\n"
    "(SIGINT or SIGTERM) cancels it and leaves FILE as it was (a pipe or '-',\n"
    "written in place, keeps what it had). A\n"
    "progress bar is shown on stderr when stderr is a terminal; a summary is\n"
    "printed at the end (one JSON object with --json). It opens the database\n"
    "read-only when it can (a view as of its start), so other processes go on\n"
    "writing meanwhile.\n";

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Prints the closing summary of an import or export: counts, elapsed time
// and rate (records per second).
void PrintSummary(Context& ctx, std::ostream& out, const char* verb, const std::string& file,
                  const ImportReport& r, double seconds) {
  const uint64_t groups = r.groups + r.group_members + r.group_grants;
  const uint64_t records = r.accounts + r.roles + r.users + r.memberships + r.entities + groups;
  const double rate = seconds > 0 ? static_cast<double>(records) / seconds : 0;
  if (ctx.json) {
    out << JsonObject()
                    .Str("action", verb)
                    .Str("file", file)
                    .Int("lines", static_cast<int64_t>(r.lines))
                    .Int("records", static_cast<int64_t>(records))
                    .Int("accounts", static_cast<int64_t>(r.accounts))
                    .Int("roles", static_cast<int64_t>(r.roles))
                    .Int("users", static_cast<int64_t>(r.users))
                    .Int("memberships", static_cast<int64_t>(r.memberships))
                    .Int("entities", static_cast<int64_t>(r.entities))
                    .Int("groups", static_cast<int64_t>(r.groups))
                    .Int("group_members", static_cast<int64_t>(r.group_members))
                    .Int("group_grants", static_cast<int64_t>(r.group_grants))
                    .Real("elapsed_s", seconds)
                    .Real("records_per_s", rate)
                    .str()
             << "\n";
    return;
  }
  char timing[96];
  std::snprintf(timing, sizeof(timing), "in %.3f s (%.0f records/s)", seconds, rate);
  out << verb << " " << records << " records " << (verb[0] == 'i' ? "from" : "to") << " '"
           << Printable(file) << "' " << timing << ": " << r.accounts << " accounts, " << r.roles << " roles, "
           << r.users << " users, " << r.memberships << " memberships, " << r.entities
           << " entities";
  if (groups > 0) {
    out << ", " << r.groups << " groups, " << r.group_members << " group members, "
        << r.group_grants << " group grants";
  }
  out << " (" << r.lines << " lines)\n";
}

int RunImport(Context& ctx, Args& args) {
  args.Parse({}, {});
  const std::string file = args.Path(0, "FILE (the JSON Lines file to import)");
  args.AtMost(1);
  // A failed import into a folder that did not exist, or was empty, leaves
  // no empty database behind (main: Context::DiscardIfCreated): "nothing
  // was imported" holds for the folder too (an empty folder it found
  // stays, empty).
  if (!ctx.RequireSystem("import")) return kExitFailed;
  // Before the open: from then on Ctrl-C cancels the import cleanly.
  CatchStopSignals();
  if (!ctx.Open(true)) return kExitFailed;
  const Actor actor = Actor::System();
  ProgressBar bar(*ctx.err, StderrIsTerminal(), false, "importing", "bytes");
  ImportOptions options;
  if (file == "-") options.name = "(stdin)";  // as the summary names it
  options.progress = [&bar](uint64_t done, uint64_t total) {
    // Once the whole input is read, what is left is writing it.
    if (total > 0 && done == total) bar.SetNote(", writing");
    bar.Update(done, total);
    return !StopRequested();
  };
  ImportReport report;
  const auto start = std::chrono::steady_clock::now();
  Status s = ctx.db->Import(actor, file == "-" ? "/dev/stdin" : file, options, &report);
  bar.Finish();
  if (!s.ok()) {
    return ctx.Fail(s);
  }
  PrintSummary(ctx, *ctx.out, "imported", file == "-" ? "(stdin)" : file, report,
               SecondsSince(start));
  return kExitOk;
}

int RunExport(Context& ctx, Args& args) {
  args.Parse({}, {});
  const std::string file = args.Path(0, "FILE (where to write the export)");
  args.AtMost(1);
  if (!ctx.RequireSystem("export (it writes the whole database)")) return kExitFailed;
  CatchStopSignals();
  ctx.prefer_read_only = true;  // an export never keeps writers out
  if (!ctx.Open(false)) return kExitFailed;
  ProgressBar bar(*ctx.err, StderrIsTerminal(), false, "exporting", "entities");
  ImportReport report;
  const auto start = std::chrono::steady_clock::now();
  Status s = ctx.db->Export(
      file,
      [&bar](uint64_t done, uint64_t total) {
        bar.Update(done, total);
        return !StopRequested();
      },
      &report);
  bar.Finish();
  if (!s.ok()) return ctx.Fail(s);
  // With "-" the export is the standard output: the summary goes aside.
  PrintSummary(ctx, file == "-" ? *ctx.err : *ctx.out, "exported",
               file == "-" ? "(stdout)" : file, report, SecondsSince(start));
  return kExitOk;
}

}  // namespace

Command ImportCommand() {
  return {"import", "load a JSON Lines file, all or nothing", kImportUsage, RunImport};
}

Command ExportCommand() {
  return {"export", "write the database as JSON Lines", kExportUsage, RunExport};
}

}  // namespace canopy::cli
