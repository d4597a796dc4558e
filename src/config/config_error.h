// The one exception of start-up: a bad configuration file, value, flag, key or secret file.
#pragma once

#include <stdexcept>

namespace wsg {

// Thrown for a bad config file or value; what() names the file, the key and the line.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace wsg
