# hil_cortex_m_board(): what every Cortex-M board's board.cmake calls. It adds the board's sources and the common
# ones (startup, fault report, RX ring) to hil_fw, the CPU flags to everything compiled for the image, and links with
# the board's linker script (which INCLUDEs sections.ld from here).
#   hil_cortex_m_board(CPU_FLAGS <-mcpu=... -mthumb ...> LINKER_SCRIPT <path> SOURCES <files...>
#                      [COMPILE_OPTIONS <extra compile-only flags>])
set(HIL_CORTEX_M_DIR ${CMAKE_CURRENT_LIST_DIR})

function(hil_cortex_m_board)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "LINKER_SCRIPT" "CPU_FLAGS;SOURCES;COMPILE_OPTIONS")
  if(NOT arg_CPU_FLAGS OR NOT arg_LINKER_SCRIPT OR NOT arg_SOURCES)
    message(FATAL_ERROR "hil_cortex_m_board() needs CPU_FLAGS, LINKER_SCRIPT and SOURCES")
  endif()
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "GNU" OR NOT CMAKE_C_COMPILER MATCHES "arm-none-eabi")
    message(FATAL_ERROR "HIL_BOARD=${HIL_BOARD} needs the arm-none-eabi toolchain: configure a fresh build "
      "directory (its toolchain.cmake is then picked up) or pass "
      "-DCMAKE_TOOLCHAIN_FILE=<absolute path>/firmware/cmake/arm-none-eabi.cmake")
  endif()
  target_compile_options(hil_options INTERFACE ${arg_CPU_FLAGS} ${arg_COMPILE_OPTIONS} -Wdouble-promotion
    -ffunction-sections -fdata-sections -fno-common)
  target_include_directories(hil_fw PRIVATE ${HIL_CORTEX_M_DIR})
  target_sources(hil_fw PRIVATE ${arg_SOURCES} ${HIL_CORTEX_M_DIR}/cm_startup.c ${HIL_CORTEX_M_DIR}/cm_fault.c
    ${HIL_CORTEX_M_DIR}/cm_port.c)
  target_link_options(hil_fw PRIVATE ${arg_CPU_FLAGS} -nostartfiles --specs=nano.specs --specs=nosys.specs
    -L${HIL_CORTEX_M_DIR} -T${arg_LINKER_SCRIPT} -Wl,--gc-sections -Wl,-Map=${CMAKE_CURRENT_BINARY_DIR}/hil_fw.map
    -Wl,--print-memory-usage)
  set_property(TARGET hil_fw APPEND PROPERTY LINK_DEPENDS ${arg_LINKER_SCRIPT} ${HIL_CORTEX_M_DIR}/sections.ld)
  set(HIL_BOARD_IMAGE ON PARENT_SCOPE)
endfunction()
