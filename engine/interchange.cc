// Copyright (c) Canopy authors.
//
// Import and export of the JSON Lines interchange format
// (docs/format.md). A bad line fails the call with its line number and
// nothing is written: an import writes its key spaces as SST files in a
// scratch folder (or one write batch when small) and applies them in one
// atomic step at the end.
//
// Import is a pipeline over batches of whole lines (2 MiB of input each):
//   1. the calling thread reads a batch (hashing it and carrying it to the
//      change log's copy of the input);
//   2. a worker parses its lines: JSON, fields and every check that needs
//      no state (texts, attributes), keeping the device and entity lines
//      ready to stage; any other line, or a line with an error, is left to
//      step 3 (which repeats the checks, so errors read as before);
//   3. the calling thread sequences the batches in file order: ids, owners,
//      accounts, users, memberships, roles, the end line, duplicates
//      against the database, progress;
//   4. a worker encodes the batch's entities (storage::WriteEntity) into
//      sorted pieces of the index key spaces and its entity records;
//   5. the calling thread hands them on in order: entity records (keyed by
//      new ids, so in order) to SST files written by workers; index pieces
//      to one ExternalSorter per key space (engine/external_sort.h), which
//      spills merged runs to the scratch folder beyond a memory budget.
// At the end every key space is merged into SST files of adjacent key ranges
// on the workers, refusing duplicate entity keys and unit ids (found
// adjacent in the merge) by the lines that hold them, and all files are
// ingested at once.
//
// Export writes accounts (tree order: parents first), custom roles, users,
// memberships and entities, then an end line carrying the record count and
// an XXH3-64 checksum of every byte before it; import verifies that line
// when present.

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <unistd.h>
#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>
#include <simdjson.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <condition_variable>
#include <cstdarg>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "engine/db_impl.h"
#include "engine/external_sort.h"
#include "replication/log.h"
#include "engine/kv_buffer.h"
#include "engine/rules.h"
#include "engine/validate.h"
#include "query/access.h"
#include "query/json.h"
#include "storage/coding.h"
#include "storage/fd.h"
#include "storage/keys.h"
#include "storage/labels.h"
#include "storage/records.h"
#include "storage/writes.h"

namespace canopy::engine {

namespace {

using query::AccountNode;
using query::Catalog;

constexpr size_t kBatchLimit = 100000;  // KV pairs; above it, SST ingestion
constexpr uint64_t kProgressEvery = 16384;  // lines (import) or entities (export)
// The longest line accepted (a record's fields are bounded far below).
constexpr size_t kMaxLineBytes = size_t{64} << 20;
// The interchange format an export's begin line names.
constexpr uint64_t kInterchangeFormat = 1;

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The sizes of an import's bounded buffers. CANOPY_IMPORT_CHUNK=N (tests)
// makes every one of them N records: batches of N lines, sort pieces
// spilled to runs past N pairs, SST files of N pairs; so a tiny file takes
// every path a huge one does.
//
// Small buffers are faster, not only smaller: memory the process touches
// for the first time costs a page fault per 4 KiB, and on a virtual machine
// that can cost more than the work done in it. At 1 M devices, 8 MiB
// batches and 192 MiB of sort pieces took 3.6-4.2 s and 470 MiB; 2 MiB and
// 32 MiB take 2.9-3.3 s and 250 MiB (and 10 M devices the same time in 520
// MiB instead of 710; 100 M devices the same). The pieces spill to runs
// sooner: at 1 M devices they now go to runs where they stayed in memory,
// and at 100 M each index key space has 542 runs, six times as many.
struct ImportLimits {
  size_t batch_bytes = size_t{2} << 20;  // input per batch
  size_t batch_lines = 0;                // 0: no limit
  size_t batches_in_flight = 4;
  // Pieces of all sorted key spaces held in memory before the largest is
  // spilled to a run file.
  size_t sort_memory = size_t{32} << 20;
  size_t sort_records = 0;  // 0: by memory; else spill a key space past N pairs
  size_t entity_file_bytes = size_t{32} << 20;  // records per entity SST file
  size_t entity_file_records = 0;
  size_t entity_files_in_flight = 2;
  // An SST file of a sorted key space covers about this much (4 files at
  // least per key space when it is large enough, for the two cores).
  size_t part_bytes_min = size_t{8} << 20;
  size_t part_bytes_max = size_t{64} << 20;
  size_t part_records = 0;

  static ImportLimits FromEnvironment() {
    ImportLimits l;
    // Digits only (strtoull would take "-3" as a huge number).
    if (const char* v = std::getenv("CANOPY_IMPORT_CHUNK"); v != nullptr && *v >= '0' && *v <= '9') {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v, &end, 10);
      if (end != nullptr && *end == '\0' && n > 0 && n <= (1u << 30)) {
        l.batch_lines = l.sort_records = l.entity_file_records = l.part_records = n;
        l.batches_in_flight = 3;
      }
    }
    return l;
  }
};

// The scratch folder of one import's SST and run files, inside the database
// folder (so that ingestion can move the files), created on first use and
// removed with everything in it when the import ends, whatever the outcome.
// Store::Open removes any left by a crash. Thread-safe.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& db_path) {
    std::random_device rd;
    path_ = std::filesystem::path(db_path) /
            (std::string(storage::kScratchPrefix) + Hex64((uint64_t(rd()) << 32) | rd()));
  }
  ~ScratchDir() {
    std::error_code e;
    if (created_) std::filesystem::remove_all(path_, e);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // The path of `name` inside the folder, creating the folder if needed.
  Status File(std::string_view name, std::string* out) {
    std::lock_guard<std::mutex> l(mu_);
    if (!created_) {
      std::error_code ec;
      std::filesystem::create_directories(path_, ec);
      if (ec) return Status::IOError("cannot create " + path_.string() + ": " + ec.message());
      created_ = true;
    }
    *out = (path_ / std::string(name)).string();
    return Status::Ok();
  }
  // A new file named `prefix`-N (N counts up).
  Status NewFile(std::string_view prefix, std::string* out) {
    uint64_t n;
    {
      std::lock_guard<std::mutex> l(mu_);
      n = next_++;
    }
    return File(std::string(prefix) + "-" + std::to_string(n), out);
  }

 private:
  std::mutex mu_;
  std::filesystem::path path_;
  bool created_ = false;
  uint64_t next_ = 0;
};

// An SST file writer for key space `cf` with the database's options for it.
std::unique_ptr<rocksdb::SstFileWriter> NewSstWriter(const storage::Store& store, int cf) {
  rocksdb::Options opts(store.db()->GetDBOptions(), store.db()->GetOptions(store.cf(cf)));
  // SstFileWriter uses the bottommost compression (ZSTD). Imported files
  // usually stay at the bottom level uncompacted, so they keep ZSTD (for
  // the disk budget) but at its fastest regular level's faster neighbour,
  // -1: compression is the largest single cost of an import (a quarter of
  // its CPU at level 1), and -1 takes about 30% less of it for 7% more
  // bytes (docs/PERFORMANCE.md, "Bulk import"); level 3, the default,
  // takes several times longer.
  if (opts.bottommost_compression == rocksdb::kZSTD) {
    opts.bottommost_compression_opts.enabled = true;
    opts.bottommost_compression_opts.level = -1;
  }
  if (cf == storage::kChanges) {
    // The change log's copy of the import input: written once, read only by
    // a follower's replay; LZ4 keeps the import's extra work small.
    opts.bottommost_compression = rocksdb::kLZ4Compression;
    opts.compression = rocksdb::kLZ4Compression;
  }
  // The files are moved into the database and read soon (the catalog
  // reload, the first queries): keep their pages cached instead of
  // dropping them every megabyte as written (the default).
  return std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), opts, store.cf(cf),
                                                  /*invalidate_page_cache=*/false);
}

// Adds every pair of `kv` (in key order) to `w`; merge operands for the
// counters, plain values otherwise.
rocksdb::Status AddAll(rocksdb::SstFileWriter& w, const KvBuffer& kv, bool merge) {
  rocksdb::Status s;
  for (size_t i = 0; i < kv.size() && s.ok(); ++i) {
    rocksdb::Slice k(kv.key(i).data(), kv.key(i).size());
    rocksdb::Slice v(kv.value(i).data(), kv.value(i).size());
    s = merge ? w.Merge(k, v) : w.Put(k, v);
  }
  return s;
}

// Writes pairs given in key order to one SST file on a background thread,
// fed in chunks through a short queue (so the reader never waits unless
// the writer falls several chunks behind). Used for the change log's copy
// of the input, whose chunk keys arrive in order.
class SstStream {
 public:
  SstStream(const storage::Store& store, int cf, std::string path)
      : writer_(NewSstWriter(store, cf)), cf_(cf), path_(std::move(path)) {
    chunk_.Reserve(kChunkBytes / 64, kChunkBytes + (64 << 10));
    status_ = writer_->Open(path_);
    thread_ = std::thread([this] { Run(); });
  }
  ~SstStream() {  // without Finish: the import failed; stop writing
    {
      std::lock_guard<std::mutex> l(mu_);
      closing_ = abandoned_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  SstStream(const SstStream&) = delete;
  SstStream& operator=(const SstStream&) = delete;

  void Add(std::string_view key, std::string_view value) {
    chunk_.Add(key, value);
    ++count_;
    if (chunk_.bytes() >= kChunkBytes) Push();
  }
  size_t size() const { return count_; }
  const std::string& path() const { return path_; }
  int cf() const { return cf_; }

  // Writes what is left and finishes the file; the writer's first error.
  Status Finish() {
    Push(/*more=*/false);
    {
      std::lock_guard<std::mutex> l(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (status_.ok()) status_ = writer_->Finish();
    return storage::FromRocks(status_, std::string("import: write ") + storage::CfName(cf_) +
                                           " file");
  }

 private:
  static constexpr size_t kChunkBytes = size_t{4} << 20;
  static constexpr size_t kMaxQueued = 4;

  // Queues the chunk being filled; `more`: another one follows.
  void Push(bool more = true) {
    if (chunk_.empty()) return;
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return queue_.size() < kMaxQueued; });
    queue_.push_back(std::move(chunk_));
    chunk_ = KvBuffer();
    if (!free_.empty()) {  // one the writer is done with: its pages are mapped already
      chunk_ = std::move(free_.back());
      free_.pop_back();
    } else if (more) {
      chunk_.Reserve(kChunkBytes / 64, kChunkBytes + (64 << 10));
    }
    cv_.notify_all();
  }

  void Run() {
    while (true) {
      KvBuffer chunk;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty() || abandoned_) return;  // all written, or not wanted
        chunk = std::move(queue_.front());
        queue_.pop_front();
      }
      cv_.notify_all();
      try {
        if (status_.ok()) status_ = AddAll(*writer_, chunk, /*merge=*/false);
      } catch (const std::exception& e) {
        status_ = rocksdb::Status::Aborted(e.what());
      }
      chunk.Clear();
      std::lock_guard<std::mutex> l(mu_);
      if (free_.size() < 2) free_.push_back(std::move(chunk));
    }
  }

  std::unique_ptr<rocksdb::SstFileWriter> writer_;
  int cf_;
  std::string path_;
  KvBuffer chunk_;     // being filled by the reader
  size_t count_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<KvBuffer> queue_;
  std::vector<KvBuffer> free_;  // written chunks, for the reader to fill again
  bool closing_ = false;
  bool abandoned_ = false;
  rocksdb::Status status_;  // the writer thread's; read after join
  std::thread thread_;
};

// With CANOPY_TRACE_IMPORT set, prints when each import phase ends (parse,
// finish, sort and write, ingest and reload) and what the sorting did to
// stderr: the first tool when an import is slow.
class PhaseTrace {
 public:
  PhaseTrace()
      : on_(std::getenv("CANOPY_TRACE_IMPORT") != nullptr),
        start_(std::chrono::steady_clock::now()) {}
  bool on() const { return on_; }
  void Mark(const char* phase) const {
    if (!on_) return;
    std::fprintf(stderr, "import: %s done at %.3f s\n", phase,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  [[gnu::format(printf, 2, 3)]] void Note(const char* format, ...) const {
    if (!on_) return;
    std::va_list args;
    va_start(args, format);
    std::fputs("import: ", stderr);
    std::vfprintf(stderr, format, args);
    std::fputc('\n', stderr);
    va_end(args);
  }

 private:
  bool on_;
  std::chrono::steady_clock::time_point start_;
};

// The fields of one JSON object, consumed by name; leftovers are errors.
// Reset() reuses the storage (one Fields per thread serves every line).
class Fields {
 public:
  Fields() = default;
  explicit Fields(simdjson::dom::object obj) { Reset(obj); }
  void Reset(simdjson::dom::object obj) {
    fields_.clear();
    for (auto field : obj) fields_.emplace_back(field.key, field.value);
    used_.assign(fields_.size(), 0);
  }
  // A string field; Status InvalidArgument if wrong type; *present false
  // when absent.
  Status String(std::string_view name, bool required, std::string_view* out, bool* present = nullptr) {
    simdjson::dom::element e;
    bool here = Take(name, &e);
    if (present) *present = here;
    if (!here) {
      if (required) return Status::InvalidArgument("missing field '" + std::string(name) + "'");
      return Status::Ok();
    }
    if (e.get_string().get(*out)) {
      return Status::InvalidArgument("field '" + std::string(name) + "' must be a string");
    }
    return Status::Ok();
  }
  Status Bool(std::string_view name, std::optional<bool>* out) {
    simdjson::dom::element e;
    if (!Take(name, &e)) return Status::Ok();
    bool b;
    if (e.get_bool().get(b)) {
      return Status::InvalidArgument("field '" + std::string(name) + "' must be true or false");
    }
    *out = b;
    return Status::Ok();
  }
  // An object of strings into `out` (cleared first). Its nodes come from,
  // and its old ones go to, `spare` when given: a map refilled for every
  // line allocates nothing once warm.
  Status StringMap(std::string_view name, Attributes* out,
                   std::vector<Attributes::node_type>* spare = nullptr) {
    while (!out->empty()) {
      if (spare == nullptr) {
        out->clear();
        break;
      }
      spare->push_back(out->extract(out->begin()));
    }
    simdjson::dom::element e;
    if (!Take(name, &e)) return Status::Ok();
    simdjson::dom::object obj;
    if (e.get_object().get(obj)) {
      return Status::InvalidArgument("field '" + std::string(name) + "' must be an object");
    }
    for (auto field : obj) {
      std::string_view v;
      if (field.value.get_string().get(v)) {
        return Status::InvalidArgument("'" + std::string(name) + "." +
                                       std::string(field.key) + "' must be a string");
      }
      bool added;
      if (spare != nullptr && !spare->empty()) {
        Attributes::node_type node = std::move(spare->back());
        spare->pop_back();
        node.key().assign(field.key);
        node.mapped().assign(v);
        auto r = out->insert(std::move(node));
        added = r.inserted;
        if (!added) spare->push_back(std::move(r.node));
      } else {
        added = out->emplace(std::string(field.key), std::string(v)).second;
      }
      if (!added) {
        return Status::InvalidArgument("'" + std::string(name) + "' repeats key '" +
                                       std::string(field.key) + "'");
      }
    }
    return Status::Ok();
  }
  Status StringList(std::string_view name, std::vector<std::string>* out) {
    simdjson::dom::element e;
    if (!Take(name, &e)) return Status::InvalidArgument("missing field '" + std::string(name) + "'");
    simdjson::dom::array arr;
    if (e.get_array().get(arr)) {
      return Status::InvalidArgument("field '" + std::string(name) + "' must be an array");
    }
    for (auto v : arr) {
      std::string_view s;
      if (v.get_string().get(s)) {
        return Status::InvalidArgument("'" + std::string(name) + "' must hold strings");
      }
      out->emplace_back(s);
    }
    return Status::Ok();
  }
  Status Object(std::string_view name, std::optional<Fields>* out) {
    simdjson::dom::element e;
    if (!Take(name, &e)) return Status::Ok();
    simdjson::dom::object obj;
    if (e.get_object().get(obj)) {
      return Status::InvalidArgument("field '" + std::string(name) + "' must be an object");
    }
    out->emplace(obj);
    return Status::Ok();
  }
  // An optional time in microseconds since the Unix epoch: an integer
  // 0..2^63-1; *out stays as it is when absent.
  Status Time(std::string_view name, int64_t* out) {
    simdjson::dom::element e;
    if (!Take(name, &e)) return Status::Ok();
    if (!e.is_number()) {
      return Status::InvalidArgument("field '" + std::string(name) + "' must be a number");
    }
    int64_t v;
    if (e.get_int64().get(v) || v < 0) {
      return Status::InvalidArgument("field '" + std::string(name) +
                                     "' must be an integer from 0 to 9223372036854775807 "
                                     "(microseconds since the Unix epoch)");
    }
    *out = v;
    return Status::Ok();
  }
  // An optional count; *present says whether it was given.
  Status OptionalUint(std::string_view name, uint64_t* out, bool* present) {
    simdjson::dom::element e;
    *present = Take(name, &e);
    if (!*present) return Status::Ok();
    return WholeNumber(name, e, out);
  }
  Status Uint(std::string_view name, uint64_t* out) {
    simdjson::dom::element e;
    if (!Take(name, &e)) return Status::InvalidArgument("missing field '" + std::string(name) + "'");
    return WholeNumber(name, e, out);
  }
  // A whole number 0..2^64-1: "must be a number" for another type, the
  // range for a negative or fractional one.
  static Status WholeNumber(std::string_view name, simdjson::dom::element e, uint64_t* out) {
    if (!e.get_uint64().get(*out)) return Status::Ok();
    if (!e.is_number()) {
      return Status::InvalidArgument("field '" + std::string(name) + "' must be a number");
    }
    return Status::InvalidArgument("field '" + std::string(name) +
                                   "' must be a whole number from 0 to 18446744073709551615");
  }
  // InvalidArgument naming the first field nobody asked for (one given
  // more often than it was asked for is repeated, not unknown).
  Status NoneLeft(std::string_view what) const {
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (used_[i]) continue;
      for (size_t j = 0; j < fields_.size(); ++j) {
        if (used_[j] && fields_[j].first == fields_[i].first) {
          return Status::InvalidArgument("field '" + std::string(fields_[i].first) +
                                         "' is repeated in " + std::string(what));
        }
      }
      return Status::InvalidArgument("unknown field '" + std::string(fields_[i].first) +
                                     "' in " + std::string(what));
    }
    return Status::Ok();
  }

 private:
  // The first occurrence of `name` not taken yet: a name asked for twice
  // reads its occurrences in order. That is how a non-device entity's
  // "type" (the second "type" field, after the record's own) is read back
  // as export writes it (docs/format.md).
  bool Take(std::string_view name, simdjson::dom::element* e) {
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (!used_[i] && fields_[i].first == name) {
        used_[i] = 1;
        *e = fields_[i].second;
        return true;
      }
    }
    return false;
  }
  std::vector<std::pair<std::string_view, simdjson::dom::element>> fields_;
  std::vector<uint8_t> used_;
};

