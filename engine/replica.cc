// Copyright (c) Canopy authors.
//
// Replicas: a database that follows a change log kept in etcd
// (docs/replication.md). Writes are appended to etcd first (an etcd
// transaction that succeeds only if the log's head is still this replica's
// revision) and applied locally before they return; a follower thread
// applies the other replicas' writes in order; a housekeeping thread keeps
// this replica registered, takes checkpoints and trims the log in etcd.

#include <rocksdb/file_system.h>
#include <rocksdb/utilities/checkpoint.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include <unistd.h>

#include "engine/db_impl.h"
#include "engine/folder_copies.h"
#include "storage/files_position.h"
#include "replication/log.h"

namespace canopy::engine {

namespace fs = std::filesystem;

namespace {

constexpr size_t kReadBatch = 256;       // entries per catch-up read
// A group of writes appended in one etcd transaction: at most this many
// entries, and this many bytes once one more would pass it (etcd refuses
// transactions of more than 128 operations, and requests over 1.5 MiB).
constexpr size_t kGroupEntries = 64;
constexpr size_t kGroupBytes = size_t{256} << 10;
constexpr auto kGatherFor = std::chrono::microseconds(500);
constexpr int kMaxWriteAttempts = 1000;  // a safety net; the time budget below rules
// A write that keeps losing the race for the next revision gives up after this long.
constexpr auto kWriteBudget = std::chrono::seconds(10);
// A large write (an entry of kGroupBytes or more: too large to join a group;
// an import of that much input) claims the turn to append after a lost
// race, under a lease of kTurnSecondsMin..kTurnSecondsMax (below
// EtcdLog::kTurnWaitMs, how long other writers wait for a turn). Small
// writes that lose to each other do not: the groups share the revisions,
// and their waits (for a group ahead, for another's turn) say nothing of
// their size.
constexpr int64_t kTurnSecondsMin = 2;
constexpr int64_t kTurnSecondsMax = 10;
constexpr std::string_view kCheckpointPrefix = "checkpoint-";

// The start of the name of a checkpoint of the log `lineage` at revision
// `rev`: "checkpoint-<rev, 20 digits>-<lineage>-" (then the replica's id).
// A checkpoint folder may be shared by several databases: each removes
// only the checkpoints whose names carry its own lineage.
std::string CheckpointNamePrefix(uint64_t rev, const std::string& lineage) {
  return std::string(kCheckpointPrefix) + replication::RevisionDigits(rev) + "-" + lineage + "-";
}

bool ValidPrefix(std::string_view p) {
  if (p.empty() || p.size() > 200 || p.front() == '/' || p.back() == '/') return false;
  for (char c : p) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.' || c == '/';
    if (!ok) return false;
  }
  return true;
}

// Copies a checkpoint folder to `to`: SST files are immutable, so they are
// hard-linked when the file system allows; the others are copied (RocksDB
// appends to its MANIFEST, which must not be shared).
Status CopyCheckpoint(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return Status::IOError("cannot create '" + to.string() + "': " + ec.message());
  for (const auto& f : fs::directory_iterator(from, ec)) {
    const fs::path dest = to / f.path().filename();
    std::error_code e2;
    if (f.path().extension() == ".sst") {
      fs::create_hard_link(f.path(), dest, e2);
      if (!e2) continue;
      e2.clear();
    }
    fs::copy_file(f.path(), dest, fs::copy_options::overwrite_existing, e2);
    if (e2) {
      return Status::IOError("cannot copy '" + f.path().string() + "' to '" + dest.string() +
                             "': " + e2.message());
    }
  }
  if (ec) return Status::IOError("cannot read checkpoint '" + from.string() + "': " + ec.message());
  return Status::Ok();
}

replication::LogOptions LogOptionsOf(const ReplicationOptions& r) {
  replication::LogOptions lo;
  lo.etcd.endpoints = r.etcd_endpoints;
  lo.etcd.request_timeout_ms = static_cast<int>(r.request_timeout_ms);
  lo.etcd.connect_timeout_ms = static_cast<int>(std::min<uint32_t>(r.request_timeout_ms, 500));
  lo.prefix = r.prefix;
  lo.append_timeout_ms = static_cast<int>(r.write_timeout_ms);
  return lo;
}

}  // namespace

Status ValidateReplication(const ReplicationOptions& r) {
  if (r.etcd_endpoints.empty()) return Status::Ok();
  for (const std::string& e : r.etcd_endpoints) {
    if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) {
      return Status::InvalidArgument("etcd endpoint '" + e +
                                     "' must be a URL such as http://127.0.0.1:2379");
    }
  }
  if (!ValidPrefix(r.prefix)) {
    return Status::InvalidArgument("replication prefix '" + r.prefix +
                                   "' must be 1..200 of letters, digits and _-./, not starting "
                                   "or ending with '/'");
  }
  if (const std::string_view f = replication::KeyFamilyIn(r.prefix); !f.empty()) {
    return Status::InvalidArgument(
        "replication prefix '" + r.prefix + "' has a part named '" + std::string(f) +
        "', a name Canopy's own keys use under every prefix (head, log, blob, replicas, "
        "checkpoint): its keys would lie among another database's; choose another name");
  }
  if (r.lease_ttl_seconds < 2) return Status::InvalidArgument("lease_ttl_seconds must be at least 2");
  if (r.request_timeout_ms < 10) return Status::InvalidArgument("request_timeout_ms must be at least 10");
  if (r.write_timeout_ms < r.request_timeout_ms) {
    return Status::InvalidArgument("write_timeout_ms must be at least request_timeout_ms");
  }
  if (r.housekeeping_interval_ms < 10) {
    return Status::InvalidArgument("housekeeping_interval_ms must be at least 10");
  }
  return Status::Ok();
}

