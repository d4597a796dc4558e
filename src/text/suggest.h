// "Did you mean" hints: the closest of the known names to a mistyped one (Levenshtein distance),
// for unknown configuration keys and unknown command-line flags alike. No I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace wsg {

// The number of single-character insertions, deletions and substitutions turning `a` into `b`.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `got` when it is at most `max_distance` edits away (the first such one on
// a tie); "" when none is that close.
std::string closest(std::string_view got, const std::vector<std::string>& candidates, std::size_t max_distance = 2);

}  // namespace wsg
