// Copyright (c) Canopy authors.
//
// The account views: the "All accounts" table, the
// account summary and the graph view (JSON and Graphviz DOT). They read the
// catalog and account records: callers hold the engine's shared lock.

#ifndef CANOPY_QUERY_VIEWS_H_
#define CANOPY_QUERY_VIEWS_H_

#include <string>

#include "canopy/query.h"
#include "query/catalog.h"
#include "storage/store.h"

namespace canopy::query {

// Reads an account's record (latest state).
Status ReadAccount(const storage::Store& store, const rocksdb::Snapshot* snapshot, AccountId id,
                   Account* out);

// `scope` names the database a page's cursor is bound to (with the
// request): a cursor of another database is refused.
Status AccountsTable(const Catalog& c, const storage::Store& store,
                     const rocksdb::Snapshot* snapshot, const TableRequest& request,
                     uint64_t scope, TablePage* page);
// The summary as `viewer` may know it (Db::Summary(viewer, id)); the caller
// has checked that the viewer is enabled and sees the account.
Status Summarize(const Catalog& c, const storage::Store& store,
              const rocksdb::Snapshot* snapshot, const Actor& viewer, AccountId id,
                 AccountSummary* out);

// The sub-accounts below `n` and the `kind` entities of `n` and of its
// subtree as `viewer` may know them, so that no total reveals what lies
// out of its reach: sub-accounts it sees (all of them with a branch-wide
// permission on `n`), and entities it sees (in accounts where it holds a
// permission of their kind, as everywhere else). The caller has checked
// that the viewer is enabled and sees `n`. (Summary, CountOwned.)
struct SeenSubtree {
  uint64_t sub_accounts = 0;
  EntityCounts counts;
};
SeenSubtree SeeSubtree(const Catalog& c, const Actor& viewer, const AccountNode& n,
                       EntityKind kind);

enum class GraphFormat { kJson, kDot };
Status Graph(const Catalog& c, const storage::Store& store,
              const rocksdb::Snapshot* snapshot, const Actor& viewer, AccountId root,
             uint32_t max_levels, GraphFormat format, std::string* out);

}  // namespace canopy::query

#endif  // CANOPY_QUERY_VIEWS_H_
