# Fuzz targets (STYLE.md §12).
#
# rt_fuzz_target(<name> <source> <libs>...) defines, for a file with LLVMFuzzerTestOneInput:
#   - always: fuzz_replay_<name> (<source> + replay.c), registered as the ctest test
#     fuzz_replay_<name>, which runs every file of tests/fuzz/corpus/<name>/ once;
#   - with RT_FUZZ=ON (Clang): fuzz_<name>, a libFuzzer binary (-fsanitize=fuzzer,address).
# <source> is absolute, relative to the project root, or relative to tests/fuzz/.
# With RT_FUZZ=ON every target of the project is compiled with -fsanitize=fuzzer-no-link,address
# (coverage for the fuzzer) and linked with -fsanitize=address; see tests/fuzz/README.md.
set(RT_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})

function(rt_fuzz_target name source)
  if(IS_ABSOLUTE "${source}")
    set(_src "${source}")
  elseif(EXISTS "${PROJECT_SOURCE_DIR}/${source}")
    set(_src "${PROJECT_SOURCE_DIR}/${source}")
  else()
    set(_src "${RT_FUZZ_DIR}/${source}")
  endif()
  add_executable(fuzz_replay_${name} ${_src} ${RT_FUZZ_DIR}/replay.c)
  target_include_directories(fuzz_replay_${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(fuzz_replay_${name} PRIVATE ${ARGN})
  add_test(NAME fuzz_replay_${name} COMMAND fuzz_replay_${name} ${RT_FUZZ_DIR}/corpus/${name})
  set_tests_properties(fuzz_replay_${name} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
  if(RT_FUZZ)
    add_executable(fuzz_${name} ${_src})
    target_include_directories(fuzz_${name} PRIVATE ${PROJECT_SOURCE_DIR})
    target_link_libraries(fuzz_${name} PRIVATE ${ARGN})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address)
  endif()
endfunction()

# _rt_fuzz_instrument adds coverage and ASan to every target under |dir| (RT_FUZZ builds only).
function(_rt_fuzz_instrument dir)
  get_property(_targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_t IN LISTS _targets)
    get_target_property(_type ${_t} TYPE)
    if(_type STREQUAL "STATIC_LIBRARY" OR _type STREQUAL "OBJECT_LIBRARY")
      target_compile_options(${_t} PRIVATE -fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer)
    elseif(_type STREQUAL "EXECUTABLE" OR _type STREQUAL "SHARED_LIBRARY")
      target_compile_options(${_t} PRIVATE -fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer)
      target_link_options(${_t} PRIVATE -fsanitize=address)
    endif()
  endforeach()
  get_property(_subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(_d IN LISTS _subdirs)
    _rt_fuzz_instrument(${_d})
  endforeach()
endfunction()

if(RT_FUZZ)
  # Deferred to the end of the top-level CMakeLists.txt, when every target exists.
  cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL _rt_fuzz_instrument ${PROJECT_SOURCE_DIR})
endif()

rt_fuzz_target(xml_stream fuzz_xml_stream.c router_xml)
rt_fuzz_target(b64 fuzz_b64.c router_core)
rt_fuzz_target(http_resp fuzz_http_resp.c router_posh)
