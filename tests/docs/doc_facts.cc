// Copyright (c) Canopy authors.
//
// doc_facts: prints what the engine knows, for the tests that keep
// docs/model.md and docs/interchange.md true (check_model_doc.py,
// check_interchange_doc.py). Nothing here is copied from the docs: every
// list comes from the code the library runs.
//
//   doc_facts permissions          every canonical permission name, one a line
//   doc_facts roles                each built-in role: name TAB id TAB title TAB perm,perm,...
//   doc_facts expand NAME...       each name's canonical set: NAME TAB perm,perm,...
//                                  (or NAME TAB error: MESSAGE)
//   doc_facts kinds                every entity kind's name
//   doc_facts access               every sub_account_access value's name
//   doc_facts import DIR FILE...   opens (creating) the database DIR and imports each
//                                  FILE in turn as the system actor, printing one
//                                  status line per file ("ok" or "<code>: <message>")
//   doc_facts export DIR FILE      fills the new database DIR with one of everything
//                                  the model has and exports it to FILE
//
// Exits 0 unless the command itself cannot run (usage, a database that
// does not open); an import's refusal is its printed answer, not a failure.

#include <iostream>
#include <string>
#include <vector>

#include "canopy/db.h"
#include "query/permissions.h"

namespace {

using namespace canopy;

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

int Usage() {
  std::cerr << "usage: doc_facts permissions|roles|kinds|access | expand NAME... | "
               "import DIR FILE... | export DIR FILE\n";
  return 2;
}

int Fail(const std::string& what, const Status& s) {
  std::cerr << "doc_facts: " << what << ": " << s.ToString() << "\n";
  return 1;
}

std::unique_ptr<Db> OpenDb(const std::string& dir) {
  Options options;
  options.sync = false;  // a scratch database: speed over durability
  std::unique_ptr<Db> db;
  Status s = Db::Open(options, dir, &db);
  if (!s.ok()) Fail("open " + dir, s);
  return db;
}

// One account, role, user, membership, entity of every kind and group of
// every kind (with a member and every shape of grant), with every optional
// field set, exported: the fields export writes, from the code.
int ExportSample(const std::string& dir, const std::string& file) {
  std::unique_ptr<Db> db = OpenDb(dir);
  if (!db) return 1;
  const Actor system = Actor::System();
  AccountSpec root{.key = "root", .name = "Root", .attributes = {{"a", "1"}}};
  root.settings.sub_account_management = true;
  root.settings.sub_account_access = SubAccountAccess::kDefaultOn;
  root.settings.group_sharing = true;
  auto tenant = db->CreateAccount(system, root);
  if (!tenant.ok()) return Fail("account", tenant.status());
  auto child = db->CreateAccount(
      system, {.key = "child", .name = "Child", .parent = *tenant, .attributes = {{"b", "2"}}});
  if (!child.ok()) return Fail("sub-account", child.status());
  auto role = db->CreateRole(system, *tenant, "custom", {"device.read", "audit.read"});
  if (!role.ok()) return Fail("role", role.status());
  auto user = db->CreateUser(system, {"user@example", "User", *tenant});
  if (!user.ok()) return Fail("user", user.status());
  Status s = db->Invite(system, *user, *child, *role, true);
  if (!s.ok()) return Fail("membership", s);
  s = db->SetUserDisabled(system, *user, true);
  if (!s.ok()) return Fail("disable", s);
  for (EntityKind kind : kAllEntityKinds) {
    EntitySpec e{.kind = kind,
                 .key = std::string("e-") + EntityKindName(kind),
                 .name = "Entity",
                 .type = "some-type",
                 .owner = *child,
                 .attributes = {{"c", "3"}}};
    if (kind == EntityKind::kDevice) e.unit_id = "unit-1";
    auto id = db->CreateEntity(system, e);
    if (!id.ok()) return Fail("entity", id.status());
  }
  auto grandchild = db->CreateAccount(system, {.key = "grandchild", .name = "G", .parent = *child});
  if (!grandchild.ok()) return Fail("sub-sub-account", grandchild.status());
  auto member = db->CreateUser(system, {"member@example", "Member", *child});
  if (!member.ok()) return Fail("user", member.status());
  GroupId user_group = kNoId, account_group = kNoId, shared = kNoId;
  for (GroupKind kind : kAllGroupKinds) {
    auto g = db->CreateGroup(system, {kind, std::string("g-") + GroupKindName(kind), *child});
    if (!g.ok()) return Fail("group", g.status());
    uint64_t m = *member;
    if (kind == GroupKind::kAccount) {
      m = *grandchild;
      account_group = *g;
    } else if (kind == GroupKind::kUser) {
      user_group = *g;
    } else {
      m = db->FindEntity(*GroupEntityKind(kind), std::string("e-") + GroupKindName(kind))->id;
    }
    s = db->AddGroupMembers(system, *g, std::vector<uint64_t>{m}, nullptr);
    if (!s.ok()) return Fail("group member", s);
  }
  auto up = db->CreateGroup(system, {GroupKind::kDevice, "shared", *tenant});
  if (!up.ok()) return Fail("group", up.status());
  shared = *up;
  for (const GroupGrant& g : {GroupGrant{user_group, *role, kNoId, true},
                              GroupGrant{user_group, *role, account_group, true},
                              GroupGrant{user_group, *role, shared, false}}) {
    s = db->GrantGroup(system, g);
    if (!s.ok()) return Fail("group grant", s);
  }
  s = db->Export(file, nullptr, nullptr);
  if (!s.ok()) return Fail("export", s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "permissions" && args.empty()) {
    for (int i = 0; i < query::kNumPerms; ++i) {
      std::cout << query::PermName(static_cast<query::Perm>(i)) << "\n";
    }
    return 0;
  }
  if (command == "roles" && args.empty()) {
    for (const auto& r : query::BuiltinRoles()) {
      std::cout << r.name << "\t" << r.id << "\t" << r.title << "\t" << Join(r.perms.Names())
                << "\n";
    }
    return 0;
  }
  if (command == "expand" && !args.empty()) {
    for (const auto& name : args) {
      query::PermSet set;
      Status s = query::ParsePermNames({name}, &set);
      std::cout << name << "\t" << (s.ok() ? Join(set.Names()) : "error: " + s.ToString())
                << "\n";
    }
    return 0;
  }
  if (command == "kinds" && args.empty()) {
    for (EntityKind k : kAllEntityKinds) std::cout << EntityKindName(k) << "\n";
    return 0;
  }
  if (command == "group-kinds" && args.empty()) {
    for (GroupKind k : kAllGroupKinds) std::cout << GroupKindName(k) << "\n";
    return 0;
  }
  if (command == "access" && args.empty()) {
    // Every value whose name reads back as itself: the ones the library knows.
    for (int v = 0; v < 256; ++v) {
      const auto a = static_cast<SubAccountAccess>(v);
      const auto back = ParseSubAccountAccess(SubAccountAccessName(a));
      if (back && *back == a) std::cout << SubAccountAccessName(a) << "\n";
    }
    return 0;
  }
  if (command == "import" && args.size() >= 2) {
    std::unique_ptr<Db> db = OpenDb(args[0]);
    if (!db) return 1;
    for (size_t i = 1; i < args.size(); ++i) {
      std::cout << db->Import(Actor::System(), args[i], ImportOptions(), nullptr).ToString()
                << "\n";
    }
    return 0;
  }
  if (command == "export" && args.size() == 2) return ExportSample(args[0], args[1]);
  return Usage();
}
