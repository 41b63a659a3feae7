// Copyright (c) Canopy authors.

#include "engine/external_sort.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "storage/coding.h"

namespace canopy::engine {

// ---------------------------------------------------------------- TaskPool

TaskPool::TaskPool(unsigned threads) {
  for (unsigned i = 0; i < std::max(1u, threads); ++i) threads_.emplace_back([this] { Run(); });
}

TaskPool::~TaskPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TaskPool::Submit(std::function<void()> task, bool urgent) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (urgent) {
      queue_.push_front(std::move(task));
    } else {
      queue_.push_back(std::move(task));
    }
  }
  cv_.notify_one();
}

void TaskPool::Wait() {
  std::unique_lock<std::mutex> l(mu_);
  idle_cv_.wait(l, [&] { return queue_.empty() && running_ == 0; });
}

bool TaskPool::WaitFor(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  return idle_cv_.wait_for(l, timeout, [&] { return queue_.empty() && running_ == 0; });
}

void TaskPool::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait(l, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, nothing left
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    l.unlock();
    task();  // tasks catch their own exceptions
    task = nullptr;
    l.lock();
    --running_;
    if (queue_.empty() && running_ == 0) idle_cv_.notify_all();
  }
}

// ---------------------------------------------------------------- run files

namespace {

constexpr size_t kRunIndexEvery = size_t{64} << 10;  // bytes between index marks
constexpr size_t kRunWriteBuffer = size_t{1} << 20;
// A merge reads every run at once: each cursor's buffer is a share of
// kRunReadBudget, between these bounds (542 runs of an index key space at
// 100 M devices: 64 KiB each).
constexpr size_t kRunReadBudget = size_t{16} << 20;
constexpr size_t kRunReadBufferMin = size_t{64} << 10;
constexpr size_t kRunReadBufferMax = size_t{256} << 10;

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError("import: cannot " + what + " sort run '" + path + "': " +
                         std::strerror(errno));
}

}  // namespace

struct ExternalSorter::Run {
  std::string path;
  uint64_t bytes = 0;  // file size
  struct Mark {
    std::string key;  // the first key at or after `offset`'s 64 KiB boundary
    uint64_t offset;  // where its pair starts
  };
  std::vector<Mark> index;
};

namespace {

class RunWriter {
 public:
  ~RunWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return Errno("create", path);
    buf_.reserve(kRunWriteBuffer + 4096);
    return Status::Ok();
  }
  Status Add(std::string_view key, std::string_view value, ExternalSorter::Run* run) {
    const uint64_t at = written_ + buf_.size();
    if (at >= next_mark_) {
      run->index.push_back({std::string(key), at});
      next_mark_ = at + kRunIndexEvery;
    }
    storage::PutLengthPrefixed(&buf_, key);
    storage::PutLengthPrefixed(&buf_, value);
    if (buf_.size() >= kRunWriteBuffer) return Flush();
    return Status::Ok();
  }
  Status Finish(ExternalSorter::Run* run) {
    CANOPY_RETURN_IF_ERROR(Flush());
    if (::close(fd_) != 0) {
      fd_ = -1;
      return Errno("close", path_);
    }
    fd_ = -1;
    run->bytes = written_;
    return Status::Ok();
  }

 private:
  Status Flush() {
    const char* p = buf_.data();
    size_t n = buf_.size();
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Errno("write", path_);
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    written_ += buf_.size();
    buf_.clear();
    return Status::Ok();
  }
  std::string path_;
  int fd_ = -1;
  std::string buf_;
  uint64_t written_ = 0;
  uint64_t next_mark_ = 0;
};

// A piece's pairs in [begin, end).
class PieceCursor final : public SortedCursor {
 public:
  PieceCursor(std::shared_ptr<const KvBuffer> kv, std::string_view begin, std::string_view end)
      : kv_(std::move(kv)) {
    i_ = Bound(begin, 0);
    end_ = end.empty() ? kv_->size() : Bound(end, i_);
  }
  bool Valid() const override { return i_ < end_; }
  std::string_view key() const override { return kv_->key(i_); }
  std::string_view value() const override { return kv_->value(i_); }
  void Next() override {
    ++i_;
    kv_->Prefetch(i_ + 8);
  }
  Status status() const override { return Status::Ok(); }
  uint64_t prefix(int w) const { return kv_->prefix(i_, w); }

