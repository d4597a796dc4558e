// In-memory fakes of what the Router and its pieces consume (routing/master_link.h,
// routing/peer_link.h, routing/local_session.h), shared by their unit tests: each records what it
// was handed and can be told to refuse, as a full ZeroMQ queue would.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json.hpp>

#include "proto/cluster_codec.h"
#include "routing/local_session.h"
#include "routing/master_link.h"
#include "routing/peer_link.h"

namespace wsg::fakes {

class FakeMaster : public MasterLink {
 public:
  bool send_to_master(const cluster::Message& message) override {
    if (refuse) return false;
    sent.push_back(message);
    return true;
  }
  // The messages of type T sent so far (kept).
  template <class T>
  std::vector<T> sent_of() const {
    std::vector<T> out;
    for (auto& m : sent) {
      if (auto* x = std::get_if<T>(&m)) out.push_back(*x);
    }
    return out;
  }
  // The messages of type T sent so far; forgets every message sent.
  template <class T>
  std::vector<T> take() {
    auto out = sent_of<T>();
    sent.clear();
    return out;
  }
  // The LOOKUPs sent since the last call.
  std::vector<cluster::Lookup> take_lookups() { return take<cluster::Lookup>(); }

  bool refuse = false;  // the link's queue to the master is full
  std::vector<cluster::Message> sent;
};

class FakePeers : public PeerLink {
 public:
  bool send_to_peer(const std::string& node_id, const std::string& events, const cluster::Message& message) override {
    if (refuse) return false;
    sent.push_back({node_id, events, message});
    return true;
  }
  void drop_peer(const std::string& node_id) override { dropped.push_back(node_id); }

  struct Sent {
    std::string node;
    std::string events;
    cluster::Message message;
  };
  // Message ids of the DELIVER items sent to `node`, in the order they went out.
  std::vector<std::string> delivered_ids(const std::string& node) const {
    std::vector<std::string> ids;
    for (auto& s : sent) {
      if (s.node != node) continue;
      if (auto* d = std::get_if<cluster::Deliver>(&s.message)) {
        for (auto& item : d->items) ids.push_back(item.msg_id);
      }
    }
    return ids;
  }
  bool sent_anything_to(const std::string& node) const {
    return std::any_of(sent.begin(), sent.end(), [&](const Sent& s) { return s.node == node; });
  }
  // Items of the i-th message sent, a DELIVER.
  std::size_t deliver_items(std::size_t i) const { return std::get<cluster::Deliver>(sent.at(i).message).items.size(); }

  bool refuse = false;  // the peer's high-water mark is reached
  std::vector<Sent> sent;
  std::vector<std::string> dropped;
};

class FakeSession : public LocalSession {
 public:
  FakeSession(std::string user, std::string id) : user_(std::move(user)), id_(std::move(id)) {}
  const std::string& user() const override { return user_; }
  const std::string& session_id() const override { return id_; }
  void deliver(std::shared_ptr<const std::string> frame) override {
    frames.push_back(boost::json::parse(*frame).as_object());
  }
  void close_drain() override {}
  void close_with(uint16_t code, std::string reason) override { closes.emplace_back(code, std::move(reason)); }

  // ref -> the ack frame for it.
  std::map<std::string, boost::json::object> acks() const {
    std::map<std::string, boost::json::object> out;
    for (auto& f : frames) {
      if (f.at("type") == "ack") out[std::string(f.at("ref").as_string())] = f;
    }
    return out;
  }
  std::vector<boost::json::object> frames;
  std::vector<std::pair<uint16_t, std::string>> closes;  // close_with() calls

 private:
  std::string user_;
  std::string id_;
};

// The thread of FakeThreadSessions: what is posted to it waits until run() (the test's turn).
struct FakeThread {
  void run() {
    auto batch = std::move(posted);
    posted.clear();
    for (auto& fn : batch) fn();
  }
  std::vector<std::function<void()>> posted;
  std::size_t fan_out_posts = 0;  // run_on_thread() calls so far
};

// A session whose handlers run on `thread` (as WsSession's on its I/O context): deliver() posts to
// it, and the router may batch its fan-out frames through run_on_thread().
class FakeThreadSession : public FakeSession {
 public:
  FakeThreadSession(std::string user, std::string id, FakeThread& thread)
      : FakeSession(std::move(user), std::move(id)), thread_(&thread) {}
  const void* thread_key() const override { return thread_; }
  void run_on_thread(std::function<void()> fn) override {
    ++thread_->fan_out_posts;
    thread_->posted.push_back(std::move(fn));
  }
  void deliver(std::shared_ptr<const std::string> frame) override {
    thread_->posted.push_back([this, frame = std::move(frame)]() mutable { FakeSession::deliver(std::move(frame)); });
  }
  void deliver_here(std::shared_ptr<const std::string> frame) override { FakeSession::deliver(std::move(frame)); }

 private:
  FakeThread* thread_;
};

}  // namespace wsg::fakes
