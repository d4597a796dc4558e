#include "shard.h"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>

namespace wsg::bench {

namespace net = boost::asio;
namespace json = boost::json;

namespace {

// Connect, upgrade and welcome of one session must fit in this (and in the run's deadline).
constexpr int64_t kConnectTimeoutNs = 10'000'000'000;
// Our close handshake must complete in this.
constexpr int64_t kCloseTimeoutNs = 3'000'000'000;
// room: a join must be answered within this after the last session was welcomed (or failed).
constexpr int64_t kJoinTimeoutNs = 10'000'000'000;
// Open loop: a sender whose queue holds more than this skips its next sends (counted).
constexpr std::size_t kMaxQueuedBytes = 16u << 20;
// Open loop: at most this many sends in one go before letting reads run.
constexpr int kPaceBatch = 256;
// room: a member tracks each publisher's seqs below this (higher ones are unexpected frames).
constexpr int64_t kMaxRoomSeq = int64_t{1} << 30;
// Problems reported per shard for sessions the server closed (the rest are only counted).
constexpr int kMaxCloseProblems = 3;

std::chrono::steady_clock::time_point at_mono(int64_t ns) {
  // libstdc++'s steady_clock is CLOCK_MONOTONIC.
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(ns)));
}

const json::object* parse_object(std::string_view text, json::monotonic_resource& mr, json::value& holder) {
  boost::system::error_code ec;
  holder = json::parse(text, ec, &mr);
  if (ec || !holder.is_object()) return nullptr;
  return &holder.as_object();
}

std::string_view string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

bool int_field(const json::object& o, std::string_view key, int64_t& out) {
  const auto* v = o.if_contains(key);
  if (!v) return false;
  if (v->is_int64()) {
    out = v->as_int64();
    return true;
  }
  if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    out = static_cast<int64_t>(v->as_uint64());
    return true;
  }
  return false;
}

