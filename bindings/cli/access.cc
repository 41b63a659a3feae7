// Copyright (c) Canopy authors.
//
// canopy check / canopy who-can: may this user exercise a permission on an
// entity (and why), and the reverse — every user that may.

#include <optional>

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kCheckUsage[] =
    "usage: canopy [--db DIR] [--json] [--actor LOGIN] check --user LOGIN --permission P\n"
    "           (--entity KEY | --account KEY) [--explain] [--fail-if-denied]\n\n"
    "Answers whether the user may exercise the permission on the entity (an entity\n"
    "permission: its kind follows it, device.read -> a device) or on the account\n"
    "(an account-level permission such as account.create, user.invite,\n"
    "access.grant: whether the user holds it there, as the change asks; the\n"
    "change may still refuse for the state of things, such as sub-account\n"
    "management off). Prints 'allowed' or 'denied'.\n"
    "  --user LOGIN      the user (required; with --actor, the actor itself)\n"
    "  --permission P    a permission, e.g. device.read or account.create (required)\n"
    "  --entity KEY      the entity's key, for an entity permission\n"
    "  --account KEY     the account's key, for an account-level permission\n"
    "  --explain         also print why: the reason, and when allowed the account of\n"
    "                    the membership (or of the user group's grant), the role,\n"
    "                    whether it reaches sub-accounts (branch) and the path of\n"
    "                    accounts from that account down to the target\n"
    "  --fail-if-denied  exit with status 3 when the answer is 'denied' (for scripts)\n"
    "What the user cannot see at all is, to the user, missing: with --actor the\n"
    "answer is an error worded as for an unknown key; without --actor (an\n"
    "operator asking) it is 'denied' (--explain adds that the user cannot see it).\n"
    "With --json one object: allowed, entity or account, owner (and with --explain\n"
    "reason, via_account, via ('membership' or 'group_grant'), role, branch,\n"
    "path).\n"
    "Exit status 0 whether allowed or denied (3 when denied with --fail-if-denied);\n"
    "1 for errors such as an unknown user, entity or permission. A disabled user\n"
    "is denied every key, known or not, and its answer names no owner.\n";

const char kWhoCanUsage[] =
    "usage: canopy [--db DIR] [--json | --csv] [--actor LOGIN] who-can --permission P\n"
    "           (--entity KEY | --account KEY)\n\n"
    "Lists every user that may exercise the permission on the entity (or, for an\n"
    "account-level permission, the account), by user id, with the membership that\n"
    "grants it, or for a user reached through a user group's grant the account\n"
    "the grant applies on and its role (all pages). As --actor: only for a target\n"
    "the actor sees, and only users whose granting membership it sees (for a\n"
    "grant: users it sees, in a user group whose owner's groups it sees).\n"
    "  --permission P    a permission, e.g. device.read or user.invite (required)\n"
    "  --entity KEY      the entity's key, for an entity permission\n"
    "  --account KEY     the account's key, for an account-level permission\n"
    "With --json one object per user: login, account (the membership's account\n"
    "key), role, branch, user (the id), via ('membership' or 'group_grant'); with\n"
    "--csv the same columns after a header row.\n";

// The kind of entity an entity permission like "asset.write" applies to;
// nothing for an account-level permission ("account.create").
std::optional<EntityKind> KindOfPermission(const std::string& permission) {
  auto dot = permission.find('.');
  if (dot == std::string::npos) return std::nullopt;
  return ParseEntityKind(permission.substr(0, dot));
}

// How a user holds what it holds: its membership, or a grant of one of its
// user groups (`via_user_group`); the `via` field of check and who-can.
const char* Via(GroupId via_user_group) {
  return via_user_group == kNoId ? "membership" : "group_grant";
}

// The target key from --entity or --account, whichever fits the permission.
std::string TargetKey(Args& args, const std::string& permission) {
  const auto entity = args.Get("entity");
  const auto account = args.Get("account");
  if (entity && account) throw UsageError{"give --entity or --account, not both"};
  const bool entity_perm = KindOfPermission(permission).has_value();
  const std::string family = permission.substr(0, permission.find('.'));
  const bool account_perm = family == "account" || family == "user" || family == "access" ||
                            family == "role" || family == "audit";
  if (!entity && !account) {
    throw UsageError{account_perm ? "--account is required (an account's key, for an "
                                    "account-level permission)"
                                  : "--entity is required (an entity's key; or --account, "
                                    "for an account-level permission)"};
  }
  if (!entity_perm && !account_perm) return entity ? *entity : *account;  // the engine refuses it
  if (entity && !entity_perm) {
    throw UsageError{"permission '" + permission +
                     "' is not a permission on entities: name an account with --account"};
  }
  if (account && entity_perm) {
    throw UsageError{"permission '" + permission +
                     "' is a permission on entities: name one with --entity"};
  }
  return entity ? *entity : *account;
}

