/* The resumable many-model benchmark (see bench.h). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ventral/bench.h"
#include "ventral/hash.h"

static void say(vt_bench_log_fn log, void *user, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(vt_bench_log_fn log, void *user, const char *fmt, ...)
{
    if (!log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(user, line);
}

/* Writes `pre` and then s as a JSON string literal (vt_json_quote: exact, never truncated); false
 * with the message recorded when quoting runs out of memory. */
static bool put_quoted(FILE *f, const char *pre, const char *s)
{
    char *q = vt_json_quote(s);
    if (!q) return false;
    fputs(pre, f);
    fputs(q, f);
    free(q);
    return true;
}

/* The configuration as canonical JSON: a rerun of the same configuration resumes its run. Returns a
 * new string (free it), or NULL with the last error set when out of memory. */
static char *config_json(const vt_bench_config *c)
{
    char *j = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&j, &len);
    if (!f) {
        vt_fail(VT_ERR_NOMEM, "out of memory writing the run configuration");
        return NULL;
    }
    bool ok = put_quoted(f, "{\"command\": \"bench\", \"name\": ", c->name) &&
              put_quoted(f, ", \"stimuli\": ", c->stimuli) && put_quoted(f, ", \"transform\": ", c->transform) &&
              put_quoted(f, ", \"layers\": ", c->layers) && put_quoted(f, ", \"protocol\": ", c->protocol);
    /* Recorded only when not the default, so configurations written before it existed still match. */
    if (ok && c->precision != VT_PRECISION_F32) fprintf(f, ", \"precision\": \"%s\"", vt_precision_name(c->precision));
    if (ok)
        fprintf(f,
                ", \"eps\": %.17g, \"k\": %lld, \"seed\": %llu, \"metrics\": %u, \"split\": %d, \"bootstrap\": %lld, "
                "\"brain\": [",
                c->eps, (long long)c->k, (unsigned long long)c->seed, c->metrics, c->split, (long long)c->bootstrap);
    for (int i = 0; ok && i < c->n_brain; i++) ok = put_quoted(f, i ? ", " : "", c->brain[i]);
    if (ok) fputs("], \"models\": [", f);
    for (int i = 0; ok && i < c->n_models; i++) {
        ok = put_quoted(f, i ? ", {\"name\": " : "{\"name\": ", c->models[i].name) &&
             put_quoted(f, ", \"path\": ", c->models[i].path);
        if (ok) fputc('}', f);
    }
    if (ok) fputs("]}", f);
    bool written = ok && !ferror(f);
    if (fclose(f) != 0) written = false;
    if (!written) {
        if (ok) vt_fail(VT_ERR_NOMEM, "out of memory writing the run configuration");
        free(j);
        return NULL;
    }
    return j;
}

/* What identifies a stimulus source's content: a small file's SHA-256; for large files and
 * folders, names, sizes and modification times (hashing a 30 GB brick on every run would cost
 * more than it protects). */
static vt_status stimuli_identity(const char *src, vt_sha256 *h)
{
    struct stat sb;
    if (stat(src, &sb) != 0) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
    char line[1200];
    if (S_ISREG(sb.st_mode) && sb.st_size < (256 << 20)) {
        char hex[VT_SHA256_HEX];
        vt_status st = vt_sha256_file(src, hex);
        if (st != VT_OK) return st;
        vt_sha256_update(h, hex, strlen(hex));
        return VT_OK;
    }
    snprintf(line, sizeof line, "%s|%lld|%lld", src, (long long)sb.st_size, (long long)sb.st_mtime);
    vt_sha256_update(h, line, strlen(line));
    if (S_ISDIR(sb.st_mode)) {
        struct dirent **names;
        int n = scandir(src, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            char path[1100];
            snprintf(path, sizeof path, "%s/%s", src, names[i]->d_name);
            if (names[i]->d_name[0] != '.' && stat(path, &sb) == 0) {
                snprintf(line, sizeof line, "%s|%lld|%lld\n", names[i]->d_name, (long long)sb.st_size,
                         (long long)sb.st_mtime);
                vt_sha256_update(h, line, strlen(line));
            }
            free(names[i]);
        }
        free(names);
    }
    return VT_OK;
}

/* Whether the scoring asks for RSMs of unprojected features (cRSA under conwell2024). */
static bool wants_unprojected_rsm(const vt_bench_config *c)
{
    vt_score_options o;
    return vt_score_protocol(c->protocol, &o) == VT_OK && o.crsa_unprojected && (c->metrics & VT_SCORE_CRSA);
}

