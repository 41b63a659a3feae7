// Copyright (c) Canopy authors.
//
// EtcdLog: Canopy's change log kept in etcd, as its replicas share it. It
// moves opaque log entries (the transport framing of Db::ReadLogEntries)
// and knows nothing of accounts or permissions. Keys under the prefix P
// (docs/replication.md):
//
//   P/head                 the log's head revision, decimal ("0" or absent: empty)
//   P/log/<rev>            entry <rev> (20 digits): 'I' + the entry, or 'C' +
//                          a manifest of the chunks that hold it
//   P/blob/<rev>/<id>/<n>  chunk n of a large entry, written before the entry
//   P/replicas/<id>        a live replica's applied revision, under its lease
//   P/checkpoint           the newest checkpoint: "<rev> <folder>"
//   P/turn                 the writer whose turn it is to append (ClaimTurn),
//                          under a lease
//
// Append is one etcd transaction: "if P/head is still R, put P/log/R+1 and
// P/head = R+1" (or R+1..R+k and P/head = R+k for a group of entries), so
// revisions are dense and ordered (linearizable writes).
//
// The log's identity is its head key's etcd create revision: the head is
// created by the first append and never deleted, so a head created again
// (the prefix deleted, or etcd's data lost, and a new log started there)
// is another log. Once an EtcdLog has seen the head, every read and append
// checks that it is still the same key (FailedPrecondition otherwise), and
// an append compares it too: a replica never appends to a log it did not
// follow.
//
// Thread safety: every method may be called from any thread.

#ifndef CANOPY_REPLICATION_LOG_H_
#define CANOPY_REPLICATION_LOG_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/status.h"
#include "replication/etcd_client.h"
#include "storage/changes.h"

namespace canopy::replication {

struct LogOptions {
  EtcdOptions etcd;
  std::string prefix;  // without a trailing '/'
  // Entries up to this many bytes are stored inline in their log key;
  // larger ones in chunks of chunk_bytes (etcd refuses requests over
  // 1.5 MiB by default; base64 in the JSON gateway adds a third).
  size_t inline_bytes = size_t{512} << 10;
  size_t chunk_bytes = size_t{512} << 10;
  // Append retries this long while etcd is unavailable.
  int append_timeout_ms = 10000;
  // The largest entry a replica may append (an import carries its input):
  // by default the bound every call's entry has (storage::LogEntryFits).
  uint64_t max_entry_bytes = storage::kMaxLogEntryBytes;
};

struct LogEntryBytes {
  uint64_t revision = 0;
  std::string bytes;  // the framed entry (Db::ReadLogEntries' format)
};

struct LiveReplica {
  std::string id;
  uint64_t applied = 0;
};

class EtcdLog {
 public:
  explicit EtcdLog(LogOptions options);

  const LogOptions& options() const { return options_; }
  EtcdClient& etcd() { return etcd_; }

  // Appends `entry` as revision head+1 if the log's head is still `head`.
  // *committed tells which; when not, *current_head is the head found. An
  // entry already stored as revision head+1 with the same bytes counts as
  // committed (an earlier attempt of this call, which the client may have
  // sent again to another member). An entry over max_entry_bytes is
  // InvalidArgument. FailedPrecondition when the log was replaced (above).
  // Unavailable when etcd does not answer and the outcome could not be
  // read back (the entry may or may not be in the log; the replica learns
  // which when it follows).
  Status Append(uint64_t head, std::string_view entry, bool* committed, uint64_t* current_head);
  // Appends `entries` as revisions head+1, head+2, ... in one transaction,
  // all or none, as Append does one (a replica's group of writes). The
  // caller keeps the transaction within etcd's limits (a few dozen
  // entries, well under its request size). When not committed, *missed
  // (may be null) holds the entries the same transaction read: etcd's
  // entry at `head` when it is stored whole (for the caller to compare
  // with its own), then the entries after `head` (up to kMissedEntries, in
  // order, from head+1): the loser of a race catches up without another
  // round trip.
  static constexpr size_t kMissedEntries = 64;
  Status Append(uint64_t head, const std::vector<std::string_view>& entries, bool* committed,
                uint64_t* current_head, std::vector<LogEntryBytes>* missed = nullptr);

  // Turns: a writer whose change keeps losing the race for the next
  // revision (a large change built again after each loss, while other
  // replicas append small ones) claims the turn: P/turn, holding this
  // EtcdLog's token, under a lease of `ttl_seconds`. Until this EtcdLog
  // appends (its next append deletes the key in the same transaction),
  // gives the turn back, or the lease expires, every other EtcdLog's
  // Append waits for it (inside Append, as long as the key stays, at most
  // kTurnWaitMs) and tries again when it is gone or the head moved.
  // *claimed is false when another writer holds the turn (this one's
  // append then waits like the others); *claim numbers this claim, for
  // ReleaseTurn. Errors are etcd's; a writer that cannot claim goes on
  // without. The turn is the EtcdLog's (a replica's), not a thread's.
  Status ClaimTurn(int64_t ttl_seconds, bool* claimed, uint64_t* claim);
  // Gives the turn back if this EtcdLog still holds it under `claim` (a
  // write that gave up); a turn its append used, or a newer claim, is left.
  Status ReleaseTurn(uint64_t claim);
  bool HoldsTurn() const { return turn_held_.load(); }
  // The time this EtcdLog's appends have spent waiting for other writers'
  // turns, in all (microseconds): a write's time budget leaves it out.
  int64_t TurnWaitedMicros() const { return turn_waited_us_.load(); }
  static constexpr int kTurnWaitMs = 15000;  // over the longest lease a turn is given

