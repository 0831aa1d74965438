/* Wire protocol between the harness and the firmware: its numbers. docs/protocol.md holds the prose and the payload
 * layouts.
 *
 * Frame on the wire:  COBS( header | payload | crc32 ) 0x00
 *   header  8 bytes, little-endian: version u8, opcode u8, flags u8, reserved u8 (0), seq u16, length u16
 *   payload `length` bytes, all multi-byte fields little-endian, floats IEEE-754 binary32
 *   crc32   IEEE 802.3 (zlib.crc32) over header and payload, little-endian
 *
 * Every request is answered by exactly one frame with the same opcode and seq and HIL_FLAG_RESPONSE set.
 * A failed request is answered with HIL_FLAG_ERROR too and an error payload: code u8, reason_len u8, reason.
 * A frame that fails its CRC is answered with HIL_FLAG_NAK (seq as read, best effort) and not executed.
 * A request whose seq equals the previous request's seq is answered from the stored response, not executed
 * again; HELLO is always executed and clears that memory.
 *
 * harness/proto/wire.py mirrors every HIL_* number below and in hil_model.h (the blob format and the kernel options the
 * wire carries, which the kernels share); tests/unit/test_proto_constants.py parses both.
 */
#ifndef HIL_PROTO_H
#define HIL_PROTO_H

#include "hil/hil_model.h" /* model blob format, model kinds, HIL_INFER_ALL_STEPS, HIL_LOSS_*: shared with the kernels */
#include "hil/hil_types.h"

#define HIL_PROTO_VERSION 1
#define HIL_HEADER_SIZE 8
#define HIL_CRC_SIZE 4
#define HIL_FRAME_DELIMITER 0x00

/* flags */
#define HIL_FLAG_RESPONSE 0x01
#define HIL_FLAG_ERROR 0x02
#define HIL_FLAG_NAK 0x04

/* opcodes: one line each; the handler table is firmware/src/runtime/hil_ops.c */
#define HIL_OP_HELLO 0x01         /* -> hello payload (below) */
#define HIL_OP_STATS 0x02         /* -> stats payload (below) */
#define HIL_OP_RESET 0x03         /* u8 mode (0 soft: drop model and arena, 1 reboot after answering) -> empty */
#define HIL_OP_TENSOR_READ 0x04   /* u8 tensor, u8 0, u16 0, u32 offset, u32 count (elements) -> f32[count] */
#define HIL_OP_TENSOR_WRITE 0x05  /* u8 tensor, u8 0, u16 0, u32 offset, f32 values -> empty */
#define HIL_OP_MODEL_BEGIN 0x10   /* u32 blob_bytes -> empty; frees the arena, reserves the blob */
#define HIL_OP_MODEL_CHUNK 0x11   /* u32 offset, bytes -> empty; idempotent, chunks may arrive in any order */
#define HIL_OP_MODEL_COMMIT 0x12  /* u32 crc32 of the blob -> model info payload */
#define HIL_OP_MODEL_BUILTIN 0x13 /* empty -> model info payload; binds the model compiled into the image */
#define HIL_OP_MODEL_RECOVER 0x14 /* empty -> model info; rebinds the arena model a reset left, if consistent */
#define HIL_OP_INPUT_BEGIN 0x20   /* u32 input_bytes -> empty; reserves the staged input above the model */
#define HIL_OP_INPUT_CHUNK 0x21   /* u32 offset, bytes -> empty; idempotent */
#define HIL_OP_INFER 0x22         /* u16 steps, u8 infer_flags, u8 0, [steps*input_size values inline] -> infer */
#define HIL_OP_TRACE 0x23         /* trace request (below), [steps*input_size f32 inline] -> f32[count] */
#define HIL_OP_TRAIN_CONFIG 0x30  /* train config (below) -> train info */
#define HIL_OP_TRAIN_STEP 0x31    /* u16 batch, u8 0, u8 0, [f32 inputs, f32 targets inline] -> train step answer */
#define HIL_OP_EVAL 0x32          /* as TRAIN_STEP, loss only, nothing updated -> train step answer */
#define HIL_OP_ESN_CONFIG 0x40    /* esn config (below) -> esn info; draws the reservoir, drops any LSTM model */
#define HIL_OP_ESN_FEED 0x41      /* esn stream request (below) -> esn feed answer; adds samples to A and B */
#define HIL_OP_ESN_FIT 0x42       /* empty -> esn fit answer; ridge solve of A, B into W_out */
#define HIL_OP_ESN_SCORE 0x43     /* esn stream request -> esn score answer; per-window MSE and anomaly flag */
#define HIL_OP_ESN_THRESHOLD 0x44 /* empty -> esn threshold answer; median + std of the calibration windows */