namespace {

// What a copied checkpoint replaces (StartFromCheckpoint).
struct CopyInto {
  bool unfinished = false;  // a folder whose creation a crash interrupted
  bool behind = false;      // a replica's database the log was trimmed past
  uint64_t revision = 0;    // (behind) its revision
  std::string lineage;      // (behind) its log's id
  std::string* why_not = nullptr;   // (behind) why it was not replaced
};

// Copies the newest registered checkpoint into `path` (see
// BootstrapReplica and RestartBehindReplica).
Status StartFromCheckpoint(const ReplicationOptions& r, const std::string& path,
                           const CopyInto& into, std::string* copied_from) {
  std::error_code ec;
  replication::EtcdLog log(LogOptionsOf(r));
  // The checkpoint's revision is registered (under a lease, like a live
  // replica) before the copy starts, so that no replica trims the log past
  // it meanwhile; should a newer checkpoint have been registered and the
  // log trimmed before that, start again from the newer one.
  const std::string holder = "bootstrap-" + replication::NewReplicaId();
  for (int attempt = 0; attempt < 5; ++attempt) {
    uint64_t rev = 0;
    std::string folder;
    Status s = log.NewestCheckpoint(&rev, &folder);
    if (!s.ok()) return s.WithContext("looking for a checkpoint to start the replica from");
    if (rev == 0) return Status::Ok();  // none: start empty and replay the whole log
    if (into.behind) {
      // Only a later state of the folder's own history replaces it.
      const std::string newest = "the newest checkpoint (revision " + std::to_string(rev) +
                                 ", in '" + folder + "')";
      if (fs::path(folder).filename().string().rfind(CheckpointNamePrefix(rev, into.lineage),
                                                     0) != 0) {
        *into.why_not = newest + " is not named as a checkpoint of this folder's log (" +
                        CheckpointNamePrefix(rev, into.lineage) +
                        "...): it may be another log's, or named by hand, so this folder may "
                        "hold the only copy of its history; export it (canopy export) before "
                        "you move it away";
        return Status::Ok();
      }
      if (rev <= into.revision) {
        *into.why_not = newest + " is not further on than this folder";
        return Status::Ok();
      }
    }
    int64_t lease = 0;
    CANOPY_RETURN_IF_ERROR(
        log.Register(holder, rev, static_cast<int64_t>(r.lease_ttl_seconds), &lease));
    uint64_t head = 0, first = 0;
    CANOPY_RETURN_IF_ERROR(log.Bounds(&head, &first));
    if (rev + 1 < first) {
      (void)log.Unregister(holder, lease);
      continue;  // superseded and trimmed before the hold: take the newer one
    }
    if (!fs::exists(fs::path(folder) / "CURRENT", ec)) {
      (void)log.Unregister(holder, lease);
      // (Not NotFound: the database is there, its copy is out of reach.)
      return Status::FailedPrecondition(
          "the newest checkpoint (revision " + std::to_string(rev) +
          ") is registered in folder '" + folder +
          "', which this machine cannot read; make it readable here (a shared file system, "
          "or a copy at the same path)" +
          (first <= 1 && !into.behind
               ? std::string(", or open without the checkpoint folder to replay the log from "
                             "revision 1 while etcd still keeps it")
               : std::string()));
    }
    // Copy beside the target, then rename: a crash never leaves half a copy
    // where a database is expected. The hold lapses with its lease once
    // the replica has registered itself.
    const fs::path target = Named(path);
    // (A scratch name of this process's: one a killed process left there
    // is removed, a folder of another name never.)
    const fs::path tmp = ScratchBeside(target);
    if (Status c = CopyCheckpoint(folder, tmp); !c.ok()) {
      fs::remove_all(tmp, ec);
      (void)log.Unregister(holder, lease);
      return c;
    }
    // A replica whose trim read the live replicas just before the hold was
    // registered may have trimmed past it meanwhile (the check above came
    // too early to see it): the copy is then useless; take a newer one.
    CANOPY_RETURN_IF_ERROR(log.Bounds(&head, &first));
    if (rev + 1 < first) {
      fs::remove_all(tmp, ec);
      (void)log.Unregister(holder, lease);
      continue;
    }
    if (into.behind) {
      // The copy and the folder trade names in one step, so that `path`
      // holds a whole database at every moment (the old one, then the
      // copy), whatever crashes when; the old one, now under the scratch
      // name, goes (or, after a crash, with the scratch copies of dead
      // processes).
      if (Status x = ExchangeFolders(tmp, target); !x.ok()) {
        fs::remove_all(tmp, ec);
        (void)log.Unregister(holder, lease);
        if (x.code() != Code::kNotSupported) return x;
        *into.why_not = "it was not started from the newest checkpoint by itself: " + x.message();
        return Status::Ok();
      }
      fs::remove_all(tmp, ec);
    } else {
      if (into.unfinished) {
        fs::remove_all(target, ec);
      } else {
        fs::remove(target, ec);  // an empty folder, if any
      }
      fs::rename(tmp, target, ec);
      if (ec) {
        const std::string why = ec.message();
        fs::remove_all(tmp, ec);
        (void)log.Unregister(holder, lease);
        return Status::IOError("cannot move the copied checkpoint into '" + path + "': " + why);
      }
    }
    *copied_from = folder;
    return Status::Ok();
  }
  return Status::Unavailable("etcd: newer checkpoints kept replacing the one being copied; "
                             "try again");
}

}  // namespace

Status BootstrapReplica(const ReplicationOptions& r, const std::string& path,
                        std::string* copied_from) {
  copied_from->clear();
  if (r.etcd_endpoints.empty() || r.checkpoint_dir.empty()) return Status::Ok();
  std::error_code ec;
  if (storage::HoldsDatabase(path)) return Status::Ok();
  // A folder with other files is refused by the open that follows; one
  // whose creation a crash interrupted is replaced by the checkpoint.
  CopyInto into;
  into.unfinished = fs::exists(fs::path(path) / storage::kCreatingMarker, ec);
  if (!into.unfinished && fs::exists(path, ec) && !fs::is_empty(path, ec)) return Status::Ok();
  return StartFromCheckpoint(r, path, into, copied_from);
}

Status RestartBehindReplica(const ReplicationOptions& r, const std::string& path,
                            uint64_t behind, const std::string& lineage,
                            std::string* copied_from, std::string* why_not) {
  copied_from->clear();
  why_not->clear();
  if (r.etcd_endpoints.empty() || r.checkpoint_dir.empty() || lineage.empty()) {
    return Status::Ok();
  }
  CopyInto into;
  into.behind = true;
  into.revision = behind;
  into.lineage = lineage;
  into.why_not = why_not;
  const fs::path folder = Named(path);
  // Where its files stood once closed, to see below whether another
  // process changed the folder before the lock was taken.
  storage::FilesPosition then;
  if (!storage::ReadFilesPosition(folder.string(), &then)) {
    return Status::Ok();
  }
  // A folder reached through a symbolic link stays where the link points:
  // replacing it would replace the link by a folder elsewhere.
  std::error_code ec;
  if (fs::is_symlink(folder, ec)) {
    *why_not = "it was not started from the newest checkpoint by itself because '" + path +
               "' is a symbolic link: open it by the path of the folder it names, '" +
               fs::weakly_canonical(folder, ec).string() + "'";
    return Status::Ok();
  }
  DatabaseLock no_one_opens_it;
  if (!no_one_opens_it.Take(folder)) {
    return Status::IOError("the database folder '" + path +
                           "' is in use by another process; it was not started from a "
                           "checkpoint");
  }
  storage::FilesPosition now;
  if (!storage::ReadFilesPosition(folder.string(), &now) ||
      now.identity != then.identity || now.manifest_number != then.manifest_number ||
      now.manifest_size != then.manifest_size) {
    return Status::Unavailable("the folder '" + path +
                               "' changed while it was being started from a checkpoint (another "
                               "process opened it); open it again");
  }
  return StartFromCheckpoint(r, path, into, copied_from);
}

// ---- Start and stop -------------------------------------------------------

