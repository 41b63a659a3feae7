# cmake -DCXX=... -DSTD=17 -DINCLUDE=... -DSOURCE=... -DCASES=N -P check_fails.cmake
# Compiles SOURCE without CASE (must succeed), then with CASE=1..N (each
# must fail, and with an error naming a deleted function or no matching
# conversion: the id types' refusal, not some unrelated breakage).
foreach(var CXX STD INCLUDE SOURCE CASES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_fails.cmake needs -D${var}=...")
  endif()
endforeach()
set(base ${CXX} -std=c++${STD} -fsyntax-only -I${INCLUDE} ${SOURCE})
execute_process(COMMAND ${base} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the correct uses in ${SOURCE} do not compile:\n${out}")
endif()
foreach(case RANGE 1 ${CASES})
  execute_process(COMMAND ${base} -DCASE=${case} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  if(rc EQUAL 0)
    message(FATAL_ERROR "case ${case} of ${SOURCE} compiled, but must not")
  endif()
  if(NOT out MATCHES "deleted|no matching|cannot convert|could not convert")
    message(FATAL_ERROR "case ${case} of ${SOURCE} failed for another reason:\n${out}")
  endif()
  message(STATUS "case ${case}: refused as it must be")
endforeach()
