// Copyright (c) Canopy authors.
//
// canopy role create|update|delete|list: custom roles of a root tenant (the
// built-in account_admin, device_manager and viewer are listed, never
// changed).

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json] [--actor LOGIN] role SUBCOMMAND ...\n\n"
    "  role create NAME --tenant KEY --permissions P1,P2,...\n"
    "      Defines a custom role in a root tenant (needs role.manage there, and the\n"
    "      actor must hold every permission it gives). Permission names are Canopy's\n"
    "      (device.read, account.create, ...) or Frontegg's (fe.account-hierarchy.*).\n"
    "  role update NAME --tenant KEY --permissions P1,P2,...\n"
    "      Replaces a custom role's permissions.\n"
    "  role delete NAME --tenant KEY\n"
    "      Deletes a custom role no membership uses.\n"
    "  role list [--tenant KEY]\n"
    "      The built-in roles and, with --tenant, the custom roles of that account's\n"
    "      root tenant, with their permissions.\n\n"
    "Flags:\n"
    "  --tenant KEY          the root tenant (list: any account of its tree)\n"
    "  --permissions LIST    comma-separated permission names\n"
    "With --json each role is one object: name, tenant, builtin, permissions, id.\n"
    "With --csv (list only) the same columns (permissions comma-separated) after a\n"
    "header row.\n";

JsonObject RoleJson(const Role& r, Names& names) {
  JsonObject o;
  o.Str("name", r.name);
  if (r.tenant == kNoId) {
    o.Raw("tenant", "null");
  } else {
    o.Str("tenant", names.AccountKey(r.tenant));
  }
  o.Bool("builtin", r.builtin)
      .Raw("permissions", JsonStrings(r.permissions))
      .Int("id", static_cast<int64_t>(r.id));
  return o;
}

std::vector<std::string> GetPermissions(const Args& args) {
  std::vector<std::string> perms = SplitList("--permissions", args.Require("permissions"));
  if (perms.empty()) throw UsageError{"--permissions needs at least one permission name"};
  return perms;
}

// Prints the role `name` as seen from `tenant` after a change, or `message`.
int Confirm(Context& ctx, const Account& tenant, const std::string& name,
            const std::string& message) {
  if (!ctx.json) {
    *ctx.out << Printable(message) << "\n";
    return kExitOk;
  }
  Role r;
  if (!FindRole(ctx, tenant.id, name, &r)) return kExitFailed;
  Names names(ctx);
  *ctx.out << RoleJson(r, names).str() << "\n";
  return kExitOk;
}

int Create(Context& ctx, Args& args) {
  args.Parse({"tenant", "permissions"}, {});
  const std::string name = args.Positional(0, "NAME (the role's name)");
  args.AtMost(1);
  const std::string tenant_key = args.Require("tenant");
  const std::vector<std::string> perms = GetPermissions(args);
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Account tenant;
  if (!FindAccount(ctx, tenant_key, &tenant)) return kExitFailed;
  auto id = ctx.db->CreateRole(actor, tenant.id, name, perms);
  if (!id.ok()) return ctx.Fail(id.status());
  return Confirm(ctx, tenant, name,
                 "created role '" + name + "' (id " + std::to_string(*id) + ") in tenant '" +
                     tenant_key + "'");
}

int UpdateOrDelete(Context& ctx, Args& args, bool update) {
  if (update) {
    args.Parse({"tenant", "permissions"}, {});
  } else {
    args.Parse({"tenant"}, {});
  }
  const std::string name = args.Positional(0, "NAME (the role's name)");
  args.AtMost(1);
  const std::string tenant_key = args.Require("tenant");
  std::vector<std::string> perms;
  if (update) perms = GetPermissions(args);
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Account tenant;
  if (!FindAccount(ctx, tenant_key, &tenant)) return kExitFailed;
  Role role;
  if (!FindRole(ctx, tenant.id, name, &role)) return kExitFailed;
  if (update) {
    const uint64_t before = ctx.db->Revision();
    Status s = ctx.db->UpdateRole(actor, role.id, perms);
    if (!s.ok()) return ctx.Fail(s);
    return Confirm(ctx, tenant, name,
                   DoneOrUnchanged(ctx, before, "updated role '" + name + "'",
                                   "role '" + name + "' already has these permissions"));
  }
  Status s = ctx.db->DeleteRole(actor, role.id);
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.json) {
    *ctx.out << JsonObject().Str("name", name).Str("tenant", tenant_key).Bool("deleted", true).str()
             << "\n";
  } else {
    *ctx.out << "deleted role '" << Printable(name) << "'\n";
  }
  return kExitOk;
}

int List(Context& ctx, Args& args) {
  args.Parse({"tenant"}, {}, Args::Output::kTable);
  args.AtMost(0);
  if (!ctx.Open(false)) return kExitFailed;
  AccountId tenant = kNoId;
  if (auto key = args.Get("tenant")) {
    Account a;
    if (!FindAccount(ctx, *key, &a)) return kExitFailed;
    tenant = a.id;
  }
  auto roles = ctx.db->ListRoles(ctx.actor, tenant);
  if (!roles.ok()) return ctx.Fail(roles.status());
  Names names(ctx);
  Table table({"ROLE", "TENANT", "PERMISSIONS"});
  CsvWriter csv(*ctx.out, {"name", "tenant", "builtin", "permissions", "id"});
  for (const Role& r : *roles) {
    if (ctx.json) {
      *ctx.out << RoleJson(r, names).str() << "\n";
      continue;
    }
    std::string perms;
    for (size_t i = 0; i < r.permissions.size(); ++i) perms += (i ? "," : "") + r.permissions[i];
    if (ctx.csv) {
      csv.Row({r.name, r.tenant == kNoId ? "" : names.AccountKey(r.tenant), TrueFalse(r.builtin),
               perms, std::to_string(r.id)});
      continue;
    }
    table.Add({r.name, r.builtin ? "(built-in)" : names.AccountKey(r.tenant), perms});
  }
  if (ctx.csv) {
    csv.Finish();
  } else if (!ctx.json) {
    table.Flush(*ctx.out);
  }
  return kExitOk;
}

int Run(Context& ctx, Args& args) {
  const std::string sub = args.Subcommand({"create", "update", "delete", "list"});
  if (sub == "create") return Create(ctx, args);
  if (sub == "update") return UpdateOrDelete(ctx, args, true);
  if (sub == "delete") return UpdateOrDelete(ctx, args, false);
  return List(ctx, args);
}

}  // namespace

Command RoleCommand() {
  return {"role", "create, update, delete and list custom roles", kUsage, Run};
}

}  // namespace canopy::cli
