// Copyright (c) Canopy authors.
//
// The read side: visibility-filtered pages and streams, counts, check,
// explain, who-can and the account views. Each plans under the shared
// catalog lock on a RocksDB snapshot taken under the same lock, then scans
// the snapshot without holding the catalog.

#include <rocksdb/db.h>

#include <algorithm>

#include "engine/db_impl.h"
#include "engine/validate.h"
#include "query/access.h"
#include "query/scan.h"
#include "query/views.h"
#include "storage/coding.h"
#include "storage/forks.h"
#include "storage/labels.h"

namespace canopy::engine {

using query::Perm;

namespace {

constexpr size_t kMaxPage = 10000;

// The permission a visibility request asks for, checked against its kind.
Status ResolveEntityPerm(EntityKind kind, std::string_view permission, Perm* out) {
  if (!ParseEntityKind(EntityKindName(kind))) {
    return Status::InvalidArgument("unknown entity kind " + std::to_string(static_cast<int>(kind)));
  }
  if (permission.empty()) {
    *out = query::EntityPerm(kind, query::EntityAction::kRead);
    return Status::Ok();
  }
  auto p = query::ParsePerm(permission);
  if (!p) return Status::InvalidArgument("unknown permission '" + std::string(permission) + "'");
  EntityKind pk;
  query::EntityAction action;
  if (!query::IsEntityPerm(*p, &pk, &action) || pk != kind) {
    return Status::InvalidArgument("permission '" + std::string(permission) +
                                   "' is not a permission on " + EntityKindName(kind) +
                                   " entities");
  }
  *out = *p;
  return Status::Ok();
}

// A permission by name, for check, explain and who-can.
Status ResolvePerm(std::string_view permission, Perm* perm) {
  auto p = query::ParsePerm(permission);
  if (!p) return Status::InvalidArgument("unknown permission '" + std::string(permission) + "'");
  *perm = *p;
  return Status::Ok();
}

Status ValidateVisible(const VisibleRequest& r, Perm* perm) {
  CANOPY_RETURN_IF_ERROR(ResolveEntityPerm(r.kind, r.permission, perm));
  if (r.type) CANOPY_RETURN_IF_ERROR(CheckText("type filter", *r.type, true));
  CANOPY_RETURN_IF_ERROR(CheckText("name prefix", r.name_prefix, true));
  if (r.attribute) {
    CANOPY_RETURN_IF_ERROR(CheckText("attribute filter name", r.attribute->name));
    // As a stored value is checked (any other value could match nothing).
    CANOPY_RETURN_IF_ERROR(CheckAttributeValue("attribute filter value", r.attribute->value));
  }
  return Status::Ok();
}

query::ScanFilter FilterOf(const VisibleRequest& r) {
  query::ScanFilter f;
  f.kind = r.kind;
  f.type = r.type;
  f.name_prefix = r.name_prefix;
  f.attribute = r.attribute;
  return f;
}

// Does `now` still grant everything `before` did? (A grant is covered by
// the same account with at least its reach, or by a branch grant above it.)
// Access only added since (a new root tenant for the system viewer, a new
// membership) keeps a cursor's snapshot; access withdrawn ends it.
bool StillCovered(const std::vector<query::Grant>& before, const std::vector<query::Grant>& now) {
  for (const auto& g : before) {
    bool covered = false;
    for (const auto& n : now) {
      // A sparse grant is covered by a full one, or by a sparse one of the
      // same account reaching at least its groups.
      const bool groups_ok =
          n.groups.empty() ||
          (!g.groups.empty() &&
           std::includes(n.groups.begin(), n.groups.end(), g.groups.begin(), g.groups.end()));
      if ((n.label == g.label && (n.branch || !g.branch) && groups_ok) ||
          (n.branch && storage::IsProperAncestorLabel(n.label, g.label))) {
        covered = true;
        break;
      }
    }
    if (!covered) return false;
  }
  return true;
}

constexpr char kOtherVisibleRequest[] =
    "cursor belongs to another request (viewer, kind, permission or filters differ) or to "
    "another database";

// Binds a cursor to everything that selects its entities, on this database
// (`scope`, DbImpl::CursorScope).
uint64_t Fingerprint(const VisibleRequest& r, Perm perm, uint64_t scope) {
  std::string s;
  storage::PutFixed64BE(&s, scope);
  s.push_back(r.viewer.is_system() ? 1 : 0);
  storage::PutFixed64BE(&s, r.viewer.is_system() ? kNoId : r.viewer.user());
  s.push_back(static_cast<char>(r.kind));
  s.push_back(static_cast<char>(perm));
  s.push_back(r.type ? 1 : 0);
  storage::PutLengthPrefixed(&s, r.type.value_or(""));
  storage::PutLengthPrefixed(&s, r.name_prefix);
  s.push_back(r.attribute ? 1 : 0);
  storage::PutLengthPrefixed(&s, r.attribute ? r.attribute->name : "");
  storage::PutLengthPrefixed(&s, r.attribute ? r.attribute->value : "");
  storage::PutFixed64BE(&s, r.within);
  s.push_back(r.direct_only ? 1 : 0);
  return query::Hash64(s);
}

}  // namespace

namespace {

// A scan handed to the caller, counted so that Close() can refuse while it
// is alive. In a process forked from its own it is not valid and its
// status is the refusal every other call there gets: the storage engine's
// threads were not copied.
class TrackedIterator final : public VisibleIterator {
 public:
  // `kept`: a follower's hold on its state, kept while the iterator lives
  // (DbImpl::KeepHold).
  TrackedIterator(std::unique_ptr<query::ScanIterator> it, std::atomic<int64_t>* open,
                  SharedSnapshot kept)
      : it_(std::move(it)), open_(open), kept_(std::move(kept)) {
    open_->fetch_add(1);
  }
  ~TrackedIterator() override {
    it_.reset();  // before the count drops: Close() may run right after
    kept_.reset();
    open_->fetch_sub(1);
  }
  bool Valid() const override { return !storage::InForkedChild() && it_->Valid(); }
  void Next() override {
    if (!storage::InForkedChild()) it_->Next();
  }
  EntityId id() const override { return it_->id(); }
  std::string_view key() const override { return it_->key(); }
  std::string_view name() const override { return it_->name(); }
  std::string_view type() const override { return it_->type(); }
  AccountId owner() const override { return it_->owner(); }
  Status status() const override {
    if (storage::InForkedChild()) {
      return storage::ForkedChildRefusal("use an iterator made before fork()");
    }
    return it_->status();
  }

