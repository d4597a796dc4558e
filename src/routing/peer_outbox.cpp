#include "routing/peer_outbox.h"

#include <boost/asio/post.hpp>

namespace wsg {

namespace asio = boost::asio;

PeerOutbox::PeerOutbox(Strand strand, Options options, PeerLink& link, RefusedHandler on_refused, KeepAlive keep_alive)
    : strand_(std::move(strand)),
      opt_(std::move(options)),
      link_(link),
      on_refused_(std::move(on_refused)),
      keep_alive_(std::move(keep_alive)),
      timer_(strand_) {}

void PeerOutbox::queue_deliver(const std::string& node, const std::string& events,
                               const std::shared_ptr<Outgoing>& out) {
  if (auto it = boxes_.find(node);
      it != boxes_.end() && !it->second.delivers.empty() && it->second.deliver_events != events) {
    flush_peer(node);  // the peer moved: what is queued goes to the old address first
  }
  auto& box = boxes_[node];
  box.deliver_events = events;
  box.delivers.push_back(cluster::DeliverItem{out->id, out->from, out->to, out->ts_ms, out->body});
  box.deliver_outs.push_back(out);
  box.deliver_bytes += out->body.size() + out->id.size() + out->from.size() + out->to.size() + 32;
  if (box.delivers.size() >= kOutboxItems || box.deliver_bytes >= kOutboxBytes) flush_peer(node);
  else schedule_flush();
}

void PeerOutbox::queue_receipt(const std::string& node, const std::string& events, cluster::ReceiptItem item) {
  if (auto it = boxes_.find(node);
      it != boxes_.end() && !it->second.receipts.empty() && it->second.receipt_events != events) {
    flush_peer(node);
  }
  auto& box = boxes_[node];
  box.receipt_events = events;
  box.receipts.push_back(std::move(item));
  if (box.receipts.size() >= kOutboxItems) flush_peer(node);
  else schedule_flush();
}

void PeerOutbox::queue_room(const std::string& node, const std::string& events, cluster::RoomItem item) {
  if (auto it = boxes_.find(node);
      it != boxes_.end() && !it->second.rooms.empty() && it->second.room_events != events) {
    flush_peer(node);
  }
  auto& box = boxes_[node];
  box.room_events = events;
  box.room_bytes += item.body.size() + item.msg_id.size() + item.from.size() + item.room.size() + 32;
  box.rooms.push_back(std::move(item));
  if (box.rooms.size() >= kOutboxItems || box.room_bytes >= kOutboxBytes) flush_peer(node);
  else schedule_flush();
}

void PeerOutbox::queue_room_receipt(const std::string& node, const std::string& events, cluster::RoomReceiptItem item) {
  if (auto it = boxes_.find(node);
      it != boxes_.end() && !it->second.room_receipts.empty() && it->second.room_receipt_events != events) {
    flush_peer(node);
  }
  auto& box = boxes_[node];
  box.room_receipt_events = events;
  box.room_receipts.push_back(std::move(item));
  if (box.room_receipts.size() >= kOutboxItems) flush_peer(node);
  else schedule_flush();
}

void PeerOutbox::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  const auto due = last_flush_ + opt_.coalesce;
  if (opt_.coalesce.count() <= 0 || due <= std::chrono::steady_clock::now()) {
    // Runs after what is already queued on the strand (e.g. the rest of a batch from the ZeroMQ
    // thread, or other sessions' sends): everything queued meanwhile for one peer shares a message.
    asio::post(strand_, [this, keep = keep_alive_ ? keep_alive_() : nullptr] { on_flush_due(); });
    return;
  }
  // The last flush was less than `coalesce` ago: traffic is flowing, so wait for the rest of the
  // interval and send what accumulated in one message per peer.
  timer_.expires_at(due);
  timer_.async_wait(
      [this, keep = keep_alive_ ? keep_alive_() : nullptr](boost::system::error_code) { on_flush_due(); });
}

void PeerOutbox::on_flush_due() {
  flush_scheduled_ = false;
  flush();
}

void PeerOutbox::flush() {
  last_flush_ = std::chrono::steady_clock::now();
  std::vector<std::string> nodes;
  nodes.reserve(boxes_.size());
  for (auto& [node, box] : boxes_) nodes.push_back(node);
  for (auto& node : nodes) flush_peer(node);
  // A failed hand-off can settle messages whose barrier then dispatches more: keep what was
  // queued meanwhile for the next flush.
  bool more = false;
  for (auto it = boxes_.begin(); it != boxes_.end();) {
    if (it->second.empty()) {
      it = boxes_.erase(it);
    } else {
      more = true;
      ++it;
    }
  }
  if (more) schedule_flush();
}

void PeerOutbox::flush_peer(const std::string& node) {
  auto it = boxes_.find(node);
  if (it == boxes_.end()) return;
  Box& box = it->second;
  if (!box.receipts.empty()) {
    cluster::Receipt r{opt_.node_id, std::move(box.receipts)};
    box.receipts.clear();
    link_.send_to_peer(node, box.receipt_events, r);
  }
  if (!box.room_receipts.empty()) {
    cluster::RoomReceipt r{opt_.node_id, std::move(box.room_receipts)};
    box.room_receipts.clear();
    link_.send_to_peer(node, box.room_receipt_events, r);
  }
  if (!box.rooms.empty()) {
    cluster::RoomDeliver d{opt_.node_id, opt_.events, std::move(box.rooms)};
    box.rooms.clear();
    box.room_bytes = 0;
    if (!link_.send_to_peer(node, box.room_events, d) && on_room_refused_) {
      std::vector<std::string> ids;
      ids.reserve(d.items.size());
      for (auto& item : d.items) ids.push_back(std::move(item.msg_id));
      on_room_refused_(node, std::move(ids));
      // The handler may have queued more (and so moved `box`).
      it = boxes_.find(node);
      if (it == boxes_.end()) return;
    }
  }
  Box& rest = it->second;
  if (rest.delivers.empty()) return;
  cluster::Deliver d{opt_.node_id, opt_.events, std::move(rest.delivers)};
  auto outs = std::move(rest.deliver_outs);
  rest.delivers.clear();
  rest.deliver_outs.clear();
  rest.deliver_bytes = 0;
  if (link_.send_to_peer(node, rest.deliver_events, d)) {
    delivered_items_ += outs.size();
    return;
  }
  // Not sent (the peer's high-water mark is reached): the Router settles them. Last, as the
  // handler may queue more (and so move `box`).
  if (on_refused_) on_refused_(node, std::move(outs));
}

std::vector<std::shared_ptr<Outgoing>> PeerOutbox::drop_peer(const std::string& node,
                                                             std::vector<std::string>* unsent_rooms) {
  std::vector<std::shared_ptr<Outgoing>> unsent;
  if (auto box = boxes_.find(node); box != boxes_.end()) {
    unsent = std::move(box->second.deliver_outs);
    if (unsent_rooms) {
      for (auto& item : box->second.rooms) unsent_rooms->push_back(std::move(item.msg_id));
    }
    boxes_.erase(box);
  }
  link_.drop_peer(node);
  return unsent;
}

}  // namespace wsg
