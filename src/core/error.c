/* The one place errors are recorded: a thread-local message per thread. */
#include <stdio.h>
#include <string.h>

#include "ventral/core.h"

enum { VT_ERROR_LEN = 1024 };
static _Thread_local char last_error[VT_ERROR_LEN];

static const char *const status_names[] = {
    [VT_OK] = "ok",
    [VT_ERR_ARG] = "invalid argument",
    [VT_ERR_NOMEM] = "out of memory",
    [VT_ERR_IO] = "i/o error",
    [VT_ERR_FORMAT] = "format error",
    [VT_ERR_UNSUPPORTED] = "unsupported",
    [VT_ERR_NUMERIC] = "numerical failure",
    [VT_ERR_INTERNAL] = "internal error",
};
_Static_assert(sizeof status_names / sizeof status_names[0] == VT_STATUS_COUNT, "one name per status code");

const char *vt_last_error(void)
{
    return last_error;
}

const char *vt_status_name(vt_status status)
{
    if ((unsigned)status >= VT_STATUS_COUNT) return "unknown status";
    return status_names[status];
}

vt_status vt_fail(vt_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

vt_status vt_fail_context(vt_status status, const char *fmt, ...)
{
    char prefix[VT_ERROR_LEN], old[VT_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t used = strlen(prefix);
    memcpy(last_error, prefix, used + 1);
    if (used + 1 < sizeof last_error) {
        strncpy(last_error + used, old, sizeof last_error - used - 1);
        last_error[sizeof last_error - 1] = '\0';
    }
    return status;
}
