/* Shared helpers for the subcommands: error reporting, loading inputs, parsing lists. */
#ifndef VT_CLI_H
#define VT_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "ventral/npy.h"

/* Exit codes: 0 ok, 1 failure (bad input, i/o), 2 usage error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Prints "ventral <cmd>: error: <message>" on one line to stderr and returns CLI_FAIL. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints vt_last_error() the same way and returns CLI_FAIL. */
int cli_fail_status(void);
/* Prints a usage error plus the hint "see 'ventral <cmd> --help'" and returns CLI_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Name of the running subcommand, for messages. */
extern const char *cli_command;

/* Loads a .npy (memory-mapped where possible), converts it to float64 when `to_f64`,
 * and rejects NaN/Inf when `finite`. On failure prints the error and returns NULL. */
vt_tensor *cli_load(const char *path, bool to_f64, bool finite);

/* Parses "a,b,c" as doubles. Returns the count, or -1 (error printed) on bad input. */
int cli_parse_doubles(const char *text, double *out, int cap);
/* Strict integer / double parsing of an option's value; error printed on failure. */
bool cli_parse_i64(const char *opt, const char *text, int64_t *out);
bool cli_parse_double(const char *opt, const char *text, double *out);
/* Creates directory `dir` (and its parents) if missing. */
bool cli_mkdir(const char *dir);
/* An output directory a command makes before it can know whether it will succeed: remembers how much
 * of the path existed, so that a failing command leaves no empty directory behind. */
typedef struct cli_outdir {
    char *path;
    size_t existed; /* length of the longest prefix of path that was already a directory */
} cli_outdir;
/* Like cli_mkdir; `od` must be passed to cli_outdir_close whatever this returns. */
bool cli_outdir_make(cli_outdir *od, const char *dir);
/* When `failed`, removes the directories cli_outdir_make created, deepest first, as far as they are
 * empty (a file written there, or someone else's, keeps its directory); then frees `od`. */
void cli_outdir_close(cli_outdir *od, bool failed);
/* dir + "/" + name into a static-per-call buffer the caller owns (free it). */
char *cli_join(const char *dir, const char *name);

#endif
