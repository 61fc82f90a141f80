/* Fetching and verifying dataset releases over HTTP(S) with libcurl.
 *
 * A manifest lists the files of a release: relative path, size and SHA-256 (either may be
 * unknown). Built-in manifests describe the files the benchmark needs from NSD and the
 * Majaj–Hong IT assembly; any other release (e.g. the Linsley et al. neural data) is described
 * by a manifest file. Downloads go to "<file>.part" and are renamed only after the size and
 * SHA-256 check; an interrupted transfer is resumed with an HTTP range request (within a run,
 * up to `retries` times, and on the next run). Every fetched file is recorded with its size and
 * SHA-256 in DIR/ventral_manifest.tsv, which vt_fetch_verify re-checks.
 *
 * Manifest files are text: '#' lines are comments or "# key: value" settings (dataset,
 * base_url); every other line is "SIZE<TAB>SHA256<TAB>PATH[<TAB>optional]" with '-' for an unknown
 * size or hash; an optional file missing upstream (HTTP 404) is skipped.
 *
 * Credentials come from the environment: VENTRAL_FETCH_TOKEN (sent as "Authorization: Bearer"),
 * or VENTRAL_FETCH_USER and VENTRAL_FETCH_PASSWORD (HTTP basic auth). VENTRAL_FETCH_TIMEOUT sets
 * the stall timeout in seconds (default 60).
 *
 *   vt_manifest *m;
 *   int subjects[] = {1};
 *   vt_manifest_builtin("nsd", subjects, 1, 0, &m);
 *   vt_fetch_options o;
 *   vt_fetch_options_default(&o);
 *   if (vt_fetch(m, "/data/nsd", &o) != VT_OK) fprintf(stderr, "%s\n", vt_last_error());
 *   vt_manifest_free(m);
 */
#ifndef VENTRAL_FETCH_H
#define VENTRAL_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "ventral/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_FETCH_LOCAL_MANIFEST "ventral_manifest.tsv"

typedef struct vt_manifest_entry {
    char *path;      /* relative, '/'-separated, no ".." */
    int64_t size;    /* -1 = unknown */
    char sha256[65]; /* lowercase hex, "" = unknown */
    bool optional;   /* a 404 skips the file instead of failing the fetch */
} vt_manifest_entry;

typedef struct vt_manifest {
    char *dataset;  /* may be NULL */
    char *base_url; /* may be NULL (then the fetch options must give one) */
    vt_manifest_entry *entries;
    int64_t n;
} vt_manifest;

vt_status vt_manifest_read(const char *path, vt_manifest **out);
/* Writes atomically. */
vt_status vt_manifest_write(const char *path, const vt_manifest *m);
void vt_manifest_free(vt_manifest *m); /* NULL is a no-op */

/* The files the benchmark needs from a known release: "nsd" (design, stimuli, and per subject
 * the HDF5 betas of every session (or the first max_sessions), ncsnr, ROI volumes and label
 * tables) or "majajhong" (the Brain-Score public IT assembly). subjects: NSD subjects 1..8
 * (NULL / 0 = 1, 2, 5, 7, the four complete subjects). Sizes and hashes are unknown. */
vt_status vt_manifest_builtin(const char *dataset, const int *subjects, int n_subjects, int max_sessions,
                              vt_manifest **out);

/* A manifest of every regular file under dir (sizes and SHA-256), skipping the local manifest
 * and partial downloads: for describing a release so that others can fetch and verify it. */
vt_status vt_manifest_from_dir(const char *dir, vt_manifest **out);

typedef struct vt_fetch_options {
    const char *base_url; /* overrides the manifest's; files are fetched from base_url + "/" + path */
    int retries;          /* resumed attempts after an interrupted transfer, default 3 */
    long timeout_s;       /* stall timeout; 0 = VENTRAL_FETCH_TIMEOUT or 60 */
    /* Progress (e.g. a bar on a terminal); called often, total = -1 when unknown. May be NULL. */
    void (*progress)(void *ctx, const char *path, int64_t done, int64_t total);
    void *progress_ctx;
    /* Called once per file: status "fetched", "present" (already complete), "resumed", "absent"
     * (optional, 404). May be NULL. */
    void (*file_done)(void *ctx, const char *path, const char *status, int64_t size);
} vt_fetch_options;

void vt_fetch_options_default(vt_fetch_options *o);

/* Fetches every file of m under dir (created if missing), skipping files already recorded in
 * dir's local manifest with the expected size (and hash, when known). Stops at the first file
 * that fails, with a sentence naming it and the cause (HTTP status, timeout, size or hash
 * mismatch); completed files stay recorded. */
vt_status vt_fetch(const vt_manifest *m, const char *dir, const vt_fetch_options *o);

/* Re-hashes every file recorded in dir's local manifest. *n_ok / *n_bad count files; fails
 * (VT_ERR_FORMAT) when any file is missing or differs, naming the first. */
vt_status vt_fetch_verify(const char *dir, int64_t *n_ok, int64_t *n_bad);

#ifdef __cplusplus
}
#endif
#endif
