/* Checked allocation: every size product is overflow-checked before it reaches malloc. */
#include <stdint.h>
#include <stdlib.h>

#include "ventral/core.h"

void *vt_malloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        vt_fail(VT_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    size_t bytes = count * size;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) vt_fail(VT_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *vt_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) vt_fail(VT_ERR_NOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}
