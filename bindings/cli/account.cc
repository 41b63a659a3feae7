// Copyright (c) Canopy authors.
//
// canopy account create|show|update|move|delete|list: the account tree
// (docs/index.md). Every mutation runs as --actor and is authorised by the
// engine; a refusal names the missing permission and changes nothing.

#include <algorithm>

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json] [--actor LOGIN] account SUBCOMMAND ...\n\n"
    "  account create KEY --name NAME [--parent KEY] [--attribute K=V]...\n"
    "                 [--sub-account-management on|off]\n"
    "                 [--sub-account-access default_off|default_on|always_on]\n"
    "                 [--group-sharing on|off]\n"
    "      Creates an account; without --parent a root tenant (system actor only).\n"
    "      The database folder is created when it does not exist yet.\n"
    "  account show KEY\n"
    "      The account summary: path, users (members), sub-accounts, devices (and\n"
    "      other entities) directly and in the subtree, settings, attributes.\n"
    "  account update KEY [--name NAME] [--attribute K=V]... [--remove-attribute K]...\n"
    "                 [--sub-account-management on|off] [--sub-account-access A]\n"
    "                 [--group-sharing on|off]\n"
    "      Changes the name and attributes (--attribute adds or replaces one,\n"
    "      --remove-attribute removes one) and the settings, all in one atomic\n"
    "      write: if any part is refused, nothing changes.\n"
    "  account move KEY --parent PARENT_KEY\n"
    "      Moves the account with its whole subtree, entities and users under\n"
    "      PARENT_KEY.\n"
    "  account delete KEY [KEY...] [--receiver KEY]\n"
    "      Deletes accounts that have no sub-accounts (several keys: one atomic call,\n"
    "      all or nothing; a whole branch may be given). Their entities and users go\n"
    "      to --receiver, which is required when there are any.\n"
    "  account list [KEY] [--depth N]\n"
    "      KEY's sub-accounts N levels deep (default 1: its children; 0: all\n"
    "      descendants). Without KEY the root tenants (--depth 2 adds their\n"
    "      children, and so on).\n\n"
    "Flags:\n"
    "  --name NAME                      the display name\n"
    "  --parent KEY                     the parent account\n"
    "  --attribute K=V                  a free attribute (repeatable)\n"
    "  --remove-attribute K             remove an attribute (update; repeatable)\n"
    "  --sub-account-management on|off  may users create sub-accounts under it\n"
    "  --sub-account-access A           default_off, default_on or always_on: whether\n"
    "                                   new memberships reach the sub-accounts\n"
    "  --group-sharing on|off           root tenants only, system actor only: may a\n"
    "                                   group be granted to a user group of a\n"
    "                                   sub-account (shared down)\n"
    "  --receiver KEY                   takes the deleted accounts' entities and users\n"
    "  --depth N                        levels to list (0: all)\n"
    "With --json: create, show, update and move print the account as one object\n"
    "(an update of an account out of the actor's sight, switching\n"
    "--sub-account-management from the parent, prints only its key and that\n"
    "setting);\n"
    "list prints one object per account; delete prints {\"deleted\":[...]}.\n"
    "With --csv (list only): id, key, name, parent, depth, sub_account_management,\n"
    "sub_account_access, created, updated, after a header row.\n";

std::optional<SubAccountAccess> GetAccess(const Args& args) {
  auto text = args.Get("sub-account-access");
  if (!text) return std::nullopt;
  auto access = ParseSubAccountAccess(*text);
  if (!access) {
    throw UsageError{"--sub-account-access must be default_off, default_on or always_on, not '" +
                     *text + "'"};
  }
  return access;
}

// An account's settings; group_sharing on root tenants only (the only
// accounts it applies to).
std::string SettingsJson(const Account& a) {
  JsonObject o;
  o.Bool("sub_account_management", a.settings.sub_account_management)
      .Str("sub_account_access", SubAccountAccessName(a.settings.sub_account_access));
  if (a.parent == kNoId) o.Bool("group_sharing", a.settings.group_sharing);
  return o.str();
}

