// Copyright (c) Canopy authors.
//
// The change log: commit of a change set under the next revision,
// retention, reading (watch and audit views), waiting for changes, and
// applying another database's entries (docs/changes.md).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <utility>
#include <vector>

#include <xxhash.h>

#include "engine/db_impl.h"
#include "query/access.h"
#include "query/cursor.h"
#include "query/json.h"
#include "storage/coding.h"
#include "storage/labels.h"
#include "storage/records.h"

namespace canopy::engine {

namespace {

// The calling thread's last committed revision per Db (instance number,
// revision), the most recent first, at most DbImpl::kThreadRevisions.
thread_local std::vector<std::pair<uint64_t, uint64_t>> tls_revisions;

// A logged write at least this large is flushed to table files at once
// (WriteLogged).
constexpr size_t kFlushAfterBytes = size_t{4} << 20;
constexpr size_t kMaxChangesPage = 100000;
// A filtered read scans at most this many entries per page (then returns a
// page, maybe empty, whose `next` resumes the scan).
constexpr size_t kMaxScanPerPage = 100000;

std::string NewLogId() {
  std::random_device rd;
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%08x%08x%08x%08x", rd(), rd(), rd(),
                static_cast<unsigned>(NowMicros()));
  return buf;
}

// ---- JSON of stored records (docs/changes.md) -----------------------------

Status RecordJson(storage::RecordType type, std::string_view key, std::string_view bytes,
                  std::string* out) {
  using storage::RecordType;
  switch (type) {
    case RecordType::kAccount: return storage::AccountJson(bytes, out);
    case RecordType::kEntity: return storage::EntityJson(bytes, out);
    case RecordType::kUser: return storage::UserJson(bytes, out);
    case RecordType::kMembership:
      if (key.size() != 16) return Status::Corruption("damaged membership key in the change log");
      return storage::MembershipJson(bytes, storage::DecodeFixed64BE(key.data()),
                                     storage::DecodeFixed64BE(key.data() + 8), out);
    case RecordType::kRole: return storage::RoleJson(bytes, out);
    case RecordType::kGroup: return storage::GroupJson(bytes, out);
    case RecordType::kGroupMember:
      if (key.size() != 16) return Status::Corruption("damaged group member key in the change log");
      return storage::GroupMemberJson(bytes, storage::DecodeFixed64BE(key.data()),
                                      storage::DecodeFixed64BE(key.data() + 8), out);
    case RecordType::kGroupGrant:
      if (key.size() != 24) return Status::Corruption("damaged group grant key in the change log");
      return storage::GroupGrantJson(bytes, storage::DecodeFixed64BE(key.data()),
                                     storage::DecodeFixed64BE(key.data() + 8),
                                     storage::DecodeFixed64BE(key.data() + 16), out);
    case RecordType::kGroupMembers:
      if (key.size() != 8) return Status::Corruption("damaged group members key in the change log");
      return storage::GroupMembersJson(bytes, storage::DecodeFixed64BE(key.data()), out);
    case RecordType::kMeta: {
      if (bytes.size() != 8) return Status::Corruption("damaged meta value in the change log");
      *out = query::JsonObject().Uint("value", storage::DecodeFixed64BE(bytes.data())).Take();
      return Status::Ok();
    }
  }
  return Status::Corruption("unknown record type in the change log");
}

std::string RecordId(storage::RecordType type, std::string_view key) {
  if (type == storage::RecordType::kMeta) return std::string(key);
  if (type == storage::RecordType::kGroupGrant && key.size() == 24) {
    return std::to_string(storage::DecodeFixed64BE(key.data())) + "/" +
           std::to_string(storage::DecodeFixed64BE(key.data() + 8)) + "/" +
           std::to_string(storage::DecodeFixed64BE(key.data() + 16));
  }
  if ((type == storage::RecordType::kMembership || type == storage::RecordType::kGroupMember) &&
      key.size() == 16) {
    return std::to_string(storage::DecodeFixed64BE(key.data())) + "/" +
           std::to_string(storage::DecodeFixed64BE(key.data() + 8));
  }
  return key.size() == 8 ? std::to_string(storage::DecodeFixed64BE(key.data())) : "?";
}

// Is `scope` (an account label) inside one of the grants?
bool InReach(const std::vector<query::Grant>& grants, std::string_view scope) {
  if (scope.empty()) return false;
  for (const auto& g : grants) {
    if (g.branch ? storage::IsSelfOrAncestorLabel(g.label, scope) : g.label == scope) return true;
  }
  return false;
}

// Every revision from the log's first on has its entry: a read that finds
// the one after `expected` instead lost entries (a damaged table file).
Status InSequence(uint64_t rev, uint64_t expected) {
  if (rev == expected) return Status::Ok();
  return Status::Corruption("change-log revision " + std::to_string(expected) +
                            " is missing: the next entry read is revision " + std::to_string(rev) +
                            " (a table file that cannot be read; run the integrity check)");
}

// Does `r` delete the account whose record key is `key` (its id, as
// storage::Fixed64BE)? That change ends the account's log.
bool DeletesAccount(const storage::RecordChangeRef& r, std::string_view key) {
  return r.type == storage::RecordType::kAccount && r.after.empty() && r.key == key;
}

}  // namespace

