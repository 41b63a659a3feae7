// Copyright (c) Canopy authors.

#include "query/views.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "query/access.h"
#include "query/cursor.h"
#include "query/json.h"
#include "storage/coding.h"
#include "storage/records.h"

namespace canopy::query {

namespace {

constexpr size_t kMaxLimit = 10000;

// The accounts of `grants` in tree order, down to `depth_limit`.
std::vector<const AccountNode*> Collect(const Catalog& c, const std::vector<Grant>& grants,
                                        uint32_t depth_limit) {
  std::vector<const AccountNode*> out;
  for (const auto& g : grants) {
    const AccountNode* a = c.account(g.account);
    if (!g.branch) {
      if (a->depth <= depth_limit) out.push_back(a);
      continue;
    }
    c.ForEachInSubtree(*a, depth_limit, [&](const AccountNode& n) { out.push_back(&n); });
  }
  return out;
}

// The `kind` entities of `n` (direct) and of its subtree that `viewer`
// sees: those whose owner it holds a permission of their kind on (as an
// entity is seen anywhere else). An account it reads without any such
// permission counts none of them: a total never reveals what lies out of
// its sight. The counters where a branch-wide permission of the kind on
// `n` covers the subtree; else a walk of the subtree.
EntityCounts SeenIn(const Catalog& c, const Actor& viewer, const AccountNode& n,
                    EntityKind kind) {
  EntityCounts out;
  const UserNode* u = viewer.is_system() ? nullptr : c.user(viewer.user());
  bool everywhere = u == nullptr;
  if (!everywhere) {
    const PermSet branch = BranchPermsOn(c, *u, n);
    for (EntityAction action : {EntityAction::kRead, EntityAction::kWrite, EntityAction::kAssign,
                                EntityAction::kDelete}) {
      everywhere = everywhere || branch.Has(EntityPerm(kind, action));
    }
  }
  if (everywhere) {
    out.direct = static_cast<uint64_t>(n.count(kind).direct);
    out.subtree = static_cast<uint64_t>(n.count(kind).subtree);
    return out;
  }
  c.ForEachInSubtree(n, kNoDepthLimit, [&](const AccountNode& d) {
    if (d.count(kind).direct == 0 || !SeesEntity(c, viewer, kind, d)) return;
    out.subtree += static_cast<uint64_t>(d.count(kind).direct);
    if (d.id == n.id) out.direct = static_cast<uint64_t>(d.count(kind).direct);
  });
  return out;
}

// The sub-account and device totals each collected node shows the viewer:
// sub-accounts from its account.read grants (`grants`): the maintained
// counter where a branch grant covers the node (the viewer reads its whole
// subtree); for an account read without branch access, only the readable
// accounts inside its subtree count, so a row never reveals what lies
// below the viewer's reach. They are counted from the grants (disjoint, in
// tree order: those inside an account follow it), not from the collected
// nodes, which a depth limit may have cut short. Devices as SeenIn says.
struct Totals {
  uint64_t sub_accounts = 0;
  uint64_t devices_direct = 0;
  uint64_t devices_subtree = 0;
};
std::vector<Totals> ViewerTotals(const Catalog& c, const Actor& viewer,
                                 const std::vector<Grant>& grants,
                                 const std::vector<const AccountNode*>& nodes) {
  std::unordered_map<AccountId, uint64_t> partial;
  for (size_t i = 0; i < grants.size(); ++i) {
    if (grants[i].branch) continue;
    const AccountNode* a = c.account(grants[i].account);
    uint64_t sub_accounts = 0;
    for (size_t j = i + 1; j < grants.size(); ++j) {
      const AccountNode* b = c.account(grants[j].account);
      if (!Catalog::IsSelfOrAncestor(*a, *b)) break;
      sub_accounts += 1 + (grants[j].branch ? static_cast<uint64_t>(b->descendants) : 0);
    }
    partial[a->id] = sub_accounts;
  }
  std::vector<Totals> out(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto it = partial.find(nodes[i]->id);
    out[i].sub_accounts =
        it != partial.end() ? it->second : static_cast<uint64_t>(nodes[i]->descendants);
    const EntityCounts d = SeenIn(c, viewer, *nodes[i], EntityKind::kDevice);
    out[i].devices_direct = d.direct;
    out[i].devices_subtree = d.subtree;
  }
  return out;
}

// `s` as a DOT quoted string: JSON's escapes, which DOT reads for '"' and
// '\', and DEL and the C1 controls (U+0080..U+009F) escaped too, as JSON
// escapes the C0 ones: a name can never drive the terminal the graph is
// printed on.
void AppendDotString(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string json;
  AppendJsonString(&json, s);
  for (size_t i = 0; i < json.size(); ++i) {
    const auto c = static_cast<unsigned char>(json[i]);
    const auto next = i + 1 < json.size() ? static_cast<unsigned char>(json[i + 1]) : 0;
    if (c == 0x7f || (c == 0xC2 && next >= 0x80 && next <= 0x9F)) {
      const unsigned char code = c == 0x7f ? c : next;
      out->append("\\u00");
      out->push_back(kHex[code >> 4]);
      out->push_back(kHex[code & 15]);
      if (c == 0xC2) ++i;
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
}


// The members of `a` whose membership there the viewer sees (all of them
// for the system viewer).
uint64_t SeenMembers(const Catalog& c, const Actor& viewer, const AccountNode& a) {
  if (viewer.is_system()) return a.members.size();
  uint64_t n = 0;
  for (UserId m : a.members) n += SeesMembership(c, viewer, *c.user(m), a) ? 1 : 0;
  return n;
}

// The groups `a` owns, when the viewer sees them (group.read there).
uint64_t SeenGroups(const Catalog& c, const Actor& viewer, const AccountNode& a) {
  return SeesGroups(c, viewer, a) ? a.groups.size() : 0;
}

// NotFound, worded as for a missing account, unless `id` is an account the
// viewer sees.
Status RequireSeenAccount(const Catalog& c, const Actor& viewer, AccountId id) {
  const AccountNode* a = c.account(id);
  if (a == nullptr || !SeesAccount(c, viewer, *a)) {
    return Status::NotFound("no account with id " + std::to_string(id));
  }
  return Status::Ok();
}

}  // namespace

Status ReadAccount(const storage::Store& store, const rocksdb::Snapshot* snapshot, AccountId id,
                   Account* out) {
  std::string bytes;
  Status s = store.Get(storage::kAccounts, storage::IdKey(id), &bytes, snapshot);
  if (s.IsNotFound()) return Status::NotFound("no account with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(s);
  storage::AccountRecord r;
  CANOPY_RETURN_IF_ERROR(storage::DecodeAccount(bytes, &r));
  *out = std::move(r.account);
  return Status::Ok();
}

Status AccountsTable(const Catalog& c, const storage::Store& store,
                     const rocksdb::Snapshot* snapshot, const TableRequest& req,
                     uint64_t scope, TablePage* page) {
  page->rows.clear();
  page->next_cursor.clear();
  page->total = 0;
  if (req.limit == 0 || req.limit > kMaxLimit) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxLimit));
  }
  if (static_cast<uint8_t>(req.sort) > static_cast<uint8_t>(TableSort::kDevicesSubtree)) {
    return Status::InvalidArgument("unknown table sort order");
  }
  if (req.root != kNoId) CANOPY_RETURN_IF_ERROR(RequireSeenAccount(c, req.viewer, req.root));
  if (!req.viewer.is_system() && c.user(req.viewer.user()) == nullptr) {
    return Status::NotFound("viewer: no user with id " + std::to_string(req.viewer.user()));
  }
  std::string fp;
  storage::PutFixed64BE(&fp, req.viewer.is_system() ? kNoId : req.viewer.user());
  fp.push_back(req.viewer.is_system() ? 1 : 0);
  storage::PutFixed64BE(&fp, req.root);
  fp.push_back(static_cast<char>(req.sort));
  fp.push_back(req.descending ? 1 : 0);
  storage::PutFixed64BE(&fp, scope);
  const uint64_t fingerprint = Hash64(fp);
  uint64_t offset = 0;
  if (!req.cursor.empty()) {
    std::string payload;
    CANOPY_RETURN_IF_ERROR(DecodeToken(req.cursor, TokenType::kTable, &payload));
    if (payload.size() != 16 || storage::DecodeFixed64BE(payload.data()) != fingerprint) {
      return Status::InvalidArgument(
          "cursor belongs to another table request (viewer, root or order differ) or to another "
          "database");
    }
    offset = storage::DecodeFixed64BE(payload.data() + 8);
  }

