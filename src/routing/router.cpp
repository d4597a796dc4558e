#include "routing/router.h"

#include <algorithm>

#include <fmt/format.h>
#include <prometheus/histogram.h>
#include <boost/asio/post.hpp>

#include "telemetry/logging.h"

namespace wsg {

namespace asio = boost::asio;

std::string_view Router::to_string(Fail why) {
  switch (why) {
    case Fail::none: return {};
    case Fail::timeout: return "timeout";
    case Fail::node_down: return "node_down";
    case Fail::master_unreachable: return "master_unreachable";
    case Fail::peer_unreachable: return "peer_unreachable";
    case Fail::overloaded: return "overloaded";
    case Fail::moved: return "moved";
  }
  return {};
}

Router::Router(asio::io_context& ioc, Options options, std::vector<MasterLink*> masters, PeerLink& peers,
               FatalHandler on_fatal)
    : ioc_(ioc),
      strand_(asio::make_strand(ioc)),
      opt_(std::move(options)),
      sweep_timer_(strand_),
      masters_(strand_,
               MasterSession::Options{opt_.node_id, opt_.incarnation, opt_.ws_url, opt_.events, opt_.heartbeat_ms,
                                      opt_.delivery_timeout_ms, opt_.register_batch, opt_.public_url},
               std::move(masters),
               MasterSession::Handlers{[this] { on_routes_stale(); }, [this] { on_replay(); }, std::move(on_fatal),
                                       [this] { return load(); }},
               [this] { return std::shared_ptr<void>(shared_from_this()); }),
      cache_(opt_.cache_capacity, opt_.cache_ttl_ms),
      outbox_(
          strand_, PeerOutbox::Options{opt_.node_id, opt_.events, opt_.outbox_coalesce}, peers,
          [this](const std::string& node, std::vector<std::shared_ptr<Outgoing>> outs) {
            on_deliver_refused(node, std::move(outs));
          },
          [this] { return std::shared_ptr<void>(shared_from_this()); }),
      verifier_(opt_.delivery_timeout_ms,
                [this](const std::string& user, const std::string& origin) -> uint64_t {
                  const uint64_t seq = masters_.next_seq();
                  if (user.empty()) return masters_.send(cluster::NodeQuery{seq, origin}) ? seq : 0;
                  return masters_.send(cluster::Lookup{seq, user}) ? seq : 0;
                }),
      rooms_(strand_,
             RoomRouter::Options{opt_.node_id, opt_.events, opt_.incarnation, opt_.delivery_timeout_ms,
                                 opt_.cache_capacity, opt_.cache_ttl_ms, opt_.rooms_max_per_session,
                                 opt_.rooms_max_members, opt_.rooms_publish_requires_join, opt_.rooms_notices,
                                 opt_.max_inflight, opt_.max_queued_per_lookup, opt_.max_pending_lookups},
             RoomRouter::Links{masters_, outbox_, verifier_, peer_events_},
             [this] { return std::shared_ptr<void>(shared_from_this()); }),
      metrics_(opt_.metrics ? opt_.metrics : std::make_shared<NodeMetrics>()),
      lookup_latency_(metrics_->lookup_latency()),
      delivery_latency_local_(metrics_->delivery_latency_local()),
      delivery_latency_remote_(metrics_->delivery_latency_remote()) {
  outbox_.set_room_refused_handler(
      [this](const std::string& node, std::vector<std::string> ids) { rooms_.on_refused(node, ids); });
}

int64_t Router::steady_ms() { return MasterSession::steady_ms(); }

int64_t Router::wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Router::start() {
  asio::post(strand_, [self = shared_from_this()] {
    self->masters_.start();
    self->arm_sweep();
  });
}

void Router::stop_timers() {
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->masters_.stop();
    self->sweep_timer_.cancel();
  });
}

void Router::drain(int64_t timeout_ms, std::function<void()> done) {
  asio::post(strand_, [self = shared_from_this(), timeout_ms, done = std::move(done)]() mutable {
    self->draining_ = true;
    self->masters_.drain();
    self->drain_done_ = std::move(done);
    for (auto& [user, sessions] : self->local_) {
      for (auto& s : sessions) s->close_drain();
    }
    auto timer = std::make_shared<asio::steady_timer>(self->strand_);
    timer->expires_after(std::chrono::milliseconds(timeout_ms));
    timer->async_wait([self, timer](boost::system::error_code) {
      if (self->drain_done_) {
        logging::get("router")->warn("drain timed out with {} sessions left", self->session_count_.load());
        self->masters_.flush();
        self->outbox_.flush();
        auto d = std::move(self->drain_done_);
        self->drain_done_ = nullptr;
        d();
      }
    });
    if (self->session_count_ == 0) {
      auto d = std::move(self->drain_done_);
      self->drain_done_ = nullptr;
      d();
    }
  });
}

// ---------------------------------------------------------------- sessions

void Router::add_session(std::shared_ptr<LocalSession> session, std::function<void()> on_registered,
                         std::vector<std::string> join_rooms) {
  asio::post(strand_, [self = shared_from_this(), session = std::move(session), cb = std::move(on_registered),
                       rooms = std::move(join_rooms)]() mutable {
    self->do_add_session(std::move(session), std::move(cb), std::move(rooms));
  });
}

void Router::do_add_session(std::shared_ptr<LocalSession> session, std::function<void()> on_registered,
                            std::vector<std::string> join_rooms) {
  if (draining_) {
    session->close_drain();
    return;
  }
  local_[session->user()].push_back(session);
  ++session_count_;
  // The cached route of this user (ours or anyone's) no longer matches: the master
  // invalidates the other nodes; our own copy we drop here.
  cache_.erase(session->user());
  route_changed(session->user());
  if (join_rooms.empty()) return masters_.add_session(*session, std::move(on_registered));
  // Welcomed once the session and every room of its token are registered (all on this strand).
  auto left = std::make_shared<std::size_t>(join_rooms.size() + 1);
  auto cb = std::make_shared<std::function<void()>>(std::move(on_registered));
  auto one_done = [left, cb] {
    if (--*left == 0 && *cb) (*cb)();
  };
  masters_.add_session(*session, one_done);
  for (const auto& room : join_rooms) rooms_.join_at_connect(session, room, one_done);
}