// ---- State ----------------------------------------------------------------

Status DbImpl::LastLoggedRevision(uint64_t* rev) const {
  *rev = 0;
  // From the end marker, the few small entries after it: a seek past the
  // marker's entry reads no block of that entry (a table's index holds its
  // last key), where a seek to the last key reads the whole entry.
  uint64_t marked = 0;
  CANOPY_RETURN_IF_ERROR(store_->ReadSequence(storage::kMetaLogLast, &marked));
  if (marked > 0) {
    auto after = store_->NewIterator(storage::kChanges, nullptr, storage::LogKey(marked + 1), "",
                                     false);
    uint64_t last = marked;
    uint64_t walked = 0;
    for ((*after)->Seek(storage::LogKey(marked + 1));
         (*after)->Valid() && walked <= storage::kLogMarkEvery; (*after)->Next(), ++walked) {
      int64_t chunk;
      rocksdb::Slice k = (*after)->key();
      if (!storage::DecodeLogKey(std::string_view(k.data(), k.size()), &last, &chunk)) {
        return Status::Corruption("a change-log key is damaged");
      }
    }
    CANOPY_RETURN_IF_ERROR(storage::FromRocks((*after)->status(), "read the change log's end"));
    if (!(*after)->Valid()) {
      *rev = last;
      return Status::Ok();
    }
    // More than the marker leaves: written by a build before it.
  }
  auto it = store_->NewIterator(storage::kChanges, nullptr, "", "", false);
  (*it)->SeekToLast();
  if ((*it)->Valid()) {
    int64_t chunk;
    rocksdb::Slice k = (*it)->key();
    if (!storage::DecodeLogKey(std::string_view(k.data(), k.size()), rev, &chunk)) {
      return Status::Corruption("the last change-log key is damaged");
    }
  }
  return storage::FromRocks((*it)->status(), "read the change log's end");
}

Status DbImpl::InitLog() {
  uint64_t rev = 0, first = 0;
  CANOPY_RETURN_IF_ERROR(LastLoggedRevision(&rev));
  CANOPY_RETURN_IF_ERROR(store_->ReadSequence(storage::kMetaLogFirst, &first));
  if (!options_.read_only && !options_.follower) {
    // An import that no logged write has named yet (the writer that
    // ingested it closed first): the next write names it (WriteLogged).
    uint64_t ingested = 0, seen = 0;
    CANOPY_RETURN_IF_ERROR(store_->ReadSequence(storage::kMetaIngested, &ingested));
    CANOPY_RETURN_IF_ERROR(store_->ReadSequence(storage::kMetaIngestSeen, &seen));
    ingest_unseen_ = ingested > seen ? ingested : 0;
  }
  Status of = store_->Get(storage::kMeta, storage::kMetaReplicaOf, &replica_of_);
  if (of.IsNotFound()) {
    replica_of_.clear();
  } else {
    CANOPY_RETURN_IF_ERROR(of);
  }
  std::string id;
  Status s = store_->Get(storage::kMeta, storage::kMetaLogId, &id);
  if (s.IsNotFound() && (options_.read_only || options_.follower)) {
    id.clear();  // a database older than the change log, read as it is
  } else if (s.IsNotFound()) {
    id = NewLogId();
    rocksdb::WriteBatch batch;
    batch.Put(store_->cf(storage::kMeta), std::string(storage::kMetaLogId), id);
    CANOPY_RETURN_IF_ERROR(WriteLogged(&batch));
    CANOPY_RETURN_IF_ERROR(store_->SyncWal());
  } else {
    CANOPY_RETURN_IF_ERROR(s);
  }
  revision_ = rev;
  published_ = rev;
  log_first_ = first == 0 ? 1 : first;
  {
    std::lock_guard<std::mutex> l(log_id_mu_);
    log_id_ = id;
  }
  return Status::Ok();
}

uint64_t DbImpl::Revision() const { return published_.load(); }

uint64_t DbImpl::NextInstance() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

uint64_t DbImpl::LastCommittedRevision() const {
  for (const auto& [db, rev] : tls_revisions) {
    if (db == instance_) return rev;
  }
  return 0;
}

void DbImpl::NoteCommitted(uint64_t rev) const {
  auto& v = tls_revisions;
  try {
    if (v.capacity() < kThreadRevisions) v.reserve(kThreadRevisions);
  } catch (const std::bad_alloc&) {  // nothing recorded then: 0, never a stale token
    v.clear();
    return;
  }
  auto it = std::find_if(v.begin(), v.end(), [&](const auto& p) { return p.first == instance_; });
  if (it == v.end()) {
    if (v.size() >= kThreadRevisions) v.pop_back();
    v.emplace(v.begin(), instance_, rev);
  } else {
    it->second = rev;
    std::rotate(v.begin(), it, it + 1);  // most recent first
  }
}

std::string DbImpl::LogId() const {
  std::lock_guard<std::mutex> l(log_id_mu_);
  return log_id_;
}

uint64_t DbImpl::CursorScope() const { return query::Hash64(LogId()); }