Status DbImpl::StartReplica(bool fresh) {
  const ReplicationOptions& r = options_.replication;
  if (r.etcd_endpoints.empty()) return Status::Ok();
  // A folder that followed one log follows no other (its history is that
  // log's): said before etcd is asked, so also while it does not answer.
  if (!replica_of_.empty() && replica_of_ != r.prefix) {
    return Status::FailedPrecondition(
        "this database is a replica of the log in etcd under prefix '" + replica_of_ +
        "', not '" + r.prefix + "': open it with --prefix " + replica_of_ +
        " (ReplicationOptions::prefix); a replica of another log starts from an empty folder "
        "or a checkpoint of that log");
  }
  // A new folder (`fresh`) that etcd failed while it started: the open
  // undoes its creation.
  auto cannot_start = [&](const Status& why) {
    return Status(why.code(), "cannot start a new replica of the log in etcd under prefix '" +
                                  r.prefix + "': " + why.message() +
                                  "; nothing was created: open again once etcd answers");
  };
  log_ = std::make_unique<replication::EtcdLog>(LogOptionsOf(r));
  overlay_ = std::make_unique<storage::Store::Overlay>(*store_);
  replica_id_ = replication::NewReplicaId();
  {
    // Where do we stand against the log in etcd?
    WriteGuard w(write_mu_);
    uint64_t head = 0, first = 0;
    Status b = log_->Bounds(&head, &first);
    if (b.ok()) {
      NoteContact(head, first);
      uint64_t checkpoint = 0;
      std::string folder;
      if (log_->NewestCheckpoint(&checkpoint, &folder).ok()) {
        std::lock_guard<std::mutex> g(replica_mu_);
        checkpoint_seen_ = checkpoint;
      }
      const uint64_t local = revision_.load();
      if (local > head) {
        return Status::FailedPrecondition(
            "this database is at revision " + std::to_string(local) + " but the log in etcd (" +
            r.prefix + ") ends at revision " + std::to_string(head) +
            (head == 0 ? "; a replica starts from an empty folder or a checkpoint of the "
                         "replicated database"
                       : "; it follows another log, or etcd lost data"));
      }
      if (local + 1 < first) {
        // Only a checkpoint can start it now (an empty folder is started
        // from one by the open): say where one comes from.
        const std::string with_folder =
            r.checkpoint_dir.empty()
                ? " with the replicas' checkpoint folder (--checkpoints DIR, "
                  "ReplicationOptions::checkpoint_dir)"
                : "";
        std::string advice;
        // With a checkpoint folder, Db::Open replaces a folder of this log
        // with the newest checkpoint, when that one holds all it holds.
        restart_from_checkpoint_ = local > 0 && !r.checkpoint_dir.empty();
        if (local > 0) {
          advice = "move this folder away and open again" + with_folder +
                   " to start from the newest checkpoint";
        } else if (r.checkpoint_dir.empty()) {
          advice = "open it" + with_folder + " to start from the newest checkpoint";
        } else {
          uint64_t newest = 0;
          std::string where;
          if (log_->NewestCheckpoint(&newest, &where).ok() && newest != 0) {
            // The folder held an empty database, which the open keeps.
            advice = "this folder holds an empty database, so the open did not start it from "
                     "the newest checkpoint (revision " + std::to_string(newest) +
                     "): move the folder away, or empty it, and open again";
          } else {
            advice = "no checkpoint is registered for this log in etcd; let a replica write "
                     "one into '" + r.checkpoint_dir + "' (checkpoint_every, or 'canopy "
                     "checkpoint DIR'), then open again";
          }
        }
        return Status::Compacted("this replica is at revision " + std::to_string(local) +
                                 ", and etcd keeps the log from revision " +
                                 std::to_string(first) + " only; " + advice);
      }
      if (local > 0 && local >= first) {
        // The entry both hold must be the same (same lineage, no divergence).
        std::vector<replication::LogEntryBytes> mine;
        int64_t er = 0;
        Status read = log_->Read(local, 1, &mine, &er);
        // Trimmed through it since the bounds were read (another replica's
        // housekeeping; a replica started from the checkpoint the trim
        // kept): nothing is left to compare with, as when the follower
        // reads on (ReadAfterApplied). The catch-up below reads from the
        // revision after it, and says so if that one is gone too.
        const bool trimmed_meanwhile = read.code() == Code::kCompacted;
        if (!trimmed_meanwhile) CANOPY_RETURN_IF_ERROR(read);
        Status same = trimmed_meanwhile ? Status::Ok()
                      : mine.empty()    ? Status::Corruption("no entry")
                                        : SameEntry(local, mine[0].bytes);
        if (!same.ok()) {
          return Status::FailedPrecondition("revision " + std::to_string(local) +
                                            " of this database differs from the log in etcd (" +
                                            r.prefix + "): this folder holds another "
                                            "history (another database's, a change made to it "
                                            "without etcd, or etcd restored from an older "
                                            "backup since)");
        }
      }
      // From here on the folder follows this log: a change made to it
      // without etcd would fork it (CheckChangeable refuses one).
      if (replica_of_.empty()) {
        rocksdb::WriteBatch batch;
        batch.Put(store_->cf(storage::kMeta), std::string(storage::kMetaReplicaOf), r.prefix);
        CANOPY_RETURN_IF_ERROR(WriteLogged(&batch));
        CANOPY_RETURN_IF_ERROR(store_->SyncWal());
        replica_of_ = r.prefix;
      }
      // Catch up before the first read. An outage of etcd leaves the
      // follower to finish, and shows in the replica's status; anything
      // else (a log this replica cannot apply, a revision trimmed meanwhile,
      // a local write that failed) fails the open, as it would every write.
      Status c = CatchUpLocked(head);
      if (c.code() == Code::kUnavailable && fresh) {
        // A new replica cut off part-way through its first catch-up would
        // answer reads on part of the log as if it were the database.
        return cannot_start(c);
      }
      if (c.code() == Code::kUnavailable) {
        NoteError(ReplicaWork::kFollow, c);
      } else if (!c.ok()) {
        return c.WithContext("catching up with the log in etcd (" + r.prefix + ")");
      }
    } else if (fresh) {
      // A new replica has nothing to answer with until it has read the
      // log: refused (and its folder removed again), not opened empty.
      return cannot_start(b);
    } else {
      NoteError(ReplicaWork::kFollow, b);
    }
  }
  stop_replica_ = false;
  follower_ = std::thread([this] { FollowLoop(); });
  housekeeper_ = std::thread([this] { HousekeepingLoop(); });
  return Status::Ok();
}

void DbImpl::StopReplica() {
  if (!follower_.joinable() && !housekeeper_.joinable()) return;  // not started, or stopped
  {
    std::lock_guard<std::mutex> g(replica_mu_);
    stop_replica_ = true;
  }
  replica_cv_.notify_all();
  if (follower_.joinable()) follower_.join();
  if (housekeeper_.joinable()) housekeeper_.join();
  (void)log_->Unregister(replica_id_, lease_);
  lease_ = 0;
}

void DbImpl::NoteContact(uint64_t head, uint64_t first) {
  std::lock_guard<std::mutex> g(replica_mu_);
  if (head > head_seen_) head_seen_ = head;
  // Both only grow; a slower activity's older reading does not undo a
  // newer one.
  if (first > log_first_seen_) log_first_seen_ = first;
  last_contact_us_ = NowMicros();
}

void DbImpl::NoteError(ReplicaWork work, const Status& s) {
  std::lock_guard<std::mutex> g(replica_mu_);
  WorkError& e = replica_errors_[static_cast<int>(work)];
  e.message = s.ToString();
  e.order = ++replica_error_seq_;
}

void DbImpl::ClearError(ReplicaWork work) {
  std::lock_guard<std::mutex> g(replica_mu_);
  replica_errors_[static_cast<int>(work)].message.clear();
}

bool DbImpl::SleepUnlessStopped(int ms) {
  std::unique_lock<std::mutex> l(replica_mu_);
  replica_cv_.wait_for(l, std::chrono::milliseconds(ms), [&] { return stop_replica_.load(); });
  return !stop_replica_.load();
}

// ---- Applying the log ------------------------------------------------------

Status DbImpl::ApplyFromLog(const std::string& framed, uint64_t revision, bool defer) {
  // With write_mu_ held.
  if (revision <= revision_.load()) {
    // Normally this replica's own write, which the watch brings back: the
    // entry it holds must be the very same (else the log in etcd is not
    // the one it wrote to: it is not followed any further).
    Status same = SameEntry(revision, framed);
    return same.code() == Code::kFailedPrecondition ? AnotherHistory(same) : same;
  }
  // Another replica's entry where this one's staged group would go: the
  // group lost the race (its append will fail); take it back first.
  if (!staged_.empty()) CANOPY_RETURN_IF_ERROR(DiscardStagedLocked(/*lost=*/true, Status::Ok()));
  if (revision != revision_.load() + 1) {
    return Status::FailedPrecondition("gap in the log: at revision " +
                                      std::to_string(revision_.load()) + ", got " +
                                      std::to_string(revision));
  }
  bool skipped = false;
  std::string_view entry, input;
  CANOPY_RETURN_IF_ERROR(storage::UnframeLogEntry(framed, &entry, &input));
  Status s = ApplyLocked(entry, input, &skipped, defer);
  if (!s.ok()) return s.WithContext("applying revision " + std::to_string(revision) + " from etcd");
  return Status::Ok();
}

