/* The results database on SQLite: schema (docs/results_db.md), upserts, queries and export.
 * WAL journal + one transaction per unit of work is what makes a killed benchmark resumable:
 * a commit is either wholly in the file or not at all, and every insert is an upsert on the
 * table's natural key, so redoing an uncommitted unit never duplicates a committed one. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/results_internal.h"
#include "io/atomic_file.h"

/* Prepared statements kept for the life of the handle: imports run them per row. */
enum {
    ST_MODEL,
    ST_LAYER,
    ST_SUBJECT,
    ST_ROI,
    ST_METRIC,
    ST_SCORE,
    ST_COUNT,
};

struct vt_results {
    sqlite3 *h;
    char *path;
    sqlite3_stmt *st[ST_COUNT];
};

static const char *const schema_sql =
    "CREATE TABLE runs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  started TEXT NOT NULL,\n"
    "  finished TEXT,\n"
    "  ventral_version TEXT NOT NULL,\n"
    "  config_json TEXT NOT NULL,\n"
    "  status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')));\n"
    "CREATE TABLE models(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  sha256 TEXT NOT NULL DEFAULT '',\n"
    "  family TEXT, task TEXT, training_data TEXT,\n"
    "  trained INTEGER CHECK (trained IN (0, 1)),\n"
    "  top1 REAL, n_params INTEGER, transform TEXT,\n"
    "  UNIQUE (name, sha256));\n"
    "CREATE TABLE layers(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  model_id INTEGER NOT NULL REFERENCES models(id),\n"
    "  idx INTEGER NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  op TEXT, shape TEXT, features INTEGER, k INTEGER, ed REAL,\n"
    "  UNIQUE (model_id, idx));\n"
    "CREATE TABLE subjects(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, dataset TEXT);\n"
    "CREATE TABLE rois(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT);\n"
    "CREATE TABLE metrics(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT);\n"
    "CREATE TABLE scores(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  model_id INTEGER NOT NULL REFERENCES models(id),\n"
    "  layer_id INTEGER NOT NULL REFERENCES layers(id),\n"
    "  subject_id INTEGER NOT NULL REFERENCES subjects(id),\n"
    "  roi_id INTEGER NOT NULL REFERENCES rois(id),\n"
    "  metric_id INTEGER NOT NULL REFERENCES metrics(id),\n"
    "  split TEXT NOT NULL CHECK (split IN ('train', 'test')),\n"
    "  value REAL NOT NULL,\n"
    "  ci_low REAL, ci_high REAL, noise_ceiling REAL, normalised REAL,\n"
    "  selected INTEGER NOT NULL DEFAULT 0 CHECK (selected IN (0, 1)),\n"
    "  PRIMARY KEY (run_id, layer_id, subject_id, roi_id, metric_id, split));\n"
    "CREATE INDEX scores_by_model ON scores(run_id, model_id, metric_id, roi_id, subject_id);\n"
    "CREATE TABLE rsms(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  model_id INTEGER NOT NULL REFERENCES models(id),\n"
    "  layer_id INTEGER NOT NULL REFERENCES layers(id),\n"
    "  kind TEXT NOT NULL,\n"
    "  subject_id INTEGER NOT NULL DEFAULT 0,\n"
    "  roi_id INTEGER NOT NULL DEFAULT 0,\n"
    "  n INTEGER NOT NULL CHECK (n >= 2),\n"
    "  upper BLOB,\n"
    "  npy_path TEXT,\n"
    "  CHECK (upper IS NOT NULL OR npy_path IS NOT NULL),\n"
    "  PRIMARY KEY (run_id, model_id, kind, subject_id, roi_id));\n";

static const char *const stmt_sql[ST_COUNT] = {
    [ST_MODEL] = "INSERT INTO models(name, sha256, family, task, training_data, trained, top1, n_params, transform) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (name, sha256) DO UPDATE SET "
                 "family = coalesce(excluded.family, family), task = coalesce(excluded.task, task), "
                 "training_data = coalesce(excluded.training_data, training_data), "
                 "trained = coalesce(excluded.trained, trained), top1 = coalesce(excluded.top1, top1), "
                 "n_params = coalesce(excluded.n_params, n_params), "
                 "transform = coalesce(excluded.transform, transform) RETURNING id",
    [ST_LAYER] = "INSERT INTO layers(model_id, idx, name, op, shape, features, k, ed) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (model_id, idx) DO UPDATE SET "
                 "name = excluded.name, op = coalesce(excluded.op, op), shape = coalesce(excluded.shape, shape), "
                 "features = coalesce(excluded.features, features), k = coalesce(excluded.k, k), "
                 "ed = coalesce(excluded.ed, ed) RETURNING id",
    [ST_SUBJECT] = "INSERT INTO subjects(name, dataset) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET "
                   "dataset = coalesce(excluded.dataset, dataset) RETURNING id",
    [ST_ROI] = "INSERT INTO rois(name, description) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET "
               "description = coalesce(excluded.description, description) RETURNING id",
    [ST_METRIC] = "INSERT INTO metrics(name, description) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET "
                  "description = coalesce(excluded.description, description) RETURNING id",
    [ST_SCORE] = "INSERT INTO scores(run_id, model_id, layer_id, subject_id, roi_id, metric_id, split, value, ci_low, "
                 "ci_high, noise_ceiling, normalised, selected) "
                 "SELECT ?1, model_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 FROM layers WHERE id = ?2 "
                 "ON CONFLICT (run_id, layer_id, subject_id, roi_id, metric_id, split) DO UPDATE SET "
                 "value = excluded.value, ci_low = excluded.ci_low, ci_high = excluded.ci_high, "
                 "noise_ceiling = excluded.noise_ceiling, normalised = excluded.normalised, "
                 "selected = excluded.selected",
};

