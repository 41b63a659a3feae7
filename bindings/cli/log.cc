// Copyright (c) Canopy authors.
//
// canopy log: the change log — every committed mutation by revision, with
// what it changed record by record; filtered by account subtree and record
// type, seen as a user's audit view, or followed as it grows.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <limits>
#include <thread>

#include <simdjson.h>

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json] [--actor LOGIN] log [--since REV] [--account KEY]\n"
    "           [--type TYPE]... [--limit N] [--follow] [--user LOGIN] [--keys-only]\n"
    "           [--json]\n\n"
    "Prints the change log: one entry per committed mutation, in revision order,\n"
    "from --since to the newest, then exits (or, with --follow, keeps waiting).\n"
    "Every mutation that changes something commits the next revision (1, 2, 3...)\n"
    "and says what it changed, record by record.\n"
    "  --since REV     the first revision to print (default 1); a revision already\n"
    "                  trimmed by the log's retention is refused, and so is one\n"
    "                  past the newest + 1 (not a revision of this database)\n"
    "  --account KEY   only the changes inside this account's subtree; when the\n"
    "                  account is deleted while it runs, its deletion is the last\n"
    "                  entry printed and the log ends with exit status 1\n"
    "  --type TYPE     only changes of this record type: account, entity, user,\n"
    "                  membership, role, meta, group, group_member, group_grant or\n"
    "                  group_members (repeat the flag, or give a comma-separated\n"
    "                  list, for several)\n"
    "  --limit N       print at most N entries (1..100000); when the log goes on,\n"
    "                  the revision to continue from is printed (see below)\n"
    "  --follow        after the newest entry keep waiting for new ones and print\n"
    "                  them as they are committed, until interrupted (Ctrl-C or\n"
    "                  SIGTERM end it with exit status 0); takes no --limit. It\n"
    "                  opens as a follower (it does not lock the database: other\n"
    "                  processes write meanwhile) and catches up with their\n"
    "                  commits every 200 ms; it opens as usual only when it\n"
    "                  cannot (a database to create or upgrade first). With\n"
    "                  --read-only (a view as of its open) it opens a fresh\n"
    "                  read-only view every 200 ms instead. With --etcd it\n"
    "                  opens as a replica and holds its folder, as every replica\n"
    "                  does: give it a folder of its own (an empty one starts\n"
    "                  from the log or a checkpoint) to watch a replicated log\n"
    "  --user LOGIN    the audit view of this user: only the changes inside accounts\n"
    "                  where it holds audit.read (a record outside that reach is\n"
    "                  left out, or shown without its hidden side). Run with\n"
    "                  --actor LOGIN, the log is always that actor's audit view;\n"
    "                  only the system actor may ask for another user's view\n"
    "  --keys-only     leave out the records before and after (type, action and id\n"
    "                  of each change stay): enough to invalidate caches, faster\n"
    "  --json          one JSON object per line: revision, time_us, actor (null when\n"
    "                  hidden), operation, arguments (the call's arguments as an\n"
    "                  object, null when hidden) and changes, a list of {type, action,\n"
    "                  id, before, after} with the record as an object before and\n"
    "                  after the change (null when it did not exist, no longer\n"
    "                  exists, or is hidden)\n"
    "Without --json each entry is a line 'REVISION TIME ACTOR OPERATION' (time in\n"
    "UTC, ISO 8601; actor '-' when hidden), then one indented line per record\n"
    "change: 'ACTION TYPE ID (KEY)'. With --limit, when the log goes on, 'next\n"
    "revision: REV' is printed on stderr, with or without --json (stdout holds the\n"
    "entries only).\n";

// Entries per read while catching up (each may list many record changes).
constexpr size_t kPage = 256;
constexpr size_t kMaxLimit = 100000;
// How long one wait for new entries lasts before the stop flag is looked at.
constexpr uint32_t kWaitMs = 200;


// Prints entries as JSON lines or as text.
class Printer {
 public:
  explicit Printer(Context& ctx) : ctx_(ctx) {}

  void Entry(const ChangeEntry& e) {
    std::ostream& out = *ctx_.out;
    if (ctx_.json) {
      out << ChangeEntryJson(e) << "\n";
      return;
    }
    out << e.revision << " " << FormatTime(e.time_us) << " "
        << (e.actor.empty() ? "-" : Printable(e.actor)) << " " << Printable(e.operation) << "\n";
    for (const RecordChangeView& c : e.changes) {
      out << "  " << c.action << " " << c.type << " " << Printable(c.id);
      std::string label = Label(c.type, c.after.empty() ? c.before : c.after);
      if (!label.empty()) out << " (" << Printable(label) << ")";
      out << "\n";
    }
  }

