#include "telemetry/build_info.h"

// Defined for this file only, by cmake/Version.cmake.
#ifndef WSG_GIT_COMMIT
#define WSG_GIT_COMMIT "unknown"
#endif
#ifndef WSG_BUILD_TYPE
#define WSG_BUILD_TYPE "none"
#endif

namespace wsg {

const BuildInfo& build_info() {
  static const BuildInfo info{WSG_VERSION, WSG_GIT_COMMIT, WSG_BUILD_TYPE};
  return info;
}

std::string version_line(const char* program) {
  const BuildInfo& b = build_info();
  return std::string(program) + " " + b.version + " (commit " + b.commit + ", " + b.build_type + ")";
}

}  // namespace wsg