 private:
  std::unique_ptr<query::ScanIterator> it_;
  std::atomic<int64_t>* open_;
  SharedSnapshot kept_;
};

}  // namespace

Status DbImpl::PlanView(const VisibleRequest& request, Perm perm, uint64_t fingerprint,
                        std::shared_ptr<const query::ScanView>* view) const {
  std::vector<query::Grant> grants;
  CANOPY_RETURN_IF_ERROR(query::PlanGrants(cat(), request.viewer, perm, request.within,
                                           request.direct_only, &grants, /*with_groups=*/true));
  const ReadContext* ctx = ReadContextOfThisThread();
  auto v = std::make_shared<query::ScanView>(ctx != nullptr ? ctx->snapshot : NewSnapshot(),
                                             std::move(grants), fingerprint);
  v->set_revision(head());
  *view = std::move(v);
  return Status::Ok();
}

Status DbImpl::CheckFresh(uint64_t min_revision) const {
  const uint64_t at = head();
  if (min_revision <= at) return Status::Ok();
  return Status::FailedPrecondition("this database is at revision " + std::to_string(at) +
                                    ", not yet at the requested revision " +
                                    std::to_string(min_revision));
}

Status DbImpl::Visible(const VisibleRequest& request, VisiblePage* page) const {
  if (page == nullptr) return Status::InvalidArgument("page is null");
  page->items.clear();
  page->next_cursor.clear();
  Perm perm;
  CANOPY_RETURN_IF_ERROR(ValidateVisible(request, &perm));
  if (request.limit == 0 || request.limit > kMaxPage) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxPage));
  }
  const uint64_t fingerprint = Fingerprint(request, perm, CursorScope());
  uint64_t view_id = 0;
  std::string resume;

  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckFresh(request.min_revision));
  views_.Expire();
  // Declared after the scope: a view not kept for a cursor releases its
  // snapshot while the database is still held open.
  std::shared_ptr<const query::ScanView> view;
  if (!request.cursor.empty()) {
    std::string payload;
    CANOPY_RETURN_IF_ERROR(query::DecodeToken(request.cursor, query::TokenType::kVisible, &payload));
    uint8_t kind;
    std::string_view label;
    uint64_t entity;
    if (payload.size() < 24 ||
        !storage::DecodeIndexKey(std::string_view(payload).substr(24), &kind, &label, &entity)) {
      return Status::InvalidArgument("cursor is malformed");
    }
    // A well-formed cursor of a listing of another kind: another request.
    if (kind != static_cast<uint8_t>(request.kind)) {
      return Status::InvalidArgument(kOtherVisibleRequest);
    }
    if (storage::DecodeFixed64BE(payload.data() + 16) != fingerprint) {
      return Status::InvalidArgument(kOtherVisibleRequest);
    }
    if (storage::DecodeFixed64BE(payload.data()) == instance_id_) {
      view_id = storage::DecodeFixed64BE(payload.data() + 8);
      view = views_.Get(view_id);
      // The checksum is public: anyone can mint a token naming any view id.
      // A view serves only the request it was planned for.
      if (view != nullptr && view->fingerprint() != fingerprint) {
        return Status::InvalidArgument(kOtherVisibleRequest);
      }
      // Access withdrawn since the first page (a membership removed, the
      // user disabled, an account moved out of reach) ends the snapshot:
      // the page reads the latest state. Access only added keeps it.
      if (view != nullptr) {
        std::vector<query::Grant> now;
        Status planned = query::PlanGrants(cat(), request.viewer, perm, request.within,
                                           request.direct_only, &now, /*with_groups=*/true);
        if (!planned.ok() || !StillCovered(view->grants(), now)) {
          views_.Erase(view_id);
          view = nullptr;
        }
      }
      if (view == nullptr) view_id = 0;
    }
    resume = payload.substr(24);
  }
  if (view == nullptr) CANOPY_RETURN_IF_ERROR(PlanView(request, perm, fingerprint, &view));
  scope.ReleaseCatalog();
  page->revision = view->revision();

  query::ScanIterator it(store_.get(), view, FilterOf(request), resume, request.limit + 1);
  std::string last;  // the index key of the last item returned
  page->items.reserve(request.limit);
  while (it.Valid()) {
    page->items.push_back(VisibleItem{it.id(), std::string(it.key()), std::string(it.name()),
                                      std::string(it.type()), it.owner()});
    if (page->items.size() == request.limit) last.assign(it.index_key());
    it.Next();
    if (page->items.size() == request.limit) break;
  }
  CANOPY_RETURN_IF_ERROR(it.status());
  if (it.Valid()) {
    if (view_id == 0) view_id = views_.Put(view);
    std::string payload;
    storage::PutFixed64BE(&payload, instance_id_);
    storage::PutFixed64BE(&payload, view_id);
    storage::PutFixed64BE(&payload, fingerprint);
    payload.append(last);
    page->next_cursor = query::EncodeToken(query::TokenType::kVisible, payload);
  } else if (view_id != 0) {
    views_.Erase(view_id);
  }
  return Status::Ok();
}