 private:
  // The first index at or after `from` whose key is >= k.
  size_t Bound(std::string_view k, size_t from) const {
    if (k.empty()) return from;
    const uint64_t k0 = KvBuffer::Word(k, 0), k1 = KvBuffer::Word(k, 8);
    size_t lo = from, hi = kv_->size();
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      if (KvBuffer::CompareKeys(kv_->prefix(mid, 0), kv_->prefix(mid, 1), kv_->key(mid), k0, k1,
                                k) < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
  std::shared_ptr<const KvBuffer> kv_;
  size_t i_ = 0;
  size_t end_ = 0;
};

// A run file's pairs in [begin, end). The file is open only while a
// buffer is filled: a merge reads hundreds of runs at once on each of
// several threads, which would otherwise hold that many descriptors and
// fail (EMFILE) under the common limit of 1,024.
class RunCursor final : public SortedCursor {
 public:
  RunCursor(const ExternalSorter::Run& run, std::string_view begin, std::string_view end,
            size_t buffer)
      : path_(run.path), file_end_(run.bytes), end_key_(end) {
    // Start at the last mark whose key is below `begin` (pairs equal to
    // `begin` may end the block before a mark that starts with it).
    uint64_t start = 0;
    if (!begin.empty()) {
      auto it = std::lower_bound(run.index.begin(), run.index.end(), begin,
                                 [](const ExternalSorter::Run::Mark& m, std::string_view k) {
                                   return std::string_view(m.key) < k;
                                 });
      if (it != run.index.begin()) start = std::prev(it)->offset;
    }
    file_pos_ = start;
    buf_.resize(buffer);
    Next();
    while (valid_ && !begin.empty() && key_ < begin) Next();
  }
  bool Valid() const override { return valid_; }
  std::string_view key() const override { return key_; }
  std::string_view value() const override { return value_; }
  Status status() const override { return status_; }
  void Next() override {
    valid_ = false;
    if (!status_.ok()) return;
    while (true) {
      std::string_view in(buf_.data() + pos_, filled_ - pos_);
      if (storage::GetLengthPrefixed(&in, &key_) && storage::GetLengthPrefixed(&in, &value_)) {
        pos_ = static_cast<size_t>(in.data() - buf_.data());
        if (!end_key_.empty() && key_ >= end_key_) return;  // past the range
        valid_ = true;
        return;
      }
      // Not a whole pair left in the buffer: move the rest to the front
      // and read more (growing the buffer for a pair larger than it).
      const size_t rest = filled_ - pos_;
      if (file_pos_ >= file_end_) {
        if (rest != 0) status_ = Status::Corruption("import: sort run '" + path_ + "' is truncated");
        return;
      }
      std::memmove(buf_.data(), buf_.data() + pos_, rest);
      pos_ = 0;
      filled_ = rest;
      if (filled_ == buf_.size()) buf_.resize(buf_.size() * 2);
      if (!Fill()) return;
    }
  }

 private:
  // Reads the rest of the buffer (or of the file) at file_pos_; false
  // with status_ set when the file cannot be opened or read.
  bool Fill() {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      status_ = Errno("open", path_);
      return false;
    }
    const size_t want = std::min<uint64_t>(buf_.size() - filled_, file_end_ - file_pos_);
    ssize_t got;
    do {
      got = ::pread(fd, buf_.data() + filled_, want, static_cast<off_t>(file_pos_));
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      status_ = got < 0 ? Errno("read", path_)
                        : Status::Corruption("import: sort run '" + path_ + "' is truncated");
      ::close(fd);
      return false;
    }
    ::close(fd);
    filled_ += static_cast<size_t>(got);
    file_pos_ += static_cast<uint64_t>(got);
    return true;
  }

  std::string path_;
  uint64_t file_pos_ = 0;  // next byte of the file to read
  uint64_t file_end_;
  std::string end_key_;
  std::string buf_;
  size_t pos_ = 0;     // next pair in buf_
  size_t filled_ = 0;  // bytes of buf_ holding file data
  std::string_view key_, value_;
  bool valid_ = false;
  Status status_;
};

// The k-way merge of sorted cursors; equal keys in cursor order. Each
// source's current key is cached with its prefix words, so a comparison
// calls no virtual function and mostly touches no key bytes.
class MergeCursor final : public SortedCursor {
 public:
  explicit MergeCursor(std::vector<std::unique_ptr<SortedCursor>> sources)
      : sources_(std::move(sources)) {
    heads_.resize(sources_.size());
    for (size_t i = 0; i < sources_.size(); ++i) {
      if (!sources_[i]->status().ok() && status_.ok()) status_ = sources_[i]->status();
      if (sources_[i]->Valid()) {
        Load(i);
        heap_.push_back(static_cast<uint32_t>(i));
      }
    }
    if (!status_.ok()) {
      heap_.clear();
      return;
    }
    std::make_heap(heap_.begin(), heap_.end(), [this](uint32_t a, uint32_t b) { return Less(b, a); });
  }
  bool Valid() const override { return !heap_.empty(); }
  std::string_view key() const override { return heads_[heap_[0]].key; }
  std::string_view value() const override { return sources_[heap_[0]]->value(); }
  Status status() const override { return status_; }
  void Next() override {
    const uint32_t top = heap_[0];
    sources_[top]->Next();
    if (!sources_[top]->Valid()) {
      if (!sources_[top]->status().ok()) {
        status_ = sources_[top]->status();
        heap_.clear();
        return;
      }
      heap_[0] = heap_.back();
      heap_.pop_back();
      if (heap_.empty()) return;
    } else {
      Load(top);
    }
    SiftDown();
  }