void DbImpl::TrimLog(uint64_t rev, int64_t now_us, storage::BatchSink* sink) {
  uint64_t first = log_first_.load();
  uint64_t new_first = first;
  const uint64_t keep = options_.log_retention_count;
  // Trim in steps (a range delete per step, not per mutation).
  if (keep > 0 && rev + 1 - first > keep + std::max<uint64_t>(keep / 16, 0)) {
    new_first = rev + 1 - keep;
  }
  if (options_.log_retention_seconds > 0) {
    const int64_t cutoff =
        now_us - static_cast<int64_t>(options_.log_retention_seconds) * 1000000;
    // Reads the log only when the oldest entry's time is unknown (after an
    // open) or past the cutoff.
    if (log_first_time_us_ == 0 || log_first_time_us_ < cutoff) {
      // Walk from the oldest kept entry to the first one young enough.
      auto it = store_->NewIterator(storage::kChanges, nullptr, storage::LogKey(new_first),
                                    storage::LogKey(rev), false);
      size_t walked = 0;
      for ((*it)->SeekToFirst(); (*it)->Valid() && walked < 100000; (*it)->Next()) {
        uint64_t r;
        int64_t chunk;
        rocksdb::Slice k = (*it)->key();
        if (!storage::DecodeLogKey(std::string_view(k.data(), k.size()), &r, &chunk) ||
            chunk >= 0) {
          continue;
        }
        ++walked;
        storage::LogEntry e;
        rocksdb::Slice v = (*it)->value();
        if (!storage::DecodeLogEntry(std::string_view(v.data(), v.size()), &e).ok()) break;
        log_first_time_us_ = e.time_us;
        if (e.time_us >= cutoff) break;
        new_first = r + 1;
        log_first_time_us_ = 0;
      }
      if (log_first_time_us_ == 0 && new_first >= rev) log_first_time_us_ = now_us;
    }
  }
  if (new_first > first) {
    if (new_first > rev) new_first = rev;  // the newest entry always stays
    sink->DeleteRange(storage::kChanges, storage::LogKey(first), storage::LogKey(new_first));
    storage::WriteMeta64(*sink, storage::kMetaLogFirst, new_first);
    log_first_ = new_first;  // readers check against the snapshot they read
  }
}

Status DbImpl::Commit(storage::LogEntry* entry, bool replayed, bool defer) {
  const uint64_t rev = revision_.load() + 1;
  if (replayed) {
    if (entry->revision != rev) {
      return Status::FailedPrecondition("change-log entry " + std::to_string(entry->revision) +
                                        " does not follow revision " + std::to_string(rev - 1));
    }
  } else {
    entry->revision = rev;
    entry->log_id = LogId();
  }
  // An entry read back carries bytes only: decode its records once, for
  // both the write and the catalog.
  if (replayed) CANOPY_RETURN_IF_ERROR(storage::DecodeRecords(&entry->changes));
  // Room for the records' writes and the entry, at about twice the
  // records' bytes: a large call's batch (hundreds of MB) would otherwise
  // grow by doubling, copied into fresh memory each time. Pages reserved
  // and not written cost nothing.
  const uint64_t records =
      storage::LogEntryBytesBound(entry->changes) - storage::LogEntryOverheadBytes(0);
  rocksdb::WriteBatch batch(static_cast<size_t>(
      std::min<uint64_t>(4096 + 2 * records, uint64_t{1} << 30)));
  CANOPY_RETURN_IF_ERROR(WriteEntryKeys(*entry, storage::EncodeLogEntry(*entry), replayed, &batch));
  CANOPY_RETURN_IF_ERROR(WriteRevision(&batch, rev, entry->time_us));
  Status a = ApplyToLatestCatalog(std::move(entry->changes));
  if (!a.ok()) {
    // The batch is written but memory may not match it: refuse further
    // work until the database is reopened (which reloads the catalog).
    Poison(Status::Internal("in-memory state lost after a write (" + a.message() +
                            "); close and reopen the database"), /*local=*/true);
    return poisoned_;
  }
  Advance(rev, replayed ? &entry->log_id : nullptr);
  NoteCommitted(rev);
  if (defer) return Status::Ok();
  return PublishLocked();
}

Status DbImpl::WriteEntryKeys(const storage::LogEntry& entry, std::string_view encoded,
                              bool adopt_lineage, rocksdb::WriteBatch* batch) const {
  storage::BatchSink sink(*store_, batch);
  CANOPY_RETURN_IF_ERROR(WriteChangeSet(entry.changes, &sink));
  storage::WriteLogEntry(sink, entry, encoded);
  if (adopt_lineage && entry.revision == 1) {
    // The first entry applied to an empty database: adopt its lineage.
    sink.Put(storage::kMeta, storage::kMetaLogId, entry.log_id);
  }
  return Status::Ok();
}