void Router::remove_session(std::shared_ptr<LocalSession> session) {
  asio::post(strand_, [self = shared_from_this(), session = std::move(session)] { self->do_remove_session(session); });
}

void Router::do_remove_session(const std::shared_ptr<LocalSession>& session) {
  auto it = local_.find(session->user());
  if (it == local_.end()) return;
  auto& v = it->second;
  auto pos = std::find(v.begin(), v.end(), session);
  if (pos == v.end()) return;
  v.erase(pos);
  if (v.empty()) local_.erase(it);
  --session_count_;
  masters_.remove_session(*session);
  rooms_.session_closed(*session);
  cache_.erase(session->user());
  if (draining_ && session_count_ == 0 && drain_done_) {
    masters_.flush();
    outbox_.flush();
    auto d = std::move(drain_done_);
    drain_done_ = nullptr;
    d();
  }
}

// ---------------------------------------------------------------- the master session

void Router::on_routes_stale() {
  cache_.clear();
  rooms_.on_routes_stale();
}

void Router::on_replay() {
  for (auto& [user, sessions] : local_) {
    for (auto& s : sessions) masters_.register_session(*s);
  }
  rooms_.on_replay();
}

MasterSession::Load Router::load() const { return {session_count_.load(), counters_.messages_accepted}; }

// ---------------------------------------------------------------- timers

void Router::arm_sweep() {
  if (stopped_) return;
  sweep_timer_.expires_after(std::chrono::milliseconds(50));
  sweep_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->stopped_) return;
    self->sweep();
    self->arm_sweep();
  });
}

void Router::sweep_deadlines(int64_t now) {
  // Deliveries past cluster.delivery_timeout_ms: `failed`. At most kSweepBatch per strand turn:
  // a burst of expiries (a dead peer under load) must not hold up heartbeats or receipts.
  std::size_t n = 0;
  while (!deadlines_.empty() && deadlines_.front().first <= now) {
    if (++n > kSweepBatch) {
      asio::post(strand_, [self = shared_from_this(), now] { self->sweep_deadlines(now); });
      return;
    }
    auto out = deadlines_.front().second.lock();
    deadlines_.pop_front();
    if (out && !out->done) finish(out, proto::AckStatus::failed, out->uncertain ? Fail::node_down : Fail::timeout);
  }
}