Status DbImpl::CatchUpLocked(uint64_t target) {
  bool checked = false;  // the applied entry, compared with etcd's once
  while (revision_.load() < target) {
    std::vector<replication::LogEntryBytes> entries;
    int64_t er = 0;
    // Retried while etcd elects a leader, as appends are.
    CANOPY_RETURN_IF_ERROR(
        ReadAfterApplied(!checked, /*retrying=*/true, kReadBatch, &entries, &er));
    checked = true;
    if (entries.empty()) break;  // etcd's head moved back? (it cannot); stop here
    CANOPY_RETURN_IF_ERROR(ApplyBatchLocked(entries, /*follower=*/false));
  }
  return Status::Ok();
}

Status DbImpl::SameEntry(uint64_t rev, const std::string& framed,
                         const std::string* stored) const {
  std::string read;
  if (stored == nullptr) {
    Status g = store_->Get(storage::kChanges, storage::LogKey(rev), &read);
    if (g.IsNotFound()) return Status::Ok();  // not kept here: nothing to compare
    CANOPY_RETURN_IF_ERROR(g);
    stored = &read;
  }
  std::string_view entry, input;
  if (!storage::UnframeLogEntry(framed, &entry, &input).ok() || entry != *stored) {
    return Status::FailedPrecondition("the log in etcd (" + options_.replication.prefix +
                                      ") holds another entry at revision " +
                                      std::to_string(rev) +
                                      " than this replica applied from it (etcd restored from an "
                                      "older backup, then written on?); this replica appends "
                                      "nothing to it");
  }
  return Status::Ok();
}

Status DbImpl::ReadAfterApplied(bool check, bool retrying, size_t limit,
                                std::vector<replication::LogEntryBytes>* entries,
                                int64_t* etcd_revision) {
  CANOPY_RETURN_IF_ERROR(LogBehind());
  const uint64_t applied = revision_.load();
  auto read = [&](uint64_t from, size_t n) {
    return retrying ? log_->ReadRetrying(from, n, entries, etcd_revision)
                    : log_->Read(from, n, entries, etcd_revision);
  };
  std::string stored;  // this folder's applied entry, read once
  if (check && applied > 0) {
    // A large applied entry (an import's, chunked in etcd) is not read
    // again for this: its chunks would cost megabytes at every catch-up.
    bool chunked = false;
    Status g = store_->Get(storage::kChanges, storage::LogKey(applied), &stored);
    if (g.ok()) g = store_->Exists(storage::kChanges, storage::LogChunkKey(applied, 0), &chunked);
    if (!g.ok() || chunked || stored.size() >= kGroupBytes) check = false;
  }
  if (!check || applied == 0) return read(applied + 1, limit);
  Status s = read(applied, limit + 1);
  // Trimmed through the applied revision: nothing left to compare with.
  if (s.code() == Code::kCompacted) return read(applied + 1, limit);
  CANOPY_RETURN_IF_ERROR(s);
  if (entries->empty() || entries->front().revision != applied) {
    uint64_t head = 0, first = 0;
    CANOPY_RETURN_IF_ERROR(log_->Bounds(&head, &first));
    return head < applied ? LogEndsBehind(head, applied) : read(applied + 1, limit);
  }
  Status same = SameEntry(applied, entries->front().bytes, &stored);
  if (!same.ok()) {
    entries->clear();
    return same.code() == Code::kFailedPrecondition ? AnotherHistory(same) : same;
  }
  entries->erase(entries->begin());
  return Status::Ok();
}

Status DbImpl::ApplyBatchLocked(const std::vector<replication::LogEntryBytes>& entries,
                                bool follower) {
  Status a;
  const replication::LogEntryBytes* last = nullptr;
  for (const replication::LogEntryBytes& e : entries) {
    a = ApplyFromLog(e.bytes, e.revision, /*defer=*/true);
    if (!a.ok()) break;
    last = &e;
  }
  // Published once (readers see the batch at once). A staged group left
  // means nothing was applied: it stays staged.
  const Status p = staged_.empty() ? PublishLocked() : Status::Ok();
  if (follower && last != nullptr) NoteApplied(last->bytes);
  CANOPY_RETURN_IF_ERROR(a);
  return p;
}

