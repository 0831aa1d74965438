#include "hil_fmt.h"

typedef struct {
    char *dst;
    size_t cap;
    size_t len;
} hil_fmt_out_t;

static void hil_fmt_putc(hil_fmt_out_t *o, char c)
{
    if (o->len + 1u < o->cap) {
        o->dst[o->len++] = c;
    }
}

static void hil_fmt_uint(hil_fmt_out_t *o, uint32_t v, unsigned base, unsigned width, char pad, int negative)
{
    char digits[12];
    unsigned n = 0;
    do {
        const unsigned d = (unsigned)(v % base);
        digits[n++] = (char)(d < 10u ? '0' + d : 'a' + (d - 10u));
        v /= base;
    } while (v != 0u);
    if (negative) {
        digits[n++] = '-';
    }
    while (width > n) {
        hil_fmt_putc(o, pad);
        width--;
    }
    while (n > 0u) {
        hil_fmt_putc(o, digits[--n]);
    }
}

size_t hil_vfmt(char *dst, size_t cap, const char *fmt, va_list ap)
{
    hil_fmt_out_t o = {dst, cap, 0u};
    for (const char *p = fmt; *p != '\0'; p++) {
        if (*p != '%') {
            hil_fmt_putc(&o, *p);
            continue;
        }
        p++;
        char pad = ' ';
        unsigned width = 0;
        if (*p == '0') {
            pad = '0';
            p++;
        }
        while (*p >= '0' && *p <= '9') {
            width = width * 10u + (unsigned)(*p - '0');
            p++;
        }
        switch (*p) {
        case 'u':
            hil_fmt_uint(&o, va_arg(ap, uint32_t), 10u, width, pad, 0);
            break;
        case 'x':
            hil_fmt_uint(&o, va_arg(ap, uint32_t), 16u, width, pad, 0);
            break;
        case 'd': {
            const int32_t v = va_arg(ap, int32_t);
            /* negate in unsigned arithmetic: -INT32_MIN does not exist as int32_t */
            hil_fmt_uint(&o, v < 0 ? 0u - (uint32_t)v : (uint32_t)v, 10u, width, pad, v < 0);
            break;
        }
        case 's':
            for (const char *s = va_arg(ap, const char *); *s != '\0'; s++) {
                hil_fmt_putc(&o, *s);
            }
            break;
        case 'c':
            hil_fmt_putc(&o, (char)va_arg(ap, int));
            break;
        case '%':
            hil_fmt_putc(&o, '%');
            break;
        default: /* unknown conversion or a '%' at the very end: print nothing more of it */
            if (*p == '\0') {
                p--;
            }
            break;
        }
    }
    if (cap > 0u) {
        dst[o.len] = '\0';
    }
    return o.len;
}

size_t hil_fmt(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const size_t n = hil_vfmt(dst, cap, fmt, ap);
    va_end(ap);
    return n;
}