Status DbImpl::WriteLogged(rocksdb::WriteBatch* batch) {
  if (ingest_unseen_ != 0) {
    storage::BatchSink sink(*store_, batch);
    storage::WriteMeta64(sink, storage::kMetaIngestSeen, ingest_unseen_);
  }
  Status w = store_->Write(batch);
  if (w.ok()) ingest_unseen_ = 0;
  // A large write (a reassign of 10k+ devices, a small import's input)
  // goes to table files at once, in the background: left in the
  // write-ahead log, every reader opening beside this writer, and this
  // writer's next open after a crash, would replay it into memory.
  if (w.ok() && batch->GetDataSize() >= kFlushAfterBytes) store_->FlushSoon();
  return w;
}

Status DbImpl::WriteRevision(rocksdb::WriteBatch* batch, uint64_t rev, int64_t time_us) {
  storage::BatchSink sink(*store_, batch);
  const uint64_t first_before = log_first_.load();
  TrimLog(rev, time_us, &sink);
  Status w = WriteLogged(batch);
  if (w.ok()) return w;
  log_first_ = first_before;
  // A failed write to the log leaves the file system's state unknown
  // (and RocksDB's log writer unusable): refuse further work until the
  // database is reopened, as after a failed sync.
  if (w.code() == Code::kIOError) {
    Poison(Status::IOError("writing to the write-ahead log failed (" + w.message() +
                           "); nothing of this change was applied; close and reopen the "
                           "database"),
           /*local=*/true);
    return poisoned_;
  }
  return w;
}

Status DbImpl::ApplyToLatestCatalog(storage::ChangeSet changes) {
  CANOPY_RETURN_IF_ERROR(versions_.latest().Apply(changes));
  versions_.NoteApplied(std::make_shared<const storage::ChangeSet>(std::move(changes)));
  return Status::Ok();
}

void DbImpl::Advance(uint64_t rev, const std::string* applied_log_id) {
  revision_ = rev;
  if (applied_log_id != nullptr && rev == 1) {
    std::lock_guard<std::mutex> g(log_id_mu_);
    log_id_ = *applied_log_id;
  }
}

Status DbImpl::PublishLocked() {
  // After a failed write or sync nothing more is synced or shown (RocksDB's
  // log writer is unusable then; the pending changes may not be durable).
  if (poisoned_flag_.load()) return poisoned_;
  // A replica's staged writes are published once etcd holds them.
  if (log_ && !staged_.empty()) return SettleLocked();
  if (!versions_.HasPending()) return Status::Ok();
  if (options_.sync) {
    Status s = store_->SyncWal();
    if (!s.ok()) {
      // Written but maybe not durable, and after a failed fsync the file
      // system's state is unknown: nobody sees it; refuse further work
      // until the database is reopened.
      Poison(Status::IOError("syncing the write-ahead log failed (" + s.message() +
                             "); the last changes may not be durable and were not made "
                             "visible; close and reopen the database"),
             /*local=*/true);
      return poisoned_;
    }
  }
  const uint64_t rev = revision_.load();
  Status p = versions_.Publish(NewSnapshot(), rev);
  if (!p.ok()) {
    // The readers' copy was switched before the other failed to catch
    // up: they would see writes whose callers are told they failed.
    Poison(p.WithContext("publish revision " + std::to_string(rev)));
    return poisoned_;
  }
  published_ = rev;
  {
    std::lock_guard<std::mutex> g(wait_mu_);
  }
  wait_cv_.notify_all();
  return Status::Ok();
}

