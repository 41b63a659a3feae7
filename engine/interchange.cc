// Copyright (c) Canopy authors.
//
// Import and export of the JSON Lines interchange format (
// docs/format.md). Import validates the whole file first, staging every
// record in memory, then writes it in one step: a WriteBatch for small
// files, atomic SST ingestion across the key spaces for large ones. A bad
// line fails the call with its line number and nothing is written.
//
// Export writes accounts (tree order: parents first), custom roles, users,
// memberships and entities, then an end line carrying the record count and
// an XXH3-64 checksum of every byte before it; import verifies that line
// when present.

#include <fcntl.h>
#include <unistd.h>
#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>
#include <simdjson.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
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
#include "replication/log.h"
#include "engine/kv_buffer.h"
#include "engine/rules.h"
#include "engine/validate.h"
#include "query/access.h"
#include "query/json.h"
#include "storage/coding.h"
#include "storage/labels.h"
#include "storage/records.h"
#include "storage/writes.h"

namespace canopy::engine {

namespace {

using query::AccountNode;
using query::Catalog;

constexpr size_t kBatchLimit = 100000;  // KV pairs; above it, SST ingestion
constexpr uint64_t kProgressEvery = 16384;  // lines (import) or entities (export)

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Entity records stream to their SST file while the file is parsed once an
// import has staged this many entities (below it, they are staged like the
// other key spaces and may go through one write batch).
constexpr size_t kStreamEntitiesAfter = 25000;

// The scratch folder of one import's SST files, inside the database folder
// (so that ingestion can move the files), created on first use and removed
// with everything in it when the import ends, whatever the outcome.
// Store::Open removes any left by a crash.
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
    if (!created_) {
      std::error_code ec;
      std::filesystem::create_directories(path_, ec);
      if (ec) return Status::IOError("cannot create " + path_.string() + ": " + ec.message());
      created_ = true;
    }
    *out = (path_ / std::string(name)).string();
    return Status::Ok();
  }

 private:
  std::filesystem::path path_;
  bool created_ = false;
};

// An SST file writer for key space `cf` with the database's options for it.
std::unique_ptr<rocksdb::SstFileWriter> NewSstWriter(const storage::Store& store, int cf) {
  rocksdb::Options opts(store.db()->GetDBOptions(), store.db()->GetOptions(store.cf(cf)));
  // SstFileWriter uses the bottommost compression (ZSTD). Imported files
  // usually stay at the bottom level uncompacted, so they keep ZSTD (for
  // the disk budget) but at level 1, several times faster to write than
  // the default level 3 for a few percent more bytes.
  if (opts.bottommost_compression == rocksdb::kZSTD) {
    opts.bottommost_compression_opts.enabled = true;
    opts.bottommost_compression_opts.level = 1;
  }
  if (cf == storage::kChanges) {
    // The change log's copy of the import input: written once, read only by
    // a follower's replay; LZ4 keeps the import's extra work small.
    opts.bottommost_compression = rocksdb::kLZ4Compression;
    opts.compression = rocksdb::kLZ4Compression;
  }
  return std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), opts, store.cf(cf));
}

// Adds every pair of `kv` (in key order) to `w`; merge operands for the
// counters, plain values otherwise. Reads a few entries ahead: after a sort
// they lie all over the arena.
rocksdb::Status AddAll(rocksdb::SstFileWriter& w, const KvBuffer& kv, bool merge) {
  constexpr size_t kAhead = 16;
  for (size_t i = 0; i < kAhead; ++i) kv.Prefetch(i);
  rocksdb::Status s;
  for (size_t i = 0; i < kv.size() && s.ok(); ++i) {
    kv.Prefetch(i + kAhead);
    rocksdb::Slice k(kv.key(i).data(), kv.key(i).size());
    rocksdb::Slice v(kv.value(i).data(), kv.value(i).size());
    s = merge ? w.Merge(k, v) : w.Put(k, v);
  }
  return s;
}

// Writes pairs given in key order to one SST file on a background thread,
// fed in chunks through a short queue (so the parser never waits unless
// the writer falls several chunks behind). Used for the entity records,
// whose keys (new ids) arrive in order: their file is written while the
// rest of the import is still being parsed.
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
    if (more) chunk_.Reserve(kChunkBytes / 64, kChunkBytes + (64 << 10));
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
    }
  }

  std::unique_ptr<rocksdb::SstFileWriter> writer_;
  int cf_;
  std::string path_;
  KvBuffer chunk_;     // being filled by the parser
  size_t count_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<KvBuffer> queue_;
  bool closing_ = false;
  bool abandoned_ = false;
  rocksdb::Status status_;  // the writer thread's; read after join
  std::thread thread_;
};

