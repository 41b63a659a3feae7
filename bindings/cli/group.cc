// Copyright (c) Canopy authors.
//
// canopy group create|rename|delete|add|remove|list|members and canopy
// grant: groups of an account and the roles given to user groups
// (docs/model.md, "Groups"). A group is named by its owner's key, its kind
// and its name.

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json] [--actor LOGIN] group SUBCOMMAND ...\n\n"
    "  group create NAME --owner KEY --kind KIND\n"
    "      Creates a group of the account (needs group.write there).\n"
    "  group rename NAME --owner KEY --kind KIND --to NEW\n"
    "  group delete NAME --owner KEY --kind KIND\n"
    "      Deletes the group with its grants; its members stay.\n"
    "  group add NAME --owner KEY --kind KIND (MEMBER... | --from-file F)\n"
    "  group remove NAME --owner KEY --kind KIND (MEMBER... | --from-file F)\n"
    "      Adds (removes) members, all or nothing: entity keys for an entity group,\n"
    "      logins for a user group, account keys for an account group; named on the\n"
    "      command line or, for batches larger than it holds, in a file (one per\n"
    "      line; blank lines and lines starting with # skipped). A refusal\n"
    "      lists the members refused, with why: the unknown names first (the batch\n"
    "      is then not sent), else each one denied or named twice.\n"
    "  group list --owner KEY\n"
    "      The account's groups (those the actor may see).\n"
    "  group members NAME --owner KEY --kind KIND\n"
    "      The group's members, by key or login ((hidden) for one the actor does\n"
    "      not see).\n\n"
    "Flags:\n"
    "  --owner KEY    the account that owns the group\n"
    "  --kind KIND    device, asset, dashboard, entity_view, user or account\n"
    "  --to NAME      the new name (rename)\n"
    "  --from-file F  the members to add or remove, one per line (add, remove)\n"
    "With --json each group is one object: name, kind, owner, size, id; members are\n"
    "one object each: member. A refused add or remove prints one object per item\n"
    "refused (member, outcome, message), then {ok: false, unknown, denied,\n"
    "duplicate, error}.\n";

const char kGrantUsage[] =
    "usage: canopy [--db DIR] [--json] [--actor LOGIN] grant USER-GROUP --owner KEY --role ROLE\n"
    "                  [--on GROUP --on-owner KEY --on-kind KIND] [--branch] [--revoke]\n\n"
    "Gives every member of the user group USER-GROUP of account --owner the role: on\n"
    "the group's owner (generic; --branch: also on its sub-accounts), or with --on on\n"
    "the entities or accounts of that group (an entity group owned by --owner or\n"
    "one of its ancestors, sharing down needing the root tenant's group_sharing on;\n"
    "an account group owned by --owner). --revoke takes back the grant of that\n"
    "user group, role and --on (without --branch: the grant is named by those).\n";

GroupKind KindFlag(const Args& args, const std::string& flag) {
  const std::string k = args.Require(flag);
  auto kind = ParseGroupKind(k);
  if (!kind) {
    throw UsageError{"--" + flag + " must be device, asset, dashboard, entity_view, user or "
                     "account, not '" + k + "'"};
  }
  return *kind;
}

JsonObject GroupJson(const Group& g, Names& names) {
  JsonObject o;
  o.Str("name", g.name)
      .Str("kind", GroupKindName(g.kind))
      .Str("owner", names.AccountKey(g.owner))
      .Uint("size", g.size)
      .Uint("id", g.id);
  return o;
}

int Create(Context& ctx, Args& args) {
  args.Parse({"owner", "kind"}, {});
  const std::string name = args.Positional(0, "NAME (the group's name)");
  args.AtMost(1);
  const std::string owner_key = args.Require("owner");
  const GroupKind kind = KindFlag(args, "kind");
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Account owner;
  if (!FindAccount(ctx, owner_key, &owner)) return kExitFailed;
  auto id = ctx.db->CreateGroup(actor, GroupSpec{kind, name, owner.id});
  if (!id.ok()) return ctx.Fail(id.status());
  if (ctx.json) {
    Names names(ctx);
    *ctx.out << GroupJson(*ctx.db->GetGroup(Actor::System(), *id), names).str() << "\n";
  } else {
    *ctx.out << "created " << GroupKindName(kind) << " group '" << Printable(name) << "' (id "
             << *id << ") in account '" << Printable(owner_key) << "'\n";
  }
  return kExitOk;
}

