/* Times libventral's RSA functions on .npy inputs, in a process of their own (driven by
 * bench/bench_rsa.py, which compiles it against the built libventral; not a test).
 *
 *   bench_rsa X.npy Y.npy REPEAT BOOT
 *
 * X, Y: n × p float64 features. Prints one line per measurement, "name wall cpu [value]" (the
 * best wall-clock seconds of REPEAT runs and the best process CPU seconds, all threads): the Pearson RSM of X in
 * float64 and in float32, then the three correlations of the upper triangles of RSM(X) and RSM(Y) (vt_compare_vectors
 * on the extracted triangles, as scipy gets them), then a BOOT-resample bootstrap of each (once). */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ventral/compare.h"
#include "ventral/npy.h"
#include "ventral/rsm.h"

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best wall and CPU times so far of one measurement. */
typedef struct timing {
    double wall, cpu, t0, c0;
} timing;

static void start(timing *t)
{
    t->t0 = clock_s(CLOCK_MONOTONIC), t->c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static void stop(timing *t)
{
    double w = clock_s(CLOCK_MONOTONIC) - t->t0, c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - t->c0;
    t->wall = w < t->wall ? w : t->wall;
    t->cpu = c < t->cpu ? c : t->cpu;
}

static int die(const char *what)
{
    fprintf(stderr, "bench_rsa: %s: %s\n", what, vt_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_rsa X.npy Y.npy REPEAT BOOT\n");
        return 2;
    }
    vt_threads_init();
    int repeat = atoi(argv[3]), boot = atoi(argv[4]);
    vt_tensor *x, *y, *x32, *rx, *ry, *r32;
    if (vt_npy_read(argv[1], &x) != VT_OK || vt_npy_read(argv[2], &y) != VT_OK) return die("read");
    if (vt_tensor_convert(x, VT_F32, &x32) != VT_OK) return die("convert");
    int64_t n = x->shape[0];
    if (vt_rsm_new(x, VT_RSM_PEARSON, &rx) != VT_OK || vt_rsm_new(y, VT_RSM_PEARSON, &ry) != VT_OK ||
        vt_rsm_new(x32, VT_RSM_PEARSON, &r32) != VT_OK)
        return die("rsm");

    timing t = {1e30, 1e30, 0, 0};
    for (int k = 0; k < repeat; k++) {
        start(&t);
        if (vt_rsm_into(x, VT_RSM_PEARSON, rx) != VT_OK) return die("rsm");
        stop(&t);
    }
    printf("rsm_f64 %.6f %.6f\n", t.wall, t.cpu);
    t = (timing){1e30, 1e30, 0, 0};
    for (int k = 0; k < repeat; k++) {
        start(&t);
        if (vt_rsm_into(x32, VT_RSM_PEARSON, r32) != VT_OK) return die("rsm");
        stop(&t);
    }
    printf("rsm_f32 %.6f %.6f\n", t.wall, t.cpu);

    int64_t m = vt_compare_triangle_len(n);
    double *a = malloc((size_t)m * sizeof *a), *b = malloc((size_t)m * sizeof *b);
    if (!a || !b) return 1;
    if (vt_compare_triangle(rx, "RX", a) != VT_OK || vt_compare_triangle(ry, "RY", b) != VT_OK) return die("tri");
    for (int method = 0; method < VT_CORR_METHOD_COUNT; method++) {
        double r = 0;
        t = (timing){1e30, 1e30, 0, 0};
        for (int k = 0; k < repeat; k++) {
            start(&t);
            if (vt_compare_vectors(a, b, m, (vt_corr_method)method, &r) != VT_OK) return die("compare");
            stop(&t);
        }
        printf("compare_%s %.6f %.6f %.17g\n", vt_corr_method_name((vt_corr_method)method), t.wall, t.cpu, r);
    }
    for (int method = 0; boot > 0 && method < VT_CORR_METHOD_COUNT; method++) {
        vt_compare_pair *pair;
        vt_bootstrap_ci ci;
        vt_bootstrap_opts opts = {.resamples = boot, .seed = 0, .level = 0.95};
        t = (timing){1e30, 1e30, 0, 0};
        start(&t);
        if (vt_compare_pair_new(rx, "RX", ry, "RY", (vt_corr_method)method, &pair) != VT_OK) return die("pair");
        if (vt_compare_bootstrap(pair, &opts, &ci, NULL) != VT_OK) return die("bootstrap");
        stop(&t);
        printf("bootstrap_%s %.6f %.6f %.17g %.17g %.17g\n", vt_corr_method_name((vt_corr_method)method), t.wall, t.cpu,
               ci.estimate, ci.low, ci.high);
        vt_compare_pair_free(pair);
    }
    free(a), free(b);
    vt_tensor_free(x), vt_tensor_free(y), vt_tensor_free(x32);
    vt_tensor_free(rx), vt_tensor_free(ry), vt_tensor_free(r32);
    return 0;
}
