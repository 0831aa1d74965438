# Cortex-M3 (no FPU) as QEMU's mps2-an385 emulates it, linked to the STM32F103RE budget (64 KB RAM, 512 KB flash)
# so that "fits on the target" is decided by the linker. Soft float: every float operation is a libgcc call.
#   qemu-system-arm -M mps2-an385 -display none -monitor none -icount shift=0 -kernel hil_fw.elf \
#       -serial tcp:127.0.0.1:<port>,server=on,wait=on
# No -ffp-contract=fast (the M4F board's flag): the M3 has no fused multiply-add to contract into, so every product
# is rounded on its own, as in the float32 reference.
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex_m/cortex_m.cmake)
hil_cortex_m_board(
  CPU_FLAGS -mcpu=cortex-m3 -mthumb -mfloat-abi=soft
  LINKER_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/linker.ld
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/startup.c ${CMAKE_CURRENT_LIST_DIR}/hil_port.c
    ${CMAKE_CURRENT_LIST_DIR}/hil_counter.S)
