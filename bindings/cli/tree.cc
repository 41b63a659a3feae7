// Copyright (c) Canopy authors.
//
// canopy tree: the "All accounts" table and the graph view.

#include <map>

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json | --csv] [--actor LOGIN] tree [--account KEY] [--depth N]\n"
    "                          [--format table|json|dot] [--sort ORDER] [--desc]\n\n"
    "Shows the accounts the actor may read (the system actor: all), in tree order.\n"
    "  --account KEY  only this account's subtree\n"
    "  --depth N      at most N levels below it, or below the root tenants (0, the\n"
    "                 default: all)\n"
    "  --format F     table (default), json (nested graph) or dot (Graphviz)\n"
    "  --sort ORDER   table order: tree (default), name, created, users,\n"
    "                 sub_accounts, devices, devices_subtree\n"
    "  --desc         reverse the order\n"
    "With --json, the table prints one JSON object per account: key, name, depth,\n"
    "path (the keys from the root tenant), users, sub_accounts, devices,\n"
    "devices_subtree, groups (those it owns; 0 unless the actor holds a group.*\n"
    "permission there), created. With --csv, the same columns as CSV (path\n"
    "joined with ' > '), after a header row. The json and dot formats show groups\n"
    "too.\n";

std::string Pad(std::string s, size_t width) {
  // Pads by code points so UTF-8 names line up.
  size_t cps = 0;
  for (unsigned char c : s) cps += (c & 0xC0) != 0x80;
  if (cps < width) s.append(width - cps, ' ');
  return s;
}