Status DbImpl::NewVisibleIterator(const VisibleRequest& request,
                                  std::unique_ptr<VisibleIterator>* it) const {
  if (it == nullptr) return Status::InvalidArgument("iterator out-parameter is null");
  it->reset();
  Perm perm;
  CANOPY_RETURN_IF_ERROR(ValidateVisible(request, &perm));
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckFresh(request.min_revision));
  std::shared_ptr<const query::ScanView> view;
  CANOPY_RETURN_IF_ERROR(PlanView(request, perm, Fingerprint(request, perm, CursorScope()), &view));
  *it = std::make_unique<TrackedIterator>(
      std::make_unique<query::ScanIterator>(store_.get(), std::move(view), FilterOf(request), ""),
      &open_iterators_, KeepHold(scope.snapshot()));
  if (closing_.load()) {  // Close has begun (see Close): it counted no iterator
    it->reset();
    return Closing();
  }
  return Status::Ok();
}

StatusOr<uint64_t> DbImpl::Count(const VisibleRequest& request) const {
  Perm perm;
  CANOPY_RETURN_IF_ERROR(ValidateVisible(request, &perm));
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckFresh(request.min_revision));
  const query::ScanFilter filter = FilterOf(request);
  if (filter.Unfiltered()) {
    // No scan: sum the maintained counters over the disjoint grants.
    std::vector<query::Grant> grants;
    CANOPY_RETURN_IF_ERROR(query::PlanGrants(cat(), request.viewer, perm, request.within,
                                             request.direct_only, &grants, /*with_groups=*/true));
    // Sparse grants (entity groups) are disjoint from the ranges and from
    // each other's accounts. Within one account, a group whose overlap is 0
    // shares no member with any other group: it counts as its size. Only
    // the groups that do overlap (two or more of them) are merged, member
    // by member.
    int64_t total = 0;
    std::vector<query::Grant> merge;
    for (auto& g : grants) {
      if (!g.groups.empty()) {
        std::vector<GroupId> overlapping;
        for (GroupId gid : g.groups) {
          const query::GroupNode* n = cat().group(gid);
          if (n->overlap == 0) {
            total += static_cast<int64_t>(n->size);
          } else {
            overlapping.push_back(gid);
          }
        }
        if (overlapping.size() == 1) {
          total += static_cast<int64_t>(cat().group(overlapping[0])->size);
        } else if (!overlapping.empty()) {
          g.groups = std::move(overlapping);
          merge.push_back(std::move(g));
        }
      } else {
        const auto& c = cat().account(g.account)->count(request.kind);
        total += g.branch ? c.subtree : c.direct;
      }
    }
    if (merge.empty()) return static_cast<uint64_t>(total);
    const ReadContext* ctx = ReadContextOfThisThread();
    auto view = std::make_shared<query::ScanView>(ctx != nullptr ? ctx->snapshot : NewSnapshot(),
                                                  std::move(merge), 0);
    scope.ReleaseCatalog();
    query::ScanIterator it(store_.get(), std::move(view), filter, "");
    for (; it.Valid(); it.Next()) ++total;
    CANOPY_RETURN_IF_ERROR(it.status());
    return static_cast<uint64_t>(total);
  }
  std::shared_ptr<const query::ScanView> view;
  CANOPY_RETURN_IF_ERROR(PlanView(request, perm, Fingerprint(request, perm, CursorScope()), &view));
  scope.ReleaseCatalog();
  uint64_t n = 0;
  query::ScanIterator it(store_.get(), std::move(view), filter, "");
  for (; it.Valid(); it.Next()) ++n;
  CANOPY_RETURN_IF_ERROR(it.status());
  return n;
}