// With CANOPY_TRACE_IMPORT set, prints when each import phase ends (parse,
// sort, write, reload) to stderr: the first tool when an import is slow.
class PhaseTrace {
 public:
  PhaseTrace()
      : on_(std::getenv("CANOPY_TRACE_IMPORT") != nullptr),
        start_(std::chrono::steady_clock::now()) {}
  void Mark(const char* phase) const {
    if (!on_) return;
    std::fprintf(stderr, "import: %s done at %.3f s\n", phase,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }

 private:
  bool on_;
  std::chrono::steady_clock::time_point start_;
};

// The fields of one JSON object, consumed by name; leftovers are errors.
class Fields {
 public:
  explicit Fields(simdjson::dom::object obj) {
    for (auto field : obj) fields_.emplace_back(field.key, field.value);
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
  Status StringMap(std::string_view name, Attributes* out) {
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
      if (!out->emplace(std::string(field.key), std::string(v)).second) {
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
  Status Uint(std::string_view name, uint64_t* out) {
    simdjson::dom::element e;
    if (!Take(name, &e)) return Status::InvalidArgument("missing field '" + std::string(name) + "'");
    if (e.get_uint64().get(*out)) {
      return Status::InvalidArgument("field '" + std::string(name) + "' must be a number");
    }
    return Status::Ok();
  }
  // InvalidArgument naming the first field nobody asked for (one given
  // more often than it was asked for is repeated, not unknown).
  Status NoneLeft(std::string_view what) const {
    used_.resize(fields_.size());
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
    used_.resize(fields_.size());
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (fields_[i].first == name && !used_[i]) {
        used_[i] = true;
        *e = fields_[i].second;
        return true;
      }
    }
    return false;
  }
  std::vector<std::pair<std::string_view, simdjson::dom::element>> fields_;
  mutable std::vector<bool> used_ = std::vector<bool>(0);
};

struct StagedAccount {
  AccountId id;
  AccountId parent;
  AccountId tenant;
  uint32_t depth;
  std::string label;
  storage::AccountRecord record;
};

// Everything an import stages before writing.
class Importer {
 public:
  Importer(const Catalog& catalog, const storage::Store& store, ImportReport* report,
           ScratchDir* scratch, int64_t now)
      : c_(catalog), store_(store), report_(report), scratch_(scratch), now_(now), sink_(this) {
    next_account_ = c_.last_account_id;
    next_user_ = c_.last_user_id;
    next_entity_ = c_.last_entity_id;
    next_role_ = c_.last_role_id;
    next_root_ordinal_ = c_.next_root_ordinal;
    for (AccountId r : c_.roots) {
      for (EntityKind k : kAllEntityKinds) {
        db_has_kind_[static_cast<int>(k)] |= c_.account(r)->count(k).subtree > 0;
      }
    }
  }

  Status Line(std::string_view line, uint64_t line_no) {
    line_ = line_no;
    simdjson::dom::element doc;
    auto err = parser_.parse(line.data(), line.size(), false).get(doc);
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
    } else if (type == "device") {
      s = Entity(f, EntityKind::kDevice);
    } else if (type == "entity") {
      std::string_view kind_name;
      CANOPY_RETURN_IF_ERROR(f.String("kind", true, &kind_name));
      auto kind = ParseEntityKind(kind_name);
      if (!kind) return Status::InvalidArgument("unknown entity kind '" + std::string(kind_name) + "'");
      s = Entity(f, *kind);
    } else if (type == "end") {
      uint64_t records = 0;
      std::string_view checksum;
      CANOPY_RETURN_IF_ERROR(f.Uint("records", &records));
      CANOPY_RETURN_IF_ERROR(f.String("xxh3", true, &checksum));
      CANOPY_RETURN_IF_ERROR(f.NoneLeft("end record"));
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

  bool ended() const { return ended_; }
  const std::string& end_checksum() const { return end_checksum_; }

  // Produces the key/value pairs of every key space.
  Status Finish(int64_t now);

  KvBuffer kvs[storage::kNumCfs];  // kCounters holds merge operands
  size_t total() const {
    size_t n = stream_ != nullptr ? stream_->size() : 0;
    n += log_stream_ != nullptr ? log_stream_->size() : 0;
    for (const auto& v : kvs) n += v.size();
    return n;
  }
  // The entity records' SST stream (started once there are many), or null
  // when they are staged in kvs[kEntities].
  SstStream* entity_stream() { return stream_.get(); }
  // The change log's copy of the input, chunk by chunk in order: staged
  // while it is one chunk, then streamed to its own SST file (written on a
  // background thread while the parse goes on).
  Status LogChunk(uint64_t revision, uint32_t chunk, std::string_view bytes) {
    if (log_stream_ == nullptr && chunk > 0) {
      std::string path;
      CANOPY_RETURN_IF_ERROR(
          scratch_->File(std::string(storage::CfName(storage::kChanges)) + "-input.sst", &path));
      log_stream_ = std::make_unique<SstStream>(store_, storage::kChanges, std::move(path));
      KvBuffer& staged = kvs[storage::kChanges];
      for (size_t i = 0; i < staged.size(); ++i) log_stream_->Add(staged.key(i), staged.value(i));
      staged = KvBuffer();
    }
    if (log_stream_ != nullptr) {
      log_stream_->Add(storage::LogChunkKey(revision, chunk), bytes);
    } else {
      kvs[storage::kChanges].Add(storage::LogChunkKey(revision, chunk), bytes);
    }
    return Status::Ok();
  }
  SstStream* log_stream() { return log_stream_.get(); }
  // Sorts every key space and refuses duplicate entity keys and unit ids
  // (found adjacent after sorting), naming the lines.
  Status SortAndCheck();

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
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("account record"));
    AccountSettings st;
    if (settings) {
      std::optional<bool> mgmt;
      std::string_view access;
      bool has_access = false;
      CANOPY_RETURN_IF_ERROR(settings->Bool("sub_account_management", &mgmt));
      CANOPY_RETURN_IF_ERROR(settings->String("sub_account_access", false, &access, &has_access));
      CANOPY_RETURN_IF_ERROR(settings->NoneLeft("account settings"));
      st.sub_account_management = mgmt.value_or(false);
      if (has_access) {
        auto a = ParseSubAccountAccess(access);
        if (!a) return Status::InvalidArgument("unknown sub_account_access '" + std::string(access) + "'");
        st.sub_account_access = *a;
      }
    }
    CANOPY_RETURN_IF_ERROR(CheckText("account key", key));
    CANOPY_RETURN_IF_ERROR(CheckText("account name", name));
    CANOPY_RETURN_IF_ERROR(CheckAttributes("account", attrs));
    if (staged_keys_.count(key)) {
      return Status::AlreadyExists("account key '" + std::string(key) + "' appears twice");
    }
    bool taken = false;
    CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kAccountKeys, key, &taken));
    if (taken) return Status::AlreadyExists("account key '" + std::string(key) + "' is taken");