bool parse_seq(std::string_view s, int64_t& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && out >= 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Control

void Control::reached(Phase p, int64_t end_ns) {
  {
    std::lock_guard lk(m_);
    ++counts_[p];
    max_end_ns_ = std::max(max_end_ns_, end_ns);
  }
  cv_.notify_all();
}

bool Control::wait(Phase p, int count, int64_t deadline_ns) {
  std::unique_lock lk(m_);
  while (counts_[p] < count) {
    const int64_t left = deadline_ns - mono_ns();
    if (left <= 0) return false;
    cv_.wait_for(lk, std::chrono::nanoseconds(left));
  }
  return true;
}

void Control::add_sessions(uint64_t opened, uint64_t failed) {
  std::lock_guard lk(m_);
  opened_ += opened;
  failed_ += failed;
}

uint64_t Control::opened() {
  std::lock_guard lk(m_);
  return opened_;
}

uint64_t Control::failed() {
  std::lock_guard lk(m_);
  return failed_;
}

int64_t Control::max_end_ns() {
  std::lock_guard lk(m_);
  return max_end_ns_;
}

void Control::add_room_sent(const std::map<int64_t, uint64_t>& per_room, uint64_t own) {
  std::lock_guard lk(m_);
  for (const auto& [room, n] : per_room) room_sent_[room] += n;
  own_sent_ += own;
}

std::map<int64_t, uint64_t> Control::room_sent() {
  std::lock_guard lk(m_);
  return room_sent_;
}

uint64_t Control::own_sent() {
  std::lock_guard lk(m_);
  return own_sent_;
}

// ---------------------------------------------------------------------------------------------
// Shard: set-up

Shard::Shard(const Options& options, const std::vector<Endpoint>& endpoints, Control& control, int64_t concurrency,
             int64_t deadline_ns)
    : options_(options),
      endpoints_(endpoints),
      control_(control),
      concurrency_(std::max<int64_t>(1, concurrency)),
      deadline_ns_(deadline_ns),
      guard_(ioc_.get_executor()),
      start_timer_(ioc_),
      end_timer_(ioc_),
      pace_timer_(ioc_),
      join_timer_(ioc_),
      room_(options.scenario == "room") {
  // The body without padding is about 48 bytes: {"t":<16 digits>,"p":N,"s":N,"x":""}.
  padding_.assign(static_cast<std::size_t>(std::max<int64_t>(0, options_.body_bytes - 48)), 'x');
  parse_buffer_.resize(static_cast<std::size_t>(std::max<int64_t>(16384, 2 * options_.body_bytes + 4096)));
}

Shard::~Shard() {
  // Sessions before the io_context that their sockets belong to.
  active_.clear();
  slots_.clear();
}

void Shard::add_pair(int64_t global_index, uint32_t sender_source, uint32_t recipient_source) {
  const std::size_t local = pairs_.size();
  const std::size_t n = endpoints_.size();
  const auto gi = static_cast<std::size_t>(global_index);
  const std::size_t sender_url = gi % n;
  const std::size_t recipient_url = options_.scenario == "remote" ? (gi + 1) % n : gi % n;
  const std::string sender = options_.user_prefix + "s" + std::to_string(global_index);
  const std::string recipient = options_.user_prefix + "r" + std::to_string(global_index);
  Pair p;
  p.index = global_index;
  p.sender_slot = 2 * local;
  p.frame_prefix = R"({"type":"send","to":")" + recipient + R"(","body":{"t":)";
  if (options_.max_messages > 0)
    p.quota = options_.max_messages / options_.pairs + (global_index < options_.max_messages % options_.pairs ? 1 : 0);
  pairs_.push_back(std::move(p));
  // Recipient first: its welcome (registration acknowledged by the master) comes before any send.
  specs_.push_back(SessionSpec{recipient_url, recipient, recipient_source, 2 * local + 1});
  specs_.push_back(SessionSpec{sender_url, sender, sender_source, 2 * local});
  slots_.resize(2 * pairs_.size());
}

void Shard::add_session(int64_t global_index, uint32_t source) {
  const std::size_t slot = specs_.size();
  const std::string kind = options_.scenario == "storm" ? "c" : "i";
  specs_.push_back(SessionSpec{static_cast<std::size_t>(global_index) % endpoints_.size(),
                               options_.user_prefix + kind + std::to_string(global_index), source, slot});
  slots_.resize(specs_.size());
}

void Shard::run() { ioc_.run(); }

void Shard::release() {
  net::post(ioc_, [this] { guard_.reset(); });
}

void Shard::stop() { ioc_.stop(); }

// ---------------------------------------------------------------------------------------------
// Connecting

void Shard::start_connecting() {
  net::post(ioc_, [this] {
    launch_next();
    connect_finished();
  });
}

void Shard::launch_next() {
  while (!closing_ && connecting_ < concurrency_ && next_spec_ < specs_.size()) launch(specs_[next_spec_++]);
}

void Shard::launch(const SessionSpec& spec) {
  auto client = std::make_shared<Client>(ioc_, *this, endpoints_[spec.url], spec.user, spec.source, spec.slot);
  slots_[spec.slot] = client;
  ++connecting_;
  ++live_;
  const int64_t left = std::max<int64_t>(1'000'000, deadline_ns_ - mono_ns());
  client->start(std::chrono::nanoseconds(std::min(kConnectTimeoutNs, left)));
}

void Shard::connect_finished() {
  if (storm_ || connect_reported_ || finished_ < static_cast<int64_t>(specs_.size())) return;
  if (joins_pending_ > 0) {
    // Every session is welcomed or failed; the joins still unanswered have a bounded time left.
    if (!join_timer_armed_) {
      join_timer_armed_ = true;
      join_timer_.expires_at(at_mono(std::min(deadline_ns_, mono_ns() + kJoinTimeoutNs)));
      join_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) join_timeout();
      });
    }
    return;
  }
  join_timer_.cancel();
  connect_reported_ = true;
  control_.add_sessions(result_.opened, result_.failed);
  control_.reached(Control::connected);
}

