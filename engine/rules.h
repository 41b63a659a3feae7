// Copyright (c) Canopy authors.
//
// The model's rules that do not depend on who acts, written once and used
// by the online mutations (accounts.cc, users.cc) and by the bulk import
// (interchange.cc) alike. Each returns OK or the refusal, with the message
// a user reads. (Who may act is decided in query/access.h.)
//
// Thread safety: plain functions.

#ifndef CANOPY_ENGINE_RULES_H_
#define CANOPY_ENGINE_RULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "canopy/status.h"
#include "canopy/types.h"

namespace canopy::engine::rules {

// Depth: a new sub-account of a parent at `parent_depth` must stay within
// the database's depth limit. FailedPrecondition otherwise.
Status SubAccountDepth(std::string_view parent_key, uint32_t parent_depth, uint32_t max_depth);

// Top-down only: a user holds roles only on the account it was created in
// (`home_*`) and that account's sub-accounts (labels: docs/format.md).
// FailedPrecondition otherwise, naming the home as `home_name` (quoted, or
// query::QuoteFor's phrase when the actor does not see it).
Status MembershipInReach(std::string_view login, std::string_view home_name,
                         std::string_view home_label, std::string_view account_key,
                         std::string_view account_label);

// The branch flag of a new membership on an account with `settings`:
// `asked` when given, else the account's sub_account_access default;
// always_on forces true and refuses an explicit false (FailedPrecondition).
Status MembershipBranch(const AccountSettings& settings, std::optional<bool> asked,
                        std::string_view account_key, bool* branch);

// Groups (docs/model.md, "Groups"). `named` texts read like "device group
// 'fleet'"; account names are quoted (query::Quote) by the caller.
std::string GroupNamed(GroupKind kind, std::string_view name);

// Rule 9's shape of a grant from user group `user_group_name` of account
// `owner_name` onto the group `target_name` of `target_kind` owned by
// `target_owner_name` (skip for a generic grant): never onto a user group,
// `branch` only onto an account group (InvalidArgument); the target's owner
// is the user group's owner or one of its ancestors (`target_above`: its
// label is a prefix of the owner's), never below or sideways, and for an
// account group the owner itself (it holds accounts beside or above the
// user group's owner: no user gains a role above its own account); a group of an
// ancestor (`same_owner` false) is shared down only while the root
// tenant's group_sharing is on (`sharing`; `tenant_phrase` names it:
// "root tenant 'acme'"); FailedPrecondition otherwise.
struct GroupGrantShape {
  std::string_view user_group_name, owner_name;
  GroupKind target_kind = GroupKind::kDevice;
  std::string_view target_name, target_owner_name;
  bool branch = false;
  bool same_owner = false;
  bool target_above = false;
  bool sharing = false;
  std::string_view tenant_phrase;
  // A replayed import's grant, accepted when it was first imported: the
  // account-group rule, newer than some logs, is not asked again (a log
  // must replay to the same state).
  bool accepted_before = false;
};
Status GroupGrantTarget(const GroupGrantShape& g);

}  // namespace canopy::engine::rules

#endif  // CANOPY_ENGINE_RULES_H_
