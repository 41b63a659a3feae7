// Copyright (c) Canopy authors.
//
// canopy_http: a small HTTP server over one open Db — the REST API of
// docs/http.md and the single-page console that `canopy ui` serves. It is
// also the worked example of embedding Canopy in a multi-threaded service:
// it uses the public API only (include/canopy/*.h), and its requests are
// answered by a pool of threads sharing the one Db.
//
// Who acts: every request reads and writes as the server's viewer (an
// Actor fixed when the server starts). Reads may be asked for another user
// ("view as user": the devices that user may see, its check and explain)
// only by the system viewer; a user viewer answers for itself. Writes are
// made as the viewer, always: no request can name another actor.
//
// Access: the server listens on 127.0.0.1 unless told otherwise, and every
// request must carry the token (query parameter `token`, header
// `Authorization: Bearer TOKEN` or `X-Canopy-Token`, or the cookie the page
// gets when opened with ?token=...). No token: 401; a wrong one: 403.
//
// Thread safety: Start, Stop and the accessors may be called from any
// thread; the Db must outlive the Server.

#ifndef CANOPY_BINDINGS_HTTP_SERVER_H_
#define CANOPY_BINDINGS_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "canopy/db.h"

namespace canopy::http {

struct ServerOptions {
  // The address to listen on. Only loopback unless the caller chooses
  // otherwise (`canopy ui --listen`).
  std::string listen = "127.0.0.1";
  int port = 0;  // 0: any free port (see Server::port)
  // Who reads and writes: the system actor, or a user (its login is shown
  // in the page and must be given with it).
  Actor viewer = Actor::System();
  std::string viewer_login;
  // The access token; empty: 32 random hex digits.
  std::string token;
  size_t max_body_bytes = 1 << 20;  // larger request bodies get 413
  size_t threads = 8;               // request threads kept (up to 64 more while all are busy)
  // How long the server waits for a connection's next request headers,
  // from its opening or from its previous answer, while it has read
  // everything the client sent; past it the connection is closed, so that
  // slow or stalled clients cannot hold the pool's threads. A request being
  // answered (a write waiting for etcd, say) is never cut, and its answer
  // is written whole. Stop gives idle connections one second.
  uint32_t request_timeout_ms = 10000;
};

class Server {
 public:
  // Binds, then serves on a thread of its own until Stop or destruction.
  // InvalidArgument for bad options; IOError when the address cannot be
  // bound (named in the message).
  static Status Start(Db* db, const ServerOptions& options, std::unique_ptr<Server>* server);

  virtual ~Server() = default;
  // Stops accepting, finishes the requests in flight (closing within about
  // a second the connections that are not being answered), and returns.
  virtual void Stop() = 0;
  virtual int port() const = 0;
  virtual const std::string& token() const = 0;
  // http://ADDR:PORT/?token=TOKEN, the URL to open (listening on every
  // address, 0.0.0.0 or ::, it names this machine's loopback).
  virtual std::string url() const = 0;
  // Whether only this machine can connect: the socket is bound to a
  // loopback address (127.0.0.0/8, ::1, or a name that resolved to one).
  // `canopy ui` warns when it is not.
  virtual bool loopback_only() const = 0;
};

}  // namespace canopy::http

#endif  // CANOPY_BINDINGS_HTTP_SERVER_H_