static const char *const tables[] = {"runs", "models", "layers", "subjects", "rois", "metrics", "scores", "rsms"};

sqlite3 *vt_results_handle(vt_results *db)
{
    return db->h;
}

const char *vt_results_path(const vt_results *db)
{
    return db->path;
}

static vt_status status_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
    case SQLITE_SCHEMA: return VT_ERR_FORMAT;
    case SQLITE_NOMEM: return VT_ERR_NOMEM;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE: return VT_ERR_ARG;
    case SQLITE_ERROR: return VT_ERR_INTERNAL;
    default: return VT_ERR_IO; /* IOERR, FULL, CANTOPEN, READONLY, BUSY, LOCKED, PERM */
    }
}

vt_status vt_results_fail_sqlite(vt_results *db, int rc, const char *what)
{
    int code = rc & 0xff;
    const char *msg = db && db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc);
    const char *path = db && db->path ? db->path : "results database";
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
        return vt_fail(status_of(rc), "%s: not a valid SQLite database (%s)", path, msg);
    return vt_fail(status_of(rc), "%s: %s: %s", path, what, msg);
}

static vt_status exec(vt_results *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? VT_OK : vt_results_fail_sqlite(db, rc, what);
}

/* Runs a statement returning one integer (or none: *out = 0). */
static vt_status query_int(vt_results *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return vt_results_fail_sqlite(db, rc, "query failed");
    *out = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
    vt_status s = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? VT_OK : vt_results_fail_sqlite(db, rc, "query failed");
    sqlite3_finalize(st);
    return s;
}

/* A file that exists and is not empty must start with SQLite's magic; checked before SQLite
 * sees it so that "not a database" is reported as such, whatever SQLite would say. */
static vt_status check_magic(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || sb.st_size == 0) return VT_OK;
    if (!S_ISREG(sb.st_mode)) return vt_fail(VT_ERR_IO, "%s: not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char magic[16] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (got < sizeof magic || memcmp(magic, "SQLite format 3", 16) != 0)
        return vt_fail(VT_ERR_FORMAT, "%s: not a SQLite database (no SQLite header)", path);
    return VT_OK;
}

static vt_status check_schema(vt_results *db, bool writable)
{
    int64_t version, n_tables;
    vt_status s = query_int(db, "PRAGMA user_version", &version);
    if (s == VT_OK) s = query_int(db, "SELECT count(*) FROM sqlite_schema", &n_tables);
    if (s != VT_OK) return s;
    if (version > VT_RESULTS_SCHEMA_VERSION)
        return vt_fail(VT_ERR_UNSUPPORTED,
                       "%s: results schema version %lld is newer than this ventral's (%d); upgrade ventral", db->path,
                       (long long)version, VT_RESULTS_SCHEMA_VERSION);
    if (version == 0) {
        if (n_tables != 0)
            return vt_fail(VT_ERR_FORMAT, "%s: a SQLite database but not a ventral results database", db->path);
        if (!writable) return vt_fail(VT_ERR_FORMAT, "%s: empty database (no results schema)", db->path);
        s = exec(db, "BEGIN IMMEDIATE", "cannot start a transaction");
        if (s != VT_OK) return s;
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", VT_RESULTS_SCHEMA_VERSION);
        s = exec(db, schema_sql, "cannot create the schema");
        if (s == VT_OK) s = exec(db, pragma, "cannot set the schema version");
        if (s == VT_OK) return exec(db, "COMMIT", "cannot create the schema");
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
        return s;
    }
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[128];
        int64_t found;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'", tables[i]);
        if ((s = query_int(db, sql, &found)) != VT_OK) return s;
        if (!found) return vt_fail(VT_ERR_FORMAT, "%s: results database lacks table '%s'", db->path, tables[i]);
    }
    return VT_OK;
}

vt_status vt_results_open(const char *path, int flags, vt_results **out)
{
    *out = NULL;
    if (!path || !*path) return vt_fail(VT_ERR_ARG, "results database path is empty");
    bool writable = flags & VT_RESULTS_WRITE, create = (flags & VT_RESULTS_CREATE) == VT_RESULTS_CREATE;
    struct stat sb;
    if (!create && stat(path, &sb) != 0) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vt_status s = check_magic(path);
    if (s != VT_OK) return s;
    vt_results *db = vt_calloc(1, sizeof *db);
    if (!db) return VT_ERR_NOMEM;
    db->path = strdup(path);
    if (!db->path) {
        free(db);
        return vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
    }
    int oflags = writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if (create) oflags |= SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &db->h, oflags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        s = rc == SQLITE_CANTOPEN ? vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, sqlite3_errmsg(db->h))
                                  : vt_results_fail_sqlite(db, rc, "cannot open");
        vt_results_close(db);
        return s;
    }
    sqlite3_extended_result_codes(db->h, 1);
    /* Another process (a parallel benchmark job) may hold the write lock briefly. */
    sqlite3_busy_timeout(db->h, 30000);
    s = exec(db, "PRAGMA foreign_keys = ON", "cannot configure");
    /* WAL + synchronous=NORMAL: a killed process never corrupts the file or loses a commit;
     * only a power cut can lose the last commits, which a resumed run redoes. */
    if (s == VT_OK && writable) s = exec(db, "PRAGMA journal_mode = WAL", "cannot enable WAL");
    if (s == VT_OK && writable) s = exec(db, "PRAGMA synchronous = NORMAL", "cannot configure");
    if (s == VT_OK) s = check_schema(db, writable);
    for (int i = 0; s == VT_OK && writable && i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(db->h, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &db->st[i], NULL);
        if (rc != SQLITE_OK) s = vt_results_fail_sqlite(db, rc, "cannot prepare statements");
    }
    if (s != VT_OK) {
        vt_results_close(db);
        return s;
    }
    *out = db;
    return VT_OK;
}

