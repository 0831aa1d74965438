# STM32F405 as QEMU's netduinoplus2 emulates it, linked to the STM32F401RE budget (96 KB RAM, 512 KB flash)
# so that "fits on the target" is decided by the linker.
#   qemu-system-arm -M netduinoplus2 -display none -monitor none -icount shift=0 -kernel hil_fw.elf \
#       -serial tcp:127.0.0.1:<port>,server=on,wait=on
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex_m/cortex_m.cmake)
hil_cortex_m_board(
  CPU_FLAGS -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard
  # the M4F has a fused multiply-add (VFMA); ISO C mode would otherwise forbid using it
  COMPILE_OPTIONS -ffp-contract=fast
  LINKER_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/linker.ld
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/startup.c ${CMAKE_CURRENT_LIST_DIR}/hil_port.c)
