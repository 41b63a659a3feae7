// Copyright (c) Canopy authors.
//
// The change log as the C++ API shows it: every committed mutation has a
// revision (1, 2, 3, ... without gaps) and one log entry describing what it
// changed, record by record. See docs/changes.md for the model, the JSON
// shapes of records, audit filtering and replay.
//
// Thread safety: plain values.

#ifndef CANOPY_CHANGES_H_
#define CANOPY_CHANGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "canopy/types.h"

namespace canopy {

// One record's change within a log entry.
struct RecordChangeView {
  std::string type;    // "account", "entity", "user", "membership", "role", "meta",
                       // "group", "group_member", "group_members", "group_grant"
  std::string action;  // "created", "changed", "deleted"
  std::string id;      // the record's id; "<user>/<account>" for a membership,
                       // "<group>/<member>" for a group member,
                       // "<user group>/<role>/<target>" for a group grant
  // The record as a JSON object before and after (docs/changes.md). Empty
  // when it did not exist / no longer exists, or, in an audit view, when
  // that side lies outside the viewer's reach.
  std::string before;
  std::string after;
};

struct ChangeEntry {
  uint64_t revision = 0;
  int64_t time_us = 0;          // commit time, microseconds since the epoch
  std::string actor;            // the acting user's login, or "system"
  std::string operation;        // "account.create", "entity.reassign", "import", ...
  // The call's arguments as a JSON object. Empty in an audit view that
  // does not show every change of the entry (it could name what is hidden).
  std::string arguments;
  std::vector<RecordChangeView> changes;
};

struct ChangesRequest {
  explicit ChangesRequest(Actor v = Actor::System()) : viewer(v) {}
  // Audit: a user sees only entries touching accounts where it holds
  // audit.read, and of those only the changes inside that reach. The
  // system actor sees everything.
  Actor viewer;
  uint64_t since = 1;           // the first revision to read
  size_t limit = 1000;          // 1..100000 entries per page
  // Only changes inside this account's subtree. An account deleted since:
  // its changes up to its deletion (which ends the reading, listed under
  // any type filter: past it, NotFound naming the revision that deleted it).
  AccountId account = kNoId;
  // Only changes of these record types ("account", "entity", ...); empty: all.
  // An import lists no changes (it carries its input): the system view
  // lists it under every filter, so a filtered watcher learns of it.
  std::vector<std::string> types;
  // false: each change carries type, action and id only, not the records
  // before and after (like etcd's keys_only: enough to invalidate caches,
  // several times faster to read).
  bool values = true;
  // Consistency token: FailedPrecondition unless the database has reached
  // this revision.
  uint64_t min_revision = 0;
};

struct ChangesPage {
  // Entries with at least one matching change, in revision order.
  std::vector<ChangeEntry> entries;
  uint64_t next = 0;      // ask for this revision next (past the last one scanned)
  uint64_t revision = 0;  // the database's revision when the page was read
  // Filtered by an account that was deleted: true when this page reached
  // its deletion, the last entry of its log. A reader stops there (a read
  // from `next` is refused: NotFound, "... was deleted at revision R").
  bool ended = false;
};

// Result of Db::ApplyChanges.
struct ApplyReport {
  uint64_t applied = 0;   // entries applied
  uint64_t skipped = 0;   // entries already applied (identical), skipped
  uint64_t revision = 0;  // the database's revision afterwards
};

// One etcd member as a replica sees it (Db::GetReplicaStatus).
struct EtcdMemberView {
  std::string endpoint;
  bool reachable = false;
  bool has_leader = false;
  std::string version;  // etcd's version
  std::string error;    // why not reachable
};

// Where a replica stands (Db::GetReplicaStatus). For a database that is
// not a replica, `replicated` is false and only `applied` is set.
struct ReplicaStatus {
  bool replicated = false;
  std::string replica_id;    // this process's registration in etcd
  uint64_t applied = 0;      // the local revision (applied from the log)
  // While last_contact_us is 0 (etcd never answered), head, lag,
  // checkpoint and log_first are unknown and 0; JSON shows them as null.
  uint64_t head = 0;         // the log's head in etcd when last seen
  uint64_t lag = 0;          // head - applied (revisions not yet applied)
  int64_t last_contact_us = 0;   // when etcd last answered (0: never)
  int64_t apply_delay_us = 0;    // commit-to-applied delay of the last entry followed
  uint64_t checkpoint = 0;   // the newest checkpoint's revision (0: none)
  uint64_t log_first = 0;    // the oldest revision still kept in etcd
  std::string error;         // the last problem with etcd ("" when none)
  std::vector<EtcdMemberView> members;
};

}  // namespace canopy

#endif  // CANOPY_CHANGES_H_
