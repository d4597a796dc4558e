# The Debian package (CPack's DEB generator): `cpack -G DEB` in a Release build tree makes
# wsg_<version>-1_<arch>.deb; scripts/package.sh makes it and checks it (contents, an install into a
# scratch root, `wsg --version`, `wsg check-config`). Included last by CMakeLists.txt.
#
# What the package holds, all in the install component `deb`, which a plain `cmake --install`
# leaves out (EXCLUDE_FROM_ALL), so that installing from source still puts only the executables
# and their man pages under CMAKE_INSTALL_PREFIX:
#   /usr/bin/wsg, /usr/bin/wsg-bench (with WSG_BUILD_BENCH)
#   /usr/share/man/man1/wsg.1.gz, wsg-bench.1.gz (gzip -9n, as Debian policy wants)
#   /lib/systemd/system/wsg-master.service, wsg-node@.service (examples/systemd, as they are)
#   /etc/wsg/master.toml, node-1.toml, node-2.toml (examples/config; conffiles), with
#     http.static_dir pointing at /usr/share/wsg/web, the demo chat page (examples/web)
#   /usr/share/doc/wsg/: copyright, changelog.Debian.gz, README.Debian, the operator's documents (gzipped)
# Maintainer scripts: packaging/debian/postinst (the wsg system user, /var/lib/wsg; nothing enabled
# or started) and postrm (purge: /var/lib/wsg if empty; the user stays).
# The files derived from the sources (gzipped, or with one line changed) are made at configure
# time under <build>/packaging/, and the tree reconfigures when a source changes.

if(WSG_FUZZ OR NOT WSG_SANITIZE STREQUAL "")
  return()  # not a tree to package
endif()