int RenameOrDelete(Context& ctx, Args& args, bool rename) {
  if (rename) {
    args.Parse({"owner", "kind", "to"}, {});
  } else {
    args.Parse({"owner", "kind"}, {});
  }
  const std::string name = args.Positional(0, "NAME (the group's name)");
  args.AtMost(1);
  const std::string owner_key = args.Require("owner");
  const GroupKind kind = KindFlag(args, "kind");
  const std::string to = rename ? args.Require("to") : "";
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Group g;
  if (!FindGroup(ctx, owner_key, kind, name, &g)) return kExitFailed;
  Status s = rename ? ctx.db->RenameGroup(actor, g.id, to) : ctx.db->DeleteGroup(actor, g.id);
  if (!s.ok()) return ctx.Fail(s);
  // (A rename to the name it has commits nothing.)
  const bool same = rename && to == name;
  if (ctx.json) {
    JsonObject o;
    o.Str("name", rename ? to : name).Str("kind", GroupKindName(kind)).Str("owner", owner_key);
    o.Bool(rename ? "renamed" : "deleted", !same);
    *ctx.out << o.str() << "\n";
  } else if (same) {
    *ctx.out << GroupKindName(kind) << " group '" << Printable(name)
             << "' already has that name (nothing changed)\n";
  } else {
    *ctx.out << (rename ? "renamed " : "deleted ") << GroupKindName(kind) << " group '"
             << Printable(name) << "'" << (rename ? " to '" + Printable(to) + "'" : "") << "\n";
  }
  return kExitOk;
}

// The member named `ref` (an entity key, login or account key) as the
// viewer knows it: its id, or the look-up's error.
StatusOr<uint64_t> MemberId(Context& ctx, GroupKind kind, const std::string& ref) {
  if (kind == GroupKind::kUser) {
    auto u = ctx.db->FindUser(ctx.actor, ref);
    if (!u.ok()) return u.status();
    return u->id;
  }
  if (kind == GroupKind::kAccount) {
    auto a = ctx.db->FindAccount(ctx.actor, ref);
    if (!a.ok()) return a.status();
    return a->id;
  }
  auto e = ctx.db->FindEntity(ctx.actor, *GroupEntityKind(kind), ref);
  if (!e.ok()) return e.status();
  return e->id;
}

const char* MemberOutcomeName(GroupMemberItem::Outcome o) {
  switch (o) {
    case GroupMemberItem::Outcome::kDone: return "done";
    case GroupMemberItem::Outcome::kUnchanged: return "unchanged";
    case GroupMemberItem::Outcome::kUnknown: return "unknown";
    case GroupMemberItem::Outcome::kDenied: return "denied";
    case GroupMemberItem::Outcome::kDuplicate: return "duplicate";
  }
  return "?";
}

