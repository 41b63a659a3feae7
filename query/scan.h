// Copyright (c) Canopy authors.
//
// The visibility-filtered scan: sorted, disjoint grants -> one bounded
// RocksDB iterator per grant over the visibility index, in key order, on
// one snapshot, with the request's filters. Its cost is one seek per grant
// plus the entries it passes over — never the size of the database.

#ifndef CANOPY_QUERY_SCAN_H_
#define CANOPY_QUERY_SCAN_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canopy/query.h"
#include "query/cursor.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace canopy::query {

struct ScanFilter {
  EntityKind kind = EntityKind::kDevice;
  std::optional<std::string> type;
  std::string name_prefix;
  std::optional<AttributeFilter> attribute;
  // True when nothing beyond kind (and the grants) restricts the scan.
  bool Unfiltered() const { return !type && name_prefix.empty() && !attribute; }
};

class ScanIterator final : public VisibleIterator {
 public:
  // Scans `view`'s grants from the beginning, or from just after the index
  // key `resume_after` when it is not empty. `expected` (0: unknown) is how
  // many entries the caller means to read (a page): a group grant reads
  // that many members' index entries in its first batch.
  ScanIterator(const storage::Store* store, std::shared_ptr<const ScanView> view,
               ScanFilter filter, std::string resume_after, size_t expected = 0);

  bool Valid() const override { return valid_; }
  void Next() override;
  EntityId id() const override { return id_; }
  std::string_view key() const override { return value_.key; }
  std::string_view name() const override { return value_.name; }
  std::string_view type() const override { return value_.type; }
  AccountId owner() const override { return value_.owner; }
  Status status() const override { return status_; }

  // The index key of the current entry (valid until Next()).
  std::string_view index_key() const;

 private:
  // Moves to the first matching entry at or after the iterator's position,
  // opening the next grants' iterators as needed.
  void Settle();
  bool OpenGrant(size_t g);
  bool Matches(std::string_view k, std::string_view v);
  // A sparse grant (entity groups): moves to the next member of the union
  // of its groups (in id order, each once) and reads its index entry into
  // sparse_key_ / sparse_value_. False when they are exhausted (or on an
  // error, in status_).
  bool NextSparse();

  const storage::Store* store_;
  std::shared_ptr<const ScanView> view_;
  ScanFilter filter_;
  std::string resume_after_;
  size_t grant_ = 0;
  std::unique_ptr<storage::Store::BoundedIterator> it_;
  // A sparse grant's member iterators, one per group, and its current entry.
  bool sparse_ = false;
  std::vector<std::unique_ptr<storage::Store::BoundedIterator>> group_its_;
  std::string sparse_key_;
  std::string sparse_value_;
  // The members merged ahead and their index entries, read in one
  // MultiGet per batch (`expected` or 8, then twice as many each time, up
  // to 256).
  bool FillSparse();
  size_t FirstBatch() const;
  size_t expected_ = 0;
  size_t sparse_batch_ = 8;
  size_t sparse_at_ = 0;
  std::vector<uint64_t> sparse_ids_;
  std::vector<std::string> sparse_keys_;
  std::vector<rocksdb::PinnableSlice> sparse_values_;
  std::vector<rocksdb::Status> sparse_statuses_;
  bool valid_ = false;
  EntityId id_ = kNoId;
  storage::IndexValue value_;
  Status status_;
};

}  // namespace canopy::query

#endif  // CANOPY_QUERY_SCAN_H_
