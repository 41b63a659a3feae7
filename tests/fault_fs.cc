// Copyright (c) Canopy authors.

#include "tests/fault_fs.h"

#include <algorithm>
#include <filesystem>

#include "engine/db_impl.h"
#include "storage/store.h"

namespace canopy::testing {

namespace {

using rocksdb::IOStatus;

std::string Normalize(const std::string& p) {
  std::string n = std::filesystem::path(p).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

std::string DirOf(const std::string& normalized) {
  return std::filesystem::path(normalized).parent_path().string();
}

IOStatus PowerOff() { return IOStatus::IOError("simulated power loss"); }

bool FolderExists(const std::string& file) {
  std::error_code ec;
  return std::filesystem::is_directory(DirOf(file), ec);
}

}  // namespace

// ---- Files and directories ------------------------------------------------

class FaultFs::File : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  File(std::unique_ptr<rocksdb::FSWritableFile>&& f, FaultFs* fs, std::string path,
       std::shared_ptr<FileState> state)
      : rocksdb::FSWritableFileOwnerWrapper(std::move(f)),
        fs_(fs),
        path_(std::move(path)),
        state_(std::move(state)) {}

  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                  rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    if (s.ok()) s = target()->Append(data, o, d);
    if (s.ok()) Wrote(data.size());
    return s;
  }
  IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                  const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    if (s.ok()) s = target()->Append(data, o, v, d);
    if (s.ok()) Wrote(data.size());
    return s;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                            const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    if (s.ok()) s = target()->PositionedAppend(data, offset, o, d);
    if (s.ok()) WroteAt(offset + data.size());
    return s;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                            const rocksdb::IOOptions& o, const rocksdb::DataVerificationInfo& v,
                            rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    if (s.ok()) s = target()->PositionedAppend(data, offset, o, v, d);
    if (s.ok()) WroteAt(offset + data.size());
    return s;
  }
  IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& o,
                    rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    if (s.ok()) s = target()->Truncate(size, o, d);
    if (s.ok()) {
      std::lock_guard<std::mutex> l(fs_->mu_);
      state_->written = size;
      state_->synced = std::min(state_->synced, size);
    }
    return s;
  }
  IOStatus Close(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    return s.ok() ? target()->Close(o, d) : s;
  }
  IOStatus Flush(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    return s.ok() ? target()->Flush(o, d) : s;
  }
  IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return DoSync([&] { return target()->Sync(o, d); });
  }
  IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    return DoSync([&] { return target()->Fsync(o, d); });
  }
  // sync_file_range(2) starts write-back of a range; it makes nothing
  // durable (no metadata, no device cache flush).
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const rocksdb::IOOptions& o,
                     rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    return s.ok() ? target()->RangeSync(offset, nbytes, o, d) : s;
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const rocksdb::IOOptions& o,
                    rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    return s.ok() ? target()->Allocate(offset, len, o, d) : s;
  }

 private:
  void Wrote(uint64_t n) {
    std::lock_guard<std::mutex> l(fs_->mu_);
    state_->written += n;
  }
  void WroteAt(uint64_t end) {
    std::lock_guard<std::mutex> l(fs_->mu_);
    state_->written = std::max(state_->written, end);
  }
  template <typename F>
  IOStatus DoSync(F sync) {
    fs_->RunSyncHook(path_);
    IOStatus s = fs_->Gate();
    if (!s.ok()) return s;
    uint64_t before;
    {
      std::lock_guard<std::mutex> l(fs_->mu_);
      before = state_->written;  // what was written before the sync began
    }
    s = sync();
    if (s.ok()) {
      std::lock_guard<std::mutex> l(fs_->mu_);
      state_->synced = std::max(state_->synced, std::min(before, state_->written));
      fs_->syncs_.fetch_add(1);
    }
    return s;
  }

  FaultFs* fs_;
  std::string path_;
  std::shared_ptr<FileState> state_;
};

class FaultFs::Dir : public rocksdb::FSDirectoryWrapper {
 public:
  Dir(std::unique_ptr<rocksdb::FSDirectory>&& d, FaultFs* fs, std::string path)
      : rocksdb::FSDirectoryWrapper(std::move(d)), fs_(fs), path_(std::move(path)) {}

  IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    IOStatus s = fs_->Gate();
    if (s.ok()) s = rocksdb::FSDirectoryWrapper::Fsync(o, d);
    if (s.ok()) fs_->DirSynced(path_);
    return s;
  }
  IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d,
                               const rocksdb::DirFsyncOptions& opts) override {
    IOStatus s = fs_->Gate();
    if (s.ok()) s = rocksdb::FSDirectoryWrapper::FsyncWithDirOptions(o, d, opts);
    if (s.ok()) fs_->DirSynced(path_);
    return s;
  }

 private:
  FaultFs* fs_;
  std::string path_;
};

// ---- FaultFs ----------------------------------------------------------------

FaultFs::FaultFs(const std::shared_ptr<rocksdb::FileSystem>& base, std::string trash_dir)
    : rocksdb::FileSystemWrapper(base),
      trash_dir_(trash_dir.empty() ? std::string() : Normalize(trash_dir)) {}

FaultFs::~FaultFs() = default;

std::unique_ptr<rocksdb::Env> FaultFs::NewEnv(const std::shared_ptr<FaultFs>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

void FaultFs::CutPower() { powered_ = false; }

void FaultFs::CutPowerAfter(uint64_t n) {
  countdown_ = static_cast<int64_t>(std::max<uint64_t>(n, 1));
}

IOStatus FaultFs::Gate() {
  if (!powered_.load()) return PowerOff();
  int64_t c = countdown_.load();
  while (c > 0) {
    if (countdown_.compare_exchange_weak(c, c - 1)) {
      if (c == 1) {
        powered_ = false;
        return PowerOff();
      }
      break;
    }
  }
  write_ops_.fetch_add(1);
  return IOStatus::OK();
}

void FaultFs::SetSyncHook(std::string suffix, std::function<void(const std::string&)> hook) {
  std::lock_guard<std::mutex> l(mu_);
  hook_suffix_ = std::move(suffix);
  hook_ = std::move(hook);
}

void FaultFs::RunSyncHook(const std::string& path) {
  std::function<void(const std::string&)> hook;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!hook_ || path.size() < hook_suffix_.size() ||
        path.compare(path.size() - hook_suffix_.size(), hook_suffix_.size(), hook_suffix_) != 0) {
      return;
    }
    hook = hook_;
  }
  hook(path);
}

void FaultFs::Track(const std::string& path, std::shared_ptr<FileState> state) {
  std::lock_guard<std::mutex> l(mu_);
  files_[path] = std::move(state);
}

void FaultFs::Pending(PendingOp op) {
  std::lock_guard<std::mutex> l(mu_);
  pending_[DirOf(op.name)].push_back(std::move(op));
}

std::string FaultFs::NextTrashPath(const std::string& path) {
  if (trash_dir_.empty()) return std::string();
  std::error_code ec;
  std::filesystem::create_directories(trash_dir_, ec);
  std::lock_guard<std::mutex> l(mu_);
  return trash_dir_ + "/" + std::to_string(++trash_seq_) + "-" +
         std::filesystem::path(path).filename().string();
}

namespace {
// `path` with the folder prefix `from` replaced by `to` (unchanged when
// it is not inside `from`).
std::string Moved(const std::string& path, const std::string& from, const std::string& to) {
  if (path.size() > from.size() && path.compare(0, from.size(), from) == 0 &&
      path[from.size()] == '/') {
    return to + path.substr(from.size());
  }
  return path == from ? to : path;
}
}  // namespace

void FaultFs::MoveFolderLocked(const std::string& from, const std::string& to) {
  std::map<std::string, std::shared_ptr<FileState>> files;
  for (auto& [path, state] : files_) files[Moved(path, from, to)] = state;
  files_ = std::move(files);
  std::map<std::string, std::vector<PendingOp>> pending;
  for (auto& [dir, ops] : pending_) {
    for (auto& op : ops) {
      op.name = Moved(op.name, from, to);
      op.from = Moved(op.from, from, to);
    }
    auto& dest = pending[Moved(dir, from, to)];
    for (auto& op : ops) dest.push_back(std::move(op));
  }
  pending_ = std::move(pending);
}

