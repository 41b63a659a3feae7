// Copyright (c) Canopy authors.
//
// The routes of docs/http.md over the public API. Each handler parses its
// parameters (an unknown or malformed one is 400, naming it), asks the Db
// as the server's viewer, and answers JSON built with canopy/json.h. The
// engine's refusals keep their message; their code picks the HTTP status
// (StatusOf).

#include "server.h"

#include <httplib.h>
#include <simdjson.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "canopy/json.h"
#include "static_assets.h"

namespace canopy::http {

namespace {

constexpr size_t kMaxPageSize = 10000;
constexpr size_t kMaxAuditPage = 1000;
constexpr const char* kJson = "application/json";

// A request that cannot be answered: the HTTP status and the message.
struct HttpError {
  int status;
  std::string message;
};

int StatusOf(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return 200;
    case Code::kNotFound:
      return 404;
    case Code::kInvalidArgument:
      return 400;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
      return 409;
    case Code::kPermissionDenied:
      return 403;
    case Code::kCompacted:  // a revision the log no longer keeps
      return 410;
    case Code::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void Reply(httplib::Response& res, int status, const std::string& json) {
  res.status = status;
  res.set_content(json, kJson);
}

// The error body: {"status":403,"code":"PermissionDenied","message":"..."}.
void ReplyError(httplib::Response& res, int status, const std::string& code,
                const std::string& message) {
  Reply(res, status,
        JsonObject().Int("status", status).Str("code", code).Str("message", message).str());
}

void ReplyStatus(httplib::Response& res, const Status& s) {
  ReplyError(res, StatusOf(s), CodeName(s.code()), ShortMessage(s.message()));
}

// ---- Query parameters ----------------------------------------------------

// A query name or value decoded as a form's: '+' is a space and "%XX" (two
// hexadecimal digits) the byte XX; any other '%' stays as it is. (httplib's
// decoder also reads IIS's "%uXXXX", which no form encodes, and turns a
// surrogate there into nothing: a filter named that way vanished.)
std::string FormDecode(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The query parameters of one request, checked against those the route
// accepts ("token" is accepted everywhere).
class Params {
 public:
  Params(const httplib::Request& req, std::set<std::string> known) {
    known.insert("token");
    // The values are read from the raw query, each '&' piece split at its
    // first '=' and decoded: httplib's parsed parameters keep one of two
    // identical name=value pairs and cut a value at a raw '=' inside it
    // (attribute=color=red). A name given twice is refused; so is a name
    // or value that is not UTF-8 (it could not be echoed in a JSON error).
    const auto q = req.target.find('?');
    std::string_view rest =
        q == std::string::npos ? std::string_view() : std::string_view(req.target).substr(q + 1);
    while (!rest.empty()) {
      const size_t amp = rest.find('&');
      const std::string_view piece = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (piece.empty()) continue;
      const size_t eq = piece.find('=');
      const std::string name = FormDecode(piece.substr(0, eq));
      std::string value =
          eq == std::string_view::npos ? std::string() : FormDecode(piece.substr(eq + 1));
      for (const std::string* text : {&name, static_cast<const std::string*>(&value)}) {
        for (size_t i = 0; i < text->size();) {
          const size_t n = Utf8CharLength(std::string_view(*text).substr(i));
          if (n == 0) {
            throw HttpError{400, (text == &name ? "a parameter name" : "parameter '" + name + "'") +
                                     std::string(" is not valid UTF-8")};
          }
          i += n;
        }
      }
      if (name.empty()) {
        throw HttpError{400, "a parameter has no name (value '" + value + "')"};
      }
      if (!values_.emplace(name, std::move(value)).second) {
        throw HttpError{400, "parameter '" + name + "' given more than once"};
      }
    }
    for (const auto& [name, value] : values_) {
      if (!known.count(name)) throw HttpError{400, "unknown parameter '" + name + "'"};
    }
    // httplib's parsed parameters also hold a form body's.
    for (const auto& [name, value] : req.params) {
      if (!values_.count(name)) throw HttpError{400, "unknown parameter '" + name + "'"};
    }
  }
  std::optional<std::string> Get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  // A parameter that names something (a key, a permission, a filter): when
  // given, not empty. An empty one is refused, never read as left out (no
  // filter at all), as the command line refuses an empty flag value.
  std::optional<std::string> Named(const std::string& name, const char* what) const {
    auto v = Get(name);
    if (v && v->empty()) {
      throw HttpError{400, "parameter '" + name + "' is empty: give " + what +
                               ", or leave the parameter out"};
    }
    return v;
  }
  std::string Require(const std::string& name) const {
    auto v = Get(name);
    if (!v || v->empty()) throw HttpError{400, "parameter '" + name + "' is required"};
    return *v;
  }
  uint64_t Number(const std::string& name, uint64_t lo, uint64_t hi, uint64_t fallback) const {
    auto v = Get(name);
    if (!v) return fallback;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (v->empty() || ec != std::errc() || end != v->data() + v->size() || n < lo || n > hi) {
      throw HttpError{400, "parameter '" + name + "' must be a number from " + std::to_string(lo) +
                               " to " + std::to_string(hi) + ", not '" + *v + "'"};
    }
    return n;
  }
  bool Flag(const std::string& name) const {
    auto v = Get(name);
    if (!v) return false;
    if (*v == "true" || *v == "1" || v->empty()) return true;
    if (*v == "false" || *v == "0") return false;
    throw HttpError{400, "parameter '" + name + "' must be true or false, not '" + *v + "'"};
  }

 private:
  std::map<std::string, std::string> values_;
};

// ---- JSON bodies ---------------------------------------------------------

// A request body: one JSON object whose fields are among `known`.
class Body {
 public:
  Body(const httplib::Request& req, const std::set<std::string>& known) {
    if (parser_.parse(req.body).get(doc_) != simdjson::SUCCESS ||
        doc_.type() != simdjson::dom::element_type::OBJECT) {
      simdjson::dom::element probe;
      auto err = parser_.parse(req.body).get(probe);
      throw HttpError{400, err != simdjson::SUCCESS
                               ? std::string("the body is not valid JSON: ") +
                                     simdjson::error_message(err)
                               : "the body must be a JSON object"};
    }
    simdjson::dom::object object;
    if (doc_.get(object) != simdjson::SUCCESS) throw HttpError{400, "the body must be a JSON object"};
    std::set<std::string> seen;
    for (auto field : object) {
      std::string key(field.key);
      if (!known.count(key)) throw HttpError{400, "unknown field '" + key + "'"};
      // JSON leaves a repeated name's meaning open; refuse it rather than
      // pick one.
      if (!seen.insert(key).second) throw HttpError{400, "field '" + key + "' given more than once"};
    }
  }
  std::optional<std::string> Str(const char* name) const {
    simdjson::dom::element e;
    if (doc_[name].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
    std::string_view v;
    if (e.get(v) != simdjson::SUCCESS) {
      throw HttpError{400, std::string("field '") + name + "' must be a string"};
    }
    return std::string(v);
  }
  std::string RequireStr(const char* name) const {
    auto v = Str(name);
    if (!v || v->empty()) throw HttpError{400, std::string("field '") + name + "' is required"};
    return *v;
  }
  std::optional<bool> Bool(const char* name) const {
    simdjson::dom::element e;
    if (doc_[name].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
    bool v = false;
    if (e.get(v) != simdjson::SUCCESS) {
      throw HttpError{400, std::string("field '") + name + "' must be true or false"};
    }
    return v;
  }
  // An optional array of strings: empty when absent or null.
  std::vector<std::string> OptionalStrings(const char* name) const {
    simdjson::dom::element e;
    if (doc_[name].get(e) != simdjson::SUCCESS || e.is_null()) return {};
    return Strings(name);
  }
  std::vector<std::string> Strings(const char* name) const {
    simdjson::dom::element e;
    if (doc_[name].get(e) != simdjson::SUCCESS) {
      throw HttpError{400, std::string("field '") + name + "' is required"};
    }
    simdjson::dom::array a;
    if (e.get(a) != simdjson::SUCCESS) {
      throw HttpError{400, std::string("field '") + name + "' must be an array of strings"};
    }
    std::vector<std::string> out;
    for (auto item : a) {
      std::string_view v;
      if (item.get(v) != simdjson::SUCCESS) {
        throw HttpError{400, std::string("field '") + name + "' must be an array of strings"};
      }
      out.emplace_back(v);
    }
    return out;
  }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element doc_;
};

// The value of one cookie in the Cookie header, or ""; *twice tells
// whether the header names it more than once.
std::string CookieValue(const httplib::Request& req, const std::string& name, bool* twice) {
  const std::string header = req.get_header_value("Cookie");
  std::string value;
  bool found = false;
  *twice = false;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    size_t start = part.find_first_not_of(' ');
    if (start != std::string::npos) part = part.substr(start);
    if (part.size() > name.size() && part.compare(0, name.size(), name) == 0 &&
        part[name.size()] == '=') {
      if (found) *twice = true;
      if (!found) value = part.substr(name.size() + 1);
      found = true;
    }
    pos = end + 1;
  }
  return value;
}

// Compares without stopping at the first difference (the time taken says
// nothing about how much of a guess was right).
bool SameToken(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string RandomToken() {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) out.push_back(kHex[rd() & 15]);
  return out;
}

// A page of results in the platform servers' shape: data, totalElements
// (when known), hasNext and the cursor of the next page.
std::string PageJson(const std::string& data, std::optional<uint64_t> total,
                     const std::string& next_cursor, uint64_t revision) {
  JsonObject o;
  o.Raw("data", data);
  if (total) o.Uint("totalElements", *total);
  o.Bool("hasNext", !next_cursor.empty())
      .Raw("nextPage", next_cursor.empty() ? "null" : JsonString(next_cursor))
      .Uint("revision", revision);
  return o.Take();
}

// Request threads beyond ServerOptions::threads, at most (ElasticPool).
constexpr size_t kMaxExtraThreads = 64;

// The server's connections, kept in sight from outside cpp-httplib (Debian
// builds it as a library whose connection handling is private). The
// library bounds each read and write of a socket (5 s), not a whole
// request or answer: a client that sends its headers or its body a byte at
// a time, or reads an answer a few bytes at a time, holds a pool thread as
// long as it likes, and a few such clients stall every other request, and
// Stop, which waits for the pool. A watchdog lists the process's sockets
// connected to the server's port every 200 ms (/proc/self/fd) and gives
// each connection `deadline` for each step that waits for the client:
// - its next request's headers, from its opening or its last answer
//   (until a request with the token comes, at most kFirstDeadline);
// - the body of a request with the token, from its headers;
// - taking an answer: the answer's bytes still unsent `deadline` after it
//   began to be written.
// Past it the connection is shut (the reading side while the server reads,
// both sides while it writes), which ends the library's wait. A request
// being answered (from its handler's start to its answer: a write waiting
// for etcd, say) is never cut, and the clock of a connection with bytes
// the server has not read yet (queued for a thread) starts again. Stopping
// shortens every deadline to a second.
//
// A connection is known by its socket (the descriptor's inode), not by its
// peer's address alone: a client that reconnects from the same address
// and port between two scans gets a new connection's clock, never the
// state of the one before (which the watchdog may have cut).
class ConnectionWatch {
 public:
  // `behind`: the request threads' pool has connections waiting for a
  // thread (ElasticPool).
  ConnectionWatch(std::chrono::milliseconds deadline, std::shared_ptr<std::atomic<bool>> behind)
      : deadline_(deadline), behind_(std::move(behind)) {}
  ~ConnectionWatch() { End(); }

  void Start(int port, int listen_fd) {
    port_ = port;
    listen_fd_ = listen_fd;
    socklen_t n = sizeof(listen_addr_);
    if (listen_fd < 0 ||
        ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&listen_addr_), &n) != 0) {
      listen_addr_ = sockaddr_storage{};
    }
    thread_ = std::thread([this] { Watch(); });
  }
  // A request with the token arrived on the connection from `peer` (its
  // headers read): its body, if any, is read next. Also for a connection
  // no scan has seen yet.
  void Heard(const std::string& peer) { Step(peer, Phase::kBody, /*heard=*/true); }
  // The request's handler starts: it is never cut until Answered (a write
  // waiting for etcd may take seconds).
  void Handling(const std::string& peer) { Step(peer, Phase::kHandling, /*heard=*/true); }
  // The answer to its request is about to be written: the clocks for
  // taking it and for the next request's headers start.
  void Answered(const std::string& peer) { Step(peer, Phase::kWriting, /*heard=*/false); }
  // Shortens every deadline to `grace` (Stop).
  void Hurry(std::chrono::milliseconds grace) {
    std::lock_guard<std::mutex> g(mu_);
    deadline_ = std::min(deadline_, grace);
    stopping_ = true;
    cv_.notify_all();
  }
  void End() {
    {
      std::lock_guard<std::mutex> g(mu_);
      ending_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

  // A connection's name, "LOCAL_ADDR:PORT>PEER_ADDR:PORT", from what the
  // library gives in a request: both ends, since one client port may be
  // connected to two of the server's addresses at once.
  static std::string ConnName(const httplib::Request& req) {
    return Name(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
  }
  static std::string Name(const std::string& local, int local_port, const std::string& peer,
                          int peer_port) {
    return local + ":" + std::to_string(local_port) + ">" + peer + ":" + std::to_string(peer_port);
  }

 private:
  using Clock = std::chrono::steady_clock;
  enum class Phase {
    kWaiting,   // for a request's headers
    kBody,      // reading the body of a request with the token
    kHandling,  // its handler runs
    kWriting,   // its answer is written (then: waiting for the next request)
  };
  struct Conn {
    ino_t socket = 0;         // the descriptor's inode (0: not seen by a scan yet)
    Clock::time_point since;  // when the current step began
    Clock::time_point touched;  // the last Heard, Handling or Answered (epoch: none yet)
    Clock::time_point first_seen;  // by a scan
    Phase phase = Phase::kWaiting;
    bool heard = false;    // a request with the token came on it
    bool shut = false;     // its reading side was shut
    bool cut = false;      // both sides were shut
    bool present = false;  // seen in the latest scan
  };

  void Step(const std::string& peer, Phase phase, bool heard) {
    std::lock_guard<std::mutex> g(mu_);
    Conn& c = conns_[peer];
    const auto now = Clock::now();
    c.touched = now;
    c.heard = c.heard || heard;
    // Until a request with the token comes, the clock runs from the
    // connection's start: refused answers do not restart it, or a client
    // without the token would hold a thread past kFirstDeadline by sending
    // a refused request now and then.
    if (c.heard || c.since == Clock::time_point{}) c.since = now;
    c.phase = phase;
  }

  // The name (ConnName) of `fd` when it is a socket connected to this
  // server's port.
  std::optional<std::string> PeerOf(int fd) const {
    if (fd == listen_fd_) return std::nullopt;
    sockaddr_storage local{}, peer{};
    socklen_t n = sizeof(local);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &n) != 0) return std::nullopt;
    if (PortOf(local) != port_ || !SameAddress(local)) return std::nullopt;
    n = sizeof(peer);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &n) != 0) return std::nullopt;
    auto text = [](const sockaddr_storage& a) -> std::optional<std::string> {
      char host[INET6_ADDRSTRLEN] = {0};
      const void* in = a.ss_family == AF_INET6
                           ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr)
                           : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&a)->sin_addr);
      if (::inet_ntop(a.ss_family, in, host, sizeof(host)) == nullptr) return std::nullopt;
      return std::string(host);
    };
    auto l = text(local), p = text(peer);
    if (!l || !p) return std::nullopt;
    return Name(*l, PortOf(local), *p, PortOf(peer));
  }
  // Whether a connection's local address is one the server listens on (any
  // address when it listens on all): another server of this process may
  // use the same port on another address.
  bool SameAddress(const sockaddr_storage& local) const {
    if (listen_addr_.ss_family == AF_INET) {
      const auto& l = reinterpret_cast<const sockaddr_in&>(listen_addr_);
      if (l.sin_addr.s_addr == htonl(INADDR_ANY)) return true;
      return local.ss_family == AF_INET &&
             reinterpret_cast<const sockaddr_in&>(local).sin_addr.s_addr == l.sin_addr.s_addr;
    }
    if (listen_addr_.ss_family == AF_INET6) {
      const auto& l = reinterpret_cast<const sockaddr_in6&>(listen_addr_);
      if (IN6_IS_ADDR_UNSPECIFIED(&l.sin6_addr)) return true;
      return local.ss_family == AF_INET6 &&
             IN6_ARE_ADDR_EQUAL(&reinterpret_cast<const sockaddr_in6&>(local).sin6_addr,
                                &l.sin6_addr);
    }
    return true;  // unknown: by port alone
  }
  static int PortOf(const sockaddr_storage& a) {
    if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
    if (a.ss_family == AF_INET6) {
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
    }
    return -1;
  }
  // The socket of `fd` is still the one listed (`peer`, `socket`): a
  // descriptor closed and reused meanwhile is left alone.
  bool Still(int fd, const std::string& peer, ino_t socket) const {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && st.st_ino == socket && PeerOf(fd) == peer;
  }

  void Scan() {
    struct Found {
      int fd;
      std::string peer;
      ino_t socket;
      bool pending;   // bytes sent by the client and not yet read
      bool unsent;    // bytes of an answer not yet taken by the client
    };
    std::vector<Found> found;
    const auto listed_at = Clock::now();
    std::error_code ec;
    // (Stepped with an error code: descriptors close while it is listed.)
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
         it.increment(ec)) {
      int fd = -1;
      const std::string name = it->path().filename().string();
      if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
      struct stat st {};
      if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
      int unread = 0, queued = 0;
      if (auto peer = PeerOf(fd)) {
        found.push_back(Found{fd, std::move(*peer), st.st_ino,
                              ::ioctl(fd, FIONREAD, &unread) == 0 && unread > 0,
                              ::ioctl(fd, TIOCOUTQ, &queued) == 0 && queued > 0});
      }
    }
    std::lock_guard<std::mutex> g(mu_);
    const auto now = Clock::now();
    for (auto& [peer, c] : conns_) c.present = false;
    for (const auto& [fd, peer, socket, pending, unsent] : found) {
      auto [it, added] = conns_.try_emplace(peer);
      Conn& c = it->second;
      if (added) c.since = now;
      if (c.socket != socket) {
        // A new connection from this peer. What was told of the peer since
        // the scan before may be of this one (its request came before the
        // scan saw it); anything older was of the connection before.
        if (c.socket != 0 && c.touched < last_listed_) {
          c.phase = Phase::kWaiting;
          c.heard = false;
          c.since = now;
          c.touched = Clock::time_point{};
        }
        c.socket = socket;
        c.first_seen = now;
        c.shut = c.cut = false;
      }
      // Unread bytes on a connection no request has come on yet, while
      // the pool has connections waiting for a thread: it may be one of
      // them (the server is behind, not the client), and its clock starts
      // again, for three deadlines at most. Not while every waiting
      // connection has a thread: then unread bytes are a header being
      // streamed to one (a client that sends an endless header held its
      // thread, and grew the server by gigabytes, for 30 s instead of
      // kFirstDeadline). Not later either: a thread that is writing an
      // answer does not read what the client sends meanwhile, and a client
      // streaming a body or a header keeps bytes unread while being read.
      if (pending && c.touched == Clock::time_point{} && behind_->load() &&
          now - c.first_seen < 3 * deadline_) {
        c.since = now;
      }
      c.present = true;
      if (c.cut) continue;
      if (c.phase == Phase::kHandling) continue;  // never, not even when stopping
      // Until a request with the token comes, a connection has
      // kFirstDeadline: anyone who can connect could otherwise hold a pool
      // thread for the whole deadline with a connection that sends nothing
      // (or requests without the token).
      const auto limit = c.heard ? deadline_ : std::min(deadline_, kFirstDeadline);
      if (now - c.since <= limit) continue;
      // The server is writing (an answer not yet taken), or stopping: both
      // sides, which also ends a write; otherwise the reading side, which
      // ends the wait for a request's bytes and lets an answer go out.
      const bool writing = c.phase == Phase::kWriting && unsent;
      if ((writing || stopping_) && Still(fd, peer, socket)) {
        ::shutdown(fd, SHUT_RDWR);
        c.shut = c.cut = true;
      } else if (!c.shut && Still(fd, peer, socket)) {
        ::shutdown(fd, SHUT_RD);
        c.shut = true;
      }
    }
    // Gone, unless told of since the listing began (accepted after it).
    for (auto it = conns_.begin(); it != conns_.end();) {
      it = it->second.present || it->second.touched >= listed_at ? std::next(it)
                                                                 : conns_.erase(it);
    }
    last_listed_ = listed_at;
  }

  void Watch() {
    std::unique_lock<std::mutex> l(mu_);
    while (!ending_) {
      l.unlock();
      Scan();
      l.lock();
      cv_.wait_for(l, std::chrono::milliseconds(200));
    }
  }

  static constexpr std::chrono::milliseconds kFirstDeadline{2000};

  std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::milliseconds deadline_;
  const std::shared_ptr<std::atomic<bool>> behind_;
  bool stopping_ = false;
  bool ending_ = false;
  int port_ = -1;
  int listen_fd_ = -1;
  sockaddr_storage listen_addr_{};
  std::map<std::string, Conn> conns_;
  Clock::time_point last_listed_{};  // when the scan before began listing
  std::thread thread_;
};

