// Copyright (c) Canopy authors.
//
// The out-of-line parts of the public value types (status.h, types.h,
// version.h). They live in the lowest layer because every layer uses them.

#include <cstdio>
#include <cstdlib>

#include "canopy/json.h"
#include "canopy/status.h"
#include "canopy/types.h"
#include "canopy/version.h"

namespace canopy {

const char* Version() { return CANOPY_VERSION_STRING; }

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not_found";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kCorruption: return "corruption";
    case Code::kIOError: return "io_error";
    case Code::kNotSupported: return "not_supported";
    case Code::kInternal: return "internal";
    case Code::kAborted: return "aborted";
    case Code::kCompacted: return "compacted";
    case Code::kUnavailable: return "unavailable";
  }
  return "unknown";
}

namespace {

bool Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// `m` with every byte that is not part of well-formed UTF-8 written as
// \xNN, so that a message quoting bad input is always text.
std::string ValidUtf8(std::string_view m) {
  std::string out;
  size_t i = 0, copied = 0;
  while (i < m.size()) {
    const size_t n = Utf8CharLength(m.substr(i));
    if (n > 0) {
      i += n;
      continue;
    }
    out.append(m.substr(copied, i - copied));
    char hex[8];
    std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(m[i]));
    out += hex;
    copied = ++i;
  }
  if (copied == 0) return std::string(m);
  out.append(m.substr(copied));
  return out;
}

}  // namespace

std::string ShortMessage(std::string_view message) {
  const std::string text = ValidUtf8(message);
  const std::string_view m = text;
  // Longer than this (a huge input quoted back), a message keeps its
  // beginning and its end, each cut on a character boundary, and says how
  // much was left out between them.
  constexpr size_t kMaxBytes = 1024, kHead = 768, kTail = 192;
  if (m.size() <= kMaxBytes) return text;
  size_t head = kHead;
  while (head > 0 && Continuation(m[head])) --head;
  size_t tail = m.size() - kTail;
  while (tail < m.size() && Continuation(m[tail])) ++tail;
  std::string out(m.substr(0, head));
  out += "... [" + std::to_string(tail - head) + " bytes left out] ...";
  out.append(m.substr(tail));
  return out;
}

Status::Status(Code code, std::string message) : code_(code), message_(std::move(message)) {
  if (code_ == Code::kOk) message_.clear();
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

namespace internal {
void DieOnBadStatusOrAccess(const Status& status) {
  std::fprintf(stderr, "canopy: value() of a StatusOr holding %s\n", status.ToString().c_str());
  std::abort();
}
}  // namespace internal

const char* EntityKindName(EntityKind kind) {
  switch (kind) {
    case EntityKind::kDevice: return "device";
    case EntityKind::kAsset: return "asset";
    case EntityKind::kDashboard: return "dashboard";
    case EntityKind::kEntityView: return "entity_view";
  }
  return "unknown";
}

std::optional<EntityKind> ParseEntityKind(std::string_view name) {
  for (EntityKind k : kAllEntityKinds) {
    if (name == EntityKindName(k)) return k;
  }
  return std::nullopt;
}

const char* ReassignOutcomeName(ReassignItem::Outcome outcome) {
  switch (outcome) {
    case ReassignItem::Outcome::kMoved: return "moved";
    case ReassignItem::Outcome::kUnchanged: return "unchanged";
    case ReassignItem::Outcome::kUnknown: return "unknown";
    case ReassignItem::Outcome::kDenied: return "denied";
    case ReassignItem::Outcome::kDuplicate: return "duplicate";
  }
  return "unknown";
}

const char* SubAccountAccessName(SubAccountAccess access) {
  switch (access) {
    case SubAccountAccess::kDefaultOff: return "default_off";
    case SubAccountAccess::kDefaultOn: return "default_on";
    case SubAccountAccess::kAlwaysOn: return "always_on";
  }
  return "unknown";
}

std::optional<SubAccountAccess> ParseSubAccountAccess(std::string_view name) {
  for (auto a : {SubAccountAccess::kDefaultOff, SubAccountAccess::kDefaultOn,
                 SubAccountAccess::kAlwaysOn}) {
    if (name == SubAccountAccessName(a)) return a;
  }
  return std::nullopt;
}

const char* GroupKindName(GroupKind kind) {
  switch (kind) {
    case GroupKind::kDevice: return "device";
    case GroupKind::kAsset: return "asset";
    case GroupKind::kDashboard: return "dashboard";
    case GroupKind::kEntityView: return "entity_view";
    case GroupKind::kUser: return "user";
    case GroupKind::kAccount: return "account";
  }
  return "unknown";
}

std::optional<GroupKind> ParseGroupKind(std::string_view name) {
  for (GroupKind k : kAllGroupKinds) {
    if (name == GroupKindName(k)) return k;
  }
  return std::nullopt;
}

std::optional<EntityKind> GroupEntityKind(GroupKind kind) {
  const auto v = static_cast<uint8_t>(kind);
  if (v >= 1 && v <= 4) return static_cast<EntityKind>(v);
  return std::nullopt;
}

GroupKind EntityGroupKind(EntityKind kind) {
  // The entity kinds (1..4) and their group kinds share their values.
  return static_cast<GroupKind>(static_cast<uint8_t>(kind));
}

}  // namespace canopy
