// Copyright (c) Canopy authors.
//
// Change sets and change-log entries.
//
// A ChangeSet is the one description of a mutation: the record-level
// changes it makes (each record before and after, as stored bytes) and the
// counter changes that follow. The same change set is written to RocksDB
// (through storage/writes.h), applied to the in-memory catalog, stored in
// the change log and applied by another database that follows this one.
//
// The change log ("changes" key space) keeps one LogEntry per revision; the
// database's revision is that of its last entry (the newest is never
// trimmed):
//
//   changes key   := u64 revision                      -> LogEntry bytes
//                  | u64 revision, u32 chunk            -> import input chunk
//   LogEntry bytes := FlatBuffer (schema/change.fbs) u64(XXH3-64 of it)
//
// Thread safety: plain values and functions.

#ifndef CANOPY_STORAGE_CHANGES_H_
#define CANOPY_STORAGE_CHANGES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "canopy/status.h"
#include "canopy/types.h"
#include "storage/records.h"

namespace canopy::storage {

// Persisted: values never change.
enum class RecordType : uint8_t {
  kAccount = 1,     // key: u64 account id; AccountRecord
  kEntity = 2,      // key: u64 entity id; EntityRecord
  kUser = 3,        // key: u64 user id; UserRecord
  kMembership = 4,  // key: u64 user id, u64 account id; MembershipRecord
  kRole = 5,        // key: u64 role id; RoleRecord
  kMeta = 6,        // key: meta name ("seq.account"...); u64 BE value
  kGroup = 7,       // key: u64 group id; GroupRecord
  kGroupMember = 8, // key: u64 group id, u64 member id; GroupMemberRecord
  kGroupGrant = 9,  // key: u64 user group, u64 role, u64 target group; GroupGrantRecord
  // A batch of members joining one group (after only; never a before):
  // key: u64 group id; GroupMembersRecord. Written as one kGroupMember
  // record per member would be.
  kGroupMembers = 10,
};
inline constexpr uint8_t kLastRecordType = 10;
const char* RecordTypeName(RecordType t);  // "account", "entity", ...

// A record in its in-memory form (none for meta values).
using Record = std::variant<std::monostate, AccountRecord, Entity, User, Membership, Role, Group,
                            GroupMemberRecord, GroupGrant, GroupMembersRecord>;

struct RecordChange {
  RecordType type = RecordType::kMeta;
  std::string key;
  std::string before;  // empty: the record did not exist
  std::string after;   // empty: the record is deleted
  std::string before_scope;  // label of the account the record belonged to
  std::string after_scope;   // ... and belongs to now
  // The same records decoded (not stored): set by whoever builds the change
  // set, or by DecodeRecords for one read back, so that writing and
  // applying it decode nothing again.
  Record before_record;
  Record after_record;
};

struct CounterChange {
  uint64_t account = 0;
  uint8_t counter = 0;
  int64_t delta = 0;
};

struct ChangeSet {
  std::vector<RecordChange> records;
  std::vector<CounterChange> counters;
  bool empty() const { return records.empty() && counters.empty(); }
};

struct LogEntry {
  uint64_t revision = 0;
  int64_t time_us = 0;
  std::string log_id;
  uint64_t actor_user = 0;  // 0: the system actor
  std::string actor_login;
  std::string operation;
  std::string arguments;  // a JSON object
  ChangeSet changes;
  // An import's input (JSON Lines), stored in chunk keys beside the entry.
  uint32_t import_chunks = 0;
  uint64_t import_bytes = 0;
  uint64_t import_hash = 0;
};

// Meta keys of the change log.
inline constexpr std::string_view kMetaLogId = "log.id";       // the lineage id (text)
inline constexpr std::string_view kMetaLogFirst = "log.first";  // u64: oldest revision kept
// u64: a revision of the log's end, so that finding the end never reads a
// large entry (a large call's is tens of MB, and a seek to the last key
// reads its whole block). WriteLogEntry writes it with every entry of at
// least kLogMarkBytes, every import (whose input chunks follow its entry)
// and every kLogMarkEvery-th revision: what follows it is fewer than
// kLogMarkEvery small entries, which the reader walks (a mark on every
// entry cost a sixth of a small mutation's time). A hint, checked on read:
// more entries after it (a build before it wrote them) and the reader
// reads the last key instead.
inline constexpr std::string_view kMetaLogLast = "log.last";
inline constexpr size_t kLogMarkBytes = 32 * 1024;
inline constexpr uint64_t kLogMarkEvery = 256;
// The etcd prefix of the log a replica's folder follows (text; absent: a
// single-process database). Written when a replica first opens on a log.
inline constexpr std::string_view kMetaReplicaOf = "replica.of";

std::string LogKey(uint64_t revision);
std::string LogChunkKey(uint64_t revision, uint32_t chunk);
// Splits a changes key: chunk is -1 for an entry key. False when malformed.
bool DecodeLogKey(std::string_view key, uint64_t* revision, int64_t* chunk);

// Fills the decoded records of every change from its bytes (a membership's
// user and account come from its key). Corruption for bytes that are not
// a record of the change's type.
Status DecodeRecords(ChangeSet* changes);

// `initial_bytes` (tests): the builder's first buffer instead of one sized
// from the entry's bound, so that it has to grow.
std::string EncodeLogEntry(const LogEntry& e, size_t initial_bytes = 0);

// The most one change-log entry may hold: one mutation's records, before
// and after. The bound a replica's entries have in etcd
// (replication::LogOptions::max_entry_bytes), so that any database's calls
// are calls a replica could make; far below FlatBuffers' 2 GiB. A mutation
// whose change set would pass it is refused before anything is written
// (LogEntryFits).
inline constexpr uint64_t kMaxLogEntryBytes = uint64_t{256} << 20;
// One record change's part of LogEntryBytesBound: this much for its table
// and its five byte strings' lengths, padding and offsets, plus their bytes.
inline constexpr uint64_t kRecordChangeFixedBytes = 96;
uint64_t RecordChangeBytes(const RecordChange& r);
// What LogEntryBytesBound adds to the records' and counters' parts: the
// entry's fields and vectors, and its strings (operation, arguments, actor
// login, lineage id) of `text_bytes` in all.
uint64_t LogEntryOverheadBytes(uint64_t text_bytes);
// An upper bound of the encoded size of an entry holding `changes` and
// strings of `text_bytes`.
uint64_t LogEntryBytesBound(const ChangeSet& changes, uint64_t text_bytes = 0);
// InvalidArgument, naming the size, when that bound passes `limit` (at
// most kMaxLogEntryBytes) for a call of `operation`.
Status LogEntryFits(const ChangeSet& changes, std::string_view operation,
                    uint64_t text_bytes = 0, uint64_t limit = kMaxLogEntryBytes);
// The refusal of a call of `operation` whose entry would take about `bytes`
// for `records` record changes, past `limit`; `at_least`: known before the
// call was built whole (it would change that many records or more).
Status CallTooLarge(std::string_view operation, uint64_t records, uint64_t bytes,
                    uint64_t limit, bool at_least);
// Verifies the checksum and the buffer: Corruption otherwise.
Status DecodeLogEntry(std::string_view bytes, LogEntry* e);

// The same entry without copying its strings (a log read decodes every
// entry it passes, most of which it only turns into JSON): views into
// `*buffer`, which DecodeLogEntryView fills (an aligned copy of the entry)
// and which must outlive the view and stay unchanged. No decoded records
// and no counters. Reusing one view and one buffer across entries keeps
// their memory.
struct RecordChangeRef {
  RecordType type = RecordType::kMeta;
  std::string_view key, before, after, before_scope, after_scope;
};
struct LogEntryView {
  uint64_t revision = 0;
  int64_t time_us = 0;
  std::string_view log_id;
  uint64_t actor_user = 0;
  std::string_view actor_login, operation, arguments;
  std::vector<RecordChangeRef> records;
  uint32_t import_chunks = 0;
  uint64_t import_bytes = 0;
  uint64_t import_hash = 0;
};
Status DecodeLogEntryView(std::string_view bytes, std::string* buffer, LogEntryView* e);

// The transport form of one log entry (Db::ReadLogEntries, ApplyChanges,
// the log in etcd): a u32 big-endian length, the encoded entry, then the
// import input it carries (if any).
std::string FrameLogEntry(std::string_view entry, std::string_view input);
// Splits a framed entry (views into `framed`); Corruption when truncated.
Status UnframeLogEntry(std::string_view framed, std::string_view* entry,
                       std::string_view* input);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_CHANGES_H_
