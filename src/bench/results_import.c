/* Importing scores (the CSV that export writes) and RSM vectors into a results database.
 * Export followed by import into an empty database reproduces the rows exactly: numbers are
 * written with 17 significant digits and parsed back with strtod. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/results_internal.h"
#include "ventral/npy.h"

enum { MAX_FIELDS = 64 };

typedef struct csv_reader {
    const char *path;
    char *text, *end, *pos;
    char *scratch;       /* unquoted field contents of the current record */
    int64_t line;        /* lines consumed so far */
    int64_t record_line; /* the line the current record starts on, for messages */
    char *field[MAX_FIELDS];
    int n;
} csv_reader;

static vt_status csv_open(csv_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    FILE *f = fopen(path, "rb");
    if (!f) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vt_status s = VT_OK;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) s = vt_fail(VT_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    if (s == VT_OK) {
        r->text = vt_malloc((size_t)len + 1, 1);
        r->scratch = vt_malloc((size_t)len + 1, 1);
        if (!r->text || !r->scratch) s = VT_ERR_NOMEM;
    }
    if (s == VT_OK && fread(r->text, 1, (size_t)len, f) != (size_t)len)
        s = vt_fail(VT_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    fclose(f);
    if (s != VT_OK) {
        free(r->text);
        free(r->scratch);
        return s;
    }
    r->text[len] = '\0';
    r->pos = r->text;
    r->end = r->text + len;
    return VT_OK;
}

static void csv_close(csv_reader *r)
{
    free(r->text);
    free(r->scratch);
}

/* Reads the next record into r->field / r->n (RFC 4180: quoted fields may hold commas, doubled
 * quotes and newlines). Returns 1 for a record, 0 at the end, -1 on a malformed record. Blank
 * lines are skipped. */
static int csv_next(csv_reader *r)
{
    while (r->pos < r->end && (*r->pos == '\n' || *r->pos == '\r')) {
        if (*r->pos == '\n') r->line++;
        r->pos++;
    }
    if (r->pos >= r->end) return 0;
    r->line++;
    r->record_line = r->line;
    char *o = r->scratch;
    r->n = 0;
    for (;;) {
        if (r->n == MAX_FIELDS) {
            vt_fail(VT_ERR_FORMAT, "%s: line %lld: more than %d fields", r->path, (long long)r->record_line,
                    MAX_FIELDS);
            return -1;
        }
        r->field[r->n++] = o;
        if (r->pos < r->end && *r->pos == '"') {
            r->pos++;
            for (;;) {
                if (r->pos >= r->end) {
                    vt_fail(VT_ERR_FORMAT, "%s: line %lld: unterminated quoted field", r->path,
                            (long long)r->record_line);
                    return -1;
                }
                if (*r->pos == '"') {
                    if (r->pos + 1 < r->end && r->pos[1] == '"') {
                        *o++ = '"';
                        r->pos += 2;
                        continue;
                    }
                    r->pos++;
                    break;
                }
                if (*r->pos == '\n') r->line++;
                *o++ = *r->pos++;
            }
            if (r->pos < r->end && *r->pos != ',' && *r->pos != '\n' && *r->pos != '\r') {
                vt_fail(VT_ERR_FORMAT, "%s: line %lld: text after a closing quote", r->path, (long long)r->record_line);
                return -1;
            }
        } else {
            while (r->pos < r->end && *r->pos != ',' && *r->pos != '\n' && *r->pos != '\r') *o++ = *r->pos++;
        }
        *o++ = '\0';
        if (r->pos < r->end && *r->pos == ',') {
            r->pos++;
            continue;
        }
        if (r->pos < r->end && *r->pos == '\r') r->pos++;
        if (r->pos < r->end && *r->pos == '\n') r->pos++;
        return 1;
    }
}

/* Column positions by header name; -1 when absent. */
typedef struct columns {
    const char *const *names;
    int count;
    int at[MAX_FIELDS];
} columns;

static vt_status map_header(csv_reader *r, columns *c, const char *const *required)
{
    int got = csv_next(r);
    if (got < 0) return VT_ERR_FORMAT;
    if (got == 0) return vt_fail(VT_ERR_FORMAT, "%s: empty file (expected a CSV header)", r->path);
    for (int i = 0; i < c->count; i++) {
        c->at[i] = -1;
        for (int f = 0; f < r->n; f++)
            if (strcmp(r->field[f], c->names[i]) == 0) c->at[i] = f;
    }
    for (const char *const *q = required; *q; q++) {
        int i = 0;
        while (i < c->count && strcmp(c->names[i], *q) != 0) i++;
        if (i == c->count || c->at[i] < 0)
            return vt_fail(VT_ERR_FORMAT, "%s: CSV header lacks the column '%s'", r->path, *q);
    }
    return VT_OK;
}

/* Field of column i in the current record; NULL when the column is absent or the field empty. */
static const char *get(const csv_reader *r, const columns *c, int i)
{
    int f = c->at[i];
    if (f < 0 || f >= r->n || r->field[f][0] == '\0') return NULL;
    return r->field[f];
}

static vt_status parse_double(const csv_reader *r, const char *name, const char *text, double *out)
{
    if (!text) {
        *out = NAN;
        return VT_OK;
    }
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    if (end == text || *end || errno == ERANGE || !isfinite(*out))
        return vt_fail(VT_ERR_FORMAT, "%s: line %lld: %s '%s' is not a finite number", r->path,
                       (long long)r->record_line, name, text);
    return VT_OK;
}

static vt_status parse_int(const csv_reader *r, const char *name, const char *text, int64_t *out)
{
    if (!text) {
        *out = -1;
        return VT_OK;
    }
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno || v < 0)
        return vt_fail(VT_ERR_FORMAT, "%s: line %lld: %s '%s' is not a non-negative integer", r->path,
                       (long long)r->record_line, name, text);
    *out = v;
    return VT_OK;
}