void vt_results_close(vt_results *db)
{
    if (!db) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(db->st[i]);
    if (db->h && !sqlite3_get_autocommit(db->h)) sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close_v2(db->h);
    free(db->path);
    free(db);
}

vt_status vt_results_begin(vt_results *db)
{
    /* IMMEDIATE takes the write lock now, so a concurrent writer waits here, not mid-unit. */
    return exec(db, "BEGIN IMMEDIATE", "cannot start a transaction");
}

vt_status vt_results_commit(vt_results *db)
{
    return exec(db, "COMMIT", "cannot commit");
}

vt_status vt_results_rollback(vt_results *db)
{
    if (sqlite3_get_autocommit(db->h)) return VT_OK;
    return exec(db, "ROLLBACK", "cannot roll back");
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int bind_double(sqlite3_stmt *st, int i, double v)
{
    return isfinite(v) ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

static int bind_i64(sqlite3_stmt *st, int i, int64_t v, bool known)
{
    return known ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

/* Steps a bound upsert; *id receives its RETURNING id when asked. Resets the statement. */
static vt_status step_upsert(vt_results *db, sqlite3_stmt *st, int bind_rc, int64_t *id, const char *what)
{
    vt_status s = VT_OK;
    int rc = bind_rc;
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (id) *id = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) s = vt_results_fail_sqlite(db, rc, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return s;
}

static vt_status check_writable(vt_results *db)
{
    if (!db->st[0]) return vt_fail(VT_ERR_ARG, "%s: database was opened read-only", db->path);
    return VT_OK;
}

vt_results_model vt_results_model_init(void)
{
    vt_results_model m = {0};
    m.trained = -1;
    m.top1 = NAN;
    m.n_params = -1;
    return m;
}

vt_results_layer vt_results_layer_init(void)
{
    vt_results_layer l = {0};
    l.features = l.k = -1;
    l.ed = NAN;
    return l;
}

vt_results_score vt_results_score_init(void)
{
    vt_results_score s = {0};
    s.value = s.ci_low = s.ci_high = s.noise_ceiling = s.normalised = NAN;
    return s;
}

vt_status vt_results_put_model(vt_results *db, const vt_results_model *m, int64_t *id)
{
    vt_status s = check_writable(db);
    if (s != VT_OK) return s;
    if (!m->name || !*m->name) return vt_fail(VT_ERR_ARG, "%s: a model needs a name", db->path);
    if (m->trained < -1 || m->trained > 1)
        return vt_fail(VT_ERR_ARG, "%s: model '%s': trained must be 1, 0 or -1 (unknown)", db->path, m->name);
    sqlite3_stmt *st = db->st[ST_MODEL];
    int rc = bind_text(st, 1, m->name);
    if (rc == SQLITE_OK) rc = bind_text(st, 2, m->sha256 ? m->sha256 : "");
    if (rc == SQLITE_OK) rc = bind_text(st, 3, m->family);
    if (rc == SQLITE_OK) rc = bind_text(st, 4, m->task);
    if (rc == SQLITE_OK) rc = bind_text(st, 5, m->training_data);
    if (rc == SQLITE_OK) rc = bind_i64(st, 6, m->trained, m->trained >= 0);
    if (rc == SQLITE_OK) rc = bind_double(st, 7, m->top1);
    if (rc == SQLITE_OK) rc = bind_i64(st, 8, m->n_params, m->n_params >= 0);
    if (rc == SQLITE_OK) rc = bind_text(st, 9, m->transform);
    return step_upsert(db, st, rc, id, "cannot store model");
}

vt_status vt_results_put_layer(vt_results *db, int64_t model_id, const vt_results_layer *l, int64_t *id)
{
    vt_status s = check_writable(db);
    if (s != VT_OK) return s;
    if (!l->name || !*l->name) return vt_fail(VT_ERR_ARG, "%s: layer %lld needs a name", db->path, (long long)l->index);
    if (l->index < 0) return vt_fail(VT_ERR_ARG, "%s: layer '%s': negative index", db->path, l->name);
    sqlite3_stmt *st = db->st[ST_LAYER];
    int rc = sqlite3_bind_int64(st, 1, model_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, l->index);
    if (rc == SQLITE_OK) rc = bind_text(st, 3, l->name);
    if (rc == SQLITE_OK) rc = bind_text(st, 4, l->op);
    if (rc == SQLITE_OK) rc = bind_text(st, 5, l->shape);
    if (rc == SQLITE_OK) rc = bind_i64(st, 6, l->features, l->features >= 0);
    if (rc == SQLITE_OK) rc = bind_i64(st, 7, l->k, l->k >= 0);
    if (rc == SQLITE_OK) rc = bind_double(st, 8, l->ed);
    return step_upsert(db, st, rc, id, "cannot store layer");
}

static vt_status put_named(vt_results *db, int which, const char *kind, const char *name, const char *extra,
                           int64_t *id)
{
    vt_status s = check_writable(db);
    if (s != VT_OK) return s;
    if (!name || !*name) return vt_fail(VT_ERR_ARG, "%s: a %s needs a name", db->path, kind);
    sqlite3_stmt *st = db->st[which];
    int rc = bind_text(st, 1, name);
    if (rc == SQLITE_OK) rc = bind_text(st, 2, extra);
    return step_upsert(db, st, rc, id, "cannot store name");
}

vt_status vt_results_put_subject(vt_results *db, const char *name, const char *dataset, int64_t *id)
{
    return put_named(db, ST_SUBJECT, "subject", name, dataset, id);
}

vt_status vt_results_put_roi(vt_results *db, const char *name, const char *description, int64_t *id)
{
    return put_named(db, ST_ROI, "ROI", name, description, id);
}

vt_status vt_results_put_metric(vt_results *db, const char *name, const char *description, int64_t *id)
{
    return put_named(db, ST_METRIC, "metric", name, description, id);
}

vt_status vt_results_put_score(vt_results *db, const vt_results_score *sc)
{
    vt_status s = check_writable(db);
    if (s != VT_OK) return s;
    if (!isfinite(sc->value))
        return vt_fail(VT_ERR_ARG, "%s: score of layer %lld is not finite", db->path, (long long)sc->layer_id);
    if (sc->split != VT_SPLIT_TRAIN && sc->split != VT_SPLIT_TEST)
        return vt_fail(VT_ERR_ARG, "%s: split must be train or test", db->path);
    sqlite3_stmt *st = db->st[ST_SCORE];
    int rc = sqlite3_bind_int64(st, 1, sc->run_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, sc->layer_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, sc->subject_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 4, sc->roi_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 5, sc->metric_id);
    if (rc == SQLITE_OK) rc = bind_text(st, 6, sc->split == VT_SPLIT_TRAIN ? "train" : "test");
    if (rc == SQLITE_OK) rc = sqlite3_bind_double(st, 7, sc->value);
    if (rc == SQLITE_OK) rc = bind_double(st, 8, sc->ci_low);
    if (rc == SQLITE_OK) rc = bind_double(st, 9, sc->ci_high);
    if (rc == SQLITE_OK) rc = bind_double(st, 10, sc->noise_ceiling);
    if (rc == SQLITE_OK) rc = bind_double(st, 11, sc->normalised);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 12, sc->selected ? 1 : 0);
    s = step_upsert(db, st, rc, NULL, "cannot store score");
    if (s == VT_OK && sqlite3_changes(db->h) == 0)
        return vt_fail(VT_ERR_ARG, "%s: cannot store score: no layer with id %lld", db->path, (long long)sc->layer_id);
    return s;
}

vt_status vt_results_put_rsm(vt_results *db, int64_t run_id, int64_t model_id, int64_t layer_id, const char *kind,
                             int64_t subject_id, int64_t roi_id, int64_t n, const double *upper, const char *npy_path)
{
    vt_status s = check_writable(db);
    if (s != VT_OK) return s;
    if (!kind || !*kind) return vt_fail(VT_ERR_ARG, "%s: an RSM needs a kind", db->path);
    if (n < 2) return vt_fail(VT_ERR_ARG, "%s: an RSM needs n >= 2 stimuli, got %lld", db->path, (long long)n);
    if (!upper && !npy_path) return vt_fail(VT_ERR_ARG, "%s: an RSM needs values or a .npy path", db->path);
    int64_t len = n * (n - 1) / 2;
    if (upper)
        for (int64_t i = 0; i < len; i++)
            if (!isfinite(upper[i]))
                return vt_fail(VT_ERR_ARG, "%s: RSM value %lld is not finite", db->path, (long long)i);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h,
                                "INSERT INTO rsms(run_id, model_id, layer_id, kind, subject_id, roi_id, n, upper, "
                                "npy_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (run_id, model_id, "
                                "kind, subject_id, roi_id) DO UPDATE SET layer_id = excluded.layer_id, n = excluded.n, "
                                "upper = excluded.upper, npy_path = excluded.npy_path",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return vt_results_fail_sqlite(db, rc, "cannot store RSM");
    rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, model_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, layer_id);
    if (rc == SQLITE_OK) rc = bind_text(st, 4, kind);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 5, subject_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 6, roi_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 7, n);
    /* Stored as the host's doubles (little-endian on every platform ventral builds for). */
    if (rc == SQLITE_OK)
        rc = upper ? sqlite3_bind_blob64(st, 8, upper, (sqlite3_uint64)len * sizeof(double), SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, 8);
    if (rc == SQLITE_OK) rc = bind_text(st, 9, npy_path);
    s = step_upsert(db, st, rc, NULL, "cannot store RSM");
    sqlite3_finalize(st);
    return s;
}

