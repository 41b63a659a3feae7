// Copyright (c) Canopy authors.

#include "query/cursor.h"

#include <limits>

#include <rocksdb/db.h>
#include <xxhash.h>

#include "storage/base64.h"
#include "storage/coding.h"

namespace canopy::query {

namespace {

constexpr uint8_t kTokenVersion = 1;

}  // namespace

uint64_t Hash64(std::string_view data) { return XXH3_64bits(data.data(), data.size()); }

std::string EncodeToken(TokenType type, std::string_view payload) {
  std::string raw;
  raw.push_back(static_cast<char>(kTokenVersion));
  raw.push_back(static_cast<char>(type));
  raw.append(payload);
  storage::PutFixed64BE(&raw, Hash64(raw));
  return storage::EncodeBase64(raw, storage::Base64::kUrlUnpadded);
}

Status DecodeToken(std::string_view token, TokenType type, std::string* payload) {
  std::string raw;
  if (token.size() > 4096 || !storage::DecodeBase64(token, storage::Base64::kUrlUnpadded, &raw) || raw.size() < 10) {
    return Status::InvalidArgument("cursor is malformed or truncated");
  }
  std::string_view body(raw.data(), raw.size() - 8);
  if (storage::DecodeFixed64BE(raw.data() + raw.size() - 8) != Hash64(body)) {
    return Status::InvalidArgument("cursor checksum mismatch (forged, truncated or altered)");
  }
  if (static_cast<uint8_t>(raw[0]) != kTokenVersion) {
    return Status::InvalidArgument("cursor of an unknown version");
  }
  if (static_cast<uint8_t>(raw[1]) != static_cast<uint8_t>(type)) {
    return Status::InvalidArgument("cursor belongs to another kind of query");
  }
  payload->assign(body.substr(2));
  return Status::Ok();
}

ScanView::ScanView(std::shared_ptr<const rocksdb::Snapshot> snapshot, std::vector<Grant> grants,
                   uint64_t fingerprint)
    : fingerprint_(fingerprint), snapshot_(std::move(snapshot)), grants_(std::move(grants)) {}

ViewRegistry::ViewRegistry(uint32_t ttl_seconds, size_t capacity)
    : ttl_(std::chrono::seconds(ttl_seconds)),
      capacity_(capacity),
      next_expiry_(std::numeric_limits<Clock::rep>::max()) {}

void ViewRegistry::ExpireLocked(Clock::time_point now,
                                std::vector<std::shared_ptr<const ScanView>>* released) {
  while (!lru_.empty()) {
    auto it = entries_.find(lru_.front());
    if (entries_.size() <= capacity_ && now - it->second.last_used < ttl_) break;
    released->push_back(std::move(it->second.view));
    entries_.erase(it);
    lru_.pop_front();
  }
  next_expiry_.store(lru_.empty() ? std::numeric_limits<Clock::rep>::max()
                                  : (entries_.find(lru_.front())->second.last_used + ttl_)
                                        .time_since_epoch()
                                        .count(),
                     std::memory_order_relaxed);
}

void ViewRegistry::Expire() {
  const auto now = Clock::now();
  if (now.time_since_epoch().count() < next_expiry_.load(std::memory_order_relaxed)) return;
  std::vector<std::shared_ptr<const ScanView>> released;
  std::lock_guard<std::mutex> l(mu_);
  ExpireLocked(now, &released);
}

uint64_t ViewRegistry::Put(std::shared_ptr<const ScanView> view) {
  std::vector<std::shared_ptr<const ScanView>> released;
  std::lock_guard<std::mutex> l(mu_);
  auto now = Clock::now();
  uint64_t id = next_id_++;
  lru_.push_back(id);
  entries_[id] = Entry{std::move(view), now, now, std::prev(lru_.end())};
  ExpireLocked(now, &released);
  return id;
}

std::shared_ptr<const ScanView> ViewRegistry::Get(uint64_t id) {
  std::vector<std::shared_ptr<const ScanView>> released;
  std::lock_guard<std::mutex> l(mu_);
  auto now = Clock::now();
  ExpireLocked(now, &released);
  auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  if (now - it->second.created >= 4 * ttl_) {  // refreshed by use, but not for ever
    released.push_back(std::move(it->second.view));
    lru_.erase(it->second.lru);
    entries_.erase(it);
    return nullptr;
  }
  it->second.last_used = now;
  lru_.splice(lru_.end(), lru_, it->second.lru);
  return it->second.view;
}

void ViewRegistry::Erase(uint64_t id) {
  std::shared_ptr<const ScanView> released;
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  released = std::move(it->second.view);
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

void ViewRegistry::Clear() {
  std::unordered_map<uint64_t, Entry> released;
  std::lock_guard<std::mutex> l(mu_);
  released.swap(entries_);
  lru_.clear();
  next_expiry_.store(std::numeric_limits<Clock::rep>::max(), std::memory_order_relaxed);
}

size_t ViewRegistry::size() {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

}  // namespace canopy::query
