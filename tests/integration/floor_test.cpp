// wsg-floor (bench/floor), the benchmarks' reference relay: it starts on port 0 and says where,
// welcomes, relays a frame verbatim to every session of its recipient, refuses bad handshakes and
// stops on SIGTERM. Only built with WSG_BUILD_BENCH (which defines WSG_FLOOR_BINARY).
#include "test_util.h"

#ifdef WSG_FLOOR_BINARY

#include <fstream>

namespace wsg::it {
namespace {

// A running wsg-floor on a port it chose itself.
struct Floor {
  std::unique_ptr<Process> process;
  uint16_t port = 0;

  Floor() {
    const auto out = test_dir() / "floor.out";
    const auto err = test_dir() / "floor.err";
    register_log(out);
    register_log(err);
    process = std::make_unique<Process>(
        "wsg-floor", WSG_FLOOR_BINARY, std::vector<std::string>{"--listen", "127.0.0.1:0", "--threads", "2"}, out, err);
    const std::string prefix = "listening 127.0.0.1:";
    const bool up = poll_until(
        [&] {
          std::ifstream f(out);
          std::string line;
          if (!std::getline(f, line) || !line.starts_with(prefix) || f.eof()) return false;  // whole line
          port = static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
          return true;
        },
        kStartTimeout);
    INFO("wsg-floor stdout: " << tail_file(out) << " stderr: " << tail_file(err));
    REQUIRE(up);
    REQUIRE(port != 0);
  }
};

std::unique_ptr<WsClient> connect_user(uint16_t port, const std::string& user) {
  auto ws = std::make_unique<WsClient>();
  auto r = ws->connect(port, "/ws?user=" + user);
  INFO("connect " << user << ": http " << r.http_status << " " << r.error);
  REQUIRE(r.connected);
  auto w = ws->next_raw();
  REQUIRE(w.has_value());
  CHECK(*w == R"({"type":"welcome","user":")" + user + R"("})");
  return ws;
}

}  // namespace

TEST_CASE("wsg-floor relays a send frame verbatim to every session of the recipient", "[integration][floor]") {
  Floor floor;
  auto alice = connect_user(floor.port, "alice");
  auto bob1 = connect_user(floor.port, "bob");
  auto bob2 = connect_user(floor.port, "bob");

  const std::string frame = R"({"type":"send", "to" : "bob","body":{"n":1,"text":"hé \"to\":\"x\""},"id":"c1"})";
  alice->send_text(frame);
  for (auto* b : {bob1.get(), bob2.get()}) {
    auto got = b->next_raw();
    REQUIRE(got.has_value());
    CHECK(*got == frame);
  }

  // A frame to nobody online, and one with no recipient, are dropped; the sender gets nothing
  // back (no acks): the next frame alice sees is the one she sends to herself.
  alice->send_text(R"({"type":"send","to":"carol","body":1})");
  alice->send_text(R"({"type":"ping","id":"p1"})");
  const std::string to_self = R"({"type":"send","to":"alice","body":"me"})";
  alice->send_text(to_self);
  auto self = alice->next_raw();
  REQUIRE(self.has_value());
  CHECK(*self == to_self);

  // FIFO per sender and recipient session, in both directions.
  for (int i = 0; i < 200; ++i) bob2->send_text(R"({"type":"send","to":"alice","body":)" + std::to_string(i) + "}");
  for (int i = 0; i < 200; ++i) {
    auto got = alice->next_raw();
    REQUIRE(got.has_value());
    CHECK(*got == R"({"type":"send","to":"alice","body":)" + std::to_string(i) + "}");
  }
  CHECK(bob1->pending() == 0);

  // A closed session is forgotten: bob's remaining session still gets what is sent to bob.
  bob1->close();
  alice->send_text(R"({"type":"send","to":"bob","body":2})");
  auto got = bob2->next_raw();
  REQUIRE(got.has_value());
  CHECK(*got == R"({"type":"send","to":"bob","body":2})");

  floor.process->terminate();
  auto code = floor.process->wait_exit(5000ms);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

TEST_CASE("wsg-floor refuses a handshake without a valid user or on another path", "[integration][floor]") {
  Floor floor;
  {
    WsClient ws;
    auto r = ws.connect(floor.port, "/ws");
    CHECK(!r.connected);
    CHECK(r.http_status == 400);
  }
  {
    WsClient ws;
    auto r = ws.connect(floor.port, "/ws?user=bad%20id");
    CHECK(!r.connected);
    CHECK(r.http_status == 400);
  }
  {
    WsClient ws;
    auto r = ws.connect(floor.port, "/other?user=alice");
    CHECK(!r.connected);
    CHECK(r.http_status == 404);
  }
  // Still serving.
  auto alice = connect_user(floor.port, "alice");
  floor.process->terminate();
  auto code = floor.process->wait_exit(5000ms);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

}  // namespace wsg::it

#endif  // WSG_FLOOR_BINARY