vt_status vt_results_run_start(vt_results *db, const char *config_json, bool resume, int64_t *run_id, bool *resumed)
{
    vt_status s = check_writable(db);
    if (s != VT_OK) return s;
    if (!config_json) return vt_fail(VT_ERR_ARG, "%s: a run needs its configuration", db->path);
    if (resumed) *resumed = false;
    sqlite3_stmt *st = NULL;
    int rc;
    if (resume) {
        rc = sqlite3_prepare_v2(db->h,
                                "SELECT id FROM runs WHERE config_json = ?1 AND status <> 'finished' "
                                "ORDER BY id DESC LIMIT 1",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) rc = bind_text(st, 1, config_json);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *run_id = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
            if (resumed) *resumed = true;
            char sql[96];
            snprintf(sql, sizeof sql, "UPDATE runs SET status = 'running', finished = NULL WHERE id = %lld",
                     (long long)*run_id);
            return exec(db, sql, "cannot resume run");
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_DONE) return vt_results_fail_sqlite(db, rc, "cannot look up runs");
    }
    rc = sqlite3_prepare_v2(db->h,
                            "INSERT INTO runs(started, ventral_version, config_json, status) VALUES "
                            "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?1, ?2, 'running') RETURNING id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) return vt_results_fail_sqlite(db, rc, "cannot start run");
    rc = bind_text(st, 1, vt_version());
    if (rc == SQLITE_OK) rc = bind_text(st, 2, config_json);
    s = step_upsert(db, st, rc, run_id, "cannot start run");
    sqlite3_finalize(st);
    return s;
}

