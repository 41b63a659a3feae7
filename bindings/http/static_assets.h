// Copyright (c) Canopy authors.
//
// The page's files (bindings/http/static/), built into the binary: CMake
// turns each into bytes of static_assets.cc (embed_static.cmake) at build
// time, so `canopy ui` needs no files beside it and no network.

#ifndef CANOPY_BINDINGS_HTTP_STATIC_ASSETS_H_
#define CANOPY_BINDINGS_HTTP_STATIC_ASSETS_H_

#include <cstddef>
#include <vector>

namespace canopy::http {

struct StaticAsset {
  const char* path;  // "/index.html", "/app.js", ...
  const char* type;  // its Content-Type
  const unsigned char* data;
  size_t size;
};

const std::vector<StaticAsset>& StaticAssets();

}  // namespace canopy::http

#endif  // CANOPY_BINDINGS_HTTP_STATIC_ASSETS_H_
