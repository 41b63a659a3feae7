// Copyright (c) Canopy authors.

#include "storage/records.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "storage/changes.h"
#include "storage/keys.h"

namespace canopy::storage {
namespace {

TEST(Records, AccountRoundTrip) {
  AccountRecord r;
  r.account.id = 7;
  r.account.key = "acme-a";
  r.account.name = "Nested customer A";
  r.account.parent = 3;
  r.account.depth = 2;
  r.account.created_us = 11;
  r.account.updated_us = 12;
  r.account.attributes = {{"home_dashboard", "fleet"}, {"address", "Main St 1"}};
  r.account.settings.sub_account_management = true;
  r.account.settings.sub_account_access = SubAccountAccess::kAlwaysOn;
  r.label = std::string("\x01\x02", 2);
  r.next_child_ordinal = 9;
  AccountRecord back;
  ASSERT_TRUE(DecodeAccount(EncodeAccount(r), &back).ok());
  EXPECT_EQ(back.account.key, "acme-a");
  EXPECT_EQ(back.account.attributes, r.account.attributes);
  EXPECT_EQ(back.account.settings.sub_account_access, SubAccountAccess::kAlwaysOn);
  EXPECT_EQ(back.label, r.label);
  EXPECT_EQ(back.next_child_ordinal, 9u);
  EXPECT_EQ(back.account.depth, 2u);
}

// RecordDetail::kCatalog: everything the in-memory catalog keeps, and no
// name or attributes.
TEST(Records, CatalogDetailLeavesOutNamesAndAttributesOnly) {
  AccountRecord r;
  r.account.id = 7;
  r.account.key = "a-key-longer-than-fifteen-bytes";
  r.account.name = "Nested customer A";
  r.account.parent = 3;
  r.account.depth = 2;
  r.account.created_us = 11;
  r.account.updated_us = 12;
  r.account.attributes = {{"region", "north"}};
  r.account.settings.sub_account_management = true;
  r.account.settings.sub_account_access = SubAccountAccess::kAlwaysOn;
  r.account.settings.group_sharing = true;
  r.label = std::string("\x01\x02", 2);
  r.next_child_ordinal = 9;
  const std::string bytes = EncodeAccount(r);
  AccountRecord full, lean;
  ASSERT_TRUE(DecodeAccount(bytes, &full).ok());
  ASSERT_TRUE(DecodeAccount(bytes, &lean).ok());  // a reused record: the lean decode empties
  ASSERT_TRUE(DecodeAccount(bytes, &lean, RecordDetail::kCatalog).ok());
  EXPECT_EQ(full.account.name, r.account.name);
  EXPECT_EQ(full.account.attributes, r.account.attributes);
  EXPECT_EQ(lean.account.name, "");
  EXPECT_TRUE(lean.account.attributes.empty());
  for (const AccountRecord* x : {&full, &lean}) {
    EXPECT_EQ(x->account.id, 7u);
    EXPECT_EQ(x->account.key, r.account.key);
    EXPECT_EQ(x->account.parent, 3u);
    EXPECT_EQ(x->account.depth, 2u);
    EXPECT_EQ(x->account.created_us, 11);
    EXPECT_EQ(x->account.updated_us, 12);
    EXPECT_TRUE(x->account.settings.sub_account_management);
    EXPECT_EQ(x->account.settings.sub_account_access, SubAccountAccess::kAlwaysOn);
    EXPECT_TRUE(x->account.settings.group_sharing);
    EXPECT_EQ(x->label, r.label);
    EXPECT_EQ(x->next_child_ordinal, 9u);
  }
  // Damage is found whatever the detail.
  EXPECT_EQ(DecodeAccount(bytes.substr(0, bytes.size() / 2), &lean, RecordDetail::kCatalog).code(),
            Code::kCorruption);

  User u;
  u.id = 2;
  u.login = "a-login-longer-than-fifteen@acme.example";
  u.name = "User A";
  u.account = 5;
  u.disabled = true;
  u.created_us = 21;
  User ub;
  ub.name = "stale";
  ASSERT_TRUE(DecodeUser(EncodeUser(u), &ub, RecordDetail::kCatalog).ok());
  EXPECT_EQ(ub.id, 2u);
  EXPECT_EQ(ub.login, u.login);
  EXPECT_EQ(ub.name, "");
  EXPECT_EQ(ub.account, 5u);
  EXPECT_TRUE(ub.disabled);
  EXPECT_EQ(ub.created_us, 21);
}

// Values read through RocksDB sit at any offset: a decode copies an
// unaligned one into a buffer it keeps between calls. Records of every
// size, large and small in turn (a huge one's buffer is then let go), and
// of different types, decode as if aligned.
TEST(Records, UnalignedRecordsOfEverySizeDecodeTheSame) {
  std::vector<std::string> encoded;
  std::vector<AccountRecord> want;
  for (size_t n : {0, 1, 15, 16, 200, 70000, 3, 2000000, 9, 100}) {
    AccountRecord r;
    r.account.id = n + 1;
    r.account.key = "k" + std::to_string(n);
    r.account.name = std::string(n % 50, 'n');
    if (n > 0) r.account.attributes = {{"blob", std::string(n, static_cast<char>('a' + n % 26))}};
    r.label = std::string(1 + n % 7, '\x05');
    encoded.push_back(EncodeAccount(r));
    want.push_back(r);
  }
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < encoded.size(); ++i) {
      for (size_t offset = 1; offset < 8; offset += 3) {
        std::string shifted(offset, '\0');
        shifted += encoded[i];
        const std::string_view bytes = std::string_view(shifted).substr(offset);
        ASSERT_NE(reinterpret_cast<uintptr_t>(bytes.data()) % 8, 0u);
        AccountRecord back;
        ASSERT_TRUE(DecodeAccount(bytes, &back).ok()) << i;
        EXPECT_EQ(back.account.id, want[i].account.id);
        EXPECT_EQ(back.account.key, want[i].account.key);
        EXPECT_EQ(back.account.name, want[i].account.name);
        EXPECT_EQ(back.account.attributes, want[i].account.attributes);
        EXPECT_EQ(back.label, want[i].label);
        // Another type in between, through the same buffer.
        User u;
        u.id = i;
        u.login = std::string(i * 3, 'l');
        std::string us(offset, '\0');
        us += EncodeUser(u);
        User ub;
        ASSERT_TRUE(DecodeUser(std::string_view(us).substr(offset), &ub).ok());
        EXPECT_EQ(ub.login, u.login);
        // Damage at an odd offset is still Corruption.
        AccountRecord bad;
        EXPECT_EQ(DecodeAccount(bytes.substr(0, bytes.size() / 2), &bad).code(),
                  Code::kCorruption);
      }
    }
  }
}

