// The non-throwing ZeroMQ wrapper (net/zmq_socket.h) over inproc:// sockets only: each outcome it
// reports (sent / received, would_block, failed with the errno) is produced directly, without
// timing: inproc pipes exist as soon as connect() returns and a non-blocking call processes the
// socket's pending commands first, so no test waits or sleeps.
#include <catch2/catch.hpp>

#include <cerrno>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "net/zmq_socket.h"

namespace zsock = wsg::zsock;
using zsock::RecvResult;
using zsock::SendResult;

namespace {

std::string text(const zmq::message_t& m) { return m.to_string(); }

}  // namespace

TEST_CASE("zmq socket sends and receives on a connected push pull pair", "[zmq-socket]") {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  pull.set(zmq::sockopt::linger, 0);
  push.set(zmq::sockopt::linger, 0);
  pull.bind("inproc://zsock-pair");
  push.connect("inproc://zsock-pair");

  const auto sent = zsock::send(push, "hello");
  CHECK(sent.sent());
  CHECK(sent.result == SendResult::sent);
  CHECK(sent.error == 0);
  CHECK(std::string(sent.reason()) == "sent");

  zmq::message_t msg;
  const auto got = zsock::recv(pull, msg);
  REQUIRE(got.received());
  CHECK(got.error == 0);
  CHECK(text(msg) == "hello");
  CHECK_FALSE(msg.more());
}

TEST_CASE("zmq socket recv would block on an empty socket", "[zmq-socket]") {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull);
  pull.set(zmq::sockopt::linger, 0);
  pull.bind("inproc://zsock-empty");

  zmq::message_t msg;
  const auto got = zsock::recv(pull, msg);
  CHECK(got.result == RecvResult::would_block);
  CHECK(got.error == EAGAIN);
  CHECK_FALSE(std::string(got.reason()).empty());

  std::vector<zmq::message_t> parts;
  CHECK(zsock::recv_multipart(pull, parts, 4).result == RecvResult::would_block);
  CHECK(parts.empty());
}

TEST_CASE("zmq socket send would block without a peer", "[zmq-socket]") {
  zmq::context_t ctx(1);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 0);
  // No pipe at all: a PUSH has nowhere to queue.
  const auto st = zsock::send(push, "nobody");
  CHECK(st.result == SendResult::would_block);
  CHECK(st.error == EAGAIN);
}

TEST_CASE("zmq socket send would block when the high water mark is full", "[zmq-socket]") {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  pull.set(zmq::sockopt::linger, 0);
  pull.set(zmq::sockopt::rcvhwm, 1);
  push.set(zmq::sockopt::linger, 0);
  push.set(zmq::sockopt::sndhwm, 1);
  pull.bind("inproc://zsock-hwm");
  push.connect("inproc://zsock-hwm");

  // Nobody reads: an inproc pipe holds SNDHWM + RCVHWM messages, then the next send is refused.
  int sent = 0;
  zsock::SendStatus st;
  for (int i = 0; i < 16; ++i) {
    st = zsock::send(push, "m" + std::to_string(i));
    if (!st.sent()) break;
    ++sent;
  }
  CHECK(sent == 2);
  CHECK(st.result == SendResult::would_block);
  CHECK(st.error == EAGAIN);

  // Reading one makes room for one (the reader tells the writer in batches, so only "some").
  zmq::message_t msg;
  REQUIRE(zsock::recv(pull, msg).received());
  CHECK(text(msg) == "m0");
}

TEST_CASE("zmq socket send and recv fail on a shut down context", "[zmq-socket]") {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  pull.set(zmq::sockopt::linger, 0);
  push.set(zmq::sockopt::linger, 0);
  pull.bind("inproc://zsock-term");
  push.connect("inproc://zsock-term");
  ctx.shutdown();  // every socket of the context now answers ETERM

  const auto sent = zsock::send(push, "late");
  CHECK(sent.result == SendResult::failed);
  CHECK(sent.error == ETERM);
  CHECK(std::string(sent.reason()) == zmq_strerror(ETERM));

  zmq::message_t msg;
  const auto got = zsock::recv(pull, msg);
  CHECK(got.result == RecvResult::failed);
  CHECK(got.error == ETERM);

  std::vector<zmq::message_t> parts;
  CHECK(zsock::recv_multipart(pull, parts, 2).result == RecvResult::failed);
  int error = 0;
  CHECK_FALSE(zsock::events(pull, &error).has_value());
  CHECK(error == ETERM);
  CHECK_FALSE(zsock::set_linger(push, 100));
  // Closed before the context: its destructor waits for them.
  pull.close();
  push.close();
}