Status DbImpl::FindTarget(const Actor& asker, Perm perm, std::string_view key,
                          Target* target) const {
  *target = Target();
  EntityKind kind;
  query::EntityAction action;
  if (query::IsEntityPerm(perm, &kind, &action)) {
    AccountId owner_id;
    CANOPY_RETURN_IF_ERROR(LookupEntityKey(kind, key, &target->entity, &owner_id));
    target->account = cat().account(owner_id);
    if (target->account == nullptr) {
      return Status::Corruption("entity '" + std::string(key) + "' has no owner");
    }
    bool sees = false;
    CANOPY_RETURN_IF_ERROR(SeesEntityOrGroup(asker, kind, target->entity, *target->account, &sees,
                                             &target->memo));
    if (!sees) return EntityNotFound(kind, key);
    return Status::Ok();
  }
  // An account-level permission: the key names an account.
  std::string v;
  Status s = store_->Get(storage::kAccountKeys, key, &v, snap());
  if (s.IsNotFound()) return AccountKeyNotFound(key);
  CANOPY_RETURN_IF_ERROR(s);
  if (v.size() != 8) return Status::Corruption("account key index entry is damaged");
  target->account = cat().account(storage::DecodeFixed64BE(v.data()));
  if (target->account == nullptr) return Status::Corruption("account key '" + std::string(key) + "' points at no account");
  if (!query::SeesAccount(cat(), asker, *target->account)) return AccountKeyNotFound(key);
  return Status::Ok();
}

