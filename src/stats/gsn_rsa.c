/* The GSN RSA noise ceiling (METHODS §8): Monte-Carlo simulations from the fitted model.
 *
 * ncdist[r] = corr(RDM(signal), RDM(signal + noise)) with signal ~ N(mnS, sc·cSb) and noise ~
 * N(0, cNb / nctrials) for ncconds simulated conditions; the ceiling is the median. With the
 * split-half scale, sc is the grid value whose simulated split-half RDM reliability (signal
 * plus two independent noise draws of cNb / splitnum) best matches the data's own split-half
 * reliability.
 *
 * Every simulation draws from its own Philox stream (phase, scale index, simulation index),
 * so results do not depend on the number of threads or on how sims are chunked. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "stats/gsn_internal.h"
#include "ventral/gsn.h"
#include "ventral/rng.h"

enum { PHASE_DATA_SPLIT = 1, PHASE_MODEL_SPLIT = 2, PHASE_CEILING = 3 };

static uint64_t stream_id(int phase, int64_t sci, int64_t si)
{
    return ((uint64_t)phase << 56) | ((uint64_t)sci << 32) | (uint64_t)si;
}

/* RDM as scipy's pdist(X, 'correlation'): 1 − Pearson r between the rows of x (m × n),
 * pairs (i < j) in row-major order. A constant row gives NaN distances. z is m × n work,
 * g is m × m work. */
static void rdm_corr(const double *x, int64_t m, int64_t n, double *z, double *g, double *rdm)
{
    for (int64_t i = 0; i < m; i++) {
        double mean = 0, ss = 0;
        for (int64_t u = 0; u < n; u++) mean += x[i * n + u];
        mean /= (double)n;
        for (int64_t u = 0; u < n; u++) {
            double d = x[i * n + u] - mean;
            z[i * n + u] = d;
            ss += d * d;
        }
        double inv = 1.0 / sqrt(ss); /* inf for a constant row: its distances become NaN */
        for (int64_t u = 0; u < n; u++) z[i * n + u] *= inv;
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)m, (int)n, 1.0, z, (int)n, 0.0, g, (int)m);
    int64_t k = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = i + 1; j < m; j++) rdm[k++] = 1.0 - g[i * m + j];
}

/* Pearson r of two RDMs; NaN (a constant or undefined RDM) counts as 0, as the package. */
static double compare_rdms(const double *a, const double *b, int64_t len)
{
    double ma = 0, mb = 0;
    for (int64_t i = 0; i < len; i++) ma += a[i], mb += b[i];
    ma /= (double)len;
    mb /= (double)len;
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < len; i++) {
        double da = a[i] - ma, db = b[i] - mb;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    double r = sab / sqrt(saa * sbb);
    if (isnan(r)) return 0;
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct rsa_ctx {
    int64_t n, ncc;   /* units, simulated conditions */
    const double *mn; /* signal mean (n) */
    const double *fn; /* factor of cNb (n × n) */
    int64_t npairs;   /* ncc (ncc − 1) / 2 */
    uint64_t seed;
} rsa_ctx;

/* Per-thread scratch for one simulation. */
typedef struct sim_work {
    double *zr, *sig, *noise, *meas1, *meas2, *z, *g, *r1, *r2;
} sim_work;

static void work_free(sim_work *w)
{
    free(w->zr);
    free(w->sig);
    free(w->noise);
    free(w->meas1);
    free(w->meas2);
    free(w->z);
    free(w->g);
    free(w->r1);
    free(w->r2);
}

static bool work_alloc(sim_work *w, const rsa_ctx *c)
{
    size_t cn = (size_t)(c->ncc * c->n);
    memset(w, 0, sizeof *w);
    w->zr = vt_malloc(2 * cn, sizeof(double));
    w->sig = vt_malloc(cn, sizeof(double));
    w->noise = vt_malloc(2 * cn, sizeof(double));
    w->meas1 = vt_malloc(cn, sizeof(double));
    w->meas2 = vt_malloc(cn, sizeof(double));
    w->z = vt_malloc(cn, sizeof(double));
    w->g = vt_malloc((size_t)(c->ncc * c->ncc), sizeof(double));
    w->r1 = vt_malloc((size_t)c->npairs, sizeof(double));
    w->r2 = vt_malloc((size_t)c->npairs, sizeof(double));
    if (w->zr && w->sig && w->noise && w->meas1 && w->meas2 && w->z && w->g && w->r1 && w->r2) return true;
    work_free(w);
    return false;
}

/* Standard normals, both Box–Muller outputs used: the simulations draw millions of them. */
static void fill_normals(vt_rng *rng, double *z, int64_t count)
{
    for (int64_t i = 0; i < count; i += 2) {
        double u1 = 1.0 - vt_rng_uniform(rng); /* (0, 1]: log is finite */
        double u2 = vt_rng_uniform(rng);
        double rad = sqrt(-2.0 * log(u1)), ang = 2.0 * M_PI * u2;
        z[i] = rad * cos(ang);
        if (i + 1 < count) z[i + 1] = rad * sin(ang);
    }
}

/* rows × n draws of N(mean, scale² F Fᵀ) into out; z is rows × n work. mean may be NULL (0). */
static void draw_mvn(vt_rng *rng, const double *f, double scale, const double *mean, int64_t rows, int64_t n, double *z,
                     double *out)
{
    fill_normals(rng, z, rows * n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n, (int)n, scale, z, (int)n, f, (int)n, 0.0,
                out, (int)n);
    if (mean)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t u = 0; u < n; u++) out[i * n + u] += mean[u];
}

