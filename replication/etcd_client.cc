// Copyright (c) Canopy authors.
//
// The etcd v3 client over the gRPC gateway (etcd_client.h). What the
// gateway of etcd 3.4 sends, as relied on here:
//  - a unary call answers 200 with the response message as JSON, or an
//    error status with {"error":"etcdserver: ...","message":"...","code":N}
//    (N a gRPC code; 14 Unavailable comes as HTTP 503);
//  - a streaming call (watch, lease keep-alive) answers 200 with a stream of
//    {"result":{...}} objects, and an error as {"error":{"grpc_code":N,
//    "message":"...",...}} inside that stream;
//  - keys and values are base64, int64 and uint64 fields are JSON strings,
//    and fields at their zero value are left out.
// Every request but a status query carries the gRPC metadata "hasleader:
// true" (the header Grpc-Metadata-hasleader), so a member cut off from its
// leader answers "etcdserver: no leader" at once, and ends a watch, instead
// of hanging until its own timeout: that is what lets a call move on to a
// member that can serve it.

#include "replication/etcd_client.h"

#include "storage/base64.h"
#include "storage/json.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

namespace canopy::replication {

namespace {

// ---- writing JSON -----------------------------------------------------------

// Strings are escaped by storage::AppendJsonString (the one JSON string writer).
using storage::AppendJsonString;

// Builds one JSON object; int64 fields are written as strings (proto3's
// JSON form, exact for every value, unlike a JSON number).
class JsonWriter {
 public:
  JsonWriter& Bytes(std::string_view name, std::string_view bytes) {
    Name(name);
    out_.push_back('"');
    storage::AppendBase64(&out_, bytes, storage::Base64::kStandardPadded);
    out_.push_back('"');
    return *this;
  }
  JsonWriter& Int(std::string_view name, int64_t v) {
    Name(name);
    out_.push_back('"');
    out_ += std::to_string(v);
    out_.push_back('"');
    return *this;
  }
  JsonWriter& Bool(std::string_view name, bool v) {
    Name(name);
    out_ += v ? "true" : "false";
    return *this;
  }
  JsonWriter& String(std::string_view name, std::string_view v) {
    Name(name);
    AppendJsonString(&out_, v);
    return *this;
  }
  // `json` is already a JSON value.
  JsonWriter& Raw(std::string_view name, std::string_view json) {
    Name(name);
    out_ += json;
    return *this;
  }
  std::string Take() {
    if (first_) out_.push_back('{');
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void Name(std::string_view name) {
    out_.push_back(first_ ? '{' : ',');
    first_ = false;
    AppendJsonString(&out_, name);
    out_.push_back(':');
  }
  std::string out_;
  bool first_ = true;
};

// ---- reading JSON ----------------------------------------------------------

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

bool Field(object o, std::string_view name, element* e) { return !o[name].get(*e); }

bool ObjectField(object o, std::string_view name, object* out) {
  element e;
  return Field(o, name, &e) && !e.get_object().get(*out);
}

// A JSON string (proto3 int64 / uint64) or number; absent: 0.
template <typename T>
bool GetInteger(object o, std::string_view name, T* v) {
  *v = 0;
  element e;
  if (!Field(o, name, &e)) return true;
  if (e.is_string()) {
    std::string_view s;
    if (e.get_string().get(s)) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return ec == std::errc() && p == s.data() + s.size();
  }
  if constexpr (std::is_signed_v<T>) {
    return !e.get_int64().get(*v);
  } else {
    return !e.get_uint64().get(*v);
  }
}
bool GetInt64(object o, std::string_view name, int64_t* v) { return GetInteger(o, name, v); }
bool GetUint64(object o, std::string_view name, uint64_t* v) { return GetInteger(o, name, v); }

bool GetBool(object o, std::string_view name) {
  element e;
  bool b = false;
  return Field(o, name, &e) && !e.get_bool().get(b) && b;
}

bool GetString(object o, std::string_view name, std::string* out) {
  out->clear();
  element e;
  if (!Field(o, name, &e)) return true;
  std::string_view s;
  if (e.get_string().get(s)) return false;
  out->assign(s);
  return true;
}

bool GetBytes(object o, std::string_view name, std::string* out) {
  out->clear();
  element e;
  if (!Field(o, name, &e)) return true;
  std::string_view s;
  return !e.get_string().get(s) && storage::DecodeBase64(s, storage::Base64::kStandardPadded, out);
}

bool ParseKv(object o, EtcdKv* kv) {
  return GetBytes(o, "key", &kv->key) && GetBytes(o, "value", &kv->value) &&
         GetInt64(o, "create_revision", &kv->create_revision) &&
         GetInt64(o, "mod_revision", &kv->mod_revision) &&
         GetInt64(o, "version", &kv->version) && GetInt64(o, "lease", &kv->lease);
}

bool ParseKvs(object o, std::vector<EtcdKv>* kvs) {
  kvs->clear();
  element e;
  if (!Field(o, "kvs", &e)) return true;
  array a;
  if (e.get_array().get(a)) return false;
  for (element item : a) {
    object kv_obj;
    if (item.get_object().get(kv_obj)) return false;
    kvs->emplace_back();
    if (!ParseKv(kv_obj, &kvs->back())) return false;
  }
  return true;
}

bool HeaderRevision(object o, int64_t* revision) {
  *revision = 0;
  object header;
  return !ObjectField(o, "header", &header) || GetInt64(header, "revision", revision);
}

// ---- errors ------------------------------------------------------------------

// gRPC status codes that the gateway reports.
constexpr int kGrpcCanceled = 1;
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcNotFound = 5;
constexpr int kGrpcPermissionDenied = 7;
constexpr int kGrpcResourceExhausted = 8;
constexpr int kGrpcFailedPrecondition = 9;
constexpr int kGrpcUnavailable = 14;
constexpr int kGrpcUnauthenticated = 16;

struct GatewayError {
  int code = -1;  // gRPC code; -1: unknown
  std::string message;
};

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// Finds the error in a gateway reply: {"error":"...","code":N,...} from a
// unary call, {"error":{"grpc_code":N,"message":...}} inside a stream, or
// the "error" string some responses carry (LeaseGrantResponse).
bool ExtractError(object o, GatewayError* err) {
  element e;
  if (!Field(o, "error", &e)) return false;
  object inner;
  if (!e.get_object().get(inner)) {
    int64_t code = 0;
    if (GetInt64(inner, "grpc_code", &code)) err->code = static_cast<int>(code);
    GetString(inner, "message", &err->message);
    if (err->message.empty()) err->message = "error without a message";
    return true;
  }
  std::string_view s;
  if (!e.get_string().get(s)) {
    if (s.empty()) return false;  // an empty "error" field is no error
    err->message.assign(s);
    int64_t code = 0;
    if (GetInt64(o, "code", &code)) err->code = static_cast<int>(code);
    return true;
  }
  err->message = "unreadable error";
  return true;
}

// Is the error about this member's availability (so another member may
// serve the request), rather than about the request itself?
bool IsAvailabilityError(long http_status, const GatewayError& e) {
  if (Contains(e.message, "request is too large") || Contains(e.message, "larger than max")) {
    return false;
  }
  if (e.code == kGrpcUnavailable || e.code == kGrpcDeadlineExceeded || e.code == kGrpcCanceled) {
    return true;
  }
  // "raft proposal dropped" (gRPC Unknown, HTTP 500) comes during a leader
  // election; "too many requests" (ResourceExhausted) from an overloaded
  // member.
  static constexpr std::string_view kTransient[] = {
      "no leader",          "timed out",       "leader changed", "proposal dropped",
      "too many requests",  "server stopped",  "not capable",    "unhealthy",
      "transport is closing", "connection refused"};
  for (std::string_view t : kTransient) {
    if (Contains(e.message, t)) return true;
  }
  return http_status >= 500;
}

Status FinalError(std::string_view op, const std::string& endpoint, const GatewayError& e,
                  size_t request_bytes) {
  std::string msg = "etcd: ";
  msg += op;
  msg += ": ";
  msg += e.message;
  msg += " (from ";
  msg += endpoint;
  msg += ")";
  if (Contains(e.message, "request is too large") || Contains(e.message, "larger than max")) {
    // The JSON carries keys and values in base64 (4/3 of their size);
    // etcd's limit applies to the request it decodes.
    return Status::InvalidArgument(
        msg + ": etcd takes requests of at most --max-request-bytes (1572864 bytes, 1.5 MiB, "
        "unless the cluster sets otherwise) and this one is about " +
        std::to_string(request_bytes / 4 * 3) + " bytes");
  }
  if (Contains(e.message, "compacted")) return Status::Compacted(msg);
  switch (e.code) {
    case kGrpcNotFound: return Status::NotFound(msg);
    case kGrpcPermissionDenied:
    case kGrpcUnauthenticated: return Status::PermissionDenied(msg);
    case kGrpcFailedPrecondition: return Status::FailedPrecondition(msg);
    case kGrpcResourceExhausted: return Status::FailedPrecondition(msg);  // out of space
    default: return Status::InvalidArgument(msg);
  }
}

std::string Snippet(std::string_view body) {
  std::string s(body.substr(0, 200));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (body.size() > 200) s += "...";
  return s;
}

// ---- libcurl -----------------------------------------------------------------

std::once_flag g_curl_init_once;
CURLcode g_curl_init_result = CURLE_OK;

// curl_global_init is not thread-safe and must run before any other curl
// call; it is never undone (curl_global_cleanup at exit would race with
// clients still alive in other static objects).
CURLcode InitCurlOnce() {
  std::call_once(g_curl_init_once,
                 [] { g_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return g_curl_init_result;
}

size_t AppendToString(char* data, size_t size, size_t nmemb, void* userdata) {
  static_cast<std::string*>(userdata)->append(data, size * nmemb);
  return size * nmemb;
}

// One pooled connection handle with its parser and buffers. The easy
// handle keeps its live connections between requests, so a handle that
// goes back to the pool keeps its keep-alive connection to the member.
struct Conn {
  CURL* curl = nullptr;
  simdjson::dom::parser parser;
  std::string response;
  char error[CURL_ERROR_SIZE] = {};

  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

// The most handles kept idle; more are closed when they come back.
constexpr size_t kMaxIdleConns = 16;
// Buffers a handle keeps while idle.
constexpr size_t kKeepBufferBytes = size_t{1} << 20;

// A member that answered its status within this long is reachable.
constexpr int kStatusTimeoutMs = 1000;
// A watch that has heard nothing from its member for this long asks the
// member (on another connection) whether it still answers: a member that
// is wedged (stopped, or its process frozen) keeps the connection open
// and sends nothing, so only asking tells it from a quiet log.
constexpr int kWatchIdleProbeMs = 2000;

// How often a watch looks at its stop flag.
constexpr int kWatchPollMs = 50;

}  // namespace

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    const auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  // Every key starts with "" (or with only 0xff bytes): etcd reads "\0" as
  // "to the end of the key space".
  return std::string(1, '\0');
}

struct EtcdClient::Impl {
  explicit Impl(const EtcdOptions& opts) : options(opts) {
    for (curl_slist** h : {&headers, &status_headers}) {
      *h = curl_slist_append(*h, "Content-Type: application/json");
      // No "Expect: 100-continue" round trip before large bodies.
      *h = curl_slist_append(*h, "Expect:");
    }
    headers = curl_slist_append(headers, "Grpc-Metadata-hasleader: true");
  }
  ~Impl() {
    curl_slist_free_all(headers);
    curl_slist_free_all(status_headers);
  }

  // A handle from the pool (or a new one); nullptr when curl cannot make one.
  std::unique_ptr<Conn> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        std::unique_ptr<Conn> c = std::move(idle.back());
        idle.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<Conn>();
    c->curl = curl_easy_init();
    if (c->curl == nullptr) return nullptr;
    return c;
  }

  void Release(std::unique_ptr<Conn> c) {
    if (c == nullptr) return;
    // A large reply (a big value) leaves large buffers behind: free them
    // rather than keep one per idle handle.
    c->response.clear();
    if (c->response.capacity() > kKeepBufferBytes) c->response.shrink_to_fit();
    if (c->parser.capacity() > kKeepBufferBytes) c->parser = simdjson::dom::parser();
    std::lock_guard<std::mutex> lock(mu);
    if (idle.size() < kMaxIdleConns) idle.push_back(std::move(c));
  }

  // Options common to every request; `timeout_ms` 0: none. Without
  // `require_leader` a member without a leader still answers (its status).
  void Prepare(Conn* c, const std::string& url, const std::string& body, int timeout_ms,
               bool require_leader = true) {
    CURL* h = c->curl;
    curl_easy_reset(h);
    c->error[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->error);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    // etcd is spoken to directly: an http_proxy in the environment must
    // not reroute the requests.
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, require_leader ? headers : status_headers);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout_ms));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
    // Notices a member whose host vanished while a connection idles (a
    // watch can be quiet for a long time).
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 10L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 5L);
  }

  // What one endpoint made of one request.
  struct Reply {
    // False: the endpoint did not serve it (no connection, a timeout, an
    // availability error); `failure` says why and the next one is tried.
    bool answered = false;
    // Not answered, and the request certainly never left: no connection
    // could be made (refused, unresolvable).
    bool unsent = false;
    std::string failure;
    Status status;  // when answered and etcd refused the request
  };

  // POSTs `body` to one endpoint; on success `c->response` holds the reply
  // and `*doc` its parsed object (unwrapped from a stream's "result").
  Reply PostOnce(Conn* c, std::string_view op, const std::string& endpoint, std::string_view path,
                 const std::string& body, int timeout_ms, object* doc,
                 bool require_leader = true) {
    Reply r;
    const std::string url = endpoint + std::string(path);
    Prepare(c, url, body, timeout_ms, require_leader);
    c->response.clear();
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, &AppendToString);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->response);
    const CURLcode rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
      r.failure = endpoint + ": " + (c->error[0] != '\0' ? c->error : curl_easy_strerror(rc));
      r.unsent = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                 rc == CURLE_COULDNT_RESOLVE_PROXY;
      return r;
    }
    long http = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http);
    element root;
    object o;
    if (c->parser.parse(c->response).get(root) || root.get_object().get(o)) {
      // Not the gateway talking (or a member half-way through stopping).
      r.failure = endpoint + ": HTTP " + std::to_string(http) + " with a reply that is not JSON (" +
                  Snippet(c->response) + "); is it an etcd 3.4+ client URL?";
      return r;
    }
    // A stream (keep-alive) wraps its reply, or its error, in "result".
    object result;
    if (ObjectField(o, "result", &result)) o = result;
    GatewayError err;
    if (ExtractError(o, &err)) {
      if (IsAvailabilityError(http, err)) {
        r.failure = endpoint + ": " + err.message;
        return r;
      }
      r.answered = true;
      r.status = FinalError(op, endpoint, err, body.size());
      return r;
    }
    if (http != 200) {
      r.failure = endpoint + ": HTTP " + std::to_string(http) + " (" + Snippet(c->response) + ")";
      return r;
    }
    r.answered = true;
    *doc = o;
    return r;
  }

  // A unary call: tries the endpoints in turn from the one that answered
  // last; `parse` reads a successful reply.
  template <typename Parse>
  // `*reached` (when given): false when every endpoint failed without the
  // request leaving (Reply::unsent), so it was certainly not applied.
  Status Call(std::string_view op, std::string_view path, const std::string& body, Parse&& parse,
              bool* reached = nullptr) {
    if (reached != nullptr) *reached = true;
    if (InitCurlOnce() != CURLE_OK) return Status::Internal("etcd: curl_global_init failed");
    std::unique_ptr<Conn> c = Acquire();
    if (c == nullptr) return Status::Internal("etcd: curl_easy_init failed");
    const size_t n = options.endpoints.size();
    const size_t first = preferred.load(std::memory_order_relaxed);
    std::string last_failure;
    bool any_sent = false;
    for (size_t i = 0; i < n; ++i) {
      const size_t idx = (first + i) % n;
      object doc;
      Reply r = PostOnce(c.get(), op, options.endpoints[idx], path, body,
                         options.request_timeout_ms, &doc);
      if (!r.answered) {
        any_sent = any_sent || !r.unsent;
        if (!last_failure.empty()) last_failure += "; ";
        last_failure += r.failure;
        continue;
      }
      preferred.store(idx, std::memory_order_relaxed);
      Status s = r.status;
      if (s.ok()) {
        s = parse(doc);
        if (!s.ok()) {
          s = Status::Internal("etcd: " + std::string(op) + ": unexpected reply from " +
                               options.endpoints[idx] + ": " + s.message() + " (" +
                               Snippet(c->response) + ")");
        }
      }
      Release(std::move(c));
      return s;
    }
    Release(std::move(c));
    if (reached != nullptr) *reached = any_sent;
    return NoEndpoint(op, last_failure);
  }

  // Every endpoint failed; `failures` says how each did, in the order
  // tried ("; " between them). A member that answered "no leader" (the
  // cluster lost its quorum) is said first: it is the cause to act on.
  Status NoEndpoint(std::string_view op, const std::string& failures) const {
    std::string msg = "etcd: ";
    msg += op;
    msg += failures.find("no leader") != std::string::npos
               ? ": the cluster has no leader (a majority of its members down or cut off?); "
                 "no endpoint answered ("
               : ": no endpoint answered (";
    msg += failures.empty() ? std::string("tried none") : failures;
    msg += ")";
    return Status::Unavailable(std::move(msg));
  }

  EtcdOptions options;
  curl_slist* headers = nullptr;         // with "hasleader"
  curl_slist* status_headers = nullptr;  // without
  std::mutex mu;
  std::vector<std::unique_ptr<Conn>> idle;  // guarded by mu
  // The endpoint that answered last: where the next call starts.
  std::atomic<size_t> preferred{0};
};

