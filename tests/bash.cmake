# The native bash engine (server/bash_*.c): unit tests that drive it with poll,
# and integration tests over jupyter_client against the real kernel.
set(IOPSD_BASH_SOURCES
  ${CMAKE_SOURCE_DIR}/server/bash_session.c
  ${CMAKE_SOURCE_DIR}/server/bash_query.c
  ${CMAKE_SOURCE_DIR}/server/bash_proc.c)
iopsd_unit_test(test_bash_session
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_bash_session.c ${IOPSD_BASH_SOURCES}
  LIBS iopsd_util)
# Under the sanitizers, 100 MB of output takes long: the same exact checks on 16 MB.
if(IOPSD_SANITIZE)
  set_property(TEST test_bash_session APPEND PROPERTY ENVIRONMENT "IOPSD_BASH_BIG_MB=16")
endif()
