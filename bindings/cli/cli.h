// Copyright (c) Canopy authors.
//
// The `canopy` command line: shared pieces of its commands — argument
// parsing, the open database, look-ups that print their own errors. Each
// command (or command group) lives in its own file and registers itself in
// commands.cc; output helpers are in output.h.
//
// Conventions: errors go to stderr, prefixed "canopy: "; exit status 0 on
// success, 1 when Canopy refused or failed (the Status message is printed),
// 2 for usage errors (unknown flag, missing argument), 3 for check
// --fail-if-denied when the answer is "denied". --json switches output to
// one JSON object per line, --csv prints listings as CSV. Flags are parsed
// with CLI11 (ParseWithCli11).

#ifndef CANOPY_BINDINGS_CLI_CLI_H_
#define CANOPY_BINDINGS_CLI_CLI_H_

#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "canopy/db.h"

namespace CLI {
class App;
}  // namespace CLI

namespace canopy::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDenied = 3;  // check --fail-if-denied: the answer was "denied"

// A usage error: printed with the command's usage text, exit status 2.
struct UsageError {
  std::string message;
};

struct Context;

// The arguments after the command name: flags (--name value, --name=value,
// or boolean --name) and positionals, parsed with CLI11. A command declares
// what it accepts; anything else is a usage error naming it. The global
// --json, --csv and --actor LOGIN are also accepted here (after the command
// name) when the Args were given the Context to set them on.
class Args {
 public:
  explicit Args(std::vector<std::string> raw, Context* globals = nullptr)
      : raw_(std::move(raw)), globals_(globals) {}
  // The arguments as given, for commands that pass them on (bench).
  const std::vector<std::string>& raw() const { return raw_; }
  // Removes and returns the first argument as the subcommand of a command
  // group (`canopy account create ...`); the global flags that may follow
  // the command name (--json, --csv, --actor LOGIN) may come before it and
  // stay for Parse. Throws UsageError listing `known` when it is missing,
  // a flag, or not one of them.
  std::string Subcommand(const std::vector<std::string>& known);
  // What a (sub)command prints: kTable for listings, which may also be
  // printed as CSV (--csv); kOther refuses --csv; kText (text alone, no
  // JSON form) refuses --csv and --json.
  enum class Output { kOther, kTable, kText };
  // Declares the flags: `valued` take a value (a single-valued one may be
  // given once: see Get), `booleans` do not. Parses, and throws UsageError
  // on unknown flags, missing values, a value given to a boolean, --csv
  // where `output` is not kTable, or --json where it is kText.
  void Parse(const std::set<std::string>& valued, const std::set<std::string>& booleans,
             Output output = Output::kOther);
  // The value given for a valued flag; UsageError when it was given twice.
  std::optional<std::string> Get(const std::string& flag) const;
  // Every value given for a repeatable flag, in order.
  std::vector<std::string> GetAll(const std::string& flag) const;
  std::string Require(const std::string& flag) const;
  bool Has(const std::string& flag) const { return booleans_.count(flag) > 0; }
  const std::vector<std::string>& positionals() const { return positionals_; }
  // The positional at `i`, or a UsageError naming `what`.
  std::string Positional(size_t i, const std::string& what) const;
  // The same for a file or folder: an empty one is a UsageError too.
  std::string Path(size_t i, const std::string& what) const;
  // Throws UsageError when more than `n` positionals were given.
  void AtMost(size_t n) const;

 private:
  std::vector<std::string> raw_;
  Context* globals_;
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> booleans_;
  std::vector<std::string> positionals_;
};

// Parses `args` (in order, without the program or command name) with a
// CLI11 app whose options are declared (`valued`: the names of those that
// take a value, without dashes) and returns what it could not place:
// unknown flags, and what follows the command name when `app` is a prefix
// command. Translates CLI11's errors into UsageErrors naming the flag
// ("--user needs a value", "--count takes no value"). Shared by the global
// flags (main.cc) and the commands (Args::Parse).
std::vector<std::string> ParseWithCli11(CLI::App& app, const std::vector<std::string>& args,
                                        const std::set<std::string>& valued);