vt_status vt_results_run_finish(vt_results *db, int64_t run_id, const char *status)
{
    vt_status s = check_writable(db);
    if (s != VT_OK) return s;
    if (!status || (strcmp(status, "finished") != 0 && strcmp(status, "failed") != 0))
        return vt_fail(VT_ERR_ARG, "%s: run status must be 'finished' or 'failed'", db->path);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h,
                                "UPDATE runs SET status = ?1, finished = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                                "WHERE id = ?2",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return vt_results_fail_sqlite(db, rc, "cannot finish run");
    rc = bind_text(st, 1, status);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, run_id);
    s = step_upsert(db, st, rc, NULL, "cannot finish run");
    sqlite3_finalize(st);
    if (s == VT_OK && sqlite3_changes(db->h) == 0)
        return vt_fail(VT_ERR_ARG, "%s: no run with id %lld", db->path, (long long)run_id);
    return s;
}

vt_status vt_results_mark_selected(vt_results *db, int64_t run_id)
{
    vt_status s = check_writable(db);
    if (s != VT_OK) return s;
    /* The best train layer per (run, model, metric, roi, subject), ties to the lowest index, goes
     * into a keyed temporary table; then only flags that change are written. A window function
     * and primary-key joins keep this O(N log N): the scorer calls it after every model. */
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SAVEPOINT vt_mark;"
             "CREATE TEMP TABLE IF NOT EXISTS vt_best(run_id, layer_id, subject_id, roi_id, metric_id, "
             "PRIMARY KEY (run_id, layer_id, subject_id, roi_id, metric_id)) WITHOUT ROWID;"
             "DELETE FROM temp.vt_best;"
             "INSERT INTO temp.vt_best SELECT run_id, layer_id, subject_id, roi_id, metric_id FROM ("
             "SELECT s.run_id, s.layer_id, s.subject_id, s.roi_id, s.metric_id, row_number() OVER (PARTITION BY "
             "s.run_id, s.model_id, s.metric_id, s.roi_id, s.subject_id ORDER BY s.value DESC, l.idx ASC) AS rn "
             "FROM scores s JOIN layers l ON l.id = s.layer_id WHERE s.split = 'train' AND (%1$lld = 0 OR "
             "s.run_id = %1$lld)) WHERE rn = 1;"
             "UPDATE scores SET selected = 0 WHERE (%1$lld = 0 OR run_id = %1$lld) AND selected = 1 AND NOT EXISTS "
             "(SELECT 1 FROM temp.vt_best b WHERE b.run_id = scores.run_id AND b.layer_id = scores.layer_id AND "
             "b.subject_id = scores.subject_id AND b.roi_id = scores.roi_id AND b.metric_id = scores.metric_id);"
             "UPDATE scores SET selected = 1 FROM temp.vt_best b WHERE scores.run_id = b.run_id AND "
             "scores.layer_id = b.layer_id AND scores.subject_id = b.subject_id AND scores.roi_id = b.roi_id AND "
             "scores.metric_id = b.metric_id AND scores.selected = 0;"
             "DELETE FROM temp.vt_best;"
             "RELEASE vt_mark;",
             (long long)run_id);
    s = exec(db, sql, "cannot mark selected layers");
    if (s != VT_OK) sqlite3_exec(db->h, "ROLLBACK TO vt_mark; RELEASE vt_mark;", NULL, NULL, NULL);
    return s;
}

void vt_results_runs_free(vt_results_run *runs, size_t n)
{
    if (!runs) return;
    for (size_t i = 0; i < n; i++) {
        free(runs[i].started);
        free(runs[i].finished);
        free(runs[i].ventral_version);
        free(runs[i].status);
        free(runs[i].config_json);
    }
    free(runs);
}

static char *dup_col(sqlite3_stmt *st, int i, bool *ok)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (!t) return NULL;
    char *d = strdup(t);
    if (!d) *ok = false;
    return d;
}

vt_status vt_results_runs(vt_results *db, vt_results_run **runs, size_t *n)
{
    *runs = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db->h, "SELECT id, started, finished, ventral_version, status, config_json FROM runs ORDER BY id", -1, &st,
        NULL);
    if (rc != SQLITE_OK) return vt_results_fail_sqlite(db, rc, "cannot read runs");
    vt_results_run *v = NULL;
    size_t k = 0, cap = 0;
    vt_status s = VT_OK;
    bool ok = true;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? 2 * cap : 8;
            vt_results_run *g = realloc(v, cap * sizeof *g);
            if (!g) {
                ok = false;
                break;
            }
            v = g;
        }
        vt_results_run *r = &v[k++];
        r->id = sqlite3_column_int64(st, 0);
        r->started = dup_col(st, 1, &ok);
        r->finished = dup_col(st, 2, &ok);
        r->ventral_version = dup_col(st, 3, &ok);
        r->status = dup_col(st, 4, &ok);
        r->config_json = dup_col(st, 5, &ok);
        if (!ok) break;
    }
    if (!ok)
        s = vt_fail(VT_ERR_NOMEM, "%s: out of memory reading runs", db->path);
    else if (rc != SQLITE_DONE)
        s = vt_results_fail_sqlite(db, rc, "cannot read runs");
    sqlite3_finalize(st);
    if (s != VT_OK) {
        vt_results_runs_free(v, k);
        return s;
    }
    *runs = v;
    *n = k;
    return VT_OK;
}

vt_status vt_results_latest_run(vt_results *db, int64_t *run_id)
{
    return query_int(db, "SELECT coalesce(max(run_id), 0) FROM scores", run_id);
}

vt_status vt_results_count(vt_results *db, const char *table, int64_t *count)
{
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (strcmp(table, tables[i]) == 0) {
            char sql[64];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
            return query_int(db, sql, count);
        }
    return vt_fail(VT_ERR_ARG, "%s: no table named '%s'", db->path, table);
}

/* ---- string pool ---- */

typedef struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    char data[];
} pool_chunk;

struct vt_strpool {
    pool_chunk *head;
};

