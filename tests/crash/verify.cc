// Copyright (c) Canopy authors.
//
// `canopy_stress verify`: checks a database after a kill (stress.h).
//
// The expected state is the verified state of the previous cycle plus the
// effects of every acknowledged mutation in the journals. At most one
// mutation per thread is in flight (an intent without a result); its
// objects must be wholly as before it or wholly as after it. Every other
// object must be exactly as expected; nothing else may exist. Then: the
// integrity check, the change log replayed into an empty database gives the
// same state, queries agree with the resolved state, and every export file
// is complete and imports. On success the resolved state becomes the new
// verified state and the journals are removed.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "canopy/db.h"
#include "tests/crash/journal.h"
#include "tests/crash/state.h"
#include "tests/crash/stress.h"

namespace canopy::crash {

namespace {

namespace fs = std::filesystem;

struct InFlight {
  int thread = 0;
  std::string op;
  Effects effects;
};

class Verifier {
 public:
  explicit Verifier(std::string dir) : dir_(std::move(dir)) {}

  int Run(bool quiet) {
    int code = Verify();
    if (code == kExitOk && !quiet) {
      std::printf("verify: ok: %s\n", summary_.c_str());
    } else if (code != kExitOk) {
      for (const std::string& p : problems_) std::printf("verify: %s\n", p.c_str());
    }
    std::fflush(stdout);
    return code;
  }

 private:
  void Problem(const std::string& p) {
    if (problems_.size() < 60) problems_.push_back(p);
  }

  int Verify() {
    int threads = 0;
    Flat certain;
    Status st = ReadStateFile(StatePath(dir_), &threads, &certain);
    const bool verified_before = st.ok();
    if (!st.ok() && !st.IsNotFound()) {
      Problem(st.ToString());
      return kExitUsage;
    }
    // The journals of the run: acknowledged effects become certain.
    std::vector<std::string> journals;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("journal-t", 0) == 0) journals.push_back(entry.path().string());
    }
    std::sort(journals.begin(), journals.end());
    bool opened = false;
    uint64_t threads_in_journals = 0;
    std::map<std::string, std::string> last_op;  // object key -> the op that set it
    uint64_t acked = 0;
    for (const std::string& path : journals) {
      std::vector<Record> records;
      Status s = ReadJournal(path, &records);
      if (!s.ok()) {
        Problem(s.ToString());
        return kExitUsage;
      }
      std::map<uint64_t, Record> pending;
      for (Record& r : records) {
        if (r.type == 'O') opened = true;
        if (r.type == 'H') threads_in_journals = std::max<uint64_t>(threads_in_journals, r.seq);
        if (r.type == 'I') {
          pending[r.seq] = r;
        } else if (r.type == 'A' || r.type == 'R') {
          auto it = pending.find(r.seq);
          if (it == pending.end()) {
            Problem(path + ": a result without an intent");
            return kExitUsage;
          }
          if (r.type == 'A') {
            ++acked;
            for (const auto& [k, v] : it->second.effects) {
              if (v) {
                certain[k] = *v;
              } else {
                certain.erase(k);
              }
              last_op[k] = it->second.op;
            }
          }
          pending.erase(it);
        }
      }
      if (pending.size() > 1) {
        Problem(path + ": " + std::to_string(pending.size()) + " calls in flight at once");
        return kExitUsage;
      }
      if (!pending.empty()) {
        InFlight f;
        f.thread = std::stoi(path.substr(path.rfind("journal-t") + 9));
        f.op = pending.begin()->second.op;
        f.effects = pending.begin()->second.effects;
        in_flight_.push_back(f);
      }
    }
    if (threads < 1) threads = static_cast<int>(threads_in_journals);

    // Open the database as the next command would (one that may create a
    // database: it finishes or restarts a creation a kill interrupted).
    const std::string db_path = DbPath(dir_);
    if (!fs::exists(db_path)) {
      if (!certain.empty() || verified_before) {
        Problem("the database folder " + db_path + " is gone");
        return kExitFailure;
      }
      summary_ = "no database yet (killed before it was created)";
      RemoveJournals();
      return kExitOk;
    }
    std::unique_ptr<Db> db;
    Status opened_status = Db::Open(Options(), db_path, &db);
    if (!opened_status.ok()) {
      Problem("cannot open the database: " + opened_status.ToString());
      if (!verified_before && !opened) {
        Problem(
            "a kill during the creation of a new database left it unopenable (creating a "
            "database must be atomic: the next open finishes or restarts it)");
        return kExitCreation;
      }
      return kExitFailure;
    }