Status DbImpl::WaitPublished(uint64_t rev) {
  std::unique_lock<std::mutex> g(sync_mu_);
  while (published_.load() < rev) {
    if (poisoned_flag_.load(std::memory_order_acquire)) return poisoned_;
    if (sync_leader_) {
      sync_cv_.wait(g);
      continue;
    }
    Status s;
    {
      LeaderTurn turn(g, sync_leader_, sync_cv_);
      // Let the mutations already queued for the write mutex join this
      // group (each waits for its own turn there, then for this sync), but
      // never for long: a steady stream must not starve the group.
      for (int i = 0; i < 200 && writers_queued_.load() > 0; ++i) std::this_thread::yield();
      WriteGuard w(write_mu_);
      s = PublishLocked();
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

void DbImpl::Poison(Status why, bool local) {
  if (poisoned_flag_.load()) return;
  poisoned_ = std::move(why);
  const bool reads = !local || log_ != nullptr || options_.follower;
  poisoned_reads_.store(reads, std::memory_order_relaxed);
  poisoned_flag_.store(true, std::memory_order_release);
  Log(LogLevel::kError, std::string("canopy: the database stops serving ") +
                            (reads ? "" : "writes (reads go on from the state last published)") +
                            ": " + poisoned_.ToString());
  {
    std::lock_guard<std::mutex> g(sync_mu_);
  }
  sync_cv_.notify_all();
}

// ---- Reading --------------------------------------------------------------

Status DbImpl::CheckLogRange(uint64_t since, uint64_t head) const {
  if (since == 0) return Status::InvalidArgument("revisions start at 1; since must be at least 1");
  // head + 1 is where a reader that has seen everything resumes; past it
  // lies no revision of this database yet: a cursor of another database,
  // of a replica further on, or of this one before it went back (restored
  // from an older backup). Read as "nothing new", it would skip the
  // revisions committed up to it.
  if (since > head + 1) {
    return Status::FailedPrecondition(
        "revision " + std::to_string(since) + " is past this database's head (revision " +
        std::to_string(head) + "; a reader resumes at " + std::to_string(head + 1) +
        " at most): a cursor of another database, of a replica further on, or of this "
        "one before it was restored");
  }
  const uint64_t first = log_first_.load();
  if (since < first) {
    return Status::Compacted("revision " + std::to_string(since) +
                             " was trimmed from the change log by retention; the oldest "
                             "revision kept is " +
                             std::to_string(first));
  }
  return Status::Ok();
}

Status DbImpl::ReadChanges(const ChangesRequest& request, ChangesPage* page) const {
  if (page == nullptr) return Status::InvalidArgument("ReadChanges: page is null");
  *page = ChangesPage();
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  if (request.limit < 1 || request.limit > kMaxChangesPage) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxChangesPage) +
                                   ", not " + std::to_string(request.limit));
  }
  uint32_t type_mask = 0;
  for (const std::string& t : request.types) {
    bool known = false;
    for (uint8_t i = 1; i <= storage::kLastRecordType; ++i) {
      if (t == storage::RecordTypeName(static_cast<storage::RecordType>(i))) {
        type_mask |= 1u << i;
        known = true;
      }
    }
    if (!known) {
      std::string names;
      for (uint8_t i = 1; i <= storage::kLastRecordType; ++i) {
        names += (i > 1 ? ", " : "") +
                 std::string(storage::RecordTypeName(static_cast<storage::RecordType>(i)));
      }
      return Status::InvalidArgument("unknown change type '" + t + "' (one of: " + names + ")");
    }
  }
  // Not there yet: said before any look-up (an account made at a revision
  // this database has not reached is not "unknown").
  const uint64_t head = this->head();
  if (request.min_revision > head) {
    return Status::FailedPrecondition("this database is at revision " + std::to_string(head) +
                                      ", not yet at the requested " +
                                      std::to_string(request.min_revision));
  }
  // Audit: the reach of a user is where it holds audit.read.
  const bool audit = !request.viewer.is_system();
  const query::UserNode* u = nullptr;
  if (audit) CANOPY_RETURN_IF_ERROR(query::ResolveActor(cat(), request.viewer, &u, "viewer"));
  std::string within;
  // An account deleted since: its changes up to its deletion are found by
  // its label then (below, in the log).
  bool deleted = false;
  if (request.account != kNoId) {
    const query::AccountNode* a = cat().account(request.account);
    // An account the viewer cannot see is worded as a missing one (whether
    // or not the viewer holds audit.read anywhere).
    if (a == nullptr && request.account <= cat().last_account_id) {
      deleted = true;  // (an id past the last one given never was an account)
    } else if (a == nullptr || !query::SeesAccount(cat(), request.viewer, *a)) {
      return Status::NotFound("no account with id " + std::to_string(request.account));
    } else {
      within = a->label;
    }
  }
  std::vector<query::Grant> reach;
  if (audit) {
    CANOPY_RETURN_IF_ERROR(
        query::PlanGrants(cat(), request.viewer, query::Perm::kAuditRead, kNoId, false, &reach));
    if (reach.empty()) {
      // (A deleted account is as unknown to it as one it cannot see.)
      if (deleted) return Status::NotFound("no account with id " + std::to_string(request.account));
      return Status::PermissionDenied("permission audit.read missing: user '" + u->login +
                                      "' holds it on no account");
    }
    if (!within.empty()) {
      // Filtering by an account the viewer sees but may not audit reveals
      // nothing.
      if (!InReach(reach, within)) {
        return Status::PermissionDenied("permission audit.read missing on account " +
                                        query::Quote(*cat().account(request.account)));
      }
    }
  }
  auto actor_visible = [&](uint64_t actor_user) {
    if (!audit) return true;
    if (actor_user == 0) return true;  // the system actor
    const query::UserNode* au = cat().user(actor_user);
    if (au == nullptr) return false;
    const query::AccountNode* home = cat().account(au->home);
    return home != nullptr && InReach(reach, home->label);
  };
  page->revision = head;
  const rocksdb::Snapshot* snap = scope.snapshot().get();
  scope.ReleaseCatalog();
  CANOPY_RETURN_IF_ERROR(CheckLogRange(request.since, head));
  uint64_t last = head;  // the last revision this page may read
  if (deleted) {
    uint64_t at = 0;
    CANOPY_RETURN_IF_ERROR(
        FindAccountDeletion(snap, request.since, head, request.account, &at, &within));
    // A user's view knows of it only within its audit reach (a deleted
    // account is seen by no one: that reach is what it may audit).
    const bool known = at != 0 && (!audit || InReach(reach, within));
    if (known && at < request.since) {
      return Status::NotFound("the account with id " + std::to_string(request.account) +
                              " was deleted at revision " + std::to_string(at) +
                              "; a reader past it has nothing more to read of it");
    }
    if (!known) return Status::NotFound("no account with id " + std::to_string(request.account));
    last = at;  // changes after it are no longer its (its label may be another's)
  }
  const std::string deleted_key = deleted ? storage::Fixed64BE(request.account) : std::string();
  page->next = request.since;
  if (request.since > head) return Status::Ok();

  std::vector<uint64_t> actors;  // per entry, for the audit check below
  const bool filtered = audit || !within.empty() || type_mask != 0;
  // A log read is a scan read once (an audit, a replica catching up): its
  // blocks do not go into the block cache, where they would push out the
  // key spaces that queries read again (and cost fresh memory per block).
  auto it = store_->NewIterator(storage::kChanges, snap, storage::LogKey(request.since),
                                storage::LogKey(last + 1), /*fill_cache=*/false);
  size_t scanned = 0;
  storage::LogEntryView e;  // views into `buffer`, both reused entry after entry
  std::string buffer;
  // An import's entry is followed by its input's chunks (megabytes each),
  // which this read never shows: it seeks past them rather than stepping
  // through them (each step would read and decompress a chunk).
  uint64_t skip_input_of = 0;
  auto advance = [&] {
    if (skip_input_of == 0) return (*it)->Next();
    (*it)->Seek(storage::LogKey(skip_input_of + 1));
    skip_input_of = 0;
  };
  for ((*it)->SeekToFirst(); (*it)->Valid(); advance()) {
    rocksdb::Slice k = (*it)->key();
    uint64_t rev;
    int64_t chunk;
    if (!storage::DecodeLogKey(std::string_view(k.data(), k.size()), &rev, &chunk)) {
      return Status::Corruption("a change-log key is damaged");
    }
    if (chunk >= 0) continue;
    if (page->entries.size() >= request.limit || scanned >= kMaxScanPerPage) break;
    ++scanned;
    CANOPY_RETURN_IF_ERROR(InSequence(rev, page->next));
    page->next = rev + 1;
    rocksdb::Slice v = (*it)->value();
    Status d = storage::DecodeLogEntryView(std::string_view(v.data(), v.size()), &buffer, &e);
    if (!d.ok()) return d.WithContext("change-log revision " + std::to_string(rev));
    if (e.revision != rev) {
      return Status::Corruption("change-log entry under revision " + std::to_string(rev) +
                                " says revision " + std::to_string(e.revision));
    }
    if (e.import_chunks > 0) skip_input_of = rev;
    ChangeEntry out;
    out.revision = e.revision;
    out.time_us = e.time_us;
    out.operation = e.operation;
    // The arguments may name any record of the entry: an audit view shows
    // them only when every record, filtered out or not, is in its reach.
    // Filters (by type, by account) hide nothing, so they keep them. The
    // database's id counters (meta records, which belong to no account and
    // are never shown in an audit view) name nothing: they do not count,
    // else no creation's arguments would ever be shown.
    bool all_shown = true;
    // Unfiltered, every record is listed (filtered, a large entry may show
    // few, and a reservation would stay with the page).
    if (!filtered) out.changes.reserve(e.records.size());
    for (const storage::RecordChangeRef& r : e.records) {
      if (audit && r.type != storage::RecordType::kMeta &&
          ((!r.before.empty() && !InReach(reach, r.before_scope)) ||
           (!r.after.empty() && !InReach(reach, r.after_scope)))) {
        all_shown = false;
      }
      // The filter's account's own deletion ends its log: listed under
      // every type filter, so that a watcher of it learns that it ended.
      const bool the_end = deleted && rev == last && DeletesAccount(r, deleted_key);
      if (type_mask != 0 && (type_mask & (1u << static_cast<int>(r.type))) == 0 && !the_end) {
        continue;
      }
      bool show_before = !r.before.empty();
      bool show_after = !r.after.empty();
      if (!within.empty()) {
        show_before = show_before && storage::IsSelfOrAncestorLabel(within, r.before_scope);
        show_after = show_after && storage::IsSelfOrAncestorLabel(within, r.after_scope);
      }
      if (audit) {
        show_before = show_before && InReach(reach, r.before_scope);
        show_after = show_after && InReach(reach, r.after_scope);
      }
      if (!show_before && !show_after) continue;
      RecordChangeView c;
      c.type = storage::RecordTypeName(r.type);
      c.action = r.before.empty() ? "created" : r.after.empty() ? "deleted" : "changed";
      c.id = RecordId(r.type, r.key);
      if ((request.values || audit) && show_before) {
        CANOPY_RETURN_IF_ERROR(RecordJson(r.type, r.key, r.before, &c.before));
      }
      if ((request.values || audit) && show_after) {
        CANOPY_RETURN_IF_ERROR(RecordJson(r.type, r.key, r.after, &c.after));
      }
      // A change that leaves every shown field as it was (an account's own
      // bookkeeping when a sub-account comes or goes under it) tells an
      // audit view only that something it cannot see happened there.
      if (audit && show_before && show_after && c.before == c.after) continue;
      if (!request.values) {
        c.before.clear();
        c.after.clear();
      }
      out.changes.push_back(std::move(c));
    }
    // An import lists no record changes (it carries its input), so no
    // filter can tell what it touched: the system view lists it under
    // every filter, for a filtered watcher to learn that records of any
    // type may have come anywhere.
    const bool import_seen = !audit && e.operation == "import";
    if (filtered && out.changes.empty() && !import_seen) continue;
    if (all_shown) out.arguments = e.arguments;
    out.actor = e.actor_user == 0 ? std::string_view("system") : e.actor_login;
    page->entries.push_back(std::move(out));
    actors.push_back(e.actor_user);
  }
  CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "read the change log"));
  if (audit) {
    // Actors outside the viewer's reach are not named.
    scope.LockCatalog();
    for (size_t i = 0; i < actors.size(); ++i) {
      if (!actor_visible(actors[i])) page->entries[i].actor.clear();
    }
  }
  if (page->next <= page->revision && scanned == 0) page->next = page->revision + 1;
  page->ended = deleted && page->next > last;
  return Status::Ok();
}