StatusOr<bool> DbImpl::Check(UserId user, std::string_view permission,
                             std::string_view key) const {
  Perm perm;
  CANOPY_RETURN_IF_ERROR(ResolvePerm(permission, &perm));
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  const query::UserNode* u = cat().user(user);
  if (u == nullptr && user != kNoId) {
    return Status::NotFound("no user with id " + std::to_string(user));
  }
  // A disabled user holds nothing: the answer is no, whatever the key
  // names (or whether it names anything).
  if (u != nullptr && u->disabled) return false;
  const Actor asker = u == nullptr ? Actor::System() : Actor::User(user);
  Target target;
  CANOPY_RETURN_IF_ERROR(FindTarget(asker, perm, key, &target));
  if (u == nullptr) return true;  // the system actor
  if (query::PermsOn(cat(), *u, *target.account).Has(perm)) return true;
  if (target.entity == kNoId) return false;
  EntityKind kind;
  query::EntityAction action;
  query::IsEntityPerm(perm, &kind, &action);
  const query::GroupGrantNode* via = nullptr;
  CANOPY_RETURN_IF_ERROR(
      EntityGrantOf(*u, kind, perm, target.entity, target.account->id, &via, &target.memo));
  return via != nullptr;
}

Status DbImpl::Explain(UserId user, std::string_view permission, std::string_view key,
                       Explanation* explanation) const {
  return Explain(Actor::User(user), user, permission, key, explanation);
}

Status DbImpl::Explain(const Actor& asker, UserId user, std::string_view permission,
                       std::string_view key, Explanation* explanation) const {
  if (explanation == nullptr) return Status::InvalidArgument("explanation is null");
  Perm perm;
  CANOPY_RETURN_IF_ERROR(ResolvePerm(permission, &perm));
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  // An asker other than the user itself is a viewer, resolved before any
  // look-up: an unknown or disabled one learns nothing of what exists.
  if (asker.is_system() || asker.user() != user) CANOPY_RETURN_IF_ERROR(CheckViewer(asker));
  const query::UserNode* u = cat().user(user);
  // A user out of the asker's sight is as unknown to it as a missing one
  // (its login, its answer and its verdict alike).
  if ((u == nullptr && user != kNoId) ||
      (u != nullptr && !query::SeesUser(cat(), asker, *u))) {
    return Status::NotFound("no user with id " + std::to_string(user));
  }
  *explanation = Explanation();
  if (u != nullptr && u->disabled) {
    explanation->reason = "user '" + u->login + "' is disabled and holds no permissions";
    return Status::Ok();
  }
  const Actor subject = u == nullptr ? Actor::System() : Actor::User(user);
  Target target;
  Status found = FindTarget(subject, perm, key, &target);
  if (found.IsNotFound() && asker.is_system() && u != nullptr &&
      FindTarget(Actor::System(), perm, key, &target).ok()) {
    // It exists, out of the user's sight: the operator may know that.
    EntityKind kind;
    query::EntityAction action;
    const std::string owner = query::Quote(*target.account);
    if (query::IsEntityPerm(perm, &kind, &action)) {
      explanation->reason = "user '" + u->login + "' cannot see " + EntityKindName(kind) + " '" +
                            std::string(key) + "': it holds no " + EntityKindName(kind) +
                            " permission on account " + owner +
                            " (directly, branch-wide above it, or through a group)";
    } else {
      explanation->reason = "user '" + u->login + "' cannot see account " + owner +
                            ": it holds no permission there (directly, or branch-wide above it)";
    }
    explanation->owner = target.account->id;
    explanation->entity = target.entity;
    return Status::Ok();
  }
  CANOPY_RETURN_IF_ERROR(found);
  if (u == nullptr) {
    explanation->allowed = true;
    explanation->reason = "the system actor may do anything";
  } else {
    *explanation = query::ExplainAccess(cat(), asker, *u, perm, *target.account);
    EntityKind kind;
    query::EntityAction action;
    if (!explanation->allowed && target.entity != kNoId &&
        query::IsEntityPerm(perm, &kind, &action)) {
      const query::GroupGrantNode* via = nullptr;
      CANOPY_RETURN_IF_ERROR(
      EntityGrantOf(*u, kind, perm, target.entity, target.account->id, &via, &target.memo));
      // "user 'u' is in <user group>, which has role <r> on <group>[ of
      // account <owner>], which holds <kind> '<key>'", as the asker may be
      // told it (what it does not see is not named).
      auto grant_text = [&](const query::GroupGrantNode& x, bool with_owner) {
        const query::GroupNode& t = *cat().group(x.target);
        const query::AccountNode& owner = *cat().account(t.owner);
        return "user '" + u->login + "' is in " +
               query::DescribeGroup(cat(), asker, *cat().group(x.user_group), u) +
               ", which has role " + query::NameRole(cat(), asker, *cat().role(x.role)) + " on " +
               query::DescribeGroup(cat(), asker, t, u) +
               (with_owner && query::SeesGroups(cat(), asker, owner)
                    ? " of account " + query::NameAccount(cat(), asker, owner)
                    : std::string()) +
               ", which holds " + EntityKindName(kind) + " '" + std::string(key) + "'";
      };
      if (via != nullptr) {
        const query::GroupNode* ug = cat().group(via->user_group);
        const query::GroupNode* t = cat().group(via->target);
        const query::RoleNode* r = cat().role(via->role);
        Explanation e;
        e.allowed = true;
        e.via_account = t->owner;
        e.via_role = r->id;
        e.via_role_name = query::NameRole(cat(), asker, *r);
        e.via_user_group = ug->id;
        e.via_group = t->id;
        e.path.push_back(query::SeesAccount(cat(), asker, *target.account) ? target.account->key
                                                                           : kHidden);
        e.reason = grant_text(*via, /*with_owner=*/true);
        *explanation = std::move(e);
      } else {
        // A grant onto a group holding the entity whose role lacks the
        // permission (a viewer's, asked for a write): named, as the
        // memberships that fall short are.
        const query::GroupGrantNode* near = nullptr;
        CANOPY_RETURN_IF_ERROR(EntityGrantOf(*u, kind, std::nullopt, target.entity,
                                             target.account->id, &near, &target.memo));
        if (near != nullptr) {
          explanation->reason += "; " + grant_text(*near, /*with_owner=*/false) +
                                 ", but that role does not hold " + std::string(permission);
        }
      }
    }
  }
  explanation->owner = target.account->id;
  explanation->entity = target.entity;
  return Status::Ok();
}

