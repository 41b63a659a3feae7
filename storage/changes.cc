// Copyright (c) Canopy authors.

#include "storage/changes.h"

#include <algorithm>
#include <cstring>

#include <flatbuffers/flatbuffers.h>
#include <xxhash.h>

#include "storage/coding.h"
#include "storage/schema/change_generated.h"

namespace canopy::storage {

namespace {

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> Bytes(flatbuffers::FlatBufferBuilder& b,
                                                        std::string_view s) {
  return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string_view View(const flatbuffers::Vector<uint8_t>* v) {
  return v == nullptr ? std::string_view()
                      : std::string_view(reinterpret_cast<const char*>(v->data()), v->size());
}
std::string_view View(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->data(), s->size());
}

// A FlatBufferBuilder's memory, held in the string the entry is returned
// in: the finished entry is moved to the string's front in place instead of
// copied out, so a large entry (hundreds of MB) is in memory once, not
// twice. The builder never frees it (deallocate keeps the string).
class StringAllocator final : public flatbuffers::Allocator {
 public:
  explicit StringAllocator(std::string* s) : s_(s) {}
  uint8_t* allocate(size_t size) override {
    s_->assign(size, '\0');
    return reinterpret_cast<uint8_t*>(s_->data());
  }
  void deallocate(uint8_t*, size_t) override {}
  uint8_t* reallocate_downward(uint8_t* old_p, size_t old_size, size_t new_size,
                               size_t in_use_back, size_t in_use_front) override {
    std::string bigger(new_size, '\0');
    std::memcpy(bigger.data() + new_size - in_use_back, old_p + old_size - in_use_back,
                in_use_back);
    std::memcpy(bigger.data(), old_p, in_use_front);
    s_->swap(bigger);
    return reinterpret_cast<uint8_t*>(s_->data());
  }