namespace {

Status Malformed(std::string_view what) {
  return Status::Internal("malformed " + std::string(what));
}

// One watch stream: splits the bytes that arrive into JSON objects (by
// counting braces outside strings, so it does not depend on how the gateway
// frames them: it ends each with "\n", but an error ends without one) and
// handles each as it completes.
class WatchStream {
 public:
  enum class End {
    kNone,
    kCallerDone,  // on_events returned false
    kFinal,       // `status` is the watch's answer
    kFailed,      // the endpoint failed; `failure` says how
  };

  WatchStream(std::string endpoint, int64_t start_revision,
              const std::function<bool(const std::vector<EtcdWatchEvent>&, int64_t)>* on_events,
              simdjson::dom::parser* parser)
      : endpoint_(std::move(endpoint)),
        start_revision_(start_revision),
        on_events_(on_events),
        parser_(parser) {}

  static size_t OnData(char* data, size_t size, size_t nmemb, void* userdata) {
    auto* self = static_cast<WatchStream*>(userdata);
    return self->Feed(std::string_view(data, size * nmemb)) ? size * nmemb : 0;
  }

  bool created() const { return created_; }
  End end() const { return end_; }
  // Bytes received so far (events, progress notifications, anything).
  size_t received() const { return received_; }
  const Status& status() const { return status_; }
  const std::string& failure() const { return failure_; }
  // Bytes received and not handled: the start of an object cut off.
  std::string_view leftover() const { return buf_; }