Status DbImpl::WhoCan(const WhoCanRequest& request, WhoCanPage* page) const {
  if (page == nullptr) return Status::InvalidArgument("page is null");
  page->items.clear();
  page->next_cursor.clear();
  Perm perm;
  CANOPY_RETURN_IF_ERROR(ResolvePerm(request.permission, &perm));
  if (request.limit == 0 || request.limit > kMaxPage) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxPage));
  }
  std::string fp_src = request.permission;
  fp_src.push_back('\0');
  fp_src.append(request.entity_key);
  fp_src.push_back('\0');
  fp_src.append(request.viewer.is_system() ? "system" : std::to_string(request.viewer.user()));
  storage::PutFixed64BE(&fp_src, CursorScope());
  const uint64_t fingerprint = query::Hash64(fp_src);
  UserId after = 0;
  if (!request.cursor.empty()) {
    std::string payload;
    CANOPY_RETURN_IF_ERROR(query::DecodeToken(request.cursor, query::TokenType::kWhoCan, &payload));
    if (payload.size() != 16 || storage::DecodeFixed64BE(payload.data()) != fingerprint) {
      return Status::InvalidArgument(
          "cursor belongs to another who-can request (permission, key or viewer differ) or to "
          "another database");
    }
    after = storage::DecodeFixed64BE(payload.data() + 8);
  }
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckFresh(request.min_revision));
  CANOPY_RETURN_IF_ERROR(CheckViewer(request.viewer));
  page->revision = head();
  Target target;
  CANOPY_RETURN_IF_ERROR(FindTarget(request.viewer, perm, request.entity_key, &target));
  // A user viewer is told of a user only through a route it sees (the
  // closest of those): the granting membership, or a user group's grant
  // (the user itself, and the groups of the user group's owner).
  const query::WhoCanFilter shown = [&](const WhoCanItem& item) {
    const query::UserNode& u = *cat().user(item.user);
    if (item.via_user_group == kNoId) {
      return query::SeesMembership(cat(), request.viewer, u, *cat().account(item.via_account));
    }
    const query::GroupNode* ug = cat().group(item.via_user_group);
    return query::SeesUser(cat(), request.viewer, u) &&
           query::SeesGroups(cat(), request.viewer, *cat().account(ug->owner));
  };
  // A later page at the revision of the one before reuses its answer.
  WhoCanAnswers::Items kept;
  if (!request.cursor.empty()) kept = who_can_answers_.Find(fingerprint, page->revision);
  if (kept == nullptr) {
    std::vector<WhoCanItem> worked = query::UsersWhoCan(cat(), perm, *target.account, shown);
    if (target.entity != kNoId) {
      EntityKind kind;
      query::EntityAction action;
      query::IsEntityPerm(perm, &kind, &action);
      CANOPY_RETURN_IF_ERROR(EntityGrantees(target.entity, kind, perm, &worked, shown));
    }
    kept = std::make_shared<const std::vector<WhoCanItem>>(std::move(worked));
  }
  const std::vector<WhoCanItem>& all = *kept;
  size_t i = std::upper_bound(all.begin(), all.end(), after,
                              [](UserId a, const WhoCanItem& item) { return a < item.user; }) -
             all.begin();
  for (; i < all.size() && page->items.size() < request.limit; ++i) page->items.push_back(all[i]);
  if (i < all.size()) {
    who_can_answers_.Keep(fingerprint, page->revision, kept);
    std::string payload;
    storage::PutFixed64BE(&payload, fingerprint);
    storage::PutFixed64BE(&payload, page->items.back().user);
    page->next_cursor = query::EncodeToken(query::TokenType::kWhoCan, payload);
  }
  return Status::Ok();
}

