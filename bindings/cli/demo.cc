// Copyright (c) Canopy authors.
//
// canopy demo: the README's main job. Builds the example tenant tree in the
// database folder — a customer with an admin user; nested customers A and
// B, each with a user and devices — through the same authorised calls a
// platform would make, then prints the tree and what each user may see.
// Running it again on a seeded database only prints; a database that holds
// part of the seed (or other data under its names) is refused unchanged.

#include "cli.h"
#include "output.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] demo\n\n"
    "Creates the database folder (default ./canopy-data) if needed, seeds the\n"
    "example tenant tree (once), prints the account tree, what each user may\n"
    "see, and a few refusals of the top-down rule. A database that holds part\n"
    "of the example (or other data under its account keys, logins, device keys\n"
    "or unit ids) is refused, unchanged.\n";

struct Seeder {
  Context& ctx;
  Status status;

  template <typename T>
  T Ok(StatusOr<T> r, const char* what) {
    if (!r.ok() && status.ok()) status = r.status().WithContext(what);
    return r.ok() ? *r : T{};
  }
  void Ok(const Status& s, const char* what) {
    if (!s.ok() && status.ok()) status = s.WithContext(what);
  }
};

// What the seed creates, in one place: the seeding below and the check
// of what a database already holds both read it.
constexpr const char* kAccounts[] = {"customer", "customer-a", "customer-b"};
constexpr const char* kNested[2][2] = {{"customer-a", "Nested customer A"},
                                       {"customer-b", "Nested customer B"}};
constexpr const char* kAdminLogin = "admin@customer.example";
constexpr const char* kUsers[2][2] = {{"user-a@customer.example", "User A"},
                                      {"user-b@customer.example", "User B"}};
// key, unit id, name
constexpr const char* kFleet[7][3] = {{"dev-c1", "U-0001", "Van 1"},      {"dev-c2", "U-0002", "Van 2"},
                                      {"dev-a1", "U-0101", "Truck A1"},   {"dev-a2", "U-0102", "Truck A2"},
                                      {"dev-a3", "U-0103", "Trailer A3"}, {"dev-b1", "U-0201", "Bus B1"},
                                      {"dev-b2", "U-0202", "Bus B2"}};

// What of the seed the database holds: every account, user, device key and
// unit id of it (`all`), none of them, or some (`*some` names the first
// found, `*missing` the first not found).
enum class Held { kNone, kAll, kSome };
Status SeedHeld(Db& db, Held* held, std::string* some, std::string* missing) {
  std::vector<std::pair<std::string, bool>> names;
  Status failed;
  // Present, absent (NotFound), or a failure to ask, which decides nothing.
  auto in = [&](const Status& s) {
    if (!s.ok() && !s.IsNotFound() && failed.ok()) failed = s;
    return s.ok();
  };
  for (const char* a : kAccounts) {
    names.emplace_back("account '" + std::string(a) + "'", in(db.FindAccount(a).status()));
  }
  names.emplace_back("user '" + std::string(kAdminLogin) + "'",
                     in(db.FindUser(kAdminLogin).status()));
  for (const auto& u : kUsers) {
    names.emplace_back("user '" + std::string(u[0]) + "'", in(db.FindUser(u[0]).status()));
  }
  for (const auto& d : kFleet) {
    names.emplace_back("device '" + std::string(d[0]) + "'",
                       in(db.FindEntity(EntityKind::kDevice, d[0]).status()));
    names.emplace_back("unit id '" + std::string(d[1]) + "'",
                       in(db.FindDeviceByUnitId(d[1]).status()));
  }
  CANOPY_RETURN_IF_ERROR(failed);
  size_t found = 0;
  for (const auto& [name, in] : names) {
    if (in) {
      if (found++ == 0) *some = name;
    } else if (missing->empty()) {
      *missing = name;
    }
  }
  *held = found == 0 ? Held::kNone : found == names.size() ? Held::kAll : Held::kSome;
  return Status::Ok();
}

