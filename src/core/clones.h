/* VT_CLONES: compile a function for AVX-512, AVX2 and the baseline, the copy chosen when the
 * program loads (not installed; -DVT_NO_TARGET_CLONES turns it off). Used where wide vectors pay
 * and the arithmetic is the same in every copy, so results do not depend on the machine. */
#ifndef VT_CORE_CLONES_H
#define VT_CORE_CLONES_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(VT_NO_TARGET_CLONES)
#define VT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VT_CLONES
#endif

#endif
