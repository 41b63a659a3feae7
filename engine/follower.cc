// Copyright (c) Canopy authors.
//
// Followers (Options::follower): a database opened on RocksDB's secondary
// instance beside the process that has it open for writing, moved forward
// by CatchUp. A secondary instance has no snapshots, so the pairing every
// read relies on (a catalog copy and the RocksDB state of exactly its
// revision, engine/db_impl.h) comes from a gate instead: each read holds
// the state (HoldState) for as long as it reads; CatchUp waits with the
// gate open until no snapshot or visible iterator keeps a hold (KeepHold:
// those live as long as their owner likes, and reads must go on
// meanwhile), then closes the gate to new holds, waits until the last one
// is dropped (paging cursors'
// saved views are dropped, their next page reads the new state), has
// RocksDB read what the writer wrote since, brings the catalog to the
// revision the store now holds (the change log's entries, applied as a
// mutation applies its own; a reload when the log no longer holds them),
// publishes it, and opens the gate again.

#include <chrono>
#include <filesystem>
#include <system_error>

#include "engine/db_impl.h"
#include "storage/keys.h"
#include "storage/records.h"

namespace canopy::engine {

namespace fs = std::filesystem;

namespace {
// How long CatchUp waits for the reads under way before it gives up.
constexpr auto kCatchUpWait = std::chrono::seconds(5);
}  // namespace

Status ValidateFollower(const Options& options, std::string_view path, std::string* scratch) {
  scratch->clear();
  if (!options.follower) {
    if (!options.follower_dir.empty() || options.follower_catch_up_ms != 0) {
      return Status::InvalidArgument(
          "follower_dir and follower_catch_up_ms are for a follower (Options::follower is off)");
    }
    return Status::Ok();
  }
  if (options.read_only) {
    return Status::InvalidArgument(
        "read_only and follower exclude each other (a follower is read-only too, and catches up "
        "with the writer; a read-only open keeps the view it opened with): choose one");
  }
  if (!options.replication.etcd_endpoints.empty()) {
    return Status::InvalidArgument("a replica cannot be a follower (it applies its log from etcd)");
  }
  if (options.max_open_files != -1) {
    return Status::InvalidArgument(
        "a follower keeps every table file open (RocksDB's secondary instance): max_open_files "
        "must be -1, not " + std::to_string(options.max_open_files));
  }
  std::error_code ec;
  if (!options.follower_dir.empty()) {
    CANOPY_RETURN_IF_ERROR(
        storage::RefuseInsideFolder("follower_dir", options.follower_dir, std::string(path)));
    if (fs::exists(options.follower_dir, ec) && !fs::is_directory(options.follower_dir, ec)) {
      return Status::InvalidArgument("follower_dir '" + options.follower_dir +
                                     "' exists and is not a folder");
    }
    fs::create_directories(options.follower_dir, ec);
    if (ec) {
      return Status::IOError("cannot create follower_dir '" + options.follower_dir +
                             "': " + ec.message());
    }
    return Status::Ok();
  }
  // Named after this process, so that the next follower removes the
  // folders of followers that were killed instead of closed.
  const fs::path tmp = fs::temp_directory_path(ec);
  for (int attempt = 0;; ++attempt) {
    const std::string dir = storage::PidScratchName(tmp, "canopy-follower-");
    if (fs::create_directory(dir, ec)) {
      *scratch = dir;
      return Status::Ok();
    }
    if (ec || attempt == 16) {
      return Status::IOError("cannot make a scratch folder for the follower ('" + dir +
                             "'): " + (ec ? ec.message() : "it exists"));
    }
  }
}

void DbImpl::StartFollower(std::string scratch) {
  follower_scratch_ = std::move(scratch);
  if (options_.follower_catch_up_ms == 0) return;
  catch_up_thread_ = std::thread([this] {
    const auto every = std::chrono::milliseconds(options_.follower_catch_up_ms);
    std::unique_lock<std::mutex> l(catch_up_mu_);
    while (!catch_up_cv_.wait_for(l, every, [this] { return stop_catch_up_; })) {
      l.unlock();
      StatusOr<uint64_t> r = CatchUp();
      if (!r.ok() && !IsClosing(r.status())) {
        Log(LogLevel::kWarn, "canopy: follower catch-up: " + r.status().ToString());
      }
      l.lock();
    }
  });
}

void DbImpl::StopFollower() {
  {
    std::lock_guard<std::mutex> g(catch_up_mu_);
    stop_catch_up_ = true;
  }
  catch_up_cv_.notify_all();
  if (catch_up_thread_.joinable()) catch_up_thread_.join();
}

SharedSnapshot DbImpl::KeepHold(const SharedSnapshot& held) const {
  if (!options_.follower) return held;
  {
    std::lock_guard<std::mutex> l(gate_->mu);
    ++gate_->kept;
  }
  struct Release {
    std::shared_ptr<HoldGate> gate;
    mutable SharedSnapshot held;
    void operator()(const rocksdb::Snapshot*) const {
      held.reset();  // the hold itself, then the count
      {
        std::lock_guard<std::mutex> lock(gate->mu);
        --gate->kept;
      }
      gate->cv.notify_all();
    }
  };
  return SharedSnapshot(held.get(), Release{gate_, held});
}

SharedSnapshot DbImpl::HoldState() const {
  HoldGate& gate = *gate_;
  std::unique_lock<std::mutex> l(gate.mu);
  gate.cv.wait(l, [&gate] { return !gate.catching_up; });
  ++gate.holds;
  return SharedSnapshot(nullptr, [g = gate_](const rocksdb::Snapshot*) {
    {
      std::lock_guard<std::mutex> lock(g->mu);
      --g->holds;
    }
    g->cv.notify_all();
  });
}

StatusOr<uint64_t> DbImpl::CatchUp() {
  std::shared_lock<std::shared_mutex> open;
  CANOPY_RETURN_IF_ERROR(HoldOpen(&open));
  CANOPY_RETURN_IF_ERROR(CheckOpenToFollow());
  if (!options_.follower) {
    return Status::FailedPrecondition(
        "catch up: the database is not open as a follower (Options::follower)");
  }
  CANOPY_RETURN_IF_ERROR(RefuseReentry("catch up"));
  // A read of this thread (a progress callback of an export or an
  // integrity check on this follower) holds the state until it returns.
  if (ReadContextOfThisThread() != nullptr) {
    const char* in = CallbackInProgress();
    return Status::FailedPrecondition(
        std::string("catch up called from inside ") +
        (in != nullptr ? "the progress callback of " + std::string(in) : std::string("a read")) +
        " on the same follower and thread, which holds the follower's state until it returns: "
        "it would wait for itself");
  }
  WriteGuard w(write_mu_);  // one catch-up at a time
  CANOPY_RETURN_IF_ERROR(CheckOpenToFollow());
  auto open_gate = [this] {
    {
      std::lock_guard<std::mutex> g(gate_->mu);
      gate_->catching_up = false;
    }
    gate_->cv.notify_all();
  };
  const auto deadline = std::chrono::steady_clock::now() + kCatchUpWait;
  for (;;) {
    // Paging cursors hold the state between pages: their views go (a
    // cursor's next page then reads the new state). A read under way may
    // save one more; it is dropped on the next turn.
    views_.Clear();
    std::unique_lock<std::mutex> l(gate_->mu);
    const bool late = std::chrono::steady_clock::now() >= deadline;
    if (gate_->kept > 0) {
      // Snapshots and visible iterators: waited for with the gate open.
      // (One kept while the gate was closed, by a read already under way,
      // opens it again.)
      if (gate_->catching_up) {
        gate_->catching_up = false;
        gate_->cv.notify_all();
      }
      if (late) {
        return Status::Aborted("catch up: " + std::to_string(gate_->kept) +
                               " snapshot(s) or visible iterator(s) of the follower still hold "
                               "its state after 5 s (each holds it until destroyed); nothing "
                               "changed");
      }
    } else {
      gate_->catching_up = true;
      if (gate_->holds == 0) break;
      if (late) {
        const int64_t n = gate_->holds;
        l.unlock();
        open_gate();
        return Status::Aborted("catch up: " + std::to_string(n) +
                               " read(s) still hold the follower's state after 5 s; nothing "
                               "changed");
      }
    }
    gate_->cv.wait_for(l, std::chrono::milliseconds(10));
  }
  // No reader now, none can start: RocksDB and the catalog move together.
  Status caught = store_->CatchUpWithPrimary();
  // Whatever the store now holds (also after a failed catch-up, which may
  // have read part of the writer's log), the catalog follows it. A store
  // that may hold a hole (or has no instance: its open again failed) is
  // not served: reads are Unavailable until a later catch-up ends whole,
  // which reads the writer's state again (the catalog stays at the last
  // revision served and then follows).
  if (!store_->Whole()) {
    Status gap = Status::Unavailable(
        (caught.ok() ? std::string("the follower's view of the database may lack writes")
                     : caught.message()) +
        "; the follower serves no reads until a catch-up succeeds: catch up again");
    {
      std::lock_guard<std::mutex> g(gap_mu_);
      gap_ = gap;
    }
    gap_flag_.store(true, std::memory_order_release);
    open_gate();
    return gap;
  }
  Status followed = FollowStoreLocked();
  if (!followed.ok()) {
    Poison(followed.WithContext(
        "the follower's catalog no longer matches its store; close and reopen the database"));
  } else if (gap_flag_.load(std::memory_order_acquire)) {
    gap_flag_.store(false, std::memory_order_release);
    std::lock_guard<std::mutex> g(gap_mu_);
    gap_ = Status::Ok();
  }
  open_gate();
  CANOPY_RETURN_IF_ERROR(caught);
  if (!followed.ok()) return poisoned_;
  return published_.load();
}

Status DbImpl::ReloadCatalogLocked() {
  CANOPY_RETURN_IF_ERROR(versions_.LatestToReplace().Load(*store_));
  versions_.NoteReplaced();
  return Status::Ok();
}

Status DbImpl::FollowStoreLocked() {
  uint64_t head = 0, first = 0;
  CANOPY_RETURN_IF_ERROR(LastLoggedRevision(&head));
  CANOPY_RETURN_IF_ERROR(store_->ReadSequence(storage::kMetaLogFirst, &first));
  if (first == 0) first = 1;
  std::string id;
  Status g = store_->Get(storage::kMeta, storage::kMetaLogId, &id);
  if (g.IsNotFound()) {
    id.clear();
  } else {
    CANOPY_RETURN_IF_ERROR(g);
  }
  const uint64_t at = revision_.load();
  // Another lineage (the folder holds another database now), a revision
  // behind ours, or the entries after ours trimmed: load it all again.
  bool reload = id != LogId() || head < at || (head > at && at + 1 < first);
  if (!reload && head > at) {
    auto it = store_->NewIterator(storage::kChanges, nullptr, storage::LogKey(at + 1),
                                  storage::LogKey(head + 1), false);
    uint64_t next = at + 1;
    for ((*it)->SeekToFirst(); (*it)->Valid() && !reload; (*it)->Next()) {
      rocksdb::Slice k = (*it)->key();
      uint64_t rev = 0;
      int64_t chunk = 0;
      if (!storage::DecodeLogKey(std::string_view(k.data(), k.size()), &rev, &chunk)) {
        return Status::Corruption("a change-log key is damaged");
      }
      if (chunk >= 0) continue;  // an import's input
      storage::LogEntry e;
      rocksdb::Slice v = (*it)->value();
      Status d = storage::DecodeLogEntry(std::string_view(v.data(), v.size()), &e);
      if (!d.ok()) return d.WithContext("change-log revision " + std::to_string(rev));
      // An import carries its input, not a change set; a gap cannot be
      // applied: both are loaded instead.
      if (rev != next || e.revision != rev || e.operation == "import" || e.import_chunks > 0) {
        reload = true;
        break;
      }
      CANOPY_RETURN_IF_ERROR(storage::DecodeRecords(&e.changes));
      if (!ApplyToLatestCatalog(std::move(e.changes)).ok()) {
        reload = true;  // loading it all again repairs a half-applied one
        break;
      }
      ++next;
    }
    CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "read the change log"));
    if (next != head + 1) reload = true;
  }
  if (reload) CANOPY_RETURN_IF_ERROR(ReloadCatalogLocked());
  revision_ = head;
  log_first_ = first;
  {
    std::lock_guard<std::mutex> l(log_id_mu_);
    log_id_ = id;
  }
  CANOPY_RETURN_IF_ERROR(versions_.Publish(SharedSnapshot(), head));
  published_ = head;
  {
    std::lock_guard<std::mutex> l(wait_mu_);
  }
  wait_cv_.notify_all();
  return Status::Ok();
}

