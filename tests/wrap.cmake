# tests/wrap.cmake: the wrap kernel (issue 11): the protocol pieces it needs
# (unit + fuzz replay) and, over jupyter_client, `iopsd kernel --wrap python3`
# against Debian's ipykernel through a spec generated into the build tree
# (build/jupyter/kernels/iops-python3, found through JUPYTER_PATH).
if(TARGET iopsd_protocol)
  iopsd_unit_test(test_wrap_protocol SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_wrap_protocol.c
                  LIBS iopsd_protocol PkgConfig::OPENSSL)
  iopsd_fuzz_target(jraw ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_jraw.c
                    ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/jraw iopsd_protocol PkgConfig::OPENSSL)
  iopsd_fuzz_target(kernelspec ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_kernelspec.c
                    ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/kernelspec iopsd_protocol
                    PkgConfig::OPENSSL)
endif()

if(TARGET iopsd AND TARGET iopsd_protocol AND EXISTS /usr/share/jupyter/kernels/python3/kernel.json)
  set(IOPSD_JUPYTER_DIR ${CMAKE_BINARY_DIR}/jupyter)
  add_custom_command(OUTPUT ${IOPSD_JUPYTER_DIR}/kernels/iops-python3/kernel.json
    COMMAND iopsd install --wrap python3 --data-dir ${IOPSD_JUPYTER_DIR}
    DEPENDS iopsd VERBATIM)
  add_custom_target(iops_python3_kernelspec ALL
    DEPENDS ${IOPSD_JUPYTER_DIR}/kernels/iops-python3/kernel.json)
  # A second wrapped kernel: Debian's xeus-python (package xpython), when
  # installed (scripts/deps.sh test lists it).
  if(EXISTS /usr/share/jupyter/kernels/xpython/kernel.json)
    add_custom_command(OUTPUT ${IOPSD_JUPYTER_DIR}/kernels/iops-xpython/kernel.json
      COMMAND iopsd install --wrap xpython --data-dir ${IOPSD_JUPYTER_DIR}
      DEPENDS iopsd VERBATIM)
    add_custom_target(iops_xpython_kernelspec ALL
      DEPENDS ${IOPSD_JUPYTER_DIR}/kernels/iops-xpython/kernel.json)
  endif()
  if(IOPSD_SANITIZE)
    set(WRAP_SANITIZED 1)
  else()
    set(WRAP_SANITIZED 0)
  endif()
  set(WRAP_TEST_ENV
    "JUPYTER_PATH=${IOPSD_JUPYTER_DIR}"
    "IOPSD=${CMAKE_BINARY_DIR}/iopsd"
    "IOPSD_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "IOPSD_BINARY_DIR=${CMAKE_BINARY_DIR}"
    "IOPSD_SANITIZED=${WRAP_SANITIZED}"
    "PYDEVD_DISABLE_FILE_VALIDATION=1"
    "PYTHONDONTWRITEBYTECODE=1")
  file(GLOB WRAP_PY_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_wrap*.py)
  if(NOT EXISTS /usr/share/jupyter/kernels/xpython/kernel.json)
    list(FILTER WRAP_PY_TESTS EXCLUDE REGEX "test_wrap_xpython")
  endif()
  foreach(py ${WRAP_PY_TESTS})
    get_filename_component(mod ${py} NAME_WE)
    add_test(NAME ${mod} COMMAND /usr/bin/python3 -m unittest -v ${mod}
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/integration)
    set_tests_properties(${mod} PROPERTIES TIMEOUT 300 ENVIRONMENT "${WRAP_TEST_ENV}")
  endforeach()
endif()