/* One model split-half simulation: signal from (fs, fs_scale), two noise draws of cNb/splitnum. */
static double sim_model_split(const rsa_ctx *c, sim_work *w, const double *fs, double fs_scale, double splitnum,
                              int64_t sci, int64_t si)
{
    vt_rng rng = vt_rng_make(c->seed, stream_id(PHASE_MODEL_SPLIT, sci, si));
    int64_t cn = c->ncc * c->n;
    draw_mvn(&rng, fs, fs_scale, c->mn, c->ncc, c->n, w->zr, w->sig);
    draw_mvn(&rng, c->fn, 1.0 / sqrt(splitnum), NULL, 2 * c->ncc, c->n, w->zr, w->noise);
    for (int64_t i = 0; i < cn; i++) {
        w->meas1[i] = w->sig[i] + w->noise[i];
        w->meas2[i] = w->sig[i] + w->noise[cn + i];
    }
    rdm_corr(w->meas1, c->ncc, c->n, w->z, w->g, w->r1);
    rdm_corr(w->meas2, c->ncc, c->n, w->z, w->g, w->r2);
    return compare_rdms(w->r1, w->r2, c->npairs);
}

/* One ceiling simulation: RDM of the signal vs RDM of signal + noise of cNb/nctrials. */
static double sim_ceiling(const rsa_ctx *c, sim_work *w, const double *fs, double nctrials, int64_t rr)
{
    vt_rng rng = vt_rng_make(c->seed, stream_id(PHASE_CEILING, 0, rr));
    int64_t cn = c->ncc * c->n;
    draw_mvn(&rng, fs, 1.0, c->mn, c->ncc, c->n, w->zr, w->sig);
    draw_mvn(&rng, c->fn, 1.0 / sqrt(nctrials), NULL, c->ncc, c->n, w->zr, w->noise);
    for (int64_t i = 0; i < cn; i++) w->meas1[i] = w->sig[i] + w->noise[i];
    rdm_corr(w->sig, c->ncc, c->n, w->z, w->g, w->r1);
    rdm_corr(w->meas1, c->ncc, c->n, w->z, w->g, w->r2);
    return compare_rdms(w->r1, w->r2, c->npairs);
}

/* |median| / (IQR / 2 / sqrt(n)) of v (copied; v itself is kept). */
static double robustness(const double *v, int64_t n, double *tmp)
{
    memcpy(tmp, v, sizeof *v * (size_t)n);
    double med = vt_gsn_median(tmp, n);
    double iqr = vt_gsn_iqr(tmp, n);
    return fabs(med) / (iqr / 2 / sqrt((double)n));
}

