// Copyright (c) Canopy authors.
//
// The catalog image (query/catalog_image.h): a writing database leaves its
// catalog in one file at Close, and the next open reads it instead of the
// key spaces, but only for exactly the state it was written of. Checked
// here: every field comes back; any damaged byte, a short file, another
// state's stamp, and a database written since are all refused (the open
// then loads from the key spaces, and answers the same); the option turns
// it off; read-only opens never write one.

#include "query/catalog_image.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "rocksdb/write_batch.h"
#include "storage/files_position.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

namespace fs = std::filesystem;
using testing::MakeAccount;
using testing::MakeDevice;
using testing::MakeUser;
using testing::OpenDb;
using testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string Source(const Db& db) {
  auto s = db.GetProperty("canopy.catalog-source");
  return s.ok() ? *s : s.status().ToString();
}

std::string Image(const std::string& dir) { return dir + "/" + query::kCatalogImageFile; }

// The stamp an image carries (docs/format.md, "The catalog image": after
// the 24-byte header).
query::ImageStamp StampOf(const std::string& image) {
  query::ImageStamp s;
  size_t at = 24;
  auto u64 = [&] {
    uint64_t v = 0;
    std::memcpy(&v, image.data() + at, 8);
    at += 8;
    return v;
  };
  s.sequence = u64();
  s.revision = u64();
  s.created_us = u64();
  uint32_t depth = 0, len = 0;
  std::memcpy(&depth, image.data() + at, 4);
  std::memcpy(&len, image.data() + at + 4, 4);
  s.max_depth = depth;
  s.log_id = image.substr(at + 8, len);
  return s;
}

// `image` with its checksum made right again after a change.
std::string Rehashed(std::string image) {
  const uint64_t hash = XXH3_64bits(image.data(), image.size() - 8);
  std::memcpy(image.data() + image.size() - 8, &hash, 8);
  return image;
}

// Every field of two catalogs, compared (the members epoch aside: it is
// new on every load by design).
void ExpectSame(const query::Catalog& a, const query::Catalog& b) {
  EXPECT_EQ(a.max_depth, b.max_depth);
  EXPECT_EQ(a.roots, b.roots);
  EXPECT_TRUE(a.SameSequences(b));
  ASSERT_EQ(a.accounts.size(), b.accounts.size());
  for (const auto& [id, x] : a.accounts) {
    const query::AccountNode* y = b.account(id);
    ASSERT_NE(y, nullptr) << id;
    EXPECT_EQ(x.id, y->id);
    EXPECT_EQ(x.parent, y->parent);
    EXPECT_EQ(x.tenant, y->tenant);
    EXPECT_EQ(x.depth, y->depth);
    EXPECT_EQ(x.settings.sub_account_management, y->settings.sub_account_management);
    EXPECT_EQ(x.settings.sub_account_access, y->settings.sub_account_access);
    EXPECT_EQ(x.settings.group_sharing, y->settings.group_sharing);
    EXPECT_EQ(x.next_child_ordinal, y->next_child_ordinal);
    EXPECT_EQ(x.key, y->key);
    EXPECT_EQ(x.label, y->label);
    EXPECT_EQ(x.children, y->children);
    EXPECT_EQ(x.members, y->members);
    for (size_t k = 0; k < x.counts.size(); ++k) {
      EXPECT_EQ(x.counts[k].direct, y->counts[k].direct);
      EXPECT_EQ(x.counts[k].subtree, y->counts[k].subtree);
    }
    EXPECT_EQ(x.groups, y->groups);
    EXPECT_EQ(x.in_groups, y->in_groups);
    EXPECT_EQ(x.descendants, y->descendants);
  }
  ASSERT_EQ(a.users.size(), b.users.size());
  for (const auto& [id, x] : a.users) {
    const query::UserNode* y = b.user(id);
    ASSERT_NE(y, nullptr) << id;
    EXPECT_EQ(x.id, y->id);
    EXPECT_EQ(x.home, y->home);
    EXPECT_EQ(x.disabled, y->disabled);
    EXPECT_EQ(x.login, y->login);
    ASSERT_EQ(x.memberships.size(), y->memberships.size());
    for (size_t i = 0; i < x.memberships.size(); ++i) {
      EXPECT_EQ(x.memberships[i].account, y->memberships[i].account);
      EXPECT_EQ(x.memberships[i].role, y->memberships[i].role);
      EXPECT_EQ(x.memberships[i].branch, y->memberships[i].branch);
    }
    EXPECT_EQ(x.groups, y->groups);
  }
  ASSERT_EQ(a.roles.size(), b.roles.size());
  for (const auto& [id, x] : a.roles) {
    const query::RoleNode* y = b.role(id);
    ASSERT_NE(y, nullptr) << id;
    EXPECT_EQ(x.tenant, y->tenant);
    EXPECT_EQ(x.name, y->name);
    EXPECT_TRUE(x.perms == y->perms);
    EXPECT_EQ(x.builtin, y->builtin);
    EXPECT_EQ(x.uses, y->uses);
  }
  ASSERT_EQ(a.groups.size(), b.groups.size());
  auto same_grants = [](const std::vector<query::GroupGrantNode>& p,
                        const std::vector<query::GroupGrantNode>& q) {
    if (p.size() != q.size()) return false;
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i].user_group != q[i].user_group || p[i].role != q[i].role ||
          p[i].target != q[i].target || p[i].branch != q[i].branch) {
        return false;
      }
    }
    return true;
  };
  for (const auto& [id, x] : a.groups) {
    const query::GroupNode* y = b.group(id);
    ASSERT_NE(y, nullptr) << id;
    EXPECT_EQ(x.owner, y->owner);
    EXPECT_EQ(x.kind, y->kind);
    EXPECT_EQ(x.name, y->name);
    EXPECT_EQ(x.size, y->size);
    EXPECT_EQ(x.members, y->members);
    EXPECT_TRUE(same_grants(x.grants, y->grants)) << id;
    EXPECT_TRUE(same_grants(x.granted_to, y->granted_to)) << id;
    EXPECT_EQ(x.overlap, y->overlap);
  }
}

