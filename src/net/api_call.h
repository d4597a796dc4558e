// ApiCall: one server API operation that goes through the router like a client's frame (a publish
// to users or to a room, a presence or members query), seen by the router as the sending session.
// It is never registered (Router::add_session): it only receives the frames the router sends back
// to a sender (acks, presence, members, errors), and gathers them into the operation's JSON answer.
//
// is_service() is true: it may publish to a room it is not a member of. user() is the publish's
// `from` (what recipients see). deliver() may be called on any thread: it posts to the executor
// given at construction (the HTTP connection's strand), where every other member function runs.
// The router keeps only a weak reference to a sender: the connection keeps the call alive until
// it is done.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "proto/api_request.h"
#include "routing/local_session.h"
#include "routing/router.h"

namespace wsg {

class ApiCall : public LocalSession, public std::enable_shared_from_this<ApiCall> {
 public:
  // The answer: an HTTP status and its JSON text. Called once, on the executor.
  using Done = std::function<void(unsigned status, std::string json)>;

  ApiCall(boost::asio::any_io_executor executor, std::string from, std::string session_id, Done done);

  // Each starts the operation (at most one per call).
  void start_publish(Router& router, proto::api::Publish publish);
  void start_presence(Router& router, std::vector<std::string> users);
  void start_members(Router& router, proto::MembersFrame frame);
  // The deadline passed: answers now with what arrived (a publish: the missing answers `failed`,
  // reason "timeout"; a query: 504). Nothing once done.
  void expire();
  bool done() const { return !done_; }
  // Router operations this call has in flight (a publish to N users: N), for api.max_inflight.
  std::size_t operations() const { return operations_; }

  // LocalSession
  const std::string& user() const override { return from_; }
  const std::string& session_id() const override { return session_id_; }
  void deliver(std::shared_ptr<const std::string> frame) override;
  void close_drain() override {}
  bool is_service() const override { return true; }

 private:
  enum class Kind : uint8_t { none, publish, presence, members };
  void on_frame(const std::string& frame);
  void finish(unsigned status, std::string json);
  void finish_publish();

  boost::asio::any_io_executor executor_;
  std::string from_;
  std::string session_id_;
  Done done_;
  Kind kind_ = Kind::none;
  std::size_t operations_ = 0;
  // publish
  proto::api::Publish publish_;
  std::vector<proto::api::UserResult> users_;
  std::vector<bool> answered_;
  std::size_t left_ = 0;
  proto::api::RoomResult room_;
};

}  // namespace wsg