/* ---- the data's split-half RDM reliability ---- */

/* Mean over the listed trials → conditions × units. */
static void mean_trials(const double *x, int64_t n, int64_t nc, int64_t nt, const int64_t *trials, int64_t k,
                        double *out)
{
    for (int64_t c = 0; c < nc; c++)
        for (int64_t u = 0; u < n; u++) {
            const double *xs = x + (u * nc + c) * nt;
            double s = 0;
            for (int64_t t = 0; t < k; t++) s += xs[trials[t]];
            out[c * n + u] = s / (double)k;
        }
}

static double split_r(const double *x, int64_t n, int64_t nc, int64_t nt, const int64_t *a, const int64_t *b, int64_t k,
                      double *m1, double *m2, double *z, double *g, double *r1, double *r2)
{
    mean_trials(x, n, nc, nt, a, k, m1);
    mean_trials(x, n, nc, nt, b, k, m2);
    rdm_corr(m1, nc, n, z, g, r1);
    rdm_corr(m2, nc, n, z, g, r2);
    return compare_rdms(r1, r2, nc * (nc - 1) / 2);
}

static double binomial(int64_t n, int64_t k)
{
    double r = 1;
    for (int64_t i = 1; i <= k; i++) r = r * (double)(n - k + i) / (double)i;
    return r;
}

/* Next k-combination of {0..n-1} in lexicographic order (itertools.combinations). */
static bool next_combo(int64_t *c, int64_t k, int64_t n)
{
    int64_t i = k - 1;
    while (i >= 0 && c[i] == n - k + i) i--;
    if (i < 0) return false;
    c[i]++;
    for (int64_t j = i + 1; j < k; j++) c[j] = c[j - 1] + 1;
    return true;
}

/* Median split-half reliability. Exhaustive over all disjoint pairs of k-subsets when there
 * are few (the package's rule: C(T, k) <= 2·simchunk and pairs <= simchunk); otherwise random
 * half-splits in chunks until robust. */