// A record's optional `created_us` and `updated_us` (docs/interchange.md,
// "Times"): -1 where absent. Read with the other fields, checked with the
// texts, resolved against the import's time when the records are written.
struct Times {
  int64_t created = -1, updated = -1;

  Status Read(Fields& f, bool with_updated) {
    CANOPY_RETURN_IF_ERROR(f.Time("created_us", &created));
    if (with_updated) CANOPY_RETURN_IF_ERROR(f.Time("updated_us", &updated));
    return Status::Ok();
  }
  Status Check() const {
    if (updated < 0) return Status::Ok();
    if (created < 0) {
      return Status::InvalidArgument("field 'updated_us' is given without 'created_us'");
    }
    if (updated < created) {
      return Status::InvalidArgument("updated_us " + std::to_string(updated) +
                                     " is before created_us " + std::to_string(created));
    }
    return Status::Ok();
  }
  // Absent: created is the import's time; updated is created.
  void Resolve(int64_t now, int64_t* created_us, int64_t* updated_us = nullptr) const {
    *created_us = created >= 0 ? created : now;
    if (updated_us != nullptr) *updated_us = updated >= 0 ? updated : *created_us;
  }
};

// The texts naming an entity kind's fields in messages ("device key", ...),
// made once instead of for every line.
struct KindTexts {
  std::string kind, record, key, name, type;
};
const KindTexts& TextsOf(EntityKind kind) {
  static const auto* const table = [] {
    auto* t = new std::array<KindTexts, 5>();
    for (EntityKind k : kAllEntityKinds) {
      const std::string n = EntityKindName(k);
      (*t)[static_cast<int>(k)] = {n, n + " record", n + " key", n + " name", n + " type"};
    }
    return t;
  }();
  return (*table)[static_cast<int>(kind)];
}

// The fields of a device or entity line, checked (everything that needs no
// state: texts, attributes, the unit id rule).
struct EntityFields {
  std::string_view key, name, account, unit, type;
  bool has_unit = false;
  Times times;
};

// Reads and checks an entity line's fields, in the order (and with the
// messages) of every other record: required fields, types, no unknown
// field, texts, attributes (into *attrs), unit id. `replayed` as for
// CheckKey.
Status ParseEntity(Fields& f, EntityKind kind, EntityFields* out, Attributes* attrs,
                   std::vector<Attributes::node_type>* spare, bool replayed) {
  const KindTexts& t = TextsOf(kind);
  CANOPY_RETURN_IF_ERROR(f.String("key", true, &out->key));
  CANOPY_RETURN_IF_ERROR(f.String("name", true, &out->name));
  CANOPY_RETURN_IF_ERROR(f.String("account", true, &out->account));
  CANOPY_RETURN_IF_ERROR(f.String("unit_id", false, &out->unit, &out->has_unit));
  CANOPY_RETURN_IF_ERROR(
      f.String(kind == EntityKind::kDevice ? "device_type" : "type", false, &out->type));
  CANOPY_RETURN_IF_ERROR(f.StringMap("attributes", attrs, spare));
  out->times = Times();
  CANOPY_RETURN_IF_ERROR(out->times.Read(f, true));
  CANOPY_RETURN_IF_ERROR(f.NoneLeft(t.record));
  CANOPY_RETURN_IF_ERROR(out->times.Check());
  CANOPY_RETURN_IF_ERROR(CheckKey(t.key, out->key, replayed));
  CANOPY_RETURN_IF_ERROR(CheckText(t.name, out->name));
  CANOPY_RETURN_IF_ERROR(CheckText(t.type, out->type, true));
  CANOPY_RETURN_IF_ERROR(CheckAttributes(t.kind, *attrs));
  if (out->has_unit) {
    if (kind != EntityKind::kDevice) return Status::InvalidArgument("only devices have a unit id");
    CANOPY_RETURN_IF_ERROR(CheckText("unit id", out->unit));
    if (!replayed) CANOPY_RETURN_IF_ERROR(CheckIdentifier("unit id", out->unit));
  }
  return Status::Ok();
}

// One device or entity line of a batch, ready to stage.
struct EntityInput {
  EntityFields f;  // views into the batch's arena
  uint32_t attrs_begin = 0, attrs_count = 0;  // Batch::attrs, in key order
  EntityKind kind = EntityKind::kDevice;
  // Set when the batch is sequenced:
  EntityId id = kNoId;
  AccountId owner = kNoId;
  const std::string* label = nullptr;  // the owner's (stable while importing)
  uint64_t line_no = 0;
};

// A batch of whole lines and what the stages make of it.
struct Batch {
  enum Stage { kRead, kParsed, kSequenced, kEncoded };
  enum Kind : uint8_t { kBlank, kEntity, kOther };
  struct Line {
    uint32_t begin;  // offset in text
    uint32_t size;   // with its line end
    Kind kind;
    uint32_t entity;  // index into entities when kEntity
  };
  uint64_t offset = 0;        // in the file
  std::string text;           // whole lines (with SIMDJSON_PADDING spare capacity)
  bool too_long = false;      // no line: the next line is longer than kMaxLineBytes
  std::vector<Line> lines;
  std::vector<EntityInput> entities;
  std::vector<std::pair<std::string_view, std::string_view>> attrs;
  std::string arena;                 // the entities' strings (reserved: never moves)
  std::deque<std::string> extra;     // strings of entities staged by the sequencer
  // Stage 4's output.
  KvBuffer records, keys, units, visibility;
  Stage stage = kRead;  // guarded by the pipeline's mutex

  void Reset() {
    offset = 0;
    text.clear();
    too_long = false;
    lines.clear();
    entities.clear();
    attrs.clear();
    arena.clear();
    extra.clear();
    records = KvBuffer();
    keys = KvBuffer();
    units = KvBuffer();
    visibility = KvBuffer();
    stage = kRead;
  }
  // Copies `s` into the arena (whose capacity was reserved up front, so
  // views into it stay valid); false when it would not fit.
  bool Keep(std::string_view* s) {
    if (arena.size() + s->size() > arena.capacity()) return false;
    const size_t at = arena.size();
    arena.append(*s);
    *s = std::string_view(arena.data() + at, s->size());
    return true;
  }
};

// KvBuffers handed back once written (the entity records' after their SST
// file), for the next batches to fill: their memory is used again instead
// of being returned and faulted in afresh. It keeps up to `keep_bytes` of
// capacity: what the files in flight and the group being gathered hold, so
// that in a steady import every records buffer comes from here.
class BufferPool {
 public:
  explicit BufferPool(size_t keep_bytes) : keep_bytes_(keep_bytes) {}

  KvBuffer Get() {
    std::lock_guard<std::mutex> l(mu_);
    if (free_.empty()) return KvBuffer();
    KvBuffer kv = std::move(free_.back());
    free_.pop_back();
    kept_ -= kv.capacity();
    return kv;
  }
  void Clear() {
    std::lock_guard<std::mutex> l(mu_);
    free_.clear();
    kept_ = 0;
  }
  void Put(KvBuffer kv) {
    kv.Clear();
    std::lock_guard<std::mutex> l(mu_);
    if (kept_ + kv.capacity() > keep_bytes_) return;
    kept_ += kv.capacity();
    free_.push_back(std::move(kv));
  }

 private:
  const size_t keep_bytes_;
  std::mutex mu_;
  size_t kept_ = 0;  // capacity of free_
  std::vector<KvBuffer> free_;
};

// Stage 2, on a worker: splits the batch into lines and parses the device
// and entity lines whose every check passes.
class LineParser {
 public:
  void Parse(Batch& b) {
    b.lines.clear();
    b.entities.clear();
    b.attrs.clear();
    b.arena.clear();
    // Unescaped strings are never longer than their JSON text.
    b.arena.reserve(b.text.size() + 16);
    const char* data = b.text.data();
    const size_t n = b.text.size();
    size_t pos = 0;
    while (pos < n) {
      const void* nl = std::memchr(data + pos, '\n', n - pos);
      const size_t end = nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - data) : n;
      const size_t next = nl != nullptr ? end + 1 : n;
      Batch::Line line{static_cast<uint32_t>(pos), static_cast<uint32_t>(next - pos),
                       Batch::kOther, 0};
      std::string_view text(data + pos, end - pos);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      if (text.find_first_not_of(" \t") == std::string_view::npos) {
        line.kind = Batch::kBlank;
      } else if (Entity(text, b)) {
        line.kind = Batch::kEntity;
        line.entity = static_cast<uint32_t>(b.entities.size() - 1);
      }
      b.lines.push_back(line);
      pos = next;
    }
  }

 private:
  // True when `text` is a device or entity line that passes every check
  // (then staged in b.entities); false for anything else.
  bool Entity(std::string_view text, Batch& b) {
    // simdjson reads up to SIMDJSON_PADDING bytes past the line: they lie
    // within the batch's text or its spare capacity.
    simdjson::dom::element doc;
    if (parser_.parse(text.data(), text.size(), false).get(doc)) return false;
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) return false;
    fields_.Reset(obj);
    std::string_view type;
    if (!fields_.String("type", true, &type).ok()) return false;
    EntityKind kind;
    if (type == "device") {
      kind = EntityKind::kDevice;
    } else if (type == "entity") {
      std::string_view kind_name;
      if (!fields_.String("kind", true, &kind_name).ok()) return false;
      auto k = ParseEntityKind(kind_name);
      if (!k) return false;
      kind = *k;
    } else {
      return false;
    }
    EntityInput in;
    in.kind = kind;
    // Strict: a replayed line refused here is checked again, as a replay,
    // by the calling thread (Importer::Entity).
    if (!ParseEntity(fields_, kind, &in.f, &attrs_, &spare_, /*replayed=*/false).ok()) return false;
    const size_t arena_before = b.arena.size(), attrs_before = b.attrs.size();
    bool kept = b.Keep(&in.f.key) && b.Keep(&in.f.name) && b.Keep(&in.f.account) &&
                b.Keep(&in.f.unit) && b.Keep(&in.f.type);
    in.attrs_begin = static_cast<uint32_t>(b.attrs.size());
    for (const auto& [k, v] : attrs_) {
      std::string_view ks = k, vs = v;
      kept = kept && b.Keep(&ks) && b.Keep(&vs);
      b.attrs.emplace_back(ks, vs);
    }
    if (!kept) {  // cannot happen (see Parse); the sequencer does it then
      b.arena.resize(arena_before);
      b.attrs.resize(attrs_before);
      return false;
    }
    in.attrs_count = static_cast<uint32_t>(b.attrs.size() - in.attrs_begin);
    b.entities.push_back(in);
    return true;
  }

  simdjson::dom::parser parser_;
  Fields fields_;
  Attributes attrs_;
  std::vector<Attributes::node_type> spare_;
};

// Stage 4, on a worker: the key/value pairs of the batch's entities
// (storage::WriteEntity), the index key spaces sorted. Entity keys and unit
// ids carry their line number after the value (8 bytes, big-endian), so a
// duplicate found in the merge names its lines; the SST writer strips it.
class EntityEncoder final : public storage::KvSink {
 public:
  void Encode(Batch& b, int64_t now, BufferPool* buffers) {
    b_ = &b;
    b.records = buffers->Get();
    size_t n = b.entities.size(), key_bytes = 0, unit_bytes = 0, text_bytes = 0;
    for (const EntityInput& in : b.entities) {
      key_bytes += in.f.key.size();
      unit_bytes += in.f.unit.size();
      text_bytes += in.f.key.size() + in.f.name.size() + in.f.type.size();
    }
    // A record takes its strings (the arena) and an overhead per entity
    // that the previous batches measured: reserving less would grow the
    // buffer midway (a copy, and fresh pages faulted in twice). Bounded by
    // the batch's own input, whatever the batches before held.
    b.records.Reserve(n, b.arena.size() + n * (std::max<size_t>(96, record_overhead_) + 8));
    b.keys.Reserve(n, key_bytes + n * 25);
    b.units.Reserve(n, unit_bytes + n * 16);
    b.visibility.Reserve(n, text_bytes + n * 48);
    for (const Batch::Line& line : b.lines) {
      if (line.kind != Batch::kEntity) continue;
      const EntityInput& in = b.entities[line.entity];
      e_.id = in.id;
      e_.kind = in.kind;
      e_.key.assign(in.f.key);
      e_.unit_id.assign(in.f.has_unit ? in.f.unit : std::string_view());
      e_.name.assign(in.f.name);
      e_.type.assign(in.f.type);
      e_.owner = in.owner;
      in.f.times.Resolve(now, &e_.created_us, &e_.updated_us);
      // The attributes, in key order already: recycled nodes, appended.
      while (!e_.attributes.empty()) spare_.push_back(e_.attributes.extract(e_.attributes.begin()));
      for (uint32_t i = 0; i < in.attrs_count; ++i) {
        const auto& [k, v] = b.attrs[in.attrs_begin + i];
        if (spare_.empty()) {
          e_.attributes.emplace_hint(e_.attributes.end(), std::string(k), std::string(v));
          continue;
        }
        Attributes::node_type node = std::move(spare_.back());
        spare_.pop_back();
        node.key().assign(k);
        node.mapped().assign(v);
        e_.attributes.insert(e_.attributes.end(), std::move(node));
      }
      char tag[8];
      for (int i = 7, v = 0; i >= 0; --i, ++v) tag[i] = static_cast<char>(in.line_no >> (8 * v));
      tag_ = std::string_view(tag, 8);
      storage::WriteEntity(*this, nullptr, {}, &e_, *in.label);
    }
    if (n > 0 && b.records.bytes() > b.arena.size()) {
      record_overhead_ = std::min<size_t>(
          1024, std::max(record_overhead_, (b.records.bytes() - b.arena.size()) / n + 1));
    }
    b.keys.Sort();
    b.units.Sort();
    b.visibility.Sort();
    b_ = nullptr;
  }
  Status status() const { return status_; }

  void Put(int cf, std::string_view key, std::string_view value) override {
    switch (cf) {
      case storage::kEntities:
        b_->records.Add(key, value);
        return;
      case storage::kEntityKeys:
        b_->keys.Add(key, value, tag_);
        return;
      case storage::kUnitIds:
        b_->units.Add(key, value, tag_);
        return;
      case storage::kVisibility:
        b_->visibility.Add(key, value);
        return;
      default:
        if (status_.ok()) status_ = Status::Internal("import: an entity wrote an unexpected key space");
    }
  }
  // An import only adds: nothing is deleted.
  void Delete(int, std::string_view) override {
    if (status_.ok()) status_ = Status::Internal("import staging cannot delete keys");
  }
  void Merge(int, std::string_view, std::string_view) override {
    if (status_.ok()) status_ = Status::Internal("import: an entity wrote a merge operand");
  }

 private:
  Batch* b_ = nullptr;
  // The largest bytes per entity of a batch's records beyond its strings
  // so far (capped: a record's fixed part is far smaller).
  size_t record_overhead_ = 0;
  canopy::Entity e_;
  std::vector<Attributes::node_type> spare_;
  std::string_view tag_;
  Status status_;
};

// Per worker thread: the parser and encoder (their buffers stay warm from
// batch to batch; the threads end with the import).
LineParser& ThreadParser() {
  thread_local LineParser p;
  return p;
}
EntityEncoder& ThreadEncoder() {
  thread_local EntityEncoder e;
  return e;
}

struct StagedAccount {
  AccountId id;
  AccountId parent;
  AccountId tenant;
  uint32_t depth;
  std::string label;
  storage::AccountRecord record;
  Times times;
};

// What an import stages in its sequential step (stage 3): the state every
// line is checked against, and the non-entity records; their key/value
// pairs go to `out`.
class Importer {
 public:
  // `replayed`: the import replays a log entry (its input was accepted
  // once, under the rules of its day).
  Importer(const Catalog& catalog, const storage::Store& store, ImportReport* report,
           storage::KvSink* out, bool replayed)
      : c_(catalog), store_(store), report_(report), out_(out), replayed_(replayed) {
    next_account_ = c_.last_account_id;
    next_user_ = c_.last_user_id;
    next_entity_ = c_.last_entity_id;
    next_role_ = c_.last_role_id;
    next_group_ = c_.last_group_id;
    next_root_ordinal_ = c_.next_root_ordinal;
    for (AccountId r : c_.roots) {
      for (EntityKind k : kAllEntityKinds) {
        db_has_kind_[static_cast<int>(k)] |= c_.account(r)->count(k).subtree > 0;
      }
    }
  }

  // A line stage 2 left (not a device or entity that passed its checks):
  // parsed and checked here, in full. A device or entity is staged in
  // `batch` (its strings kept there).
  Status Line(std::string_view line, Batch* batch, uint32_t line_index, uint64_t line_no) {
    simdjson::dom::element doc;
    // The line lies in the batch's text, with its padding.
    auto err = parser_.parse(line.data(), line.size(), false).get(doc);
    if (err && line.substr(0, 3) == "\xEF\xBB\xBF") {
      return Status::InvalidArgument(
          "the line starts with a byte order mark (BOM), which the format does not allow: save "
          "the file as UTF-8 without one");
    }
    if (err == simdjson::NUMBER_ERROR || err == simdjson::NUMBER_OUT_OF_RANGE) {
      // The parser's words ("Problem while parsing a number") also stand
      // for an integer past 2^64, which JSON allows and no field takes.
      return Status::InvalidArgument(
          "a number is malformed or out of range: the records' integers are at most "
          "18446744073709551615, times at most 9223372036854775807");
    }
    if (err) return Status::InvalidArgument(std::string("not valid JSON: ") + simdjson::error_message(err));
    simdjson::dom::object obj;
    if (doc.get_object().get(obj)) return Status::InvalidArgument("a record must be a JSON object");
    Fields f(obj);
    std::string_view type;
    CANOPY_RETURN_IF_ERROR(f.String("type", true, &type));
    if (ended_) return Status::InvalidArgument("record after the end line");
    Status s;
    if (type == "account") {
      s = Account(f);
    } else if (type == "role") {
      s = Role(f);
    } else if (type == "user") {
      s = User(f);
    } else if (type == "membership") {
      s = Membership(f);
    } else if (type == "group") {
      s = GroupLine(f);
    } else if (type == "group_member") {
      s = GroupMemberLine(f, line_no);
    } else if (type == "group_grant") {
      s = GroupGrantLine(f);
    } else if (type == "device") {
      s = Entity(f, EntityKind::kDevice, batch, line_index, line_no);
    } else if (type == "entity") {
      std::string_view kind_name;
      CANOPY_RETURN_IF_ERROR(f.String("kind", true, &kind_name));
      auto kind = ParseEntityKind(kind_name);
      if (!kind) return Status::InvalidArgument("unknown entity kind '" + std::string(kind_name) + "'");
      s = Entity(f, *kind, batch, line_index, line_no);
    } else if (type == "begin") {
      // An export's first line: an end line must follow (a file cut short
      // at a line's end is refused too).
      if (begun_ || records_ != 0) {
        return Status::InvalidArgument("the begin line comes first, before every record");
      }
      uint64_t format = 0;
      CANOPY_RETURN_IF_ERROR(f.Uint("format", &format));
      CANOPY_RETURN_IF_ERROR(f.NoneLeft("begin record"));
      if (format != kInterchangeFormat) {
        return Status::InvalidArgument("begin line: interchange format " + std::to_string(format) +
                                       " is not the one this Canopy reads (" +
                                       std::to_string(kInterchangeFormat) + ")");
      }
      begun_ = true;
      return Status::Ok();
    } else if (type == "end") {
      uint64_t records = 0;
      std::string_view checksum;
      CANOPY_RETURN_IF_ERROR(f.Uint("records", &records));
      CANOPY_RETURN_IF_ERROR(f.String("xxh3", true, &checksum));
      CANOPY_RETURN_IF_ERROR(f.NoneLeft("end record"));
      if (checksum.size() != 16 ||
          checksum.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
        return Status::InvalidArgument("end line: xxh3 must be 16 lower-case hexadecimal digits");
      }
      if (records != records_) {
        return Status::InvalidArgument("end line counts " + std::to_string(records) +
                                       " records, the file has " + std::to_string(records_) +
                                       " (truncated or edited?)");
      }
      end_checksum_ = std::string(checksum);
      ended_ = true;
      return Status::Ok();
    } else {
      return Status::InvalidArgument("unknown record type '" + std::string(type) + "'");
    }
    ++records_;
    return s;
  }