  std::vector<Grant> grants;
  CANOPY_RETURN_IF_ERROR(PlanGrants(c, req.viewer, Perm::kAccountRead, req.root, false, &grants));
  std::vector<const AccountNode*> nodes = Collect(c, grants, kNoDepthLimit);
  page->total = nodes.size();
  const std::vector<Totals> totals =
      ViewerTotals(c, req.viewer, grants, nodes);

  struct Item {
    const AccountNode* node;
    size_t tree_pos;
    Account record;
    bool loaded = false;
  };
  std::vector<Item> items;
  items.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) items.push_back(Item{nodes[i], i, {}, false});
  auto load = [&](Item& it) -> Status {
    if (it.loaded) return Status::Ok();
    it.loaded = true;
    return ReadAccount(store, snapshot, it.node->id, &it.record);
  };
  if (req.sort == TableSort::kName || req.sort == TableSort::kCreated) {
    for (auto& it : items) CANOPY_RETURN_IF_ERROR(load(it));
  }
  auto metric = [&](const Item& it) -> int64_t {
    switch (req.sort) {
      case TableSort::kCreated: return it.record.created_us;
      case TableSort::kUsers: return static_cast<int64_t>(SeenMembers(c, req.viewer, *it.node));
      case TableSort::kSubAccounts: return static_cast<int64_t>(totals[it.tree_pos].sub_accounts);
      case TableSort::kDevicesDirect:
        return static_cast<int64_t>(totals[it.tree_pos].devices_direct);
      case TableSort::kDevicesSubtree:
        return static_cast<int64_t>(totals[it.tree_pos].devices_subtree);
      default: return 0;
    }
  };
  if (req.sort == TableSort::kName) {
    std::stable_sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
      return req.descending ? a.record.name > b.record.name : a.record.name < b.record.name;
    });
  } else if (req.sort != TableSort::kTree) {
    std::stable_sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
      return req.descending ? metric(a) > metric(b) : metric(a) < metric(b);
    });
  } else if (req.descending) {
    std::reverse(items.begin(), items.end());
  }

  for (uint64_t i = offset; i < items.size() && page->rows.size() < req.limit; ++i) {
    Item& it = items[i];
    CANOPY_RETURN_IF_ERROR(load(it));
    AccountRow row;
    row.id = it.node->id;
    row.parent = it.node->parent;
    row.key = it.node->key;
    row.name = it.record.name;
    row.depth = it.node->depth;
    for (const AccountNode* a : c.Ancestors(*it.node)) {
      if (SeesAccount(c, req.viewer, *a)) row.path.push_back(a->key);  // only what it sees
    }
    row.path.push_back(it.node->key);
    row.users = SeenMembers(c, req.viewer, *it.node);
    row.sub_accounts = totals[it.tree_pos].sub_accounts;
    row.devices_direct = totals[it.tree_pos].devices_direct;
    row.devices_subtree = totals[it.tree_pos].devices_subtree;
    row.groups = SeenGroups(c, req.viewer, *it.node);
    row.created_us = it.record.created_us;
    page->rows.push_back(std::move(row));
  }
  uint64_t next = offset + page->rows.size();
  if (next < items.size()) {
    std::string payload;
    storage::PutFixed64BE(&payload, fingerprint);
    storage::PutFixed64BE(&payload, next);
    page->next_cursor = EncodeToken(TokenType::kTable, payload);
  }
  return Status::Ok();
}