JsonObject AccountJson(const Account& a, Names& names) {
  JsonObject o;
  o.Int("id", static_cast<int64_t>(a.id)).Str("key", a.key).Str("name", a.name);
  if (a.parent == kNoId) {
    o.Raw("parent", "null");
  } else {
    o.Str("parent", names.AccountKey(a.parent));
  }
  o.Int("depth", a.depth)
      .Raw("attributes", JsonAttributes(a.attributes))
      .Raw("settings", SettingsJson(a))
      .Str("created", FormatTime(a.created_us))
      .Str("updated", FormatTime(a.updated_us));
  return o;
}

// Prints a mutated account: its JSON under --json, else `message`.
int Confirm(Context& ctx, const std::string& key, const std::string& message) {
  if (!ctx.json) {
    *ctx.out << Printable(message) << "\n";
    return kExitOk;
  }
  Account a;
  if (!FindAccount(ctx, key, &a)) return kExitFailed;
  Names names(ctx);
  *ctx.out << AccountJson(a, names).str() << "\n";
  return kExitOk;
}

int Create(Context& ctx, Args& args) {
  args.Parse({"name", "parent", "attribute", "sub-account-management", "sub-account-access",
              "group-sharing"},
             {});
  AccountSpec spec;
  spec.key = args.Positional(0, "KEY (the new account's key)");
  args.AtMost(1);
  spec.name = args.Require("name");
  spec.attributes = GetAttributes(args, "attribute");
  spec.settings.sub_account_management = GetOnOff(args, "sub-account-management").value_or(false);
  spec.settings.sub_account_access = GetAccess(args).value_or(SubAccountAccess::kDefaultOff);
  spec.settings.group_sharing = GetOnOff(args, "group-sharing").value_or(false);
  const auto parent = args.Get("parent");
  // A root tenant may be the first thing in a new database; a sub-account
  // needs its parent, so its database must exist already.
  if (!ctx.Open(!parent.has_value())) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  if (parent) {
    Account p;
    if (!FindAccount(ctx, *parent, &p)) return kExitFailed;
    spec.parent = p.id;
  }
  auto id = ctx.db->CreateAccount(actor, spec);
  if (!id.ok()) return ctx.Fail(id.status());
  return Confirm(ctx, spec.key,
                 "created account '" + spec.key + "' (id " + std::to_string(*id) + ")");
}

