// Copyright (c) Canopy authors.
//
// The REST API of canopy_http (docs/http.md), through a real HTTP client
// (cpp-httplib's) against a real server on an ephemeral loopback port:
// every route, its paging and filters, and every error — wrong or missing
// token, unknown route or parameter, bad JSON, oversized body, a forged
// cursor, the engine's refusals — and that nothing changed after one.

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "canopy/db.h"
#include "canopy/json.h"
#include "server.h"

namespace canopy::http {
namespace {

// One parsed JSON answer; keeps its parser alive.
struct Json {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit Json(const std::string& text) {
    EXPECT_EQ(parser.parse(text).get(root), simdjson::SUCCESS) << text;
  }
  std::string Str(const char* field) {
    std::string_view v;
    if (root[field].get(v) != simdjson::SUCCESS) return "<none>";
    return std::string(v);
  }
  int64_t Int(const char* field) {
    int64_t v = -1;
    if (root[field].get(v) != simdjson::SUCCESS) {
      uint64_t u = 0;
      if (root[field].get(u) == simdjson::SUCCESS) return static_cast<int64_t>(u);
      return -1;
    }
    return v;
  }
  bool Bool(const char* field) {
    bool v = false;
    EXPECT_EQ(root[field].get(v), simdjson::SUCCESS) << field;
    return v;
  }
  // The string `field` of each element of the array `array`.
  std::vector<std::string> Column(const char* array, const char* field) {
    std::vector<std::string> out;
    simdjson::dom::array a;
    if (root[array].get(a) != simdjson::SUCCESS) return out;
    for (auto e : a) {
      std::string_view v;
      if (e[field].get(v) == simdjson::SUCCESS) out.emplace_back(v);
    }
    return out;
  }
};

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/canopy_http_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Options o;
    o.create_if_missing = true;
    ASSERT_TRUE(Db::Open(o, dir_ + "/db", &db_).ok());
    Seed();
    system_ = StartAs(Actor::System(), "").get();
  }
  void TearDown() override {
    servers_.clear();
    if (db_) {
      EXPECT_TRUE(db_->Close().ok());
    }
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  AccountId Account(const std::string& key, AccountId parent, bool management = true) {
    AccountSpec spec;
    spec.key = key;
    spec.name = "Name of " + key;
    spec.parent = parent;
    spec.settings.sub_account_management = management;
    auto id = db_->CreateAccount(Actor::System(), spec);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : AccountId(kNoId);
  }
  void Device(const std::string& key, AccountId owner, const std::string& type = "sensor") {
    EntitySpec spec;
    spec.key = key;
    spec.unit_id = "unit-" + key;
    spec.name = "Device " + key;
    spec.type = type;
    spec.owner = owner;
    auto id = db_->CreateEntity(Actor::System(), spec);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
  }
  UserId Member(const std::string& login, AccountId account, const char* role, bool branch) {
    auto u = db_->CreateUser(Actor::System(), {login, login, account});
    EXPECT_TRUE(u.ok()) << u.status().ToString();
    auto r = db_->FindRole(account, role);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(db_->Invite(Actor::System(), *u, account, r->id, branch).ok());
    return *u;
  }

  // acme > acme-a > acme-a1, acme > acme-b, other; alice administers
  // acme-a's branch, bob views acme-a1 only.
  void Seed() {
    acme_ = Account("acme", kNoId);
    acme_a_ = Account("acme-a", acme_);
    acme_a1_ = Account("acme-a1", acme_a_);
    acme_b_ = Account("acme-b", acme_);
    other_ = Account("other", kNoId);
    Device("d-root", acme_);
    Device("d-a1", acme_a_, "tracker");
    Device("d-a2", acme_a_);
    Device("d-a3", acme_a_);
    Device("d-a1-1", acme_a1_);
    Device("d-a1-2", acme_a1_, "tracker");
    Device("d-b", acme_b_);
    Device("d-other", other_);
    Member("admin@acme", acme_, "account_admin", true);
    Member("alice", acme_a_, "account_admin", true);
    Member("bob", acme_a1_, "viewer", false);
  }

  std::unique_ptr<Server>& StartAs(Actor viewer, const std::string& login,
                                   size_t max_body = 1 << 20) {
    ServerOptions o;
    o.viewer = viewer;
    o.viewer_login = login;
    o.max_body_bytes = max_body;
    o.threads = 4;
    servers_.emplace_back();
    Status s = Server::Start(db_.get(), o, &servers_.back());
    EXPECT_TRUE(s.ok()) << s.ToString();
    return servers_.back();
  }
  UserId UserIdOf(const std::string& login) { return db_->FindUser(login)->id; }

  // A client of `server` that sends its token.
  static std::unique_ptr<httplib::Client> ClientOf(const Server& server) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", server.port());
    c->set_default_headers({{"Authorization", "Bearer " + server.token()}});
    c->set_read_timeout(30, 0);
    return c;
  }
  httplib::Result Get(const std::string& path) { return ClientOf(*system_)->Get(path.c_str()); }
  httplib::Result Post(const std::string& path, const std::string& body,
                       const Server* server = nullptr) {
    return ClientOf(server ? *server : *system_)->Post(path.c_str(), body, "application/json");
  }
  // Asserts the status and returns the parsed body.
  static std::unique_ptr<Json> Expect(const httplib::Result& r, int status) {
    EXPECT_TRUE(r) << "no answer";
    if (!r) return std::make_unique<Json>("{}");
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << r->body;
    return std::make_unique<Json>(r->body);
  }
  uint64_t AccountCount() {
    TablePage page;
    TableRequest req(Actor::System());
    EXPECT_TRUE(db_->AccountsTable(req, &page).ok());
    return page.total;
  }

  std::string dir_;
  std::unique_ptr<Db> db_;
  std::vector<std::unique_ptr<Server>> servers_;
  Server* system_ = nullptr;
  AccountId acme_ = kNoId, acme_a_ = kNoId, acme_a1_ = kNoId, acme_b_ = kNoId, other_ = kNoId;
};

// StartAs returns a reference into servers_; keep a plain pointer.
#define START_AS(viewer, login) (StartAs(viewer, login).get())

// ---- Access ------------------------------------------------------------

TEST_F(HttpTest, ListensOnLoopbackOnlyByDefault) {
  ServerOptions defaults;
  EXPECT_EQ(defaults.listen, "127.0.0.1");
  EXPECT_EQ(system_->url().rfind("http://127.0.0.1:" + std::to_string(system_->port()) +
                                     "/?token=",
                                 0),
            0u)
      << system_->url();
  EXPECT_EQ(system_->token().size(), 32u);
  // Each server draws its own token.
  EXPECT_NE(START_AS(Actor::System(), "")->token(), system_->token());
}

// What a server says of the address it listens on: loopback only or not,
// and the URL to open, which names a loopback address when it listens on
// every address (a browser cannot open 0.0.0.0 or [::]).
TEST_F(HttpTest, SaysWhetherItListensBeyondLoopbackAndGivesAUrlToOpen) {
  EXPECT_TRUE(system_->loopback_only());
  struct Case {
    std::string listen;
    bool loopback_only;
    std::string host;  // in the URL
  };
  const std::vector<Case> cases = {{"127.0.0.1", true, "127.0.0.1"},
                                   {"127.0.0.2", true, "127.0.0.2"},
                                   {"localhost", true, "localhost"},
                                   {"::1", true, "[::1]"},
                                   {"0.0.0.0", false, "127.0.0.1"},
                                   {"::", false, "[::1]"}};
  for (const Case& c : cases) {
    ServerOptions o;
    o.listen = c.listen;
    std::unique_ptr<Server> server;
    Status s = Server::Start(db_.get(), o, &server);
    if (!s.ok() && c.listen.find(':') != std::string::npos) {
      continue;  // no IPv6 on this machine
    }
    ASSERT_TRUE(s.ok()) << c.listen << ": " << s.ToString();
    EXPECT_EQ(server->loopback_only(), c.loopback_only) << c.listen;
    const std::string prefix = "http://" + c.host + ":" + std::to_string(server->port()) + "/?token=";
    EXPECT_EQ(server->url().rfind(prefix, 0), 0u) << c.listen << ": " << server->url();
    // The URL's address answers.
    if (c.host != "localhost") {
      std::string host = c.host;
      if (host.front() == '[') host = host.substr(1, host.size() - 2);
      httplib::Client client(host, server->port());
      client.set_default_headers({{"X-Canopy-Token", server->token()}});
      auto r = client.Get("/api/session");
      ASSERT_TRUE(r) << c.listen << ": no answer at " << server->url();
      EXPECT_EQ(r->status, 200);
    }
    server->Stop();
  }
}

// A non-loopback IPv4 address of this machine, or "" when it has none.
std::string OtherAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof(text));
    if (std::string(text).rfind("127.", 0) != 0) found = text;
  }
  freeifaddrs(list);
  return found;
}

TEST_F(HttpTest, NotReachableThroughOtherAddresses) {
  const std::string other = OtherAddress();
  if (other.empty()) GTEST_SKIP() << "this machine has no address but loopback";
  httplib::Client c(other, system_->port());
  c.set_connection_timeout(2, 0);
  c.set_default_headers({{"Authorization", "Bearer " + system_->token()}});
  auto r = c.Get("/api/session");
  EXPECT_FALSE(r) << "answered on " << other << ": " << r->status;
  // Loopback answers.
  Expect(Get("/api/session"), 200);
}

