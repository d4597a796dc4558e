// Logging set-up (spdlog): text or JSON lines, one named logger per component.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "config/config.h"

namespace wsg::logging {

// Configures the default level and format for every logger (existing and future).
// Throws ConfigError for an unknown level or format.
void setup(const LogConfig& config);

// The logger of a component ("node", "master", "router", "zmq", "http", ...), created on first use.
std::shared_ptr<spdlog::logger> get(const std::string& component);

// A string from the network made safe for one log line: printable ASCII is kept (a backslash
// doubled), every other byte written as \xHH (newlines, ANSI escapes, invalid UTF-8), and more
// than `max` bytes cut with a note of the full length. Decoded cluster strings already follow
// strict rules (docs/wire-encoding.md §5); this guards every log line anyway.
std::string printable(std::string_view s, std::size_t max = 200);

// For warnings an event can repeat at message rate (a bound hit, malformed input): at most one
// line per `interval`, saying how many were held back meanwhile (the metrics count them all).
// Not thread-safe: one per thread or strand.
class Throttle {
 public:
  explicit Throttle(std::chrono::steady_clock::duration interval) : interval_(interval) {}
  // True when a line may be written now; `suppressed` is then the number of events held back
  // since the last line.
  bool allow(uint64_t& suppressed) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_) {
      ++held_;
      return false;
    }
    next_ = now + interval_;
    suppressed = held_;
    held_ = 0;
    return true;
  }

 private:
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point next_{};
  uint64_t held_ = 0;
};

}  // namespace wsg::logging
