#include "hil_journal.h"

#include "hil/hil_config.h"
#include "hil/hil_wire.h"

#define HIL_JOURNAL_MAGIC 0x4A4C4948u /* "HILJ" */

enum { HIL_PHASE_COMMITTED = 1, HIL_PHASE_UPDATING = 2 };

/* Fields, then a CRC over them: after a power-on the RAM holds noise, which must not read as a record. */
typedef struct {
    uint32_t magic;
    uint32_t phase;
    uint32_t blob_bytes;
    uint32_t blob_crc;
    uint32_t record_crc;
} hil_journal_t;

static volatile hil_journal_t hil_journal HIL_NOINIT;

static uint32_t hil_record_crc(uint32_t phase, uint32_t bytes, uint32_t blob_crc)
{
    const uint32_t fields[4] = {HIL_JOURNAL_MAGIC, phase, bytes, blob_crc};
    return hil_crc32(0u, (const uint8_t *)fields, sizeof(fields));
}

static void hil_journal_write(uint32_t phase, uint32_t bytes, uint32_t blob_crc)
{
    /* The phase is what decides; writing the record CRC last means a reset between these stores leaves a record
     * that fails its CRC, which reads as EMPTY: conservative, never WHOLE by accident. */
    hil_journal.record_crc = 0u;
    hil_journal.magic = HIL_JOURNAL_MAGIC;
    hil_journal.phase = phase;
    hil_journal.blob_bytes = bytes;
    hil_journal.blob_crc = blob_crc;
    hil_journal.record_crc = hil_record_crc(phase, bytes, blob_crc);
}

void hil_journal_forget(void)
{
    hil_journal.magic = 0u;
    hil_journal.record_crc = 0u;
}

void hil_journal_commit(const uint8_t *blob, uint32_t bytes)
{
    hil_journal_write(HIL_PHASE_COMMITTED, bytes, hil_crc32(0u, blob, bytes));
}

void hil_journal_begin_update(void)
{
    hil_journal_write(HIL_PHASE_UPDATING, hil_journal.blob_bytes, hil_journal.blob_crc);
}

void hil_journal_abort_update(void)
{
    hil_journal_write(HIL_PHASE_COMMITTED, hil_journal.blob_bytes, hil_journal.blob_crc);
}

hil_journal_state_t hil_journal_check(const uint8_t *blob, uint32_t *bytes)
{
    const uint32_t phase = hil_journal.phase;
    const uint32_t n = hil_journal.blob_bytes;
    const uint32_t crc = hil_journal.blob_crc;
    if (hil_journal.magic != HIL_JOURNAL_MAGIC || hil_journal.record_crc != hil_record_crc(phase, n, crc) ||
        n > HIL_ARENA_BYTES) {
        return HIL_JOURNAL_EMPTY;
    }
    if (phase == HIL_PHASE_UPDATING) {
        return HIL_JOURNAL_TORN;
    }
    if (phase != HIL_PHASE_COMMITTED || hil_crc32(0u, blob, n) != crc) {
        return HIL_JOURNAL_TORN; /* recorded whole, but the bytes changed since: not what was committed */
    }
    *bytes = n;
    return HIL_JOURNAL_WHOLE;
}
