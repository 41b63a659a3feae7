// Copyright (c) Canopy authors.
//
// canopy ui: serves the web console and the REST API (docs/http.md) over
// the database until interrupted — the HTTP server of bindings/http/.

#include <csignal>
#include <unistd.h>

#include <cerrno>

#include "cli.h"
#include "output.h"
#include "server.h"

namespace canopy::cli {

namespace {

// The write end is written by the signal handler (async-signal-safe).
int g_stop_pipe[2] = {-1, -1};

void OnStopSignal(int sig) {
  const char c = static_cast<char>(sig);
  const ssize_t n = write(g_stop_pipe[1], &c, 1);
  (void)n;
}

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
    "  --threads N    request threads kept (default 8); up to 64 more start while\n"
    "                 all are busy\n"
    "On a database another process holds (or with the global flag --follower:\n"
    "canopy --follower ui) the server follows that process's commits, catching up\n"
    "twice a second; changes are refused then.\n"
    "The first line on stdout is the URL; requests are not logged.\n";

int Run(Context& ctx, Args& args) {
  args.Parse({"as", "port", "listen", "threads"}, {}, Args::Output::kText);
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
    // [::1], as a URL writes an IPv6 address, is the address ::1.
    if (options.listen.size() > 2 && options.listen.front() == '[' && options.listen.back() == ']') {
      options.listen = options.listen.substr(1, options.listen.size() - 2);
    }
  }
  // SIGINT and SIGTERM stop the server cleanly. A handler (process-wide,
  // whichever thread the signal lands on: RocksDB's background threads
  // may predate this call) writes to a pipe the main thread waits on; a
  // signal mask would not cover threads started before it.
  if (pipe(g_stop_pipe) != 0) return ctx.Fail(Status::IOError("canopy ui: cannot make a pipe"));
  struct sigaction on_stop {};
  on_stop.sa_handler = OnStopSignal;
  sigemptyset(&on_stop.sa_mask);
  sigaction(SIGINT, &on_stop, nullptr);
  sigaction(SIGTERM, &on_stop, nullptr);

  // A server shows what the database holds now: beside a process that
  // writes it (or with --follower) it follows that process's commits,
  // catching up twice a second, instead of serving one frozen view.
  ctx.follow_ms = 500;
  if (!ctx.Open(false)) return kExitFailed;
  if (!ctx.ResolveActor(&options.viewer)) return kExitFailed;
  options.viewer_login = ctx.actor_login;
  // A disabled actor is refused every command, this one too (its server
  // would answer nothing but refusals): a read as that viewer says so, as
  // the engine refuses every read of a disabled viewer.
  if (!options.viewer.is_system()) {
    Status seen = ctx.db->GetUser(options.viewer, options.viewer.user()).status();
    if (!seen.ok()) return ctx.Fail(seen);
  }

  std::unique_ptr<http::Server> server;
  Status s = http::Server::Start(ctx.db.get(), options, &server);
  if (!s.ok()) return ctx.Fail(s);
  *ctx.out << server->url() << std::endl;
  *ctx.err << "canopy ui: serving " << Printable(ctx.db_path) << " as "
           << (options.viewer.is_system() ? std::string("the system actor")
                                          : "user '" + ctx.actor_login + "'")
           << (ctx.read_only  ? " (read-only)"
               : ctx.follower ? " (follower)"
                              : "")
           << "; open the URL above; Ctrl-C stops"
           << std::endl;
  if (!server->loopback_only()) {
    *ctx.err << "canopy ui: warning: listening on " << Printable(options.listen)
             << ", reachable from other machines: whoever has the token "
             << (ctx.read_only || ctx.follower ? "reads" : "reads and writes")
             << " as the viewer, and plain HTTP carries the token unencrypted"
             << std::endl;
  }
  char sig = 0;
  while (read(g_stop_pipe[0], &sig, 1) < 0 && errno == EINTR) {
  }
  server->Stop();
  *ctx.err << "canopy ui: stopped" << std::endl;
  return kExitOk;
}

}  // namespace

Command UiCommand() {
  return {"ui", "a local web console and REST API over the database", kUsage, Run};
}

}  // namespace canopy::cli
