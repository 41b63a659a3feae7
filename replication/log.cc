// Copyright (c) Canopy authors.
//
// EtcdLog: the change log in etcd (see log.h and docs/replication.md).

#include "replication/log.h"

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include <xxhash.h>

namespace canopy::replication {

namespace {

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string RandomId() {
  std::random_device rd;
  return Hex64((static_cast<uint64_t>(rd()) << 32) ^ rd());
}

std::string ChunkDigits(size_t i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%06zu", i);
  return buf;
}

// A chunked entry's manifest: "<bytes> <chunks> <xxh3 hex> <blob id>".
struct Manifest {
  uint64_t bytes = 0;
  uint64_t chunks = 0;
  std::string hash;
  std::string id;
};

bool ParseManifest(std::string_view s, Manifest* m) {
  char hash[32] = {0};
  char id[32] = {0};
  unsigned long long bytes = 0, chunks = 0;
  const std::string z(s);
  if (std::sscanf(z.c_str(), "%llu %llu %31s %31s", &bytes, &chunks, hash, id) != 4) return false;
  m->bytes = bytes;
  m->chunks = chunks;
  m->hash = hash;
  m->id = id;
  return true;
}

}  // namespace

std::string RevisionDigits(uint64_t rev) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(rev));
  return buf;
}

std::string_view KeyFamilyIn(std::string_view prefix) {
  static constexpr std::string_view kFamilies[] = {"head", "log", "blob", "replicas",
                                                   "checkpoint"};
  size_t slash = prefix.find('/');
  while (slash != std::string_view::npos) {
    const size_t next = prefix.find('/', slash + 1);
    const std::string_view part = prefix.substr(
        slash + 1, next == std::string_view::npos ? std::string_view::npos : next - slash - 1);
    for (std::string_view f : kFamilies) {
      if (part == f) return f;
    }
    slash = next;
  }
  return {};
}

std::string NewReplicaId() {
  char host[64] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  // Only characters a key and IsReplicaId take ('/' would not do).
  for (char* c = host; *c != '\0'; ++c) {
    if (!std::isalnum(static_cast<unsigned char>(*c)) && *c != '.' && *c != '-' && *c != '_') {
      *c = '_';
    }
  }
  std::random_device rd;
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%s-%d-%08x", host[0] ? host : "host", static_cast<int>(getpid()),
                rd());
  return buf;
}

bool IsReplicaId(std::string_view id) {
  // "<host>-<pid>-<8 hex digits>" (NewReplicaId).
  const size_t dash = id.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || id.size() - dash - 1 != 8) return false;
  for (char c : id.substr(dash + 1)) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  const size_t before = id.rfind('-', dash - 1);
  if (before == std::string_view::npos || before == 0 || before + 1 == dash) return false;
  for (char c : id.substr(before + 1, dash - before - 1)) {
    if (c < '0' || c > '9') return false;
  }
  return id.find('/') == std::string_view::npos;
}

bool ParseRevision(std::string_view digits, uint64_t* rev) {
  if (digits.empty() || digits.size() > 20) return false;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *rev = v;
  return true;
}

EtcdLog::EtcdLog(LogOptions options)
    : options_(std::move(options)), etcd_(options_.etcd), turn_token_(RandomId() + RandomId()) {}

std::string EtcdLog::EntryKey(uint64_t rev) const { return Key("log/" + RevisionDigits(rev)); }

// Every read, watch and trim of the log covers [P/log/0, P/log/:): the
// keys made of digits (EntryKey) and nothing else. Keys that are not ours
// under P/log/ (put there by hand, or by a database whose prefix nests in
// P's families, which replication options now refuse: KeyFamilyIn) are
// neither taken for entries nor deleted.
std::string EtcdLog::EntriesBegin() const { return Key("log/0"); }
std::string EtcdLog::EntriesEnd() const { return Key("log/:"); }

Status EtcdLog::Append(uint64_t head, std::string_view entry, bool* committed,
                       uint64_t* current_head) {
  return Append(head, std::vector<std::string_view>{entry}, committed, current_head);
}

