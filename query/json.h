// Copyright (c) Canopy authors.
//
// JSON output helpers for the query layer and above: the storage layer's
// (storage/json.h), which also renders stored records.

#ifndef CANOPY_QUERY_JSON_H_
#define CANOPY_QUERY_JSON_H_

#include "storage/json.h"

namespace canopy::query {

using storage::AppendJsonString;
using storage::JsonAttributes;
using storage::JsonNumbers;
using storage::JsonObject;
using storage::JsonString;
using storage::JsonStrings;

}  // namespace canopy::query

#endif  // CANOPY_QUERY_JSON_H_
