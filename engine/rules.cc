// Copyright (c) Canopy authors.

#include "engine/rules.h"

#include <string>

#include "storage/labels.h"

namespace canopy::engine::rules {

namespace {
std::string Q(std::string_view key) { return "'" + std::string(key) + "'"; }
}  // namespace

Status SubAccountDepth(std::string_view parent_key, uint32_t parent_depth, uint32_t max_depth) {
  if (parent_depth + 1 <= max_depth) return Status::Ok();
  return Status::FailedPrecondition("account " + Q(parent_key) + " is at depth " +
                                    std::to_string(parent_depth) +
                                    "; a sub-account would pass the depth limit of " +
                                    std::to_string(max_depth));
}

Status MembershipInReach(std::string_view login, std::string_view home_name,
                         std::string_view home_label, std::string_view account_key,
                         std::string_view account_label) {
  if (storage::IsSelfOrAncestorLabel(home_label, account_label)) return Status::Ok();
  return Status::FailedPrecondition(
      "user " + Q(login) + " may hold roles only in the account it was created in (" +
      std::string(home_name) + ") and its sub-accounts, not on " + Q(account_key) +
      ": access flows top-down only");
}

Status MembershipBranch(const AccountSettings& settings, std::optional<bool> asked,
                        std::string_view account_key, bool* branch) {
  const bool always = settings.sub_account_access == SubAccountAccess::kAlwaysOn;
  if (always && asked.has_value() && !*asked) {
    return Status::FailedPrecondition(
        "account " + Q(account_key) +
        " has sub-account access always_on: its memberships always include sub-accounts");
  }
  *branch = always || asked.value_or(settings.sub_account_access == SubAccountAccess::kDefaultOn);
  return Status::Ok();
}

std::string GroupNamed(GroupKind kind, std::string_view name) {
  return std::string(GroupKindName(kind)) + " group " + Q(name);
}

Status GroupGrantTarget(const GroupGrantShape& g) {
  const std::string target = GroupNamed(g.target_kind, g.target_name);
  if (g.target_kind == GroupKind::kUser) {
    return Status::InvalidArgument("a role is granted on an entity or account group, not on "
                                   "user group " + Q(g.target_name));
  }
  if (g.branch && g.target_kind != GroupKind::kAccount) {
    return Status::InvalidArgument("branch applies to account groups; " + target +
                                   " holds entities");
  }
  if (g.same_owner) return Status::Ok();
  if (g.target_kind == GroupKind::kAccount && !g.accepted_before) {
    // An account group holds its owner's sub-accounts and gives a role on
    // each: shared down, it would give the user group's users a role on
    // their own account's ancestors or their siblings (rule 1).
    return Status::FailedPrecondition(
        target + " of account " + std::string(g.target_owner_name) +
        " cannot be granted to user group " + Q(g.user_group_name) + " of account " +
        std::string(g.owner_name) +
        ": an account group gives a role on its accounts, so only its own owner's user groups "
        "are granted it; shared down it would reach above or beside account " +
        std::string(g.owner_name));
  }
  if (!g.target_above) {
    return Status::FailedPrecondition(
        target + " of account " + std::string(g.target_owner_name) +
        " cannot be granted to user group " + Q(g.user_group_name) + " of account " +
        std::string(g.owner_name) +
        ": a group is shared only down to its owner's sub-accounts, never up or sideways");
  }
  if (!g.sharing) {
    return Status::FailedPrecondition("group sharing is off in " + std::string(g.tenant_phrase) +
                                      ": " + target + " of account " +
                                      std::string(g.target_owner_name) +
                                      " cannot be shared down to account " +
                                      std::string(g.owner_name));
  }
  return Status::Ok();
}

}  // namespace canopy::engine::rules
