# Cortex-M3 (no FPU) as QEMU's mps2-an385 emulates it, linked to the STM32F103RE budget (64 KB RAM, 512 KB flash)
# so that "fits on the target" is decided by the linker. Soft float: every float operation is a libgcc call.
#   qemu-system-arm -M mps2-an385 -display none -monitor none -icount shift=0 -kernel hil_fw.elf \
#       -serial tcp:127.0.0.1:<port>,server=on,wait=on
if(NOT CMAKE_C_COMPILER_ID STREQUAL "GNU" OR NOT CMAKE_C_COMPILER MATCHES "arm-none-eabi")
  message(FATAL_ERROR "HIL_BOARD=qemu_mps2_an385 needs the arm-none-eabi toolchain: configure a fresh build "
    "directory (its toolchain.cmake is then picked up) or pass "
    "-DCMAKE_TOOLCHAIN_FILE=<absolute path>/firmware/cmake/arm-none-eabi.cmake")
endif()

set(_cpu -mcpu=cortex-m3 -mthumb -mfloat-abi=soft)
# No -ffp-contract=fast (the M4F board's flag): the M3 has no fused multiply-add to contract into, so every product
# is rounded on its own, as in the float32 reference.
target_compile_options(hil_options INTERFACE ${_cpu} -Wdouble-promotion -ffunction-sections -fdata-sections -fno-common)
target_sources(hil_fw PRIVATE ${CMAKE_CURRENT_LIST_DIR}/startup.c ${CMAKE_CURRENT_LIST_DIR}/hil_port.c
  ${CMAKE_CURRENT_LIST_DIR}/hil_counter.S)
target_link_options(hil_fw PRIVATE ${_cpu} -nostartfiles --specs=nano.specs --specs=nosys.specs
  -T${CMAKE_CURRENT_LIST_DIR}/linker.ld -Wl,--gc-sections -Wl,-Map=${CMAKE_CURRENT_BINARY_DIR}/hil_fw.map
  -Wl,--print-memory-usage)
set_property(TARGET hil_fw APPEND PROPERTY LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/linker.ld)
set(HIL_BOARD_IMAGE ON)
