/* Test hooks of the float LSTM, absent from every normal build (all empty unless HIL_TEST_PERTURB_STEP is defined).
 *
 * tests/hil/test_triage.py builds an image with HIL_TEST_PERTURB_STEP, _LAYER, _ROW and _DELTA to break the kernel
 * on purpose: at that step, in that layer, the gate pre-activation of that row (gate * H + unit, gates i, f, g, o)
 * gets DELTA added before the activations. INFER and TRACE run through the same hook, so the trace shows the fault
 * where it is. The step and layer reach the cell through two globals the loops set. */
#ifndef HILS_TEST_HOOKS_H
#define HILS_TEST_HOOKS_H

#include <stdint.h>

#ifdef HIL_TEST_PERTURB_STEP
extern uint32_t hils_test_step;
extern uint32_t hils_test_layer;
#define HILS_TEST_AT(t, l) (hils_test_step = (uint32_t)(t), hils_test_layer = (uint32_t)(l))
#define HILS_TEST_PERTURB(gates)                                                                                       \
    do {                                                                                                               \
        if (hils_test_step == (uint32_t)(HIL_TEST_PERTURB_STEP) &&                                                     \
            hils_test_layer == (uint32_t)(HIL_TEST_PERTURB_LAYER)) {                                                   \
            (gates)[HIL_TEST_PERTURB_ROW] += (float)(HIL_TEST_PERTURB_DELTA);                                          \
        }                                                                                                              \
    } while (0)
#else
#define HILS_TEST_AT(t, l) ((void)0)
#define HILS_TEST_PERTURB(gates) ((void)0)
#endif

#endif /* HILS_TEST_HOOKS_H */
