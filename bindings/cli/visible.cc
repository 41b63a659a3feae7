// Copyright (c) Canopy authors.
//
// canopy visible: the core query — the entities a user may see with a
// permission (query.h), filtered, paginated with resumable cursors,
// or counted.

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json | --csv] [--actor LOGIN] visible --user LOGIN\n"
    "           [--kind KIND] [--permission P]\n"
    "           [--type T] [--name-prefix P] [--attribute NAME=VALUE] [--within ACCOUNT_KEY]\n"
    "           [--direct] [--limit N] [--cursor C] [--count] [--json | --csv]\n\n"
    "Lists the entities the user may see with the permission, in a stable order\n"
    "(tree order of the owner account, then creation).\n"
    "  --user LOGIN          whose visibility (required; with --actor, the actor's own\n"
    "                        and --user may be left out)\n"
    "  --kind KIND           device (default), asset, dashboard or entity_view\n"
    "  --permission P        the permission needed on each entity (default KIND.read;\n"
    "                        e.g. device.assign)\n"
    "  --type T              only entities of this type (device type / profile)\n"
    "  --name-prefix P       only entities whose name starts with P\n"
    "  --attribute N=V       only entities whose attribute N equals V\n"
    "  --within ACCOUNT_KEY  only entities in this account's subtree\n"
    "  --direct              only entities owned directly by an account where the user\n"
    "                        holds a membership whose role grants the permission,\n"
    "                        and the members of entity groups granted to its user\n"
    "                        groups; with --within, instead: those owned by that\n"
    "                        account itself, through whichever membership\n"
    "  --limit N             print one page of at most N entities (1..10000); without\n"
    "                        --limit every page is printed\n"
    "  --cursor C            resume after the page that returned cursor C (same flags)\n"
    "  --count               print only the number of matching entities, a bare number\n"
    "                        ({\"count\":N} with --json); takes no --limit or --cursor\n"
    "  --json                one JSON object per line with key, name, account (the\n"
    "                        owner's key), type, kind and id\n"
    "  --csv                 the same columns as CSV, after a header row\n"
    "Without --json or --csv a table is printed. With --limit, when more remain,\n"
    "the next cursor is printed on stderr as a line 'next cursor: C', whatever the\n"
    "output format: stdout holds the entities only.\n";

// Rows are flushed in chunks so that a listing of millions stays small in
// memory while its columns stay aligned within each chunk.
constexpr size_t kFlushEvery = 4096;
// Pages fetched when resuming from a cursor without --limit.
constexpr size_t kMaxPage = 10000;

// Prints visible entities as JSON lines or as a table.
class Printer {
 public:
  Printer(Context& ctx, EntityKind kind)
      : ctx_(ctx),
        kind_(kind),
        names_(ctx),
        table_({"KEY", "NAME", "TYPE", "ACCOUNT"}),
        csv_(*ctx.out, {"key", "name", "account", "type", "kind", "id"}) {}

  void Item(EntityId id, std::string_view key, std::string_view name, std::string_view type,
            AccountId owner) {
    const std::string& account = names_.AccountKey(owner);
    if (ctx_.csv) {
      csv_.Row({std::string(key), std::string(name), account, std::string(type),
                EntityKindName(kind_), std::to_string(id)});
      return;
    }
    if (ctx_.json) {
      *ctx_.out << JsonObject()
                       .Str("key", key)
                       .Str("name", name)
                       .Str("account", account)
                       .Str("type", type)
                       .Str("kind", EntityKindName(kind_))
                       .Int("id", static_cast<int64_t>(id))
                       .str()
                << "\n";
      return;
    }
    table_.Add({std::string(key), std::string(name), std::string(type), account});
    if (table_.rows() % kFlushEvery == 0) table_.Flush(*ctx_.out);
  }
  void Page(const VisiblePage& page) {
    for (const auto& it : page.items) Item(it.id, it.key, it.name, it.type, it.owner);
  }
  void Finish() {
    if (ctx_.csv) {
      csv_.Finish();
    } else if (!ctx_.json) {
      table_.Flush(*ctx_.out);
    }
  }

 private:
  Context& ctx_;
  EntityKind kind_;
  Names names_;
  Table table_;
  CsvWriter csv_;
};

