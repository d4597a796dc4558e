// Logging set-up (spdlog): text or JSON lines, one named logger per component.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "config.h"

namespace wsg::logging {

// Configures the default level and format for every logger (existing and future).
// Throws ConfigError for an unknown level or format.
void setup(const LogConfig& config);

// The logger of a component ("node", "master", "router", "zmq", "http", ...), created on first use.
std::shared_ptr<spdlog::logger> get(const std::string& component);

}  // namespace wsg::logging