TEST_F(HttpTest, MissingTokenIs401AndWrongTokenIs403) {
  httplib::Client c("127.0.0.1", system_->port());
  auto r = c.Get("/api/session");
  auto j = Expect(r, 401);
  EXPECT_NE(j->Str("message").find("token is required"), std::string::npos);
  EXPECT_EQ(c.Get("/")->status, 401);
  j = Expect(c.Get("/api/session?token=nope"), 403);
  EXPECT_EQ(j->Str("message"), "wrong token");
  c.set_default_headers({{"Authorization", "Bearer " + std::string(32, 'a')}});
  Expect(c.Get("/api/accounts"), 403);
  // Spaces after the scheme are allowed; an empty ?token= does not hide
  // the header's token.
  c.set_default_headers({{"Authorization", "Bearer   " + system_->token()}});
  Expect(c.Get("/api/session"), 200);
  Expect(c.Get("/api/session?token="), 200);
  c.set_default_headers({{"Authorization", "Bearer "}});
  Expect(c.Get("/api/session"), 401);
  // A write without the token changes nothing.
  httplib::Client anon("127.0.0.1", system_->port());
  const uint64_t before = AccountCount();
  Expect(anon.Post("/api/accounts", R"({"key":"x"})", "application/json"), 401);
  EXPECT_EQ(AccountCount(), before);
}

TEST_F(HttpTest, TokenInTheUrlBecomesACookie) {
  httplib::Client c("127.0.0.1", system_->port());
  auto r = c.Get(("/?token=" + system_->token()).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->get_header_value("Location"), "/");
  const std::string cookie = r->get_header_value("Set-Cookie");
  // Named after the port: consoles on other ports of the host keep theirs.
  const std::string name = "canopy_token_" + std::to_string(system_->port());
  EXPECT_EQ(cookie.rfind(name + "=" + system_->token() + ";", 0), 0u) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  c.set_default_headers({{"Cookie", "canopy_token=" + system_->token()}});
  Expect(c.Get("/api/session"), 401);  // another console's cookie is no token here
  c.set_default_headers({{"Cookie", name + "=; " + name + "=" + system_->token()}});
  Expect(c.Get("/api/session"), 400);  // named twice
  c.set_default_headers({{"Cookie", "other=1; " + name + "=" + system_->token()}});
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<title>Canopy</title>"), std::string::npos);
  EXPECT_EQ(c.Get("/app.js")->status, 200);
  // The other header form.
  httplib::Client h("127.0.0.1", system_->port());
  h.set_default_headers({{"X-Canopy-Token", system_->token()}});
  Expect(h.Get("/api/session"), 200);
}

// A server on db with `threads` request threads and a request timeout of
// two minutes: within a test, only the first seconds' rule for a
// connection without the token cuts one.
std::unique_ptr<Server> StartPatient(Db* db, size_t threads) {
  ServerOptions o;
  o.threads = threads;
  o.request_timeout_ms = 120000;
  std::unique_ptr<Server> server;
  Status s = Server::Start(db, o, &server);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return server;
}

// A socket connected to `server` on the loopback address, or -1.
int ConnectTo(const Server& server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `raw` as it is to `server` and returns everything it answers
// (the request should ask "Connection: close").
std::string RawExchange(const Server& server, const std::string& raw);

// Every answer is whole, whatever Range asks (the library would slice any
// answer under 200, and build one part per range listed), and forbids
// framing.
TEST_F(HttpTest, RangeIsIgnoredAndFramingRefused) {
  httplib::Client c("127.0.0.1", system_->port());
  c.set_default_headers({{"X-Canopy-Token", system_->token()}, {"Range", "bytes=0-9"}});
  auto r = c.Get("/api/session");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("Content-Range"));
  EXPECT_NE(r->body.find("\"viewer\""), std::string::npos);
  EXPECT_EQ(r->body.back(), '}') << r->body;
  EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(r->get_header_value("Content-Security-Policy"), "frame-ancestors 'none'");
  // Every answer says it serves no ranges, HEAD answers too (the library
  // would offer "bytes" there).
  EXPECT_EQ(r->get_header_value("Accept-Ranges"), "none");
  for (const char* path : {"/api/session", "/app.js", "/"}) {
    httplib::Client head("127.0.0.1", system_->port());
    head.set_default_headers({{"X-Canopy-Token", system_->token()}});
    auto h = head.Head(path);
    ASSERT_TRUE(h) << path;
    EXPECT_EQ(h->get_header_value_count("Accept-Ranges"), 1u) << path;
    EXPECT_EQ(h->get_header_value("Accept-Ranges"), "none") << path;
  }
  std::string many = "bytes=0-";
  for (int i = 0; i < 500; ++i) many += ",0-";
  httplib::Client plain("127.0.0.1", system_->port());
  plain.set_default_headers({{"X-Canopy-Token", system_->token()}});
  const size_t whole = plain.Get("/app.js")->body.size();
  EXPECT_GT(whole, 1000u);
  c.set_default_headers({{"X-Canopy-Token", system_->token()}, {"Range", many}});
  r = c.Get("/app.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), whole);
  // So do the answers the library gives by itself (a request line too
  // long, a method it does not know).
  for (const std::string& raw :
       {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        std::string("FOO / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")}) {
    const std::string answer = RawExchange(*system_, raw);
    EXPECT_TRUE(answer.rfind("HTTP/1.1 414", 0) == 0 || answer.rfind("HTTP/1.1 400", 0) == 0)
        << answer.substr(0, 100);
    EXPECT_NE(answer.find("X-Frame-Options: DENY"), std::string::npos) << answer.substr(0, 300);
    EXPECT_NE(answer.find("X-Content-Type-Options: nosniff"), std::string::npos);
  }
  // The boundary docs/http.md gives: a request line of 8190 bytes is read
  // (401 here: no token), one of 8191 is 414.
  for (const size_t line : {8190u, 8191u}) {
    const std::string raw = "GET /" + std::string(line - 14, 'a') +
                            " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const std::string answer = RawExchange(*system_, raw);
    EXPECT_EQ(answer.rfind(line == 8190 ? "HTTP/1.1 401" : "HTTP/1.1 414", 0), 0u)
        << line << ": " << answer.substr(0, 100);
  }
  // Refusals too: a 401 is whole and forbids framing.
  plain.set_default_headers({{"Range", "bytes=0-3"}});
  r = plain.Get("/api/session");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->body.find("a token is required"), std::string::npos);
  EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY");
}

// A header the server decides by, given twice, is refused whichever copy
// it would have read.
TEST_F(HttpTest, AHeaderTheServerDecidesByGivenTwiceIs400) {
  const std::string token = system_->token();
  for (const std::string& twice :
       {"X-Canopy-Token: " + token + "\r\nX-Canopy-Token: " + token,
        "Authorization: Bearer " + token + "\r\nAuthorization: Bearer " + token,
        "X-Canopy-Token: " + token + "\r\nOrigin: http://a\r\nOrigin: http://b",
        "X-Canopy-Token: " + token + "\r\nCookie: a=1\r\nCookie: b=2",
        "X-Canopy-Token: " + token + "\r\nContent-Length: 0\r\nContent-Length: 0",
        "X-Canopy-Token: " + token + "\r\nContent-Encoding: identity\r\nContent-Encoding: gzip",
        "X-Canopy-Token: " + token +
            "\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked"}) {
    const std::string answer = RawExchange(
        *system_, "GET /api/session HTTP/1.1\r\nHost: x\r\n" + twice + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << twice << "\n" << answer;
    EXPECT_NE(answer.find("is given more than once"), std::string::npos) << answer;
  }
  // A write framed one way by the first Transfer-Encoding and another by
  // the second (what a proxy in front might read) is refused, and writes
  // nothing.
  const std::string body = R"({"key":"te-twice","name":"T"})";
  const std::string answer = RawExchange(
      *system_, "POST /api/accounts HTTP/1.1\r\nHost: x\r\nX-Canopy-Token: " + token +
                    "\r\nContent-Type: application/json\r\nTransfer-Encoding: identity\r\n"
                    "Transfer-Encoding: chunked\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_NE(answer.find("the header Transfer-Encoding is given more than once"), std::string::npos)
      << answer;
  EXPECT_EQ(db_->FindAccount("te-twice").status().code(), Code::kNotFound);
}

// A connection that brings no request with the token is closed after two
// seconds, not the whole request timeout: connecting and sending nothing
// (or requests without the token) does not hold a request thread.
TEST_F(HttpTest, ConnectionsWithoutTheTokenAreCutSoon) {
  std::unique_ptr<Server> server = StartPatient(db_.get(), 1);
  ASSERT_NE(server, nullptr);
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) {
    const int fd = ConnectTo(*server);
    ASSERT_GE(fd, 0);
    if (i % 2 == 1) {  // one request without the token, then nothing
      const std::string req = "GET /api/session HTTP/1.1\r\nHost: x\r\n\r\n";
      ASSERT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    }
    idle.push_back(fd);
  }
  // Served meanwhile (beside the idle connections, on more threads).
  Expect(ClientOf(*server)->Get("/api/session"), 200);
  for (int fd : idle) {
    timeval wait{};
    wait.tv_sec = 60;  // far below the request timeout
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait)), 0);
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {  // the 401, if any
    }
    EXPECT_EQ(n, 0) << "the server did not close an idle connection without the token";
    close(fd);
  }
  server->Stop();
}