int Run(Context& ctx, Args& args) {
  args.Parse({"user", "kind", "permission", "type", "name-prefix", "attribute", "within", "limit",
              "cursor"},
             {"count", "direct"}, Args::Output::kTable);
  args.AtMost(0);
  const std::string login = QuestionUser(ctx, args, "visible");
  VisibleRequest req{Actor::System()};
  req.kind = GetKind(args);
  req.permission = args.Get("permission").value_or("");
  if (args.Get("permission") && req.permission.empty()) {
    throw UsageError{"--permission needs a value (leave it out for KIND.read)"};
  }
  req.type = args.Get("type");
  req.name_prefix = args.Get("name-prefix").value_or("");
  if (args.GetAll("attribute").size() > 1) throw UsageError{"--attribute may be given only once"};
  if (auto a = args.Get("attribute")) {
    auto [name, value] = SplitAssignment("attribute", *a);
    req.attribute = AttributeFilter{name, value};
  }
  req.direct_only = args.Has("direct");
  const std::optional<uint64_t> limit = GetNumber(args, "limit", 1, kMaxPage);
  const std::optional<std::string> cursor = args.Get("cursor");
  const bool count = args.Has("count");
  if (count && (limit || cursor)) throw UsageError{"--count takes no --limit or --cursor"};

  if (!ctx.Open(false)) return kExitFailed;
  User user;
  if (!FindUser(ctx, login, &user)) return kExitFailed;
  req.viewer = Actor::User(user.id);
  if (auto key = args.Get("within")) {
    Account a;
    if (!FindAccount(ctx, *key, &a)) return kExitFailed;
    // Out of the user's sight: named by its key, not by the id the engine
    // would name it by. (Any other refusal, such as a disabled user's, is
    // the query's to answer.)
    if (ctx.db->FindAccount(req.viewer, *key).status().IsNotFound()) {
      return ctx.Fail(Status::NotFound("within: user '" + user.login +
                                       "' cannot see account '" + *key + "'"));
    }
    req.within = a.id;
  }

  if (count) {
    auto n = ctx.db->Count(req);
    if (!n.ok()) return FailQuery(ctx, n.status());
    // With --json an object, as every --json line is; with --csv a table
    // of one column and one row, as every --csv output is.
    if (ctx.json) {
      *ctx.out << JsonObject().Uint("count", *n).str() << "\n";
    } else if (ctx.csv) {
      CsvWriter csv(*ctx.out, {"count"});
      csv.Row({std::to_string(*n)});
      csv.Finish();
    } else {
      *ctx.out << *n << "\n";
    }
    return kExitOk;
  }

  Printer printer(ctx, req.kind);
  if (limit) {
    // One page; the cursor says where the next one starts.
    req.limit = *limit;
    req.cursor = cursor.value_or("");
    VisiblePage page;
    Status s = ctx.db->Visible(req, &page);
    if (!s.ok()) return FailQuery(ctx, s);
    printer.Page(page);
    printer.Finish();
    // Where the next page starts goes aside, in every output format:
    // stdout holds the entities only.
    if (!page.next_cursor.empty()) *ctx.err << "next cursor: " << page.next_cursor << "\n";
    return kExitOk;
  }
  if (cursor) {
    // Every remaining page after the cursor.
    req.limit = kMaxPage;
    req.cursor = *cursor;
    for (;;) {
      VisiblePage page;
      Status s = ctx.db->Visible(req, &page);
      if (!s.ok()) return FailQuery(ctx, s);
      printer.Page(page);
      if (page.next_cursor.empty()) break;
      req.cursor = page.next_cursor;
    }
    printer.Finish();
    return kExitOk;
  }
  // The whole selection as one stream on one snapshot.
  std::unique_ptr<VisibleIterator> it;
  Status s = ctx.db->NewVisibleIterator(req, &it);
  if (!s.ok()) return FailQuery(ctx, s);
  for (; it->Valid(); it->Next()) {
    printer.Item(it->id(), it->key(), it->name(), it->type(), it->owner());
  }
  printer.Finish();
  if (!it->status().ok()) return ctx.Fail(it->status());
  return kExitOk;
}

}  // namespace

Command VisibleCommand() {
  return {"visible", "the entities a user may see (filtered, paginated, counted)", kUsage, Run};
}

}  // namespace canopy::cli
