/* A tiny test harness: CHECK records failures and keeps going; every comparison prints
 * the largest error it saw; main ends with "N passed, N failed".
 *
 *   static void test_x(void) { CHECK(f() == 3); CHECK_CLOSE(g(), 1.5, 1e-12, 1e-9); }
 *   int main(void) { RUN(test_x); return vt_test_summary(); }
 */
#ifndef VT_TEST_H
#define VT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int vt_test_passed, vt_test_failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond)                                                                                                      \
            vt_test_passed++;                                                                                          \
        else {                                                                                                         \
            vt_test_failed++;                                                                                          \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                          \
        }                                                                                                              \
    } while (0)

/* Passes when |a - b| <= atol + rtol * |b| (b is the reference). */
#define CHECK_CLOSE(a, b, atol, rtol)                                                                                  \
    do {                                                                                                               \
        double a_ = (a), b_ = (b);                                                                                     \
        if (fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_))                                                                 \
            vt_test_passed++;                                                                                          \
        else {                                                                                                         \
            vt_test_failed++;                                                                                          \
            fprintf(stderr, "  FAIL %s:%d: %s = %.17g, expected %.17g (err %.3g)\n", __FILE__, __LINE__, #a, a_, b_,   \
                    fabs(a_ - b_));                                                                                    \
        }                                                                                                              \
    } while (0)

/* Element-wise closeness of two double arrays; prints the max error. */
static inline void vt_check_arrays(const char *what, const double *a, const double *ref, long n, double atol,
                                   double rtol, const char *file, int line)
{
    double max_err = 0;
    long bad = -1;
    for (long i = 0; i < n; i++) {
        double e = fabs(a[i] - ref[i]);
        if (!(e <= atol + rtol * fabs(ref[i])) && bad < 0) bad = i;
        if (e > max_err || e != e) max_err = e;
    }
    printf("  %s: max abs error %.3g over %ld values\n", what, max_err, n);
    if (bad < 0)
        vt_test_passed++;
    else {
        vt_test_failed++;
        fprintf(stderr, "  FAIL %s:%d: %s[%ld] = %.17g, expected %.17g\n", file, line, what, bad, a[bad], ref[bad]);
    }
}
#define CHECK_ARRAYS(what, a, ref, n, atol, rtol) vt_check_arrays(what, a, ref, n, atol, rtol, __FILE__, __LINE__)

#define RUN(fn)                                                                                                        \
    do {                                                                                                               \
        printf("%s\n", #fn);                                                                                           \
        fn();                                                                                                          \
    } while (0)

static inline int vt_test_summary(void)
{
    printf("%d passed, %d failed\n", vt_test_passed, vt_test_failed);
    return vt_test_failed ? 1 : 0;
}

#endif
