// TLS on the node's port (tls.cert / tls.key in man/wsg.1; docs/security.md, "TLS"): with a
// certificate and key the node serves wss:// and https:// (and nothing in clear), advertises a
// wss:// URL, drops clients that never complete the handshake, and refuses to start on a missing or
// mismatched key (exit 2). The certificates are made at run time in the test's temporary directory
// (tls_client.h).
#include "cluster_ops.h"
#include "test_util.h"
#include "tls_client.h"

#include <string>
#include <vector>

using namespace wsg::it;
using namespace wsg::it::ops;
using wsg::it::tls::ClientOptions;
using wsg::it::tls::TlsWsClient;

namespace {

std::string tls_toml(const tls::CertFiles& files) {
  return "[tls]\ncert = \"" + files.cert.string() + "\"\nkey = \"" + files.key.string() + "\"\n";
}

// A node with TLS attached to the cluster's master; waits for GET /healthz over TLS to answer 200.
ExtraNode start_tls_node(Cluster& c, const std::string& id, const tls::CertFiles& files) {
  const auto config = write_file(id + ".toml", tls_toml(files));
  auto n = start_node(c, id, {"--config", config.string()});
  const ClientOptions opt{files.cert};
  std::string last;
  const bool ready = poll_until(
      [&] {
        if (!n.process->running()) return true;
        auto r = tls::https_get(n.ws_port, "/healthz", opt, 1000ms);
        last = r.status ? std::to_string(r.status) + " " + r.body : r.error;
        return r.status == 200;
      },
      kStartTimeout);
  INFO(id << " readiness over https, last answer: " << last);
  REQUIRE(n.process->running());
  REQUIRE(ready);
  return n;
}

// The next frame of a TLS client, required to be of `type`.
json::object expect_tls_frame(TlsWsClient& ws, const std::string& type) {
  auto f = ws.next();
  INFO("waiting for a '" << type << "' frame over TLS; client error: " << ws.error());
  REQUIRE(f.has_value());
  INFO("got: " << dump(*f));
  REQUIRE(str(*f, "type") == type);
  return *f;
}

// `wsg node ...` with `extra` (a --config file), run to its end: it must fail at start-up.
RunResult run_node_expecting_failure(const std::vector<std::string>& extra) {
  std::vector<std::string> args{"node",
                                "--id",
                                "bad-tls",
                                "--listen",
                                "127.0.0.1:" + std::to_string(free_port()),
                                "--master",
                                "tcp://127.0.0.1:" + std::to_string(free_port()),
                                "--events-bind",
                                "tcp://127.0.0.1:" + std::to_string(free_port())};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_command(wsg_binary(), args, 10000ms);
}

}  // namespace