/* The run an imported row belongs to: the id in the file (created when missing), or one run per
 * imported file, found again on re-import by its configuration text. */
static vt_status import_run(vt_results *db, const char *path, int64_t id, int64_t *run_id)
{
    char *config = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&config, &len);
    if (!m) return vt_fail(VT_ERR_NOMEM, "out of memory");
    fputs("{\"imported_from\": ", m);
    vt_status s = vt_json_write_string(m, path);
    fputc('}', m);
    if (fclose(m) != 0 && s == VT_OK) s = vt_fail(VT_ERR_NOMEM, "out of memory");
    if (s != VT_OK) {
        free(config);
        return s;
    }
    if (id < 0) {
        sqlite3_stmt *st = NULL;
        sqlite3 *h = vt_results_handle(db);
        int rc =
            sqlite3_prepare_v2(h, "SELECT id FROM runs WHERE config_json = ?1 ORDER BY id DESC LIMIT 1", -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, config, -1, SQLITE_TRANSIENT);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *run_id = sqlite3_column_int64(st, 0);
            s = VT_OK;
        } else if (rc == SQLITE_DONE) {
            s = vt_results_run_start(db, config, false, run_id, NULL);
            if (s == VT_OK) s = vt_results_run_finish(db, *run_id, "finished");
        } else {
            s = vt_results_fail_sqlite(db, rc, "cannot look up runs");
        }
        sqlite3_finalize(st);
    } else {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(vt_results_handle(db),
                                    "INSERT INTO runs(id, started, finished, ventral_version, config_json, status) "
                                    "VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), "
                                    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?2, ?3, 'finished') "
                                    "ON CONFLICT (id) DO NOTHING",
                                    -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, id);
        if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 2, vt_version(), -1, SQLITE_STATIC);
        if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 3, config, -1, SQLITE_TRANSIENT);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        s = rc == SQLITE_DONE ? VT_OK : vt_results_fail_sqlite(db, rc, "cannot create run");
        sqlite3_finalize(st);
        *run_id = id;
    }
    free(config);
    return s;
}

