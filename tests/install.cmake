# `cmake --install` puts the daemon and the operator's tools where the systemd unit and the docs
# expect them (PREFIX/bin); each installed binary runs and answers --help.
if(TARGET fedrouter AND TARGET fedctl AND TARGET dnacheck)
  add_test(NAME install_layout COMMAND ${CMAKE_COMMAND}
    -DBUILD=${CMAKE_BINARY_DIR} -DPREFIX=${CMAKE_BINARY_DIR}/install-test
    -P ${CMAKE_CURRENT_SOURCE_DIR}/install_check.cmake)
  set_tests_properties(install_layout PROPERTIES TIMEOUT 60)
endif()
