// Uses of the id types that must not compile: ids of two kinds never
// convert into each other. Built once per CASE by check_fails.cmake, which
// requires each case to fail with the compiler naming the deleted
// conversion, and the file without a CASE (the correct uses) to compile,
// so a case cannot pass merely because the file is broken.
#include <memory>
#include <vector>

#include "canopy/db.h"

using canopy::AccountId;
using canopy::Actor;
using canopy::EntityId;
using canopy::RoleId;
using canopy::UserId;

void Use(canopy::Db& db, UserId user, AccountId account, RoleId role, EntityId entity) {
#if CASE == 1
  // Invite(actor, user, account, role) with the user and account swapped.
  (void)db.Invite(Actor::System(), account, user, role);
#elif CASE == 2
  // A role where the account is expected.
  (void)db.Invite(Actor::System(), user, role, role);
#elif CASE == 3
  // An account's id as an actor.
  (void)Actor::User(account);
#elif CASE == 4
  // An entity's id where an account is expected.
  (void)db.MoveAccount(Actor::System(), entity, account);
#elif CASE == 5
  // Assigning one kind's id to another's variable.
  UserId wrong = account;
  (void)wrong;
#elif CASE == 6
  // Even an explicit cast between kinds is refused (use .value()).
  (void)static_cast<UserId>(account);
#elif CASE == 7
  // A batch of user ids where account ids are expected.
  std::vector<UserId> users{user};
  (void)db.DeleteAccounts(Actor::System(), users);
#else
  // The correct uses compile, also from plain integers and kNoId.
  (void)db.Invite(Actor::System(), user, account, role);
  (void)db.Invite(Actor::System(), 7, 8, 9);
  (void)Actor::User(user);
  (void)db.MoveAccount(Actor::System(), account, canopy::kNoId);
  std::vector<AccountId> accounts{account};
  (void)db.DeleteAccounts(Actor::System(), accounts);
  uint64_t raw = entity;
  UserId from_raw = raw;
  UserId explicit_other = UserId(account.value());
  (void)from_raw;
  (void)explicit_other;
#endif
}
