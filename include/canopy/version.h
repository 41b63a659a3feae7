// Copyright (c) Canopy authors.
//
// Library and storage-format versions.

#ifndef CANOPY_VERSION_H_
#define CANOPY_VERSION_H_

#include <cstdint>

namespace canopy {

// The library's semantic version, e.g. "0.1.0".
const char* Version();

// The on-disk format this library writes. A database whose format is newer,
// or whose magic value is not Canopy's, is refused on open (NotSupported /
// Corruption); see docs/format.md.
inline constexpr uint32_t kStorageFormatVersion = 3;

}  // namespace canopy

#endif  // CANOPY_VERSION_H_