// Every file in a folder with its bytes: to show that an open changed
// nothing.
std::map<std::string, std::string> FolderBytes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename() == "LOG" || e.path().filename() == "LOCK") continue;
    out[e.path().filename().string()] = ReadFile(e.path().string());
  }
  return out;
}

// The three ways to open a folder: 0 for writing, 1 read-only, 2 as a
// follower.
Options InMode(int mode) {
  Options o;
  o.read_only = mode == 1;
  o.follower = mode == 2;
  return o;
}

class CatalogImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenDb(dir_.Sub("db"));
    Build(db_.get());
  }

  // Closes the database and keeps a copy of its RocksDB files as they are
  // now (without Canopy's image and files record): the older files a test
  // copies back later.
  std::string KeepOlderCopy() {
    EXPECT_OK(db_->Close());
    db_.reset();
    const std::string older = dir_.Sub("older");
    fs::copy(dir_.Sub("db"), older, fs::copy_options::recursive);
    fs::remove(older + "/" + query::kCatalogImageFile);
    fs::remove(older + "/" + storage::kFilesRecordFile);
    return older;
  }

  // Every open of `dir` (for writing, read-only, as a follower) is refused
  // as a rollback, and leaves every byte of the folder as it was.
  void ExpectRefusedAsRollback(const std::string& dir, const std::string& what) {
    const auto before = FolderBytes(dir);
    for (int mode = 0; mode < 3; ++mode) {
      std::unique_ptr<Db> db;
      Status st = Db::Open(InMode(mode), dir, &db);
      EXPECT_EQ(st.code(), Code::kCorruption) << what << " " << mode << ": " << st.ToString();
      EXPECT_NE(st.message().find("went back to an older state"), std::string::npos)
          << st.ToString();
      EXPECT_NE(st.message().find("remove CANOPY-"), std::string::npos) << st.ToString();
      EXPECT_NE(st.message().find("Nothing was opened or changed"), std::string::npos)
          << st.ToString();
      EXPECT_EQ(db, nullptr);
      EXPECT_TRUE(FolderBytes(dir) == before) << what << " " << mode << ": the folder changed";
    }
  }

  // A tree with every kind of catalog state: nested accounts with
  // settings, users (one disabled) with memberships of built-in and custom
  // roles, groups of every kind (overlapping device groups), grants.
  void Build(Db* db) {
    const Actor sys = Actor::System();
    AccountId acme = MakeAccount(db, "acme");
    AccountId a = MakeAccount(db, "acme-a", acme);
    AccountId a1 = MakeAccount(db, "acme-a1", a);
    AccountId b = MakeAccount(db, "acme-b-with-a-key-longer-than-sso", acme);
    MakeAccount(db, "other");
    ASSERT_OK(db->SetSubAccountAccess(sys, a, SubAccountAccess::kDefaultOn));
    ASSERT_OK(db->SetSubAccountManagement(sys, a, true));
    AccountPatch sharing;
    sharing.group_sharing = true;
    ASSERT_OK(db->UpdateAccount(sys, acme, sharing));
    auto role = db->CreateRole(sys, acme, "fleet", {"device.read", "device.assign"});
    ASSERT_OK(role);
    UserId u1 = MakeUser(db, "u1", acme);
    UserId u2 = MakeUser(db, "u2", a);
    UserId u3 = MakeUser(db, "u3", a1);
    ASSERT_OK(db->Invite(sys, u1, acme, query::kRoleAccountAdmin, true));
    ASSERT_OK(db->Invite(sys, u2, a, *role, false));
    ASSERT_OK(db->Invite(sys, u2, a1, query::kRoleViewer, true));
    ASSERT_OK(db->Invite(sys, u3, a1, query::kRoleDeviceManager));
    ASSERT_OK(db->SetUserDisabled(sys, u3, true));
    EntityId d1 = MakeDevice(db, "d1", a);
    EntityId d2 = MakeDevice(db, "d2", a);
    MakeDevice(db, "d3", a1);
    MakeDevice(db, "d4", b);
    auto trucks = db->CreateGroup(sys, GroupSpec{GroupKind::kDevice, "trucks", a});
    auto vans = db->CreateGroup(sys, GroupSpec{GroupKind::kDevice, "vans", a});
    auto ops = db->CreateGroup(sys, GroupSpec{GroupKind::kUser, "ops", acme});
    auto regions = db->CreateGroup(sys, GroupSpec{GroupKind::kAccount, "regions", acme});
    ASSERT_OK(trucks);
    ASSERT_OK(vans);
    ASSERT_OK(ops);
    ASSERT_OK(regions);
    GroupMembersReport rep;
    ASSERT_OK(db->AddGroupMembers(sys, *trucks, std::vector<uint64_t>{d1, d2}, &rep));
    ASSERT_OK(db->AddGroupMembers(sys, *vans, std::vector<uint64_t>{d2}, &rep));
    ASSERT_OK(db->AddGroupMembers(sys, *ops, std::vector<uint64_t>{u1}, &rep));
    ASSERT_OK(db->AddGroupMembers(sys, *regions, std::vector<uint64_t>{a, b}, &rep));
    ASSERT_OK(db->GrantGroup(sys, GroupGrant{*ops, query::kRoleViewer, *regions, true}));
    ASSERT_OK(db->GrantGroup(sys, GroupGrant{*ops, query::kRoleViewer, kNoId, false}));
    auto crew = db->CreateGroup(sys, GroupSpec{GroupKind::kUser, "crew", a});
    ASSERT_OK(crew);
    ASSERT_OK(db->AddGroupMembers(sys, *crew, std::vector<uint64_t>{u2}, &rep));
    ASSERT_OK(db->GrantGroup(sys, GroupGrant{*crew, *role, *trucks, false}));
  }

  // The catalog loaded from the key spaces of the (closed) database.
  query::Catalog LoadFromKeySpaces() {
    query::Catalog c;
    EXPECT_OK(testing::StoredCatalog(dir_.Sub("db"), &c));
    return c;
  }

  std::vector<std::string> Problems(Db* db) {
    std::vector<std::string> problems;
    EXPECT_OK(db->CheckIntegrity(&problems));
    return problems;
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
};