TEST_CASE("tls: a node with tls.cert and tls.key serves wss and https and exchanges messages with a plain node",
          "[integration][tls]") {
  const auto files = tls::make_self_signed(test_dir(), "node");
  const ClientOptions opt{files.cert};
  Cluster c(1);  // node-1: plain ws://
  auto t = start_tls_node(c, "tls-1", files);

  // GET /healthz over https
  auto h = tls::https_get(t.ws_port, "/healthz", opt);
  INFO("https /healthz: " << h.status << " " << h.body << " " << h.error);
  REQUIRE(h.status == 200);
  auto hb = parse_object(h.body);
  CHECK(str(hb, "status") == "ok");
  CHECK(str(hb, "node") == "tls-1");
  CHECK(tls::https_get(t.ws_port, "/nope", opt).status == 404);

  // the advertised WebSocket URL is wss:// (and the plain node's stays ws://)
  auto st = c.status_json();
  const auto* tn = find_node(st, "tls-1");
  const auto* pn = find_node(st, "node-1");
  INFO("status: " << dump(st));
  REQUIRE(tn != nullptr);
  REQUIRE(pn != nullptr);
  CHECK(str(*tn, "ws") == "wss://127.0.0.1:" + std::to_string(t.ws_port) + "/ws");
  CHECK(str(*pn, "ws") == "ws://127.0.0.1:" + std::to_string(c.ws_port(0)) + "/ws");

  // alice over wss:// on tls-1 (certificate verified, name localhost), bob over ws:// on node-1
  TlsWsClient alice(opt);
  auto r = alice.connect(t.ws_port, "/ws?user=alice");
  INFO("wss connect: http " << r.http_status << " " << r.error << " " << r.body);
  REQUIRE(r.connected);
  CHECK(r.http_status == 101);
  auto w = expect_tls_frame(alice, "welcome");
  CHECK(str(w, "user") == "alice");
  CHECK(str(w, "node") == "tls-1");
  auto bob = join(c, 0, "bob");

  const int64_t t0 = unix_ms();
  REQUIRE(alice.send_json(send_frame("bob", json::value("hi bob, over TLS"), std::string("a1"))));
  auto ack = expect_tls_frame(alice, "ack");
  CHECK(str(ack, "ref") == "a1");
  CHECK(str(ack, "status") == "delivered");
  check_message(expect_frame(*bob, "message"), "alice", "bob", json::value("hi bob, over TLS"), t0, unix_ms());

  bob->send_json(send_frame("alice", json::object{{"n", 1}, {"s", "back"}}, std::string("b1")));
  expect_ack(*bob, "b1", "delivered");
  check_message(expect_tls_frame(alice, "message"), "bob", "alice", json::object{{"n", 1}, {"s", "back"}}, t0,
                unix_ms());

  // a second TLS session of alice on the same node gets messages too; the first one closes politely
  TlsWsClient alice2(opt);
  REQUIRE(alice2.connect(t.ws_port, "/ws?user=alice").connected);
  expect_tls_frame(alice2, "welcome");
  CHECK(alice.close());
  CHECK(poll_until([&] { return user_sessions(c, "alice").size() == 1; }, 5000ms));
  bob->send_json(send_frame("alice", json::value("to the second"), std::string("b2")));
  expect_ack(*bob, "b2", "delivered");
  check_message(expect_tls_frame(alice2, "message"), "bob", "alice", json::value("to the second"), t0, unix_ms());

  // SIGTERM drains the TLS node: its session gets 1001 drain over TLS and the node exits 0
  t.process->terminate();
  auto ci = alice2.expect_close(5000ms);
  REQUIRE(ci.has_value());
  INFO("close " << ci->code << " " << ci->reason);
  CHECK(ci->code == 1001);
  CHECK(ci->reason == "drain");
  auto problems = stop_checked(*t.process, 6000ms);
  for (const auto& p : problems) FAIL_CHECK(p);
}

TEST_CASE("tls: two TLS nodes deliver to each other and a client checks the certificate by IP address",
          "[integration][tls]") {
  const auto files = tls::make_self_signed(test_dir(), "node");
  Cluster c(0);
  auto t1 = start_tls_node(c, "tls-1", files);
  auto t2 = start_tls_node(c, "tls-2", files);
  ClientOptions by_ip{files.cert, "127.0.0.1"};
  TlsWsClient a(by_ip);
  REQUIRE(a.connect(t1.ws_port, "/ws?user=alice").connected);
  expect_tls_frame(a, "welcome");
  TlsWsClient b(ClientOptions{files.cert});
  REQUIRE(b.connect(t2.ws_port, "/ws?user=bob").connected);
  expect_tls_frame(b, "welcome");
  REQUIRE(a.send_json(send_frame("bob", json::value(1), std::string("x"))));
  auto ack = expect_tls_frame(a, "ack");
  CHECK(str(ack, "status") == "delivered");
  CHECK(str(expect_tls_frame(b, "message"), "from") == "alice");
  a.close();
  b.close();
  for (auto* n : {&t1, &t2})
    for (const auto& p : stop_checked(*n->process, 6000ms)) FAIL_CHECK(p);
}

