# tests/kernel_hostile.cmake (after kernel.cmake: it uses KERNEL_TEST_ENV): the hostile suite (tests/hostile/): attacks on a fresh
# kernel from outside (raw ZeroMQ, with and without the key) and from inside
# (cells), each followed by the same health checks (hostile.py).
if(TARGET iopsd AND TARGET iopsd_protocol)
  file(GLOB HOSTILE_PY_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/hostile/test_*.py)
  foreach(py ${HOSTILE_PY_TESTS})
    get_filename_component(mod ${py} NAME_WE)
    add_test(NAME ${mod} COMMAND /usr/bin/python3 -m unittest -v ${mod}
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/tests/hostile)
    set_tests_properties(${mod} PROPERTIES TIMEOUT 300 ENVIRONMENT "${KERNEL_TEST_ENV}")
  endforeach()
endif()
