// Copyright (c) Canopy authors.
//
// canopy user ...: users and their memberships (account, role, branch).
// Roles are named, as seen from the membership's account (a built-in role,
// or a custom role of its root tenant).

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json] [--actor LOGIN] user SUBCOMMAND ...\n\n"
    "  user create LOGIN --name NAME --account KEY\n"
    "      Creates a user in the account (needs user.invite there). It holds no role\n"
    "      until invited.\n"
    "  user invite LOGIN --account KEY --role ROLE [--branch | --no-branch]\n"
    "      Gives the user ROLE on the account. --branch: also on every existing and\n"
    "      future sub-account; --no-branch: on the account alone; neither: the\n"
    "      account's sub-account access default decides.\n"
    "  user grant LOGIN --account KEY\n"
    "  user revoke LOGIN --account KEY\n"
    "      Gives or removes branch (sub-account) access on the user's membership of\n"
    "      the account, retroactively (needs access.grant; revoking is refused on an\n"
    "      always_on account).\n"
    "  user set-role LOGIN --account KEY --role ROLE\n"
    "      Changes the role of the user's membership of the account.\n"
    "  user uninvite LOGIN --account KEY\n"
    "      Removes the user's membership of the account.\n"
    "  user update LOGIN --name NAME\n"
    "      Renames the user.\n"
    "  user disable LOGIN | user enable LOGIN\n"
    "      A disabled user holds no permissions until enabled again.\n"
    "  user remove LOGIN\n"
    "      Deletes the user and all its memberships.\n"
    "  Changing a membership, or renaming, disabling, enabling or removing a\n"
    "  user, needs the actor to hold at least what the membership (every\n"
    "  membership of the user) gives, where it gives it.\n"
    "  user show LOGIN\n"
    "      The user and its memberships.\n"
    "  user list [--account KEY] [--members]\n"
    "      The users created in the account (without --account: every user the\n"
    "      actor sees, by account in tree order, then those it sees only through\n"
    "      a membership, their account hidden); with --members the memberships\n"
    "      on the account.\n\n"
    "Flags:\n"
    "  --name NAME     the user's display name\n"
    "  --account KEY   the account (created in / the membership's account)\n"
    "  --role ROLE     a role name: account_admin, device_manager, viewer, or a\n"
    "                  custom role of the account's root tenant\n"
    "  --branch        the membership also covers the sub-accounts\n"
    "  --no-branch     the membership covers the account alone\n"
    "  --members       list the account's members instead of its users\n"
    "With --json every subcommand prints JSON objects (one per line). With --csv\n"
    "(list only) the users' id, login, name, account, disabled, created, or with\n"
    "--members the memberships' login, account, role, branch, after a header row.\n";

JsonObject UserJson(const User& u, Names& names) {
  JsonObject o;
  o.Int("id", static_cast<int64_t>(u.id))
      .Str("login", u.login)
      .Str("name", u.name)
      .Str("account", names.AccountKey(u.account))
      .Bool("disabled", u.disabled)
      .Str("created", FormatTime(u.created_us));
  return o;
}

JsonObject MembershipJson(const Membership& m, Names& names) {
  JsonObject o;
  o.Str("login", names.Login(m.user))
      .Str("account", names.AccountKey(m.account))
      .Str("role", names.RoleName(m.role))
      .Bool("branch", m.branch);
  return o;
}

// The user (and the account when `with_account`) of a subcommand, with the
// actor, resolved after the database is open; false after printing an error.
struct Target {
  Actor actor = Actor::System();
  User user;
  Account account;
};
bool Resolve(Context& ctx, Args& args, bool with_account, Target* t) {
  if (!ctx.Open(false) || !ctx.ResolveActor(&t->actor)) return false;
  if (!FindUser(ctx, args.Positional(0, "LOGIN"), &t->user)) return false;
  return !with_account || FindAccount(ctx, args.Require("account"), &t->account);
}

// Prints the membership of `t` after a change, or `message`.
int ConfirmMembership(Context& ctx, const Target& t, const std::string& message) {
  if (!ctx.json) {
    *ctx.out << Printable(message) << "\n";
    return kExitOk;
  }
  auto ms = ctx.db->MembershipsOf(ctx.actor, t.user.id);
  if (!ms.ok()) return ctx.Fail(ms.status());
  Names names(ctx);
  for (const auto& m : *ms) {
    if (m.account == t.account.id) *ctx.out << MembershipJson(m, names).str() << "\n";
  }
  return kExitOk;
}

