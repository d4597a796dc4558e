// What this build is: the version, the git commit and the build type (cmake/Version.cmake), for
// `wsg --version`, /healthz and the wsg_build_info metric.
#pragma once

#include <string>

namespace wsg {

struct BuildInfo {
  const char* version;     // the project's version, "0.1.0"
  const char* commit;      // "abc123def456", "abc123def456-dirty" or "unknown"
  const char* build_type;  // CMAKE_BUILD_TYPE: "Release", "Debug", ... ("none" when empty)
};

const BuildInfo& build_info();

// "wsg 0.1.0 (commit abc123def456, Release)": the first two words stay "wsg <version>".
std::string version_line(const char* program = "wsg");

}  // namespace wsg
