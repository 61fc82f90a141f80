/* Release fetching: manifests, resumable verified downloads with libcurl, local verification. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "ventral/fetch.h"
#include "ventral/hash.h"

/* ---- manifests -------------------------------------------------------------------------- */

void vt_manifest_free(vt_manifest *m)
{
    if (!m) return;
    for (int64_t i = 0; i < m->n; i++) free(m->entries[i].path);
    free(m->entries);
    free(m->dataset);
    free(m->base_url);
    free(m);
}

static vt_status add_entry(vt_manifest *m, int64_t *cap, const char *path, int64_t size, const char *sha)
{
    if (m->n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 64;
        vt_manifest_entry *e = realloc(m->entries, sizeof *e * (size_t)nc);
        if (!e) return vt_fail(VT_ERR_NOMEM, "out of memory");
        m->entries = e, *cap = nc;
    }
    vt_manifest_entry *e = &m->entries[m->n];
    memset(e, 0, sizeof *e);
    if (!(e->path = strdup(path))) return vt_fail(VT_ERR_NOMEM, "out of memory");
    e->size = size;
    snprintf(e->sha256, sizeof e->sha256, "%s", sha ? sha : "");
    m->n++;
    return VT_OK;
}

static bool safe_path(const char *p)
{
    if (!*p || *p == '/' || strstr(p, "//")) return false;
    for (const char *s = p; s;) {
        if (strncmp(s, "..", 2) == 0 && (s[2] == '/' || !s[2])) return false;
        s = strchr(s, '/');
        if (s) s++;
    }
    return true;
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64) return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
    return true;
}

vt_status vt_manifest_read(const char *path, vt_manifest **out)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vt_manifest *m = vt_calloc(1, sizeof *m);
    int64_t cap = 0, lineno = 0;
    vt_status st = m ? VT_OK : VT_ERR_NOMEM;
    char line[8192];
    while (!st && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (!len) continue;
        if (line[0] == '#') {
            char key[64], value[4096];
            if (sscanf(line, "# %63[a-z_]: %4095s", key, value) == 2) {
                char **dst = strcmp(key, "dataset") == 0    ? &m->dataset
                             : strcmp(key, "base_url") == 0 ? &m->base_url
                                                            : NULL;
                if (dst) {
                    free(*dst);
                    if (!(*dst = strdup(value))) st = vt_fail(VT_ERR_NOMEM, "out of memory");
                }
            }
            continue;
        }
        char *size = strtok(line, "\t"), *sha = strtok(NULL, "\t"), *p = strtok(NULL, "\t"), *flag = strtok(NULL, "\t");
        char *end = NULL;
        long long sz = size && strcmp(size, "-") != 0 ? strtoll(size, &end, 10) : -1;
        if (!p || (end && *end) || sz < -1 || (strcmp(sha, "-") != 0 && !is_hex64(sha)) || !safe_path(p) ||
            (flag && strcmp(flag, "optional") != 0)) {
            st =
                vt_fail(VT_ERR_FORMAT,
                        "%s:%lld: expected SIZE<TAB>SHA256<TAB>PATH[<TAB>optional] ('-' when unknown; a relative path)",
                        path, (long long)lineno);
            break;
        }
        st = add_entry(m, &cap, p, sz, strcmp(sha, "-") == 0 ? "" : sha);
        if (!st && flag) m->entries[m->n - 1].optional = true;
    }
    if (!st && ferror(f)) st = vt_fail(VT_ERR_IO, "%s: read error", path);
    fclose(f);
    if (st) {
        vt_manifest_free(m);
        return st == VT_ERR_NOMEM ? vt_fail(st, "%s: out of memory", path) : st;
    }
    *out = m;
    return VT_OK;
}

