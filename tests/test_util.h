// Copyright (c) Canopy authors.
//
// Helpers shared by the test suites: temporary database folders, a raw dump
// of every key space (to prove a refused call changed nothing), and small
// builders.

#ifndef CANOPY_TESTS_TEST_UTIL_H_
#define CANOPY_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "canopy/db.h"
#include "query/catalog.h"
#include "storage/changes.h"

namespace canopy::testing {

// A fresh folder under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  // A fresh folder under `parent` instead, when it is a writable folder
  // (e.g. "/dev/shm": memory, where fsync costs nothing, for tests that
  // simulate durability themselves); otherwise under the system temp dir.
  explicit TempDir(const std::string& parent);
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Every key/value of every key space, keyed by "<cf>/<key bytes>".
using Dump = std::map<std::string, std::string>;
Dump DumpAll(Db* db);
// DumpAll without the format record (it holds the creation time) and the
// import marks (storage/keys.h: they say how this database wrote its
// imports): what a follower that replayed the whole log must hold exactly.
Dump DumpReplicated(Db* db);

// Why a test that opens databases in forked children skips in a process
// that has opened one already (storage::OpenedAStore): such a child could
// not open any.
inline constexpr const char* kForkAlone =
    "this process has opened a database, so its forked children cannot: run this test in a "
    "process of its own (ctest runs each test alone)";

// Opens a database (asserting success) with sync off for test speed.
std::unique_ptr<Db> OpenDb(const std::string& path, Options options = Options());

// Db::Check's verdict, where what the user may not see (NotFound, worded
// as a missing key) counts as denied. Any other error fails the test.
bool Allowed(const Db& db, UserId user, std::string_view permission, std::string_view key);

// Creates an account; aborts the test on failure.
AccountId MakeAccount(Db* db, const std::string& key, AccountId parent = kNoId,
                      bool sub_account_management = true,
                      const Actor& actor = Actor::System());
EntityId MakeDevice(Db* db, const std::string& key, AccountId owner,
                    const std::string& unit_id = "", const Actor& actor = Actor::System());
UserId MakeUser(Db* db, const std::string& login, AccountId account,
                const Actor& actor = Actor::System());

// All entity keys of `kind` in `account`'s subtree (or the account alone),
// via the system viewer's scan.
std::vector<std::string> KeysIn(Db* db, AccountId account, EntityKind kind = EntityKind::kDevice,
                                 bool direct_only = false);

// Every entry of `db`'s change log from revision 1, decoded with its
// records (an import's entry has none: it carries its input).
Status ReadLog(Db* db, std::vector<storage::LogEntry>* entries);
// The catalog loaded from the key spaces of the (closed) database in
// `folder`, opened read-only.
Status StoredCatalog(const std::string& folder, query::Catalog* catalog);
// The catalog of a new, empty database made in `scratch`: where replaying
// a log from revision 1 starts.
Status EmptyCatalog(const std::string& scratch, query::Catalog* catalog);

// Replays the change log of `db` (every entry from revision 1; none may
// be an import, whose entry carries its input, not its records) onto the
// catalog of a new empty database made in `scratch`, and checks each entry
// against query::Catalog::Undo: undone, the catalog equals the one before
// the entry (or the undo is refused as documented: the entry deletes an
// account), and applied again, the one after it; every third entry, a run
// of the last 2..8 entries undone newest first gives back the catalog
// before the run (a replica's group of writes). Returns what differed,
// each naming the entry; empty when every entry was taken back exactly.
// *entries counts the entries replayed, *undone those that were undone.
std::vector<std::string> CheckUndoAlongTheLog(Db* db, const std::string& scratch,
                                              size_t* entries, size_t* undone);

// A short, readable account of how `after` differs from `before`: the
// added, removed and changed keys (escaped, at most `max_keys` of them),
// for failure messages of "a refused call changed nothing" checks.
std::string DescribeDiff(const Dump& before, const Dump& after, size_t max_keys = 8);

}  // namespace canopy::testing

// Asserts that `expr` (a Status or StatusOr) is OK, printing it otherwise.
#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const auto& _s = (expr);                                \
    ASSERT_TRUE(::canopy::testing::StatusOf(_s).ok())       \
        << ::canopy::testing::StatusOf(_s).ToString();      \
  } while (0)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    const auto& _s = (expr);                                \
    EXPECT_TRUE(::canopy::testing::StatusOf(_s).ok())       \
        << ::canopy::testing::StatusOf(_s).ToString();      \
  } while (0)

namespace canopy::testing {
inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const StatusOr<T>& s) {
  return s.status();
}
}  // namespace canopy::testing

namespace canopy {
// Lets GoogleTest print a Code by name ("permission_denied") in failures.
inline void PrintTo(Code code, std::ostream* os) { *os << CodeName(code); }
}  // namespace canopy

#endif  // CANOPY_TESTS_TEST_UTIL_H_
