# tests/render.cmake: the renderers (text, HTML, PNG, display bundle), their
# golden files, the fuzz target, the `iopsd render` subcommand, the benchmark.
set(RENDER_FIXTURES ${CMAKE_SOURCE_DIR}/tests/unit/test_render_fixtures.c)

iopsd_unit_test(test_render_golden
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_render_golden.c ${RENDER_FIXTURES}
  LIBS iopsd_render iopsd_measure iopsd_util)

# Not a test: a benchmark run by hand (see docs/rendering.md).
add_executable(bench_render ${CMAKE_SOURCE_DIR}/bench/bench_render.c ${RENDER_FIXTURES})
target_link_libraries(bench_render PRIVATE iopsd_render iopsd_measure iopsd_util)

iopsd_unit_test(test_render_png
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_render_png.c ${RENDER_FIXTURES}
  LIBS iopsd_render iopsd_measure iopsd_util PkgConfig::PNG)

iopsd_fuzz_target(render ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_render.c
  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/render iopsd_render iopsd_measure iopsd_util m)

add_test(NAME render_cli
  COMMAND /usr/bin/python3 -m unittest -v test_render_cli
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
set_tests_properties(render_cli PROPERTIES TIMEOUT 120
  ENVIRONMENT "IOPSD_BINARY_DIR=${CMAKE_BINARY_DIR}")
iopsd_unit_test(test_render_timeline
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_render_timeline.c
  LIBS iopsd_render iopsd_measure PkgConfig::PNG)