vt_status vt_manifest_write(const char *path, const vt_manifest *m)
{
    vt_atomic_file af;
    vt_status st = vt_atomic_open(&af, path);
    if (st) return st;
    fprintf(af.f, "# ventral manifest: SIZE<TAB>SHA256<TAB>PATH ('-' = unknown)\n");
    if (m->dataset) fprintf(af.f, "# dataset: %s\n", m->dataset);
    if (m->base_url) fprintf(af.f, "# base_url: %s\n", m->base_url);
    for (int64_t i = 0; i < m->n; i++) {
        const vt_manifest_entry *e = &m->entries[i];
        if (e->size >= 0)
            fprintf(af.f, "%lld\t", (long long)e->size);
        else
            fprintf(af.f, "-\t");
        fprintf(af.f, "%s\t%s%s\n", e->sha256[0] ? e->sha256 : "-", e->path, e->optional ? "\toptional" : "");
    }
    if (ferror(af.f)) {
        vt_atomic_abandon(&af);
        return vt_fail(VT_ERR_IO, "%s: write failed", path);
    }
    return vt_atomic_commit(&af);
}

/* NSD sessions per subject (NSD data manual, "Technical notes"). */
static const int nsd_sessions[8] = {40, 40, 32, 30, 40, 32, 40, 30};

vt_status vt_manifest_builtin(const char *dataset, const int *subjects, int n_subjects, int max_sessions,
                              vt_manifest **out)
{
    *out = NULL;
    vt_manifest *m = vt_calloc(1, sizeof *m);
    if (!m) return VT_ERR_NOMEM;
    int64_t cap = 0;
    vt_status st = VT_OK;
    char p[1024];
    if (strcmp(dataset, "nsd") == 0) {
        static const int complete[4] = {1, 2, 5, 7};
        if (!subjects || n_subjects == 0) subjects = complete, n_subjects = 4;
        m->dataset = strdup("nsd");
        m->base_url = strdup("https://natural-scenes-dataset.s3.amazonaws.com");
        st = add_entry(m, &cap, "nsddata/experiments/nsd/nsd_expdesign.mat", -1, NULL);
        if (!st) st = add_entry(m, &cap, "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5", -1, NULL);
        static const char *const atlases[] = {"nsdgeneral",  "streams",     "floc-faces",
                                              "floc-bodies", "floc-places", "floc-words"};
        for (int i = 0; i < n_subjects && !st; i++) {
            int s = subjects[i];
            if (s < 1 || s > 8) {
                st = vt_fail(VT_ERR_ARG, "NSD subjects are 1..8, got %d", s);
                break;
            }
            int n = nsd_sessions[s - 1];
            if (max_sessions > 0 && max_sessions < n) n = max_sessions;
            const char *b = "nsddata_betas/ppdata/subj%02d/func1pt8mm/betas_fithrf_GLMdenoise_RR";
            char dir[256];
            snprintf(dir, sizeof dir, b, s);
            for (int k = 1; k <= n && !st; k++) {
                snprintf(p, sizeof p, "%s/betas_session%02d.hdf5", dir, k);
                st = add_entry(m, &cap, p, -1, NULL);
            }
            snprintf(p, sizeof p, "%s/ncsnr.nii.gz", dir);
            if (!st) st = add_entry(m, &cap, p, -1, NULL);
            for (int a = 0; a < 6 && !st; a++) {
                snprintf(p, sizeof p, "nsddata/ppdata/subj%02d/func1pt8mm/roi/%s.nii.gz", s, atlases[a]);
                st = add_entry(m, &cap, p, -1, NULL);
                if (!st && a > 1) { /* label names: optional (ventral knows NSD's tables) */
                    snprintf(p, sizeof p, "nsddata/freesurfer/subj%02d/label/%s.mgz.ctab", s, atlases[a]);
                    if (!(st = add_entry(m, &cap, p, -1, NULL))) m->entries[m->n - 1].optional = true;
                }
            }
            snprintf(p, sizeof p, "nsddata/freesurfer/subj%02d/label/streams.mgz.ctab", s);
            if (!st && !(st = add_entry(m, &cap, p, -1, NULL))) m->entries[m->n - 1].optional = true;
        }
    } else if (strcmp(dataset, "majajhong") == 0) {
        /* Brain-Score / BrainIO locations (dicarlo.MajajHong2015.public and its stimulus set dicarlo.hvm-public). */
        m->dataset = strdup("majajhong");
        m->base_url = strdup("https://brainio.dicarlo.s3.amazonaws.com");
        st = add_entry(m, &cap, "assy_dicarlo_MajajHong2015_public.nc", -1, NULL);
        if (!st) st = add_entry(m, &cap, "image_dicarlo_hvm-public.csv", -1, NULL);
        if (!st) st = add_entry(m, &cap, "image_dicarlo_hvm-public.zip", -1, NULL);
    } else
        st = vt_fail(VT_ERR_ARG, "unknown dataset '%s' (known: nsd, majajhong; or give a manifest file)", dataset);
    if (!st && (!m->dataset || !m->base_url)) st = vt_fail(VT_ERR_NOMEM, "out of memory");
    if (st) {
        vt_manifest_free(m);
        return st;
    }
    *out = m;
    return VT_OK;
}

