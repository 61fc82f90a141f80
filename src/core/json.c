/* JSON string literals: the one escaper every JSON writer in ventral uses for text it did not
 * write itself (file paths, ROI and variable names, dataset keys). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ventral/core.h"

/* The two-character escape of byte `c` ('n' for '\n', ...), or 0 if it has none. */
static char short_escape(unsigned char c)
{
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '\n': return 'n';
    case '\t': return 't';
    case '\r': return 'r';
    case '\b': return 'b';
    case '\f': return 'f';
    default: return 0;
    }
}

char *vt_json_quote(const char *s)
{
    if (!s) {
        char *out = malloc(5);
        if (!out)
            vt_fail(VT_ERR_NOMEM, "out of memory quoting a JSON string");
        else
            memcpy(out, "null", 5);
        return out;
    }
    size_t n = 3; /* the quotes and the terminator */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t w = short_escape(*p) ? 2 : *p < 0x20 ? 6 : 1; /* \u00XX */
        if (n > SIZE_MAX - w) {
            vt_fail(VT_ERR_NOMEM, "quoting a JSON string overflows the address space");
            return NULL;
        }
        n += w;
    }
    char *out = malloc(n);
    if (!out) {
        vt_fail(VT_ERR_NOMEM, "out of memory quoting a JSON string of %zu bytes", n);
        return NULL;
    }
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc = short_escape(*p);
        if (esc) {
            *o++ = '\\';
            *o++ = esc;
        } else if (*p < 0x20) {
            memcpy(o, "\\u00", 4);
            o += 4;
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        } else {
            *o++ = (char)*p; /* everything else, UTF-8 included, passes through */
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}