void FaultFs::DirSynced(const std::string& dir) {
  std::vector<PendingOp> done;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = pending_.find(Normalize(dir));
    if (it == pending_.end()) return;
    done = std::move(it->second);
    pending_.erase(it);
    dir_syncs_.fetch_add(1);
  }
  // The deletes and overwrites are durable now: their saved copies go.
  for (const auto& op : done) {
    if (!op.saved.empty()) (void)target()->DeleteFile(op.saved, rocksdb::IOOptions(), nullptr);
  }
}

IOStatus FaultFs::NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                  std::unique_ptr<rocksdb::FSWritableFile>* r,
                                  rocksdb::IODebugContext* dbg) {
  IOStatus s = Gate();
  if (!s.ok()) return s;
  const std::string path = Normalize(f);
  const bool existed = target()->FileExists(path, rocksdb::IOOptions(), nullptr).ok();
  s = target()->NewWritableFile(f, o, r, dbg);
  if (!s.ok()) return s;
  auto state = std::make_shared<FileState>();
  Track(path, state);
  if (!existed) Pending({PendingOp::kCreate, path, "", "", nullptr});
  *r = std::make_unique<File>(std::move(*r), this, path, state);
  return s;
}

IOStatus FaultFs::ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                     std::unique_ptr<rocksdb::FSWritableFile>* r,
                                     rocksdb::IODebugContext* dbg) {
  IOStatus s = Gate();
  if (!s.ok()) return s;
  const std::string path = Normalize(f);
  uint64_t size = 0;
  const bool existed = target()->GetFileSize(path, rocksdb::IOOptions(), &size, nullptr).ok();
  s = target()->ReopenWritableFile(f, o, r, dbg);
  if (!s.ok()) return s;
  std::shared_ptr<FileState> state;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(path);
    if (it != files_.end()) {
      state = it->second;
    } else {
      // Written before we knew it: what is there is durable.
      state = std::make_shared<FileState>();
      state->written = state->synced = existed ? size : 0;
      files_[path] = state;
    }
  }
  if (!existed) Pending({PendingOp::kCreate, path, "", "", nullptr});
  *r = std::make_unique<File>(std::move(*r), this, path, state);
  return s;
}

IOStatus FaultFs::ReuseWritableFile(const std::string& f, const std::string& old,
                                    const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) {
  IOStatus s = RenameFile(old, f, rocksdb::IOOptions(), dbg);
  if (!s.ok()) return s;
  return NewWritableFile(f, o, r, dbg);
}

IOStatus FaultFs::NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                  std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                  rocksdb::IODebugContext* dbg) {
  IOStatus s = Gate();
  return s.ok() ? target()->NewRandomRWFile(f, o, r, dbg) : s;
}

IOStatus FaultFs::NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                               std::unique_ptr<rocksdb::FSDirectory>* r,
                               rocksdb::IODebugContext* dbg) {
  IOStatus s = target()->NewDirectory(name, o, r, dbg);
  if (s.ok()) *r = std::make_unique<Dir>(std::move(*r), this, Normalize(name));
  return s;
}

IOStatus FaultFs::DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) {
  IOStatus s = Gate();
  if (!s.ok()) return s;
  const std::string path = Normalize(f);
  const std::string saved = NextTrashPath(path);
  if (saved.empty()) {
    s = target()->DeleteFile(f, o, dbg);
    if (s.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      files_.erase(path);
    }
    return s;
  }
  // Kept in the trash until the directory is synced.
  s = target()->RenameFile(path, saved, o, dbg);
  if (!s.ok()) return s;
  std::shared_ptr<FileState> state;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(path);
    if (it != files_.end()) {
      state = it->second;
      files_.erase(it);
    }
  }
  Pending({PendingOp::kDelete, path, "", saved, state});
  return s;
}

IOStatus FaultFs::Truncate(const std::string& f, size_t size, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) {
  IOStatus s = Gate();
  if (!s.ok()) return s;
  s = target()->Truncate(f, size, o, dbg);
  if (s.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(Normalize(f));
    if (it != files_.end()) {
      it->second->written = size;
      it->second->synced = std::min<uint64_t>(it->second->synced, size);
    }
  }
  return s;
}

