# fs_usage (issue 6): the parser and aggregator, the import command, the fuzz
# corpus replay, and the streaming test.
iopsd_unit_test(test_fsusage
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_fsusage.c
  LIBS iopsd_measure iopsd_util)

iopsd_fuzz_target(fsusage ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_fsusage.c
  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/fsusage iopsd_measure iopsd_util)

# `iopsd import fs_usage` end to end, with the streaming test (1 GiB by
# default; a quarter of that under the sanitizers, IOPSD_TEST_SCALE).
set(FSU_SCALE 1)
if(IOPSD_SANITIZE)
  set(FSU_SCALE 0.25)
endif()
add_test(NAME import_fsusage
  COMMAND /usr/bin/python3 -m unittest -v test_import
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(import_fsusage PROPERTIES TIMEOUT 300
  ENVIRONMENT "IOPSD_SOURCE_DIR=${CMAKE_SOURCE_DIR};IOPSD_BINARY_DIR=${CMAKE_BINARY_DIR};IOPSD_TEST_SCALE=${FSU_SCALE}")

# The macOS runner, built on Linux too and driven by a stand-in fs_usage
# (strace underneath); needs root and strace, else skipped.
if(NOT APPLE)
  iopsd_unit_test(test_fsusage_runner
    SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_fsusage_runner.c
            ${CMAKE_SOURCE_DIR}/measure/fsusage_darwin.c
    LIBS iopsd_measure iopsd_util)
  target_compile_definitions(test_fsusage_runner PRIVATE
    FSU_BIN="${CMAKE_SOURCE_DIR}/tests/integration/fake_fs_usage.py")
  set_tests_properties(test_fsusage_runner PROPERTIES SKIP_RETURN_CODE 77)
endif()
