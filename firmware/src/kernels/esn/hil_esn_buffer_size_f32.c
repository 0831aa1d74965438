#include "hil/hil_esn.h"

size_t hil_esn_buffer_size_f32(const hil_esn_config_t *cfg, hil_esn_sizes_t *sizes)
{
    if (cfg == NULL || cfg->n_inputs == 0u || cfg->n_reservoir == 0u || cfg->n_outputs == 0u || cfg->feedback > 1u ||
        cfg->readout_input > 1u) {
        return 0u;
    }
    /* 64-bit sums: N = 65535 needs ~17 GB, which must read as "does not fit", not wrap a 32-bit size_t. */
    const uint64_t n = cfg->n_reservoir;
    const uint64_t k = cfg->n_inputs;
    const uint64_t o = cfg->n_outputs;
    const uint64_t d = 1u + (cfg->readout_input ? k : 0u) + n;
    const uint64_t weights = 4u * (n * (k + 1u) + n * n + (cfg->feedback ? n * o : 0u));
    const uint64_t init_scratch = 4u * 2u * n;
    const uint64_t state = 4u * (2u * n + d + o);
    const uint64_t a = 4u * (d * (d + 1u) / 2u);
    const uint64_t b = 4u * d * o;
    const uint64_t train_total = weights + state + (a > init_scratch ? a : init_scratch) + b;
#if SIZE_MAX < UINT64_MAX
    if (train_total > SIZE_MAX) {
        return 0u;
    }
#endif
    if (sizes != NULL) {
        sizes->weights = (size_t)weights;
        sizes->init_scratch = (size_t)init_scratch;
        sizes->state = (size_t)state;
        sizes->a = (size_t)a;
        sizes->b = (size_t)b;
        sizes->train_total = (size_t)train_total;
        sizes->infer_total = (size_t)(weights + state + b);
    }
    return (size_t)train_total;
}
