# The build's identity, shown by `wsg --version`, /healthz and wsg_build_info (docs/operations.md):
# the project's version, the git commit and the build type.
#
# WSG_GIT_COMMIT: the commit, taken at configure time from the source tree's own git checkout
# (`git rev-parse --short=12 HEAD`, "-dirty" appended when tracked files differ from it); set it on
# the command line to override (-DWSG_GIT_COMMIT=abc123def456, e.g. a package built from a tarball
# by a script that knows the commit). "unknown" when the source tree is not a git checkout of its
# own (a tarball, even one unpacked inside some other repository) or git is missing.
#
# The values reach one source file only (src/telemetry/build_info.cpp) as compile definitions, so a
# new commit recompiles that file and nothing else. A commit or a checkout re-runs CMake (the
# branch's ref and HEAD are configure dependencies); other edits to the tree after configuring do
# not update "-dirty".

set(WSG_GIT_COMMIT "" CACHE STRING "Commit shown by wsg --version (default: from git at configure time, else 'unknown')")

set(_wsg_commit "${WSG_GIT_COMMIT}")
if(_wsg_commit STREQUAL "")
  set(_wsg_commit "unknown")
  find_package(Git QUIET)
  if(GIT_FOUND)
    execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --show-toplevel
                    WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
                    OUTPUT_VARIABLE _wsg_git_top OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _wsg_git_rc ERROR_QUIET)
    if(_wsg_git_rc EQUAL 0)
      file(REAL_PATH "${_wsg_git_top}" _wsg_git_top)
      file(REAL_PATH "${CMAKE_CURRENT_SOURCE_DIR}" _wsg_source_top)
    endif()
    # Only the source tree's own checkout: a tarball unpacked inside another repository is "unknown".
    if(_wsg_git_rc EQUAL 0 AND _wsg_git_top STREQUAL _wsg_source_top)
      execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --short=12 HEAD
                      WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
                      OUTPUT_VARIABLE _wsg_head OUTPUT_STRIP_TRAILING_WHITESPACE
                      RESULT_VARIABLE _wsg_git_rc ERROR_QUIET)
      if(_wsg_git_rc EQUAL 0 AND NOT _wsg_head STREQUAL "")
        set(_wsg_commit "${_wsg_head}")
        execute_process(COMMAND "${GIT_EXECUTABLE}" status --porcelain --untracked-files=no
                        WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
                        OUTPUT_VARIABLE _wsg_status OUTPUT_STRIP_TRAILING_WHITESPACE
                        RESULT_VARIABLE _wsg_git_rc ERROR_QUIET)
        if(_wsg_git_rc EQUAL 0 AND NOT _wsg_status STREQUAL "")
          string(APPEND _wsg_commit "-dirty")
        endif()
        # Re-run CMake when HEAD moves: a checkout changes HEAD, a commit changes the branch's ref.
        execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --git-path HEAD
                        WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
                        OUTPUT_VARIABLE _wsg_path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
        cmake_path(ABSOLUTE_PATH _wsg_path BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}")
        if(EXISTS "${_wsg_path}")
          set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_wsg_path}")
        endif()
        execute_process(COMMAND "${GIT_EXECUTABLE}" symbolic-ref -q HEAD
                        WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
                        OUTPUT_VARIABLE _wsg_branch OUTPUT_STRIP_TRAILING_WHITESPACE
                        RESULT_VARIABLE _wsg_git_rc ERROR_QUIET)
        if(_wsg_git_rc EQUAL 0 AND NOT _wsg_branch STREQUAL "")
          execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --git-path "${_wsg_branch}"
                          WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
                          OUTPUT_VARIABLE _wsg_path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
          cmake_path(ABSOLUTE_PATH _wsg_path BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}")
          # A packed ref has no file of its own: then only HEAD is watched.
          if(EXISTS "${_wsg_path}")
            set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_wsg_path}")
          endif()
        endif()
      endif()
    endif()
  endif()
endif()
# It goes into a C string, a Prometheus label and JSON: a short token of safe characters only.
if(NOT _wsg_commit MATCHES "^[A-Za-z0-9._+-]+$" OR _wsg_commit MATCHES "^.{65}")
  message(FATAL_ERROR "WSG_GIT_COMMIT='${_wsg_commit}': at most 64 characters of [A-Za-z0-9._+-]")
endif()
set(WSG_BUILD_COMMIT "${_wsg_commit}")
message(STATUS "wsg ${PROJECT_VERSION}, commit ${WSG_BUILD_COMMIT}")

# The build type: CMAKE_BUILD_TYPE (the configuration, with a multi-configuration generator).
set_property(SOURCE "${CMAKE_CURRENT_SOURCE_DIR}/src/telemetry/build_info.cpp" APPEND PROPERTY COMPILE_DEFINITIONS
  "WSG_GIT_COMMIT=\"${WSG_BUILD_COMMIT}\""
  "WSG_BUILD_TYPE=\"$<IF:$<BOOL:$<CONFIG>>,$<CONFIG>,none>\"")