Status DbImpl::CopyReaderState(const std::string& dir, uint64_t* revision) {
  storage::StoreOptions so;
  so.create_if_missing = true;
  so.error_if_exists = true;
  so.max_depth = store_->format().max_depth;
  so.compression = options_.compression;
  so.block_cache_bytes = size_t{8} << 20;
  so.log = options_.log;
  so.log_level = options_.log_level;
  std::unique_ptr<storage::Store> copy;
  CANOPY_RETURN_IF_ERROR(storage::Store::Open(so, dir, &copy));
  // Every key space key by key (the format record too, replacing the
  // copy's own), in batches of a few megabytes.
  constexpr size_t kBatchBytes = size_t{4} << 20;
  for (int cf = 0; cf < storage::kNumCfs; ++cf) {
    rocksdb::WriteBatch batch;
    auto it = store_->NewIterator(cf, nullptr, "", "", /*fill_cache=*/false);
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      rocksdb::Status p = batch.Put(copy->cf(cf), (*it)->key(), (*it)->value());
      if (!p.ok()) return storage::FromRocks(p, "checkpoint '" + dir + "'");
      if (batch.GetDataSize() >= kBatchBytes) {
        CANOPY_RETURN_IF_ERROR(copy->Write(&batch));
        batch.Clear();
      }
    }
    CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "checkpoint: read the database"));
    if (batch.Count() > 0) CANOPY_RETURN_IF_ERROR(copy->Write(&batch));
  }
  CANOPY_RETURN_IF_ERROR(copy->SyncWal());
  CANOPY_RETURN_IF_ERROR(copy->Close());  // flushes its tables
  *revision = revision_.load();
  return Status::Ok();
}

}  // namespace canopy::engine