TEST_F(CatalogImageTest, EveryFieldComesBackForItsOwnStampOnly) {
  ASSERT_OK(db_->Close());
  const query::Catalog loaded = LoadFromKeySpaces();
  ASSERT_GT(loaded.groups.size(), 3u);
  const std::string folder = dir_.Sub("images");
  fs::create_directories(folder);
  query::ImageStamp stamp{11, 22, 33, 32, "log-id"};
  ASSERT_OK(query::WriteCatalogImage(loaded, stamp, folder));
  EXPECT_FALSE(fs::exists(Image(folder) + ".tmp"));

  query::Catalog read;
  std::string why;
  ASSERT_TRUE(query::ReadCatalogImage(folder, stamp, &read, &why)) << why;
  ExpectSame(loaded, read);
  EXPECT_NE(read.members_epoch, loaded.members_epoch);

  // Each part of the stamp matters.
  for (int part = 0; part < 5; ++part) {
    query::ImageStamp other = stamp;
    if (part == 0) other.sequence += 1;
    if (part == 1) other.revision += 1;
    if (part == 2) other.created_us += 1;
    if (part == 3) other.max_depth += 1;
    if (part == 4) other.log_id += "x";
    EXPECT_FALSE(query::ReadCatalogImage(folder, other, &read, &why)) << part;
    EXPECT_EQ(why, "written for another state");
    EXPECT_TRUE(read.accounts.empty() && read.users.empty() && read.groups.empty());
  }
  query::RemoveCatalogImage(folder);
  EXPECT_FALSE(query::ReadCatalogImage(folder, stamp, &read, &why));
  EXPECT_EQ(why, "no image");
}

TEST_F(CatalogImageTest, AnyDamagedByteOrShortFileIsRefused) {
  ASSERT_OK(db_->Close());
  const query::Catalog loaded = LoadFromKeySpaces();
  const std::string folder = dir_.Sub("images");
  fs::create_directories(folder);
  query::ImageStamp stamp{1, 2, 3, 32, "id"};
  ASSERT_OK(query::WriteCatalogImage(loaded, stamp, folder));
  const std::string good = ReadFile(Image(folder));
  ASSERT_GT(good.size(), 200u);
  query::Catalog read;
  std::string why;
  // Every byte, one bit flipped at a time (the bit varies with the offset).
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    WriteFile(Image(folder), bad);
    ASSERT_FALSE(query::ReadCatalogImage(folder, stamp, &read, &why)) << "byte " << i;
    ASSERT_TRUE(read.accounts.empty() && read.users.empty() && read.roles.empty()) << i;
  }
  for (size_t n = 0; n < good.size(); n += 7) {
    WriteFile(Image(folder), good.substr(0, n));
    ASSERT_FALSE(query::ReadCatalogImage(folder, stamp, &read, &why)) << "length " << n;
  }
  WriteFile(Image(folder), good + "x");
  EXPECT_FALSE(query::ReadCatalogImage(folder, stamp, &read, &why));
  WriteFile(Image(folder), good);
  EXPECT_TRUE(query::ReadCatalogImage(folder, stamp, &read, &why)) << why;
}

// Damage the checksum does not see (it is made right again): every byte
// changed in turn, in three ways. The reader never reads out of bounds
// (the sanitizer builds run this too); a changed length, count, id or
// label is refused, and what it accepts has the same nodes (a value inside
// one changed: a name, a counter, a role or permission bit, which only the
// checksum can catch, as it does above).
TEST_F(CatalogImageTest, DamageBehindAGoodChecksumIsRefusedOrKeepsTheNodes) {
  ASSERT_OK(db_->Close());
  const query::Catalog loaded = LoadFromKeySpaces();
  const std::string folder = dir_.Sub("images");
  fs::create_directories(folder);
  query::ImageStamp stamp{1, 2, 3, 32, "id"};
  ASSERT_OK(query::WriteCatalogImage(loaded, stamp, folder));
  const std::string good = ReadFile(Image(folder));
  query::Catalog read;
  std::string why;
  size_t refused = 0, accepted = 0, inconsistent = 0;
  const size_t body = 24 + 8 * 3 + 4 + 4 + stamp.log_id.size();  // header, stamp
  for (size_t i = body; i + 8 < good.size(); ++i) {
    for (int way = 0; way < 3; ++way) {
      std::string bad = good;
      bad[i] = static_cast<char>(way == 0 ? 0 : way == 1 ? 0xff : bad[i] ^ 0x01);
      if (bad == good) continue;
      WriteFile(Image(folder), Rehashed(bad));
      if (query::ReadCatalogImage(folder, stamp, &read, &why)) {
        ++accepted;
        ASSERT_EQ(read.accounts.size(), loaded.accounts.size()) << "byte " << i;
        ASSERT_EQ(read.users.size(), loaded.users.size()) << "byte " << i;
        ASSERT_EQ(read.groups.size(), loaded.groups.size()) << "byte " << i;
      } else {
        ++refused;
        inconsistent += why.rfind("inconsistent", 0) == 0;
        ASSERT_TRUE(read.accounts.empty() && read.users.empty()) << "byte " << i;
      }
    }
  }
  EXPECT_GT(refused, 100u);
  EXPECT_GT(accepted, 100u);
  EXPECT_GT(inconsistent, 10u);  // a dangling id, caught after the parse
}

