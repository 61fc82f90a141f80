/* Internal: a file written under a temporary name and renamed into place on success,
 * so that a crash or error never leaves a partial file under the final name. */
#ifndef VT_ATOMIC_FILE_H
#define VT_ATOMIC_FILE_H

#include <stdio.h>

#include "ventral/core.h"

typedef struct vt_atomic_file {
    FILE *f;
    char *path;     /* final name */
    char *tmp_path; /* "<path>.tmp-<pid>" in the same directory, so rename is atomic */
} vt_atomic_file;

vt_status vt_atomic_open(vt_atomic_file *af, const char *path);
vt_status vt_atomic_write(vt_atomic_file *af, const void *data, size_t n);
/* Closes, renames into place and frees; on failure removes the temporary file. */
vt_status vt_atomic_commit(vt_atomic_file *af);
/* Closes and removes the temporary file. Safe on a zeroed struct. */
void vt_atomic_abandon(vt_atomic_file *af);

#endif