static vt_status data_split(const double *x, int64_t n, int64_t nc, int64_t nt, int64_t k, const vt_gsn_rsa_options *o,
                            double *splitr, bool *exhaustive)
{
    int64_t npairs = nc * (nc - 1) / 2;
    double *m1 = vt_malloc((size_t)(nc * n), sizeof *m1), *m2 = vt_malloc((size_t)(nc * n), sizeof *m2);
    double *z = vt_malloc((size_t)(nc * n), sizeof *z), *g = vt_malloc((size_t)(nc * nc), sizeof *g);
    double *r1 = vt_malloc((size_t)npairs, sizeof *r1), *r2 = vt_malloc((size_t)npairs, sizeof *r2);
    int64_t cap = o->maxsimnum > o->simchunk ? o->maxsimnum : o->simchunk;
    double *vals = vt_malloc((size_t)(cap > 2 * o->simchunk ? cap : 2 * o->simchunk), sizeof *vals);
    double *tmp = vt_malloc((size_t)(cap > 2 * o->simchunk ? cap : 2 * o->simchunk), sizeof *tmp);
    int64_t *trials = vt_malloc((size_t)nt, sizeof *trials);
    int64_t *combos = NULL;
    vt_status st = VT_OK;
    if (!m1 || !m2 || !z || !g || !r1 || !r2 || !vals || !tmp || !trials) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    *exhaustive = false;
    double ncomb = binomial(nt, k);
    if (ncomb <= 2.0 * o->simchunk) {
        combos = vt_malloc((size_t)ncomb * (size_t)k, sizeof *combos);
        if (!combos) {
            st = VT_ERR_NOMEM;
            goto done;
        }
        int64_t nco = 0;
        for (int64_t j = 0; j < k; j++) trials[j] = j;
        do memcpy(combos + (nco++) * k, trials, sizeof *trials * (size_t)k);
        while (next_combo(trials, k, nt));
        int64_t nvalid = 0;
        for (int64_t a = 0; a < nco; a++)
            for (int64_t b = a + 1; b < nco; b++) {
                bool disjoint = true;
                for (int64_t i = 0; i < k && disjoint; i++)
                    for (int64_t j = 0; j < k && disjoint; j++) disjoint = combos[a * k + i] != combos[b * k + j];
                nvalid += disjoint;
            }
        if (nvalid <= o->simchunk) {
            *exhaustive = true;
            int64_t m = 0;
            for (int64_t a = 0; a < nco; a++)
                for (int64_t b = a + 1; b < nco; b++) {
                    bool disjoint = true;
                    for (int64_t i = 0; i < k && disjoint; i++)
                        for (int64_t j = 0; j < k && disjoint; j++) disjoint = combos[a * k + i] != combos[b * k + j];
                    if (disjoint)
                        vals[m++] = split_r(x, n, nc, nt, combos + a * k, combos + b * k, k, m1, m2, z, g, r1, r2);
                }
            *splitr = vt_gsn_median(vals, m);
            goto done;
        }
    }
    /* Random half-splits: a seeded shuffle of the trials per simulation. */
    int64_t done_n = 0, target = o->simchunk;
    for (;;) {
        for (int64_t si = done_n; si < target; si++) {
            vt_rng rng = vt_rng_make(o->seed, stream_id(PHASE_DATA_SPLIT, 0, si));
            for (int64_t t = 0; t < nt; t++) trials[t] = t;
            for (int64_t t = nt - 1; t > 0; t--) {
                int64_t j = (int64_t)vt_rng_below(&rng, (uint64_t)(t + 1));
                int64_t s = trials[t];
                trials[t] = trials[j], trials[j] = s;
            }
            vals[si] = split_r(x, n, nc, nt, trials, trials + k, k, m1, m2, z, g, r1, r2);
        }
        done_n = target;
        if (robustness(vals, done_n, tmp) > o->simthresh || target + o->simchunk > o->maxsimnum) break;
        target += o->simchunk;
    }
    memcpy(tmp, vals, sizeof *vals * (size_t)done_n);
    *splitr = vt_gsn_median(tmp, done_n);
done:
    free(m1);
    free(m2);
    free(z);
    free(g);
    free(r1);
    free(r2);
    free(vals);
    free(tmp);
    free(trials);
    free(combos);
    return st;
}

/* ---- public ---- */

void vt_gsn_rsa_options_default(vt_gsn_rsa_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->ncsims = 50;
    opt->ncconds = 50;
    opt->scale = VT_GSN_SCALE_SPLIT_HALF;
    opt->simchunk = 50;
    opt->simthresh = 10;
    opt->maxsimnum = 1000;
}

void vt_gsn_rsa_result_free(vt_gsn_rsa_result *r)
{
    if (!r) return;
    vt_tensor_free(r->ncdist);
    vt_tensor_free(r->scs);
    vt_tensor_free(r->model_splitr);
    vt_tensor_free(r->r2);
    free(r);
}

/* Runs `count` simulations in parallel; fn(index) → out[index]. Fails only on memory. */
typedef struct model_job {
    const rsa_ctx *c;
    const double *const *fs; /* per-scale factor */
    const double *fs_scale;  /* per-scale multiplier */
    double splitnum;
    int64_t nscs, from, to, stride; /* sims [from, to) for each scale; out[sci * stride + si] */
    double *out;
} model_job;

static vt_status run_model_sims(const model_job *j)
{
    int64_t per = j->to - j->from, total = per * j->nscs;
    int failed = 0;
#pragma omp parallel
    {
        sim_work w;
        bool ok = work_alloc(&w, j->c);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t idx = 0; idx < total; idx++) {
            if (!ok) continue;
            int64_t sci = idx / per, si = j->from + idx % per;
            j->out[sci * j->stride + si] =
                sim_model_split(j->c, &w, j->fs[sci], j->fs_scale[sci], j->splitnum, sci, si);
        }
        if (ok) work_free(&w);
    }
    return failed ? vt_fail(VT_ERR_NOMEM, "gsn: out of memory for simulation workspace") : VT_OK;
}