Status EtcdLog::Append(uint64_t head, const std::vector<std::string_view>& entries,
                       bool* committed, uint64_t* current_head,
                       std::vector<LogEntryBytes>* missed) {
  *committed = false;
  *current_head = head;
  if (missed != nullptr) missed->clear();
  if (entries.empty()) return Status::InvalidArgument("an append of no entries");
  for (std::string_view entry : entries) {
    if (entry.size() > options_.max_entry_bytes) {
      return Status::InvalidArgument(
          "a change of " + std::to_string(entry.size()) + " bytes exceeds the " +
          std::to_string(options_.max_entry_bytes) +
          "-byte limit of one replicated change (split the import into smaller files)");
    }
  }
  const uint64_t last = head + entries.size();
  std::vector<std::string> values(entries.size());
  std::vector<std::string> blob_prefixes;
  auto drop_chunks = [&] {
    for (const std::string& p : blob_prefixes) (void)etcd_.DeleteRange(p, PrefixEnd(p));
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string_view entry = entries[i];
    const uint64_t rev = head + 1 + i;
    std::string& value = values[i];
    if (entry.size() <= options_.inline_bytes) {
      value.reserve(entry.size() + 1);
      value.push_back('I');
      value.append(entry);
      continue;
    }
    // Chunks first, under a name no other writer uses; the entry (the
    // manifest) is appended only if they are all in etcd.
    const std::string id = RandomId();
    const std::string blob_prefix = Key("blob/" + RevisionDigits(rev) + "/" + id + "/");
    blob_prefixes.push_back(blob_prefix);
    size_t n = 0;
    for (size_t off = 0; off < entry.size(); off += options_.chunk_bytes, ++n) {
      Status s = etcd_.Put(blob_prefix + ChunkDigits(n),
                           entry.substr(off, std::min(options_.chunk_bytes, entry.size() - off)));
      if (!s.ok()) {
        drop_chunks();
        return s.WithContext("appending revision " + std::to_string(rev) + " (chunk " +
                             std::to_string(n) + ")");
      }
    }
    value = "C" + std::to_string(entry.size()) + " " + std::to_string(n) + " " +
            Hex64(XXH3_64bits(entry.data(), entry.size())) + " " + id;
  }
  std::vector<EtcdCompare> compares(1);
  compares[0].key = Key("head");
  if (head == 0) {
    compares[0].target = EtcdCompare::Target::kVersion;  // no head yet
    compares[0].number = 0;
  } else {
    compares[0].target = EtcdCompare::Target::kValue;
    compares[0].value = std::to_string(head);
    // The same head key this log has followed (log.h: the log's identity).
    const int64_t created = head_created_.load();
    if (created != 0) {
      EtcdCompare same;
      same.key = Key("head");
      same.target = EtcdCompare::Target::kCreateRevision;
      same.number = created;
      compares.push_back(same);
    }
  }
  // The turn: nobody's, or this EtcdLog's (whose append then ends it).
  compares.emplace_back();
  const size_t turn_compare = compares.size() - 1;
  compares[turn_compare].key = Key("turn");
  std::vector<EtcdOp> success(entries.size() + 1), failure(4);
  for (size_t i = 0; i < entries.size(); ++i) {
    success[i].type = EtcdOp::Type::kPut;
    success[i].key = EntryKey(head + 1 + i);
    success[i].value = values[i];
  }
  success.back().type = EtcdOp::Type::kPut;
  success.back().key = Key("head");
  success.back().value = std::to_string(last);
  const size_t puts = success.size();
  auto set_turn = [&](bool holding) {
    EtcdCompare& c = compares[turn_compare];
    c.target = holding ? EtcdCompare::Target::kValue : EtcdCompare::Target::kVersion;
    c.value = holding ? turn_token_ : std::string();
    c.number = 0;
    success.resize(puts);
    if (holding) {
      success.emplace_back();
      success.back().type = EtcdOp::Type::kDeleteRange;
      success.back().key = Key("turn");
    }
  };
  bool holding = turn_held_.load();
  set_turn(holding);
  // On a failed compare: the head, and the entries from revision head+1 on
  // (those this append wanted: ours when an earlier attempt of this very
  // append was committed; else the ones the caller missed).
  failure[0].type = EtcdOp::Type::kRange;
  failure[0].key = Key("head");
  failure[1].type = EtcdOp::Type::kRange;
  failure[1].key = EntryKey(head + 1);
  failure[1].range_end = EntriesEnd();
  failure[1].limit = static_cast<int64_t>(std::max<size_t>(entries.size(), kMissedEntries));
  failure[2].type = EtcdOp::Type::kRange;
  failure[2].key = Key("turn");
  // And the entry at `head` (the caller's last), for the caller to compare
  // with its own before it applies what it missed.
  failure[3].type = EtcdOp::Type::kRange;
  failure[3].key = EntryKey(head);
  const std::string what = entries.size() == 1 ? "revision " + std::to_string(last)
                                               : "revisions " + std::to_string(head + 1) +
                                                     " to " + std::to_string(last);
  // Retried while etcd is unavailable (a leader election after a member
  // died takes a second or two), within a budget. Retrying is safe: the
  // compare makes a second attempt fail if the first one was applied, and
  // the failure's reads of the revisions then find these very entries.
  // (The client itself may also have sent one call twice, to two members.)
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.append_timeout_ms);
  int backoff_ms = 20;
  bool maybe_applied = false;  // an attempt may have reached etcd
  while (true) {
    EtcdTxnResult result;
    Status s = etcd_.Txn(compares, success, failure, &result);
    maybe_applied = maybe_applied || result.reached;
    if (s.ok() && result.succeeded) {
      if (holding) turn_held_.store(false);
      if (head == 0) {
        // This append created the head: its create revision is the txn's.
        int64_t none = 0;
        head_created_.compare_exchange_strong(none, result.header_revision);
      }
      *committed = true;
      *current_head = last;
      return Status::Ok();
    }
    if (s.ok()) {
      if (result.ranges.size() != 4) {
        drop_chunks();
        return Status::Internal("etcd answered a four-range read with " +
                                std::to_string(result.ranges.size()) + " ranges");
      }
      const std::vector<EtcdKv>& after = result.ranges[1];
      const size_t n = entries.size();
      if (after.size() >= n && after.front().key == EntryKey(head + 1) &&
          after.front().value == values.front() && after[n - 1].key == EntryKey(last) &&
          after[n - 1].value == values.back()) {
        // An earlier attempt of this very append moved the head.
        if (holding) turn_held_.store(false);
        *committed = true;
        *current_head = last;
        return Status::Ok();
      }
      Status checked = CheckHead(result.ranges[0], result.header_revision);
      uint64_t h = 0;
      if (checked.ok() && !result.ranges[0].empty() &&
          !ParseRevision(result.ranges[0][0].value, &h)) {
        checked = Status::Corruption("etcd key '" + Key("head") + "' holds '" +
                                     result.ranges[0][0].value + "', not a revision");
      }
      if (!checked.ok()) {
        drop_chunks();
        return checked;
      }
      const std::vector<EtcdKv>& turn = result.ranges[2];
      const bool mine = !turn.empty() && turn[0].value == turn_token_;
      if (h == head && mine && !holding) {
        // This EtcdLog's turn (claimed by another of its writers meanwhile,
        // or left by a release that failed): appended with, and ended.
        holding = true;
        turn_held_.store(true);
        set_turn(true);
        continue;
      }
      if (h == head && !mine && (holding || !turn.empty())) {
        // The head is where this append expects it: the turn refused it.
        // This EtcdLog's own turn is over (its lease expired); another's
        // is waited for. Then the same entries are tried again.
        holding = false;
        turn_held_.store(false);
        set_turn(false);
        if (!turn.empty()) {
          Status w = WaitForTurn(head);
          if (!w.ok()) {
            drop_chunks();
            return w.WithContext("appending " + what);
          }
          // Waiting is not etcd being unavailable: the retries' time starts again.
          deadline = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(options_.append_timeout_ms);
        }
        continue;
      }
      drop_chunks();
      *current_head = h;
      // The entry at `head`, when stored whole in its key (a large one's
      // chunks are not read for this), then what the caller missed, in
      // order from head+1, as far as it reads cleanly (the caller reads
      // the rest).
      const std::vector<EtcdKv>& at_head = result.ranges[3];
      if (missed != nullptr && head > 0 && !at_head.empty() && !at_head[0].value.empty() &&
          at_head[0].value[0] == 'I') {
        LogEntryBytes e;
        e.revision = head;
        if (Materialize(head, at_head[0].value, &e.bytes).ok()) missed->push_back(std::move(e));
      }
      for (size_t i = 0; missed != nullptr && i < after.size(); ++i) {
        LogEntryBytes e;
        e.revision = head + 1 + i;
        if (after[i].key != EntryKey(e.revision) ||
            !Materialize(e.revision, after[i].value, &e.bytes).ok()) {
          break;
        }
        missed->push_back(std::move(e));
      }
      return Status::Ok();
    }
    if (s.code() != Code::kUnavailable) {
      drop_chunks();
      return s.WithContext("appending " + what);
    }
    if (std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms) >= deadline) {
      // The request may have been applied before the connection broke, or
      // may still be (a proposal in flight): the replica learns which when
      // it follows the log.
      return Status::Unavailable(
          s.message() + "; " + what +
          (maybe_applied ? " may or may not have been appended"
                         : " was not appended (no attempt reached an etcd member)"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
    backoff_ms = std::min(backoff_ms * 2, 500);
  }
}

Status EtcdLog::CheckHead(const std::vector<EtcdKv>& head, int64_t read_at) {
  int64_t seen = head_created_.load();
  if (head.empty()) {
    // Not there yet when etcd served this read (a read racing the append
    // that created it, whose creation was seen first): nothing is lost.
    if (seen == 0 || read_at < seen) return Status::Ok();
    lost_.store(true);
    return Status::FailedPrecondition(
        "the log in etcd under prefix '" + options_.prefix +
        "' is gone: its head key, there when this replica last read it, no longer is (the "
        "prefix was deleted, or etcd lost its data); this replica appends nothing to it");
  }
  const int64_t created = head[0].create_revision;
  if (seen == 0 && head_created_.compare_exchange_strong(seen, created)) return Status::Ok();
  if (created == seen) return Status::Ok();
  lost_.store(true);
  return Status::FailedPrecondition(
      "the log in etcd under prefix '" + options_.prefix +
      "' was replaced: its head key was created again (at etcd revision " +
      std::to_string(created) + "; this replica followed the one created at " +
      std::to_string(seen) +
      "), so it holds another history; this replica appends nothing to it");
}

Status EtcdLog::Retrying(const std::function<Status()>& call) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.append_timeout_ms);
  int backoff_ms = 20;
  while (true) {
    Status s = call();
    if (s.code() != Code::kUnavailable ||
        std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms) >= deadline) {
      return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
    backoff_ms = std::min(backoff_ms * 2, 500);
  }
}

