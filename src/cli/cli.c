#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

const char *cli_command = "";

static void vprint_error(const char *kind, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *c = msg; *c; c++)
        if (*c == '\n') *c = ' '; /* errors are one line, always */
    fprintf(stderr, "ventral %s: %s: %s\n", cli_command, kind, msg);
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error("error", fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

int cli_fail_status(void)
{
    return cli_error("%s", vt_last_error());
}

int cli_usage_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ventral %s: usage error: %s (see 'ventral %s --help')\n", cli_command, msg, cli_command);
    return CLI_USAGE;
}

vt_tensor *cli_load(const char *path, bool to_f64, bool finite)
{
    vt_tensor *t = NULL;
    if (vt_npy_map(path, &t) != VT_OK) {
        cli_fail_status();
        return NULL;
    }
    if (to_f64 && t->dtype != VT_F64) {
        vt_tensor *c = NULL;
        vt_status st = vt_tensor_convert(t, VT_F64, &c);
        vt_tensor_free(t);
        if (st != VT_OK) {
            cli_error("%s: %s", path, vt_last_error());
            return NULL;
        }
        t = c;
    }
    if (finite && vt_tensor_check_finite(t, path) != VT_OK) {
        cli_fail_status();
        vt_tensor_free(t);
        return NULL;
    }
    return t;
}

int cli_parse_doubles(const char *text, double *out, int cap)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno) {
            cli_usage_error("cannot parse '%s' as a comma-separated list of numbers", text);
            return -1;
        }
        if (n == cap) {
            cli_usage_error("more than %d values in '%s'", cap, text);
            return -1;
        }
        out[n++] = v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p) {
            cli_usage_error("cannot parse '%s' as a comma-separated list of numbers", text);
            return -1;
        }
    }
    return n;
}

bool cli_parse_i64(const char *opt, const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno) {
        cli_usage_error("%s expects an integer, got '%s'", opt, text);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *opt, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno) {
        cli_usage_error("%s expects a number, got '%s'", opt, text);
        return false;
    }
    *out = v;
    return true;
}

bool cli_mkdir(const char *dir)
{
    if (vt_mkdirs(dir) == VT_OK) return true;
    cli_fail_status();
    return false;
}

bool cli_outdir_make(cli_outdir *od, const char *dir)
{
    od->path = strdup(dir);
    od->existed = 0;
    if (!od->path) {
        cli_error("%s: out of memory", dir);
        return false;
    }
    char *p = od->path;
    size_t keep = strlen(p);
    struct stat sb;
    for (;;) {
        char c = p[keep];
        p[keep] = '\0';
        bool is_dir = keep == 0 || (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode));
        p[keep] = c;
        if (is_dir) break;
        while (keep > 0 && p[keep - 1] != '/') keep--;
        if (keep > 0) keep--;
    }
    od->existed = keep;
    return cli_mkdir(dir);
}

void cli_outdir_close(cli_outdir *od, bool failed)
{
    if (failed && od->path)
        for (size_t len = strlen(od->path); len > od->existed;) {
            rmdir(od->path);
            char *slash = strrchr(od->path, '/');
            if (!slash) break;
            *slash = '\0';
            len = (size_t)(slash - od->path);
        }
    free(od->path);
    od->path = NULL;
}

char *cli_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}
