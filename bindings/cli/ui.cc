// Copyright (c) Canopy authors.
//
// canopy ui: serves the web console and the REST API (docs/http.md) over
// the database until interrupted — the HTTP server of bindings/http/.

#include <csignal>
#include <pthread.h>

#include "cli.h"
#include "server.h"

namespace canopy::cli {

namespace {

const char kUsage[] =
    "usage: canopy [--db DIR] ui [--as LOGIN] [--port N] [--listen ADDR] [--threads N]\n\n"
    "Serves a web console over the database — the All-accounts table, the hierarchy\n"
    "graph, the devices a user may see, check and explain, who-can, account actions\n"
    "and the audit log — and its REST API (docs/http.md), until Ctrl-C.\n"
    "Prints the URL to open: it carries a random token, required by every request\n"
    "(the page keeps it in a cookie; API clients send 'Authorization: Bearer TOKEN').\n"
    "  --as LOGIN     the viewer: every read is what this user may see, and every\n"
    "                 change is made as this user (default: the system actor; the\n"
    "                 global --actor LOGIN is the same)\n"
    "  --port N       the port (default 0: any free port, printed)\n"
    "  --listen ADDR  the address to listen on (default 127.0.0.1: this machine only;\n"
    "                 anything else exposes the database to the network, token-protected)\n"
    "  --threads N    request threads (default 8)\n"
    "The first line on stdout is the URL; requests are not logged.\n";

int Run(Context& ctx, Args& args) {
  args.Parse({"as", "port", "listen", "threads"}, {});
  args.AtMost(0);
  if (auto login = args.Get("as")) {
    if (ctx.actor_given) throw UsageError{"give --as or --actor, not both (they are the same)"};
    if (login->empty()) throw UsageError{"--as needs a login (leave it out for the system actor)"};
    ctx.SetActor(*login);
  }
  http::ServerOptions options;
  options.port = static_cast<int>(GetNumber(args, "port", 0, 65535).value_or(0));
  options.threads = GetNumber(args, "threads", 1, 256).value_or(8);
  if (auto listen = args.Get("listen")) {
    if (listen->empty()) throw UsageError{"--listen needs an address"};
    options.listen = *listen;
  }
  if (!ctx.Open(false)) return kExitFailed;
  if (!ctx.ResolveActor(&options.viewer)) return kExitFailed;
  options.viewer_login = ctx.actor_login;

  // SIGINT and SIGTERM are taken by sigwait below: block them before the
  // server's threads start, so that they inherit the mask.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::unique_ptr<http::Server> server;
  Status s = http::Server::Start(ctx.db.get(), options, &server);
  if (!s.ok()) return ctx.Fail(s);
  *ctx.out << server->url() << std::endl;
  *ctx.err << "canopy ui: serving " << ctx.db_path << " as "
           << (options.viewer.is_system() ? std::string("the system actor")
                                          : "user '" + ctx.actor_login + "'")
           << (ctx.read_only ? " (read-only)" : "") << "; open the URL above; Ctrl-C stops"
           << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  server->Stop();
  *ctx.err << "canopy ui: stopped" << std::endl;
  return kExitOk;
}

}  // namespace

Command UiCommand() {
  return {"ui", "a local web console and REST API over the database", kUsage, Run};
}

}  // namespace canopy::cli
