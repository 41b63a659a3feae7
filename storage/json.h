// Copyright (c) Canopy authors.
//
// JSON output helpers for the storage layer and above: the public writer of
// canopy/json.h (input is parsed with simdjson) — used for the change log's
// records and arguments, the export and the C API.

#ifndef CANOPY_STORAGE_JSON_H_
#define CANOPY_STORAGE_JSON_H_

#include "canopy/json.h"

namespace canopy::storage {

// The writer is public (canopy/json.h): the layers use it under these names.
using canopy::AppendJsonString;
using canopy::JsonAttributes;
using canopy::JsonNumbers;
using canopy::JsonObject;
using canopy::JsonString;
using canopy::JsonStrings;
using canopy::ReplicaStatusJson;

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_JSON_H_
