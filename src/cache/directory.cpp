#include "cache/directory.h"

#include <algorithm>
#include <utility>

namespace wsg {

Directory::HelloResult Directory::hello(const std::string& node_id, uint64_t incarnation, const std::string& ws_url,
                                        const std::string& events, int64_t now_ms) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) {
    NodeInfo info;
    info.id = node_id;
    info.incarnation = incarnation;
    info.ws_url = ws_url;
    info.events = events;
    info.alive = true;
    info.last_heartbeat_ms = now_ms;
    nodes_.emplace(node_id, std::move(info));
    return HelloResult::accepted;
  }
  NodeInfo& info = it->second;
  if (info.alive && info.incarnation != incarnation) return HelloResult::duplicate;
  if (!info.alive) {
    // mark_dead() already dropped its sessions; this keeps the invariant "dead => empty" explicit.
    drop_sessions(info);
    info.incarnation = incarnation;
    info.alive = true;
  }
  info.ws_url = ws_url;
  info.events = events;
  info.last_heartbeat_ms = now_ms;
  return HelloResult::accepted;
}

bool Directory::touch(std::string_view node_id, int64_t now_ms) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || !it->second.alive) return false;
  it->second.last_heartbeat_ms = now_ms;
  return true;
}

bool Directory::is_alive(std::string_view node_id) const {
  auto it = nodes_.find(node_id);
  return it != nodes_.end() && it->second.alive;
}

bool Directory::register_session(const std::string& node_id, const std::string& user, const std::string& session) {
  auto nit = nodes_.find(node_id);
  if (nit == nodes_.end() || !nit->second.alive) return false;

  auto [uit, user_new] = users_.try_emplace(user);
  auto& user_nodes = uit->second.by_node;
  auto [sit, node_new] = user_nodes.try_emplace(node_id);
  if (!sit->second.insert(session).second) return false;  // already registered: nothing changed
  // (user_new implies node_new, and a fresh set always takes the insert: no empty leftovers.)
  (void)user_new;

  by_node_[node_id][user].insert(session);
  ++nit->second.sessions;
  ++session_count_;
  if (node_new) mark_changed(user);
  return true;
}

bool Directory::unregister_session(const std::string& node_id, const std::string& user, const std::string& session) {
  auto uit = users_.find(user);
  if (uit == users_.end()) return false;
  auto& user_nodes = uit->second.by_node;
  auto sit = user_nodes.find(node_id);
  if (sit == user_nodes.end() || sit->second.erase(session) == 0) return false;

  bool node_gone = false;
  if (sit->second.empty()) {
    user_nodes.erase(sit);
    node_gone = true;
  }
  if (user_nodes.empty()) users_.erase(uit);

  if (auto bit = by_node_.find(node_id); bit != by_node_.end()) {
    if (auto bu = bit->second.find(user); bu != bit->second.end()) {
      bu->second.erase(session);
      if (bu->second.empty()) bit->second.erase(bu);
    }
    if (bit->second.empty()) by_node_.erase(bit);
  }
  // Sessions only live on known alive nodes (mark_dead drops them), so the node exists.
  if (auto nit = nodes_.find(node_id); nit != nodes_.end() && nit->second.sessions > 0) --nit->second.sessions;
  --session_count_;
  if (node_gone) mark_changed(user);
  return true;
}

std::vector<const Directory::NodeInfo*> Directory::nodes_for(std::string_view user) const {
  std::vector<const NodeInfo*> out;
  auto uit = users_.find(user);
  if (uit == users_.end()) return out;
  out.reserve(uit->second.by_node.size());
  for (const auto& [node_id, sessions] : uit->second.by_node) {
    auto nit = nodes_.find(node_id);
    if (nit != nodes_.end() && nit->second.alive) out.push_back(&nit->second);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Directory::sessions_of(std::string_view user) const {
  std::vector<std::pair<std::string, std::string>> out;
  auto uit = users_.find(user);
  if (uit == users_.end()) return out;
  for (const auto& [node_id, sessions] : uit->second.by_node)
    for (const auto& s : sessions) out.emplace_back(node_id, s);
  return out;
}

bool Directory::online(std::string_view user) const { return users_.find(user) != users_.end(); }

void Directory::note_lookup(const std::string& user, const std::string& node_id) {
  if (!is_alive(node_id) || !online(user)) return;
  Watchers& w = watchers_[user];
  if (w.everyone) return;
  if (w.nodes.size() >= kMaxWatchersPerUser && !w.nodes.contains(node_id)) {
    w.everyone = true;
    w.nodes.clear();
    return;
  }
  w.nodes.insert(node_id);
}

std::vector<std::pair<std::string, std::vector<std::string>>> Directory::take_invalidations() {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  out.reserve(changed_.size());
  for (const auto& user : changed_) {
    auto wit = watchers_.find(user);
    if (wit == watchers_.end()) continue;
    std::vector<std::string> targets;
    if (wit->second.everyone) {
      for (const auto& [id, info] : nodes_)
        if (info.alive) targets.push_back(id);
    } else {
      for (const auto& id : wit->second.nodes)
        if (is_alive(id)) targets.push_back(id);
    }
    watchers_.erase(wit);
    if (!targets.empty()) out.emplace_back(user, std::move(targets));
  }
  changed_.clear();
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void Directory::mark_changed(const std::string& user) {
  // A user nobody looked up since its last change has no cached route to invalidate.
  if (watchers_.find(user) != watchers_.end()) changed_.insert(user);
}

void Directory::drop_sessions(NodeInfo& info) {
  auto bit = by_node_.find(info.id);
  if (bit != by_node_.end()) {
    for (const auto& [user, sessions] : bit->second) {
      session_count_ -= sessions.size();
      auto uit = users_.find(user);
      if (uit == users_.end()) continue;
      uit->second.by_node.erase(info.id);
      if (uit->second.by_node.empty()) users_.erase(uit);
      mark_changed(user);
    }
    by_node_.erase(bit);
  }
  info.sessions = 0;
}

void Directory::mark_dead(const std::string& node_id) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || !it->second.alive) return;
  drop_sessions(it->second);
  it->second.alive = false;
}

std::vector<std::string> Directory::expire(int64_t now_ms, int64_t timeout_ms) {
  std::vector<std::string> dead;
  const int64_t cutoff = now_ms - timeout_ms;
  for (auto& [id, info] : nodes_) {
    if (info.alive && info.last_heartbeat_ms < cutoff) {
      drop_sessions(info);
      info.alive = false;
      dead.push_back(id);
    }
  }
  return dead;
}

std::vector<const Directory::NodeInfo*> Directory::nodes() const {
  std::vector<const NodeInfo*> out;
  out.reserve(nodes_.size());
  for (const auto& [id, info] : nodes_) out.push_back(&info);
  return out;
}

const Directory::NodeInfo* Directory::node(std::string_view id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

}  // namespace wsg
