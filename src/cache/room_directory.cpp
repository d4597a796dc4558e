#include "cache/room_directory.h"

#include <algorithm>
#include <utility>

namespace wsg {

// ---------------------------------------------------------------------------------------------
// NodeSet

bool RoomDirectory::NodeSet::contains(Index n) const {
  if (n < kNearNodes) return (near_ >> n) & 1u;
  return far_ && std::find(far_->begin(), far_->end(), n) != far_->end();
}

bool RoomDirectory::NodeSet::insert(Index n) {
  if (contains(n)) return false;
  if (n < kNearNodes) {
    near_ |= uint64_t{1} << n;
  } else {
    if (!far_) far_ = std::make_unique<std::vector<Index>>();
    far_->push_back(n);
  }
  return true;
}

bool RoomDirectory::NodeSet::erase(Index n) {
  if (n < kNearNodes) {
    const uint64_t bit = uint64_t{1} << n;
    const bool had = (near_ & bit) != 0;
    near_ &= ~bit;
    return had;
  }
  if (!far_) return false;
  auto it = std::find(far_->begin(), far_->end(), n);
  if (it == far_->end()) return false;
  *it = far_->back();
  far_->pop_back();
  if (far_->empty()) far_.reset();
  return true;
}

std::size_t RoomDirectory::NodeSet::size() const {
  return static_cast<std::size_t>(std::popcount(near_)) + (far_ ? far_->size() : 0);
}

// ---------------------------------------------------------------------------------------------
// Nodes and rooms

RoomDirectory::Index RoomDirectory::find_node(std::string_view id) const {
  auto it = node_ids_.find(id);
  return it == node_ids_.end() ? kNone : it->second;
}

RoomDirectory::Index RoomDirectory::intern_node(std::string_view id) {
  const Index found = find_node(id);
  if (found != kNone) return found;
  Index n;
  if (!free_nodes_.empty()) {
    // The lowest free index, so that live nodes stay in the mask's range.
    auto lowest = std::min_element(free_nodes_.begin(), free_nodes_.end());
    n = *lowest;
    *lowest = free_nodes_.back();
    free_nodes_.pop_back();
  } else {
    nodes_.emplace_back();
    n = static_cast<Index>(nodes_.size() - 1);
  }
  NodeSlot& slot = nodes_[n];
  slot.id = std::string(id);
  node_ids_.emplace(slot.id, n);
  return n;
}

RoomDirectory::Index RoomDirectory::find_room(std::string_view name) const {
  auto it = room_index_.find(name);
  return it == room_index_.end() ? kNone : it->second;
}

RoomDirectory::Index RoomDirectory::add_room(std::string_view name) {
  Index r;
  if (!free_rooms_.empty()) {
    r = free_rooms_.back();
    free_rooms_.pop_back();
  } else {
    rooms_.emplace_back();
    r = static_cast<Index>(rooms_.size() - 1);
  }
  RoomRec& rec = rooms_[r];
  rec.name = std::string(name);
  rec.everyone = rec.changed = false;
  rec.in_use = true;
  room_index_.emplace(rec.name, r);
  return r;
}

void RoomDirectory::maybe_free_room(Index r) {
  RoomRec& rec = rooms_[r];
  if (!rec.in_use || !rec.nodes.empty() || rec.changed) return;
  clear_watchers(r);
  room_index_.erase(std::string_view(rec.name));
  std::string().swap(rec.name);
  rec.in_use = false;
  free_rooms_.push_back(r);
}

void RoomDirectory::clear_flag(Index n, Index r, uint8_t bit) {
  auto& rooms = nodes_[n].rooms;
  auto it = rooms.find(r);
  if (it == rooms.end()) return;
  it->second = static_cast<uint8_t>(it->second & ~bit);
  if (it->second == 0) rooms.erase(it);
}

bool RoomDirectory::add(std::string_view room, std::string_view node) {
  const Index n = intern_node(node);
  Index r = find_room(room);
  if (r == kNone) r = add_room(room);
  RoomRec& rec = rooms_[r];
  const bool first = rec.nodes.empty();
  if (!rec.nodes.insert(n)) return false;
  nodes_[n].rooms[r] |= kMember;
  ++membership_count_;
  if (first) ++room_count_;
  mark_changed(r);
  return true;
}

bool RoomDirectory::remove(std::string_view room, std::string_view node) {
  const Index n = find_node(node);
  const Index r = find_room(room);
  if (n == kNone || r == kNone) return false;
  RoomRec& rec = rooms_[r];
  if (!rec.nodes.erase(n)) return false;
  clear_flag(n, r, kMember);
  --membership_count_;
  if (rec.nodes.empty()) --room_count_;
  mark_changed(r);
  maybe_free_room(r);
  return true;
}

std::vector<std::string> RoomDirectory::nodes_for(std::string_view room) const {
  std::vector<std::string> out;
  const Index r = find_room(room);
  if (r == kNone) return out;
  const NodeSet& set = rooms_[r].nodes;
  out.reserve(set.size());
  set.for_each([&](Index n) { out.push_back(nodes_[n].id); });
  std::sort(out.begin(), out.end());
  return out;
}

bool RoomDirectory::occupied(std::string_view room) const {
  const Index r = find_room(room);
  return r != kNone && !rooms_[r].nodes.empty();
}

std::vector<std::string> RoomDirectory::rooms_of(std::string_view node) const {
  std::vector<std::string> out;
  const Index n = find_node(node);
  if (n == kNone) return out;
  for (const auto& [r, flags] : nodes_[n].rooms)
    if (flags & kMember) out.push_back(rooms_[r].name);
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Watchers and invalidations

void RoomDirectory::clear_watchers(Index r) {
  RoomRec& rec = rooms_[r];
  rec.watchers.for_each([&](Index n) { clear_flag(n, r, kWatcher); });
  rec.watchers.clear();
  rec.everyone = false;
}

void RoomDirectory::note_lookup(std::string_view room, std::string_view node) {
  const Index r = find_room(room);
  if (r == kNone || rooms_[r].nodes.empty()) return;  // an empty route is never cached
  if (rooms_[r].everyone) return;
  const Index n = intern_node(node);
  RoomRec& rec = rooms_[r];
  if (rec.watchers.contains(n)) return;
  if (rec.watchers.size() >= kMaxWatchersPerRoom) {
    clear_watchers(r);
    rec.everyone = true;
    return;
  }
  rec.watchers.insert(n);
  nodes_[n].rooms[r] |= kWatcher;
}

void RoomDirectory::mark_changed(Index r) {
  // A room nobody looked up since its last change has no cached route to invalidate.
  RoomRec& rec = rooms_[r];
  if (!watched(rec) || rec.changed) return;
  rec.changed = true;
  changed_.push_back(r);
}

std::vector<RoomDirectory::Invalidation> RoomDirectory::take_invalidations() {
  std::vector<Invalidation> out;
  out.reserve(changed_.size());
  for (const Index r : changed_) {
    RoomRec& rec = rooms_[r];
    if (rec.everyone) {
      out.push_back(Invalidation{rec.name, {}, true});
    } else if (!rec.watchers.empty()) {
      Invalidation inv{rec.name, {}, false};
      inv.nodes.reserve(rec.watchers.size());
      rec.watchers.for_each([&](Index n) { inv.nodes.push_back(nodes_[n].id); });
      std::sort(inv.nodes.begin(), inv.nodes.end());
      out.push_back(std::move(inv));
    }
    clear_watchers(r);
    rec.changed = false;
    maybe_free_room(r);
  }
  changed_.clear();
  std::sort(out.begin(), out.end(), [](const Invalidation& a, const Invalidation& b) { return a.room < b.room; });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Node deaths

std::size_t RoomDirectory::drop_node(std::string_view node) {
  const Index n = find_node(node);
  if (n == kNone) return 0;
  // Take the map: freeing a room below clears its watchers' flags, this node's included.
  boost::unordered_flat_map<Index, uint8_t> rooms;
  rooms.swap(nodes_[n].rooms);
  std::size_t was_in = 0;
  for (const auto& [r, flags] : rooms) {
    RoomRec& rec = rooms_[r];
    if (flags & kWatcher) rec.watchers.erase(n);
    if (flags & kMember) {
      rec.nodes.erase(n);
      --membership_count_;
      ++was_in;
      if (rec.nodes.empty()) --room_count_;
    }
  }
  // Rooms left with no node (and no change pending) are forgotten once all are updated.
  for (const auto& [r, flags] : rooms) maybe_free_room(r);
  // The node has no trace left in any room: its index can serve the next new node.
  NodeSlot& slot = nodes_[n];
  node_ids_.erase(slot.id);
  std::string().swap(slot.id);
  free_nodes_.push_back(n);
  return was_in;
}

}  // namespace wsg
