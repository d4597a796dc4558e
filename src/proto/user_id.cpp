#include "proto/user_id.h"

#include <array>

namespace wsg::proto {

namespace {

constexpr std::array<bool, 256> make_user_id_table() {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : {'.', '_', '@', ':', '-'}) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kUserIdChar = make_user_id_table();

}  // namespace

bool valid_user_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxUserIdBytes) return false;
  for (char c : id) {
    if (!kUserIdChar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

}  // namespace wsg::proto
