// Copyright (c) Canopy authors.
//
// canopy device create|show|update|delete|reassign: devices (and, with
// --kind, the other entity kinds: asset, dashboard, entity_view), including
// AutoPi's batch reassignment ("Manage devices -> Process")
// with its per-item report.

#include <algorithm>

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] [--json] [--actor LOGIN] device SUBCOMMAND ... [--kind KIND]\n\n"
    "  device create KEY --account KEY --name NAME [--unit-id U] [--type T]\n"
    "                [--attribute K=V]...\n"
    "      Creates a device (or another --kind of entity) owned by the account\n"
    "      (needs KIND.write there).\n"
    "  device show KEY | device show --unit-id U\n"
    "      The entity: key, unit id, name, type, owner account, attributes, times.\n"
    "  device update KEY [--name NAME] [--type T] [--unit-id U] [--attribute K=V]...\n"
    "                [--remove-attribute K]...\n"
    "      Changes the given fields (--unit-id '' removes the unit id; --attribute adds\n"
    "      or replaces one attribute, --remove-attribute removes one).\n"
    "  device delete KEY\n"
    "      Deletes the entity (needs KIND.delete on its owner).\n"
    "  device reassign --to ACCOUNT_KEY (--keys K1,K2,... | --unit-ids U1,U2,... |\n"
    "                  --from-file F [--by key|unit-id]) [--group NAME]...\n"
    "      Moves the batch to the account, all or nothing, and prints one line per\n"
    "      item: moved, unchanged (already there), unknown, denied or duplicate.\n"
    "      Moved entities leave their old owner's groups; with --group they join\n"
    "      that group of the new owner (needs group.write there). Exits 1 when the\n"
    "      batch was refused: then nothing moved, and 'moved' marks the items that\n"
    "      would have moved.\n\n"
    "Flags:\n"
    "  --kind KIND          device (default), asset, dashboard or entity_view\n"
    "  --account KEY        the owner account\n"
    "  --name NAME          the display name\n"
    "  --unit-id U          the device's unit id (devices only; unique)\n"
    "  --type T             the device type / profile\n"
    "  --attribute K=V      a free attribute (repeatable)\n"
    "  --remove-attribute K remove an attribute (update; repeatable)\n"
    "  --to ACCOUNT_KEY     the target account of a reassignment\n"
    "  --keys LIST          comma-separated entity keys (device ids)\n"
    "  --unit-ids LIST      comma-separated unit ids (devices only)\n"
    "  --from-file F        a file with one key or unit id per line (blank lines and\n"
    "                       lines starting with '#' are skipped; spaces around a\n"
    "                       line and a leading byte order mark are not part of it)\n"
    "  --by key|unit-id     what the lines of --from-file are (default key)\n"
    "  --group NAME         reassign: a group of the new owner (of the entities' kind)\n"
    "                       every moved entity joins (repeatable)\n"
    "With --json: create, show and update print the entity as one object;\n"
    "reassign prints one object per item (ref, outcome, previous_owner, message) and\n"
    "then a summary object (ok, to, moved, unchanged, unknown, denied, duplicate,\n"
    "error).\n";

JsonObject EntityJson(const Entity& e, Names& names) {
  JsonObject o;
  o.Int("id", static_cast<int64_t>(e.id))
      .Str("kind", EntityKindName(e.kind))
      .Str("key", e.key)
      .Str("unit_id", e.unit_id)
      .Str("name", e.name)
      .Str("type", e.type)
      .Str("account", names.AccountKey(e.owner))
      .Raw("attributes", JsonAttributes(e.attributes))
      .Str("created", FormatTime(e.created_us))
      .Str("updated", FormatTime(e.updated_us));
  return o;
}

void PrintEntity(Context& ctx, const Entity& e) {
  Names names(ctx);
  if (ctx.json) {
    *ctx.out << EntityJson(e, names).str() << "\n";
    return;
  }
  std::ostream& out = *ctx.out;
  std::string label = std::string(EntityKindName(e.kind)) + ":";
  label.resize(std::max<size_t>(label.size() + 1, 10), ' ');
  out << label << Printable(e.key) << " (id " << e.id << ")\n";
  if (e.kind == EntityKind::kDevice) {
    out << "unit id:  " << (e.unit_id.empty() ? "(none)" : Printable(e.unit_id)) << "\n";
  }
  out << "name:     " << Printable(e.name) << "\n"
      << "type:     " << (e.type.empty() ? "(none)" : Printable(e.type)) << "\n"
      << "account:  " << Printable(names.AccountKey(e.owner)) << "\n"
      << "created:  " << FormatTime(e.created_us) << "\n"
      << "updated:  " << FormatTime(e.updated_us) << "\n"
      << "attributes:" << (e.attributes.empty() ? " (none)" : "") << "\n";
  for (const auto& [k, v] : e.attributes) {
    out << "  " << Printable(k) << " = " << Printable(v) << "\n";
  }
}