Status Seed(Context& ctx) {
  Db& db = *ctx.db;
  Seeder s{ctx, Status::Ok()};
  const Actor system = Actor::System();

  // The platform bootstraps the root tenant and its administrator.
  AccountSpec root;
  root.key = kAccounts[0];
  root.name = "Customer";
  root.settings.sub_account_management = true;
  root.attributes = {{"home_dashboard", "fleet-overview"}};
  AccountId customer = s.Ok(db.CreateAccount(system, root), "create customer");
  CANOPY_RETURN_IF_ERROR(s.status);
  UserId admin = s.Ok(db.CreateUser(system, {kAdminLogin, "Admin", customer}), "create admin");
  auto admin_role = db.FindRole(customer, "account_admin");
  if (!admin_role.ok()) return admin_role.status();
  s.Ok(db.Invite(system, admin, customer, admin_role->id, true), "invite admin");
  CANOPY_RETURN_IF_ERROR(s.status);

  // From here on the admin acts: create the nested customers...
  const Actor as_admin = Actor::User(admin);
  AccountId ids[2];
  for (int i = 0; i < 2; ++i) {
    AccountSpec spec;
    spec.key = kNested[i][0];
    spec.name = kNested[i][1];
    spec.parent = customer;
    ids[i] = s.Ok(db.CreateAccount(as_admin, spec), "create nested customer");
    CANOPY_RETURN_IF_ERROR(s.status);  // the first failure ends the seed
  }
  // ...register the fleet in the top account...
  for (const auto& d : kFleet) {
    EntitySpec e;
    e.key = d[0];
    e.unit_id = d[1];
    e.name = d[2];
    e.type = "tracker";
    e.owner = customer;
    s.Ok(db.CreateEntity(as_admin, e), "create device");
    CANOPY_RETURN_IF_ERROR(s.status);
  }
  // ...assign devices to each nested customer ("Manage devices -> Process",
  // by unit ids for A and by device ids for B)...
  std::vector<std::string> to_a = {kFleet[2][1], kFleet[3][1], kFleet[4][1]};
  std::vector<std::string> to_b = {kFleet[5][0], kFleet[6][0]};
  s.Ok(
      db.ReassignEntities(as_admin, EntityKind::kDevice, EntityRef::kUnitId, to_a, ids[0], nullptr),
      "assign devices to A");
  CANOPY_RETURN_IF_ERROR(s.status);
  s.Ok(db.ReassignEntities(as_admin, EntityKind::kDevice, EntityRef::kKey, to_b, ids[1], nullptr),
       "assign devices to B");
  CANOPY_RETURN_IF_ERROR(s.status);
  // ...and create an administrator user on each nested account.
  for (int i = 0; i < 2; ++i) {
    UserId u = s.Ok(db.CreateUser(as_admin, {kUsers[i][0], kUsers[i][1], ids[i]}), "create user");
    CANOPY_RETURN_IF_ERROR(s.status);
    s.Ok(db.Invite(as_admin, u, ids[i], admin_role->id, std::nullopt), "invite user");
    CANOPY_RETURN_IF_ERROR(s.status);
  }
  return s.status;
}

void ShowVisible(Context& ctx, const User& u) {
  VisibleRequest req{Actor::User(u.id)};
  VisiblePage page;
  Status s = ctx.db->Visible(req, &page);
  auto count = ctx.db->Count(req);
  *ctx.out << "  " << u.login << " (" << (count.ok() ? std::to_string(*count) : "?") << "): ";
  if (!s.ok()) {
    *ctx.out << s.ToString() << "\n";
    return;
  }
  for (size_t i = 0; i < page.items.size(); ++i) *ctx.out << (i ? ", " : "") << Printable(page.items[i].key);
  *ctx.out << "\n";
}