/* Cache file of a model's features: the name plus a hash of everything the features depend on
 * (a store with unprojected RSMs has its own key, so one without them is never reused for it). */
static vt_status cache_path(const vt_bench_config *c, const vt_bench_model *m, const char *model_sha, char *out,
                            size_t len)
{
    vt_sha256 *h = vt_sha256_new();
    if (!h) return VT_ERR_NOMEM;
    char line[512];
    snprintf(line, sizeof line, "ventral-features/%d|%s|%s|%.17g|%lld|%llu|%s|", VT_FEATURES_FORMAT_VERSION, model_sha,
             m->transform ? m->transform : c->transform, c->k > 0 ? 0 : c->eps, (long long)c->k,
             (unsigned long long)c->seed, c->layers);
    vt_sha256_update(h, line, strlen(line));
    if (wants_unprojected_rsm(c)) vt_sha256_update(h, "unprojected-rsm|", 16);
    if (c->precision != VT_PRECISION_F32) { /* f32 stores keep the keys they had before precision was a key */
        snprintf(line, sizeof line, "precision=%s|", vt_precision_name(c->precision));
        vt_sha256_update(h, line, strlen(line));
    }
    vt_status st = stimuli_identity(c->stimuli, h);
    if (st != VT_OK) {
        vt_sha256_free(h);
        return st;
    }
    char hex[VT_SHA256_HEX];
    vt_sha256_final(h, hex);
    snprintf(out, len, "%s/%s-%.16s.h5", c->cache, m->name, hex);
    return VT_OK;
}

static vt_status ensure_features(const vt_bench_config *c, const vt_bench_model *m, const char *sha, char *path,
                                 size_t len, bool *cached, vt_bench_log_fn log, void *user)
{
    vt_status st = cache_path(c, m, sha, path, len);
    if (st != VT_OK) return st;
    vt_features *f = NULL;
    if (access(path, R_OK) == 0 && vt_features_open(path, &f) == VT_OK) {
        vt_features_free(f);
        *cached = true;
        say(log, user, "%s: features from the cache (%s)", m->name, path);
        return VT_OK;
    }
    *cached = false;
    vt_transform tf;
    vt_stimuli *s = NULL;
    st = vt_transform_preset(m->transform ? m->transform : c->transform, &tf);
    if (st == VT_OK) st = vt_stimuli_open(c->stimuli, &tf, &s);
    vt_extract_options eo;
    vt_extract_options_init(&eo);
    eo.capture = c->layers;
    eo.eps = c->eps;
    eo.k = c->k;
    eo.seed = c->seed;
    eo.batch = c->batch;
    eo.unprojected_rsm = wants_unprojected_rsm(c);
    eo.precision = c->precision;
    vt_extract_info info;
    if (st == VT_OK) st = vt_extract(m->path, s, path, &eo, &info);
    vt_stimuli_free(s);
    if (st == VT_OK)
        say(log, user, "%s: extracted %d layers (%d projected to k = %lld) in %.1f s", m->name, info.layers,
            info.projected, (long long)info.k, info.seconds);
    return st == VT_OK ? st : vt_fail_context(st, "model '%s': ", m->name);
}

/* Whether (model, subject) already has its selected scores in this run. */
static bool pair_done(const vt_results_table *t, const char *model, const char *sha, const char *subject)
{
    for (size_t i = 0; t && i < t->n; i++) {
        const vt_results_row *r = &t->rows[i];
        if (r->selected && r->split == VT_SPLIT_TEST && r->model && !strcmp(r->model, model) && r->model_sha256 &&
            !strcmp(r->model_sha256, sha) && r->subject && !strcmp(r->subject, subject))
            return true;
    }
    return false;
}

static vt_status score_options(const vt_bench_config *c, vt_score_options *o)
{
    vt_status st = vt_score_protocol(c->protocol, o);
    if (st != VT_OK) return st;
    o->metrics = c->metrics;
    o->seed = c->seed;
    if (c->split >= 0) o->split = (vt_split_kind)c->split;
    if (c->bootstrap >= 0) o->bootstrap = c->bootstrap;
    return VT_OK;
}

/* Responses (bytes of float32) of the brain stores held together while a model is scored against
 * them in one pass (vt_score_many). */
static const size_t BRAIN_GROUP_BYTES = (size_t)1 << 30;

