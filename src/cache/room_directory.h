// The master's room directory: which nodes have at least one member of which room, plus, per
// room, the nodes that looked the room up since its last change (to invalidate their cached route).
// No I/O, no clock of its own: owned by the master's single ZeroMQ thread. Node liveness is not
// its business: the caller drops a dead node with drop_node() and resolves "everyone" to the alive
// nodes itself.
//
// Node ids are few (tens) and room names many (100,000 and more), so node ids are interned as
// small indices (an index freed by drop_node() is reused by the next new node): a room's node set
// and its watcher set are each a 64-bit mask of node indices, with a side vector (allocated only
// then) for indices past the 63rd. Each node keeps, in a flat hash map, the rooms it has members of
// or watches, so that drop_node() costs O(rooms of that node) and not O(all rooms).
//
// Costs: add, remove and note_lookup are O(1) (hashing the room name; plus O(nodes past the 64th)
// when there are such nodes); nodes_for is O(k log k) for the room's k nodes; take_invalidations
// is O(changed rooms x their watchers) plus sorting; drop_node is O(rooms of the node), plus the
// watchers of each room it leaves empty (forgotten with them).
//
// Memory (counted allocations, 100,000 rooms over 20 nodes): about 120 bytes for a room with one
// node and a name of up to 15 bytes: a 72-byte record (name 32, node and watcher sets 16 each,
// flags), its slot in the name index, and the node's map entry for it; 40 bytes more for a name of
// 24 bytes (its own allocation). Each further node or watcher of a room costs one entry in that
// node's map: 14-33 bytes, with the map's load.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

namespace wsg {

class RoomDirectory {
 public:
  // Bound on the nodes remembered per room for invalidation. Past it the room is "watched by
  // everyone": its next change invalidates it at every alive node.
  static constexpr std::size_t kMaxWatchersPerRoom = 64;

  RoomDirectory() = default;
  RoomDirectory(const RoomDirectory&) = delete;
  RoomDirectory& operator=(const RoomDirectory&) = delete;

  // Node `node` has members of `room`. True when the room's node set changed (false: already there).
  bool add(std::string_view room, std::string_view node);
  // Node `node` has no member of `room` any more. True when the set changed. A room with no node
  // left is forgotten once no invalidation is pending for it.
  bool remove(std::string_view room, std::string_view node);
  // The nodes with members of `room`, ordered by id (empty: none).
  std::vector<std::string> nodes_for(std::string_view room) const;
  // Whether some node has members of `room` (O(1), no allocation).
  bool occupied(std::string_view room) const;

  // `node` looked `room` up (it may cache the route now). Ignored when the room has no node (an
  // empty route is never cached), which keeps the watchers bounded by the rooms that exist. Past
  // kMaxWatchersPerRoom distinct nodes the room is watched by everyone.
  void note_lookup(std::string_view room, std::string_view node);

  struct Invalidation {
    std::string room;
    std::vector<std::string> nodes;  // the watchers, ordered by id (empty when everyone)
    bool everyone = false;           // watched by more than kMaxWatchersPerRoom nodes: invalidate at every alive node
  };
  // For every room whose node set changed since the last call and that has watchers: who to tell,
  // ordered by room. Clears the watchers of every changed room and the changed set (rooms with no
  // watcher are left out). A change is only recorded while the room is watched: a node that looks
  // the room up after an unwatched change gets the new route, so there is nothing to invalidate.
  std::vector<Invalidation> take_invalidations();

  // The node died or left: removed from every room and from every room's watchers. Does NOT mark
  // the rooms changed (every node is told NODE_DOWN and drops that node from its cached routes
  // itself). Returns the rooms it was in.
  std::size_t drop_node(std::string_view node);

  std::size_t room_count() const { return room_count_; }              // rooms with at least one node
  std::size_t membership_count() const { return membership_count_; }  // (room, node) pairs
  // The rooms `node` has members of, ordered (O(rooms the node has members of or watches)).
  std::vector<std::string> rooms_of(std::string_view node) const;

 private:
  using Index = uint32_t;
  static constexpr Index kNone = UINT32_MAX;
  static constexpr unsigned kNearNodes = 64;  // node indices below this are bits of a mask

  // A set of node indices: a mask for the first 64, an unsorted side vector past them.
  class NodeSet {
   public:
    bool contains(Index n) const;
    bool insert(Index n);  // true when added
    bool erase(Index n);   // true when removed
    bool empty() const { return near_ == 0 && !far_; }
    std::size_t size() const;
    void clear() {
      near_ = 0;
      far_.reset();
    }
    template <typename F>
    void for_each(F&& f) const {
      for (uint64_t bits = near_; bits != 0; bits &= bits - 1) f(static_cast<Index>(std::countr_zero(bits)));
      if (far_)
        for (const Index n : *far_) f(n);
    }

   private:
    uint64_t near_ = 0;
    std::unique_ptr<std::vector<Index>> far_;  // nullptr when empty
  };

  struct RoomRec {
    std::string name;
    NodeSet nodes;
    NodeSet watchers;
    bool everyone = false;  // watched by every node (watchers is then empty)
    bool changed = false;   // in changed_
    bool in_use = false;
  };

  // What a node is to a room, in the node's map.
  static constexpr uint8_t kMember = 1;
  static constexpr uint8_t kWatcher = 2;

  struct NodeSlot {
    std::string id;
    boost::unordered_flat_map<Index, uint8_t> rooms;  // room index -> kMember | kWatcher
  };
  struct SvHash {
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  Index find_node(std::string_view id) const;
  Index intern_node(std::string_view id);
  Index find_room(std::string_view name) const;
  Index add_room(std::string_view name);
  // Frees the room's record when it has no node and no change pending.
  void maybe_free_room(Index r);
  // Clears flag `bit` of room `r` in node `n`'s map (erasing the entry when nothing is left).
  void clear_flag(Index n, Index r, uint8_t bit);
  void clear_watchers(Index r);
  bool watched(const RoomRec& rec) const { return rec.everyone || !rec.watchers.empty(); }
  // Records a change of the room's node set, if anyone watches the room.
  void mark_changed(Index r);

  std::deque<NodeSlot> nodes_;                          // by node index
  std::vector<Index> free_nodes_;                       // indices of dropped nodes, to reuse
  std::map<std::string, Index, std::less<>> node_ids_;  // id -> node index
  std::deque<RoomRec> rooms_;                           // by room index; records never move
  std::vector<Index> free_rooms_;
  boost::unordered_flat_map<std::string_view, Index, SvHash> room_index_;  // name (in rooms_) -> index
  std::vector<Index> changed_;                                             // rooms with `changed` set
  std::size_t room_count_ = 0;
  std::size_t membership_count_ = 0;
};

}  // namespace wsg
