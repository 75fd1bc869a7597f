# tests/trace.cmake: the ptrace tracer backend (measure/trace*_linux.c).
if(NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
  return()
endif()

# The tw_* helpers are workloads, not code under test: build them without
# sanitizers, whose runtimes read /proc at start-up (extra, build-dependent
# file reads) and whose leak checker ptrace-attaches at exit (refused under a
# tracer).
foreach(h tw_io tw_attach tw_noptrace tw_truth)
  if(TARGET ${h})
    foreach(prop COMPILE_OPTIONS LINK_OPTIONS)
      get_target_property(opts ${h} ${prop})
      if(opts)
        list(FILTER opts EXCLUDE REGEX "sanitize")
        set_target_properties(${h} PROPERTIES ${prop} "${opts}")
      endif()
    endforeach()
  endif()
endforeach()

iopsd_unit_test(test_trace_state SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_trace_state.c
                LIBS iopsd_measure)
iopsd_unit_test(test_trace_attach SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_trace_attach.c
                LIBS iopsd_measure)
iopsd_fuzz_target(trace_fdinfo ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_trace_fdinfo.c
                  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/trace_fdinfo iopsd_measure)
iopsd_fuzz_target(trace_cmsg ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_trace_cmsg.c
                  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/trace_cmsg iopsd_measure)

# Integration: exact counts through `iopsd measure --backend trace --json`.
# IOPSD_TEST_SCALE (default 1) scales the flat-memory test's syscall count
# (10 million at 1; the sanitizer build uses 0.1).
add_test(NAME trace_integration
         COMMAND /usr/bin/python3 -m unittest -v test_trace
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(trace_integration PROPERTIES TIMEOUT 300
  ENVIRONMENT "IOPSD_BINARY_DIR=${CMAKE_BINARY_DIR};IOPSD_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
add_test(NAME trace_flat_memory
         COMMAND /usr/bin/python3 -m unittest -v test_trace_memory
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
if(IOPSD_SANITIZE)
  set(TRACE_SCALE 0.1)
else()
  set(TRACE_SCALE 1)
endif()
set_tests_properties(trace_flat_memory PROPERTIES TIMEOUT 600
  ENVIRONMENT "IOPSD_BINARY_DIR=${CMAKE_BINARY_DIR};IOPSD_SOURCE_DIR=${CMAKE_SOURCE_DIR};IOPSD_TEST_SCALE=${TRACE_SCALE}")

# The per-process table on a known tree, with the tracer and with proc.
add_test(NAME ptree_integration
         COMMAND /usr/bin/python3 -m unittest -v test_ptree
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(ptree_integration PROPERTIES TIMEOUT 120
  ENVIRONMENT "IOPSD_BINARY_DIR=${CMAKE_BINARY_DIR}")

# The blind spots of issue 12 against tests/helpers/tw_truth.c's own tallies.
add_test(NAME trace_truth
         COMMAND /usr/bin/python3 -m unittest -v test_trace_truth
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(trace_truth PROPERTIES TIMEOUT 300
  ENVIRONMENT "IOPSD_BINARY_DIR=${CMAKE_BINARY_DIR};IOPSD_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
