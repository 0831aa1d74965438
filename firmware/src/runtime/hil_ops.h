/* The request handlers behind the frame loop: one table of {opcode, handler}, in hil_ops.c. */
#ifndef HIL_OPS_H
#define HIL_OPS_H

#include "hil/hil_proto.h"
#include "hil/hil_types.h"

/* Link counters kept by the frame loop, reported by STATS. */
typedef struct {
    uint32_t frames_rx;
    uint32_t frames_tx;
    uint32_t crc_errors;
    uint32_t duplicates;
} hil_link_stats_t;

/* What the frame loop does after sending the answer. */
#define HIL_AFTER_NOTHING 0u
#define HIL_AFTER_REBOOT 1u

typedef struct {
    const uint8_t *req; /* request payload; 4-byte aligned by the frame loop, so f32 inputs are read in place */
    uint16_t req_len;
    uint8_t *resp;     /* answer payload; 8-byte aligned, HIL_MAX_PAYLOAD bytes */
    uint16_t resp_len; /* set by the handler */
    uint8_t after;     /* HIL_AFTER_* */
    const hil_link_stats_t *link;
    char reason[HIL_ERROR_REASON_MAX + 1]; /* set by a handler that fails */
} hil_op_t;

/* Forget the model and empty the arena (boot state). */
void hil_ops_init(void);

/* Run the handler of `opcode`. On an error `op->reason` says why in numbers; the frame loop sends the code and
 * the reason as the error payload. */
hil_status_t hil_ops_dispatch(uint8_t opcode, hil_op_t *op);

#endif /* HIL_OPS_H */