// The group `name` of `kind` owned by `owner`, created when missing.
StatusOr<GroupId> EnsureGroup(Db& db, const Actor& actor, GroupKind kind, const std::string& name,
                              AccountId owner) {
  auto groups = db.GroupsOf(actor, owner);
  if (!groups.ok()) return groups.status();
  for (const Group& g : *groups) {
    if (g.kind == kind && g.name == name) return g.id;
  }
  return db.CreateGroup(actor, GroupSpec{kind, name, owner});
}

// A group shared down at work: the customer shares a device group of its
// own with a user group of nested customer A, then takes it back.
void ShowSharedGroup(Context& ctx) {
  Db& db = *ctx.db;
  auto top = db.FindAccount("customer");
  auto a = db.FindAccount("customer-a");
  auto admin = db.FindUser("admin@customer.example");
  auto user_a = db.FindUser("user-a@customer.example");
  auto viewer = db.FindRole(kNoId, "viewer");
  if (!top.ok() || !a.ok() || !admin.ok() || !user_a.ok() || !viewer.ok()) return;
  const Actor as_admin = Actor::User(admin->id);
  *ctx.out << "\nA group shared down (canopy group, canopy grant):\n";
  auto print = [&](const std::string& what, const Status& s) {
    *ctx.out << "  " << what << ": " << s.ToString() << "\n";
  };
  auto vans = EnsureGroup(db, as_admin, GroupKind::kDevice, "shared-vans", top->id);
  auto crew = EnsureGroup(db, as_admin, GroupKind::kUser, "crew", a->id);
  if (!vans.ok() || !crew.ok()) {
    print("create the groups", !vans.ok() ? vans.status() : crew.status());
    return;
  }
  auto dev = db.FindEntity(EntityKind::kDevice, "dev-c1");
  if (dev.ok()) {
    (void)db.AddGroupMembers(as_admin, *vans, std::vector<uint64_t>{dev->id}, nullptr);
  }
  (void)db.AddGroupMembers(as_admin, *crew, std::vector<uint64_t>{user_a->id}, nullptr);
  const GroupGrant grant{*crew, viewer->id, *vans, false};
  print("share device group 'shared-vans' (dev-c1) with user group 'crew' of customer-a, "
        "sharing off",
        db.GrantGroup(as_admin, grant));
  AccountPatch on;
  on.group_sharing = true;
  (void)db.UpdateAccount(Actor::System(), top->id, on);
  print("the same once the platform turns group_sharing on", db.GrantGroup(as_admin, grant));
  Explanation ex;
  if (db.Explain(Actor::System(), user_a->id, "device.read", "dev-c1", &ex).ok()) {
    *ctx.out << "  check user-a dev-c1: " << (ex.allowed ? "allowed: " : "denied: ") << Printable(ex.reason)
             << "\n";
  }
  ShowVisible(ctx, *user_a);
  print("revoke it", db.RevokeGroup(as_admin, *crew, viewer->id, *vans));
  AccountPatch off;
  off.group_sharing = false;
  (void)db.UpdateAccount(Actor::System(), top->id, off);
  ShowVisible(ctx, *user_a);
}