vt_strpool *vt_strpool_new(void)
{
    return vt_calloc(1, sizeof(vt_strpool));
}

const char *vt_strpool_dup(vt_strpool *p, const char *s, bool *ok)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    if (!p->head || p->head->cap - p->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        pool_chunk *c = vt_malloc(1, sizeof *c + cap);
        if (!c) {
            *ok = false;
            return NULL;
        }
        c->next = p->head;
        c->used = 0;
        c->cap = cap;
        p->head = c;
    }
    char *d = p->head->data + p->head->used;
    memcpy(d, s, n);
    p->head->used += n;
    return d;
}

void vt_strpool_free(vt_strpool *p)
{
    if (!p) return;
    while (p->head) {
        pool_chunk *c = p->head;
        p->head = c->next;
        free(c);
    }
    free(p);
}

/* ---- reading ---- */

static const char scores_sql[] =
    "WITH nl AS (SELECT model_id, count(*) AS n FROM layers GROUP BY model_id) "
    "SELECT s.run_id, s.model_id, s.layer_id, m.name, m.sha256, m.family, m.task, m.training_data, m.transform, "
    "m.trained, m.top1, m.n_params, l.idx, nl.n, l.name, l.op, l.shape, l.features, l.k, l.ed, su.name, r.name, "
    "me.name, s.split, s.value, s.ci_low, s.ci_high, s.noise_ceiling, s.normalised, s.selected "
    "FROM scores s JOIN models m ON m.id = s.model_id JOIN layers l ON l.id = s.layer_id "
    "JOIN nl ON nl.model_id = s.model_id JOIN subjects su ON su.id = s.subject_id JOIN rois r ON r.id = s.roi_id "
    "JOIN metrics me ON me.id = s.metric_id WHERE (?1 = 0 OR s.run_id = ?1) AND (?2 IS NULL OR me.name = ?2) "
    "AND (?3 IS NULL OR r.name = ?3) "
    "ORDER BY s.run_id, m.name, m.sha256, l.idx, su.name, r.name, me.name, s.split";

static double col_double(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int64_t col_i64(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

void vt_results_table_free(vt_results_table *t)
{
    if (!t) return;
    free(t->rows);
    vt_strpool_free(t->pool);
    free(t);
}

/* Recent distinct strings of one column: a table holds millions of rows but few distinct
 * names, and rows arrive grouped, so a short cache shares nearly every copy. */
typedef struct intern {
    const char *s[16];
    int next;
} intern;

static const char *interned(vt_strpool *p, intern *c, const unsigned char *text, bool *ok)
{
    if (!text) return NULL;
    for (int i = 0; i < 16 && c->s[i]; i++)
        if (strcmp(c->s[i], (const char *)text) == 0) return c->s[i];
    const char *d = vt_strpool_dup(p, (const char *)text, ok);
    c->s[c->next] = d;
    c->next = (c->next + 1) % 16;
    return d;
}

vt_status vt_results_scores(vt_results *db, int64_t run_id, vt_results_table **out)
{
    return vt_results_scores_of(db, run_id, NULL, NULL, out);
}

/* Fills r from the current row of scores_sql. With a pool, strings are copied (interned);
 * without, they point into SQLite's row, valid until the next step. */
static void fill_row(sqlite3_stmt *st, vt_results_row *r, vt_strpool *p, intern *cache, bool *ok)
{
#define TXT(i) (p ? interned(p, &cache[i], sqlite3_column_text(st, i), ok) : (const char *)sqlite3_column_text(st, i))
    r->run_id = sqlite3_column_int64(st, 0);
    r->model_id = sqlite3_column_int64(st, 1);
    r->layer_id = sqlite3_column_int64(st, 2);
    r->model = TXT(3);
    r->model_sha256 = TXT(4);
    r->family = TXT(5);
    r->task = TXT(6);
    r->training_data = TXT(7);
    r->transform = TXT(8);
    r->trained = (int)col_i64(st, 9);
    r->top1 = col_double(st, 10);
    r->n_params = col_i64(st, 11);
    r->layer_index = sqlite3_column_int64(st, 12);
    r->n_layers = sqlite3_column_int64(st, 13);
    r->layer_name = TXT(14);
    r->layer_op = TXT(15);
    r->layer_shape = TXT(16);
    r->layer_features = col_i64(st, 17);
    r->layer_k = col_i64(st, 18);
    r->layer_ed = col_double(st, 19);
    r->subject = TXT(20);
    r->roi = TXT(21);
    r->metric = TXT(22);
    r->split = strcmp((const char *)sqlite3_column_text(st, 23), "train") == 0 ? VT_SPLIT_TRAIN : VT_SPLIT_TEST;
    r->value = col_double(st, 24);
    r->ci_low = col_double(st, 25);
    r->ci_high = col_double(st, 26);
    r->noise_ceiling = col_double(st, 27);
    r->normalised = col_double(st, 28);
    r->selected = sqlite3_column_int(st, 29);
#undef TXT
}

/* Calls fn for every joined score row of (run, metric, roi) in export order; stops at the first
 * failure. Rows handed to fn are borrowed for the duration of the call. */
static vt_status for_each_row(vt_results *db, int64_t run_id, const char *metric, const char *roi,
                              vt_status (*fn)(const vt_results_row *r, void *ctx), void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, scores_sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc == SQLITE_OK) rc = bind_text(st, 2, metric);
    if (rc == SQLITE_OK) rc = bind_text(st, 3, roi);
    vt_status s = VT_OK;
    bool ok = true;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) break;
        vt_results_row r;
        fill_row(st, &r, NULL, NULL, &ok);
        if ((s = fn(&r, ctx)) != VT_OK) break;
    }
    if (s == VT_OK && rc != SQLITE_DONE) s = vt_results_fail_sqlite(db, rc, "cannot read scores");
    sqlite3_finalize(st);
    return s;
}