TEST_F(CatalogImageTest, OpenUsesTheImageOfExactlyTheStateItWasWrittenOf) {
  const auto before = testing::DumpAll(db_.get());
  EXPECT_EQ(Source(*db_), "key spaces (no change log yet)");
  ASSERT_OK(db_->Close());
  ASSERT_TRUE(fs::exists(Image(dir_.Sub("db"))));
  const std::string first_image = ReadFile(Image(dir_.Sub("db")));

  db_ = OpenDb(dir_.Sub("db"));
  EXPECT_EQ(Source(*db_), "image");
  EXPECT_TRUE(Problems(db_.get()).empty());
  EXPECT_TRUE(testing::DumpAll(db_.get()) == before);
  // Nothing written: Close leaves the image as it was.
  ASSERT_OK(db_->Close());
  EXPECT_EQ(ReadFile(Image(dir_.Sub("db"))), first_image);

  // A write, then the earlier image put back (as a crash after the write
  // would leave it): the open sees another state and loads the key spaces.
  db_ = OpenDb(dir_.Sub("db"));
  AccountId late = MakeAccount(db_.get(), "late", db_->FindAccount("acme").value().id);
  UserId lu = MakeUser(db_.get(), "late-user", late);
  ASSERT_OK(db_->Invite(Actor::System(), lu, late, query::kRoleViewer));
  ASSERT_OK(db_->Close());
  EXPECT_NE(ReadFile(Image(dir_.Sub("db"))), first_image);
  WriteFile(Image(dir_.Sub("db")), first_image);
  db_ = OpenDb(dir_.Sub("db"));
  EXPECT_EQ(Source(*db_), "key spaces (written for another state)");
  EXPECT_TRUE(Problems(db_.get()).empty());
  EXPECT_TRUE(testing::Allowed(*db_, lu, "account.read", "late"));
  ASSERT_OK(db_->Close());
  // That close wrote the image of the new state, which the next open uses.
  db_ = OpenDb(dir_.Sub("db"));
  EXPECT_EQ(Source(*db_), "image");
  EXPECT_TRUE(Problems(db_.get()).empty());
  EXPECT_TRUE(testing::Allowed(*db_, lu, "account.read", "late"));
}

// Files that went back behind the image (older files copied over newer
// ones, as a damaged MANIFEST or lost files also leave them): no crash can
// do that, as an image is written of a durable state only. Every open is
// refused, naming both states, and the image is kept as the evidence;
// once it is removed by hand, the older state opens.
TEST_F(CatalogImageTest, FilesOlderThanTheImageAreRefusedNotOpened) {
  const std::string db_dir = dir_.Sub("db");
  const std::string older = KeepOlderCopy();
  db_ = OpenDb(db_dir);
  MakeAccount(db_.get(), "late", db_->FindAccount("acme").value().id);
  ASSERT_OK(db_->Close());
  for (const auto& e : fs::directory_iterator(db_dir)) {
    if (e.path().filename() != query::kCatalogImageFile &&
        e.path().filename() != storage::kFilesRecordFile) {
      fs::remove_all(e.path());
    }
  }
  fs::copy(older, db_dir, fs::copy_options::recursive);
  ExpectRefusedAsRollback(db_dir, "older files in place of newer ones");
  fs::remove(Image(db_dir));
  fs::remove(db_dir + "/" + storage::kFilesRecordFile);
  db_ = OpenDb(db_dir);
  EXPECT_TRUE(db_->FindAccount("acme").ok());
  EXPECT_TRUE(db_->FindAccount("late").status().IsNotFound());
  EXPECT_TRUE(Problems(db_.get()).empty());
}

