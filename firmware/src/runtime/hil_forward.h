/* A model split by layer over two boards: this board runs its part one step at a time and forwards each step's
 * output to the peer board over the peer link (HIL_PEER_LINK), as a one-step INFER in the ordinary framing; the peer
 * runs the rest and answers each step; this board answers the host with the peer's outputs. */
#ifndef HIL_FORWARD_H
#define HIL_FORWARD_H

#include "hil/hil_config.h"
#include "hil/hil_wire.h"
#include "hil_ops.h"

/* Bytes the peer link carried since boot, counted where the port is called (hil_main.c). */
typedef struct {
    uint32_t tx;
    uint32_t rx;
} hil_peer_bytes_t;

#if HIL_PEER_LINK
/* hil_main.c: the peer link's frame loop */
size_t hil_peer_poll(void);                        /* feed received peer bytes; answers go to hil_forward_on_answer */
uint8_t *hil_peer_request_payload(void);           /* where to build the next request's payload */
void hil_peer_send_request(const hil_header_t *h); /* frame and send the payload built there */
hil_peer_bytes_t hil_peer_bytes_so_far(void);

/* hil_forward.c */
void hil_forward_on_answer(const hil_header_t *h, const uint8_t *payload);
/* INFER with HIL_INFER_FORWARD, after the runtime checked the request and its input. */
hil_status_t hil_infer_forward(hil_op_t *op, const uint8_t *input, uint16_t steps, uint8_t flags);
#endif

#endif /* HIL_FORWARD_H */
