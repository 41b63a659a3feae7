// Copyright (c) Canopy authors.

#include "tests/crash/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace canopy::crash {

namespace {

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write " + path);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::vector<std::string> SplitTabs(const std::string& s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == '\t') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

}  // namespace

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status JournalWriter::Open(const std::string& path) {
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) return Errno("open " + path);
  return Status::Ok();
}

Status JournalWriter::Append(const std::string& line) {
  CANOPY_RETURN_IF_ERROR(WriteAll(fd_, line + "\n", path_));
  if (::fdatasync(fd_) != 0) return Errno("fdatasync " + path_);
  return Status::Ok();
}

std::string EncodeIntent(uint64_t seq, const std::string& op, const Effects& effects) {
  std::string line = "I\t" + std::to_string(seq) + "\t" + op;
  for (const auto& [k, v] : effects) {
    line += "\t" + k + "\t" + (v ? *v : "-");
  }
  return line;
}

Status ReadJournal(const std::string& path, std::vector<Record>* out) {
  out->clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("no journal " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    if (nl == std::string::npos) break;  // torn by the kill: never completed
    std::vector<std::string> f = SplitTabs(all.substr(pos, nl - pos));
    pos = nl + 1;
    Record r;
    if (f[0].size() != 1) return Status::Corruption(path + ": bad record '" + f[0] + "'");
    r.type = f[0][0];
    switch (r.type) {
      case 'H':
        if (f.size() > 3) r.seq = std::stoull(f[3]);
        break;
      case 'O':
        break;
      case 'I':
        if (f.size() < 3 || (f.size() - 3) % 2 != 0) {
          return Status::Corruption(path + ": bad intent record");
        }
        r.seq = std::stoull(f[1]);
        r.op = f[2];
        for (size_t i = 3; i + 1 < f.size(); i += 2) {
          if (f[i + 1] == "-") {
            r.effects.emplace_back(f[i], std::nullopt);
          } else {
            r.effects.emplace_back(f[i], f[i + 1]);
          }
        }
        break;
      case 'A':
      case 'R':
        if (f.size() < 2) return Status::Corruption(path + ": bad result record");
        r.seq = std::stoull(f[1]);
        if (f.size() > 2) r.op = f[2];
        break;
      default:
        return Status::Corruption(path + ": unknown record type '" + f[0] + "'");
    }
    out->push_back(std::move(r));
  }
  return Status::Ok();
}

Status WriteFileSynced(const std::string& path, const std::string& contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open " + path);
  Status s = WriteAll(fd, contents, path);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("fsync " + path);
  ::close(fd);
  return s;
}

Status SyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open folder " + path);
  Status s;
  if (::fsync(fd) != 0) s = Errno("fsync folder " + path);
  ::close(fd);
  return s;
}

Status WriteStateFile(const std::string& path, int threads, const Flat& flat) {
  std::string out = "canopy-crash-state 1\nthreads\t" + std::to_string(threads) + "\n";
  for (const auto& [k, v] : flat) out += k + "\t" + v + "\n";
  out += "end\t" + std::to_string(flat.size()) + "\n";
  const std::string tmp = path + ".tmp";
  CANOPY_RETURN_IF_ERROR(WriteFileSynced(tmp, out));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename " + tmp);
  std::string dir = path.substr(0, path.find_last_of('/'));
  return SyncDir(dir.empty() ? "." : dir);
}

Status ReadStateFile(const std::string& path, int* threads, Flat* flat) {
  flat->clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("no state file " + path);
  std::string line;
  if (!std::getline(in, line) || line != "canopy-crash-state 1") {
    return Status::Corruption(path + ": not a state file");
  }
  bool ended = false;
  while (std::getline(in, line)) {
    std::vector<std::string> f = SplitTabs(line);
    if (f.size() != 2) return Status::Corruption(path + ": bad line '" + line + "'");
    if (f[0] == "threads") {
      *threads = std::stoi(f[1]);
    } else if (f[0] == "end") {
      if (std::stoull(f[1]) != flat->size()) return Status::Corruption(path + ": bad count");
      ended = true;
    } else {
      (*flat)[f[0]] = f[1];
    }
  }
  if (!ended) return Status::Corruption(path + ": no end line");
  return Status::Ok();
}

std::string JournalPath(const std::string& dir, int thread) {
  return dir + "/journal-t" + std::to_string(thread) + ".log";
}
std::string ExportPath(const std::string& dir, int thread) {
  return dir + "/export-t" + std::to_string(thread) + ".jsonl";
}
std::string ImportPath(const std::string& dir, int thread) {
  return dir + "/import-t" + std::to_string(thread) + ".jsonl";
}

}  // namespace canopy::crash
