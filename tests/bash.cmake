# The native bash engine (server/bash_*.c): unit tests that drive it with poll,
# fuzz targets for its parsers, and integration tests over jupyter_client
# against the real kernel.

# The engine as a library for the tests (the program compiles server/*.c itself).
add_library(iopsd_bash STATIC
  ${CMAKE_SOURCE_DIR}/server/bash_session.c
  ${CMAKE_SOURCE_DIR}/server/bash_query.c
  ${CMAKE_SOURCE_DIR}/server/bash_proc.c)
target_link_libraries(iopsd_bash PUBLIC iopsd_util)
if(IOPSD_FUZZ)
  # coverage feedback from the parsers themselves, not only the harness
  target_compile_options(iopsd_bash PRIVATE -fsanitize=fuzzer-no-link)
endif()

iopsd_unit_test(test_bash_session
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_bash_session.c LIBS iopsd_bash)
iopsd_unit_test(test_bash_proc
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_bash_proc.c LIBS iopsd_bash)
iopsd_unit_test(test_bash_query
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_bash_query.c LIBS iopsd_bash)
# Under the sanitizers, 100 MB of output takes long: the same exact checks on 16 MB.
if(IOPSD_SANITIZE)
  set_property(TEST test_bash_session APPEND PROPERTY ENVIRONMENT "IOPSD_BASH_BIG_MB=16")
endif()

# /proc/<pid>/syscall and stat parsers, and the completion / inspection
# planners, on any bytes (libFuzzer targets with IOPSD_FUZZ; the corpora are
# replayed by ctest in every build).
iopsd_fuzz_target(bash_proc ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_bash_proc.c
                  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/bash_proc iopsd_bash)
iopsd_fuzz_target(bash_query ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_bash_query.c
                  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/bash_query iopsd_bash)

# Over jupyter_client against the real kernel, with the kernel spec that
# tests/kernel.cmake generates into build/jupyter (through JUPYTER_PATH).
if(TARGET iopsd AND TARGET iopsd_protocol)
  if(IOPSD_SANITIZE)
    set(BASH_SANITIZED 1)
  else()
    set(BASH_SANITIZED 0)
  endif()
  file(GLOB BASH_PY_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_bash*.py)
  foreach(py ${BASH_PY_TESTS})
    get_filename_component(mod ${py} NAME_WE)
    add_test(NAME ${mod} COMMAND /usr/bin/python3 -m unittest -v ${mod}
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
    set_tests_properties(${mod} PROPERTIES TIMEOUT 300 ENVIRONMENT
      "JUPYTER_PATH=${CMAKE_BINARY_DIR}/jupyter;IOPSD_SANITIZED=${BASH_SANITIZED};PYTHONDONTWRITEBYTECODE=1")
  endforeach()
endif()
