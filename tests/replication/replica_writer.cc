// Copyright (c) Canopy authors.
//
// replica_writer DB ENDPOINTS PREFIX SEED OPS ACKS: a replica process for
// the multi-process test. It opens DB as a replica, makes OPS random
// mutations (accounts, devices, moves, reassignments, deletions, users and
// memberships) and appends one line per acknowledged write to ACKS:
// "<revision> <operation> <key>". Killed at any moment, it leaves a prefix
// of its acknowledgements (each line is one write(2) call). The key is one
// the entry's arguments or records name (a user's id for an invitation).

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "canopy/db.h"

using namespace canopy;

int main(int argc, char** argv) {
  if (argc != 7) {
    std::cerr << "usage: replica_writer DB ENDPOINTS PREFIX SEED OPS ACKS\n";
    return 2;
  }
  Options o;
  o.sync = false;
  std::stringstream ss(argv[2]);
  for (std::string url; std::getline(ss, url, ',');) o.replication.etcd_endpoints.push_back(url);
  o.replication.prefix = argv[3];
  o.replication.request_timeout_ms = 1000;
  const uint64_t seed = std::strtoull(argv[4], nullptr, 10);
  const int ops = std::atoi(argv[5]);
  const int acks = open(argv[6], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (acks < 0) {
    std::perror("acks");
    return 1;
  }
  std::unique_ptr<Db> db;
  Status s = Db::Open(o, argv[1], &db);
  if (!s.ok()) {
    std::cerr << "open: " << s.ToString() << "\n";
    return 1;
  }
  std::mt19937_64 rng(seed);
  auto R = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  const std::string me = "w" + std::to_string(seed);
  std::vector<std::string> accounts = {"root"};
  std::vector<std::string> devices;
  int failures = 0;
  auto ack = [&](const std::string& op, const std::string& key) {
    const std::string line =
        std::to_string(db->LastCommittedRevision()) + " " + op + " " + key + "\n";
    if (write(acks, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::abort();
  };
  auto account_id = [&](const std::string& key) -> AccountId {
    auto a = db->FindAccount(key);
    return a.ok() ? a->id : kNoId;
  };
  for (int i = 0; i < ops; ++i) {
    const size_t r = R(100);
    const std::string n = std::to_string(i);
    Status st;
    if (r < 25) {
      AccountSpec spec;
      spec.key = me + "-a" + n;
      spec.name = "Account " + n;
      spec.parent = account_id(accounts[R(accounts.size())]);
      spec.settings.sub_account_management = true;
      auto id = db->CreateAccount(Actor::System(), spec);
      st = id.status();
      if (st.ok()) {
        accounts.push_back(spec.key);
        ack("account.create", spec.key);
      }
    } else if (r < 65) {
      EntitySpec spec;
      spec.key = me + "-d" + n;
      spec.unit_id = "U-" + spec.key;
      spec.name = "Device " + n;
      spec.owner = account_id(accounts[R(accounts.size())]);
      auto id = db->CreateEntity(Actor::System(), spec);
      st = id.status();
      if (st.ok()) {
        devices.push_back(spec.key);
        ack("entity.create", spec.key);
      }
    } else if (r < 75 && accounts.size() > 2) {
      // A write that changes nothing commits no revision: acknowledge only
      // real moves (the account is this writer's, so its parent is known).
      const std::string& a = accounts[1 + R(accounts.size() - 1)];
      auto before = db->FindAccount(a);
      const AccountId to = account_id(accounts[R(accounts.size())]);
      st = db->MoveAccount(Actor::System(), account_id(a), to);
      if (st.ok() && before.ok() && before->parent != to) ack("account.move", a);
    } else if (r < 85 && !devices.empty()) {
      const std::string d = devices[R(devices.size())];
      ReassignReport rep;
      const std::vector<std::string> refs = {d};
      st = db->ReassignEntities(Actor::System(), EntityKind::kDevice, EntityRef::kKey, refs,
                                account_id(accounts[R(accounts.size())]), &rep);
      if (st.ok() && rep.moved == 1) ack("entity.reassign", d);
    } else if (r < 90 && !devices.empty()) {
      const size_t k = R(devices.size());
      auto e = db->FindEntity(EntityKind::kDevice, devices[k]);
      st = e.status();
      if (st.ok()) st = db->DeleteEntity(Actor::System(), e->id);
      if (st.ok()) {
        ack("entity.delete", devices[k]);
        devices.erase(devices.begin() + static_cast<long>(k));
      }
    } else {
      UserSpec spec;
      spec.login = me + "-u" + n + "@example.com";
      spec.name = "User " + n;
      spec.account = account_id(accounts[R(accounts.size())]);
      auto u = db->CreateUser(Actor::System(), spec);
      st = u.status();
      if (st.ok()) {
        ack("user.create", spec.login);
        auto role = db->FindRole(kNoId, "viewer");
        if (role.ok()) st = db->Invite(Actor::System(), *u, spec.account, role->id, R(2) == 0);
        if (st.ok()) ack("membership.invite", std::to_string(*u));
      }
    }
    // Refusals of the rules (a move into its own subtree...) are expected;
    // etcd outages are retried by the engine and may still fail.
    if (!st.ok() && st.code() != Code::kFailedPrecondition) {
      ++failures;
      std::cerr << me << " op " << i << ": " << st.ToString() << "\n";
    }
  }
  close(acks);
  s = db->Close();
  if (!s.ok()) {
    std::cerr << "close: " << s.ToString() << "\n";
    return 1;
  }
  std::cerr << me << ": " << ops << " operations, " << failures << " failed\n";
  return 0;
}
