# `iopsd record` / `iopsd plot`: the series math (moving average, RDP, rates),
# the JSON Lines form, the chart's pixels, the JSONL fuzz target, end to end.
iopsd_unit_test(test_record SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_record.c
  LIBS iopsd_render iopsd_measure iopsd_util)
iopsd_fuzz_target(record_jsonl ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_record_jsonl.c
  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/record_jsonl iopsd_measure)
add_test(NAME record_cli
  COMMAND /usr/bin/python3 -m unittest -v test_record
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(record_cli PROPERTIES TIMEOUT 300
  ENVIRONMENT "IOPSD=${CMAKE_BINARY_DIR}/iopsd;IOPSD_HELPERS=${CMAKE_BINARY_DIR}/tests/helpers")
