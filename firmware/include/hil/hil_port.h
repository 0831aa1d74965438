/* The port: everything the portable runtime needs from a board, and nothing else.
 * Each board implements these in firmware/boards/<board>/hil_port.c; no other file touches hardware.
 */
#ifndef HIL_PORT_H
#define HIL_PORT_H

#include "hil/hil_types.h"

typedef struct {
    uint32_t ram_bytes;        /* RAM budget the image was linked against */
    uint32_t flash_bytes;      /* flash budget the image was linked against */
    uint32_t stack_bytes;      /* size of the stack region (0 when the board cannot tell) */
    uint32_t stack_high_water; /* deepest stack use seen so far, by stack painting (0 when not measured) */
    uint32_t counter_hz;       /* ticks per second of hil_port_counter() */
    uint8_t counter_kind;      /* HIL_COUNTER_* */
    const char *board_name;
    const char *cpu_name;
} hil_port_facts_t;

/* Bring up clocks, the serial link (RX by interrupt into a ring buffer on MCUs) and the counter. */
void hil_port_init(void);

/* Copy up to `max` received bytes into `dst` without blocking; returns how many were copied. */
size_t hil_port_read(uint8_t *dst, size_t max);

/* Send all `len` bytes (may block until the link has taken them). */
void hil_port_write(const uint8_t *src, size_t len);

/* Free-running 64-bit counter; see hil_port_facts_t.counter_kind for what it counts. */
uint64_t hil_port_counter(void);

/* Wait for something to happen (an interrupt, a byte); may return at once. */
void hil_port_idle(void);

/* Restart the device as a power-on reset would; does not return. */
void hil_port_reboot(void);

void hil_port_facts(hil_port_facts_t *facts);

/* The peer link, only in HIL_PEER_LINK builds (hil_config.h): like hil_port_read()/hil_port_write() on the second
 * UART; hil_port_idle() must then also return when a peer byte waits. hil_port_peer_idle() waits for a byte on
 * either link, at most about 1 ms, so hil_port_counter() advances while the forwarder waits for a silent peer. */
size_t hil_port_peer_read(uint8_t *dst, size_t max);
void hil_port_peer_write(const uint8_t *src, size_t len);
void hil_port_peer_idle(void);

#endif /* HIL_PORT_H */