TEST(Records, EntityUserRoleMembershipRoundTrip) {
  Entity e;
  e.id = 1;
  e.kind = EntityKind::kAsset;
  e.key = "site-7";
  e.name = "Depot";
  e.owner = 4;
  Entity eb;
  ASSERT_TRUE(DecodeEntity(EncodeEntity(e), &eb).ok());
  EXPECT_EQ(eb.kind, EntityKind::kAsset);
  EXPECT_EQ(eb.key, "site-7");
  EXPECT_EQ(eb.unit_id, "");
  EXPECT_EQ(eb.owner, 4u);

  User u;
  u.id = 2;
  u.login = "a@acme.example";
  u.name = "User A";
  u.account = 5;
  u.disabled = true;
  User ub;
  ASSERT_TRUE(DecodeUser(EncodeUser(u), &ub).ok());
  EXPECT_TRUE(ub.disabled);
  EXPECT_EQ(ub.login, u.login);

  Role r;
  r.id = 100;
  r.tenant = 1;
  r.name = "auditor";
  r.permissions = {"account.read", "device.read"};
  Role rb;
  ASSERT_TRUE(DecodeRole(EncodeRole(r), &rb).ok());
  EXPECT_EQ(rb.permissions, r.permissions);

  Membership m;
  m.role = 3;
  m.branch = true;
  Membership mb;
  ASSERT_TRUE(DecodeMembership(EncodeMembership(m), &mb).ok());
  EXPECT_TRUE(mb.branch);
  EXPECT_EQ(mb.role, 3u);
}