    StagedAccount a;
    a.id = ++next_account_;
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
    CANOPY_RETURN_IF_ERROR(CheckText("role name", name));
    query::PermSet set;
    CANOPY_RETURN_IF_ERROR(query::ParsePermNames(perms, &set));
    AccountRef t;
    CANOPY_RETURN_IF_ERROR(FindAccount(tenant, "tenant", &t));
    if (t.tenant != t.id) {
      return Status::InvalidArgument("role tenant '" + std::string(tenant) + "' is not a root tenant");
    }
    if (query::FindBuiltinRole(name)) {
      return Status::AlreadyExists("role name '" + std::string(name) + "' is a built-in role");
    }
    std::string nk = storage::IdKey(t.id);
    nk.append(name);
    bool taken = staged_roles_.count(nk) > 0;
    if (!taken) CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kRoleNames, nk, &taken));
    if (taken) return Status::AlreadyExists("role '" + std::string(name) + "' already exists in tenant '" + std::string(tenant) + "'");
    canopy::Role r;
    r.id = ++next_role_;
    r.tenant = t.id;
    r.name = std::string(name);
    r.permissions = set.Names();
    storage::WriteRole(sink_, nullptr, &r);
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
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("user record"));
    CANOPY_RETURN_IF_ERROR(CheckText("login", login));
    CANOPY_RETURN_IF_ERROR(CheckText("user name", name));
    AccountRef a;
    CANOPY_RETURN_IF_ERROR(FindAccount(account, "account", &a));
    bool taken = staged_users_.count(std::string(login)) > 0;
    if (!taken) CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kUserLogins, login, &taken));
    if (taken) return Status::AlreadyExists("login '" + std::string(login) + "' is taken");
    canopy::User u;
    u.id = ++next_user_;
    u.login = std::string(login);
    u.name = std::string(name);
    u.account = a.id;
    u.disabled = disabled.value_or(false);
    users_.push_back(std::move(u));
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
    CANOPY_RETURN_IF_ERROR(f.NoneLeft("membership record"));
    UserId uid;
    AccountId home = kNoId;
    auto su = staged_users_.find(std::string(login));
    if (su != staged_users_.end()) {
      uid = su->second;
      home = users_[uid - c_.last_user_id - 1].account;
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
      uid = u->id;
      home = u->home;
    }
    AccountRef a;
    CANOPY_RETURN_IF_ERROR(FindAccount(account, "account", &a));
    CANOPY_RETURN_IF_ERROR(
        rules::MembershipInReach(login, KeyOf(home), LabelOf(home), account, *a.label));
    RoleId rid;
    if (const auto* b = query::FindBuiltinRole(role)) {
      rid = b->id;
    } else {
      std::string nk = storage::IdKey(a.tenant);
      nk.append(role);
      auto sr = staged_roles_.find(nk);
      if (sr != staged_roles_.end()) {
        rid = sr->second;
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
        rid = storage::DecodeFixed64BE(v.data());
      }
    }
    bool b = false;
    CANOPY_RETURN_IF_ERROR(rules::MembershipBranch(a.settings, branch, account, &b));
    if (!staged_memberships_.insert({uid, a.id}).second || c_.membership(uid, a.id) != nullptr) {
      return Status::AlreadyExists("user '" + std::string(login) + "' is already a member of account '" +
                                   std::string(account) + "'");
    }
    canopy::Membership m;
    m.role = rid;
    m.branch = b;
    membership_kvs_.emplace_back(storage::PairKey(uid, a.id), m);
    report_->memberships++;
    return Status::Ok();
  }

  Status Entity(Fields& f, EntityKind kind) {
    std::string_view key, name, account, unit, type;
    bool has_unit = false;
    CANOPY_RETURN_IF_ERROR(f.String("key", true, &key));
    CANOPY_RETURN_IF_ERROR(f.String("name", true, &name));
    CANOPY_RETURN_IF_ERROR(f.String("account", true, &account));
    CANOPY_RETURN_IF_ERROR(f.String("unit_id", false, &unit, &has_unit));
    CANOPY_RETURN_IF_ERROR(
        f.String(kind == EntityKind::kDevice ? "device_type" : "type", false, &type));
    canopy::Entity e;
    CANOPY_RETURN_IF_ERROR(f.StringMap("attributes", &e.attributes));
    CANOPY_RETURN_IF_ERROR(f.NoneLeft(std::string(EntityKindName(kind)) + " record"));
    const std::string kind_name = EntityKindName(kind);
    CANOPY_RETURN_IF_ERROR(CheckText(kind_name + " key", key));
    CANOPY_RETURN_IF_ERROR(CheckText(kind_name + " name", name));
    CANOPY_RETURN_IF_ERROR(CheckText(kind_name + " type", type, true));
    CANOPY_RETURN_IF_ERROR(CheckAttributes(kind_name, e.attributes));
    if (has_unit) {
      if (kind != EntityKind::kDevice) return Status::InvalidArgument("only devices have a unit id");
      CANOPY_RETURN_IF_ERROR(CheckText("unit id", unit));
    }
    // One hash lookup per entity: the owner's reference and its index
    // buckets, cached by account key.
    auto found = owners_.find(account);
    if (found == owners_.end()) {
      AccountRef ref;
      CANOPY_RETURN_IF_ERROR(FindAccount(account, "account", &ref));
      found = owners_.emplace(std::string(account), OwnerInfo{ref, {}}).first;
    }
    const AccountRef& owner = found->second.ref;
    const uint8_t k = static_cast<uint8_t>(kind);
    key_key_.assign(1, static_cast<char>(k));
    key_key_.append(key);
    // Duplicates within the file are found after sorting (SortAndCheck);
    // against the database only when it holds entities of this kind.
    if (db_has_kind_[k]) {
      bool taken = false;
      CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kEntityKeys, key_key_, &taken));
      if (taken) return Status::AlreadyExists(kind_name + " '" + std::string(key) + "' already exists");
      if (has_unit) {
        CANOPY_RETURN_IF_ERROR(store_.Exists(storage::kUnitIds, unit, &taken));
        if (taken) return Status::AlreadyExists("unit id '" + std::string(unit) + "' is taken");
      }
    }
    e.id = ++next_entity_;
    e.kind = kind;
    e.key.assign(key);
    if (has_unit) e.unit_id.assign(unit);
    e.name.assign(name);
    e.type.assign(type);
    e.owner = owner.id;
    e.created_us = e.updated_us = now_;
    VisBucket*& bucket = found->second.buckets[k];
    if (bucket == nullptr) {
      bucket = &vis_buckets_[owner.id * 8 + k];
      bucket->label = *owner.label;
    }
    sink_.bucket = bucket;
    storage::WriteEntity(sink_, nullptr, {}, &e, bucket->label);
    sink_.bucket = nullptr;
    CANOPY_RETURN_IF_ERROR(sink_.status);
    entity_lines_.push_back(line_);
    report_->entities++;
    return Status::Ok();
  }

  // Stages an entity record, or streams it once there are many (see
  // kStreamEntitiesAfter), moving the ones staged so far to the stream.
  Status AddEntityRecord(std::string_view key, std::string_view value) {
    KvBuffer& staged = kvs[storage::kEntities];
    if (stream_ == nullptr && staged.size() >= kStreamEntitiesAfter) {
      std::string path;
      CANOPY_RETURN_IF_ERROR(
          scratch_->File(std::string(storage::CfName(storage::kEntities)) + ".sst", &path));
      stream_ = std::make_unique<SstStream>(store_, storage::kEntities, std::move(path));
      for (size_t i = 0; i < staged.size(); ++i) stream_->Add(staged.key(i), staged.value(i));
      staged = KvBuffer();
    }
    if (stream_ != nullptr) {
      stream_->Add(key, value);
    } else {
      staged.Add(key, value);
    }
    return Status::Ok();
  }

  // The staging of the key spaces as a sink for storage/writes.h: entity
  // records go to their stream, visibility entries to their owner's bucket.
  struct VisBucket;
  class StagingSink final : public storage::KvSink {
   public:
    explicit StagingSink(Importer* im) : im_(im) {}
    void Put(int cf, std::string_view key, std::string_view value) override {
      if (cf == storage::kEntities) {
        Status s = im_->AddEntityRecord(key, value);
        if (!s.ok() && status.ok()) status = s;
        return;
      }
      KvBuffer& kv = im_->kvs[cf];
      if (cf == storage::kVisibility && bucket != nullptr) {
        bucket->entries.push_back(static_cast<uint32_t>(kv.size()));
      }
      kv.Add(key, value);
    }
    // An import only adds: nothing is deleted.
    void Delete(int, std::string_view) override {
      if (status.ok()) status = Status::Internal("import staging cannot delete keys");
    }
    void Merge(int cf, std::string_view key, std::string_view value) override {
      im_->kvs[cf].Add(key, value);  // the counters' key space holds merge operands
    }
    VisBucket* bucket = nullptr;  // where the next visibility entry goes
    Status status;

   private:
    Importer* im_;
  };

  const Catalog& c_;
  const storage::Store& store_;
  ImportReport* report_;
  ScratchDir* scratch_;
  std::unique_ptr<SstStream> stream_;
  std::unique_ptr<SstStream> log_stream_;
  simdjson::dom::parser parser_;
  const int64_t now_;
  StagingSink sink_;
  uint64_t next_account_, next_user_, next_entity_, next_role_, next_root_ordinal_;
  bool db_has_kind_[5] = {};
  uint64_t records_ = 0;
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
  std::unordered_map<std::string, UserId> staged_users_;
  std::set<std::pair<UserId, AccountId>> staged_memberships_;
  std::vector<std::pair<std::string, canopy::Membership>> membership_kvs_;
  // The visibility index is appended in file order; each (owner, kind)
  // bucket lists its entries. Ids grow with the file, so each bucket is in
  // key order, and laying the buckets out in label order sorts the whole
  // index without comparing keys.
  struct VisBucket {
    std::string label;
    std::vector<uint32_t> entries;  // indexes into kvs[kVisibility]
  };
  std::unordered_map<uint64_t, VisBucket> vis_buckets_;  // owner id * 8 + kind
  // Owners by account key: the reference and the index bucket per kind
  // (whose size is the owner's direct count of that kind).
  struct OwnerInfo {
    AccountRef ref;
    VisBucket* buckets[5];
  };
  std::unordered_map<std::string, OwnerInfo, StringHash, std::equal_to<>> owners_;
  std::string key_key_;             // scratch, reused per entity
  std::vector<uint64_t> entity_lines_;  // entity id - first id -> line number
  uint64_t line_ = 0;

};