// The folder's files went back behind where the last writer left them
// (its files record, CANOPY-FILES) while the newer files are still beside
// them: older files copied over newer ones (CURRENT then names an older
// MANIFEST), or the MANIFEST cut at its end. RocksDB's writable open would
// take the newer table files, log and MANIFEST for obsolete and delete
// them before Init could see the rollback; so every open is refused before
// anything opens, the folder stays exactly as it was, and the newer state
// can still be brought back.
TEST_F(CatalogImageTest, FilesBehindTheRecordAreRefusedBeforeAnythingOpens) {
  const std::string db_dir = dir_.Sub("db");
  const std::string older = KeepOlderCopy();
  db_ = OpenDb(db_dir);
  const AccountId acme = db_->FindAccount("acme").value().id;
  for (int i = 0; i < 20; ++i) MakeAccount(db_.get(), "late" + std::to_string(i), acme);
  ASSERT_OK(db_->Close());
  db_.reset();
  // What RocksDB's writable open would delete: table files the older copy
  // does not have.
  int newer_tables = 0;
  for (const auto& e : fs::directory_iterator(db_dir)) {
    newer_tables += e.path().extension() == ".sst" &&
                    !fs::exists(fs::path(older) / e.path().filename());
  }
  ASSERT_GT(newer_tables, 0);
  const std::string newer_current = ReadFile(db_dir + "/CURRENT");

  // Older files copied over newer ones (the older copy's CURRENT among
  // them; every newer file stays).
  for (const auto& e : fs::directory_iterator(older)) {
    fs::copy(e.path(), fs::path(db_dir) / e.path().filename(),
             fs::copy_options::overwrite_existing);
  }
  ASSERT_NE(ReadFile(db_dir + "/CURRENT"), newer_current);
  ExpectRefusedAsRollback(db_dir, "older files copied over");
  {
    std::unique_ptr<Db> db;
    Status st = Db::Open(Options(), db_dir, &db);
    EXPECT_NE(st.message().find("is still in the folder"), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find(newer_current.substr(0, newer_current.size() - 1)),
              std::string::npos)
        << st.ToString();
  }
  // As the message says: CURRENT back at the newer MANIFEST, and the newer
  // state opens whole.
  WriteFile(db_dir + "/CURRENT", newer_current);
  db_ = OpenDb(db_dir);
  EXPECT_EQ(Source(*db_), "image");
  EXPECT_TRUE(db_->FindAccount("late19").ok());
  EXPECT_TRUE(Problems(db_.get()).empty());
  ASSERT_OK(db_->Close());
  db_.reset();

  // The MANIFEST cut at its end (its last edits lost), or damaged in place.
  db_ = OpenDb(db_dir);
  MakeAccount(db_.get(), "latest", acme);
  ASSERT_OK(db_->Close());
  db_.reset();
  std::string manifest = ReadFile(db_dir + "/CURRENT");
  while (!manifest.empty() && manifest.back() == '\n') manifest.pop_back();
  const std::string whole = ReadFile(db_dir + "/" + manifest);
  ASSERT_GT(whole.size(), 64u);
  WriteFile(db_dir + "/" + manifest, whole.substr(0, whole.size() - 40));
  {
    std::unique_ptr<Db> db;
    Status st = Db::Open(Options(), db_dir, &db);
    EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
    EXPECT_NE(st.message().find("fewer than the " + std::to_string(whole.size())),
              std::string::npos)
        << st.ToString();
    EXPECT_EQ(ReadFile(db_dir + "/" + manifest).size(), whole.size() - 40);
  }
  // Its last records overwritten with zeros, the length kept (damage that
  // RocksDB's reader takes for padding, and opens the state before them).
  WriteFile(db_dir + "/" + manifest, whole.substr(0, whole.size() - 40) + std::string(40, '\0'));
  {
    std::unique_ptr<Db> db;
    for (int mode = 0; mode < 2; ++mode) {
      Status st = Db::Open(InMode(mode), db_dir, &db);
      EXPECT_EQ(st.code(), Code::kCorruption) << mode << ": " << st.ToString();
      EXPECT_NE(st.message().find("are not those a writer last left it with"), std::string::npos)
          << st.ToString();
    }
    EXPECT_EQ(ReadFile(db_dir + "/" + manifest).size(), whole.size());
  }
  WriteFile(db_dir + "/" + manifest, whole);
  db_ = OpenDb(db_dir);
  EXPECT_TRUE(db_->FindAccount("latest").ok());
  EXPECT_TRUE(Problems(db_.get()).empty());
  ASSERT_OK(db_->Close());
  db_.reset();

  // Another database's files in place of this one's (none of this one's
  // left), under this one's image and files record: not a rollback of this
  // database (another identity), so it opens, and its writer drops the
  // image it does not use.
  const std::string other = dir_.Sub("other");
  {
    auto o = OpenDb(other);
    MakeAccount(o.get(), "stranger", kNoId);
    ASSERT_OK(o->Close());
  }
  const std::string image = ReadFile(Image(db_dir));
  const std::string record = ReadFile(db_dir + "/" + storage::kFilesRecordFile);
  ASSERT_FALSE(record.empty());
  fs::remove_all(db_dir);
  fs::copy(other, db_dir, fs::copy_options::recursive);
  WriteFile(Image(db_dir), image);
  WriteFile(db_dir + "/" + storage::kFilesRecordFile, record);
  db_ = OpenDb(db_dir);
  EXPECT_TRUE(db_->FindAccount("stranger").ok());
}

// A files record that cannot be read as one (garbage, empty, a bad hash, a
// directory or a named pipe in its place), or one behind the files (an
// older record, as a power loss may leave): no record to hold the files
// to, so every open goes on as usual, none waits, and a writer leaves a
// whole record where it can.
TEST_F(CatalogImageTest, AFilesRecordThatCannotBeReadOrIsBehindRefusesNothing) {
  const std::string db_dir = dir_.Sub("db");
  const std::string record = db_dir + "/" + storage::kFilesRecordFile;
  ASSERT_OK(db_->Close());
  db_.reset();
  storage::FilesPosition real;
  ASSERT_TRUE(storage::ReadFilesRecord(db_dir, &real));
  const std::string behind = "identity " + real.identity + "\nmanifest 1\nmanifest-size 1\n";
  for (const std::string what : {"garbage", "empty", "bad hash", "directory", "pipe", "behind"}) {
    fs::remove_all(record);
    if (what == "directory") {
      fs::create_directory(record);
    } else if (what == "pipe") {
      ASSERT_EQ(mkfifo(record.c_str(), 0644), 0);
    } else {
      WriteFile(record, what == "garbage"    ? "nonsense\n\x01\x02"
                        : what == "empty"    ? ""
                        : what == "bad hash" ? behind + "manifest-hash zz\n"
                                             : behind);
    }
    storage::FilesPosition read;
    EXPECT_EQ(storage::ReadFilesRecord(db_dir, &read), what == "behind") << what;
    for (int mode = 0; mode < 3; ++mode) {
      std::unique_ptr<Db> db;
      Status st = Db::Open(InMode(mode), db_dir, &db);
      ASSERT_TRUE(st.ok()) << what << " " << mode << ": " << st.ToString();
      EXPECT_TRUE(db->FindAccount("acme").ok());
      ASSERT_OK(db->Close());
    }
    // The writer's close left a whole record, except where a directory
    // stands in its way (best effort: logged).
    EXPECT_EQ(storage::ReadFilesRecord(db_dir, &read), what != "directory") << what;
  }
}

