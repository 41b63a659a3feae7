# Warnings as errors for Canopy's own code only (generated and third-party
# headers are included as SYSTEM so they do not trip -Werror). -Wrestrict
# is GCC's (clang, for the fuzzers, does not know it).
function(canopy_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-restrict>
    $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wpedantic -Werror>)
endfunction()