// A client without the token that streams an endless header block is cut
// at its first seconds too: unread bytes restart a connection's clock only
// while connections wait for a thread (the server is behind), not while a
// thread reads a header that never ends (it held its thread for three
// request timeouts, and the server grew by gigabytes meanwhile).
TEST_F(HttpTest, AnEndlessHeaderWithoutTheTokenIsCutSoon) {
  std::unique_ptr<Server> server = StartPatient(db_.get(), 2);
  ASSERT_NE(server, nullptr);
  const int fd = ConnectTo(*server);
  ASSERT_GE(fd, 0);
  timeval wait{};
  wait.tv_sec = 1;
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof(wait)), 0);
  const std::string start = "GET /api/session HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(send(fd, start.data(), start.size(), MSG_NOSIGNAL), static_cast<ssize_t>(start.size()));
  const std::string line = "X-Filler: " + std::string(1000, 'f') + "\r\n";
  const auto opened = std::chrono::steady_clock::now();
  bool cut = false;
  while (std::chrono::steady_clock::now() - opened < std::chrono::seconds(30)) {
    const ssize_t n = send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n <= 0) {
      cut = true;
      break;
    }
  }
  EXPECT_TRUE(cut) << "an endless header kept its connection for 30 s";
  // Served meanwhile and after.
  Expect(ClientOf(*server)->Get("/api/session"), 200);
  close(fd);
  server->Stop();
}

// A refused answer does not restart a connection's first two seconds: a
// client sending a request without the token now and then is cut as soon
// as one that sends nothing.
TEST_F(HttpTest, RefusedRequestsDoNotExtendAConnectionsFirstSeconds) {
  std::unique_ptr<Server> server = StartPatient(db_.get(), 1);
  ASSERT_NE(server, nullptr);
  const int fd = ConnectTo(*server);
  ASSERT_GE(fd, 0);
  timeval wait{};
  wait.tv_sec = 10;
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait)), 0);
  const auto opened = std::chrono::steady_clock::now();
  int answers = 0;
  bool closed = false;
  const std::string req = "GET /api/session HTTP/1.1\r\nHost: x\r\n\r\n";
  // One every 1.5 s: each answer came before the 2 s were up, so
  // restarting the clock on it would keep the connection for as many
  // requests as the library allows on one (about 9 s).
  for (int i = 0; i < 8 && !closed; ++i) {
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      closed = true;
      break;
    }
    // One whole answer: its headers, then Content-Length bytes.
    std::string answer;
    size_t end = std::string::npos, want = 0;
    while (!closed && (end == std::string::npos || answer.size() < end + 4 + want)) {
      char buf[8192];
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      answer.append(buf, static_cast<size_t>(n));
      end = answer.find("\r\n\r\n");
      const size_t at = answer.find("Content-Length: ");
      if (end != std::string::npos && at != std::string::npos && at < end) {
        want = std::stoul(answer.substr(at + 16));
      }
    }
    if (closed) break;
    EXPECT_EQ(answer.rfind("HTTP/1.1 401", 0), 0u) << answer;
    ++answers;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  const double held =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - opened).count();
  close(fd);
  EXPECT_TRUE(closed) << "a connection without the token lasted " << answers << " answers";
  EXPECT_LE(answers, 3) << "held " << held << " s";
  EXPECT_LT(held, 6.0) << answers << " answers";
  server->Stop();
}

std::string RawExchange(const Server& server, const std::string& raw) {
  const int fd = ConnectTo(server);
  if (fd < 0) return "";
  timeval wait{};
  wait.tv_sec = 20;  // a server that never answers fails the test, not hangs it
  std::string answer;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait)) == 0 &&
      send(fd, raw.data(), raw.size(), 0) == static_cast<ssize_t>(raw.size())) {
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) {
      answer.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return answer;
}

// A client that sends its request a byte at a time holds a pool thread
// only until request_timeout_ms: then its connection is closed, the one
// thread serves others, and Stop does not wait for such clients.
TEST_F(HttpTest, SlowClientsAreCutOffAndDoNotHoldStop) {
  ServerOptions o;
  o.threads = 1;
  o.request_timeout_ms = 400;
  std::unique_ptr<Server> server;
  ASSERT_TRUE(Server::Start(db_.get(), o, &server).ok());
  std::atomic<bool> trickling{true};
  std::atomic<int> cut{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < 3; ++i) {
    slow.emplace_back([&] {
      const int fd = ConnectTo(*server);
      if (fd < 0) return;
      const std::string head = "GET /api/session HTTP/1.1\r\nHost: x\r\nX-Slow: ";
      (void)send(fd, head.data(), head.size(), MSG_NOSIGNAL);
      while (trickling) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        char c;
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1 ||  // reset by the server
            recv(fd, &c, 1, MSG_DONTWAIT) == 0) {  // the server closed it
          ++cut;
          break;
        }
      }
      close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  Expect(ClientOf(*server)->Get("/api/session"), 200);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(waited, std::chrono::seconds(10));  // without the cut: never, while they trickle
  // The trickling clients see their cut (each looks every 50 ms) before Stop.
  const auto cut_by = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (cut.load() == 0 && std::chrono::steady_clock::now() < cut_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(cut.load(), 1);
  // Stop with a client trickling: it returns (the trickling is cut).
  std::thread again([&] {
    const int fd = ConnectTo(*server);
    if (fd >= 0) {
      (void)send(fd, "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL);
      for (int i = 0; i < 200 && send(fd, "a", 1, MSG_NOSIGNAL) == 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      close(fd);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server->Stop();
  trickling = false;
  for (auto& t : slow) t.join();
  again.join();
  ServerOptions bad;
  bad.request_timeout_ms = 0;
  EXPECT_EQ(Server::Start(db_.get(), bad, &server).code(), Code::kInvalidArgument);
}

// Reads from `fd` until the server closes it (or `seconds` pass), `chunk`
// bytes at a time with `pause` between reads; returns what came.
std::string Drain(int fd, size_t chunk, std::chrono::milliseconds pause, int seconds) {
  timeval wait{};
  wait.tv_sec = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  std::string got;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::vector<char> buf(chunk);
  while (std::chrono::steady_clock::now() < end) {
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
    if (n > 0) got.append(buf.data(), static_cast<size_t>(n));
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  return got;
}

// The class of slow clients, beyond request headers sent a byte at a time:
// a client that reconnects from the same address and port after being cut
// is cut again (the watchdog knew connections by their peer's address and
// port, and took the new one for the one it had cut); a token holder that
// sends its body a byte at a time, and a client that takes its answer a
// few bytes at a time, are cut after request_timeout_ms too, and Stop
// does not wait for any of them.
TEST_F(HttpTest, SlowBodiesSlowReadersAndReconnectsAreCut) {
  ServerOptions o;
  o.threads = 1;
  o.request_timeout_ms = 600;
  std::unique_ptr<Server> server;
  ASSERT_TRUE(Server::Start(db_.get(), o, &server).ok());
  // Reconnecting from the same port: cut each time (2 s without the token).
  const uint16_t local_port = static_cast<uint16_t>(20000 + getpid() % 20000);
  auto connect_from = [&]() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(local_port);
    sockaddr_in to = a;
    to.sin_port = htons(static_cast<uint16_t>(server->port()));
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  };
  for (int round = 0; round < 2; ++round) {
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; ++i) {  // the port may be briefly busy
      fd = connect_from();
      if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GE(fd, 0) << "round " << round;
    const auto t0 = std::chrono::steady_clock::now();
    (void)send(fd, "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL);
    Drain(fd, 64, std::chrono::milliseconds(0), 15);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6)) << "round " << round;
    close(fd);
  }
  // A body sent a byte at a time, with the token (these headers, then
  // spaces).
  const std::string head = "POST /api/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           server->token() +
                           "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
  {
    const int fd = ConnectTo(*server);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
    const auto t0 = std::chrono::steady_clock::now();
    bool closed = false;
    for (int i = 0; i < 99 && !closed; ++i) {  // never the whole body
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (send(fd, " ", 1, MSG_NOSIGNAL) != 1) closed = true;
      char c;
      if (recv(fd, &c, 1, MSG_DONTWAIT) >= 0) closed = true;  // an answer, or the end
    }
    EXPECT_TRUE(closed) << "a body sent a byte at a time held its connection for 10 s";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6));
    close(fd);
  }
  // Stop with a body trickling in and an answer of megabytes taken a few
  // bytes at a time (its write would otherwise go on as long as the client
  // reads): it returns within about a second.
  std::string file = dir_ + "/many.jsonl";
  {
    std::ofstream f(file);
    f << R"({"type":"account","key":"many","name":"M"})" << "\n"
      << R"({"type":"user","login":"many-admin","name":"A","account":"many"})" << "\n"
      << R"({"type":"membership","login":"many-admin","account":"many","role":"account_admin","branch":true})"
      << "\n";
    for (int i = 0; i < 10000; ++i) {
      f << R"({"type":"device","key":"many-)" << i << R"(","name":")" << std::string(250, 'n')
        << R"(","account":"many"})" << "\n";
    }
  }
  ASSERT_TRUE(db_->Import(Actor::System(), file, ImportOptions(), nullptr).ok());
  std::atomic<bool> trickling{true};
  std::thread reader([&] {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const int small = 2048;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<uint16_t>(server->port()));
    if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
      close(fd);
      return;
    }
    const std::string req = "GET /api/devices?user=many-admin&pageSize=10000 HTTP/1.1\r\n"
                            "Host: x\r\nAuthorization: Bearer " + server->token() + "\r\n\r\n";
    (void)send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    // A byte more, which the thread writing the answer never reads: unread
    // bytes must not pass for a connection waiting in the pool's queue.
    (void)send(fd, "G", 1, MSG_NOSIGNAL);
    char buf[64];
    while (trickling && recv(fd, buf, sizeof(buf), 0) > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    close(fd);
  });
  std::thread slow([&] {
    const int fd = ConnectTo(*server);
    if (fd < 0) return;
    (void)send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    while (trickling && send(fd, " ", 1, MSG_NOSIGNAL) == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    close(fd);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto t0 = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
  trickling = false;
  slow.join();
  reader.join();
}

// A request that takes longer than request_timeout_ms to answer (here a
// write waiting behind an import that holds the write lock; on a replica,
// a write waiting for etcd) gets its answer, on a fresh connection as on a
// reused one: the watchdog cut such a connection while it was answered,
// and the client got no answer for a write that was made.
TEST_F(HttpTest, ARequestSlowerThanTheTimeoutIsAnsweredNotCut) {
  ServerOptions o;
  o.request_timeout_ms = 300;
  std::unique_ptr<Server> server;
  ASSERT_TRUE(Server::Start(db_.get(), o, &server).ok());
  for (const std::string key : {"slow1", "slow2"}) {
    const std::string file = dir_ + "/" + key + ".jsonl";
    {
      std::ofstream f(file);
      f << R"({"type":"account","key":"imported-)" << key << R"(","name":"I"})" << "\n";
    }
    std::mutex mu;
    std::condition_variable cv;
    bool holding = false, release = false;
    std::thread import([&] {
      ImportOptions io;
      io.progress = [&](uint64_t, uint64_t) {
        std::unique_lock<std::mutex> l(mu);
        holding = true;
        cv.notify_all();
        cv.wait(l, [&] { return release; });
        return true;
      };
      ImportReport report;
      (void)db_->Import(Actor::System(), file, io, &report);
    });
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return holding; });
    }
    std::thread releaser([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // 5 x the timeout
      std::lock_guard<std::mutex> l(mu);
      release = true;
      cv.notify_all();
    });
    const std::string body = R"({"key":")" + key + R"(","name":"S"})";
    auto j = Expect(ClientOf(*server)->Post("/api/accounts", body, "application/json"), 201);
    EXPECT_EQ(j->Str("key"), key);
    releaser.join();
    import.join();
    EXPECT_TRUE(db_->FindAccount(key).ok()) << key;
  }
}