std::string JoinPath(const std::vector<std::string>& path) {
  std::string out;
  // Each key escaped as every other printed text is (a key may hold
  // control characters).
  for (size_t i = 0; i < path.size(); ++i) out += (i ? " > " : "") + Printable(path[i]);
  return out;
}

int RunCheck(Context& ctx, Args& args) {
  args.Parse({"user", "permission", "entity", "account"}, {"explain", "fail-if-denied"});
  args.AtMost(0);
  const std::string login = QuestionUser(ctx, args, "check");
  const std::string permission = args.Require("permission");
  const std::string key = TargetKey(args, permission);
  const std::optional<EntityKind> kind = KindOfPermission(permission);
  if (!ctx.Open(false)) return kExitFailed;
  User user;
  if (!FindUser(ctx, login, &user)) return kExitFailed;
  Names names(ctx);
  Explanation ex;
  // Without --actor the operator asks, and may learn that a target exists
  // which the user cannot see (denied, saying so).
  Status s = ctx.db->Explain(ctx.actor_given ? ctx.actor : Actor::System(), user.id, permission,
                             key, &ex);
  if (!s.ok()) return FailQuery(ctx, s);
  const char* target_field = kind ? "entity" : "account";
  if (ctx.json) {
    JsonObject o;
    o.Bool("allowed", ex.allowed).Str(target_field, key);
    // A disabled user's answer names no owner (it is told nothing).
    if (kind && ex.owner != kNoId) o.Str("owner", names.AccountKey(ex.owner));
    if (args.Has("explain")) {
      o.Str("reason", ex.reason);
      if (ex.allowed) {
        // (via_account: the target of an account's check is "account".)
        o.Str("via_account", names.AccountKey(ex.via_account))
            .Str("via", Via(ex.via_user_group))
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
    *ctx.out << "reason:   " << Printable(ex.reason) << "\n";
    if (kind && ex.owner != kNoId) {
      *ctx.out << "owner:    " << Printable(names.AccountKey(ex.owner)) << "\n";
    }
    if (ex.allowed) {
      *ctx.out << "account:  " << Printable(names.AccountKey(ex.via_account))
               << (ex.via_user_group == kNoId ? " (the membership)\n"
                                              : " (through a user group's grant)\n")
               << "role:     " << Printable(ex.via_role_name) << "\n"
               << "branch:   " << YesNo(ex.via_branch) << "\n"
               << "path:     " << JoinPath(ex.path) << "\n";
    }
  }
  return ex.allowed || !args.Has("fail-if-denied") ? kExitOk : kExitDenied;
}

int RunWhoCan(Context& ctx, Args& args) {
  args.Parse({"permission", "entity", "account"}, {}, Args::Output::kTable);
  args.AtMost(0);
  WhoCanRequest req;
  req.permission = args.Require("permission");
  req.entity_key = TargetKey(args, req.permission);
  req.limit = 10000;
  if (!ctx.Open(false)) return kExitFailed;
  req.viewer = ctx.actor;
  Names names(ctx);
  Table table({"LOGIN", "ACCOUNT", "ROLE", "BRANCH", "VIA"});
  CsvWriter csv(*ctx.out, {"login", "account", "role", "branch", "user", "via"});
  for (;;) {
    WhoCanPage page;
    Status s = ctx.db->WhoCan(req, &page);
    if (!s.ok()) return FailQuery(ctx, s);
    for (const auto& item : page.items) {
      const std::string& account = names.AccountKey(item.via_account);
      const std::string& role = names.RoleName(item.role);
      const std::string via = Via(item.via_user_group);
      if (ctx.csv) {
        csv.Row({item.login, account, role, TrueFalse(item.branch), std::to_string(item.user),
                 via});
      } else if (ctx.json) {
        *ctx.out << JsonObject()
                        .Str("login", item.login)
                        .Str("account", account)
                        .Str("role", role)
                        .Bool("branch", item.branch)
                        .Int("user", static_cast<int64_t>(item.user))
                        .Str("via", via)
                        .str()
                 << "\n";
      } else {
        table.Add({item.login, account, role, YesNo(item.branch),
                   via == "membership" ? "membership" : "group grant"});
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