void Router::sweep() {
  const int64_t now = steady_ms();
  delivered_ids_.forget(steady_ms());
  sweep_deadlines(now);
  verifier_.sweep(now);
  rooms_.sweep(now);
  // Lookups never answered: forget them and fail what waited on them. (Collected first:
  // finishing a message can release a barrier, which can start new lookups.)
  std::vector<std::shared_ptr<Outgoing>> unanswered;
  for (auto it = lookup_seqs_.begin(); it != lookup_seqs_.end();) {
    if (it->second.deadline_ms <= now) {
      ++counters_.lookup_timeouts;
      auto l = lookups_.find(it->second.user);
      if (l != lookups_.end() && l->second.seq == it->first) {
        for (auto& out : l->second.waiting) unanswered.push_back(std::move(out));
        lookups_.erase(l);
      }
      it = lookup_seqs_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& out : unanswered) {
    if (!out->done) finish(out, proto::AckStatus::failed, Fail::master_unreachable);
  }
  for (auto it = status_.begin(); it != status_.end();) {
    if (it->second.deadline_ms <= now) {
      auto done = std::move(it->second.done);
      it = status_.erase(it);
      done(std::nullopt);
    } else {
      ++it;
    }
  }
  for (auto it = presence_.begin(); it != presence_.end();) {
    if (it->second.deadline_ms <= now) {
      answer_presence(it->second, nullptr);
      it = presence_.erase(it);
    } else {
      ++it;
    }
  }
  // Welcomes whose registration the master did not acknowledge in time: queued for replay. Empty
  // answers that waited for another master's in vain: acted on now.
  for (auto& [index, reply] : masters_.sweep(now)) {
    masters_.begin(index);
    handle_master(reply);
  }
}

// ---------------------------------------------------------------- cluster input

void Router::on_master_messages(std::size_t index, std::vector<cluster::Message> batch) {
  asio::post(strand_, [self = shared_from_this(), index, b = std::move(batch)]() mutable {
    self->masters_.begin(index);
    for (auto& m : b) self->handle_master(m);
  });
}

void Router::on_peer_messages(std::vector<cluster::Message> batch) {
  asio::post(strand_, [self = shared_from_this(), b = std::move(batch)]() mutable {
    for (auto& m : b) self->handle_peer(m);
  });
}

void Router::handle_master(cluster::Message& message) {
  if (auto* m = std::get_if<cluster::HelloReply>(&message)) return masters_.on_hello_reply(*m);
  if (auto* m = std::get_if<cluster::Ack>(&message)) return masters_.on_ack(*m);
  if (auto* m = std::get_if<cluster::HeartbeatReply>(&message)) return masters_.on_heartbeat_reply(*m);
  if (auto* m = std::get_if<cluster::LookupReply>(&message)) {
    masters_.heard(m->epoch);
    return on_lookup_reply(*m);
  }
  if (auto* m = std::get_if<cluster::LookupBatchReply>(&message)) {
    masters_.heard(m->epoch);
    for (auto& r : m->results) {
      cluster::LookupReply one{m->epoch, r.seq, std::move(r.user), {}};
      one.nodes.reserve(r.nodes.size());
      for (uint32_t i : r.nodes) one.nodes.push_back(m->nodes[i]);  // i < nodes.size(): decode checked
      on_lookup_reply(one);
    }
    return;
  }
  if (auto* m = std::get_if<cluster::Invalidate>(&message)) {
    masters_.heard(m->epoch);
    cache_.erase(m->user);
    route_changed(m->user);
    // Confirmed from the router strand, after the erase: the master may now welcome the
    // session that caused it.
    masters_.send(cluster::InvalidateAck{m->user});
    return;
  }
  if (auto* m = std::get_if<cluster::NodeDown>(&message)) {
    masters_.heard(m->epoch);
    return on_node_down(m->node_id);
  }
  if (auto* m = std::get_if<cluster::PresenceReply>(&message)) {
    masters_.heard(m->epoch);
    auto it = presence_.find(m->seq);
    if (it == presence_.end()) return;
    // Someone offline by this master's answer: confirmed by another first (as for lookups).
    if (std::find(m->online.begin(), m->online.end(), false) != m->online.end() && masters_.confirm_empty(m->seq, *m))
      return;
    masters_.answered(m->seq);
    answer_presence(it->second, m->online.size() == it->second.users.size() ? &m->online : nullptr);
    presence_.erase(it);
    return;
  }
  if (auto* m = std::get_if<cluster::NodeQueryReply>(&message)) {
    // Only ever asked by the verifier: vouches for a DELIVER's origin like a LOOKUP reply listing it.
    masters_.heard(m->epoch);
    if (m->nodes.empty() && masters_.confirm_empty(m->seq, *m)) return;
    masters_.answered(m->seq);
    cluster::LookupReply as_lookup{m->epoch, m->seq, std::string(), std::move(m->nodes)};
    verify_reply(as_lookup);
    return;
  }
  if (auto* m = std::get_if<cluster::StatusReply>(&message)) {
    masters_.heard(m->epoch);
    masters_.answered(m->seq);
    auto it = status_.find(m->seq);
    if (it == status_.end()) return;
    auto done = std::move(it->second.done);
    status_.erase(it);
    done(std::move(m->json));
    return;
  }
  if (rooms_.handle_master(message)) return;
  logging::get("router")->debug("ignored an unexpected message from the master");
}

void Router::handle_peer(cluster::Message& message) {
  if (auto* m = std::get_if<cluster::Deliver>(&message)) return on_deliver(*m);
  if (auto* m = std::get_if<cluster::Receipt>(&message)) return on_receipt(*m);
  if (auto* m = std::get_if<cluster::UserOp>(&message)) return on_user_op(*m);
  if (rooms_.handle_peer(message)) return;
  logging::get("router")->debug("ignored an unexpected message from a peer");
}

// ---------------------------------------------------------------- delivery

std::size_t Router::deliver_local(const std::string& user, const std::shared_ptr<const std::string>& frame) {
  auto it = local_.find(user);
  if (it == local_.end()) return 0;
  for (auto& s : it->second) s->deliver(frame);
  return it->second.size();
}

void Router::send(std::shared_ptr<LocalSession> from, proto::SendFrame frame) {
  asio::post(strand_, [self = shared_from_this(), from = std::move(from), f = std::move(frame)]() mutable {
    self->do_send(std::move(from), std::move(f));
  });
}

void Router::do_send(std::shared_ptr<LocalSession> from, proto::SendFrame frame) {
  ++counters_.messages_accepted;
  const auto now = std::chrono::steady_clock::now();
  auto out = std::make_shared<Outgoing>();
  out->seq = ++msg_counter_;
  out->id = fmt::format("{:x}-{:x}", opt_.incarnation, out->seq);
  out->from = from->user();
  out->to = std::move(frame.to);
  out->body = std::move(frame.body);
  out->ts_ms = wall_ms();
  out->sender = from;
  out->ref = std::move(frame.id);
  out->accepted = now;
  out->deadline_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() + opt_.delivery_timeout_ms;

  if (inflight_.size() >= opt_.max_inflight) {
    // Bound hit: refuse to track more deliveries; the sender learns `failed`.
    ++counters_.bound_hits[NodeSample::bound_in_flight];
    if (uint64_t held = 0; bound_warning_.allow(held)) {
      logging::get("router")->warn(
          "in-flight bound ({}) reached: message {} refused ({} more refused since the "
          "last warning)",
          opt_.max_inflight, out->id, held);
    }
    finish(out, proto::AckStatus::failed, Fail::overloaded);
    return;
  }
  dispatch(out);
  // Tracked only when it is still in flight: a message settled at once (delivered to sessions
  // of this node only, or failed) never touches the in-flight table. Receipts, the only lookups
  // by id, arrive in later strand turns.
  if (!out->done) {
    inflight_.emplace(out->id, out);
    deadlines_.emplace_back(out->deadline_ms, out);
  }
}

void Router::dispatch(const std::shared_ptr<Outgoing>& out) {
  // Behind a barrier (the user's route changed under earlier messages still in flight), or behind
  // messages still held by one: wait, so no later message overtakes them at a session that
  // appeared meanwhile.
  auto f = flows_.find(out->to);
  if (f != flows_.end() && (f->second.barrier > 0 || !f->second.held.empty())) {
    f->second.held.push_back(out);
    if (f->second.barrier == 0) schedule_release(f->second, out->to);
    return;
  }
  dispatch_now(out);
}

std::size_t Router::apply_local(const std::shared_ptr<Outgoing>& out) {
  if (out->op) {
    ++out->op->waiting_here;
    const std::size_t n =
        apply_user_op(out->to, *out->op, [self = shared_from_this(), weak = std::weak_ptr<Outgoing>(out)] {
          if (auto o = weak.lock()) self->op_applied_here(o);
        });
    if (n == 0) --out->op->waiting_here;
    return n;
  }
  const Outgoing& o = *out;
  auto msg = std::make_shared<const std::string>(proto::encode_message(o.id, o.from, o.to, o.body, o.ts_ms));
  return deliver_local(o.to, msg);
}

void Router::op_applied_here(const std::shared_ptr<Outgoing>& out) {
  auto& op = *out->op;
  if (--op.waiting_here > 0 || !op.delivered_deferred) return;
  op.delivered_deferred = false;
  if (auto done = std::move(op.done)) done(proto::AckStatus::delivered, "");
}

void Router::dispatch_now(const std::shared_ptr<Outgoing>& out) {
  if (apply_local(out) > 0) {
    if (!out->op) ++counters_.messages_local;
    out->local_done = true;
    out->delivered = true;
    ack(out, proto::AckStatus::delivered);
  }
  route(out);
}

void Router::route_changed(const std::string& user) {
  auto f = flows_.find(user);
  if (f == flows_.end()) return;
  Flow& flow = f->second;
  // Only what arrived in `awaiting` since the last route change is new to the barrier: each
  // message is looked at here once, whatever the number of route changes.
  for (std::size_t i = flow.marked; i < flow.awaiting.size(); ++i) {
    auto& o = flow.awaiting[i];
    if (!o->done && !o->in_barrier) {
      o->in_barrier = true;
      ++flow.barrier;
    }
  }
  flow.marked = flow.awaiting.size();
}

void Router::schedule_release(Flow& flow, const std::string& user) {
  if (flow.release_posted) return;
  flow.release_posted = true;
  asio::post(strand_, [self = shared_from_this(), user] { self->release_held(user); });
}

void Router::release_held(const std::string& user) {
  auto f = flows_.find(user);
  if (f == flows_.end()) return;
  f->second.release_posted = false;
  for (std::size_t n = 0; n < kReleaseBatch; ++n) {
    // Looked up afresh each time: dispatching can settle messages and so change the flow.
    f = flows_.find(user);
    if (f == flows_.end()) return;
    Flow& flow = f->second;
    if (flow.barrier > 0 || flow.held.empty()) return erase_flow_if_idle(user);
    auto out = std::move(flow.held.front());
    flow.held.pop_front();
    if (!out->done) dispatch_now(out);
  }
  f = flows_.find(user);
  if (f == flows_.end()) return;
  if (f->second.barrier == 0 && !f->second.held.empty()) schedule_release(f->second, user);
  else erase_flow_if_idle(user);
}

void Router::erase_flow_if_idle(const std::string& user) {
  auto f = flows_.find(user);
  if (f == flows_.end()) return;
  Flow& flow = f->second;
  while (!flow.awaiting.empty() && flow.awaiting.front()->done) {
    flow.awaiting.pop_front();
    if (flow.marked > 0) --flow.marked;
  }
  if (flow.awaiting.empty() && flow.held.empty() && flow.barrier == 0 && !flow.release_posted) flows_.erase(f);
}

void Router::track_pending(const std::string& node, const std::shared_ptr<Outgoing>& out) {
  pending_by_node_[node].emplace(out->seq, out);
}

void Router::untrack_pending(const std::string& node, const Outgoing& out) {
  auto it = pending_by_node_.find(node);
  if (it == pending_by_node_.end()) return;
  it->second.erase(out.seq);
  if (it->second.empty()) pending_by_node_.erase(it);
}

void Router::route(const std::shared_ptr<Outgoing>& out) {
  // While a lookup (or a retry after a bounce) for this user is out, later messages queue
  // behind it, so they cannot overtake the ones it carries.
  if (lookups_.count(out->to)) return start_lookup(out->to, out);
  if (auto* nodes = cache_.get(out->to, steady_ms())) {
    bool remote = std::any_of(nodes->begin(), nodes->end(), [&](const std::string& n) { return n != opt_.node_id; });
    if (remote || out->delivered) {
      auto copy = *nodes;
      return route_to(out, copy);
    }
    // The cache says "only here" but nobody is here: stale, ask the master.
  }
  start_lookup(out->to, out);
}

void Router::start_lookup(const std::string& user, std::shared_ptr<Outgoing> out) {
  const int64_t now = steady_ms();
  auto it = lookups_.find(user);
  if (it != lookups_.end()) {
    if (it->second.waiting.size() >= opt_.max_queued_per_lookup) {
      ++counters_.bound_hits[NodeSample::bound_lookup_queue];
      return finish(out, proto::AckStatus::failed, Fail::overloaded);
    }
    it->second.waiting.push_back(std::move(out));
    return;
  }
  if (!masters_.reachable(now)) {
    // Lookups fail fast while the master is away (docs/architecture.md, "Failures").
    return finish(out, proto::AckStatus::failed, out->uncertain ? Fail::node_down : Fail::master_unreachable);
  }
  if (lookups_.size() >= opt_.max_pending_lookups) {
    ++counters_.bound_hits[NodeSample::bound_lookups];
    return finish(out, proto::AckStatus::failed, Fail::overloaded);
  }
  const uint64_t seq = masters_.next_seq();
  auto& state = lookups_[user];
  state.seq = seq;
  state.waiting.push_back(std::move(out));
  lookup_seqs_[seq] = PendingLookup{user, now + opt_.delivery_timeout_ms, std::chrono::steady_clock::now()};
  ++counters_.lookups;
  if (opt_.wire_version >= 2) return queue_lookup(seq, user);
  if (!masters_.send(cluster::Lookup{seq, user})) fail_lookup(user, seq);
}

void Router::queue_lookup(uint64_t seq, const std::string& user) {
  lookup_batch_.push_back(cluster::Lookup{seq, user});
  if (lookup_batch_.size() >= cluster::kMaxLookupBatch) return flush_lookups();
  if (lookup_batch_.size() == 1) asio::post(strand_, [self = shared_from_this()] { self->flush_lookups(); });
}

void Router::flush_lookups() {
  if (lookup_batch_.empty()) return;
  if (lookup_batch_.size() == 1) {
    const cluster::Lookup one = std::move(lookup_batch_.front());
    lookup_batch_.clear();
    if (!masters_.send(one)) fail_lookup(one.user, one.seq);
    return;
  }
  const cluster::Message batch{cluster::LookupBatch{std::move(lookup_batch_)}};
  lookup_batch_.clear();
  if (masters_.send(batch)) return;
  for (const auto& l : std::get<cluster::LookupBatch>(batch).lookups) fail_lookup(l.user, l.seq);
}

void Router::fail_lookup(const std::string& user, uint64_t seq) {
  // Refused by the link (its queue to the master is full): no answer will come, so nothing
  // waits for the delivery timeout; whatever queued behind it meanwhile fails too.
  lookup_seqs_.erase(seq);
  auto it = lookups_.find(user);
  if (it == lookups_.end() || it->second.seq != seq) return;
  auto waiting = std::move(it->second.waiting);
  lookups_.erase(it);
  for (auto& o : waiting) {
    if (!o->done) finish(o, proto::AckStatus::failed, Fail::master_unreachable);
  }
}

void Router::on_lookup_reply(cluster::LookupReply& reply) {
  // With several masters, "no other node" is confirmed by a master not yet asked: the one that
  // answered may have lost registrations (restarted, or cut off from a node) (MasterSet).
  const bool elsewhere = std::any_of(reply.nodes.begin(), reply.nodes.end(),
                                     [&](const cluster::NodeAddr& n) { return n.id != opt_.node_id; });
  if (!elsewhere && masters_.confirm_empty(reply.seq, reply)) return;
  masters_.answered(reply.seq);
  if (auto pending = lookup_seqs_.find(reply.seq); pending != lookup_seqs_.end()) {
    lookup_latency_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - pending->second.sent).count());
    lookup_seqs_.erase(pending);
  }
  if (verify_reply(reply)) return;
  auto it = lookups_.find(reply.user);
  if (it == lookups_.end() || it->second.seq != reply.seq) return;
  auto waiting = std::move(it->second.waiting);
  lookups_.erase(it);

  std::vector<std::string> nodes;
  nodes.reserve(reply.nodes.size());
  for (auto& n : reply.nodes) {
    if (n.id != opt_.node_id) peer_events_[n.id] = n.events;
    nodes.push_back(n.id);
  }
  if (!nodes.empty()) cache_.put(reply.user, nodes, steady_ms());
  for (auto& out : waiting) {
    if (!out->done) route_to(out, nodes);
  }
}

