#include "channel.h"

#include "client.h"

#include <boost/json.hpp>

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace wsg::bench {

namespace json = boost::json;

bool Channel::send(const json::object& message) {
  std::string line = json::serialize(message);
  line += '\n';
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(write_fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void Channel::fill() {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(read_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      return;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    return;
  }
}

std::optional<json::object> Channel::buffered() {
  const auto nl = buffer_.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  const std::string line = buffer_.substr(0, nl);
  buffer_.erase(0, nl + 1);
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) throw std::runtime_error("bad line from the other process: " + line.substr(0, 200));
  return std::move(v.as_object());
}

std::optional<json::object> Channel::receive(int64_t deadline_ns) {
  for (;;) {
    if (auto m = buffered()) return m;
    if (eof_) return std::nullopt;
    const int64_t left = deadline_ns - mono_ns();
    if (left <= 0) return std::nullopt;
    pollfd p{read_fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left / 1'000'000 + 1, 60'000)));
    if (r < 0 && errno != EINTR) {
      eof_ = true;
      return std::nullopt;
    }
    if (r > 0) fill();
  }
}

}  // namespace wsg::bench
