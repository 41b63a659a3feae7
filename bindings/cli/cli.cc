// Copyright (c) Canopy authors.

#include "cli.h"

#include "cli11_flags.h"
#include "output.h"

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "canopy/json.h"

namespace canopy::cli {

std::string Args::Subcommand(const std::vector<std::string>& known) {
  std::string list;
  for (size_t i = 0; i < known.size(); ++i) list += (i ? ", " : "") + known[i];
  // The global flags that may follow the command name may come before the
  // subcommand (canopy account --json list): skipped here, parsed with
  // the subcommand's flags.
  size_t at = 0;
  if (globals_ != nullptr) {
    while (at < raw_.size()) {
      const std::string& a = raw_[at];
      if (a == "--json" || a == "--csv" || a.starts_with("--actor=")) {
        ++at;
      } else if (a == "--actor" && at + 1 < raw_.size()) {
        at += 2;
      } else {
        break;
      }
    }
  }
  if (at >= raw_.size() || raw_[at].empty() || raw_[at][0] == '-') {
    throw UsageError{"missing subcommand (one of: " + list + ")"};
  }
  std::string sub = raw_[at];
  bool ok = false;
  for (const auto& k : known) ok |= k == sub;
  if (!ok) throw UsageError{"unknown subcommand '" + sub + "' (one of: " + list + ")"};
  raw_.erase(raw_.begin() + static_cast<std::ptrdiff_t>(at));
  return sub;
}

std::vector<std::string> ParseWithCli11(CLI::App& app, const std::vector<std::string>& args,
                                        const std::set<std::string>& valued) {
  try {
    return cli11::Parse(app, args, valued);
  } catch (const cli11::FlagError& e) {
    throw UsageError{e.message};
  }
}

void Args::Parse(const std::set<std::string>& valued, const std::set<std::string>& booleans,
                 Output output) {
  CLI::App app;
  app.set_help_flag();  // main prints the command's help for --help and -h
  app.allow_extras();   // unknown flags are reported below, by name
  std::map<std::string, CLI::Option*> flags;
  // Every occurrence is kept: Get refuses a single-valued flag given twice.
  for (const std::string& name : valued) cli11::AddValued(app, name, &values_[name]);
  for (const std::string& name : booleans) flags[name] = cli11::AddBoolean(app, name);
  // The global flags that may also follow the command name.
  std::set<std::string> all_valued = valued;
  std::vector<std::string> actors;
  CLI::Option* json = nullptr;
  CLI::Option* csv = nullptr;
  if (globals_ != nullptr) {
    if (!valued.count("actor") && !booleans.count("actor")) {
      cli11::AddValued(app, "actor", &actors);
      all_valued.insert("actor");
    }
    if (!valued.count("json") && !booleans.count("json")) {
      json = cli11::AddBoolean(app, "json");
    }
    if (!valued.count("csv") && !booleans.count("csv")) {
      csv = cli11::AddBoolean(app, "csv");
    }
  }
  app.add_option("ARGS", positionals_);  // also everything after "--"
  for (const std::string& rest : ParseWithCli11(app, raw_, all_valued)) {
    if (rest == "--") continue;
    if (std::string unknown = cli11::UnknownFlag(rest); !unknown.empty()) throw UsageError{unknown};
    positionals_.push_back(rest);
  }
  for (const auto& [name, flag] : flags) {
    if (flag->count() > 0) booleans_.insert(name);
  }
  for (auto it = values_.begin(); it != values_.end();) {
    it = it->second.empty() ? values_.erase(it) : std::next(it);
  }
  if (globals_ != nullptr) {
    for (const std::string& login : actors) globals_->SetActor(login);
    if (json != nullptr && json->count() > 0) globals_->SetJson();
    if (csv != nullptr && csv->count() > 0) globals_->SetCsv();
    if (globals_->csv && output != Output::kTable) {
      throw UsageError{
          "--csv is for listings (tree, account list, user list, role list, group list, "
          "visible, who-can); this command prints no table"};
    }
    if (globals_->json && output == Output::kText) {
      throw UsageError{"--json: this command prints text only, with no JSON form"};
    }
  }
}

std::optional<std::string> Args::Get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  try {
    return cli11::Single(flag, it->second);
  } catch (const cli11::FlagError& e) {
    throw UsageError{e.message};
  }
}

