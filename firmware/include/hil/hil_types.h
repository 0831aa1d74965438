/* Status codes shared by kernels, runtime and the wire protocol.
 *
 * A kernel's hil_status_t is the same number the device sends back in an error frame, so a failure deep in a
 * kernel reaches the pytest message without translation. harness/proto/wire.py mirrors these values and
 * tests/unit/test_proto_constants.py fails when the two differ.
 */
#ifndef HIL_TYPES_H
#define HIL_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    HIL_OK = 0,
    HIL_ERR_BAD_CRC = 1,           /* frame failed its CRC-32 (sent as NAK) */
    HIL_ERR_UNKNOWN_OPCODE = 2,    /* opcode not in the dispatch table of this build */
    HIL_ERR_PAYLOAD_TOO_LARGE = 3, /* request or its answer exceeds HIL_MAX_PAYLOAD */
    HIL_ERR_MODEL_NOT_LOADED = 4,  /* inference asked before a model was committed */
    HIL_ERR_SHAPE_MISMATCH = 5,    /* tensor sizes disagree with the model or with each other */
    HIL_ERR_ARENA_EXHAUSTED = 6,   /* the request needs more arena bytes than are free */
    HIL_ERR_NON_FINITE = 7,        /* NaN or Inf in an input or a result */
    HIL_ERR_BUSY = 8,              /* device cannot take the request now */
    HIL_ERR_BAD_REQUEST = 9,       /* malformed payload: too short, bad field value */
    HIL_ERR_BAD_MODEL = 10,        /* model blob: bad magic, version, kind or CRC */
    HIL_ERR_BAD_VERSION = 11,      /* protocol version in the header is not ours */
    HIL_ERR_OUT_OF_RANGE = 12,     /* chunk offset/length outside the announced buffer */
    HIL_ERR_BUFFER_TOO_SMALL = 13, /* caller-owned context smaller than the kernel's buffer_size */
    HIL_ERR_PEER = 14              /* the board this one forwards to did not answer in time, or refused */
} hil_status_t;

#endif /* HIL_TYPES_H */