bool FindEntity(Context& ctx, EntityKind kind, const std::string& key, Entity* out) {
  auto e = ctx.db->FindEntity(ctx.actor, kind, key);
  if (!e.ok()) {
    ctx.Fail(e.status());
    return false;
  }
  *out = std::move(e).value();
  return true;
}

int Create(Context& ctx, Args& args) {
  args.Parse({"kind", "account", "name", "unit-id", "type", "attribute"}, {});
  EntitySpec spec;
  spec.key = args.Positional(0, "KEY (the new entity's key)");
  args.AtMost(1);
  spec.kind = GetKind(args);
  const std::string account = args.Require("account");
  spec.name = args.Require("name");
  spec.unit_id = args.Get("unit-id").value_or("");
  if (args.Get("unit-id") && spec.unit_id.empty()) {
    throw UsageError{"--unit-id needs a unit id (leave it out for none)"};
  }
  spec.type = args.Get("type").value_or("");
  spec.attributes = GetAttributes(args, "attribute");
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Account owner;
  if (!FindAccount(ctx, account, &owner)) return kExitFailed;
  spec.owner = owner.id;
  auto id = ctx.db->CreateEntity(actor, spec);
  if (!id.ok()) return ctx.Fail(id.status());
  if (ctx.json) {
    auto e = ctx.db->GetEntity(*id);
    if (!e.ok()) return ctx.Fail(e.status());
    PrintEntity(ctx, *e);
    return kExitOk;
  }
  *ctx.out << "created " << EntityKindName(spec.kind) << " '" << Printable(spec.key) << "' (id " << *id
           << ") in account '" << account << "'\n";
  return kExitOk;
}

int Show(Context& ctx, Args& args) {
  args.Parse({"kind", "unit-id"}, {});
  args.AtMost(1);
  const EntityKind kind = GetKind(args);
  const auto unit = args.Get("unit-id");
  if (unit.has_value() == !args.positionals().empty()) {
    throw UsageError{"give either KEY or --unit-id U"};
  }
  if (unit && kind != EntityKind::kDevice) throw UsageError{"only devices have unit ids"};
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;  // what is out of its sight looks missing
  Entity e;
  if (unit) {
    auto found = ctx.db->FindDeviceByUnitId(actor, *unit);
    if (!found.ok()) return ctx.Fail(found.status());
    e = std::move(found).value();
  } else if (!FindEntity(ctx, kind, args.positionals()[0], &e)) {
    return kExitFailed;
  }
  PrintEntity(ctx, e);
  return kExitOk;
}

int Update(Context& ctx, Args& args) {
  args.Parse({"kind", "name", "type", "unit-id", "attribute", "remove-attribute"}, {});
  const std::string key = args.Positional(0, "KEY (the entity to update)");
  args.AtMost(1);
  const EntityKind kind = GetKind(args);
  EntityPatch patch;
  patch.name = args.Get("name");
  patch.type = args.Get("type");
  patch.unit_id = args.Get("unit-id");
  const Attributes set = GetAttributes(args, "attribute");
  const std::vector<std::string> remove = args.GetAll("remove-attribute");
  if (!patch.name && !patch.type && !patch.unit_id && set.empty() && remove.empty()) {
    throw UsageError{
        "nothing to change: give --name, --type, --unit-id, --attribute or "
        "--remove-attribute"};
  }
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Entity e;
  if (!FindEntity(ctx, kind, key, &e)) return kExitFailed;
  if (!set.empty() || !remove.empty()) {
    Attributes attributes;
    Status merged = UpdatedAttributes(e.attributes, set, remove,
                                      std::string(EntityKindName(kind)) + " '" + key + "'",
                                      &attributes);
    if (!merged.ok()) return ctx.Fail(merged);
    patch.attributes = std::move(attributes);
  }
  const uint64_t before = ctx.db->Revision();
  Status s = ctx.db->UpdateEntity(actor, e.id, patch);
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.json) {
    auto updated = ctx.db->GetEntity(e.id);
    if (!updated.ok()) return ctx.Fail(updated.status());
    PrintEntity(ctx, *updated);
    return kExitOk;
  }
  const std::string what = std::string(EntityKindName(kind)) + " '" + key + "'";
  *ctx.out << Printable(DoneOrUnchanged(ctx, before, "updated " + what, what + " already is so"))
           << "\n";
  return kExitOk;
}

int Delete(Context& ctx, Args& args) {
  args.Parse({"kind"}, {});
  const std::string key = args.Positional(0, "KEY (the entity to delete)");
  args.AtMost(1);
  const EntityKind kind = GetKind(args);
  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  Entity e;
  if (!FindEntity(ctx, kind, key, &e)) return kExitFailed;
  Status s = ctx.db->DeleteEntity(actor, e.id);
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.json) {
    *ctx.out << JsonObject()
                    .Str("kind", EntityKindName(kind))
                    .Str("key", key)
                    .Bool("deleted", true)
                    .str()
             << "\n";
  } else {
    *ctx.out << "deleted " << EntityKindName(kind) << " '" << Printable(key) << "'\n";
  }
  return kExitOk;
}