typedef struct counts {
    int extracted, cached, scored, skipped;
} counts;

static vt_status run_model(const vt_bench_config *c, int mi, int64_t run, vt_bench_log_fn log, void *user, counts *n)
{
    const vt_bench_model *m = &c->models[mi];
    char sha[VT_SHA256_HEX], path[4096];
    bool cached = false;
    vt_status st = vt_sha256_file(m->path, sha);
    if (st != VT_OK) return vt_fail_context(st, "model '%s': ", m->name);
    vt_results *db = NULL;
    vt_results_table *done = NULL;
    vt_features *f = NULL;
    st = vt_results_open(c->db, VT_RESULTS_WRITE, &db);
    if (st == VT_OK) st = vt_results_scores(db, run, &done);
    /* Skip the model entirely (no extraction) when every subject is already scored. */
    int todo = 0;
    char **subjects = vt_calloc((size_t)c->n_brain, sizeof *subjects);
    if (st == VT_OK && !subjects) st = VT_ERR_NOMEM;
    for (int b = 0; st == VT_OK && b < c->n_brain; b++) {
        vt_brain *br;
        st = vt_brain_read(c->brain[b], &br);
        if (st != VT_OK) break;
        subjects[b] = strdup(br->subject ? br->subject : "subject");
        vt_brain_free(br);
        if (!subjects[b]) {
            st = vt_fail(VT_ERR_NOMEM, "out of memory");
            break;
        }
        if (!pair_done(done, m->name, sha, subjects[b])) todo++;
    }
    if (st == VT_OK && todo == 0) {
        n->skipped += c->n_brain;
        say(log, user, "%s: already scored against every subject in run %lld, skipped", m->name, (long long)run);
    }
    if (st == VT_OK && todo > 0) {
        st = ensure_features(c, m, sha, path, sizeof path, &cached, log, user);
        if (st == VT_OK) cached ? n->cached++ : n->extracted++;
        if (st == VT_OK) st = vt_features_open(path, &f);
    }
    vt_score_options opt;
    if (st == VT_OK) st = score_options(c, &opt);
    vt_results_model rm = vt_results_model_init();
    rm.name = m->name;
    rm.sha256 = sha;
    rm.family = m->family;
    rm.task = m->task;
    rm.training_data = m->training_data;
    rm.trained = m->trained;
    rm.top1 = m->top1;
    rm.n_params = m->params;
    rm.transform = m->transform ? m->transform : c->transform;
    /* The subjects still to score, in groups scored in one pass over the layers (vt_score_many
     * shares each layer's work among them); a group holds brain stores of at most
     * BRAIN_GROUP_BYTES of responses together, so memory stays bounded for large stores. */
    vt_brain **group = vt_calloc((size_t)c->n_brain, sizeof *group);
    int *group_idx = vt_calloc((size_t)c->n_brain, sizeof *group_idx);
    if (st == VT_OK && (!group || !group_idx)) st = VT_ERR_NOMEM;
    for (int b = 0; st == VT_OK && todo > 0 && b < c->n_brain;) {
        int ng = 0;
        size_t bytes = 0;
        double t0 = omp_get_wtime();
        for (; st == VT_OK && b < c->n_brain; b++) {
            if (pair_done(done, m->name, sha, subjects[b])) {
                n->skipped++;
                say(log, user, "%s vs %s: already scored, skipped", m->name, subjects[b]);
                continue;
            }
            vt_brain *br = NULL;
            st = vt_brain_read(c->brain[b], &br);
            if (st != VT_OK) {
                st = vt_fail_context(st, "%s vs %s: ", m->name, c->brain[b]);
                break;
            }
            size_t sz = vt_tensor_nbytes(br->responses);
            if (ng > 0 && bytes + sz > BRAIN_GROUP_BYTES) { /* the next group starts with this store */
                vt_brain_free(br);
                break;
            }
            group[ng] = br, group_idx[ng] = b, ng++;
            bytes += sz;
        }
        if (st != VT_OK || ng == 0) {
            for (int k = 0; k < ng; k++) vt_brain_free(group[k]);
            continue;
        }
        int64_t *runs = vt_malloc((size_t)ng, sizeof *runs);
        vt_score_summary *sums = vt_calloc((size_t)ng, sizeof *sums);
        if (!runs || !sums) st = VT_ERR_NOMEM;
        for (int k = 0; st == VT_OK && k < ng; k++) runs[k] = run;
        if (st == VT_OK) st = vt_score_many(f, ng, (const vt_brain *const *)group, &opt, db, runs, &rm, sums);
        if (st == VT_OK) {
            for (int k = 0; k < ng; k++) {
                n->scored++;
                say(log, user, "%s vs %s: %lld layers scored in %.1f s%s", m->name, subjects[group_idx[k]],
                    (long long)sums[k].layers_scored, omp_get_wtime() - t0,
                    ng > 1 ? " (subjects scored together)" : "");
                vt_score_summary_free(&sums[k]);
            }
        } else if (ng == 1) {
            st = vt_fail_context(st, "%s vs %s: ", m->name, c->brain[group_idx[0]]);
        } else {
            st = vt_fail_context(st, "%s vs %d subjects from %s: ", m->name, ng, c->brain[group_idx[0]]);
        }
        free(runs);
        free(sums);
        for (int k = 0; k < ng; k++) vt_brain_free(group[k]);
    }
    free(group);
    free(group_idx);
    for (int b = 0; subjects && b < c->n_brain; b++) free(subjects[b]);
    free(subjects);
    vt_features_free(f);
    vt_results_table_free(done);
    vt_results_close(db);
    return st;
}

