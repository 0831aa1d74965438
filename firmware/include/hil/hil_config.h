/* Build-time configuration, lwIP style: the board's hil_board_config.h is included first and may define any of
 * these; whatever it leaves undefined takes the default below.
 */
#ifndef HIL_CONFIG_H
#define HIL_CONFIG_H

#include "hil_board_config.h"

/* Largest payload of one frame, both directions. The host streams anything larger in chunks. */
#ifndef HIL_MAX_PAYLOAD
#define HIL_MAX_PAYLOAD 1024
#endif

/* Bytes of the RX ring between the interrupt and the frame loop; holds the chunks the host keeps in flight.
 * A power of two (index masking in the RX interrupt). */
#ifndef HIL_RX_BUFFER_BYTES
#define HIL_RX_BUFFER_BYTES 4096
#endif

/* A second link, to a neighbouring board (a board-to-board UART): a board that wires one sets HIL_PEER_LINK 1 (its
 * hil_board_config.h, or the build's defines) and implements hil_port_peer_read()/hil_port_peer_write(). INFER's
 * FORWARD flag sends each step's output over it; requests arriving on it are executed and answered on it. */
#ifndef HIL_PEER_LINK
#define HIL_PEER_LINK 0
#endif
/* Forwarded steps in flight before the forwarder waits for the peer's answers: two keep both boards computing; the
 * peer's RX ring (HIL_PEER_RX_BUFFER_BYTES, a power of two) must hold that many step frames, so it never drops a
 * byte. */
#ifndef HIL_PEER_WINDOW
#define HIL_PEER_WINDOW 2
#endif
#ifndef HIL_PEER_RX_BUFFER_BYTES
#define HIL_PEER_RX_BUFFER_BYTES 2048u
#endif
/* How long the forwarder waits for the peer's next answer before failing the INFER with HIL_ERR_PEER. */
#ifndef HIL_PEER_TIMEOUT_MS
#define HIL_PEER_TIMEOUT_MS 2000u
#endif

/* One static arena for the loaded model, its scratch and the staged input. */
#ifndef HIL_ARENA_BYTES
#define HIL_ARENA_BYTES (48u * 1024u)
#endif

/* Placement of the arena and the training journal. A board whose RAM survives a warm reset puts them in a
 * section its startup code does not zero and sets HIL_ARENA_SURVIVES_RESET, which enables MODEL_RECOVER. */
#ifndef HIL_NOINIT
#define HIL_NOINIT
#endif
#ifndef HIL_ARENA_SURVIVES_RESET
#define HIL_ARENA_SURVIVES_RESET 0
#endif

/* The board's one name (harness, firmware folder, HELLO, banner): CMakeLists.txt sets it to the board folder's. */
#ifndef HIL_BOARD_NAME
#define HIL_BOARD_NAME "unnamed"
#endif

#ifndef HIL_FW_NAME
#define HIL_FW_NAME "hil-fw"
#endif

#define HIL_FW_VERSION_MAJOR 0
#define HIL_FW_VERSION_MINOR 1
#define HIL_FW_VERSION_PATCH 0

/* Set by the build (harness/build.py) from the hash of sources, flags and built-in model; 0 = built by hand. */
#ifndef HIL_BUILD_ID
#define HIL_BUILD_ID 0ull
#endif

#endif /* HIL_CONFIG_H */