    std::vector<std::string> integrity;
    Status ci = db->CheckIntegrity(&integrity);
    if (!ci.ok()) {
      Problem("integrity check: " + ci.ToString());
      for (const std::string& p : integrity) Problem("  " + p);
    }

    State actual_state;
    Status rs = ReadState(*db, &actual_state);
    if (!rs.ok()) {
      Problem("reading the database: " + rs.ToString());
      return kExitFailure;
    }
    const Flat actual = actual_state.ToFlat();

    // Everything not in flight must be exactly as acknowledged.
    std::set<std::string> uncertain;
    for (const InFlight& f : in_flight_) {
      for (const auto& [k, v] : f.effects) uncertain.insert(k);
    }
    auto describe = [&](const std::string& k) {
      auto it = last_op.find(k);
      return it == last_op.end() ? std::string("(verified before this run)")
                                 : "(last acknowledged: " + it->second + ")";
    };
    for (const auto& [k, v] : certain) {
      if (uncertain.count(k)) continue;
      auto it = actual.find(k);
      if (it == actual.end()) {
        Problem("lost: " + k + " = " + v + " " + describe(k));
      } else if (it->second != v) {
        Problem("wrong: " + k + ": expected " + v + ", found " + it->second + " " + describe(k));
      }
    }
    for (const auto& [k, v] : actual) {
      if (!certain.count(k) && !uncertain.count(k)) {
        Problem("unexpected: " + k + " = " + v + " " + describe(k));
      }
    }
    // In flight: wholly there or wholly absent.
    Flat resolved = certain;
    std::string flights;
    for (const InFlight& f : in_flight_) {
      bool before = true, after = true;
      for (const auto& [k, v] : f.effects) {
        auto a = actual.find(k);
        auto c = certain.find(k);
        const std::optional<std::string> now =
            a == actual.end() ? std::nullopt : std::optional<std::string>(a->second);
        const std::optional<std::string> was =
            c == certain.end() ? std::nullopt : std::optional<std::string>(c->second);
        before &= now == was;
        after &= now == v;
      }
      if (!before && !after) {
        Problem("partial: t" + std::to_string(f.thread) + "'s mutation in flight (" + f.op +
                ") is neither wholly applied nor wholly absent:");
        for (const auto& [k, v] : f.effects) {
          auto a = actual.find(k);
          auto c = certain.find(k);
          Problem("  " + k + ": before " + (c == certain.end() ? "-" : c->second) + ", after " +
                  (v ? *v : "-") + ", found " + (a == actual.end() ? "-" : a->second));
        }
        continue;
      }
      if (after && !before) {
        for (const auto& [k, v] : f.effects) {
          if (v) {
            resolved[k] = *v;
          } else {
            resolved.erase(k);
          }
        }
      }
      flights += " t" + std::to_string(f.thread) + ":" + f.op.substr(0, f.op.find(' ')) +
                 (before && after ? "(no-op)" : after ? "(applied)" : "(absent)");
    }
    if (!problems_.empty()) return kExitFailure;

    CheckLogReplay(*db, actual);
    State model;
    if (!State::FromFlat(resolved, &model)) {
      Problem("the resolved state does not parse");
      return kExitFailure;
    }
    CheckQueries(*db, model);
    CheckExports();
    const uint64_t revision = db->Revision();
    Status closed = db->Close();
    if (!closed.ok()) Problem("close: " + closed.ToString());
    if (!problems_.empty()) return kExitFailure;

    summary_ = "revision " + std::to_string(revision) + ", " + std::to_string(resolved.size()) +
               " objects, " + std::to_string(acked) + " acknowledged mutations, in flight:" +
               (flights.empty() ? " none" : flights);
    return Finish(threads, resolved);
  }

  // Records the resolved state and drops the journals.
  int Finish(int threads, const Flat& resolved) {
    Status s = WriteStateFile(StatePath(dir_), threads, resolved);
    if (!s.ok()) {
      Problem(s.ToString());
      return kExitUsage;
    }
    RemoveJournals();
    return kExitOk;
  }