Status Importer::Finish(int64_t now) {
  for (StagedAccount& a : accounts_) {
    a.record.account.created_us = a.record.account.updated_us = now;
    storage::WriteAccount(sink_, nullptr, &a.record);
  }
  for (const auto& [id, next] : existing_ordinals_) {
    std::string bytes;
    CANOPY_RETURN_IF_ERROR(store_.Get(storage::kAccounts, storage::IdKey(id), &bytes));
    storage::AccountRecord before;
    CANOPY_RETURN_IF_ERROR(storage::DecodeAccount(bytes, &before));
    storage::AccountRecord after = before;
    after.next_child_ordinal = next;
    storage::WriteAccount(sink_, &before, &after);
  }
  for (canopy::User& u : users_) {
    u.created_us = u.updated_us = now;
    storage::WriteUser(sink_, nullptr, &u);
  }
  for (auto& [key, m] : membership_kvs_) {
    m.created_us = now;
    m.user = storage::DecodeFixed64BE(key.data());
    m.account = storage::DecodeFixed64BE(key.data() + 8);
    storage::WriteMembership(sink_, nullptr, &m);
  }
  // Counters: direct, plus subtree along every ancestor.
  auto parent_of = [&](AccountId id) -> AccountId {
    if (id >= first_account_id()) return accounts_[id - first_account_id()].parent;
    return c_.account(id)->parent;
  };
  std::map<std::pair<AccountId, uint8_t>, int64_t> direct, subtree;
  for (const auto& [key, bucket] : vis_buckets_) {
    direct[{key / 8, static_cast<uint8_t>(key % 8)}] = static_cast<int64_t>(bucket.entries.size());
  }
  for (const auto& [key, n] : direct) {
    for (AccountId a = key.first; a != kNoId; a = parent_of(a)) subtree[{a, key.second}] += n;
  }
  for (const auto& [key, n] : direct) storage::WriteCount(sink_, key.first, key.second, n);
  for (const auto& [key, n] : subtree) {
    storage::WriteCount(sink_, key.first, key.second | storage::kCounterSubtreeBit, n);
  }
  storage::WriteMeta64(sink_, storage::kSeqAccount, next_account_);
  storage::WriteMeta64(sink_, storage::kSeqUser, next_user_);
  storage::WriteMeta64(sink_, storage::kSeqEntity, next_entity_);
  storage::WriteMeta64(sink_, storage::kSeqRole, next_role_);
  storage::WriteMeta64(sink_, storage::kSeqRootOrdinal, next_root_ordinal_);
  return sink_.status;
}

