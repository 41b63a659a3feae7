// Copyright (c) Canopy authors.
//
// canopy replica status | canopy checkpoint DIR | canopy backup DIR |
// canopy restore BACKUP DIR: where a replica stands against the change log
// in etcd, and consistent copies of a database.

#include "cli.h"
#include "output.h"
#include "canopy/json.h"

namespace canopy::cli {

namespace {

const char kReplicaUsage[] =
    "usage: canopy --etcd URLS [--prefix P] [--checkpoints DIR] replica status [--json]\n"
    "       canopy --etcd URLS [--prefix P] replica sync [--timeout-ms N]\n\n"
    "A replica is a database folder that follows a change log kept in etcd\n"
    "(--etcd, the members' client URLs; --prefix, the log's key prefix). Every\n"
    "replica may write; each write is appended to etcd before it returns, and\n"
    "each replica applies the others' writes in the same order.\n"
    "  status   catches up, then prints the revision applied here, the log's head\n"
    "           in etcd and the lag between them, the newest checkpoint, the\n"
    "           oldest revision etcd still keeps, the last problem with etcd, and\n"
    "           each etcd member's health. Exit status 1 when no member answers.\n"
    "  sync     waits until this replica has applied everything etcd held when\n"
    "           the command began (default timeout 10000 ms) and prints that\n"
    "           revision\n"
    "  --json   status as one JSON object\n";

const char kCheckpointUsage[] =
    "usage: canopy [--db DIR] [--etcd URLS [--prefix P] [--checkpoints CDIR]] checkpoint DEST\n\n"
    "Writes a consistent copy of the database into the new folder DEST (hard links\n"
    "where the file system allows, so it is quick and small) and prints its\n"
    "revision. The copy opens as a database of its own. Writes wait while it is\n"
    "taken; reads go on. On a replica, a checkpoint written directly inside the\n"
    "--checkpoints folder is registered in etcd: new replicas start from it, and\n"
    "etcd trims the log below it (and below every live replica). Beside a process\n"
    "that holds the database it copies a read-only view key by key, under a scratch\n"
    "name beside DEST (DEST.partial-PID-N) renamed when whole; one a killed\n"
    "checkpoint left goes at the next checkpoint or backup to DEST.\n";

const char kBackupUsage[] =
    "usage: canopy [--db DIR] backup DEST [--progress]\n\n"
    "Writes a verified backup of the database into the new folder DEST and prints\n"
    "its revision: a consistent copy (as checkpoint writes it) is made under a\n"
    "scratch name beside DEST (DEST.partial-...), opened and put through the\n"
    "integrity check, and only then renamed to DEST and synced. Writes wait while\n"
    "the copy is taken; reads go on. DEST must not exist, nor be inside the\n"
    "database folder. Put it on another disk to survive the loss of this one (on\n"
    "the same file system its files are hard links; RocksDB never rewrites them).\n"
    "`canopy restore` puts it back. Beside a process that holds the database it\n"
    "backs up a read-only view (saying so): a full copy written key by key. A\n"
    "scratch copy a killed backup left (DEST.partial-PID-N) goes at the next\n"
    "backup to DEST. The check reads every entity: its progress is drawn on stderr\n"
    "when stderr is a terminal; Ctrl-C (or SIGTERM) stops it and leaves nothing.\n"
    "  --progress  print progress on stderr also when it is not a terminal, one\n"
    "              line per update ('checking  50% (65536/131072 entities)')\n";

const char kRestoreUsage[] =
    "usage: canopy restore BACKUP DIR [--progress]\n\n"
    "Makes the folder DIR a database restored from BACKUP (a folder `canopy\n"
    "backup` or `canopy checkpoint` wrote). DIR must not exist or be an empty\n"
    "folder: restore never replaces a database. The backup is copied under a\n"
    "scratch name beside DIR and synced; the copy is opened and put through the\n"
    "integrity check; only then is it renamed to DIR in one step. On any error DIR\n"
    "is left as it was and the scratch copy is removed (one a killed restore left\n"
    "goes at the next restore to DIR). The backup is not changed.\n"
    "A database folder that is open (by another process, e.g. a service) is\n"
    "refused: it would change under the copy; back it up with `canopy backup`.\n"
    "--db is not used: open the result with --db DIR.\n"
    "Progress (bytes copied, then entities checked) is drawn on stderr when it is a\n"
    "terminal; Ctrl-C (or SIGTERM) stops the restore and leaves DIR as it was.\n"
    "  --progress  print progress on stderr also when it is not a terminal, one\n"
    "              line per update ('copying  50% (8388608/16777216 bytes)')\n";

std::string Time(int64_t us) { return us == 0 ? "never" : FormatTime(us); }

int ShowStatus(Context& ctx, Args& args) {
  args.Parse({}, {});
  args.AtMost(0);
  if (ctx.etcd_endpoints.empty()) {
    throw UsageError{"replica status needs --etcd URLS (this command describes a replica)"};
  }
  if (!ctx.RequireSystem("replica status")) return kExitFailed;
  if (!ctx.Open(true)) return kExitFailed;
  StatusOr<ReplicaStatus> st = ctx.db->GetReplicaStatus();
  if (!st.ok()) return ctx.Fail(st.status());
  bool any = false;
  for (const auto& m : st->members) any = any || m.reachable;
  if (ctx.json) {
    *ctx.out << ReplicaStatusJson(*st) << "\n";
  } else {
    auto& o = *ctx.out;
    // What only etcd can tell is unknown until it has answered once.
    const bool heard = st->last_contact_us != 0;
    const std::string unknown = "unknown (etcd not reached)";
    o << "replica      " << Printable(st->replica_id) << "\n"
      << "applied      " << st->applied << "\n"
      << "etcd head    " << (heard ? std::to_string(st->head) : unknown) << "\n"
      << "lag          " << (heard ? std::to_string(st->lag) + " revision(s)" : unknown) << "\n"
      << "last contact " << Time(st->last_contact_us) << "\n"
      << "checkpoint   "
      << (!heard ? unknown : st->checkpoint == 0 ? std::string("none") : std::to_string(st->checkpoint))
      << "\n"
      << "etcd keeps   "
      << (heard ? "revisions " + std::to_string(st->log_first) + ".." + std::to_string(st->head)
                : unknown)
      << "\n";
    if (!st->error.empty()) o << "last error   " << Printable(st->error) << "\n";
    for (const auto& m : st->members) {
      o << "member       " << Printable(m.endpoint) << "  "
        << (m.reachable ? (m.has_leader ? "healthy" : "no leader") : "unreachable");
      if (m.reachable) o << "  etcd " << Printable(m.version);
      if (!m.error.empty()) o << "  (" << Printable(m.error) << ")";
      o << "\n";
    }
  }
  if (!any) return ctx.Fail("no etcd member answers");
  return kExitOk;
}

int RunSync(Context& ctx, Args& args) {
  args.Parse({"timeout-ms"}, {});
  args.AtMost(0);
  const uint64_t timeout = GetNumber(args, "timeout-ms", 1, 3600000).value_or(10000);
  if (ctx.etcd_endpoints.empty()) throw UsageError{"replica sync needs --etcd URLS"};
  if (!ctx.RequireSystem("replica sync")) return kExitFailed;
  if (!ctx.Open(true)) return kExitFailed;
  StatusOr<uint64_t> rev = ctx.db->SyncWithLog(static_cast<uint32_t>(timeout));
  if (!rev.ok()) return ctx.Fail(rev.status());
  if (ctx.json) {
    *ctx.out << JsonObject().Uint("revision", *rev).str() << "\n";
  } else {
    *ctx.out << "revision " << *rev << "\n";
  }
  return kExitOk;
}

int RunReplica(Context& ctx, Args& args) {
  const std::string sub = args.Subcommand({"status", "sync"});
  if (sub == "status") return ShowStatus(ctx, args);
  return RunSync(ctx, args);
}

int RunCheckpoint(Context& ctx, Args& args) {
  args.Parse({}, {});
  const std::string dest = args.Path(0, "the checkpoint folder DEST");
  args.AtMost(1);
  if (!ctx.RequireSystem("checkpoint")) return kExitFailed;
  if (!ctx.Open(false)) return kExitFailed;
  StatusOr<uint64_t> rev = ctx.db->Checkpoint(dest);
  if (!rev.ok()) return ctx.Fail(rev.status());
  if (ctx.json) {
    *ctx.out << JsonObject().Str("folder", dest).Uint("revision", *rev).str() << "\n";
  } else {
    *ctx.out << "checkpoint of revision " << *rev << " written to " << Printable(dest) << "\n";
  }
  return kExitOk;
}

// Progress of backup and restore on stderr: a bar when it is a terminal,
// lines with --progress otherwise. Restore reports its copy (bytes) first,
// ending at done == total, then its check (entities); backup only the
// check. Either stops at the first SIGINT or SIGTERM (CatchStopSignals).
class CopyProgress {
 public:
  CopyProgress(Context& ctx, const Args& args, bool copies)
      : copying_(*ctx.err, Shown(args), !StderrIsTerminal(), "copying", "bytes"),
        checking_(*ctx.err, Shown(args), !StderrIsTerminal(), "checking", "entities"),
        copied_(!copies) {}
  ProgressFn Fn() {
    return [this](uint64_t done, uint64_t total) {
      if (!copied_) {
        copying_.Update(done, total);
        if (done == total) {
          copying_.Finish();
          copied_ = true;
        }
      } else {
        checking_.Update(done, total);
      }
      return !StopRequested();
    };
  }
  void Finish() {
    copying_.Finish();
    checking_.Finish();
  }