  void RemoveJournals() {
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("journal-t", 0) == 0) fs::remove(entry.path());
    }
    (void)SyncDir(dir_);
  }

  // The change log holds exactly the data: replayed into an empty database
  // it gives the same state (no entry without its writes, none missing).
  void CheckLogReplay(const Db& db, const Flat& actual) {
    const std::string path = dir_ + "/verify-follower";
    std::error_code ec;
    fs::remove_all(path, ec);
    std::unique_ptr<Db> follower;
    Options o;
    o.sync = false;
    Status s = Db::Open(o, path, &follower);
    if (!s.ok()) {
      Problem("cannot create the follower: " + s.ToString());
      return;
    }
    uint64_t next = 1;
    while (next <= db.Revision()) {
      std::vector<std::string> entries;
      s = db.ReadLogEntries(next, 500, &entries);
      if (!s.ok() || entries.empty()) {
        Problem("reading the log at " + std::to_string(next) + ": " +
                (s.ok() ? std::string("no entries") : s.ToString()));
        return;
      }
      s = follower->ApplyChanges(entries, nullptr);
      if (!s.ok()) {
        Problem("replaying the log at " + std::to_string(next) + ": " + s.ToString());
        return;
      }
      next += entries.size();
    }
    if (follower->Revision() != db.Revision()) {
      Problem("the follower reached revision " + std::to_string(follower->Revision()) +
              ", not " + std::to_string(db.Revision()));
    }
    State replayed;
    s = ReadState(*follower, &replayed);
    if (!s.ok()) {
      Problem("reading the follower: " + s.ToString());
    } else if (replayed.ToFlat() != actual) {
      Problem("the replayed log differs from the database:");
      for (const std::string& d : Diff(actual, replayed.ToFlat())) Problem("  " + d);
    }
    (void)follower->Close();
    follower.reset();
    fs::remove_all(path, ec);
  }

  // Counts, checks, visible and who-can agree with the resolved state.
  void CheckQueries(const Db& db, const State& model) {
    BuiltinRoles builtin;
    Status s = ReadBuiltinRoles(db, &builtin);
    if (!s.ok()) {
      Problem("built-in roles: " + s.ToString());
      return;
    }
    std::mt19937_64 rng(model.accounts.size() * 31 + model.entities.size());
    // Maintained counters of every account.
    for (const auto& [key, a] : model.accounts) {
      auto found = db.FindAccount(key);
      if (!found.ok()) {
        Problem("account " + key + ": " + found.status().ToString());
        continue;
      }
      std::set<std::string> sub;
      for (const std::string& k : model.SubtreeOf(key)) sub.insert(k);
      for (EntityKind kind : kAllEntityKinds) {
        uint64_t direct = 0, subtree = 0;
        const std::string prefix = std::string(EntityKindName(kind)) + ":";
        for (auto it = model.entities.lower_bound(prefix);
             it != model.entities.end() && it->first.compare(0, prefix.size(), prefix) == 0;
             ++it) {
          direct += it->second.owner == key;
          subtree += sub.count(it->second.owner);
        }
        auto c = db.CountOwned(found->id, kind);
        if (!c.ok() || c->direct != direct || c->subtree != subtree) {
          Problem("counts of " + key + " (" + EntityKindName(kind) + "): expected " +
                  std::to_string(direct) + "/" + std::to_string(subtree) + ", got " +
                  (c.ok() ? std::to_string(c->direct) + "/" + std::to_string(c->subtree)
                          : c.status().ToString()));
        }
      }
    }
    // Each user's visible devices (count and a full scan), and a few checks
    // and who-can lists.
    std::vector<std::string> devices;
    for (const auto& [k, e] : model.entities) {
      if (k.compare(0, 7, "device:") == 0) devices.push_back(k);
    }
    size_t users_checked = 0;
    for (const auto& [login, u] : model.users) {
      if (users_checked++ >= 40) break;
      auto found = db.FindUser(login);
      if (!found.ok()) {
        Problem("user " + login + ": " + found.status().ToString());
        continue;
      }
      std::set<std::string> want;
      for (const std::string& d : devices) {
        if (ModelAllows(model, builtin, login, "device.read", d)) want.insert(d.substr(7));
      }
      if (!u.disabled) {
        VisibleRequest req{Actor::User(found->id)};
        auto n = db.Count(req);
        if (!n.ok() || *n != want.size()) {
          Problem("count of " + login + ": expected " + std::to_string(want.size()) + ", got " +
                  (n.ok() ? std::to_string(*n) : n.status().ToString()));
        }
        std::unique_ptr<VisibleIterator> it;
        std::set<std::string> got;
        if (db.NewVisibleIterator(req, &it).ok()) {
          for (; it->Valid(); it->Next()) got.insert(std::string(it->key()));
          if (!it->status().ok()) Problem("visible of " + login + ": " + it->status().ToString());
        }
        if (got != want) {
          Problem("visible of " + login + ": expected " + std::to_string(want.size()) +
                  " devices, got " + std::to_string(got.size()));
        }
      }
      for (int i = 0; i < 5 && !devices.empty(); ++i) {
        const std::string& d = devices[rng() % devices.size()];
        const bool want_one = ModelAllows(model, builtin, login, "device.read", d);
        auto got = db.Check(found->id, "device.read", d.substr(7));
        // A device out of the user's sight reads as missing: denied.
        const bool denied = !want_one && (u.disabled || got.status().IsNotFound());
        if ((got.ok() && *got != want_one) || (!got.ok() && !denied)) {
          Problem("check " + login + " device.read " + d + ": expected " +
                  (want_one ? "allowed" : "denied") + ", got " +
                  (got.ok() ? (*got ? "allowed" : "denied") : got.status().ToString()));
        }
      }
    }
    for (int i = 0; i < 20 && !devices.empty(); ++i) {
      const std::string& d = devices[rng() % devices.size()];
      std::set<std::string> want, got;
      for (const auto& [login, u] : model.users) {
        if (ModelAllows(model, builtin, login, "device.read", d)) want.insert(login);
      }
      WhoCanRequest req;
      req.permission = "device.read";
      req.entity_key = d.substr(7);
      req.limit = 10000;
      WhoCanPage page;
      s = db.WhoCan(req, &page);
      for (const WhoCanItem& item : page.items) got.insert(item.login);
      if (!s.ok() || got != want) {
        Problem("who-can device.read " + d + ": expected " + std::to_string(want.size()) +
                " users, got " + (s.ok() ? std::to_string(got.size()) : s.ToString()));
      }
    }
  }

  // An export file is whole (its end line counts every line between its
  // begin line and it) and imports into an empty database; a PATH.tmp a
  // kill left is ignored.
  void CheckExports() {
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("export-t", 0) != 0 || entry.path().extension() != ".jsonl") continue;
      std::ifstream in(entry.path());
      std::string line, last;
      uint64_t lines = 0;
      while (std::getline(in, line)) {
        ++lines;
        last = line;
      }
      const std::string end =
          "{\"type\":\"end\",\"records\":" + std::to_string(lines < 2 ? 0 : lines - 2) + ",";
      if (lines < 2 || last.compare(0, end.size(), end) != 0) {
        Problem("export " + name + " is not whole: its last line is '" + last.substr(0, 80) +
                "' after " + std::to_string(lines) + " lines");
        continue;
      }
      const std::string path = dir_ + "/verify-import";
      std::error_code ec;
      fs::remove_all(path, ec);
      std::unique_ptr<Db> db;
      Options o;
      o.sync = false;
      Status s = Db::Open(o, path, &db);
      if (s.ok()) s = db->Import(Actor::System(), entry.path().string(), ImportOptions(), nullptr);
      if (!s.ok()) Problem("export " + name + " does not import: " + s.ToString());
      if (db) (void)db->Close();
      db.reset();
      fs::remove_all(path, ec);
    }
  }

  const std::string dir_;
  std::vector<InFlight> in_flight_;
  std::vector<std::string> problems_;
  std::string summary_;
};

}  // namespace

int Verify(const std::string& dir, bool quiet) {
  if (!fs::is_directory(dir)) {
    std::fprintf(stderr, "canopy_stress: no folder %s\n", dir.c_str());
    return kExitUsage;
  }
  return Verifier(dir).Run(quiet);
}

}  // namespace canopy::crash