enum {
    C_RUN,
    C_MODEL,
    C_SHA,
    C_FAMILY,
    C_TASK,
    C_TRAINING,
    C_TRAINED,
    C_TOP1,
    C_PARAMS,
    C_TRANSFORM,
    C_LIDX,
    C_LNAME,
    C_LOP,
    C_LSHAPE,
    C_LFEAT,
    C_LK,
    C_LED,
    C_SUBJECT,
    C_ROI,
    C_METRIC,
    C_SPLIT,
    C_VALUE,
    C_CILO,
    C_CIHI,
    C_NC,
    C_NORM,
    C_SEL,
    C_COUNT
};
static const char *const score_columns[C_COUNT] = {
    "run_id",         "model",    "model_sha256", "family",        "task",       "training_data", "trained",
    "imagenet_top1",  "n_params", "transform",    "layer_index",   "layer_name", "layer_op",      "layer_shape",
    "layer_features", "layer_k",  "layer_ed",     "subject",       "roi",        "metric",        "split",
    "value",          "ci_low",   "ci_high",      "noise_ceiling", "normalised", "selected",
};

/* Ids of the last row's names: consecutive rows mostly repeat them. */
typedef struct id_cache {
    char *key;
    int64_t id;
} id_cache;

static bool cache_hit(id_cache *c, const char *key, int64_t *id)
{
    if (c->key && key && strcmp(c->key, key) == 0) {
        *id = c->id;
        return true;
    }
    return false;
}

static void cache_set(id_cache *c, const char *key, int64_t id)
{
    free(c->key);
    c->key = key ? strdup(key) : NULL;
    c->id = id;
}