void Router::route_to(const std::shared_ptr<Outgoing>& out, const std::vector<std::string>& nodes) {
  for (auto& n : out->pending_nodes) untrack_pending(n, *out);
  out->pending_nodes.clear();
  for (auto& n : nodes) {
    if (n == opt_.node_id) {
      // A retry that finds the user here now (it moved to this node after the first attempt).
      if (out->retried && !out->local_done) {
        if (apply_local(out) > 0) {
          out->local_done = true;
          out->delivered = true;
          ack(out, proto::AckStatus::delivered);
        }
      }
      continue;
    }
    auto addr = peer_events_.find(n);
    if (addr == peer_events_.end()) continue;
    if (out->op && !send_user_op(n, addr->second, *out)) continue;
    out->pending_nodes.push_back(n);
    track_pending(n, out);
    if (!out->op) outbox_.queue_deliver(n, addr->second, out);
  }
  if (!out->pending_nodes.empty()) {
    Flow& flow = flows_[out->to];
    while (!flow.awaiting.empty() && flow.awaiting.front()->done) {
      flow.awaiting.pop_front();
      if (flow.marked > 0) --flow.marked;
    }
    flow.awaiting.push_back(out);
  } else {
    // Nobody else to ask. route() uses a cached route only when it names another node, so an
    // empty remote set here comes from a fresh master answer: the user is offline — unless an
    // earlier attempt went to a node that died before confirming: then it may have arrived, and
    // `offline` would be a lie (docs/protocol.md: `failed`, reason `node_down`).
    bool remote = std::any_of(nodes.begin(), nodes.end(), [&](const std::string& n) { return n != opt_.node_id; });
    if (out->delivered) finish(out, proto::AckStatus::delivered);
    else if (out->uncertain) finish(out, proto::AckStatus::failed, Fail::node_down);
    else if (!remote) finish(out, proto::AckStatus::offline);
    else finish(out, proto::AckStatus::failed, Fail::peer_unreachable);
  }
}