Status Importer::SortAndCheck() {
  // The two big key spaces sort in parallel with the visibility buckets.
  std::vector<std::thread> threads;
  for (int cf : {storage::kEntityKeys, storage::kUnitIds}) {
    threads.emplace_back([this, cf] { kvs[cf].Sort(); });
  }
  {
    std::vector<std::pair<std::pair<uint8_t, std::string_view>, const VisBucket*>> buckets;
    buckets.reserve(vis_buckets_.size());
    for (const auto& [key, b] : vis_buckets_) {
      buckets.push_back({{static_cast<uint8_t>(key % 8), b.label}, &b});
    }
    std::sort(buckets.begin(), buckets.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
    std::vector<uint32_t> order;
    order.reserve(kvs[storage::kVisibility].size());
    for (const auto& [k, b] : buckets) order.insert(order.end(), b->entries.begin(), b->entries.end());
    kvs[storage::kVisibility].Permute(order);
    vis_buckets_.clear();
  }
  for (int cf = 0; cf < storage::kNumCfs; ++cf) {
    if (cf != storage::kEntityKeys && cf != storage::kUnitIds) kvs[cf].Sort();
  }
  for (auto& t : threads) t.join();
  const uint64_t first_entity = c_.last_entity_id + 1;
  auto line_of = [&](std::string_view id_bytes) {
    uint64_t id = storage::DecodeFixed64BE(id_bytes.data());
    return entity_lines_[id - first_entity];
  };
  // The sort does not keep file order among equal keys: the error names the
  // later line (the offending one) and the earlier one.
  auto twice = [&](const KvBuffer& kv, size_t d, const std::string& what) {
    const uint64_t a = line_of(kv.value(d - 1)), b = line_of(kv.value(d));
    return Status::InvalidArgument("line " + std::to_string(std::max(a, b)) + ": " + what +
                                   " appears twice (also on line " +
                                   std::to_string(std::min(a, b)) + ")");
  };
  const KvBuffer& keys = kvs[storage::kEntityKeys];
  if (size_t d = keys.FindDuplicate(); d < keys.size()) {
    std::string_view k = keys.key(d);
    auto kind = static_cast<EntityKind>(static_cast<uint8_t>(k[0]));
    return twice(keys, d, std::string(EntityKindName(kind)) + " '" + std::string(k.substr(1)) + "'");
  }
  const KvBuffer& units = kvs[storage::kUnitIds];
  if (size_t d = units.FindDuplicate(); d < units.size()) {
    return twice(units, d, "unit id '" + std::string(units.key(d)) + "'");
  }
  return Status::Ok();
}

// Writes sorted pairs into SST files in `scratch` (and finishes the
// entity stream, if any), then hands them to `ingest` (which applies them
// atomically under the catalog lock).
using IngestFn = std::function<Status(const std::vector<rocksdb::IngestExternalFileArg>&)>;
Status IngestAll(storage::Store& store, Importer& im, ScratchDir& scratch, const IngestFn& ingest) {
  std::vector<rocksdb::IngestExternalFileArg> args;
  std::vector<Status> results(storage::kNumCfs);
  std::vector<std::thread> threads;
  std::vector<std::string> paths(storage::kNumCfs);
  for (int cf = 0; cf < storage::kNumCfs; ++cf) {
    if (!im.kvs[cf].empty()) {
      CANOPY_RETURN_IF_ERROR(scratch.File(std::string(storage::CfName(cf)) + ".sst", &paths[cf]));
    }
  }
  auto write_cf = [&](int cf) {
    std::unique_ptr<rocksdb::SstFileWriter> w = NewSstWriter(store, cf);
    rocksdb::Status s = w->Open(paths[cf]);
    if (s.ok()) s = AddAll(*w, im.kvs[cf], cf == storage::kCounters);
    if (s.ok()) s = w->Finish();
    results[cf] = storage::FromRocks(s, std::string("import: write ") + storage::CfName(cf) + " file");
  };
  std::vector<int> cfs;
  for (int cf = 0; cf < storage::kNumCfs; ++cf) {
    if (!im.kvs[cf].empty()) cfs.push_back(cf);
  }
  // Largest first, so the workers finish together.
  std::sort(cfs.begin(), cfs.end(),
            [&](int a, int b) { return im.kvs[a].bytes() > im.kvs[b].bytes(); });
  // The two largest key spaces in parallel with the rest.
  const unsigned workers = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  for (unsigned t = 0; t < workers; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < cfs.size(); i = next++) write_cf(cfs[i]);
    });
  }
  // Meanwhile, the streams write their last chunks.
  SstStream* stream = im.entity_stream();
  Status streamed = stream != nullptr ? stream->Finish() : Status::Ok();
  SstStream* log_stream = im.log_stream();
  Status log_streamed = log_stream != nullptr ? log_stream->Finish() : Status::Ok();
  for (auto& t : threads) t.join();
  CANOPY_RETURN_IF_ERROR(streamed);
  CANOPY_RETURN_IF_ERROR(log_streamed);
  for (int cf : cfs) {
    CANOPY_RETURN_IF_ERROR(results[cf]);
    rocksdb::IngestExternalFileArg arg;
    arg.column_family = store.cf(cf);
    arg.external_files.push_back(paths[cf]);
    arg.options.move_files = true;
    args.push_back(std::move(arg));
  }
  // A stream's file joins its key space's argument (their keys do not
  // overlap: the staged entry sorts before the streamed input chunks).
  for (SstStream* s : {stream, log_stream}) {
    if (s == nullptr) continue;
    auto same = std::find_if(args.begin(), args.end(), [&](const auto& a) {
      return a.column_family == store.cf(s->cf());
    });
    if (same != args.end()) {
      same->external_files.push_back(s->path());
      continue;
    }
    rocksdb::IngestExternalFileArg arg;
    arg.column_family = store.cf(s->cf());
    arg.external_files.push_back(s->path());
    arg.options.move_files = true;
    args.push_back(std::move(arg));
  }
  return ingest(args);
}

}  // namespace

