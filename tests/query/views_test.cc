// Copyright (c) Canopy authors.
//
// The account views (views.h): the "All accounts" table (rows the
// viewer may read, every sort, paging, the numbers of each row), the
// account summary, ancestors and descendants, and the graph view as JSON
// and as Graphviz DOT — all against the oracle of tests/query/world.h.

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string_view>

#include "tests/query/world.h"
#include "tests/test_util.h"

namespace canopy {
namespace {

using testing::OpenDb;
using testing::TempDir;
using testing::World;

// ---- A small, strict JSON parser (RFC 8259), enough to check structure.

struct Json {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject } type = kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  const Json* Get(const std::string& key) const {
    auto it = object.find(key);
    return type == kObject && it != object.end() ? &it->second : nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view in) : in_(in) {}
  // Parses the whole input as one value; false (with error()) otherwise.
  bool Parse(Json* out) {
    Space();
    if (!Value(out, 0)) return false;
    Space();
    return pos_ == in_.size() || Fail("trailing bytes");
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(const std::string& why) {
    if (error_.empty()) error_ = why + " at byte " + std::to_string(pos_);
    return false;
  }
  void Space() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\r' || in_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return Fail("bad literal");
    pos_ += word.size();
    return true;
  }
  bool Value(Json* out, int depth) {
    if (depth > 200) return Fail("too deep");
    if (pos_ >= in_.size()) return Fail("unexpected end");
    const char c = in_[pos_];
    if (c == '{') return Object(out, depth);
    if (c == '[') return Array(out, depth);
    if (c == '"') {
      out->type = Json::kString;
      return String(&out->string);
    }
    if (c == 't' || c == 'f') {
      out->type = Json::kBool;
      out->boolean = c == 't';
      return Literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') return Literal("null");
    return Number(out);
  }
  bool Object(Json* out, int depth) {
    out->type = Json::kObject;
    ++pos_;
    Space();
    if (pos_ < in_.size() && in_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      Space();
      std::string key;
      if (pos_ >= in_.size() || in_[pos_] != '"' || !String(&key)) return Fail("object key");
      Space();
      if (pos_ >= in_.size() || in_[pos_++] != ':') return Fail("':' expected");
      Space();
      Json v;
      if (!Value(&v, depth + 1)) return false;
      if (!out->object.emplace(key, std::move(v)).second) return Fail("duplicate key " + key);
      Space();
      if (pos_ >= in_.size()) return Fail("unterminated object");
      if (in_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (in_[pos_++] == '}') return true;
      return Fail("',' or '}' expected");
    }
  }
  bool Array(Json* out, int depth) {
    out->type = Json::kArray;
    ++pos_;
    Space();
    if (pos_ < in_.size() && in_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      Space();
      Json v;
      if (!Value(&v, depth + 1)) return false;
      out->array.push_back(std::move(v));
      Space();
      if (pos_ >= in_.size()) return Fail("unterminated array");
      if (in_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (in_[pos_++] == ']') return true;
      return Fail("',' or ']' expected");
    }
  }
  bool Hex4(uint32_t* v) {
    if (pos_ + 4 > in_.size()) return Fail("short \\u escape");
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = in_[pos_++];
      *v <<= 4;
      if (h >= '0' && h <= '9')
        *v |= h - '0';
      else if (h >= 'a' && h <= 'f')
        *v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F')
        *v |= h - 'A' + 10;
      else
        return Fail("bad hex digit");
    }
    return true;
  }
  static void Utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool String(std::string* out) {
    ++pos_;  // the opening quote
    while (pos_ < in_.size()) {
      const unsigned char c = static_cast<unsigned char>(in_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return Fail("raw control character in a string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= in_.size()) break;
      const char e = in_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {
            uint32_t lo = 0;
            if (in_.substr(pos_, 2) != "\\u") return Fail("lone surrogate");
            pos_ += 2;
            if (!Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return Fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          Utf8(cp, out);
          break;
        }
        default:
          return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }
  bool Number(Json* out) {
    const size_t start = pos_;
    if (pos_ < in_.size() && in_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const size_t d = pos_;
      while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
      return pos_ > d;
    };
    if (!digits()) return Fail("value expected");
    if (pos_ < in_.size() && in_[pos_] == '.' && (++pos_, !digits())) return Fail("bad fraction");
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
      if (!digits()) return Fail("bad exponent");
    }
    out->type = Json::kNumber;
    out->number = std::stod(std::string(in_.substr(start, pos_ - start)));
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::string error_;
};

// ---- The tests.

class ViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenDb(dir_.Sub("db"));
    world_ = std::make_unique<World>(db_.get());
    world_->BuildStandard();
  }

  UserId U(const std::string& login) const { return world_->user(login); }
  AccountId A(const std::string& key) const { return world_->account(key); }

  // True for a disabled viewer, after checking that the table and both
  // graphs refuse it (PermissionDenied), as every read as a viewer does.
  bool RefusedAsDisabled(UserId viewer) const {
    if (viewer == kNoId || !world_->users().at(viewer).disabled) return false;
    const std::string why = "user '" + world_->users().at(viewer).login +
                            "' is disabled and holds no permissions";
    TablePage page;
    Status s = db_->AccountsTable(TableRequest{Actor::User(viewer)}, &page);
    EXPECT_EQ(s.code(), Code::kPermissionDenied) << s.ToString();
    EXPECT_EQ(s.message(), why);
    EXPECT_TRUE(page.rows.empty());
    for (auto graph : {db_->GraphJson(Actor::User(viewer), kNoId, 0),
                       db_->GraphDot(Actor::User(viewer), kNoId, 0)}) {
      EXPECT_EQ(graph.status().code(), Code::kPermissionDenied) << graph.status().ToString();
    }
    return true;
  }

  // Every row of a table request, paging with `limit`; checks that each
  // page carries the same total and that only the last page has no cursor.
  std::vector<AccountRow> AllRows(TableRequest r, size_t limit, uint64_t* total = nullptr) {
    std::vector<AccountRow> rows;
    r.limit = limit;
    r.cursor.clear();
    std::optional<uint64_t> first_total;
    for (int guard = 0; guard < 10000; ++guard) {
      TablePage page;
      Status s = db_->AccountsTable(r, &page);
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (!s.ok()) break;
      if (!first_total) first_total = page.total;
      EXPECT_EQ(page.total, *first_total) << "total changed between pages";
      EXPECT_LE(page.rows.size(), limit);
      if (!page.next_cursor.empty()) {
        EXPECT_EQ(page.rows.size(), limit);
      }
      rows.insert(rows.end(), page.rows.begin(), page.rows.end());
      if (page.next_cursor.empty()) break;
      r.cursor = page.next_cursor;
    }
    if (total != nullptr) *total = first_total.value_or(0);
    EXPECT_EQ(rows.size(), first_total.value_or(0));
    return rows;
  }

  static std::vector<AccountId> IdsOf(const std::vector<AccountRow>& rows) {
    std::vector<AccountId> ids;
    for (const auto& r : rows) ids.push_back(r.id);
    return ids;
  }

  // The devices of `id` (and of its subtree) that `viewer` sees (a device
  // permission on their owner): what the table and graph count, so that no
  // total tells of devices out of its sight.
  uint64_t SeenDevices(UserId viewer, AccountId id, bool subtree) {
    uint64_t n = 0;
    auto add = [&](AccountId a) {
      bool sees = viewer == kNoId;
      for (const char* p : {"device.read", "device.write", "device.assign", "device.delete"}) {
        sees = sees || world_->Allows(viewer, p, a);
      }
      if (sees) n += world_->DevicesDirect(a);
    };
    add(id);
    if (subtree) {
      for (AccountId d : world_->SubtreeOf(id)) add(d);
    }
    return n;
  }

  // The oracle's value of a row for a sort order (names for kName), as
  // `viewer` sees it.
  int64_t Metric(const AccountRow& row, TableSort sort, UserId viewer) {
    switch (sort) {
      case TableSort::kCreated:
        return db_->GetAccount(row.id)->created_us;
      case TableSort::kUsers:
        return static_cast<int64_t>(world_->SeenMembersOn(viewer, row.id));
      case TableSort::kSubAccounts:
        return static_cast<int64_t>(world_->SubtreeOf(row.id).size());
      case TableSort::kDevicesDirect:
        return static_cast<int64_t>(SeenDevices(viewer, row.id, false));
      case TableSort::kDevicesSubtree:
        return static_cast<int64_t>(SeenDevices(viewer, row.id, true));
      default:
        return 0;
    }
  }

  // Keys from the root tenant down to `a`, per the oracle.
  std::vector<std::string> PathOf(AccountId a, bool names) {
    std::vector<std::string> path;
    for (AccountId p = a; p != kNoId; p = world_->accounts().at(p).parent) {
      path.insert(path.begin(), names ? world_->accounts().at(p).name : world_->account_key(p));
    }
    return path;
  }

  TempDir dir_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<World> world_;
};

// Every row's numbers, for the whole database (system viewer).
TEST_F(ViewsTest, AccountsTableRowsAndNumbers) {
  // Some memberships and a move make the numbers less regular.
  world_->AddMember("nobody", "b1", "viewer", false);
  world_->Move("c", "a2");
  uint64_t total = 0;
  auto rows = AllRows(TableRequest{Actor::System()}, 10000, &total);
  EXPECT_EQ(total, world_->accounts().size());
  EXPECT_EQ(IdsOf(rows), world_->TreeOrder());
  for (const AccountRow& row : rows) {
    SCOPED_TRACE(row.key);
    const auto& info = world_->accounts().at(row.id);
    EXPECT_EQ(row.key, info.key);
    EXPECT_EQ(row.name, info.name);
    EXPECT_EQ(row.parent, info.parent);
    EXPECT_EQ(row.depth, world_->Depth(row.id));
    EXPECT_EQ(row.path, PathOf(row.id, false));
    EXPECT_EQ(row.users, world_->MembersOn(row.id));
    EXPECT_EQ(row.sub_accounts, world_->SubtreeOf(row.id).size());
    EXPECT_EQ(row.devices_direct, world_->DevicesDirect(row.id));
    EXPECT_EQ(row.devices_subtree, world_->DevicesSubtree(row.id));
    EXPECT_EQ(row.created_us, db_->GetAccount(row.id)->created_us);
  }
  // Spelled out for one row: a (a1, a1x, a2 and c below it).
  auto a =
      std::find_if(rows.begin(), rows.end(), [&](const AccountRow& r) { return r.key == "a"; });
  ASSERT_NE(a, rows.end());
  EXPECT_EQ(a->sub_accounts, 4u);
  EXPECT_EQ(a->devices_direct, 6u);
  EXPECT_EQ(a->devices_subtree, 6u + 6u + 3u + 3u + 3u);
  EXPECT_EQ(a->users, 3u);  // a-admin, a-direct, assigner
  EXPECT_EQ(a->path, (std::vector<std::string>{"acme", "a"}));
}

// Rows are exactly the accounts the viewer may read (account.read), for
// every viewer, with and without a root; a root it cannot see is refused
// exactly as a missing one.
TEST_F(ViewsTest, AccountsTableShowsOnlyReadableAccounts) {
  for (UserId viewer : world_->viewers()) {
    if (RefusedAsDisabled(viewer)) continue;
    for (AccountId root : {AccountId(), A("acme"), A("a"), A("b"), A("globex"), AccountId{999999}}) {
      SCOPED_TRACE("viewer " + std::to_string(viewer) + " root " + std::to_string(root));
      TableRequest t{World::ActorOf(viewer)};
      t.root = root;
      if (root != kNoId && (root == 999999 || !world_->SeesAccount(viewer, root))) {
        TablePage page;
        Status s = db_->AccountsTable(t, &page);
        EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
        EXPECT_EQ(s.message(), "no account with id " + std::to_string(root));
        EXPECT_TRUE(page.rows.empty());
        continue;
      }
      uint64_t total = 0;
      auto rows = AllRows(t, 10000, &total);
      EXPECT_EQ(IdsOf(rows), world_->ReadableAccounts(viewer, root));
    }
  }
  // Spelled out: a role without account.read shows nothing; "mix" sees a1
  // and a1x (branch) and b alone.
  EXPECT_TRUE(AllRows(TableRequest{Actor::User(U("c-reader"))}, 100).empty());
  EXPECT_EQ(IdsOf(AllRows(TableRequest{Actor::User(U("mix"))}, 100)),
            (std::vector<AccountId>{A("a1"), A("a1x"), A("b")}));
}

TEST_F(ViewsTest, AccountsTableSortsEveryWay) {
  const std::vector<TableSort> sorts = {TableSort::kTree,          TableSort::kName,
                                        TableSort::kCreated,       TableSort::kUsers,
                                        TableSort::kSubAccounts,   TableSort::kDevicesDirect,
                                        TableSort::kDevicesSubtree};
  world_->AddAccount("zz", "acme", "Aardvark Ltd");  // a name out of key order
  for (UserId viewer : {UserId(), U("root-viewer"), U("a-admin"), U("assigner")}) {
    const auto readable = world_->ReadableAccounts(viewer);
    for (TableSort sort : sorts) {
      for (bool descending : {false, true}) {
        SCOPED_TRACE("viewer " + std::to_string(viewer) + " sort " +
                     std::to_string(static_cast<int>(sort)) + (descending ? " desc" : ""));
        TableRequest t{World::ActorOf(viewer)};
        t.sort = sort;
        t.descending = descending;
        auto rows = AllRows(t, 10000);
        auto ids = IdsOf(rows);
        EXPECT_EQ(std::set<AccountId>(ids.begin(), ids.end()),
                  std::set<AccountId>(readable.begin(), readable.end()));
        if (sort == TableSort::kTree) {
          auto want = readable;
          if (descending) std::reverse(want.begin(), want.end());
          EXPECT_EQ(ids, want);
          continue;
        }
        for (size_t i = 1; i < rows.size(); ++i) {
          if (sort == TableSort::kName) {
            EXPECT_TRUE(descending ? rows[i - 1].name >= rows[i].name
                                   : rows[i - 1].name <= rows[i].name)
                << rows[i - 1].name << " / " << rows[i].name;
          } else {
            const int64_t p = Metric(rows[i - 1], sort, viewer), q = Metric(rows[i], sort, viewer);
            EXPECT_TRUE(descending ? p >= q : p <= q) << rows[i - 1].key << " / " << rows[i].key;
          }
        }
      }
    }
  }
  // Spelled out: by name, "Aardvark Ltd" first; by devices in the subtree,
  // descending, the root tenant first.
  TableRequest by_name{Actor::System()};
  by_name.sort = TableSort::kName;
  EXPECT_EQ(AllRows(by_name, 100).front().key, "zz");
  TableRequest by_devices{Actor::System()};
  by_devices.sort = TableSort::kDevicesSubtree;
  by_devices.descending = true;
  EXPECT_EQ(AllRows(by_devices, 100).front().key, "acme");
}

// Every page size gives the one-page table, for several sorts.
TEST_F(ViewsTest, AccountsTablePaging) {
  for (TableSort sort : {TableSort::kTree, TableSort::kName, TableSort::kDevicesSubtree}) {
    for (bool descending : {false, true}) {
      TableRequest t{Actor::User(U("root-viewer"))};
      t.sort = sort;
      t.descending = descending;
      const auto want = IdsOf(AllRows(t, 10000));
      ASSERT_EQ(want.size(), 8u);  // acme's tree
      for (size_t limit = 1; limit <= want.size() + 1; ++limit) {
        SCOPED_TRACE("limit " + std::to_string(limit));
        EXPECT_EQ(IdsOf(AllRows(t, limit)), want);
      }
    }
  }
}

TEST_F(ViewsTest, SummaryGivesPathAndNumbers) {
  world_->AddMember("nobody", "a1", "viewer", false);
  for (const auto& [id, info] : world_->accounts()) {
    SCOPED_TRACE(info.key);
    auto s = db_->Summary(id);
    ASSERT_OK(s);
    EXPECT_EQ(s->account.id, id);
    EXPECT_EQ(s->account.key, info.key);
    EXPECT_EQ(s->account.name, info.name);
    EXPECT_EQ(s->path, PathOf(id, /*names=*/false));
    EXPECT_EQ(s->path_names, PathOf(id, /*names=*/true));
    EXPECT_EQ(s->users, world_->MembersOn(id));
    EXPECT_EQ(s->sub_accounts, world_->SubtreeOf(id).size());
    EXPECT_EQ(s->devices_direct, world_->DevicesDirect(id));
    EXPECT_EQ(s->devices_subtree, world_->DevicesSubtree(id));
  }
  auto s = db_->Summary(A("a1x"));
  ASSERT_OK(s);
  EXPECT_EQ(s->path, (std::vector<std::string>{"acme", "a", "a1", "a1x"}));
  EXPECT_EQ(s->path_names,
            (std::vector<std::string>{"Account acme", "Account a", "Account a1", "Account a1x"}));
}

TEST_F(ViewsTest, AncestorsAndDescendantsWithDepthLimits) {
  auto anc = db_->Ancestors(A("a1x"));
  ASSERT_OK(anc);
  std::vector<std::string> keys;
  for (const Account& a : *anc) keys.push_back(a.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"acme", "a", "a1"}));
  EXPECT_TRUE(db_->Ancestors(A("acme"))->empty());

  const auto tree = world_->TreeOrder();
  for (const auto& [id, info] : world_->accounts()) {
    for (uint32_t levels : {0u, 1u, 2u, 3u}) {
      SCOPED_TRACE(info.key + " levels " + std::to_string(levels));
      std::vector<AccountId> want;
      for (AccountId d : tree) {
        if (!world_->IsAncestor(id, d)) continue;
        if (levels == 0 || world_->Depth(d) <= world_->Depth(id) + levels) want.push_back(d);
      }
      auto got = db_->Descendants(id, levels);
      ASSERT_OK(got);
      std::vector<AccountId> ids;
      for (const Account& a : *got) ids.push_back(a.id);
      EXPECT_EQ(ids, want);
    }
  }
  auto children = db_->Descendants(A("acme"), 1);
  keys.clear();
  for (const Account& a : *children) keys.push_back(a.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c"}));
}

// GraphJson is valid JSON whose nesting is the tree of the accounts the
// viewer may read, with each node's numbers.
TEST_F(ViewsTest, GraphJsonIsTheReadableTree) {
  // Names that need escaping.
  world_->AddAccount("odd", "b", "Quote \" back\\slash\nnew line\ttab \xc3\xa9 \x01");
  // Two accounts, one below the other, each read without branch access:
  // the upper one's totals count the lower one also where the levels shown
  // stop above it.
  world_->AddUser("split", "acme");
  world_->AddMember("split", "b", "viewer", false);
  world_->AddMember("split", "b1", "viewer", false);
  for (UserId viewer : world_->viewers()) {
    if (RefusedAsDisabled(viewer)) continue;
    for (AccountId root : {AccountId(), A("acme"), A("a"), A("b")})
    for (uint32_t levels : {0u, 1u, 2u}) {
      SCOPED_TRACE("viewer " + std::to_string(viewer) + " root " + std::to_string(root) +
                   " levels " + std::to_string(levels));
      auto text = db_->GraphJson(World::ActorOf(viewer), root, levels);
      if (root != kNoId && !world_->SeesAccount(viewer, root)) {
        // Out of sight: worded as a missing root.
        EXPECT_EQ(text.status().code(), Code::kNotFound) << text.status().ToString();
        EXPECT_EQ(text.status().message(), "no account with id " + std::to_string(root));
        continue;
      }
      ASSERT_OK(text);
      Json doc;
      JsonParser parser(*text);
      ASSERT_TRUE(parser.Parse(&doc)) << parser.error() << "\n" << *text;
      const Json* accounts = doc.Get("accounts");
      ASSERT_NE(accounts, nullptr) << *text;
      ASSERT_EQ(accounts->type, Json::kArray);
      // Walk the nesting: each node's parent in the JSON is its nearest
      // readable ancestor.
      std::vector<AccountId> seen;
      const std::vector<AccountId> readable = world_->ReadableAccounts(viewer, root);
      std::function<void(const Json&, AccountId)> walk = [&](const Json& node, AccountId above) {
        ASSERT_EQ(node.type, Json::kObject);
        const Json* key = node.Get("key");
        ASSERT_TRUE(key != nullptr && key->type == Json::kString);
        const AccountId id = A(key->string);
        seen.push_back(id);
        const auto& info = world_->accounts().at(id);
        ASSERT_NE(node.Get("name"), nullptr);
        EXPECT_EQ(node.Get("name")->string, info.name);
        AccountId nearest = kNoId;
        for (AccountId p = info.parent; p != kNoId; p = world_->accounts().at(p).parent) {
          if (std::find(seen.begin(), seen.end(), p) != seen.end()) {
            nearest = p;
            break;
          }
        }
        EXPECT_EQ(nearest, above) << key->string;
        for (const char* field :
             {"depth", "users", "sub_accounts", "devices_direct", "devices_subtree"}) {
          ASSERT_NE(node.Get(field), nullptr) << field;
          EXPECT_EQ(node.Get(field)->type, Json::kNumber) << field;
        }
        EXPECT_EQ(node.Get("depth")->number, world_->Depth(id));
        EXPECT_EQ(node.Get("devices_direct")->number, SeenDevices(viewer, id, false));
        // Totals count only what the viewer reads below (all of it when a
        // branch grant covers the node), also below the levels shown:
        // accounts it reads, devices it reads.
        size_t below = 0;
        for (AccountId r : readable) {
          if (r == id) continue;
          for (AccountId p = world_->accounts().at(r).parent; p != kNoId;
               p = world_->accounts().at(p).parent) {
            if (p == id) {
              below++;
              break;
            }
          }
        }
        EXPECT_EQ(node.Get("devices_subtree")->number, SeenDevices(viewer, id, true));
        EXPECT_EQ(node.Get("sub_accounts")->number, below);
        if (viewer == kNoId) {
          EXPECT_EQ(node.Get("devices_subtree")->number, world_->DevicesSubtree(id));
        }
        EXPECT_EQ(node.Get("users")->number, world_->SeenMembersOn(viewer, id));
        const Json* children = node.Get("children");
        ASSERT_TRUE(children != nullptr && children->type == Json::kArray);
        for (const Json& child : children->array) walk(child, id);
      };
      for (const Json& top : accounts->array) walk(top, kNoId);
      // Down to `levels` below the root (or the roots) when given.
      std::vector<AccountId> shown;
      const uint32_t base = root != kNoId ? world_->Depth(root) : 1;
      for (AccountId r : readable) {
        if (levels == 0 || world_->Depth(r) <= base + levels) shown.push_back(r);
      }
      EXPECT_EQ(seen, shown);
    }
  }
  // Depth limits count from the root given.
  auto shallow = db_->GraphJson(Actor::System(), A("acme"), 1);
  ASSERT_OK(shallow);
  Json doc;
  JsonParser parser(*shallow);
  ASSERT_TRUE(parser.Parse(&doc)) << parser.error();
  ASSERT_EQ(doc.Get("accounts")->array.size(), 1u);
  const Json& acme = doc.Get("accounts")->array[0];
  std::vector<std::string> kids;
  for (const Json& k : acme.Get("children")->array) {
    kids.push_back(k.Get("key")->string);
    EXPECT_TRUE(k.Get("children")->array.empty());
  }
  EXPECT_EQ(kids, (std::vector<std::string>{"a", "b", "c"}));
}

// GraphDot has a node per readable account and an edge from each to its
// nearest readable ancestor — every edge of the tree when all is readable.
TEST_F(ViewsTest, GraphDotHasEveryEdge) {
  world_->AddAccount("odd", "b", "Quote \" back\\slash");
  for (UserId viewer : {UserId(), U("root-viewer"), U("a-admin"), U("mix")}) {
    SCOPED_TRACE("viewer " + std::to_string(viewer));
    auto dot = db_->GraphDot(World::ActorOf(viewer), kNoId, 0);
    ASSERT_OK(dot);
    EXPECT_EQ(dot->rfind("digraph", 0), 0u) << *dot;
    EXPECT_EQ(std::count(dot->begin(), dot->end(), '{'), 1);
    EXPECT_EQ(std::count(dot->begin(), dot->end(), '}'), 1);
    const auto readable = world_->ReadableAccounts(viewer);
    size_t edges = 0;
    for (AccountId id : readable) {
      const std::string node = "\"" + world_->account_key(id) + "\"";
      EXPECT_NE(dot->find("  " + node + " [label="), std::string::npos) << node;
      AccountId p = world_->accounts().at(id).parent;
      while (p != kNoId && std::find(readable.begin(), readable.end(), p) == readable.end()) {
        p = world_->accounts().at(p).parent;
      }
      if (p == kNoId) continue;
      const std::string edge = "\"" + world_->account_key(p) + "\" -> " + node + ";";
      EXPECT_NE(dot->find(edge), std::string::npos) << edge << "\n" << *dot;
      ++edges;
    }
    size_t arrows = 0;
    for (size_t at = dot->find("->"); at != std::string::npos; at = dot->find("->", at + 2)) {
      ++arrows;
    }
    EXPECT_EQ(arrows, edges) << *dot;
  }
  auto all = db_->GraphDot(Actor::System(), kNoId, 0);
  ASSERT_OK(all);
  for (const char* edge : {"\"acme\" -> \"a\";", "\"a\" -> \"a1\";", "\"a1\" -> \"a1x\";",
                           "\"a\" -> \"a2\";", "\"acme\" -> \"b\";", "\"b\" -> \"b1\";",
                           "\"acme\" -> \"c\";", "\"globex\" -> \"g1\";", "\"b\" -> \"odd\";"}) {
    EXPECT_NE(all->find(edge), std::string::npos) << edge;
  }
  // Quotes and backslashes of names are escaped; lines join with DOT's \n.
  EXPECT_NE(all->find("  \"odd\" [label=\"Quote \\\" back\\\\slash\\nodd\\n0 devices, 0 users\"];"),
            std::string::npos)
      << *all;
}

// The table's path names only the ancestors the viewer sees, and its users
// column, its sort by users and the graph's user counts count only the
// memberships it sees (as Summary does), for every viewer.
TEST_F(ViewsTest, TableAndGraphNameAndCountOnlyWhatTheViewerSees) {
  for (UserId viewer : world_->viewers()) {
    if (RefusedAsDisabled(viewer)) continue;
    SCOPED_TRACE("viewer " + std::to_string(viewer));
    for (const AccountRow& row : AllRows(TableRequest{World::ActorOf(viewer)}, 10000)) {
      std::vector<std::string> path;
      for (AccountId p = row.id; p != kNoId; p = world_->accounts().at(p).parent) {
        if (p == row.id || world_->SeesAccount(viewer, p)) {
          path.insert(path.begin(), world_->account_key(p));
        }
      }
      EXPECT_EQ(row.path, path) << row.key;
      EXPECT_EQ(row.users, world_->SeenMembersOn(viewer, row.id)) << row.key;
      if (viewer != kNoId) {
        auto summary = db_->Summary(Actor::User(viewer), row.id);
        ASSERT_OK(summary);
        EXPECT_EQ(row.users, summary->users) << row.key;
        EXPECT_EQ(row.path.size(), summary->path.size()) << row.key;
        // Devices it sees, in the row and the summary alike (an account it
        // reads without a device permission there counts none).
        EXPECT_EQ(summary->devices_direct, SeenDevices(viewer, row.id, false)) << row.key;
        EXPECT_EQ(summary->devices_subtree, SeenDevices(viewer, row.id, true)) << row.key;
        EXPECT_EQ(row.devices_direct, summary->devices_direct) << row.key;
        EXPECT_EQ(row.devices_subtree, summary->devices_subtree) << row.key;
      }
    }
  }
  // Spelled out: "assigner" (custom role {device.assign, account.read} on a,
  // branch; viewer on a1x) sees neither acme nor a's members but its own.
  TableRequest t{Actor::User(U("assigner"))};
  std::map<std::string, AccountRow> rows;
  for (const AccountRow& row : AllRows(t, 100)) rows[row.key] = row;
  ASSERT_EQ(rows.size(), 4u);  // a, a1, a1x, a2
  EXPECT_EQ(rows["a"].path, (std::vector<std::string>{"a"}));
  EXPECT_EQ(rows["a1x"].path, (std::vector<std::string>{"a", "a1", "a1x"}));
  EXPECT_EQ(rows["a"].users, 1u);    // its own of a-admin, a-direct, assigner
  EXPECT_EQ(rows["a1"].users, 0u);   // a1-home's and mix's are out of sight
  EXPECT_EQ(rows["a1x"].users, 1u);  // viewer there: it sees them all (its own)
  EXPECT_EQ(world_->MembersOn(A("a")), 3u);
  // Sorted by users, descending: the counts it sees, not all members.
  t.sort = TableSort::kUsers;
  t.descending = true;
  const auto sorted = AllRows(t, 100);
  for (size_t i = 1; i < sorted.size(); ++i) EXPECT_GE(sorted[i - 1].users, sorted[i].users);
  // The graph counts the same.
  auto dot = db_->GraphDot(Actor::User(U("assigner")), kNoId, 0);
  ASSERT_OK(dot);
  EXPECT_NE(dot->find("\"a\" [label=\"Account a\\na\\n6 devices, 1 user\"];"), std::string::npos)
      << *dot;
  // A root out of sight is missing, for the table and both graphs alike.
  t = TableRequest{Actor::User(U("assigner"))};
  t.root = A("acme");
  TablePage page;
  Status ts = db_->AccountsTable(t, &page);
  EXPECT_EQ(ts.code(), Code::kNotFound);
  EXPECT_EQ(ts.message(), "no account with id " + std::to_string(A("acme")));
  const auto json = db_->GraphJson(Actor::User(U("assigner")), A("b"), 0);
  const auto dot_b = db_->GraphDot(Actor::User(U("assigner")), A("b"), 0);
  for (const Status& s : {json.status(), dot_b.status()}) {
    EXPECT_EQ(s.code(), Code::kNotFound);
    EXPECT_EQ(s.message(), "no account with id " + std::to_string(A("b")));
  }
  const auto dot_a1 = db_->GraphDot(Actor::User(U("assigner")), A("a1"), 0);
  EXPECT_OK(dot_a1.status());
}

}  // namespace
}  // namespace canopy
