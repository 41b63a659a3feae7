// Copyright (c) Canopy authors.
//
// Where a database's RocksDB files stand: the folder's identity and the
// MANIFEST that CURRENT names, with its size. RocksDB numbers its files in
// one rising sequence and only ever appends to a MANIFEST, so for one
// database (one identity) that position never goes back, whatever a crash
// cuts: a CURRENT naming an older MANIFEST, or a MANIFEST shorter than it
// was, means older files were copied over the folder or the MANIFEST was
// cut. It is read from the files without opening them, so a writer can be
// stopped before RocksDB's open deletes the newer files such a folder
// still holds (it takes them for obsolete).
//
// Thread safety: plain functions sharing nothing.

#ifndef CANOPY_STORAGE_FILES_POSITION_H_
#define CANOPY_STORAGE_FILES_POSITION_H_

#include <cstdint>
#include <string>

#include "canopy/status.h"

namespace canopy::storage {

class Store;

struct FilesPosition {
  std::string identity;          // RocksDB's IDENTITY; empty: unknown
  uint64_t manifest_number = 0;  // MANIFEST-<number>, as CURRENT names it
  uint64_t manifest_size = 0;    // its size in bytes
};

// The position of an open store's files now (no I/O beyond RocksDB's own
// bookkeeping).
Status FilesPositionOf(const Store& store, FilesPosition* position);

// The position of the files in `folder`, read without opening them: false
// when any part is missing or unreadable (no IDENTITY, no CURRENT, a
// CURRENT that names no MANIFEST file...), where RocksDB's open says what
// is wrong, if anything. Never waits on a pipe.
bool ReadFilesPosition(const std::string& folder, FilesPosition* position);

// True when `now` is behind `then` for the same database: an older
// MANIFEST, or the same one shorter. `*how` then says which, naming the
// files (for a message that goes on "...: <how>").
bool FilesWentBack(const FilesPosition& then, const FilesPosition& now, std::string* how);

// The highest number of a MANIFEST-<number> file in `folder`: false when
// there is none.
bool NewestManifest(const std::string& folder, uint64_t* number);

// "MANIFEST-000012": RocksDB's name for MANIFEST number `number`.
std::string ManifestName(uint64_t number);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_FILES_POSITION_H_