IOStatus FaultFs::RenameFile(const std::string& s, const std::string& t,
                             const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) {
  IOStatus st = Gate();
  if (!st.ok()) return st;
  const std::string from = Normalize(s);
  const std::string to = Normalize(t);
  std::error_code ec;
  const bool folder = std::filesystem::is_directory(from, ec);
  // The file it replaces stays reachable (a hard link in the trash) until
  // the directory is synced.
  std::string saved;
  if (!folder && target()->FileExists(to, rocksdb::IOOptions(), nullptr).ok()) {
    saved = NextTrashPath(to);
    if (!saved.empty() && !target()->LinkFile(to, saved, o, dbg).ok()) saved.clear();
  }
  st = target()->RenameFile(from, to, o, dbg);
  if (!st.ok()) {
    if (!saved.empty()) (void)target()->DeleteFile(saved, o, dbg);
    return st;
  }
  std::shared_ptr<FileState> old_state;
  {
    std::lock_guard<std::mutex> l(mu_);
    // A folder takes what is pending inside it along (e.g. a checkpoint
    // written into NAME.tmp, renamed to NAME, then NAME synced).
    if (folder) MoveFolderLocked(from, to);
    auto it = files_.find(to);
    if (it != files_.end()) {
      old_state = it->second;
      files_.erase(it);
    }
    auto src = files_.find(from);
    if (src != files_.end()) {
      files_[to] = src->second;
      files_.erase(src);
    }
  }
  Pending({PendingOp::kRename, to, from, saved, old_state});
  return st;
}

IOStatus FaultFs::LinkFile(const std::string& s, const std::string& t,
                           const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) {
  IOStatus st = Gate();
  if (!st.ok()) return st;
  st = target()->LinkFile(s, t, o, dbg);
  if (!st.ok()) return st;
  const std::string to = Normalize(t);
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(Normalize(s));
    if (it != files_.end()) files_[to] = it->second;  // one inode, one state
  }
  Pending({PendingOp::kCreate, to, "", "", nullptr});
  return st;
}

IOStatus FaultFs::CreateDir(const std::string& d, const rocksdb::IOOptions& o,
                            rocksdb::IODebugContext* dbg) {
  IOStatus s = Gate();
  return s.ok() ? target()->CreateDir(d, o, dbg) : s;
}

IOStatus FaultFs::CreateDirIfMissing(const std::string& d, const rocksdb::IOOptions& o,
                                     rocksdb::IODebugContext* dbg) {
  IOStatus s = Gate();
  return s.ok() ? target()->CreateDirIfMissing(d, o, dbg) : s;
}

IOStatus FaultFs::DeleteDir(const std::string& d, const rocksdb::IOOptions& o,
                            rocksdb::IODebugContext* dbg) {
  IOStatus s = Gate();
  return s.ok() ? target()->DeleteDir(d, o, dbg) : s;
}

// ---- Reboot -------------------------------------------------------------------