std::vector<std::string> Args::GetAll(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return {};
  return it->second;
}

std::string Args::Require(const std::string& flag) const {
  auto v = Get(flag);
  if (!v) throw UsageError{"--" + flag + " is required"};
  return *v;
}

std::string Args::Positional(size_t i, const std::string& what) const {
  if (i >= positionals_.size()) throw UsageError{"missing " + what};
  return positionals_[i];
}

std::string Args::Path(size_t i, const std::string& what) const {
  std::string path = Positional(i, what);
  if (path.empty()) throw UsageError{what + " is empty"};
  return path;
}

void Args::AtMost(size_t n) const {
  if (positionals_.size() > n) throw UsageError{"unexpected argument '" + positionals_[n] + "'"};
}

bool Context::Reopen() {
  if (db) {
    Status s = db->Close();
    db.reset();
    if (!s.ok()) {
      Fail(s);
      return false;
    }
  }
  // Db::Open itself tries again while the writer replaces files.
  Status s = Db::Open(OpenOptions(false), db_path, &db);
  if (!s.ok()) {
    db.reset();
    Fail(s);
    return false;
  }
  return LookUpActor();  // again, in the new view
}

Options Context::OpenOptions(bool create) const {
  Options o;
  // A replica's folder is created on first use: it joins the log in etcd.
  o.create_if_missing = (create && !actor_given) || !etcd_endpoints.empty();
  o.replication.etcd_endpoints = etcd_endpoints;
  if (!etcd_prefix.empty()) o.replication.prefix = etcd_prefix;
  o.replication.checkpoint_dir = checkpoint_dir;
  o.read_only = read_only;
  o.follower = follower;
  if (follower) o.follower_catch_up_ms = follow_ms;
  return o;
}

