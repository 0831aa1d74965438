/* Host board: memory is plentiful, so frames are large (the inline INFER path carries whole sequences) and the
 * arena holds models far beyond any MCU's, for testing the kernels at scale. */
#ifndef HIL_BOARD_CONFIG_H
#define HIL_BOARD_CONFIG_H

#ifndef HIL_MAX_PAYLOAD
#define HIL_MAX_PAYLOAD 8192
#endif

/* The socket's kernel buffer is the real receive buffer; this is what the host may keep in flight. */
#ifndef HIL_RX_BUFFER_BYTES
#define HIL_RX_BUFFER_BYTES 65536
#endif

#ifndef HIL_ARENA_BYTES
#define HIL_ARENA_BYTES (4u * 1024u * 1024u)
#endif

#endif /* HIL_BOARD_CONFIG_H */