TEST(Records, DamagedBytesAreCorruptionNotCrashes) {
  Entity e;
  e.id = 1;
  e.key = "k";
  e.name = "n";
  std::string good = EncodeEntity(e);
  Entity out;
  EXPECT_EQ(DecodeEntity("", &out).code(), Code::kCorruption);
  EXPECT_EQ(DecodeEntity("garbage-bytes-here", &out).code(), Code::kCorruption);
  // Another record type is refused by its identifier.
  User u;
  u.login = "x";
  u.name = "y";
  EXPECT_EQ(DecodeEntity(EncodeUser(u), &out).code(), Code::kCorruption);
  // Every truncation fails cleanly, or (cutting only trailing padding)
  // decodes to the same record; single-byte flips never crash.
  for (size_t n = 0; n < good.size(); ++n) {
    Entity cut;
    if (DecodeEntity(good.substr(0, n), &cut).ok()) {
      EXPECT_GE(n, good.size() - 8) << n;
      EXPECT_EQ(cut.key, "k");
      EXPECT_EQ(cut.name, "n");
    }
  }
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    (void)DecodeEntity(bad, &out);  // must not crash (ASan checks)
  }
}

// A batch of members joining a group (the group_members change) and the
// group record's overlap: round trips, and what is refused.
TEST(Records, GroupMembersBatchAndOverlap) {
  GroupMembersRecord m;
  m.group = 7;
  m.kind = GroupKind::kAsset;
  m.created_us = 123;
  m.members = {3, 9, 1000000000000ull};
  GroupMembersRecord out;
  ASSERT_TRUE(DecodeGroupMembers(EncodeGroupMembers(m), &out).ok());
  EXPECT_EQ(out.kind, GroupKind::kAsset);
  EXPECT_EQ(out.created_us, 123);
  EXPECT_EQ(out.members, m.members);
  std::string json;
  ASSERT_TRUE(GroupMembersJson(EncodeGroupMembers(m), 7, &json).ok());
  EXPECT_NE(json.find("\"members\":[3,9,1000000000000]"), std::string::npos) << json;
  // Out of order or named twice: Corruption, naming the order.
  for (std::vector<uint64_t> bad : {std::vector<uint64_t>{9, 3}, std::vector<uint64_t>{3, 3}}) {
    GroupMembersRecord b = m;
    b.members = bad;
    Status s = DecodeGroupMembers(EncodeGroupMembers(b), &out);
    EXPECT_EQ(s.code(), Code::kCorruption);
    EXPECT_NE(s.message().find("out of order"), std::string::npos) << s.ToString();
  }
  // An unknown kind, another record's bytes, garbage.
  GroupMembersRecord k = m;
  k.kind = static_cast<GroupKind>(42);
  EXPECT_EQ(DecodeGroupMembers(EncodeGroupMembers(k), &out).code(), Code::kCorruption);
  EXPECT_EQ(DecodeGroupMembers(EncodeGroupMember(GroupMemberRecord{}), &out).code(),
            Code::kCorruption);
  EXPECT_EQ(DecodeGroupMembers("garbage-bytes-here", &out).code(), Code::kCorruption);

  Group g;
  g.id = 7;
  g.name = "fleet";
  g.size = 5;
  g.overlap = 2;
  Group back;
  ASSERT_TRUE(DecodeGroup(EncodeGroup(g), &back).ok());
  EXPECT_EQ(back.overlap, 2u);
  g.overlap = 6;  // more members in other groups than it holds
  Status s = DecodeGroup(EncodeGroup(g), &back);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("overlap"), std::string::npos) << s.ToString();
}