int Run(Context& ctx, Args& args) {
  args.Parse({}, {}, Args::Output::kText);
  args.AtMost(0);
  if (!ctx.RequireSystem("demo")) return kExitFailed;
  // Ctrl-C (SIGINT or SIGTERM) while seeding would leave part of the
  // example, which a later demo refuses: the seed and the shared group's
  // show (which writes too) run whole, and the demo stops after them.
  CatchStopSignals();
  if (!ctx.Open(true)) return kExitFailed;
  Db& db = *ctx.db;
  // Seeded when the database holds the whole seed; seeded here when it
  // holds none of it; refused, before any write, when it holds part of it
  // (its keys taken by other data, or a seed cut short), rather than
  // seeding half and showing a broken example.
  std::string some, missing;
  Held held = Held::kNone;
  if (Status s = SeedHeld(db, &held, &some, &missing); !s.ok()) return ctx.Fail(s);
  if (held == Held::kSome) {
    return ctx.Fail(Status::FailedPrecondition(
        "demo: this database already holds " + some + " but not " + missing +
        ", so it holds part of the example or other data under its names; nothing was "
        "changed: run the demo on a new folder (canopy --db DIR demo)"));
  }
  const bool seeded = held == Held::kAll;
  *ctx.out << "Canopy demo — database folder " << Printable(ctx.db_path) << "\n";
  if (!seeded) {
    Status s = Seed(ctx);
    if (!s.ok()) return ctx.Fail(s);
    if (StopRequested()) {
      return ctx.Fail(Status::Aborted("demo: stopped (Ctrl-C or SIGTERM); what it wrote is "
                                      "whole: run it again to see the example"));
    }
    *ctx.out << "Seeded the example: a customer with an admin user; nested customers A\n"
                "and B, each with a user and devices (created by the admin, devices assigned\n"
                "with 'Manage devices -> Process').\n";
  } else {
    *ctx.out << "Already seeded; showing it.\n";
  }
  *ctx.out << "\nThe account tree (canopy tree):\n";
  Args tree_args({});
  for (const Command& c : Commands()) {
    if (std::string(c.name) == "tree") c.run(ctx, tree_args);
  }

  *ctx.out << "\nWhat each user may see (device.read; canopy visible --user LOGIN):\n";
  for (const char* login :
       {"admin@customer.example", "user-a@customer.example", "user-b@customer.example"}) {
    auto u = db.FindUser(login);
    if (u.ok()) ShowVisible(ctx, *u);
  }

  *ctx.out << "\nThe top-down rule at work:\n";
  auto user_a = db.FindUser("user-a@customer.example");
  if (user_a.ok()) {
    Explanation ex;
    if (db.Explain(Actor::System(), user_a->id, "device.read", "dev-c1", &ex).ok()) {
      *ctx.out << "  check user-a dev-c1 (parent's device): " << (ex.allowed ? "allowed: " : "denied: ")
               << Printable(ex.reason) << "\n";
    }
    if (db.Explain(Actor::System(), user_a->id, "device.read", "dev-a1", &ex).ok()) {
      *ctx.out << "  check user-a dev-a1: " << (ex.allowed ? "allowed: " : "denied: ") << Printable(ex.reason)
               << "\n";
    }
    std::vector<std::string> steal = {"dev-b1"};
    auto a = db.FindAccount("customer-a");
    auto top = db.FindAccount("customer");
    if (a.ok() && top.ok()) {
      Status s = db.ReassignEntities(Actor::User(user_a->id), EntityKind::kDevice, EntityRef::kKey,
                                     steal, a->id, nullptr);
      *ctx.out << "  user-a takes dev-b1 from B (it cannot even see it): " << s.ToString() << "\n";
      std::vector<std::string> push = {"dev-a1"};
      s = db.ReassignEntities(Actor::User(user_a->id), EntityKind::kDevice, EntityRef::kKey, push,
                              top->id, nullptr);
      *ctx.out << "  user-a hands dev-a1 up to the customer: " << s.ToString() << "\n";
    }
  }
  // The sharing is shown by doing it, so only while seeding: a later run
  // only shows, and must not undo what a user has set up since.
  if (!seeded) {
    ShowSharedGroup(ctx);
  } else {
    *ctx.out << "\nA group shared down: shown when the demo seeded this database (canopy log\n"
                "lists the grant and its revocation).\n";
  }
  *ctx.out << "\nTry: canopy visible --user user-a@customer.example, canopy tree --format dot,\n"
              "     canopy check --user admin@customer.example --permission device.read --entity "
              "dev-b1 --explain,\n"
              "     canopy log (every change, by revision), canopy log --user "
              "user-a@customer.example (its audit view)\n";
  return kExitOk;
}

}  // namespace

Command DemoCommand() {
  return {"demo", "seed an example tenant tree and show the rules at work", kUsage, Run};
}

}  // namespace canopy::cli