void Router::on_deliver(const cluster::Deliver& deliver) {
  cluster::Receipt receipt{opt_.node_id, {}};
  receipt.items.reserve(deliver.items.size());
  for (auto& item : deliver.items) {
    if (delivered_ids_.contains(item.msg_id)) {
      // A retry of something already delivered here: never twice to one session.
      ++counters_.received[NodeSample::received_duplicate];
      receipt.items.push_back({item.msg_id, cluster::ReceiptStatus::delivered});
      continue;
    }
    auto frame = std::make_shared<const std::string>(
        proto::encode_message(item.msg_id, item.from, item.to, item.body, item.ts_ms));
    if (deliver_local(item.to, frame) > 0) {
      ++counters_.received[NodeSample::received_delivered];
      remember_delivered(item.msg_id);
      receipt.items.push_back({item.msg_id, cluster::ReceiptStatus::delivered});
    } else {
      ++counters_.received[NodeSample::received_not_here];
      receipt.items.push_back({item.msg_id, cluster::ReceiptStatus::not_here});
    }
  }
  if (deliver.items.empty()) return;
  send_receipts(deliver.origin_node, deliver.origin_events, deliver.items.front().from, std::move(receipt.items));
}

void Router::send_receipts(const std::string& origin, const std::string& events, const std::string& from,
                           std::vector<cluster::ReceiptItem> items) {
  if (events.empty()) return;
  auto known = peer_events_.find(origin);
  if (known != peer_events_.end() && known->second == events) {
    for (auto& item : items) outbox_.queue_receipt(origin, events, std::move(item));
    return;
  }
  // An origin the master has not named to us (we never looked up a user of it): the DELIVER's
  // word alone does not get a socket.
  const int64_t now = steady_ms();
  verifier_.hold(origin, events, from, std::move(items), masters_.reachable(now), now);
}

bool Router::verify_reply(const cluster::LookupReply& reply) {
  if (!verifier_.asked(reply.seq)) return false;
  for (auto& n : reply.nodes) {
    if (n.id != opt_.node_id) peer_events_[n.id] = n.events;
  }
  if (auto verified = verifier_.on_reply(reply.seq, peer_events_)) {
    for (auto& item : verified->receipts) outbox_.queue_receipt(verified->origin, verified->events, std::move(item));
    rooms_.send_verified(verified->origin, verified->events, std::move(verified->room_receipts),
                         std::move(verified->messages));
  }
  return true;
}