  // A device or entity line stage 2 parsed and checked.
  Status ParsedEntity(EntityInput& in, uint64_t line_no) {
    if (ended_) return Status::InvalidArgument("record after the end line");
    ++records_;
    return StageEntity(in, line_no);
  }

  bool ended() const { return ended_; }
  bool begun() const { return begun_; }
  const std::string& end_checksum() const { return end_checksum_; }

  // Resolves the group members that name entities defined in this file,
  // once every entity line is staged: `staged` holds their entity keys
  // (kind, key -> id, owner, line). On a refusal *line is the member's line.
  Status ResolveMembers(const ExternalSorter& staged, uint64_t* line);

  // Produces the key/value pairs of everything but the entities (accounts,
  // users, memberships, groups, counters, sequences) into the sink.
  Status Finish(int64_t now);

 private:
  // Resolves an account key to (id, label, depth, tenant, settings).
  struct AccountRef {
    AccountId id = kNoId;
    const std::string* label = nullptr;
    uint32_t depth = 0;
    AccountId tenant = kNoId;
    AccountSettings settings;
  };
  Status FindAccount(std::string_view key, std::string_view field, AccountRef* out) {
    auto it = staged_keys_.find(key);
    if (it != staged_keys_.end()) {
      const StagedAccount& a = accounts_[it->second - first_account_id()];
      *out = {a.id, &a.label, a.depth, a.tenant, a.record.account.settings};
      return Status::Ok();
    }
    std::string v;
    Status s = store_.Get(storage::kAccountKeys, key, &v);
    if (s.IsNotFound()) {
      return Status::NotFound(std::string(field) + " '" + std::string(key) +
                              "' is not an account defined earlier in the file or in the database");
    }
    CANOPY_RETURN_IF_ERROR(s);
    if (v.size() != 8) return Status::Corruption("account key index entry is damaged");
    const AccountNode* n = c_.account(storage::DecodeFixed64BE(v.data()));
    if (n == nullptr) return Status::Corruption("account key index points at a missing account");
    *out = {n->id, &n->label, n->depth, n->tenant, n->settings};
    return Status::Ok();
  }
  AccountId first_account_id() const { return c_.last_account_id + 1; }
  // The label and key of a staged or stored account.
  const std::string& LabelOf(AccountId id) const {
    if (id >= first_account_id()) return accounts_[id - first_account_id()].label;
    return c_.account(id)->label;
  }
  const std::string& KeyOf(AccountId id) const {
    if (id >= first_account_id()) return accounts_[id - first_account_id()].record.account.key;
    return c_.account(id)->key;
  }

  Status Account(Fields& f) {
    std::string_view key, name, parent;
    bool has_parent = false;
    CANOPY_RETURN_IF_ERROR(f.String("key", true, &key));
    CANOPY_RETURN_IF_ERROR(f.String("name", true, &name));
    CANOPY_RETURN_IF_ERROR(f.String("parent", false, &parent, &has_parent));
    Attributes attrs;
    CANOPY_RETURN_IF_ERROR(f.StringMap("attributes", &attrs));
    std::optional<Fields> settings;
    CANOPY_RETURN_IF_ERROR(f.Object("settings", &settings));
    Times times;
    CANOPY_RETURN_IF_ERROR(times.Read(f, true));
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("account record"));
    CANOPY_RETURN_IF_ERROR(times.Check());
    AccountSettings st;
    if (settings) {
      std::optional<bool> mgmt, sharing;
      std::string_view access;
      bool has_access = false;
      CANOPY_RETURN_IF_ERROR(settings->Bool("sub_account_management", &mgmt));
      CANOPY_RETURN_IF_ERROR(settings->String("sub_account_access", false, &access, &has_access));
      CANOPY_RETURN_IF_ERROR(settings->Bool("group_sharing", &sharing));
      CANOPY_RETURN_IF_ERROR(settings->NoneLeft("account settings"));
      st.sub_account_management = mgmt.value_or(false);
      if (sharing.value_or(false) && has_parent) {
        return Status::InvalidArgument("settings.group_sharing is a root tenant's setting; account '" +
                                       std::string(key) + "' has a parent");
      }
      st.group_sharing = sharing.value_or(false);
      if (has_access) {
        auto a = ParseSubAccountAccess(access);
        if (!a) return Status::InvalidArgument("unknown sub_account_access '" + std::string(access) + "'");
        st.sub_account_access = *a;
      }
    }
    CANOPY_RETURN_IF_ERROR(CheckKey("account key", key, replayed_));
    CANOPY_RETURN_IF_ERROR(CheckText("account name", name));
    CANOPY_RETURN_IF_ERROR(CheckAttributes("account", attrs));
    if (staged_keys_.count(key)) {
      return Status::AlreadyExists("account key '" + std::string(key) + "' appears twice");
    }
    bool taken = false;
    CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kAccountKeys, key, &taken));
    if (taken) return Status::AlreadyExists("account key '" + std::string(key) + "' is taken");

    StagedAccount a;
    CANOPY_RETURN_IF_ERROR(storage::Store::NextId(next_account_, "account", &next_account_));
    a.id = next_account_;
    std::string label;
    uint64_t ordinal;
    if (has_parent) {
      AccountRef p;
      CANOPY_RETURN_IF_ERROR(FindAccount(parent, "parent", &p));
      CANOPY_RETURN_IF_ERROR(rules::SubAccountDepth(parent, p.depth, c_.max_depth));
      label = *p.label;
      ordinal = NextChildOrdinal(p.id);
      a.parent = p.id;
      a.depth = p.depth + 1;
      a.tenant = p.tenant;
    } else {
      ordinal = next_root_ordinal_++;
      a.parent = kNoId;
      a.depth = 1;
      a.tenant = a.id;
    }
    storage::AppendOrdinal(&label, ordinal);
    a.label = label;
    a.record.account.id = a.id;
    a.record.account.key = std::string(key);
    a.record.account.name = std::string(name);
    a.record.account.parent = a.parent;
    a.record.account.depth = a.depth;
    a.record.account.attributes = std::move(attrs);
    a.record.account.settings = st;
    a.record.label = label;
    a.times = times;
    staged_keys_.emplace(std::string(key), a.id);
    accounts_.push_back(std::move(a));
    report_->accounts++;
    return Status::Ok();
  }

  uint64_t NextChildOrdinal(AccountId parent) {
    if (parent >= first_account_id()) {
      return accounts_[parent - first_account_id()].record.next_child_ordinal++;
    }
    auto it = existing_ordinals_.find(parent);
    if (it == existing_ordinals_.end()) {
      it = existing_ordinals_.emplace(parent, c_.account(parent)->next_child_ordinal).first;
    }
    return it->second++;
  }

  Status Role(Fields& f) {
    std::string_view tenant, name;
    std::vector<std::string> perms;
    CANOPY_RETURN_IF_ERROR(f.String("tenant", true, &tenant));
    CANOPY_RETURN_IF_ERROR(f.String("name", true, &name));
    CANOPY_RETURN_IF_ERROR(f.StringList("permissions", &perms));
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("role record"));
    CANOPY_RETURN_IF_ERROR(CheckKey("role name", name, replayed_));
    query::PermSet set;
    CANOPY_RETURN_IF_ERROR(query::ParsePermNames(perms, &set));
    AccountRef t;
    CANOPY_RETURN_IF_ERROR(FindAccount(tenant, "tenant", &t));
    if (t.tenant != t.id) {
      return Status::InvalidArgument("role tenant '" + std::string(tenant) + "' is not a root tenant");
    }
    CANOPY_RETURN_IF_ERROR(query::CheckCustomRoleName(name, replayed_));
    std::string nk = storage::IdKey(t.id);
    nk.append(name);
    bool taken = staged_roles_.count(nk) > 0;
    if (!taken) CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kRoleNames, nk, &taken));
    if (taken) return Status::AlreadyExists("role '" + std::string(name) + "' already exists in tenant '" + std::string(tenant) + "'");
    canopy::Role r;
    CANOPY_RETURN_IF_ERROR(storage::Store::NextId(next_role_, "role", &next_role_));
    r.id = next_role_;
    r.tenant = t.id;
    r.name = std::string(name);
    r.permissions = set.Names();
    storage::WriteRole(*out_, nullptr, &r);
    staged_roles_.emplace(nk, r.id);
    report_->roles++;
    return Status::Ok();
  }

  Status User(Fields& f) {
    std::string_view login, name, account;
    std::optional<bool> disabled;
    CANOPY_RETURN_IF_ERROR(f.String("login", true, &login));
    CANOPY_RETURN_IF_ERROR(f.String("name", true, &name));
    CANOPY_RETURN_IF_ERROR(f.String("account", true, &account));
    CANOPY_RETURN_IF_ERROR(f.Bool("disabled", &disabled));
    Times times;
    CANOPY_RETURN_IF_ERROR(times.Read(f, true));
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("user record"));
    CANOPY_RETURN_IF_ERROR(times.Check());
    CANOPY_RETURN_IF_ERROR(CheckKey("login", login, replayed_));
    CANOPY_RETURN_IF_ERROR(CheckText("user name", name));
    AccountRef a;
    CANOPY_RETURN_IF_ERROR(FindAccount(account, "account", &a));
    bool taken = staged_users_.count(std::string(login)) > 0;
    if (!taken) CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kUserLogins, login, &taken));
    if (taken) return Status::AlreadyExists("login '" + std::string(login) + "' is taken");
    canopy::User u;
    CANOPY_RETURN_IF_ERROR(storage::Store::NextId(next_user_, "user", &next_user_));
    u.id = next_user_;
    u.login = std::string(login);
    u.name = std::string(name);
    u.account = a.id;
    u.disabled = disabled.value_or(false);
    users_.push_back(std::move(u));
    user_times_.push_back(times);
    staged_users_.emplace(std::string(login), users_.back().id);
    report_->users++;
    return Status::Ok();
  }

  Status Membership(Fields& f) {
    std::string_view login, account, role;
    std::optional<bool> branch;
    CANOPY_RETURN_IF_ERROR(f.String("login", true, &login));
    CANOPY_RETURN_IF_ERROR(f.String("account", true, &account));
    CANOPY_RETURN_IF_ERROR(f.String("role", true, &role));
    CANOPY_RETURN_IF_ERROR(f.Bool("branch", &branch));
    Times times;
    CANOPY_RETURN_IF_ERROR(times.Read(f, false));
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("membership record"));
    UserId uid;
    AccountId home = kNoId;
    CANOPY_RETURN_IF_ERROR(FindUser(login, &uid, &home));
    AccountRef a;
    CANOPY_RETURN_IF_ERROR(FindAccount(account, "account", &a));
    CANOPY_RETURN_IF_ERROR(
        rules::MembershipInReach(login, "'" + std::string(KeyOf(home)) + "'", LabelOf(home), account, *a.label));
    RoleId rid;
    CANOPY_RETURN_IF_ERROR(FindRole(role, a.tenant, account, &rid));
    bool b = false;
    CANOPY_RETURN_IF_ERROR(rules::MembershipBranch(a.settings, branch, account, &b));
    if (!staged_memberships_.insert({uid, a.id}).second || c_.membership(uid, a.id) != nullptr) {
      return Status::AlreadyExists("user '" + std::string(login) + "' is already a member of account '" +
                                   std::string(account) + "'");
    }
    canopy::Membership m;
    m.role = rid;
    m.branch = b;
    memberships_.push_back({uid, a.id, m, times});
    report_->memberships++;
    return Status::Ok();
  }

  // A user defined earlier in the file or in the database: its id and home.
  Status FindUser(std::string_view login, UserId* uid, AccountId* home) {
    auto su = staged_users_.find(std::string(login));
    if (su != staged_users_.end()) {
      *uid = su->second;
      *home = users_[*uid - c_.last_user_id - 1].account;
    } else {
      std::string v;
      Status s = store_.Get(storage::kUserLogins, login, &v);
      if (s.IsNotFound()) {
        return Status::NotFound("login '" + std::string(login) +
                                "' is not a user defined earlier in the file or in the database");
      }
      CANOPY_RETURN_IF_ERROR(s);
      const query::UserNode* u = v.size() == 8 ? c_.user(storage::DecodeFixed64BE(v.data())) : nullptr;
      if (u == nullptr) {
        return Status::Corruption("login index entry of '" + std::string(login) + "' is damaged or stale");
      }
      *uid = u->id;
      *home = u->home;
    }
    return Status::Ok();
  }

  // A built-in role's name, or a custom role of `tenant` (staged or stored);
  // `account` names the account whose tenant it is, for the message.
  Status FindRole(std::string_view role, AccountId tenant, std::string_view account, RoleId* rid) {
    if (const auto* b = query::FindBuiltinRole(role)) {
      *rid = b->id;
    } else {
      std::string nk = storage::IdKey(tenant);
      nk.append(role);
      auto sr = staged_roles_.find(nk);
      if (sr != staged_roles_.end()) {
        *rid = sr->second;
      } else {
        std::string v;
        Status s = store_.Get(storage::kRoleNames, nk, &v);
        if (s.IsNotFound()) {
          return Status::NotFound("role '" + std::string(role) + "' is neither built in nor a role of the tenant of account '" +
                                  std::string(account) + "'");
        }
        CANOPY_RETURN_IF_ERROR(s);
        if (v.size() != 8 || c_.role(storage::DecodeFixed64BE(v.data())) == nullptr) {
          return Status::Corruption("role name index entry of '" + std::string(role) + "' is damaged");
        }
        *rid = storage::DecodeFixed64BE(v.data());
      }
    }
    return Status::Ok();
  }

  // ---- Groups (docs/interchange.md, "group", "group_member", "group_grant")

  // (Compared without adding 1: the database's last group id may be the
  // largest there is.)
  bool StagedGroup(GroupId id) const { return id > c_.last_group_id; }
  const canopy::Group& Staged(GroupId id) const {
    return staged_groups_[staged_index_.at(id)].g;
  }
  GroupKind KindOf(GroupId id) const {
    return StagedGroup(id) ? Staged(id).kind : c_.group(id)->kind;
  }
  AccountId OwnerOf(GroupId id) const {
    return StagedGroup(id) ? Staged(id).owner : c_.group(id)->owner;
  }
  const std::string& NameOf(GroupId id) const {
    return StagedGroup(id) ? Staged(id).name : c_.group(id)->name;
  }
  std::string Named(GroupId id) const { return rules::GroupNamed(KindOf(id), NameOf(id)); }
  AccountId ParentOf(AccountId id) const {
    if (id >= first_account_id()) return accounts_[id - first_account_id()].parent;
    return c_.account(id)->parent;
  }
  const AccountSettings& SettingsOf(AccountId id) const {
    if (id >= first_account_id()) return accounts_[id - first_account_id()].record.account.settings;
    return c_.account(id)->settings;
  }
  static std::string GroupNameKey(AccountId owner, GroupKind kind, std::string_view name) {
    std::string k = storage::IdKey(owner);
    k.push_back(static_cast<char>(kind));
    k.append(name);
    return k;
  }
  static Status ReadGroupKind(std::string_view name, GroupKind* out) {
    auto k = ParseGroupKind(name);
    if (!k) return Status::InvalidArgument("unknown group kind '" + std::string(name) + "'");
    *out = *k;
    return Status::Ok();
  }
  // The group of `owner` with that kind and name, staged or stored (kNoId:
  // none). Stored ones are remembered once looked up.
  GroupId LookUpGroup(AccountId owner, GroupKind kind, std::string_view name) {
    const std::string k = GroupNameKey(owner, kind, name);
    auto it = group_names_.find(k);
    if (it != group_names_.end()) return it->second;
    if (owner >= first_account_id()) return kNoId;
    for (GroupId gid : c_.account(owner)->groups) {
      const query::GroupNode* g = c_.group(gid);
      if (g->kind == kind && g->name == name) {
        group_names_.emplace(k, gid);
        return gid;
      }
    }
    return kNoId;
  }
  // A group named by its owner's key, kind and name.
  Status FindGroup(std::string_view account, GroupKind kind, std::string_view name,
                   std::string_view account_field, GroupId* out) {
    AccountRef a;
    CANOPY_RETURN_IF_ERROR(FindAccount(account, account_field, &a));
    *out = LookUpGroup(a.id, kind, name);
    if (*out == kNoId) {
      return Status::NotFound(rules::GroupNamed(kind, name) + " of account '" +
                              std::string(account) +
                              "' is not a group defined earlier in the file or in the database");
    }
    return Status::Ok();
  }

  Status GroupLine(Fields& f) {
    std::string_view kind_name, name, account;
    uint64_t id = 0;
    bool has_id = false;
    CANOPY_RETURN_IF_ERROR(f.String("kind", true, &kind_name));
    CANOPY_RETURN_IF_ERROR(f.String("name", true, &name));
    CANOPY_RETURN_IF_ERROR(f.String("account", true, &account));
    CANOPY_RETURN_IF_ERROR(f.OptionalUint("id", &id, &has_id));
    Times times;
    CANOPY_RETURN_IF_ERROR(times.Read(f, true));
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("group record"));
    CANOPY_RETURN_IF_ERROR(times.Check());
    GroupKind kind;
    CANOPY_RETURN_IF_ERROR(ReadGroupKind(kind_name, &kind));
    CANOPY_RETURN_IF_ERROR(CheckKey("group name", name, replayed_));
    AccountRef a;
    CANOPY_RETURN_IF_ERROR(FindAccount(account, "account", &a));
    if (LookUpGroup(a.id, kind, name) != kNoId) {
      return Status::AlreadyExists(rules::GroupNamed(kind, name) + " already exists in account '" +
                                   std::string(account) + "'");
    }
    if (has_id) {
      if (id <= next_group_) {
        return Status::InvalidArgument(
            "group id " + std::to_string(id) + " is not above " + std::to_string(next_group_) +
            " (group ids are given in ascending order, above the database's last one)");
      }
      next_group_ = id;
    } else {
      CANOPY_RETURN_IF_ERROR(storage::Store::NextId(next_group_, "group", &next_group_));
    }
    staged_index_.emplace(next_group_, staged_groups_.size());
    StagedGroupRecord g;
    g.g.id = next_group_;
    g.g.kind = kind;
    g.g.name = std::string(name);
    g.g.owner = a.id;
    g.times = times;
    staged_groups_.push_back(std::move(g));
    group_names_.emplace(GroupNameKey(a.id, kind, name), next_group_);
    report_->groups++;
    return Status::Ok();
  }

  Status GroupMemberLine(Fields& f, uint64_t line_no) {
    std::string_view account, kind_name, group, member;
    CANOPY_RETURN_IF_ERROR(f.String("account", true, &account));
    CANOPY_RETURN_IF_ERROR(f.String("kind", true, &kind_name));
    CANOPY_RETURN_IF_ERROR(f.String("group", true, &group));
    CANOPY_RETURN_IF_ERROR(f.String("member", true, &member));
    Times times;
    CANOPY_RETURN_IF_ERROR(times.Read(f, false));
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("group member record"));
    GroupKind kind;
    CANOPY_RETURN_IF_ERROR(ReadGroupKind(kind_name, &kind));
    GroupId gid;
    CANOPY_RETURN_IF_ERROR(FindGroup(account, kind, group, "account", &gid));
    const AccountId owner = OwnerOf(gid);
    const std::string owner_text = "account '" + std::string(account) + "', the group's owner";
    std::string what;
    if (kind == GroupKind::kUser) {
      what = "user '" + std::string(member) + "'";
    } else if (kind == GroupKind::kAccount) {
      what = "account '" + std::string(member) + "'";
    } else {
      what = std::string(EntityKindName(*GroupEntityKind(kind))) + " '" + std::string(member) + "'";
    }
    std::string named = GroupNameKey(AccountId(gid.value()), kind, member);
    if (!member_names_.insert(std::move(named)).second) {
      return Status::AlreadyExists(what + " is already a member of " + Named(gid));
    }
    storage::GroupMemberRecord m;
    m.group = gid;
    m.kind = kind;
    if (kind == GroupKind::kUser) {
      UserId uid;
      AccountId home;
      CANOPY_RETURN_IF_ERROR(FindUser(member, &uid, &home));
      if (home != owner) {
        return Status::FailedPrecondition(what + " was not created in " + owner_text);
      }
      m.member = uid;
    } else if (kind == GroupKind::kAccount) {
      AccountRef a;
      CANOPY_RETURN_IF_ERROR(FindAccount(member, "member", &a));
      if (ParentOf(a.id) != owner) {
        return Status::FailedPrecondition(what + " is not a direct sub-account of " + owner_text);
      }
      m.member = a.id;
    } else {
      const auto k = static_cast<uint8_t>(*GroupEntityKind(kind));
      std::string v;
      Status s = db_has_kind_[k] ? store_.Get(storage::kEntityKeys, storage::EntityKeyKey(k, member), &v)
                                 : Status::NotFound("");
      if (!s.IsNotFound()) {
        CANOPY_RETURN_IF_ERROR(s);
        uint64_t eid = 0, eowner = 0;
        if (!storage::DecodeEntityKeyValue(v, &eid, &eowner)) {
          return Status::Corruption("entity key index entry of '" + std::string(member) + "' is damaged");
        }
        if (eowner != owner) return Status::FailedPrecondition(what + " is not owned by " + owner_text);
        m.member = eid;
      } else {
        // Defined in this file (resolved once every entity is staged).
        pending_.push_back({gid, std::string(member), std::string(account), line_no, times});
        report_->group_members++;
        return Status::Ok();
      }
    }
    if (!StagedGroup(gid)) {
      bool in = false;
      CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kGroups, storage::GroupMemberKey(gid, m.member), &in));
      if (in) return Status::AlreadyExists(what + " is already a member of " + Named(gid));
    }
    group_members_.push_back({m, times});
    report_->group_members++;
    return Status::Ok();
  }

  Status GroupGrantLine(Fields& f) {
    std::string_view account, group, role, target_account, target_kind, target;
    bool has_target_account = false, has_target_kind = false, has_target = false;
    std::optional<bool> branch;
    CANOPY_RETURN_IF_ERROR(f.String("account", true, &account));
    CANOPY_RETURN_IF_ERROR(f.String("group", true, &group));
    CANOPY_RETURN_IF_ERROR(f.String("role", true, &role));
    CANOPY_RETURN_IF_ERROR(f.String("target_account", false, &target_account, &has_target_account));
    CANOPY_RETURN_IF_ERROR(f.String("target_kind", false, &target_kind, &has_target_kind));
    CANOPY_RETURN_IF_ERROR(f.String("target", false, &target, &has_target));
    CANOPY_RETURN_IF_ERROR(f.Bool("branch", &branch));
    Times times;
    CANOPY_RETURN_IF_ERROR(times.Read(f, false));
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("group grant record"));
    if (!has_target && (has_target_kind || has_target_account)) {
      return Status::InvalidArgument(std::string("field '") +
                                     (has_target_kind ? "target_kind" : "target_account") +
                                     "' is given without 'target'");
    }
    if (has_target && !has_target_kind) return Status::InvalidArgument("missing field 'target_kind'");
    GroupId ug;
    CANOPY_RETURN_IF_ERROR(FindGroup(account, GroupKind::kUser, group, "account", &ug));
    AccountRef owner;
    CANOPY_RETURN_IF_ERROR(FindAccount(account, "account", &owner));
    RoleId rid;
    CANOPY_RETURN_IF_ERROR(FindRole(role, owner.tenant, account, &rid));
    GroupGrant g;
    g.user_group = ug;
    g.role = rid;
    g.branch = branch.value_or(false);
    if (has_target) {
      GroupKind tkind;
      CANOPY_RETURN_IF_ERROR(ReadGroupKind(target_kind, &tkind));
      if (!has_target_account) target_account = account;
      GroupId tid;
      CANOPY_RETURN_IF_ERROR(FindGroup(target_account, tkind, target, "target_account", &tid));
      AccountRef towner;
      CANOPY_RETURN_IF_ERROR(FindAccount(target_account, "target_account", &towner));
      const std::string owner_name = "'" + std::string(account) + "'";
      const std::string towner_name = "'" + std::string(target_account) + "'";
      rules::GroupGrantShape shape;
      shape.user_group_name = group;
      shape.owner_name = owner_name;
      shape.target_kind = tkind;
      shape.target_name = target;
      shape.target_owner_name = towner_name;
      shape.branch = g.branch;
      shape.same_owner = towner.id == owner.id;
      shape.target_above = storage::IsSelfOrAncestorLabel(*towner.label, *owner.label);
      // A grant shared down while the tenant's group_sharing is off is a
      // state the database keeps (suspended: switched off after the
      // grant, or carried into another tenant by a move), so it is taken
      // as it is: an export always imports again. Only GrantGroup asks
      // for sharing on.
      shape.sharing = true;
      shape.accepted_before = replayed_;
      CANOPY_RETURN_IF_ERROR(rules::GroupGrantTarget(shape));
      g.target = tid;
    }
    if (!staged_grants_.insert({g.user_group, g.role, g.target}).second ||
        c_.grant(g.user_group, g.role, g.target) != nullptr) {
      return Status::AlreadyExists("user group '" + std::string(group) + "' already has role " +
                                   std::string(role) +
                                   (g.target == kNoId ? std::string() : " on " + Named(g.target)));
    }
    group_grants_.push_back({g, times});
    report_->group_grants++;
    return Status::Ok();
  }

  // A device or entity line stage 2 did not take (it has an error, which
  // this finds again): checked in full, then staged like the others.
  Status Entity(Fields& f, EntityKind kind, Batch* batch, uint32_t line_index, uint64_t line_no) {
    EntityInput in;
    in.kind = kind;
    CANOPY_RETURN_IF_ERROR(ParseEntity(f, kind, &in.f, &attrs_, nullptr, replayed_));
    for (std::string_view* s : {&in.f.key, &in.f.name, &in.f.account, &in.f.unit, &in.f.type}) {
      *s = batch->extra.emplace_back(*s);
    }
    in.attrs_begin = static_cast<uint32_t>(batch->attrs.size());
    in.attrs_count = static_cast<uint32_t>(attrs_.size());
    for (const auto& [k, v] : attrs_) {
      batch->attrs.emplace_back(batch->extra.emplace_back(k), batch->extra.emplace_back(v));
    }
    batch->entities.push_back(in);
    Batch::Line& line = batch->lines[line_index];
    line.kind = Batch::kEntity;
    line.entity = static_cast<uint32_t>(batch->entities.size() - 1);
    return StageEntity(batch->entities.back(), line_no);
  }

  // The stateful part of an entity line: its owner, its key and unit id
  // against the database (only when it holds entities of the kind;
  // duplicates within the file are found when the key spaces are merged),
  // its id.
  Status StageEntity(EntityInput& in, uint64_t line_no) {
    // One hash lookup per entity: the owner's reference and its counts,
    // cached by account key.
    auto found = owners_.find(in.f.account);
    if (found == owners_.end()) {
      AccountRef ref;
      CANOPY_RETURN_IF_ERROR(FindAccount(in.f.account, "account", &ref));
      found = owners_.emplace(std::string(in.f.account), OwnerInfo{ref, {}}).first;
    }
    const AccountRef& owner = found->second.ref;
    const uint8_t k = static_cast<uint8_t>(in.kind);
    if (db_has_kind_[k]) {
      bool taken = false;
      CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kEntityKeys, storage::EntityKeyKey(k, in.f.key), &taken));
      if (taken) {
        return Status::AlreadyExists(TextsOf(in.kind).kind + " '" + std::string(in.f.key) +
                                     "' already exists");
      }
      if (in.f.has_unit) {
        CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kUnitIds, in.f.unit, &taken));
        if (taken) return Status::AlreadyExists("unit id '" + std::string(in.f.unit) + "' is taken");
      }
    }
    CANOPY_RETURN_IF_ERROR(storage::Store::NextId(next_entity_, "entity", &next_entity_));
    in.id = next_entity_;
    in.owner = owner.id;
    in.label = owner.label;
    in.line_no = line_no;
    ++found->second.direct[k];
    report_->entities++;
    return Status::Ok();
  }

  const Catalog& c_;
  const storage::Store& store_;
  ImportReport* report_;
  storage::KvSink* out_;
  const bool replayed_;
  simdjson::dom::parser parser_;
  Attributes attrs_;
  uint64_t next_account_, next_user_, next_entity_, next_role_, next_root_ordinal_, next_group_;
  bool db_has_kind_[5] = {};
  uint64_t records_ = 0;
  bool begun_ = false;  // a begin line was read: an end line must follow
  bool ended_ = false;
  std::string end_checksum_;

  std::deque<StagedAccount> accounts_;  // a deque: AccountRef keeps pointers to labels
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, AccountId, StringHash, std::equal_to<>> staged_keys_;
  std::map<AccountId, uint64_t> existing_ordinals_;
  std::unordered_map<std::string, RoleId> staged_roles_;
  std::vector<canopy::User> users_;
  std::vector<Times> user_times_;  // beside users_
  std::unordered_map<std::string, UserId> staged_users_;
  std::set<std::pair<UserId, AccountId>> staged_memberships_;
  struct StagedMembership {
    UserId user;
    AccountId account;
    canopy::Membership m;
    Times times;
  };
  std::vector<StagedMembership> memberships_;
  // Owners by account key: the reference and the entities it owns
  // directly, by kind.
  struct OwnerInfo {
    AccountRef ref;
    int64_t direct[5];
  };
  std::unordered_map<std::string, OwnerInfo, StringHash, std::equal_to<>> owners_;
  // Groups: staged ones in file order (and where each id is), names of
  // staged and looked-up stored ones, members (those of entities defined in
  // this file pending until every entity is staged) and grants.
  struct StagedGroupRecord {
    canopy::Group g;
    Times times;
  };
  std::deque<StagedGroupRecord> staged_groups_;
  std::unordered_map<GroupId, size_t> staged_index_;
  std::unordered_map<std::string, GroupId> group_names_;
  std::unordered_set<std::string> member_names_;
  struct StagedGroupMember {
    storage::GroupMemberRecord m;
    Times times;
  };
  std::vector<StagedGroupMember> group_members_;
  struct PendingMember {
    GroupId group;
    std::string key;      // the entity's key (of the group's kind)
    std::string account;  // the group's owner's key, for messages
    uint64_t line_no;
    Times times;
  };
  std::vector<PendingMember> pending_;
  struct StagedGroupGrant {
    GroupGrant g;
    Times times;
  };
  std::vector<StagedGroupGrant> group_grants_;
  std::set<std::tuple<uint64_t, uint64_t, uint64_t>> staged_grants_;
};