Status DbImpl::Import(const Actor& actor, std::string_view path, const ImportOptions& options,
                      ImportReport* report) {
  ImportReport local;
  ImportReport* rep = report != nullptr ? report : &local;
  *rep = ImportReport();
  std::shared_lock<std::shared_mutex> open(close_mu_);
  WriteGuard w(write_mu_);
  CANOPY_RETURN_IF_ERROR(CheckWritable("import"));
  if (!actor.is_system()) {
    return Status::PermissionDenied("import needs the system actor (it bypasses per-record rules)");
  }
  if (!log_) {
    storage::LogEntry entry;
    entry.time_us = NowMicros();
    entry.operation = "import";
    return ImportFile(path, options, rep, &entry, /*replayed=*/false);
  }
  // A replica appends the import (with its input) to the log in etcd
  // before it applies it; losing that race to another replica means
  // importing again on the new state, so the input is read from a copy.
  ScratchDir scratch(store_->path());
  std::string copy;
  CANOPY_RETURN_IF_ERROR(scratch.File("replica-import.jsonl", &copy));
  {
    // Copied as a stream (the input may be a pipe), up to the limit of one
    // replicated change.
    std::error_code ec;
    if (std::filesystem::is_directory(std::string(path), ec)) {
      return Status::InvalidArgument("import '" + std::string(path) +
                                     "' is a folder, not a JSON Lines file");
    }
    std::ifstream from{std::string(path), std::ios::binary};
    if (!from) return Status::NotFound("cannot open import file '" + std::string(path) + "'");
    std::ofstream to(copy, std::ios::binary);
    const uint64_t limit = log_->options().max_entry_bytes;
    uint64_t size = 0;
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
      return Status::IOError("cannot copy import file '" + std::string(path) + "' to '" + copy +
                             "'");
    }
    if (size + 4096 > limit) {
      return Status::InvalidArgument(
          "import '" + std::string(path) + "' has more than " + std::to_string(size) +
          " bytes; one replicated change carries at most " + std::to_string(limit) +
          " (split the file, or import into one database and start the replicas from its "
          "checkpoint); nothing was imported");
    }
  }
  const auto started = std::chrono::steady_clock::now();
  for (int attempt = 1;; ++attempt) {
    storage::LogEntry entry;
    entry.time_us = NowMicros();
    entry.operation = "import";
    import_conflict_ = false;
    *rep = ImportReport();
    Status s = ImportFile(copy, options, rep, &entry, /*replayed=*/false);
    if (!import_conflict_) {
      // Refused on a state behind etcd's? Then import again on the newest.
      bool caught_up = false;
      if (s.ok() || s.code() == Code::kUnavailable || s.code() == Code::kAborted ||
          !CatchUpIfBehind(&caught_up).ok() || !caught_up) {
        return s;
      }
    }
    CANOPY_RETURN_IF_ERROR(AfterLostRace(attempt, started));
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
    if (!out) return Status::IOError("cannot write '" + path + "' to replay an import");
  }
  storage::LogEntry entry = e;
  ImportReport report;
  Status s = ImportFile(path, ImportOptions(), &report, &entry, /*replayed=*/true);
  if (!s.ok()) return s.WithContext("replaying the import of revision " + std::to_string(e.revision));
  return Status::Ok();
}

