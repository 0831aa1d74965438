# ST NUCLEO-F401RE (STM32F401RE: Cortex-M4F, 84 MHz, 96 KB SRAM, 512 KB flash). A physical board: no emulator runs
# this image; a lab.toml row of kind "nucleo-f401re" flashes it through the ST-LINK on the board (docs/bench.md) and
# the harness talks to it on the ST-LINK's virtual COM port (USART2).
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex_m/cortex_m.cmake)
hil_cortex_m_board(
  CPU_FLAGS -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard
  # the M4F has a fused multiply-add (VFMA); ISO C mode would otherwise forbid using it
  COMPILE_OPTIONS -ffp-contract=fast
  LINKER_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/linker.ld
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/startup.c ${CMAKE_CURRENT_LIST_DIR}/hil_port.c ${CMAKE_CURRENT_LIST_DIR}/clock.c)