TEST_F(HttpTest, UnknownRouteIs404) {
  auto j = Expect(Get("/api/nothing"), 404);
  EXPECT_EQ(j->Str("message"), "no route GET /api/nothing");
  Expect(Post("/api/session", "{}"), 404);
  // Any other method, with or without a body's length: no route (not 411
  // "send the body with a Content-Length").
  for (const std::string method : {"DELETE", "OPTIONS", "PUT", "PATCH"}) {
    const std::string answer = RawExchange(
        *system_, method + " /api/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                      system_->token() + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 404", 0), 0u) << method << ": " << answer;
    EXPECT_NE(answer.find("no route " + method + " /api/accounts"), std::string::npos) << answer;
  }
}

TEST_F(HttpTest, UnknownOrRepeatedParameterIs400) {
  auto j = Expect(Get("/api/accounts?pagesize=3"), 400);
  EXPECT_EQ(j->Str("message"), "unknown parameter 'pagesize'");
  j = Expect(Get("/api/accounts?pageSize=3&pageSize=4"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'pageSize' given more than once");
  // The same value twice is a repeat too.
  j = Expect(Get("/api/accounts?pageSize=3&pageSize=3"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'pageSize' given more than once");
  // A parameter without a name is said so (not named by its value).
  j = Expect(Get("/api/accounts?=1"), 400);
  EXPECT_EQ(j->Str("message"), "a parameter has no name (value '1')");
  // The token given twice: refused whichever of the two is empty.
  for (const std::string& q : {"?token=&token=" + system_->token(),
                              "?token=" + system_->token() + "&token="}) {
    httplib::Client bare("127.0.0.1", system_->port());
    j = Expect(bare.Get(("/api/session" + q).c_str()), 400);
    EXPECT_EQ(j->Str("message"), "parameter 'token' given more than once") << q;
  }
  // The page and its files take no parameter either (an "as" or "actor"
  // there looked accepted).
  for (const char* path : {"/?as=root", "/app.js?actor=x", "/style.css?as=x"}) {
    j = Expect(Get(path), 400);
    EXPECT_NE(j->Str("message").find("unknown parameter"), std::string::npos) << path;
  }
  for (const char* path : {"/", "/app.js", "/style.css"}) {
    auto r = Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
  }
  j = Expect(Get("/api/accounts?pageSize=3&page%53ize=3"), 400);  // decoded alike
  EXPECT_EQ(j->Str("message"), "parameter 'pageSize' given more than once");
  // And so is a body field given twice: refused, nothing created.
  j = Expect(Post("/api/accounts", R"({"key":"dup","name":"D","parent":"acme-a","key":"dup2"})"),
             400);
  EXPECT_EQ(j->Str("message"), "field 'key' given more than once");
  EXPECT_FALSE(db_->FindAccount("dup").ok());
  EXPECT_FALSE(db_->FindAccount("dup2").ok());
}

TEST_F(HttpTest, Session) {
  auto j = Expect(Get("/api/session"), 200);
  EXPECT_EQ(j->Str("viewer"), "system");
  EXPECT_TRUE(j->Bool("system"));
  EXPECT_EQ(j->Int("revision"), static_cast<int64_t>(db_->Revision()));
  Server* alice = START_AS(Actor::User(UserIdOf("alice")), "alice");
  j = Expect(ClientOf(*alice)->Get("/api/session"), 200);
  EXPECT_EQ(j->Str("viewer"), "alice");
  EXPECT_FALSE(j->Bool("system"));
}

// ---- The accounts table ---------------------------------------------------

TEST_F(HttpTest, AccountsTablePagesWithTheCursor) {
  std::vector<std::string> keys;
  std::string cursor;
  int pages = 0;
  for (;;) {
    std::string path = "/api/accounts?pageSize=2";
    if (!cursor.empty()) path += "&page=" + httplib::detail::encode_query_param(cursor);
    auto j = Expect(Get(path), 200);
    EXPECT_EQ(j->Int("totalElements"), 5);
    for (auto& k : j->Column("data", "key")) keys.push_back(k);
    ++pages;
    if (!j->Bool("hasNext")) break;
    cursor = j->Str("nextPage");
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(keys, (std::vector<std::string>{"acme", "acme-a", "acme-a1", "acme-b", "other"}));
}

TEST_F(HttpTest, AccountsTableRowsAndSort) {
  auto j = Expect(Get("/api/accounts?sortProperty=devicesSubtree&sortOrder=DESC&pageSize=10"),
                  200);
  EXPECT_EQ(j->Column("data", "key"),
            (std::vector<std::string>{"acme", "acme-a", "acme-a1", "acme-b", "other"}));
  simdjson::dom::element row = j->root["data"].at(1);
  EXPECT_EQ(std::string_view(row["key"]), "acme-a");
  EXPECT_EQ(uint64_t(row["devices"]), 3u);
  EXPECT_EQ(uint64_t(row["devicesSubtree"]), 5u);
  EXPECT_EQ(uint64_t(row["users"]), 1u);
  EXPECT_EQ(uint64_t(row["subAccounts"]), 1u);
  EXPECT_EQ(std::string_view(row["parent"]), "acme");
  EXPECT_GT(int64_t(row["createdTime"]), 1600000000000);
  j = Expect(Get("/api/accounts?sortProperty=name&root=acme-a"), 200);
  EXPECT_EQ(j->Column("data", "key"), (std::vector<std::string>{"acme-a", "acme-a1"}));
  EXPECT_EQ(j->Int("totalElements"), 2);
  // As alice: her branch only.
  Server* alice = START_AS(Actor::User(UserIdOf("alice")), "alice");
  j = Expect(ClientOf(*alice)->Get("/api/accounts"), 200);
  EXPECT_EQ(j->Column("data", "key"), (std::vector<std::string>{"acme-a", "acme-a1"}));
  // acme-a's parent, acme, is out of her sight: not named.
  EXPECT_EQ(std::string_view(j->root["data"].at(0)["parent"]), "(hidden)");
  EXPECT_EQ(std::string_view(j->root["data"].at(1)["parent"]), "acme-a");
}

TEST_F(HttpTest, AccountsTableBadInput) {
  auto j = Expect(Get("/api/accounts?sortProperty=size"), 400);
  EXPECT_NE(j->Str("message").find("'sortProperty' must be tree, name"), std::string::npos);
  j = Expect(Get("/api/accounts?sortOrder=up"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'sortOrder' must be ASC or DESC, not 'up'");
  j = Expect(Get("/api/accounts?pageSize=0"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'pageSize' must be a number from 1 to 10000, not '0'");
  Expect(Get("/api/accounts?pageSize=12x"), 400);
  j = Expect(Get("/api/accounts?root=nope"), 404);
  EXPECT_EQ(j->Str("code"), "not_found");
  EXPECT_NE(j->Str("message").find("nope"), std::string::npos);
  // A forged cursor: the engine's message, 400.
  j = Expect(Get("/api/accounts?page=AAAAforged"), 400);
  EXPECT_EQ(j->Str("code"), "invalid_argument");
  EXPECT_NE(j->Str("message").find("cursor"), std::string::npos) << j->Str("message");
}

// ---- The graph ------------------------------------------------------------

TEST_F(HttpTest, Graph) {
  auto r = Get("/api/graph");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto expected = db_->GraphJson(Actor::System(), kNoId, 0);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(r->body, *expected);
  Json j(r->body);
  r = Get("/api/graph?root=acme-a&depth=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, *db_->GraphJson(Actor::System(), acme_a_, 1));
  Expect(Get("/api/graph?root=nope"), 404);
  Expect(Get("/api/graph?depth=65"), 400);
  // Bob sees his account only.
  Server* bob = START_AS(Actor::User(UserIdOf("bob")), "bob");
  r = ClientOf(*bob)->Get("/api/graph");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, *db_->GraphJson(Actor::User(UserIdOf("bob")), kNoId, 0));
  EXPECT_EQ(r->body.find("acme-b"), std::string::npos);
}

TEST_F(HttpTest, Users) {
  auto j = Expect(Get("/api/users?account=acme-a"), 200);
  EXPECT_EQ(j->Column("data", "login"), (std::vector<std::string>{"alice"}));
  j = Expect(Get("/api/users"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'account' is required");
  Server* bob = START_AS(Actor::User(UserIdOf("bob")), "bob");
  Expect(ClientOf(*bob)->Get("/api/users?account=acme-b"), 404);
}

// ---- Visible devices --------------------------------------------------------

TEST_F(HttpTest, DevicesOfAUserPageWithCursorAndExactCount) {
  std::vector<std::string> keys;
  std::string cursor;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10);
    std::string path = "/api/devices?user=alice&pageSize=2";
    if (!cursor.empty()) path += "&page=" + httplib::detail::encode_query_param(cursor);
    auto j = Expect(Get(path), 200);
    if (cursor.empty()) {
      EXPECT_EQ(j->Int("totalElements"), 5);
    } else {
      EXPECT_EQ(j->Int("totalElements"), -1);  // counted once, on the first page
    }
    for (auto& k : j->Column("data", "key")) keys.push_back(k);
    if (!j->Bool("hasNext")) break;
    cursor = j->Str("nextPage");
  }
  // Exactly what the library lists for alice.
  VisibleRequest req(Actor::User(UserIdOf("alice")));
  req.limit = 100;
  VisiblePage page;
  ASSERT_TRUE(db_->Visible(req, &page).ok());
  std::vector<std::string> expected;
  for (auto& it : page.items) expected.push_back(it.key);
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()),
            (std::set<std::string>{"d-a1", "d-a2", "d-a3", "d-a1-1", "d-a1-2"}));
}

TEST_F(HttpTest, DevicesFilters) {
  auto j = Expect(Get("/api/devices?user=alice&type=tracker"), 200);
  EXPECT_EQ(j->Column("data", "key"), (std::vector<std::string>{"d-a1", "d-a1-2"}));
  EXPECT_EQ(j->Int("totalElements"), 2);
  EXPECT_EQ(j->Column("data", "account"), (std::vector<std::string>{"acme-a", "acme-a1"}));
  j = Expect(Get("/api/devices?user=alice&within=acme-a1"), 200);
  EXPECT_EQ(j->Int("totalElements"), 2);
  j = Expect(Get("/api/devices?user=alice&direct=true"), 200);
  EXPECT_EQ(j->Int("totalElements"), 3);
  j = Expect(Get("/api/devices?user=alice&namePrefix=Device%20d-a1"), 200);
  EXPECT_EQ(j->Int("totalElements"), 3);
  j = Expect(Get("/api/devices?user=bob&count=true&page="), 200);
  EXPECT_EQ(j->Int("totalElements"), 2);
  // An empty type is a filter (the entities without a type), as the
  // command line's --type '': none here.
  j = Expect(Get("/api/devices?user=alice&type="), 200);
  EXPECT_EQ(j->Int("totalElements"), 0);
}

// A parameter that names something, given empty, is refused naming it: it
// is never read as left out (the audit log's every type, the whole table
// or tree, every device).
TEST_F(HttpTest, AnEmptyParameterThatNamesSomethingIs400) {
  const uint64_t revision = db_->Revision();
  for (const std::string path :
       {"/api/audit?type=", "/api/audit?account=", "/api/accounts?root=", "/api/accounts?root",
        "/api/graph?root=", "/api/devices?user=alice&within=",
        "/api/devices?user=alice&permission=", "/api/devices?user=alice&attribute="}) {
    auto j = Expect(Get(path), 400);
    const std::string name = path.substr(path.rfind('&') != std::string::npos
                                             ? path.rfind('&') + 1
                                             : path.find('?') + 1);
    const std::string param = name.substr(0, name.find('='));
    EXPECT_EQ(j->Str("message").rfind("parameter '" + param + "' is empty", 0), 0u)
        << path << ": " << j->Str("message");
  }
  EXPECT_EQ(db_->Revision(), revision);
}

TEST_F(HttpTest, DevicesBadInput) {
  auto j = Expect(Get("/api/devices"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'user' is required");
  j = Expect(Get("/api/devices?user=nobody"), 404);
  EXPECT_NE(j->Str("message").find("nobody"), std::string::npos);
  j = Expect(Get("/api/devices?user=alice&kind=car"), 400);
  EXPECT_NE(j->Str("message").find("'kind'"), std::string::npos);
  j = Expect(Get("/api/devices?user=alice&attribute=novalue"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'attribute' must be NAME=VALUE, not 'novalue'");
  j = Expect(Get("/api/devices?user=alice&direct=maybe"), 400);
  // Checked on the first page too, where the count is given anyway.
  j = Expect(Get("/api/devices?user=alice&count=maybe"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'count' must be true or false, not 'maybe'");
  // An account the user asked for cannot see: named by key, not by id.
  j = Expect(Get("/api/devices?user=bob&within=acme-b"), 404);
  EXPECT_EQ(j->Str("message"), "within: user 'bob' cannot see account 'acme-b'");
  j = Expect(Get("/api/devices?user=alice&permission=device.fly"), 400);
  EXPECT_EQ(j->Str("code"), "invalid_argument");
  // A forged cursor, and one bound to another request.
  j = Expect(Get("/api/devices?user=alice&page=Zm9yZ2Vk"), 400);
  EXPECT_EQ(j->Str("code"), "invalid_argument");
  auto first = Expect(Get("/api/devices?user=alice&pageSize=1"), 200);
  const std::string cursor = first->Str("nextPage");
  j = Expect(Get("/api/devices?user=bob&pageSize=1&page=" +
                 httplib::detail::encode_query_param(cursor)),
             400);
  EXPECT_EQ(j->Str("code"), "invalid_argument");
}

TEST_F(HttpTest, AUserViewerAnswersForItselfOnly) {
  Server* bob = START_AS(Actor::User(UserIdOf("bob")), "bob");
  auto c = ClientOf(*bob);
  auto j = Expect(c->Get("/api/devices"), 200);
  EXPECT_EQ(j->Column("data", "key"), (std::vector<std::string>{"d-a1-1", "d-a1-2"}));
  Expect(c->Get("/api/devices?user=bob"), 200);
  j = Expect(c->Get("/api/devices?user=alice"), 403);
  EXPECT_EQ(j->Str("code"), "permission_denied");
  EXPECT_NE(j->Str("message").find("answers for itself"), std::string::npos);
  Expect(c->Get("/api/check?user=alice&permission=device.read&entity=d-a1"), 403);
}

// ---- Check, explain, who-can ------------------------------------------------

TEST_F(HttpTest, CheckAndExplain) {
  auto j = Expect(Get("/api/check?user=alice&permission=device.read&entity=d-a1-1"), 200);
  EXPECT_TRUE(j->Bool("allowed"));
  EXPECT_EQ(j->Str("owner"), "acme-a1");
  EXPECT_EQ(j->Str("viaAccount"), "acme-a");
  EXPECT_EQ(j->Str("role"), "account_admin");
  EXPECT_TRUE(j->Bool("branch"));
  EXPECT_EQ(j->Str("via"), "membership");
  Explanation ex;
  ASSERT_TRUE(db_->Explain(UserIdOf("alice"), "device.read", "d-a1-1", &ex).ok());
  EXPECT_EQ(j->Str("reason"), ex.reason);
  // Bob may read but not reassign.
  j = Expect(Get("/api/check?user=bob&permission=device.assign&entity=d-a1-1"), 200);
  EXPECT_FALSE(j->Bool("allowed"));
  EXPECT_NE(j->Str("reason"), "<none>");
  // An account-level permission.
  j = Expect(Get("/api/check?user=alice&permission=account.create&account=acme-a1"), 200);
  EXPECT_TRUE(j->Bool("allowed"));
  // What the user cannot see: denied, saying so (the system viewer knows it exists).
  j = Expect(Get("/api/check?user=bob&permission=device.read&entity=d-b"), 200);
  EXPECT_FALSE(j->Bool("allowed"));
  EXPECT_NE(j->Str("reason").find("cannot see"), std::string::npos);
  j = Expect(Get("/api/check?user=bob&permission=account.read&account=acme"), 200);
  EXPECT_FALSE(j->Bool("allowed"));
  // Bad input.
  Expect(Get("/api/check?user=bob&permission=device.read&entity=missing"), 404);
  j = Expect(Get("/api/check?user=bob&entity=d-b"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'permission' is required");
  j = Expect(Get("/api/check?user=bob&permission=device.read"), 400);
  EXPECT_EQ(j->Str("message"),
            "parameter 'entity' (an entity's key) is required for permission 'device.read'");
  Expect(Get("/api/check?user=bob&permission=device.read&entity=d-b&account=acme"), 400);
  // The parameter that does not fit the permission is refused, never read
  // as the other one.
  j = Expect(Get("/api/check?user=alice&permission=device.read&account=d-a1-1"), 400);
  EXPECT_NE(j->Str("message").find("parameter 'account' does not fit permission 'device.read'"),
            std::string::npos)
      << j->Str("message");
  j = Expect(Get("/api/check?user=alice&permission=account.create&entity=acme-a1"), 400);
  EXPECT_NE(j->Str("message").find("parameter 'entity' does not fit permission 'account.create'"),
            std::string::npos)
      << j->Str("message");
  Expect(Get("/api/who-can?permission=device.read&account=d-a1-1"), 400);
  Expect(Get("/api/check?user=bob&permission=device.fly&entity=d-b"), 400);
  // A misspelt permission is unknown, whichever target parameter it has
  // (its kind unknown, it read as an account-level one).
  for (const std::string route : {"/api/check?user=bob&", "/api/who-can?"}) {
    for (const std::string perm : {"devices.read", "Device.Read", "nope"}) {
      j = Expect(Get(route + "permission=" + perm + "&entity=d-b"), 400);
      EXPECT_EQ(j->Str("message"), "unknown permission '" + perm + "'") << route;
    }
  }
  // As bob itself, what bob cannot see is missing.
  Server* bob = START_AS(Actor::User(UserIdOf("bob")), "bob");
  Expect(ClientOf(*bob)->Get("/api/check?permission=device.read&entity=d-b"), 404);
  j = Expect(ClientOf(*bob)->Get("/api/check?permission=device.read&entity=d-a1-2"), 200);
  EXPECT_TRUE(j->Bool("allowed"));

  // Reached through a user group's grant: check and who-can say so.
  const Actor sys = Actor::System();
  auto crew = db_->CreateGroup(sys, GroupSpec{GroupKind::kUser, "crew", acme_a1_});
  auto vans = db_->CreateGroup(sys, GroupSpec{GroupKind::kDevice, "vans", acme_a1_});
  ASSERT_TRUE(crew.ok() && vans.ok());
  auto device = db_->FindEntity(EntityKind::kDevice, "d-a1-1");
  auto manager = db_->FindRole(acme_, "device_manager");
  ASSERT_TRUE(device.ok() && manager.ok());
  ASSERT_TRUE(db_->AddGroupMembers(sys, *crew, std::vector<uint64_t>{UserIdOf("bob")}, nullptr).ok());
  ASSERT_TRUE(db_->AddGroupMembers(sys, *vans, std::vector<uint64_t>{device->id}, nullptr).ok());
  ASSERT_TRUE(db_->GrantGroup(sys, GroupGrant{*crew, manager->id, *vans, false}).ok());
  j = Expect(Get("/api/check?user=bob&permission=device.write&entity=d-a1-1"), 200);
  EXPECT_TRUE(j->Bool("allowed"));
  EXPECT_EQ(j->Str("via"), "group_grant");
  j = Expect(Get("/api/who-can?permission=device.write&entity=d-a1-1"), 200);
  const auto logins = j->Column("data", "login");
  const auto vias = j->Column("data", "via");
  ASSERT_EQ(logins.size(), vias.size());
  for (size_t i = 0; i < logins.size(); ++i) {
    EXPECT_EQ(vias[i], logins[i] == "bob" ? "group_grant" : "membership") << logins[i];
  }
  EXPECT_NE(std::find(logins.begin(), logins.end(), "bob"), logins.end());
}

TEST_F(HttpTest, WhoCan) {
  auto j = Expect(Get("/api/who-can?permission=device.read&entity=d-a1-1"), 200);
  EXPECT_EQ(j->Column("data", "login"),
            (std::vector<std::string>{"admin@acme", "alice", "bob"}));
  EXPECT_EQ(j->Column("data", "account"),
            (std::vector<std::string>{"acme", "acme-a", "acme-a1"}));
  EXPECT_EQ(j->Column("data", "role"),
            (std::vector<std::string>{"account_admin", "account_admin", "viewer"}));
  // Paged.
  j = Expect(Get("/api/who-can?permission=device.read&entity=d-a1-1&pageSize=2"), 200);
  EXPECT_TRUE(j->Bool("hasNext"));
  j = Expect(Get("/api/who-can?permission=device.read&entity=d-a1-1&pageSize=2&page=" +
                 httplib::detail::encode_query_param(j->Str("nextPage"))),
             200);
  EXPECT_EQ(j->Column("data", "login"), (std::vector<std::string>{"bob"}));
  Expect(Get("/api/who-can?permission=device.read&entity=d-a1-1&page=garbage"), 400);
  Expect(Get("/api/who-can?permission=device.read&entity=nope"), 404);
  Expect(Get("/api/who-can?entity=d-a1-1"), 400);
  // As alice: only the memberships she sees.
  Server* alice = START_AS(Actor::User(UserIdOf("alice")), "alice");
  j = Expect(ClientOf(*alice)->Get("/api/who-can?permission=device.read&entity=d-a1-1"), 200);
  EXPECT_EQ(j->Column("data", "login"), (std::vector<std::string>{"alice", "bob"}));
}

// ---- Actions -----------------------------------------------------------

TEST_F(HttpTest, CreateSubAccountAsTheViewer) {
  Server* alice = START_AS(Actor::User(UserIdOf("alice")), "alice");
  auto j = Expect(Post("/api/accounts", R"({"key":"acme-a2","name":"A2","parent":"acme-a"})",
                       alice),
                  201);
  EXPECT_EQ(j->Str("key"), "acme-a2");
  auto a = db_->FindAccount("acme-a2");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->parent, acme_a_);
  // The change log says alice did it.
  ChangesRequest cr;
  cr.since = db_->Revision();
  ChangesPage page;
  ASSERT_TRUE(db_->ReadChanges(cr, &page).ok());
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].actor, "alice");
  EXPECT_EQ(page.entries[0].operation, "account.create");
}

TEST_F(HttpTest, ActionAboveTheViewersAccountIsRefusedWithTheEnginesMessage) {
  Server* alice = START_AS(Actor::User(UserIdOf("alice")), "alice");
  const uint64_t accounts = AccountCount();
  const uint64_t revision = db_->Revision();
  // acme is above alice's branch: she cannot even see it.
  auto j = Expect(Post("/api/accounts", R"({"key":"x","parent":"acme"})", alice), 404);
  EXPECT_EQ(j->Str("code"), "not_found");
  // Bob sees acme-a1 but may not create there.
  Server* bob = START_AS(Actor::User(UserIdOf("bob")), "bob");
  j = Expect(Post("/api/accounts", R"({"key":"x","parent":"acme-a1"})", bob), 403);
  EXPECT_EQ(j->Str("code"), "permission_denied");
  const AccountId bob_parent = acme_a1_;
  Status direct = db_->CreateAccount(Actor::User(UserIdOf("bob")),
                                     AccountSpec{"x", "x", bob_parent, {}, {}})
                      .status();
  EXPECT_EQ(j->Str("message"), direct.message());
  // A root tenant only the system actor may create.
  j = Expect(Post("/api/accounts", R"({"key":"x"})", alice), 403);
  EXPECT_EQ(AccountCount(), accounts);
  EXPECT_EQ(db_->Revision(), revision);
}

TEST_F(HttpTest, WritesCannotNameAnotherActor) {
  Server* bob = START_AS(Actor::User(UserIdOf("bob")), "bob");
  auto j = Expect(Post("/api/accounts", R"({"key":"x","parent":"acme-a1","actor":"alice"})", bob),
                  400);
  EXPECT_EQ(j->Str("message"), "unknown field 'actor'");
  j = Expect(Post("/api/accounts?as=alice", R"({"key":"x","parent":"acme-a1"})", bob), 400);
  EXPECT_EQ(j->Str("message"), "unknown parameter 'as'");
  EXPECT_FALSE(db_->FindAccount("x").ok());
}

TEST_F(HttpTest, BadBodies) {
  const uint64_t revision = db_->Revision();
  auto j = Expect(Post("/api/accounts", "{\"key\":", nullptr), 400);
  EXPECT_EQ(j->Str("message").rfind("the body is not valid JSON: ", 0), 0u) << j->Str("message");
  j = Expect(Post("/api/accounts", "[1,2]"), 400);
  EXPECT_EQ(j->Str("message"), "the body must be a JSON object");
  j = Expect(Post("/api/accounts", R"({"name":"n"})"), 400);
  EXPECT_EQ(j->Str("message"), "field 'key' is required");
  j = Expect(Post("/api/accounts", R"({"key":7})"), 400);
  EXPECT_EQ(j->Str("message"), "field 'key' must be a string");
  j = Expect(Post("/api/accounts", R"({"key":"acme"})"), 409);
  EXPECT_EQ(j->Str("code"), "already_exists");
  j = Expect(Post("/api/devices/reassign", R"({"refs":"d-a1","target":"acme"})"), 400);
  EXPECT_EQ(j->Str("message"), "field 'refs' must be an array of strings");
  EXPECT_EQ(db_->Revision(), revision);
}

// A write from a page of another origin (even on this machine, where the
// console's cookie would go along), a body that is not declared JSON (a
// "simple" cross-origin request), and a body whose size cpp-httplib's
// limit does not see as sent (chunked, compressed) are refused before the
// body is read; nothing is written.
TEST_F(HttpTest, WritesOfAnotherOriginOrShapeAreRefused) {
  const uint64_t revision = db_->Revision();
  auto client = ClientOf(*system_);
  const std::string body = R"({"key":"x","parent":"acme"})";
  auto j = Expect(client->Post("/api/accounts", {{"Origin", "http://127.0.0.1:9"}}, body,
                               "application/json"),
                  403);
  EXPECT_NE(j->Str("message").find("cross-origin request refused"), std::string::npos);
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}) {
    j = Expect(client->Post("/api/accounts", body, type), 415);
    EXPECT_EQ(j->Str("code"), "unsupported_media_type") << type;
  }
  // A declared body over the limit: 413 at once, before any of it is sent.
  const std::string huge = RawExchange(
      *system_, "POST /api/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    system_->token() +
                    "\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n"
                    "Connection: close\r\n\r\n");
  EXPECT_EQ(huge.rfind("HTTP/1.1 413", 0), 0u) << huge;
  EXPECT_NE(huge.find("the limit is 1048576"), std::string::npos) << huge;
  // However many digits it has (past what 64 bits hold too); leading
  // zeros do not count.
  for (const std::string n : {"99999999999999999999999", "18446744073709551616"}) {
    const std::string over = RawExchange(
        *system_, "POST /api/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                      system_->token() + "\r\nContent-Type: application/json\r\nContent-Length: " +
                      n + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(over.rfind("HTTP/1.1 413", 0), 0u) << n << over;
  }
  const std::string zeros = RawExchange(
      *system_, "POST /api/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    system_->token() +
                    "\r\nContent-Type: application/json\r\nContent-Length: "
                    "00000000000000000000002\r\nConnection: close\r\n\r\n{}");
  EXPECT_EQ(zeros.rfind("HTTP/1.1 4", 0), 0u) << zeros;
  EXPECT_EQ(zeros.find("HTTP/1.1 413"), std::string::npos) << zeros;
  // Read as the 2 bytes it says (the body's own refusal), not refused as
  // a malformed length.
  EXPECT_EQ(zeros.find("must be a number of bytes"), std::string::npos) << zeros;
  // An empty body too (it was 400, "empty JSON", where the rule says 415).
  const std::string empty = RawExchange(
      *system_, "POST /api/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    system_->token() + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(empty.rfind("HTTP/1.1 415", 0), 0u) << empty;
  j = Expect(client->Post("/api/accounts", {{"Content-Encoding", "gzip"}}, body,
                          "application/json"),
             415);
  EXPECT_NE(j->Str("message").find("uncompressed"), std::string::npos);
  j = Expect(client->Post("/api/accounts", {{"Transfer-Encoding", "chunked"}}, body,
                          "application/json"),
             411);
  EXPECT_EQ(j->Str("code"), "length_required");
  // No Content-Length at all (read until the connection closes, past any
  // limit): refused too, before a body is waited for. Raw, since httplib's
  // client always sends one. The request stays open for writing (the server
  // does not answer a client that has shut its side) and sends no body (a
  // close over unread bytes would reset the connection, losing the answer);
  // "Connection: close" ends the answer.
  {
    const std::string raw = "POST /api/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Authorization: Bearer " + system_->token() +
                            "\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
    const std::string answer = RawExchange(*system_, raw);
    EXPECT_EQ(answer.rfind("HTTP/1.1 411", 0), 0u) << answer;
    EXPECT_NE(answer.find("sends its body with a Content-Length"), std::string::npos) << answer;
  }
  // A Content-Length given twice, or not a plain number of bytes: 400
  // before a body is read (the library would take the first, or read
  // 'abc' as 0 and '1e3' as 1).
  for (const std::string lengths :
       {"Content-Length: 2\r\nContent-Length: 50\r\n", "Content-Length: abc\r\n",
        "Content-Length: 1e3\r\n", "Content-Length: -5\r\n", "Content-Length: 1 2\r\n"}) {
    const std::string raw = "POST /api/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Authorization: Bearer " + system_->token() +
                            "\r\nContent-Type: application/json\r\nConnection: close\r\n" +
                            lengths + "\r\n";
    const std::string answer = RawExchange(*system_, raw);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << lengths << answer;
    EXPECT_NE(answer.find("Content-Length"), std::string::npos) << answer;
  }
  EXPECT_EQ(db_->Revision(), revision);
  EXPECT_FALSE(db_->FindAccount("x").ok());
  // The console's own origin, and a charset, pass; the scheme "bearer" in
  // any case.
  const std::string own = "http://127.0.0.1:" + std::to_string(system_->port());
  Expect(client->Post("/api/accounts", {{"Origin", own}}, body, "application/json; charset=utf-8"),
         201);
  httplib::Client lower("127.0.0.1", system_->port());
  lower.set_default_headers({{"Authorization", "bearer " + system_->token()}});
  Expect(lower.Get("/api/session"), 200);
  // Empty parent: refused, not read as "a root tenant".
  j = Expect(Post("/api/accounts", R"({"key":"t2","parent":""})"), 400);
  EXPECT_NE(j->Str("message").find("field 'parent' is empty"), std::string::npos);
  EXPECT_FALSE(db_->FindAccount("t2").ok());
}

// A query value is everything after its name's first '=' (a raw '=' in it
// does not cut it), and a name or value that is not UTF-8 is a 400 whose
// body is still valid JSON.
TEST_F(HttpTest, QueryValuesAreReadWholeAndMustBeUtf8) {
  auto j = Expect(Get("/api/accounts?root=zz=acme-b"), 404);
  EXPECT_NE(j->Str("message").find("zz=acme-b"), std::string::npos);
  j = Expect(Get("/api/accounts?root=a%FFb"), 400);
  EXPECT_EQ(j->Str("message"), "parameter 'root' is not valid UTF-8");
  j = Expect(Get("/api/accounts?x%FF=1"), 400);
  EXPECT_EQ(j->Str("message"), "a parameter name is not valid UTF-8");
  // Decoded as a form's (docs/http.md): '+' is a space, %2B a plus, and a
  // '%' without two hexadecimal digits stays as it is.
  // (A client that sends the query as written: httplib's own encodes '+'.)
  Account("a+b", kNoId);
  auto raw = ClientOf(*system_);
  raw->set_url_encode(false);
  j = Expect(raw->Get("/api/accounts?root=a+b"), 404);
  EXPECT_NE(j->Str("message").find("'a b'"), std::string::npos) << j->Str("message");
  Expect(raw->Get("/api/accounts?root=a%2Bb"), 200);
  j = Expect(raw->Get("/api/accounts?root=a%zz"), 404);
  EXPECT_NE(j->Str("message").find("'a%zz'"), std::string::npos) << j->Str("message");
  // "%uXXXX" (IIS's escape) is no form encoding: kept as written, never
  // read as a character, and never as nothing (a surrogate there made the
  // filter vanish: every account listed).
  j = Expect(raw->Get("/api/accounts?root=%uD800"), 404);
  EXPECT_NE(j->Str("message").find("'%uD800'"), std::string::npos) << j->Str("message");
  j = Expect(raw->Get("/api/accounts?root=acm%u0065"), 404);
  EXPECT_NE(j->Str("message").find("'acm%u0065'"), std::string::npos) << j->Str("message");
  j = Expect(raw->Get("/api/accounts?pageSize=%u0031"), 400);
  EXPECT_NE(j->Str("message").find("pageSize"), std::string::npos) << j->Str("message");
  j = Expect(raw->Get("/api/accounts?%u0072oot=acme"), 400);
  EXPECT_EQ(j->Str("message"), "unknown parameter '%u0072oot'");
  // The JSON writer never emits a byte that is not UTF-8.
  // (A cut sequence is one replacement per byte: \xe2 cut short, then a
  // stray \x82.)
  EXPECT_EQ(canopy::JsonString("a\xff\xc0" "b\xe2\x82"),
            "\"a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd\"");
  EXPECT_EQ(canopy::JsonString("\xe2\x82\xac\xf0\x9f\x8c\xb2"), "\"\xe2\x82\xac\xf0\x9f\x8c\xb2\"");
}

TEST_F(HttpTest, OversizedBodyIs413) {
  Server* small = StartAs(Actor::System(), "", 64).get();
  const std::string body = R"({"key":"big","name":")" + std::string(200, 'n') + "\"}";
  auto r = Post("/api/accounts", body, small);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  Json j(r->body);
  EXPECT_EQ(j.Str("code"), "payload_too_large");
  EXPECT_FALSE(db_->FindAccount("big").ok());
  // Within the limit it passes.
  Expect(Post("/api/accounts", R"({"key":"ok"})", small), 201);
}

TEST_F(HttpTest, MoveAccount) {
  auto j = Expect(Post("/api/accounts/move", R"({"account":"acme-a1","parent":"acme-b"})"), 200);
  EXPECT_EQ(j->Str("parent"), "acme-b");
  EXPECT_EQ(db_->FindAccount("acme-a1")->parent, acme_b_);
  // Alice cannot move her sub-account out of her branch: she cannot see acme-b.
  Server* alice = START_AS(Actor::User(UserIdOf("alice")), "alice");
  Expect(Post("/api/accounts/move", R"({"account":"acme-a","parent":"other"})", alice), 404);
  j = Expect(Post("/api/accounts/move", R"({"account":"acme","parent":"acme-a"})"), 409);
  EXPECT_EQ(j->Str("code"), "failed_precondition");
  Expect(Post("/api/accounts/move", R"({"account":"acme"})"), 400);
}

TEST_F(HttpTest, ReassignByKeysAndUnitIdsWithTheReport) {
  auto j = Expect(Post("/api/devices/reassign",
                       R"({"refs":["d-a1","d-b"],"target":"acme-a1"})"),
                  200);
  EXPECT_TRUE(j->Bool("ok"));
  EXPECT_EQ(j->Int("moved"), 2);
  EXPECT_EQ(j->Column("items", "outcome"), (std::vector<std::string>{"moved", "moved"}));
  EXPECT_EQ(j->Column("items", "previousOwner"), (std::vector<std::string>{"acme-a", "acme-b"}));
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d-b")->owner, acme_a1_);
  j = Expect(Post("/api/devices/reassign",
                  R"({"by":"unitId","refs":["unit-d-root","unit-d-a1"],"target":"acme-a1"})"),
             200);
  EXPECT_EQ(j->Column("items", "outcome"), (std::vector<std::string>{"moved", "unchanged"}));
  // Alice may not take a device she cannot see (to her, it is unknown):
  // refused as a whole, with the report per item.
  Server* alice = START_AS(Actor::User(UserIdOf("alice")), "alice");
  const uint64_t revision = db_->Revision();
  j = Expect(Post("/api/devices/reassign",
                  R"({"refs":["d-a2","d-other","nope","d-a2"],"target":"acme-a1"})", alice),
             404);
  EXPECT_FALSE(j->Bool("ok"));
  EXPECT_EQ(j->Str("code"), "not_found");
  EXPECT_EQ(j->Column("items", "outcome"),
            (std::vector<std::string>{"moved", "unknown", "unknown", "duplicate"}));
  EXPECT_EQ(db_->Revision(), revision);
  EXPECT_EQ(db_->FindEntity(EntityKind::kDevice, "d-a2")->owner, acme_a_);
  j = Expect(Post("/api/devices/reassign", R"({"by":"serial","refs":[],"target":"acme"})"), 400);
  EXPECT_NE(j->Str("message").find("'by'"), std::string::npos);
  Expect(Post("/api/devices/reassign", R"({"refs":["d-a2"],"target":"nope"})"), 404);
}

TEST_F(HttpTest, ReassignJoinsNamedGroupsOfTheTarget) {
  auto fleet = db_->CreateGroup(Actor::System(), GroupSpec{GroupKind::kDevice, "fleet", acme_b_});
  ASSERT_TRUE(fleet.ok()) << fleet.status().ToString();
  const uint64_t revision = db_->Revision();
  // An unknown group (or one of the wrong field type): refused before any item.
  auto j = Expect(Post("/api/devices/reassign",
                       R"({"refs":["d-a1"],"target":"acme-b","groups":["nope"]})"),
                  404);
  EXPECT_NE(j->Str("message").find("no device group named 'nope'"), std::string::npos);
  Expect(Post("/api/devices/reassign", R"({"refs":["d-a1"],"target":"acme-b","groups":"fleet"})"),
         400);
  EXPECT_EQ(db_->Revision(), revision);
  j = Expect(Post("/api/devices/reassign",
                  R"({"refs":["d-a1"],"target":"acme-b","groups":["fleet"]})"),
             200);
  EXPECT_EQ(j->Int("moved"), 1);
  auto groups = db_->GroupsOfMember(Actor::System(), GroupKind::kDevice,
                                    db_->FindEntity(EntityKind::kDevice, "d-a1")->id);
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_EQ((*groups)[0].id, *fleet);
}

// ---- Audit ---------------------------------------------------------------

TEST_F(HttpTest, AuditLogAsTheViewerMayReadIt) {
  auto j = Expect(Get("/api/audit?pageSize=5"), 200);
  auto ops = j->Column("data", "operation");
  EXPECT_EQ(ops.size(), 5u);
  EXPECT_EQ(ops[0], "account.create");
  EXPECT_TRUE(j->Bool("hasNext"));
  const int64_t next = j->Int("nextSince");
  j = Expect(Get("/api/audit?pageSize=1000&since=" + std::to_string(next)), 200);
  EXPECT_FALSE(j->Bool("hasNext"));
  EXPECT_EQ(j->Int("revision"), static_cast<int64_t>(db_->Revision()));
  // Alice reads only what happened inside her branch.
  Server* alice = START_AS(Actor::User(UserIdOf("alice")), "alice");
  j = Expect(ClientOf(*alice)->Get("/api/audit?pageSize=1000"), 200);
  std::string body = j->root.is_object() ? simdjson::to_string(j->root["data"]) : "";
  EXPECT_EQ(body.find("d-other"), std::string::npos);
  EXPECT_EQ(body.find("\"d-b\""), std::string::npos);
  EXPECT_NE(body.find("d-a1-1"), std::string::npos);
  // Bob holds audit.read nowhere.
  Server* bob = START_AS(Actor::User(UserIdOf("bob")), "bob");
  j = Expect(ClientOf(*bob)->Get("/api/audit"), 403);
  EXPECT_EQ(j->Str("code"), "permission_denied");
  Expect(Get("/api/audit?since=0"), 400);
  // Past the revision + 1: no revision of this database (a cursor of
  // another one), refused as a state that forbids it.
  j = Expect(Get("/api/audit?since=" + std::to_string(db_->Revision() + 2)), 409);
  EXPECT_EQ(j->Str("code"), "failed_precondition");
  Expect(Get("/api/audit?since=" + std::to_string(db_->Revision() + 1)), 200);
  Expect(Get("/api/audit?account=nope"), 404);
  // A type filter with an empty item (commas only, or a stray comma) is
  // refused, not read as no filter or as fewer types.
  for (const char* bad : {"/api/audit?type=,", "/api/audit?type=,account,",
                          "/api/audit?type=account,,entity", "/api/audit?type=account,"}) {
    j = Expect(Get(bad), 400);
    EXPECT_NE(j->Str("message").find("parameter 'type' has an empty item"), std::string::npos)
        << bad;
  }
  auto only = Expect(Get("/api/audit?pageSize=1000&type=account"), 200);
  auto all = Expect(Get("/api/audit?pageSize=1000"), 200);
  const auto filtered = only->Column("data", "operation");
  EXPECT_FALSE(filtered.empty());
  EXPECT_LT(filtered.size(), all->Column("data", "operation").size());
  EXPECT_EQ(filtered, Expect(Get("/api/audit?pageSize=1000&type=account"), 200)
                          ->Column("data", "operation"));
}

TEST_F(HttpTest, AuditOfATrimmedRevisionIs410) {
  // A database whose log keeps only its newest entries.
  Options o;
  o.create_if_missing = true;
  o.log_retention_count = 2;
  std::unique_ptr<Db> db;
  ASSERT_TRUE(Db::Open(o, dir_ + "/trimmed", &db).ok());
  for (int i = 0; i < 6; ++i) {
    AccountSpec spec;
    spec.key = "t" + std::to_string(i);
    spec.name = spec.key;
    ASSERT_TRUE(db->CreateAccount(Actor::System(), spec).ok());
  }
  std::unique_ptr<Server> server;
  ASSERT_TRUE(Server::Start(db.get(), ServerOptions(), &server).ok());
  auto j = Expect(ClientOf(*server)->Get("/api/audit?since=1"), 410);
  EXPECT_EQ(j->Str("code"), "compacted");
  server->Stop();
  server.reset();
  EXPECT_TRUE(db->Close().ok());
}

// ---- Many threads --------------------------------------------------------

TEST_F(HttpTest, ConcurrentReadsAndWritesOverOneDb) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto c = ClientOf(*system_);
      for (int i = 0; i < 25; ++i) {
        auto a = c->Get("/api/accounts?pageSize=3");
        auto d = c->Get("/api/devices?user=alice&pageSize=2");
        auto w = c->Post("/api/accounts",
                         "{\"key\":\"c" + std::to_string(t) + "-" + std::to_string(i) +
                             "\",\"parent\":\"acme-b\"}",
                         "application/json");
        if (!a || a->status != 200 || !d || d->status != 200 || !w || w->status != 201) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto j = Expect(Get("/api/accounts?root=acme-b&pageSize=1"), 200);
  EXPECT_EQ(j->Int("totalElements"), 101);
}

TEST_F(HttpTest, StartRefusesBadOptions) {
  std::unique_ptr<Server> s;
  ServerOptions o;
  o.listen = "203.0.113.77";  // not an address of this machine
  o.port = 0;
  Status st = Server::Start(db_.get(), o, &s);
  EXPECT_EQ(st.code(), Code::kIOError);
  EXPECT_NE(st.message().find("203.0.113.77"), std::string::npos);
  o = ServerOptions();
  o.viewer = Actor::User(UserIdOf("bob"));
  EXPECT_EQ(Server::Start(db_.get(), o, &s).code(), Code::kInvalidArgument);
  o = ServerOptions();
  o.port = 70000;
  EXPECT_EQ(Server::Start(db_.get(), o, &s).code(), Code::kInvalidArgument);
  EXPECT_EQ(Server::Start(nullptr, ServerOptions(), &s).code(), Code::kInvalidArgument);
}

// A port a server listens on is refused to a second one (as another
// process's would be), instead of both listening and the kernel dealing
// connections to either.
TEST_F(HttpTest, APortInUseIsRefused) {
  ServerOptions o;
  o.port = system_->port();
  std::unique_ptr<Server> second;
  Status st = Server::Start(db_.get(), o, &second);
  EXPECT_EQ(st.code(), Code::kIOError) << st.ToString();
  EXPECT_NE(st.message().find("address in use"), std::string::npos) << st.ToString();
  EXPECT_EQ(second, nullptr);
}

}  // namespace
}  // namespace canopy::http