Status DbImpl::ImportFile(std::string_view path, const ImportOptions& options, ImportReport* rep,
                          storage::LogEntry* entry, bool replayed) {
  // A regular file is read with its size known (for progress); a pipe, a
  // FIFO or a device is streamed (size unknown: progress reports 0); a
  // folder is refused.
  std::error_code fs_error;
  const auto kind = std::filesystem::status(std::string(path), fs_error);
  if (!fs_error && std::filesystem::is_directory(kind)) {
    return Status::InvalidArgument("import '" + std::string(path) +
                                   "' is a folder, not a JSON Lines file");
  }
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) return Status::NotFound("cannot open import file '" + std::string(path) + "'");
  uint64_t total = 0;
  if (!fs_error && std::filesystem::is_regular_file(kind)) {
    in.seekg(0, std::ios::end);
    total = static_cast<uint64_t>(in.tellg());
    in.seekg(0);
  }

  PhaseTrace trace;
  try {
    ScratchDir scratch(store_->path());  // outlives the importer's stream
    Importer im(cat(), *store_, rep, &scratch, entry->time_us);
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
          carried = im.LogChunk(rev, chunks++, std::string_view(data, take));  // no copy
        } else {
          chunk.append(data, take);
          if (chunk.size() == kLogChunk) {
            carried = im.LogChunk(rev, chunks++, chunk);
            chunk.clear();
          }
        }
        data += take;
        n -= take;
      }
    };
    // A device line is ~150 bytes: reserve room for the big key spaces so
    // their arenas never copy while growing (untouched room costs nothing).
    im.kvs[storage::kEntities].Reserve(std::min<uint64_t>(total / 100, kStreamEntitiesAfter),
                                       std::min<uint64_t>(total, kStreamEntitiesAfter * 256));
    im.kvs[storage::kVisibility].Reserve(total / 100, total / 2);
    im.kvs[storage::kEntityKeys].Reserve(total / 100, total / 4);
    im.kvs[storage::kUnitIds].Reserve(total / 100, total / 4);
    XXH3_state_t* hash = XXH3_createState();
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> hash_owner(hash, XXH3_freeState);
    XXH3_64bits_reset(hash);

    // Read in chunks; parse whole lines from a padded buffer.
    constexpr size_t kChunk = size_t{16} << 20;
    // The longest line accepted (a record's fields are bounded far below).
    constexpr size_t kMaxLineBytes = size_t{64} << 20;
    std::string buf;
    size_t start = 0;  // first unparsed byte of buf
    uint64_t line_no = 0;
    uint64_t consumed = 0;
    bool eof = false;
    while (true) {
      size_t nl = buf.find('\n', start);
      if (nl == std::string::npos && !eof) {
        if (buf.size() - start > kMaxLineBytes) {
          // No newline within the cap (a runaway or binary input, /dev/zero):
          // stop before memory runs out.
          return Status::InvalidArgument(
              "import '" + std::string(path) + "' line " + std::to_string(line_no + 1) +
              " is longer than " + std::to_string(kMaxLineBytes >> 20) +
              " MiB (is it a JSON Lines file?); nothing was imported");
        }
        buf.erase(0, start);
        start = 0;
        size_t old = buf.size();
        buf.resize(old + kChunk + simdjson::SIMDJSON_PADDING);
        in.read(buf.data() + old, kChunk);
        size_t got = static_cast<size_t>(in.gcount());
        buf.resize(old + got);
        if (got > 0) carry(buf.data() + old, got);
        if (got == 0) eof = true;
        if (in.bad()) return Status::IOError("cannot read import file '" + std::string(path) + "'");
        continue;
      }
      size_t end = nl == std::string::npos ? buf.size() : nl;
      if (start >= buf.size() && eof) break;
      ++line_no;
      std::string_view line(buf.data() + start, end - start);
      const size_t raw_len = (nl == std::string::npos ? end : nl + 1) - start;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      bool blank = line.find_first_not_of(" \t") == std::string_view::npos;
      if (!blank) {
        // simdjson reads up to SIMDJSON_PADDING bytes past the line: they
        // lie within buf's capacity (each read leaves that much spare).
        bool was_end = im.ended();
        Status s = im.Line(line, line_no);
        if (!s.ok()) {
          return Status(s.code() == Code::kCorruption || s.code() == Code::kIOError
                            ? s.code()
                            : Code::kInvalidArgument,
                        "import '" + std::string(path) + "' line " + std::to_string(line_no) +
                            ": " + s.message() + "; nothing was imported");
        }
        if (!was_end && im.ended()) {
          if (Hex64(XXH3_64bits_digest(hash)) != im.end_checksum()) {
            return Status::InvalidArgument("import '" + std::string(path) + "' line " +
                                           std::to_string(line_no) +
                                           ": checksum mismatch (the file was altered or "
                                           "damaged); nothing was imported");
          }
        }
      }
      if (!im.ended()) XXH3_64bits_update(hash, buf.data() + start, raw_len);
      consumed += raw_len;
      start += raw_len;
      if (line_no % kProgressEvery == 0 && options.progress &&
          !options.progress(consumed, total)) {
        return Status::Aborted("import cancelled at line " + std::to_string(line_no) +
                               "; nothing was imported");
      }
    }
    rep->lines = line_no;
    trace.Mark("parse");
    CANOPY_RETURN_IF_ERROR(im.Finish(entry->time_us));
    // The log entry: one revision for the whole import, its input in
    // chunks beside it.
    if (!chunk.empty() && carried.ok()) carried = im.LogChunk(rev, chunks++, chunk);  // the rest
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
      im.kvs[storage::kMeta].Add(storage::kMetaLogId, entry->log_id);
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
                             .str();
      entry->import_chunks = chunks;
      entry->import_bytes = input_bytes;
      entry->import_hash = input_digest;
    }
    const std::string encoded = storage::EncodeLogEntry(*entry);
    im.kvs[storage::kChanges].Add(storage::LogKey(rev), encoded);
    Status sorted = im.SortAndCheck();
    trace.Mark("sort");
    if (!sorted.ok()) {
      return Status(sorted.code(), "import '" + std::string(path) + "' " + sorted.message() +
                                       "; nothing was imported");
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
      CANOPY_RETURN_IF_ERROR(apply());  // nothing applied when it fails
      Status reload = versions_.latest().Load(*store_);
      if (!reload.ok()) {
        Poison(reload.WithContext("reload after import"));
        return poisoned_;
      }
      versions_.NoteReplaced();
      Advance(rev, replayed ? &entry->log_id : nullptr);
      NoteCommitted(rev);
      return PublishLocked();
    };
    if (im.total() <= kBatchLimit && im.entity_stream() == nullptr &&
        im.log_stream() == nullptr) {
      rocksdb::WriteBatch batch;
      storage::BatchSink sink(*store_, &batch);
      for (int cf = 0; cf < storage::kNumCfs; ++cf) {
        const KvBuffer& kv = im.kvs[cf];
        for (size_t i = 0; i < kv.size(); ++i) {
          if (cf == storage::kCounters) {
            sink.Merge(cf, kv.key(i), kv.value(i));
          } else {
            sink.Put(cf, kv.key(i), kv.value(i));
          }
        }
      }
      CANOPY_RETURN_IF_ERROR(commit([&] { return store_->Write(&batch); }));
    } else {
      CANOPY_RETURN_IF_ERROR(IngestAll(*store_, im, scratch, [&](const auto& args) {
        return commit([&] {
          return storage::FromRocks(store_->db()->IngestExternalFiles(args), "import: ingest");
        });
      }));
    }
    trace.Mark("write and reload");
    if (options.progress) options.progress(total, total);
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("import failed: ") + e.what() + "; nothing was imported");
  }
}

