/* ventral core: status codes, the last-error message, threads, version.
 *
 * Every library function that can fail returns a vt_status (VT_OK = 0). On failure it
 * has stored one human sentence naming the file or argument at fault, which
 * vt_last_error() returns (thread-local; valid until the next failing call on this thread).
 *
 *   vt_tensor *x = NULL;
 *   if (vt_npy_read("X.npy", &x) != VT_OK) {
 *       fprintf(stderr, "error: %s\n", vt_last_error());
 *       return 1;
 *   }
 */
#ifndef VENTRAL_CORE_H
#define VENTRAL_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vt_status {
    VT_OK = 0,
    VT_ERR_ARG,         /* invalid argument: wrong shape, value out of range, NaN/Inf */
    VT_ERR_NOMEM,       /* an allocation failed or a size would overflow memory */
    VT_ERR_IO,          /* open/read/write/rename failed */
    VT_ERR_FORMAT,      /* a file is corrupt, truncated or not what it claims */
    VT_ERR_UNSUPPORTED, /* valid input ventral does not handle (dtype, op, version) */
    VT_ERR_NUMERIC,     /* a numerical routine failed (e.g. eigensolver did not converge) */
    VT_ERR_INTERNAL,    /* a bug: an invariant did not hold */
    VT_STATUS_COUNT
} vt_status;

/* The message of the last failure on this thread ("" if none). Never NULL. */
const char *vt_last_error(void);

/* Short name of a status code, e.g. "format error". */
const char *vt_status_name(vt_status status);

/* Records a formatted message as the last error and returns `status` unchanged, so that
 * library code can write `return vt_fail(VT_ERR_ARG, "%s: ...", path);`. Every error in
 * the library passes through this one function (a good breakpoint). */
vt_status vt_fail(vt_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current last-error message with a formatted context ("X.npy: " + message). */
vt_status vt_fail_context(vt_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Threads. One setting rules OpenMP loops, OpenBLAS and oneDNN. 0 = all cores.
 * vt_threads_init() reads VENTRAL_THREADS once; the CLI's --threads overrides it. */
void vt_threads_init(void);
void vt_threads_set(int n);
int vt_threads_get(void);

/* Creates `dir` and its missing parents (mkdir -p); VT_ERR_IO naming it when that fails or a
 * non-directory is in the way. */
vt_status vt_mkdirs(const char *dir);
/* VT_ERR_IO naming `path` when a directory stands where an output file is to go, so that a command
 * fails before its work rather than at the final rename. */
vt_status vt_check_output_path(const char *path);

/* Library version string, e.g. "0.1.0". */
const char *vt_version(void);

/* Checked allocation helpers: return NULL and set the last error on failure or on
 * size overflow (count * size). Memory is released with free(). */
void *vt_malloc(size_t count, size_t size);
void *vt_calloc(size_t count, size_t size);

/* `s` as a JSON string literal, surrounding quotes included: '"' and '\\' are escaped, control
 * bytes below 0x20 become \n \t \r \b \f or \u00XX, every other byte (UTF-8 included) passes
 * through. NULL gives the literal null (no quotes). Returns a new string the caller releases with
 * free(), or NULL with VT_ERR_NOMEM recorded when allocation fails. */
char *vt_json_quote(const char *s);

#ifdef __cplusplus
}
#endif
#endif
