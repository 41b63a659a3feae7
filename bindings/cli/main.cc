// Copyright (c) Canopy authors.
//
// canopy [--db DIR] [--json | --csv] [--actor LOGIN] [--etcd URLS [--prefix P]] COMMAND [ARGS...]
//
// The global flags are parsed with CLI11 (as are each command's, in
// Args::Parse); the help texts are Canopy's own.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "cli.h"
#include "cli11_flags.h"
#include "output.h"
#include "canopy/version.h"

namespace {

using canopy::cli::Args;
using canopy::cli::Command;
using canopy::cli::Commands;
using canopy::cli::Context;
using canopy::cli::UsageError;

void PrintHelp(std::ostream& out) {
  out << "canopy " << canopy::Version()
      << " — an embedded graph database for multi-tenant account hierarchies\n\n"
         "usage: canopy [--db DIR] [--json | --csv] [--actor LOGIN]\n"
         "              [--read-only | --follower]\n"
         "              [--etcd URLS [--prefix P] [--checkpoints DIR]]\n"
         "              COMMAND [ARGS...]\n\n"
         "global flags:\n"
         "  --db DIR       the database folder (default ./canopy-data)\n"
         "  --json         machine-readable output: one JSON object per line (JSON\n"
         "                 Lines); a page's cursor goes to stderr, never among them\n"
         "  --csv          listings (tree, account list, user list, role list,\n"
         "                 group list, visible, who-can) as CSV: a header row, then\n"
         "                 one row per item, quoted as RFC 4180 says, lines ending\n"
         "                 in CRLF\n"
         "  --actor LOGIN  the user performing mutations (default: the system actor)\n"
         "  --etcd URLS    open the database as a replica of the change log kept in\n"
         "                 etcd at these client URLs (comma-separated); every command\n"
         "                 then reads the local replica and writes through etcd\n"
         "  --prefix P     the etcd key prefix of that log (default canopy)\n"
         "  --checkpoints DIR  where replicas write checkpoints and a new replica,\n"
         "                 or one the log was trimmed past, starts from the newest\n"
         "  --read-only    open the database read-only, beside a process that has it\n"
         "                 open for writing: a view as of now; mutations are refused.\n"
         "                 Chosen by itself (with a note on stderr) when the database\n"
         "                 is in use by another process, or its folder cannot be\n"
         "                 written (a full disk, a read-only mount); never for a\n"
         "                 replica (--etcd), which opens for writing or not at all\n"
         "  --follower     open the database as a follower beside a process that has\n"
         "                 it open for writing: like --read-only, but 'log --follow'\n"
         "                 catches up with that process's writes every 200 ms. Chosen\n"
         "                 by itself for 'log --follow', so that it does not keep\n"
         "                 other processes from writing\n"
         "  --version      print the library and storage-format versions\n"
         "  --help         this text; 'canopy COMMAND --help' (or 'canopy help COMMAND')\n"
         "                 describes a command's flags\n"
         "--json, --csv and --actor may also follow the command name\n"
         "(canopy visible --user x --json). --db and --actor may be given once each\n"
         "and never empty; a flag of a command that takes one value may be given once.\n"
         "Text output prints control characters of stored names escaped (\\n, \\x1b...,\n"
         "and as \\u202e the bidirectional controls and line separators that could\n"
         "reorder a row), so no name can forge a row or drive the terminal; --json and\n"
         "--csv keep them exact.\n\n"
         "Exit status: 0 on success (check: also when the answer is 'denied', unless\n"
         "--fail-if-denied: then 3), 1 when Canopy refused or failed (the reason is\n"
         "printed on stderr), 2 for usage errors (unknown flag, missing argument).\n\n"
         "commands:\n";
  size_t width = 0;  // the longest name, and two spaces before the summary
  for (const Command& c : Commands()) width = std::max(width, std::strlen(c.name) + 2);
  for (const Command& c : Commands()) {
    out << "  " << c.name;
    for (size_t i = std::strlen(c.name); i < width; ++i) out << ' ';
    out << c.summary << "\n";
  }
  out << "\nRun 'canopy COMMAND --help' for a command's own flags.\n";
}

// What a command printed must reach standard output: a full disk or a
// closed file behind a redirect is a failure (exit 1), never a silent
// success with the output cut short.
int Finished(int rc) {
  std::cout.flush();
  errno = 0;
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) != 0 || std::cout.bad();
  if (!failed) return rc;
  // The reason, when the last write is the one that failed (an earlier
  // failure's errno is gone by now).
  const int err = errno;
  std::cerr << "canopy: cannot write to standard output"
            << (err != 0 ? std::string(" (") + std::strerror(err) + ")" : std::string())
            << ": the output is incomplete\n";
  return rc == canopy::cli::kExitOk ? canopy::cli::kExitFailed : rc;
}

}  // namespace

