# Tests of magics/: parsing `%%iops` / `%iops`.
iopsd_unit_test(test_magic SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_magic.c LIBS iopsd_magics)
iopsd_fuzz_target(magic ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_magic.c
  ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/magic iopsd_magics)