 private:
  static bool Shown(const Args& args) { return StderrIsTerminal() || args.Has("progress"); }
  ProgressBar copying_, checking_;
  bool copied_;
};

int RunBackup(Context& ctx, Args& args) {
  args.Parse({}, {"progress"});
  const std::string dest = args.Path(0, "the backup folder DEST");
  args.AtMost(1);
  if (!ctx.RequireSystem("backup")) return kExitFailed;
  CatchStopSignals();
  if (!ctx.Open(false)) return kExitFailed;
  CopyProgress progress(ctx, args, /*copies=*/false);
  StatusOr<uint64_t> rev = ctx.db->Backup(dest, progress.Fn());
  progress.Finish();
  if (!rev.ok()) return ctx.Fail(rev.status());
  if (ctx.json) {
    *ctx.out << JsonObject().Str("folder", dest).Uint("revision", *rev).str() << "\n";
  } else {
    *ctx.out << "backup of revision " << *rev << " written to " << Printable(dest)
             << " (integrity check passed)\n";
  }
  return kExitOk;
}

int RunRestore(Context& ctx, Args& args) {
  args.Parse({}, {"progress"});
  const std::string backup = args.Path(0, "the backup folder BACKUP");
  const std::string dest = args.Path(1, "the database folder DIR");
  args.AtMost(2);
  if (!ctx.RequireSystem("restore")) return kExitFailed;
  CatchStopSignals();
  CopyProgress progress(ctx, args, /*copies=*/true);
  Status s = Db::Restore(backup, dest, progress.Fn());
  progress.Finish();
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.json) {
    *ctx.out << JsonObject().Str("backup", backup).Str("folder", dest).str() << "\n";
  } else {
    *ctx.out << "restored " << Printable(backup) << " to " << Printable(dest)
             << " (integrity check passed)\n";
  }
  return kExitOk;
}

}  // namespace

Command BackupCommand() {
  return {"backup", "write a verified backup of the database to a new folder", kBackupUsage,
          RunBackup};
}

Command RestoreCommand() {
  return {"restore", "make a new database folder from a backup, verified first", kRestoreUsage,
          RunRestore};
}

Command ReplicaCommand() {
  return {"replica", "a replica's standing against the change log in etcd", kReplicaUsage,
          RunReplica};
}

Command CheckpointCommand() {
  return {"checkpoint", "write a consistent copy of the database to a folder", kCheckpointUsage,
          RunCheckpoint};
}

}  // namespace canopy::cli