static vt_status import_row(vt_results *db, const csv_reader *r, const columns *c, id_cache cache[6])
{
    vt_status s;
    int64_t run_file, run, model, layer, subject, roi, metric;
    if ((s = parse_int(r, "run_id", get(r, c, C_RUN), &run_file)) != VT_OK) return s;
    char runkey[32];
    snprintf(runkey, sizeof runkey, "%lld", (long long)run_file);
    if (!cache_hit(&cache[0], runkey, &run)) {
        if ((s = import_run(db, r->path, run_file, &run)) != VT_OK) return s;
        cache_set(&cache[0], runkey, run);
    }

    vt_results_model m = vt_results_model_init();
    m.name = get(r, c, C_MODEL);
    m.sha256 = get(r, c, C_SHA);
    m.family = get(r, c, C_FAMILY);
    m.task = get(r, c, C_TASK);
    m.training_data = get(r, c, C_TRAINING);
    m.transform = get(r, c, C_TRANSFORM);
    int64_t trained;
    if ((s = parse_int(r, "trained", get(r, c, C_TRAINED), &trained)) != VT_OK) return s;
    m.trained = (int)trained;
    if ((s = parse_double(r, "imagenet_top1", get(r, c, C_TOP1), &m.top1)) != VT_OK) return s;
    if ((s = parse_int(r, "n_params", get(r, c, C_PARAMS), &m.n_params)) != VT_OK) return s;
    if (!m.name) return vt_fail(VT_ERR_FORMAT, "%s: line %lld: empty model name", r->path, (long long)r->record_line);
    /* The model key covers every model column, so a row with new metadata updates it. */
    char *mkey = NULL;
    size_t mlen = 0;
    FILE *mk = open_memstream(&mkey, &mlen);
    if (!mk) return vt_fail(VT_ERR_NOMEM, "out of memory");
    for (int i = C_MODEL; i <= C_TRANSFORM; i++) fprintf(mk, "%s\x1f", get(r, c, i) ? get(r, c, i) : "");
    fclose(mk);
    bool hit = cache_hit(&cache[1], mkey, &model);
    if (!hit && (s = vt_results_put_model(db, &m, &model)) == VT_OK) cache_set(&cache[1], mkey, model);
    free(mkey);
    if (s != VT_OK) return vt_fail_context(s, "line %lld: ", (long long)r->record_line);

    vt_results_layer l = vt_results_layer_init();
    if (!get(r, c, C_LIDX))
        return vt_fail(VT_ERR_FORMAT, "%s: line %lld: empty layer_index", r->path, (long long)r->record_line);
    if ((s = parse_int(r, "layer_index", get(r, c, C_LIDX), &l.index)) != VT_OK) return s;
    l.name = get(r, c, C_LNAME);
    l.op = get(r, c, C_LOP);
    l.shape = get(r, c, C_LSHAPE);
    if ((s = parse_int(r, "layer_features", get(r, c, C_LFEAT), &l.features)) != VT_OK) return s;
    if ((s = parse_int(r, "layer_k", get(r, c, C_LK), &l.k)) != VT_OK) return s;
    if ((s = parse_double(r, "layer_ed", get(r, c, C_LED), &l.ed)) != VT_OK) return s;
    char lkey[64];
    snprintf(lkey, sizeof lkey, "%lld/%lld", (long long)model, (long long)l.index);
    if (!cache_hit(&cache[2], lkey, &layer)) {
        if ((s = vt_results_put_layer(db, model, &l, &layer)) != VT_OK)
            return vt_fail_context(s, "line %lld: ", (long long)r->record_line);
        cache_set(&cache[2], lkey, layer);
    }

    const char *sn = get(r, c, C_SUBJECT), *rn = get(r, c, C_ROI), *mn = get(r, c, C_METRIC);
    if (!cache_hit(&cache[3], sn, &subject)) {
        if ((s = vt_results_put_subject(db, sn, NULL, &subject)) != VT_OK)
            return vt_fail_context(s, "line %lld: ", (long long)r->record_line);
        cache_set(&cache[3], sn, subject);
    }
    if (!cache_hit(&cache[4], rn, &roi)) {
        if ((s = vt_results_put_roi(db, rn, NULL, &roi)) != VT_OK)
            return vt_fail_context(s, "line %lld: ", (long long)r->record_line);
        cache_set(&cache[4], rn, roi);
    }
    if (!cache_hit(&cache[5], mn, &metric)) {
        if ((s = vt_results_put_metric(db, mn, NULL, &metric)) != VT_OK)
            return vt_fail_context(s, "line %lld: ", (long long)r->record_line);
        cache_set(&cache[5], mn, metric);
    }

    vt_results_score sc = vt_results_score_init();
    sc.run_id = run;
    sc.layer_id = layer;
    sc.subject_id = subject;
    sc.roi_id = roi;
    sc.metric_id = metric;
    const char *split = get(r, c, C_SPLIT);
    if (split && strcmp(split, "train") == 0)
        sc.split = VT_SPLIT_TRAIN;
    else if (split && strcmp(split, "test") == 0)
        sc.split = VT_SPLIT_TEST;
    else
        return vt_fail(VT_ERR_FORMAT, "%s: line %lld: split must be 'train' or 'test'", r->path,
                       (long long)r->record_line);
    if (!get(r, c, C_VALUE))
        return vt_fail(VT_ERR_FORMAT, "%s: line %lld: empty value", r->path, (long long)r->record_line);
    if ((s = parse_double(r, "value", get(r, c, C_VALUE), &sc.value)) != VT_OK) return s;
    if ((s = parse_double(r, "ci_low", get(r, c, C_CILO), &sc.ci_low)) != VT_OK) return s;
    if ((s = parse_double(r, "ci_high", get(r, c, C_CIHI), &sc.ci_high)) != VT_OK) return s;
    if ((s = parse_double(r, "noise_ceiling", get(r, c, C_NC), &sc.noise_ceiling)) != VT_OK) return s;
    if ((s = parse_double(r, "normalised", get(r, c, C_NORM), &sc.normalised)) != VT_OK) return s;
    int64_t sel;
    if ((s = parse_int(r, "selected", get(r, c, C_SEL), &sel)) != VT_OK) return s;
    sc.selected = sel == 1;
    s = vt_results_put_score(db, &sc);
    if (s != VT_OK) return vt_fail_context(s, "line %lld: ", (long long)r->record_line);
    return VT_OK;
}