Status Summarize(const Catalog& c, const storage::Store& store,
              const rocksdb::Snapshot* snapshot, const Actor& viewer, AccountId id,
                 AccountSummary* out) {
  const AccountNode* n = c.account(id);
  if (n == nullptr) return Status::NotFound("no account with id " + std::to_string(id));
  CANOPY_RETURN_IF_ERROR(ReadAccount(store, snapshot, id, &out->account));
  out->path.clear();
  out->path_names.clear();
  for (const AccountNode* a : c.Ancestors(*n)) {
    if (!SeesAccount(c, viewer, *a)) continue;
    Account anc;
    CANOPY_RETURN_IF_ERROR(ReadAccount(store, snapshot, a->id, &anc));
    out->path.push_back(anc.key);
    out->path_names.push_back(anc.name);
  }
  out->path.push_back(out->account.key);
  out->path_names.push_back(out->account.name);
  const SeenSubtree seen = SeeSubtree(c, viewer, *n, EntityKind::kDevice);
  out->users = SeenMembers(c, viewer, *n);
  out->sub_accounts = seen.sub_accounts;
  out->devices_direct = seen.counts.direct;
  out->devices_subtree = seen.counts.subtree;
  return Status::Ok();
}

SeenSubtree SeeSubtree(const Catalog& c, const Actor& viewer, const AccountNode& n,
                       EntityKind kind) {
  SeenSubtree out;
  out.counts = SeenIn(c, viewer, n, kind);
  const UserNode* u = viewer.is_system() ? nullptr : c.user(viewer.user());
  if (u == nullptr || !BranchPermsOn(c, *u, n).empty()) {
    // It sees every sub-account: the maintained counter holds.
    out.sub_accounts = static_cast<uint64_t>(n.descendants);
    return out;
  }
  // Only the sub-accounts it sees count, so that no total reveals what
  // lies out of its reach.
  c.ForEachInSubtree(n, kNoDepthLimit, [&](const AccountNode& d) {
    if (d.id != n.id && SeesAccount(c, viewer, d)) out.sub_accounts++;
  });
  return out;
}

