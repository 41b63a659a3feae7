// Copyright (c) Canopy authors.
//
// Paging cursors: opaque, checksummed tokens, and the registry of read
// snapshots that live cursors keep (see include/canopy/query.h).
//
// Token grammar (URL-safe base64 without padding of):
//   token   := version(1) type(1) payload checksum
//   checksum:= XXH3-64 of everything before it, 8 bytes big-endian
// A token whose checksum, version or type does not match is refused.

#ifndef CANOPY_QUERY_CURSOR_H_
#define CANOPY_QUERY_CURSOR_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "canopy/status.h"
#include "query/access.h"

namespace rocksdb {
class DB;
class Snapshot;
}  // namespace rocksdb

namespace canopy::query {

enum class TokenType : uint8_t { kVisible = 1, kWhoCan = 2, kTable = 3 };

std::string EncodeToken(TokenType type, std::string_view payload);
// InvalidArgument for anything not made by EncodeToken with this type.
Status DecodeToken(std::string_view token, TokenType type, std::string* payload);

// XXH3-64 of `data`.
uint64_t Hash64(std::string_view data);

// A visibility plan pinned to the snapshot it was made on (shared with the
// engine's published state it was planned on; released with the last
// reference).
class ScanView {
 public:
  // `fingerprint` identifies the request (viewer, kind, permission,
  // filters) the view was planned for: a cursor may only resume a view of
  // its own request.
  ScanView(std::shared_ptr<const rocksdb::Snapshot> snapshot, std::vector<Grant> grants,
           uint64_t fingerprint);
  ScanView(const ScanView&) = delete;
  ScanView& operator=(const ScanView&) = delete;

  const rocksdb::Snapshot* snapshot() const { return snapshot_.get(); }
  const std::vector<Grant>& grants() const { return grants_; }
  uint64_t fingerprint() const { return fingerprint_; }
  // The database revision the snapshot holds (set once, when planned).
  uint64_t revision() const { return revision_; }
  void set_revision(uint64_t r) { revision_ = r; }

 private:
  uint64_t revision_ = 0;
  uint64_t fingerprint_;
  std::shared_ptr<const rocksdb::Snapshot> snapshot_;
  std::vector<Grant> grants_;
};

// The live cursors' views, by id. A view expires when idle for the TTL,
// when older than four TTLs (so replaying one token cannot pin a snapshot
// for ever), or when it is the least recently used one over capacity.
// Expiry runs on every call; Expire() takes the lock only once the least
// recently used view may have expired, so the many first pages that leave
// no cursor do not contend for it. Views are released outside the lock.
// Thread-safe.
class ViewRegistry {
 public:
  ViewRegistry(uint32_t ttl_seconds, size_t capacity);
  // Releases expired views now.
  void Expire();
  // Registers a view and returns its id (never 0).
  uint64_t Put(std::shared_ptr<const ScanView> view);
  // The view, refreshed as recently used; null when it expired.
  std::shared_ptr<const ScanView> Get(uint64_t id);
  void Erase(uint64_t id);
  void Clear();
  size_t size();

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::shared_ptr<const ScanView> view;
    Clock::time_point created;
    Clock::time_point last_used;
    std::list<uint64_t>::iterator lru;
  };
  // Unlinks the expired views, moving them to *released (to be dropped
  // once mu_ is let go: the last reference to a view releases its
  // snapshot), and sets next_expiry_.
  void ExpireLocked(Clock::time_point now, std::vector<std::shared_ptr<const ScanView>>* released);

  const Clock::duration ttl_;
  const size_t capacity_;
  std::mutex mu_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Entry> entries_;
  std::list<uint64_t> lru_;  // front: least recently used
  // No idle view can expire before this time (Clock ticks since its
  // epoch; the maximum when there is none). A lower bound: a view used
  // since only expires later.
  std::atomic<Clock::rep> next_expiry_;
};

}  // namespace canopy::query

#endif  // CANOPY_QUERY_CURSOR_H_