// A read-only or follower open beside writers that open, write and close in
// turn: a writer that closes after the open read the files leaves an image
// of a newer state than they hold. That is a race, not a rollback: the open
// reads the files again (never Corruption), and answers a whole state.
TEST_F(CatalogImageTest, AnImageNewerThanTheFilesBecauseAWriterClosedMeanwhileIsNoRollback) {
  const std::string db_dir = dir_.Sub("db");
  const uint64_t base = db_->Revision();
  ASSERT_EQ(db_->Roots().size(), 2u);
  ASSERT_OK(db_->Close());
  db_.reset();
  std::atomic<bool> stop{false};
  std::atomic<int> cycles{0};
  Status writer_failed;
  std::thread writer([&] {
    for (int i = 0; !stop.load() || i < 3; ++i) {
      std::unique_ptr<Db> w;
      Status s = Db::Open(Options(), db_dir, &w);
      for (int k = 0; s.ok() && k < 5; ++k) {
        s = w->CreateAccount(Actor::System(), {.key = "w" + std::to_string(i) + "-" +
                                                          std::to_string(k),
                                               .name = "W"})
                .status();
      }
      if (s.ok()) s = w->Close();
      if (!s.ok()) {
        writer_failed = s;
        return;
      }
      cycles.fetch_add(1);
      // A breath between writers: a reader's retries are bounded (about
      // 1.3 s), so writers that never pause at all may still wear them out
      // on a loaded machine (an error then, never a false rollback).
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  int opens = 0, busy = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while ((std::chrono::steady_clock::now() < until || opens < 20) && busy < 20) {
    Options o;
    o.read_only = opens % 2 == 0;
    o.follower = !o.read_only;
    std::unique_ptr<Db> r;
    Status s = Db::Open(o, db_dir, &r);
    // Writers that wear out a reader's attempts (a slow, loaded machine, a
    // sanitizer) make it Unavailable, "try again": never Corruption.
    if (s.code() == Code::kUnavailable) {
      EXPECT_NE(s.message().find("a writer kept replacing the files"), std::string::npos)
          << s.ToString();
      ++busy;
      continue;
    }
    EXPECT_TRUE(s.ok()) << "open " << opens << (o.read_only ? " (read-only): " : " (follower): ")
                        << s.ToString();
    if (!s.ok()) break;
    // One state: a root tenant per revision since the writers began.
    EXPECT_EQ(r->Roots().size() - 2, r->Revision() - base);
    EXPECT_OK(r->Close());
    ++opens;
  }
  stop = true;
  writer.join();
  ASSERT_OK(writer_failed);
  EXPECT_GE(cycles.load(), 3);
  EXPECT_GE(opens, 20) << busy << " opens were Unavailable";
  db_ = OpenDb(db_dir);
  EXPECT_TRUE(Problems(db_.get()).empty());
}

// The same race at its worst: the image changes, always ahead of the
// files, between every read of the open (writers that never stop). Only
// the same image ahead of the same files three reads in a row is a
// rollback; this open's last read opens the files it found without the
// image, and says so.
TEST_F(CatalogImageTest, AnImageThatKeepsChangingAheadOfTheFilesIsNoRollback) {
  const std::string db_dir = dir_.Sub("db");
  ASSERT_OK(db_->Close());
  db_.reset();
  const std::string original = ReadFile(Image(db_dir));
  const query::ImageStamp stamp = StampOf(original);
  const query::Catalog c = LoadFromKeySpaces();
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  Status write_failed;
  std::thread changer([&] {
    for (uint64_t k = 1; !stop.load(); ++k) {
      query::ImageStamp ahead = stamp;
      ahead.sequence += k;
      ahead.revision += k;
      if (Status s = query::WriteCatalogImage(c, ahead, db_dir); !s.ok()) {
        write_failed = s;
        stop = true;
        return;
      }
      ++written;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  // The opens begin once the image is ahead of the files (on a loaded
  // machine the first one could otherwise read the image the files match,
  // before the changer's first write, and open from it).
  while (written.load() == 0 && !stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (int mode = 1; mode < 3; ++mode) {  // read-only, follower
    std::unique_ptr<Db> r;
    // A changer starved of the processor for the open's three reads (two
    // pauses of 20 and 40 ms) leaves the same image ahead of the same
    // files, and the open rightly takes that for a rollback: tried again,
    // as a user would; three starvations in a row are no race.
    Status s;
    for (int attempt = 0; attempt < 3; ++attempt) {
      const int before = written.load();
      s = Db::Open(InMode(mode), db_dir, &r);
      if (s.ok() || s.code() != Code::kCorruption || written.load() - before >= 3) break;
    }
    EXPECT_TRUE(s.ok()) << mode << ": " << s.ToString();
    if (!s.ok()) continue;
    EXPECT_NE(Source(*r).find("a writer changed the folder during the open"), std::string::npos)
        << Source(*r);
    EXPECT_EQ(r->Revision(), stamp.revision);
    EXPECT_TRUE(r->FindAccount("acme").ok());
    EXPECT_OK(r->Close());
  }
  stop = true;
  changer.join();
  ASSERT_OK(write_failed);
  // Left still, the image ahead of the files is a rollback again.
  Options ro;
  ro.read_only = true;
  std::unique_ptr<Db> r;
  EXPECT_EQ(Db::Open(ro, db_dir, &r).code(), Code::kCorruption);
  WriteFile(Image(db_dir), original);
  db_ = OpenDb(db_dir);
  EXPECT_EQ(Source(*db_), "image");
  EXPECT_TRUE(Problems(db_.get()).empty());
}

TEST_F(CatalogImageTest, ADamagedImageIsReplacedAndAnsweredFromTheKeySpaces) {
  ASSERT_OK(db_->Close());
  std::string bytes = ReadFile(Image(dir_.Sub("db")));
  bytes[bytes.size() / 2] ^= 0x40;
  WriteFile(Image(dir_.Sub("db")), bytes);
  db_ = OpenDb(dir_.Sub("db"));
  EXPECT_EQ(Source(*db_), "key spaces (checksum mismatch)");
  EXPECT_TRUE(Problems(db_.get()).empty());
  ASSERT_OK(db_->Close());
  db_ = OpenDb(dir_.Sub("db"));
  EXPECT_EQ(Source(*db_), "image");
}

// Named pipes where the image is read and written: the open does not wait
// for a writer to the pipe (it loads from the key spaces), and Close
// writes a new file in place of both.
TEST_F(CatalogImageTest, NamedPipesInPlaceOfTheImageAreNotWaitedFor) {
  ASSERT_OK(db_->Close());
  const std::string db_dir = dir_.Sub("db");
  ASSERT_TRUE(fs::remove(Image(db_dir)));
  ASSERT_EQ(::mkfifo(Image(db_dir).c_str(), 0644), 0) << strerror(errno);
  ASSERT_EQ(::mkfifo((Image(db_dir) + ".tmp").c_str(), 0644), 0) << strerror(errno);
  db_ = OpenDb(db_dir);
  EXPECT_EQ(Source(*db_), "key spaces (the image is not a readable file)");
  MakeAccount(db_.get(), "after-pipe");
  ASSERT_OK(db_->Close());
  EXPECT_TRUE(fs::is_regular_file(Image(db_dir)));
  EXPECT_FALSE(fs::exists(Image(db_dir) + ".tmp"));
  db_ = OpenDb(db_dir);
  EXPECT_EQ(Source(*db_), "image");
  EXPECT_TRUE(Problems(db_.get()).empty());
  EXPECT_TRUE(db_->FindAccount("after-pipe").ok());
}

// An image of the right state whose ids disagree with the stored
// sequences, or whose references do not resolve, is not used.
TEST_F(CatalogImageTest, AnImageThatDisagreesWithTheStoreIsNotUsed) {
  std::map<std::string, AccountId> ids;
  for (const char* key : {"acme-a", "acme-a1"}) ids[key] = db_->FindAccount(key).value().id;
  auto db_id = [&](const std::string& key) { return ids.at(key); };
  ASSERT_OK(db_->Close());
  const std::string db_dir = dir_.Sub("db");
  const query::ImageStamp stamp = StampOf(ReadFile(Image(db_dir)));
  query::Catalog c = LoadFromKeySpaces();
  c.last_account_id = c.last_account_id + 1;
  ASSERT_OK(query::WriteCatalogImage(c, stamp, db_dir));
  db_ = OpenDb(db_dir);
  EXPECT_EQ(Source(*db_), "key spaces (its sequences differ from the stored ones)");
  EXPECT_TRUE(Problems(db_.get()).empty());
  ASSERT_OK(db_->Close());

  c = LoadFromKeySpaces();
  query::AccountNode* acme = c.accounts.find(c.roots.front());
  ASSERT_NE(acme, nullptr);
  acme->children.push_back(AccountId(999999));
  ASSERT_OK(query::WriteCatalogImage(c, StampOf(ReadFile(Image(db_dir))), db_dir));
  db_ = OpenDb(db_dir);
  EXPECT_EQ(Source(*db_).rfind("key spaces (inconsistent: children of account", 0), 0u)
      << Source(*db_);
  EXPECT_TRUE(Problems(db_.get()).empty());
  ASSERT_OK(db_->Close());

  // The roots naming one root twice and leaving the other out: as many
  // roots as parentless accounts, but not the same ones.
  c = LoadFromKeySpaces();
  ASSERT_EQ(c.roots.size(), 2u);
  c.roots[1] = c.roots[0];
  ASSERT_OK(query::WriteCatalogImage(c, StampOf(ReadFile(Image(db_dir))), db_dir));
  db_ = OpenDb(db_dir);
  EXPECT_EQ(Source(*db_).rfind("key spaces (inconsistent: root ", 0), 0u) << Source(*db_);
  EXPECT_TRUE(Problems(db_.get()).empty());
  ASSERT_OK(db_->Close());

  // A tree that is not one: an account under its own child (a cycle), and
  // a child whose label is not below its parent's.
  for (int way = 0; way < 2; ++way) {
    c = LoadFromKeySpaces();
    query::AccountNode* a = c.accounts.find(db_id("acme-a"));
    query::AccountNode* a1 = c.accounts.find(db_id("acme-a1"));
    ASSERT_TRUE(a != nullptr && a1 != nullptr);
    if (way == 0) {
      a->parent = a1->id;
    } else {
      a1->label = "\x7f";
    }
    ASSERT_OK(query::WriteCatalogImage(c, StampOf(ReadFile(Image(db_dir))), db_dir));
    db_ = OpenDb(db_dir);
    EXPECT_EQ(Source(*db_).rfind("key spaces (inconsistent: ", 0), 0u)
        << way << ": " << Source(*db_);
    EXPECT_TRUE(Problems(db_.get()).empty());
    ASSERT_OK(db_->Close());
  }
}

// An import large enough to be ingested as table files (which may take no
// RocksDB sequence number) still moves the stamp: its revision.
TEST_F(CatalogImageTest, AnIngestedImportMakesTheOldImageStale) {
  ASSERT_OK(db_->Close());
  const std::string db_dir = dir_.Sub("db");
  const std::string before = ReadFile(Image(db_dir));
  const std::string file = dir_.Sub("big.jsonl");
  {
    std::ofstream out(file);
    out << "{\"type\":\"account\",\"key\":\"imported\",\"name\":\"I\",\"parent\":\"acme\"}\n";
    for (int i = 0; i < 30000; ++i) {
      out << "{\"type\":\"device\",\"key\":\"imp-" << i
          << "\",\"name\":\"D\",\"account\":\"imported\"}\n";
    }
  }
  db_ = OpenDb(db_dir);
  ImportReport rep;
  ASSERT_OK(db_->Import(Actor::System(), file, ImportOptions(), &rep));
  ASSERT_OK(db_->Close());
  // The revision moved, whatever RocksDB's sequence did.
  const query::ImageStamp old_stamp = StampOf(before);
  const query::ImageStamp new_stamp = StampOf(ReadFile(Image(db_dir)));
  EXPECT_EQ(new_stamp.revision, old_stamp.revision + 1);
  std::cout << "an import of " << rep.entities << " devices moved the sequence by "
            << new_stamp.sequence - old_stamp.sequence << "\n";
  WriteFile(Image(db_dir), before);
  db_ = OpenDb(db_dir);
  EXPECT_EQ(Source(*db_), "key spaces (written for another state)");
  EXPECT_OK(db_->FindAccount("imported"));
  EXPECT_TRUE(Problems(db_.get()).empty());
}

// A database whose open fails leaves no image behind: its catalog was
// never whole (before the fix, Close wrote the empty one under the real
// stamp).
TEST_F(CatalogImageTest, AFailedOpenWritesNoImage) {
  ASSERT_OK(db_->Close());
  const std::string db_dir = dir_.Sub("db");
  {
    storage::StoreOptions so;
    so.create_if_missing = false;
    std::unique_ptr<storage::Store> store;
    ASSERT_OK(storage::Store::Open(so, db_dir, &store));
    rocksdb::WriteBatch batch;
    batch.Put(store->cf(storage::kAccounts), storage::IdKey(AccountId(1)), "garbage");
    ASSERT_OK(store->Write(&batch));
    ASSERT_OK(store->SyncWal());
  }
  std::unique_ptr<Db> db;
  Status s = Db::Open(Options(), db_dir, &db);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_FALSE(fs::exists(Image(db_dir)));
}

// An image that cannot be written costs nothing but the image: Close
// succeeds, the old image is gone, the log says why at warn level (and
// nothing at error level), and a callback that throws changes nothing.
TEST_F(CatalogImageTest, AnImageThatCannotBeWrittenIsLoggedAndCloseSucceeds) {
  ASSERT_OK(db_->Close());
  const std::string db_dir = dir_.Sub("db");
  ASSERT_TRUE(fs::exists(Image(db_dir)));
  for (LogLevel level : {LogLevel::kWarn, LogLevel::kError}) {
    std::vector<std::string> warnings;
    Options o;
    o.log_level = level;
    o.log = [&](LogLevel l, std::string_view message) {
      if (l == LogLevel::kWarn && message.find("catalog image") != std::string_view::npos) {
        warnings.emplace_back(message);
        throw std::runtime_error("a callback that throws");
      }
    };
    db_ = OpenDb(db_dir, o);
    MakeAccount(db_.get(), level == LogLevel::kWarn ? "w1" : "w2");
    fs::create_directory(Image(db_dir) + ".tmp");  // where the image is written: not a file
    ASSERT_OK(db_->Close());
    db_.reset();
    EXPECT_FALSE(fs::exists(Image(db_dir)));
    if (level == LogLevel::kWarn) {
      ASSERT_EQ(warnings.size(), 1u);
      EXPECT_NE(warnings[0].find("cannot write the catalog image"), std::string::npos)
          << warnings[0];
    } else {
      EXPECT_TRUE(warnings.empty());
    }
    fs::remove(Image(db_dir) + ".tmp");
  }
  db_ = OpenDb(db_dir);
  EXPECT_EQ(Source(*db_), "key spaces (no image)");
  EXPECT_TRUE(Problems(db_.get()).empty());
}

TEST_F(CatalogImageTest, TheOptionTurnsItOffAndReadersNeverWriteOne) {
  ASSERT_OK(db_->Close());
  ASSERT_TRUE(fs::exists(Image(dir_.Sub("db"))));
  // Off, a writer ignores even an image of its state, and removes it.
  Options off;
  off.catalog_image = false;
  db_ = OpenDb(dir_.Sub("db"), off);
  EXPECT_EQ(Source(*db_), "key spaces (catalog_image is off)");
  EXPECT_FALSE(fs::exists(Image(dir_.Sub("db"))));
  MakeAccount(db_.get(), "more");
  ASSERT_OK(db_->Close());
  EXPECT_FALSE(fs::exists(Image(dir_.Sub("db"))));

  Options ro;
  ro.read_only = true;
  db_ = OpenDb(dir_.Sub("db"), ro);
  EXPECT_EQ(Source(*db_), "key spaces (no image)");
  ASSERT_OK(db_->Close());
  EXPECT_FALSE(fs::exists(Image(dir_.Sub("db"))));

  // A writer's image is read by a read-only open of the same state, and
  // a snapshot says its catalog is a copy.
  db_ = OpenDb(dir_.Sub("db"));
  ASSERT_OK(db_->Close());
  db_ = OpenDb(dir_.Sub("db"), ro);
  EXPECT_EQ(Source(*db_), "image");
  auto snap = db_->OpenSnapshot();
  ASSERT_OK(snap);
  EXPECT_EQ(Source(**snap), "copy");
  snap->reset();
  ASSERT_OK(db_->Close());
  // So does a follower.
  Options follower;
  follower.follower = true;
  follower.follower_dir = dir_.Sub("follower");
  db_ = OpenDb(dir_.Sub("db"), follower);
  EXPECT_EQ(Source(*db_), "image");
  auto u1 = db_->FindUser("u1");
  ASSERT_OK(u1);
  EXPECT_TRUE(testing::Allowed(*db_, u1->id, "device.read", "d1"));
}

}  // namespace
}  // namespace canopy
