// Quoting strings for the two text formats wsg writes: JSON (client frames, JSON log lines) and
// TOML (`wsg check-config`, `wsg keygen`). One escaper per format, so that every writer of a
// format agrees on it. No I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wsg::text {

// Appends `s` as the contents of a JSON string (no quotes): '"', '\\' and every byte below 0x20
// escaped (\b \f \n \r \t where JSON has a short form, else \u00xx); valid UTF-8 passes through
// unchanged, and each byte of an invalid UTF-8 sequence becomes \ufffd, so that the output is
// valid JSON whatever the input.
void append_json_escaped(std::string& out, std::string_view s);

// `s` as a TOML basic string, quotes included: '"', '\\' and the control characters (below 0x20,
// and 0x7f) escaped (\b \t \n \f \r, else \u00XX); valid UTF-8 passes through unchanged and each
// byte of an invalid sequence becomes \uFFFD (a TOML file must be UTF-8).
std::string toml_string(std::string_view s);

// Length of the valid UTF-8 sequence that starts at s[i] (a byte >= 0x80), or 0 when it is not
// one: overlong forms, surrogates and code points above U+10FFFF are invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

}  // namespace wsg::text