 private:
  struct Head {
    uint64_t p0, p1;
    std::string_view key;
  };
  void Load(size_t i) {
    Head& h = heads_[i];
    h.key = sources_[i]->key();
    h.p0 = KvBuffer::Word(h.key, 0);
    h.p1 = KvBuffer::Word(h.key, 8);
  }
  bool Less(uint32_t a, uint32_t b) const {
    const Head& x = heads_[a];
    const Head& y = heads_[b];
    const int c = KvBuffer::CompareKeys(x.p0, x.p1, x.key, y.p0, y.p1, y.key);
    return c < 0 || (c == 0 && a < b);
  }
  void SiftDown() {
    const size_t n = heap_.size();
    size_t i = 0;
    const uint32_t moving = heap_[0];
    while (true) {
      size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && Less(heap_[child + 1], heap_[child])) ++child;
      if (!Less(heap_[child], moving)) break;
      heap_[i] = heap_[child];
      i = child;
    }
    heap_[i] = moving;
  }
  std::vector<std::unique_ptr<SortedCursor>> sources_;
  std::vector<Head> heads_;
  std::vector<uint32_t> heap_;  // a min-heap of source indexes
  Status status_;
};

}  // namespace

// ---------------------------------------------------------------- sorter

ExternalSorter::ExternalSorter(PathFn make_path) : make_path_(std::move(make_path)) {}
ExternalSorter::~ExternalSorter() = default;

void ExternalSorter::Add(KvBuffer piece) {
  if (piece.empty()) return;
  std::lock_guard<std::mutex> l(mu_);
  size_ += piece.size();
  bytes_ += piece.bytes();
  memory_ += piece.memory();
  memory_pairs_ += piece.size();
  pieces_.push_back({std::make_shared<const KvBuffer>(std::move(piece))});
}