set(WSG_PACKAGE_MAINTAINER "wsg maintainers <maintainers@wsg.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

set(wsg_pkg_src ${CMAKE_CURRENT_SOURCE_DIR})
set(wsg_pkg_out ${CMAKE_CURRENT_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${wsg_pkg_out})

find_program(WSG_GZIP gzip REQUIRED)
# gzip -9n: no name or time stamp in the header, so the same source gives the same bytes.
function(wsg_pkg_gzip source output)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${source})
  execute_process(COMMAND ${WSG_GZIP} -9nc ${source} OUTPUT_FILE ${output} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${source} failed: ${rc}")
  endif()
endfunction()

# Man pages.
wsg_pkg_gzip(${wsg_pkg_src}/man/wsg.1 ${wsg_pkg_out}/wsg.1.gz)
set(wsg_pkg_man ${wsg_pkg_out}/wsg.1.gz)
if(TARGET wsg-bench)
  wsg_pkg_gzip(${wsg_pkg_src}/man/wsg-bench.1 ${wsg_pkg_out}/wsg-bench.1.gz)
  list(APPEND wsg_pkg_man ${wsg_pkg_out}/wsg-bench.1.gz)
endif()

# Documents for /usr/share/doc/wsg (over 4 KiB: gzipped, as policy wants).
set(wsg_pkg_docs ${wsg_pkg_src}/packaging/debian/copyright ${wsg_pkg_src}/packaging/debian/README.Debian)
foreach(doc deployment operations security)
  wsg_pkg_gzip(${wsg_pkg_src}/docs/${doc}.md ${wsg_pkg_out}/${doc}.md.gz)
  list(APPEND wsg_pkg_docs ${wsg_pkg_out}/${doc}.md.gz)
endforeach()

# changelog.Debian.gz, which Debian policy asks of every package: one entry for the version, dated
# now (or SOURCE_DATE_EPOCH); the project's history is its git log.
string(TIMESTAMP wsg_pkg_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${wsg_pkg_out}/changelog.Debian
     "wsg (${PROJECT_VERSION}-1) unstable; urgency=medium\n\n"
     "  * Built from the project's sources by CPack (cmake/Packaging.cmake).\n\n"
     " -- ${WSG_PACKAGE_MAINTAINER}  ${wsg_pkg_date}\n")
execute_process(COMMAND ${WSG_GZIP} -9nf ${wsg_pkg_out}/changelog.Debian RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip changelog.Debian failed: ${rc}")
endif()
list(APPEND wsg_pkg_docs ${wsg_pkg_out}/changelog.Debian.gz)

# The example configs, with the demo page's directory made absolute: the units run wsg from /,
# where the examples' relative "examples/web" does not exist (the node would exit 2).
set(wsg_pkg_configs master.toml node-1.toml node-2.toml)
set(wsg_pkg_conffiles "")
foreach(config IN LISTS wsg_pkg_configs)
  set(source ${wsg_pkg_src}/examples/config/${config})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${source})
  file(READ ${source} text)
  if(text MATCHES "static_dir = \"examples/web\"")
    string(REPLACE "static_dir = \"examples/web\"" "static_dir = \"/usr/share/wsg/web\"" text "${text}")
  elseif(NOT config STREQUAL "master.toml")
    message(FATAL_ERROR "examples/config/${config}: no 'static_dir = \"examples/web\"' line; update cmake/Packaging.cmake")
  endif()
  file(WRITE ${wsg_pkg_out}/etc/${config} "${text}")
  string(APPEND wsg_pkg_conffiles "/etc/wsg/${config}\n")
endforeach()
file(WRITE ${wsg_pkg_out}/conffiles "${wsg_pkg_conffiles}")
foreach(script postinst postrm)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${wsg_pkg_src}/packaging/debian/${script})
endforeach()

# Install rules of the component `deb` only. Paths under the prefix are relative (CPack's DEB
# generator puts them under /usr); /etc and /lib are absolute.
install(TARGETS wsg RUNTIME DESTINATION bin COMPONENT deb EXCLUDE_FROM_ALL)
if(TARGET wsg-bench)
  install(TARGETS wsg-bench RUNTIME DESTINATION bin COMPONENT deb EXCLUDE_FROM_ALL)
endif()
install(FILES ${wsg_pkg_man} DESTINATION share/man/man1 COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${wsg_pkg_src}/examples/systemd/wsg-master.service ${wsg_pkg_src}/examples/systemd/wsg-node@.service
        DESTINATION /lib/systemd/system COMPONENT deb EXCLUDE_FROM_ALL)
list(TRANSFORM wsg_pkg_configs PREPEND ${wsg_pkg_out}/etc/)
install(FILES ${wsg_pkg_configs} DESTINATION /etc/wsg COMPONENT deb EXCLUDE_FROM_ALL)
install(DIRECTORY ${wsg_pkg_src}/examples/web/ DESTINATION share/wsg/web COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${wsg_pkg_docs} DESTINATION share/doc/wsg COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${wsg_pkg_src}/packaging/debian/lintian-overrides DESTINATION share/lintian/overrides
        RENAME wsg COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME wsg)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${WSG_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "horizontally scalable WebSocket messaging service")
# The extended description: lines under 80 characters (dpkg shows them as they are).
set(CPACK_PACKAGE_DESCRIPTION
    "wsg holds users' WebSocket sessions on any number of nodes and delivers a
message to every session of its recipient, on whichever node it is; nodes
hand messages to each other over ZeroMQ and a master keeps the directory of
which user is on which node. Rooms, presence, a server API, signed webhooks,
JWT auth, TLS, CURVE-encrypted cluster links and Prometheus metrics.

This package installs wsg and the load generator wsg-bench, their man pages,
systemd units for a master and for nodes, and example configurations in
/etc/wsg. It creates the wsg system user and enables or starts nothing: see
/usr/share/doc/wsg/README.Debian.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL deb)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_PACKAGE_NAME wsg)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared libraries' packages from dpkg-shlibdeps (dpkg-dev; scripts/setup.sh installs it), and
# passwd for postinst's groupadd/useradd.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${wsg_pkg_src}/packaging/debian/postinst ${wsg_pkg_src}/packaging/debian/postrm ${wsg_pkg_out}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGE_FILE_NAME wsg)  # unused by DEB-DEFAULT; keeps the staging directory's name short
include(CPack)