void Router::on_deliver_refused(const std::string& node, std::vector<std::shared_ptr<Outgoing>> outs) {
  // Not sent (the peer's high-water mark is reached): no receipt will come from that node.
  for (auto& out : outs) {
    auto& pn = out->pending_nodes;
    auto pos = std::find(pn.begin(), pn.end(), node);
    if (pos == pn.end()) continue;
    pn.erase(pos);
    untrack_pending(node, *out);
    if (!out->done && pn.empty()) {
      if (out->delivered) finish(out, proto::AckStatus::delivered);
      else finish(out, proto::AckStatus::failed, out->uncertain ? Fail::node_down : Fail::peer_unreachable);
    }
  }
}

void Router::remember_delivered(const std::string& msg_id) {
  const int64_t keep_ms = opt_.dedup_ms > 0 ? opt_.dedup_ms : 2 * opt_.delivery_timeout_ms + 1000;
  delivered_ids_.remember(msg_id, steady_ms(), keep_ms);
}

void Router::on_receipt(const cluster::Receipt& receipt) {
  for (auto& item : receipt.items) {
    auto it = inflight_.find(item.msg_id);
    if (it == inflight_.end()) continue;
    auto out = it->second;
    auto& pn = out->pending_nodes;
    auto pos = std::find(pn.begin(), pn.end(), receipt.origin_node);
    if (pos == pn.end()) continue;
    pn.erase(pos);
    untrack_pending(receipt.origin_node, *out);
    if (item.status == cluster::ReceiptStatus::delivered) {
      out->delivered = true;
      ack(out, proto::AckStatus::delivered);
    } else {
      out->bounced = true;
      ++counters_.bounces;
      cache_.erase(out->to);
      route_changed(out->to);
    }
    complete(out);
  }
}

void Router::on_node_down(const std::string& node_id) {
  logging::get("router")->info("node {} is down", node_id);
  cache_.erase_node(node_id);
  peer_events_.erase(node_id);
  verifier_.forget(node_id);
  // DELIVERs still in its outbox never left this node: they certainly did not arrive there.
  std::unordered_set<const Outgoing*> unsent;
  std::vector<std::string> unsent_rooms;
  for (auto& out : outbox_.drop_peer(node_id, &unsent_rooms)) unsent.insert(out.get());
  rooms_.on_node_down(node_id, unsent_rooms);
  // Only the messages awaiting this node's receipt are touched (O(affected), not O(in flight)),
  // in send order, so their retries keep it.
  std::vector<std::shared_ptr<Outgoing>> affected;
  if (auto p = pending_by_node_.find(node_id); p != pending_by_node_.end()) {
    affected.reserve(p->second.size());
    for (auto& [seq, out] : p->second) affected.push_back(std::move(out));
    pending_by_node_.erase(p);
  }
  std::sort(affected.begin(), affected.end(),
            [](const std::shared_ptr<Outgoing>& a, const std::shared_ptr<Outgoing>& b) { return a->seq < b->seq; });
  const std::string* last_user = nullptr;
  for (auto& out : affected) {
    auto& pn = out->pending_nodes;
    pn.erase(std::remove(pn.begin(), pn.end(), node_id), pn.end());
    if (!unsent.count(out.get())) out->uncertain = true;
    // Later messages to these users wait until these are settled (a barrier per user; cheap
    // when repeated, see route_changed).
    if (!last_user || *last_user != out->to) route_changed(out->to);
    last_user = &out->to;
    if (pn.empty() && !out->done) {
      out->bounced = true;  // like not_here: ask the master afresh, it no longer lists the node
      retry_queue_.push_back(out);
    }
  }
  retry_some();
}

void Router::retry_some() {
  retry_posted_ = false;
  for (std::size_t n = 0; n < kRetryBatch && !retry_queue_.empty(); ++n) {
    auto out = std::move(retry_queue_.front());
    retry_queue_.pop_front();
    complete(out);
  }
  if (!retry_queue_.empty() && !retry_posted_) {
    retry_posted_ = true;
    asio::post(strand_, [self = shared_from_this()] { self->retry_some(); });
  }
}

void Router::ack(const std::shared_ptr<Outgoing>& out, proto::AckStatus status, Fail why) {
  if (out->acked) return;
  out->acked = true;
  if (out->op) {
    if (status == proto::AckStatus::delivered && out->op->waiting_here > 0) {
      out->op->delivered_deferred = true;  // answered by op_applied_here
      return;
    }
    if (auto done = std::move(out->op->done)) done(status, status == proto::AckStatus::failed ? to_string(why) : "");
    return;
  }
  ++counters_.acks[static_cast<std::size_t>(status)];
  if (status != proto::AckStatus::delivered && opt_.on_undelivered) opt_.on_undelivered(*out, status, to_string(why));
  if (status == proto::AckStatus::delivered) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - out->accepted).count();
    (out->local_done ? delivery_latency_local_ : delivery_latency_remote_).Observe(seconds);
  }
  if (!out->ref) return;
  if (auto s = out->sender.lock()) {
    s->deliver(std::make_shared<const std::string>(proto::encode_ack(*out->ref, out->id, status, to_string(why))));
  }
}

void Router::finish(const std::shared_ptr<Outgoing>& out, proto::AckStatus status, Fail why) {
  // Whatever failed last, a message once handed to a node that died may have arrived there: the
  // reason says so (docs/protocol.md, ack reasons).
  if (status == proto::AckStatus::failed && out->uncertain) why = Fail::node_down;
  ack(out, status, why);
  if (out->done) return;
  out->done = true;
  inflight_.erase(out->id);
  for (auto& n : out->pending_nodes) untrack_pending(n, *out);
  out->pending_nodes.clear();
  auto f = flows_.find(out->to);
  if (f == flows_.end()) return;
  Flow& flow = f->second;
  if (out->in_barrier) {
    out->in_barrier = false;
    if (--flow.barrier == 0 && !flow.held.empty()) schedule_release(flow, out->to);
  }
  erase_flow_if_idle(out->to);
}