Status Importer::ResolveMembers(const ExternalSorter& staged, uint64_t* line) {
  *line = 0;
  if (pending_.empty()) return Status::Ok();
  struct Key {
    std::string key;  // storage::EntityKeyKey
    size_t index;     // into pending_
  };
  std::vector<Key> keys;
  keys.reserve(pending_.size());
  for (size_t i = 0; i < pending_.size(); ++i) {
    const auto kind = static_cast<uint8_t>(*GroupEntityKind(KindOf(pending_[i].group)));
    keys.push_back({storage::EntityKeyKey(kind, pending_[i].key), i});
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) { return a.key < b.key; });
  // One merged pass from the first key when many are pending; else a point
  // read per key.
  const bool scan = keys.size() > staged.size() / 64;
  std::unique_ptr<SortedCursor> cur;
  if (scan) cur = staged.Read(keys.front().key, "");
  for (const Key& k : keys) {
    const PendingMember& p = pending_[k.index];
    if (!scan) cur = staged.Read(k.key, k.key + std::string(1, '\0'));
    while (cur->Valid() && cur->key() < k.key) cur->Next();
    CANOPY_RETURN_IF_ERROR(cur->status());
    const std::string what = std::string(EntityKindName(*GroupEntityKind(KindOf(p.group)))) +
                             " '" + p.key + "'";
    uint64_t eid = 0, owner = 0;
    if (!cur->Valid() || cur->key() != k.key) {
      *line = p.line_no;
      return Status::NotFound(what + " is not an entity defined in the file or in the database");
    }
    std::string_view v = cur->value();
    if (v.size() < 8 || !storage::DecodeEntityKeyValue(v.substr(0, v.size() - 8), &eid, &owner)) {
      return Status::Internal("import: a staged entity key lost its value");
    }
    if (owner != OwnerOf(p.group)) {
      *line = p.line_no;
      return Status::FailedPrecondition(what + " is not owned by account '" + p.account +
                                        "', the group's owner");
    }
    storage::GroupMemberRecord m;
    m.group = p.group;
    m.member = eid;
    m.kind = KindOf(p.group);
    group_members_.push_back({m, p.times});
  }
  pending_.clear();
  return Status::Ok();
}

Status Importer::Finish(int64_t now) {
  for (StagedAccount& a : accounts_) {
    a.times.Resolve(now, &a.record.account.created_us, &a.record.account.updated_us);
    storage::WriteAccount(*out_, nullptr, &a.record);
  }
  for (const auto& [id, next] : existing_ordinals_) {
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(store_.Get(storage::kAccounts, storage::IdKey(id), &bytes));
    storage::AccountRecord before;
    CANOPY_RETURN_IF_ERROR(storage::DecodeAccount(bytes, &before));
    storage::AccountRecord after = before;
    after.next_child_ordinal = next;
    storage::WriteAccount(*out_, &before, &after);
  }
  for (size_t i = 0; i < users_.size(); ++i) {
    canopy::User& u = users_[i];
    user_times_[i].Resolve(now, &u.created_us, &u.updated_us);
    storage::WriteUser(*out_, nullptr, &u);
  }
  for (StagedMembership& s : memberships_) {
    s.times.Resolve(now, &s.m.created_us);
    s.m.user = s.user;
    s.m.account = s.account;
    storage::WriteMembership(*out_, nullptr, &s.m);
  }
  // Groups: members first (they size the groups), then the groups, the
  // stored ones that gained members, and the grants.
  std::map<GroupId, uint64_t> added;
  for (StagedGroupMember& s : group_members_) {
    s.times.Resolve(now, &s.m.created_us);
    storage::WriteGroupMember(*out_, nullptr, &s.m);
    added[s.m.group]++;
  }
  // Overlap (the members another entity group also holds), by the rule
  // AddGroupMembers applies: an entity member staged here that ends up in
  // two or more entity groups counts in each staged group holding it, and
  // in the one stored group that held it alone before.
  std::map<GroupId, uint64_t> overlap_added;
  std::map<uint64_t, uint64_t> staged_in;  // entity member -> staged links
  for (const StagedGroupMember& s : group_members_) {
    if (storage::MemberClassOf(static_cast<uint8_t>(s.m.kind)) == storage::kMemberEntity) {
      staged_in[s.m.member]++;
    }
  }
  std::map<uint64_t, uint64_t> links;  // entity member -> its entity groups after the import
  for (const auto& [member, n] : staged_in) {
    std::vector<GroupId> stored;
    if (member <= c_.last_entity_id) {  // it existed before: its stored links
      auto it = store_.NewIterator(storage::kGroups, nullptr,
                                   storage::MemberGroupsPrefix(storage::kMemberEntity, member),
                                   storage::MemberGroupsPrefix(storage::kMemberEntity, member + 1));
      for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
        rocksdb::Slice k = (*it)->key();
        if (k.size() < 8) return Status::Corruption("a group member link is damaged");
        stored.push_back(storage::DecodeFixed64BE(k.data() + k.size() - 8));
      }
      CANOPY_RETURN_IF_ERROR(storage::FromRocks((*it)->status(), "import"));
    }
    links[member] = stored.size() + n;
    if (stored.size() == 1 && n >= 1) overlap_added[stored[0]]++;
  }
  for (const StagedGroupMember& s : group_members_) {
    auto l = links.find(s.m.member);
    if (l != links.end() && l->second >= 2 &&
        storage::MemberClassOf(static_cast<uint8_t>(s.m.kind)) == storage::kMemberEntity) {
      overlap_added[s.m.group]++;
    }
  }
  for (StagedGroupRecord& s : staged_groups_) {
    s.times.Resolve(now, &s.g.created_us, &s.g.updated_us);
    auto n = added.find(s.g.id);
    s.g.size = n != added.end() ? n->second : 0;
    auto o = overlap_added.find(s.g.id);
    s.g.overlap = o != overlap_added.end() ? o->second : 0;
    storage::WriteGroup(*out_, nullptr, &s.g);
  }
  std::set<GroupId> changed;
  for (const auto& [gid, n] : added) changed.insert(gid);
  for (const auto& [gid, n] : overlap_added) changed.insert(gid);
  for (GroupId gid : changed) {
    if (StagedGroup(gid)) continue;
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(store_.Get(storage::kGroups, storage::GroupKey(gid), &bytes));
    canopy::Group before;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroup(bytes, &before));
    canopy::Group after = before;
    if (auto n = added.find(gid); n != added.end()) after.size += n->second;
    if (auto o = overlap_added.find(gid); o != overlap_added.end()) after.overlap += o->second;
    Touch(&after, now);
    storage::WriteGroup(*out_, &before, &after);
  }
  for (StagedGroupGrant& s : group_grants_) {
    s.times.Resolve(now, &s.g.created_us);
    storage::WriteGroupGrant(*out_, nullptr, &s.g);
  }
  if (next_group_ != c_.last_group_id) storage::WriteMeta64(*out_, storage::kSeqGroup, next_group_);
  // Counters: direct, plus subtree along every ancestor.
  auto parent_of = [&](AccountId id) -> AccountId {
    if (id >= first_account_id()) return accounts_[id - first_account_id()].parent;
    return c_.account(id)->parent;
  };
  std::map<std::pair<AccountId, uint8_t>, int64_t> direct, subtree;
  for (const auto& [key, owner] : owners_) {
    for (EntityKind kind : kAllEntityKinds) {
      const auto k = static_cast<uint8_t>(kind);
      if (owner.direct[k] > 0) direct[{owner.ref.id, k}] = owner.direct[k];
    }
  }
  for (const auto& [key, n] : direct) {
    for (AccountId a = key.first; a != kNoId; a = parent_of(a)) subtree[{a, key.second}] += n;
  }
  for (const auto& [key, n] : direct) storage::WriteCount(*out_, key.first, key.second, n);
  for (const auto& [key, n] : subtree) {
    storage::WriteCount(*out_, key.first, key.second | storage::kCounterSubtreeBit, n);
  }
  storage::WriteMeta64(*out_, storage::kSeqAccount, next_account_);
  storage::WriteMeta64(*out_, storage::kSeqUser, next_user_);
  storage::WriteMeta64(*out_, storage::kSeqEntity, next_entity_);
  storage::WriteMeta64(*out_, storage::kSeqRole, next_role_);
  storage::WriteMeta64(*out_, storage::kSeqRootOrdinal, next_root_ordinal_);
  return Status::Ok();
}