// A change set read back: a group_members change is decoded from its
// bytes; one with a before side or a damaged key is refused.
TEST(Records, GroupMembersChangeDecodesAndRefusesWhatItCannotBe) {
  GroupMembersRecord m;
  m.kind = GroupKind::kDevice;
  m.members = {4, 5};
  RecordChange r;
  r.type = RecordType::kGroupMembers;
  r.key = IdKey(11);
  r.after = EncodeGroupMembers(m);
  ChangeSet ok;
  ok.records.push_back(r);
  ASSERT_TRUE(DecodeRecords(&ok).ok());
  const auto* got = std::get_if<GroupMembersRecord>(&ok.records[0].after_record);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->group, 11u);
  EXPECT_EQ(got->members, (std::vector<uint64_t>{4, 5}));
  EXPECT_STREQ(RecordTypeName(RecordType::kGroupMembers), "group_members");

  ChangeSet before = ok;
  before.records[0].before = before.records[0].after;
  Status s = DecodeRecords(&before);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("group_members change has a before side"), std::string::npos)
      << s.ToString();
  ChangeSet key = ok;
  key.records[0].key = PairKey(11, 4);
  s = DecodeRecords(&key);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("damaged group members key"), std::string::npos) << s.ToString();
}

// A large call writes one entry with a table per record and counter
// change: one with more than the FlatBuffers verifier's default million
// tables reads back (it was committed and then unreadable), and the bound
// the write path checks covers what the encoder writes.
TEST(Records, LogEntriesOfMillionsOfChangesReadBackAndFitTheirBound) {
  LogEntry e;
  e.revision = 2;
  e.operation = "device.reassign";
  e.changes.counters.resize(1100000);
  for (size_t i = 0; i < e.changes.counters.size(); ++i) {
    e.changes.counters[i] = CounterChange{i + 1, 1, -1};
  }
  for (int i = 0; i < 1000; ++i) {
    RecordChange r;
    r.type = RecordType::kEntity;
    r.key = IdKey(static_cast<uint64_t>(i));
    r.before = std::string(100 + i % 7, 'b');
    r.after = std::string(90 + i % 5, 'a');
    r.before_scope = "\x01\x02";
    r.after_scope = "\x01\x03";
    e.changes.records.push_back(std::move(r));
  }
  const std::string bytes = EncodeLogEntry(e);
  EXPECT_LE(bytes.size(), LogEntryBytesBound(e.changes));
  LogEntry back;
  ASSERT_TRUE(DecodeLogEntry(bytes, &back).ok());
  EXPECT_EQ(back.changes.counters.size(), e.changes.counters.size());
  EXPECT_EQ(back.changes.records.size(), e.changes.records.size());
  EXPECT_EQ(back.changes.records[999].after, e.changes.records[999].after);
  std::string buffer;
  LogEntryView view;
  ASSERT_TRUE(DecodeLogEntryView(bytes, &buffer, &view).ok());
  EXPECT_EQ(view.records.size(), 1000u);
  EXPECT_TRUE(LogEntryFits(e.changes, "device.reassign").ok());
  // Small entries fit their bound too, the empty one included.
  EXPECT_LE(EncodeLogEntry(LogEntry()).size(), LogEntryBytesBound(ChangeSet()));
  // A batch's arguments list every item: the bound counts them (they pass
  // the slack), and the refusal names the call, its size and the limit.
  LogEntry listed;
  listed.operation = "group.add";
  listed.arguments = "{\"members\":[" + std::string(300 << 10, '7') + "]}";
  const uint64_t bound = LogEntryBytesBound(listed.changes, listed.arguments.size());
  EXPECT_LE(EncodeLogEntry(listed).size(), bound);
  EXPECT_GT(EncodeLogEntry(listed).size(), LogEntryBytesBound(listed.changes));
  Status s = LogEntryFits(listed.changes, "group.add", listed.arguments.size(), 256 << 10);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "group.add would change 0 records at once, about " +
                             std::to_string(bound >> 10) +
                             " KiB of change log; one call may write at most 256 KiB: split it "
                             "into smaller calls (nothing was changed)");
  EXPECT_TRUE(LogEntryFits(listed.changes, "group.add", listed.arguments.size()).ok());
}

