# The ABI check: the C functions libcanopy exports (its dynamic symbols named
# canopy_*, read with nm) must be exactly those listed in LIST
# (bindings/c/abi.txt), and exactly those c.h declares. Adding, removing or
# renaming an exported function therefore fails this check until the list
# is updated on purpose, in the same commit, with a line in CHANGELOG.md.
#
#   cmake -DLIBRARY=<libcanopy.so> -DLIST=<abi.txt> -DHEADER=<c.h> -DNM=<nm>
#         [-DUPDATE=ON] -P check_abi.cmake
#
# UPDATE=ON rewrites LIST from the library instead of comparing (the build
# target canopy_abi_update runs that); the library must still match c.h.

include(${CMAKE_CURRENT_LIST_DIR}/c_header.cmake)
foreach(var LIBRARY LIST HEADER NM)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_abi.cmake: -D${var}=... is required")
  endif()
endforeach()

# The exported C functions: defined dynamic symbols whose name starts with
# canopy_ (the C++ API's symbols are mangled, _ZN6canopy...).
execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY}
                OUTPUT_VARIABLE nm_out ERROR_VARIABLE nm_err RESULT_VARIABLE nm_rc)
if(NOT nm_rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D --defined-only ${LIBRARY} failed (${nm_rc}): ${nm_err}")
endif()
string(REGEX MATCHALL "[ \t][A-Za-z][ \t]canopy_[A-Za-z0-9_]+" lines "${nm_out}")
set(exported "")
foreach(line ${lines})
  string(REGEX REPLACE "^[ \t][A-Za-z][ \t]" "" name "${line}")
  list(APPEND exported ${name})
endforeach()
list(REMOVE_DUPLICATES exported)
list(SORT exported)
list(LENGTH exported n_exported)
if(n_exported LESS 100)
  message(FATAL_ERROR "${LIBRARY} exports only ${n_exported} canopy_* symbols; is it libcanopy?")
endif()

# Exported and declared must agree whatever the list says.
canopy_c_header_functions(${HEADER} declared)
set(undeclared ${exported})
list(REMOVE_ITEM undeclared ${declared})
set(unexported ${declared})
list(REMOVE_ITEM unexported ${exported})
if(undeclared OR unexported)
  list(JOIN undeclared "\n  " undeclared)
  list(JOIN unexported "\n  " unexported)
  message(FATAL_ERROR "libcanopy and c.h disagree.\n"
                      "Exported but not declared in c.h:\n  ${undeclared}\n"
                      "Declared in c.h but not exported:\n  ${unexported}")
endif()

if(UPDATE)
  list(JOIN exported "\n" body)
  file(WRITE ${LIST}
       "# The C functions libcanopy exports, one per line, sorted: the ABI of\n"
       "# include/canopy/c.h. The test c_api_abi compares it with the built\n"
       "# library; after adding, removing or renaming a function, update it on\n"
       "# purpose (ninja canopy_abi_update) and say so in CHANGELOG.md.\n"
       "${body}\n")
  message(STATUS "wrote ${n_exported} functions to ${LIST}")
  return()
endif()

file(STRINGS ${LIST} listed REGEX "^[^#]")
list(SORT listed)
set(added ${exported})
list(REMOVE_ITEM added ${listed})
set(removed ${listed})
list(REMOVE_ITEM removed ${exported})
if(added OR removed)
  set(diff "")
  foreach(name ${added})
    string(APPEND diff "  + ${name}\n")
  endforeach()
  foreach(name ${removed})
    string(APPEND diff "  - ${name}\n")
  endforeach()
  message(FATAL_ERROR
          "libcanopy's exported C functions differ from ${LIST}:\n${diff}"
          "(+ exported but not listed, - listed but no longer exported). If the "
          "change is intended, update the list (ninja canopy_abi_update) and add a "
          "line to CHANGELOG.md.")
endif()
message(STATUS "libcanopy exports the ${n_exported} C functions of ${LIST}")