Status Graph(const Catalog& c, const storage::Store& store,
              const rocksdb::Snapshot* snapshot, const Actor& viewer, AccountId root,
             uint32_t max_levels, GraphFormat format, std::string* out) {
  out->clear();
  uint32_t base_depth = 1;  // max_levels counts from `root`, or from the roots
  if (root != kNoId) {
    CANOPY_RETURN_IF_ERROR(RequireSeenAccount(c, viewer, root));
    base_depth = c.account(root)->depth;
  }
  const uint32_t depth_limit = DepthLimit(base_depth, max_levels);
  if (!viewer.is_system() && c.user(viewer.user()) == nullptr) {
    return Status::NotFound("viewer: no user with id " + std::to_string(viewer.user()));
  }
  std::vector<Grant> grants;
  CANOPY_RETURN_IF_ERROR(PlanGrants(c, viewer, Perm::kAccountRead, root, false, &grants));
  std::vector<const AccountNode*> nodes = Collect(c, grants, depth_limit);
  const std::vector<Totals> totals =
      ViewerTotals(c, viewer, grants, nodes);

  // The nearest shown ancestor of each node (pre-order + a stack of labels).
  std::vector<int> parent(nodes.size(), -1);
  std::vector<int> stack;
  for (size_t i = 0; i < nodes.size(); ++i) {
    while (!stack.empty() &&
           !Catalog::IsSelfOrAncestor(*nodes[stack.back()], *nodes[i])) {
      stack.pop_back();
    }
    parent[i] = stack.empty() ? -1 : stack.back();
    stack.push_back(static_cast<int>(i));
  }
  std::vector<Account> records(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    CANOPY_RETURN_IF_ERROR(ReadAccount(store, snapshot, nodes[i]->id, &records[i]));
  }

  if (format == GraphFormat::kDot) {
    out->append("digraph canopy {\n  node [shape=box];\n");
    for (size_t i = 0; i < nodes.size(); ++i) {
      const AccountNode& n = *nodes[i];
      out->append("  ");
      AppendDotString(out, n.key);
      // The label is a DOT quoted string: escape backslashes and quotes of
      // the name and key, then join the lines with DOT's \n.
      out->append(" [label=");
      std::string label = records[i].name;
      label.push_back('\n');
      label.append(n.key);
      label.push_back('\n');
      label.append(Plural(totals[i].devices_direct, "device") + ", " +
                   Plural(SeenMembers(c, viewer, n), "user"));
      if (const uint64_t g = SeenGroups(c, viewer, n); g > 0) label.append(", " + Plural(g, "group"));
      AppendDotString(out, label);
      out->append("];\n");
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (parent[i] < 0) continue;
      out->append("  ");
      AppendDotString(out, nodes[parent[i]]->key);
      out->append(" -> ");
      AppendDotString(out, nodes[i]->key);
      out->append(";\n");
    }
    out->append("}\n");
    return Status::Ok();
  }

  // JSON: {"accounts":[{..., "children":[...]}, ...]}, nested by tree.
  std::vector<std::vector<int>> kids(nodes.size());
  std::vector<int> tops;
  for (size_t i = 0; i < nodes.size(); ++i) {
    (parent[i] < 0 ? tops : kids[parent[i]]).push_back(static_cast<int>(i));
  }
  auto emit = [&](auto&& self, int i) -> void {
    const AccountNode& n = *nodes[i];
    out->append("{\"key\":");
    AppendJsonString(out, n.key);
    out->append(",\"name\":");
    AppendJsonString(out, records[i].name);
    out->append(",\"depth\":" + std::to_string(n.depth));
    out->append(",\"users\":" + std::to_string(SeenMembers(c, viewer, n)));
    out->append(",\"sub_accounts\":" + std::to_string(totals[i].sub_accounts));
    out->append(",\"devices_direct\":" + std::to_string(totals[i].devices_direct));
    out->append(",\"devices_subtree\":" + std::to_string(totals[i].devices_subtree));
    out->append(",\"groups\":" + std::to_string(SeenGroups(c, viewer, n)));
    out->append(",\"children\":[");
    for (size_t k = 0; k < kids[i].size(); ++k) {
      if (k) out->push_back(',');
      self(self, kids[i][k]);
    }
    out->append("]}");
  };
  out->append("{\"accounts\":[");
  for (size_t k = 0; k < tops.size(); ++k) {
    if (k) out->push_back(',');
    emit(emit, tops[k]);
  }
  out->append("]}\n");
  return Status::Ok();
}

}  // namespace canopy::query
