// Copyright (c) Canopy authors.
//
// `canopy_stress run`: the crash test's workload (stress.h). Each thread
// owns one partition of the state (state.h) and mutates only it, so its
// model of the partition is exact whatever the other threads do: the
// thread predicts each mutation's effect, journals it as an intent, calls
// the library, and on OK journals the acknowledgement and applies the
// effect to its model. Queries by the partition's users, and a periodic
// re-read of the whole partition, are checked against the model while the
// workload runs; any disagreement is a failure (exit 3).

#include "tests/crash/stress.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "canopy/db.h"
#include "tests/crash/journal.h"
#include "tests/crash/state.h"

namespace canopy::crash {

namespace {

std::mutex g_out_mu;

// One line on stdout, flushed: the driver waits on these to time its kills.
void Event(const std::string& line) {
  std::lock_guard<std::mutex> l(g_out_mu);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

[[noreturn]] void Fail(const std::string& what) {
  {
    std::lock_guard<std::mutex> l(g_out_mu);
    std::fprintf(stderr, "canopy_stress: FAILURE: %s\n", what.c_str());
    std::fflush(stderr);
  }
  std::_Exit(kExitFailure);
}

[[noreturn]] void Broken(const std::string& what) {
  {
    std::lock_guard<std::mutex> l(g_out_mu);
    std::fprintf(stderr, "canopy_stress: %s\n", what.c_str());
    std::fflush(stderr);
  }
  std::_Exit(kExitUsage);
}

// Errors a call may return for a request that is refused (and changes
// nothing); anything else from a mutation is a failure.
bool IsRefusal(const Status& s) {
  switch (s.code()) {
    case Code::kNotFound:
    case Code::kInvalidArgument:
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
    case Code::kPermissionDenied:
      return true;
    default:
      return false;
  }
}

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonAttrs(const Attributes& a) {
  std::string out = "{";
  for (const auto& [k, v] : a) {
    if (out.size() > 1) out += ",";
    out += Json(k) + ":" + Json(v);
  }
  return out + "}";
}

const char* kKindPerm[] = {"", "device", "asset", "dashboard", "entity_view"};
std::string KindPerm(EntityKind k, const char* action) {
  return std::string(kKindPerm[static_cast<int>(k)]) + "." + action;
}

struct Op {
  std::string name;  // the operation and the key it is about (no tabs)
  Effects effects;
  std::function<Status()> call;
  std::string event;  // printed just before the call ("import-begin")
};

struct Stats {
  std::map<std::string, std::pair<uint64_t, uint64_t>> ops;  // name -> acked, refused
  uint64_t queries = 0, checks = 0;
  std::map<std::string, std::string> refusal;  // name -> a refusal's message
};

class Worker {
 public:
  Worker(int index, const RunConfig& config, Db* db, State model, const BuiltinRoles* builtin,
         JournalWriter* journal)
      : index_(index),
        p_("t" + std::to_string(index)),
        config_(config),
        db_(db),
        model_(std::move(model)),
        builtin_(builtin),
        journal_(*journal),
        rng_(config.seed * 1000003 + config.run * 7919 + static_cast<uint64_t>(index)) {
    all_perms_.assign(builtin->at("account_admin").begin(), builtin->at("account_admin").end());
  }

  void Run() {
    for (uint64_t i = 0; config_.ops == 0 || i < config_.ops; ++i) {
      Step();
      if (config_.check_every != 0 && (i + 1) % config_.check_every == 0) SelfCheck();
    }
    SelfCheck();
  }

  const Stats& stats() const { return stats_; }

 private:
  // ---- randomness -------------------------------------------------------
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }
  template <typename M>
  std::string PickKey(const M& m) {
    return std::next(m.begin(), static_cast<long>(Below(m.size())))->first;
  }
  std::string Fresh(const char* what) {
    return p_ + "." + what + std::to_string(config_.run) + "-" + std::to_string(++counter_);
  }
  std::string Name() {
    static const char* kNames[] = {"Fleet", "Cliënt", "Ünit", "Депо", "倉庫", "Site", "Van"};
    return std::string(kNames[Below(7)]) + " " + std::to_string(rng_() % 100000);
  }
  Attributes Attrs(size_t max) {
    static const char* kKeys[] = {"color", "vin", "site", "label1", "label2", "label3",
                                  "address", "home_dashboard"};
    Attributes a;
    size_t n = Below(max + 1);
    for (size_t i = 0; i < n; ++i) a[kKeys[Below(8)]] = "v" + std::to_string(rng_() % 1000);
    return a;
  }
  SubAccountAccess Access() {
    double r = std::uniform_real_distribution<double>(0, 1)(rng_);
    return r < 0.1 ? SubAccountAccess::kAlwaysOn
                   : r < 0.3 ? SubAccountAccess::kDefaultOn : SubAccountAccess::kDefaultOff;
  }
  EntityKind Kind() {
    return Chance(0.6) ? EntityKind::kDevice : kAllEntityKinds[1 + Below(3)];
  }
  std::vector<std::string> Perms() {
    std::set<std::string> s;
    size_t n = 1 + Below(8);
    for (size_t i = 0; i < n; ++i) s.insert(all_perms_[Below(all_perms_.size())]);
    if (Chance(0.5)) s.insert("device.read");
    return {s.begin(), s.end()};
  }
  // A built-in role, or now and then a custom role of the account's tenant.
  std::string RoleFor(const std::string& account) {
    if (Chance(0.3)) {
      const std::string prefix = model_.TenantOf(account) + "|";
      std::vector<std::string> custom;
      for (auto it = model_.roles.lower_bound(prefix);
           it != model_.roles.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        custom.push_back(it->first.substr(prefix.size()));
      }
      if (!custom.empty()) return custom[Below(custom.size())];
    }
    static const char* kBuiltin[] = {"account_admin", "device_manager", "viewer"};
    return kBuiltin[Below(3)];
  }
  bool Roots(std::vector<std::string>* out) {
    for (const auto& [k, a] : model_.accounts) {
      if (a.parent.empty()) out->push_back(k);
    }
    return !out->empty();
  }

  // ---- ids: the model's objects must exist -------------------------------
  AccountId Aid(const std::string& key) {
    auto a = db_->FindAccount(key);
    if (!a.ok()) Fail(p_ + ": account " + key + " of the model: " + a.status().ToString());
    return a->id;
  }
  UserId Uid(const std::string& login) {
    auto u = db_->FindUser(login);
    if (!u.ok()) Fail(p_ + ": user " + login + " of the model: " + u.status().ToString());
    return u->id;
  }
  EntityId Eid(const std::string& k) {
    EntityKind kind;
    std::string key;
    if (!SplitEntityKey(k, &kind, &key)) Fail("bad entity key " + k);
    auto e = db_->FindEntity(kind, key);
    if (!e.ok()) Fail(p_ + ": entity " + k + " of the model: " + e.status().ToString());
    return e->id;
  }
  RoleId Rid(const std::string& account, const std::string& role) {
    auto r = db_->FindRole(Aid(account), role);
    if (!r.ok()) Fail(p_ + ": role " + role + " on " + account + ": " + r.status().ToString());
    return r->id;
  }
  // Mostly the system actor; otherwise a user of the partition (whose
  // mutations may be refused: they change nothing then).
  Actor PickActor() {
    if (model_.users.empty() || Chance(0.8)) return Actor::System();
    return Actor::User(Uid(PickKey(model_.users)));
  }
  std::string EntityOfKind(EntityKind kind) {
    const std::string prefix = std::string(EntityKindName(kind)) + ":";
    for (int tries = 0; tries < 20 && !model_.entities.empty(); ++tries) {
      std::string k = PickKey(model_.entities);
      if (k.compare(0, prefix.size(), prefix) == 0) return k;
    }
    return "";
  }

  // ---- the operations ------------------------------------------------------
  void Step() {
    struct Choice {
      int weight;
      bool (Worker::*build)(Op*);
    };
    const bool imports = config_.mode == "import";
    const bool exports = config_.mode == "export";
    static const Choice kBase[] = {
        {8, &Worker::CreateAccount},  {5, &Worker::UpdateAccount},
        {5, &Worker::MoveAccount},    {3, &Worker::DeleteAccounts},
        {14, &Worker::CreateEntity},  {6, &Worker::UpdateEntity},
        {4, &Worker::DeleteEntity},   {6, &Worker::Reassign},
        {5, &Worker::CreateUser},     {2, &Worker::UpdateUser},
        {2, &Worker::SetUserDisabled}, {2, &Worker::RemoveUser},
        {7, &Worker::Invite},         {3, &Worker::ChangeRole},
        {2, &Worker::SetBranch},      {3, &Worker::RemoveMembership},
        {2, &Worker::CreateRole},     {1, &Worker::UpdateRole},
        {1, &Worker::DeleteRole},
    };
    int total = 0;
    for (const Choice& c : kBase) total += c.weight;
    const int import_w = imports ? 25 : 3;
    const int export_w = exports ? 6 : (index_ == 0 ? 1 : 0);
    const int query_w = 14;
    int r = static_cast<int>(Below(static_cast<size_t>(total + import_w + export_w + query_w)));
    if (model_.accounts.empty()) r = 0;  // a tenant first
    if (r >= total) {
      r -= total;
      if (r < import_w) {
        Import();
      } else if (r < import_w + export_w) {
        Export();
      } else {
        Query();
      }
      return;
    }
    for (const Choice& c : kBase) {
      if (r < c.weight) {
        Op op;
        if ((this->*c.build)(&op)) Execute(&op);
        return;
      }
      r -= c.weight;
    }
  }

  void Execute(Op* op) {
    const uint64_t seq = ++seq_;
    Check(journal_.Append(EncodeIntent(seq, op->name, op->effects)), "journal");
    if (!op->event.empty()) Event(op->event);
    Status s = op->call();
    const std::string kind = op->name.substr(0, op->name.find(' '));
    if (s.ok()) {
      Check(journal_.Append("A\t" + std::to_string(seq)), "journal");
      if (!model_.ApplyAll(op->effects)) Fail("bad effect of " + op->name);
      ++stats_.ops[kind].first;
    } else if (IsRefusal(s)) {
      Check(journal_.Append("R\t" + std::to_string(seq) + "\t" + CodeName(s.code())), "journal");
      ++stats_.ops[kind].second;
      stats_.refusal[kind] = s.ToString();
    } else {
      Fail(op->name + " returned " + s.ToString());
    }
  }

  void Check(const Status& s, const std::string& what) {
    if (!s.ok()) Broken(what + ": " + s.ToString());
  }

  bool CreateAccount(Op* op) {
    std::vector<std::string> roots;
    Roots(&roots);
    std::string parent;
    if (!model_.accounts.empty() && !(roots.size() < 3 && Chance(0.04))) {
      parent = PickKey(model_.accounts);
    }
    AccountSpec spec;
    spec.key = Fresh("a");
    spec.name = Name();
    spec.attributes = Attrs(3);
    spec.settings.sub_account_management = Chance(0.7);
    spec.settings.sub_account_access = Access();
    const Actor actor = parent.empty() ? Actor::System() : PickActor();
    if (!parent.empty()) spec.parent = Aid(parent);
    AccountState s{spec.name, parent, spec.attributes, spec.settings.sub_account_management,
                   spec.settings.sub_account_access};
    op->name = "account.create " + spec.key;
    op->effects = {{AccountKey(spec.key), Encode(s)}};
    op->call = [=, this] { return db_->CreateAccount(actor, spec).status(); };
    return true;
  }

  bool UpdateAccount(Op* op) {
    const std::string key = PickKey(model_.accounts);
    AccountState s = model_.accounts.at(key);
    AccountPatch patch;
    if (Chance(0.5)) s.name = *(patch.name = Name());
    if (Chance(0.3)) s.attributes = *(patch.attributes = Attrs(4));
    if (Chance(0.2)) s.management = *(patch.sub_account_management = Chance(0.5));
    const SubAccountAccess before = s.access;
    if (Chance(0.25)) s.access = *(patch.sub_account_access = Access());
    op->name = "account.update " + key;
    op->effects = {{AccountKey(key), Encode(s)}};
    // Switching to always_on gives every current member branch access.
    if (s.access == SubAccountAccess::kAlwaysOn && before != SubAccountAccess::kAlwaysOn) {
      for (const auto& [mk, m] : model_.members) {
        if (mk.substr(mk.find('|') + 1) != key || m.branch) continue;
        MemberState after = m;
        after.branch = true;
        op->effects.emplace_back("M:" + mk, Encode(after));
      }
    }
    const Actor actor = PickActor();
    const AccountId id = Aid(key);
    op->call = [=, this] { return db_->UpdateAccount(actor, id, patch); };
    return true;
  }

  bool MoveAccount(Op* op) {
    std::vector<std::string> movable;
    for (const auto& [k, a] : model_.accounts) {
      if (!a.parent.empty()) movable.push_back(k);
    }
    if (movable.empty()) return false;
    const std::string key = movable[Below(movable.size())];
    std::string to;
    for (int tries = 0; tries < 8; ++tries) {
      to = PickKey(model_.accounts);
      if (!model_.IsSelfOrAncestor(key, to)) break;
    }
    if (model_.IsSelfOrAncestor(key, to) && !Chance(0.1)) return false;  // mostly valid moves
    AccountState s = model_.accounts.at(key);
    s.parent = to;
    op->name = "account.move " + key;
    op->effects = {{AccountKey(key), Encode(s)}};
    const Actor actor = PickActor();
    const AccountId id = Aid(key), np = Aid(to);
    op->call = [=, this] { return db_->MoveAccount(actor, id, np); };
    return true;
  }

  bool DeleteAccounts(Op* op) {
    std::vector<std::string> subtree;
    for (int tries = 0; tries < 6; ++tries) {
      const std::string key = PickKey(model_.accounts);
      if (model_.accounts.at(key).parent.empty()) continue;
      subtree = model_.SubtreeOf(key);
      if (subtree.size() <= 4) break;
      subtree.clear();
    }
    if (subtree.empty()) return false;
    std::set<std::string> gone(subtree.begin(), subtree.end());
    std::string receiver;
    if (!Chance(0.1)) {
      for (int tries = 0; tries < 8; ++tries) {
        receiver = PickKey(model_.accounts);
        if (!gone.count(receiver)) break;
      }
      if (gone.count(receiver)) return false;
    }
    // Entities and users go to the receiver; memberships on the deleted
    // accounts go, and so do the accounts.
    for (const auto& [k, e] : model_.entities) {
      if (!gone.count(e.owner)) continue;
      EntityState after = e;
      after.owner = receiver;
      op->effects.emplace_back("E:" + k, Encode(after));
    }
    for (const auto& [login, u] : model_.users) {
      if (!gone.count(u.account)) continue;
      UserState after = u;
      after.account = receiver;
      op->effects.emplace_back(UserKey(login), Encode(after));
    }
    for (const auto& [mk, m] : model_.members) {
      if (gone.count(mk.substr(mk.find('|') + 1))) op->effects.emplace_back("M:" + mk, std::nullopt);
    }
    for (const std::string& k : subtree) op->effects.emplace_back(AccountKey(k), std::nullopt);
    std::vector<AccountId> ids;
    for (const std::string& k : subtree) ids.push_back(Aid(k));
    std::shuffle(ids.begin(), ids.end(), rng_);
    const AccountId to = receiver.empty() ? kNoId : Aid(receiver);
    const Actor actor = PickActor();
    const bool single = ids.size() == 1 && Chance(0.5);
    op->name = "account.delete " + subtree.front();
    op->call = [=, this] {
      return single ? db_->DeleteAccount(actor, ids[0], to) : db_->DeleteAccounts(actor, ids, to);
    };
    return true;
  }

  bool CreateEntity(Op* op) {
    EntitySpec spec;
    spec.kind = Kind();
    spec.key = Fresh(spec.kind == EntityKind::kDevice ? "d" : "e");
    if (spec.kind == EntityKind::kDevice && Chance(0.6)) spec.unit_id = Fresh("U");
    spec.name = Name();
    static const char* kTypes[] = {"", "tracker", "obd", "camera"};
    spec.type = kTypes[Below(4)];
    const std::string owner = PickKey(model_.accounts);
    spec.owner = Aid(owner);
    spec.attributes = Attrs(5);
    EntityState s{spec.unit_id, spec.name, spec.type, owner, spec.attributes};
    op->name = "entity.create " + spec.key;
    op->effects = {{EntityKey(spec.kind, spec.key), Encode(s)}};
    const Actor actor = PickActor();
    op->call = [=, this] { return db_->CreateEntity(actor, spec).status(); };
    return true;
  }

  bool UpdateEntity(Op* op) {
    if (model_.entities.empty()) return false;
    const std::string k = PickKey(model_.entities);
    EntityState s = model_.entities.at(k);
    EntityPatch patch;
    if (Chance(0.4)) s.name = *(patch.name = Name());
    if (Chance(0.2)) s.type = *(patch.type = Chance(0.5) ? "tracker" : "");
    if (k.compare(0, 7, "device:") == 0 && Chance(0.3)) {
      s.unit_id = *(patch.unit_id = Chance(0.6) ? Fresh("U") : "");
    }
    if (Chance(0.4)) s.attributes = *(patch.attributes = Attrs(5));
    op->name = "entity.update " + k;
    op->effects = {{"E:" + k, Encode(s)}};
    const Actor actor = PickActor();
    const EntityId id = Eid(k);
    op->call = [=, this] { return db_->UpdateEntity(actor, id, patch); };
    return true;
  }

  bool DeleteEntity(Op* op) {
    if (model_.entities.empty()) return false;
    const std::string k = PickKey(model_.entities);
    op->name = "entity.delete " + k;
    op->effects = {{"E:" + k, std::nullopt}};
    const Actor actor = PickActor();
    const EntityId id = Eid(k);
    op->call = [=, this] { return db_->DeleteEntity(actor, id); };
    return true;
  }

  bool Reassign(Op* op) {
    if (model_.entities.empty()) return false;
    EntityKind kind;
    std::string first;
    if (!SplitEntityKey(PickKey(model_.entities), &kind, &first)) return false;
    std::set<std::string> chosen;
    const size_t want = 1 + Below(5);
    for (size_t i = 0; i < want * 3 && chosen.size() < want; ++i) {
      std::string k = EntityOfKind(kind);
      if (!k.empty()) chosen.insert(k);
    }
    if (chosen.empty()) return false;
    bool all_units = kind == EntityKind::kDevice;
    for (const std::string& k : chosen) all_units &= !model_.entities.at(k).unit_id.empty();
    const EntityRef by = all_units && Chance(0.4) ? EntityRef::kUnitId : EntityRef::kKey;
    const std::string target = PickKey(model_.accounts);
    std::vector<std::string> refs;
    for (const std::string& k : chosen) {
      EntityState s = model_.entities.at(k);
      refs.push_back(by == EntityRef::kUnitId ? s.unit_id : k.substr(k.find(':') + 1));
      s.owner = target;
      op->effects.emplace_back("E:" + k, Encode(s));
    }
    // Now and then a batch that must fail whole: an unknown or repeated ref.
    if (Chance(0.04)) refs.push_back(p_ + ".no-such-entity");
    if (Chance(0.03)) refs.push_back(refs.front());
    std::shuffle(refs.begin(), refs.end(), rng_);
    op->name = "entity.reassign " + *chosen.begin();
    const Actor actor = PickActor();
    const AccountId to = Aid(target);
    op->call = [=, this] {
      ReassignReport report;
      return db_->ReassignEntities(actor, kind, by, refs, to, &report);
    };
    return true;
  }

  bool CreateUser(Op* op) {
    UserSpec spec;
    spec.login = Fresh("u") + "@example.test";
    spec.name = Name();
    const std::string account = PickKey(model_.accounts);
    spec.account = Aid(account);
    op->name = "user.create " + spec.login;
    op->effects = {{UserKey(spec.login), Encode(UserState{spec.name, account, false})}};
    const Actor actor = PickActor();
    op->call = [=, this] { return db_->CreateUser(actor, spec).status(); };
    return true;
  }

  bool UpdateUser(Op* op) {
    if (model_.users.empty()) return false;
    const std::string login = PickKey(model_.users);
    UserState s = model_.users.at(login);
    UserPatch patch;
    s.name = *(patch.name = Name());
    op->name = "user.update " + login;
    op->effects = {{UserKey(login), Encode(s)}};
    const Actor actor = PickActor();
    const UserId id = Uid(login);
    op->call = [=, this] { return db_->UpdateUser(actor, id, patch); };
    return true;
  }

  bool SetUserDisabled(Op* op) {
    if (model_.users.empty()) return false;
    const std::string login = PickKey(model_.users);
    UserState s = model_.users.at(login);
    s.disabled = !s.disabled;
    op->name = "user.set_disabled " + login;
    op->effects = {{UserKey(login), Encode(s)}};
    const Actor actor = PickActor();
    const UserId id = Uid(login);
    const bool disabled = s.disabled;
    op->call = [=, this] { return db_->SetUserDisabled(actor, id, disabled); };
    return true;
  }

  bool RemoveUser(Op* op) {
    if (model_.users.empty()) return false;
    const std::string login = PickKey(model_.users);
    op->name = "user.remove " + login;
    op->effects = {{UserKey(login), std::nullopt}};
    const std::string prefix = login + "|";
    for (auto it = model_.members.lower_bound(prefix);
         it != model_.members.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      op->effects.emplace_back("M:" + it->first, std::nullopt);
    }
    const Actor actor = PickActor();
    const UserId id = Uid(login);
    op->call = [=, this] { return db_->RemoveUser(actor, id); };
    return true;
  }

  // The branch a new membership gets (engine rules: always_on forces it,
  // otherwise the request or the account's default).
  bool BranchFor(const AccountState& a, std::optional<bool> asked) {
    return a.access == SubAccountAccess::kAlwaysOn ||
           asked.value_or(a.access == SubAccountAccess::kDefaultOn);
  }

  bool Invite(Op* op) {
    if (model_.users.empty()) return false;
    const std::string login = PickKey(model_.users);
    const std::string home = model_.users.at(login).account;
    std::string account;
    if (Chance(0.85)) {
      std::vector<std::string> reach = model_.SubtreeOf(home);
      if (reach.empty()) return false;
      account = reach[Below(reach.size())];
    } else {
      account = PickKey(model_.accounts);
    }
    const std::string role = RoleFor(account);
    std::optional<bool> branch;
    if (Chance(0.6)) branch = Chance(0.5);
    MemberState m{role, BranchFor(model_.accounts.at(account), branch)};
    op->name = "membership.invite " + login;
    op->effects = {{MemberKey(login, account), Encode(m)}};
    const Actor actor = PickActor();
    const UserId uid = Uid(login);
    const AccountId aid = Aid(account);
    const RoleId rid = Rid(account, role);
    op->call = [=, this] { return db_->Invite(actor, uid, aid, rid, branch); };
    return true;
  }

  bool PickMember(std::string* login, std::string* account) {
    if (model_.members.empty()) return false;
    const std::string k = PickKey(model_.members);
    *login = k.substr(0, k.find('|'));
    *account = k.substr(k.find('|') + 1);
    return true;
  }

  bool ChangeRole(Op* op) {
    std::string login, account;
    if (!PickMember(&login, &account)) return false;
    MemberState m = model_.members.at(login + "|" + account);
    m.role = RoleFor(account);
    op->name = "membership.change_role " + login;
    op->effects = {{MemberKey(login, account), Encode(m)}};
    const Actor actor = PickActor();
    const UserId uid = Uid(login);
    const AccountId aid = Aid(account);
    const RoleId rid = Rid(account, m.role);
    op->call = [=, this] { return db_->ChangeRole(actor, uid, aid, rid); };
    return true;
  }

  bool SetBranch(Op* op) {
    std::string login, account;
    if (!PickMember(&login, &account)) return false;
    MemberState m = model_.members.at(login + "|" + account);
    m.branch = Chance(0.7) ? !m.branch : m.branch;
    op->name = "membership.set_branch " + login;
    op->effects = {{MemberKey(login, account), Encode(m)}};
    const Actor actor = PickActor();
    const UserId uid = Uid(login);
    const AccountId aid = Aid(account);
    const bool branch = m.branch;
    op->call = [=, this] { return db_->SetBranchAccess(actor, uid, aid, branch); };
    return true;
  }

  bool RemoveMembership(Op* op) {
    std::string login, account;
    if (!PickMember(&login, &account)) return false;
    op->name = "membership.remove " + login;
    op->effects = {{MemberKey(login, account), std::nullopt}};
    const Actor actor = PickActor();
    const UserId uid = Uid(login);
    const AccountId aid = Aid(account);
    op->call = [=, this] { return db_->RemoveMembership(actor, uid, aid); };
    return true;
  }

  bool CreateRole(Op* op) {
    std::vector<std::string> roots;
    if (!Roots(&roots)) return false;
    const std::string tenant = roots[Below(roots.size())];
    const std::string name = Fresh("r");
    const std::vector<std::string> perms = Perms();
    op->name = "role.create " + name;
    op->effects = {{RoleKey(tenant, name), Encode(RoleState{perms})}};
    const Actor actor = PickActor();
    const AccountId tid = Aid(tenant);
    op->call = [=, this] { return db_->CreateRole(actor, tid, name, perms).status(); };
    return true;
  }

  bool UpdateRole(Op* op) {
    if (model_.roles.empty()) return false;
    const std::string k = PickKey(model_.roles);
    const std::string tenant = k.substr(0, k.find('|')), name = k.substr(k.find('|') + 1);
    const std::vector<std::string> perms = Perms();
    op->name = "role.update " + name;
    op->effects = {{RoleKey(tenant, name), Encode(RoleState{perms})}};
    const Actor actor = PickActor();
    const RoleId rid = Rid(tenant, name);
    op->call = [=, this] { return db_->UpdateRole(actor, rid, perms); };
    return true;
  }

  bool DeleteRole(Op* op) {
    if (model_.roles.empty()) return false;
    const std::string k = PickKey(model_.roles);
    const std::string tenant = k.substr(0, k.find('|')), name = k.substr(k.find('|') + 1);
    op->name = "role.delete " + name;
    op->effects = {{RoleKey(tenant, name), std::nullopt}};
    const Actor actor = PickActor();
    const RoleId rid = Rid(tenant, name);
    op->call = [=, this] { return db_->DeleteRole(actor, rid); };
    return true;
  }

  // A JSON Lines file of new accounts, users, memberships and entities under
  // the partition's accounts; now and then a large one of devices (SST
  // ingestion), or one with a bad last line (refused whole).
  void Import() {
    Op op;
    std::string lines;
    std::map<std::string, AccountState> new_accounts;
    auto account_of = [&](const std::string& k) -> const AccountState& {
      auto it = new_accounts.find(k);
      return it != new_accounts.end() ? it->second : model_.accounts.at(k);
    };
    auto any_account = [&]() {
      if (!new_accounts.empty() && (model_.accounts.empty() || Chance(0.5))) {
        return PickKey(new_accounts);
      }
      return PickKey(model_.accounts);
    };
    const bool big = config_.big_import > 0 && config_.mode == "import" && Chance(0.5) &&
                     !model_.accounts.empty();
    if (big) {
      const std::string owner = PickKey(model_.accounts);
      const std::string base = Fresh("D");
      for (uint64_t i = 0; i < config_.big_import; ++i) {
        EntityState s;
        const std::string key = base + "-" + std::to_string(i);
        s.name = "Bulk " + std::to_string(i);
        s.type = "tracker";
        s.owner = owner;
        if (i % 2 == 0) s.unit_id = base + "-U" + std::to_string(i);
        if (i % 3 == 0) s.attributes["label1"] = "bulk";
        lines += "{\"type\":\"device\",\"key\":" + Json(key) + ",\"name\":" + Json(s.name) +
                 ",\"account\":" + Json(owner) + ",\"device_type\":\"tracker\"" +
                 (s.unit_id.empty() ? "" : ",\"unit_id\":" + Json(s.unit_id)) +
                 (s.attributes.empty() ? "" : ",\"attributes\":" + JsonAttrs(s.attributes)) +
                 "}\n";
        op.effects.emplace_back(EntityKey(EntityKind::kDevice, key), Encode(s));
      }
    } else {
      const size_t n_accounts = model_.accounts.empty() ? 1 + Below(3) : Below(4);
      for (size_t i = 0; i < n_accounts; ++i) {
        AccountState a;
        const std::string key = Fresh("a");
        a.parent = model_.accounts.empty() && new_accounts.empty() ? "" : any_account();
        a.name = Name();
        a.attributes = Attrs(2);
        a.management = Chance(0.7);
        a.access = Access();
        lines += "{\"type\":\"account\",\"key\":" + Json(key) + ",\"name\":" + Json(a.name) +
                 (a.parent.empty() ? "" : ",\"parent\":" + Json(a.parent)) +
                 ",\"attributes\":" + JsonAttrs(a.attributes) +
                 ",\"settings\":{\"sub_account_management\":" +
                 (a.management ? "true" : "false") + ",\"sub_account_access\":\"" +
                 SubAccountAccessName(a.access) + "\"}}\n";
        op.effects.emplace_back(AccountKey(key), Encode(a));
        new_accounts[key] = a;
      }
      // Now and then a custom role of an existing tenant, used below.
      std::string role_tenant, role_name;
      std::vector<std::string> roots;
      if (Roots(&roots) && Chance(0.2)) {
        role_tenant = roots[Below(roots.size())];
        role_name = Fresh("r");
        const std::vector<std::string> perms = Perms();
        std::string list;
        for (const std::string& perm : perms) list += (list.empty() ? "" : ",") + Json(perm);
        lines += "{\"type\":\"role\",\"tenant\":" + Json(role_tenant) + ",\"name\":" +
                 Json(role_name) + ",\"permissions\":[" + list + "]}\n";
        op.effects.emplace_back(RoleKey(role_tenant, role_name), Encode(RoleState{perms}));
      }
      std::vector<std::pair<std::string, std::string>> new_users;  // login, account
      for (size_t i = 0, n = Below(3); i < n; ++i) {
        UserState u;
        const std::string login = Fresh("u") + "@example.test";
        u.name = Name();
        u.account = any_account();
        u.disabled = Chance(0.1);
        lines += "{\"type\":\"user\",\"login\":" + Json(login) + ",\"name\":" + Json(u.name) +
                 ",\"account\":" + Json(u.account) + (u.disabled ? ",\"disabled\":true" : "") +
                 "}\n";
        op.effects.emplace_back(UserKey(login), Encode(u));
        new_users.emplace_back(login, u.account);
      }
      for (const auto& [login, account] : new_users) {
        if (!Chance(0.7)) continue;
        static const char* kBuiltin[] = {"account_admin", "device_manager", "viewer"};
        MemberState m;
        m.role = kBuiltin[Below(3)];
        if (!role_name.empty() && model_.accounts.count(account) &&
            model_.TenantOf(account) == role_tenant && Chance(0.7)) {
          m.role = role_name;
        }
        std::optional<bool> branch;
        if (Chance(0.6)) branch = Chance(0.5);
        m.branch = BranchFor(account_of(account), branch);
        lines += "{\"type\":\"membership\",\"login\":" + Json(login) + ",\"account\":" +
                 Json(account) + ",\"role\":" + Json(m.role) +
                 (branch ? std::string(",\"branch\":") + (*branch ? "true" : "false") : "") +
                 "}\n";
        op.effects.emplace_back(MemberKey(login, account), Encode(m));
      }
      for (size_t i = 0, n = Below(9); i < n; ++i) {
        EntityState e;
        const EntityKind kind = Kind();
        const std::string key = Fresh(kind == EntityKind::kDevice ? "d" : "e");
        e.name = Name();
        e.owner = any_account();
        e.attributes = Attrs(4);
        if (kind == EntityKind::kDevice) {
          e.type = Chance(0.5) ? "tracker" : "";
          if (Chance(0.5)) e.unit_id = Fresh("U");
          lines += "{\"type\":\"device\",\"key\":" + Json(key) + ",\"name\":" + Json(e.name) +
                   ",\"account\":" + Json(e.owner) +
                   (e.type.empty() ? "" : ",\"device_type\":" + Json(e.type)) +
                   (e.unit_id.empty() ? "" : ",\"unit_id\":" + Json(e.unit_id)) +
                   ",\"attributes\":" + JsonAttrs(e.attributes) + "}\n";
        } else {
          e.type = Chance(0.5) ? "plan" : "";
          lines += "{\"type\":\"entity\",\"kind\":\"" + std::string(EntityKindName(kind)) +
                   "\",\"key\":" + Json(key) + ",\"name\":" + Json(e.name) + ",\"account\":" +
                   Json(e.owner) + (e.type.empty() ? "" : ",\"type\":" + Json(e.type)) +
                   ",\"attributes\":" + JsonAttrs(e.attributes) + "}\n";
        }
        op.effects.emplace_back(EntityKey(kind, key), Encode(e));
      }
      if (Chance(0.08)) lines += "{\"type\":\"account\",\"name\":\"no key\"}\n";
    }
    const std::string path = ImportPath(config_.dir, index_);
    Check(WriteFileSynced(path, lines), "import file");
    op.name = std::string(big ? "import.big " : "import ") + std::to_string(op.effects.size());
    op.event = big ? "import-begin big" : "import-begin";
    op.call = [=, this] {
      ImportReport report;
      return db_->Import(Actor::System(), path, ImportOptions(), &report);
    };
    Execute(&op);
  }

  void Export() {
    Event("export-begin");
    ImportReport counts;
    const std::string path = ExportPath(config_.dir, index_);
    Status s = db_->Export(path, nullptr, &counts);
    if (!s.ok()) Fail("export: " + s.ToString());
    ++stats_.ops["export"].first;
    if (!Chance(0.3)) return;
    // Nobody else touches this partition: the export holds it exactly as
    // the model does, and so does an empty database that imports it.
    const std::string scratch = config_.dir + "/roundtrip-t" + std::to_string(index_);
    std::error_code ec;
    std::filesystem::remove_all(scratch, ec);
    std::unique_ptr<Db> copy;
    Options o;
    o.sync = false;
    s = Db::Open(o, scratch, &copy);
    if (!s.ok()) Broken("round trip: " + s.ToString());
    s = copy->Import(Actor::System(), path, ImportOptions(), nullptr);
    if (!s.ok()) Fail("the export does not import: " + s.ToString());
    State imported;
    s = ReadState(*copy, &imported, p_);
    if (!s.ok()) Fail("reading the imported export: " + s.ToString());
    const Flat want = model_.ToFlat(), got = imported.ToFlat();
    if (want != got) {
      std::string msg = p_ + ": export and import do not round-trip the partition:";
      for (const std::string& d : Diff(want, got)) msg += "\n  " + d;
      Fail(msg);
    }
    (void)copy->Close();
    copy.reset();
    std::filesystem::remove_all(scratch, ec);
  }

  // ---- queries, checked against the model ---------------------------------
  std::set<std::string> ModelVisible(const std::string& login, EntityKind kind,
                                     const std::string& perm) {
    std::set<std::string> out;
    const std::string prefix = std::string(EntityKindName(kind)) + ":";
    for (auto it = model_.entities.lower_bound(prefix);
         it != model_.entities.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (ModelAllows(model_, *builtin_, login, perm, it->first)) {
        out.insert(it->first.substr(prefix.size()));
      }
    }
    return out;
  }

  void Query() {
    ++stats_.queries;
    const int what = static_cast<int>(Below(5));
    if (model_.accounts.empty()) return;
    if (what == 0) {  // the system's counts of a subtree
      const std::string account = PickKey(model_.accounts);
      const EntityKind kind = Kind();
      std::set<std::string> sub;
      for (const std::string& a : model_.SubtreeOf(account)) sub.insert(a);
      uint64_t direct = 0, subtree = 0;
      const std::string prefix = std::string(EntityKindName(kind)) + ":";
      for (const auto& [k, e] : model_.entities) {
        if (k.compare(0, prefix.size(), prefix) != 0) continue;
        direct += e.owner == account;
        subtree += sub.count(e.owner);
      }
      VisibleRequest req{Actor::System()};
      req.kind = kind;
      req.within = Aid(account);
      auto n = db_->Count(req);
      auto owned = db_->CountOwned(req.within, kind);
      if (!n.ok() || *n != subtree || !owned.ok() || owned->direct != direct ||
          owned->subtree != subtree) {
        Fail(p_ + ": counts of " + account + " (" + EntityKindName(kind) + "): expected " +
             std::to_string(direct) + "/" + std::to_string(subtree) + ", got " +
             (n.ok() ? std::to_string(*n) : n.status().ToString()) + " and " +
             (owned.ok() ? std::to_string(owned->direct) + "/" + std::to_string(owned->subtree)
                         : owned.status().ToString()));
      }
      return;
    }
    if (model_.users.empty()) return;
    const std::string login = PickKey(model_.users);
    const UserState& user = model_.users.at(login);
    const UserId uid = Uid(login);
    const EntityKind kind = Kind();
    const std::string perm = KindPerm(kind, Chance(0.7) ? "read" : "assign");
    if (what == 1 || what == 2) {  // visible (paged) or count
      if (user.disabled) return;
      const std::set<std::string> want = ModelVisible(login, kind, perm);
      VisibleRequest req{Actor::User(uid)};
      req.kind = kind;
      req.permission = perm;
      std::set<std::string> got;
      if (what == 2) {
        auto n = db_->Count(req);
        if (!n.ok() || *n != want.size()) {
          Fail(p_ + ": count of " + login + " " + perm + ": expected " +
               std::to_string(want.size()) + ", got " +
               (n.ok() ? std::to_string(*n) : n.status().ToString()));
        }
        return;
      }
      req.limit = 1 + Below(40);
      for (int pages = 0; pages < 100000; ++pages) {
        VisiblePage page;
        Status s = db_->Visible(req, &page);
        if (!s.ok()) Fail(p_ + ": visible of " + login + ": " + s.ToString());
        for (const VisibleItem& item : page.items) {
          if (!got.insert(item.key).second) Fail(p_ + ": visible repeats " + item.key);
        }
        if (page.next_cursor.empty()) break;
        req.cursor = page.next_cursor;
      }
      if (got != want) {
        Fail(p_ + ": visible of " + login + " " + perm + ": expected " +
             std::to_string(want.size()) + " entities, got " + std::to_string(got.size()));
      }
      return;
    }
    const std::string entity = EntityOfKind(kind);
    if (entity.empty()) return;
    const std::string key = entity.substr(entity.find(':') + 1);
    if (what == 3) {  // check
      const bool want = ModelAllows(model_, *builtin_, login, perm, entity);
      auto got = db_->Check(uid, perm, key);
      // An entity out of the user's sight reads as missing: denied.
      const bool denied = !want && (user.disabled || got.status().IsNotFound());
      if ((got.ok() && *got != want) || (!got.ok() && !denied)) {
        Fail(p_ + ": check " + login + " " + perm + " " + key + ": expected " +
             (want ? "allowed" : "denied") + ", got " +
             (got.ok() ? (*got ? "allowed" : "denied") : got.status().ToString()));
      }
      return;
    }
    // who can
    std::set<std::string> want, got;
    for (const auto& [l, u] : model_.users) {
      if (ModelAllows(model_, *builtin_, l, perm, entity)) want.insert(l);
    }
    WhoCanRequest req;
    req.permission = perm;
    req.entity_key = key;
    req.limit = 1 + Below(20);
    for (int pages = 0; pages < 100000; ++pages) {
      WhoCanPage page;
      Status s = db_->WhoCan(req, &page);
      if (!s.ok()) Fail(p_ + ": who-can " + perm + " " + key + ": " + s.ToString());
      for (const WhoCanItem& item : page.items) got.insert(item.login);
      if (page.next_cursor.empty()) break;
      req.cursor = page.next_cursor;
    }
    if (got != want) {
      Fail(p_ + ": who-can " + perm + " " + key + ": expected " + std::to_string(want.size()) +
           " users, got " + std::to_string(got.size()));
    }
  }

  // The whole partition as the library has it must be the model.
  void SelfCheck() {
    ++stats_.checks;
    State actual;
    Status s = ReadState(*db_, &actual, p_);
    if (!s.ok()) Fail(p_ + ": reading the partition: " + s.ToString());
    const Flat want = model_.ToFlat(), got = actual.ToFlat();
    if (want != got) {
      std::string msg = p_ + ": the database differs from the acknowledged mutations:";
      for (const std::string& d : Diff(want, got)) msg += "\n  " + d;
      Fail(msg);
    }
  }

  const int index_;
  const std::string p_;
  const RunConfig& config_;
  Db* const db_;
  State model_;
  const BuiltinRoles* builtin_;
  JournalWriter& journal_;
  std::mt19937_64 rng_;
  std::vector<std::string> all_perms_;
  uint64_t seq_ = 0;
  uint64_t counter_ = 0;
  Stats stats_;
};

}  // namespace

int Run(const RunConfig& config) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(config.dir, ec);
  if (ec) Broken("cannot create " + config.dir + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(config.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("journal-", 0) == 0) {
      Broken("journals of an unverified run in " + config.dir + "; run verify first");
    }
  }
  int threads = config.threads;
  Flat flat;
  Status st = ReadStateFile(StatePath(config.dir), &threads, &flat);
  if (st.IsNotFound()) {
    if (fs::exists(DbPath(config.dir)) && !fs::is_empty(DbPath(config.dir))) {
      Broken("a database without a verified state in " + config.dir + "; run verify first");
    }
  } else if (!st.ok()) {
    Broken(st.ToString());
  }
  if (threads < 1) threads = config.threads;
  State all;
  if (!State::FromFlat(flat, &all)) Broken("bad state file in " + config.dir);

