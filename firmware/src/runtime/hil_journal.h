/* The training journal: whether the parameters in the arena are whole, kept where a warm reset leaves it.
 *
 * A training step writes the parameters in place. The journal is marked UPDATING before the optimizer may write
 * and COMMITTED, with the CRC of the blob, after it has; a reset in between leaves UPDATING behind. After a reset,
 * MODEL_RECOVER rebinds the blob only when the journal says COMMITTED and the CRC still matches, so the device
 * goes on with either the parameters before the interrupted step or those after it, never a mix. */
#ifndef HIL_JOURNAL_H
#define HIL_JOURNAL_H

#include "hil/hil_types.h"

typedef enum {
    HIL_JOURNAL_EMPTY = 0, /* nothing recorded (power-on, soft reset, a new model streaming in) */
    HIL_JOURNAL_WHOLE,     /* the blob is as committed: recoverable */
    HIL_JOURNAL_TORN       /* a reset hit while the optimizer could write: parameters are a mix */
} hil_journal_state_t;

void hil_journal_forget(void);
/* The blob at the start of the arena is whole: record its length and CRC. */
void hil_journal_commit(const uint8_t *blob, uint32_t bytes);
/* The optimizer may write from now on. */
void hil_journal_begin_update(void);
/* The optimizer refused (non-finite): nothing was written, the committed CRC still holds. */
void hil_journal_abort_update(void);
/* What a reset left: WHOLE only when the record is intact and the blob's CRC matches; *bytes its length. */
hil_journal_state_t hil_journal_check(const uint8_t *blob, uint32_t *bytes);

#endif /* HIL_JOURNAL_H */