Status EtcdLog::Bounds(uint64_t* head, uint64_t* first) {
  std::vector<EtcdOp> ops(2);
  ops[0].type = EtcdOp::Type::kRange;
  ops[0].key = Key("head");
  ops[1].type = EtcdOp::Type::kRange;
  ops[1].key = EntriesBegin();
  ops[1].range_end = EntriesEnd();
  ops[1].limit = 1;
  EtcdTxnResult r;
  CANOPY_RETURN_IF_ERROR(etcd_.Txn({}, ops, {}, &r));
  *head = 0;
  if (r.ranges.size() != 2) return Status::Internal("etcd answered a two-range read with " +
                                                    std::to_string(r.ranges.size()) + " ranges");
  if (!r.ranges[0].empty() && !ParseRevision(r.ranges[0][0].value, head)) {
    return Status::Corruption("etcd key '" + Key("head") + "' is not a revision");
  }
  CANOPY_RETURN_IF_ERROR(CheckHead(r.ranges[0], r.header_revision));
  *first = *head + 1;
  if (!r.ranges[1].empty()) {
    const std::string& k = r.ranges[1][0].key;
    if (!ParseRevision(std::string_view(k).substr(Key("log/").size()), first)) {
      return Status::Corruption("etcd key '" + k + "' is not a log key");
    }
  }
  return Status::Ok();
}