bool Context::Open(bool create) {
  if (db) return true;
  Options o = OpenOptions(create);
  if (o.create_if_missing && etcd_endpoints.empty()) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(db_path, ec) && !ec) {
      created_ = Created::kFolder;
    } else if (fs::is_directory(db_path, ec) && fs::is_empty(db_path, ec) && !ec) {
      created_ = Created::kContents;
    }
  }
  // A reader that never holds the folder's lock (a follower, or a
  // read-only view) when the command prefers one and it opens.
  if ((prefer_follower || prefer_read_only) && !read_only && !follower &&
      etcd_endpoints.empty()) {
    Options view = o;
    view.create_if_missing = false;
    if (prefer_follower) {
      view.follower = true;
      view.follower_catch_up_ms = follow_ms;
    } else {
      view.read_only = true;
    }
    if (Db::Open(view, db_path, &db).ok()) {
      (prefer_follower ? follower : read_only) = true;
      return LookUpActor();
    }
    db.reset();  // opened as usual below, which says what is wrong
  }
  Status s = Db::Open(o, db_path, &db);
  // Why a database that exists cannot be opened for writing, when reading
  // it is still possible: another process (a service) has it open for
  // writing, or the folder cannot be written (a full disk, a read-only
  // mount, no permission).
  std::string why_not_writable;
  if (s.code() == Code::kIOError && !read_only && !follower && etcd_endpoints.empty()) {
    const std::string& m = s.message();
    if (m.find("in use by another process") != std::string::npos &&
        m.find("being created") == std::string::npos) {
      why_not_writable = "the database is in use by another process";
    } else if (created_ == Created::kNo && follow_ms == 0) {
      // (Not for a command that follows, such as the console's server: it
      // would go on serving a database it can never write to.)
      for (const char* reason : {"No space left on device", "Read-only file system",
                                 "Permission denied", "Disk quota exceeded"}) {
        if (m.find(reason) != std::string::npos) {
          why_not_writable = std::string("the database folder cannot be written (") + reason + ")";
          break;
        }
      }
    }
  }
  if (!why_not_writable.empty()) {
    // Read what is committed, and say so; a mutation is then refused as
    // read-only. A command that follows the database follows the writing
    // process as a follower instead.
    const bool as_follower = follow_ms > 0;
    if (as_follower) {
      o.follower = true;
      o.follower_catch_up_ms = follow_ms;
    } else {
      o.read_only = true;
    }
    Status ro = Db::Open(o, db_path, &db);
    if (ro.ok()) {
      (as_follower ? follower : read_only) = true;
      *err << "canopy: note: " << Printable(why_not_writable) << "; opened "
           << (as_follower ? "as a follower (following that process's writes)\n"
                           : "read-only (a view as of now)\n");
      read_only_because_ = why_not_writable;
    } else {
      // Say why it was not opened for writing, then why not read-only.
      *err << "canopy: note: opening for writing failed: " << s.message() << "\n";
    }
    s = ro.ok() ? ro
                : ro.WithContext(why_not_writable + "; " +
                                 (as_follower ? "following it as a follower failed"
                                              : "reading it read-only failed"));
  }
  if (!s.ok()) {
    open_error = s;
    Fail(s);
    if (!etcd_endpoints.empty() && s.code() == Code::kIOError &&
        s.message().find("in use by another process") != std::string::npos) {
      // Not read-only by itself: a replica applies the log, so it opens
      // for writing or not at all.
      *err << "canopy: another process has this replica's folder open (one process per "
              "replica folder): run the command in that process, give this one a folder of "
              "its own, or read the folder as it is with 'canopy --db " << Printable(db_path)
           << " --read-only ...' (without --etcd)\n";
    }
    // (A folder left by a creation cut short is "never fully created": a
    // creating command clears it and creates there.)
    std::error_code ec, empty_ec;
    if (s.IsNotFound() && !create && s.message().rfind("no database in", 0) == 0 &&
        std::filesystem::is_directory(db_path, ec) &&
        !std::filesystem::is_empty(db_path, empty_ec) && !empty_ec) {
      // A folder of other files: no command creates a database there.
      *err << "canopy: '" << Printable(db_path)
           << "' holds other files; give --db a new or empty folder to create a database\n";
    } else if (s.IsNotFound() && !create) {
      // A sub-account (--parent) or an actor (--actor) needs a database
      // that exists: the hint names the commands that start one.
      *err << "canopy: create one with a root tenant, 'canopy --db " << Printable(db_path)
           << " account create KEY --name NAME' (no --parent, no --actor), or 'canopy --db "
           << Printable(db_path) << " import FILE'\n";
    }
    return false;
  }
  return LookUpActor();
}

void Context::DiscardIfCreated() {
  if (created_ == Created::kNo || !db || db->Revision() != 0) return;
  namespace fs = std::filesystem;
  static_cast<void>(db->Close());  // a failed close changes nothing here
  db.reset();
  std::error_code ec;
  if (created_ == Created::kFolder) {
    fs::remove_all(db_path, ec);
  } else {
    for (const auto& entry : fs::directory_iterator(db_path, ec)) {
      std::error_code rm;
      fs::remove_all(entry.path(), rm);
    }
  }
  created_ = Created::kNo;
}

bool Context::LookUpActor() {
  if (!actor_given) return true;
  User u;
  actor = Actor::System();  // the actor itself is looked up unscoped
  if (!FindUser(*this, actor_login, &u)) {
    db.reset();
    return false;
  }
  actor = Actor::User(u.id);
  return true;
}

