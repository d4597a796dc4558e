#include "net/api_call.h"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

namespace wsg {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// The refs the call gives the router: "u<index>" for the users of a publish, "r" for a room
// publish, "q" for a query. The acks come back with them.
constexpr std::string_view kRoomRef = "r";
constexpr std::string_view kQueryRef = "q";

std::string member_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

}  // namespace

ApiCall::ApiCall(asio::any_io_executor executor, std::string from, std::string session_id, Done done)
    : executor_(std::move(executor)),
      from_(std::move(from)),
      session_id_(std::move(session_id)),
      done_(std::move(done)) {}

void ApiCall::start_publish(Router& router, proto::api::Publish publish) {
  kind_ = Kind::publish;
  publish_ = std::move(publish);
  auto self = shared_from_this();
  if (publish_.target == proto::api::Publish::Target::room) {
    operations_ = 1;
    left_ = 1;
    room_.reason = "timeout";
    router.publish(self, proto::PublishFrame{publish_.room, publish_.body, std::string(kRoomRef)});
    return;
  }
  operations_ = publish_.users.size();
  left_ = publish_.users.size();
  users_.resize(publish_.users.size());
  answered_.assign(publish_.users.size(), false);
  for (std::size_t i = 0; i < publish_.users.size(); ++i) {
    users_[i].user = publish_.users[i];
    users_[i].reason = "timeout";
    router.send(self, proto::SendFrame{publish_.users[i], publish_.body, "u" + std::to_string(i)});
  }
}

void ApiCall::start_presence(Router& router, std::vector<std::string> users) {
  kind_ = Kind::presence;
  operations_ = 1;
  router.presence(shared_from_this(), proto::PresenceFrame{std::move(users), std::string(kQueryRef)});
}

void ApiCall::start_members(Router& router, proto::MembersFrame frame) {
  kind_ = Kind::members;
  operations_ = 1;
  frame.id = std::string(kQueryRef);
  router.members(shared_from_this(), std::move(frame));
}

void ApiCall::deliver(std::shared_ptr<const std::string> frame) {
  asio::post(executor_, [self = shared_from_this(), frame = std::move(frame)] { self->on_frame(*frame); });
}

void ApiCall::on_frame(const std::string& text) {
  if (!done_) return;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return;  // the router's own frames: cannot happen
  json::object& o = v.get_object();
  const std::string type = member_string(o, "type");
  const std::string ref = member_string(o, "ref");

  if (kind_ == Kind::publish) {
    if (publish_.target == proto::api::Publish::Target::room) {
      if (ref != kRoomRef) return;
      if (type == "ack") {
        const std::string status = member_string(o, "status");
        room_.status = status == "delivered"    ? proto::PublishStatus::delivered
                       : status == "no_members" ? proto::PublishStatus::no_members
                                                : proto::PublishStatus::failed;
        room_.id = member_string(o, "id");
        room_.reason = member_string(o, "reason");
        if (const json::value* n = o.if_contains("sessions"); n != nullptr && n->is_number()) {
          room_.sessions = n->to_number<uint64_t>(ec);
          if (ec) room_.sessions = 0;
        }
      } else if (type == "error") {
        room_.status = proto::PublishStatus::failed;
        room_.reason = member_string(o, "code");
      } else {
        return;
      }
      left_ = 0;
      return finish_publish();
    }
    // "u<index>"
    if (ref.size() < 2 || ref[0] != 'u') return;
    std::size_t index = 0;
    for (std::size_t i = 1; i < ref.size(); ++i) {
      if (ref[i] < '0' || ref[i] > '9' || index > users_.size()) return;
      index = index * 10 + static_cast<std::size_t>(ref[i] - '0');
    }
    if (index >= users_.size() || answered_[index]) return;
    auto& r = users_[index];
    if (type == "ack") {
      const std::string status = member_string(o, "status");
      r.status = status == "delivered" ? proto::AckStatus::delivered
                 : status == "offline" ? proto::AckStatus::offline
                                       : proto::AckStatus::failed;
      r.id = member_string(o, "id");
      r.reason = member_string(o, "reason");
    } else if (type == "error") {
      r.status = proto::AckStatus::failed;
      r.reason = member_string(o, "code");
    } else {
      return;
    }
    answered_[index] = true;
    if (--left_ == 0) finish_publish();
    return;
  }

  if (ref != kQueryRef) return;
  if (type == "error") {
    // e.g. presence without the master: only local users could be answered for sure.
    return finish(503, proto::api::encode_error("unavailable", member_string(o, "message")));
  }
  if ((kind_ == Kind::presence && type == "presence") || (kind_ == Kind::members && type == "members")) {
    o.erase("type");
    o.erase("ref");
    return finish(200, json::serialize(o));
  }
}

void ApiCall::finish_publish() { finish(200, proto::api::encode_publish_answer(publish_, users_, room_)); }

void ApiCall::expire() {
  if (!done_) return;
  if (kind_ == Kind::publish) return finish_publish();  // unanswered ones: failed, "timeout"
  finish(504, proto::api::encode_error("timeout", "no answer within api.request_timeout_ms"));
}

void ApiCall::finish(unsigned status, std::string json_text) {
  if (!done_) return;
  auto done = std::move(done_);
  done_ = nullptr;
  done(status, std::move(json_text));
}

}  // namespace wsg