Status EtcdLog::BoundsRetrying(uint64_t* head, uint64_t* first) {
  return Retrying([&] { return Bounds(head, first); });
}

Status EtcdLog::ReadRetrying(uint64_t from, size_t limit, std::vector<LogEntryBytes>* entries,
                             int64_t* etcd_revision) {
  return Retrying([&] { return Read(from, limit, entries, etcd_revision); });
}

Status EtcdLog::Materialize(uint64_t rev, const std::string& value, std::string* entry) {
  if (value.empty()) return Status::Corruption("log revision " + std::to_string(rev) + " in etcd is empty");
  if (value[0] == 'I') {
    entry->assign(value, 1, std::string::npos);
    return Status::Ok();
  }
  Manifest m;
  if (value[0] != 'C' || !ParseManifest(std::string_view(value).substr(1), &m)) {
    return Status::Corruption("log revision " + std::to_string(rev) + " in etcd is damaged");
  }
  const std::string prefix = Key("blob/" + RevisionDigits(rev) + "/" + m.id + "/");
  std::vector<EtcdKv> kvs;
  CANOPY_RETURN_IF_ERROR(etcd_.Range(prefix, PrefixEnd(prefix), 0, &kvs));
  entry->clear();
  entry->reserve(m.bytes);
  for (const EtcdKv& kv : kvs) entry->append(kv.value);
  if (kvs.size() != m.chunks || entry->size() != m.bytes ||
      Hex64(XXH3_64bits(entry->data(), entry->size())) != m.hash) {
    // Trimmed between reading the entry and its chunks: not damage.
    uint64_t head = 0, first = 0;
    if (Bounds(&head, &first).ok() && rev < first) {
      return Status::Compacted("revision " + std::to_string(rev) +
                               " was trimmed from the log in etcd while it was read; the oldest "
                               "kept is " + std::to_string(first));
    }
    return Status::Corruption("the chunks of log revision " + std::to_string(rev) +
                              " in etcd are missing or damaged (" + std::to_string(kvs.size()) +
                              " of " + std::to_string(m.chunks) + " chunks)");
  }
  return Status::Ok();
}