vt_status vt_results_scores_of(vt_results *db, int64_t run_id, const char *metric, const char *roi,
                               vt_results_table **out)
{
    *out = NULL;
    vt_results_table *t = vt_calloc(1, sizeof *t);
    if (!t) return VT_ERR_NOMEM;
    t->pool = vt_strpool_new();
    if (!t->pool) {
        free(t);
        return VT_ERR_NOMEM;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, scores_sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc == SQLITE_OK) rc = bind_text(st, 2, metric);
    if (rc == SQLITE_OK) rc = bind_text(st, 3, roi);
    size_t cap = 0;
    bool ok = true;
    intern cache[32] = {{{0}, 0}};
    vt_status s = VT_OK;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) break;
        if (t->n == cap) {
            cap = cap ? 2 * cap : 256;
            vt_results_row *r = realloc(t->rows, cap * sizeof *r);
            if (!r) {
                s = vt_fail(VT_ERR_NOMEM, "%s: out of memory reading scores", db->path);
                break;
            }
            t->rows = r;
        }
        fill_row(st, &t->rows[t->n++], t->pool, cache, &ok);
        if (!ok) {
            s = VT_ERR_NOMEM;
            break;
        }
    }
    if (s == VT_OK && rc != SQLITE_DONE) s = vt_results_fail_sqlite(db, rc, "cannot read scores");
    sqlite3_finalize(st);
    if (s != VT_OK) {
        vt_results_table_free(t);
        return s;
    }
    *out = t;
    return VT_OK;
}

/* ---- export ---- */

vt_status vt_json_write_string(FILE *f, const char *s)
{
    char *q = vt_json_quote(s);
    if (!q) return VT_ERR_NOMEM;
    fputs(q, f);
    free(q);
    return VT_OK;
}

void vt_json_write_double(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

static void csv_string(FILE *f, const char *s)
{
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_double(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.17g", v);
}

static void csv_i64(FILE *f, int64_t v)
{
    if (v >= 0) fprintf(f, "%lld", (long long)v);
}

static const char csv_header[] =
    "run_id,model,model_sha256,family,task,training_data,trained,imagenet_top1,n_params,transform,layer_index,"
    "layer_name,layer_op,layer_shape,layer_features,layer_k,layer_ed,subject,roi,metric,split,value,ci_low,ci_high,"
    "noise_ceiling,normalised,selected";

static vt_status write_csv_row(const vt_results_row *r, void *ctx)
{
    FILE *f = ctx;
    fprintf(f, "%lld,", (long long)r->run_id);
    csv_string(f, r->model), fputc(',', f);
    csv_string(f, r->model_sha256), fputc(',', f);
    csv_string(f, r->family), fputc(',', f);
    csv_string(f, r->task), fputc(',', f);
    csv_string(f, r->training_data), fputc(',', f);
    csv_i64(f, r->trained), fputc(',', f);
    csv_double(f, r->top1), fputc(',', f);
    csv_i64(f, r->n_params), fputc(',', f);
    csv_string(f, r->transform), fputc(',', f);
    fprintf(f, "%lld,", (long long)r->layer_index);
    csv_string(f, r->layer_name), fputc(',', f);
    csv_string(f, r->layer_op), fputc(',', f);
    csv_string(f, r->layer_shape), fputc(',', f);
    csv_i64(f, r->layer_features), fputc(',', f);
    csv_i64(f, r->layer_k), fputc(',', f);
    csv_double(f, r->layer_ed), fputc(',', f);
    csv_string(f, r->subject), fputc(',', f);
    csv_string(f, r->roi), fputc(',', f);
    csv_string(f, r->metric), fputc(',', f);
    fputs(r->split == VT_SPLIT_TRAIN ? "train," : "test,", f);
    csv_double(f, r->value), fputc(',', f);
    csv_double(f, r->ci_low), fputc(',', f);
    csv_double(f, r->ci_high), fputc(',', f);
    csv_double(f, r->noise_ceiling), fputc(',', f);
    csv_double(f, r->normalised), fputc(',', f);
    fprintf(f, "%d\n", r->selected);
    return ferror(f) ? vt_fail(VT_ERR_IO, "export write failed: %s", strerror(errno)) : VT_OK;
}

static void json_i64(FILE *f, int64_t v)
{
    if (v >= 0)
        fprintf(f, "%lld", (long long)v);
    else
        fputs("null", f);
}

/* Writes the rows of a SELECT as a JSON array of objects keyed by column name. */
static vt_status json_query(vt_results *db, FILE *f, const char *sql, int64_t run_id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) > 0) rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return vt_results_fail_sqlite(db, rc, "cannot export");
    }
    fputc('[', f);
    int nrow = 0;
    vt_status s = VT_OK;
    while (s == VT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        fputs(nrow++ ? ",\n  {" : "\n  {", f);
        for (int c = 0; s == VT_OK && c < sqlite3_column_count(st); c++) {
            if (c) fputs(", ", f);
            s = vt_json_write_string(f, sqlite3_column_name(st, c));
            if (s != VT_OK) break;
            fputs(": ", f);
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER: fprintf(f, "%lld", (long long)sqlite3_column_int64(st, c)); break;
            case SQLITE_FLOAT: vt_json_write_double(f, sqlite3_column_double(st, c)); break;
            case SQLITE_NULL: fputs("null", f); break;
            default: s = vt_json_write_string(f, (const char *)sqlite3_column_text(st, c));
            }
        }
        fputc('}', f);
    }
    sqlite3_finalize(st);
    if (s != VT_OK) return s; /* out of memory quoting a value */
    fputs(nrow ? "\n]" : "]", f);
    return rc == SQLITE_DONE ? VT_OK : vt_results_fail_sqlite(db, rc, "cannot export");
}

