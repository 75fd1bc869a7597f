# Tests of measure/ (report model, /proc parsing, the proc backend) and of
# `iopsd measure`.
iopsd_unit_test(test_procfs SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_procfs.c LIBS iopsd_measure)
iopsd_unit_test(test_report SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_report.c LIBS iopsd_measure)
iopsd_unit_test(test_findings SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_findings.c LIBS iopsd_measure)
iopsd_unit_test(test_util SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_util.c LIBS iopsd_util)
iopsd_fuzz_target(procfs ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_procfs.c
  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/procfs iopsd_measure)
iopsd_fuzz_target(report_json ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_report_json.c
  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/report_json iopsd_measure)

add_test(NAME measure_cli
  COMMAND /usr/bin/python3 -m unittest -v test_measure
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(measure_cli PROPERTIES TIMEOUT 300
  ENVIRONMENT "IOPSD=${CMAKE_BINARY_DIR}/iopsd;IOPSD_HELPERS=${CMAKE_BINARY_DIR}/tests/helpers")

# Findings on workloads built to trigger each rule, and their counterparts.
add_test(NAME findings_cli
  COMMAND /usr/bin/python3 -m unittest -v test_findings
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(findings_cli PROPERTIES TIMEOUT 120
  ENVIRONMENT "IOPSD_BINARY_DIR=${CMAKE_BINARY_DIR}")
# The timeline: analysis (fdprof's vectors), EVENT parsing, the sample store.
iopsd_unit_test(test_timeline SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_timeline.c LIBS iopsd_measure)
iopsd_fuzz_target(timeline_events ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_timeline_events.c
  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/timeline_events iopsd_measure)
add_test(NAME timeline_cli
  COMMAND /usr/bin/python3 -m unittest -v test_timeline
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(timeline_cli PROPERTIES TIMEOUT 300
  ENVIRONMENT "IOPSD=${CMAKE_BINARY_DIR}/iopsd;IOPSD_HELPERS=${CMAKE_BINARY_DIR}/tests/helpers")
# While the command runs: the SIGUSR1 status block, the live alerts; the
# fd-growth finding over a timeline (test_live.c: the pure parts).
iopsd_unit_test(test_live SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_live.c LIBS iopsd_measure)
add_test(NAME live_cli
  COMMAND /usr/bin/python3 -m unittest -v test_live
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(live_cli PROPERTIES TIMEOUT 120
  ENVIRONMENT "IOPSD=${CMAKE_BINARY_DIR}/iopsd;IOPSD_HELPERS=${CMAKE_BINARY_DIR}/tests/helpers")
