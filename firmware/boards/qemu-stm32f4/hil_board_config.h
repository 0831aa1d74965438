/* qemu-stm32f4: 96 KB of RAM (the STM32F401RE budget) shared by
 *   arena 80 KB | stack 4 KB (linker.ld) | RX ring 4 KB | frame buffers ~4.3 KB | the rest of .data/.bss
 * The arena is what a model blob, its scratch and a staged input must share, so it gets everything the rest
 * leaves; the link fails with a message naming the budget if it no longer fits. Frames and the RX ring keep
 * hil_config.h's defaults (1 KB payloads, 4 KB ring): small frames on purpose, so that with the host's 8 KiB frames
 * this board exercises the chunked (staged) input path. */
#ifndef HIL_BOARD_CONFIG_H
#define HIL_BOARD_CONFIG_H

/* A peer-link build (a model split over two boards) pays for a second link: its ring and frame buffers (~5.3 KB)
 * come out of the arena (78 KB instead of 80 KB; the rest was slack). */
#ifndef HIL_PEER_RX_BUFFER_BYTES
#define HIL_PEER_RX_BUFFER_BYTES 2048u
#endif
#ifndef HIL_ARENA_BYTES
#if defined(HIL_PEER_LINK) && HIL_PEER_LINK
#define HIL_ARENA_BYTES (78u * 1024u)
#else
#define HIL_ARENA_BYTES (80u * 1024u)
#endif
#endif

/* SRAM keeps its contents through a warm reset; the linker script's .noinit section is not zeroed at boot. */
#define HIL_NOINIT __attribute__((section(".noinit")))
#define HIL_ARENA_SURVIVES_RESET 1

#endif /* HIL_BOARD_CONFIG_H */
