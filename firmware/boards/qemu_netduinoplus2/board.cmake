# STM32F405 as QEMU's netduinoplus2 emulates it, linked to the STM32F401RE budget (96 KB RAM, 512 KB flash)
# so that "fits on the target" is decided by the linker.
#   qemu-system-arm -M netduinoplus2 -display none -monitor none -icount shift=0 -kernel hil_fw.elf \
#       -serial tcp:127.0.0.1:<port>,server=on,wait=on
if(NOT CMAKE_C_COMPILER_ID STREQUAL "GNU" OR NOT CMAKE_C_COMPILER MATCHES "arm-none-eabi")
  message(FATAL_ERROR "HIL_BOARD=qemu_netduinoplus2 needs the arm-none-eabi toolchain: configure a fresh build "
    "directory (its toolchain.cmake is then picked up) or pass "
    "-DCMAKE_TOOLCHAIN_FILE=<absolute path>/firmware/cmake/arm-none-eabi.cmake")
endif()

set(_cpu -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard)
# -ffp-contract=fast: the M4F has a fused multiply-add (VFMA); ISO C mode would otherwise forbid using it
target_compile_options(hil_options INTERFACE ${_cpu} -ffp-contract=fast -Wdouble-promotion -ffunction-sections -fdata-sections
  -fno-common)
target_sources(hil_fw PRIVATE ${CMAKE_CURRENT_LIST_DIR}/startup.c ${CMAKE_CURRENT_LIST_DIR}/hil_port.c)
target_link_options(hil_fw PRIVATE ${_cpu} -nostartfiles --specs=nano.specs --specs=nosys.specs
  -T${CMAKE_CURRENT_LIST_DIR}/linker.ld -Wl,--gc-sections -Wl,-Map=${CMAKE_CURRENT_BINARY_DIR}/hil_fw.map
  -Wl,--print-memory-usage)
set_property(TARGET hil_fw APPEND PROPERTY LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/linker.ld)
set(HIL_BOARD_IMAGE ON)