std::string RightAlign(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

int Run(Context& ctx, Args& args) {
  args.Parse({"account", "format", "depth", "sort"}, {"desc"}, Args::Output::kTable);
  args.AtMost(0);
  std::string format = args.Get("format").value_or("table");
  if (format != "table" && format != "json" && format != "dot") {
    throw UsageError{"--format must be table, json or dot, not '" + format + "'"};
  }
  if (ctx.csv && format != "table") throw UsageError{"--csv prints the table: not with --format " + format};
  if (ctx.json && format == "dot") throw UsageError{"--json prints JSON: not with --format dot"};
  const uint32_t depth = static_cast<uint32_t>(GetNumber(args, "depth", 0, 64).value_or(0));
  static const std::map<std::string, TableSort> kSorts = {
      {"tree", TableSort::kTree},
      {"name", TableSort::kName},
      {"created", TableSort::kCreated},
      {"users", TableSort::kUsers},
      {"sub_accounts", TableSort::kSubAccounts},
      {"devices", TableSort::kDevicesDirect},
      {"devices_subtree", TableSort::kDevicesSubtree}};
  std::string sort = args.Get("sort").value_or("tree");
  if (!kSorts.count(sort)) throw UsageError{"unknown --sort '" + sort + "'"};
  if (format != "table" && (args.Get("sort") || args.Has("desc"))) {
    throw UsageError{"--sort and --desc order the table: not with --format " + format};
  }
  if (!ctx.Open(false)) return kExitFailed;
  Actor viewer = Actor::System();
  if (!ctx.ResolveActor(&viewer)) return kExitFailed;
  AccountId root = kNoId;
  uint32_t base_depth = 1;  // --depth counts from the account, or the roots
  if (auto key = args.Get("account")) {
    Account a;
    if (!FindAccount(ctx, *key, &a)) return kExitFailed;
    root = a.id;
    base_depth = a.depth;
  }
  if (format != "table") {
    auto out = format == "json" ? ctx.db->GraphJson(viewer, root, depth)
                                : ctx.db->GraphDot(viewer, root, depth);
    if (!out.ok()) return ctx.Fail(out.status());
    if (format == "json") {
      *ctx.out << *out;  // JSON keeps stored text exact, as --json does
      return kExitOk;
    }
    // DOT is text for people: its strings already escape the control
    // characters; each line also goes through Printable, as all text
    // output does, so that a bidirectional control or a line separator in
    // a name is shown escaped (\u202e) instead of reordering the terminal.
    std::string_view rest = *out;
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      *ctx.out << Printable(rest.substr(0, nl)) << (nl == std::string_view::npos ? "" : "\n");
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
    return kExitOk;
  }
  TableRequest req{viewer};
  req.root = root;
  req.sort = kSorts.at(sort);
  req.descending = args.Has("desc");
  req.limit = 10000;
  std::vector<AccountRow> rows;
  for (;;) {
    TablePage page;
    Status s = ctx.db->AccountsTable(req, &page);
    if (!s.ok()) return ctx.Fail(s);
    for (auto& r : page.rows) rows.push_back(std::move(r));
    if (page.next_cursor.empty()) break;
    req.cursor = page.next_cursor;
  }
  if (depth != 0) {
    std::erase_if(rows, [&](const AccountRow& r) { return r.depth > base_depth + depth; });
  }
  if (ctx.csv) {
    CsvWriter csv(*ctx.out, {"key", "name", "depth", "path", "users", "sub_accounts", "devices",
                             "devices_subtree", "groups", "created"});
    for (const auto& r : rows) {
      std::string path;
      for (size_t i = 0; i < r.path.size(); ++i) path += (i ? " > " : "") + r.path[i];
      csv.Row({r.key, r.name, std::to_string(r.depth), path, std::to_string(r.users),
               std::to_string(r.sub_accounts), std::to_string(r.devices_direct),
               std::to_string(r.devices_subtree), std::to_string(r.groups),
               FormatTime(r.created_us)});
    }
    csv.Finish();
    return kExitOk;
  }
  if (ctx.json) {
    for (const auto& r : rows) {
      *ctx.out << JsonObject()
                      .Str("key", r.key)
                      .Str("name", r.name)
                      .Uint("depth", r.depth)
                      .Raw("path", JsonStrings(r.path))
                      .Uint("users", r.users)
                      .Uint("sub_accounts", r.sub_accounts)
                      .Uint("devices", r.devices_direct)
                      .Uint("devices_subtree", r.devices_subtree)
                      .Uint("groups", r.groups)
                      .Str("created", FormatTime(r.created_us))
                      .str()
               << "\n";
    }
    return kExitOk;
  }
  // Tree-drawing prefixes need each row's last-child status (tree order only).
  const bool draw = req.sort == TableSort::kTree && !req.descending;
  std::map<AccountId, AccountId> last_child;
  for (const auto& r : rows) last_child[r.parent] = r.id;
  std::vector<std::string> labels;
  std::vector<std::pair<uint32_t, bool>> open;  // (depth, more siblings follow)
  size_t width = 7;
  for (const auto& r : rows) {
    std::string prefix;
    if (draw) {
      while (!open.empty() && open.back().first >= r.depth) open.pop_back();
      bool has_parent_row = !open.empty();
      if (has_parent_row) {
        for (size_t i = 1; i < open.size(); ++i) prefix += open[i].second ? "│  " : "   ";
        bool last = last_child[r.parent] == r.id;
        prefix += last ? "└─ " : "├─ ";
      }
      open.emplace_back(r.depth, last_child[r.parent] != r.id);
    }
    labels.push_back(prefix + Printable(r.key));
    size_t cps = 0;
    for (unsigned char c : labels.back()) cps += (c & 0xC0) != 0x80;
    width = std::max(width, cps);
  }
  size_t name_width = 4;
  std::vector<std::string> row_names;
  for (const auto& r : rows) {
    row_names.push_back(Printable(r.name));
    name_width = std::max(name_width, std::min<size_t>(DisplayWidth(row_names.back()), 40));
  }
  *ctx.out << Pad("ACCOUNT", width + 2) << Pad("NAME", name_width + 2) << "USERS  SUB-ACCOUNTS  "
           << "DEVICES  IN-SUBTREE  CREATED\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    *ctx.out << Pad(labels[i], width + 2) << Pad(row_names[i], name_width + 2)
             << RightAlign(std::to_string(r.users), 5)
             << RightAlign(std::to_string(r.sub_accounts), 14)
             << RightAlign(std::to_string(r.devices_direct), 9)
             << RightAlign(std::to_string(r.devices_subtree), 12) << "  "
             << FormatTime(r.created_us) << "\n";
  }
  if (rows.empty()) *ctx.out << "(no accounts the actor may read)\n";
  return kExitOk;
}

}  // namespace

Command TreeCommand() {
  return {"tree", "the accounts as a table or a graph (JSON, DOT)", kUsage, Run};
}

}  // namespace canopy::cli