int main(int argc, char** argv) {
  Context ctx;
  // The global flags, parsed with CLI11 up to the command name; the command
  // and its arguments are what CLI11 leaves (a prefix command).
  std::vector<std::string> rest;
  try {
    CLI::App app;
    app.set_help_flag();
    app.prefix_command();
    std::vector<std::string> db, actor, etcd, prefix, checkpoints;
    canopy::cli11::AddValued(app, "db", &db);
    canopy::cli11::AddValued(app, "actor", &actor);
    canopy::cli11::AddValued(app, "etcd", &etcd);
    canopy::cli11::AddValued(app, "prefix", &prefix);
    canopy::cli11::AddValued(app, "checkpoints", &checkpoints);
    CLI::Option* json = canopy::cli11::AddBoolean(app, "json");
    CLI::Option* csv = canopy::cli11::AddBoolean(app, "csv");
    CLI::Option* read_only = canopy::cli11::AddBoolean(app, "read-only");
    CLI::Option* follower = canopy::cli11::AddBoolean(app, "follower");
    CLI::Option* help = app.add_flag("-h,--help")->disable_flag_override();
    CLI::Option* version = canopy::cli11::AddBoolean(app, "version");
    rest = canopy::cli::ParseWithCli11(app, std::vector<std::string>(argv + 1, argv + argc),
                                       {"db", "actor", "etcd", "prefix", "checkpoints"});
    // Each setter refuses a second or an empty value.
    for (const auto& v : db) ctx.SetDb(v);
    for (const auto& v : actor) ctx.SetActor(v);
    for (const auto& v : etcd) ctx.SetEtcd(v);
    for (const auto& v : prefix) ctx.SetPrefix(v);
    for (const auto& v : checkpoints) ctx.SetCheckpoints(v);
    if (json->count() > 0) ctx.SetJson();
    if (csv->count() > 0) ctx.SetCsv();
    if (read_only->count() > 1) throw UsageError{"--read-only is given more than once"};
    ctx.read_only = read_only->count() > 0;
    if (follower->count() > 1) throw UsageError{"--follower is given more than once"};
    ctx.follower = follower->count() > 0;
    if (!rest.empty() && !canopy::cli11::UnknownFlag(rest[0]).empty()) {
      throw UsageError{canopy::cli11::UnknownFlag(rest[0])};
    }
    if (help->count() > 0 || (!rest.empty() && rest[0] == "help")) {
      // canopy help COMMAND: that command's help, as canopy COMMAND --help.
      if (help->count() == 0 && rest.size() == 2) {
        for (const Command& c : Commands()) {
          if (rest[1] == c.name) {
            std::cout << c.usage;
            return Finished(canopy::cli::kExitOk);
          }
        }
        throw UsageError{"unknown command '" + rest[1] + "'"};
      }
      if (help->count() == 0 && rest.size() > 2) throw UsageError{"help takes one command name"};
      PrintHelp(std::cout);
      return Finished(canopy::cli::kExitOk);
    }
    if (version->count() > 0) {
      if (!rest.empty()) throw UsageError{"--version takes no command or argument"};
      if (csv->count() > 0) throw UsageError{"--version prints no table: it takes no --csv"};
      if (json->count() > 0) {
        std::cout << canopy::JsonObject()
                         .Str("version", canopy::Version())
                         .Uint("storage_format", canopy::kStorageFormatVersion)
                         .str()
                  << "\n";
      } else {
        std::cout << "canopy " << canopy::Version() << " (storage format "
                  << canopy::kStorageFormatVersion << ")\n";
      }
      return Finished(canopy::cli::kExitOk);
    }
    ctx.CheckGlobals();
  } catch (const UsageError& e) {
    std::cerr << "canopy: " << canopy::cli::Printable(e.message)
              << "\nRun 'canopy --help' for usage.\n";
    return canopy::cli::kExitUsage;
  }
  if (rest.empty()) {
    PrintHelp(std::cerr);
    return canopy::cli::kExitUsage;
  }
  const std::string name = rest[0];
  const Command* command = nullptr;
  for (const Command& c : Commands()) {
    if (name == c.name) command = &c;
  }
  if (command == nullptr) {
    std::cerr << "canopy: unknown command '" << canopy::cli::Printable(name)
              << "'\nRun 'canopy --help' for usage.\n";
    return canopy::cli::kExitUsage;
  }
  Args args(std::vector<std::string>(rest.begin() + 1, rest.end()), &ctx);
  // --help anywhere before "--" shows the command's (or its group's) help,
  // also after a subcommand name (canopy account create --help).
  for (size_t k = 1; k < rest.size() && !command->own_help && rest[k] != "--"; ++k) {
    if (rest[k] == "--help" || rest[k] == "-h") {
      std::cout << command->usage;
      return Finished(canopy::cli::kExitOk);
    }
  }
  int rc = canopy::cli::kExitOk;
  try {
    rc = command->run(ctx, args);
  } catch (const UsageError& e) {
    // The synopsis (the usage text up to its first blank line) and a pointer
    // to the full text keep the error itself in view.
    std::string usage = command->usage;
    usage = usage.substr(0, usage.find("\n\n") + 1);
    std::cerr << "canopy " << command->name << ": " << canopy::cli::Printable(e.message) << "\n"
              << usage << "Run 'canopy " << command->name << " --help' for every flag.\n";
    rc = canopy::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "canopy: internal error: " << e.what() << "\n";
    rc = canopy::cli::kExitFailed;
  }
  // A refused command leaves no new database folder behind.
  if (rc != canopy::cli::kExitOk) ctx.DiscardIfCreated();
  return Finished(rc);
}
