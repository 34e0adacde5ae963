# How the test binaries are compiled and registered with CTest. Included by the top-level
# CMakeLists.txt when PAYOUTD_BUILD_TESTS is on. Measurements behind the defaults: docs/benchmarks.md,
# section "Test suite".

# --- Compiling the test code -------------------------------------------------------------------
# The product rooms keep the build type's flags (Release: -O3, benchmarked). The test TUs (test/**,
# plus the few product files compiled into a test binary) spend their time in gtest macros and
# fixtures, not in loops, so in optimised builds they compile at PAYOUTD_TEST_OPTIMIZATION instead;
# the code under test still runs at -O3 from the rooms' libraries and the payoutd binary. Debug
# builds (the ASan build) are -O0 already and are left alone. Empty keeps the build type's level.
# -O0, not -O1: it compiles in about 60% of -O1's time (payouts_v1_test.cc: 6.1 s against 10.5 s),
# and g++ 12 at -O1 reports false -Warray-bounds on std::string copies out of the tests' case
# tables. The few test files whose own loops are the work (PAYOUTD_TEST_HOT_SOURCES: the
# simulation's driver, the JSON fuzz loop) keep -O2.
set(PAYOUTD_TEST_OPTIMIZATION "-O0" CACHE STRING
    "Optimisation flag for test code in non-Debug builds (empty: the build type's own)")
option(PAYOUTD_TEST_PCH "One precompiled header (gtest + common std headers) for all test code" ON)
option(PAYOUTD_TEST_UNITY "Unity builds for the test binaries" OFF)
set(PAYOUTD_TEST_UNITY_BATCH 8 CACHE STRING "Test files per unity batch")

# The test PCH: what nearly every test TU includes and that never changes with the project.
set(PAYOUTD_TEST_PCH_HEADERS
    <gtest/gtest.h>
    <algorithm> <array> <atomic> <chrono> <condition_variable> <cstdint> <cstdio> <cstdlib>
    <filesystem> <fstream> <functional> <future> <map> <memory> <mutex> <optional> <random> <set>
    <sstream> <string> <string_view> <thread> <utility> <vector>)

# Applies the test-code settings to <target>. The first target it is called for (payoutd_testing,
# test/CMakeLists.txt) builds the precompiled header; every later one reuses it (REUSE_FROM), which
# needs identical compile flags: they all get the same warnings, optimisation and sanitizer flags.
set(PAYOUTD_TEST_HOT_SOURCES
    ${CMAKE_SOURCE_DIR}/test/engine/simulation_test.cc
    ${CMAKE_SOURCE_DIR}/test/json/fuzz_test.cc)
function(payoutd_test_code target)
  if(PAYOUTD_TEST_OPTIMIZATION)
    target_compile_options(${target} PRIVATE
        "$<$<NOT:$<CONFIG:Debug>>:${PAYOUTD_TEST_OPTIMIZATION}>")
    # Source options come after the target's on the command line, so -O2 wins for these; they
    # skip the precompiled header, which was built at the other level (-Winvalid-pch).
    get_target_property(target_sources ${target} SOURCES)
    foreach(source IN LISTS target_sources)
      if(source IN_LIST PAYOUTD_TEST_HOT_SOURCES)
        set_source_files_properties(${source} TARGET_DIRECTORY ${target} PROPERTIES
                                    COMPILE_OPTIONS "$<$<NOT:$<CONFIG:Debug>>:-O2>"
                                    SKIP_PRECOMPILE_HEADERS ON)
      endif()
    endforeach()
  endif()
  if(PAYOUTD_TEST_PCH)
    get_property(pch_donor GLOBAL PROPERTY PAYOUTD_TEST_PCH_DONOR)
    if(NOT pch_donor)
      target_precompile_headers(${target} PRIVATE ${PAYOUTD_TEST_PCH_HEADERS})
      set_property(GLOBAL PROPERTY PAYOUTD_TEST_PCH_DONOR ${target})
    else()
      target_precompile_headers(${target} REUSE_FROM ${pch_donor})
    endif()
  endif()
  if(PAYOUTD_TEST_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON
                          UNITY_BUILD_BATCH_SIZE ${PAYOUTD_TEST_UNITY_BATCH})
  endif()
endfunction()