namespace {
void WhilePaused(const std::atomic<bool>& paused, const std::atomic<bool>& stop) {
  while (paused.load() && !stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
}  // namespace

void DbImpl::FollowLoop() {
  int backoff_ms = 20;
  while (!stop_replica_.load()) {
    // Catch up by reading, batch by batch (the write lock only while
    // applying), then watch from where the last read ended.
    int64_t etcd_rev = 0;
    Status s;
    bool checked = false;  // the applied entry, compared with etcd's once a round
    bool refused = false;  // an entry read whole that this replica refuses to apply
    while (s.ok() && !stop_replica_.load()) {
      std::vector<replication::LogEntryBytes> entries;
      s = ReadAfterApplied(!checked, /*retrying=*/false, kReadBatch, &entries, &etcd_rev);
      checked = true;
      if (!s.ok() || entries.empty()) break;
      WhilePaused(follower_paused_, stop_replica_);
      WriteGuard w(write_mu_);
      if (!CheckOpen().ok()) return;
      s = ApplyBatchLocked(entries, /*follower=*/true);
      refused = s.code() == Code::kFailedPrecondition;  // (another database's, say)
    }
    bool watched = false;
    if (!s.ok() && !IsClosing(s) &&
        (s.code() == Code::kCompacted || LogLost(s) || refused ||
         s.code() == Code::kCorruption)) {
      // Read from the applied revision on, these come back at every retry
      // (the next revision trimmed, the log gone or replaced, an entry
      // this replica cannot apply): a waiter for changes is told, rather
      // than left waiting for revisions that will not come.
      NoteFollowStuck(s);
    }
    if (s.ok() && !stop_replica_.load()) {
      NoteContact(revision_.load(), 0);
      ClearError(ReplicaWork::kFollow);
      NoteFollowStuck(Status::Ok());
      backoff_ms = 20;
      watched = true;
      s = log_->Follow(
          etcd_rev,
          [this](std::vector<replication::LogEntryBytes>&& batch) -> Status {
            WhilePaused(follower_paused_, stop_replica_);
            // A batch under one hold of the write lock, published once
            // (a group another replica appended arrives whole: this
            // replica's writers never stage on half of it).
            WriteGuard w(write_mu_);
            CANOPY_RETURN_IF_ERROR(CheckOpen());
            CANOPY_RETURN_IF_ERROR(LogBehind());
            NoteContact(batch.back().revision, 0);
            return ApplyBatchLocked(batch, /*follower=*/true);
          },
          &stop_replica_);
    }
    if (stop_replica_.load()) break;
    if (watched &&
        (s.code() == Code::kFailedPrecondition || s.code() == Code::kCompacted)) {
      // A gap in what the watch gave, or etcd's history compacted past its
      // start: read again from the applied revision (which clears this
      // note, unless the read finds it again). A compaction is routine
      // (every trim compacts etcd's history, maybe between the read and
      // the watch's start) and is not shown: it would hide a standing
      // error of another activity until the read.
      if (s.code() == Code::kFailedPrecondition) NoteError(ReplicaWork::kFollow, s);
      continue;
    }
    // Otherwise (etcd down; or this replica's next revision trimmed from
    // the log, where only a new start from a checkpoint helps) it says so
    // in its status and tries again, less and less often.
    if (!s.ok()) {
      NoteError(ReplicaWork::kFollow, s);
      if (!SleepUnlessStopped(backoff_ms)) break;
      backoff_ms = std::min(backoff_ms * 2, 1000);
    }
  }
}

Status DbImpl::LogEndsBehind(uint64_t head, uint64_t applied) {
  const Status s = Status::FailedPrecondition(
      "the log in etcd (" + options_.replication.prefix + ") ends at revision " +
      std::to_string(head) + ", behind this replica's " + std::to_string(applied) +
      ": etcd lost or deleted its entries; this replica appends nothing to it");
  NoteLogBehind(s);
  return LogBehind();
}

Status DbImpl::AnotherHistory(const Status& found) {
  // A log replaced by another database's holds other entries too: that
  // cause, when etcd tells it, is the one to name.
  uint64_t head = 0, first = 0;
  Status b = log_->Bounds(&head, &first);
  NoteLogBehind(b.code() == Code::kFailedPrecondition && log_->Lost() ? b : found);
  return LogBehind();
}

void DbImpl::NoteLogBehind(const Status& s) {
  std::lock_guard<std::mutex> g(replica_mu_);
  if (log_behind_.load()) return;  // the first finding stands
  behind_ = s;
  log_behind_.store(true);
}

Status DbImpl::LogBehind() const {
  if (!log_behind_.load()) return Status::Ok();
  std::lock_guard<std::mutex> g(replica_mu_);
  return behind_;
}

bool DbImpl::LogLost(const Status& s) const {
  return s.code() == Code::kFailedPrecondition && LostForGood();
}

bool DbImpl::LostForGood() const {
  return log_->Lost() || log_behind_.load();
}

void DbImpl::NoteFollowStuck(const Status& s) {
  {
    std::lock_guard<std::mutex> g(replica_mu_);
    if (s.ok()) {
      if (follow_stuck_.ok()) return;  // (the follower's every good read)
      // A log lost for good stays so (a read past a head that is behind
      // this replica finds nothing, and succeeds).
      if (LostForGood()) return;
      follow_stuck_ = Status::Ok();
    } else {
      std::string advice;
      if (s.code() == Code::kCompacted) {
        advice = "; only a new start from a checkpoint helps: close it and open it again with "
                 "the replicas' checkpoint folder, which starts it from the newest checkpoint";
      }
      follow_stuck_ = Status(s.code(), "this replica stopped following the log in etcd (" +
                                           options_.replication.prefix + ") at revision " +
                                           std::to_string(revision_.load()) + ": " +
                                           s.message() + advice);
    }
    follow_stuck_flag_.store(!s.ok());
  }
  if (!s.ok()) {
    {
      std::lock_guard<std::mutex> g(wait_mu_);
    }
    wait_cv_.notify_all();
  }
}

Status DbImpl::FollowStuck() const {
  std::lock_guard<std::mutex> g(replica_mu_);
  return follow_stuck_;
}

void DbImpl::NoteApplied(const std::string& framed) {
  std::string_view entry, input;
  std::string buffer;
  storage::LogEntryView e;
  if (!storage::UnframeLogEntry(framed, &entry, &input).ok()) return;
  if (!storage::DecodeLogEntryView(entry, &buffer, &e).ok()) return;
  std::lock_guard<std::mutex> g(replica_mu_);
  apply_delay_us_ = NowMicros() - e.time_us;
}

// ---- Housekeeping: registration, checkpoints, trimming ---------------------

void DbImpl::HousekeepingLoop() {
  const ReplicationOptions& r = options_.replication;
  int64_t last_trim_us = 0;
  while (SleepUnlessStopped(lease_ == 0 ? 0 : static_cast<int>(r.housekeeping_interval_ms))) {
    // The log first: one that is gone or was replaced (FailedPrecondition,
    // for good) is no longer this replica's, and a registration there
    // would hold back the trimming of the new database's log.
    uint64_t head = 0, first = 0;
    const uint64_t applied = revision_.load();  // before the read: a head is never behind it
    Status s = log_->Bounds(&head, &first);
    if (s.ok() && head < applied) s = LogEndsBehind(head, applied);
    if (s.ok()) s = LogBehind();  // for good, though the head has passed it again
    // Nor can the follower go on, though its watch of the log's entries
    // may be silent (a deletion is not news to it): its waiters are told.
    const bool lost = LogLost(s);
    if (lost) NoteFollowStuck(s);
    if (lost && lease_ != 0) {
      (void)log_->Unregister(replica_id_, lease_);
      lease_ = 0;
    }
    if (s.ok()) {
      s = log_->Register(replica_id_, revision_.load(),
                         static_cast<int64_t>(r.lease_ttl_seconds), &lease_);
    }
    if (!s.ok()) {
      NoteError(ReplicaWork::kHousekeeping, s);
      if (lease_ == 0 && !SleepUnlessStopped(500)) break;
      continue;
    }
    NoteContact(head, first);
    ClearError(ReplicaWork::kHousekeeping);
    const int64_t now = NowMicros();
    if (now - last_trim_us < 5 * static_cast<int64_t>(r.housekeeping_interval_ms) * 1000) continue;
    last_trim_us = now;
    s = TrimPass(first);
    if (IsClosing(s)) {
      last_trim_us = 0;  // refused as Close began; if that Close is refused, trim next time
    } else if (!s.ok()) {
      NoteError(ReplicaWork::kCheckpoints, s.WithContext("checkpoints and trimming"));
    } else {
      ClearError(ReplicaWork::kCheckpoints);
    }
  }
}

Status DbImpl::TrimPass(uint64_t first) {
  const ReplicationOptions& r = options_.replication;
  uint64_t cp = 0;
  std::string folder;
  CANOPY_RETURN_IF_ERROR(log_->NewestCheckpoint(&cp, &folder));
  if (!r.checkpoint_dir.empty() && r.checkpoint_every > 0 &&
      revision_.load() >= cp + r.checkpoint_every) {
    // Taken under a scratch name, renamed after the revision it holds,
    // then registered (a newer one registered meanwhile wins).
    const fs::path scratch = fs::path(r.checkpoint_dir) / (".taking-" + replica_id_);
    std::error_code ec;
    fs::remove_all(scratch, ec);
    uint64_t rev = 0;
    CANOPY_RETURN_IF_ERROR(TakeCheckpoint(scratch.string(), &rev));
    const fs::path named = fs::path(r.checkpoint_dir) / (CheckpointNamePrefix(rev, LogId()) + replica_id_);
    fs::rename(scratch, named, ec);
    if (ec) return Status::IOError("cannot name checkpoint '" + named.string() + "': " + ec.message());
    CANOPY_RETURN_IF_ERROR(log_->PublishCheckpoint(rev, fs::weakly_canonical(named, ec).string()));
    CANOPY_RETURN_IF_ERROR(log_->NewestCheckpoint(&cp, &folder));
  }
  {
    std::lock_guard<std::mutex> g(replica_mu_);
    checkpoint_seen_ = std::max(checkpoint_seen_, cp);  // (a checkpoint taken meanwhile)
  }
  if (cp == 0) return Status::Ok();  // without a checkpoint, a new replica needs the whole log
  std::vector<replication::LiveReplica> live;
  CANOPY_RETURN_IF_ERROR(log_->LiveReplicas(&live));
  uint64_t upto = cp;
  for (const auto& x : live) upto = std::min(upto, x.applied);
  if (upto >= first) {
    int64_t deleted = 0;
    CANOPY_RETURN_IF_ERROR(log_->TrimUpTo(upto, &deleted));
  }
  // Checkpoints older than the registered one are no longer needed, but the
  // newest of them stays a while (a new replica may be copying it). Only
  // this database's: the folder may hold other databases' checkpoints.
  if (!r.checkpoint_dir.empty()) {
    std::error_code ec;
    std::vector<std::pair<uint64_t, fs::path>> older;
    for (const auto& f : fs::directory_iterator(r.checkpoint_dir, ec)) {
      const std::string name = f.path().filename().string();
      uint64_t rev = 0;
      if (name.rfind(kCheckpointPrefix, 0) != 0 ||
          !replication::ParseRevision(name.substr(kCheckpointPrefix.size(), 20), &rev) ||
          name.rfind(CheckpointNamePrefix(rev, LogId()), 0) != 0) {
        continue;
      }
      if (rev < cp && fs::weakly_canonical(f.path(), ec) != fs::path(folder)) {
        older.emplace_back(rev, f.path());
      }
    }
    std::sort(older.begin(), older.end());
    if (!older.empty()) older.pop_back();
    for (const auto& [rev, path] : older) fs::remove_all(path, ec);
  }
  return Status::Ok();
}

// ---- Writes through etcd ----------------------------------------------------

Status DbImpl::AppendToLog(const std::string& framed, bool* conflict) {
  // With write_mu_ held; the entry is revision revision_ + 1, built with
  // nothing staged (an import settles first: the entry's revision and
  // state would not hold after a settle here).
  *conflict = false;
  if (!staged_.empty()) {
    return Status::Internal("an entry was built for revision " +
                            std::to_string(revision_.load() + 1) + " while " +
                            std::to_string(staged_.size()) + " writes were staged");
  }
  bool committed = false;
  uint64_t head = 0;
  const uint64_t at = revision_.load();
  Status s = LogBehind();
  if (s.ok()) s = log_->Append(at, framed, &committed, &head);
  if (s.ok() && !committed && head < at) s = LogEndsBehind(head, at);
  if (!s.ok()) {
    if (LogLost(s)) NoteFollowStuck(s);
    NoteError(ReplicaWork::kWrites, s);
    return s;
  }
  NoteContact(head, 0);
  ClearError(ReplicaWork::kWrites);
  if (committed) return Status::Ok();
  // Another replica appended first: apply what it wrote, then the caller
  // authorises and builds its change again on the new state.
  *conflict = true;
  return CatchUpLocked(head);
}

// ---- Groups of writes -------------------------------------------------------

Status DbImpl::StageLocked(storage::LogEntry* entry, uint64_t* ticket, size_t* framed_bytes) {
  // Changes published before the group begins (a replica publishes each
  // applied entry at once; this only guards the rule that a discarded
  // group takes back nothing but itself).
  if (staged_.empty() && versions_.HasPending()) CANOPY_RETURN_IF_ERROR(PublishLocked());
  Staged st;
  st.revision = revision_.load() + staged_.size() + 1;
  entry->revision = st.revision;
  entry->log_id = LogId();
  const std::string encoded = storage::EncodeLogEntry(*entry);
  st.framed = storage::FrameLogEntry(encoded, {});
  if (framed_bytes != nullptr) *framed_bytes = st.framed.size();
  rocksdb::WriteBatch batch;
  CANOPY_RETURN_IF_ERROR(WriteEntryKeys(*entry, encoded, /*adopt_lineage=*/true, &batch));
  // Too big to join the group: the group goes first, and this write is
  // built again should the group be taken back.
  if (!staged_.empty() && staged_bytes_ + st.framed.size() > kGroupBytes) {
    bool taken_back = false;
    Status failed;
    CANOPY_RETURN_IF_ERROR(SettleLocked(&taken_back, &failed));
    // Built on writes that are gone: built again after a lost race; after
    // etcd failed, this write fails as they did.
    if (!failed.ok()) return failed;
    if (taken_back) {
      *ticket = ++next_ticket_;
      ResolveStaged({*ticket}, {}, /*lost=*/true, Status::Ok());
      return Status::Ok();
    }
  }
  bool complete = true;
  Status added = overlay_->Add(batch, &complete);
  if (!added.ok()) {
    // The overlay may hold part of it: take the whole group back (the
    // others build again) and refuse this one.
    CANOPY_RETURN_IF_ERROR(DiscardStagedLocked(/*lost=*/true, Status::Ok()));
    return added;
  }
  st.time_us = entry->time_us;
  st.log_id = entry->log_id;
  st.batch = batch.Data();
  st.ticket = *ticket = ++next_ticket_;
  Status a = ApplyToLatestCatalog(std::move(entry->changes));
  if (!a.ok()) {
    Poison(Status::Internal("in-memory state lost while staging a write (" + a.message() +
                            "); close and reopen the database"));
    return poisoned_;
  }
  staged_bytes_ += st.framed.size();
  staged_.push_back(std::move(st));
  // Settle at once when nothing may be built on this write before it is
  // written (the overlay cannot show it), or the group is full.
  if (!complete || staged_.size() >= kGroupEntries) CANOPY_RETURN_IF_ERROR(SettleLocked());
  return Status::Ok();
}

Status DbImpl::TakeBackStagedLocked(std::vector<uint64_t>* tickets) {
  tickets->clear();
  if (staged_.empty() && overlay_->empty()) return Status::Ok();
  for (const Staged& st : staged_) tickets->push_back(st.ticket);
  staged_.clear();
  staged_bytes_ = 0;
  overlay_->Clear();
  Status d = versions_.DiscardPending();
  if (!d.ok()) {
    Poison(d.WithContext("close and reopen the database"));
    return poisoned_;
  }
  return Status::Ok();
}

void DbImpl::ResolveStaged(const std::vector<uint64_t>& tickets,
                           const std::vector<uint64_t>& revisions, bool lost,
                           const Status& outcome) {
  if (tickets.empty()) return;
  {
    std::lock_guard<std::mutex> g(sync_mu_);
    for (size_t i = 0; i < tickets.size(); ++i) {
      Outcome& o = outcomes_[tickets[i]];
      o.lost = lost;
      o.status = outcome;
      o.revision = i < revisions.size() ? revisions[i] : 0;
      settled_ticket_ = std::max(settled_ticket_, tickets[i]);
    }
  }
  sync_cv_.notify_all();
}

Status DbImpl::DiscardStagedLocked(bool lost, const Status& outcome) {
  std::vector<uint64_t> tickets;
  Status t = TakeBackStagedLocked(&tickets);
  ResolveStaged(tickets, {}, lost, t.ok() ? outcome : t);
  return t;
}

Status DbImpl::SettleLocked(bool* taken_back, Status* failed) {
  if (taken_back != nullptr) *taken_back = false;
  if (failed != nullptr) *failed = Status::Ok();
  if (staged_.empty()) return Status::Ok();
  if (poisoned_flag_.load()) return poisoned_;
  const uint64_t at = revision_.load();
  std::vector<std::string_view> frames;
  frames.reserve(staged_.size());
  for (const Staged& st : staged_) frames.push_back(st.framed);
  bool committed = false;
  uint64_t head = 0;
  std::vector<replication::LogEntryBytes> missed;
  Status s = LogBehind();
  if (s.ok()) s = log_->Append(at, frames, &committed, &head, &missed);
  if (s.ok() && !committed && head < at) s = LogEndsBehind(head, at);
  if (!s.ok()) {
    if (LogLost(s)) NoteFollowStuck(s);
    // Not appended, or not known to be (the follower applies it from etcd
    // if it was): taken back here, and each writer told why.
    if (taken_back != nullptr) *taken_back = true;
    if (failed != nullptr) *failed = s;
    NoteError(ReplicaWork::kWrites, s);
    return DiscardStagedLocked(/*lost=*/false, s);
  }
  NoteContact(head, 0);
  ClearError(ReplicaWork::kWrites);
  if (!committed) {
    // Another replica appended first: take the group back and apply what
    // the other wrote (the failed transaction brought it; read only what
    // it did not); then the writers build again on the new state.
    if (taken_back != nullptr) *taken_back = true;
    std::vector<uint64_t> tickets;
    CANOPY_RETURN_IF_ERROR(TakeBackStagedLocked(&tickets));
    // etcd's entry at this replica's revision comes first: applying it
    // compares it with the replica's own (ApplyFromLog), and what follows
    // another one is another history. Not read (a large entry, or one
    // trimmed): CatchUpLocked reads from that revision and compares.
    if (at > 0 && (missed.empty() || missed.front().revision != at)) missed.clear();
    Status c = ApplyBatchLocked(missed, /*follower=*/false);
    if (c.ok()) c = CatchUpLocked(head);
    if (!c.ok()) NoteError(ReplicaWork::kFollow, c);
    // Built again, unless catching up failed for good (etcd unreachable is
    // for the next append to find out).
    const bool again = c.ok() || c.code() == Code::kUnavailable;
    ResolveStaged(tickets, {}, again, again ? Status::Ok() : c);
    return poisoned_flag_.load() ? poisoned_ : Status::Ok();
  }
  // In etcd: write the group here before acknowledging it (read-your-writes).
  std::vector<Staged> group;
  group.swap(staged_);
  staged_bytes_ = 0;
  overlay_->Clear();
  Status w;
  for (Staged& st : group) {
    rocksdb::WriteBatch batch(std::move(st.batch));
    w = WriteRevision(&batch, st.revision, st.time_us);
    if (!w.ok()) break;
    Advance(st.revision, &st.log_id);
  }
  if (w.ok()) w = PublishLocked();
  if (!w.ok() && !poisoned_flag_.load()) {
    // The catalog holds the whole group, the store part of it: stop
    // serving (a reopen loads the store, and the follower applies the
    // rest from etcd).
    Poison(w.WithContext("writing a group of writes appended in etcd; close and reopen the "
                         "database"));
  }
  std::vector<uint64_t> tickets, revisions;
  for (const Staged& st : group) {
    tickets.push_back(st.ticket);
    revisions.push_back(st.revision);
  }
  ResolveStaged(tickets, revisions, /*lost=*/false, w.ok() ? Status::Ok() : poisoned_);
  return w.ok() ? Status::Ok() : poisoned_;
}

Status DbImpl::WaitSettled(uint64_t ticket, bool* lost) {
  *lost = false;
  std::unique_lock<std::mutex> g(sync_mu_);
  while (settled_ticket_ < ticket) {
    if (poisoned_flag_.load(std::memory_order_acquire)) break;
    if (settle_leader_) {
      sync_cv_.wait(g);
      continue;
    }
    LeaderTurn turn(g, settle_leader_, sync_cv_);
    // Let the writers on their way join this group (each stages its
    // write, then waits here), but never for long: a build takes
    // microseconds, the append a round trip.
    const auto until = std::chrono::steady_clock::now() + kGatherFor;
    while (staging_.load() > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    WriteGuard w(write_mu_);
    (void)SettleLocked();  // outcomes (and a poisoned state) are read below
  }
  auto it = outcomes_.find(ticket);
  if (it == outcomes_.end()) {
    return poisoned_flag_.load() ? poisoned_ : Status::Internal("a staged write has no outcome");
  }
  Outcome o = std::move(it->second);
  outcomes_.erase(it);
  g.unlock();
  if (o.lost) {
    *lost = true;
    return Status::Ok();
  }
  if (o.status.ok()) NoteCommitted(o.revision);
  return o.status;
}

int DbImpl::MaxWriteAttempts() { return kMaxWriteAttempts; }

DbImpl::WriteTries::~WriteTries() {
  if (turn != nullptr) (void)turn->ReleaseTurn(turn_claim);  // its lease, if still its own
}

Status DbImpl::AfterLostRace(WriteTries* tries) {
  const int attempt = tries->attempt;
  // Time spent waiting for other replicas' turns (this replica's appends,
  // whichever writer's they were, meanwhile) is not this write losing.
  if (log_) {
    const int64_t waited = log_->TurnWaitedMicros();
    tries->started += std::chrono::microseconds(waited - tries->turn_waited_us);
    tries->turn_waited_us = waited;
  }
  const auto spent = std::chrono::steady_clock::now() - tries->started;
  bool claimed_now = false;
  if (log_ && tries->entry_bytes >= kGroupBytes && !log_->HoldsTurn()) {
    // Large: claim the turn (others' appends wait for this one's; again if
    // another write of this replica used it), under a lease of a few times
    // the time an attempt took.
    const double per_attempt = std::chrono::duration<double>(spent).count() / attempt;
    const int64_t ttl = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(3 * per_attempt)) + 1,
                                            kTurnSecondsMin, kTurnSecondsMax);
    bool claimed = false;
    uint64_t claim = 0;
    if (log_->ClaimTurn(ttl, &claimed, &claim).ok() && claimed) {
      // Only a write's first claim earns it an attempt past its budget: one
      // whose turns keep being used by others has had its chance.
      claimed_now = tries->turn == nullptr;
      tries->turn = log_.get();
      tries->turn_claim = claim;
    }
  }
  if (attempt >= kMaxWriteAttempts || (spent > kWriteBudget && !claimed_now)) {
    // Neutral about why: a group is taken back when another replica's write
    // took the revision, but also when etcd failed the group or a write
    // staged before it was taken back (an outage's, say).
    char took[32];
    std::snprintf(took, sizeof(took), "%.1f",
                  std::chrono::duration<double>(spent).count());
    return Status::Unavailable(
        "etcd: this write was not appended after " + std::to_string(attempt) + " attempt" +
        (attempt == 1 ? "" : "s") + " in " + took + " s (each time its group was taken back: "
        "another replica's write took the revision first, or etcd failed the group; time spent "
        "waiting for another replica's turn to append not counted); try again");
  }
  if (attempt >= 8 && !(log_ && log_->HoldsTurn())) {
    // A write that keeps losing backs off by a random few milliseconds, so
    // that one replica wins the next round. (Not sooner: a lost group
    // learns what it missed from the refusal itself and is built again at
    // once, and earlier sleeps split the next group and cost throughput.)
    thread_local std::mt19937 rng(std::random_device{}());
    const int cap = std::min(1 << std::min(attempt - 7, 5), 4);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (cap * 1000)));
  }
  return Status::Ok();
}