int AddOrRemove(Context& ctx, Args& args, bool add) {
  args.Parse({"owner", "kind", "from-file"}, {});
  const std::string name = args.Positional(0, "NAME (the group's name)");
  const auto file = args.Get("from-file");
  if (file && args.positionals().size() > 1) {
    throw UsageError{"give the members on the command line or with --from-file, not both"};
  }
  if (!file) args.Positional(1, "MEMBER (an entity key, login or account key)");
  const std::string owner_key = args.Require("owner");
  const GroupKind kind = KindFlag(args, "kind");
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Group g;
  if (!FindGroup(ctx, owner_key, kind, name, &g)) return kExitFailed;
  std::vector<std::string> refs(args.positionals().begin() + 1, args.positionals().end());
  if (file && !ReadRefs(ctx, *file, &refs)) return kExitFailed;
  if (refs.empty()) return ctx.Fail(Status::InvalidArgument("'" + *file + "' names no members"));
  // Every name is looked up first; the batch goes to the database only when
  // all are known (it is all or nothing), else each unknown one is reported.
  std::vector<uint64_t> ids;
  GroupMembersReport rep;
  std::vector<size_t> ref_of;  // rep.items[k] is about refs[ref_of[k]]
  for (size_t i = 0; i < refs.size(); ++i) {
    StatusOr<uint64_t> id = MemberId(ctx, kind, refs[i]);
    if (id.ok()) {
      ids.push_back(*id);
    } else if (id.status().IsNotFound()) {
      GroupMemberItem item;
      item.outcome = GroupMemberItem::Outcome::kUnknown;
      item.message = id.status().message();
      rep.items.push_back(std::move(item));
      ref_of.push_back(i);
      ++rep.unknown;
    } else {
      return ctx.Fail(id.status());
    }
  }
  const char* verb = add ? "added" : "removed";
  Status s;
  if (rep.unknown > 0) {
    s = Status::NotFound(std::to_string(rep.unknown) + " of " + std::to_string(refs.size()) +
                         " unknown (first: " + rep.items[0].message + "); nothing was " + verb);
  } else {
    s = add ? ctx.db->AddGroupMembers(actor, g.id, ids, &rep)
            : ctx.db->RemoveGroupMembers(actor, g.id, ids, &rep);
    ref_of.clear();
    for (size_t i = 0; i < rep.items.size(); ++i) ref_of.push_back(i);
  }
  if (!s.ok() && rep.unknown + rep.denied + rep.duplicate > 0) {
    // A refusal of items lists them, one by one: each one unknown, denied
    // or named twice (the others would have been fine).
    Table table({"MEMBER", "OUTCOME", "MESSAGE"});
    for (size_t k = 0; k < rep.items.size(); ++k) {
      const GroupMemberItem& item = rep.items[k];
      if (item.outcome == GroupMemberItem::Outcome::kDone ||
          item.outcome == GroupMemberItem::Outcome::kUnchanged) {
        continue;
      }
      const std::string& ref = ref_of[k] < refs.size() ? refs[ref_of[k]] : std::string();
      if (ctx.json) {
        *ctx.out << JsonObject()
                        .Str("member", ref)
                        .Str("outcome", MemberOutcomeName(item.outcome))
                        .Str("message", item.message)
                        .str()
                 << "\n";
      } else {
        table.Add({ref, MemberOutcomeName(item.outcome), item.message});
      }
    }
    if (ctx.json) {
      *ctx.out << JsonObject()
                      .Bool("ok", false)
                      .Str("name", name)
                      .Str("kind", GroupKindName(kind))
                      .Str("owner", owner_key)
                      .Uint("unknown", rep.unknown)
                      .Uint("denied", rep.denied)
                      .Uint("duplicate", rep.duplicate)
                      .Str("error", s.ToString())
                      .str()
               << "\n";
    } else {
      table.Flush(*ctx.out);
      *ctx.out << "refused, nothing " << verb << ": " << rep.unknown << " unknown, " << rep.denied
               << " denied, " << rep.duplicate << " duplicate\n";
    }
  }
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.json) {
    *ctx.out << JsonObject()
                    .Str("name", name)
                    .Str("kind", GroupKindName(kind))
                    .Str("owner", owner_key)
                    .Uint(verb, rep.done)
                    .Uint("unchanged", rep.unchanged)
                    .str()
             << "\n";
  } else {
    *ctx.out << verb << " " << rep.done << " of " << refs.size()
             << (add ? " to " : " from ") << GroupKindName(kind) << " group '" << Printable(name)
             << "' (" << rep.unchanged << " unchanged)\n";
  }
  return kExitOk;
}

int List(Context& ctx, Args& args) {
  args.Parse({"owner"}, {}, Args::Output::kTable);
  args.AtMost(0);
  const std::string owner_key = args.Require("owner");
  if (!ctx.Open(false)) return kExitFailed;
  Account owner;
  if (!FindAccount(ctx, owner_key, &owner)) return kExitFailed;
  auto groups = ctx.db->GroupsOf(ctx.actor, owner.id);
  if (!groups.ok()) return ctx.Fail(groups.status());
  Names names(ctx);
  Table table({"GROUP", "KIND", "MEMBERS"});
  CsvWriter csv(*ctx.out, {"name", "kind", "owner", "size", "id"});
  for (const Group& g : *groups) {
    if (ctx.json) {
      *ctx.out << GroupJson(g, names).str() << "\n";
    } else if (ctx.csv) {
      csv.Row({g.name, GroupKindName(g.kind), owner_key, std::to_string(g.size),
               std::to_string(g.id)});
    } else {
      table.Add({g.name, GroupKindName(g.kind), std::to_string(g.size)});
    }
  }
  if (ctx.csv) {
    csv.Finish();
  } else if (!ctx.json) {
    table.Flush(*ctx.out);
  }
  return kExitOk;
}