static vt_status check_rsa_args(const vt_tensor *data, const vt_gsn_result *gsn, const vt_gsn_rsa_options *o)
{
    if (!gsn) return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: gsn result is NULL");
    if (!data || data->rank != 3 || data->shape[0] != gsn->nunits || data->shape[1] != gsn->nconds ||
        data->shape[2] != gsn->ntrials)
        return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: data must be the %lldx%lldx%lld array the model was fitted to",
                       (long long)gsn->nunits, (long long)gsn->nconds, (long long)gsn->ntrials);
    if (gsn->nunits < 2) return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: correlation RDMs need at least 2 units");
    if (o->ncsims < 1) return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: ncsims must be >= 1, got %d", o->ncsims);
    if (o->ncconds < 3) return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: ncconds must be >= 3, got %d", o->ncconds);
    if ((unsigned)o->scale >= VT_GSN_SCALE_COUNT)
        return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: unknown scale mode %d", (int)o->scale);
    if (!(o->nctrials <= 0 || isfinite(o->nctrials)))
        return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: nctrials must be finite");
    if (o->scale == VT_GSN_SCALE_SPLIT_HALF) {
        if (o->simchunk < 2) return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: simchunk must be >= 2, got %d", o->simchunk);
        if (o->maxsimnum < o->simchunk)
            return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: maxsimnum (%d) must be >= simchunk (%d)", o->maxsimnum,
                           o->simchunk);
        if (gsn->uneven)
            return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: split-half scaling needs complete trials (data has NaN); "
                                       "use no scaling or variance scaling");
        if (o->scs && o->nscs > 0)
            for (int i = 0; i < o->nscs; i++)
                if (!(o->scs[i] >= 0 && isfinite(o->scs[i])))
                    return vt_fail(VT_ERR_ARG, "gsn rsa ceiling: scs[%d] = %g must be finite and >= 0", i, o->scs[i]);
    }
    return VT_OK;
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Chooses sc by matching simulated split-half reliability to the data's (mode 0 of the package). */
static vt_status split_half_scale(const vt_tensor *data, const vt_gsn_result *gsn, const vt_gsn_rsa_options *o,
                                  const rsa_ctx *c, vt_gsn_rsa_result *r)
{
    int64_t n = gsn->nunits, nn = n * n;
    /* The grid, sorted and unique (np.unique). */
    double defgrid[21];
    const double *grid = defgrid;
    int64_t ng = 21;
    if (o->scs && o->nscs > 0)
        grid = o->scs, ng = o->nscs;
    else
        for (int i = 0; i < 21; i++) defgrid[i] = i * 0.1; /* np.arange(0, 2.1, 0.1) */
    vt_tensor *scs_t = vt_tensor_new(VT_F64, 1, &ng);
    if (!scs_t) return VT_ERR_NOMEM;
    double *scs = vt_tensor_f64(scs_t);
    memcpy(scs, grid, sizeof *scs * (size_t)ng);
    qsort(scs, (size_t)ng, sizeof *scs, cmp_double);
    int64_t nu = 0;
    for (int64_t i = 0; i < ng; i++)
        if (nu == 0 || scs[i] != scs[nu - 1]) scs[nu++] = scs[i];
    scs_t->shape[0] = ng = nu;
    r->scs = scs_t;

    vt_tensor *dt = NULL;
    const double *x;
    vt_status st = VT_OK;
    if (data->dtype == VT_F64)
        x = vt_tensor_f64(data);
    else {
        if ((st = vt_tensor_convert(data, VT_F64, &dt)) != VT_OK) return st;
        x = vt_tensor_f64(dt);
    }
    int64_t nt = gsn->ntrials, k = nt / 2;
    r->splitnum = (int)k;
    st = data_split(x, n, gsn->nconds, nt, k, o, &r->splitr, &r->split_exhaustive);
    vt_tensor_free(dt);
    if (st != VT_OK) return st;

    /* Per-scale signal factors: sqrt(sc)·F(cSb) whenever sc·cSb factors as is (then the
     * package's PSD projection leaves it unchanged); otherwise the projected matrix's own. */
    const double *csb = vt_tensor_f64(gsn->cSb);
    double *fsb = vt_malloc((size_t)nn, sizeof *fsb);
    double *work = vt_malloc((size_t)nn, sizeof *work);
    const double **fs = vt_calloc((size_t)ng, sizeof *fs);
    double **own = vt_calloc((size_t)ng, sizeof *own);
    double *fs_scale = vt_malloc((size_t)ng, sizeof *fs_scale);
    int64_t cap = o->maxsimnum;
    double *vals = vt_malloc((size_t)(ng * cap), sizeof *vals);
    double *tmp = vt_malloc((size_t)cap, sizeof *tmp);
    int64_t shape1 = ng;
    r->model_splitr = vt_tensor_new(VT_F64, 1, &shape1);
    r->r2 = vt_tensor_new(VT_F64, 1, &shape1);
    if (!fsb || !work || !fs || !own || !fs_scale || !vals || !tmp || !r->model_splitr || !r->r2) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    if ((st = vt_gsn_psd_factor(csb, n, fsb)) != VT_OK) goto done;
    for (int64_t s = 0; s < ng; s++) {
        for (int64_t i = 0; i < nn; i++) work[i] = csb[i] * scs[s];
        bool pd = false;
        if (n > 1) {
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = i + 1; j < n; j++)
                    work[i * n + j] = work[j * n + i] = (work[i * n + j] + work[j * n + i]) / 2;
            pd = vt_gsn_is_pd(work, n, &st);
            if (st != VT_OK) goto done;
        }
        if (pd) {
            fs[s] = fsb;
            fs_scale[s] = sqrt(scs[s]);
            continue;
        }
        if ((st = vt_gsn_nearest_psd(work, n, true)) != VT_OK) goto done;
        if (!(own[s] = vt_malloc((size_t)nn, sizeof *own[s]))) {
            st = VT_ERR_NOMEM;
            goto done;
        }
        if ((st = vt_gsn_psd_factor(work, n, own[s])) != VT_OK) goto done;
        fs[s] = own[s];
        fs_scale[s] = 1.0;
    }

    model_job job = {
        .c = c, .fs = fs, .fs_scale = fs_scale, .splitnum = (double)k, .nscs = ng, .stride = cap, .out = vals};
    int64_t done_n = 0, target = o->simchunk;
    for (;;) {
        job.from = done_n;
        job.to = target;
        if ((st = run_model_sims(&job)) != VT_OK) goto done;
        done_n = target;
        double rob = 0;
        for (int64_t s = 0; s < ng; s++) rob += robustness(vals + s * cap, done_n, tmp);
        rob /= (double)ng;
        if (rob > o->simthresh || target + o->simchunk > o->maxsimnum) break;
        target += o->simchunk;
    }
    r->nsplitsims = (int)done_n;

    /* R² of each scale's median against the data's, and the first best (NaN wins, as argmax). */
    double *ms = vt_tensor_f64(r->model_splitr), *r2 = vt_tensor_f64(r->r2);
    double d = r->splitr, mx = -INFINITY;
    int64_t best = -1;
    r->splitr_out_of_range = true;
    for (int64_t s = 0; s < ng; s++) {
        memcpy(tmp, vals + s * cap, sizeof *tmp * (size_t)done_n);
        ms[s] = vt_gsn_median(tmp, done_n);
        r2[s] = d * d == 0 ? NAN : 100 * (1 - (ms[s] - d) * (ms[s] - d) / (d * d));
        if (!(d > ms[s])) r->splitr_out_of_range = false;
    }
    for (int64_t s = 0; s < ng && best < 0; s++)
        if (isnan(r2[s])) best = s;
    if (best < 0)
        for (int64_t s = 0; s < ng; s++)
            if (r2[s] > mx) mx = r2[s], best = s;
    r->sc = scs[best < 0 ? 0 : best];
