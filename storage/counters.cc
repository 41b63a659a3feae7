// Copyright (c) Canopy authors.

#include "storage/counters.h"

#include <rocksdb/merge_operator.h>

#include "storage/coding.h"

namespace canopy::storage {

namespace {

class Int64AddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    int64_t base = 0;
    int64_t delta = 0;
    if (existing != nullptr && !DecodeCounter({existing->data(), existing->size()}, &base)) {
      return false;  // reported by RocksDB as Corruption
    }
    if (!DecodeCounter({value.data(), value.size()}, &delta)) return false;
    new_value->clear();
    PutFixed64BE(new_value,
                 static_cast<uint64_t>(base) + static_cast<uint64_t>(delta));  // wraps, no UB
    return true;
  }
  const char* Name() const override { return "canopy.int64add"; }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewCounterMergeOperator() {
  return std::make_shared<Int64AddOperator>();
}

bool DecodeCounter(std::string_view v, int64_t* out) {
  if (v.size() != 8) return false;
  *out = static_cast<int64_t>(DecodeFixed64BE(v.data()));
  return true;
}

}  // namespace canopy::storage
