/* File-system helpers shared by the library and the CLI. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ventral/core.h"

vt_status vt_mkdirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p) return vt_fail(VT_ERR_NOMEM, "%s: out of memory", dir);
    /* Parents first; their failures surface as the final mkdir's error. */
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = '\0';
        mkdir(p, 0777);
        *c = '/';
    }
    int err = mkdir(p, 0777) == 0 ? 0 : errno;
    struct stat sb;
    bool is_dir = stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
    free(p);
    if (!is_dir)
        return vt_fail(VT_ERR_IO, "%s: cannot create directory: %s", dir,
                       strerror(err && err != EEXIST ? err : ENOTDIR));
    return VT_OK;
}

vt_status vt_check_output_path(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return vt_fail(VT_ERR_IO, "%s: is a directory, not a file that can be written", path);
    return VT_OK;
}