typedef struct json_rows {
    FILE *f;
    size_t n;
} json_rows;

/* `sep` and then s as a JSON string literal, unless an earlier write of the row failed (*st). */
static void json_field(FILE *f, const char *sep, const char *s, vt_status *st)
{
    if (*st != VT_OK) return;
    fputs(sep, f);
    *st = vt_json_write_string(f, s);
}

static vt_status write_json_row(const vt_results_row *r, void *ctx)
{
    json_rows *j = ctx;
    FILE *f = j->f;
    vt_status s = VT_OK;
    fputs(j->n++ ? ",\n  {" : "\n  {", f);
    fprintf(f, "\"run_id\": %lld", (long long)r->run_id);
    json_field(f, ", \"model\": ", r->model, &s);
    json_field(f, ", \"model_sha256\": ", r->model_sha256, &s);
    json_field(f, ", \"family\": ", r->family, &s);
    json_field(f, ", \"task\": ", r->task, &s);
    json_field(f, ", \"training_data\": ", r->training_data, &s);
    if (s != VT_OK) return s;
    fputs(", \"trained\": ", f), json_i64(f, r->trained);
    fputs(", \"imagenet_top1\": ", f), vt_json_write_double(f, r->top1);
    fputs(", \"n_params\": ", f), json_i64(f, r->n_params);
    json_field(f, ", \"transform\": ", r->transform, &s);
    if (s != VT_OK) return s;
    fprintf(f, ", \"layer_index\": %lld", (long long)r->layer_index);
    json_field(f, ", \"layer_name\": ", r->layer_name, &s);
    json_field(f, ", \"layer_op\": ", r->layer_op, &s);
    json_field(f, ", \"layer_shape\": ", r->layer_shape, &s);
    if (s != VT_OK) return s;
    fputs(", \"layer_features\": ", f), json_i64(f, r->layer_features);
    fputs(", \"layer_k\": ", f), json_i64(f, r->layer_k);
    fputs(", \"layer_ed\": ", f), vt_json_write_double(f, r->layer_ed);
    json_field(f, ", \"subject\": ", r->subject, &s);
    json_field(f, ", \"roi\": ", r->roi, &s);
    json_field(f, ", \"metric\": ", r->metric, &s);
    if (s != VT_OK) return s;
    fprintf(f, ", \"split\": \"%s\", \"value\": ", r->split == VT_SPLIT_TRAIN ? "train" : "test");
    vt_json_write_double(f, r->value);
    fputs(", \"ci_low\": ", f), vt_json_write_double(f, r->ci_low);
    fputs(", \"ci_high\": ", f), vt_json_write_double(f, r->ci_high);
    fputs(", \"noise_ceiling\": ", f), vt_json_write_double(f, r->noise_ceiling);
    fputs(", \"normalised\": ", f), vt_json_write_double(f, r->normalised);
    fprintf(f, ", \"selected\": %d}", r->selected);
    return ferror(f) ? vt_fail(VT_ERR_IO, "export write failed: %s", strerror(errno)) : VT_OK;
}

static vt_status write_json(vt_results *db, int64_t run_id, FILE *f)
{
    fprintf(f, "{\"schema_version\": %d,\n\"runs\": ", VT_RESULTS_SCHEMA_VERSION);
    vt_status s = json_query(db, f,
                             "SELECT id, started, finished, ventral_version, status, config_json FROM runs "
                             "WHERE ?1 = 0 OR id = ?1 ORDER BY id",
                             run_id);
    if (s == VT_OK) fputs(",\n\"models\": ", f);
    if (s == VT_OK)
        s = json_query(db, f,
                       "SELECT id, name, sha256, family, task, training_data, trained, top1 AS imagenet_top1, "
                       "n_params, transform FROM models ORDER BY name, sha256",
                       0);
    if (s == VT_OK) fputs(",\n\"layers\": ", f);
    if (s == VT_OK)
        s = json_query(db, f,
                       "SELECT l.model_id, m.name AS model, l.idx AS layer_index, l.name, l.op, l.shape, l.features, "
                       "l.k, l.ed FROM layers l JOIN models m ON m.id = l.model_id ORDER BY m.name, m.sha256, l.idx",
                       0);
    if (s != VT_OK) return s;
    fputs(",\n\"scores\": [", f);
    json_rows j = {f, 0};
    s = for_each_row(db, run_id, NULL, NULL, write_json_row, &j);
    if (s == VT_OK) fputs(j.n ? "\n]}\n" : "]}\n", f);
    return s;
}

vt_status vt_results_export(vt_results *db, int64_t run_id, vt_results_format fmt, FILE *out)
{
    if (fmt != VT_RESULTS_CSV && fmt != VT_RESULTS_JSON) return vt_fail(VT_ERR_ARG, "unknown export format");
    vt_status s;
    if (fmt == VT_RESULTS_CSV) {
        fprintf(out, "%s\n", csv_header);
        s = for_each_row(db, run_id, NULL, NULL, write_csv_row, out);
    } else {
        s = write_json(db, run_id, out);
    }
    if (s == VT_OK && ferror(out)) s = vt_fail(VT_ERR_IO, "%s: export write failed: %s", db->path, strerror(errno));
    return s;
}

vt_status vt_results_export_path(vt_results *db, int64_t run_id, vt_results_format fmt, const char *path)
{
    vt_atomic_file af;
    vt_status s = vt_atomic_open(&af, path);
    if (s != VT_OK) return s;
    s = vt_results_export(db, run_id, fmt, af.f);
    if (s == VT_OK && fflush(af.f) != 0) s = vt_fail(VT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (s != VT_OK) {
        vt_atomic_abandon(&af);
        return s;
    }
    return vt_atomic_commit(&af);
}
