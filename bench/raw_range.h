// Copyright (c) Canopy authors.
//
// The raw RocksDB baseline of the benchmarks: a plain RocksDB iterator over
// [lower, upper) of one key space of a Canopy store, read with the options
// Canopy's own reads use (the bounds; range deletions ignored where the key
// space never holds one, storage/keys.h), without any of Canopy's code
// around it (Store::NewIterator's checks included).

#ifndef CANOPY_BENCH_RAW_RANGE_H_
#define CANOPY_BENCH_RAW_RANGE_H_

#include <rocksdb/db.h>

#include <memory>
#include <string>

#include "storage/keys.h"
#include "storage/store.h"

namespace canopy::bench {

class RawRange {
 public:
  RawRange(const storage::Store& store, int cf, std::string lower, std::string upper,
           bool fill_cache = true)
      : lower_(std::move(lower)), upper_(std::move(upper)), lo_(lower_), hi_(upper_) {
    rocksdb::ReadOptions ro;
    if (!lower_.empty()) ro.iterate_lower_bound = &lo_;
    if (!upper_.empty()) ro.iterate_upper_bound = &hi_;
    ro.fill_cache = fill_cache;
    ro.ignore_range_deletions = !storage::RangeDeletesIn(cf);
    it_.reset(store.db()->NewIterator(ro, store.cf(cf)));
  }
  rocksdb::Iterator* operator->() const { return it_.get(); }

 private:
  std::string lower_, upper_;
  rocksdb::Slice lo_, hi_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace canopy::bench

#endif  // CANOPY_BENCH_RAW_RANGE_H_