done:
    if (own)
        for (int64_t s = 0; s < ng; s++) free(own[s]);
    free(own);
    free(fs);
    free(fs_scale);
    free(fsb);
    free(work);
    free(vals);
    free(tmp);
    return st;
}

vt_status vt_gsn_rsa_noise_ceiling(const vt_tensor *data, const vt_gsn_result *gsn, const vt_gsn_rsa_options *opt,
                                   vt_gsn_rsa_result **out)
{
    *out = NULL;
    vt_gsn_rsa_options defaults;
    if (!opt) {
        vt_gsn_rsa_options_default(&defaults);
        opt = &defaults;
    }
    vt_status st = check_rsa_args(data, gsn, opt);
    if (st != VT_OK) return st;
    int64_t n = gsn->nunits, nn = n * n;
    double nctrials = opt->nctrials > 0 ? opt->nctrials : (double)gsn->ntrials;
    vt_gsn_rsa_result *r = vt_calloc(1, sizeof *r);
    double *fn = vt_malloc((size_t)nn, sizeof *fn);
    double *crsa = vt_malloc((size_t)nn, sizeof *crsa);
    double *frsa = vt_malloc((size_t)nn, sizeof *frsa);
    int64_t nsims = opt->ncsims;
    if (!r || !fn || !crsa || !frsa || !(r->ncdist = vt_tensor_new(VT_F64, 1, &nsims))) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    r->splitr = NAN;
    if ((st = vt_gsn_psd_factor(vt_tensor_f64(gsn->cNb), n, fn)) != VT_OK) goto done;
    rsa_ctx c = {.n = n,
                 .ncc = opt->ncconds,
                 .mn = vt_tensor_f64(gsn->mnS),
                 .fn = fn,
                 .npairs = (int64_t)opt->ncconds * (opt->ncconds - 1) / 2,
                 .seed = opt->seed};

    const double *csb = vt_tensor_f64(gsn->cSb);
    memcpy(crsa, csb, sizeof *crsa * (size_t)nn);
    if (opt->scale == VT_GSN_SCALE_NONE)
        r->sc = 1;
    else {
        if (opt->scale == VT_GSN_SCALE_VARIANCE) {
            const double *cs = vt_tensor_f64(gsn->cS);
            double vs = 0, vsb = 0;
            for (int64_t i = 0; i < n; i++) vs += cs[i * n + i], vsb += csb[i * n + i];
            vs /= (double)n;
            vsb /= (double)n;
            r->sc = (vs > 0 ? vs : 0) / vsb;
            if (!isfinite(r->sc)) r->sc = 0;
        } else if ((st = split_half_scale(data, gsn, opt, &c, r)) != VT_OK)
            goto done;
        for (int64_t i = 0; i < nn; i++) crsa[i] *= r->sc;
        if ((st = vt_gsn_nearest_psd(crsa, n, true)) != VT_OK) goto done;
    }
    if ((st = vt_gsn_psd_factor(crsa, n, frsa)) != VT_OK) goto done;

    double *dist = vt_tensor_f64(r->ncdist);
    int failed = 0;
#pragma omp parallel
    {
        sim_work w;
        bool ok = work_alloc(&w, &c);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t rr = 0; rr < nsims; rr++)
            if (ok) dist[rr] = sim_ceiling(&c, &w, frsa, nctrials, rr);
        if (ok) work_free(&w);
    }
    if (failed) {
        st = vt_fail(VT_ERR_NOMEM, "gsn: out of memory for simulation workspace");
        goto done;
    }
    double *tmp = vt_malloc((size_t)nsims, sizeof *tmp);
    if (!tmp) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    memcpy(tmp, dist, sizeof *tmp * (size_t)nsims);
    r->nc = vt_gsn_median(tmp, nsims);
    free(tmp);
done:
    free(fn);
    free(crsa);
    free(frsa);
    if (st != VT_OK)
        vt_gsn_rsa_result_free(r);
    else
        *out = r;
    return st;
}
