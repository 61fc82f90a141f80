/* GSN: generative modelling of signal and noise (Kay et al.; METHODS §8).
 *
 * Responses R[unit, condition, trial] are modelled as signal ~ N(mnS, cS) drawn once per
 * condition plus noise ~ N(0, cN) drawn per trial. vt_gsn_perform estimates both
 * covariances (each shrunk toward its diagonal by a held-out likelihood), then a biconvex
 * iteration makes them positive semi-definite and mutually consistent (cSb, cNb).
 * vt_gsn_rsa_noise_ceiling simulates from that model to estimate how well a noiseless RDM
 * agrees with the RDM of trial-averaged noisy data (the RSA noise ceiling).
 *
 * The behaviour follows the reference package (cvnlab/GSN, Python numpy path of
 * perform_gsn and rsa_noise_ceiling), including its deterministic train/validation split
 * (MATLAB-compatible randperm from MT19937 seeded with 42), so the covariance outputs agree
 * with the package to rounding.
 *
 *   vt_gsn_result *g = NULL;
 *   if (vt_gsn_perform(data, NULL, &g) != VT_OK) ...          // data: units x conds x trials
 *   vt_gsn_rsa_options ro;
 *   vt_gsn_rsa_options_default(&ro);
 *   ro.seed = 1;
 *   vt_gsn_rsa_result *nc = NULL;
 *   if (vt_gsn_rsa_noise_ceiling(data, g, &ro, &nc) != VT_OK) ...
 *   printf("RSA ceiling %.3f (scale %.1f)\n", nc->nc, nc->sc);
 *   vt_gsn_rsa_result_free(nc);
 *   vt_gsn_result_free(g);
 *
 * Missing trials: a trial (data[:, c, t]) containing any NaN is treated as absent, as the
 * package's default ('fast') path does. Every condition needs at least one complete trial
 * and some condition at least two. Then the noise covariance averages the per-condition
 * covariances over conditions with >= 2 trials, the data covariance uses min(valid count)
 * trials per condition (chosen by the same deterministic permutation as the package), and
 * cS = cD - cN / min(valid count).
 *
 * Cost: O(51 N^3) time for the shrinkage grid plus a few N^3 eigendecompositions (N = units),
 * about 10 N^2 doubles of memory: meant for ROI-sized unit counts, not whole brains.
 * docs/gsn.md lists the deliberate differences from the package.
 */
#ifndef VENTRAL_GSN_H
#define VENTRAL_GSN_H

#include <stdbool.h>
#include <stdint.h>

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_gsn_options {
    /* Choose each covariance's shrinkage toward its diagonal from 0, 0.02, ..., 1 by the
     * held-out (every 5th condition) Gaussian negative log-likelihood. false: no shrinkage
     * (level 1). Default true. */
    bool want_shrinkage;
    /* Optional custom grid of levels in [0, 1] (borrowed; overrides want_shrinkage when
     * nshrinklevels > 0). Default NULL / 0. */
    const double *shrinklevels;
    int nshrinklevels;
    /* Cap on biconvex iterations. Default 100 (as the package). */
    int max_iters;
} vt_gsn_options;

void vt_gsn_options_default(vt_gsn_options *opt);

/* Results of vt_gsn_perform; every tensor is float64 and owned by the result. */
typedef struct vt_gsn_result {
    int64_t nunits, nconds, ntrials;   /* shape of the input */
    vt_tensor *mnN;                    /* (units): noise mean, always zero */
    vt_tensor *mnS;                    /* (units): signal mean (mean of condition means) */
    vt_tensor *ncsnr;                  /* (units): sqrt(max(0, diag cS)) / sqrt(diag cN); 0 where diag cN = 0 */
    vt_tensor *cN, *cS;                /* (units, units): raw noise / signal covariance (cS may be indefinite) */
    vt_tensor *cNb, *cSb;              /* (units, units): after the biconvex PSD iteration */
    double shrinklevelN, shrinklevelD; /* chosen shrinkage of the noise / data covariance */
    int numiters;                      /* biconvex iterations; 0: the first estimate already converged */
    bool uneven;                       /* the input had missing (NaN) trials */
    double ntrial;                     /* trials per condition behind cS (min valid count when uneven) */
    double ntrial_bc;                  /* trials used by the biconvex noise update (mean count when uneven) */
} vt_gsn_result;