 private:
  std::string* s_;
};

}  // namespace

const char* RecordTypeName(RecordType t) {
  switch (t) {
    case RecordType::kAccount: return "account";
    case RecordType::kEntity: return "entity";
    case RecordType::kUser: return "user";
    case RecordType::kMembership: return "membership";
    case RecordType::kRole: return "role";
    case RecordType::kMeta: return "meta";
    case RecordType::kGroup: return "group";
    case RecordType::kGroupMember: return "group_member";
    case RecordType::kGroupGrant: return "group_grant";
    case RecordType::kGroupMembers: return "group_members";
  }
  return "?";
}

namespace {

Status DecodeRecord(RecordType type, std::string_view key, std::string_view bytes, Record* out) {
  if (bytes.empty()) {
    *out = std::monostate();
    return Status::Ok();
  }
  switch (type) {
    case RecordType::kAccount: {
      AccountRecord r;
      CANOPY_RETURN_IF_ERROR(DecodeAccount(bytes, &r));
      *out = std::move(r);
      return Status::Ok();
    }
    case RecordType::kEntity: {
      Entity e;
      CANOPY_RETURN_IF_ERROR(DecodeEntity(bytes, &e));
      *out = std::move(e);
      return Status::Ok();
    }
    case RecordType::kUser: {
      User u;
      CANOPY_RETURN_IF_ERROR(DecodeUser(bytes, &u));
      *out = std::move(u);
      return Status::Ok();
    }
    case RecordType::kMembership: {
      if (key.size() != 16) return Status::Corruption("change set: damaged membership key");
      Membership m;
      CANOPY_RETURN_IF_ERROR(DecodeMembership(bytes, &m));
      m.user = DecodeFixed64BE(key.data());
      m.account = DecodeFixed64BE(key.data() + 8);
      *out = std::move(m);
      return Status::Ok();
    }
    case RecordType::kRole: {
      Role r;
      CANOPY_RETURN_IF_ERROR(DecodeRole(bytes, &r));
      *out = std::move(r);
      return Status::Ok();
    }
    case RecordType::kMeta:
      if (bytes.size() != 8) return Status::Corruption("change set: damaged meta value");
      *out = std::monostate();
      return Status::Ok();
    case RecordType::kGroup: {
      Group g;
      CANOPY_RETURN_IF_ERROR(DecodeGroup(bytes, &g));
      *out = std::move(g);
      return Status::Ok();
    }
    case RecordType::kGroupMember: {
      if (key.size() != 16) return Status::Corruption("change set: damaged group member key");
      GroupMemberRecord m;
      CANOPY_RETURN_IF_ERROR(DecodeGroupMember(bytes, &m));
      m.group = DecodeFixed64BE(key.data());
      m.member = DecodeFixed64BE(key.data() + 8);
      *out = std::move(m);
      return Status::Ok();
    }
    case RecordType::kGroupGrant: {
      if (key.size() != 24) return Status::Corruption("change set: damaged group grant key");
      GroupGrant g;
      CANOPY_RETURN_IF_ERROR(DecodeGroupGrant(bytes, &g));
      g.user_group = DecodeFixed64BE(key.data());
      g.role = DecodeFixed64BE(key.data() + 8);
      g.target = DecodeFixed64BE(key.data() + 16);
      *out = std::move(g);
      return Status::Ok();
    }
    case RecordType::kGroupMembers: {
      if (key.size() != 8) return Status::Corruption("change set: damaged group members key");
      GroupMembersRecord m;
      CANOPY_RETURN_IF_ERROR(DecodeGroupMembers(bytes, &m));
      m.group = DecodeFixed64BE(key.data());
      *out = std::move(m);
      return Status::Ok();
    }
  }
  return Status::Corruption("change set: unknown record type");
}

}  // namespace

Status DecodeRecords(ChangeSet* changes) {
  for (RecordChange& r : changes->records) {
    if (r.type != RecordType::kMeta && r.key.size() < 8) {
      return Status::Corruption(std::string("change set: a ") + RecordTypeName(r.type) +
                                " change has a damaged key");
    }
    if (r.type == RecordType::kGroupMembers && !r.before.empty()) {
      return Status::Corruption("change set: a group_members change has a before side");
    }
    CANOPY_RETURN_IF_ERROR(DecodeRecord(r.type, r.key, r.before, &r.before_record));
    CANOPY_RETURN_IF_ERROR(DecodeRecord(r.type, r.key, r.after, &r.after_record));
  }
  return Status::Ok();
}

std::string LogKey(uint64_t revision) { return Fixed64BE(revision); }

std::string LogChunkKey(uint64_t revision, uint32_t chunk) {
  std::string k = Fixed64BE(revision);
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((chunk >> (8 * i)) & 0xff));
  return k;
}

bool DecodeLogKey(std::string_view key, uint64_t* revision, int64_t* chunk) {
  if (key.size() != 8 && key.size() != 12) return false;
  *revision = DecodeFixed64BE(key.data());
  if (key.size() == 8) {
    *chunk = -1;
  } else {
    uint32_t c = 0;
    for (int i = 0; i < 4; ++i) c = (c << 8) | static_cast<uint8_t>(key[8 + i]);
    *chunk = c;
  }
  return true;
}