struct Context {
  std::string db_path = "./canopy-data";
  bool json = false;  // --json: JSON Lines
  bool csv = false;   // --csv: listings as CSV (RFC 4180)
  // Records --json / --csv: they exclude each other (a usage error).
  void SetJson();
  void SetCsv();
  std::string actor_login;  // empty: the system actor
  bool actor_given = false;  // --actor seen (it may be given once, not empty)
  bool db_given = false;     // --db seen (likewise)
  // --read-only, or chosen by Open when another process holds the database
  // or its folder cannot be written (a full disk, a read-only mount).
  bool read_only = false;
  // --follower (Options::follower), or chosen by Open instead of read_only
  // when another process holds the database and follow_ms is set.
  bool follower = false;
  // A command that follows the database (canopy log --follow) sets this
  // before Open: a follower then catches up this often (and a busy
  // database is opened as a follower rather than read-only).
  uint32_t follow_ms = 0;
  // A command that only reads and follows (log --follow) sets this: Open
  // then tries a follower first, so it never holds the folder's lock and
  // keeps writers (other processes) out; it opens as usual when a
  // follower cannot (no database yet, one to upgrade first).
  bool prefer_follower = false;
  // A command that only reads, and may read for long (check-db, export),
  // sets this: Open then tries a read-only open first (a view as of now),
  // so that it never holds the folder's lock and keeps writers (other
  // processes) out meanwhile; it opens as usual when a read-only open
  // cannot (no database yet, one to upgrade first).
  bool prefer_read_only = false;
  // Records --actor / --db: a usage error when given twice or empty, so a
  // wrapper passing an empty variable never runs as the system actor.
  void SetActor(const std::string& login);
  void SetDb(const std::string& path);
  // Replication (--etcd URL[,URL...], --prefix P, --checkpoints DIR): each
  // once and never empty; --prefix and --checkpoints only with --etcd.
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix;
  std::string checkpoint_dir;
  void SetEtcd(const std::string& urls);
  void SetPrefix(const std::string& prefix);
  void SetCheckpoints(const std::string& dir);
  // Usage error when --prefix or --checkpoints came without --etcd.
  void CheckGlobals() const;
  std::unique_ptr<Db> db;   // opened on first use
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;

  // Opens the database (creating it when `create`, but never for an
  // --actor, who cannot exist in a new database) and resolves the --actor:
  // from then on every look-up and every name printed is what the actor
  // may see. On failure prints the error and returns false.
  bool Open(bool create = true);
  // Why the last Open failed to open the database (Ok: it opened, or it
  // failed after, e.g. looking up the actor).
  Status open_error;
  // Closes the database and opens it again as before (never creating it):
  // for a read-only view, a fresh one. Prints and returns false on failure.
  bool Reopen();
  // The options Open and Reopen open with (`create`: may create it).
  Options OpenOptions(bool create) const;
  // With the database open: resolves --actor (when given) into `actor`;
  // prints, closes and returns false when the login is unknown.
  bool LookUpActor();
  // The resolved --actor (opening the database first if needed); prints and
  // returns false on an unknown login.
  bool ResolveActor(Actor* actor);
  // For commands that read or change the whole database (import, export,
  // check-db, checkpoint, replica, demo): false, after printing why, when
  // an --actor was given.
  bool RequireSystem(const char* command) const;
  Actor actor = Actor::System();  // the resolved --actor (system until then)
  // Prints "canopy: <status>" to err and returns kExitFailed.
  int Fail(const Status& s) const;
  int Fail(const std::string& message) const;
  // After a command failed: when Open created the database (the folder did
  // not exist, or was empty) and nothing was committed to it, closes it and
  // removes what it created (the folder, or its contents), so that a
  // refused command leaves no new database behind. Not for a replica,
  // whose folder joins the log in etcd on first use.
  void DiscardIfCreated();

 private:
  enum class Created { kNo, kFolder, kContents };
  Created created_ = Created::kNo;
  // Why Open fell back to read-only (or follower); empty when it did not.
  std::string read_only_because_;
};

struct Command {
  const char* name;
  const char* summary;  // one line for `canopy --help`
  const char* usage;    // the full help text of `canopy NAME --help`
  int (*run)(Context& ctx, Args& args);
  bool own_help = false;  // the command answers --help itself (bench)
};
const std::vector<Command>& Commands();

