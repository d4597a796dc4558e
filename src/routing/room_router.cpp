#include "routing/room_router.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "telemetry/logging.h"

namespace wsg {

RoomRouter::RoomRouter(Strand strand, Options options, Links links, std::function<std::shared_ptr<void>()> keep_alive)
    : strand_(std::move(strand)),
      opt_(std::move(options)),
      links_(links),
      keep_alive_(std::move(keep_alive)),
      cache_(std::max<std::size_t>(opt_.cache_capacity, 1), std::max<int64_t>(opt_.cache_ttl_ms, 1)) {}

int64_t RoomRouter::steady_ms() { return MasterSession::steady_ms(); }

int64_t RoomRouter::wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view RoomRouter::to_string(Fail why) {
  switch (why) {
    case Fail::none: return {};
    case Fail::timeout: return "timeout";
    case Fail::node_down: return "node_down";
    case Fail::master_unreachable: return "master_unreachable";
    case Fail::peer_unreachable: return "peer_unreachable";
    case Fail::overloaded: return "overloaded";
  }
  return {};
}

void RoomRouter::reply(const std::shared_ptr<LocalSession>& s, std::string frame) {
  if (s) s->deliver(std::make_shared<const std::string>(std::move(frame)));
}

// ---------------------------------------------------------------- membership

RoomTable::JoinOutcome RoomRouter::do_join(const std::shared_ptr<LocalSession>& session, const std::string& room,
                                           bool echo, bool notices, std::function<void()> on_registered) {
  const SessionKey key = key_of(*session);
  const auto outcome = table_.join(key, room, echo, notices, opt_.max_per_session, opt_.max_members);
  if (outcome.result != RoomTable::JoinResult::joined && outcome.result != RoomTable::JoinResult::already_member) {
    return outcome;
  }
  sessions_[key] = session;
  // The ack waits until the master has the room's node set right and every node that cached the
  // room's old route dropped it: a publish sent after the ack reaches this session.
  if (outcome.first_local) links_.masters.register_room(room, std::move(on_registered));
  else links_.masters.wait_room(room, std::move(on_registered));
  if (outcome.result == RoomTable::JoinResult::joined) notice(*session, room, cluster::RoomEvent::join);
  return outcome;
}

void RoomRouter::join_by_server(const std::shared_ptr<LocalSession>& session, const std::string& room,
                                std::function<void()> done) {
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  auto ack = [weak = std::weak_ptr<LocalSession>(session), room, shared_done] {
    if (auto s = weak.lock())
      s->deliver(std::make_shared<const std::string>(proto::encode_room_by_server("joined", room)));
    if (*shared_done) (*shared_done)();
  };
  const auto outcome = do_join(session, room, false, false, std::move(ack));
  if (outcome.result == RoomTable::JoinResult::joined || outcome.result == RoomTable::JoinResult::already_member)
    return;
  refuse_join(session, outcome.result, std::nullopt);
  if (*shared_done) (*shared_done)();
}

void RoomRouter::refuse_join(const std::shared_ptr<LocalSession>& session, RoomTable::JoinResult result,
                             const std::optional<std::string>& ref) {
  if (result == RoomTable::JoinResult::too_many_rooms) {
    ++stats_.errors_too_many_rooms;
    return reply(
        session,
        proto::encode_error(
            proto::ErrorCode::too_many_rooms,
            fmt::format("a session may be in at most {} rooms (rooms.max_per_session)", opt_.max_per_session), ref));
  }
  if (result == RoomTable::JoinResult::room_full) {
    ++stats_.errors_room_full;
    return reply(session,
                 proto::encode_error(
                     proto::ErrorCode::room_full,
                     fmt::format("room has {} members on this node (rooms.max_members)", opt_.max_members), ref));
  }
}

void RoomRouter::leave_by_server(const std::shared_ptr<LocalSession>& session, const std::string& room) {
  const bool was_member = table_.member(key_of(*session), room);
  leave(session, proto::LeaveFrame{room, std::nullopt});
  if (was_member) reply(session, proto::encode_room_by_server("left", room));
}

void RoomRouter::join(const std::shared_ptr<LocalSession>& session, proto::JoinFrame frame) {
  std::function<void()> ack;
  if (frame.id) {
    ack = [weak = std::weak_ptr<LocalSession>(session), ref = *frame.id, room = frame.room] {
      if (auto s = weak.lock()) {
        s->deliver(std::make_shared<const std::string>(proto::encode_room_ack(ref, "joined", room)));
      }
    };
  }
  const auto outcome = do_join(session, frame.room, frame.echo, frame.notices, std::move(ack));
  refuse_join(session, outcome.result, frame.id);
}

void RoomRouter::join_at_connect(const std::shared_ptr<LocalSession>& session, const std::string& room,
                                 std::function<void()> done) {
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  const auto outcome = do_join(session, room, false, false, [shared_done] { (*shared_done)(); });
  if (outcome.result == RoomTable::JoinResult::too_many_rooms || outcome.result == RoomTable::JoinResult::room_full) {
    logging::get("router")->warn(
        "session {}: could not join room '{}' from its token ({})", session->session_id(), room,
        outcome.result == RoomTable::JoinResult::room_full ? "rooms.max_members" : "rooms.max_per_session");
    (*shared_done)();
  }
}

void RoomRouter::leave(const std::shared_ptr<LocalSession>& session, proto::LeaveFrame frame) {
  const SessionKey key = key_of(*session);
  const auto outcome = table_.leave(key, frame.room);
  if (outcome.last_local) links_.masters.unregister_room(frame.room);
  if (table_.room_count_of(key) == 0) sessions_.erase(key);
  if (frame.id) reply(session, proto::encode_room_ack(*frame.id, "left", frame.room));
  if (outcome.was_member) notice(*session, frame.room, cluster::RoomEvent::leave);
}

void RoomRouter::session_closed(const LocalSession& session) {
  const SessionKey key = key_of(session);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return;
  auto keep = it->second;  // alive while its notices are built
  const auto rooms = table_.rooms_of(key);
  for (auto& room : table_.leave_all(key)) links_.masters.unregister_room(room);
  sessions_.erase(it);
  for (auto& room : rooms) notice(session, room, cluster::RoomEvent::leave);
}

void RoomRouter::notice(const LocalSession& s, const std::string& room, cluster::RoomEvent event) {
  if (!opt_.notices) return;
  // Notices are sent like publishes without an ack: to this node's members that asked for them,
  // and once to every other node of the room.
  auto p = make_publish(s, room, std::string(), event);
  p->exclude = key_of(s);
  stats_.deliveries_local += fan_out(p->room, p->event, p->id, p->from, p->body, p->ts_ms, p->exclude);
  route(p);
}

void RoomRouter::on_replay() {
  for (auto& room : table_.rooms()) links_.masters.register_room(room, nullptr);
}

// ---------------------------------------------------------------- publish

std::shared_ptr<RoomRouter::Publish> RoomRouter::make_publish(const LocalSession& s, std::string room, std::string body,
                                                              cluster::RoomEvent event) {
  auto p = std::make_shared<Publish>();
  p->seq = ++counter_;
  p->id = fmt::format("{:x}-r{:x}", opt_.incarnation, p->seq);
  p->room = std::move(room);
  p->from = s.user();
  p->body = std::move(body);
  p->ts_ms = wall_ms();
  p->event = event;
  p->deadline_ms = steady_ms() + opt_.delivery_timeout_ms;
  return p;
}

void RoomRouter::publish(const std::shared_ptr<LocalSession>& session, proto::PublishFrame frame) {
  const SessionKey key = key_of(*session);
  if (opt_.publish_requires_join && !session->is_service() && !table_.member(key, frame.room)) {
    ++stats_.errors_not_joined;
    return reply(session,
                 proto::encode_error(proto::ErrorCode::not_joined,
                                     "join the room before publishing to it (rooms.publish_requires_join)", frame.id));
  }
  ++stats_.publishes;
  auto p = make_publish(*session, std::move(frame.room), std::move(frame.body), cluster::RoomEvent::message);
  p->exclude = key;
  p->sender = session;
  p->ref = std::move(frame.id);
  if (inflight_.size() >= opt_.max_inflight) {
    ++stats_.refused_inflight;
    return finish(p, Fail::overloaded);
  }
  p->sessions = fan_out(p->room, p->event, p->id, p->from, p->body, p->ts_ms, p->exclude);
  stats_.deliveries_local += p->sessions;
  route(p);
  if (!p->done) {
    inflight_.emplace(p->id, p);
    deadlines_.emplace_back(p->deadline_ms, p);
  }
}

uint64_t RoomRouter::fan_out(const std::string& room, cluster::RoomEvent event, const std::string& id,
                             const std::string& from, const std::string& body, int64_t ts_ms, SessionKey exclude) {
  const auto* members = table_.members(room);
  if (!members) return 0;
  std::shared_ptr<const std::string> frame;
  // The frames for the sessions of one thread go into that thread's mailbox, in one lock per
  // thread and publish (docs/optimisation-log.md, "Room fan-out").
  std::vector<std::pair<const void*, std::vector<Mailbox::Item>>> batches;
  uint64_t n = 0;
  for (const auto& m : *members) {
    if (event == cluster::RoomEvent::message) {
      if (m.session == exclude && !m.echo) continue;
    } else if (!m.notices || m.session == exclude) {
      continue;
    }
    auto s = sessions_.find(m.session);
    if (s == sessions_.end()) continue;
    if (!frame) {
      frame = std::make_shared<const std::string>(
          event == cluster::RoomEvent::message
              ? proto::encode_room_message(room, id, from, body, ts_ms)
              : proto::encode_room_notice(room, event == cluster::RoomEvent::join ? "join" : "leave", from, ts_ms));
    }
    const void* key = s->second->thread_key();
    // The publisher's own copy (echo) goes with deliver(), like the ack that follows it: the ack
    // must not overtake it.
    if (!key || m.session == exclude) {
      s->second->deliver(frame);
      ++n;
      continue;
    }
    auto b = std::find_if(batches.begin(), batches.end(), [key](const auto& x) { return x.first == key; });
    if (b == batches.end()) b = batches.emplace(batches.end(), key, std::vector<Mailbox::Item>{});
    b->second.push_back(Mailbox::Item{s->second, frame});
  }
  for (auto& [key, items] : batches) n += post_to_mailbox(key, std::move(items));
  return n;
}

uint64_t RoomRouter::post_to_mailbox(const void* key, std::vector<Mailbox::Item> items) {
  auto& box = mailboxes_[key];
  if (!box) box = std::make_shared<Mailbox>();
  LocalSession* first = items.front().session.get();
  bool start = false;
  std::size_t accepted = items.size();
  {
    std::lock_guard lock(box->mu);
    // Policy at the bound (kMaxMailboxItems): a thread that far behind gets no more room frames
    // until it catches up; the sessions refused are not counted as reached (the ack stays true)
    // and are counted in wsg_room_fanout_dropped_total.
    const std::size_t room_left = kMaxMailboxItems > box->items.size() ? kMaxMailboxItems - box->items.size() : 0;
    accepted = std::min(accepted, room_left);
    for (std::size_t i = 0; i < accepted; ++i) box->items.push_back(std::move(items[i]));
    if (accepted > 0 && !box->scheduled) start = box->scheduled = true;
  }
  stats_.fanout_dropped += items.size() - accepted;
  if (start) first->run_on_thread([box] { drain(box); });
  return accepted;
}

void RoomRouter::drain(const std::shared_ptr<Mailbox>& box) {
  // On the mailbox's thread: at most kFanOutSlice frames per turn, then the rest in a later turn,
  // behind the write completions (and reads) this slice queued: one turn stays short, and the
  // writes' memory in flight stays that of one slice.
  std::vector<Mailbox::Item> slice;
  slice.reserve(kFanOutSlice);
  {
    std::lock_guard lock(box->mu);
    while (!box->items.empty() && slice.size() < kFanOutSlice) {
      slice.push_back(std::move(box->items.front()));
      box->items.pop_front();
    }
  }
  for (auto& item : slice) item.session->deliver_here(std::move(item.frame));
  bool more = false;
  {
    std::lock_guard lock(box->mu);
    more = !box->items.empty();
    if (!more) box->scheduled = false;
  }
  if (more) slice.back().session->run_on_thread([box] { drain(box); });
}

void RoomRouter::route(const std::shared_ptr<Publish>& p) {
  with_route(p->room, false, [this, p](const std::vector<std::string>* nodes, Fail why) {
    if (p->done) return;
    if (!nodes) return finish(p, why);
    send_to(p, *nodes);
  });
}

void RoomRouter::with_route(const std::string& room, bool fresh, Waiter waiter) {
  // While a lookup for the room is out, later work queues behind it: publishes keep their order.
  auto it = lookups_.find(room);
  if (it != lookups_.end()) {
    if (it->second.waiting.size() >= opt_.max_queued_per_lookup) return waiter(nullptr, Fail::overloaded);
    it->second.waiting.push_back(std::move(waiter));
    return;
  }
  const int64_t now = steady_ms();
  if (!fresh) {
    if (const auto* nodes = cache_.get(room, now)) {
      const auto copy = *nodes;
      return waiter(&copy, Fail::none);
    }
  }
  if (!links_.masters.reachable(now)) return waiter(nullptr, Fail::master_unreachable);
  if (lookups_.size() >= opt_.max_pending_lookups) return waiter(nullptr, Fail::overloaded);
  const uint64_t seq = links_.masters.next_seq();
  auto& l = lookups_[room];
  l.seq = seq;
  l.deadline_ms = now + opt_.delivery_timeout_ms;
  l.waiting.push_back(std::move(waiter));
  lookup_seqs_[seq] = room;
  ++stats_.lookups;
  if (!links_.masters.send(cluster::RoomLookup{seq, room})) fail_lookup(room, seq, Fail::master_unreachable);
}

void RoomRouter::fail_lookup(const std::string& room, uint64_t seq, Fail why) {
  lookup_seqs_.erase(seq);
  auto it = lookups_.find(room);
  if (it == lookups_.end() || it->second.seq != seq) return;
  auto waiting = std::move(it->second.waiting);
  lookups_.erase(it);
  for (auto& w : waiting) w(nullptr, why);
}

void RoomRouter::on_lookup_reply(const cluster::RoomLookupReply& reply) {
  // No member elsewhere by this master's answer: confirmed by another master first (MasterSet).
  const bool elsewhere = std::any_of(reply.nodes.begin(), reply.nodes.end(),
                                     [&](const cluster::NodeAddr& n) { return n.id != opt_.node_id; });
  if (!elsewhere && links_.masters.confirm_empty(reply.seq, reply)) return;
  links_.masters.answered(reply.seq);
  lookup_seqs_.erase(reply.seq);
  auto it = lookups_.find(reply.room);
  if (it == lookups_.end() || it->second.seq != reply.seq) return;
  auto waiting = std::move(it->second.waiting);
  lookups_.erase(it);
  std::vector<std::string> nodes;
  nodes.reserve(reply.nodes.size());
  for (const auto& n : reply.nodes) {
    if (n.id != opt_.node_id) links_.peer_events[n.id] = n.events;
    nodes.push_back(n.id);
  }
  // An empty route is never cached (nobody would invalidate it when a member joins).
  if (!nodes.empty()) cache_.put(reply.room, nodes, steady_ms());
  for (auto& w : waiting) w(&nodes, Fail::none);
}

void RoomRouter::send_to(const std::shared_ptr<Publish>& p, const std::vector<std::string>& nodes) {
  const bool tracked = p->event == cluster::RoomEvent::message;  // notices get no receipt
  for (const auto& n : nodes) {
    if (n == opt_.node_id) continue;
    if (std::find(p->tried.begin(), p->tried.end(), n) != p->tried.end()) continue;
    auto addr = links_.peer_events.find(n);
    if (addr == links_.peer_events.end()) continue;
    p->tried.push_back(n);
    if (tracked) {
      p->pending.push_back(n);
      pending_by_node_[n].insert(p->id);
    }
    ++stats_.events_sent;
    links_.outbox.queue_room(n, addr->second, cluster::RoomItem{p->id, p->room, p->from, p->event, p->ts_ms, p->body});
  }
  if (!tracked) {
    p->done = true;
    return;
  }
  complete(p);
}

void RoomRouter::complete(const std::shared_ptr<Publish>& p) {
  if (p->done || !p->pending.empty()) return;
  if (p->bounced && !p->retried) {
    // A node had no member any more: its route was stale. Ask the master afresh and send to the
    // nodes it names that were not tried yet, once.
    p->retried = true;
    p->bounced = false;
    cache_.erase(p->room);
    return with_route(p->room, true, [this, p](const std::vector<std::string>* nodes, Fail why) {
      if (p->done) return;
      if (!nodes) return finish(p, p->fail != Fail::none ? p->fail : Fail::none);
      (void)why;
      send_to(p, *nodes);
    });
  }
  finish(p);
}

void RoomRouter::finish(const std::shared_ptr<Publish>& p, Fail why) {
  if (p->done) return;
  p->done = true;
  if (why != Fail::none && p->fail == Fail::none) p->fail = why;
  inflight_.erase(p->id);
  for (const auto& n : p->pending) untrack(n, *p);
  p->pending.clear();
  if (!p->ref) return;
  auto s = p->sender.lock();
  if (!s) return;
  const auto status = p->fail != Fail::none ? proto::PublishStatus::failed
                      : p->sessions > 0     ? proto::PublishStatus::delivered
                                            : proto::PublishStatus::no_members;
  reply(s, proto::encode_publish_ack(*p->ref, p->id, p->room, status, p->sessions, to_string(p->fail)));
}

void RoomRouter::untrack(const std::string& node, const Publish& p) {
  auto it = pending_by_node_.find(node);
  if (it == pending_by_node_.end()) return;
  it->second.erase(p.id);
  if (it->second.empty()) pending_by_node_.erase(it);
}

// ---------------------------------------------------------------- from peers

void RoomRouter::on_deliver(const cluster::RoomDeliver& deliver) {
  std::vector<cluster::RoomReceiptItem> receipts;
  std::string from;
  for (const auto& item : deliver.items) {
    const uint64_t n = fan_out(item.room, item.event, item.msg_id, item.from, item.body, item.ts_ms, 0);
    stats_.deliveries_remote += n;
    if (item.event != cluster::RoomEvent::message) continue;  // notices are not answered
    if (!table_.members(item.room)) {
      ++stats_.not_here;
      receipts.push_back(cluster::RoomReceiptItem{item.msg_id, cluster::ReceiptStatus::not_here, 0});
    } else {
      receipts.push_back(
          cluster::RoomReceiptItem{item.msg_id, cluster::ReceiptStatus::delivered, static_cast<uint32_t>(n)});
    }
    if (from.empty()) from = item.from;
  }
  if (receipts.empty() || deliver.origin_events.empty()) return;
  auto known = links_.peer_events.find(deliver.origin_node);
  if (known != links_.peer_events.end() && known->second == deliver.origin_events) {
    for (auto& r : receipts) links_.outbox.queue_room_receipt(deliver.origin_node, deliver.origin_events, std::move(r));
    return;
  }
  // An origin the master has not named to us: held until it vouches for it (as for DELIVERs).
  const int64_t now = steady_ms();
  const bool can_ask = links_.masters.reachable(now);
  links_.verifier.hold_room(deliver.origin_node, deliver.origin_events, from, std::move(receipts), can_ask, now);
}

void RoomRouter::send_verified(const std::string& origin, const std::string& events,
                               std::vector<cluster::RoomReceiptItem> receipts, std::vector<cluster::Message> messages) {
  for (auto& r : receipts) links_.outbox.queue_room_receipt(origin, events, std::move(r));
  for (auto& m : messages) links_.outbox.send_now(origin, events, m);
}

void RoomRouter::on_receipt(const cluster::RoomReceipt& receipt) {
  for (const auto& item : receipt.items) {
    auto it = inflight_.find(item.msg_id);
    if (it == inflight_.end()) continue;
    auto p = it->second;
    auto pos = std::find(p->pending.begin(), p->pending.end(), receipt.origin_node);
    if (pos == p->pending.end()) continue;
    p->pending.erase(pos);
    untrack(receipt.origin_node, *p);
    if (item.status == cluster::ReceiptStatus::delivered) {
      p->sessions += item.sessions;
    } else {
      p->bounced = true;
      cache_.erase(p->room);
    }
    complete(p);
  }
}

void RoomRouter::on_node_down(const std::string& node, const std::vector<std::string>& unsent_ids) {
  cache_.erase_node(node);
  auto it = pending_by_node_.find(node);
  if (it != pending_by_node_.end()) {
    auto ids = std::move(it->second);
    pending_by_node_.erase(it);
    const std::unordered_set<std::string> unsent(unsent_ids.begin(), unsent_ids.end());
    for (const auto& id : ids) {
      auto f = inflight_.find(id);
      if (f == inflight_.end()) continue;
      auto p = f->second;
      p->pending.erase(std::remove(p->pending.begin(), p->pending.end(), node), p->pending.end());
      // Handed over and not confirmed: its members there may or may not have got it. Never
      // handed over: they did not, and they are gone with their node anyway.
      if (!unsent.count(id)) p->fail = Fail::node_down;
      complete(p);
    }
  }
  // Members queries waiting on that node: answered without it.
  std::vector<uint64_t> ready;
  for (auto& [seq, m] : members_) {
    auto pos = std::find(m.pending.begin(), m.pending.end(), node);
    if (pos == m.pending.end()) continue;
    m.pending.erase(pos);
    m.partial = true;
    if (m.pending.empty() && m.routed) ready.push_back(seq);
  }
  for (uint64_t seq : ready) answer_members(seq);
}

void RoomRouter::on_refused(const std::string& node, const std::vector<std::string>& msg_ids) {
  for (const auto& id : msg_ids) {
    auto f = inflight_.find(id);
    if (f == inflight_.end()) continue;
    auto p = f->second;
    auto pos = std::find(p->pending.begin(), p->pending.end(), node);
    if (pos == p->pending.end()) continue;
    p->pending.erase(pos);
    untrack(node, *p);
    p->fail = Fail::peer_unreachable;
    complete(p);
  }
}

// ---------------------------------------------------------------- members

std::vector<std::string> RoomRouter::local_users(const std::string& room, const std::string& after, std::size_t limit,
                                                 bool& more) const {
  more = false;
  std::set<std::string> users;
  if (const auto* members = table_.members(room)) {
    for (const auto& m : *members) {
      auto s = sessions_.find(m.session);
      if (s == sessions_.end()) continue;
      const std::string& u = s->second->user();
      if (!after.empty() && u <= after) continue;
      users.insert(u);
      if (users.size() > limit) {
        users.erase(std::prev(users.end()));
        more = true;
      }
    }
  }
  return {users.begin(), users.end()};
}

void RoomRouter::members(const std::shared_ptr<LocalSession>& session, proto::MembersFrame frame) {
  const uint64_t seq = links_.masters.next_seq();
  PendingMembers m;
  m.session = session;
  m.ref = std::move(frame.id);
  m.room = std::move(frame.room);
  m.after = std::move(frame.after);
  m.limit = std::clamp<std::size_t>(frame.limit, 1, proto::kMaxMembersLimit);
  m.deadline_ms = steady_ms() + opt_.delivery_timeout_ms;
  bool more = false;
  for (auto& u : local_users(m.room, m.after, m.limit, more)) m.users.insert(std::move(u));
  m.more = more;
  const std::string room = m.room;
  const std::string from = session->user();
  members_.emplace(seq, std::move(m));
  with_route(room, false, [this, seq, from](const std::vector<std::string>* nodes, Fail) {
    auto it = members_.find(seq);
    if (it == members_.end()) return;
    PendingMembers& pm = it->second;
    pm.routed = true;
    if (!nodes) {
      pm.partial = true;
      return answer_members(seq);
    }
    for (const auto& n : *nodes) {
      if (n == opt_.node_id) continue;
      auto addr = links_.peer_events.find(n);
      if (addr == links_.peer_events.end()) {
        pm.partial = true;
        continue;
      }
      const cluster::MembersQuery q{
          opt_.node_id, opt_.events, seq, from, pm.room, pm.after, static_cast<uint32_t>(pm.limit)};
      if (links_.outbox.send_now(n, addr->second, q)) pm.pending.push_back(n);
      else pm.partial = true;
    }
    if (pm.pending.empty()) answer_members(seq);
  });
}

void RoomRouter::on_members_query(const cluster::MembersQuery& query) {
  bool more = false;
  auto users =
      local_users(query.room, query.after, std::min<std::size_t>(query.limit, cluster::kMaxMembersBatch), more);
  answer_peer(query.origin_node, query.origin_events, query.from,
              cluster::MembersReply{opt_.node_id, query.seq, std::move(users), more});
}

void RoomRouter::answer_peer(const std::string& origin, const std::string& events, const std::string& from,
                             cluster::Message message) {
  auto known = links_.peer_events.find(origin);
  if (known != links_.peer_events.end() && known->second == events) {
    links_.outbox.send_now(origin, events, message);
    return;
  }
  const int64_t now = steady_ms();
  links_.verifier.hold_message(origin, events, from, std::move(message), links_.masters.reachable(now), now);
}

void RoomRouter::on_members_reply(const cluster::MembersReply& reply) {
  auto it = members_.find(reply.seq);
  if (it == members_.end()) return;
  PendingMembers& m = it->second;
  auto pos = std::find(m.pending.begin(), m.pending.end(), reply.origin_node);
  if (pos == m.pending.end()) return;
  m.pending.erase(pos);
  for (const auto& u : reply.users) {
    if (!m.after.empty() && u <= m.after) continue;
    m.users.insert(u);
  }
  m.more = m.more || reply.more;
  if (m.pending.empty() && m.routed) answer_members(reply.seq);
}

void RoomRouter::answer_members(uint64_t seq) {
  auto it = members_.find(seq);
  if (it == members_.end()) return;
  PendingMembers m = std::move(it->second);
  members_.erase(it);
  auto s = m.session.lock();
  if (!s) return;
  std::vector<std::string> users;
  users.reserve(std::min(m.users.size(), m.limit));
  for (const auto& u : m.users) {
    if (users.size() >= m.limit) break;
    users.push_back(u);
  }
  const bool more = m.more || m.users.size() > m.limit;
  const std::string next = more && !users.empty() ? users.back() : std::string();
  reply(s, proto::encode_members(m.ref, m.room, users, next, m.partial || !m.pending.empty()));
}

// ---------------------------------------------------------------- dispatch, timers, stats

bool RoomRouter::handle_master(cluster::Message& message) {
  if (auto* m = std::get_if<cluster::RoomLookupReply>(&message)) {
    links_.masters.heard(m->epoch);
    on_lookup_reply(*m);
    return true;
  }
  if (auto* m = std::get_if<cluster::RoomCount>(&message)) {
    links_.masters.heard(m->epoch);
    uint32_t sessions = 0;
    std::set<std::string> users;
    if (const auto* members = table_.members(m->room)) {
      sessions = static_cast<uint32_t>(members->size());
      for (const auto& mb : *members) {
        if (auto s = sessions_.find(mb.session); s != sessions_.end()) users.insert(s->second->user());
      }
    }
    links_.masters.send(cluster::RoomCountReply{m->seq, m->room, sessions, static_cast<uint32_t>(users.size())});
    return true;
  }
  if (auto* m = std::get_if<cluster::RoomInvalidate>(&message)) {
    links_.masters.heard(m->epoch);
    cache_.erase(m->room);
    // Confirmed after the erase: the master may now ack the registration that caused it.
    links_.masters.send(cluster::RoomInvalidateAck{m->room});
    return true;
  }
  return false;
}

bool RoomRouter::handle_peer(cluster::Message& message) {
  if (auto* m = std::get_if<cluster::RoomDeliver>(&message)) {
    on_deliver(*m);
    return true;
  }
  if (auto* m = std::get_if<cluster::RoomReceipt>(&message)) {
    on_receipt(*m);
    return true;
  }
  if (auto* m = std::get_if<cluster::MembersQuery>(&message)) {
    on_members_query(*m);
    return true;
  }
  if (auto* m = std::get_if<cluster::MembersReply>(&message)) {
    on_members_reply(*m);
    return true;
  }
  return false;
}

void RoomRouter::sweep(int64_t now) {
  // At most kSweepBatch expiries per sweep (every 50 ms): a burst must not hold up the strand.
  for (std::size_t n = 0; n < kSweepBatch && !deadlines_.empty() && deadlines_.front().first <= now; ++n) {
    auto p = deadlines_.front().second.lock();
    deadlines_.pop_front();
    if (p && !p->done) finish(p, Fail::timeout);
  }
  std::vector<std::pair<std::string, uint64_t>> expired;
  for (auto& [room, l] : lookups_) {
    if (l.deadline_ms <= now) expired.emplace_back(room, l.seq);
  }
  for (auto& [room, seq] : expired) {
    ++stats_.lookup_timeouts;
    fail_lookup(room, seq, Fail::master_unreachable);
  }
  std::vector<uint64_t> late;
  for (auto& [seq, m] : members_) {
    if (m.deadline_ms <= now) late.push_back(seq);
  }
  for (uint64_t seq : late) {
    members_[seq].partial = true;
    answer_members(seq);
  }
}

RoomRouter::Stats RoomRouter::stats() const {
  Stats s = stats_;
  s.rooms = table_.room_count();
  s.memberships = table_.membership_count();
  s.inflight = inflight_.size();
  return s;
}

}  // namespace wsg
