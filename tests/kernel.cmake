# tests/kernel.cmake: the Jupyter protocol layer (unit + fuzz replay) and the
# kernel (jupyter_kernel_test conformance, own integration tests, console,
# nbconvert). Integration tests use a kernel spec generated into the build
# tree (build/jupyter/kernels/iops-bash) through JUPYTER_PATH.
if(TARGET iopsd_protocol)
  iopsd_unit_test(test_protocol SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_protocol.c
                  LIBS iopsd_protocol PkgConfig::OPENSSL)
  iopsd_unit_test(test_kernel_core SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_kernel_core.c
                  ${CMAKE_SOURCE_DIR}/server/kernel_core.c ${CMAKE_SOURCE_DIR}/server/kernel_iops.c
                  LIBS iopsd_protocol iopsd_magics PkgConfig::OPENSSL)
  iopsd_fuzz_target(frames ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_frames.c
                    ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/frames iopsd_protocol PkgConfig::OPENSSL)
  iopsd_unit_test(test_zmtp_scan SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_zmtp_scan.c
                  LIBS iopsd_protocol PkgConfig::OPENSSL)
  iopsd_fuzz_target(zmtp_scan ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_zmtp_scan.c
                    ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/zmtp_scan iopsd_protocol)
  iopsd_fuzz_target(zmtp_oversize ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_zmtp_oversize.c
                    ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/zmtp_oversize iopsd_protocol
                    PkgConfig::OPENSSL)
  iopsd_fuzz_target(connfile ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_connfile.c
                    ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/connfile iopsd_protocol PkgConfig::OPENSSL)
endif()

# The kernel spec the integration tests use: build/jupyter/kernels/iops-bash,
# pointing at build/iopsd, found through JUPYTER_PATH.
if(TARGET iopsd AND TARGET iopsd_protocol)
  set(IOPSD_JUPYTER_DIR ${CMAKE_BINARY_DIR}/jupyter)
  add_custom_command(OUTPUT ${IOPSD_JUPYTER_DIR}/kernels/iops-bash/kernel.json
    COMMAND iopsd install --data-dir ${IOPSD_JUPYTER_DIR}
    DEPENDS iopsd VERBATIM)
  add_custom_target(iops_bash_kernelspec ALL
    DEPENDS ${IOPSD_JUPYTER_DIR}/kernels/iops-bash/kernel.json)

  if(IOPSD_SANITIZE)
    set(KERNEL_SANITIZED 1)
  else()
    set(KERNEL_SANITIZED 0)
  endif()
  set(KERNEL_TEST_ENV
    "JUPYTER_PATH=${IOPSD_JUPYTER_DIR}"
    "IOPSD=${CMAKE_BINARY_DIR}/iopsd"
    "IOPSD_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "IOPSD_BINARY_DIR=${CMAKE_BINARY_DIR}"
    "IOPSD_SANITIZED=${KERNEL_SANITIZED}"
    "PYTHONDONTWRITEBYTECODE=1")
  file(GLOB KERNEL_PY_TESTS CONFIGURE_DEPENDS
    ${CMAKE_SOURCE_DIR}/tests/integration/test_kernel*.py)
  foreach(py ${KERNEL_PY_TESTS})
    get_filename_component(mod ${py} NAME_WE)
    add_test(NAME ${mod} COMMAND /usr/bin/python3 -m unittest -v ${mod}
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
    set_tests_properties(${mod} PROPERTIES TIMEOUT 300 ENVIRONMENT "${KERNEL_TEST_ENV}")
  endforeach()
endif()
