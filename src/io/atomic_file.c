#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/atomic_file.h"

vt_status vt_atomic_open(vt_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    if (vt_check_output_path(path) != VT_OK) return VT_ERR_IO;
    size_t n = strlen(path) + 32;
    af->path = strdup(path);
    af->tmp_path = vt_malloc(n, 1);
    if (!af->path || !af->tmp_path) {
        vt_atomic_abandon(af);
        return vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s.tmp-%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "w+b");
    if (!af->f) {
        vt_status st = vt_fail(VT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        vt_atomic_abandon(af);
        return st;
    }
    return VT_OK;
}

vt_status vt_atomic_write(vt_atomic_file *af, const void *data, size_t n)
{
    if (n && fwrite(data, 1, n, af->f) != n)
        return vt_fail(VT_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    return VT_OK;
}

vt_status vt_atomic_commit(vt_atomic_file *af)
{
    vt_status st = VT_OK;
    if (fclose(af->f) != 0) st = vt_fail(VT_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    af->f = NULL;
    if (st == VT_OK && rename(af->tmp_path, af->path) != 0)
        st = vt_fail(VT_ERR_IO, "%s: cannot rename into place: %s", af->path, strerror(errno));
    if (st != VT_OK) {
        vt_atomic_abandon(af);
        return st;
    }
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    return VT_OK;
}

void vt_atomic_abandon(vt_atomic_file *af)
{
    if (af->f) fclose(af->f);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}