 private:
  bool Feed(std::string_view data) {
    received_ += data.size();
    buf_.append(data);
    size_t i = scan_;
    for (; i < buf_.size(); ++i) {
      const char ch = buf_[i];
      if (in_string_) {
        if (escaped_) {
          escaped_ = false;
        } else if (ch == '\\') {
          escaped_ = true;
        } else if (ch == '"') {
          in_string_ = false;
        }
        continue;
      }
      if (ch == '"' && depth_ > 0) {
        in_string_ = true;
      } else if (ch == '{') {
        if (depth_ == 0) object_start_ = i;
        ++depth_;
      } else if (ch == '}') {
        if (depth_ == 0) return Fail("a watch reply that is not JSON (" + Snippet(buf_) + ")");
        if (--depth_ == 0) {
          if (!Handle(std::string_view(buf_).substr(object_start_, i + 1 - object_start_))) {
            return false;
          }
        }
      } else if (depth_ == 0 && ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') {
        // Text outside any object: not the gateway's stream. Keep it for
        // the failure message.
        return Fail("a watch reply that is not JSON (" + Snippet(buf_) + ")");
      }
    }
    // Drop what has been handled; keep the object still arriving.
    if (depth_ > 0) {
      buf_.erase(0, object_start_);
      object_start_ = 0;
    } else {
      buf_.clear();
    }
    scan_ = buf_.size();
    return true;
  }

