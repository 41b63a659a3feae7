// Copyright (c) Canopy authors.
//
// The keys of each record type (see writes.h and docs/format.md).

#include "storage/writes.h"

#include <cassert>

#include "storage/changes.h"
#include "storage/coding.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace canopy::storage {

namespace {

rocksdb::Slice S(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// Puts a record: its bytes as given, or `encode()` when none are.
template <typename Encode>
void PutRecord(KvSink& sink, int cf, std::string_view key, std::string_view bytes,
               Encode&& encode) {
  if (!bytes.empty()) {
    sink.Put(cf, key, bytes);
  } else {
    sink.Put(cf, key, encode());
  }
}

void IndexEntry(std::string* value, const Entity& e) {
  EncodeIndexValue(value, e.owner, e.key, e.name, e.type);
}

}  // namespace

void BatchSink::Put(int cf, std::string_view key, std::string_view value) {
  batch_->Put(store_.cf(cf), S(key), S(value));
}
void BatchSink::Delete(int cf, std::string_view key) { batch_->Delete(store_.cf(cf), S(key)); }
void BatchSink::Merge(int cf, std::string_view key, std::string_view value) {
  batch_->Merge(store_.cf(cf), S(key), S(value));
}
void BatchSink::DeleteRange(int cf, std::string_view begin, std::string_view end) {
  // Reads of other key spaces ignore range deletions (storage/keys.h).
  assert(RangeDeletesIn(cf));
  batch_->DeleteRange(store_.cf(cf), S(begin), S(end));
}

std::string RoleNameKey(uint64_t tenant, std::string_view name) {
  std::string k = IdKey(tenant);
  k.append(name);
  return k;
}

void WriteAccount(KvSink& sink, const AccountRecord* before, const AccountRecord* after,
                  std::string_view after_bytes) {
  if (after == nullptr) {
    if (before == nullptr) return;
    const uint64_t id = before->account.id;
    sink.Delete(kAccounts, IdKey(id));
    sink.Delete(kAccountKeys, before->account.key);
    sink.Delete(kTree, before->label);
    for (EntityKind kind : kAllEntityKinds) {
      const uint8_t k = static_cast<uint8_t>(kind);
      sink.Delete(kCounters, CounterKey(id, k));
      sink.Delete(kCounters, CounterKey(id, k | kCounterSubtreeBit));
    }
    return;
  }
  const std::string id = IdKey(after->account.id);
  PutRecord(sink, kAccounts, id, after_bytes, [&] { return EncodeAccount(*after); });
  if (before == nullptr || before->account.key != after->account.key) {
    if (before != nullptr) sink.Delete(kAccountKeys, before->account.key);
    sink.Put(kAccountKeys, after->account.key, id);
  }
  if (before == nullptr || before->label != after->label) {
    if (before != nullptr) sink.Delete(kTree, before->label);
    sink.Put(kTree, after->label, id);
  }
}

void WriteEntity(KvSink& sink, const Entity* before, std::string_view before_label,
                 const Entity* after, std::string_view after_label, std::string_view after_bytes) {
  if (after == nullptr) {
    if (before == nullptr) return;
    const uint8_t k = static_cast<uint8_t>(before->kind);
    sink.Delete(kEntities, IdKey(before->id));
    sink.Delete(kEntityKeys, EntityKeyKey(k, before->key));
    if (!before->unit_id.empty()) sink.Delete(kUnitIds, before->unit_id);
    sink.Delete(kVisibility, IndexKey(k, before_label, before->id));
    return;
  }
  const uint8_t k = static_cast<uint8_t>(after->kind);
  // Keys and values are built in buffers of this thread's, reused (an
  // import writes millions of entities; a sink copies what it keeps).
  struct Buffers {
    std::string id, key, value;
  };
  thread_local Buffers buffers;  // one look-up of the thread's storage
  std::string& id = buffers.id;
  std::string& key = buffers.key;
  std::string& value = buffers.value;
  IdKeyTo(&id, after->id);
  PutRecord(sink, kEntities, id, after_bytes, [&] { return EncodeEntityInPlace(*after); });
  if (before == nullptr || before->key != after->key || before->owner != after->owner ||
      before->kind != after->kind) {
    if (before != nullptr && (before->key != after->key || before->kind != after->kind)) {
      sink.Delete(kEntityKeys, EntityKeyKey(static_cast<uint8_t>(before->kind), before->key));
    }
    EntityKeyKeyTo(&key, k, after->key);
    EntityKeyValueTo(&value, after->id, after->owner);
    sink.Put(kEntityKeys, key, value);
  }
  if (before == nullptr || before->unit_id != after->unit_id) {
    if (before != nullptr && !before->unit_id.empty()) sink.Delete(kUnitIds, before->unit_id);
    if (!after->unit_id.empty()) sink.Put(kUnitIds, after->unit_id, id);
  }
  const bool moved = before == nullptr || before->kind != after->kind || before_label != after_label;
  if (moved && before != nullptr) {
    sink.Delete(kVisibility, IndexKey(static_cast<uint8_t>(before->kind), before_label, before->id));
  }
  if (moved || before->owner != after->owner || before->key != after->key ||
      before->name != after->name || before->type != after->type) {
    IndexEntry(&value, *after);
    IndexKeyTo(&key, k, after_label, after->id);
    sink.Put(kVisibility, key, value);
  }
}

void WriteUser(KvSink& sink, const User* before, const User* after, std::string_view after_bytes) {
  if (after == nullptr) {
    if (before == nullptr) return;
    sink.Delete(kUsers, IdKey(before->id));
    sink.Delete(kUserLogins, before->login);
    sink.Delete(kUserHomes, PairKey(before->account, before->id));
    return;
  }
  const std::string id = IdKey(after->id);
  PutRecord(sink, kUsers, id, after_bytes, [&] { return EncodeUser(*after); });
  if (before == nullptr || before->login != after->login) {
    if (before != nullptr) sink.Delete(kUserLogins, before->login);
    sink.Put(kUserLogins, after->login, id);
  }
  if (before == nullptr || before->account != after->account) {
    if (before != nullptr) sink.Delete(kUserHomes, PairKey(before->account, before->id));
    sink.Put(kUserHomes, PairKey(after->account, after->id), "");
  }
}

void WriteMembership(KvSink& sink, const Membership* before, const Membership* after,
                     std::string_view after_bytes) {
  if (after == nullptr) {
    if (before == nullptr) return;
    sink.Delete(kMemberships, PairKey(before->user, before->account));
    sink.Delete(kMembers, PairKey(before->account, before->user));
    return;
  }
  PutRecord(sink, kMemberships, PairKey(after->user, after->account), after_bytes,
            [&] { return EncodeMembership(*after); });
  if (before == nullptr) sink.Put(kMembers, PairKey(after->account, after->user), "");
}

void WriteRole(KvSink& sink, const Role* before, const Role* after, std::string_view after_bytes) {
  if (after == nullptr) {
    if (before == nullptr) return;
    sink.Delete(kRoles, IdKey(before->id));
    sink.Delete(kRoleNames, RoleNameKey(before->tenant, before->name));
    return;
  }
  PutRecord(sink, kRoles, IdKey(after->id), after_bytes, [&] { return EncodeRole(*after); });
  if (before == nullptr || before->name != after->name || before->tenant != after->tenant) {
    if (before != nullptr) sink.Delete(kRoleNames, RoleNameKey(before->tenant, before->name));
    sink.Put(kRoleNames, RoleNameKey(after->tenant, after->name), IdKey(after->id));
  }
}

void WriteGroup(KvSink& sink, const Group* before, const Group* after,
                std::string_view after_bytes) {
  if (after == nullptr) {
    if (before != nullptr) sink.Delete(kGroups, GroupKey(before->id));
    return;
  }
  PutRecord(sink, kGroups, GroupKey(after->id), after_bytes, [&] { return EncodeGroup(*after); });
}

void WriteGroupMember(KvSink& sink, const GroupMemberRecord* before,
                      const GroupMemberRecord* after, std::string_view after_bytes) {
  if (after == nullptr) {
    if (before == nullptr) return;
    sink.Delete(kGroups, GroupMemberKey(before->group, before->member));
    sink.Delete(kGroups, MemberGroupKey(MemberClassOf(static_cast<uint8_t>(before->kind)),
                                        before->member, before->group));
    return;
  }
  PutRecord(sink, kGroups, GroupMemberKey(after->group, after->member), after_bytes,
            [&] { return EncodeGroupMember(*after); });
  if (before == nullptr) {
    sink.Put(kGroups,
             MemberGroupKey(MemberClassOf(static_cast<uint8_t>(after->kind)), after->member,
                            after->group),
             "");
  }
}

void WriteGroupMembers(KvSink& sink, const GroupMembersRecord& after) {
  const std::string bytes = EncodeGroupMember(GroupMemberRecord{after.group, 0, after.kind,
                                                                after.created_us});
  const MemberClass c = MemberClassOf(static_cast<uint8_t>(after.kind));
  std::string mkey = GroupMemberKey(after.group, 0);
  std::string rkey = MemberGroupKey(c, 0, after.group);
  const size_t rat = rkey.size() - 16;  // 'r' class member group
  for (uint64_t member : after.members) {
    EncodeFixed64BE(mkey.data() + mkey.size() - 8, member);
    EncodeFixed64BE(rkey.data() + rat, member);
    sink.Put(kGroups, mkey, bytes);
    sink.Put(kGroups, rkey, "");
  }
}

void WriteGroupGrant(KvSink& sink, const GroupGrant* before, const GroupGrant* after,
                     std::string_view after_bytes) {
  if (after == nullptr) {
    if (before != nullptr) {
      sink.Delete(kGroups, GroupGrantKey(before->user_group, before->role, before->target));
    }
    return;
  }
  PutRecord(sink, kGroups, GroupGrantKey(after->user_group, after->role, after->target),
            after_bytes, [&] { return EncodeGroupGrant(*after); });
}

void WriteCount(KvSink& sink, uint64_t account, uint8_t counter, int64_t delta) {
  sink.Merge(kCounters, CounterKey(account, counter), CounterValue(delta));
}

void WriteMeta64(KvSink& sink, std::string_view name, uint64_t value) {
  sink.Put(kMeta, name, Fixed64BE(value));
}

void WriteLogEntry(KvSink& sink, const LogEntry& e, std::string_view encoded) {
  sink.Put(kChanges, LogKey(e.revision), encoded);
  if (encoded.size() >= kLogMarkBytes || e.import_chunks > 0 || e.revision % kLogMarkEvery == 0) {
    WriteMeta64(sink, kMetaLogLast, e.revision);
  }
}

Status MoveIndexRange(const Store& store, BatchSink& sink, std::string_view old_label,
                      std::string_view new_label, uint32_t kinds_present) {
  std::string key;
  for (EntityKind kind : kAllEntityKinds) {
    const uint8_t k = static_cast<uint8_t>(kind);
    if ((kinds_present & (1u << k)) == 0) continue;
    std::string lo = IndexRangeStart(k, old_label, true);
    std::string hi = IndexRangeLimit(k, old_label, true);
    auto it = store.NewIterator(kVisibility, nullptr, lo, hi, /*fill_cache=*/false);
    for ((*it)->SeekToFirst(); (*it)->Valid(); (*it)->Next()) {
      rocksdb::Slice old_key = (*it)->key();
      key.assign(1, static_cast<char>(k));
      key.append(new_label);
      key.append(old_key.data() + 1 + old_label.size(), old_key.size() - 1 - old_label.size());
      rocksdb::Slice v = (*it)->value();
      sink.Put(kVisibility, key, std::string_view(v.data(), v.size()));
    }
    CANOPY_RETURN_IF_ERROR(FromRocks((*it)->status(), "move: scan index"));
    sink.DeleteRange(kVisibility, lo, hi);
  }
  return Status::Ok();
}

}  // namespace canopy::storage