std::string EncodeLogEntry(const LogEntry& e, size_t initial_bytes) {
  // Sized once from the entry's bound without its slack: a large call's
  // entry (hundreds of MB) would otherwise grow by doubling, copied into
  // fresh memory each time.
  const uint64_t texts =
      e.log_id.size() + e.actor_login.size() + e.operation.size() + e.arguments.size();
  const uint64_t bound = LogEntryBytesBound(e.changes, texts) - LogEntryOverheadBytes(0);
  std::string out;
  StringAllocator memory(&out);
  flatbuffers::FlatBufferBuilder b(
      initial_bytes > 0
          ? initial_bytes
          : static_cast<size_t>(std::min<uint64_t>(1024 + bound, FLATBUFFERS_MAX_BUFFER_SIZE / 2)),
      &memory);
  std::vector<flatbuffers::Offset<fb::RecordChange>> records;
  records.reserve(e.changes.records.size());
  for (const RecordChange& r : e.changes.records) {
    records.push_back(fb::CreateRecordChange(b, static_cast<uint8_t>(r.type), Bytes(b, r.key),
                                             Bytes(b, r.before), Bytes(b, r.after),
                                             Bytes(b, r.before_scope), Bytes(b, r.after_scope)));
  }
  std::vector<flatbuffers::Offset<fb::CounterChange>> counters;
  counters.reserve(e.changes.counters.size());
  for (const CounterChange& c : e.changes.counters) {
    counters.push_back(fb::CreateCounterChange(b, c.account, c.counter, c.delta));
  }
  auto root = fb::CreateLogEntry(b, e.revision, e.time_us, b.CreateString(e.log_id),
                                 e.actor_user, b.CreateString(e.actor_login),
                                 b.CreateString(e.operation), b.CreateString(e.arguments),
                                 b.CreateVector(records), b.CreateVector(counters),
                                 e.import_chunks, e.import_bytes, e.import_hash);
  b.Finish(root, fb::LogEntryIdentifier());
  // The entry ends the builder's memory (it is built from the back): moved
  // to the front, the room it was not built in becomes the checksum's.
  const size_t size = b.GetSize();
  const char* built = reinterpret_cast<const char*>(b.GetBufferPointer());
  if (built + size != out.data() + out.size()) {
    // Never (the builder's layout changed): copy the entry out instead.
    std::string copy(built, size);
    out.swap(copy);
  } else {
    std::memmove(out.data(), built, size);
    out.resize(size);
  }
  PutFixed64BE(&out, XXH3_64bits(out.data(), out.size()));
  return out;
}

uint64_t RecordChangeBytes(const RecordChange& r) {
  return kRecordChangeFixedBytes + r.key.size() + r.before.size() + r.after.size() +
         r.before_scope.size() + r.after_scope.size();
}

uint64_t LogEntryOverheadBytes(uint64_t text_bytes) {
  // The entry's own fields, vectors and strings (each string's length,
  // padding and offset are far below the slack).
  return 64 * 1024 + text_bytes;
}

uint64_t LogEntryBytesBound(const ChangeSet& changes, uint64_t text_bytes) {
  // Each counter change is a table of three scalars.
  uint64_t bytes = LogEntryOverheadBytes(text_bytes) + 48 * changes.counters.size();
  for (const RecordChange& r : changes.records) bytes += RecordChangeBytes(r);
  return bytes;
}

Status CallTooLarge(std::string_view operation, uint64_t records, uint64_t bytes,
                    uint64_t limit, bool at_least) {
  auto size = [](uint64_t b) {
    return b >= (uint64_t{1} << 20) ? std::to_string(b >> 20) + " MiB"
                                    : std::to_string(b >> 10) + " KiB";
  };
  return Status::InvalidArgument(
      std::string(operation) + " would change " + std::to_string(records) +
      (at_least ? " or more records at once, at least " : " records at once, about ") +
      size(bytes) + " of change log; one call may write at most " + size(limit) +
      ": split it into smaller calls (nothing was changed)");
}

Status LogEntryFits(const ChangeSet& changes, std::string_view operation, uint64_t text_bytes,
                    uint64_t limit) {
  const uint64_t bytes = LogEntryBytesBound(changes, text_bytes);
  if (bytes <= limit) return Status::Ok();
  return CallTooLarge(operation, changes.records.size(), bytes, limit, /*at_least=*/false);
}

namespace {

// Verifies and opens an entry; `buffer` gets the aligned copy it reads.
Status OpenLogEntry(std::string_view bytes, std::string* buffer, const fb::LogEntry** out) {
  if (bytes.size() < 16) return Status::Corruption("change-log entry is truncated");
  const size_t n = bytes.size() - 8;
  if (XXH3_64bits(bytes.data(), n) != DecodeFixed64BE(bytes.data() + n)) {
    return Status::Corruption("change-log entry fails its checksum");
  }
  // FlatBuffers reads scalars in place: align the buffer.
  buffer->assign(bytes.data(), n);
  const auto* data = reinterpret_cast<const uint8_t*>(buffer->data());
  if (n >= FLATBUFFERS_MAX_BUFFER_SIZE) return Status::Corruption("change-log entry is too large");
  // As many tables as the entry can hold (one per record and counter
  // change): the default limit (a million) refused the entries of large
  // calls that were written and committed. A table takes 4 bytes at least,
  // so verifying stays linear in the entry's size.
  flatbuffers::Verifier verifier(data, n, /*max_depth=*/64,
                                 static_cast<flatbuffers::uoffset_t>(std::max<size_t>(1000000, n / 4)));
  if (!flatbuffers::BufferHasIdentifier(data, fb::LogEntryIdentifier()) ||
      !fb::VerifyLogEntryBuffer(verifier)) {
    return Status::Corruption("change-log entry is not a valid log record");
  }
  *out = fb::GetLogEntry(data);
  return Status::Ok();
}

}  // namespace

