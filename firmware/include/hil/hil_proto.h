/* Wire protocol between the harness and the firmware. docs/protocol.md is the prose; this file is the truth.
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
 * harness/proto/wire.py mirrors every HIL_* number below; tests/unit/test_proto_constants.py parses this file.
 */
#ifndef HIL_PROTO_H
#define HIL_PROTO_H

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
#define HIL_OP_MODEL_BEGIN 0x10   /* u32 blob_bytes -> empty; frees the arena, reserves the blob */
#define HIL_OP_MODEL_CHUNK 0x11   /* u32 offset, bytes -> empty; idempotent, chunks may arrive in any order */
#define HIL_OP_MODEL_COMMIT 0x12  /* u32 crc32 of the blob -> model info payload */
#define HIL_OP_MODEL_BUILTIN 0x13 /* empty -> model info payload; binds the model compiled into the image */
#define HIL_OP_INPUT_BEGIN 0x20   /* u32 input_bytes -> empty; reserves the staged input above the model */
#define HIL_OP_INPUT_CHUNK 0x21   /* u32 offset, bytes -> empty; idempotent */
#define HIL_OP_INFER 0x22         /* u16 steps, u8 infer_flags, u8 0, [f32 steps*input_size inline] -> infer */

/* HIL_OP_INFER flags */
#define HIL_INFER_ALL_STEPS 0x01 /* answer the head's output after every step, not only the last */

/* HIL_OP_RESET modes */
#define HIL_RESET_SOFT 0
#define HIL_RESET_REBOOT 1

/* capability bits in HELLO: tests ask for these by name through hil_requires(), never for a board */
#define HIL_CAP_LSTM_F32 0x00000001
#define HIL_CAP_BUILTIN_MODEL 0x00000002
#define HIL_CAP_STACK_PAINT 0x00000004
#define HIL_CAP_EXACT_COUNTER 0x00000008

/* what the device counter counts (HELLO counter_kind); the harness converts ticks in one place */
#define HIL_COUNTER_WALL_NS 0      /* nanoseconds of wall-clock time (host board) */
#define HIL_COUNTER_CPU_CYCLES 1   /* core clock cycles (DWT CYCCNT on real Cortex-M) */
#define HIL_COUNTER_INSTRUCTIONS 2 /* virtual time under QEMU -icount: ticks * 1e9 / counter_hz instructions */

/* model blob kinds (hil_model_header_t.kind) */
#define HIL_MODEL_LSTM_F32 1

#define HIL_MODEL_MAGIC 0x4D4C4948u /* "HILM" little-endian */
#define HIL_MODEL_FORMAT_VERSION 1
#define HIL_MODEL_HEADER_SIZE 24
#define HIL_LSTM_MAX_LAYERS 4

/* Payload layouts (packed, little-endian); sizes are fixed so both sides can assert them.
 *
 * HELLO answer (HIL_HELLO_FIXED_SIZE bytes, then three strings each u8 length + ASCII: board, cpu, firmware name)
 *   u8  proto_version, fw_major, fw_minor, fw_patch
 *   u32 capabilities
 *   u32 counter_hz
 *   u8  counter_kind, u8 0, u16 max_payload
 *   u32 ram_bytes, flash_bytes, arena_bytes, rx_buffer_bytes
 *   u64 build_id
 *
 * STATS answer (HIL_STATS_SIZE bytes)
 *   u32 arena_bytes, arena_used, arena_high_water, stack_bytes, stack_high_water (0 when not measured)
 *   u32 frames_rx, frames_tx, crc_errors, duplicates
 *   u64 last_ticks (device counter over the last INFER)
 *
 * model info answer to MODEL_COMMIT / MODEL_BUILTIN (HIL_MODEL_INFO_SIZE bytes)
 *   u32 model_bytes, scratch_bytes, arena_used
 *   u16 input_size, output_size
 *   u8  kind, u8 n_layers, u16 0
 *
 * INFER answer: u64 ticks, u16 steps_out, u16 output_size, f32 outputs[steps_out * output_size]
 *
 * error payload: u8 code (hil_status_t), u8 reason_len, reason ASCII (no terminator)
 */
#define HIL_HELLO_FIXED_SIZE 40
#define HIL_STATS_SIZE 44
#define HIL_MODEL_INFO_SIZE 20
#define HIL_INFER_HEADER_SIZE 12
#define HIL_ERROR_REASON_MAX 96

#endif /* HIL_PROTO_H */
