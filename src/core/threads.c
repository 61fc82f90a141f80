/* One thread setting for OpenMP loops, OpenBLAS (its OpenMP build) and oneDNN (GNU OpenMP). */
#include <stdlib.h>

#include <omp.h>

#include "ventral/core.h"

/* OpenBLAS's own setter: its OpenMP build keeps a separate count from omp_set_num_threads. */
void openblas_set_num_threads(int num_threads);

static int thread_count;

void vt_threads_set(int n)
{
    if (n <= 0) n = omp_get_num_procs();
    thread_count = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int vt_threads_get(void)
{
    if (thread_count == 0) vt_threads_init();
    return thread_count;
}

void vt_threads_init(void)
{
    const char *env = getenv("VENTRAL_THREADS");
    vt_threads_set(env ? atoi(env) : 0);
}

const char *vt_version(void)
{
    return VENTRAL_VERSION;
}
