// Copyright (c) Canopy authors.
//
// The one description of each record's keys. Every stored record type
// (account, entity, user, membership, role) owns a primary record and the
// secondary keys that follow from it (key and unit-id indexes, the tree, the
// visibility index, reverse links). The functions below are the only code
// that writes them: online mutations, the replay of a change log and the
// bulk import all call them, over a KvSink (a RocksDB write batch, or the
// import's staging of sorted files).
//
// A Write* function takes the record before and after a change (null: the
// record did not exist / no longer exists) and emits exactly the key
// changes between the two. `after_bytes`, when not empty, is `after`
// already encoded (a change set holds it), so it is not encoded again. The integrity checker (engine/integrity.cc)
// derives the same keys independently, so it can catch a bug here.
//
// Thread safety: plain functions; a sink is used by one thread at a time.

#ifndef CANOPY_STORAGE_WRITES_H_
#define CANOPY_STORAGE_WRITES_H_

#include <rocksdb/write_batch.h>

#include <cstdint>
#include <string_view>

#include "canopy/status.h"
#include "canopy/types.h"
#include "storage/changes.h"
#include "storage/records.h"

namespace canopy::storage {

class Store;

// Where key changes go. Put/Delete/DeleteRange as in RocksDB; Merge adds a
// counter operand (storage/counters.h). A sink copies what it keeps before
// returning: the writers below pass views of buffers they reuse.
class KvSink {
 public:
  virtual ~KvSink() = default;
  virtual void Put(int cf, std::string_view key, std::string_view value) = 0;
  virtual void Delete(int cf, std::string_view key) = 0;
  virtual void Merge(int cf, std::string_view key, std::string_view value) = 0;
};

// A sink over a RocksDB write batch of `store`.
class BatchSink final : public KvSink {
 public:
  BatchSink(const Store& store, rocksdb::WriteBatch* batch) : store_(store), batch_(batch) {}
  void Put(int cf, std::string_view key, std::string_view value) override;
  void Delete(int cf, std::string_view key) override;
  void Merge(int cf, std::string_view key, std::string_view value) override;
  // Range deletes are only for index moves (MoveIndexRange), never needed
  // by a staging sink, so they are not part of KvSink.
  void DeleteRange(int cf, std::string_view begin, std::string_view end);

 private:
  const Store& store_;
  rocksdb::WriteBatch* batch_;
};

// accounts, account_keys, tree. Deleting an account also deletes its
// counters (the entity counts of every kind, direct and subtree).
void WriteAccount(KvSink& sink, const AccountRecord* before, const AccountRecord* after,
                  std::string_view after_bytes = {});

// entities, entity_keys, unit_ids and the visibility index. The labels are
// those of the owner before and after (the visibility key holds them).
void WriteEntity(KvSink& sink, const Entity* before, std::string_view before_label,
                 const Entity* after, std::string_view after_label,
                 std::string_view after_bytes = {});

// users, user_logins, user_homes.
void WriteUser(KvSink& sink, const User* before, const User* after,
               std::string_view after_bytes = {});

// memberships and members (user and account come from the record).
void WriteMembership(KvSink& sink, const Membership* before, const Membership* after,
                     std::string_view after_bytes = {});

// roles, role_names.
void WriteRole(KvSink& sink, const Role* before, const Role* after,
               std::string_view after_bytes = {});

// groups: the group record ('g').
void WriteGroup(KvSink& sink, const Group* before, const Group* after,
                std::string_view after_bytes = {});

// groups: a member in both directions ('m' group -> member, 'r' member ->
// group); group and member come from the record.
void WriteGroupMember(KvSink& sink, const GroupMemberRecord* before,
                      const GroupMemberRecord* after, std::string_view after_bytes = {});

// groups: a batch of members joining a group, each written as
// WriteGroupMember(nullptr, {group, member, kind, created_us}) would
// (the member record is encoded once for the batch).
void WriteGroupMembers(KvSink& sink, const GroupMembersRecord& after);

// groups: a grant ('a'); the key is user group, role, target.
void WriteGroupGrant(KvSink& sink, const GroupGrant* before, const GroupGrant* after,
                     std::string_view after_bytes = {});

// Adds `delta` to one counter of `account` (a merge operand).
void WriteCount(KvSink& sink, uint64_t account, uint8_t counter, int64_t delta);

// A meta value (sequences, revision): u64 big-endian.
void WriteMeta64(KvSink& sink, std::string_view name, uint64_t value);

// changes: the entry `e` (`encoded`, storage/changes.h) and, when it is
// large, an import or a kLogMarkEvery-th revision, the log's end marker
// (kMetaLogLast). Every writer of an entry calls this.
void WriteLogEntry(KvSink& sink, const LogEntry& e, std::string_view encoded);

// The role_names key of a custom role.
std::string RoleNameKey(uint64_t tenant, std::string_view name);

// Rewrites the visibility index of a relabelled subtree: every entry of any
// kind under `old_label` (the whole subtree) moves under `new_label`, read
// from `store`'s latest state. `kinds_present` (bit k set: kind k may have
// entries) lets it skip empty kinds.
Status MoveIndexRange(const Store& store, BatchSink& sink, std::string_view old_label,
                      std::string_view new_label, uint32_t kinds_present);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_WRITES_H_