void Router::complete(const std::shared_ptr<Outgoing>& out) {
  if (out->done || !out->pending_nodes.empty()) return;
  if (out->bounced && !out->retried) {
    // A stale route: ask the master afresh (bypassing the cache) and retry once. Nodes that
    // already delivered it drop the retry by message id.
    out->retried = true;
    out->bounced = false;
    return start_lookup(out->to, out);
  }
  if (out->delivered) return finish(out, proto::AckStatus::delivered);
  finish(out, proto::AckStatus::failed, out->uncertain ? Fail::node_down : Fail::moved);
}

void Router::answer_presence(PendingPresence& p, const std::vector<bool>* online) {
  auto s = p.session.lock();
  if (!s) return;
  if (!online) {
    ++counters_.errors_internal;
    s->deliver(std::make_shared<const std::string>(
        proto::encode_error(proto::ErrorCode::internal, "presence unavailable: master unreachable", p.ref)));
    return;
  }
  std::vector<std::pair<std::string, bool>> users;
  users.reserve(p.users.size());
  for (std::size_t i = 0; i < p.users.size(); ++i) {
    users.emplace_back(p.users[i], (*online)[i] || local_.count(p.users[i]) > 0);
  }
  s->deliver(std::make_shared<const std::string>(proto::encode_presence(p.ref, users)));
}

void Router::presence(std::shared_ptr<LocalSession> from, proto::PresenceFrame frame) {
  asio::post(strand_, [self = shared_from_this(), from = std::move(from), f = std::move(frame)]() mutable {
    self->do_presence(std::move(from), std::move(f));
  });
}

void Router::do_presence(std::shared_ptr<LocalSession> from, proto::PresenceFrame frame) {
  const int64_t now = steady_ms();
  PendingPresence p{from, std::move(frame.id), std::move(frame.users), now + opt_.delivery_timeout_ms};
  if (!masters_.reachable(now)) {
    // Without the master only local users can be answered for sure: say so.
    return answer_presence(p, nullptr);
  }
  const uint64_t seq = masters_.next_seq();
  if (!masters_.send(cluster::PresenceQuery{seq, p.users})) return answer_presence(p, nullptr);
  presence_.emplace(seq, std::move(p));
}

// ---------------------------------------------------------------- rooms

void Router::join(std::shared_ptr<LocalSession> from, proto::JoinFrame frame) {
  asio::post(strand_, [self = shared_from_this(), from = std::move(from), f = std::move(frame)]() mutable {
    if (!self->draining_) self->rooms_.join(from, std::move(f));
  });
}

void Router::leave(std::shared_ptr<LocalSession> from, proto::LeaveFrame frame) {
  asio::post(strand_, [self = shared_from_this(), from = std::move(from), f = std::move(frame)]() mutable {
    self->rooms_.leave(from, std::move(f));
  });
}

void Router::publish(std::shared_ptr<LocalSession> from, proto::PublishFrame frame) {
  asio::post(strand_, [self = shared_from_this(), from = std::move(from), f = std::move(frame)]() mutable {
    self->rooms_.publish(from, std::move(f));
  });
}

void Router::members(std::shared_ptr<LocalSession> from, proto::MembersFrame frame) {
  asio::post(strand_, [self = shared_from_this(), from = std::move(from), f = std::move(frame)]() mutable {
    self->rooms_.members(from, std::move(f));
  });
}

void Router::room_stats(std::function<void(RoomRouter::Stats)> done) {
  asio::post(strand_, [self = shared_from_this(), done = std::move(done)] { done(self->rooms_.stats()); });
}

// ---------------------------------------------------------------- metrics

void Router::sample(std::function<void(NodeSample)> done) {
  asio::post(strand_, [self = shared_from_this(), done = std::move(done)] {
    NodeSample s;
    s.ready = self->masters_.ready();
    s.sessions = self->session_count_.load();
    s.users = self->local_.size();
    for (auto& [user, sessions] : self->local_) {
      for (auto& session : sessions) s.send_queue_bytes += session->queued_bytes();
    }
    s.cache_entries = self->cache_.size();
    s.deliveries_in_flight = self->inflight_.size();
    s.lookups_in_flight = self->lookups_.size();
    const Counters& c = self->counters_;
    s.messages_accepted = c.messages_accepted;
    s.messages_local = c.messages_local;
    s.messages_remote = self->outbox_.delivered_items();
    s.messages_bounced = c.bounces;
    s.deliveries_received = c.received;
    s.acks = c.acks;
    s.bound_hits = c.bound_hits;
    s.bound_hits[NodeSample::bound_unverified_receipts] += self->verifier_.dropped();
    const auto& cache = self->cache_.stats();
    s.cache_hits = cache.hits;
    s.cache_misses = cache.misses;
    s.cache_evictions = cache.evictions;
    s.cache_expirations = cache.expirations;
    s.cache_invalidations = cache.invalidations;
    s.lookups = c.lookups;
    s.lookup_timeouts = c.lookup_timeouts;
    s.masters = self->masters_.size();
    s.masters_reachable = self->masters_.reachable_count(steady_ms());
    s.master_reads_hedged = self->masters_.stats().hedged_reads;
    s.master_reads_confirmed = self->masters_.stats().confirmed_reads;
    const auto rooms = self->rooms_.stats();
    s.rooms = rooms.rooms;
    s.room_members = rooms.memberships;
    s.room_publishes = rooms.publishes;
    s.room_deliveries_local = rooms.deliveries_local;
    s.room_deliveries_remote = rooms.deliveries_remote;
    s.room_events_sent = rooms.events_sent;
    s.room_not_here = rooms.not_here;
    s.room_lookups = rooms.lookups;
    s.room_lookup_timeouts = rooms.lookup_timeouts;
    s.room_publishes_in_flight = rooms.inflight;
    s.room_fanout_dropped = rooms.fanout_dropped;
    s.errors[static_cast<std::size_t>(proto::ErrorCode::too_many_rooms)] = rooms.errors_too_many_rooms;
    s.errors[static_cast<std::size_t>(proto::ErrorCode::room_full)] = rooms.errors_room_full;
    s.errors[static_cast<std::size_t>(proto::ErrorCode::not_joined)] = rooms.errors_not_joined;
    s.errors[static_cast<std::size_t>(proto::ErrorCode::internal)] = c.errors_internal;
    done(std::move(s));
  });
}