vt_status vt_results_import_csv(vt_results *db, const char *path, int64_t batch, int64_t *n_rows)
{
    if (n_rows) *n_rows = 0;
    csv_reader r;
    vt_status s = csv_open(&r, path);
    if (s != VT_OK) return s;
    columns c = {score_columns, C_COUNT, {0}};
    static const char *const required[] = {"model",  "layer_index", "layer_name", "subject", "roi",
                                           "metric", "split",       "value",      NULL};
    s = map_header(&r, &c, required);
    id_cache cache[6] = {{0}};
    int64_t n = 0, in_tx = 0;
    int got = 0;
    while (s == VT_OK && (got = csv_next(&r)) == 1) {
        if (in_tx == 0 && (s = vt_results_begin(db)) != VT_OK) break;
        in_tx++;
        s = import_row(db, &r, &c, cache);
        if (s != VT_OK) break;
        n++;
        if (batch > 0 && in_tx >= batch) {
            s = vt_results_commit(db);
            in_tx = 0;
        }
    }
    if (s == VT_OK && got < 0) s = VT_ERR_FORMAT;
    if (s == VT_OK && in_tx > 0) s = vt_results_commit(db);
    if (s != VT_OK) {
        /* The message is already recorded; rolling back keeps it. */
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", vt_last_error());
        vt_results_rollback(db);
        vt_fail(s, "%s", saved);
    }
    for (int i = 0; i < 6; i++) free(cache[i].key);
    csv_close(&r);
    if (n_rows) *n_rows = n;
    return s;
}

/* ---- RSM vectors ---- */

/* The strict upper triangle of a full n×n RSM, or a vector that already is one. */
static vt_status load_upper(const char *path, int64_t *n, double **upper)
{
    vt_tensor *t = NULL, *d = NULL;
    vt_status s = vt_npy_read(path, &t);
    if (s != VT_OK) return s;
    s = vt_tensor_convert(t, VT_F64, &d);
    vt_tensor_free(t);
    if (s != VT_OK) return s;
    const double *v = vt_tensor_f64(d);
    int64_t len = 0;
    if (d->rank == 2 && d->shape[0] == d->shape[1] && d->shape[0] >= 2) {
        *n = d->shape[0];
        len = *n * (*n - 1) / 2;
    } else if (d->rank == 1) {
        /* n(n−1)/2 = L  ⇒  n = (1 + √(1 + 8L)) / 2 */
        int64_t L = d->shape[0];
        *n = (int64_t)llround((1.0 + sqrt(1.0 + 8.0 * (double)L)) / 2.0);
        len = *n * (*n - 1) / 2;
        if (*n < 2 || len != L) {
            vt_tensor_free(d);
            return vt_fail(VT_ERR_ARG, "%s: %lld values are not the upper triangle of a square matrix", path,
                           (long long)L);
        }
    } else {
        vt_tensor_free(d);
        return vt_fail(VT_ERR_ARG, "%s: expected an n x n RSM or its upper triangle", path);
    }
    *upper = vt_malloc((size_t)len, sizeof(double));
    if (!*upper) {
        vt_tensor_free(d);
        return VT_ERR_NOMEM;
    }
    if (d->rank == 1)
        memcpy(*upper, v, (size_t)len * sizeof(double));
    else
        for (int64_t i = 0, k = 0; i < *n; i++)
            for (int64_t j = i + 1; j < *n; j++) (*upper)[k++] = v[i * *n + j];
    vt_tensor_free(d);
    for (int64_t i = 0; i < len; i++)
        if (!isfinite((*upper)[i])) {
            free(*upper);
            *upper = NULL;
            return vt_fail(VT_ERR_ARG, "%s: RSM value %lld is not finite", path, (long long)i);
        }
    return VT_OK;
}

static vt_status lookup_id(vt_results *db, const char *sql, const char *a, const char *b, int64_t num, int64_t *id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(vt_results_handle(db), sql, -1, &st, NULL);
    if (rc == SQLITE_OK && a) rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK && b) rc = sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK && num >= 0) rc = sqlite3_bind_int64(st, a ? (b ? 3 : 2) : 1, num);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    vt_status s = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? VT_OK : vt_results_fail_sqlite(db, rc, "lookup failed");
    sqlite3_finalize(st);
    return s;
}