int Show(Context& ctx, Args& args) {
  args.Parse({}, {});
  const std::string key = args.Positional(0, "KEY (the account to show)");
  args.AtMost(1);
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;  // an account out of its sight looks missing
  Account a;
  if (!FindAccount(ctx, key, &a)) return kExitFailed;
  auto summary = ctx.db->Summary(ctx.actor, a.id);
  if (!summary.ok()) return ctx.Fail(summary.status());
  // Devices come with the summary; the other kinds from the counters, both
  // as the actor may know them.
  std::vector<std::pair<EntityKind, EntityCounts>> others;
  for (EntityKind kind : kAllEntityKinds) {
    if (kind == EntityKind::kDevice) continue;
    auto c = ctx.db->CountOwned(ctx.actor, a.id, kind);
    if (!c.ok()) return ctx.Fail(c.status());
    others.emplace_back(kind, *c);
  }
  Names names(ctx);
  const Account& acc = summary->account;
  if (ctx.json) {
    JsonObject o = AccountJson(acc, names);
    o.Raw("path", JsonStrings(summary->path))
        .Raw("path_names", JsonStrings(summary->path_names))
        .Int("users", static_cast<int64_t>(summary->users))
        .Int("sub_accounts", static_cast<int64_t>(summary->sub_accounts))
        .Int("devices", static_cast<int64_t>(summary->devices_direct))
        .Int("devices_subtree", static_cast<int64_t>(summary->devices_subtree));
    JsonObject counts;
    for (const auto& [kind, c] : others) {
      counts.Raw(EntityKindName(kind), JsonObject()
                                           .Int("direct", static_cast<int64_t>(c.direct))
                                           .Int("subtree", static_cast<int64_t>(c.subtree))
                                           .str());
    }
    o.Raw("other_entities", counts.str());
    *ctx.out << o.str() << "\n";
    return kExitOk;
  }
  // Keys, as the tree prints them, then the names.
  std::string path;
  std::string names_path;
  for (size_t i = 0; i < summary->path.size(); ++i) {
    path += (i ? " > " : "") + summary->path[i];
    names_path += (i ? " > " : "") + summary->path_names[i];
  }
  path += " (" + names_path + ")";
  std::ostream& out = *ctx.out;
  out << "account:       " << Printable(acc.key) << " (id " << acc.id << ")\n"
      << "name:          " << Printable(acc.name) << "\n"
      << "path:          " << Printable(path) << "\n"
      << "parent:        "
      << (acc.parent == kNoId ? "(none: a root tenant)" : Printable(names.AccountKey(acc.parent)))
      << "\n"
      << "depth:         " << acc.depth << "\n"
      << "users:         " << summary->users << " (members)\n"
      << "sub-accounts:  " << summary->sub_accounts << "\n"
      << "devices:       " << summary->devices_direct << " direct, " << summary->devices_subtree
      << " in subtree\n";
  for (const auto& [kind, c] : others) {
    if (c.subtree == 0) continue;
    std::string label = std::string(EntityKindName(kind)) + "s:";
    label.resize(std::max<size_t>(label.size() + 1, 15), ' ');
    out << label << c.direct << " direct, " << c.subtree << " in subtree\n";
  }
  out << "sub-account management: " << OnOff(acc.settings.sub_account_management) << "\n"
      << "sub-account access:     " << SubAccountAccessName(acc.settings.sub_account_access)
      << "\n";
  if (acc.parent == kNoId) {
    out << "group sharing:          " << OnOff(acc.settings.group_sharing) << "\n";
  }
  out << "created:       " << FormatTime(acc.created_us) << "\n"
      << "updated:       " << FormatTime(acc.updated_us) << "\n"
      << "attributes:" << (acc.attributes.empty() ? " (none)" : "") << "\n";
  for (const auto& [k, v] : acc.attributes) {
    out << "  " << Printable(k) << " = " << Printable(v) << "\n";
  }
  return kExitOk;
}