void Shard::on_welcome(Client& c) {
  ++result_.opened;
  result_.connect.record(static_cast<uint64_t>(std::max<int64_t>(0, c.welcomed_ns() - c.started_ns())));
  ++finished_;
  if (storm_) {
    ++result_.welcomed;
    c.close(std::chrono::nanoseconds(kCloseTimeoutNs));  // the slot is free once the close is done
    return;
  }
  --connecting_;
  if (!pairs_.empty()) {
    Pair& p = pairs_[c.tag() / 2];
    const auto& sender = slots_[2 * (c.tag() / 2)];
    const auto& recipient = slots_[2 * (c.tag() / 2) + 1];
    if (sender && recipient && sender->is_open() && recipient->is_open()) {
      p.ready = true;
      active_.push_back(&p);
    }
  }
  if (room_) send_join(members_[c.tag()]);
  launch_next();
  connect_finished();
}

void Shard::on_failed(Client& c, const std::string& kind, const std::string& detail) {
  ++result_.failed;
  ++result_.failures[closing_ ? "aborted" : kind];
  if (result_.failed <= 3) result_.problems.push_back("session " + c.user() + ": " + kind + ": " + detail);
  ++finished_;
  --connecting_;
  --live_;
  const std::size_t slot = c.tag();
  if (storm_) {
    ++storm_done_;
    slots_[slot].reset();
    storm_slot_done();
  }
  launch_next();
  connect_finished();
  check_closed();
}

void Shard::on_closed(Client& c, bool clean, const std::string& detail) {
  --live_;
  const std::size_t slot = c.tag();
  if (storm_) {
    if (!clean) ++result_.unclean_closes;
    --connecting_;
    ++storm_done_;
    slots_[slot].reset();
    storm_slot_done();
    launch_next();
  } else if (closing_) {
    if (!clean) ++result_.unclean_closes;
  } else {
    if (++result_.closed_by_peer <= kMaxCloseProblems)
      result_.problems.push_back("session " + c.user() + " ended during the run: " + detail);
    if (!pairs_.empty()) pairs_[slot / 2].ready = false;
    if (room_) {
      Member& m = members_[slot];
      m.pub.ready = false;
      if (m.join == Member::Join::pending) join_done(m, "closed");
    }
  }
  check_closed();
}

// ---------------------------------------------------------------------------------------------
// Storm

void Shard::start_storm(int64_t start_ns) {
  net::post(ioc_, [this, start_ns] {
    storm_ = true;
    start_timer_.expires_at(at_mono(start_ns));
    start_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || closing_) return;
      launch_next();
      storm_slot_done();  // a shard with nothing to do is done at once
    });
  });
}

void Shard::storm_slot_done() {
  if (sending_done_ || storm_done_ < static_cast<int64_t>(specs_.size())) return;
  sending_done_ = true;
  result_.end_ns = mono_ns();
  control_.reached(Control::sending_done, result_.end_ns);
}

// ---------------------------------------------------------------------------------------------
// Traffic

void Shard::start_traffic(int64_t warm_ns, int64_t start_ns, int64_t end_ns) {
  net::post(ioc_, [this, warm_ns, start_ns, end_ns] {
    warm_ns_ = warm_ns;
    start_ns_ = start_ns;
    end_ns_ = end_ns;
    senders_.clear();
    for (auto& p : pairs_) senders_.push_back(&p);
    for (auto& m : members_)
      if (m.publisher) senders_.push_back(&m.pub);
    if (senders_.empty()) {
      // Nothing to send here: this shard's part of the window is over (with --max-messages, the
      // window ends when the last sender is done, and no shard without senders holds it open).
      finish_sending(start_ns);
      return;
    }
    if (options_.open_loop()) {
      const double all = static_cast<double>(room_ ? options_.publishers : options_.pairs);
      const double shard_rate = options_.rate * static_cast<double>(senders_.size()) / all;
      interval_ns_ = 1e9 / shard_rate;
    }
    start_timer_.expires_at(at_mono(warm_ns));
    start_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || closing_ || sending_done_) return;
      sending_ = true;
      if (options_.open_loop()) {
        if (!senders_.empty()) pace();
      } else {
        for (Pair* p : active_) closed_loop_fill(*p);
      }
    });
    end_timer_.expires_at(at_mono(end_ns));
    end_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) finish_sending(end_ns_);
    });
  });
}

