# fs_usage (issue 6): the parser and aggregator, the import command, the fuzz
# corpus replay, and the streaming test.
iopsd_unit_test(test_fsusage
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_fsusage.c
  LIBS iopsd_measure iopsd_util)

iopsd_fuzz_target(fsusage ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_fsusage.c
  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/fsusage iopsd_measure iopsd_util)
