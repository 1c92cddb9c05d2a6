// tests/support/tcp_proxy.hpp — test::TcpProxy, a loopback TCP proxy a test puts between a client
// and a server to inject the network faults a server fixture cannot: a path that goes silent
// without a RST (blackhole), connection-tracking state lost in an outage so that connections
// from before it stay dead after it (heal), and every connection cut at once (sever).
// One thread of its own, poll(2) and plain POSIX; it never parses what it carries (a reply
// replacement only looks for the end marker it is given), so it can stand in front of any server.
// Never closes a connection it was told to keep dead, never waits without a bound, never throws
// from the destructor.
//
//   accepted ─▶ forwarding ──blackhole()──▶ dead (bytes read and discarded both ways, never
//      │             │                            closed by the proxy; heal() leaves it dead)
//      │             └──sever()──▶ closed (FIN to both sides)
//      └── while blackholed: dead from the start, no upstream connection at all
// A dead connection ends only when its client closes it (or at sever() / destruction).
//
// A forwarding connection can also be slowed to a rate each way (limit_rate): a slow link, where
// bytes keep moving but a large transfer takes seconds, as opposed to a dead one.
//
// And the next reply from the server can be replaced by bytes of the test's choosing
// (replace_next_reply), or preceded by them (prepend_to_next_reply): a server that answers with
// an error, or with garbage, at a moment the test picks, which a real server will not do on
// demand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace test {

class TcpProxy {
 public:
  // Listens on a free 127.0.0.1 port and forwards each accepted connection to
  // 127.0.0.1:upstream_port. Throws std::runtime_error if the socket or thread cannot be set up.
  explicit TcpProxy(std::uint16_t upstream_port);
  // Stops the thread and closes every connection. Never throws.
  ~TcpProxy();

  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;
  TcpProxy(TcpProxy&&) = delete;
  TcpProxy& operator=(TcpProxy&&) = delete;

  // The port clients connect to.
  std::uint16_t port() const { return port_; }
  // "redis://127.0.0.1:PORT/0", for a server behind the proxy that speaks Redis.
  std::string url() const;

  // From the return on, every existing connection is dead (see the top comment), bytes already
  // read but not yet forwarded included, and new connections are accepted dead.
  void blackhole();
  // Only the connection whose upstream socket is bound to local port `upstream_local_port` (as
  // the server names its client: CLIENT LIST's addr) goes dead; the rest keep forwarding.
  // Returns false if no open connection has that port.
  bool blackhole_one(std::uint16_t upstream_local_port);
  // New connections forward again. Connections that were dead stay dead: like a NAT entry lost
  // in the outage, which is what leaves an idle client connection stuck after the fault ends.
  void heal();
  // Closes every current connection, dead or not, both sides (the FIN is sent before the
  // return); new connections forward normally, as after heal().
  void sever();

  // From the return on, every forwarding connection, open now or accepted later, reads at most
  // upload_bytes_per_second from its client (client -> server) and download_bytes_per_second from
  // its server (server -> client); 0 leaves that direction unlimited. Each limit is a token
  // bucket that holds at most 16 KiB, so a direction that idled sends one burst of that size
  // first, then keeps to the rate; each call starts every bucket full again.
  // One bucket per connection and direction, not one shared by all connections: a link's flows
  // share its bandwidth, but the proxy serves connections in table order, so a shared bucket
  // would go to whichever comes first and could starve the rest (a health-check PING stuck
  // behind another connection's bulk upload), a stall the link being simulated would not cause.
  // So the limit is what one connection sees; a test that wants the total bounded uses one.
  // Dead connections are not metered: their bytes go nowhere.
  void limit_rate(std::size_t upload_bytes_per_second, std::size_t download_bytes_per_second);
  // Both directions unlimited again, from the return on.
  void unlimit_rate();

  // From the return on, the first forwarding connection that reads bytes from its server takes
  // this (once): its server's bytes up to and including the first `reply_end` (not empty) never
  // reach the client, and `injected` goes to the client in their place; what the server sends
  // after that is forwarded as usual. E.g. ("SERVER_ERROR out of memory\r\n", "END\r\n") turns
  // memcached's answer to a get into that error line. A later call replaces a pending one.
  void replace_next_reply(std::string injected, std::string reply_end);
  // As replace_next_reply, but the server's reply is kept: `injected` goes to the client just
  // before it, as from a server whose stream is out of step (an error line, then the answer).
  void prepend_to_next_reply(std::string injected);
  // Replies replaced (or prepended to) so far: the injected bytes are queued for the client,
  // ahead of anything the server sent after the replaced reply.
  std::size_t replies_replaced() const;

  // Connections accepted since construction.
  std::size_t connections_accepted() const;
  // Connections open now and forwarding.
  std::size_t live_connections() const;
  // Connections open now and dead: their client has not closed them yet.
  std::size_t dead_connections() const;

 private:
  // Sockets, connection table and mutex; defined in tcp_proxy.cpp, shared with the thread.
  class Loop;

  std::unique_ptr<Loop> loop_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace test