int ConfirmUser(Context& ctx, const std::string& login, const std::string& message) {
  if (!ctx.json) {
    *ctx.out << Printable(message) << "\n";
    return kExitOk;
  }
  User u;
  if (!FindUser(ctx, login, &u)) return kExitFailed;
  Names names(ctx);
  *ctx.out << UserJson(u, names).str() << "\n";
  return kExitOk;
}

int Create(Context& ctx, Args& args) {
  args.Parse({"name", "account"}, {});
  UserSpec spec;
  spec.login = args.Positional(0, "LOGIN (the new user's login)");
  args.AtMost(1);
  spec.name = args.Require("name");
  const std::string account = args.Require("account");
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Account a;
  if (!FindAccount(ctx, account, &a)) return kExitFailed;
  spec.account = a.id;
  auto id = ctx.db->CreateUser(actor, spec);
  if (!id.ok()) return ctx.Fail(id.status());
  return ConfirmUser(ctx, spec.login,
                     "created user '" + spec.login + "' (id " + std::to_string(*id) +
                         ") in account '" + account + "'");
}

int Invite(Context& ctx, Args& args) {
  args.Parse({"account", "role"}, {"branch", "no-branch"});
  args.Positional(0, "LOGIN");
  args.AtMost(1);
  args.Require("account");
  const std::string role_name = args.Require("role");
  if (args.Has("branch") && args.Has("no-branch")) {
    throw UsageError{"--branch and --no-branch exclude each other"};
  }
  std::optional<bool> branch;
  if (args.Has("branch")) branch = true;
  if (args.Has("no-branch")) branch = false;
  Target t;
  if (!Resolve(ctx, args, true, &t)) return kExitFailed;
  Role role;
  if (!FindRole(ctx, t.account.id, role_name, &role)) return kExitFailed;
  Status s = ctx.db->Invite(t.actor, t.user.id, t.account.id, role.id, branch);
  if (!s.ok()) return ctx.Fail(s);
  return ConfirmMembership(
      ctx, t, "invited '" + t.user.login + "' to account '" + t.account.key + "' as " + role.name);
}

int Grant(Context& ctx, Args& args, bool give) {
  args.Parse({"account"}, {});
  args.Positional(0, "LOGIN");
  args.AtMost(1);
  args.Require("account");
  Target t;
  if (!Resolve(ctx, args, true, &t)) return kExitFailed;
  const uint64_t before = ctx.db->Revision();
  Status s = ctx.db->SetBranchAccess(t.actor, t.user.id, t.account.id, give);
  if (!s.ok()) return ctx.Fail(s);
  const std::string on = " on account '" + t.account.key + "'";
  return ConfirmMembership(
      ctx, t,
      DoneOrUnchanged(ctx, before,
                      std::string(give ? "granted" : "revoked") + " sub-account access for '" +
                          t.user.login + "'" + on,
                      "'" + t.user.login + "' already has " + (give ? "" : "no ") +
                          "sub-account access" + on));
}

int SetRole(Context& ctx, Args& args) {
  args.Parse({"account", "role"}, {});
  args.Positional(0, "LOGIN");
  args.AtMost(1);
  args.Require("account");
  const std::string role_name = args.Require("role");
  Target t;
  if (!Resolve(ctx, args, true, &t)) return kExitFailed;
  Role role;
  if (!FindRole(ctx, t.account.id, role_name, &role)) return kExitFailed;
  const uint64_t before = ctx.db->Revision();
  Status s = ctx.db->ChangeRole(t.actor, t.user.id, t.account.id, role.id);
  if (!s.ok()) return ctx.Fail(s);
  const std::string now =
      "'" + t.user.login + "' is now " + role.name + " on account '" + t.account.key + "'";
  return ConfirmMembership(ctx, t,
                           DoneOrUnchanged(ctx, before, now,
                                           "'" + t.user.login + "' already is " + role.name +
                                               " on account '" + t.account.key + "'"));
}

