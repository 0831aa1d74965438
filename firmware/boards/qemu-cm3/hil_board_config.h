/* qemu-cm3: 64 KB of RAM (the STM32F103RE budget) shared by
 *   arena 50 KB | stack 4 KB (linker.ld) | RX ring 4 KB | frame buffers ~4.3 KB | the rest of .data/.bss
 * The arena gets what the rest leaves, in whole KB, less ~2 KB of headroom so a new static buffer in the runtime
 * does not break this board's link at once (tests/firmware/test_cm3_board.py: 4 KB more does); the link fails with
 * a message naming the budget if it no longer fits. What does not fit is refused up front with the bytes, which is this
 * board's point: LSTM(32) training over 24 steps needs 60,064 B above its model with Adam and 42,520 B with SGD
 * (about 33 KB are free), a 100-unit ESN 63-69 KB. Inference of LSTM(32) (21 KB) and LSTM(16) training fit.
 * Frames and the RX ring keep hil_config.h's defaults, as on qemu-stm32f4: small frames exercise the chunked (staged)
 * input path, and the 4 KB ring holds the 4 chunk frames the host keeps in flight. */
#ifndef HIL_BOARD_CONFIG_H
#define HIL_BOARD_CONFIG_H

#ifndef HIL_ARENA_BYTES
#define HIL_ARENA_BYTES (50u * 1024u)
#endif

/* QEMU's reset keeps SRAM (the RAM at 0x20000000 is not part of the image it reloads), so the .noinit section the
 * startup code leaves alone survives a warm reset. */
#define HIL_NOINIT __attribute__((section(".noinit")))
#define HIL_ARENA_SURVIVES_RESET 1

#endif /* HIL_BOARD_CONFIG_H */
