/* The results-database library API: schema creation and versioning, runs (start, resume,
 * finish), upserts that are idempotent, read-only handles, queries, and the analyses' small
 * closed-form cases (average ranks in Spearman, ties in layer selection, exact bootstrap). */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "vt_test.h"
#include "ventral/analysis.h"
#include "ventral/results.h"

static const char *db_path = "test_results.sqlite";

static void remove_db(void)
{
    unlink(db_path);
    unlink("test_results.sqlite-wal");
    unlink("test_results.sqlite-shm");
}

/* One model, three layers, two subjects, one ROI and metric; train/test per layer. */
static void fill(vt_results *db, int64_t run)
{
    vt_results_model m = vt_results_model_init();
    m.name = "net";
    m.sha256 = "abc";
    m.family = "cnn";
    m.trained = 1;
    m.top1 = 70.5;
    m.n_params = 1000;
    int64_t model, layer[3], subj[2], roi, metric;
    CHECK(vt_results_put_model(db, &m, &model) == VT_OK);
    for (int i = 0; i < 3; i++) {
        vt_results_layer l = vt_results_layer_init();
        char name[16];
        snprintf(name, sizeof name, "conv%d", i);
        l.index = i;
        l.name = name;
        l.ed = 1.5 + i;
        CHECK(vt_results_put_layer(db, model, &l, &layer[i]) == VT_OK);
    }
    CHECK(vt_results_put_subject(db, "s1", "nsd", &subj[0]) == VT_OK);
    CHECK(vt_results_put_subject(db, "s2", NULL, &subj[1]) == VT_OK);
    CHECK(vt_results_put_roi(db, "OTC", NULL, &roi) == VT_OK);
    CHECK(vt_results_put_metric(db, "crsa", "classical RSA", &metric) == VT_OK);
    /* train: subject 1 best at layer 1; subject 2 ties layers 0 and 2 (layer 0 must win). */
    static const double train[2][3] = {{0.1, 0.5, 0.3}, {0.4, 0.2, 0.4}};
    static const double test[2][3] = {{0.11, 0.45, 0.31}, {0.35, 0.21, 0.38}};
    CHECK(vt_results_begin(db) == VT_OK);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 3; i++)
            for (int sp = 0; sp < 2; sp++) {
                vt_results_score sc = vt_results_score_init();
                sc.run_id = run;
                sc.layer_id = layer[i];
                sc.subject_id = subj[s];
                sc.roi_id = roi;
                sc.metric_id = metric;
                sc.split = sp ? VT_SPLIT_TEST : VT_SPLIT_TRAIN;
                sc.value = sp ? test[s][i] : train[s][i];
                sc.noise_ceiling = 0.5;
                CHECK(vt_results_put_score(db, &sc) == VT_OK);
            }
    CHECK(vt_results_commit(db) == VT_OK);
}

