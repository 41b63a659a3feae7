// Copyright (c) Canopy authors.
//
// canopy [--db DIR] [--json] [--actor LOGIN] [--etcd URLS [--prefix P]] COMMAND [ARGS...]

#include <cstring>
#include <exception>

#include "bindings/cli/cli.h"
#include "bindings/cli/output.h"
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
         "usage: canopy [--db DIR] [--json] [--actor LOGIN] [--read-only]\n"
         "              [--etcd URLS [--prefix P]] COMMAND [ARGS...]\n\n"
         "global flags:\n"
         "  --db DIR       the database folder (default ./canopy-data)\n"
         "  --json         machine-readable output: one JSON object per line\n"
         "  --actor LOGIN  the user performing mutations (default: the system actor)\n"
         "  --etcd URLS    open the database as a replica of the change log kept in\n"
         "                 etcd at these client URLs (comma-separated); every command\n"
         "                 then reads the local replica and writes through etcd\n"
         "  --prefix P     the etcd key prefix of that log (default canopy)\n"
         "  --checkpoints DIR  where replicas write checkpoints and a new replica\n"
         "                 starts from the newest one\n"
         "  --read-only    open the database read-only, beside a process that has it\n"
         "                 open for writing: a view as of now; mutations are refused.\n"
         "                 Chosen by itself (with a note on stderr) when the database\n"
         "                 is in use by another process\n"
         "  --version      print the library and storage-format versions\n"
         "  --help         this text; 'canopy COMMAND --help' describes a command's flags\n"
         "--json and --actor may also follow the command name\n"
         "(canopy visible --user x --json). --db and --actor may be given once each\n"
         "and never empty; a flag of a command that takes one value may be given once.\n"
         "Text output prints control characters of stored names escaped (\\n, \\x1b...),\n"
         "so no name can forge a row or drive the terminal; --json keeps them exact.\n\n"
         "Exit status: 0 on success (check: also when the answer is 'denied', unless\n"
         "--fail-if-denied: then 3), 1 when Canopy refused or failed (the reason is\n"
         "printed on stderr), 2 for usage errors (unknown flag, missing argument).\n\n"
         "commands:\n";
  for (const Command& c : Commands()) {
    out << "  " << c.name;
    for (size_t i = std::strlen(c.name); i < 10; ++i) out << ' ';
    out << c.summary << "\n";
  }
  out << "\nRun 'canopy COMMAND --help' for a command's own flags.\n";
}

}  // namespace

int main(int argc, char** argv) {
  Context ctx;
  std::vector<std::string> rest;
  int i = 1;
  try {
    for (; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&](const std::string& flag) -> std::string {
        if (auto eq = a.find('='); eq != std::string::npos) return a.substr(eq + 1);
        if (i + 1 >= argc) throw UsageError{flag + " needs a value"};
        return argv[++i];
      };
      if (a == "--db" || a.rfind("--db=", 0) == 0) {
        ctx.SetDb(value("--db"));
      } else if (a == "--actor" || a.rfind("--actor=", 0) == 0) {
        ctx.SetActor(value("--actor"));
      } else if (a == "--etcd" || a.rfind("--etcd=", 0) == 0) {
        ctx.SetEtcd(value("--etcd"));
      } else if (a == "--prefix" || a.rfind("--prefix=", 0) == 0) {
        ctx.SetPrefix(value("--prefix"));
      } else if (a == "--checkpoints" || a.rfind("--checkpoints=", 0) == 0) {
        ctx.SetCheckpoints(value("--checkpoints"));
      } else if (a == "--json") {
        ctx.json = true;
      } else if (a == "--read-only") {
        if (ctx.read_only) throw UsageError{"--read-only is given more than once"};
        ctx.read_only = true;
      } else if (a == "--help" || a == "-h" || a == "help") {
        PrintHelp(std::cout);
        return canopy::cli::kExitOk;
      } else if (a == "--version") {
        std::cout << "canopy " << canopy::Version() << " (storage format "
                  << canopy::kStorageFormatVersion << ")\n";
        return canopy::cli::kExitOk;
      } else if (a.size() > 1 && a[0] == '-') {
        throw UsageError{"unknown flag " + a};
      } else {
        break;
      }
    }
    ctx.CheckGlobals();
  } catch (const UsageError& e) {
    std::cerr << "canopy: " << canopy::cli::Printable(e.message)
              << "\nRun 'canopy --help' for usage.\n";
    return canopy::cli::kExitUsage;
  }
  if (i >= argc) {
    PrintHelp(std::cerr);
    return canopy::cli::kExitUsage;
  }
  std::string name = argv[i++];
  const Command* command = nullptr;
  for (const Command& c : Commands()) {
    if (name == c.name) command = &c;
  }
  if (command == nullptr) {
    std::cerr << "canopy: unknown command '" << canopy::cli::Printable(name)
              << "'\nRun 'canopy --help' for usage.\n";
    return canopy::cli::kExitUsage;
  }
  Args args(std::vector<std::string>(argv + i, argv + argc), &ctx);
  for (int k = i; k < argc && !command->own_help; ++k) {
    if (std::strcmp(argv[k], "--help") == 0 || std::strcmp(argv[k], "-h") == 0) {
      std::cout << command->usage;
      return canopy::cli::kExitOk;
    }
  }
  try {
    return command->run(ctx, args);
  } catch (const UsageError& e) {
    // The synopsis (the usage text up to its first blank line) and a pointer
    // to the full text keep the error itself in view.
    std::string usage = command->usage;
    usage = usage.substr(0, usage.find("\n\n") + 1);
    std::cerr << "canopy " << command->name << ": " << canopy::cli::Printable(e.message) << "\n"
              << usage << "Run 'canopy " << command->name << " --help' for every flag.\n";
    return canopy::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "canopy: internal error: " << e.what() << "\n";
    return canopy::cli::kExitFailed;
  }
}
