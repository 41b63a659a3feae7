# `cmake --install` puts in place what a program needs to use Canopy:
#
#   lib/libcanopy.so*                       the library (C API and C++ API)
#   include/canopy/*.h                      the public headers, c.h included
#   lib/cmake/Canopy/                       find_package(Canopy) -> canopy::canopy
#   lib/pkgconfig/canopy.pc                 pkg-config --cflags --libs canopy
#
# (plus bin/canopy, installed by bindings/cli, and bin/canopy-bench, which
# `canopy bench` runs, by bench/harness when the benchmarks are built).
# Components: `runtime` is the shared library, `development` the rest. Both the CMake package and
# canopy.pc locate the prefix relative to themselves, so an installed tree
# can be moved (and `cmake --install <build> --prefix <dir>` works whatever
# CMAKE_INSTALL_PREFIX was at configure time). tests/bindings/c/
# install_test.sh installs into a temporary prefix and builds a consumer both
# ways.

if(NOT TARGET canopy)
  return()
endif()

include(CMakePackageConfigHelpers)

set(CANOPY_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Canopy)
set(CANOPY_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(TARGETS canopy EXPORT CanopyTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    COMPONENT runtime
    NAMELINK_COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/canopy
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT development
  FILES_MATCHING PATTERN "*.h")
install(EXPORT CanopyTargets
  NAMESPACE canopy::
  FILE CanopyTargets.cmake
  DESTINATION ${CANOPY_INSTALL_CMAKEDIR}
  COMPONENT development)

# The package configuration: libcanopy's dependencies are private (it is a
# shared library), so finding Canopy needs nothing but its targets.
set(_canopy_config_in ${CMAKE_CURRENT_BINARY_DIR}/CanopyConfig.cmake.in)
file(WRITE ${_canopy_config_in} [==[
# Canopy's CMake package: find_package(Canopy) gives the target canopy::canopy
# (libcanopy; include "canopy/c.h" for the C API, "canopy/db.h" for C++17 or later).
@PACKAGE_INIT@

include("${CMAKE_CURRENT_LIST_DIR}/CanopyTargets.cmake")
check_required_components(Canopy)
]==])
configure_package_config_file(${_canopy_config_in}
  ${CMAKE_CURRENT_BINARY_DIR}/CanopyConfig.cmake
  INSTALL_DESTINATION ${CANOPY_INSTALL_CMAKEDIR})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/CanopyConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/CanopyConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/CanopyConfigVersion.cmake
  DESTINATION ${CANOPY_INSTALL_CMAKEDIR}
  COMPONENT development)

# canopy.pc, with the prefix found from the file's own place (${pcfiledir}).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(CANOPY_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(CANOPY_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(CANOPY_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _canopy_pc_up "/prefix/${CANOPY_INSTALL_PKGCONFIGDIR}" "/prefix")
  string(REGEX REPLACE "/$" "" _canopy_pc_up "${_canopy_pc_up}")
  set(CANOPY_PC_PREFIX "\${pcfiledir}/${_canopy_pc_up}")
  set(CANOPY_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(CANOPY_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/canopy.pc CONTENT [==[
prefix=@CANOPY_PC_PREFIX@
libdir=@CANOPY_PC_LIBDIR@
includedir=@CANOPY_PC_INCLUDEDIR@

Name: canopy
Description: Embedded graph database for multi-tenant account hierarchies (C API: canopy/c.h)
Version: @PROJECT_VERSION@
Libs: -L${libdir} -lcanopy
Cflags: -I${includedir}
]==] @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/canopy.pc
  DESTINATION ${CANOPY_INSTALL_PKGCONFIGDIR}
  COMPONENT development)