Status DbImpl::FindAccountDeletion(const rocksdb::Snapshot* snap, uint64_t since, uint64_t head,
                                   AccountId id, uint64_t* revision, std::string* label) const {
  *revision = 0;
  uint64_t from = since;  // the revisions to look through: [from, head]
  {
    std::lock_guard<std::mutex> g(deleted_mu_);
    auto found = deleted_accounts_.find(id);
    if (found != deleted_accounts_.end()) {
      *revision = found->second.first;
      *label = found->second.second;
      return Status::Ok();
    }
    // Looked through before without finding it: only what came since (a
    // reader polling past a deletion, or by an id deleted before, does
    // not scan the log again at every call).
    auto absent = deletion_absent_.find(id);
    if (absent != deletion_absent_.end() && absent->second.first <= since) {
      from = std::max(since, absent->second.second + 1);
    }
  }
  if (from > head) return Status::Ok();
  const std::string key = storage::Fixed64BE(id);
  auto it = store_->NewIterator(storage::kChanges, snap, storage::LogKey(from),
                                storage::LogKey(head + 1), /*fill_cache=*/false);
  storage::LogEntryView e;
  std::string buffer;
  for ((*it)->SeekToLast(); (*it)->Valid() && *revision == 0;) {
    rocksdb::Slice k = (*it)->key();
    uint64_t rev;
    int64_t chunk;
    if (!storage::DecodeLogKey(std::string_view(k.data(), k.size()), &rev, &chunk)) {
      return Status::Corruption("a change-log key is damaged");
    }
    if (chunk >= 0) {  // an import's input: straight to its entry
      (*it)->SeekForPrev(storage::LogKey(rev));
      continue;
    }
    rocksdb::Slice v = (*it)->value();
    Status d = storage::DecodeLogEntryView(std::string_view(v.data(), v.size()), &buffer, &e);
    if (!d.ok()) return d.WithContext("change-log revision " + std::to_string(rev));
    for (const storage::RecordChangeRef& r : e.records) {
      if (DeletesAccount(r, key)) {
        *revision = rev;
        *label = std::string(r.before_scope);
        break;
      }
    }
    (*it)->Prev();
  }
  CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "read the change log"));
  std::lock_guard<std::mutex> g(deleted_mu_);
  if (*revision != 0) {
    if (deleted_accounts_.size() >= 4096) deleted_accounts_.clear();
    deleted_accounts_[id] = {*revision, *label};
    deletion_absent_.erase(id);
  } else {
    if (deletion_absent_.size() >= 4096) deletion_absent_.clear();
    auto& absent = deletion_absent_[id];
    // [since, head] holds no deletion of it now (a range known before, if
    // it began at or before `since`, joins on: `from` was its end + 1).
    if (from == since || absent.first > since || absent.second + 1 < from) absent.first = since;
    absent.second = head;
  }
  return Status::Ok();
}