// The request threads: `core` threads always, and more, up to `max`, while
// every one is busy when a connection comes (each extra thread ends after
// a few idle seconds). A connection holds its thread while it waits for a
// request, so a fixed pool is held by a handful of clients that connect
// and send nothing, until the watchdog cuts them (ConnectionWatch); the
// extra threads keep serving everyone else meanwhile.
class ElasticPool : public httplib::TaskQueue {
 public:
  // *behind: whether connections wait in the queue with every thread the
  // pool may have busy (the server is behind; ConnectionWatch reads it).
  ElasticPool(size_t core, size_t max, std::shared_ptr<std::atomic<bool>> behind)
      : max_(max), behind_(std::move(behind)) {
    std::lock_guard<std::mutex> g(mu_);
    for (size_t i = 0; i < core; ++i) Spawn(/*core=*/true);
  }
  ~ElasticPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> g(mu_);
    jobs_.push_back(std::move(fn));
    if (idle_ < jobs_.size() && live_ < max_) {
      try {
        Spawn(/*core=*/false);
      } catch (const std::system_error&) {
        // No thread to be had now: the job waits for one of the others.
      }
    }
    NoteBehind();
    cv_.notify_one();
  }

  // Runs the jobs already queued, then returns once every thread ended.
  void shutdown() override {
    std::unique_lock<std::mutex> l(mu_);
    stopping_ = true;
    cv_.notify_all();
    done_.wait(l, [this] { return live_ == 0; });
  }

 private:
  // (Under mu_, which the new thread takes first: it counts itself out
  // only after this counted it in.)
  void Spawn(bool core) {
    std::thread([this, core] { Work(core); }).detach();
    ++live_;
  }

  void Work(bool core) {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      ++idle_;
      const auto ready = [this] { return stopping_ || !jobs_.empty(); };
      if (core) {
        cv_.wait(l, ready);
      } else {
        cv_.wait_for(l, std::chrono::seconds(5), ready);
      }
      --idle_;
      if (jobs_.empty()) {
        if (stopping_ || !core) break;
        continue;
      }
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      NoteBehind();
      l.unlock();
      fn();
      l.lock();
    }
    // The last thing this thread does under the pool's lock: shutdown (and
    // the pool's destruction) waits for it.
    if (--live_ == 0) done_.notify_all();
    NoteBehind();
  }

  // (Under mu_.) Jobs waiting that no idle thread takes, and no thread
  // left to start for them.
  void NoteBehind() { behind_->store(jobs_.size() > idle_ && live_ >= max_); }

  const size_t max_;
  const std::shared_ptr<std::atomic<bool>> behind_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  std::deque<std::function<void()>> jobs_;
  size_t idle_ = 0, live_ = 0;
  bool stopping_ = false;
};