// The kinds of work an import does, for the trace's CPU time per kind.
enum class Work { kRead, kParse, kSequence, kEncode, kCommit, kEntityFiles, kSpill, kKeySpaceFiles,
                  kFinish, kCount };
constexpr const char* kWorkNames[] = {"read",        "parse", "sequence", "encode",
                                      "commit",      "entity files", "spill", "key space files",
                                      "finish"};

int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// What the import's tasks share with the thread that waits for them: one
// mutex and condition for every hand-over (batch stages, files written,
// spills), and the first failure.
struct PipelineSync {
  std::mutex mu;
  std::condition_variable cv;
  Status failure;                      // guarded by mu
  std::atomic<bool> cancelled{false};  // set on failure: queued tasks skip their work
  bool timed = false;                  // CPU time per kind of work (the trace)
  std::atomic<int64_t> cpu_nanos[static_cast<int>(Work::kCount)] = {};

  void Fail(Status s) {
    {
      std::lock_guard<std::mutex> l(mu);
      if (failure.ok()) failure = std::move(s);
    }
    cancelled = true;
    cv.notify_all();
  }
  Status failed() {
    std::lock_guard<std::mutex> l(mu);
    return failure;
  }
  // Runs fn on the calling thread, counting its CPU time as `work`.
  template <typename Fn>
  auto Timed(Work work, Fn&& fn) {
    struct Clock {
      PipelineSync* s;
      Work w;
      int64_t start;
      ~Clock() {
        if (s->timed) s->cpu_nanos[static_cast<int>(w)] += ThreadCpuNanos() - start;
      }
    } clock{this, work, timed ? ThreadCpuNanos() : 0};
    return fn();
  }
  std::string CpuTimes() const {
    std::string out;
    for (int i = 0; i < static_cast<int>(Work::kCount); ++i) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%s%s %.3f s", out.empty() ? "" : ", ", kWorkNames[i],
                    static_cast<double>(cpu_nanos[i].load()) / 1e9);
      out += buf;
    }
    return out;
  }
  // Runs fn as a pool task: a failure or exception is recorded, and the
  // waiting thread woken either way. `urgent` tasks go before the queued
  // ones.
  void Submit(TaskPool& pool, Work work, std::function<Status()> fn, bool urgent = false) {
    pool.Submit([this, work, fn = std::move(fn)] {
      if (!cancelled) {
        Status s;
        try {
          s = Timed(work, fn);
        } catch (const std::exception& e) {
          s = Status::Internal(std::string("import failed: ") + e.what());
        }
        if (!s.ok()) Fail(std::move(s));
      }
      std::lock_guard<std::mutex> l(mu);
      cv.notify_all();
    }, urgent);
  }
  // Waits until `ready` (checked under the mutex) or a failure.
  template <typename Ready>
  Status WaitFor(Ready ready) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return !failure.ok() || ready(); });
    return failure;
  }
};

// A duplicate entity key or unit id found when merging (the first in key
// order of its SST file's range).
struct Duplicate {
  std::string key;
  uint64_t first_line = 0, second_line = 0;
};

// The import's output (stage 5 and the end): the key spaces as sorted
// pieces in ExternalSorters, the entity records as SST files written on
// the pool, the change log's copy of the input streamed to its own file,
// and at the end the SST files of every key space (or one write batch for
// a small import). As a KvSink it takes the pairs of everything but the
// entities (accounts, users, roles, counters, the log entry).
class ImportOutput final : public storage::KvSink {
 public:
  ImportOutput(const storage::Store& store, ScratchDir* scratch, TaskPool* pool,
               PipelineSync* sync, BufferPool* buffers, const ImportLimits& limits)
      : store_(store), scratch_(scratch), pool_(pool), sync_(sync), buffers_(buffers),
        limits_(limits) {
    for (int cf = 0; cf < storage::kNumCfs; ++cf) {
      sorters_[cf] = std::make_unique<ExternalSorter>([this, cf](std::string* path) {
        return scratch_->NewFile(std::string(storage::CfName(cf)) + ".run", path);
      });
    }
  }

  // KvSink: staged per key space, handed on in sorted pieces.
  void Put(int cf, std::string_view key, std::string_view value) override {
    if (cf == storage::kEntities || cf == storage::kEntityKeys || cf == storage::kUnitIds ||
        cf == storage::kVisibility) {
      return Fail(Status::Internal("import: entity keys staged out of order"));
    }
    Stage(cf, key, value);
  }
  void Merge(int cf, std::string_view key, std::string_view value) override {
    if (cf != storage::kCounters) return Fail(Status::Internal("import: unexpected merge operand"));
    Stage(cf, key, value);  // the counters' key space holds merge operands only
  }
  // An import only adds: nothing is deleted.
  void Delete(int, std::string_view) override {
    Fail(Status::Internal("import staging cannot delete keys"));
  }
  Status status() const { return status_; }

  // The change log's copy of the input, chunk by chunk in order: staged
  // while it is one chunk, then streamed to its own SST file (written on a
  // background thread while the import goes on).
  Status LogChunk(uint64_t revision, uint32_t chunk, std::string_view bytes) {
    if (log_stream_ == nullptr && chunk > 0) {
      std::string path;
      CANOPY_RETURN_IF_ERROR(
          scratch_->File(std::string(storage::CfName(storage::kChanges)) + "-input.sst", &path));
      log_stream_ = std::make_unique<SstStream>(store_, storage::kChanges, std::move(path));
      for (size_t i = 0; i < log_staged_.size(); ++i) {
        log_stream_->Add(log_staged_.key(i), log_staged_.value(i));
      }
      log_staged_ = KvBuffer();
    }
    if (log_stream_ != nullptr) {
      log_stream_->Add(storage::LogChunkKey(revision, chunk), bytes);
    } else {
      log_staged_.Add(storage::LogChunkKey(revision, chunk), bytes);
    }
    return Status::Ok();
  }

  // A batch's output, in file order (the calling thread).
  Status Commit(Batch& b) {
    if (!b.records.empty()) {
      entity_records_ += b.records.size();
      group_bytes_ += b.records.bytes();
      group_records_ += b.records.size();
      group_.push_back(std::move(b.records));
      const bool full = limits_.entity_file_records > 0
                            ? group_records_ >= limits_.entity_file_records
                            : group_bytes_ >= limits_.entity_file_bytes;
      if (full) CANOPY_RETURN_IF_ERROR(WriteEntityFile());
    }
    CANOPY_RETURN_IF_ERROR(AddPiece(storage::kEntityKeys, std::move(b.keys)));
    CANOPY_RETURN_IF_ERROR(AddPiece(storage::kUnitIds, std::move(b.units)));
    return AddPiece(storage::kVisibility, std::move(b.visibility));
  }

  // What is staged for key space `cf` (read once every batch is committed).
  const ExternalSorter& sorter(int cf) const { return *sorters_[cf]; }

  // Pairs staged so far.
  uint64_t total() const {
    uint64_t n = entity_records_ + log_staged_.size() + (log_stream_ ? log_stream_->size() : 0);
    for (int cf = 0; cf < storage::kNumCfs; ++cf) n += sorters_[cf]->size() + staged_[cf].size();
    return n;
  }
  // Whether the import goes through one write batch: small, and nothing
  // written to files yet.
  bool UseBatch() const {
    return total() <= kBatchLimit && entity_files_.empty() && log_stream_ == nullptr && !spilled_;
  }

  // Starts writing the SST files of the entity index key spaces and the
  // last entity records (the bulk of a large import) while the calling
  // thread stages the rest. Only once UseBatch() can no longer become true.
  Status StartEntityFiles() {
    if (UseBatch()) return Status::Ok();
    if (!group_.empty()) CANOPY_RETURN_IF_ERROR(WriteEntityFile());
    for (int cf : {storage::kVisibility, storage::kEntityKeys, storage::kUnitIds}) {
      CANOPY_RETURN_IF_ERROR(WriteKeySpace(cf));
    }
    return Status::Ok();
  }

  // Writes the SST files of every key space not written yet, waits for all
  // of them, and returns the ingestion arguments; or, when an entity key
  // or unit id appears twice, *duplicate names it (nothing is ingested).
  // `go_on` is asked as the workers start to merge and write, then about
  // every 100 ms until they are done (the longest wait of a large import
  // after its last line): false stops them, and the import is Aborted.
  Status WriteFiles(std::vector<rocksdb::IngestExternalFileArg>* args, std::string* duplicate,
                    const std::function<bool()>& go_on) {
    if (!group_.empty()) CANOPY_RETURN_IF_ERROR(WriteEntityFile());
    FlushStaged();
    for (int cf = 0; cf < storage::kNumCfs; ++cf) CANOPY_RETURN_IF_ERROR(WriteKeySpace(cf));
    Status streamed = log_stream_ != nullptr ? log_stream_->Finish() : Status::Ok();
    do {
      if (!go_on()) {
        sync_->cancelled = true;  // queued and running merges stop early
        pool_->Wait();
        return Status::Aborted("import cancelled while writing its files; nothing was imported");
      }
    } while (!pool_->WaitFor(std::chrono::milliseconds(100)));
    CANOPY_RETURN_IF_ERROR(sync_->failed());
    CANOPY_RETURN_IF_ERROR(streamed);
    if (FirstDuplicate(duplicate)) return Status::Ok();
    for (int cf = 0; cf < storage::kNumCfs; ++cf) {
      rocksdb::IngestExternalFileArg arg;
      arg.column_family = store_.cf(cf);
      arg.options.move_files = true;
      if (cf == storage::kEntities) arg.external_files = entity_files_;
      for (const Part& p : parts_[cf]) {
        if (p.pairs > 0) arg.external_files.push_back(p.path);
      }
      // The input's chunks sort after the log entry (same revision, longer
      // keys): the stream's file does not overlap the entry's.
      if (cf == storage::kChanges && log_stream_ != nullptr) {
        arg.external_files.push_back(log_stream_->path());
      }
      if (!arg.external_files.empty()) args->push_back(std::move(arg));
    }
    return Status::Ok();
  }

  // The small import's path: every pair into `batch`; or *duplicate.
  Status FillBatch(storage::BatchSink* sink, std::string* duplicate) {
    FlushStaged();
    for (const KvBuffer& kv : group_) {
      for (size_t i = 0; i < kv.size(); ++i) sink->Put(storage::kEntities, kv.key(i), kv.value(i));
    }
    for (int cf = 0; cf < storage::kNumCfs; ++cf) {
      parts_[cf].emplace_back();
      Part& p = parts_[cf].back();
      CANOPY_RETURN_IF_ERROR(Drain(cf, *sorters_[cf]->Read("", ""), &p,
                                   [&](std::string_view k, std::string_view v) {
        if (cf == storage::kCounters) {
          sink->Merge(cf, k, v);
        } else {
          sink->Put(cf, k, v);
        }
        return rocksdb::Status::OK();
      }));
    }
    FirstDuplicate(duplicate);
    return Status::Ok();
  }

  // Frees the pairs held in memory (once written: Describe still works).
  void Release() {
    for (auto& sorter : sorters_) sorter->Release();
    for (KvBuffer& kv : staged_) kv = KvBuffer();
    group_.clear();
    log_staged_ = KvBuffer();
  }

  // For the trace: pairs, runs, files and their bytes per key space.
  std::string Describe() const {
    std::string s;
    for (int cf = 0; cf < storage::kNumCfs; ++cf) {
      std::vector<std::string> files;
      if (cf == storage::kEntities) files = entity_files_;
      for (const Part& p : parts_[cf]) {
        if (p.pairs > 0 && !p.path.empty()) files.push_back(p.path);
      }
      if (cf == storage::kChanges && log_stream_ != nullptr) files.push_back(log_stream_->path());
      if (sorters_[cf]->size() == 0 && files.empty()) continue;
      uint64_t bytes = 0;
      for (const std::string& f : files) {
        std::error_code ec;
        const auto n = std::filesystem::file_size(f, ec);
        if (!ec) bytes += n;
      }
      char line[200];
      std::snprintf(line, sizeof(line), "%s%s: %llu pairs, %zu runs, %zu files of %.1f MB",
                    s.empty() ? "" : "; ", storage::CfName(cf),
                    static_cast<unsigned long long>(cf == storage::kEntities ? entity_records_
                                                                              : sorters_[cf]->size()),
                    sorters_[cf]->runs(), files.size(), static_cast<double>(bytes) / 1e6);
      s += line;
    }
    return s;
  }

 private:
  // One SST file of a key space's range [begin, end), or one range drained
  // into a write batch.
  struct Part {
    std::string begin, end, path;
    uint64_t pairs = 0;
    bool duplicate = false;
    Duplicate dup;
  };

  void Fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

  void Stage(int cf, std::string_view key, std::string_view value) {
    KvBuffer& kv = staged_[cf];
    kv.Add(key, value);
    const bool full = limits_.sort_records > 0 ? kv.size() >= limits_.sort_records
                                               : kv.bytes() >= (size_t{4} << 20);
    if (full) {
      kv.Sort();
      Status s = AddPiece(cf, std::move(kv));
      kv = KvBuffer();
      if (!s.ok()) Fail(s);
    }
  }
  void FlushStaged() {
    // A one-chunk input's copy joins the log entry's key space.
    for (size_t i = 0; i < log_staged_.size(); ++i) {
      Stage(storage::kChanges, log_staged_.key(i), log_staged_.value(i));
    }
    log_staged_ = KvBuffer();
    for (int cf = 0; cf < storage::kNumCfs; ++cf) {
      if (staged_[cf].empty()) continue;
      staged_[cf].Sort();
      Status s = AddPiece(cf, std::move(staged_[cf]));
      staged_[cf] = KvBuffer();
      if (!s.ok()) Fail(s);
    }
  }

  // Hands a sorted piece to its key space's sorter, then spills what the
  // memory budget asks for (the calling thread waits when spilling falls
  // far behind).
  Status AddPiece(int cf, KvBuffer piece) {
    if (piece.empty()) return Status::Ok();
    sorters_[cf]->Add(std::move(piece));
    if (limits_.sort_records > 0) {
      // Tests: every key space spills past N pairs in memory.
      if (sorters_[cf]->memory_pairs() >= limits_.sort_records) {
        CANOPY_RETURN_IF_ERROR(sync_->WaitFor([&] { return !spilling_[cf]; }));
        Spill(cf);
      }
      return Status::Ok();
    }
    while (true) {
      size_t memory = 0, largest = 0;
      int pick = -1;
      for (int c = 0; c < storage::kNumCfs; ++c) {
        const size_t m = sorters_[c]->memory();
        memory += m;
        bool busy;
        {
          std::lock_guard<std::mutex> l(sync_->mu);
          busy = spilling_[c];
        }
        if (!busy && m > largest) largest = m, pick = c;
      }
      if (memory <= limits_.sort_memory) return Status::Ok();
      if (pick >= 0 && largest >= limits_.sort_memory / 16) {
        Spill(pick);
        continue;
      }
      if (memory <= limits_.sort_memory + limits_.sort_memory / 2) return Status::Ok();
      // Spills are behind: wait for one to finish.
      CANOPY_RETURN_IF_ERROR(sync_->WaitFor([&] {
        for (bool s : spilling_) {
          if (s) return false;
        }
        return true;
      }));
    }
  }

  void Spill(int cf) {
    {
      std::lock_guard<std::mutex> l(sync_->mu);
      spilling_[cf] = true;
    }
    spilled_ = true;
    ExternalSorter* sorter = sorters_[cf].get();
    sync_->Submit(*pool_, Work::kSpill, [this, sorter, cf] {
      Status s = sorter->Spill();
      std::lock_guard<std::mutex> l(sync_->mu);
      spilling_[cf] = false;
      return s;
    });
  }

  // Writes the entity records gathered since the last file to a new SST
  // file on the pool (their ids grow, so the files do not overlap); the
  // calling thread waits while too many are being written.
  Status WriteEntityFile() {
    CANOPY_RETURN_IF_ERROR(sync_->WaitFor(
        [&] { return entity_files_writing_ < limits_.entity_files_in_flight; }));
    std::string path;
    CANOPY_RETURN_IF_ERROR(scratch_->File(std::string(storage::CfName(storage::kEntities)) + "-" +
                                              std::to_string(entity_files_.size()) + ".sst",
                                          &path));
    entity_files_.push_back(path);
    auto group = std::make_shared<std::vector<KvBuffer>>(std::move(group_));
    group_.clear();
    group_bytes_ = group_records_ = 0;
    {
      std::lock_guard<std::mutex> l(sync_->mu);
      ++entity_files_writing_;
    }
    sync_->Submit(*pool_, Work::kEntityFiles, [this, group, path] {
      std::unique_ptr<rocksdb::SstFileWriter> w = NewSstWriter(store_, storage::kEntities);
      rocksdb::Status s = w->Open(path);
      for (const KvBuffer& kv : *group) {
        if (s.ok()) s = AddAll(*w, kv, /*merge=*/false);
      }
      if (s.ok()) s = w->Finish();
      for (KvBuffer& kv : *group) buffers_->Put(std::move(kv));
      group->clear();
      std::lock_guard<std::mutex> l(sync_->mu);
      --entity_files_writing_;
      return storage::FromRocks(s, "import: write entities file");
    });
    return Status::Ok();
  }