TEST_CASE("tls: plain ws and http get a 400 that names TLS from the TLS port and TLS before 1.2 is refused",
          "[integration][tls]") {
  const auto files = tls::make_self_signed(test_dir(), "node");
  const ClientOptions opt{files.cert};
  Cluster c(0);
  auto t = start_tls_node(c, "tls-1", files);

  {
    WsClient ws;
    auto r = ws.connect(t.ws_port, "/ws?user=mallory", {}, 3000ms);
    INFO("plain ws:// on the TLS port: http " << r.http_status << " " << r.error);
    CHECK_FALSE(r.connected);
    CHECK(r.http_status == 400);
  }
  {
    auto r = http_get(t.ws_port, "/healthz", {}, 3000ms);
    INFO("plain http on the TLS port: " << r.status << " " << r.error);
    CHECK(r.status == 400);
    CHECK(r.body.find("TLS") != std::string::npos);
  }
  {
    ClientOptions old = opt;
    old.max_tls_1_1 = true;
    auto r = tls::https_get(t.ws_port, "/healthz", old);
    INFO("TLS 1.1 client: " << r.status << " " << r.error);
    CHECK(r.status == 0);
    CHECK(r.error.find("tls handshake") != std::string::npos);
  }
  {
    // a client that trusts another certificate does not get through either (the node is who it is)
    const auto other = tls::make_self_signed(test_dir(), "other");
    auto r = tls::https_get(t.ws_port, "/healthz", ClientOptions{other.cert});
    INFO("client trusting another certificate: " << r.status << " " << r.error);
    CHECK(r.status == 0);
  }
  // none of that hurt the node, and no session was made
  auto h = tls::https_get(t.ws_port, "/healthz", opt);
  INFO(h.status << " " << h.body << " " << h.error);
  REQUIRE(h.status == 200);
  CHECK(num(parse_object(h.body), "sessions") == 0);
  for (const auto& p : stop_checked(*t.process, 6000ms)) FAIL_CHECK(p);
}

TEST_CASE("tls: a client that connects and never completes the handshake is dropped at the 10 s request deadline",
          "[integration][tls]") {
  // The deadline (http_session.cpp kRequestTimeout, 10 s) is not configurable: this test takes ~10 s.
  const auto files = tls::make_self_signed(test_dir(), "node");
  const ClientOptions opt{files.cert};
  Cluster c(0);
  auto t = start_tls_node(c, "tls-1", files);

  const auto t0 = Clock::now();
  tls::SilentClient tcp_only(t.ws_port, nullptr);  // never sends a ClientHello
  tls::SilentClient tls_only(t.ws_port, &opt);     // TLS handshake, then no HTTP request
  REQUIRE(tcp_only.connected());
  INFO("tls-only: " << tls_only.error());
  REQUIRE(tls_only.connected());

  // meanwhile the node serves others
  TlsWsClient alice(opt);
  REQUIRE(alice.connect(t.ws_port, "/ws?user=alice").connected);
  expect_tls_frame(alice, "welcome");

  std::string why1, why2;
  CHECK(tcp_only.wait_closed(20000ms, &why1));
  const auto tcp_ms = ms_since(t0);
  CHECK(tls_only.wait_closed(std::max<int64_t>(1000, 20000 - ms_since(t0)) * 1ms, &why2));
  const auto tls_ms = ms_since(t0);
  INFO("tcp-only dropped after " << tcp_ms << " ms (" << why1 << "), tls-only after " << tls_ms << " ms (" << why2
                                 << ")");
  CHECK(tcp_ms >= 8000);
  CHECK(tcp_ms <= 20000);
  CHECK(tls_ms >= 8000);
  CHECK(tls_ms <= 20000);

  // the WebSocket session is not subject to that deadline
  REQUIRE(alice.send_json({{"type", "ping"}, {"id", "still"}}));
  CHECK(str(expect_tls_frame(alice, "pong"), "ref") == "still");
  alice.close();
  for (const auto& p : stop_checked(*t.process, 6000ms)) FAIL_CHECK(p);
}