class ServerImpl : public Server {
 public:
  ServerImpl(Db* db, ServerOptions options)
      : db_(*db),
        options_(std::move(options)),
        watch_(std::chrono::milliseconds(options_.request_timeout_ms), behind_) {}
  ~ServerImpl() override { Stop(); }

  // What the listening socket is bound to, as the kernel says (a name
  // such as "localhost" is resolved by then): a loopback address only, or
  // every address of a family.
  void NoteBoundAddress() {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    if (listen_fd_ < 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;  // unknown: not called loopback-only
    }
    if (a.ss_family == AF_INET) {
      const uint32_t ip = ntohl(reinterpret_cast<const sockaddr_in*>(&a)->sin_addr.s_addr);
      loopback_only_ = (ip >> 24) == 127;
      any_v4_ = ip == INADDR_ANY;
    } else if (a.ss_family == AF_INET6) {
      const in6_addr& ip = reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr;
      const bool mapped = IN6_IS_ADDR_V4MAPPED(&ip);
      loopback_only_ = IN6_IS_ADDR_LOOPBACK(&ip) || (mapped && ip.s6_addr[12] == 127);
      any_v6_ = IN6_IS_ADDR_UNSPECIFIED(&ip);
      // ::ffff:0.0.0.0 is every IPv4 address (as IPv6): its loopback is
      // 127.0.0.1, not ::1.
      any_v4_ = mapped && ip.s6_addr[12] == 0 && ip.s6_addr[13] == 0 && ip.s6_addr[14] == 0 &&
                ip.s6_addr[15] == 0;
    }
  }