  // The head revision and the first revision kept (head + 1 when empty).
  Status Bounds(uint64_t* head, uint64_t* first);
  // Bounds, retried like Append while etcd is unavailable (an election).
  Status BoundsRetrying(uint64_t* head, uint64_t* first);
  // True once a read of P/head found the log gone or replaced (every call
  // then fails FailedPrecondition, for good): tells that refusal from
  // etcd's own FailedPrecondition (out of space, say), which passes.
  bool Lost() const { return lost_.load(); }

  // Reads entries from revision `from` on, at most `limit`, in order,
  // stopping at the head. *etcd_revision is etcd's revision of the read
  // (watch from the one after it). Compacted when `from` was trimmed.
  Status Read(uint64_t from, size_t limit, std::vector<LogEntryBytes>* entries,
              int64_t* etcd_revision);
  // Read, retried like Append while etcd is unavailable.
  Status ReadRetrying(uint64_t from, size_t limit, std::vector<LogEntryBytes>* entries,
                      int64_t* etcd_revision);

  // Follows the log: calls `apply` with the entries appended after etcd
  // revision `etcd_revision`, in revision order, those etcd reported at
  // once together (a group appended in one transaction arrives as one
  // batch), until `*stop` or an error (Unavailable: re-read from the
  // applied revision and follow again; Compacted: the same). `apply`
  // returning an error ends Follow with it.
  Status Follow(int64_t etcd_revision,
                const std::function<Status(std::vector<LogEntryBytes>&&)>& apply,
                const std::atomic<bool>* stop);

  // Registers (or refreshes) a replica's applied revision under `*lease`
  // (granted with `ttl_seconds` when 0 or expired).
  Status Register(const std::string& replica_id, uint64_t applied, int64_t ttl_seconds,
                  int64_t* lease);
  Status Unregister(const std::string& replica_id, int64_t lease);
  Status LiveReplicas(std::vector<LiveReplica>* replicas);

  // Records a checkpoint at `revision` in `folder` if it is newer than the
  // registered one.
  Status PublishCheckpoint(uint64_t revision, const std::string& folder);
  // The newest registered checkpoint (revision 0: none).
  Status NewestCheckpoint(uint64_t* revision, std::string* folder);

  // Deletes entries (and chunks) up to `upto` inclusive and compacts etcd's
  // history; *deleted counts the entries removed.
  Status TrimUpTo(uint64_t upto, int64_t* deleted);

  // The key of revision `rev`'s entry (for tests and tools).
  std::string EntryKey(uint64_t rev) const;

 private:
  std::string Key(std::string_view suffix) const { return options_.prefix + "/" + std::string(suffix); }
  // The log entries' key range (EntryKey's keys only).
  std::string EntriesBegin() const;
  std::string EntriesEnd() const;
  // Turns a stored value into the entry bytes (reading chunks if needed).
  Status Materialize(uint64_t rev, const std::string& value, std::string* entry);
  // Checks a read of P/head (empty: absent), served at etcd revision
  // `read_at`, against the head seen before, and remembers the first one
  // seen.
  Status CheckHead(const std::vector<EtcdKv>& head, int64_t read_at);
  // Runs `call` again while it is Unavailable, within append_timeout_ms.
  Status Retrying(const std::function<Status()>& call);
  // Waits until P/turn is gone or P/head is no longer `head` (Append, when
  // another writer holds the turn); Unavailable after kTurnWaitMs.
  Status WaitForTurn(uint64_t head);
  LogOptions options_;
  EtcdClient etcd_;
  std::atomic<int64_t> head_created_{0};  // etcd create revision of P/head; 0: not seen
  std::atomic<bool> lost_{false};          // Lost()
  std::string turn_token_;                 // this EtcdLog's value of P/turn
  std::atomic<bool> turn_held_{false};     // P/turn was claimed with it (as last known)
  std::atomic<int64_t> turn_waited_us_{0};  // TurnWaitedMicros
  std::mutex turn_mu_;                      // orders ClaimTurn and ReleaseTurn
  uint64_t turn_claim_ = 0;                 // the newest claim's number (turn_mu_)
  int64_t turn_lease_ = 0;                  // its lease (turn_mu_)
};

// Revision <-> the 20-digit decimal used in keys.
std::string RevisionDigits(uint64_t rev);
bool ParseRevision(std::string_view digits, uint64_t* rev);
// The component of `prefix` (after its first) that names one of the key
// families every prefix P holds (P/head, P/log/..., P/blob/...,
// P/replicas/..., P/checkpoint), or "" when none does. A prefix with such a
// component would put its keys among another database's ("a/log" inside
// "a"'s log), so replication options refuse it.
std::string_view KeyFamilyIn(std::string_view prefix);
// A new replica's id, "<host>-<pid>-<8 hex digits>", and whether `id` has
// that shape (a key under "P/replicas/" that has not is another database's).
std::string NewReplicaId();
bool IsReplicaId(std::string_view id);

}  // namespace canopy::replication

#endif  // CANOPY_REPLICATION_LOG_H_