static void test_runs_and_upserts(void)
{
    remove_db();
    vt_results *db = NULL;
    CHECK(vt_results_open(db_path, VT_RESULTS_READONLY, &db) == VT_ERR_IO); /* no file, no create */
    CHECK(vt_results_open(db_path, VT_RESULTS_CREATE, &db) == VT_OK);
    int64_t run, again;
    bool resumed = true;
    CHECK(vt_results_run_start(db, "{\"a\": 1}", true, &run, &resumed) == VT_OK);
    CHECK(!resumed && run == 1);
    /* An unfinished run of the same configuration is resumed; a different one is not. */
    CHECK(vt_results_run_start(db, "{\"a\": 1}", true, &again, &resumed) == VT_OK);
    CHECK(resumed && again == run);
    CHECK(vt_results_run_start(db, "{\"a\": 2}", true, &again, &resumed) == VT_OK);
    CHECK(!resumed && again == 2);
    fill(db, run);
    fill(db, run); /* the same unit of work again: nothing duplicated */
    int64_t n;
    CHECK(vt_results_count(db, "scores", &n) == VT_OK && n == 12);
    CHECK(vt_results_count(db, "layers", &n) == VT_OK && n == 3);
    CHECK(vt_results_count(db, "models", &n) == VT_OK && n == 1);
    CHECK(vt_results_count(db, "nope", &n) == VT_ERR_ARG);
    CHECK(vt_results_run_finish(db, run, "finished") == VT_OK);
    CHECK(vt_results_run_finish(db, 99, "finished") == VT_ERR_ARG);
    CHECK(vt_results_run_finish(db, run, "done") == VT_ERR_ARG);
    /* A finished run is not resumed. */
    CHECK(vt_results_run_start(db, "{\"a\": 1}", true, &again, &resumed) == VT_OK);
    CHECK(!resumed && again == 3);
    vt_results_run *runs = NULL;
    size_t nr = 0;
    CHECK(vt_results_runs(db, &runs, &nr) == VT_OK && nr == 3);
    CHECK(runs && strcmp(runs[0].status, "finished") == 0 && runs[0].finished != NULL);
    CHECK(runs && strcmp(runs[1].status, "running") == 0 && runs[1].finished == NULL);
    CHECK(runs && strcmp(runs[1].config_json, "{\"a\": 2}") == 0 && strcmp(runs[1].ventral_version, vt_version()) == 0);
    vt_results_runs_free(runs, nr);
    /* Bad scores: unknown layer, NaN value. */
    vt_results_score sc = vt_results_score_init();
    sc.run_id = run;
    sc.layer_id = 999;
    sc.subject_id = sc.roi_id = sc.metric_id = 1;
    sc.value = 0.1;
    CHECK(vt_results_put_score(db, &sc) == VT_ERR_ARG);
    sc.layer_id = 1;
    sc.value = NAN;
    CHECK(vt_results_put_score(db, &sc) == VT_ERR_ARG);
    vt_results_model m = vt_results_model_init();
    CHECK(vt_results_put_model(db, &m, NULL) == VT_ERR_ARG); /* no name */
    CHECK(vt_results_mark_selected(db, run) == VT_OK);
    vt_results_close(db);

    CHECK(vt_results_open(db_path, VT_RESULTS_READONLY, &db) == VT_OK);
    CHECK(vt_results_put_subject(db, "s3", NULL, NULL) == VT_ERR_ARG); /* read-only handle */
    int64_t latest;
    CHECK(vt_results_latest_run(db, &latest) == VT_OK && latest == run);
    vt_results_table *t = NULL;
    CHECK(vt_results_scores(db, run, &t) == VT_OK && t->n == 12);
    int selected = 0;
    for (size_t i = 0; i < t->n; i++) {
        const vt_results_row *r = &t->rows[i];
        CHECK(strcmp(r->model, "net") == 0 && r->n_layers == 3 && r->trained == 1 && r->n_params == 1000);
        CHECK(isnan(r->ci_low) && r->noise_ceiling == 0.5);
        if (r->selected) {
            selected++;
            CHECK((strcmp(r->subject, "s1") == 0 && r->layer_index == 1) ||
                  (strcmp(r->subject, "s2") == 0 && r->layer_index == 0));
        }
    }
    CHECK(selected == 4); /* 2 subjects x 2 splits */

    /* Ranking: s1 -> layer 1 (0.45), s2 -> layer 0 (tie with layer 2, lower wins: 0.35). */
    vt_analysis_opts o = vt_analysis_opts_default();
    o.n_boot = 400;
    vt_ranking *rk = NULL;
    CHECK(vt_analysis_ranking(t, "crsa", "OTC", &o, &rk) == VT_OK);
    CHECK(rk && rk->n == 1 && rk->models[0].n_subjects == 2);
    CHECK_CLOSE(rk->models[0].mean, 0.4, 1e-15, 0);
    CHECK_CLOSE(rk->models[0].norm_mean, 0.8, 1e-15, 0); /* value / ceiling when none is stored */
    CHECK_CLOSE(rk->models[0].ed, 2.0, 1e-15, 0);        /* (2.5 + 1.5) / 2 */
    CHECK_CLOSE(rk->models[0].depth, 0.25, 1e-15, 0);    /* (1/2 + 0) / 2 */
    /* Two subjects: every resample mean is 0.35, 0.4 or 0.45; the 95 % interval spans them. */
    CHECK_CLOSE(rk->models[0].ci_low, 0.35, 1e-12, 0);
    CHECK_CLOSE(rk->models[0].ci_high, 0.45, 1e-12, 0);
    vt_ranking_free(rk);
    rk = NULL;
    CHECK(vt_analysis_ranking(t, "crsa", "V1", &o, &rk) == VT_ERR_ARG && rk == NULL); /* no such cell */
    vt_results_table_free(t);
    vt_results_close(db);
    remove_db();
}

static void test_spearman(void)
{
    /* scipy.stats.spearmanr([1, 2, 2, 3, 5], [2, 1, 4, 4, 6]) = (0.7631578947368421, 0.1333391195318063) */
    double x[] = {1, 2, 2, 3, 5, NAN}, y[] = {2, 1, 4, 4, 6, 1};
    vt_correlation c = vt_analysis_spearman(x, y, 6);
    CHECK(c.n == 5);
    CHECK_CLOSE(c.rho, 0.7631578947368421, 1e-12, 0);
    CHECK_CLOSE(c.p, 0.1333391195318063, 0, 1e-9);
    double z[] = {3, 3, 3, 3};
    c = vt_analysis_spearman(z, y, 4);
    CHECK(isnan(c.rho) && isnan(c.p)); /* a constant side */
    c = vt_analysis_spearman(x, y, 2);
    CHECK(isnan(c.rho)); /* fewer than 3 pairs */
    double a[] = {1, 2, 3, 4}, b[] = {8, 6, 4, 2};
    c = vt_analysis_spearman(a, b, 4);
    CHECK_CLOSE(c.rho, -1, 1e-15, 0);
    CHECK(c.p == 0);
}

static void test_not_a_database(void)
{
    FILE *f = fopen(db_path, "w");
    fputs("hello, this is text\n", f);
    fclose(f);
    vt_results *db = NULL;
    CHECK(vt_results_open(db_path, VT_RESULTS_CREATE, &db) == VT_ERR_FORMAT);
    CHECK(db == NULL && strstr(vt_last_error(), "not a SQLite database") != NULL);
    remove_db();
}

int main(void)
{
    RUN(test_runs_and_upserts);
    RUN(test_spearman);
    RUN(test_not_a_database);
    return vt_test_summary();
}
