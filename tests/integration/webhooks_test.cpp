// Webhooks (docs/api.md, "Webhooks"): a real cluster POSTs to a Python receiver
// (tests/integration/webhook_receiver.py) that checks every signature and records every request.
#include "test_util.h"

#include <fstream>

using namespace wsg::it;

namespace {

constexpr const char* kSecret = "hook-secret";

std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A self-signed certificate (by default for 127.0.0.1 and localhost), in the test's directory:
// {cert, key}.
std::pair<std::filesystem::path, std::filesystem::path> self_signed_cert(
    const std::string& alt_names = "IP:127.0.0.1,DNS:localhost") {
  const auto cert = test_dir() / "hook-cert.pem";
  const auto key = test_dir() / "hook-key.pem";
  auto r =
      run_command("/usr/bin/env",
                  {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                   "-addext", "subjectAltName=" + alt_names, "-keyout", key.string(), "-out", cert.string()},
                  30000ms);
  INFO("openssl: " << r.err);
  REQUIRE(r.exit_code == 0);
  return {cert, key};
}

// The receiver, on a fixed port (so that it can be started again after being stopped); HTTPS when
// given a certificate and key.
class Receiver {
 public:
  Receiver(uint16_t port, std::filesystem::path out, int fail_first = 0)
      : port_(port), out_(std::move(out)), fail_(fail_first) {}
  void use_tls(std::filesystem::path cert, std::filesystem::path key) {
    cert_ = std::move(cert);
    key_ = std::move(key);
  }
  void start() {
    std::vector<std::string> args{"python3",  (repo_root() / "tests/integration/webhook_receiver.py").string(),
                                  "--port",   std::to_string(port_),
                                  "--out",    out_.string(),
                                  "--secret", kSecret,
                                  "--fail",   std::to_string(fail_)};
    if (!cert_.empty()) {
      args.insert(args.end(), {"--cert", cert_.string(), "--key", key_.string()});
    }
    proc_ = std::make_unique<Process>("receiver", "/usr/bin/env", args,
                                      test_dir() / ("receiver-" + std::to_string(++starts_) + ".log"));
    register_log(proc_->log());
    if (cert_.empty()) {
      REQUIRE(poll_until([&] { return http_get(port_, "/", {}, 500ms).status != 0; }, kStartTimeout));
    } else {
      // A plain GET would fail the handshake: wait for the line it prints once it listens.
      REQUIRE(
          poll_until([&] { return file_text(proc_->log()).find("listening") != std::string::npos; }, kStartTimeout));
    }
  }
  void stop() { proc_.reset(); }
  // Every request recorded so far.
  std::vector<json::object> requests() const {
    std::vector<json::object> out;
    std::ifstream in(out_);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(parse_object(line));
    return out;
  }
  // Every event the receiver accepted (answered 200), in order.
  std::vector<json::object> events() const {
    std::vector<json::object> out;
    for (const auto& r : requests()) {
      if (r.at("status").as_int64() != 200) continue;
      for (const auto& e : r.at("events").as_array()) out.push_back(e.as_object());
    }
    return out;
  }
  std::vector<json::object> wait_for(const std::function<bool(const std::vector<json::object>&)>& pred,
                                     std::chrono::milliseconds timeout = kFrameTimeout) const {
    std::vector<json::object> last;
    poll_until(
        [&] {
          last = events();
          return pred(last);
        },
        timeout);
    return last;
  }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  std::filesystem::path out_;
  int fail_;
  std::filesystem::path cert_;
  std::filesystem::path key_;
  int starts_ = 0;
  std::unique_ptr<Process> proc_;
};

std::size_t count_of(const std::vector<json::object>& events, const std::string& event, const std::string& key,
                     const std::string& value) {
  std::size_t n = 0;
  for (const auto& e : events)
    if (str(e, "event") == event && str(e, key.c_str()) == value) ++n;
  return n;
}

std::filesystem::path write_config(const std::string& name, uint16_t port, const std::string& extra,
                                   const std::string& scheme = "http") {
  const auto path = test_dir() / name;
  std::ofstream f(path);
  f << "[webhooks]\nurl = \"" << scheme << "://127.0.0.1:" << port << "/hook\"\nsecret = \"" << kSecret << "\"\n"
    << extra;
  return path;
}

ClusterOptions options_with(const std::filesystem::path& config, int nodes,
                            std::vector<std::string> master_extra = {}) {
  ClusterOptions o;
  o.nodes = nodes;
  o.master_args = {"--config", config.string()};
  for (auto& a : master_extra) o.master_args.push_back(a);
  for (int i = 0; i < nodes; ++i) o.node_specs.push_back(NodeSpec{"", {"--config", config.string()}});
  return o;
}

double metric(uint16_t port, const std::string& name) {
  auto r = http_get(port, "/metrics");
  const auto at = r.body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(r.body.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("webhooks: every event type, once cluster-wide, signed", "[integration][webhooks]") {
  Receiver rx(free_port(), test_dir() / "requests.jsonl");
  rx.start();
  Cluster c(options_with(write_config("w.toml", rx.port(), "batch_delay_ms = 20\n"), 2));

  // First session anywhere: online; a second one on the other node: nothing more.
  auto a0 = join(c, 0, "alice");
  auto ev = rx.wait_for([](auto& e) { return count_of(e, "user.online", "user", "alice") == 1; });
  REQUIRE(count_of(ev, "user.online", "user", "alice") == 1);
  auto a1 = join(c, 1, "alice");
  // A room: occupied by its first member, vacated by its last.
  a1->send_json({{"type", "join"}, {"room", "lobby"}, {"id", "j1"}});
  CHECK(str(expect_frame(*a1, "ack"), "status") == "joined");
  ev = rx.wait_for([](auto& e) { return count_of(e, "room.occupied", "room", "lobby") == 1; });
  CHECK(count_of(ev, "room.occupied", "room", "lobby") == 1);
  a1->send_json({{"type", "leave"}, {"room", "lobby"}, {"id", "l1"}});
  CHECK(str(expect_frame(*a1, "ack"), "status") == "left");
  ev = rx.wait_for([](auto& e) { return count_of(e, "room.vacated", "room", "lobby") == 1; });
  CHECK(count_of(ev, "room.vacated", "room", "lobby") == 1);

  // A send to an offline user: message.undelivered from the sender's node, with the body.
  a0->send_json(send_frame("carol", json::object{{"text", "are you there?"}}, std::string("m1")));
  expect_ack(*a0, "m1", "offline");
  ev = rx.wait_for([](auto& e) { return count_of(e, "message.undelivered", "status", "offline") == 1; });
  REQUIRE(count_of(ev, "message.undelivered", "status", "offline") == 1);
  for (const auto& e : ev) {
    if (str(e, "event") != "message.undelivered") continue;
    CHECK(str(e, "node") == c.node_id(0));
    const auto& m = e.at("message").as_object();
    CHECK(str(m, "from") == "alice");
    CHECK(str(m, "to") == "carol");
    CHECK(str(m.at("body").as_object(), "text") == "are you there?");
  }

  // Closing one of two sessions: still online; the last one: offline.
  a0->close();
  a1->close();
  ev = rx.wait_for([](auto& e) { return count_of(e, "user.offline", "user", "alice") == 1; });
  CHECK(count_of(ev, "user.offline", "user", "alice") == 1);
  CHECK(count_of(ev, "user.online", "user", "alice") == 1);
  for (const auto& r : rx.requests()) {
    CHECK(r.at("sig_ok").as_bool());
    CHECK(str(r, "content_type") == "application/json");
  }
  for (const auto& e : ev) {
    CHECK(!str(e, "id").empty());
    CHECK(num(e, "ts") > 0);
  }
}

TEST_CASE("webhooks: batching, retry after 500, node death gives user.offline", "[integration][webhooks]") {
  Receiver rx(free_port(), test_dir() / "requests.jsonl", /*fail_first=*/2);
  rx.start();
  const uint16_t mport = free_port();
  Cluster c(options_with(
      write_config("w.toml", rx.port(), "batch_delay_ms = 500\nretry_initial_ms = 50\nretry_max_ms = 100\n"), 2,
      {"--metrics-listen", "127.0.0.1:" + std::to_string(mport)}));
  std::vector<Session> sessions;
  for (const char* u : {"u1", "u2", "u3"}) sessions.push_back(join(c, 0, u));
  auto ev = rx.wait_for([](auto& e) { return e.size() >= 3; });
  CHECK(count_of(ev, "user.online", "user", "u3") == 1);
  const auto reqs = rx.requests();
  REQUIRE(reqs.size() >= 3);
  CHECK(reqs[0].at("status").as_int64() == 500);
  CHECK(reqs[1].at("status").as_int64() == 500);
  // The three events waited for each other (batch_delay_ms): one POST, retried twice.
  CHECK(reqs[2].at("events").as_array().size() == 3);
  CHECK(metric(mport, "wsg_webhook_retries_total") >= 2);
  CHECK(metric(mport, "wsg_webhook_events_sent_total") >= 3);

  // A node killed: its users are offline once the master declares it dead.
  auto b = join(c, 1, "bob");
  rx.wait_for([](auto& e) { return count_of(e, "user.online", "user", "bob") == 1; });
  c.node(1).process->kill();
  ev = rx.wait_for([](auto& e) { return count_of(e, "user.offline", "user", "bob") == 1; }, 10s);
  REQUIRE(count_of(ev, "user.offline", "user", "bob") == 1);
  for (const auto& e : ev)
    if (str(e, "event") == "user.offline" && str(e, "user") == "bob") CHECK(str(e, "reason") == "node_down");
}

TEST_CASE("webhooks: receiver down, queue overflow drops the oldest, the rest arrive later",
          "[integration][webhooks]") {
  Receiver rx(free_port(), test_dir() / "requests.jsonl");  // not started yet
  const uint16_t mport = free_port();
  Cluster c(options_with(write_config("w.toml", rx.port(),
                                      "batch_delay_ms = 0\nqueue_max = 2\nmax_retries = 1000\nretry_initial_ms = "
                                      "50\nretry_max_ms = 200\ntimeout_ms = 1000\n"),
                         1, {"--metrics-listen", "127.0.0.1:" + std::to_string(mport)}));
  std::vector<Session> sessions;
  for (const char* u : {"d1", "d2", "d3", "d4", "d5"}) sessions.push_back(join(c, 0, u));
  REQUIRE(poll_until([&] { return metric(mport, "wsg_webhook_events_dropped_total") >= 3; }, kFrameTimeout));
  CHECK(metric(mport, "wsg_webhook_queue_depth") <= 2);
  rx.start();
  auto ev = rx.wait_for([](auto& e) {
    return count_of(e, "user.online", "user", "d4") == 1 && count_of(e, "user.online", "user", "d5") == 1;
  });
  CHECK(count_of(ev, "user.online", "user", "d4") == 1);
  CHECK(count_of(ev, "user.online", "user", "d5") == 1);
  CHECK(count_of(ev, "user.online", "user", "d1") == 0);  // the oldest went
  CHECK(count_of(ev, "user.online", "user", "d2") == 0);
}

TEST_CASE("webhooks: https with webhooks.ca_file, signed events arrive", "[integration][webhooks]") {
  const auto [cert, key] = self_signed_cert();
  Receiver rx(free_port(), test_dir() / "requests.jsonl");
  rx.use_tls(cert, key);
  rx.start();
  const uint16_t mport = free_port();
  Cluster c(options_with(
      write_config("w.toml", rx.port(), "batch_delay_ms = 20\nca_file = \"" + cert.string() + "\"\n", "https"), 1,
      {"--metrics-listen", "127.0.0.1:" + std::to_string(mport)}));
  auto a = join(c, 0, "alice");
  auto ev = rx.wait_for([](auto& e) { return count_of(e, "user.online", "user", "alice") == 1; });
  REQUIRE(count_of(ev, "user.online", "user", "alice") == 1);
  a->close();
  ev = rx.wait_for([](auto& e) { return count_of(e, "user.offline", "user", "alice") == 1; });
  CHECK(count_of(ev, "user.offline", "user", "alice") == 1);
  const auto reqs = rx.requests();
  REQUIRE(!reqs.empty());
  for (const auto& r : reqs) {
    CHECK(r.at("sig_ok").as_bool());
    CHECK(str(r, "content_type") == "application/json");
  }
  CHECK(metric(mport, "wsg_webhook_events_sent_total") >= 2);
}

// A receiver the sender must refuse: every handshake fails, the batch is retried, nothing arrives,
// and the failure is logged as a certificate verification failure.
void check_refused(const std::filesystem::path& cert, const std::filesystem::path& key, const std::string& ca_line) {
  Receiver rx(free_port(), test_dir() / "requests.jsonl");
  rx.use_tls(cert, key);
  rx.start();
  const uint16_t mport = free_port();
  Cluster c(options_with(write_config("w.toml", rx.port(),
                                      "batch_delay_ms = 0\nmax_retries = 1000\nretry_initial_ms = 20\n"
                                      "retry_max_ms = 50\ntimeout_ms = 2000\n" +
                                          ca_line,
                                      "https"),
                         1, {"--metrics-listen", "127.0.0.1:" + std::to_string(mport)}));
  auto a = join(c, 0, "alice");
  REQUIRE(poll_until([&] { return metric(mport, "wsg_webhook_retries_total") >= 3; }, kFrameTimeout));
  CHECK(rx.requests().empty());
  CHECK(metric(mport, "wsg_webhook_events_sent_total") <= 0);
  CHECK(poll_until([&] { return file_text(c.master().log()).find("certificate verify failed") != std::string::npos; },
                   kFrameTimeout));
}

TEST_CASE("webhooks: https to a self-signed receiver without ca_file is refused and retried",
          "[integration][webhooks]") {
  // The system CAs do not trust the receiver's certificate.
  const auto [cert, key] = self_signed_cert();
  check_refused(cert, key, "");
}

TEST_CASE("webhooks: https to a receiver whose certificate names another host is refused", "[integration][webhooks]") {
  // Trusted (ca_file), but issued for another name than the URL's 127.0.0.1.
  const auto [cert, key] = self_signed_cert("DNS:other.example");
  check_refused(cert, key, "ca_file = \"" + cert.string() + "\"\n");
}

TEST_CASE("webhooks: an unusable webhooks.ca_file stops start-up with exit 2", "[integration][webhooks]") {
  const auto bad = test_dir() / "not-a-cert.pem";
  std::ofstream(bad) << "hello\n";
  for (const auto& ca : {bad, test_dir() / "missing.pem"}) {
    const auto cfg = write_config("bad.toml", free_port(), "ca_file = \"" + ca.string() + "\"\n", "https");
    auto r = run_command(
        wsg_binary(), {"master", "--bind", "tcp://127.0.0.1:" + std::to_string(free_port()), "--config", cfg.string()},
        15000ms);
    INFO("err " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("webhooks.ca_file") != std::string::npos);
  }
}