StatusOr<uint64_t> DbImpl::WaitForChanges(uint64_t after, uint32_t timeout_ms) const {
  // Holds the database open while it waits; Close() wakes it first.
  std::shared_lock<std::shared_mutex> open;
  CANOPY_RETURN_IF_ERROR(HoldOpen(&open));
  CANOPY_RETURN_IF_ERROR(CheckOpenToFollow());  // a follower's gap may end meanwhile
  std::unique_lock<std::mutex> l(wait_mu_);
  wait_cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] {
    return published_.load() > after || closing_.load() || follow_stuck_flag_.load();
  });
  const uint64_t now = published_.load();
  // A replica whose follower cannot go on has no revision to wait for.
  if (now <= after && follow_stuck_flag_.load()) {
    l.unlock();
    CANOPY_RETURN_IF_ERROR(FollowStuck());
  }
  return now;
}

Status DbImpl::ReadLogEntries(uint64_t since, size_t limit,
                              std::vector<std::string>* entries) const {
  if (entries == nullptr) return Status::InvalidArgument("ReadLogEntries: entries is null");
  entries->clear();
  if (limit < 1 || limit > kMaxChangesPage) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxChangesPage));
  }
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  const uint64_t head = this->head();
  const rocksdb::Snapshot* snap = scope.snapshot().get();
  scope.ReleaseCatalog();
  CANOPY_RETURN_IF_ERROR(CheckLogRange(since, head));
  if (since > head) return Status::Ok();
  auto it = store_->NewIterator(storage::kChanges, snap, storage::LogKey(since),
                                storage::LogKey(head + 1), /*fill_cache=*/false);  // as above
  std::string* current = nullptr;
  uint64_t expected = since;
  for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
    rocksdb::Slice k = (*it)->key();
    rocksdb::Slice v = (*it)->value();
    uint64_t rev;
    int64_t chunk;
    if (!storage::DecodeLogKey(std::string_view(k.data(), k.size()), &rev, &chunk)) {
      return Status::Corruption("a change-log key is damaged");
    }
    if (chunk < 0) {
      if (entries->size() >= limit) break;
      CANOPY_RETURN_IF_ERROR(InSequence(rev, expected++));
      // The transport framing (storage::FrameLogEntry): the entry, then
      // the import input (if any) as it was stored, in chunk order.
      entries->push_back(storage::FrameLogEntry(std::string_view(v.data(), v.size()), {}));
      current = &entries->back();
    } else if (current != nullptr) {
      current->append(v.data(), v.size());
    }
  }
  return storage::FromRocks((*it)->status(), "read the change log");
}