DbImpl::WhoCanAnswers::Items DbImpl::WhoCanAnswers::Find(uint64_t fingerprint,
                                                          uint64_t revision) {
  std::lock_guard<std::mutex> g(mu_);
  for (Answer& a : answers_) {
    if (a.fingerprint == fingerprint && a.revision == revision) {
      a.used = ++clock_;
      return a.items;
    }
  }
  return nullptr;
}

void DbImpl::WhoCanAnswers::Keep(uint64_t fingerprint, uint64_t revision, Items items) {
  if (items->size() > kMaxUsers) return;
  std::lock_guard<std::mutex> g(mu_);
  for (Answer& a : answers_) {
    if (a.fingerprint == fingerprint) {  // the request's answer at another revision: replaced
      a = Answer{fingerprint, revision, ++clock_, std::move(items)};
      return;
    }
  }
  answers_.push_back(Answer{fingerprint, revision, ++clock_, std::move(items)});
  // Within bounds: the least recently used go first.
  auto users = [&] {
    size_t n = 0;
    for (const Answer& a : answers_) n += a.items->size();
    return n;
  };
  while (answers_.size() > kMaxAnswers || (answers_.size() > 1 && users() > kMaxUsers)) {
    auto oldest = std::min_element(answers_.begin(), answers_.end(),
                                   [](const Answer& a, const Answer& b) { return a.used < b.used; });
    answers_.erase(oldest);
  }
}

Status DbImpl::AccountsTable(const TableRequest& request, TablePage* page) const {
  if (page == nullptr) return Status::InvalidArgument("page is null");
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckFresh(request.min_revision));
  CANOPY_RETURN_IF_ERROR(CheckViewer(request.viewer));
  const uint64_t at = head();
  CANOPY_RETURN_IF_ERROR(
      query::AccountsTable(cat(), *store_, snap(), request, CursorScope(), page));
  page->revision = at;
  return Status::Ok();
}

StatusOr<AccountSummary> DbImpl::Summary(AccountId id) const {
  return Summary(Actor::System(), id);
}

StatusOr<AccountSummary> DbImpl::Summary(const Actor& viewer, AccountId id) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  const query::AccountNode* a = nullptr;
  CANOPY_RETURN_IF_ERROR(RequireAccount(viewer, id, "summary", &a));
  AccountSummary out;
  CANOPY_RETURN_IF_ERROR(query::Summarize(cat(), *store_, snap(), viewer, id, &out));
  return out;
}

StatusOr<std::string> DbImpl::GraphJson(const Actor& viewer, AccountId root,
                                        uint32_t max_levels) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  std::string out;
  CANOPY_RETURN_IF_ERROR(
      query::Graph(cat(), *store_, snap(), viewer, root, max_levels, query::GraphFormat::kJson, &out));
  return out;
}

StatusOr<std::string> DbImpl::GraphDot(const Actor& viewer, AccountId root,
                                       uint32_t max_levels) const {
  ReadScope scope(this);
  CANOPY_RETURN_IF_ERROR(scope.status());
  CANOPY_RETURN_IF_ERROR(CheckViewer(viewer));
  std::string out;
  CANOPY_RETURN_IF_ERROR(
      query::Graph(cat(), *store_, snap(), viewer, root, max_levels, query::GraphFormat::kDot, &out));
  return out;
}

}  // namespace canopy::engine