Status EtcdLog::Read(uint64_t from, size_t limit, std::vector<LogEntryBytes>* entries,
                     int64_t* etcd_revision) {
  entries->clear();
  std::vector<EtcdOp> ops(2);
  ops[0].type = EtcdOp::Type::kRange;
  ops[0].key = Key("head");
  ops[1].type = EtcdOp::Type::kRange;
  ops[1].key = EntryKey(from);
  ops[1].range_end = EntriesEnd();
  ops[1].limit = static_cast<int64_t>(limit);
  EtcdTxnResult r;
  CANOPY_RETURN_IF_ERROR(etcd_.Txn({}, ops, {}, &r));
  if (r.ranges.size() != 2) return Status::Internal("etcd answered a two-range read badly");
  *etcd_revision = r.header_revision;
  uint64_t head = 0;
  if (!r.ranges[0].empty() && !ParseRevision(r.ranges[0][0].value, &head)) {
    return Status::Corruption("etcd key '" + Key("head") + "' is not a revision");
  }
  CANOPY_RETURN_IF_ERROR(CheckHead(r.ranges[0], r.header_revision));
  uint64_t expect = from;
  for (EtcdKv& kv : r.ranges[1]) {
    uint64_t rev = 0;
    if (!ParseRevision(std::string_view(kv.key).substr(Key("log/").size()), &rev)) {
      return Status::Corruption("etcd key '" + kv.key + "' is not a log key");
    }
    if (rev != expect) {
      if (expect == from) {
        return Status::Compacted("revision " + std::to_string(from) +
                                 " was trimmed from the log in etcd; the oldest kept is " +
                                 std::to_string(rev));
      }
      return Status::Corruption("the log in etcd skips from revision " +
                                std::to_string(expect - 1) + " to " + std::to_string(rev));
    }
    LogEntryBytes e;
    e.revision = rev;
    CANOPY_RETURN_IF_ERROR(Materialize(rev, kv.value, &e.bytes));
    entries->push_back(std::move(e));
    ++expect;
  }
  if (entries->empty() && head >= from) {
    return Status::Compacted("revision " + std::to_string(from) +
                             " was trimmed from the log in etcd (its head is " +
                             std::to_string(head) + ")");
  }
  return Status::Ok();
}

Status EtcdLog::Follow(int64_t etcd_revision,
                       const std::function<Status(std::vector<LogEntryBytes>&&)>& apply,
                       const std::atomic<bool>* stop) {
  const std::string prefix = Key("log/");
  Status failed;
  Status w = etcd_.Watch(
      EntriesBegin(), EntriesEnd(), etcd_revision + 1,
      [&](const std::vector<EtcdWatchEvent>& events, int64_t) {
        std::vector<LogEntryBytes> batch;
        for (const EtcdWatchEvent& ev : events) {
          if (ev.is_delete) continue;  // trimming
          LogEntryBytes e;
          if (!ParseRevision(std::string_view(ev.kv.key).substr(prefix.size()), &e.revision)) {
            failed = Status::Corruption("etcd key '" + ev.kv.key + "' is not a log key");
            break;
          }
          failed = Materialize(e.revision, ev.kv.value, &e.bytes);
          if (!failed.ok()) break;
          batch.push_back(std::move(e));
        }
        // What was read cleanly is applied even when a later event failed.
        if (!batch.empty()) {
          Status a = apply(std::move(batch));
          if (failed.ok()) failed = a;
        }
        return failed.ok();
      },
      stop);
  if (!failed.ok()) return failed;
  return w;
}