static bool skip_name(const char *name)
{
    return name[0] == '.' || strcmp(name, VT_FETCH_LOCAL_MANIFEST) == 0 || strstr(name, ".part") ||
           strstr(name, ".tmp-");
}

static vt_status scan(const char *root, const char *rel, vt_manifest *m, int64_t *cap)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return vt_fail(VT_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    vt_status st = VT_OK;
    struct dirent *e;
    /* Sorted output: collect names first. */
    char **names = NULL;
    size_t n = 0, ncap = 0;
    while ((e = readdir(d))) {
        if (skip_name(e->d_name)) continue;
        if (n == ncap) {
            char **nn = realloc(names, sizeof *nn * (ncap = ncap ? ncap * 2 : 32));
            if (!nn) {
                st = vt_fail(VT_ERR_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = vt_fail(VT_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1], names[j - 1] = t;
        }
    for (size_t i = 0; i < n && !st; i++) {
        char r[4096], full[8200];
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        snprintf(full, sizeof full, "%s/%s", root, r);
        struct stat sb;
        if (stat(full, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode))
            st = scan(root, r, m, cap);
        else if (S_ISREG(sb.st_mode)) {
            char hex[VT_SHA256_HEX];
            if (!(st = vt_sha256_file(full, hex))) st = add_entry(m, cap, r, (int64_t)sb.st_size, hex);
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

vt_status vt_manifest_from_dir(const char *dir, vt_manifest **out)
{
    *out = NULL;
    vt_manifest *m = vt_calloc(1, sizeof *m);
    if (!m) return VT_ERR_NOMEM;
    int64_t cap = 0;
    vt_status st = scan(dir, "", m, &cap);
    if (st) {
        vt_manifest_free(m);
        return st;
    }
    *out = m;
    return VT_OK;
}

/* ---- downloads -------------------------------------------------------------------------- */

void vt_fetch_options_default(vt_fetch_options *o)
{
    memset(o, 0, sizeof *o);
    o->retries = 3;
}

static vt_status mkparents(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *c = buf + 1; *c; c++) {
        if (*c != '/') continue;
        *c = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return vt_fail(VT_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *c = '/';
    }
    return VT_OK;
}

typedef struct transfer {
    FILE *f;
    CURL *curl;
    const vt_fetch_options *o;
    const char *path;
    int64_t offset, total;
    bool write_failed, started, discard, stalled;
    long timeout;
    curl_off_t last_now;
    struct timespec last_change;
} transfer;

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + 1e-9 * (double)(now.tv_nsec - t0->tv_nsec);
}

static size_t on_data(char *ptr, size_t size, size_t n, void *ctx)
{
    transfer *t = ctx;
    size_t bytes = size * n;
    if (!t->started) {
        /* Decide once, from the status line, what this body is: an error page is never kept,
         * and a full (200) answer to a range request replaces the partial file. */
        long code = 0;
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
        t->started = true;
        t->discard = code >= 300;
        if (code == 200 && t->offset > 0) {
            if (fflush(t->f) != 0 || ftruncate(fileno(t->f), 0) != 0) {
                t->write_failed = true;
                return 0;
            }
            t->offset = 0;
        }
    }
    if (t->discard) return bytes;
    if (fwrite(ptr, 1, bytes, t->f) != bytes) {
        t->write_failed = true;
        return 0;
    }
    return bytes;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)ultotal, (void)ulnow;
    transfer *t = ctx;
    /* A stall (no new byte for `timeout` seconds) aborts the transfer, however large the file. */
    if (dlnow != t->last_now) {
        t->last_now = dlnow;
        clock_gettime(CLOCK_MONOTONIC, &t->last_change);
    } else if (since(&t->last_change) > (double)t->timeout) {
        t->stalled = true;
        return 1;
    }
    if (t->o->progress)
        t->o->progress(t->o->progress_ctx, t->path, t->offset + (int64_t)dlnow,
                       t->total >= 0 ? t->total
                       : dltotal > 0 ? t->offset + (int64_t)dltotal
                                     : -1);
    return 0;
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : -1;
}

/* One HTTP attempt: appends to part (resuming at its current size). *http gets the status. */
static vt_status attempt(CURL *curl, const char *url, const char *part, const vt_manifest_entry *e,
                         const vt_fetch_options *o, long timeout, long *http, bool *restart)
{
    int64_t have = file_size(part);
    if (have < 0) have = 0;
    FILE *f = fopen(part, have ? "ab" : "wb");
    if (!f) return vt_fail(VT_ERR_IO, "%s: cannot write: %s", part, strerror(errno));
    transfer t = {.f = f, .curl = curl, .o = o, .path = e->path, .offset = have, .total = e->size, .timeout = timeout};
    clock_gettime(CLOCK_MONOTONIC, &t.last_change);
    char range[64];
    snprintf(range, sizeof range, "%lld-", (long long)have);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ventral/" VENTRAL_VERSION);
    if (have) curl_easy_setopt(curl, CURLOPT_RANGE, range);
    struct curl_slist *headers = NULL;
    const char *token = getenv("VENTRAL_FETCH_TOKEN"), *user = getenv("VENTRAL_FETCH_USER");
    char auth[4096], userpwd[1024];
    if (token && *token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    } else if (user && *user) {
        const char *pw = getenv("VENTRAL_FETCH_PASSWORD");
        snprintf(userpwd, sizeof userpwd, "%s:%s", user, pw ? pw : "");
        curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
    }
    CURLcode rc = curl_easy_perform(curl);
    *http = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http);
    curl_slist_free_all(headers);
    bool close_failed = fclose(f) != 0;
    *restart = false;
    if (t.write_failed || close_failed) return vt_fail(VT_ERR_IO, "%s: write failed: %s", part, strerror(errno));
    if (*http == 416) {
        *restart = true; /* our partial file is longer than the remote one */
        return vt_fail(VT_ERR_IO, "%s: partial download does not match the remote file", url);
    }
    if (*http == 401 || *http == 403)
        return vt_fail(VT_ERR_IO,
                       "%s: HTTP %ld %s (set VENTRAL_FETCH_TOKEN, or VENTRAL_FETCH_USER and VENTRAL_FETCH_PASSWORD, if "
                       "the host needs credentials)",
                       url, *http, *http == 401 ? "Unauthorized" : "Forbidden");
    if (*http == 404) return vt_fail(VT_ERR_IO, "%s: HTTP 404 Not Found (check --base-url and the manifest)", url);
    if (rc == CURLE_OPERATION_TIMEDOUT || (rc == CURLE_ABORTED_BY_CALLBACK && t.stalled))
        return vt_fail(VT_ERR_IO, "%s: timed out (no data for %ld s; %lld bytes kept in %s, rerun to resume)", url,
                       timeout, (long long)file_size(part), part);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
        return vt_fail(VT_ERR_IO, "%s: cannot connect: %s", url, curl_easy_strerror(rc));
    if (rc != CURLE_OK)
        return vt_fail(VT_ERR_IO, "%s: transfer interrupted: %s (%lld bytes kept in %s, rerun to resume)", url,
                       curl_easy_strerror(rc), (long long)file_size(part), part);
    if (*http >= 400) return vt_fail(VT_ERR_IO, "%s: HTTP %ld", url, *http);
    return VT_OK;
}

/* Index of path in the local manifest, or -1. */
static int64_t find_entry(const vt_manifest *m, const char *path)
{
    for (int64_t i = 0; m && i < m->n; i++)
        if (strcmp(m->entries[i].path, path) == 0) return i;
    return -1;
}

static vt_status fetch_one(CURL *curl, const char *base, const vt_manifest_entry *e, const char *dir,
                           const vt_fetch_options *o, long timeout, char sha_out[65], int64_t *size_out, bool *resumed)
{
    char final[4096], part[4200], url[8192];
    snprintf(final, sizeof final, "%s/%s", dir, e->path);
    snprintf(part, sizeof part, "%s.part", final);
    size_t bl = strlen(base);
    snprintf(url, sizeof url, "%s%s%s", base, bl && base[bl - 1] == '/' ? "" : "/", e->path);
    vt_status st = mkparents(final);
    if (st) return st;
    *resumed = file_size(part) > 0;
    long http = 0;
    for (int a = 0; a <= o->retries; a++) {
        bool restart = false;
        st = attempt(curl, url, part, e, o, timeout, &http, &restart);
        if (st == VT_OK) break;
        if (restart) {
            unlink(part);
            continue;
        }
        /* Only interrupted transfers are worth resuming at once; HTTP errors and timeouts are not. */
        if (!strstr(vt_last_error(), "transfer interrupted")) {
            if (file_size(part) == 0) unlink(part); /* nothing worth resuming */
            return st;
        }
        *resumed = true;
    }
    if (st) return st;
    int64_t got = file_size(part);
    if (e->size >= 0 && got != e->size) {
        if (got > e->size) unlink(part);
        return vt_fail(VT_ERR_FORMAT, "%s: size %lld, expected %lld%s", e->path, (long long)got, (long long)e->size,
                       got > e->size ? " (partial file removed)" : " (rerun to resume)");
    }
    char hex[VT_SHA256_HEX];
    if ((st = vt_sha256_file(part, hex))) return st;
    if (e->sha256[0] && strcmp(hex, e->sha256) != 0) {
        unlink(part);
        return vt_fail(VT_ERR_FORMAT,
                       "%s: SHA-256 %s does not match the manifest's %s (corrupted download removed; rerun)", e->path,
                       hex, e->sha256);
    }
    if (rename(part, final) != 0) return vt_fail(VT_ERR_IO, "%s: cannot rename into place: %s", final, strerror(errno));
    memcpy(sha_out, hex, VT_SHA256_HEX);
    *size_out = got;
    return VT_OK;
}

vt_status vt_fetch(const vt_manifest *m, const char *dir, const vt_fetch_options *o)
{
    const char *base = o->base_url ? o->base_url : m->base_url;
    if (!base) return vt_fail(VT_ERR_ARG, "no base URL: give --base-url or a manifest with '# base_url: URL'");
    long timeout = o->timeout_s;
    if (timeout <= 0) {
        const char *env = getenv("VENTRAL_FETCH_TIMEOUT");
        timeout = env && atol(env) > 0 ? atol(env) : 60;
    }
    char local[4096];
    snprintf(local, sizeof local, "%s/" VT_FETCH_LOCAL_MANIFEST, dir);
    vt_status st = mkparents(local);
    if (st) return st;
    vt_manifest *have = NULL;
    if (file_size(local) >= 0 && (st = vt_manifest_read(local, &have))) return st;
    if (!have && !(have = vt_calloc(1, sizeof *have))) return VT_ERR_NOMEM;
    if (!have->dataset && m->dataset) have->dataset = strdup(m->dataset);
    free(have->base_url);
    have->base_url = strdup(base);
    int64_t cap = have->n;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        vt_manifest_free(have);
        return vt_fail(VT_ERR_INTERNAL, "libcurl initialisation failed");
    }
    CURL *curl = curl_easy_init();
    if (!curl) st = vt_fail(VT_ERR_INTERNAL, "libcurl initialisation failed");
    for (int64_t i = 0; i < m->n && !st; i++) {
        const vt_manifest_entry *e = &m->entries[i];
        char final[4096];
        snprintf(final, sizeof final, "%s/%s", dir, e->path);
        int64_t k = find_entry(have, e->path), size = file_size(final);
        /* Present and recorded with the expected size and hash: nothing to do (verify re-hashes). */
        if (k >= 0 && size >= 0 && size == have->entries[k].size && (e->size < 0 || e->size == size) &&
            (!e->sha256[0] || strcmp(e->sha256, have->entries[k].sha256) == 0)) {
            if (o->file_done) o->file_done(o->progress_ctx, e->path, "present", size);
            continue;
        }
        char hex[VT_SHA256_HEX];
        bool resumed = false;
        if ((st = fetch_one(curl, base, e, dir, o, timeout, hex, &size, &resumed))) {
            if (e->optional && strstr(vt_last_error(), "HTTP 404")) { /* optional and absent upstream: skip */
                st = VT_OK;
                if (o->file_done) o->file_done(o->progress_ctx, e->path, "absent", 0);
                continue;
            }
            break;
        }
        if (k < 0) {
            if ((st = add_entry(have, &cap, e->path, size, hex))) break;
        } else {
            have->entries[k].size = size;
            memcpy(have->entries[k].sha256, hex, VT_SHA256_HEX);
        }
        /* Record after every file, so an interrupted run keeps what it completed. */
        if ((st = vt_manifest_write(local, have))) break;
        if (o->file_done) o->file_done(o->progress_ctx, e->path, resumed ? "resumed" : "fetched", size);
    }
    if (!st) st = vt_manifest_write(local, have);
    if (curl) curl_easy_cleanup(curl);
    vt_manifest_free(have);
    return st;
}

vt_status vt_fetch_verify(const char *dir, int64_t *n_ok, int64_t *n_bad)
{
    *n_ok = *n_bad = 0;
    char local[4096];
    snprintf(local, sizeof local, "%s/" VT_FETCH_LOCAL_MANIFEST, dir);
    vt_manifest *m = NULL;
    vt_status st = vt_manifest_read(local, &m);
    if (st) return st;
    char first[4200] = "";
    for (int64_t i = 0; i < m->n; i++) {
        const vt_manifest_entry *e = &m->entries[i];
        char path[4096], hex[VT_SHA256_HEX], why[200] = "";
        snprintf(path, sizeof path, "%s/%s", dir, e->path);
        int64_t size = file_size(path);
        if (size < 0)
            snprintf(why, sizeof why, "missing");
        else if (e->size >= 0 && size != e->size)
            snprintf(why, sizeof why, "size %lld, expected %lld", (long long)size, (long long)e->size);
        else if (e->sha256[0] && vt_sha256_file(path, hex) != VT_OK)
            snprintf(why, sizeof why, "unreadable");
        else if (e->sha256[0] && strcmp(hex, e->sha256) != 0)
            snprintf(why, sizeof why, "SHA-256 differs");
        if (why[0]) {
            if (!*n_bad) snprintf(first, sizeof first, "%s: %s", e->path, why);
            (*n_bad)++;
        } else
            (*n_ok)++;
    }
    vt_manifest_free(m);
    if (*n_bad)
        return vt_fail(VT_ERR_FORMAT, "%s: %lld of %lld files failed verification; first: %s", dir, (long long)*n_bad,
                       (long long)(*n_ok + *n_bad), first);
    return VT_OK;
}
