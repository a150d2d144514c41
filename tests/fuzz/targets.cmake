# The fuzz targets, shared by the fuzz build (tests/fuzz/CMakeLists.txt, clang and libFuzzer)
# and the normal build's replay tests (tests/CMakeLists.txt). Each <name> is
# tests/fuzz/<name>_fuzz.cpp with a seed corpus in tests/fuzz/corpus/<name>/.
set(PROMPT_FUZZ_PLUGIN_TARGETS key_codec span time_text command_args settings usage_record)
set(PROMPT_FUZZ_HOST_TARGETS manifest cli_args)
set(PROMPT_FUZZ_TARGETS ${PROMPT_FUZZ_PLUGIN_TARGETS} ${PROMPT_FUZZ_HOST_TARGETS})

# The library a target's code under test lives in, and what the target needs to find it.
function(prompt_fuzz_target_setup target name)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz)
  if(name IN_LIST PROMPT_FUZZ_HOST_TARGETS)
    target_link_libraries(${target} PRIVATE host_core)
  else()
    target_link_libraries(${target} PRIVATE api_core)
  endif()
  target_compile_definitions(${target} PRIVATE
    REPO_MODULE_YAML="${PROJECT_SOURCE_DIR}/module.yaml")
endfunction()
