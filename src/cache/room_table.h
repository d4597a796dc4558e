// A node's rooms: room -> the member sessions on this node, and session -> the rooms it is in.
// No I/O, no clock, single-threaded: owned by the node's router strand. Sessions are opaque keys
// (the router uses the session's address); the table never dereferences them.
//
// A room's members are one contiguous vector (what the fan-out iterates per publish). Leaving
// swap-removes from it: the last member moves into the hole, and every membership knows where it
// sits on both sides (the room keeps, beside each member, the index of the membership in its
// session's list; the session's list keeps the member's position in the room), so nothing is ever
// searched for in a room, however large.
//
// Costs: join and leave are O(1) amortised in the size of the room, plus O(rooms of the session)
// to find the membership in the session's list (bounded by max_rooms); member() likewise;
// room_count_of() is O(1); leave_all is O(rooms of the session) plus sorting the rooms it emptied;
// rooms_of and rooms() sort what they return. A room's vectors shrink when a quarter full (past 64
// slots), so an emptied crowd gives its memory back.
//
// Memory (counted allocations, 100,000 sessions): about 26 bytes per membership of a large room
// (its Member, 16 bytes, and its index in the session's list, 4, in the room's vectors; its
// (room, position) entry in the session's list, 8; give or take vector slack); about 235 bytes for
// a room of one member with its session and a name of up to 15 bytes (an 88-byte record, its
// name-index slot, the room's two vectors, the session's map slot and list), plus the name's own
// allocation past 15 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

namespace wsg {

class RoomTable {
 public:
  using SessionKey = uint64_t;  // opaque; the router uses the session's address
  // echo and notices are the join's options, kept for the router (the table gives them no meaning).
  struct Member {
    SessionKey session = 0;
    bool echo = false;
    bool notices = false;
  };

  RoomTable() = default;
  RoomTable(const RoomTable&) = delete;
  RoomTable& operator=(const RoomTable&) = delete;

  enum class JoinResult { joined, already_member, too_many_rooms, room_full };
  struct JoinOutcome {
    JoinResult result = JoinResult::joined;
    bool first_local = false;  // the room had no member on this node before this join
  };
  // max_rooms: rooms one session may be in (0 = unbounded); max_members: members of one room on
  // this node (0 = unbounded). already_member: the flags are updated to the new values (not a
  // failure; checked before the bounds, so a member at a bound can still change its flags).
  // Refusals change nothing; a join that breaks both bounds is too_many_rooms.
  JoinOutcome join(SessionKey session, std::string_view room, bool echo, bool notices, std::size_t max_rooms,
                   std::size_t max_members);

  struct LeaveOutcome {
    bool was_member = false;
    bool last_local = false;  // the room has no member on this node now
  };
  LeaveOutcome leave(SessionKey session, std::string_view room);
  // The session ended: leaves every room it was in. Returns the rooms left with no local member (ordered).
  std::vector<std::string> leave_all(SessionKey session);

  // The members of `room` on this node (any order), or nullptr when it has none. Valid until the next mutation.
  const std::vector<Member>* members(std::string_view room) const;
  // The membership of `session` in `room`, or nullptr. Valid until the next mutation.
  const Member* member(SessionKey session, std::string_view room) const;
  std::size_t room_count_of(SessionKey session) const;
  // The rooms `session` is in (ordered).
  std::vector<std::string> rooms_of(SessionKey session) const;
  // Every room with at least one local member (ordered): replayed to a new master.
  std::vector<std::string> rooms() const;
  std::size_t room_count() const { return room_index_.size(); }
  std::size_t membership_count() const { return membership_count_; }

 private:
  using Index = uint32_t;
  static constexpr Index kNone = UINT32_MAX;

  struct RoomRec {
    std::string name;
    std::vector<Member> members;
    std::vector<Index> entry_of;  // entry_of[i]: where members[i]'s membership sits in its session's list
    bool in_use = false;
  };
  // One membership, in its session's list.
  struct Entry {
    Index room;
    Index pos;  // in the room's members
  };
  using Entries = std::vector<Entry>;
  struct SvHash {
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  Index find_room(std::string_view name) const;
  Index add_room(std::string_view name);
  void free_room(Index r);
  // Where room `r` is in `entries`, or kNone.
  static Index find_entry(const Entries& entries, Index r);
  // Swap-removes the member at `pos` from room `r` (the moved member's entry follows it). Frees the
  // room when it is left empty; returns whether it was.
  bool remove_member(Index r, Index pos);

  std::deque<RoomRec> rooms_;  // by room index; records never move
  std::vector<Index> free_rooms_;
  boost::unordered_flat_map<std::string_view, Index, SvHash> room_index_;  // name (in rooms_) -> index
  boost::unordered_flat_map<SessionKey, Entries> sessions_;                // sessions in >= 1 room
  std::size_t membership_count_ = 0;
};

}  // namespace wsg
