/* A printf subset for error reasons, so portable code needs no stdio (newlib's printf alone would cost more
 * flash than the whole runtime).
 *
 * Conversions: %u %x (uint32_t), %d (int32_t), %s, %c, %%; an optional '0' flag and width for %u %x %d.
 * Integer arguments must be passed as uint32_t / int32_t (cast at the call site): that is what va_arg reads.
 */
#ifndef HIL_FMT_H
#define HIL_FMT_H

#include <stdarg.h>

#include "hil/hil_types.h"

/* Writes at most cap-1 characters and a terminator; returns the length written. */
size_t hil_fmt(char *dst, size_t cap, const char *fmt, ...);
size_t hil_vfmt(char *dst, size_t cap, const char *fmt, va_list ap);

#endif /* HIL_FMT_H */