int Members(Context& ctx, Args& args) {
  args.Parse({"owner", "kind"}, {});
  const std::string name = args.Positional(0, "NAME (the group's name)");
  args.AtMost(1);
  const std::string owner_key = args.Require("owner");
  const GroupKind kind = KindFlag(args, "kind");
  if (!ctx.Open(false)) return kExitFailed;
  Group g;
  if (!FindGroup(ctx, owner_key, kind, name, &g)) return kExitFailed;
  Names names(ctx);
  uint64_t after = 0;
  for (;;) {
    GroupMembersPage page;
    Status s = ctx.db->GroupMembers(ctx.actor, g.id, after, 1000, &page);
    if (!s.ok()) return ctx.Fail(s);
    for (uint64_t m : page.members) {
      std::string label;
      if (kind == GroupKind::kUser) {
        label = names.Login(m);
      } else if (kind == GroupKind::kAccount) {
        label = names.AccountKey(m);
      } else {
        label = names.EntityKey(m);
      }
      if (ctx.json) {
        *ctx.out << JsonObject().Str("member", label).str() << "\n";
      } else {
        *ctx.out << Printable(label) << "\n";
      }
    }
    if (page.next == 0) break;
    after = page.next;
  }
  return kExitOk;
}

int Run(Context& ctx, Args& args) {
  const std::string sub =
      args.Subcommand({"create", "rename", "delete", "add", "remove", "list", "members"});
  if (sub == "create") return Create(ctx, args);
  if (sub == "rename") return RenameOrDelete(ctx, args, true);
  if (sub == "delete") return RenameOrDelete(ctx, args, false);
  if (sub == "add") return AddOrRemove(ctx, args, true);
  if (sub == "remove") return AddOrRemove(ctx, args, false);
  if (sub == "list") return List(ctx, args);
  return Members(ctx, args);
}

int RunGrant(Context& ctx, Args& args) {
  args.Parse({"owner", "role", "on", "on-owner", "on-kind"}, {"branch", "revoke"});
  const std::string name = args.Positional(0, "USER-GROUP (the user group's name)");
  args.AtMost(1);
  const std::string owner_key = args.Require("owner");
  const std::string role_name = args.Require("role");
  const auto on = args.Get("on");
  std::string on_owner;
  GroupKind on_kind = GroupKind::kDevice;
  if (on) {
    on_owner = args.Require("on-owner");
    on_kind = KindFlag(args, "on-kind");
  } else if (args.Get("on-owner") || args.Get("on-kind")) {
    throw UsageError{"--on-owner and --on-kind go with --on GROUP"};
  }
  if (args.Has("revoke") && args.Has("branch")) {
    // A grant is named by its user group, role and target; its branch
    // flag is what it gives, not which grant it is.
    throw UsageError{"--branch goes with a grant, not with --revoke (a grant is named by its "
                     "user group, --role and --on)"};
  }
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Group ug;
  if (!FindGroup(ctx, owner_key, GroupKind::kUser, name, &ug)) return kExitFailed;
  Role role;
  if (!FindRole(ctx, ug.owner, role_name, &role)) return kExitFailed;
  Group target;
  if (on && !FindGroup(ctx, on_owner, on_kind, *on, &target)) return kExitFailed;
  const GroupId target_id = on ? target.id : kNoId;
  Status s = args.Has("revoke")
                 ? ctx.db->RevokeGroup(actor, ug.id, role.id, target_id)
                 : ctx.db->GrantGroup(actor, GroupGrant{ug.id, role.id, target_id,
                                                        args.Has("branch")});
  if (!s.ok()) return ctx.Fail(s);
  const std::string what = on ? std::string(GroupKindName(on_kind)) + " group '" + *on +
                                    "' of account '" + on_owner + "'"
                              : "account '" + owner_key + "'";
  if (ctx.json) {
    JsonObject o;
    o.Str("user_group", name).Str("owner", owner_key).Str("role", role_name);
    if (on) o.Str("on", *on).Str("on_owner", on_owner).Str("on_kind", GroupKindName(on_kind));
    o.Bool("branch", args.Has("branch")).Bool(args.Has("revoke") ? "revoked" : "granted", true);
    *ctx.out << o.str() << "\n";
  } else {
    *ctx.out << (args.Has("revoke") ? "revoked role " : "granted role ") << Printable(role_name)
             << (args.Has("revoke") ? " from" : " to") << " user group '" << Printable(name)
             << "' on " << Printable(what) << "\n";
  }
  return kExitOk;
}

}  // namespace

Command GroupCommand() {
  return {"group", "create, rename, delete groups; add, remove and list members", kUsage, Run};
}

Command GrantCommand() {
  return {"grant", "give (or --revoke) a role to a user group, generic or on a group",
          kGrantUsage, RunGrant};
}

}  // namespace canopy::cli
