// Copyright (c) Canopy authors.
//
// EtcdClient: the few etcd v3 calls Canopy's replicas need, spoken as JSON
// over HTTP to etcd's gRPC gateway (/v3/kv/range, /v3/kv/txn, /v3/watch,
// /v3/lease/*, /v3/kv/compaction, /v3/maintenance/status) with libcurl.
// Keys and values are byte strings (the gateway carries them in base64).
//
// Endpoints are tried in turn: a call goes to the endpoint that last
// answered and moves on to the next when one refuses the connection, times
// out or answers that it has no leader, so losing one member of three is
// invisible to callers. When no endpoint answers, calls return Unavailable
// with a message that starts "etcd" and names the endpoints tried and the
// last error. A timed-out request may still have been applied by etcd (as
// with any networked store); callers that must know read back.
//
// Thread safety: every method may be called from any thread at once (each
// call uses its own connection handle, taken from a pool shared by the
// client's calls, which keeps connections alive between calls).

#ifndef CANOPY_REPLICATION_ETCD_CLIENT_H_
#define CANOPY_REPLICATION_ETCD_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/status.h"

namespace canopy::replication {

struct EtcdOptions {
  // "http://127.0.0.1:2379", ... (at least one).
  std::vector<std::string> endpoints;
  // A unary request (range, txn, put, ...) gives up on one endpoint after
  // this long and tries the next; the whole call gives up after trying
  // every endpoint once.
  int request_timeout_ms = 3000;
  int connect_timeout_ms = 500;
};

struct EtcdKv {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

// One comparison of a transaction (etcd's Compare).
struct EtcdCompare {
  enum class Target { kValue, kVersion, kCreateRevision, kModRevision };
  enum class Result { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kValue;
  Result result = Result::kEqual;
  std::string value;  // for kValue
  int64_t number = 0; // for the other targets
};

// One operation of a transaction (etcd's RequestOp).
struct EtcdOp {
  enum class Type { kPut, kDeleteRange, kRange };
  Type type = Type::kPut;
  std::string key;
  std::string value;      // kPut
  std::string range_end;  // kDeleteRange, kRange ("" = the key alone)
  int64_t lease = 0;      // kPut
  int64_t limit = 0;      // kRange (0 = no limit)
};

struct EtcdTxnResult {
  bool succeeded = false;
  int64_t header_revision = 0;
  // For each kRange operation of the branch taken, its key-values.
  std::vector<std::vector<EtcdKv>> ranges;
  // On an Unavailable error: false when the request reached no member
  // (every connection refused or unresolvable), so it was certainly not
  // applied; true when it may have been.
  bool reached = true;
};

struct EtcdWatchEvent {
  bool is_delete = false;
  EtcdKv kv;
};

struct EtcdMemberStatus {
  std::string endpoint;
  bool reachable = false;
  std::string error;       // why not reachable
  std::string version;     // etcd's version
  uint64_t member_id = 0;
  uint64_t leader = 0;     // 0: no leader known
  int64_t db_size = 0;
  int64_t raft_index = 0;
};

// "the end of the prefix": the smallest key greater than every key that
// starts with `prefix` (etcd's range_end for a prefix).
std::string PrefixEnd(std::string_view prefix);

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  const EtcdOptions& options() const { return options_; }

  // Reads [key, range_end) (range_end "": the key alone), linearizable,
  // sorted by key, at most `limit` (0: all). `header_revision` (may be null)
  // is etcd's revision of the read. `more` (may be null): more keys remain.
  Status Range(std::string_view key, std::string_view range_end, int64_t limit,
               std::vector<EtcdKv>* kvs, int64_t* header_revision = nullptr,
               bool* more = nullptr, bool keys_only = false);
  Status Put(std::string_view key, std::string_view value, int64_t lease = 0);
  // Deletes [key, range_end); `deleted` (may be null) counts them.
  Status DeleteRange(std::string_view key, std::string_view range_end,
                     int64_t* deleted = nullptr);
  Status Txn(const std::vector<EtcdCompare>& compares, const std::vector<EtcdOp>& success,
             const std::vector<EtcdOp>& failure, EtcdTxnResult* result);
  // Compacts etcd's history up to `revision`. An already compacted
  // revision is not an error.
  Status Compact(int64_t revision);

  Status LeaseGrant(int64_t ttl_seconds, int64_t* lease_id);
  // One keep-alive round; NotFound when the lease has expired.
  Status LeaseKeepAlive(int64_t lease_id, int64_t* ttl_seconds = nullptr);
  Status LeaseRevoke(int64_t lease_id);

  // Asks every endpoint for its status (never fails; unreachable members
  // are reported as such).
  std::vector<EtcdMemberStatus> MemberStatus();

  // Watches [key, range_end) from `start_revision` (etcd revision; 0: from
  // now), calling `on_events` with each batch of events (and the batch's
  // header revision) in order. A batch is never empty: etcd's progress
  // notifications are not passed on. Returns when `on_events` returns
  // false, when `*stop` (may be null) becomes true (checked at least every
  // 200 ms), or on an error: Unavailable when the stream breaks or no
  // endpoint answers (the caller re-watches from the revision after the
  // last event it saw), Compacted when `start_revision` was compacted away
  // (the message names etcd's compact revision; the caller re-reads with
  // Range).
  Status Watch(std::string_view key, std::string_view range_end, int64_t start_revision,
               const std::function<bool(const std::vector<EtcdWatchEvent>&, int64_t)>& on_events,
               const std::atomic<bool>* stop);

 private:
  struct Impl;
  EtcdOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace canopy::replication

#endif  // CANOPY_REPLICATION_ETCD_CLIENT_H_