uint64_t ExternalSorter::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return size_;
}
uint64_t ExternalSorter::bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_;
}
size_t ExternalSorter::memory() const {
  std::lock_guard<std::mutex> l(mu_);
  return memory_;
}
uint64_t ExternalSorter::memory_pairs() const {
  std::lock_guard<std::mutex> l(mu_);
  return memory_pairs_;
}
size_t ExternalSorter::pieces() const {
  std::lock_guard<std::mutex> l(mu_);
  return pieces_.size();
}
size_t ExternalSorter::runs() const {
  std::lock_guard<std::mutex> l(mu_);
  return runs_.size();
}

Status ExternalSorter::Spill() {
  std::vector<Piece> taken;
  Run* run = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (pieces_.empty()) return Status::Ok();
    taken.swap(pieces_);
    memory_pairs_ = 0;
    // The run takes its place now: pieces added from here on follow it.
    runs_.push_back(std::make_unique<Run>());
    run = runs_.back().get();
  }
  size_t freed = 0;
  std::vector<std::unique_ptr<SortedCursor>> sources;
  for (const Piece& p : taken) {
    freed += p.kv->memory();
    sources.push_back(std::make_unique<PieceCursor>(p.kv, "", ""));
  }
  CANOPY_RETURN_IF_ERROR(make_path_(&run->path));
  RunWriter w;
  CANOPY_RETURN_IF_ERROR(w.Open(run->path));
  MergeCursor merged(std::move(sources));
  for (; merged.Valid(); merged.Next()) {
    CANOPY_RETURN_IF_ERROR(w.Add(merged.key(), merged.value(), run));
  }
  CANOPY_RETURN_IF_ERROR(w.Finish(run));
  taken.clear();
  std::lock_guard<std::mutex> l(mu_);
  memory_ -= freed;
  return Status::Ok();
}

std::unique_ptr<SortedCursor> ExternalSorter::Read(std::string_view begin,
                                                   std::string_view end) const {
  std::vector<std::unique_ptr<SortedCursor>> sources;
  std::lock_guard<std::mutex> l(mu_);
  const size_t buffer =
      runs_.empty() ? 0
                    : std::clamp(kRunReadBudget / runs_.size(), kRunReadBufferMin, kRunReadBufferMax);
  for (const auto& r : runs_) {
    sources.push_back(std::make_unique<RunCursor>(*r, begin, end, buffer));
  }
  for (const Piece& p : pieces_) sources.push_back(std::make_unique<PieceCursor>(p.kv, begin, end));
  if (sources.size() == 1) return std::move(sources[0]);
  return std::make_unique<MergeCursor>(std::move(sources));
}

void ExternalSorter::Release() {
  std::lock_guard<std::mutex> l(mu_);
  pieces_.clear();
  memory_ = 0;
  memory_pairs_ = 0;
}

std::vector<std::string> ExternalSorter::Splitters(size_t parts) const {
  std::lock_guard<std::mutex> l(mu_);
  if (parts <= 1 || size_ == 0) return {};
  // (key, bytes it stands for)
  std::vector<std::pair<std::string_view, double>> sample;
  for (const auto& r : runs_) {
    const double each = r->index.empty() ? 0 : static_cast<double>(r->bytes) / r->index.size();
    for (const auto& m : r->index) sample.push_back({m.key, each});
  }
  for (const Piece& p : pieces_) {
    const size_t step = 64;
    const double each = static_cast<double>(p.kv->bytes()) * step / p.kv->size();
    for (size_t i = 0; i < p.kv->size(); i += step) sample.push_back({p.kv->key(i), each});
  }
  std::sort(sample.begin(), sample.end());
  double total = 0;
  for (const auto& s : sample) total += s.second;
  std::vector<std::string> out;
  double seen = 0;
  size_t next = 1;
  for (size_t i = 0; i < sample.size() && next < parts; ++i) {
    // A cut before sample i once the ones before it hold next/parts.
    if (seen >= total * static_cast<double>(next) / static_cast<double>(parts)) {
      if (i > 0 && (out.empty() || sample[i].first > out.back()) &&
          sample[i].first > sample[0].first) {
        out.emplace_back(sample[i].first);
      }
      ++next;
    }
    seen += sample[i].second;
  }
  return out;
}

}  // namespace canopy::engine