  // The journals first, then the database: the "O" record tells a kill
  // during its creation from one after it.
  std::vector<std::unique_ptr<JournalWriter>> journals;
  for (int t = 0; t < threads; ++t) {
    journals.push_back(std::make_unique<JournalWriter>());
    Status s = journals.back()->Open(JournalPath(config.dir, t));
    if (s.ok()) {
      s = journals.back()->Append("H\t" + std::to_string(config.run) + "\t" +
                                  std::to_string(config.seed) + "\t" + std::to_string(threads));
    }
    if (!s.ok()) Broken(s.ToString());
  }
  if (Status s = SyncDir(config.dir); !s.ok()) Broken(s.ToString());
  Event("open-begin");
  std::unique_ptr<Db> db;
  Options options;
  options.sync = true;
  Status opened = Db::Open(options, DbPath(config.dir), &db);
  if (!opened.ok()) Fail("open: " + opened.ToString());
  if (Status s = journals[0]->Append("O"); !s.ok()) Broken(s.ToString());
  Event("open-ok");
  BuiltinRoles builtin;
  if (Status s = ReadBuiltinRoles(*db, &builtin); !s.ok() || !builtin.count("account_admin")) {
    Fail("built-in roles: " + s.ToString());
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) {
    workers.push_back(std::make_unique<Worker>(t, config, db.get(),
                                               all.Partition("t" + std::to_string(t)), &builtin,
                                               journals[t].get()));
  }
  std::vector<std::thread> running;
  for (auto& w : workers) running.emplace_back([&w] { w->Run(); });
  for (auto& t : running) t.join();
  if (config.stats) {
    std::map<std::string, std::pair<uint64_t, uint64_t>> ops;
    uint64_t queries = 0, checks = 0;
    for (auto& w : workers) {
      for (const auto& [k, v] : w->stats().ops) {
        ops[k].first += v.first;
        ops[k].second += v.second;
      }
      queries += w->stats().queries;
      checks += w->stats().checks;
    }
    std::map<std::string, std::string> refusal;
    for (auto& w : workers) {
      for (const auto& [k, v] : w->stats().refusal) refusal[k] = v;
    }
    for (const auto& [k, v] : ops) {
      std::fprintf(stderr, "%-24s %8llu ok %8llu refused  %s\n", k.c_str(),
                   static_cast<unsigned long long>(v.first),
                   static_cast<unsigned long long>(v.second), refusal[k].substr(0, 150).c_str());
    }
    std::fprintf(stderr, "queries %llu, self-checks %llu, revision %llu\n",
                 static_cast<unsigned long long>(queries), static_cast<unsigned long long>(checks),
                 static_cast<unsigned long long>(db->Revision()));
  }
  workers.clear();
  Event("close-begin");
  if (Status s = db->Close(); !s.ok()) Fail("close: " + s.ToString());
  Event("done");
  return kExitOk;
}

}  // namespace canopy::crash