// Lookups that print a clear error themselves and return false. They look
// as ctx.actor: what the actor cannot see is "no account with key ...",
// exactly like a missing one.
bool FindAccount(Context& ctx, const std::string& key, Account* out);
bool FindUser(Context& ctx, const std::string& login, User* out);
// The failure of a query whose every argument came from the command's
// flags (check, who-can, visible, log): its InvalidArgument (an unknown
// permission or record type, a permission of another kind, a malformed
// cursor) names a flag's value, so it is a usage error (exit 2); any other
// failure is ctx.Fail's.
int FailQuery(Context& ctx, const Status& s);
// What a mutation that succeeded prints: `done`, or, when it committed
// nothing (the database's revision still `before`: what it asked already
// was so), "<already> (nothing changed)".
std::string DoneOrUnchanged(const Context& ctx, uint64_t before, const std::string& done,
                            const std::string& already);
// The group `name` of kind `kind` owned by the account `owner_key`.
bool FindGroup(Context& ctx, const std::string& owner_key, GroupKind kind, const std::string& name,
               Group* out);
// A role by name as seen from `account` (built-in, or a custom role of the
// account's root tenant).
bool FindRole(Context& ctx, AccountId account, const std::string& name, Role* out);

// The user a question is about (--user of visible and check): required
// without --actor; with --actor it is the actor, and --user may only name
// the actor (a user answers for itself). Throws UsageError otherwise.
std::string QuestionUser(const Context& ctx, const Args& args, const char* command);

// Long commands (log --follow, import, export, backup, restore) end cleanly
// on SIGINT or SIGTERM: after CatchStopSignals, StopRequested turns true on
// the first such signal, which the command checks between steps (a
// cancelled import, export, backup or restore leaves nothing behind). A second signal ends the process as
// if none were caught.
void CatchStopSignals();
bool StopRequested();

// Resolves engine ids to external keys and names for output, caching each
// answer (a listing names the same few owners again and again). An id that
// no longer resolves prints as "#<id>".
// Names are resolved as ctx.actor: an account, user, entity or custom role
// it may not see prints as kHidden, "(hidden)".
class Names {
 public:
  explicit Names(const Context& ctx) : db_(*ctx.db), viewer_(ctx.actor) {}
  const std::string& AccountKey(AccountId id);
  const std::string& RoleName(RoleId id);
  const std::string& Login(UserId id);
  const std::string& EntityKey(EntityId id);

 private:
  const Db& db_;
  Actor viewer_;
  std::unordered_map<AccountId, std::string> accounts_;
  std::unordered_map<RoleId, std::string> roles_;
  std::unordered_map<UserId, std::string> logins_;
  std::unordered_map<EntityId, std::string> entities_;
};

// ---- Argument values ----------------------------------------------------
// Each throws UsageError naming the flag when the value is malformed.

// A decimal number in [lo, hi], or nullopt when the flag is absent.
std::optional<uint64_t> GetNumber(const Args& args, const std::string& flag, uint64_t lo,
                                  uint64_t hi);
// "on" / "off" (also true/false, yes/no), or nullopt when absent.
std::optional<bool> GetOnOff(const Args& args, const std::string& flag);
// The entity kind of --kind (default: device).
EntityKind GetKind(const Args& args);
// "NAME=VALUE" split at the first '='; the name must not be empty.
std::pair<std::string, std::string> SplitAssignment(const std::string& flag,
                                                    const std::string& text);
// Every --<flag> NAME=VALUE, as attributes; a name given twice is a
// UsageError.
Attributes GetAttributes(const Args& args, const std::string& flag);
// The attributes an update leaves: `current` less the --remove-attribute
// names, plus the --attribute ones. NotFound (naming `what`, e.g.
// "device 'd1'") for a removed name `current` lacks; a name both set and
// removed, or removed twice, is a UsageError.
Status UpdatedAttributes(const Attributes& current, const Attributes& set,
                         const std::vector<std::string>& remove, const std::string& what,
                         Attributes* out);

// Appends the references of the file `path` (--from-file), one per line:
// surrounding blanks trimmed, blank lines and '#' comments skipped, a
// UTF-8 byte order mark ignored. False (the failure reported on ctx) when
// it cannot be opened or read.
bool ReadRefs(Context& ctx, const std::string& path, std::vector<std::string>* refs);
// Splits the value of `flag`, "a,b,c", into its items. "" is no items (the
// caller says what is missing); an empty item ("a,,b", "a,") is a
// UsageError naming the flag.
std::vector<std::string> SplitList(const std::string& flag, const std::string& s);
// "YYYY-MM-DDTHH:MM:SSZ" from microseconds since the epoch.
std::string FormatTime(int64_t micros);

}  // namespace canopy::cli

#endif  // CANOPY_BINDINGS_CLI_CLI_H_