Status DecodeLogEntryView(std::string_view bytes, std::string* buffer, LogEntryView* e) {
  const fb::LogEntry* r = nullptr;
  CANOPY_RETURN_IF_ERROR(OpenLogEntry(bytes, buffer, &r));
  e->revision = r->revision();
  e->time_us = r->time_us();
  e->log_id = View(r->log_id());
  e->actor_user = r->actor_user();
  e->actor_login = View(r->actor_login());
  e->operation = View(r->operation());
  e->arguments = View(r->arguments());
  e->records.clear();
  if (r->records() != nullptr) {
    e->records.reserve(r->records()->size());
    for (const auto* c : *r->records()) {
      if (c->type() < 1 || c->type() > kLastRecordType) {
        return Status::Corruption("change-log entry " + std::to_string(e->revision) +
                                  " has an unknown record type " + std::to_string(c->type()));
      }
      RecordChangeRef& rc = e->records.emplace_back();
      rc.type = static_cast<RecordType>(c->type());
      rc.key = View(c->key());
      rc.before = View(c->before());
      rc.after = View(c->after());
      rc.before_scope = View(c->before_scope());
      rc.after_scope = View(c->after_scope());
    }
  }
  e->import_chunks = r->import_chunks();
  e->import_bytes = r->import_bytes();
  e->import_hash = r->import_hash();
  return Status::Ok();
}

Status DecodeLogEntry(std::string_view bytes, LogEntry* e) {
  std::string buffer;
  LogEntryView v;
  CANOPY_RETURN_IF_ERROR(DecodeLogEntryView(bytes, &buffer, &v));
  *e = LogEntry();
  e->revision = v.revision;
  e->time_us = v.time_us;
  e->log_id = v.log_id;
  e->actor_user = v.actor_user;
  e->actor_login = v.actor_login;
  e->operation = v.operation;
  e->arguments = v.arguments;
  e->changes.records.reserve(v.records.size());
  for (const RecordChangeRef& c : v.records) {
    RecordChange& rc = e->changes.records.emplace_back();
    rc.type = c.type;
    rc.key = c.key;
    rc.before = c.before;
    rc.after = c.after;
    rc.before_scope = c.before_scope;
    rc.after_scope = c.after_scope;
  }
  const fb::LogEntry* r = fb::GetLogEntry(reinterpret_cast<const uint8_t*>(buffer.data()));
  if (r->counters() != nullptr) {
    for (const auto* c : *r->counters()) {
      e->changes.counters.push_back({c->account(), c->counter(), c->delta()});
    }
  }
  e->import_chunks = v.import_chunks;
  e->import_bytes = v.import_bytes;
  e->import_hash = v.import_hash;
  return Status::Ok();
}

std::string FrameLogEntry(std::string_view entry, std::string_view input) {
  std::string out;
  out.reserve(4 + entry.size() + input.size());
  const uint32_t n = static_cast<uint32_t>(entry.size());
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(entry);
  out.append(input);
  return out;
}

Status UnframeLogEntry(std::string_view framed, std::string_view* entry,
                       std::string_view* input) {
  if (framed.size() < 4) return Status::Corruption("change-log entry is truncated");
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(framed[i]);
  if (n > framed.size() - 4) return Status::Corruption("change-log entry is truncated");
  *entry = framed.substr(4, n);
  *input = framed.substr(4 + n);
  return Status::Ok();
}

}  // namespace canopy::storage