vt_status vt_results_import_rsms(vt_results *db, const char *path, bool embed, int64_t *n_rows)
{
    if (n_rows) *n_rows = 0;
    csv_reader r;
    vt_status s = csv_open(&r, path);
    if (s != VT_OK) return s;
    enum { R_RUN, R_MODEL, R_SHA, R_LIDX, R_KIND, R_SUBJECT, R_ROI, R_NPY, R_COUNT };
    static const char *const names[R_COUNT] = {"run_id", "model",   "model_sha256", "layer_index",
                                               "kind",   "subject", "roi",          "npy"};
    static const char *const required[] = {"run_id", "model", "layer_index", "kind", "npy", NULL};
    columns c = {names, R_COUNT, {0}};
    s = map_header(&r, &c, required);
    char *dir_copy = strdup(path);
    if (!dir_copy) s = vt_fail(VT_ERR_NOMEM, "out of memory");
    const char *dir = dir_copy ? dirname(dir_copy) : ".";
    int64_t n = 0;
    int got = 0;
    if (s == VT_OK) s = vt_results_begin(db);
    while (s == VT_OK && (got = csv_next(&r)) == 1) {
        int64_t run, lidx, model, layer, subject = 0, roi = 0;
        const char *mname = get(&r, &c, R_MODEL), *sha = get(&r, &c, R_SHA), *kind = get(&r, &c, R_KIND);
        const char *npy = get(&r, &c, R_NPY), *sn = get(&r, &c, R_SUBJECT), *rn = get(&r, &c, R_ROI);
        if ((s = parse_int(&r, "run_id", get(&r, &c, R_RUN), &run)) != VT_OK) break;
        if ((s = parse_int(&r, "layer_index", get(&r, &c, R_LIDX), &lidx)) != VT_OK) break;
        if (!mname || !kind || !npy || run < 0 || lidx < 0) {
            s = vt_fail(VT_ERR_FORMAT, "%s: line %lld: run_id, model, layer_index, kind and npy are required", path,
                        (long long)r.record_line);
            break;
        }
        if ((s = lookup_id(db, "SELECT id FROM models WHERE name = ?1 AND sha256 = ?2", mname, sha ? sha : "", -1,
                           &model)) != VT_OK)
            break;
        if (model == 0) {
            s = vt_fail(VT_ERR_ARG, "%s: line %lld: no model '%s' in the database", path, (long long)r.record_line,
                        mname);
            break;
        }
        char mid[32];
        snprintf(mid, sizeof mid, "%lld", (long long)model);
        if ((s = lookup_id(db, "SELECT id FROM layers WHERE model_id = ?1 AND idx = ?2", mid, NULL, lidx, &layer)) !=
            VT_OK)
            break;
        if (layer == 0) {
            s = vt_fail(VT_ERR_ARG, "%s: line %lld: model '%s' has no layer %lld", path, (long long)r.record_line,
                        mname, (long long)lidx);
            break;
        }
        if (sn && (s = vt_results_put_subject(db, sn, NULL, &subject)) != VT_OK) break;
        if (rn && (s = vt_results_put_roi(db, rn, NULL, &roi)) != VT_OK) break;
        char *full = NULL;
        if (npy[0] == '/') {
            full = strdup(npy);
        } else {
            size_t len = strlen(dir) + strlen(npy) + 2;
            full = malloc(len);
            if (full) snprintf(full, len, "%s/%s", dir, npy);
        }
        if (!full) {
            s = vt_fail(VT_ERR_NOMEM, "out of memory");
            break;
        }
        int64_t nstim = 0;
        double *upper = NULL;
        s = load_upper(full, &nstim, &upper);
        if (s == VT_OK)
            s = vt_results_put_rsm(db, run, model, layer, kind, subject, roi, nstim, embed ? upper : NULL,
                                   embed ? NULL : full);
        free(upper);
        free(full);
        if (s != VT_OK) break;
        n++;
    }
    if (s == VT_OK && got < 0) s = VT_ERR_FORMAT;
    if (s == VT_OK) s = vt_results_commit(db);
    if (s != VT_OK) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", vt_last_error());
        vt_results_rollback(db);
        vt_fail(s, "%s", saved);
    }
    free(dir_copy);
    csv_close(&r);
    if (n_rows) *n_rows = n;
    return s;
}