/* HIL_OP_INFER flags: HIL_INFER_ALL_STEPS, HIL_INFER_CONTINUE (hil_model.h) */

/* HIL_OP_TENSOR_READ / _WRITE tensors: flat f32 vectors in model-blob order (hil_lstm_train.h) */
#define HIL_TENSOR_PARAMS 1 /* the loaded model's parameters (writable unless the model is in flash) */
#define HIL_TENSOR_GRADS 2  /* gradient of the last TRAIN_STEP, averaged over the batch, after clipping */
#define HIL_TENSOR_OPT_M 3  /* SGD momentum buffer, or Adam's first moment */
#define HIL_TENSOR_OPT_V 4  /* Adam's second moment */
/* ESN tensors (hil_esn.h layouts), after ESN_CONFIG; writable, for experiments such as scoring with the
 * reference's W_out or threshold */
#define HIL_TENSOR_ESN_W_IN 16      /* [N][K+1], column 0 the input bias */
#define HIL_TENSOR_ESN_W_RES 17     /* [N][N], scaled to the spectral radius */
#define HIL_TENSOR_ESN_W_BACK 18    /* [N][O], only with feedback */
#define HIL_TENSOR_ESN_W_OUT 19     /* W_out^T [D][O] after ESN_FIT; before it, B = sum of z y^T */
#define HIL_TENSOR_ESN_STATE 20     /* x [N] of the current stream */
#define HIL_TENSOR_ESN_THRESHOLD 21 /* 1 value: the anomaly threshold, NaN until ESN_THRESHOLD (or a write) */
#define HIL_TENSOR_ESN_A 22         /* D(D+1)/2, packed lower triangle of A = sum z z^T; after ESN_FIT its Cholesky L */

/* training: optimizers and losses */
#define HIL_OPT_SGD 0  /* buf = momentum*buf + g; p -= lr*buf (PyTorch SGD, dampening 0) */
#define HIL_OPT_ADAM 1 /* PyTorch Adam: bias-corrected, p -= lr * m_hat / (sqrt(v_hat) + eps) */
/* losses: HIL_LOSS_MSE, HIL_LOSS_CE (hil_model.h) */
#define HIL_TRAIN_QUERY 0x01 /* TRAIN_CONFIG flag: only say what the configuration needs, reserve nothing */

/* ESN flags */
#define HIL_ESN_CONFIG_QUERY 0x01     /* ESN_CONFIG: only say what the configuration needs; nothing is dropped */
#define HIL_ESN_STREAM_BEGIN 0x01     /* FEED/SCORE: a new stream: x = 0, y(-1) = 0, washout again; position 0 */
#define HIL_ESN_STREAM_TARGETS 0x02   /* FEED/SCORE: f32 y[n][O] follow the inputs; without: target = input (O == K) */
#define HIL_ESN_STREAM_CALIBRATE 0x04 /* SCORE: training windows: keep their MSEs for ESN_THRESHOLD, flag none */

/* HIL_OP_RESET modes */
#define HIL_RESET_SOFT 0
#define HIL_RESET_REBOOT 1