void Shard::send_message(Pair& p, int64_t t_ns) {
  const auto& sender = slots_[p.sender_slot];
  if (!sender || !sender->is_open()) return;
  if (options_.open_loop() && sender->queued_bytes() > kMaxQueuedBytes) {
    ++result_.send_skipped;
    return;
  }
  const int64_t seq = p.next_seq++;
  std::string frame;
  frame.reserve(p.frame_prefix.size() + padding_.size() + 96);
  frame += p.frame_prefix;
  frame += std::to_string(t_ns);
  frame += R"(,"p":)";
  frame += std::to_string(p.index);
  frame += R"(,"s":)";
  frame += std::to_string(seq);
  frame += R"(,"x":")";
  frame += padding_;
  frame += "\"}";
  if (options_.ack) {
    frame += R"(,"id":")";
    frame += std::to_string(seq);
    frame += '"';
  }
  frame += '}';
  ++p.in_flight;
  if (t_ns >= start_ns_ && t_ns < end_ns_) {
    if (p.window_first < 0) p.window_first = seq;
    p.window_last = seq;
    ++p.window_sent;
    ++result_.sent;
    if (!room_) ++outstanding_;  // room: deliveries are awaited by the worker (they go to other shards)
    if (options_.ack) ++acks_outstanding_;
    if (p.quota >= 0 && p.window_sent >= p.quota && !p.exhausted) {
      p.exhausted = true;
      ++exhausted_;
    }
  }
  sender->send(std::move(frame));
  if (exhausted_ > 0 && exhausted_ >= active_.size()) finish_sending(std::min(mono_ns(), end_ns_));
}

void Shard::closed_loop_fill(Pair& p) {
  while (sending_ && p.ready && !p.exhausted && p.in_flight < options_.window) {
    const int64_t now = mono_ns();
    if (now >= end_ns_) return finish_sending(end_ns_);
    send_message(p, now);
  }
}

void Shard::pace() {
  if (!sending_ || sending_done_) return;
  const int64_t now = mono_ns();
  int batch = 0;
  for (;;) {
    const int64_t t = warm_ns_ + static_cast<int64_t>(static_cast<double>(paced_) * interval_ns_);
    if (t >= end_ns_) return finish_sending(end_ns_);
    if (t > now) {
      pace_timer_.expires_at(at_mono(t));
      pace_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) pace();
      });
      return;
    }
    if (batch == kPaceBatch) {
      net::post(ioc_, [this] { pace(); });
      return;
    }
    Pair& p = *senders_[paced_ % senders_.size()];
    ++paced_;
    if (p.ready && !p.exhausted) {
      // Latency counts from t, the scheduled time, even when the send is late.
      if (t >= start_ns_) result_.send_lag.record(static_cast<uint64_t>(std::max<int64_t>(0, mono_ns() - t)));
      send_message(p, t);
      if (sending_done_) return;
      ++batch;
    }
  }
}

void Shard::finish_sending(int64_t end_ns) {
  if (sending_done_) return;
  sending_done_ = true;
  sending_ = false;
  start_timer_.cancel();
  end_timer_.cancel();
  pace_timer_.cancel();
  result_.end_ns = end_ns;
  if (room_) {
    std::map<int64_t, uint64_t> per_room;
    uint64_t own = 0;
    for (const auto& m : members_)
      if (m.publisher && m.pub.window_sent > 0) {
        per_room[m.room] += static_cast<uint64_t>(m.pub.window_sent);
        own += static_cast<uint64_t>(m.pub.window_sent);
      }
    control_.add_room_sent(per_room, own);
  }
  control_.reached(Control::sending_done, end_ns);
  check_drained();
}