bool Context::RequireSystem(const char* command) const {
  if (!actor_given) return true;
  Fail(Status::PermissionDenied(std::string(command) +
                                " runs as the system actor only: leave out --actor"));
  return false;
}

void Context::SetJson() {
  if (csv) throw UsageError{"--json and --csv exclude each other"};
  json = true;
}

void Context::SetCsv() {
  if (json) throw UsageError{"--json and --csv exclude each other"};
  csv = true;
}

void Context::SetActor(const std::string& login) {
  if (actor_given) throw UsageError{"--actor is given more than once"};
  if (login.empty()) {
    throw UsageError{"--actor needs a login (leave the flag out to act as the system)"};
  }
  actor_given = true;
  actor_login = login;
}

void Context::SetDb(const std::string& path) {
  if (db_given) throw UsageError{"--db is given more than once"};
  if (path.empty()) throw UsageError{"--db needs a folder"};
  db_given = true;
  db_path = path;
}

void Context::SetEtcd(const std::string& urls) {
  if (!etcd_endpoints.empty()) throw UsageError{"--etcd is given more than once"};
  if (urls.empty()) throw UsageError{"--etcd needs URLs separated by commas"};
  etcd_endpoints = SplitList("--etcd", urls);
}

void Context::SetPrefix(const std::string& prefix) {
  if (!etcd_prefix.empty()) throw UsageError{"--prefix is given more than once"};
  if (prefix.empty()) throw UsageError{"--prefix needs a value"};
  etcd_prefix = prefix;
}

void Context::SetCheckpoints(const std::string& dir) {
  if (!checkpoint_dir.empty()) throw UsageError{"--checkpoints is given more than once"};
  if (dir.empty()) throw UsageError{"--checkpoints needs a folder"};
  checkpoint_dir = dir;
}

void Context::CheckGlobals() const {
  if (etcd_endpoints.empty() && (!etcd_prefix.empty() || !checkpoint_dir.empty())) {
    throw UsageError{"--prefix and --checkpoints need --etcd"};
  }
  if (read_only && !etcd_endpoints.empty()) {
    throw UsageError{"--read-only does not go with --etcd (a replica applies the log)"};
  }
  if (follower && !etcd_endpoints.empty()) {
    throw UsageError{"--follower does not go with --etcd (a replica applies the log)"};
  }
  if (follower && read_only) {
    throw UsageError{"--follower and --read-only exclude each other (a follower is read-only "
                     "and catches up with the writer)"};
  }
}

bool Context::ResolveActor(Actor* actor) {
  if (!Open(false)) return false;
  *actor = this->actor;
  return true;
}

int Context::Fail(const Status& s) const {
  *err << "canopy: " << CodeName(s.code()) << ": " << Printable(ShortMessage(s.message()));
  // A mutation refused because Open fell back to read-only says why it did.
  if (!read_only_because_.empty() && s.code() == Code::kFailedPrecondition &&
      (s.message().find("open read-only") != std::string::npos ||
       s.message().find("open as a follower") != std::string::npos)) {
    *err << " (opened so because " << read_only_because_ << ")";
  }
  *err << "\n";
  return kExitFailed;
}

int Context::Fail(const std::string& message) const {
  *err << "canopy: " << Printable(message) << "\n";
  return kExitFailed;
}

std::string QuestionUser(const Context& ctx, const Args& args, const char* command) {
  const std::optional<std::string> login = args.Get("user");
  if (!ctx.actor_given) {
    if (!login) throw UsageError{"--user is required"};
    return *login;
  }
  if (login && *login != ctx.actor_login) {
    throw UsageError{std::string("with --actor, ") + command +
                     " answers for the actor itself: leave out --user or give the actor's login"};
  }
  return ctx.actor_login;
}

bool FindAccount(Context& ctx, const std::string& key, Account* out) {
  auto a = ctx.db->FindAccount(ctx.actor, key);
  if (!a.ok()) {
    ctx.Fail(a.status());
    return false;
  }
  *out = std::move(a).value();
  return true;
}