Status DbImpl::Export(std::string_view path, const ProgressFn& progress,
                      ImportReport* counts) const {
  ImportReport local;
  ImportReport* rep = counts != nullptr ? counts : &local;
  *rep = ImportReport();
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
  // one a killed export left) and renamed into place once synced, so PATH
  // is never half-written. Anything else (a pipe, a FIFO, a device) is
  // written in place: renaming over it would replace the special file.
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
  } else {
    f = std::fopen(tmp.c_str(), "wb");
  }
  if (f == nullptr) return Status::IOError("cannot write '" + tmp + "'");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(f, std::fclose);
  XXH3_state_t* hash = XXH3_createState();
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> hash_owner(hash, XXH3_freeState);
  XXH3_64bits_reset(hash);
  std::string line;
  uint64_t records = 0;
  auto emit = [&]() -> Status {
    line.push_back('\n');
    XXH3_64bits_update(hash, line.data(), line.size());
    if (std::fwrite(line.data(), 1, line.size(), f) != line.size()) {
      return Status::IOError("cannot write '" + tmp + "'");
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
  auto scan = [&](int cf, auto&& fn) -> Status {
    auto it = store_->NewIterator(cf, snap, "", "", false);
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      rocksdb::Slice k = (*it)->key(), v = (*it)->value();
      CANOPY_RETURN_IF_ERROR(fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size())));
    }
    return storage::FromRocks((*it)->status(), "export");
  };

  std::unordered_map<AccountId, std::string> account_keys;
  CANOPY_RETURN_IF_ERROR(scan(storage::kTree, [&](auto, auto v) -> Status {
    std::string bytes;
    if (v.size() != 8) return Status::Corruption("export: a tree entry is damaged");
    AccountId id = storage::DecodeFixed64BE(v.data());
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
    line.append("\"}}");
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
    line.append("}");
    rep->users++;
    return emit();
  }));
  CANOPY_RETURN_IF_ERROR(scan(storage::kMemberships, [&](auto k, auto v) -> Status {
    Membership m;
    CANOPY_RETURN_IF_ERROR(storage::DecodeMembership(v, &m));
    if (k.size() != 16) return Status::Corruption("export: a membership key is damaged");
    line.append("{\"type\":\"membership\",\"login\":");
    query::AppendJsonString(&line, logins[storage::DecodeFixed64BE(k.data())]);
    line.append(",\"account\":");
    query::AppendJsonString(&line, account_keys[storage::DecodeFixed64BE(k.data() + 8)]);
    line.append(",\"role\":");
    query::AppendJsonString(&line, role_names[m.role]);
    line.append(m.branch ? ",\"branch\":true}" : ",\"branch\":false}");
    rep->memberships++;
    return emit();
  }));
  CANOPY_RETURN_IF_ERROR(scan(storage::kEntities, [&](auto, auto v) -> Status {
    Entity e;
    CANOPY_RETURN_IF_ERROR(storage::DecodeEntity(v, &e));
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
    line.append("}");
    rep->entities++;
    if (progress && rep->entities % kProgressEvery == 0 && !progress(rep->entities, total_entities)) {
      return Status::Aborted("export cancelled");
    }
    return emit();
  }));
  std::string end = "{\"type\":\"end\",\"records\":" + std::to_string(records) + ",\"xxh3\":\"" +
                    Hex64(XXH3_64bits_digest(hash)) + "\"}\n";
  if (std::fwrite(end.data(), 1, end.size(), f) != end.size() || std::fflush(f) != 0) {
    return Status::IOError("cannot write '" + tmp + "'");
  }
  // Durable before it is renamed into place (a regular file only: a pipe
  // cannot be synced).
  if (!in_place && ::fsync(fileno(f)) != 0) {
    return Status::IOError("cannot sync '" + tmp + "': " + std::strerror(errno));
  }
  if (std::fclose(file.release()) != 0) {
    return Status::IOError("cannot close '" + tmp + "': " + std::strerror(errno));
  }
  rep->lines = records + 1;
  if (!in_place) {
    std::error_code ec;
    std::filesystem::rename(tmp, target, ec);
    if (ec) {
      return Status::IOError("cannot rename '" + tmp + "' to '" + target + "': " + ec.message());
    }
    // The rename itself survives a power loss once its folder is synced.
    const std::string folder = std::filesystem::path(target).parent_path().string();
    const int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  if (progress) progress(total_entities, total_entities);
  return Status::Ok();
}

}  // namespace canopy::engine