// ---- Applying another database's entries ----------------------------------

Status DbImpl::ApplyChanges(const std::vector<std::string>& entries, ApplyReport* report) {
  ApplyReport local;
  ApplyReport* rep = report != nullptr ? report : &local;
  *rep = ApplyReport();
  // Held once for the whole batch: a Close begun meanwhile waits for it
  // instead of refusing the entries still to come.
  std::shared_lock<std::shared_mutex> open;
  CANOPY_RETURN_IF_ERROR(HoldOpen(&open));
  rep->revision = revision_.load();  // also when there is nothing to apply
  for (size_t i = 0; i < entries.size(); ++i) {
    bool skipped = false;
    Status s = ApplyOne(entries[i], &skipped);
    rep->revision = revision_.load();
    if (!s.ok()) return s.WithContext("entry " + std::to_string(i + 1) + " of " +
                                      std::to_string(entries.size()));
    (skipped ? rep->skipped : rep->applied)++;
  }
  return Status::Ok();
}

Status DbImpl::ApplyOne(const std::string& bytes, bool* skipped) {
  *skipped = false;
  std::string_view entry_bytes, input;
  CANOPY_RETURN_IF_ERROR(storage::UnframeLogEntry(bytes, &entry_bytes, &input));
  CANOPY_RETURN_IF_ERROR(RefuseReentry("apply changes"));
  std::unique_lock<WriterMutex> w(write_mu_);
  // (CheckWritable, not CheckChangeable: the entries applied are of this
  // database's own lineage, checked below, so a replica's folder opened
  // without etcd may follow the replicated log through them, as a copy of
  // it does, without forking from it.)
  CANOPY_RETURN_IF_ERROR(CheckWritable("apply changes"));
  if (log_) {
    return Status::FailedPrecondition(
        "a replica applies only the log it follows in etcd; ApplyChanges is for databases "
        "that are not replicas");
  }
  return ApplyLocked(entry_bytes, input, skipped);
}

Status DbImpl::ApplyLocked(std::string_view entry_bytes, std::string_view input, bool* skipped,
                           bool defer) {
  *skipped = false;
  storage::LogEntry e;
  CANOPY_RETURN_IF_ERROR(storage::DecodeLogEntry(entry_bytes, &e));
  if (e.import_chunks > 0 || !input.empty()) {
    if (input.size() != e.import_bytes || XXH3_64bits(input.data(), input.size()) != e.import_hash) {
      return Status::Corruption("the import input of change-log entry " +
                                std::to_string(e.revision) + " is damaged or incomplete");
    }
  }
  const uint64_t head = revision_.load();
  const std::string lineage = LogId();
  if (e.revision > head + 1) {
    return Status::FailedPrecondition("gap in the change log: this database is at revision " +
                                      std::to_string(head) + ", the entry is revision " +
                                      std::to_string(e.revision));
  }
  if (!(head == 0 && e.revision == 1) && e.log_id != lineage) {
    return Status::FailedPrecondition("change-log entry " + std::to_string(e.revision) +
                                      " comes from another database (lineage " + e.log_id +
                                      ", this one follows " + lineage + ")");
  }
  if (e.revision <= head) {
    std::string stored;
    Status g = store_->Get(storage::kChanges, storage::LogKey(e.revision), &stored);
    if (g.ok() && stored == entry_bytes) {
      *skipped = true;
      return Status::Ok();
    }
    if (!g.ok() && !g.IsNotFound()) return g;
    return Status::FailedPrecondition(
        "change-log entry " + std::to_string(e.revision) +
        " repeats a revision this database already has" +
        (g.ok() ? " with different contents (the databases diverged)" : " (trimmed here)"));
  }
  if (head == 0 && !cat().accounts.empty()) {
    return Status::FailedPrecondition(
        "this database has data but no change log to follow from; start a follower from an "
        "empty database or a checkpoint of the source");
  }
  if (e.operation == "import") {
    return ReplayImport(e, input);
  }
  return Commit(&e, /*replayed=*/true, defer);
}

}  // namespace canopy::engine