Status EtcdLog::ClaimTurn(int64_t ttl_seconds, bool* claimed, uint64_t* claim) {
  *claimed = false;
  *claim = 0;
  std::lock_guard<std::mutex> g(turn_mu_);
  if (turn_held_.load()) {
    *claimed = true;
    *claim = turn_claim_;
    return Status::Ok();
  }
  int64_t lease = 0;
  CANOPY_RETURN_IF_ERROR(etcd_.LeaseGrant(ttl_seconds, &lease));
  EtcdCompare none;
  none.key = Key("turn");
  none.target = EtcdCompare::Target::kVersion;
  none.number = 0;
  EtcdOp put;
  put.key = Key("turn");
  put.value = turn_token_;
  put.lease = lease;
  EtcdTxnResult r;
  Status s = etcd_.Txn({none}, {put}, {}, &r);
  if (!s.ok() || !r.succeeded) {
    (void)etcd_.LeaseRevoke(lease);
    return s;
  }
  turn_held_.store(true);
  turn_lease_ = lease;
  *claimed = true;
  *claim = ++turn_claim_;
  return Status::Ok();
}

Status EtcdLog::ReleaseTurn(uint64_t claim) {
  std::lock_guard<std::mutex> g(turn_mu_);
  if (claim != turn_claim_ || turn_lease_ == 0) return Status::Ok();  // a newer claim's, or done
  const int64_t lease = turn_lease_;
  turn_lease_ = 0;
  // Revoking the lease deletes P/turn if it is still this claim's (it
  // goes with its lease), and only then; a turn an append used is gone
  // already. Should the revoke fail, the key waits for its lease, and
  // this EtcdLog's next append takes it as its own (Append).
  turn_held_.store(false);
  return etcd_.LeaseRevoke(lease);
}

Status EtcdLog::WaitForTurn(uint64_t head) {
  const auto began = std::chrono::steady_clock::now();
  struct Count {
    std::atomic<int64_t>* total;
    std::chrono::steady_clock::time_point began;
    ~Count() {
      *total += std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - began)
                    .count();
    }
  } count{&turn_waited_us_, began};
  const auto deadline = began + std::chrono::milliseconds(kTurnWaitMs);
  int pause_ms = 5;
  std::vector<EtcdOp> ops(2);
  ops[0].type = EtcdOp::Type::kRange;
  ops[0].key = Key("head");
  ops[1].type = EtcdOp::Type::kRange;
  ops[1].key = Key("turn");
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    pause_ms = std::min(pause_ms * 2, 20);
    EtcdTxnResult r;
    Status s = etcd_.Txn({}, ops, {}, &r);
    if (s.ok() && r.ranges.size() == 2) {
      uint64_t h = 0;  // an absent head: an empty log
      if (r.ranges[1].empty() ||
          (!r.ranges[0].empty() && !ParseRevision(r.ranges[0][0].value, &h)) || h != head) {
        return Status::Ok();  // the turn is over, or the head moved: try again
      }
    } else if (!s.ok() && s.code() != Code::kUnavailable) {
      return s;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable("etcd: another replica has held the turn to append (" +
                                 Key("turn") + ") for " + std::to_string(kTurnWaitMs / 1000) +
                                 " s; this write was not appended");
    }
  }
}

Status EtcdLog::Register(const std::string& replica_id, uint64_t applied, int64_t ttl_seconds,
                         int64_t* lease) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (*lease == 0) CANOPY_RETURN_IF_ERROR(etcd_.LeaseGrant(ttl_seconds, lease));
    Status k = etcd_.LeaseKeepAlive(*lease);
    if (k.ok()) k = etcd_.Put(Key("replicas/" + replica_id), std::to_string(applied), *lease);
    if (k.ok() || k.code() == Code::kUnavailable) return k;
    *lease = 0;  // expired while etcd was away: take a new one
  }
  return Status::Unavailable("etcd: cannot keep a lease for replica " + replica_id);
}