TEST_CASE("zmq socket send fails on a closed socket", "[zmq-socket]") {
  zmq::context_t ctx(1);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.close();
  const auto st = zsock::send(push, "gone");
  CHECK(st.result == SendResult::failed);
  CHECK(st.error == ENOTSOCK);
  zmq::message_t msg;
  CHECK(zsock::recv(push, msg).result == RecvResult::failed);
  CHECK_FALSE(zsock::events(push).has_value());
  CHECK_FALSE(zsock::set_linger(push, 0));
}

TEST_CASE("zmq socket send fails on a mandatory router to an unknown identity", "[zmq-socket]") {
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::router_mandatory, true);
  router.bind("inproc://zsock-mandatory");

  const auto st = zsock::send_multipart(router, {"nobody", "body"});
  CHECK(st.result == SendResult::failed);
  CHECK(st.error == EHOSTUNREACH);
  CHECK(std::string(st.reason()) == zmq_strerror(EHOSTUNREACH));
}

TEST_CASE("zmq socket receives a multipart message whole", "[zmq-socket]") {
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  router.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::routing_id, "node-1");
  router.bind("inproc://zsock-multipart");
  dealer.connect("inproc://zsock-multipart");

  REQUIRE(zsock::send_multipart(dealer, {"a", "b", "c"}).sent());
  REQUIRE(zsock::send_multipart(dealer, {"d", "e"}).sent());

  // All of it: the routing id ROUTER prepends, then the three frames.
  std::vector<zmq::message_t> parts;
  bool truncated = true;
  REQUIRE(zsock::recv_multipart(router, parts, 8, &truncated).received());
  CHECK_FALSE(truncated);
  REQUIRE(parts.size() == 4);
  CHECK(text(parts[0]) == "node-1");
  CHECK(text(parts[1]) == "a");
  CHECK(text(parts[2]) == "b");
  CHECK(text(parts[3]) == "c");

  // Exactly as many frames as kept: not truncated.
  REQUIRE(zsock::recv_multipart(router, parts, 3, &truncated).received());
  CHECK_FALSE(truncated);
  REQUIRE(parts.size() == 3);
  CHECK(text(parts[1]) == "d");
  CHECK(text(parts[2]) == "e");

  // At most two kept: the rest of that message is read and dropped, the next one starts clean.
  REQUIRE(zsock::send_multipart(dealer, {"f", "g", "h"}).sent());
  REQUIRE(zsock::send(dealer, "i").sent());
  REQUIRE(zsock::recv_multipart(router, parts, 2, &truncated).received());
  CHECK(truncated);
  REQUIRE(parts.size() == 2);
  CHECK(text(parts[0]) == "node-1");
  CHECK(text(parts[1]) == "f");
  REQUIRE(zsock::recv_multipart(router, parts, 2, &truncated).received());
  CHECK_FALSE(truncated);
  REQUIRE(parts.size() == 2);
  CHECK(text(parts[1]) == "i");
  CHECK(zsock::recv_multipart(router, parts, 2).result == RecvResult::would_block);

  // And back through the ROUTER by routing id, frame by frame.
  REQUIRE(zsock::send(router, "node-1", true).sent());
  REQUIRE(zsock::send(router, "reply").sent());
  zmq::message_t msg;
  REQUIRE(zsock::recv(dealer, msg).received());
  CHECK(text(msg) == "reply");
  CHECK_FALSE(msg.more());
}

TEST_CASE("zmq socket events show pending input", "[zmq-socket]") {
  zmq::context_t ctx(1);
  zmq::socket_t pull(ctx, zmq::socket_type::pull);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  pull.set(zmq::sockopt::linger, 0);
  push.set(zmq::sockopt::linger, 0);
  pull.bind("inproc://zsock-events");
  push.connect("inproc://zsock-events");
  auto before = zsock::events(pull);
  REQUIRE(before.has_value());
  CHECK_FALSE(*before & ZMQ_POLLIN);
  REQUIRE(zsock::send(push, "x").sent());
  auto after = zsock::events(pull);
  REQUIRE(after.has_value());
  CHECK(*after & ZMQ_POLLIN);
  CHECK(zsock::set_linger(push, 10));
}
