/* nucleo-f401re: 96 KB of SRAM shared by
 *   arena 80 KB | stack 4 KB (linker.ld) | RX ring 4 KB | frame buffers ~4.3 KB | the rest of .data/.bss
 * as on qemu-stm32f4, which is held to this part's budget: an image that links there links here. */
#ifndef HIL_BOARD_CONFIG_H
#define HIL_BOARD_CONFIG_H

#ifndef HIL_ARENA_BYTES
#define HIL_ARENA_BYTES (80u * 1024u)
#endif

/* The STM32's SRAM keeps its contents through a system or NRST reset (not through a power cycle), and .noinit is
 * not zeroed at boot, so a model loaded before a reset is recovered after it. */
#define HIL_NOINIT __attribute__((section(".noinit")))
#define HIL_ARENA_SURVIVES_RESET 1

#endif /* HIL_BOARD_CONFIG_H */
