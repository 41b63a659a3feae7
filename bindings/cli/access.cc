// Copyright (c) Canopy authors.
//
// canopy check / canopy who-can: may this user exercise a permission on an
// entity (and why), and the reverse — every user that may.

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kCheckUsage[] =
    "usage: canopy [--db DIR] [--json] [--actor LOGIN] check --user LOGIN --permission P\n"
    "           --entity KEY\n"
    "           [--explain] [--fail-if-denied]\n\n"
    "Answers whether the user may exercise the permission on the entity: prints\n"
    "'allowed' or 'denied'. The entity's kind follows the permission\n"
    "(device.read -> a device, asset.write -> an asset).\n"
    "  --user LOGIN      the user (required; with --actor, the actor itself, and an\n"
    "                    entity the actor cannot see is reported as unknown)\n"
    "  --permission P    an entity permission, e.g. device.read (required)\n"
    "  --entity KEY      the entity's key (required)\n"
    "  --explain         also print why: the reason, and when allowed the membership\n"
    "                    account, role, whether it is a branch membership and the path\n"
    "                    of accounts from the membership down to the owner\n"
    "  --fail-if-denied  exit with status 3 when the answer is 'denied' (for scripts)\n"
    "With --json one object: allowed, entity, owner (and with --explain reason,\n"
    "account, role, branch, path).\n"
    "Exit status 0 whether allowed or denied (3 when denied with --fail-if-denied);\n"
    "1 for errors such as an unknown user, entity or permission.\n";

const char kWhoCanUsage[] =
    "usage: canopy [--db DIR] [--json | --csv] [--actor LOGIN] who-can --permission P\n"
    "           --entity KEY\n\n"
    "Lists every user that may exercise the permission on the entity, by user id,\n"
    "with the membership that grants it (all pages). As --actor: only for an entity\n"
    "the actor sees, and only users whose granting membership it sees.\n"
    "  --permission P    an entity permission, e.g. device.read (required)\n"
    "  --entity KEY      the entity's key (required)\n"
    "With --json one object per user: login, account (the membership's account\n"
    "key), role, branch, user (the id); with --csv the same columns after a\n"
    "header row.\n";

// The kind of entity a permission like "asset.write" applies to; when the
// prefix names no kind the engine reports the bad permission itself.
EntityKind KindOfPermission(const std::string& permission) {
  auto dot = permission.find('.');
  auto kind = ParseEntityKind(permission.substr(0, dot));
  return kind.value_or(EntityKind::kDevice);
}

std::string JoinPath(const std::vector<std::string>& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) out += (i ? " > " : "") + path[i];
  return out;
}

int RunCheck(Context& ctx, Args& args) {
  args.Parse({"user", "permission", "entity"}, {"explain", "fail-if-denied"});
  args.AtMost(0);
  const std::string login = QuestionUser(ctx, args, "check");
  const std::string permission = args.Require("permission");
  const std::string entity = args.Require("entity");
  if (!ctx.Open(false)) return kExitFailed;
  User user;
  if (!FindUser(ctx, login, &user)) return kExitFailed;
  if (ctx.actor_given) {
    // An entity out of the actor's sight is unknown, not "denied".
    auto seen = ctx.db->FindEntity(ctx.actor, KindOfPermission(permission), entity);
    if (!seen.ok() && seen.status().IsNotFound()) return ctx.Fail(seen.status());
  }
  Names names(ctx);
  Explanation ex;
  if (args.Has("explain")) {
    Status s = ctx.db->Explain(user.id, permission, entity, &ex);
    if (!s.ok()) return ctx.Fail(s);
  } else {
    auto allowed = ctx.db->Check(user.id, permission, entity);
    if (!allowed.ok()) return ctx.Fail(allowed.status());
    ex.allowed = *allowed;
    // The owner is part of every answer; the look-up cannot fail after Check.
    auto e = ctx.db->FindEntity(KindOfPermission(permission), entity);
    if (e.ok()) ex.owner = e->owner;
  }
  if (ctx.json) {
    JsonObject o;
    o.Bool("allowed", ex.allowed).Str("entity", entity).Str("owner", names.AccountKey(ex.owner));
    if (args.Has("explain")) {
      o.Str("reason", ex.reason);
      if (ex.allowed) {
        o.Str("account", names.AccountKey(ex.via_account))
            .Str("role", ex.via_role_name)
            .Bool("branch", ex.via_branch)
            .Raw("path", JsonStrings(ex.path));
      }
    }
    *ctx.out << o.str() << "\n";
    return ex.allowed || !args.Has("fail-if-denied") ? kExitOk : kExitDenied;
  }
  *ctx.out << (ex.allowed ? "allowed" : "denied") << "\n";
  if (args.Has("explain")) {
    *ctx.out << "reason:   " << Printable(ex.reason) << "\n"
             << "owner:    " << Printable(names.AccountKey(ex.owner)) << "\n";
    if (ex.allowed) {
      *ctx.out << "account:  " << Printable(names.AccountKey(ex.via_account))
               << " (the membership)\n"
               << "role:     " << Printable(ex.via_role_name) << "\n"
               << "branch:   " << YesNo(ex.via_branch) << "\n"
               << "path:     " << JoinPath(ex.path) << "\n";
    }
  }
  return ex.allowed || !args.Has("fail-if-denied") ? kExitOk : kExitDenied;
}

int RunWhoCan(Context& ctx, Args& args) {
  args.Parse({"permission", "entity"}, {}, Args::Output::kTable);
  args.AtMost(0);
  WhoCanRequest req;
  req.permission = args.Require("permission");
  req.entity_key = args.Require("entity");
  req.limit = 10000;
  if (!ctx.Open(false)) return kExitFailed;
  req.viewer = ctx.actor;
  Names names(ctx);
  Table table({"LOGIN", "ACCOUNT", "ROLE", "BRANCH"});
  CsvWriter csv(*ctx.out, {"login", "account", "role", "branch", "user"});
  for (;;) {
    WhoCanPage page;
    Status s = ctx.db->WhoCan(req, &page);
    if (!s.ok()) return ctx.Fail(s);
    for (const auto& item : page.items) {
      const std::string& account = names.AccountKey(item.via_account);
      const std::string& role = names.RoleName(item.role);
      if (ctx.csv) {
        csv.Row({item.login, account, role, TrueFalse(item.branch), std::to_string(item.user)});
      } else if (ctx.json) {
        *ctx.out << JsonObject()
                        .Str("login", item.login)
                        .Str("account", account)
                        .Str("role", role)
                        .Bool("branch", item.branch)
                        .Int("user", static_cast<int64_t>(item.user))
                        .str()
                 << "\n";
      } else {
        table.Add({item.login, account, role, YesNo(item.branch)});
      }
    }
    if (page.next_cursor.empty()) break;
    req.cursor = page.next_cursor;
  }
  if (ctx.csv) {
    csv.Finish();
  } else if (!ctx.json) {
    table.Flush(*ctx.out);
  }
  return kExitOk;
}

}  // namespace

Command CheckCommand() {
  return {"check", "may a user exercise a permission on an entity (and why)", kCheckUsage,
          RunCheck};
}

Command WhoCanCommand() {
  return {"who-can", "the users that may exercise a permission on an entity", kWhoCanUsage,
          RunWhoCan};
}

}  // namespace canopy::cli