  bool Fail(std::string why) {
    end_ = End::kFailed;
    failure_ = endpoint_ + ": " + std::move(why);
    return false;
  }

  bool Finish(Status s) {
    end_ = End::kFinal;
    status_ = std::move(s);
    return false;
  }

  // Returns false to end the stream.
  bool Handle(std::string_view text) {
    element root;
    object o;
    if (parser_->parse(text.data(), text.size(), true).get(root) || root.get_object().get(o)) {
      return Fail("an unreadable watch reply (" + Snippet(text) + ")");
    }
    GatewayError err;
    if (ExtractError(o, &err)) {
      if (IsAvailabilityError(0, err) || created_) {
        // After the watch was created any error breaks the stream: the
        // caller re-watches (from another member if need be).
        if (!created_) return Fail(err.message);
        return Finish(Status::Unavailable("etcd: the watch stream from " + endpoint_ +
                                          " broke: " + err.message));
      }
      return Finish(FinalError("watch", endpoint_, err, 0));
    }
    object result;
    if (!ObjectField(o, "result", &result)) {
      return Fail("a watch reply without a result (" + Snippet(text) + ")");
    }
    int64_t revision = 0;
    int64_t compact_revision = 0;
    if (!HeaderRevision(result, &revision) ||
        !GetInt64(result, "compact_revision", &compact_revision)) {
      return Fail("a malformed watch reply (" + Snippet(text) + ")");
    }
    if (GetBool(result, "created")) created_ = true;
    std::string reason;
    GetString(result, "cancel_reason", &reason);
    if (compact_revision != 0 || (GetBool(result, "canceled") && Contains(reason, "compacted"))) {
      return Finish(Status::Compacted(
          "etcd compacted its history to revision " + std::to_string(compact_revision) +
          ", past the watch's start revision " + std::to_string(start_revision_) +
          " (read the current state with Range and watch from after its revision)"));
    }
    if (GetBool(result, "canceled")) {
      return Finish(Status::Unavailable("etcd: " + endpoint_ + " canceled the watch" +
                                        (reason.empty() ? std::string() : ": " + reason)));
    }
    element events_e;
    if (!Field(result, "events", &events_e)) return true;  // created, or progress
    array events_a;
    if (events_e.get_array().get(events_a)) return Fail("malformed watch events");
    events_.clear();
    for (element ev : events_a) {
      object ev_obj;
      object kv_obj;
      if (ev.get_object().get(ev_obj)) return Fail("a malformed watch event");
      EtcdWatchEvent event;
      std::string type;
      if (!GetString(ev_obj, "type", &type)) return Fail("a malformed watch event type");
      if (type == "DELETE") {
        event.is_delete = true;
      } else if (!type.empty() && type != "PUT") {
        return Fail("a watch event of unknown type " + type);
      }
      if (ObjectField(ev_obj, "kv", &kv_obj) && !ParseKv(kv_obj, &event.kv)) {
        return Fail("a malformed watch event key-value");
      }
      events_.push_back(std::move(event));
    }
    if (events_.empty()) return true;
    if (!(*on_events_)(events_, revision)) {
      end_ = End::kCallerDone;
      return false;
    }
    return true;
  }