 private:
  // The key (accounts, entities), login (users) or name (roles) of a
  // record's JSON, for people; "" when there is none.
  std::string Label(const std::string& type, const std::string& json) {
    if (json.empty()) return "";
    const char* field = type == "account" || type == "entity" ? "key"
                        : type == "user"                      ? "login"
                        : type == "role"                      ? "name"
                                                              : nullptr;
    if (field == nullptr) return "";
    simdjson::dom::element doc;
    if (parser_.parse(json).get(doc) != simdjson::SUCCESS) return "";
    std::string_view value;
    if (doc[field].get(value) != simdjson::SUCCESS) return "";
    return std::string(value);
  }

  Context& ctx_;
  simdjson::dom::parser parser_;
};

int Run(Context& ctx, Args& args) {
  args.Parse({"since", "account", "type", "limit", "user"}, {"follow", "keys-only"});
  args.AtMost(0);
  ChangesRequest req;
  req.since = GetNumber(args, "since", 1, std::numeric_limits<uint64_t>::max()).value_or(1);
  const std::optional<uint64_t> limit = GetNumber(args, "limit", 1, kMaxLimit);
  const bool follow = args.Has("follow");
  req.values = !args.Has("keys-only");
  if (follow && limit) throw UsageError{"--follow takes no --limit"};
  for (const std::string& t : args.GetAll("type")) {
    std::vector<std::string> parts = SplitList("--type", t);
    if (parts.empty()) throw UsageError{"--type needs a record type (e.g. --type account)"};
    for (std::string& part : parts) req.types.push_back(std::move(part));
  }

  // A follower (--follower, or chosen on a busy database) catches up
  // this often; WaitForChanges below wakes when it does.
  if (follow) {
    ctx.follow_ms = kWaitMs;
    ctx.prefer_follower = true;  // a reader: it never locks writers out
    // Before the open, which can take a while: a signal from then on ends
    // the command cleanly (it is checked between waits), never kills it.
    CatchStopSignals();
  }
  if (!ctx.Open(false)) return kExitFailed;
  // Run as a user (--actor), the log is that user's audit view; only the
  // system actor reads the whole log or another user's view (--user).
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  req.viewer = actor;
  if (auto login = args.Get("user")) {
    // Refused before the look-up, so that it tells nothing about the user.
    if (!actor.is_system() && *login != ctx.actor_login) {
      return ctx.Fail(Status::PermissionDenied(
          "only the system actor may read another user's audit view (--user " + *login +
          "); as --actor, canopy log shows the actor's own"));
    }
    User user;
    if (!FindUser(ctx, *login, &user)) return kExitFailed;
    req.viewer = Actor::User(user.id);
  }
  if (auto key = args.Get("account")) {
    Account a;
    if (!FindAccount(ctx, *key, &a)) return kExitFailed;
    req.account = a.id;
  }

  Printer printer(ctx);
  uint64_t printed = 0;
  for (;;) {
    // Catch up with the head, page by page.
    ChangesPage page;
    do {
      req.limit = limit ? std::min<uint64_t>(kPage, *limit - printed) : kPage;
      Status s = ctx.db->ReadChanges(req, &page);
      // A follower that could not read the writer's state whole serves
      // nothing until a later catch-up (every kWaitMs) does: wait for it.
      while (follow && ctx.follower && s.code() == Code::kUnavailable && !StopRequested()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(kWaitMs));
        s = ctx.db->ReadChanges(req, &page);
      }
      if (StopRequested() && !s.ok()) return kExitOk;
      if (!s.ok()) return FailQuery(ctx, s);
      for (const ChangeEntry& e : page.entries) printer.Entry(e);
      printed += page.entries.size();
      ctx.out->flush();
      req.since = page.next;
      if (limit && printed >= *limit) {
        if (page.next <= page.revision) {
          // Aside, in every output format: stdout holds the entries only.
          *ctx.err << "next revision: " << page.next << "\n";
        }
        return kExitOk;
      }
      // The filter's account deleted in this page (page.ended): its log
      // ends there, and the read after it says so (at once, not after the
      // next commit).
    } while ((page.next <= page.revision || page.ended) && !StopRequested());
    if (!follow) return kExitOk;
    // Wait for the next commit, looking at the stop flag between waits.
    for (;;) {
      if (StopRequested()) return kExitOk;
      if (ctx.read_only) {
        // A read-only open is a view as of its open, which never moves:
        // follow the writer through a fresh view now and then.
        std::this_thread::sleep_for(std::chrono::milliseconds(kWaitMs));
        if (!ctx.Reopen()) return kExitFailed;
        if (ctx.db->Revision() > page.revision) break;
        continue;
      }
      auto rev = ctx.db->WaitForChanges(page.revision, kWaitMs);
      if (!rev.ok()) return ctx.Fail(rev.status());
      if (*rev > page.revision) break;
    }
  }
}

}  // namespace

Command LogCommand() {
  return {"log", "the change log: every mutation by revision (filtered, audited, followed)",
          kUsage, Run};
}

}  // namespace canopy::cli