int Update(Context& ctx, Args& args) {
  args.Parse(
      {"name", "attribute", "remove-attribute", "sub-account-management", "sub-account-access",
       "group-sharing"},
      {});
  const std::string key = args.Positional(0, "KEY (the account to update)");
  args.AtMost(1);
  const auto name = args.Get("name");
  const Attributes set = GetAttributes(args, "attribute");
  const std::vector<std::string> remove = args.GetAll("remove-attribute");
  const auto management = GetOnOff(args, "sub-account-management");
  const auto access = GetAccess(args);
  const auto sharing = GetOnOff(args, "group-sharing");
  if (!name && set.empty() && remove.empty() && !management && !access && !sharing) {
    throw UsageError{
        "nothing to change: give --name, --attribute, --remove-attribute, "
        "--sub-account-management, --sub-account-access or --group-sharing"};
  }
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  AccountPatch patch;
  patch.name = name;
  patch.sub_account_management = management;
  patch.sub_account_access = access;
  patch.group_sharing = sharing;
  auto seen = ctx.db->FindAccount(ctx.actor, key);
  if (!seen.ok()) {
    // Out of the actor's sight: the engine decides whether it may still
    // change it (switching sub-account management is judged from the
    // parent), and anything it refuses as missing is told as the key's
    // look-up was, so that nothing out of sight is named. Attribute edits
    // need the attributes, which the actor cannot read.
    if (!seen.status().IsNotFound() || !set.empty() || !remove.empty()) {
      return ctx.Fail(seen.status());
    }
    auto any = ctx.db->FindAccount(Actor::System(), key);
    if (!any.ok()) return ctx.Fail(seen.status());
    Status s = ctx.db->UpdateAccount(actor, any->id, patch);
    // A refusal (even of the input, which the engine checks first) is told
    // as for a missing key: a hidden key and a missing one answer alike.
    if (s.code() == Code::kNotFound || s.code() == Code::kInvalidArgument ||
        s.code() == Code::kPermissionDenied || s.code() == Code::kFailedPrecondition) {
      return ctx.Fail(seen.status());
    }
    if (!s.ok()) return ctx.Fail(s);
    if (ctx.json) {
      // Only what the actor set: the rest of the account is out of its sight.
      JsonObject changed;
      if (management) changed.Bool("sub_account_management", *management);
      *ctx.out << JsonObject().Str("key", key).Raw("settings", changed.str()).str() << "\n";
    } else {
      *ctx.out << "updated account '" << Printable(key) << "'\n";
    }
    return kExitOk;
  }
  const Account& a = *seen;
  if (!set.empty() || !remove.empty()) {
    Attributes attributes;
    Status merged = UpdatedAttributes(a.attributes, set, remove, "account '" + key + "'", &attributes);
    if (!merged.ok()) return ctx.Fail(merged);
    patch.attributes = std::move(attributes);
  }
  // One atomic call: a refusal of any part changes nothing.
  Status s = ctx.db->UpdateAccount(actor, a.id, patch);
  if (!s.ok()) return ctx.Fail(s);
  // A patch that changes nothing commits nothing: said so, as a move to
  // the same parent is. (Judged by the fields, not by the update time,
  // which a clock behind the creation time leaves as it was.)
  auto after = ctx.db->FindAccount(actor, key);
  const bool same = after.ok() && after->name == a.name && after->attributes == a.attributes &&
                    after->settings.sub_account_management == a.settings.sub_account_management &&
                    after->settings.sub_account_access == a.settings.sub_account_access &&
                    after->settings.group_sharing == a.settings.group_sharing;
  return Confirm(ctx, key,
                 same ? "account '" + key + "' already is so (nothing changed)"
                      : "updated account '" + key + "'");
}

int Move(Context& ctx, Args& args) {
  args.Parse({"parent"}, {});
  const std::string key = args.Positional(0, "KEY (the account to move)");
  args.AtMost(1);
  const std::string parent = args.Require("parent");
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Account a, p;
  if (!FindAccount(ctx, key, &a) || !FindAccount(ctx, parent, &p)) return kExitFailed;
  Status s = ctx.db->MoveAccount(actor, a.id, p.id);
  if (!s.ok()) return ctx.Fail(s);
  // (A move to the parent it has commits nothing.)
  return Confirm(ctx, key,
                 a.parent == p.id ? "account '" + key + "' is already under '" + parent +
                                        "' (nothing changed)"
                                  : "moved account '" + key + "' under '" + parent + "'");
}

int Delete(Context& ctx, Args& args) {
  args.Parse({"receiver"}, {});
  args.Positional(0, "KEY (the account to delete)");
  const std::vector<std::string> keys = args.positionals();
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  std::vector<AccountId> ids;
  for (const auto& k : keys) {
    Account a;
    if (!FindAccount(ctx, k, &a)) return kExitFailed;
    ids.push_back(a.id);
  }
  AccountId receiver = kNoId;
  const auto receiver_key = args.Get("receiver");
  if (receiver_key) {
    Account r;
    if (!FindAccount(ctx, *receiver_key, &r)) return kExitFailed;
    receiver = r.id;
  }
  Status s = ids.size() == 1 ? ctx.db->DeleteAccount(actor, ids[0], receiver)
                             : ctx.db->DeleteAccounts(actor, ids, receiver);
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.json) {
    JsonObject o;
    o.Raw("deleted", JsonStrings(keys));
    if (receiver_key) o.Str("receiver", *receiver_key);
    *ctx.out << o.str() << "\n";
    return kExitOk;
  }
  std::string list;
  for (size_t i = 0; i < keys.size(); ++i) list += (i ? ", '" : "'") + keys[i] + "'";
  *ctx.out << "deleted "
           << (keys.size() == 1 ? "account " : std::to_string(keys.size()) + " accounts: ")
           << Printable(list);
  if (receiver_key) {
    *ctx.out << " (entities and users went to '" << Printable(*receiver_key) << "')";
  }
  *ctx.out << "\n";
  return kExitOk;
}