/* data: 3-d (units x conditions x trials), float32 or float64, trials >= 2, conditions >= 3,
 * no Inf; NaN marks missing trials (see above). opt: NULL for defaults. On success *out is a
 * new result (free with vt_gsn_result_free); on failure *out is NULL and the last error names
 * the problem (VT_ERR_ARG for bad input, VT_ERR_NUMERIC if an eigensolver fails). */
vt_status vt_gsn_perform(const vt_tensor *data, const vt_gsn_options *opt, vt_gsn_result **out);
void vt_gsn_result_free(vt_gsn_result *r); /* NULL is a no-op */

/* How cSb is rescaled before the ceiling simulations. */
typedef enum vt_gsn_scale {
    VT_GSN_SCALE_NONE,       /* sc = 1 */
    VT_GSN_SCALE_SPLIT_HALF, /* sc from the grid whose simulated split-half RDM reliability best matches
                                the data's (the package's default, mode 0); needs complete trials */
    VT_GSN_SCALE_VARIANCE,   /* sc = max(0, mean diag cS) / mean diag cSb (the package's mode 2) */
    VT_GSN_SCALE_COUNT
} vt_gsn_scale;

typedef struct vt_gsn_rsa_options {
    uint64_t seed;      /* Philox seed; each simulation has its own stream. Default 0. */
    int ncsims;         /* Monte-Carlo simulations for the ceiling (median taken). Default 50. */
    int ncconds;        /* conditions per simulation. Default 50. */
    double nctrials;    /* trials averaged in the target measurement; <= 0: the input's trial count. */
    vt_gsn_scale scale; /* default VT_GSN_SCALE_SPLIT_HALF */
    const double *scs;  /* scale grid (borrowed), default NULL = 0, 0.1, ..., 2 */
    int nscs;
    int simchunk;     /* split-half simulations are added in chunks of this size. Default 50. */
    double simthresh; /* stop adding chunks when the robustness (|median| / (IQR / 2 / sqrt n),
                         averaged) exceeds this. Default 10. */
    int maxsimnum;    /* cap on split-half simulations. Default 1000. */
} vt_gsn_rsa_options;

void vt_gsn_rsa_options_default(vt_gsn_rsa_options *opt);

typedef struct vt_gsn_rsa_result {
    double nc;                /* the ceiling: median of ncdist (Pearson r between RDMs) */
    vt_tensor *ncdist;        /* (ncsims): one value per simulation */
    double sc;                /* scale applied to cSb */
    double splitr;            /* median split-half RDM reliability of the data (NaN unless SPLIT_HALF) */
    int splitnum;             /* trials in each half (0 unless SPLIT_HALF) */
    bool split_exhaustive;    /* every disjoint pair of half-splits was used (exact splitr) */
    int nsplitsims;           /* model split-half simulations per scale */
    vt_tensor *scs;           /* (nscs): the grid (SPLIT_HALF only, else NULL) */
    vt_tensor *model_splitr;  /* (nscs): median simulated split-half reliability per scale */
    vt_tensor *r2;            /* (nscs): 100 * (1 - (model - data)^2 / data^2) per scale */
    bool splitr_out_of_range; /* the data's splitr exceeds every scale's model value: raise the grid */
} vt_gsn_rsa_result;

/* RSA noise ceiling from the model `gsn` (from vt_gsn_perform on the same data). The RDM is
 * 1 - Pearson r between conditions across units; RDMs are compared by Pearson r (NaN
 * counts as 0). data is needed for VT_GSN_SCALE_SPLIT_HALF (complete trials only) and
 * otherwise only checked for shape. Results depend on (inputs, seed) only, not on the
 * number of threads. */
vt_status vt_gsn_rsa_noise_ceiling(const vt_tensor *data, const vt_gsn_result *gsn, const vt_gsn_rsa_options *opt,
                                   vt_gsn_rsa_result **out);
void vt_gsn_rsa_result_free(vt_gsn_rsa_result *r); /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