// ---- Checkpoints, status, sync ---------------------------------------------

Status DbImpl::TakeCheckpoint(const std::string& dir, uint64_t* revision,
                              std::string_view operation) {
  std::shared_lock<std::shared_mutex> open;
  CANOPY_RETURN_IF_ERROR(HoldOpen(&open));
  CANOPY_RETURN_IF_ERROR(RefuseReentry(operation));
  const std::string folder_named = std::string(operation) + " folder";
  // On a follower, write_mu_ keeps catch-ups out: the state stays put (a
  // read-only open's never moves).
  WriteGuard w(write_mu_);
  // (A snapshot shares its database's store, which moves on: refused as
  // a write by CheckWritable.)
  const bool reader = (options_.follower || options_.read_only) && !snapshot_view_;
  if (reader) {
    CANOPY_RETURN_IF_ERROR(CheckOpen());
  } else {
    CANOPY_RETURN_IF_ERROR(CheckWritable(operation));
  }
  if (dir.empty()) return Status::InvalidArgument(folder_named + " is empty");
  CANOPY_RETURN_IF_ERROR(storage::RefuseInsideFolder(folder_named, dir, store_->path()));
  // A checkpoint holds only published (with sync on: durable) revisions.
  if (!reader) CANOPY_RETURN_IF_ERROR(PublishLocked());
  std::error_code ec;
  const fs::path named = Named(dir);
  if (fs::exists(fs::symlink_status(named, ec))) {
    return Status::AlreadyExists(folder_named + " '" + dir + "' already exists");
  }
  const fs::path parent = fs::absolute(named, ec).parent_path();
  // The folders that hold the new name: the parent, and each ancestor the
  // parent's creation adds an entry to.
  std::vector<fs::path> to_sync{parent};
  for (fs::path p = parent; p.has_relative_path() && !fs::exists(p, ec); p = p.parent_path()) {
    to_sync.push_back(p.parent_path());
  }
  fs::create_directories(parent, ec);
  if (ec) return Status::IOError("cannot create '" + parent.string() + "': " + ec.message());
  if (reader) {
    // Beside the writer, RocksDB's checkpoint cannot hold off the writer's
    // file deletions, and it copies the writer's live write-ahead log,
    // which may hold more than this view: a copy key by key instead.
    // It is written under a scratch name beside `dir` and renamed when
    // whole, so that a copy cut short (a full disk, a kill) never stands
    // under the name asked for, looking like a checkpoint.
    const std::string scratch = ScratchBeside(named);
    Status copied = CopyReaderState(scratch, revision);
    if (!copied.ok()) {
      // Named by the folder asked for: the scratch one is gone when told.
      copied = Status(copied.code(), Renamed(copied.message(), scratch, named.string()));
    } else {
      copied = MoveCopyInto(scratch, named, false, folder_named);
    }
    if (!copied.ok()) {
      fs::remove_all(scratch, ec);
      return copied;
    }
  } else {
    RemoveDeadScratchBeside(named);  // a killed reader's copy of this checkpoint
    rocksdb::Checkpoint* raw = nullptr;
    CANOPY_RETURN_IF_ERROR(
        storage::FromRocks(rocksdb::Checkpoint::Create(store_->db(), &raw), "checkpoint"));
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    // With the write lock held, the checkpoint holds exactly this revision.
    *revision = revision_.load();
    CANOPY_RETURN_IF_ERROR(
        storage::FromRocks(cp->CreateCheckpoint(named.string()), "checkpoint '" + dir + "'"));
  }
  // RocksDB syncs the checkpoint folder, not the folder it renames it into:
  // until that is synced too a power loss can take the new name away.
  for (const fs::path& folder : to_sync) {
    std::unique_ptr<rocksdb::FSDirectory> d;
    rocksdb::IOStatus s = store_->db()->GetFileSystem()->NewDirectory(folder.string(),
                                                                      rocksdb::IOOptions(), &d,
                                                                      nullptr);
    if (s.ok()) s = d->Fsync(rocksdb::IOOptions(), nullptr);
    CANOPY_RETURN_IF_ERROR(storage::FromRocks(s, "checkpoint: sync '" + folder.string() + "'"));
  }
  return Status::Ok();
}

