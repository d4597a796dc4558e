// wsg-bench: newline-delimited JSON objects over a pipe or socket pair, between the coordinating
// parent and a worker (a process, or a thread when there is only one).
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace wsg::bench {

class Channel {
 public:
  Channel(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}

  int read_fd() const { return read_fd_; }
  // Writes one object as a line (blocking). False when the other end is gone.
  bool send(const boost::json::object& message);
  // The next object, waiting until the deadline (CLOCK_MONOTONIC ns). nullopt on timeout or end
  // of stream (see eof()). Throws std::runtime_error on a line that is not a JSON object.
  std::optional<boost::json::object> receive(int64_t deadline_ns);
  // For a caller polling several channels: reads what is available now (after poll said so).
  void fill();
  // A complete line already buffered, parsed.
  std::optional<boost::json::object> buffered();
  bool eof() const { return eof_; }

 private:
  int read_fd_;
  int write_fd_;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace wsg::bench
