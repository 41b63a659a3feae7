// Copyright (c) Canopy authors.
//
// Input checks shared by every mutation: UTF-8, lengths, attribute maps.
// Each returns InvalidArgument naming the field and what is wrong.

#ifndef CANOPY_ENGINE_VALIDATE_H_
#define CANOPY_ENGINE_VALIDATE_H_

#include <string_view>

#include "canopy/status.h"
#include "canopy/types.h"

namespace canopy::engine {

inline constexpr size_t kMaxAttributeValueBytes = 4096;
inline constexpr size_t kMaxAttributes = 256;

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// `what` is e.g. "account key". Text is valid UTF-8 without NUL bytes, at
// most kMaxNameBytes long, and not empty unless allow_empty.
Status CheckText(std::string_view what, std::string_view s, bool allow_empty = false);

// What a user types to name a record (a key, a login, a role or group
// name, a unit id): valid UTF-8, at most kMaxNameBytes, and none of what would make two
// names look alike or one look like another: no control characters
// (U+0000-U+001F, U+007F-U+009F), no invisible ones (zero-width and other
// format characters, bidirectional controls, line separators), no space
// at either end. InvalidArgument names the character ("contains a control
// character (U+0009)", "ends with a space (U+0020)"). Empty passes.
Status CheckIdentifier(std::string_view what, std::string_view s);

// An account key, entity key, login, role name or group name (every name a
// user types to address a record): CheckText, CheckIdentifier, and not
// kHidden, "(hidden)", which stands in every answer (text, JSON, the web
// console, explanations) for a name the reader may not see: a record
// really named so could not be told from one out of sight. `replayed`: an
// import replayed from the change log, whose input was accepted once under
// the rules of its day, is held to CheckText alone.
Status CheckKey(std::string_view what, std::string_view s, bool replayed = false);

// An attribute value (`what` names it): valid UTF-8 without NUL bytes, at
// most kMaxAttributeValueBytes, maybe empty. Stored values and the values
// queries filter on alike.
Status CheckAttributeValue(std::string_view what, std::string_view value);

// Attribute names follow CheckText; values CheckAttributeValue; at most
// kMaxAttributes entries.
Status CheckAttributes(std::string_view owner, const Attributes& attributes);

}  // namespace canopy::engine

#endif  // CANOPY_ENGINE_VALIDATE_H_