IOStatus FaultFs::Reboot(std::mt19937_64* rng) {
  powered_ = false;  // nothing in flight may change the disk meanwhile
  std::lock_guard<std::mutex> l(mu_);
  RebootReport report;
  const rocksdb::IOOptions io;
  // How much of n pending things survive: none, all or any number between,
  // a third of the time each (none without a random source).
  auto pick = [&](uint64_t n) -> uint64_t {
    if (rng == nullptr || n == 0) return 0;
    switch ((*rng)() % 3) {
      case 0: return 0;
      case 1: return n;
      default: return std::uniform_int_distribution<uint64_t>(0, n)(*rng);
    }
  };
  // 1. Directory entries: keep a prefix of each directory's pending
  // operations (none by default) and undo the rest, newest first; deeper
  // folders first, so that a renamed folder's own entries are undone
  // before the folder goes back to its old name.
  std::vector<std::string> dirs;
  for (const auto& [dir, ops] : pending_) dirs.push_back(dir);
  std::stable_sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  for (const std::string& dir : dirs) {
    auto found = pending_.find(dir);
    if (found == pending_.end()) continue;
    std::vector<PendingOp> ops = std::move(found->second);
    pending_.erase(found);
    const size_t keep = static_cast<size_t>(pick(ops.size()));
    for (size_t i = ops.size(); i-- > keep;) {
      PendingOp& op = ops[i];
      switch (op.kind) {
        case PendingOp::kCreate:
          if (target()->FileExists(op.name, io, nullptr).ok()) {
            IOStatus s = target()->DeleteFile(op.name, io, nullptr);
            if (!s.ok()) return s;
          }
          files_.erase(op.name);
          ++report.creates_undone;
          break;
        case PendingOp::kRename: {
          // A folder removed since (not through us) is gone for good, and
          // so is what would go back into it.
          if (!FolderExists(op.from) || !FolderExists(op.name)) break;
          std::error_code ec;
          if (std::filesystem::is_directory(op.name, ec)) {
            IOStatus s = target()->RenameFile(op.name, op.from, io, nullptr);
            if (!s.ok()) return s;
            MoveFolderLocked(op.name, op.from);
            ++report.renames_undone;
            break;
          }
          if (target()->FileExists(op.name, io, nullptr).ok()) {
            IOStatus s = target()->RenameFile(op.name, op.from, io, nullptr);
            if (!s.ok()) return s;
          }
          auto it = files_.find(op.name);
          if (it != files_.end()) {
            files_[op.from] = it->second;
            files_.erase(op.name);
          }
          if (!op.saved.empty()) {
            IOStatus s = target()->RenameFile(op.saved, op.name, io, nullptr);
            if (!s.ok()) return s;
            if (op.state) files_[op.name] = op.state;
          }
          ++report.renames_undone;
          break;
        }
        case PendingOp::kDelete: {
          if (!FolderExists(op.name)) break;
          IOStatus s = target()->RenameFile(op.saved, op.name, io, nullptr);
          if (!s.ok()) return s;
          if (op.state) files_[op.name] = op.state;
          ++report.deletes_undone;
          break;
        }
      }
    }
    for (size_t i = 0; i < keep; ++i) {
      if (!ops[i].saved.empty()) (void)target()->DeleteFile(ops[i].saved, io, nullptr);
    }
  }
  // 2. File contents: every file keeps what was synced (and with `rng` a
  // random part of the rest). Hard links share one state: cut it once.
  std::map<const FileState*, uint64_t> cut;
  for (const auto& [path, state] : files_) {
    auto c = cut.find(state.get());
    if (c == cut.end()) {
      const uint64_t unsynced = state->written > state->synced ? state->written - state->synced : 0;
      c = cut.emplace(state.get(), state->synced + pick(unsynced)).first;
    }
    uint64_t size = 0;
    if (!target()->GetFileSize(path, io, &size, nullptr).ok() || size <= c->second) continue;
    // The base file system may not implement Truncate (Posix does not).
    std::error_code ec;
    std::filesystem::resize_file(path, c->second, ec);
    if (ec) return IOStatus::IOError("cannot truncate '" + path + "': " + ec.message());
    report.bytes_dropped += size - c->second;
    ++report.files_truncated;
  }
  files_.clear();
  pending_.clear();
  if (!trash_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(trash_dir_, ec);
  }
  last_reboot_ = report;
  countdown_ = 0;
  powered_ = true;
  return IOStatus::OK();
}

FaultFs::RebootReport FaultFs::last_reboot() const {
  std::lock_guard<std::mutex> l(mu_);
  return last_reboot_;
}

std::string FaultFs::RebootReport::ToString() const {
  return std::to_string(bytes_dropped) + " unsynced bytes dropped from " +
         std::to_string(files_truncated) + " files; undone: " + std::to_string(creates_undone) +
         " creates, " + std::to_string(renames_undone) + " renames, " +
         std::to_string(deletes_undone) + " deletes";
}

// ---- Opening a database on it ---------------------------------------------------

Status OpenDbWithEnv(const Options& options, const std::string& path, rocksdb::Env* env,
                     std::unique_ptr<Db>* db) {
  db->reset();
  storage::StoreOptions so = engine::StoreOptionsOf(options);
  so.env = env;
  std::unique_ptr<storage::Store> store;
  CANOPY_RETURN_IF_ERROR(storage::Store::Open(so, path, &store));
  auto impl = std::make_unique<engine::DbImpl>(options, std::move(store));
  CANOPY_RETURN_IF_ERROR(impl->Init());
  *db = std::move(impl);
  return Status::Ok();
}

}  // namespace canopy::testing
