// Copyright (c) Canopy authors.
//
// A file descriptor owned by one scope: closed when the scope ends, or
// earlier by Close() (which reports what close() said).
//
// Thread safety: a plain value; one thread uses it at a time.

#ifndef CANOPY_STORAGE_FD_H_
#define CANOPY_STORAGE_FD_H_

#include <unistd.h>

#include <utility>

namespace canopy::storage {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now: false (errno set) when close reports an error.
  bool Close() {
    const int fd = std::exchange(fd_, -1);
    return fd < 0 || ::close(fd) == 0;
  }

 private:
  int fd_;
};

}  // namespace canopy::storage

#endif  // CANOPY_STORAGE_FD_H_