bool FindGroup(Context& ctx, const std::string& owner_key, GroupKind kind, const std::string& name,
               Group* out) {
  Account owner;
  if (!FindAccount(ctx, owner_key, &owner)) return false;
  auto g = ctx.db->FindGroup(ctx.actor, owner.id, kind, name);
  if (!g.ok()) {
    ctx.Fail(g.status());
    return false;
  }
  *out = std::move(g).value();
  return true;
}

int FailQuery(Context& ctx, const Status& s) {
  if (s.code() == Code::kInvalidArgument) throw UsageError{s.message()};
  return ctx.Fail(s);
}

std::string DoneOrUnchanged(const Context& ctx, uint64_t before, const std::string& done,
                            const std::string& already) {
  return ctx.db->Revision() == before ? already + " (nothing changed)" : done;
}

bool FindUser(Context& ctx, const std::string& login, User* out) {
  auto u = ctx.db->FindUser(ctx.actor, login);
  if (!u.ok()) {
    ctx.Fail(u.status());
    return false;
  }
  *out = std::move(u).value();
  return true;
}

bool FindRole(Context& ctx, AccountId account, const std::string& name, Role* out) {
  auto r = ctx.db->FindRole(account, name);
  // A custom role the actor does not see (its root tenant is out of
  // sight, and it does not hold it) is as unknown to it as a missing one,
  // and named as asked.
  if (r.ok() && ctx.db->GetRole(ctx.actor, r->id).status().IsNotFound()) {
    auto a = ctx.db->GetAccount(ctx.actor, account);
    r = Status::NotFound("no role '" + name + "' in the tenant of " +
                         (a.ok() ? "account '" + a->key + "'" : std::string("that account")));
  }
  if (!r.ok()) {
    ctx.Fail(r.status());
    return false;
  }
  *out = std::move(r).value();
  return true;
}

namespace {
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) {
  g_stop.store(true);
  // The next SIGINT or SIGTERM, whichever comes, acts as if none were
  // caught (sigaction is async-signal-safe).
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGINT, &dfl, nullptr);
  sigaction(SIGTERM, &dfl, nullptr);
}
}  // namespace

void CatchStopSignals() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnStopSignal;
  // A blocking call (opening a FIFO, reading a pipe) goes on after the
  // handler: the command sees the flag at its next step, instead of that
  // call failing with EINTR.
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool StopRequested() { return g_stop.load(); }

const std::string& Names::AccountKey(AccountId id) {
  auto it = accounts_.find(id);
  if (it != accounts_.end()) return it->second;
  auto a = db_.GetAccount(id);
  if (a.ok() && !viewer_.is_system() && !db_.FindAccount(viewer_, a->key).ok()) {
    return accounts_[id] = kHidden;
  }
  return accounts_[id] = a.ok() ? a->key : "#" + std::to_string(id);
}

const std::string& Names::RoleName(RoleId id) {
  auto it = roles_.find(id);
  if (it != roles_.end()) return it->second;
  auto r = db_.GetRole(id);
  // A custom role of a root tenant out of the viewer's sight is not named.
  if (r.ok() && !viewer_.is_system() && !db_.GetRole(viewer_, id).ok()) {
    return roles_[id] = kHidden;
  }
  return roles_[id] = r.ok() ? r->name : "#" + std::to_string(id);
}

const std::string& Names::Login(UserId id) {
  auto it = logins_.find(id);
  if (it != logins_.end()) return it->second;
  auto u = db_.GetUser(id);
  if (u.ok() && !viewer_.is_system() && !db_.FindUser(viewer_, u->login).ok()) {
    return logins_[id] = kHidden;
  }
  return logins_[id] = u.ok() ? u->login : "#" + std::to_string(id);
}