# --- Registering GoogleTest binaries with CTest ---------------------------------------------------
# Every entry writes its GoogleTest results to <build>/test-results/<ctest-name>.json
# (GTEST_OUTPUT); scripts/test-report.py prints the per-entry table from them and checks, per
# group, that the entries together ran each test of the group exactly once.
set(PAYOUTD_TEST_RESULTS_DIR ${CMAKE_BINARY_DIR}/test-results)

# payoutd_gtest(<ctest-name> TARGET <test binary target>
#               [FILTER <gtest filter>]      tests of the binary this entry runs (default: all)
#               [SHARDS <n>]                 split into n CTest tests <ctest-name>_<i>of<n>
#                                            (GTEST_TOTAL_SHARDS/GTEST_SHARD_INDEX: gtest deals
#                                            the filtered tests round-robin, each to one shard)
#               [GROUP <name> GROUP_FILTER <gtest filter>]
#                                            entries of one group must together run the group
#                                            filter's tests of the binary exactly once
#                                            (default group: the binary, filter *)
#               [COST <seconds per shard>]   CTest starts the costliest first (-j)
#               [TIMEOUT <s>] [LABELS ...] [ENVIRONMENT ...])
# The environment always has PAYOUTD_BINARY, PAYOUTD_SHARED_DIR and PAYOUTD_SOURCE_DIR.
function(payoutd_gtest test_name)
  cmake_parse_arguments(G "" "TARGET;FILTER;SHARDS;GROUP;GROUP_FILTER;COST;TIMEOUT"
                        "LABELS;ENVIRONMENT" ${ARGN})
  if(NOT G_TARGET)
    message(FATAL_ERROR "payoutd_gtest(${test_name}): TARGET is required")
  endif()
  if(NOT G_FILTER)
    set(G_FILTER "*")
  endif()
  if(NOT G_SHARDS)
    set(G_SHARDS 1)
  endif()
  if(NOT G_GROUP)
    set(G_GROUP ${G_TARGET})
  endif()
  if(NOT G_GROUP_FILTER)
    set(G_GROUP_FILTER "*")
  endif()
  math(EXPR last_shard "${G_SHARDS} - 1")
  foreach(shard RANGE 0 ${last_shard})
    if(G_SHARDS GREATER 1)
      math(EXPR shard_number "${shard} + 1")
      set(name ${test_name}_${shard_number}of${G_SHARDS})
      set(shard_environment "GTEST_TOTAL_SHARDS=${G_SHARDS}" "GTEST_SHARD_INDEX=${shard}")
    else()
      set(name ${test_name})
      set(shard_environment "")
    endif()
    add_test(NAME ${name} COMMAND ${G_TARGET})
    set(environment
        "PAYOUTD_BINARY=$<TARGET_FILE:payoutd>"
        "PAYOUTD_SHARED_DIR=${CMAKE_SOURCE_DIR}/../shared"
        "PAYOUTD_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
        "GTEST_FILTER=${G_FILTER}"
        "GTEST_OUTPUT=json:${PAYOUTD_TEST_RESULTS_DIR}/${name}.json"
        ${shard_environment} ${G_ENVIRONMENT})
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "${environment}")
    if(G_COST)
      set_tests_properties(${name} PROPERTIES COST ${G_COST})
    endif()
    if(G_TIMEOUT)
      set_tests_properties(${name} PROPERTIES TIMEOUT ${G_TIMEOUT})
    endif()
    if(G_LABELS)
      set_tests_properties(${name} PROPERTIES LABELS "${G_LABELS}")
    endif()
    set_property(GLOBAL APPEND PROPERTY PAYOUTD_TEST_MANIFEST
                 "${name}\t$<TARGET_FILE:${G_TARGET}>\t${G_GROUP}\t${G_GROUP_FILTER}\t${G_FILTER}")
  endforeach()
endfunction()

# <build>/test-results/manifest.tsv: one line per CTest entry (name, binary, group, group filter,
# filter), read by scripts/test-report.py.
function(payoutd_write_test_manifest)
  get_property(lines GLOBAL PROPERTY PAYOUTD_TEST_MANIFEST)
  list(JOIN lines "\n" content)
  file(GENERATE OUTPUT ${PAYOUTD_TEST_RESULTS_DIR}/manifest.tsv CONTENT "${content}\n")
endfunction()