  const std::string endpoint_;
  const int64_t start_revision_;
  const std::function<bool(const std::vector<EtcdWatchEvent>&, int64_t)>* on_events_;
  simdjson::dom::parser* parser_;
  std::vector<EtcdWatchEvent> events_;

  size_t received_ = 0;
  std::string buf_;
  size_t scan_ = 0;  // buf_ before this is scanned
  size_t object_start_ = 0;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;

  bool created_ = false;
  End end_ = End::kNone;
  Status status_;
  std::string failure_;
};

}  // namespace

EtcdClient::EtcdClient(EtcdOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}

EtcdClient::~EtcdClient() = default;

Status EtcdClient::Range(std::string_view key, std::string_view range_end, int64_t limit,
                         std::vector<EtcdKv>* kvs, int64_t* header_revision, bool* more,
                         bool keys_only) {
  kvs->clear();
  if (header_revision != nullptr) *header_revision = 0;
  if (more != nullptr) *more = false;
  if (options_.endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints");
  // etcd rejects the empty key; "" and "\0" start the same range (no key
  // is empty), and clientv3 sends "\0" for the whole key space too.
  if (key.empty() && !range_end.empty()) key = std::string_view("\0", 1);
  JsonWriter w;
  w.Bytes("key", key);
  if (!range_end.empty()) w.Bytes("range_end", range_end);
  if (limit > 0) w.Int("limit", limit);
  if (keys_only) w.Bool("keys_only", true);
  return impl_->Call("range", "/v3/kv/range", w.Take(), [&](object doc) -> Status {
    int64_t rev = 0;
    if (!HeaderRevision(doc, &rev)) return Malformed("header");
    if (!ParseKvs(doc, kvs)) return Malformed("kvs");
    if (header_revision != nullptr) *header_revision = rev;
    if (more != nullptr) *more = GetBool(doc, "more");
    return Status::Ok();
  });
}

Status EtcdClient::Put(std::string_view key, std::string_view value, int64_t lease) {
  if (options_.endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints");
  JsonWriter w;
  w.Bytes("key", key).Bytes("value", value);
  if (lease != 0) w.Int("lease", lease);
  return impl_->Call("put", "/v3/kv/put", w.Take(), [](object) { return Status::Ok(); });
}

Status EtcdClient::DeleteRange(std::string_view key, std::string_view range_end,
                               int64_t* deleted) {
  if (deleted != nullptr) *deleted = 0;
  if (options_.endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints");
  if (key.empty() && !range_end.empty()) key = std::string_view("\0", 1);
  JsonWriter w;
  w.Bytes("key", key);
  if (!range_end.empty()) w.Bytes("range_end", range_end);
  return impl_->Call("delete range", "/v3/kv/deleterange", w.Take(), [&](object doc) -> Status {
    int64_t n = 0;
    if (!GetInt64(doc, "deleted", &n)) return Malformed("deleted");
    if (deleted != nullptr) *deleted = n;
    return Status::Ok();
  });
}

namespace {

std::string CompareJson(const EtcdCompare& c) {
  JsonWriter w;
  w.Bytes("key", c.key);
  switch (c.result) {
    case EtcdCompare::Result::kEqual: w.String("result", "EQUAL"); break;
    case EtcdCompare::Result::kNotEqual: w.String("result", "NOT_EQUAL"); break;
    case EtcdCompare::Result::kGreater: w.String("result", "GREATER"); break;
    case EtcdCompare::Result::kLess: w.String("result", "LESS"); break;
  }
  switch (c.target) {
    case EtcdCompare::Target::kValue:
      w.String("target", "VALUE").Bytes("value", c.value);
      break;
    case EtcdCompare::Target::kVersion:
      w.String("target", "VERSION").Int("version", c.number);
      break;
    case EtcdCompare::Target::kCreateRevision:
      w.String("target", "CREATE").Int("create_revision", c.number);
      break;
    case EtcdCompare::Target::kModRevision:
      w.String("target", "MOD").Int("mod_revision", c.number);
      break;
  }
  return w.Take();
}

std::string OpJson(const EtcdOp& op) {
  JsonWriter inner;
  std::string_view key = op.key;
  if (op.type != EtcdOp::Type::kPut && key.empty() && !op.range_end.empty()) {
    key = std::string_view("\0", 1);
  }
  inner.Bytes("key", key);
  switch (op.type) {
    case EtcdOp::Type::kPut:
      inner.Bytes("value", op.value);
      if (op.lease != 0) inner.Int("lease", op.lease);
      return JsonWriter().Raw("request_put", inner.Take()).Take();
    case EtcdOp::Type::kDeleteRange:
      if (!op.range_end.empty()) inner.Bytes("range_end", op.range_end);
      return JsonWriter().Raw("request_delete_range", inner.Take()).Take();
    case EtcdOp::Type::kRange:
      if (!op.range_end.empty()) inner.Bytes("range_end", op.range_end);
      if (op.limit > 0) inner.Int("limit", op.limit);
      return JsonWriter().Raw("request_range", inner.Take()).Take();
  }
  return "{}";
}

template <typename T, typename ToJson>
std::string JsonArray(const std::vector<T>& items, ToJson to_json) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += to_json(items[i]);
  }
  out.push_back(']');
  return out;
}

}  // namespace

Status EtcdClient::Txn(const std::vector<EtcdCompare>& compares, const std::vector<EtcdOp>& success,
                       const std::vector<EtcdOp>& failure, EtcdTxnResult* result) {
  *result = EtcdTxnResult();
  if (options_.endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints");
  std::string body = JsonWriter()
                         .Raw("compare", JsonArray(compares, CompareJson))
                         .Raw("success", JsonArray(success, OpJson))
                         .Raw("failure", JsonArray(failure, OpJson))
                         .Take();
  return impl_->Call("txn", "/v3/kv/txn", body, [&](object doc) -> Status {
    result->succeeded = GetBool(doc, "succeeded");
    if (!HeaderRevision(doc, &result->header_revision)) return Malformed("header");
    const std::vector<EtcdOp>& taken = result->succeeded ? success : failure;
    const auto wanted = static_cast<size_t>(
        std::count_if(taken.begin(), taken.end(),
                      [](const EtcdOp& op) { return op.type == EtcdOp::Type::kRange; }));
    // One response per operation of the branch taken, in order; absent
    // when the branch is empty.
    element responses_e;
    array responses;
    if (Field(doc, "responses", &responses_e)) {
      if (responses_e.get_array().get(responses)) return Malformed("responses");
      for (element r : responses) {
        object r_obj;
        object range;
        if (r.get_object().get(r_obj)) return Malformed("response");
        if (!ObjectField(r_obj, "response_range", &range)) continue;
        result->ranges.emplace_back();
        if (!ParseKvs(range, &result->ranges.back())) return Malformed("response_range");
      }
    }
    if (result->ranges.size() != wanted) {
      return Status::Internal("txn answered " + std::to_string(result->ranges.size()) +
                              " ranges for " + std::to_string(wanted) + " range operations");
    }
    return Status::Ok();
  }, &result->reached);
}

Status EtcdClient::Compact(int64_t revision) {
  if (options_.endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints");
  std::string body = JsonWriter().Int("revision", revision).Bool("physical", false).Take();
  Status s = impl_->Call("compact", "/v3/kv/compaction", body, [](object) { return Status::Ok(); });
  // Compacting again (by another replica, say) leaves the same history.
  if (s.code() == Code::kCompacted) return Status::Ok();
  return s;
}

Status EtcdClient::LeaseGrant(int64_t ttl_seconds, int64_t* lease_id) {
  *lease_id = 0;
  if (options_.endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints");
  std::string body = JsonWriter().Int("TTL", ttl_seconds).Take();
  return impl_->Call("lease grant", "/v3/lease/grant", body, [&](object doc) -> Status {
    int64_t id = 0;
    if (!GetInt64(doc, "ID", &id) || id == 0) return Malformed("ID");
    *lease_id = id;
    return Status::Ok();
  });
}

Status EtcdClient::LeaseKeepAlive(int64_t lease_id, int64_t* ttl_seconds) {
  if (ttl_seconds != nullptr) *ttl_seconds = 0;
  if (options_.endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints");
  std::string body = JsonWriter().Int("ID", lease_id).Take();
  int64_t ttl = 0;
  // A keep-alive is a stream; one request in the body gets one
  // {"result":...} back. An unknown or expired lease answers TTL 0 (the
  // field left out), not an error.
  CANOPY_RETURN_IF_ERROR(
      impl_->Call("lease keep-alive", "/v3/lease/keepalive", body, [&](object doc) -> Status {
        if (!GetInt64(doc, "TTL", &ttl)) return Malformed("TTL");
        return Status::Ok();
      }));
  if (ttl <= 0) {
    return Status::NotFound("etcd: lease " + std::to_string(lease_id) +
                            " has expired or was revoked");
  }
  if (ttl_seconds != nullptr) *ttl_seconds = ttl;
  return Status::Ok();
}

Status EtcdClient::LeaseRevoke(int64_t lease_id) {
  if (options_.endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints");
  std::string body = JsonWriter().Int("ID", lease_id).Take();
  return impl_->Call("lease revoke", "/v3/lease/revoke", body, [](object) { return Status::Ok(); });
}

std::vector<EtcdMemberStatus> EtcdClient::MemberStatus() {
  std::vector<EtcdMemberStatus> out(options_.endpoints.size());
  if (InitCurlOnce() != CURLE_OK) {
    for (size_t i = 0; i < out.size(); ++i) {
      out[i].endpoint = options_.endpoints[i];
      out[i].error = "curl_global_init failed";
    }
    return out;
  }
  const int timeout_ms = std::min(options_.request_timeout_ms, kStatusTimeoutMs);
  auto ask = [&](size_t i) {
    EtcdMemberStatus& m = out[i];
    m.endpoint = options_.endpoints[i];
    std::unique_ptr<Conn> c = impl_->Acquire();
    if (c == nullptr) {
      m.error = "curl_easy_init failed";
      return;
    }
    object doc;
    // A member cut off from its leader answers too (with an "errors" list).
    Impl::Reply r = impl_->PostOnce(c.get(), "status", m.endpoint, "/v3/maintenance/status", "{}",
                                    timeout_ms, &doc, /*require_leader=*/false);
    if (!r.answered) {
      m.error = r.failure;
    } else if (!r.status.ok()) {
      m.error = r.status.message();
    } else {
      object header;
      int64_t db_size = 0;
      if (!GetString(doc, "version", &m.version) || !GetInt64(doc, "dbSize", &db_size) ||
          !GetUint64(doc, "leader", &m.leader) || !GetInt64(doc, "raftIndex", &m.raft_index) ||
          !ObjectField(doc, "header", &header) || !GetUint64(header, "member_id", &m.member_id)) {
        m.error = m.endpoint + ": a malformed status reply (" + Snippet(c->response) + ")";
      } else {
        m.reachable = true;
        m.db_size = db_size;
        // A member that answers but is cut off lists why ("etcdserver: no
        // leader").
        element errors_e;
        array errors;
        if (Field(doc, "errors", &errors_e) && !errors_e.get_array().get(errors)) {
          for (element e : errors) {
            std::string_view s;
            if (e.get_string().get(s)) continue;
            if (!m.error.empty()) m.error += "; ";
            m.error.append(s);
          }
        }
      }
    }
    impl_->Release(std::move(c));
  };
  // One thread per member, so dead members cost one timeout, not one each.
  std::vector<std::thread> threads;
  threads.reserve(out.size());
  for (size_t i = 0; i < out.size(); ++i) threads.emplace_back(ask, i);
  for (auto& t : threads) t.join();
  return out;
}

Status EtcdClient::Watch(
    std::string_view key, std::string_view range_end, int64_t start_revision,
    const std::function<bool(const std::vector<EtcdWatchEvent>&, int64_t)>& on_events,
    const std::atomic<bool>* stop) {
  if (options_.endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints");
  if (InitCurlOnce() != CURLE_OK) return Status::Internal("etcd: curl_global_init failed");
  auto stopped = [stop] { return stop != nullptr && stop->load(std::memory_order_relaxed); };
  if (key.empty() && !range_end.empty()) key = std::string_view("\0", 1);
  JsonWriter req;
  req.Bytes("key", key);
  if (!range_end.empty()) req.Bytes("range_end", range_end);
  if (start_revision > 0) req.Int("start_revision", start_revision);
  req.Bool("progress_notify", true);
  const std::string body = JsonWriter().Raw("create_request", req.Take()).Take();

  std::unique_ptr<Conn> c = impl_->Acquire();
  if (c == nullptr) return Status::Internal("etcd: curl_easy_init failed");
  // The stream runs on its own multi handle, polled in short slices, so the
  // stop flag is seen within kWatchPollMs even when nothing arrives (a
  // progress callback under curl_easy_perform may wait a second between
  // calls on an idle connection).
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) {
    impl_->Release(std::move(c));
    return Status::Internal("etcd: curl_multi_init failed");
  }

  const size_t n = options_.endpoints.size();
  const size_t first = impl_->preferred.load(std::memory_order_relaxed);
  std::string last_failure;
  Status result;
  bool done = false;
  for (size_t i = 0; i < n && !done; ++i) {
    if (stopped()) {
      done = true;
      break;
    }
    const size_t idx = (first + i) % n;
    const std::string& endpoint = options_.endpoints[idx];
    WatchStream stream(endpoint, start_revision, &on_events, &c->parser);
    impl_->Prepare(c.get(), endpoint + "/v3/watch", body, 0);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, &WatchStream::OnData);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &stream);
    curl_multi_add_handle(multi, c->curl);

    bool caller_stopped = false;
    bool create_timed_out = false;
    std::string silent;  // why the member was given up on while idle
    CURLcode rc = CURLE_OK;
    const auto started = std::chrono::steady_clock::now();
    auto last_heard = started;
    size_t heard = 0;
    for (;;) {
      int running = 0;
      const CURLMcode mc = curl_multi_perform(multi, &running);
      if (mc != CURLM_OK) {
        rc = CURLE_RECV_ERROR;
        std::snprintf(c->error, sizeof(c->error), "%s", curl_multi_strerror(mc));
        break;
      }
      if (running == 0) {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
          if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
        }
        break;
      }
      if (stopped()) {
        caller_stopped = true;
        break;
      }
      // A member that takes the connection but never creates the watch
      // (wedged, or not etcd) is given up on like a unary call's timeout.
      if (!stream.created() && stream.end() == WatchStream::End::kNone &&
          std::chrono::steady_clock::now() - started >
              std::chrono::milliseconds(options_.request_timeout_ms)) {
        create_timed_out = true;
        break;
      }
      // An idle watch asks its member whether it still answers (with a
      // leader): one that does not is given up on like a broken stream,
      // and the caller watches again through another member.
      const auto now = std::chrono::steady_clock::now();
      if (stream.received() != heard) {
        heard = stream.received();
        last_heard = now;
      } else if (stream.created() && stream.end() == WatchStream::End::kNone &&
                 now - last_heard > std::chrono::milliseconds(kWatchIdleProbeMs)) {
        std::unique_ptr<Conn> probe = impl_->Acquire();
        if (probe != nullptr) {
          object doc;
          const Impl::Reply r = impl_->PostOnce(
              probe.get(), "status", endpoint, "/v3/maintenance/status", "{}",
              std::min(options_.request_timeout_ms, kStatusTimeoutMs), &doc);
          if (!r.answered || !r.status.ok()) {
            silent = r.answered ? r.status.message() : r.failure;
          }
          impl_->Release(std::move(probe));
          if (!silent.empty()) break;
        }
        last_heard = std::chrono::steady_clock::now();
      }
      int ready = 0;
      curl_multi_poll(multi, nullptr, 0, kWatchPollMs, &ready);
    }
    curl_multi_remove_handle(multi, c->curl);
    // The member that served the watch is preferred from now on, but for
    // one that stopped answering: the next call starts at the next one.
    if (stream.created()) {
      impl_->preferred.store(silent.empty() ? idx : (idx + 1) % n, std::memory_order_relaxed);
    }

    if (caller_stopped || stream.end() == WatchStream::End::kCallerDone) {
      result = Status::Ok();
      done = true;
    } else if (stream.end() == WatchStream::End::kFinal) {
      result = stream.status();
      done = true;
    } else {
      std::string why;
      if (stream.end() == WatchStream::End::kFailed) {
        why = stream.failure();
      } else if (!silent.empty()) {
        why = endpoint + ": the watch heard nothing for " + std::to_string(kWatchIdleProbeMs) +
              " ms and the member does not answer (" + silent + ")";
      } else if (create_timed_out) {
        why = endpoint + ": the watch was not created within " +
              std::to_string(options_.request_timeout_ms) + " ms";
      } else if (rc != CURLE_OK) {
        why = endpoint + ": " + (c->error[0] != '\0' ? c->error : curl_easy_strerror(rc));
      } else {
        long http = 0;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &http);
        why = endpoint + ": the watch stream ended (HTTP " + std::to_string(http) +
              (stream.leftover().empty() ? std::string()
                                         : ", " + Snippet(stream.leftover())) + ")";
      }
      if (stream.created()) {
        // The member served the watch and then went away: the caller
        // re-watches from where it got to.
        result = Status::Unavailable("etcd: the watch stream broke (" + why + ")");
        done = true;
      } else {
        if (!last_failure.empty()) last_failure += "; ";
        last_failure += why;
      }
    }
  }
  curl_multi_cleanup(multi);
  impl_->Release(std::move(c));
  if (done) return result;
  if (stopped()) return Status::Ok();
  return impl_->NoEndpoint("watch", last_failure);
}

}  // namespace canopy::replication