/* capability bits in HELLO: tests ask for these by name through hil_requires(), never for a board */
#define HIL_CAP_LSTM_F32 0x00000001
#define HIL_CAP_BUILTIN_MODEL 0x00000002
#define HIL_CAP_STACK_PAINT 0x00000004
#define HIL_CAP_EXACT_COUNTER 0x00000008
#define HIL_CAP_LSTM_TRAIN_F32 0x00000010
#define HIL_CAP_RECOVER 0x00000020   /* the arena survives a warm reset: MODEL_RECOVER works */
#define HIL_CAP_ESN_F32 0x00000040   /* ESN_* opcodes: reservoir, ridge readout and anomaly threshold on the device */
#define HIL_CAP_MLP_F32 0x00000080   /* model kind MLP_F32: float32 dense networks */
#define HIL_CAP_QUANT_S8 0x00000100  /* kinds MLP_S8, LSTM_S8: int8 activations, int8 (or k-means) weights */
#define HIL_CAP_QUANT_S16 0x00000200 /* kinds MLP_S16, LSTM_S16: int16 activations, int8 (or k-means) weights */
#define HIL_CAP_QUANT_Q15 0x00000400 /* kinds MLP_Q15, LSTM_Q15: int16 Q m.n fixed point throughout */
#define HIL_CAP_PEER_LINK 0x00000800 /* a board-to-board link: INFER's FORWARD flag (HIL_PEER_LINK builds) */

/* INFER's flags beyond the kernels' (hil_model.h): run the loaded model one step at a time and send each step's
 * output to the peer board as a one-step INFER (CONTINUE after the first); the answer carries the peer's outputs
 * and, after them, the HIL_INFER_FORWARD_TAIL_SIZE bytes of hil_forward.c's figures. */
#define HIL_INFER_FORWARD 0x04
#define HIL_INFER_FORWARD_TAIL_SIZE 24

/* what the device counter counts (HELLO counter_kind); the harness converts ticks in one place */
#define HIL_COUNTER_WALL_NS 0      /* nanoseconds of wall-clock time (host board) */
#define HIL_COUNTER_CPU_CYCLES 1   /* core clock cycles (DWT CYCCNT on real Cortex-M) */
#define HIL_COUNTER_INSTRUCTIONS 2 /* virtual time under QEMU -icount: ticks * 1e9 / counter_hz instructions */

/* model blobs (MODEL_BEGIN/CHUNK/COMMIT, MODEL_BUILTIN): format, header and kinds HIL_MODEL_* are in hil_model.h */

/* Payload layouts (packed, little-endian) are written once, as one table per payload in docs/protocol.md;
 * harness/proto/messages.py packs them and tests/unit/test_protocol_doc.py checks that the two agree field by field
 * and that each fixed size below is what its table adds up to. Sizes are fixed so both sides can assert them.
 */
#define HIL_HELLO_FIXED_SIZE 40
#define HIL_STATS_SIZE 44
#define HIL_MODEL_INFO_SIZE 20
#define HIL_INFER_HEADER_SIZE 12
#define HIL_TRACE_REQUEST_SIZE 12
#define HIL_ERROR_REASON_MAX 96
#define HIL_TRAIN_CONFIG_SIZE 28
#define HIL_TRAIN_INFO_SIZE 20
#define HIL_TRAIN_STEP_SIZE 20
#define HIL_TENSOR_REQ_SIZE 8
#define HIL_ESN_CONFIG_SIZE 52
#define HIL_ESN_INFO_SIZE 40
#define HIL_ESN_STREAM_HEADER_SIZE 8
#define HIL_ESN_FEED_SIZE 24
#define HIL_ESN_FIT_SIZE 16
#define HIL_ESN_SCORE_HEADER_SIZE 32
#define HIL_ESN_THRESHOLD_SIZE 24

#endif /* HIL_PROTO_H */