int List(Context& ctx, Args& args) {
  args.Parse({"depth"}, {}, Args::Output::kTable);
  args.AtMost(1);
  const uint32_t depth = static_cast<uint32_t>(GetNumber(args, "depth", 0, 64).value_or(1));
  if (!ctx.Open(false)) return kExitFailed;
  // Each row with its indent: levels below the top of its group.
  std::vector<std::pair<Account, uint32_t>> rows;
  // `base`: the depth shown without indent.
  auto add_below = [&](const Account& top, uint32_t levels, uint32_t base) -> Status {
    // Descendants(.., 0) means "no limit"; zero levels is just nothing.
    if (depth != 0 && levels == 0) return Status::Ok();
    auto d = ctx.db->Descendants(ctx.actor, top.id, depth == 0 ? 0 : levels);
    if (!d.ok()) return d.status();
    for (auto& a : *d) {
      const uint32_t indent = a.depth - base;
      rows.emplace_back(std::move(a), indent);
    }
    return Status::Ok();
  };
  if (!args.positionals().empty()) {
    Account top;
    if (!FindAccount(ctx, args.positionals()[0], &top)) return kExitFailed;
    Status s = add_below(top, depth, top.depth + 1);
    if (!s.ok()) return ctx.Fail(s);
  } else {
    // The root tenants, or for an --actor its top accounts (those it sees
    // whose parent it does not), each with what it sees below.
    auto tops = ctx.db->Roots(ctx.actor);
    if (!tops.ok()) return ctx.Fail(tops.status());
    for (AccountId id : *tops) {
      auto top = ctx.db->GetAccount(id);
      if (!top.ok()) return ctx.Fail(top.status());
      rows.emplace_back(*top, 0);
      Status s = add_below(*top, depth == 0 ? 0 : depth - 1, top->depth);
      if (!s.ok()) return ctx.Fail(s);
    }
  }
  Names names(ctx);
  Table table({"ACCOUNT", "NAME", "PARENT", "DEPTH", "CREATED"});
  CsvWriter csv(*ctx.out, {"id", "key", "name", "parent", "depth", "sub_account_management",
                           "sub_account_access", "created", "updated"});
  for (const auto& [a, indent] : rows) {
    if (ctx.csv) {
      csv.Row({std::to_string(a.id), a.key, a.name,
               a.parent == kNoId ? "" : names.AccountKey(a.parent), std::to_string(a.depth),
               TrueFalse(a.settings.sub_account_management),
               SubAccountAccessName(a.settings.sub_account_access), FormatTime(a.created_us),
               FormatTime(a.updated_us)});
      continue;
    }
    if (ctx.json) {
      *ctx.out << AccountJson(a, names).str() << "\n";
      continue;
    }
    // Indented by depth below the starting point, so the tree shows.
    table.Add({std::string(2 * indent, ' ') + a.key, a.name,
               a.parent == kNoId ? "-" : names.AccountKey(a.parent), std::to_string(a.depth),
               FormatTime(a.created_us)});
  }
  if (ctx.csv) {
    csv.Finish();
  } else if (!ctx.json) {
    table.Flush(*ctx.out);
  }
  return kExitOk;
}

int Run(Context& ctx, Args& args) {
  const std::string sub = args.Subcommand({"create", "show", "update", "move", "delete", "list"});
  if (sub == "create") return Create(ctx, args);
  if (sub == "show") return Show(ctx, args);
  if (sub == "update") return Update(ctx, args);
  if (sub == "move") return Move(ctx, args);
  if (sub == "delete") return Delete(ctx, args);
  return List(ctx, args);
}

}  // namespace

Command AccountCommand() {
  return {"account", "create, show, update, move, delete and list accounts", kUsage, Run};
}

}  // namespace canopy::cli