int Uninvite(Context& ctx, Args& args) {
  args.Parse({"account"}, {});
  args.Positional(0, "LOGIN");
  args.AtMost(1);
  args.Require("account");
  Target t;
  if (!Resolve(ctx, args, true, &t)) return kExitFailed;
  Status s = ctx.db->RemoveMembership(t.actor, t.user.id, t.account.id);
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.json) {
    *ctx.out << JsonObject()
                    .Str("login", t.user.login)
                    .Str("account", t.account.key)
                    .Bool("removed", true)
                    .str()
             << "\n";
  } else {
    *ctx.out << "removed '" << Printable(t.user.login) << "' from account '"
             << Printable(t.account.key) << "'\n";
  }
  return kExitOk;
}

int Update(Context& ctx, Args& args) {
  args.Parse({"name"}, {});
  args.Positional(0, "LOGIN");
  args.AtMost(1);
  UserPatch patch;
  patch.name = args.Require("name");
  Target t;
  if (!Resolve(ctx, args, false, &t)) return kExitFailed;
  const uint64_t before = ctx.db->Revision();
  Status s = ctx.db->UpdateUser(t.actor, t.user.id, patch);
  if (!s.ok()) return ctx.Fail(s);
  return ConfirmUser(ctx, t.user.login,
                     DoneOrUnchanged(ctx, before, "updated user '" + t.user.login + "'",
                                     "user '" + t.user.login + "' already has that name"));
}

int Disable(Context& ctx, Args& args, bool disabled) {
  args.Parse({}, {});
  args.Positional(0, "LOGIN");
  args.AtMost(1);
  Target t;
  if (!Resolve(ctx, args, false, &t)) return kExitFailed;
  const uint64_t before = ctx.db->Revision();
  Status s = ctx.db->SetUserDisabled(t.actor, t.user.id, disabled);
  if (!s.ok()) return ctx.Fail(s);
  return ConfirmUser(ctx, t.user.login,
                     DoneOrUnchanged(ctx, before,
                                     std::string(disabled ? "disabled" : "enabled") + " user '" +
                                         t.user.login + "'",
                                     "user '" + t.user.login + "' already is " +
                                         (disabled ? "disabled" : "enabled")));
}

int Remove(Context& ctx, Args& args) {
  args.Parse({}, {});
  args.Positional(0, "LOGIN");
  args.AtMost(1);
  Target t;
  if (!Resolve(ctx, args, false, &t)) return kExitFailed;
  Status s = ctx.db->RemoveUser(t.actor, t.user.id);
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.json) {
    *ctx.out << JsonObject().Str("login", t.user.login).Bool("removed", true).str() << "\n";
  } else {
    *ctx.out << "removed user '" << Printable(t.user.login) << "'\n";
  }
  return kExitOk;
}

int Show(Context& ctx, Args& args) {
  args.Parse({}, {});
  args.Positional(0, "LOGIN");
  args.AtMost(1);
  Target t;
  if (!Resolve(ctx, args, false, &t)) return kExitFailed;
  auto ms = ctx.db->MembershipsOf(ctx.actor, t.user.id);
  if (!ms.ok()) return ctx.Fail(ms.status());
  Names names(ctx);
  if (ctx.json) {
    std::string list = "[";
    for (size_t i = 0; i < ms->size(); ++i) {
      list += (i ? "," : "") + MembershipJson((*ms)[i], names).str();
    }
    *ctx.out << UserJson(t.user, names).Raw("memberships", list + "]").str() << "\n";
    return kExitOk;
  }
  const User& u = t.user;
  *ctx.out << "user:      " << Printable(u.login) << " (id " << u.id << ")\n"
           << "name:      " << Printable(u.name) << "\n"
           << "account:   " << Printable(names.AccountKey(u.account)) << "\n"
           << "disabled:  " << YesNo(u.disabled) << "\n"
           << "created:   " << FormatTime(u.created_us) << "\n"
           << "memberships:" << (ms->empty() ? " (none)" : "") << "\n";
  if (ms->empty()) return kExitOk;
  Table table({"  ACCOUNT", "ROLE", "BRANCH"});
  for (const auto& m : *ms) {
    table.Add({"  " + names.AccountKey(m.account), names.RoleName(m.role), YesNo(m.branch)});
  }
  table.Flush(*ctx.out);
  return kExitOk;
}