  // Writes key space `cf` (everything staged for it) as SST files of
  // adjacent ranges on the pool, once.
  Status WriteKeySpace(int cf) {
    if (written_[cf]) return Status::Ok();
    written_[cf] = true;
    ExternalSorter& sorter = *sorters_[cf];
    if (sorter.size() == 0) return Status::Ok();
    CANOPY_RETURN_IF_ERROR(sync_->WaitFor([&] { return !spilling_[cf]; }));
    size_t parts;
    if (limits_.part_records > 0) {
      parts = static_cast<size_t>((sorter.size() + limits_.part_records - 1) / limits_.part_records);
    } else {
      const uint64_t target = std::clamp<uint64_t>(sorter.bytes() / 4, limits_.part_bytes_min,
                                                   limits_.part_bytes_max);
      parts = static_cast<size_t>((sorter.bytes() + target - 1) / target);
    }
    std::vector<std::string> cuts = sorter.Splitters(parts);
    const size_t first = parts_[cf].size();
    for (size_t i = 0; i <= cuts.size(); ++i) {
      Part p;
      p.begin = i == 0 ? std::string() : cuts[i - 1];
      p.end = i == cuts.size() ? std::string() : cuts[i];
      CANOPY_RETURN_IF_ERROR(
          scratch_->File(std::string(storage::CfName(cf)) + "-" + std::to_string(i) + ".sst", &p.path));
      parts_[cf].push_back(std::move(p));
    }
    for (size_t i = first; i < parts_[cf].size(); ++i) {
      Part* p = &parts_[cf][i];  // parts_[cf] does not grow any more
      sync_->Submit(*pool_, Work::kKeySpaceFiles, [this, cf, p, &sorter] {
        std::unique_ptr<rocksdb::SstFileWriter> w = NewSstWriter(store_, cf);
        bool opened = false;
        const bool merge = cf == storage::kCounters;
        Status s = Drain(cf, *sorter.Read(p->begin, p->end), p,
                         [&](std::string_view k, std::string_view v) {
                           if (!opened) {
                             opened = true;
                             rocksdb::Status o = w->Open(p->path);
                             if (!o.ok()) return o;
                           }
                           const rocksdb::Slice ks(k.data(), k.size()), vs(v.data(), v.size());
                           return merge ? w->Merge(ks, vs) : w->Put(ks, vs);
                         });
        if (s.ok() && opened && !p->duplicate) {
          s = storage::FromRocks(w->Finish(), std::string("import: write ") +
                                                  storage::CfName(cf) + " file");
        }
        return s;
      });
    }
    return Status::Ok();
  }

  // Feeds a range's pairs to `add` (key, value without the line tag),
  // stopping at the first duplicate of an entity key or unit id.
  template <typename Add>
  Status Drain(int cf, SortedCursor& cur, Part* p, Add add) {
    const bool tagged = cf == storage::kEntityKeys || cf == storage::kUnitIds;
    std::string prev;
    uint64_t prev_line = 0;
    for (; cur.Valid(); cur.Next()) {
      if (sync_->cancelled) return Status::Ok();
      std::string_view k = cur.key(), v = cur.value();
      if (tagged) {
        if (v.size() < 8) return Status::Internal("import: an index pair lost its line");
        const uint64_t line = storage::DecodeFixed64BE(v.data() + v.size() - 8);
        v.remove_suffix(8);
        if (p->pairs > 0 && k == prev) {
          p->duplicate = true;
          p->dup = {std::string(k), prev_line, line};
          return Status::Ok();
        }
        prev.assign(k);
        prev_line = line;
      }
      rocksdb::Status s = add(k, v);
      if (!s.ok()) {
        return storage::FromRocks(s, std::string("import: write ") + storage::CfName(cf) + " file");
      }
      ++p->pairs;
    }
    return cur.status();
  }

  // The message of the first duplicate in key order (entity keys before
  // unit ids), naming the later line (the offending one) and the earlier.
  bool FirstDuplicate(std::string* out) const {
    for (int cf : {storage::kEntityKeys, storage::kUnitIds}) {
      for (const Part& p : parts_[cf]) {
        if (!p.duplicate) continue;
        std::string what;
        if (cf == storage::kEntityKeys) {
          const auto kind = static_cast<EntityKind>(static_cast<uint8_t>(p.dup.key[0]));
          what = std::string(EntityKindName(kind)) + " '" + p.dup.key.substr(1) + "'";
        } else {
          what = "unit id '" + p.dup.key + "'";
        }
        const uint64_t a = p.dup.first_line, b = p.dup.second_line;
        *out = "line " + std::to_string(std::max(a, b)) + ": " + what +
               " appears twice (also on line " + std::to_string(std::min(a, b)) + ")";
        return true;
      }
    }
    return false;
  }

  const storage::Store& store_;
  ScratchDir* scratch_;
  TaskPool* pool_;
  PipelineSync* sync_;
  BufferPool* buffers_;
  const ImportLimits limits_;
  Status status_;  // of the sink

  std::unique_ptr<ExternalSorter> sorters_[storage::kNumCfs];
  KvBuffer staged_[storage::kNumCfs];      // the sink's pairs not yet in a piece
  bool spilling_[storage::kNumCfs] = {};  // guarded by sync_->mu
  bool spilled_ = false;
  bool written_[storage::kNumCfs] = {};
  std::deque<Part> parts_[storage::kNumCfs];  // a deque: tasks hold pointers

  std::vector<KvBuffer> group_;  // entity records not yet in a file
  size_t group_bytes_ = 0, group_records_ = 0;
  uint64_t entity_records_ = 0;
  std::vector<std::string> entity_files_;
  size_t entity_files_writing_ = 0;  // guarded by sync_->mu

  KvBuffer log_staged_;
  std::unique_ptr<SstStream> log_stream_;
};

}  // namespace

Status DbImpl::NothingImported(Status s, uint64_t revision_before) const {
  // Every refusal of an import's file says that it changed nothing, as the
  // refusals of its lines do (a failed read or write of its files, too),
  // unless the import got as far as its commit (a failed sync after it).
  static constexpr std::string_view kNothing = "nothing was imported";
  if (s.ok() || revision_.load() != revision_before ||
      s.message().find(kNothing) != std::string::npos) {
    return s;
  }
  return Status(s.code(), s.message() + "; " + std::string(kNothing));
}

Status DbImpl::Import(const Actor& actor, std::string_view path, const ImportOptions& options_in,
                      ImportReport* report) {
  ImportReport local;
  ImportReport* rep = report != nullptr ? report : &local;
  *rep = ImportReport();
  if (path.empty()) return Status::InvalidArgument("import file path is empty");
  std::shared_lock<std::shared_mutex> open;
  CANOPY_RETURN_IF_ERROR(HoldOpen(&open));
  CANOPY_RETURN_IF_ERROR(RefuseReentry("import"));
  ImportOptions options = options_in;
  options.progress = InCallback(options_in.progress, "import");
  WriteGuard w(write_mu_);
  CANOPY_RETURN_IF_ERROR(CheckChangeable("import"));
  if (!actor.is_system()) {
    return Status::PermissionDenied("import needs the system actor (it bypasses per-record rules)");
  }
  if (!log_) {
    storage::LogEntry entry;
    entry.time_us = NowMicros();
    entry.operation = "import";
    // (Read before the call: the order of a call's arguments is not fixed.)
    const uint64_t before = revision_.load();
    return NothingImported(ImportFile(path, options, rep, &entry, /*replayed=*/false, options.name),
                           before);
  }
  // A replica appends the import (with its input) to the log in etcd
  // before it applies it; losing that race to another replica means
  // importing again on the new state, so the input is read from a copy.
  const std::string shown = options.name.empty() ? std::string(path) : options.name;
  ScratchDir scratch(store_->path());
  std::string copy;
  CANOPY_RETURN_IF_ERROR(scratch.File("replica-import.jsonl", &copy));
  uint64_t input_bytes = 0;  // the import's entry carries it
  {
    // Copied as a stream (the input may be a pipe), up to the limit of one
    // replicated change.
    std::error_code ec;
    if (std::filesystem::is_directory(std::string(path), ec)) {
      return Status::InvalidArgument("import '" + shown +
                                     "' is a folder, not a JSON Lines file");
    }
    std::ifstream from{std::string(path), std::ios::binary};
    if (!from) return Status::NotFound("cannot open import file '" + shown + "'");
    std::ofstream to(copy, std::ios::binary);
    const uint64_t limit = log_->options().max_entry_bytes;
    uint64_t& size = input_bytes;
    std::vector<char> chunk(size_t{1} << 20);
    while (from && size + 4096 <= limit) {
      from.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      const auto got = static_cast<size_t>(from.gcount());
      to.write(chunk.data(), static_cast<std::streamsize>(got));
      size += got;
      if (got == 0) break;
    }
    to.close();
    if (from.bad() || !to) {
      return Status::IOError("cannot copy import file '" + shown + "' to '" + copy +
                             "': " + std::strerror(errno));
    }
    if (size + 4096 > limit) {
      return Status::InvalidArgument(
          "import '" + shown + "' has more than " + std::to_string(size) +
          " bytes; one replicated change carries at most " + std::to_string(limit) +
          " (split the file, or import into one database and start the replicas from its "
          "checkpoint); nothing was imported");
    }
  }
  WriteTries tries;
  tries.entry_bytes = input_bytes;
  tries.turn_waited_us = log_->TurnWaitedMicros();
  for (;; ++tries.attempt) {
    // The writes staged before it go first: an import reads the store.
    CANOPY_RETURN_IF_ERROR(SettleLocked());
    storage::LogEntry entry;
    entry.time_us = NowMicros();
    entry.operation = "import";
    import_conflict_ = false;
    *rep = ImportReport();
    const uint64_t before = revision_.load();
    Status s = NothingImported(ImportFile(copy, options, rep, &entry, /*replayed=*/false, shown),
                               before);
    if (!import_conflict_) {
      // Refused on a state behind etcd's? Then import again on the newest.
      bool caught_up = false;
      if (s.ok() || s.code() == Code::kUnavailable || s.code() == Code::kAborted ||
          !CatchUpIfBehind(&caught_up).ok() || !caught_up) {
        return s;
      }
    }
    const uint64_t claim = tries.turn_claim;
    CANOPY_RETURN_IF_ERROR(AfterLostRace(&tries));
    if (tries.turn_claim != claim) {
      // Just claimed the turn: built again on the newest state, with what
      // other replicas appended before the claim.
      bool caught_up = false;
      (void)CatchUpIfBehind(&caught_up);
    }
  }
}

Status DbImpl::ReplayImport(const storage::LogEntry& e, std::string_view input) {
  // The import runs again on its carried input, at its original time and
  // on the same state, so it assigns the same ids and writes the same keys.
  ScratchDir scratch(store_->path());
  std::string path;
  CANOPY_RETURN_IF_ERROR(scratch.File("replayed-import.jsonl", &path));
  {
    std::ofstream out(path, std::ios::binary);
    out.write(input.data(), static_cast<std::streamsize>(input.size()));
    out.close();
    if (!out) {
      return Status::IOError("cannot write '" + path + "' to replay an import: " +
                             std::strerror(errno));
    }
  }
  storage::LogEntry entry = e;
  ImportReport report;
  Status s = ImportFile(path, ImportOptions(), &report, &entry, /*replayed=*/true);
  if (!s.ok()) return s.WithContext("replaying the import of revision " + std::to_string(e.revision));
  return Status::Ok();
}

