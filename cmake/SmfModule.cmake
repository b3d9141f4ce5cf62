# smf_add_module(NAME SOURCES src... [LIBS lib...] [OUTPUT_DIR dir])
#
# Builds a scanner module as NAME.so with only the SDK header on its include
# path. Module code is compiled with hidden visibility: the one exported
# symbol is the descriptor marked SMF_MODULE_EXPORT. The smf_* calls stay
# undefined in the module and resolve against the engine when it is loaded.
function(smf_add_module name)
  cmake_parse_arguments(M "" "OUTPUT_DIR" "SOURCES;LIBS" ${ARGN})
  if(NOT M_OUTPUT_DIR)
    set(M_OUTPUT_DIR ${SMF_MODULE_OUTPUT_DIR})
  endif()
  add_library(${name} MODULE ${M_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${M_OUTPUT_DIR})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/sdk/include)
  if(M_LIBS)
    target_link_libraries(${name} PRIVATE ${M_LIBS})
  endif()
endfunction()