void Shard::check_drained() {
  if (!sending_done_ || drained_reported_ || outstanding_ > 0 || acks_outstanding_ > 0) return;
  drained_reported_ = true;
  control_.reached(Control::drained);
}

void Shard::on_frame(Client& c, std::string_view text) {
  if (closing_ || storm_) return;
  if (room_) return on_member_frame(members_[c.tag()], text);
  if (pairs_.empty()) return;
  Pair& p = pairs_[c.tag() / 2];
  if (c.tag() % 2 == 1) on_recipient_frame(p, text);
  else on_sender_frame(p, text);
}

void Shard::count_error(const json::object& frame) {
  ++result_.errors;
  const std::string_view code = string_field(frame, "code");
  ++result_.error_codes[code.empty() ? std::string("unknown") : std::string(code)];
}

void Shard::on_recipient_frame(Pair& p, std::string_view text) {
  const int64_t now = mono_ns();
  json::monotonic_resource mr(parse_buffer_.data(), parse_buffer_.size());
  json::value holder;
  const json::object* o = parse_object(text, mr, holder);
  if (!o) {
    ++result_.errors;
    ++result_.error_codes["unexpected_frame"];
    return;
  }
  const std::string_view type = string_field(*o, "type");
  if (type == "error") return count_error(*o);
  if (type == "send" && !options_.floor) {
    // A relay that forwards send frames verbatim (the floor relay): the run needs --floor.
    ++result_.errors;
    ++result_.error_codes["send_frame_without_floor"];
    return;
  }
  if (type != "message" && type != "send") return;  // e.g. a pong
  const auto* body = o->if_contains("body");
  int64_t t = 0, pair = 0, seq = 0;
  if (!body || !body->is_object() || !int_field(body->as_object(), "t", t) ||
      !int_field(body->as_object(), "p", pair) || !int_field(body->as_object(), "s", seq) || pair != p.index ||
      seq < 0 || seq >= p.next_seq) {
    ++result_.errors;
    ++result_.error_codes["unexpected_frame"];
    return;
  }
  const auto s = static_cast<std::size_t>(seq);
  if (s >= p.received.size()) p.received.resize(std::max(s + 1, p.received.size() * 2 + 64), false);
  if (p.received[s]) {
    ++result_.duplicates;
    return;
  }
  p.received[s] = true;
  if (seq < p.max_seen) ++result_.out_of_order;
  p.max_seen = std::max(p.max_seen, seq);
  --p.in_flight;
  if (in_window(p, seq)) {
    ++result_.delivered;
    --outstanding_;
    result_.latency.record(static_cast<uint64_t>(std::max<int64_t>(0, now - t)));
  }
  if (!options_.open_loop()) closed_loop_fill(p);
  check_drained();
}

void Shard::on_sender_frame(Pair& p, std::string_view text) {
  json::monotonic_resource mr(parse_buffer_.data(), parse_buffer_.size());
  json::value holder;
  const json::object* o = parse_object(text, mr, holder);
  if (!o) {
    ++result_.errors;
    ++result_.error_codes["unexpected_frame"];
    return;
  }
  const std::string_view type = string_field(*o, "type");
  int64_t seq = -1;
  const bool has_ref = parse_seq(string_field(*o, "ref"), seq);
  if (type == "ack") {
    if (!has_ref || !in_window(p, seq)) return;
    const std::string_view status = string_field(*o, "status");
    if (status == "delivered") ++result_.acks_delivered;
    else if (status == "offline") ++result_.acks_offline;
    else ++result_.acks_failed;
    --acks_outstanding_;
    check_drained();
  } else if (type == "error") {
    count_error(*o);
    // The refused message will not arrive (and not be acked): free its place in the window.
    if (has_ref && in_window(p, seq)) {
      --outstanding_;
      --acks_outstanding_;
    }
    --p.in_flight;
    if (!options_.open_loop()) closed_loop_fill(p);
    check_drained();
  }
}