int List(Context& ctx, Args& args) {
  args.Parse({"account"}, {"members"}, Args::Output::kTable);
  args.AtMost(0);
  const auto key = args.Get("account");
  if (args.Has("members") && !key) throw UsageError{"--members needs --account"};
  if (!ctx.Open(false)) return kExitFailed;
  Names names(ctx);
  std::vector<AccountId> accounts;
  if (key) {
    Account a;
    if (!FindAccount(ctx, *key, &a)) return kExitFailed;
    accounts.push_back(a.id);
  } else {
    auto tops = ctx.db->Roots(ctx.actor);
    if (!tops.ok()) return ctx.Fail(tops.status());
    for (AccountId top : *tops) {
      accounts.push_back(top);
      auto d = ctx.db->Descendants(ctx.actor, top, 0);
      if (!d.ok()) return ctx.Fail(d.status());
      for (const auto& a : *d) accounts.push_back(a.id);
    }
  }
  if (args.Has("members")) {
    auto members = ctx.db->MembersOf(ctx.actor, accounts[0]);
    if (!members.ok()) return ctx.Fail(members.status());
    Table table({"LOGIN", "ROLE", "BRANCH"});
    CsvWriter csv(*ctx.out, {"login", "account", "role", "branch"});
    for (const auto& m : *members) {
      if (ctx.csv) {
        csv.Row({names.Login(m.user), names.AccountKey(m.account), names.RoleName(m.role),
                 TrueFalse(m.branch)});
      } else if (ctx.json) {
        *ctx.out << MembershipJson(m, names).str() << "\n";
      } else {
        table.Add({names.Login(m.user), names.RoleName(m.role), YesNo(m.branch)});
      }
    }
    if (ctx.csv) {
      csv.Finish();
    } else if (!ctx.json) {
      table.Flush(*ctx.out);
    }
    return kExitOk;
  }
  Table table({"LOGIN", "NAME", "ACCOUNT", "DISABLED"});
  CsvWriter csv(*ctx.out, {"id", "login", "name", "account", "disabled", "created"});
  auto print = [&](const User& u) {
    if (ctx.csv) {
      csv.Row({std::to_string(u.id), u.login, u.name, names.AccountKey(u.account),
               TrueFalse(u.disabled), FormatTime(u.created_us)});
    } else if (ctx.json) {
      *ctx.out << UserJson(u, names).str() << "\n";
    } else {
      table.Add({u.login, u.name, names.AccountKey(u.account), YesNo(u.disabled)});
    }
  };
  std::set<UserId> listed;
  for (AccountId id : accounts) {
    auto users = ctx.db->UsersOf(ctx.actor, id);
    if (!users.ok()) return ctx.Fail(users.status());
    for (const auto& u : *users) {
      listed.insert(u.id);
      print(u);
    }
  }
  // Every user: also those the actor sees through a membership on an
  // account it sees, though created in one it does not (their account is
  // shown hidden), after the others, in the order their memberships come.
  if (!key && !ctx.actor.is_system()) {
    for (AccountId id : accounts) {
      auto members = ctx.db->MembersOf(ctx.actor, id);
      if (!members.ok()) return ctx.Fail(members.status());
      for (const auto& m : *members) {
        if (!listed.insert(m.user).second) continue;
        auto u = ctx.db->GetUser(ctx.actor, m.user);
        if (!u.ok()) return ctx.Fail(u.status());
        print(*u);
      }
    }
  }
  if (ctx.csv) {
    csv.Finish();
  } else if (!ctx.json) {
    table.Flush(*ctx.out);
  }
  return kExitOk;
}

int Run(Context& ctx, Args& args) {
  const std::string sub =
      args.Subcommand({"create", "invite", "grant", "revoke", "set-role", "uninvite", "update",
                       "disable", "enable", "remove", "show", "list"});
  if (sub == "create") return Create(ctx, args);
  if (sub == "invite") return Invite(ctx, args);
  if (sub == "grant") return Grant(ctx, args, true);
  if (sub == "revoke") return Grant(ctx, args, false);
  if (sub == "set-role") return SetRole(ctx, args);
  if (sub == "uninvite") return Uninvite(ctx, args);
  if (sub == "update") return Update(ctx, args);
  if (sub == "disable") return Disable(ctx, args, true);
  if (sub == "enable") return Disable(ctx, args, false);
  if (sub == "remove") return Remove(ctx, args);
  if (sub == "show") return Show(ctx, args);
  return List(ctx, args);
}

}  // namespace

Command UserCommand() {
  return {"user", "create, invite, grant/revoke sub-account access, list users", kUsage, Run};
}

}  // namespace canopy::cli
