# canopy_c_header_functions(HEADER OUT): the names of the functions that the C
# header HEADER (include/canopy/c.h) declares with CANOPY_EXPORT, in the
# header's order, into the variable OUT. Fails when it finds fewer than
# 100 (the pattern would have gone stale). Included by check_coverage.cmake
# and check_abi.cmake, which run as cmake -P scripts.
function(canopy_c_header_functions header out)
  file(READ ${header} text)
  string(REGEX MATCHALL "CANOPY_EXPORT[^;(]*[^a-z0-9_](canopy_[a-z0-9_]+)\\(" decls "${text}")
  set(names "")
  foreach(decl ${decls})
    string(REGEX REPLACE ".*[^a-z0-9_](canopy_[a-z0-9_]+)\\($" "\\1" name "${decl}")
    list(APPEND names ${name})
  endforeach()
  list(LENGTH names count)
  if(count LESS 100)
    message(FATAL_ERROR "found only ${count} declarations in ${header}; the pattern is stale")
  endif()
  set(${out} "${names}" PARENT_SCOPE)
endfunction()
