// Copyright (c) Canopy authors.
//
// The catalog image (query/catalog_image.h): the file an open reads instead
// of rebuilding the catalog from the key spaces, so damage to it must never
// reach the catalog. The first byte of an input says how to use the rest,
// which is written as the image file:
//  - bit 0: the trailing checksum is recomputed, so that the readers behind
//    it (nodes, references, the tree's checks) are reached, not only the
//    checksum's refusal;
//  - bit 1: the code fingerprint is set to this build's (seeds written by
//    another version stay useful);
//  - bit 2: the reader is asked for another state than the file's stamp.
// The stamp asked for is otherwise the one in the file's header. On every
// input:
//  - the reader never crashes, and refuses with a reason;
//  - asked for another state, it refuses;
//  - an image it accepts survives a round trip: written again and read
//    back, it is accepted with as many accounts, users, groups and roles,
//    and written a third time it takes as many bytes as the second (the
//    roles and groups are kept in hash maps, whose order may differ).

#include <xxhash.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fuzz/fuzz_util.h"
#include "query/catalog.h"
#include "query/catalog_image.h"

namespace {

namespace fs = std::filesystem;
using canopy::query::Catalog;
using canopy::query::ImageStamp;
using canopy::query::kCatalogImageFile;
using canopy::query::ReadCatalogImage;
using canopy::query::WriteCatalogImage;

// The header's layout (docs/format.md, "The catalog image"): magic (8),
// layout (4), zero (4), code fingerprint (8), then the stamp.
constexpr size_t kCodeAt = 16;
constexpr size_t kStampAt = 24;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
bool Get(std::string_view s, size_t* at, T* v) {
  if (s.size() - std::min(s.size(), *at) < sizeof(T)) return false;
  std::memcpy(v, s.data() + *at, sizeof(T));
  *at += sizeof(T);
  return true;
}

// The stamp the file's header states, read with every bound checked;
// a default stamp when the header is cut short.
ImageStamp StampOf(std::string_view file) {
  ImageStamp s;
  size_t at = kStampAt;
  uint32_t n = 0;
  if (!Get(file, &at, &s.sequence) || !Get(file, &at, &s.revision) ||
      !Get(file, &at, &s.created_us) || !Get(file, &at, &s.max_depth) || !Get(file, &at, &n) ||
      file.size() - std::min(file.size(), at) < n) {
    return ImageStamp();
  }
  s.log_id.assign(file.data() + at, n);
  return s;
}

struct Folders {
  std::string read, again, third;
  uint64_t code = 0;  // this build's fingerprint, from an image it wrote
};

const Folders& Setup() {
  static const Folders* f = [] {
    auto* out = new Folders;
    const std::string base = canopy::fuzz::ScratchDir();
    out->read = base + "/read";
    out->again = base + "/again";
    out->third = base + "/third";
    for (const std::string& d : {out->read, out->again, out->third}) fs::create_directories(d);
    FUZZ_CHECK(WriteCatalogImage(Catalog(), ImageStamp(), out->third).ok(), "empty image");
    const std::string empty = ReadFile(out->third + "/" + kCatalogImageFile);
    FUZZ_CHECK(empty.size() > kStampAt, "empty image too short");
    std::memcpy(&out->code, empty.data() + kCodeAt, 8);
    return out;
  }();
  return *f;
}

size_t Count(const Catalog& c, int what) {
  switch (what) {
    case 0: return c.accounts.size();
    case 1: return c.users.size();
    case 2: return c.groups.size();
    default: return c.roles.size();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Folders& f = Setup();
  const uint8_t mode = data[0];
  std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((mode & 2) != 0 && file.size() >= kStampAt) std::memcpy(file.data() + kCodeAt, &f.code, 8);
  if ((mode & 1) != 0 && file.size() >= 16) {
    const uint64_t h = XXH3_64bits(file.data(), file.size() - 8);
    std::memcpy(file.data() + file.size() - 8, &h, 8);
  }
  ImageStamp stamp = StampOf(file);
  const bool other_state = (mode & 4) != 0;
  if (other_state) ++stamp.revision;
  WriteFile(f.read + "/" + kCatalogImageFile, file);

  Catalog c;
  std::string why;
  const bool ok = ReadCatalogImage(f.read, stamp, &c, &why);
  if (!ok) {
    FUZZ_CHECK(!why.empty(), "a refusal without a reason");
    for (int w = 0; w < 4; ++w) FUZZ_CHECK(Count(c, w) == 0, "a refused image left nodes: " + why);
    return 0;
  }
  FUZZ_CHECK(!other_state, "accepted for another state");

  // The round trip: write, read, write again.
  FUZZ_CHECK(WriteCatalogImage(c, stamp, f.again).ok(), "rewrite");
  Catalog back;
  FUZZ_CHECK(ReadCatalogImage(f.again, stamp, &back, &why), "the rewrite is refused: " + why);
  for (int w = 0; w < 4; ++w) {
    FUZZ_CHECK(Count(back, w) == Count(c, w), "node count " + std::to_string(w) + " changed");
  }
  FUZZ_CHECK(WriteCatalogImage(back, stamp, f.third).ok(), "third write");
  FUZZ_CHECK(ReadFile(f.again + "/" + kCatalogImageFile).size() ==
                 ReadFile(f.third + "/" + kCatalogImageFile).size(),
             "writing what was read changes the size");
  return 0;
}