void vt_results_rsms_free(vt_results_rsm *r, size_t count)
{
    if (!r) return;
    for (size_t i = 0; i < count; i++) {
        free(r[i].model);
        free(r[i].upper);
    }
    free(r);
}

vt_status vt_results_rsms(vt_results *db, int64_t run_id, const char *kind, const char *subject, const char *roi,
                          vt_results_rsm **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        vt_results_handle(db),
        "SELECT x.model_id, m.name, x.n, x.upper, x.npy_path FROM rsms x JOIN models m ON m.id = x.model_id "
        "WHERE x.run_id = ?1 AND x.kind = ?2 "
        "AND x.subject_id = CASE WHEN ?3 IS NULL THEN 0 ELSE (SELECT id FROM subjects WHERE name = ?3) END "
        "AND x.roi_id = CASE WHEN ?4 IS NULL THEN 0 ELSE (SELECT id FROM rois WHERE name = ?4) END "
        "ORDER BY m.name, m.sha256",
        -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = subject ? sqlite3_bind_text(st, 3, subject, -1, SQLITE_TRANSIENT) : SQLITE_OK;
    if (rc == SQLITE_OK) rc = roi ? sqlite3_bind_text(st, 4, roi, -1, SQLITE_TRANSIENT) : SQLITE_OK;
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return vt_results_fail_sqlite(db, rc, "cannot read RSMs");
    }
    vt_results_rsm *v = NULL;
    size_t n = 0, cap = 0;
    vt_status s = VT_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            vt_results_rsm *g = realloc(v, cap * sizeof *g);
            if (!g) {
                s = vt_fail(VT_ERR_NOMEM, "out of memory reading RSMs");
                break;
            }
            v = g;
        }
        vt_results_rsm *e = &v[n];
        memset(e, 0, sizeof *e);
        n++;
        e->model_id = sqlite3_column_int64(st, 0);
        e->model = strdup((const char *)sqlite3_column_text(st, 1));
        e->n = sqlite3_column_int64(st, 2);
        int64_t len = e->n * (e->n - 1) / 2;
        if (!e->model) {
            s = vt_fail(VT_ERR_NOMEM, "out of memory reading RSMs");
            break;
        }
        if (sqlite3_column_type(st, 3) == SQLITE_BLOB) {
            if (sqlite3_column_bytes(st, 3) != (int)(len * (int64_t)sizeof(double))) {
                s = vt_fail(VT_ERR_FORMAT, "%s: stored RSM of model '%s' has %d bytes, expected %lld",
                            vt_results_path(db), e->model, sqlite3_column_bytes(st, 3),
                            (long long)(len * (int64_t)sizeof(double)));
                break;
            }
            e->upper = vt_malloc((size_t)len, sizeof(double));
            if (!e->upper) {
                s = VT_ERR_NOMEM;
                break;
            }
            memcpy(e->upper, sqlite3_column_blob(st, 3), (size_t)len * sizeof(double));
        } else {
            int64_t nn = 0;
            s = load_upper((const char *)sqlite3_column_text(st, 4), &nn, &e->upper);
            if (s == VT_OK && nn != e->n)
                s = vt_fail(VT_ERR_FORMAT, "%s: RSM of model '%s' has %lld stimuli, the database says %lld",
                            (const char *)sqlite3_column_text(st, 4), e->model, (long long)nn, (long long)e->n);
            if (s != VT_OK) break;
        }
    }
    if (s == VT_OK && rc != SQLITE_DONE) s = vt_results_fail_sqlite(db, rc, "cannot read RSMs");
    sqlite3_finalize(st);
    if (s != VT_OK) {
        vt_results_rsms_free(v, n);
        return s;
    }
    *out = v;
    *count = n;
    return VT_OK;
}