  Status Bind() {
    if (options_.token.empty()) options_.token = RandomToken();
    if (options_.port < 0 || options_.port > 65535) {
      return Status::InvalidArgument("port " + std::to_string(options_.port) +
                                     " is not in 0..65535");
    }
    if (options_.threads == 0) return Status::InvalidArgument("threads must be at least 1");
    if (options_.request_timeout_ms == 0) {
      return Status::InvalidArgument("request_timeout_ms must be at least 1");
    }
    if (!options_.viewer.is_system() && options_.viewer_login.empty()) {
      return Status::InvalidArgument("a user viewer needs its login (viewer_login)");
    }
    const size_t threads = options_.threads;
    server_.new_task_queue = [threads, behind = behind_] {
      return new ElasticPool(threads, threads + kMaxExtraThreads, behind);
    };
    server_.set_payload_max_length(options_.max_body_bytes);
    // Headers and body are written separately: without TCP_NODELAY a small
    // answer waits for the client's delayed ACK (tens of ms).
    server_.set_tcp_nodelay(true);
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, with
    // which a second server (another process of the same user) binds the
    // same port and the kernel splits the connections between the two.
    server_.set_socket_options([this](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_fd_ = sock;
    });
    Routes();
    if (options_.port == 0) {
      port_ = server_.bind_to_any_port(options_.listen);
    } else {
      port_ = server_.bind_to_port(options_.listen, options_.port) ? options_.port : -1;
    }
    if (port_ <= 0) {
      return Status::IOError("cannot listen on " + options_.listen + ":" +
                             std::to_string(options_.port) +
                             " (address in use, or not an address of this machine)");
    }
    // The library listens with a backlog of 5 (fixed when Debian built
    // it): more clients connecting at once were reset. Listening again
    // sets the backlog of the same socket.
    if (listen_fd_ >= 0) ::listen(listen_fd_, SOMAXCONN);
    NoteBoundAddress();
    watch_.Start(port_, listen_fd_);
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      listen_returned_ = true;
    });
    // Stop only stops a server that runs: wait until it does (or failed).
    while (!server_.is_running() && !listen_returned_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (listen_returned_) {
      thread_.join();
      return Status::IOError("the server on " + options_.listen + ":" + std::to_string(port_) +
                             " stopped as it started");
    }
    return Status::Ok();
  }

  void Stop() override {
    std::lock_guard<std::mutex> lock(stop_mu_);
    watch_.Hurry(std::chrono::milliseconds(1000));
    server_.stop();
    if (thread_.joinable()) thread_.join();
    watch_.End();
  }
  int port() const override { return port_; }
  const std::string& token() const override { return options_.token; }
  std::string url() const override {
    // Listening on every address (0.0.0.0, ::): the URL names this
    // machine's loopback of that family, which a browser can open.
    // (By the text given when the socket's address could not be read.)
    std::string host = any_v4_ || options_.listen == "0.0.0.0" ? "127.0.0.1"
                       : any_v6_ || options_.listen == "::"    ? "::1"
                                                               : options_.listen;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return "http://" + host + ":" + std::to_string(port_) + "/?token=" + options_.token;
  }
  bool loopback_only() const override { return loopback_only_; }

 private:
  using Handler = void (ServerImpl::*)(const httplib::Request&, httplib::Response&);

  // Wraps a handler: HttpError and exceptions become JSON errors.
  httplib::Server::Handler Wrap(Handler h) {
    return [this, h](const httplib::Request& req, httplib::Response& res) {
      watch_.Handling(ConnectionWatch::ConnName(req));
      try {
        (this->*h)(req, res);
      } catch (const Status& s) {
        ReplyStatus(res, s);
      } catch (const HttpError& e) {
        ReplyError(res, e.status, e.status == 413 ? "payload_too_large" : "bad_request", e.message);
      } catch (const std::exception& e) {
        ReplyError(res, 500, "internal", e.what());
      }
    };
  }

  void Routes() {
    // No page of another origin may frame the console (and click it), nor
    // read an answer as another type than it is. Default headers go on
    // every answer, also those the library gives by itself (a request line
    // too long, a method it does not know).
    // Every answer is whole (below): "Accept-Ranges: none" says so, and
    // keeps the library from offering "bytes" on HEAD answers.
    server_.set_default_headers({{"X-Frame-Options", "DENY"},
                                 {"Content-Security-Policy", "frame-ancestors 'none'"},
                                 {"X-Content-Type-Options", "nosniff"},
                                 {"Accept-Ranges", "none"}});
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // Answers go uncompressed. cpp-httplib compresses whenever the client
      // accepts it, with Brotli at its slowest quality when offered (50 ms
      // for the page's script): a loss over loopback. The library has no
      // switch for it, so the header is dropped before it is looked at (the
      // request is the server's own object, handed here as const).
      auto& request = const_cast<httplib::Request&>(req);
      request.headers.erase("Accept-Encoding");
      // Every answer is whole: the library would serve any answer (a JSON
      // page, an error) in the byte ranges a Range header asks for, under
      // 200, and as many of them as it lists (a few kilobytes of header
      // made it build gigabytes).
      request.ranges.clear();
      request.headers.erase("Range");
      if (!Single(req, res) || !Authorize(req, res)) return httplib::Server::HandlerResponse::Handled;
      watch_.Heard(ConnectionWatch::ConnName(req));
      return Admit(req, res)
                 ? httplib::Server::HandlerResponse::Unhandled
                 : httplib::Server::HandlerResponse::Handled;
    });
    // Called before every answer is written (the library's post-routing
    // handler), also for one the pre-routing handler gave.
    server_.set_post_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      watch_.Answered(ConnectionWatch::ConnName(req));
    });
    server_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404) {
        ReplyError(res, 404, "not_found", "no route " + req.method + " " + req.path);
      } else if (res.status == 413) {
        ReplyError(res, 413, "payload_too_large", "the request body is too large");
      } else {
        ReplyError(res, res.status, "bad_request", "the request could not be read");
      }
    });
    server_.Get("/", Wrap(&ServerImpl::Page));
    for (const StaticAsset& a : StaticAssets()) {
      const StaticAsset* asset = &a;
      if (std::string(asset->path) == "/index.html") continue;
      server_.Get(asset->path, [asset](const httplib::Request& req, httplib::Response& res) {
        try {
          Params p(req, {});  // no parameter but the token, as every route
        } catch (const HttpError& e) {
          ReplyError(res, e.status, "bad_request", e.message);
          return;
        }
        res.set_content(reinterpret_cast<const char*>(asset->data), asset->size, asset->type);
      });
    }
    server_.Get("/api/session", Wrap(&ServerImpl::Session));
    server_.Get("/api/accounts", Wrap(&ServerImpl::AccountsTable));
    server_.Get("/api/graph", Wrap(&ServerImpl::Graph));
    server_.Get("/api/users", Wrap(&ServerImpl::Users));
    server_.Get("/api/devices", Wrap(&ServerImpl::Devices));
    server_.Get("/api/check", Wrap(&ServerImpl::Check));
    server_.Get("/api/who-can", Wrap(&ServerImpl::WhoCan));
    server_.Get("/api/audit", Wrap(&ServerImpl::Audit));
    for (const auto& [path, handler] : Writes()) server_.Post(path, Wrap(handler));
  }

  // The routes that write: POST only. Admit answers any other write
  // request 404 before it looks at its body.
  static const std::vector<std::pair<std::string, Handler>>& Writes() {
    static const std::vector<std::pair<std::string, Handler>> writes = {
        {"/api/accounts", &ServerImpl::CreateAccount},
        {"/api/accounts/move", &ServerImpl::MoveAccount},
        {"/api/devices/reassign", &ServerImpl::Reassign},
    };
    return writes;
  }

  // The headers the server decides by, each given at most once (the
  // library keeps the first of several, where a proxy in front may take
  // another: the framing headers so, a request smuggled past it); false
  // after answering 400.
  static bool Single(const httplib::Request& req, httplib::Response& res) {
    for (const char* name :
         {"X-Canopy-Token", "Authorization", "Cookie", "Origin", "Host", "Content-Type",
          "Content-Length", "Transfer-Encoding", "Content-Encoding"}) {
      if (req.get_header_value_count(name) > 1) {
        ReplyError(res, 400, "bad_request",
                   std::string("the header ") + name + " is given more than once");
        return false;
      }
    }
    return true;
  }

  // The console's cookie: named after the port, so that consoles on other
  // ports of the same host (cookies are not kept apart by port) neither
  // replace nor are sent each other's token.
  std::string CookieName() const { return "canopy_token_" + std::to_string(port_); }

  // The token check of every request; false after answering 401 or 403.
  bool Authorize(const httplib::Request& req, httplib::Response& res) {
    // The first of these that is given and not empty. A token given twice
    // is refused whichever comes first (the library keeps one of them).
    if (req.get_param_value_count("token") > 1) {
      ReplyError(res, 400, "bad_request", "parameter 'token' given more than once");
      return false;
    }
    std::string given;
    if (req.has_param("token")) given = req.get_param_value("token");
    if (given.empty() && req.has_header("X-Canopy-Token")) {
      given = req.get_header_value("X-Canopy-Token");
    }
    if (given.empty() && req.has_header("Authorization")) {
      // "Bearer TOKEN", the scheme in any case and one or more spaces after
      // it; a bare token is taken as it is.
      std::string h = req.get_header_value("Authorization");
      if (Lower(h.substr(0, 6)) == "bearer" && (h.size() == 6 || h[6] == ' ')) {
        const size_t at = h.find_first_not_of(' ', 6);
        h = at == std::string::npos ? std::string() : h.substr(at);
      }
      given = h;
    }
    if (given.empty()) {
      bool twice = false;
      given = CookieValue(req, CookieName(), &twice);
      if (twice) {
        ReplyError(res, 400, "bad_request", "cookie '" + CookieName() + "' given more than once");
        return false;
      }
    }
    if (given.empty()) {
      ReplyError(res, 401, "unauthorized",
                 "a token is required: open the URL that 'canopy ui' printed (it ends in "
                 "?token=...), or send the header 'Authorization: Bearer TOKEN'");
      return false;
    }
    if (!SameToken(given, options_.token)) {
      ReplyError(res, 403, "forbidden", "wrong token");
      return false;
    }
    return true;
  }

  // What is checked of every request before its body is read (after the
  // token); false after answering. Runs before cpp-httplib reads a body,
  // whose size limit counts only a Content-Length body as sent:
  // - a chunked or compressed body is refused (411, 415): it could grow
  //   past the 1 MiB limit as it is read or inflated;
  // - a request that writes (any method but GET and HEAD) carries its body
  //   as application/json (415 otherwise), and an Origin header, when a
  //   browser sends one, must be this server's own (403): a page of
  //   another origin, even on this machine, can neither post a "simple"
  //   text/plain or form request nor write with the console's cookie.
  bool Admit(const httplib::Request& req, httplib::Response& res) {
    // Content-Length digits only (given once: Single): the library reads
    // a malformed one as some number (abc as 0, 1e3 as 1, -5 as huge).
    if (req.has_header("Content-Length")) {
      const std::string n = req.get_header_value("Content-Length");
      if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) {
        ReplyError(res, 400, "bad_request",
                   "the header Content-Length must be a number of bytes, not '" + n + "'");
        return false;
      }
      // Refused at once: the library would read (and drop) a body over the
      // limit whole before answering, as long as the client sends it. A
      // number of more than 18 digits (leading zeros aside) is over it too.
      const size_t digits = n.size() - std::min(n.find_first_not_of('0'), n.size());
      if (digits > 18 || std::stoull(n) > options_.max_body_bytes) {
        ReplyError(res, 413, "payload_too_large",
                   "the request body is too large (" + n + " bytes; the limit is " +
                       std::to_string(options_.max_body_bytes) + ")");
        // Its body is never read: the connection cannot carry another request.
        res.set_header("Connection", "close");
        return false;
      }
    }
    const std::string te = Lower(req.get_header_value("Transfer-Encoding"));
    if (!te.empty() && te != "identity") {
      ReplyError(res, 411, "length_required",
                 "send the request body with a Content-Length (Transfer-Encoding '" + te +
                     "' is not read)");
      return false;
    }
    const std::string ce = Lower(req.get_header_value("Content-Encoding"));
    if (!ce.empty() && ce != "identity") {
      ReplyError(res, 415, "unsupported_media_type",
                 "send the request body uncompressed (Content-Encoding '" + ce + "' is not read)");
      return false;
    }
    if (req.method == "GET" || req.method == "HEAD") return true;
    // No route: said as for a read (before a body is asked for).
    const auto& writes = Writes();
    if (req.method != "POST" ||
        std::none_of(writes.begin(), writes.end(),
                     [&](const auto& w) { return w.first == req.path; })) {
      ReplyError(res, 404, "not_found", "no route " + req.method + " " + req.path);
      return false;
    }
    if (req.has_header("Origin")) {
      const std::string origin = req.get_header_value("Origin");
      const std::string own = "http://" + req.get_header_value("Host");
      if (Lower(origin) != Lower(own)) {
        ReplyError(res, 403, "forbidden",
                   "cross-origin request refused: Origin '" + origin + "' is not " + own);
        return false;
      }
    }
    // A write without a Content-Length would be read until the connection
    // closes, past any limit.
    const std::string length = req.get_header_value("Content-Length");
    if (length.empty()) {
      ReplyError(res, 411, "length_required",
                 "a " + req.method + " request sends its body with a Content-Length");
      return false;
    }
    // Also for an empty body: every write route reads a JSON object, and
    // the rule is the same whatever the length.
    std::string type = Lower(req.get_header_value("Content-Type"));
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    if (type != "application/json") {
      ReplyError(res, 415, "unsupported_media_type",
                 "the request body must be JSON sent as Content-Type: application/json, not '" +
                     req.get_header_value("Content-Type") + "'");
      return false;
    }
    return true;
  }

  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  // ---- Helpers -----------------------------------------------------------

  std::string ViewerName() const {
    return options_.viewer.is_system() ? "system" : options_.viewer_login;
  }

  Account FindAccount(const std::string& key) const {
    auto a = db_.FindAccount(options_.viewer, key);
    if (!a.ok()) throw a.status();
    return std::move(a).value();
  }

  // The user a read is asked for ("view as user"): any user for the system
  // viewer; a user viewer answers for itself.
  User QuestionUser(const std::optional<std::string>& login) const {
    if (!options_.viewer.is_system()) {
      if (login && !login->empty() && *login != options_.viewer_login) {
        throw Status::PermissionDenied("the viewer '" + options_.viewer_login +
                                       "' answers for itself only, not for user '" + *login +
                                       "' (only the system viewer may view as another user)");
      }
      auto u = db_.FindUser(options_.viewer, options_.viewer_login);
      if (!u.ok()) throw u.status();
      return std::move(u).value();
    }
    if (!login || login->empty()) throw HttpError{400, "parameter 'user' is required"};
    auto u = db_.FindUser(*login);
    if (!u.ok()) throw u.status();
    return std::move(u).value();
  }

  // Account keys (and role names) of the ids the engine answered the
  // viewer with (owners of what it sees, the accounts and roles of
  // memberships it sees, a row's parent), cached per request: an account
  // or custom role the viewer does not see is kHidden, as on the command
  // line.
  class Keys {
   public:
    Keys(const Db& db, const Actor& viewer) : db_(db), viewer_(viewer) {}
    const std::string& Of(AccountId id) {
      auto it = cache_.find(static_cast<uint64_t>(id));
      if (it != cache_.end()) return it->second;
      auto a = db_.GetAccount(viewer_, id);
      return cache_[static_cast<uint64_t>(id)] = a.ok() ? a->key : kHidden;
    }
    std::string Role(RoleId id) const {
      auto r = db_.GetRole(viewer_, id);
      if (r.ok()) return r->name;
      return db_.GetRole(id).ok() ? kHidden : "#" + std::to_string(static_cast<uint64_t>(id));
    }

   private:
    const Db& db_;
    const Actor viewer_;
    std::map<uint64_t, std::string> cache_;
  };

  // ---- Routes ------------------------------------------------------------

  void Page(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {});  // no parameter but the token, as every route
    if (req.has_param("token")) {
      // The token moves into a cookie and out of the address bar.
      res.set_header("Set-Cookie", CookieName() + "=" + options_.token +
                                       "; Path=/; HttpOnly; SameSite=Strict");
      res.set_redirect("/");
      return;
    }
    for (const StaticAsset& a : StaticAssets()) {
      if (std::string(a.path) == "/index.html") {
        res.set_content(reinterpret_cast<const char*>(a.data), a.size, a.type);
        return;
      }
    }
    ReplyError(res, 404, "not_found", "the page is not built in");
  }

  void Session(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {});
    Reply(res, 200,
          JsonObject()
              .Str("viewer", ViewerName())
              .Bool("system", options_.viewer.is_system())
              .Uint("revision", db_.Revision())
              .str());
  }

  void AccountsTable(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {"pageSize", "page", "sortProperty", "sortOrder", "root"});
    static const std::map<std::string, TableSort> kSorts = {
        {"tree", TableSort::kTree},
        {"name", TableSort::kName},
        {"created", TableSort::kCreated},
        {"users", TableSort::kUsers},
        {"subAccounts", TableSort::kSubAccounts},
        {"devices", TableSort::kDevicesDirect},
        {"devicesSubtree", TableSort::kDevicesSubtree}};
    TableRequest tr(options_.viewer);
    const std::string sort = p.Get("sortProperty").value_or("tree");
    auto it = kSorts.find(sort);
    if (it == kSorts.end()) {
      throw HttpError{400, "parameter 'sortProperty' must be tree, name, created, users, "
                           "subAccounts, devices or devicesSubtree, not '" + sort + "'"};
    }
    tr.sort = it->second;
    const std::string order = p.Get("sortOrder").value_or("ASC");
    if (order != "ASC" && order != "DESC") {
      throw HttpError{400, "parameter 'sortOrder' must be ASC or DESC, not '" + order + "'"};
    }
    tr.descending = order == "DESC";
    tr.limit = p.Number("pageSize", 1, kMaxPageSize, 20);
    tr.cursor = p.Get("page").value_or("");
    if (auto root = p.Named("root", "an account's key")) tr.root = FindAccount(*root).id;
    TablePage page;
    Must(db_.AccountsTable(tr, &page));
    std::string data = "[";
    Keys keys(db_, options_.viewer);
    for (const AccountRow& r : page.rows) {
      if (data.size() > 1) data.push_back(',');
      data += JsonObject()
                  .Str("key", r.key)
                  .Str("name", r.name)
                  .Raw("parent", r.parent == kNoId ? "null" : JsonString(keys.Of(r.parent)))
                  .Uint("depth", r.depth)
                  .Raw("path", JsonStrings(r.path))
                  .Uint("users", r.users)
                  .Uint("subAccounts", r.sub_accounts)
                  .Uint("devices", r.devices_direct)
                  .Uint("devicesSubtree", r.devices_subtree)
                  .Uint("groups", r.groups)
                  .Int("createdTime", r.created_us / 1000)
                  .Take();
    }
    data.push_back(']');
    Reply(res, 200, PageJson(data, page.total, page.next_cursor, page.revision));
  }

  void Graph(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {"root", "depth"});
    AccountId root = kNoId;
    if (auto key = p.Named("root", "an account's key")) root = FindAccount(*key).id;
    const auto depth = static_cast<uint32_t>(p.Number("depth", 0, 64, 0));
    auto json = db_.GraphJson(options_.viewer, root, depth);
    Must(json.status());
    Reply(res, 200, *json);
  }

  void Users(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {"account"});
    const Account a = FindAccount(p.Require("account"));
    auto users = db_.UsersOf(options_.viewer, a.id);
    Must(users.status());
    std::string data = "[";
    for (const User& u : *users) {
      if (data.size() > 1) data.push_back(',');
      data += JsonObject()
                  .Str("login", u.login)
                  .Str("name", u.name)
                  .Str("account", a.key)
                  .Bool("disabled", u.disabled)
                  .Take();
    }
    data.push_back(']');
    Reply(res, 200, JsonObject().Raw("data", data).str());
  }

  void Devices(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {"user", "kind", "permission", "type", "namePrefix", "attribute", "within",
                   "direct", "pageSize", "page", "count"});
    const User user = QuestionUser(p.Get("user"));
    VisibleRequest vr(Actor::User(user.id));
    if (auto kind = p.Get("kind")) {
      auto k = ParseEntityKind(*kind);
      if (!k) {
        throw HttpError{400, "parameter 'kind' must be device, asset, dashboard or entity_view, "
                             "not '" + *kind + "'"};
      }
      vr.kind = *k;
    }
    vr.permission = p.Named("permission", "a permission (default KIND.read)").value_or("");
    // An empty type is a filter of its own: the entities without a type.
    vr.type = p.Get("type");
    vr.name_prefix = p.Get("namePrefix").value_or("");
    if (auto a = p.Named("attribute", "NAME=VALUE")) {
      const size_t eq = a->find('=');
      if (eq == std::string::npos || eq == 0) {
        throw HttpError{400, "parameter 'attribute' must be NAME=VALUE, not '" + *a + "'"};
      }
      vr.attribute = AttributeFilter{a->substr(0, eq), a->substr(eq + 1)};
    }
    if (auto w = p.Named("within", "an account's key")) {
      vr.within = FindAccount(*w).id;
      // Out of the sight of the user asked for: named by its key, not by
      // the id the engine would name it by. (Any other refusal, such as a
      // disabled user's, is the query's to answer.)
      if (db_.FindAccount(vr.viewer, *w).status().IsNotFound()) {
        throw Status::NotFound("within: user '" + user.login + "' cannot see account '" + *w +
                               "'");
      }
    }
    vr.direct_only = p.Flag("direct");
    vr.limit = p.Number("pageSize", 1, kMaxPageSize, 20);
    vr.cursor = p.Get("page").value_or("");
    VisiblePage page;
    Must(db_.Visible(vr, &page));
    // The exact count of the whole selection (maintained counters where
    // the filters allow; asked once, on the first page, unless count=true).
    std::optional<uint64_t> total;
    const bool count = p.Flag("count");  // checked on every page, not only on later ones
    if (vr.cursor.empty() || count) {
      auto n = db_.Count(vr);
      Must(n.status());
      total = *n;
    }
    Keys keys(db_, options_.viewer);
    std::string data = "[";
    for (const VisibleItem& it : page.items) {
      if (data.size() > 1) data.push_back(',');
      data += JsonObject()
                  .Str("key", it.key)
                  .Str("name", it.name)
                  .Str("type", it.type)
                  .Str("account", keys.Of(it.owner))
                  .Uint("id", static_cast<uint64_t>(it.id))
                  .Take();
    }
    data.push_back(']');
    Reply(res, 200, PageJson(data, total, page.next_cursor, page.revision));
  }

  void Check(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {"user", "permission", "entity", "account"});
    const User user = QuestionUser(p.Get("user"));
    const std::string permission = p.Require("permission");
    const std::string key = TargetKey(p, permission);
    Explanation ex;
    // The system viewer may learn that a target exists which the user
    // cannot see (denied, saying so), as `canopy check` without --actor.
    Status s = db_.Explain(options_.viewer, user.id, permission, key, &ex);
    Must(s);
    Keys keys(db_, options_.viewer);
    JsonObject o;
    o.Bool("allowed", ex.allowed)
        .Str("user", user.login)
        .Str("permission", permission)
        .Str(p.Get("entity") ? "entity" : "account", key)
        .Raw("owner", ex.owner == kNoId ? std::string("null") : JsonString(keys.Of(ex.owner)))
        .Str("reason", ex.reason);
    if (ex.allowed) {
      o.Str("viaAccount", keys.Of(ex.via_account))
          .Str("via", Via(ex.via_user_group))
          .Str("role", ex.via_role_name)
          .Bool("branch", ex.via_branch)
          .Raw("path", JsonStrings(ex.path));
    }
    Reply(res, 200, o.str());
  }

  // How a user holds what it holds: its membership, or a grant of one of
  // its user groups (`via_user_group`).
  static const char* Via(GroupId via_user_group) {
    return via_user_group == kNoId ? "membership" : "group_grant";
  }

  // The target named by the parameter that fits the permission: `entity`
  // for an entity permission (device.read), `account` for an account-level
  // one (account.create); the other one is refused, never read as it.
  std::string TargetKey(const Params& p, const std::string& permission) const {
    auto entity = p.Get("entity");
    auto account = p.Get("account");
    if (entity && account) throw HttpError{400, "give 'entity' or 'account', not both"};
    const size_t dot = permission.find('.');
    const bool of_entity =
        dot != std::string::npos && ParseEntityKind(permission.substr(0, dot)).has_value();
    const char* wanted = of_entity ? "entity" : "account";
    if ((of_entity && account) || (!of_entity && entity)) {
      // A misspelt permission (devices.read) is unknown, not an account
      // one: the engine's answer says so (it checks the name first).
      Status known = db_.Check(kNoId, permission, "").status();
      if (known.code() == Code::kInvalidArgument) throw known;
      throw HttpError{400, std::string("parameter '") + (of_entity ? "account" : "entity") +
                               "' does not fit permission '" + permission + "': give '" +
                               wanted + "' (" +
                               (of_entity ? "an entity's key, for an entity permission"
                                          : "an account's key, for an account-level permission") +
                               ")"};
    }
    auto key = of_entity ? entity : account;
    if (!key || key->empty()) {
      throw HttpError{400, std::string("parameter '") + wanted + "' (" +
                               (of_entity ? "an entity's key" : "an account's key") +
                               ") is required for permission '" + permission + "'"};
    }
    return *key;
  }

  void WhoCan(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {"permission", "entity", "account", "pageSize", "page"});
    WhoCanRequest wr;
    wr.viewer = options_.viewer;
    wr.permission = p.Require("permission");
    wr.entity_key = TargetKey(p, wr.permission);
    wr.limit = p.Number("pageSize", 1, kMaxPageSize, 20);
    wr.cursor = p.Get("page").value_or("");
    WhoCanPage page;
    Must(db_.WhoCan(wr, &page));
    Keys keys(db_, options_.viewer);
    std::string data = "[";
    for (const WhoCanItem& it : page.items) {
      if (data.size() > 1) data.push_back(',');
      data += JsonObject()
                  .Str("login", it.login)
                  .Str("account", keys.Of(it.via_account))
                  .Str("role", keys.Role(it.role))
                  .Bool("branch", it.branch)
                  .Str("via", Via(it.via_user_group))
                  .Take();
    }
    data.push_back(']');
    Reply(res, 200, PageJson(data, std::nullopt, page.next_cursor, page.revision));
  }

  void Audit(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {"since", "pageSize", "account", "type"});
    ChangesRequest cr(options_.viewer);
    cr.since = p.Number("since", 1, std::numeric_limits<uint64_t>::max(), 1);
    cr.limit = p.Number("pageSize", 1, kMaxAuditPage, 50);
    if (auto a = p.Named("account", "an account's key")) cr.account = FindAccount(*a).id;
    if (auto t = p.Named("type", "record types (e.g. type=account,entity)")) {
      // Every item named: "a,,b" or only commas is refused, never read as
      // fewer types (or as no filter at all).
      size_t pos = 0;
      while (pos <= t->size()) {
        size_t comma = t->find(',', pos);
        if (comma == std::string::npos) comma = t->size();
        if (comma == pos) {
          throw HttpError{400, "parameter 'type' has an empty item in '" + *t +
                                   "': name record types separated by single commas "
                                   "(e.g. type=account,entity)"};
        }
        cr.types.push_back(t->substr(pos, comma - pos));
        pos = comma + 1;
      }
    }
    ChangesPage page;
    Must(db_.ReadChanges(cr, &page));
    std::string data = "[";
    for (const ChangeEntry& e : page.entries) {
      if (data.size() > 1) data.push_back(',');
      data += ChangeEntryJson(e);
    }
    data.push_back(']');
    Reply(res, 200,
          JsonObject()
              .Raw("data", data)
              .Bool("hasNext", page.next <= page.revision)
              .Uint("nextSince", page.next)
              .Uint("revision", page.revision)
              .str());
  }

  void CreateAccount(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {});
    Body b(req, {"key", "name", "parent", "subAccountManagement"});
    AccountSpec spec;
    spec.key = b.RequireStr("key");
    spec.name = b.Str("name").value_or(spec.key);
    if (auto parent = b.Str("parent"); parent) {
      if (parent->empty()) {
        throw HttpError{400, "field 'parent' is empty: leave it out (or null) for a root tenant"};
      }
      spec.parent = FindAccount(*parent).id;
    }
    spec.settings.sub_account_management = b.Bool("subAccountManagement").value_or(false);
    auto id = db_.CreateAccount(options_.viewer, spec);
    Must(id.status());
    Reply(res, 201,
          JsonObject()
              .Str("key", spec.key)
              .Str("name", spec.name)
              .Raw("parent", b.Str("parent") ? JsonString(*b.Str("parent")) : "null")
              .Uint("revision", db_.LastCommittedRevision())
              .str());
  }

  void MoveAccount(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {});
    Body b(req, {"account", "parent"});
    const Account a = FindAccount(b.RequireStr("account"));
    const Account parent = FindAccount(b.RequireStr("parent"));
    Must(db_.MoveAccount(options_.viewer, a.id, parent.id));
    Reply(res, 200,
          JsonObject()
              .Str("account", a.key)
              .Str("parent", parent.key)
              .Uint("revision", db_.LastCommittedRevision())
              .str());
  }

  void Reassign(const httplib::Request& req, httplib::Response& res) {
    Params p(req, {});
    Body b(req, {"by", "refs", "target", "kind", "groups"});
    const std::string by = b.Str("by").value_or("key");
    if (by != "key" && by != "unitId") {
      throw HttpError{400, "field 'by' must be \"key\" or \"unitId\", not '" + by + "'"};
    }
    EntityKind kind = EntityKind::kDevice;
    if (auto k = b.Str("kind")) {
      auto parsed = ParseEntityKind(*k);
      if (!parsed) throw HttpError{400, "field 'kind' names no entity kind: '" + *k + "'"};
      kind = *parsed;
    }
    std::vector<std::string> refs = b.Strings("refs");
    const Account target = FindAccount(b.RequireStr("target"));
    std::vector<GroupId> groups;  // the target's groups of the kind, by name
    for (const std::string& name : b.OptionalStrings("groups")) {
      auto g = db_.FindGroup(options_.viewer, target.id, EntityGroupKind(kind), name);
      if (!g.ok()) throw g.status();
      groups.push_back(g->id);
    }
    ReassignReport report;
    Status s = db_.ReassignEntities(options_.viewer, kind,
                                    by == "key" ? EntityRef::kKey : EntityRef::kUnitId, refs,
                                    target.id, groups, &report);
    Keys keys(db_, options_.viewer);
    std::string items = "[";
    for (const ReassignItem& it : report.items) {
      if (items.size() > 1) items.push_back(',');
      JsonObject o;
      o.Str("ref", it.ref).Str("outcome", ReassignOutcomeName(it.outcome));
      if (it.previous_owner != kNoId) o.Str("previousOwner", keys.Of(it.previous_owner));
      if (!it.message.empty()) o.Str("message", it.message);
      items += o.Take();
    }
    items.push_back(']');
    JsonObject o;
    o.Bool("ok", s.ok())
        .Str("target", target.key)
        .Uint("moved", report.moved)
        .Uint("unchanged", report.unchanged)
        .Uint("unknown", report.unknown)
        .Uint("denied", report.denied)
        .Uint("duplicate", report.duplicate)
        .Raw("items", items);
    if (!s.ok()) {
      // Refused as a whole: nothing moved; the report says which items.
      o.Str("code", CodeName(s.code())).Str("message", ShortMessage(s.message()));
      o.Int("status", StatusOf(s));
    }
    Reply(res, s.ok() ? 200 : StatusOf(s), o.str());
  }

  // Throws a failed Status: Wrap answers it with the engine's message and
  // the HTTP status of its code.
  static void Must(const Status& s) {
    if (!s.ok()) throw s;
  }

  Db& db_;
  ServerOptions options_;
  httplib::Server server_;
  // Whether the request threads are all busy with connections waiting
  // (ElasticPool): declared before watch_, which reads it.
  const std::shared_ptr<std::atomic<bool>> behind_ = std::make_shared<std::atomic<bool>>(false);
  ConnectionWatch watch_;
  int listen_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  std::mutex stop_mu_;
  int port_ = -1;
  bool loopback_only_ = false;  // set by NoteBoundAddress
  bool any_v4_ = false;
  bool any_v6_ = false;
};

}  // namespace

Status Server::Start(Db* db, const ServerOptions& options, std::unique_ptr<Server>* server) {
  if (db == nullptr) return Status::InvalidArgument("no database");
  auto impl = std::make_unique<ServerImpl>(db, options);
  Status s = impl->Bind();
  if (!s.ok()) return s;
  *server = std::move(impl);
  return Status::Ok();
}

}  // namespace canopy::http
