// Copyright (c) Canopy authors.
//
// The `canopy` command line: shared pieces of its commands — argument
// parsing, the open database, output helpers. Each command lives in its own
// file and registers itself in commands.cc.
//
// Conventions: errors go to stderr, prefixed "canopy: "; exit status 0 on
// success, 1 when Canopy refused or failed (the Status message is printed),
// 2 for usage errors (unknown flag, missing argument). --json switches
// output to one JSON object per line.

#ifndef CANOPY_BINDINGS_CLI_CLI_H_
#define CANOPY_BINDINGS_CLI_CLI_H_

#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "canopy/db.h"

namespace canopy::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// A usage error: printed with the command's usage line, exit status 2.
struct UsageError {
  std::string message;
};

// The arguments after the command name: flags (--name value, --name=value,
// or boolean --name) and positionals. A command declares what it accepts;
// anything else is a usage error.
class Args {
 public:
  Args(std::vector<std::string> raw) : raw_(std::move(raw)) {}
  // Declares the flags: `valued` take a value, `booleans` do not. Parses
  // and throws UsageError on unknown flags or missing values.
  void Parse(const std::set<std::string>& valued, const std::set<std::string>& booleans);
  std::optional<std::string> Get(const std::string& flag) const;
  std::string Require(const std::string& flag) const;
  bool Has(const std::string& flag) const { return booleans_.count(flag) > 0; }
  const std::vector<std::string>& positionals() const { return positionals_; }
  // The positional at `i`, or a UsageError naming `what`.
  std::string Positional(size_t i, const std::string& what) const;
  // Throws UsageError when more than `n` positionals were given.
  void AtMost(size_t n) const;
  bool help() const { return help_; }

 private:
  std::vector<std::string> raw_;
  std::map<std::string, std::string> values_;
  std::set<std::string> booleans_;
  std::vector<std::string> positionals_;
  bool help_ = false;
};

struct Context {
  std::string db_path = "./canopy-data";
  bool json = false;
  std::string actor_login;  // empty: the system actor
  std::unique_ptr<Db> db;   // opened on first use
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;

  // Opens the database (creating it when `create`). On failure prints the
  // error and returns false.
  bool Open(bool create = true);
  // The --actor as an Actor; prints and returns false on an unknown login.
  bool ResolveActor(Actor* actor);
  // Prints "canopy: <status>" to err and returns kExitFailed.
  int Fail(const Status& s) const;
  int Fail(const std::string& message) const;
};

struct Command {
  const char* name;
  const char* summary;  // one line for `canopy --help`
  const char* usage;    // the full help text of `canopy NAME --help`
  int (*run)(Context& ctx, Args& args);
};
const std::vector<Command>& Commands();

// Lookups that print a clear error themselves and return false.
bool FindAccount(Context& ctx, const std::string& key, Account* out);
bool FindUser(Context& ctx, const std::string& login, User* out);

// Splits "a,b,c" (empty parts dropped).
std::vector<std::string> SplitList(const std::string& s);
// A JSON string literal.
std::string Json(std::string_view s);
// "YYYY-MM-DDTHH:MM:SSZ" from microseconds since the epoch.
std::string FormatTime(int64_t micros);

}  // namespace canopy::cli

#endif  // CANOPY_BINDINGS_CLI_CLI_H_