// The entry is built in the string it is returned in; when the builder has
// to grow (a first buffer far too small), the bytes are the same.
TEST(Records, ALogEntryIsTheSameWhenItsBufferHadToGrow) {
  LogEntry e;
  e.revision = 42;
  e.time_us = 1234567;
  e.log_id = "lineage";
  e.operation = "device.reassign";
  e.arguments = "{\"to\":3}";
  for (int i = 0; i < 300; ++i) {
    RecordChange r;
    r.type = RecordType::kEntity;
    r.key = IdKey(static_cast<uint64_t>(i + 1));
    r.before = std::string(static_cast<size_t>(i % 50), 'b');
    r.after = std::string(static_cast<size_t>(i % 70), 'a');
    r.after_scope = "\x01\x03";
    e.changes.records.push_back(std::move(r));
    e.changes.counters.push_back({static_cast<uint64_t>(i), 1, -1});
  }
  const std::string sized = EncodeLogEntry(e);
  for (size_t first : {size_t{1}, size_t{64}, size_t{1000}, sized.size() - 9}) {
    SCOPED_TRACE(first);
    EXPECT_EQ(EncodeLogEntry(e, first), sized);
  }
  LogEntry back;
  ASSERT_TRUE(DecodeLogEntry(sized, &back).ok());
  ASSERT_EQ(back.changes.records.size(), 300u);
  EXPECT_EQ(back.changes.records[299].after, e.changes.records[299].after);
  EXPECT_EQ(back.changes.counters.size(), 300u);
  EXPECT_EQ(back.arguments, e.arguments);
}

// EntityBytesAtLeast never passes what EncodeEntity writes: a call judged
// too large by it is too large.
TEST(Records, AnEntitysLowerBoundNeverPassesItsEncodedSize) {
  std::mt19937_64 rng(7);
  auto text = [&](size_t most) { return std::string(rng() % (most + 1), 'x'); };
  for (int i = 0; i < 500; ++i) {
    Entity e;
    e.id = rng();
    e.kind = i % 2 ? EntityKind::kDevice : EntityKind::kAsset;
    e.key = text(40);
    e.unit_id = text(20);
    e.name = text(60);
    e.type = text(10);
    e.owner = rng();
    if (i % 3 == 0) e.created_us = e.updated_us = static_cast<int64_t>(rng() >> 1);
    for (int k = static_cast<int>(rng() % 4); k > 0; --k) e.attributes[text(8)] = text(30);
    const uint64_t encoded = EncodeEntity(e).size();
    EXPECT_LE(EntityBytesAtLeast(e), encoded) << i;
    EXPECT_GE(EntityBytesAtLeast(e) * 2, encoded) << i;  // and not far below it
  }
}

TEST(Keys, IndexKeysAndValues) {
  std::string label("\x01\x05", 2);
  std::string k = IndexKey(1, label, 99);
  uint8_t kind;
  std::string_view l;
  uint64_t id;
  ASSERT_TRUE(DecodeIndexKey(k, &kind, &l, &id));
  EXPECT_EQ(kind, 1);
  EXPECT_EQ(l, label);
  EXPECT_EQ(id, 99u);
  std::string v;
  EncodeIndexValue(&v, 300, "dev-1", "Van 1", "tracker");
  IndexValue iv;
  ASSERT_TRUE(DecodeIndexValue(v, &iv));
  EXPECT_EQ(iv.owner, 300u);
  EXPECT_EQ(iv.key, "dev-1");
  EXPECT_EQ(iv.name, "Van 1");
  EXPECT_EQ(iv.type, "tracker");
  EXPECT_FALSE(DecodeIndexValue(v.substr(0, v.size() - 1), &iv));
  EXPECT_FALSE(DecodeIndexValue(v + "x", &iv));
}

}  // namespace
}  // namespace canopy::storage