const std::string& Names::EntityKey(EntityId id) {
  auto it = entities_.find(id);
  if (it != entities_.end()) return it->second;
  auto e = db_.GetEntity(id);
  if (e.ok() && !viewer_.is_system() && !db_.GetEntity(viewer_, id).ok()) {
    return entities_[id] = kHidden;
  }
  return entities_[id] = e.ok() ? e->key : "#" + std::to_string(id);
}

std::optional<uint64_t> GetNumber(const Args& args, const std::string& flag, uint64_t lo,
                                  uint64_t hi) {
  auto text = args.Get(flag);
  if (!text) return std::nullopt;
  const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size()) {
    throw UsageError{"--" + flag + " needs a number (" + range + "), not '" + *text + "'"};
  }
  if (v < lo || v > hi) throw UsageError{"--" + flag + " must be in " + range};
  return v;
}

std::optional<bool> GetOnOff(const Args& args, const std::string& flag) {
  auto text = args.Get(flag);
  if (!text) return std::nullopt;
  if (*text == "on" || *text == "true" || *text == "yes") return true;
  if (*text == "off" || *text == "false" || *text == "no") return false;
  throw UsageError{"--" + flag + " must be on or off, not '" + *text + "'"};
}

EntityKind GetKind(const Args& args) {
  auto text = args.Get("kind");
  if (!text) return EntityKind::kDevice;
  auto kind = ParseEntityKind(*text);
  if (!kind) {
    throw UsageError{"--kind must be device, asset, dashboard or entity_view, not '" + *text + "'"};
  }
  return *kind;
}

std::pair<std::string, std::string> SplitAssignment(const std::string& flag,
                                                    const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError{"--" + flag + " needs NAME=VALUE, not '" + text + "'"};
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

Attributes GetAttributes(const Args& args, const std::string& flag) {
  Attributes out;
  for (const auto& text : args.GetAll(flag)) {
    auto [name, value] = SplitAssignment(flag, text);
    // Two values for one name: which was meant is not for the CLI to guess.
    if (!out.emplace(name, value).second) {
      throw UsageError{"--" + flag + " names '" + name + "' more than once"};
    }
  }
  return out;
}

Status UpdatedAttributes(const Attributes& current, const Attributes& set,
                         const std::vector<std::string>& remove, const std::string& what,
                         Attributes* out) {
  std::set<std::string> removed;
  for (const auto& k : remove) {
    if (set.count(k)) {
      throw UsageError{"--attribute and --remove-attribute both name '" + k + "'"};
    }
    if (!removed.insert(k).second) {
      throw UsageError{"--remove-attribute names '" + k + "' more than once"};
    }
  }
  *out = current;
  for (const auto& k : remove) {
    if (out->erase(k) == 0) return Status::NotFound(what + " has no attribute '" + k + "'");
  }
  for (const auto& [k, v] : set) (*out)[k] = v;
  return Status::Ok();
}

bool ReadRefs(Context& ctx, const std::string& path, std::vector<std::string>* refs) {
  errno = 0;
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    ctx.Fail(Status::NotFound("cannot open '" + path + "'" +
                              (err != 0 ? std::string(": ") + std::strerror(err) : std::string())));
    return false;
  }
  std::string line;
  for (bool first_line = true; std::getline(in, line); first_line = false) {
    // A byte order mark (as editors save "UTF-8 with BOM") is not part of
    // the first reference.
    if (first_line && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const auto last = line.find_last_not_of(" \t\r");
    refs->push_back(line.substr(first, last - first + 1));
  }
  if (in.bad()) {
    ctx.Fail(Status::IOError("cannot read '" + path + "'"));
    return false;
  }
  return true;
}

std::vector<std::string> SplitList(const std::string& flag, const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma == start) {
      throw UsageError{flag + " has an empty item in '" + s +
                       "': separate the items with single commas"};
    }
    out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}


std::string FormatTime(int64_t micros) {
  std::time_t t = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace canopy::cli
