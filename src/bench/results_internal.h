/* Internal: what the results database, its analyses and the report share. */
#ifndef VT_RESULTS_INTERNAL_H
#define VT_RESULTS_INTERNAL_H

#include <sqlite3.h>
#include <stdio.h>

#include "ventral/results.h"

/* The open database's SQLite handle (owned by db). */
sqlite3 *vt_results_handle(vt_results *db);

/* Records "<db path>: <what>: <sqlite message>" with a status mapped from the SQLite code. */
vt_status vt_results_fail_sqlite(vt_results *db, int rc, const char *what);

/* Writes vt_json_quote(s) to f: s as a JSON string literal (with quotes); NULL writes null.
 * Returns VT_OK, or VT_ERR_NOMEM (message recorded, nothing written) when quoting runs out of
 * memory; write errors are left on the stream for ferror() like any other write. */
vt_status vt_json_write_string(FILE *f, const char *s);
/* Writes a double with 17 significant digits, or null when NaN/Inf. */
void vt_json_write_double(FILE *f, double v);

/* A string arena: strings copied in live until the pool is freed. */
typedef struct vt_strpool vt_strpool;
vt_strpool *vt_strpool_new(void);
/* Copy of s (NULL stays NULL); NULL with the last error set when out of memory (check with *ok). */
const char *vt_strpool_dup(vt_strpool *p, const char *s, bool *ok);
void vt_strpool_free(vt_strpool *p);

#endif