int Reassign(Context& ctx, Args& args) {
  args.Parse({"kind", "to", "keys", "unit-ids", "from-file", "by", "group"}, {});
  args.AtMost(0);
  const EntityKind kind = GetKind(args);
  const std::string to = args.Require("to");
  const auto keys = args.Get("keys");
  const auto units = args.Get("unit-ids");
  const auto file = args.Get("from-file");
  if (keys.has_value() + units.has_value() + file.has_value() != 1) {
    throw UsageError{"give exactly one of --keys, --unit-ids or --from-file"};
  }
  const auto by_text = args.Get("by");
  if (by_text && !file) throw UsageError{"--by goes with --from-file"};
  if (by_text && *by_text != "key" && *by_text != "unit-id") {
    throw UsageError{"--by must be key or unit-id, not '" + *by_text + "'"};
  }
  const EntityRef by =
      units || (by_text && *by_text == "unit-id") ? EntityRef::kUnitId : EntityRef::kKey;
  if (by == EntityRef::kUnitId && kind != EntityKind::kDevice) {
    throw UsageError{"only devices have unit ids"};
  }
  std::vector<std::string> refs;
  if (keys) refs = SplitList("--keys", *keys);
  if (units) refs = SplitList("--unit-ids", *units);
  if (!file && refs.empty()) throw UsageError{"the list of entities to reassign is empty"};

  if (!ctx.Open(false)) return kExitFailed;
  Actor actor = Actor::System();
  if (!ctx.ResolveActor(&actor)) return kExitFailed;
  if (file && !ReadRefs(ctx, *file, &refs)) return kExitFailed;
  if (refs.empty()) return ctx.Fail(Status::InvalidArgument("'" + *file + "' names no entities"));
  Account target;
  if (!FindAccount(ctx, to, &target)) return kExitFailed;
  std::vector<GroupId> groups;
  for (const std::string& name : args.GetAll("group")) {
    Group g;
    if (!FindGroup(ctx, to, EntityGroupKind(kind), name, &g)) return kExitFailed;
    groups.push_back(g.id);
  }

  ReassignReport report;
  Status s = ctx.db->ReassignEntities(actor, kind, by, refs, target.id, groups, &report);
  Names names(ctx);
  Table table({"REF", "OUTCOME", "PREVIOUS_OWNER", "MESSAGE"});
  for (const auto& item : report.items) {
    const std::string previous_owner =
        item.previous_owner == kNoId ? "" : names.AccountKey(item.previous_owner);
    if (ctx.json) {
      JsonObject o;
      o.Str("ref", item.ref).Str("outcome", ReassignOutcomeName(item.outcome));
      if (item.previous_owner != kNoId) o.Str("previous_owner", previous_owner);
      if (!item.message.empty()) o.Str("message", item.message);
      *ctx.out << o.str() << "\n";
    } else {
      table.Add({item.ref, ReassignOutcomeName(item.outcome), previous_owner, item.message});
    }
  }
  if (ctx.json) {
    JsonObject summary;
    summary.Bool("ok", s.ok())
        .Str("to", to)
        .Int("moved", static_cast<int64_t>(report.moved))
        .Int("unchanged", static_cast<int64_t>(report.unchanged))
        .Int("unknown", static_cast<int64_t>(report.unknown))
        .Int("denied", static_cast<int64_t>(report.denied))
        .Int("duplicate", static_cast<int64_t>(report.duplicate));
    if (!s.ok()) summary.Str("error", s.ToString());
    *ctx.out << summary.str() << "\n";
  } else {
    table.Flush(*ctx.out);
    if (s.ok()) {
      *ctx.out << report.moved << " moved to '" << Printable(to) << "', " << report.unchanged
               << " unchanged\n";
    } else {
      *ctx.out << "refused, nothing moved: " << report.moved << " would have moved, "
               << report.unknown << " unknown, " << report.denied << " denied, " << report.duplicate
               << " duplicate\n";
    }
  }
  if (!s.ok()) return ctx.Fail(s);
  return kExitOk;
}

int Run(Context& ctx, Args& args) {
  const std::string sub = args.Subcommand({"create", "show", "update", "delete", "reassign"});
  if (sub == "create") return Create(ctx, args);
  if (sub == "show") return Show(ctx, args);
  if (sub == "update") return Update(ctx, args);
  if (sub == "delete") return Delete(ctx, args);
  return Reassign(ctx, args);
}

}  // namespace

Command DeviceCommand() {
  return {"device", "create, show, update, delete and reassign devices (--kind: others)", kUsage,
          Run};
}

}  // namespace canopy::cli
