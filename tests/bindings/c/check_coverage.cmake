# Fails unless every function declared in HEADER (include/canopy/c.h) is
# named in TEST_SOURCE (c_api_test.c): the C test must drive the whole API.
# Usage: cmake -DHEADER=... -DTEST_SOURCE=... -P check_coverage.cmake

include(${CMAKE_CURRENT_LIST_DIR}/c_header.cmake)
canopy_c_header_functions(${HEADER} names)
file(READ ${TEST_SOURCE} test)
set(missing "")
foreach(name ${names})
  string(REGEX MATCH "[^a-z0-9_]${name}\\(" used "${test}")
  if(NOT used)
    list(APPEND missing ${name})
  endif()
endforeach()
list(LENGTH names declared)
if(missing)
  list(JOIN missing "\n  " missing)
  message(FATAL_ERROR "c_api_test.c does not call these functions of c.h:\n  ${missing}")
endif()
message(STATUS "c_api_test.c calls all ${declared} functions declared in c.h")
