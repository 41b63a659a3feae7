// Copyright (c) Canopy authors.
//
// The catalog image: the whole in-memory catalog (query/catalog.h) written
// to one file in the database folder when a database open for writing
// closes, so that the next open reads it back in one pass instead of
// rebuilding the catalog from its key spaces (Catalog::Load), which at a
// million accounts and a million users takes seconds.
//
// The image is a cache, never the truth: it is used only when its stamp
// (below) equals the stamp of the state being opened, it was written by a
// build with the same permissions, its checksum holds, its references
// resolve and its ids agree with the stored sequences; anything else (no
// file, an older layout, a torn or damaged file, a database written since)
// makes the open load from the key spaces as before. The file format
// is in docs/format.md ("The catalog image").
//
// Thread safety: the functions share nothing; the caller keeps the catalog
// and the store from changing meanwhile.

#ifndef CANOPY_QUERY_CATALOG_IMAGE_H_
#define CANOPY_QUERY_CATALOG_IMAGE_H_

#include <cstdint>
#include <string>

#include "canopy/status.h"
#include "query/catalog.h"

namespace canopy::storage {
class Store;
}

namespace canopy::query {

// The file's name inside the database folder.
inline constexpr const char* kCatalogImageFile = "CANOPY-CATALOG";

// Which stored state an image goes with. Two states with equal stamps are
// the same state: RocksDB's sequence number grows with every write, the
// change log's last revision with every mutation (also an import, whose
// ingested files may take no sequence number), and the log id and the
// creation time tell databases apart.
struct ImageStamp {
  uint64_t sequence = 0;    // RocksDB's latest sequence number
  uint64_t revision = 0;    // the change log's last revision
  uint64_t created_us = 0;  // the format record's creation time
  uint32_t max_depth = 0;
  std::string log_id;       // the change log's id
  bool operator==(const ImageStamp&) const = default;
};

// Writes `catalog`, which must be the catalog of the state `stamp` names,
// to the image file in `folder`: to a temporary file first, renamed over
// the old image once whole, so a reader never sees half an image. The
// caller makes that state durable first (an image must never be of a state
// a power loss could take back). IOError (naming the file) when it cannot
// be written; the old image is then removed too.
Status WriteCatalogImage(const Catalog& catalog, const ImageStamp& stamp,
                         const std::string& folder);

// Reads the image in `folder` into `*catalog` when there is one for
// `stamp` and it is whole: true. False otherwise, with `*catalog` empty
// and the reason in `*why` (e.g. "no image", "written for another state",
// "checksum mismatch"). Reads the header first, so an image of another
// state costs one small read; a whole image is checked against its
// checksum, then every reference between its nodes. Never throws, except
// std::bad_alloc.
// `*written` (when given) receives the image's own stamp once its header
// is read (of this build and layout), whatever the outcome.
bool ReadCatalogImage(const std::string& folder, const ImageStamp& stamp, Catalog* catalog,
                      std::string* why, ImageStamp* written = nullptr);

// True when an image stamped `written` is of a later state of the same
// database than the stored state `now` (same change log id and creation
// time; a larger RocksDB sequence number or revision): the stored state
// went back after the image was written (a damaged MANIFEST, lost files,
// or older files copied over newer ones), which no crash can cause, as an
// image is only ever written of a durable state.
bool StampIsAhead(const ImageStamp& written, const ImageStamp& now);

// Removes the image in `folder`, if any, and what a write that was cut
// short left of one (best effort).
void RemoveCatalogImage(const std::string& folder);

}  // namespace canopy::query

#endif  // CANOPY_QUERY_CATALOG_IMAGE_H_
