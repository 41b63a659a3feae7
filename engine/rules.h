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

}  // namespace canopy::engine::rules

#endif  // CANOPY_ENGINE_RULES_H_