// ---------------------------------------------------------------------------------------------
// Closing

void Shard::close_all() {
  net::post(ioc_, [this] {
    closing_ = true;
    sending_ = false;
    start_timer_.cancel();
    end_timer_.cancel();
    pace_timer_.cancel();
    join_timer_.cancel();
    next_spec_ = specs_.size();
    for (auto& c : slots_) {
      if (!c) continue;
      if (c->is_open()) c->close(std::chrono::nanoseconds(kCloseTimeoutNs));
      else if (c->state() == Client::State::connecting) c->abort();
    }
    check_closed();
  });
}

void Shard::abort_all() {
  net::post(ioc_, [this] {
    closing_ = true;
    for (auto& c : slots_)
      if (c) c->abort();
    check_closed();
  });
}

void Shard::check_closed() {
  if (!closing_ || closed_reported_ || live_ > 0) return;
  closed_reported_ = true;
  guard_.reset();
  control_.reached(Control::closed);
}

// ---------------------------------------------------------------------------------------------
// Rooms

void Shard::add_member(int64_t global_index, uint32_t source) {
  const std::size_t local = members_.size();
  const int64_t room = options_.room_of(global_index);
  Member m;
  m.index = global_index;
  m.room = room;
  m.room_first = options_.room_first(room);
  m.room_size = options_.room_size(room);
  m.room_name = options_.room_name(room);
  const int64_t publishers = options_.room_publishers(room);
  m.tracks.resize(static_cast<std::size_t>(publishers));
  m.publisher = global_index - m.room_first < publishers;
  if (m.publisher) {
    m.pub.index = global_index;
    m.pub.sender_slot = local;
    m.pub.frame_prefix = R"({"type":"publish","room":")" + m.room_name + R"(","body":{"t":)";
    if (options_.max_messages > 0) {
      // The publisher's rank among all publishers: those of the rooms before, then its own.
      const int64_t q = options_.publishers / options_.rooms, extra = options_.publishers % options_.rooms;
      const int64_t rank = room * q + std::min(room, extra) + (global_index - m.room_first);
      m.pub.quota =
          options_.max_messages / options_.publishers + (rank < options_.max_messages % options_.publishers ? 1 : 0);
    }
  }
  members_.push_back(std::move(m));
  specs_.push_back(SessionSpec{static_cast<std::size_t>(global_index) % endpoints_.size(),
                               options_.user_prefix + "m" + std::to_string(global_index), source, local});
  slots_.resize(specs_.size());
}

void Shard::send_join(Member& m) {
  const auto& c = slots_[static_cast<std::size_t>(&m - members_.data())];
  if (!c || !c->is_open() || m.join != Member::Join::none) return;
  m.join = Member::Join::pending;
  ++joins_pending_;
  c->send(R"({"type":"join","room":")" + m.room_name + R"(","id":"j"})");
}

void Shard::join_done(Member& m, const std::string& failure) {
  if (m.join != Member::Join::pending) return;
  --joins_pending_;
  if (failure.empty()) {
    m.join = Member::Join::joined;
    ++result_.joined;
    if (m.publisher) {
      m.pub.ready = true;
      active_.push_back(&m.pub);
    }
  } else {
    m.join = Member::Join::failed;
    uint64_t failures = 0;
    for (const auto& [kind, n] : result_.join_failures) failures += n;
    if (failures < 3)
      result_.problems.push_back("session " + options_.user_prefix + "m" + std::to_string(m.index) + ": join " +
                                 m.room_name + ": " + failure);
    ++result_.join_failures[failure];
  }
  connect_finished();
}

void Shard::join_timeout() {
  for (auto& m : members_)
    if (m.join == Member::Join::pending) join_done(m, "timeout");
}

