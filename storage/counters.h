// Copyright (c) Canopy authors.
//
// The counters key space keeps exact per-account entity counts (direct and
// subtree, per kind), sub-account totals and member counts. Writers add
// deltas with a RocksDB merge (no read-modify-write); compaction folds them.
// Value and operand: a signed 64-bit integer, 8 bytes big-endian two's
// complement.

#ifndef CANOPY_STORAGE_COUNTERS_H_
#define CANOPY_STORAGE_COUNTERS_H_

#include <cstdint>
#include <memory>
#include <string_view>

namespace rocksdb {
class MergeOperator;
}

namespace canopy::storage {

// The merge operator of the counters column family ("canopy.int64add").
std::shared_ptr<rocksdb::MergeOperator> NewCounterMergeOperator();

// Decodes a counter value; false when it is not 8 bytes.
bool DecodeCounter(std::string_view v, int64_t* out);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_COUNTERS_H_