StatusOr<uint64_t> DbImpl::Checkpoint(std::string_view dir) {
  uint64_t rev = 0;
  CANOPY_RETURN_IF_ERROR(TakeCheckpoint(std::string(dir), &rev));
  if (log_ && !options_.replication.checkpoint_dir.empty()) {
    std::error_code ec;
    const fs::path root = fs::weakly_canonical(options_.replication.checkpoint_dir, ec);
    const fs::path mine = fs::weakly_canonical(std::string(dir), ec);
    if (mine.parent_path() == root) {
      // Not into a log this replica no longer follows: new replicas would
      // start from another history.
      Status ours = LogBehind();
      if (ours.ok() && log_->Lost()) {
        uint64_t head = 0, first = 0;
        ours = log_->Bounds(&head, &first);
      }
      if (!ours.ok()) {
        return Status(ours.code(), "the checkpoint in '" + mine.string() +
                                       "' was written but not registered in etcd: " +
                                       ours.message());
      }
      CANOPY_RETURN_IF_ERROR(log_->PublishCheckpoint(rev, mine.string()));
      uint64_t newest = 0;
      std::string folder;
      if (log_->NewestCheckpoint(&newest, &folder).ok()) {
        std::lock_guard<std::mutex> g(replica_mu_);
        checkpoint_seen_ = std::max(checkpoint_seen_, newest);  // (housekeeping's may be older)
      }
    }
  }
  return rev;
}