TEST_CASE("tls: a client that sends a close frame and never answers close_notify is cut off within the close deadline",
          "[integration][tls]") {
  // ws_session.cpp kCloseTimeout (3 s) bounds the closing handshake, TLS shutdown included; without
  // it only Beast's idle timer (30 s with keep-alive pings) would end such a session.
  const auto files = tls::make_self_signed(test_dir(), "node");
  const ClientOptions opt{files.cert};
  Cluster c(0);
  auto t = start_tls_node(c, "tls-1", files);
  auto sessions = [&] {
    auto h = tls::https_get(t.ws_port, "/healthz", opt);
    return h.status == 200 ? num(parse_object(h.body), "sessions") : int64_t{-1};
  };
  TlsWsClient walker(opt);
  REQUIRE(walker.connect(t.ws_port, "/ws?user=walker").connected);
  expect_tls_frame(walker, "welcome");
  REQUIRE(sessions() == 1);
  const auto t0 = Clock::now();
  REQUIRE(walker.send_raw_close());
  const bool gone = poll_until([&] { return sessions() == 0; }, 10000ms);
  INFO("session gone after " << ms_since(t0) << " ms");
  CHECK(gone);
  for (const auto& p : stop_checked(*t.process, 6000ms)) FAIL_CHECK(p);
}

TEST_CASE("tls: a missing or unreadable certificate or key stops the node with exit 2 naming the key",
          "[integration][tls]") {
  const auto files = tls::make_self_signed(test_dir(), "node");
  const auto missing = (test_dir() / "no-such.key").string();

  SECTION("missing key file") {
    const auto cfg =
        write_file("missing-key.toml", "[tls]\ncert = \"" + files.cert.string() + "\"\nkey = \"" + missing + "\"\n");
    auto r = run_node_expecting_failure({"--config", cfg.string()});
    INFO("exit " << (r.exit_code ? *r.exit_code : -1) << " out " << r.out << " err " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("tls.key") != std::string::npos);
    CHECK(r.err.find(missing) != std::string::npos);
  }
  SECTION("certificate file that is not PEM") {
    const auto junk = write_file("junk.crt", "not a certificate\n");
    const auto cfg =
        write_file("junk-cert.toml", "[tls]\ncert = \"" + junk.string() + "\"\nkey = \"" + files.key.string() + "\"\n");
    auto r = run_node_expecting_failure({"--config", cfg.string()});
    INFO("exit " << (r.exit_code ? *r.exit_code : -1) << " out " << r.out << " err " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("tls.cert") != std::string::npos);
  }
  SECTION("only tls.cert set") {
    const auto cfg = write_file("cert-only.toml", "[tls]\ncert = \"" + files.cert.string() + "\"\n");
    auto r = run_node_expecting_failure({"--config", cfg.string()});
    INFO("exit " << (r.exit_code ? *r.exit_code : -1) << " out " << r.out << " err " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("tls.key") != std::string::npos);
  }
}

TEST_CASE("tls: a key that does not match the certificate stops the node with exit 2", "[integration][tls]") {
  const auto a = tls::make_self_signed(test_dir(), "a");
  const auto b = tls::make_self_signed(test_dir(), "b");
  const auto cfg =
      write_file("mismatch.toml", "[tls]\ncert = \"" + a.cert.string() + "\"\nkey = \"" + b.key.string() + "\"\n");
  auto r = run_node_expecting_failure({"--config", cfg.string()});
  INFO("exit " << (r.exit_code ? *r.exit_code : -1) << " out " << r.out << " err " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("tls.key") != std::string::npos);
  CHECK(r.err.find(b.key.string()) != std::string::npos);
}