vt_status vt_bench_run(const vt_bench_config *c, int jobs, vt_bench_log_fn log, void *user, vt_bench_info *info)
{
    if (jobs < 1) jobs = 1;
    if (jobs > c->n_models) jobs = c->n_models;
    vt_status st = vt_mkdirs(c->cache);
    char *json = st == VT_OK ? config_json(c) : NULL;
    if (st == VT_OK && !json) st = VT_ERR_NOMEM;
    vt_results *db = NULL;
    int64_t run = 0;
    bool resumed = false;
    if (st == VT_OK) st = vt_results_open(c->db, VT_RESULTS_CREATE, &db);
    if (st == VT_OK) st = vt_results_run_start(db, json, true, &run, &resumed);
    vt_results_close(db);
    free(json);
    if (st != VT_OK) return st;
    say(log, user, "%s run %lld of '%s': %d models x %d subjects, %d job(s)", resumed ? "resuming" : "starting",
        (long long)run, c->name, c->n_models, c->n_brain, jobs);
    counts n = {0};
    if (jobs == 1) {
        for (int i = 0; st == VT_OK && i < c->n_models; i++) st = run_model(c, i, run, log, user, &n);
    } else {
        /* Workers are processes (each with its own OpenMP pool and database handle); SQLite's
         * locking serialises their transactions. Counts come back through a pipe. */
        int threads = vt_threads_get() / jobs > 0 ? vt_threads_get() / jobs : 1;
        int fds[2];
        if (pipe(fds) != 0) return vt_fail(VT_ERR_IO, "cannot create a pipe: %s", strerror(errno));
        fflush(NULL);
        for (int w = 0; w < jobs; w++) {
            pid_t pid = fork();
            if (pid < 0) return vt_fail(VT_ERR_IO, "cannot fork a worker: %s", strerror(errno));
            if (pid == 0) {
                close(fds[0]);
                vt_threads_set(threads);
                counts mine = {0};
                vt_status ws = VT_OK;
                for (int i = w; ws == VT_OK && i < c->n_models; i += jobs) ws = run_model(c, i, run, log, user, &mine);
                if (ws != VT_OK) say(log, user, "error: %s", vt_last_error());
                if (write(fds[1], &mine, sizeof mine) != (ssize_t)sizeof mine) ws = VT_ERR_IO;
                _exit(ws == VT_OK ? 0 : 1);
            }
        }
        close(fds[1]);
        int failed = 0, status;
        counts part;
        while (read(fds[0], &part, sizeof part) == (ssize_t)sizeof part) {
            n.extracted += part.extracted, n.cached += part.cached;
            n.scored += part.scored, n.skipped += part.skipped;
        }
        close(fds[0]);
        while (wait(&status) > 0)
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
        if (failed) st = vt_fail(VT_ERR_INTERNAL, "%d benchmark worker(s) failed (their errors are above)", failed);
    }
    if (st == VT_OK && vt_results_open(c->db, VT_RESULTS_WRITE, &db) == VT_OK) {
        st = vt_results_run_finish(db, run, "finished");
        vt_results_close(db);
    }
    if (info) {
        info->run_id = run;
        info->extracted = n.extracted, info->cached = n.cached, info->scored = n.scored, info->skipped = n.skipped;
    }
    return st;
}
