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
// Canopy keeps the position a writer last left in the folder's files
// record, CANOPY-FILES (written when a writer has opened, and when it
// closes), and refuses a writer's open whose files are behind it.
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
  // XXH3-64 of those manifest_size bytes (FilesPositionOf only; absent
  // when they could not be read).
  bool has_manifest_hash = false;
  uint64_t manifest_hash = 0;
};

// The position of an open store's files now, with the hash of its
// MANIFEST (read back from the file: a few kilobytes to a megabyte).
Status FilesPositionOf(const Store& store, FilesPosition* position);

// The position of the files in `folder`, read without opening them (an
// empty identity without an IDENTITY file): false when the rest is missing
// or unreadable (no CURRENT, a CURRENT that names no MANIFEST file...),
// where RocksDB's open says what is wrong, if anything. Never waits on a
// pipe.
bool ReadFilesPosition(const std::string& folder, FilesPosition* position);

// True when `now` is behind `then` for the same database: an older
// MANIFEST, or the same one shorter. `*how` then says which, naming the
// files (for a message that goes on "...: <how>"). (The recorded bytes'
// hash is compared by RefuseFilesBehindRecord, which reads them.)
bool FilesWentBack(const FilesPosition& then, const FilesPosition& now, std::string* how);

// The highest number of a MANIFEST-<number> file in `folder`: false when
// there is none.
bool NewestManifest(const std::string& folder, uint64_t* number);

// The files record's name inside the database folder.
inline constexpr const char* kFilesRecordFile = "CANOPY-FILES";

// Writes `position` as the files record of `folder` (to a temporary file
// renamed over the old one; not synced: after a power loss it may be an
// older record, never one ahead of the files, whose MANIFEST RocksDB
// syncs first). IOError naming the file when it cannot be written.
Status WriteFilesRecord(const std::string& folder, const FilesPosition& position);

// Reads the files record of `folder`: false when there is none or it is
// unreadable (then nothing is known).
bool ReadFilesRecord(const std::string& folder, FilesPosition* position);

// Before a writer opens the files in `folder`: Corruption ("went back to
// an older state ... Nothing was opened or changed") when the files are
// behind the files record for the same database (FilesWentBack), or the
// MANIFEST's recorded bytes changed in place (damage RocksDB may read as
// padding, silently opening an older state), or when
// CURRENT names another database's MANIFEST (another IDENTITY, or none)
// while the MANIFEST the record names is still in the folder (files copied
// over the database last written here, whose files RocksDB would delete).
// Names a newer MANIFEST still in the folder if there is one. Ok
// otherwise, including when there is no record or no CURRENT (the open
// then decides as usual).
Status RefuseFilesBehindRecord(const std::string& folder);

// "MANIFEST-000012": RocksDB's name for MANIFEST number `number`.
std::string ManifestName(uint64_t number);

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_FILES_POSITION_H_