// ---------------------------------------------------------------- server API

void Router::user_op(UserOpRequest request, std::function<void(UserOpResult)> done) {
  asio::post(strand_, [self = shared_from_this(), r = std::move(request), done = std::move(done)]() mutable {
    self->do_user_op(std::move(r), std::move(done));
  });
}

void Router::do_user_op(UserOpRequest request, std::function<void(UserOpResult)> done) {
  // The API checks its input; the wire rules are checked again here (a USER_OP that breaks them
  // could not be encoded, so it would fail only on remote nodes).
  const auto kind = static_cast<cluster::UserOpKind>(request.op);
  const bool disconnect = kind == cluster::UserOpKind::disconnect;
  const bool valid = proto::valid_user_id(request.user) &&
                     (disconnect ? request.code >= 4000 && request.code <= 4999 &&
                                       request.reason.size() <= cluster::kMaxCloseReasonBytes && request.room.empty()
                                 : proto::valid_room_name(request.room) && request.reason.empty()) &&
                     (kind == cluster::UserOpKind::disconnect || kind == cluster::UserOpKind::join ||
                      kind == cluster::UserOpKind::leave);
  if (!valid) return done(UserOpResult{proto::AckStatus::failed, "invalid"});
  const auto now = std::chrono::steady_clock::now();
  auto out = std::make_shared<Outgoing>();
  out->seq = ++msg_counter_;
  out->id = fmt::format("{:x}-{:x}", opt_.incarnation, out->seq);
  out->to = std::move(request.user);
  out->ts_ms = wall_ms();
  out->accepted = now;
  out->deadline_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() + opt_.delivery_timeout_ms;
  out->op = std::make_shared<UserOpSpec>();
  out->op->kind = kind;
  out->op->code = disconnect ? request.code : 0;
  out->op->room = std::move(request.room);
  out->op->reason = std::move(request.reason);
  out->op->done = [done = std::move(done)](proto::AckStatus status, std::string_view why) {
    done(UserOpResult{status, std::string(why)});
  };
  if (inflight_.size() >= opt_.max_inflight) {
    ++counters_.bound_hits[NodeSample::bound_in_flight];
    return finish(out, proto::AckStatus::failed, Fail::overloaded);
  }
  dispatch(out);
  if (!out->done) {
    inflight_.emplace(out->id, out);
    deadlines_.emplace_back(out->deadline_ms, out);
  }
}

std::size_t Router::apply_user_op(const std::string& user, const UserOpSpec& op, std::function<void()> applied) {
  auto it = local_.find(user);
  if (it == local_.end() || it->second.empty()) return 0;
  // A copy: a join or leave may touch the session lists' owners (not local_ today; cheap anyway).
  const auto sessions = it->second;
  if (op.kind != cluster::UserOpKind::join || draining_) {
    for (const auto& s : sessions) {
      if (op.kind == cluster::UserOpKind::disconnect) s->close_with(static_cast<uint16_t>(op.code), op.reason);
      else if (op.kind == cluster::UserOpKind::leave) rooms_.leave_by_server(s, op.room);
    }
    applied();
    return sessions.size();
  }
  // Each join answers once registered (or refused by a limit); the last one completes the operation.
  auto remaining = std::make_shared<std::size_t>(sessions.size());
  auto one = [remaining, applied = std::move(applied)] {
    if (--*remaining == 0) applied();
  };
  for (const auto& s : sessions) rooms_.join_by_server(s, op.room, one);
  return sessions.size();
}

bool Router::send_user_op(const std::string& node, const std::string& events, const Outgoing& out) {
  // Everything queued for peers goes first: a message sent to the user before the operation is
  // written before the operation reaches its node (one PUSH socket per peer keeps the order).
  outbox_.flush();
  return outbox_.send_now(node, events,
                          cluster::UserOp{opt_.node_id, opt_.events, out.id, out.to, out.op->kind, out.op->code,
                                          out.op->room, out.op->reason});
}

void Router::on_user_op(const cluster::UserOp& op) {
  cluster::ReceiptItem item{op.msg_id, cluster::ReceiptStatus::delivered};
  if (delivered_ids_.contains(op.msg_id)) {
    // A retry of an operation already applied here: applied once.
  } else {
    UserOpSpec spec;
    spec.kind = op.op;
    spec.code = op.code;
    spec.room = op.room;
    spec.reason = op.reason;
    // The receipt goes once the operation took effect here (a join: once registered at the master).
    const std::size_t n = apply_user_op(
        op.user, spec, [self = shared_from_this(), origin = op.origin_node, events = op.origin_events, id = op.msg_id] {
          std::vector<cluster::ReceiptItem> items;
          items.push_back({id, cluster::ReceiptStatus::delivered});
          self->send_receipts(origin, events, std::string(), std::move(items));
        });
    if (n > 0) {
      remember_delivered(op.msg_id);
      return;
    }
    item.status = cluster::ReceiptStatus::not_here;
  }
  std::vector<cluster::ReceiptItem> items;
  items.push_back(std::move(item));
  // No sender user to look up: the verifier asks the master for the origin node itself.
  send_receipts(op.origin_node, op.origin_events, std::string(), std::move(items));
}

void Router::cluster_status(std::string user, std::function<void(std::optional<std::string>)> done) {
  asio::post(strand_, [self = shared_from_this(), user = std::move(user), done = std::move(done)]() mutable {
    self->do_cluster_status(std::move(user), std::move(done));
  });
}

void Router::do_cluster_status(std::string user, std::function<void(std::optional<std::string>)> done) {
  const int64_t now = steady_ms();
  if (!masters_.reachable(now) || status_.size() >= kMaxPendingStatus) return done(std::nullopt);
  const uint64_t seq = masters_.next_seq();
  if (!masters_.send(cluster::StatusQuery{seq, std::move(user)})) return done(std::nullopt);
  status_.emplace(seq, PendingStatus{std::move(done), now + opt_.delivery_timeout_ms});
}

}  // namespace wsg