Status EtcdLog::Unregister(const std::string& replica_id, int64_t lease) {
  Status s = etcd_.DeleteRange(Key("replicas/" + replica_id), "");
  if (lease != 0) (void)etcd_.LeaseRevoke(lease);
  return s;
}

Status EtcdLog::LiveReplicas(std::vector<LiveReplica>* replicas) {
  replicas->clear();
  const std::string prefix = Key("replicas/");
  std::vector<EtcdKv> kvs;
  CANOPY_RETURN_IF_ERROR(etcd_.Range(prefix, PrefixEnd(prefix), 0, &kvs));
  for (const EtcdKv& kv : kvs) {
    LiveReplica r;
    r.id = kv.key.substr(prefix.size());
    // Not ours (such as "P/replicas/head" of a database whose prefix was
    // "P/replicas"): ignored.
    if (!IsReplicaId(r.id) || !ParseRevision(kv.value, &r.applied)) continue;
    replicas->push_back(std::move(r));
  }
  return Status::Ok();
}

Status EtcdLog::NewestCheckpoint(uint64_t* revision, std::string* folder) {
  *revision = 0;
  folder->clear();
  std::vector<EtcdKv> kvs;
  CANOPY_RETURN_IF_ERROR(etcd_.Range(Key("checkpoint"), "", 1, &kvs));
  if (kvs.empty()) return Status::Ok();
  const std::string& v = kvs[0].value;
  const size_t sp = v.find(' ');
  if (sp == std::string::npos || !ParseRevision(std::string_view(v).substr(0, sp), revision)) {
    return Status::Corruption("etcd key '" + Key("checkpoint") + "' is damaged");
  }
  *folder = v.substr(sp + 1);
  return Status::Ok();
}

Status EtcdLog::PublishCheckpoint(uint64_t revision, const std::string& folder) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::vector<EtcdKv> kvs;
    CANOPY_RETURN_IF_ERROR(etcd_.Range(Key("checkpoint"), "", 1, &kvs));
    EtcdCompare c;
    c.key = Key("checkpoint");
    if (kvs.empty()) {
      c.target = EtcdCompare::Target::kVersion;
      c.number = 0;
    } else {
      uint64_t have = 0;
      const std::string& v = kvs[0].value;
      if (ParseRevision(std::string_view(v).substr(0, v.find(' ')), &have) && have >= revision) {
        return Status::Ok();  // a newer one is registered
      }
      c.target = EtcdCompare::Target::kModRevision;
      c.number = kvs[0].mod_revision;
    }
    EtcdOp put;
    put.key = Key("checkpoint");
    put.value = std::to_string(revision) + " " + folder;
    EtcdTxnResult r;
    CANOPY_RETURN_IF_ERROR(etcd_.Txn({c}, {put}, {}, &r));
    if (r.succeeded) return Status::Ok();
  }
  return Status::Unavailable("etcd: the checkpoint record kept changing; try again");
}

Status EtcdLog::TrimUpTo(uint64_t upto, int64_t* deleted) {
  *deleted = 0;
  uint64_t head = 0, first = 0;
  CANOPY_RETURN_IF_ERROR(Bounds(&head, &first));
  if (upto >= head) upto = head == 0 ? 0 : head - 1;  // the head entry stays
  std::vector<EtcdOp> ops(2);
  ops[0].type = EtcdOp::Type::kDeleteRange;
  ops[0].key = EntriesBegin();
  ops[0].range_end = EntryKey(upto + 1);
  // Chunks of trimmed entries, and any a failed writer left behind (their
  // keys start with the revision's digits too).
  ops[1].type = EtcdOp::Type::kDeleteRange;
  ops[1].key = Key("blob/0");
  ops[1].range_end = Key("blob/" + RevisionDigits(upto + 1));
  EtcdTxnResult r;
  CANOPY_RETURN_IF_ERROR(etcd_.Txn({}, ops, {}, &r));
  if (upto >= first) *deleted = static_cast<int64_t>(upto - first + 1);
  // Drop the history too, so etcd's space stays bounded.
  return etcd_.Compact(r.header_revision);
}

}  // namespace canopy::replication