Status DbImpl::ImportFile(std::string_view path, const ImportOptions& options, ImportReport* rep,
                          storage::LogEntry* entry, bool replayed, std::string_view shown) {
  const std::string name(shown.empty() ? path : shown);
  // A regular file is read with its size known (for progress); a pipe, a
  // FIFO or a device is streamed (size unknown: progress reports 0); a
  // folder is refused.
  std::error_code fs_error;
  const auto kind = std::filesystem::status(std::string(path), fs_error);
  if (!fs_error && std::filesystem::is_directory(kind)) {
    return Status::InvalidArgument("import '" + name + "' is a folder, not a JSON Lines file");
  }
  // A pipe, a FIFO or a device is read from a descriptor as its data
  // comes, waiting with poll: a cancel (the progress callback) is heard
  // while no input arrives, not only when more of it does.
  const bool streamed = fs_error || !std::filesystem::is_regular_file(kind);
  std::ifstream in;
  errno = 0;
  storage::Fd stream(streamed ? ::open(std::string(path).c_str(), O_RDONLY | O_CLOEXEC) : -1);
  if (!streamed) in.open(std::string(path), std::ios::binary);
  if (streamed ? stream.get() < 0 : !in) {
    const int err = errno;  // why: missing, not readable...
    return Status::NotFound("cannot open import file '" + name + "'" +
                            (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  }
  uint64_t total = 0;
  if (!streamed) {
    // A file that cannot seek (procfs, some FUSE files) is streamed: its
    // size stays unknown, and the stream must not stay failed by the try.
    in.seekg(0, std::ios::end);
    const std::streamoff end = in ? static_cast<std::streamoff>(in.tellg()) : -1;
    in.clear();
    in.seekg(0);
    in.clear();
    total = end > 0 ? static_cast<uint64_t>(end) : 0;
  }
  const std::string quoted = "import '" + name + "'";

  PhaseTrace trace;
  const ImportLimits limits = ImportLimits::FromEnvironment();
  try {
    ScratchDir scratch(store_->path());  // outlives everything writing into it
    PipelineSync sync;
    sync.timed = trace.on();
    // Two workers, or as many as there are cores up to four: the calling
    // thread reads and sequences, which is light.
    TaskPool pool(std::clamp(std::thread::hardware_concurrency(), 2u, 4u));
    BufferPool buffers((limits.entity_files_in_flight + 1) * limits.entity_file_bytes);
    ImportOutput out(*store_, &scratch, &pool, &sync, &buffers, limits);
    auto importer = std::make_unique<Importer>(cat(), *store_, rep, &out, replayed);
    Importer& im = *importer;
    std::deque<std::unique_ptr<Batch>> batches;  // in file order, not yet committed
    std::vector<std::unique_ptr<Batch>> spare_batches;
    // Whatever happens, the pool's tasks end before what they use goes
    // (skipping their work once the import has failed).
    struct StopTasks {
      PipelineSync& sync;
      TaskPool& pool;
      ~StopTasks() {
        sync.cancelled = true;
        pool.Wait();
      }
    } stop_tasks{sync, pool};

    // The change log carries the import's input (so a follower replays it),
    // staged chunk by chunk as the file is read.
    const uint64_t rev = revision_.load() + 1;
    constexpr size_t kLogChunk = size_t{4} << 20;
    std::string chunk;  // the part of a chunk not yet handed on
    uint32_t chunks = 0;
    uint64_t input_bytes = 0;
    Status carried;
    XXH3_state_t* input_hash = XXH3_createState();
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> input_hash_owner(input_hash,
                                                                            XXH3_freeState);
    XXH3_64bits_reset(input_hash);
    // A replica appends the input with the entry to the log in etcd.
    const bool to_etcd = log_ != nullptr && !replayed;
    std::string etcd_input;
    auto carry = [&](const char* data, size_t n) {
      if (to_etcd) etcd_input.append(data, n);
      XXH3_64bits_update(input_hash, data, n);
      input_bytes += n;
      while (n > 0 && carried.ok()) {
        const size_t take = std::min(n, kLogChunk - chunk.size());
        if (chunk.empty() && take == kLogChunk) {
          carried = out.LogChunk(rev, chunks++, std::string_view(data, take));  // no copy
        } else {
          chunk.append(data, take);
          if (chunk.size() == kLogChunk) {
            carried = out.LogChunk(rev, chunks++, chunk);
            chunk.clear();
          }
        }
        data += take;
        n -= take;
      }
    };
    // The end line's checksum covers every byte before it.
    XXH3_state_t* hash = XXH3_createState();
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> hash_owner(hash, XXH3_freeState);
    XXH3_64bits_reset(hash);

    // Stage 1: reads the next batch of whole lines (the last line may lack
    // its newline). With batch_lines, at most that many lines.
    std::string rest;  // bytes read after the last batch's end
    bool eof = false;
    uint64_t offset = 0;
    auto count_lines = [&](std::string_view s, size_t limit, size_t* cut) {
      size_t n = 0, pos = 0;
      *cut = 0;
      while (n < limit) {
        const size_t nl = s.find('\n', pos);
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
        *cut = pos;
        ++n;
      }
      return n;
    };
    // Up to `want` bytes: as many as a regular file has, as many as have
    // come from a stream (at least one; 0 only at its end).
    auto read_some = [&](char* to, size_t want, size_t* got) -> Status {
      *got = 0;
      if (!streamed) {
        in.read(to, static_cast<std::streamsize>(want));
        *got = static_cast<size_t>(in.gcount());
        if (in.bad()) return Status::IOError("cannot read import file '" + name + "'");
        return Status::Ok();
      }
      for (;;) {
        pollfd p{stream.get(), POLLIN, 0};
        const int ready = ::poll(&p, 1, 200);
        if (ready == 0 || (ready < 0 && errno == EINTR)) {
          if (options.progress && !options.progress(offset + rest.size(), 0)) {
            return Status::Aborted("import cancelled while waiting for input; nothing was "
                                   "imported");
          }
          continue;
        }
        const ssize_t n = ready < 0 ? -1 : ::read(stream.get(), to, want);
        if (n < 0) {
          if (errno == EINTR || errno == EAGAIN) continue;
          return Status::IOError("cannot read import file '" + name + "': " +
                                 std::strerror(errno));
        }
        *got = static_cast<size_t>(n);
        return Status::Ok();
      }
    };
    auto read_batch = [&](Batch* b) -> Status {
      b->text.assign(rest);
      rest.clear();
      b->offset = offset;
      size_t cut = 0;
      bool has_line = b->text.find('\n') != std::string::npos;
      // Reads grow from 64 KiB to the batch size, so that a small file
      // does not pay for a whole batch's buffer (resize zero-fills it).
      size_t step = std::min<size_t>(limits.batch_bytes, size_t{64} << 10);
      while (true) {
        const bool full =
            has_line && ((limits.batch_lines > 0 &&
                          count_lines(b->text, limits.batch_lines, &cut) >= limits.batch_lines) ||
                         b->text.size() >= limits.batch_bytes);
        if (full || eof) break;
        if (!has_line && b->text.size() > kMaxLineBytes) {
          // No newline within the cap (a runaway or binary input,
          // /dev/zero): stop before memory runs out.
          b->too_long = true;
          b->text.clear();
          return Status::Ok();
        }
        const size_t old = b->text.size();
        // Up to the batch size (past it only to finish a line).
        const size_t want =
            old < limits.batch_bytes ? std::min(step, limits.batch_bytes - old) : step;
        b->text.resize(old + want + simdjson::SIMDJSON_PADDING);
        size_t got = 0;
        const Status r = read_some(b->text.data() + old, want, &got);
        b->text.resize(old + got);
        CANOPY_RETURN_IF_ERROR(r);
        if (got > 0) carry(b->text.data() + old, got);
        if (got == 0) eof = true;
        has_line = has_line || std::memchr(b->text.data() + old, '\n', got) != nullptr;
        step = std::min<size_t>(limits.batch_bytes, step * 2);
      }
      if (limits.batch_lines > 0) {
        count_lines(b->text, limits.batch_lines, &cut);
      } else {
        const size_t nl = b->text.rfind('\n');
        cut = nl == std::string::npos ? 0 : nl + 1;
      }
      if (cut == 0) cut = b->text.size();  // at the end: the last line, without a newline
      rest.assign(b->text, cut, std::string::npos);
      b->text.resize(cut);
      b->text.reserve(cut + simdjson::SIMDJSON_PADDING);
      offset += cut;
      return Status::Ok();
    };

    // Stage 3: sequences a parsed batch (the calling thread, file order).
    uint64_t line_no = 0;
    auto too_long = [&](uint64_t at) {
      return Status::InvalidArgument(quoted + " line " + std::to_string(at) + " is longer than " +
                                     std::to_string(kMaxLineBytes >> 20) +
                                     " MiB (is it a JSON Lines file?); nothing was imported");
    };
    auto sequence = [&](Batch& b) -> Status {
      if (b.too_long) return too_long(line_no + 1);
      size_t hashed = 0;  // bytes of b.text in `hash`
      for (uint32_t i = 0; i < b.lines.size(); ++i) {
        const Batch::Line& line = b.lines[i];
        ++line_no;
        // The cap holds for every line, also one whose newline came in the
        // read that crossed it (without its line end: \n or \r\n); not
        // for a replayed import, whose input was accepted once (older
        // versions let such a line through) and is checked by its hash.
        if (line.size > kMaxLineBytes && !replayed) {
          size_t content = line.size;
          const char* end = b.text.data() + line.begin + line.size;
          if (content > 0 && end[-1] == '\n') --content, --end;
          if (content > 0 && end[-1] == '\r') --content;
          if (content > kMaxLineBytes) return too_long(line_no);
        }
        Status s;
        if (line.kind == Batch::kEntity) {
          s = im.ParsedEntity(b.entities[line.entity], line_no);
        } else if (line.kind == Batch::kOther) {
          std::string_view text(b.text.data() + line.begin, line.size);
          if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
          if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
          const bool was_end = im.ended();
          s = im.Line(text, &b, i, line_no);
          if (s.ok() && !was_end && im.ended()) {
            XXH3_64bits_update(hash, b.text.data() + hashed, line.begin - hashed);
            hashed = line.begin;
            if (Hex64(XXH3_64bits_digest(hash)) != im.end_checksum()) {
              return Status::InvalidArgument(quoted + " line " + std::to_string(line_no) +
                                             ": checksum mismatch (the file was altered or "
                                             "damaged); nothing was imported");
            }
          }
        }
        if (!s.ok()) {
          return Status(s.code() == Code::kCorruption || s.code() == Code::kIOError
                            ? s.code()
                            : Code::kInvalidArgument,
                        quoted + " line " + std::to_string(line_no) + ": " + s.message() +
                            "; nothing was imported");
        }
        // A file that grows while it is read (it is read to its end) has
        // read past its size at the start: the total is then what was read.
        const uint64_t bytes_read = b.offset + line.begin + line.size;
        if (line_no % kProgressEvery == 0 && options.progress &&
            !options.progress(bytes_read, total == 0 ? 0 : std::max<uint64_t>(total, bytes_read))) {
          return Status::Aborted("import cancelled at line " + std::to_string(line_no) +
                                 "; nothing was imported");
        }
      }
      if (!im.ended()) XXH3_64bits_update(hash, b.text.data() + hashed, b.text.size() - hashed);
      return out.status();
    };

    // The pipeline: the calling thread reads batches ahead (up to
    // batches_in_flight), sequences them as workers parse them and hands
    // their output on as workers encode them, all in file order.
    const int64_t now = entry->time_us;
    size_t sequenced = 0;  // batches[0, sequenced) are sequenced
    bool reading = true;
    auto stage_of = [&](const Batch& b) {
      std::lock_guard<std::mutex> l(sync.mu);
      return b.stage;
    };
    auto set_stage = [&](Batch* b, Batch::Stage stage) {
      std::lock_guard<std::mutex> l(sync.mu);
      b->stage = stage;
    };
    while (reading || !batches.empty()) {
      CANOPY_RETURN_IF_ERROR(sync.failed());
      CANOPY_RETURN_IF_ERROR(carried);
      bool moved = false;
      // Stage 5: the encoded batches at the front, in order.
      while (!batches.empty() && stage_of(*batches.front()) == Batch::kEncoded) {
        CANOPY_RETURN_IF_ERROR(sync.Timed(Work::kCommit, [&] { return out.Commit(*batches.front()); }));
        batches.front()->Reset();
        spare_batches.push_back(std::move(batches.front()));
        batches.pop_front();
        --sequenced;
        moved = true;
      }
      // Stage 3, then stage 4 on a worker (before any parsing queued).
      if (sequenced < batches.size() && stage_of(*batches[sequenced]) == Batch::kParsed) {
        Batch* b = batches[sequenced].get();
        CANOPY_RETURN_IF_ERROR(sync.Timed(Work::kSequence, [&] { return sequence(*b); }));
        set_stage(b, Batch::kSequenced);
        ++sequenced;
        sync.Submit(pool, Work::kEncode, [b, now, set_stage, &buffers] {
          EntityEncoder& e = ThreadEncoder();
          e.Encode(*b, now, &buffers);
          set_stage(b, Batch::kEncoded);
          return e.status();
        }, /*urgent=*/true);
        moved = true;
      }
      // Stage 1, then stage 2 on a worker.
      if (reading && batches.size() < limits.batches_in_flight) {
        std::unique_ptr<Batch> b;
        if (spare_batches.empty()) {
          b = std::make_unique<Batch>();
        } else {
          b = std::move(spare_batches.back());
          spare_batches.pop_back();
        }
        CANOPY_RETURN_IF_ERROR(sync.Timed(Work::kRead, [&] { return read_batch(b.get()); }));
        if (b->text.empty() && !b->too_long) {
          reading = false;  // the end of the input
        } else {
          if (b->too_long) reading = false;
          Batch* raw = b.get();
          batches.push_back(std::move(b));
          if (raw->too_long) {
            set_stage(raw, Batch::kParsed);  // nothing to parse; sequencing refuses it
          } else {
            sync.Submit(pool, Work::kParse, [raw, set_stage] {
              ThreadParser().Parse(*raw);
              set_stage(raw, Batch::kParsed);
              return Status::Ok();
            });
          }
        }
        moved = true;
      }
      if (!moved) {
        CANOPY_RETURN_IF_ERROR(sync.WaitFor([&] {
          return (!batches.empty() && batches.front()->stage == Batch::kEncoded) ||
                 (sequenced < batches.size() && batches[sequenced]->stage == Batch::kParsed);
        }));
      }
    }
    CANOPY_RETURN_IF_ERROR(carried);
    if (im.begun() && !im.ended()) {
      return Status::InvalidArgument(quoted + " ends at line " + std::to_string(line_no) +
                                     " without the end line its begin line promises (an export "
                                     "cut short?); nothing was imported");
    }
    rep->lines = line_no;
    // The batches and reusable buffers are done with: their memory goes
    // back before the key spaces are merged.
    spare_batches.clear();
    buffers.Clear();
    trace.Mark("parse");
    // The entity key spaces' files start while the rest is staged.
    CANOPY_RETURN_IF_ERROR(out.StartEntityFiles());
    {
      uint64_t bad_line = 0;
      Status resolved = sync.Timed(Work::kFinish, [&] {
        return im.ResolveMembers(out.sorter(storage::kEntityKeys), &bad_line);
      });
      if (!resolved.ok()) {
        if (bad_line == 0) return resolved;
        return Status(resolved.code() == Code::kCorruption || resolved.code() == Code::kIOError
                          ? resolved.code()
                          : Code::kInvalidArgument,
                      quoted + " line " + std::to_string(bad_line) + ": " + resolved.message() +
                          "; nothing was imported");
      }
    }
    CANOPY_RETURN_IF_ERROR(sync.Timed(Work::kFinish, [&] { return im.Finish(entry->time_us); }));
    importer.reset();  // what it staged is in `out` now
    // The log entry: one revision for the whole import, its input in
    // chunks beside it.
    if (!chunk.empty() && carried.ok()) carried = out.LogChunk(rev, chunks++, chunk);  // the rest
    CANOPY_RETURN_IF_ERROR(carried);
    const uint64_t input_digest = XXH3_64bits_digest(input_hash);
    if (replayed) {
      if (entry->revision != rev) {
        return Status::FailedPrecondition("import entry " + std::to_string(entry->revision) +
                                          " does not follow revision " + std::to_string(rev - 1));
      }
      if (input_bytes != entry->import_bytes || input_digest != entry->import_hash ||
          chunks != entry->import_chunks) {
        return Status::Corruption("replayed import input differs from its log entry");
      }
      out.Put(storage::kMeta, storage::kMetaLogId, entry->log_id);
    } else {
      entry->revision = rev;
      entry->log_id = LogId();
      entry->arguments = query::JsonObject()
                             .Uint("lines", rep->lines)
                             .Uint("accounts", rep->accounts)
                             .Uint("roles", rep->roles)
                             .Uint("users", rep->users)
                             .Uint("memberships", rep->memberships)
                             .Uint("entities", rep->entities)
                             .Uint("groups", rep->groups)
                             .Uint("group_members", rep->group_members)
                             .Uint("group_grants", rep->group_grants)
                             .str();
      entry->import_chunks = chunks;
      entry->import_bytes = input_bytes;
      entry->import_hash = input_digest;
    }
    const std::string encoded = storage::EncodeLogEntry(*entry);
    storage::WriteLogEntry(out, *entry, encoded);
    // Every key space merged and written (SST files, or one write batch
    // for a small import), duplicates refused. Ingested files carry no log
    // record: they carry the import's revision instead, and the next
    // logged write names it (WriteLogged), so that a reader can tell it
    // missed the import. A small import is such a logged write itself.
    const bool use_batch = out.UseBatch();
    if (!use_batch) storage::WriteMeta64(out, storage::kMetaIngested, rev);
    CANOPY_RETURN_IF_ERROR(out.status());
    trace.Mark("finish");

    rocksdb::WriteBatch batch;
    std::vector<rocksdb::IngestExternalFileArg> args;
    std::string duplicate;
    if (use_batch) {
      storage::BatchSink sink(*store_, &batch);
      CANOPY_RETURN_IF_ERROR(out.FillBatch(&sink, &duplicate));
    } else {
      // Progress goes on with the whole input read (done == total), so
      // that a cancel is heard while the files are written.
      CANOPY_RETURN_IF_ERROR(out.WriteFiles(&args, &duplicate, [&] {
        return !options.progress || options.progress(input_bytes, input_bytes);
      }));
    }
    // Only the files (or the batch) are needed from here on: the memory
    // goes back before the catalog is reloaded.
    out.Release();
    buffers.Clear();
#if defined(__GLIBC__)
    // Hand the freed staging back to the system: glibc keeps freed memory
    // in its arenas otherwise, and the ingestion (RocksDB opens every new
    // file) and the catalog reload would come on top of it.
    malloc_trim(0);
#endif
    trace.Mark("sort and write");
    if (trace.on()) {
      trace.Note("%s", out.Describe().c_str());
      trace.Note("CPU time: %s", sync.CpuTimes().c_str());
    }
    if (!duplicate.empty()) {
      return Status::InvalidArgument(quoted + " " + duplicate + "; nothing was imported");
    }
    // The last word before the commit (every file has one, however small):
    // a cancel here still imports nothing.
    if (options.progress && !options.progress(input_bytes, input_bytes)) {
      return Status::Aborted("import cancelled before its commit; nothing was imported");
    }
    // A file of no records (empty, blank lines, a begin and an end line)
    // changes nothing, so it commits nothing: no revision, no log entry, as
    // for any call that changes nothing. A replayed one commits as its log
    // entry did (logs written before this rule hold such entries).
    if (!replayed && rep->accounts + rep->roles + rep->users + rep->memberships + rep->entities +
                             rep->groups + rep->group_members + rep->group_grants ==
                         0) {
      return Status::Ok();
    }

    if (to_etcd) {
      bool conflict = false;
      CANOPY_RETURN_IF_ERROR(
          AppendToLog(storage::FrameLogEntry(encoded, etcd_input), &conflict));
      if (conflict) {
        import_conflict_ = true;
        return Status::Aborted("another replica appended revision " + std::to_string(rev) +
                               " first");
      }
    }

    // Applies the import (one atomic RocksDB call), reloads the latest
    // catalog and publishes both (with sync on, after syncing the WAL).
    // Readers go on reading the published state meanwhile.
    auto commit = [&](const std::function<Status()>& apply) -> Status {
      Status applied = apply();  // nothing applied when it fails
      if (applied.code() == Code::kIOError) {
        // The file system's state is unknown after a failed write: stop
        // writing until the database is reopened (as Commit does).
        Poison(Status::IOError("import: writing failed (" + applied.message() +
                               "); nothing was imported; close and reopen the database"),
               /*local=*/true);
        return poisoned_;
      }
      CANOPY_RETURN_IF_ERROR(applied);
      Status reload = versions_.LatestToReplace().Load(*store_);
      if (!reload.ok()) {
        Poison(reload.WithContext("reload after import"), /*local=*/true);
        return poisoned_;
      }
      versions_.NoteReplaced();
      if (!use_batch) ingest_unseen_ = rev;
      Advance(rev, replayed ? &entry->log_id : nullptr);
      NoteCommitted(rev);
      return PublishLocked();
    };
    if (use_batch) {
      CANOPY_RETURN_IF_ERROR(commit([&] { return WriteLogged(&batch); }));
    } else {
      CANOPY_RETURN_IF_ERROR(commit([&] {
        return storage::FromRocks(store_->db()->IngestExternalFiles(args), "import: ingest");
      }));
    }
    trace.Mark("ingest and reload");
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("import failed: ") + e.what() + "; nothing was imported");
  }
}

Status DbImpl::Export(std::string_view path, const ProgressFn& progress_fn,
                      ImportReport* counts) const {
  const ProgressFn progress = InCallback(progress_fn, "export");
  ImportReport local;
  ImportReport* rep = counts != nullptr ? counts : &local;
  *rep = ImportReport();
  if (path.empty()) return Status::InvalidArgument("export file path is empty");
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  const rocksdb::Snapshot* snap = scope.snapshot().get();
  // Built-in role names are code; custom ones come from the snapshot.
  const uint64_t total_entities = [&] {
    int64_t n = 0;
    for (AccountId r : cat().roots) {
      for (EntityKind k : kAllEntityKinds) n += cat().account(r)->count(k).subtree;
    }
    return static_cast<uint64_t>(n);
  }();
  scope.ReleaseCatalog();

  // "-" is the standard output, written in place through the descriptor
  // the process already has (its redirection, append mode included, is
  // kept). A symbolic link is followed to the file it names, and that file
  // is what gets replaced: the link itself never is (so "/dev/stdout" on a
  // redirected output replaces the redirection's file, never the device
  // link). A new or regular file is written beside it (PATH.tmp, replacing
  // one a killed export left; locked, so one export at a time writes it)
  // and renamed into place once synced, so PATH is never half-written.
  // PATH.tmp must be a plain file of that one name: a symbolic link or a
  // hard link there (which would make the export write into whatever it
  // names) is refused. The new PATH keeps the permissions (and, for root,
  // the owner) of the file it replaces.
  // Anything else (a pipe, a FIFO, a device) is written in place:
  // renaming over it would replace the special file.
  const bool to_stdout = path == "-";
  std::string target(path);
  if (!to_stdout) {
    std::error_code link_error;
    if (std::filesystem::is_symlink(std::filesystem::symlink_status(target, link_error))) {
      const auto followed = std::filesystem::status(target, link_error);
      if (link_error || !std::filesystem::exists(followed)) {
        return Status::InvalidArgument("export '" + target +
                                       "' is a symbolic link to nothing that exists");
      }
      if (std::filesystem::is_regular_file(followed)) {
        std::filesystem::path resolved = std::filesystem::canonical(target, link_error);
        if (link_error) {
          return Status::IOError("cannot resolve '" + target + "': " + link_error.message());
        }
        target = resolved.string();
      }  // else a pipe, device...: written in place through the link
    }
  }
  // Never into the database's own folder: replacing CURRENT or LOCK there
  // (by any path that leads to them) made the database unopenable, or let
  // a second process open it for writing.
  if (!to_stdout) {
    CANOPY_RETURN_IF_ERROR(storage::RefuseInsideFolder("export file", target, store_->path()));
  }
  std::error_code kind_error;
  const auto kind = std::filesystem::status(target, kind_error);
  const bool in_place = to_stdout || (!kind_error && std::filesystem::exists(kind) &&
                                      !std::filesystem::is_regular_file(kind));
  if (!to_stdout && !kind_error && std::filesystem::is_directory(kind)) {
    return Status::InvalidArgument("export '" + std::string(path) + "' is a folder");
  }
  std::string tmp = to_stdout ? std::string("(standard output)") : in_place ? target : target + ".tmp";
  std::FILE* f = nullptr;
  if (to_stdout) {
    const int fd = ::dup(STDOUT_FILENO);
    f = fd >= 0 ? ::fdopen(fd, "wb") : nullptr;
    if (f == nullptr && fd >= 0) ::close(fd);
  } else if (in_place) {
    f = std::fopen(tmp.c_str(), "wb");
  } else {
    // PATH.tmp is locked (flock) while written: a second export to the
    // same PATH, in this process or another, is refused rather than
    // writing into the first one's file. A lock is taken on the file the
    // name still names (the one before may have been renamed into place
    // meanwhile), and a killed export's lock goes with its process.
    struct stat replaced {};
    const bool replacing = ::stat(target.c_str(), &replaced) == 0 && S_ISREG(replaced.st_mode);
    for (;;) {
      // Non-blocking, so that a FIFO left at PATH.tmp cannot hang the open.
      const int fd =
          ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
      auto not_plain = [&](const char* what) {
        return Status::FailedPrecondition("cannot write '" + tmp + "': it is " + what +
                                          " (an export writes its scratch file only as a "
                                          "plain file of one name; remove it)");
      };
      if (fd < 0) {
        const int err = errno;
        if (err == ELOOP) return not_plain("a symbolic link");
        return Status::IOError("cannot write '" + tmp + "': " + std::strerror(err));
      }
      struct stat own {};
      if (::fstat(fd, &own) != 0 || !S_ISREG(own.st_mode) || own.st_nlink != 1) {
        ::close(fd);
        return not_plain("a hard link, a FIFO or a device");
      }
      (void)::fcntl(fd, F_SETFL, 0);  // blocking writes from here on
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK) {
          return Status::FailedPrecondition("another export is writing '" + std::string(path) +
                                            "' (its '" + tmp + "' is in use)");
        }
        return Status::IOError("cannot lock '" + tmp + "': " + std::strerror(err));
      }
      struct stat opened {}, named {};
      if (::fstat(fd, &opened) != 0 || ::stat(tmp.c_str(), &named) != 0 ||
          opened.st_dev != named.st_dev || opened.st_ino != named.st_ino) {
        ::close(fd);  // renamed or removed by the export that held it: again
        continue;
      }
      if (replacing) {
        // As the file it replaces: who may read an export is not widened.
        if (::geteuid() == 0) (void)::fchown(fd, replaced.st_uid, replaced.st_gid);
        (void)::fchmod(fd, replaced.st_mode & 07777);
      }
      if (::ftruncate(fd, 0) != 0 || (f = ::fdopen(fd, "wb")) == nullptr) ::close(fd);
      break;
    }
  }
  if (f == nullptr) return Status::IOError("cannot write '" + tmp + "': " + std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(f, std::fclose);
  // Whatever ends the export early (a cancel, a failed write, sync or
  // rename) removes the PATH.tmp it began: nothing is left behind.
  struct DropUnfinished {
    const std::string* path = nullptr;  // null: nothing to remove
    ~DropUnfinished() {
      if (path != nullptr) ::unlink(path->c_str());
    }
  } unfinished{in_place ? nullptr : &tmp};
  // Told before the first line, so a cancel already asked for ends it here.
  if (progress && !progress(0, total_entities)) return Status::Aborted("export cancelled");
  XXH3_state_t* hash = XXH3_createState();
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> hash_owner(hash, XXH3_freeState);
  XXH3_64bits_reset(hash);
  std::string line;
  uint64_t records = 0;
  auto emit = [&]() -> Status {
    line.push_back('\n');
    XXH3_64bits_update(hash, line.data(), line.size());
    if (std::fwrite(line.data(), 1, line.size(), f) != line.size()) {
      return Status::IOError("cannot write '" + tmp + "': " + std::strerror(errno));
    }
    ++records;
    line.clear();
    return Status::Ok();
  };
  auto attrs = [&](const Attributes& a) {
    if (a.empty()) return;
    line.append(",\"attributes\":{");
    bool first = true;
    for (const auto& [k, v] : a) {
      if (!first) line.push_back(',');
      first = false;
      query::AppendJsonString(&line, k);
      line.push_back(':');
      query::AppendJsonString(&line, v);
    }
    line.push_back('}');
  };
  // The record's times (docs/interchange.md, "Times"), last on its line.
  auto times = [&](int64_t created, const int64_t* updated) {
    line.append(",\"created_us\":");
    line.append(std::to_string(created));
    if (updated != nullptr) {
      line.append(",\"updated_us\":");
      line.append(std::to_string(*updated));
    }
  };
  auto scan_range = [&](int cf, const std::string& lo, const std::string& hi, auto&& fn) -> Status {
    auto it = store_->NewIterator(cf, snap, lo, hi, false);
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      rocksdb::Slice k = (*it)->key(), v = (*it)->value();
      CANOPY_RETURN_IF_ERROR(fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size())));
    }
    return storage::FromRocks((*it)->status(), "export");
  };
  // The groups key space's records of one kind (their first byte).
  auto scan_groups = [&](char prefix, auto&& fn) -> Status {
    const std::string lo(1, prefix), hi(1, static_cast<char>(prefix + 1));
    return scan_range(storage::kGroups, lo, hi, [&](std::string_view k, std::string_view v) {
      return fn(k.substr(1), v);
    });
  };
  auto scan = [&](int cf, auto&& fn) -> Status {
    auto it = store_->NewIterator(cf, snap, "", "", false);
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      rocksdb::Slice k = (*it)->key(), v = (*it)->value();
      CANOPY_RETURN_IF_ERROR(fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size())));
    }
    return storage::FromRocks((*it)->status(), "export");
  };

  // The begin line: an end line follows, so a copy cut short is refused.
  line = "{\"type\":\"begin\",\"format\":" + std::to_string(kInterchangeFormat) + "}";
  CANOPY_RETURN_IF_ERROR(emit());
  --records;  // not a record: the end line counts records only
  std::unordered_map<AccountId, std::string> account_keys;
  // Each account's place in the file (tree order). Import gives accounts
  // their ids in that order, so records listed by account (a user's
  // memberships, an account group's members) are written in it, not in
  // id order: a re-export of the import is then the same file, byte for
  // byte, whatever order the accounts were created or moved in.
  std::unordered_map<AccountId, uint64_t> account_place;
  // Lines held back to be written in that order: (place, line).
  std::vector<std::pair<uint64_t, std::string>> held;
  auto hold = [&](AccountId account) {
    held.emplace_back(account_place[account], std::move(line));
    line.clear();
  };
  auto flush_held = [&]() -> Status {
    std::sort(held.begin(), held.end());
    for (auto& h : held) {
      line = std::move(h.second);
      CANOPY_RETURN_IF_ERROR(emit());
    }
    held.clear();
    return Status::Ok();
  };
  CANOPY_RETURN_IF_ERROR(scan(storage::kTree, [&](auto, auto v) -> Status {
    std::string bytes;
    if (v.size() != 8) return Status::Corruption("export: a tree entry is damaged");
    AccountId id = storage::DecodeFixed64BE(v.data());
    account_place.emplace(id, account_place.size());
    CANOPY_RETURN_IF_ERROR(store_->Get(storage::kAccounts, storage::IdKey(id), &bytes, snap));
    storage::AccountRecord r;
    CANOPY_RETURN_IF_ERROR(storage::DecodeAccount(bytes, &r));
    const Account& a = r.account;
    account_keys[id] = a.key;
    line.append("{\"type\":\"account\",\"key\":");
    query::AppendJsonString(&line, a.key);
    line.append(",\"name\":");
    query::AppendJsonString(&line, a.name);
    if (a.parent != kNoId) {
      line.append(",\"parent\":");
      query::AppendJsonString(&line, account_keys[a.parent]);
    }
    attrs(a.attributes);
    line.append(",\"settings\":{\"sub_account_management\":");
    line.append(a.settings.sub_account_management ? "true" : "false");
    line.append(",\"sub_account_access\":\"");
    line.append(SubAccountAccessName(a.settings.sub_account_access));
    line.append(a.settings.group_sharing ? "\",\"group_sharing\":true}" : "\"}");
    times(a.created_us, &a.updated_us);
    line.append("}");
    rep->accounts++;
    return emit();
  }));
  std::unordered_map<RoleId, std::string> role_names;
  for (const auto& b : query::BuiltinRoles()) role_names[b.id] = b.name;
  CANOPY_RETURN_IF_ERROR(scan(storage::kRoles, [&](auto, auto v) -> Status {
    Role r;
    CANOPY_RETURN_IF_ERROR(storage::DecodeRole(v, &r));
    role_names[r.id] = r.name;
    line.append("{\"type\":\"role\",\"tenant\":");
    query::AppendJsonString(&line, account_keys[r.tenant]);
    line.append(",\"name\":");
    query::AppendJsonString(&line, r.name);
    line.append(",\"permissions\":[");
    for (size_t i = 0; i < r.permissions.size(); ++i) {
      if (i) line.push_back(',');
      query::AppendJsonString(&line, r.permissions[i]);
    }
    line.append("]}");
    rep->roles++;
    return emit();
  }));
  std::unordered_map<UserId, std::string> logins;
  CANOPY_RETURN_IF_ERROR(scan(storage::kUsers, [&](auto, auto v) -> Status {
    User u;
    CANOPY_RETURN_IF_ERROR(storage::DecodeUser(v, &u));
    logins[u.id] = u.login;
    line.append("{\"type\":\"user\",\"login\":");
    query::AppendJsonString(&line, u.login);
    line.append(",\"name\":");
    query::AppendJsonString(&line, u.name);
    line.append(",\"account\":");
    query::AppendJsonString(&line, account_keys[u.account]);
    if (u.disabled) line.append(",\"disabled\":true");
    times(u.created_us, &u.updated_us);
    line.append("}");
    rep->users++;
    return emit();
  }));
  // A user's memberships, in its accounts' tree order.
  UserId held_user = kNoId;
  CANOPY_RETURN_IF_ERROR(scan(storage::kMemberships, [&](auto k, auto v) -> Status {
    Membership m;
    CANOPY_RETURN_IF_ERROR(storage::DecodeMembership(v, &m));
    if (k.size() != 16) return Status::Corruption("export: a membership key is damaged");
    const UserId user = storage::DecodeFixed64BE(k.data());
    const AccountId account = storage::DecodeFixed64BE(k.data() + 8);
    if (user != held_user) CANOPY_RETURN_IF_ERROR(flush_held());
    held_user = user;
    line.append("{\"type\":\"membership\",\"login\":");
    query::AppendJsonString(&line, logins[user]);
    line.append(",\"account\":");
    query::AppendJsonString(&line, account_keys[account]);
    line.append(",\"role\":");
    query::AppendJsonString(&line, role_names[m.role]);
    line.append(m.branch ? ",\"branch\":true" : ",\"branch\":false");
    times(m.created_us, nullptr);
    line.append("}");
    rep->memberships++;
    hold(account);
    return Status::Ok();
  }));
  CANOPY_RETURN_IF_ERROR(flush_held());
  // The entities that are members of entity groups: their keys are kept
  // from the entity scan below, for the group member lines.
  std::unordered_map<EntityId, std::string> member_keys;
  CANOPY_RETURN_IF_ERROR(scan_groups(storage::kGroupMemberPrefix, [&](auto k, auto v) -> Status {
    storage::GroupMemberRecord m;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroupMember(v, &m));
    if (k.size() != 16) return Status::Corruption("export: a group member key is damaged");
    if (GroupEntityKind(m.kind)) member_keys.emplace(storage::DecodeFixed64BE(k.data() + 8), "");
    return Status::Ok();
  }));
  CANOPY_RETURN_IF_ERROR(scan(storage::kEntities, [&](auto, auto v) -> Status {
    Entity e;
    CANOPY_RETURN_IF_ERROR(storage::DecodeEntity(v, &e));
    if (!member_keys.empty()) {
      auto wanted = member_keys.find(e.id);
      if (wanted != member_keys.end()) wanted->second = e.key;
    }
    if (e.kind == EntityKind::kDevice) {
      line.append("{\"type\":\"device\",\"key\":");
    } else {
      line.append("{\"type\":\"entity\",\"kind\":\"");
      line.append(EntityKindName(e.kind));
      line.append("\",\"key\":");
    }
    query::AppendJsonString(&line, e.key);
    if (!e.unit_id.empty()) {
      line.append(",\"unit_id\":");
      query::AppendJsonString(&line, e.unit_id);
    }
    line.append(",\"name\":");
    query::AppendJsonString(&line, e.name);
    if (!e.type.empty()) {
      line.append(e.kind == EntityKind::kDevice ? ",\"device_type\":" : ",\"type\":");
      query::AppendJsonString(&line, e.type);
    }
    line.append(",\"account\":");
    query::AppendJsonString(&line, account_keys[e.owner]);
    attrs(e.attributes);
    times(e.created_us, &e.updated_us);
    line.append("}");
    rep->entities++;
    if (progress && rep->entities % kProgressEvery == 0 && !progress(rep->entities, total_entities)) {
      return Status::Aborted("export cancelled");
    }
    return emit();
  }));
  // The catalog's counts, of the same state, say how many there are: a
  // scan that read fewer lost some (a damaged table file), and the file
  // would be sealed as whole without them.
  if (rep->entities != total_entities) {
    return Status::Corruption("export read " + std::to_string(rep->entities) +
                              " entities where the database counts " +
                              std::to_string(total_entities) +
                              " (run the integrity check); nothing was written");
  }
  // Groups (by id), their members (by group, then member id) and grants
  // (by user group, role, target).
  std::unordered_map<GroupId, Group> groups;
  CANOPY_RETURN_IF_ERROR(scan_groups(storage::kGroupPrefix, [&](auto, auto v) -> Status {
    Group g;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroup(v, &g));
    line.append("{\"type\":\"group\",\"id\":");
    line.append(std::to_string(g.id));
    line.append(",\"kind\":\"");
    line.append(GroupKindName(g.kind));
    line.append("\",\"name\":");
    query::AppendJsonString(&line, g.name);
    line.append(",\"account\":");
    query::AppendJsonString(&line, account_keys[g.owner]);
    times(g.created_us, &g.updated_us);
    line.append("}");
    groups[g.id] = std::move(g);
    rep->groups++;
    return emit();
  }));
  // "account", "kind" and "group" naming a group, as its records write them.
  auto group_fields = [&](GroupId id, const char* account, const char* kind, const char* name) {
    const Group& g = groups[id];
    line.append(",\"").append(account).append("\":");
    query::AppendJsonString(&line, account_keys[g.owner]);
    if (kind != nullptr) line.append(",\"").append(kind).append("\":\"").append(GroupKindName(g.kind)).append("\"");
    line.append(",\"").append(name).append("\":");
    query::AppendJsonString(&line, g.name);
  };
  // An account group's members in tree order (the others in id order,
  // which import keeps).
  GroupId held_group = kNoId;
  CANOPY_RETURN_IF_ERROR(scan_groups(storage::kGroupMemberPrefix, [&](auto k, auto v) -> Status {
    storage::GroupMemberRecord m;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroupMember(v, &m));
    if (k.size() != 16) return Status::Corruption("export: a group member key is damaged");
    const GroupId gid = storage::DecodeFixed64BE(k.data());
    const uint64_t member = storage::DecodeFixed64BE(k.data() + 8);
    if (gid != held_group) CANOPY_RETURN_IF_ERROR(flush_held());
    held_group = gid;
    if (groups.count(gid) == 0) {
      return Status::Corruption("export: a member of group " + std::to_string(gid) +
                                ", which does not exist");
    }
    line.append("{\"type\":\"group_member\"");
    group_fields(gid, "account", "kind", "group");
    line.append(",\"member\":");
    // A member that was not read (a damaged table file) is an error, never
    // an empty name in a file sealed as whole.
    auto append_name = [&](const auto& names, auto id) -> Status {
      auto name = names.find(id);
      if (name == names.end() || name->second.empty()) {
        return Status::Corruption("export: group " + std::to_string(gid) + " holds " +
                                  GroupKindName(m.kind) + " " + std::to_string(member) +
                                  ", which was not read (run the integrity check)");
      }
      query::AppendJsonString(&line, name->second);
      return Status::Ok();
    };
    if (m.kind == GroupKind::kUser) {
      CANOPY_RETURN_IF_ERROR(append_name(logins, UserId(member)));
    } else if (m.kind == GroupKind::kAccount) {
      CANOPY_RETURN_IF_ERROR(append_name(account_keys, AccountId(member)));
    } else {
      CANOPY_RETURN_IF_ERROR(append_name(member_keys, EntityId(member)));
    }
    times(m.created_us, nullptr);
    line.append("}");
    rep->group_members++;
    if (m.kind == GroupKind::kAccount) {
      hold(member);
      return Status::Ok();
    }
    return emit();
  }));
  CANOPY_RETURN_IF_ERROR(flush_held());
  CANOPY_RETURN_IF_ERROR(scan_groups(storage::kGroupGrantPrefix, [&](auto k, auto v) -> Status {
    GroupGrant g;
    CANOPY_RETURN_IF_ERROR(storage::DecodeGroupGrant(v, &g));
    if (k.size() != 24) return Status::Corruption("export: a group grant key is damaged");
    const GroupId ug = storage::DecodeFixed64BE(k.data());
    const RoleId role = storage::DecodeFixed64BE(k.data() + 8);
    const GroupId target = storage::DecodeFixed64BE(k.data() + 16);
    if (groups.count(ug) == 0 || (target != kNoId && groups.count(target) == 0)) {
      return Status::Corruption("export: a grant of a group that does not exist");
    }
    line.append("{\"type\":\"group_grant\"");
    group_fields(ug, "account", nullptr, "group");
    line.append(",\"role\":");
    query::AppendJsonString(&line, role_names[role]);
    if (target != kNoId) group_fields(target, "target_account", "target_kind", "target");
    line.append(g.branch ? ",\"branch\":true" : ",\"branch\":false");
    times(g.created_us, nullptr);
    line.append("}");
    rep->group_grants++;
    return emit();
  }));
  std::string end = "{\"type\":\"end\",\"records\":" + std::to_string(records) + ",\"xxh3\":\"" +
                    Hex64(XXH3_64bits_digest(hash)) + "\"}\n";
  if (std::fwrite(end.data(), 1, end.size(), f) != end.size() || std::fflush(f) != 0) {
    return Status::IOError("cannot write '" + tmp + "': " + std::strerror(errno));
  }
  // Durable before it is renamed into place (a regular file only: a pipe
  // cannot be synced).
  if (!in_place && ::fsync(fileno(f)) != 0) {
    return Status::IOError("cannot sync '" + tmp + "': " + std::strerror(errno));
  }
  auto close_file = [&]() -> Status {
    if (std::fclose(file.release()) != 0) {
      return Status::IOError("cannot close '" + tmp + "': " + std::strerror(errno));
    }
    return Status::Ok();
  };
  if (in_place) CANOPY_RETURN_IF_ERROR(close_file());
  rep->lines = records + 2;  // with the begin and end lines
  // The last word before the file takes PATH's place: a cancel asked for
  // during the scans after the entities' still leaves PATH as it was.
  if (progress && !progress(total_entities, total_entities)) {
    return Status::Aborted("export cancelled");
  }
  if (!in_place) {
    std::error_code ec;
    std::filesystem::rename(tmp, target, ec);
    if (ec) {
      return Status::IOError("cannot rename '" + tmp + "' to '" + target + "': " + ec.message());
    }
    unfinished.path = nullptr;  // renamed into place: it is the export now
    // Closed (its lock let go) only once renamed: an export waiting for
    // PATH.tmp never takes the file that is now PATH. Flushed and synced
    // already, PATH is whole: a failing close changes nothing of that.
    std::fclose(file.release());
    // The rename itself survives a power loss once its folder is synced.
    const std::string folder = std::filesystem::path(target).parent_path().string();
    const int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return Status::Ok();
}

}  // namespace canopy::engine