void Shard::on_member_frame(Member& m, std::string_view text) {
  const int64_t now = mono_ns();
  json::monotonic_resource mr(parse_buffer_.data(), parse_buffer_.size());
  json::value holder;
  const json::object* o = parse_object(text, mr, holder);
  if (!o) {
    ++result_.errors;
    ++result_.error_codes["unexpected_frame"];
    return;
  }
  const std::string_view type = string_field(*o, "type");
  if (type == "message") return on_delivery(m, *o, now);
  const std::string_view ref = string_field(*o, "ref");
  int64_t seq = -1;
  if (type == "ack") {
    if (ref == "j") {
      const std::string_view status = string_field(*o, "status");
      return join_done(m, status == "joined" ? std::string() : "status:" + std::string(status));
    }
    if (parse_seq(ref, seq)) on_publish_answer(m, seq, *o, false);
  } else if (type == "error") {
    count_error(*o);
    if (ref == "j") return join_done(m, "error:" + std::string(string_field(*o, "code")));
    if (parse_seq(ref, seq)) on_publish_answer(m, seq, *o, true);
  }
  // Anything else (a pong, a notice) is not ours to count.
}

void Shard::on_delivery(Member& m, const json::object& o, int64_t now) {
  const auto* body = o.if_contains("body");
  int64_t t = 0, publisher = 0, seq = 0;
  if (string_field(o, "room") != m.room_name || !body || !body->is_object() || !int_field(body->as_object(), "t", t) ||
      !int_field(body->as_object(), "p", publisher) || !int_field(body->as_object(), "s", seq) ||
      publisher < m.room_first || publisher >= m.room_first + static_cast<int64_t>(m.tracks.size()) || seq < 0 ||
      seq >= kMaxRoomSeq) {
    ++result_.errors;
    ++result_.error_codes["unexpected_frame"];
    return;
  }
  if (publisher == m.index) {  // no member asked for its own publishes ("echo")
    ++result_.errors;
    ++result_.error_codes["own_publish"];
    return;
  }
  Track& track = m.tracks[static_cast<std::size_t>(publisher - m.room_first)];
  const auto s = static_cast<std::size_t>(seq);
  if (s >= track.received.size()) track.received.resize(std::max(s + 1, track.received.size() * 2 + 64), false);
  if (track.received[s]) {
    ++result_.duplicates;
    return;
  }
  track.received[s] = true;
  if (seq < track.max_seen) ++result_.out_of_order;
  track.max_seen = std::max(track.max_seen, seq);
  // In the window when its publish was: the same [start, end) for every shard of every worker.
  if (t >= start_ns_ && t < end_ns_) {
    ++result_.delivered;
    result_.latency.record(static_cast<uint64_t>(std::max<int64_t>(0, now - t)));
    control_.add_delivery();
  }
}

void Shard::on_publish_answer(Member& m, int64_t seq, const json::object& o, bool refused) {
  Pair& p = m.pub;
  if (!m.publisher || seq >= p.next_seq) return;
  if (in_window(p, seq)) {
    if (refused) {
      ++p.window_refused;
      ++result_.refused;
    } else {
      const std::string_view status = string_field(o, "status");
      if (status == "delivered") ++result_.acks_delivered;
      else if (status == "no_members") ++result_.acks_no_members;
      else ++result_.acks_failed;
    }
    --acks_outstanding_;
  }
  --p.in_flight;
  if (!options_.open_loop()) closed_loop_fill(p);
  check_drained();
}

WorkerResult& Shard::result() {
  if (room_ && !finalized_) {
    finalized_ = true;
    // Every publish of the window the server did not refuse owes one delivery to each other member.
    for (const auto& m : members_)
      if (m.publisher)
        result_.expected += static_cast<uint64_t>(std::max<int64_t>(0, m.pub.window_sent - m.pub.window_refused)) *
                            static_cast<uint64_t>(m.room_size - 1);
  }
  return result_;
}

}  // namespace wsg::bench