Status DbImpl::CatchUpIfBehind(bool* caught_up) {
  *caught_up = false;
  if (!log_) return Status::Ok();
  uint64_t head = 0, first = 0;
  Status b = log_->BoundsRetrying(&head, &first);
  if (!b.ok()) return b;
  NoteContact(head, first);
  if (head <= revision_.load()) return Status::Ok();
  CANOPY_RETURN_IF_ERROR(CatchUpLocked(head));
  *caught_up = true;
  return Status::Ok();
}

StatusOr<ReplicaStatus> DbImpl::GetReplicaStatus() const {
  std::shared_lock<std::shared_mutex> open;
  CANOPY_RETURN_IF_ERROR(HoldOpen(&open));
  CANOPY_RETURN_IF_ERROR(CheckOpen());
  ReplicaStatus st;
  st.applied = revision_.load();
  if (!log_) return st;
  st.replicated = true;
  st.replica_id = replica_id_;
  uint64_t head = 0, first = 0;
  Status b = log_->Bounds(&head, &first);
  DbImpl* self = const_cast<DbImpl*>(this);
  if (b.ok()) {
    self->NoteContact(head, first);
    self->ClearError(ReplicaWork::kProbe);
  } else {
    self->NoteError(ReplicaWork::kProbe, b);
  }
  for (const auto& m : log_->etcd().MemberStatus()) {
    EtcdMemberView v;
    v.endpoint = m.endpoint;
    v.reachable = m.reachable;
    v.has_leader = m.leader != 0;
    v.version = m.version;
    v.error = m.error;
    st.members.push_back(std::move(v));
  }
  std::lock_guard<std::mutex> g(replica_mu_);
  // Until etcd has answered once, its head is unknown: 0, not the local
  // revision passed off as etcd's.
  st.head = last_contact_us_ != 0 ? std::max(head_seen_, st.applied) : 0;
  st.lag = st.head > st.applied ? st.head - st.applied : 0;
  st.last_contact_us = last_contact_us_;
  st.apply_delay_us = apply_delay_us_;
  st.checkpoint = checkpoint_seen_;
  st.log_first = log_first_seen_;
  // The newest error still standing, of whichever activity.
  const WorkError* newest = nullptr;
  for (const WorkError& e : replica_errors_) {
    if (!e.message.empty() && (newest == nullptr || e.order > newest->order)) newest = &e;
  }
  st.error = newest != nullptr ? newest->message : std::string();
  return st;
}

StatusOr<uint64_t> DbImpl::SyncWithLog(uint32_t timeout_ms) {
  std::shared_lock<std::shared_mutex> open;
  CANOPY_RETURN_IF_ERROR(HoldOpen(&open));
  CANOPY_RETURN_IF_ERROR(CheckOpen());
  if (!log_) return revision_.load();
  CANOPY_RETURN_IF_ERROR(LogBehind());  // a log this replica no longer follows
  uint64_t head = 0, first = 0;
  Status b = log_->Bounds(&head, &first);
  if (!b.ok()) {
    NoteError(ReplicaWork::kProbe, b);
    return b;
  }
  NoteContact(head, first);
  ClearError(ReplicaWork::kProbe);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // Readers see the published revision, which trails the applied one
  // while a batch of applied entries awaits its sync and publication: wait
  // for the published one, or the barrier would return before a read
  // could see what it promises.
  while (published_.load() < head) {
    // The follower applies it; if it is slow (or reconnecting), fetch and
    // publish here.
    std::unique_lock<WriterMutex> w(write_mu_, std::defer_lock);
    if (w.try_lock()) {
      if (revision_.load() < head) CANOPY_RETURN_IF_ERROR(CatchUpLocked(head));
      CANOPY_RETURN_IF_ERROR(PublishLocked());
      if (published_.load() >= head) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Aborted("replica at revision " + std::to_string(published_.load()) +
                             " did not reach revision " + std::to_string(head) + " within " +
                             std::to_string(timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return head;
}

}  // namespace canopy::engine
