# tests/kernel.cmake: the Jupyter protocol layer (unit + fuzz replay) and the
# kernel (jupyter_kernel_test conformance, own integration tests, console,
# nbconvert). Integration tests use a kernel spec generated into the build
# tree (build/jupyter/kernels/iops-bash) through JUPYTER_PATH.
if(TARGET iopsd_protocol)
  iopsd_unit_test(test_protocol SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_protocol.c
                  LIBS iopsd_protocol)
  iopsd_fuzz_target(frames ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_frames.c
                    ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/frames iopsd_protocol)
  iopsd_fuzz_target(connfile ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_connfile.c
                    ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/connfile iopsd_protocol)
endif()
