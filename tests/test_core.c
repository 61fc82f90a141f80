/* Core: tensors, errors, the counter-based RNG (reference values of Philox4x32-10 from
 * Salmon et al.'s Random123 known-answer tests) and thread settings. */
#include <string.h>

#include "ventral/core.h"
#include "ventral/hash.h"
#include "ventral/rng.h"
#include "ventral/tensor.h"
#include "vt_test.h"

static void test_philox_known_answers(void)
{
    /* Random123 kat_vectors: philox4x32 10 rounds. Our (block, stream) map to counter words
     * (c0,c1) and (c2,c3); seed maps to key words (k0,k1). */
    uint32_t out[4];
    vt_philox4x32(0, 0, 0, out);
    CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u);
    vt_philox4x32(0xffffffffffffffffull, 0xffffffffffffffffull, 0xffffffffffffffffull, out);
    CHECK(out[0] == 0x408f276du && out[1] == 0x41c83b0eu && out[2] == 0xa20bc7c6u && out[3] == 0x6d5451fdu);
    /* counter = (0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), key = (0xa4093822, 0x299f31d0) */
    vt_philox4x32(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull, out);
    CHECK(out[0] == 0xd16cfe09u && out[1] == 0x94fdccebu && out[2] == 0x5001e420u && out[3] == 0x24126ea1u);
}

static void test_rng_streams(void)
{
    /* Sequential draws equal random access: the basis of thread-count independence. */
    vt_rng r = vt_rng_make(42, 7);
    int same = 1;
    for (uint64_t i = 0; i < 1000; i++) same &= vt_rng_u64(&r) == vt_rng_u64_at(42, 7, i);
    CHECK(same);
    CHECK(vt_rng_u64_at(42, 7, 0) != vt_rng_u64_at(42, 8, 0));
    CHECK(vt_rng_u64_at(42, 7, 0) != vt_rng_u64_at(43, 7, 0));
    /* Moments of uniform and normal draws (n = 200000: 5-sigma bounds). */
    double su = 0, sn = 0, sn2 = 0;
    int n = 200000;
    r = vt_rng_make(1, 0);
    for (int i = 0; i < n; i++) su += vt_rng_uniform(&r);
    for (int i = 0; i < n; i++) {
        double z = vt_rng_normal(&r);
        sn += z;
        sn2 += z * z;
    }
    CHECK_CLOSE(su / n, 0.5, 5 * 0.2887 / sqrt(n), 0);
    CHECK_CLOSE(sn / n, 0.0, 5 / sqrt(n), 0);
    CHECK_CLOSE(sn2 / n, 1.0, 5 * sqrt(2.0 / n), 0);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[vt_rng_below(&r, 7)]++;
    int ok = 1;
    for (int k = 0; k < 7; k++) ok &= fabs(counts[k] - 10000.0) < 5 * sqrt(10000.0 * 6 / 7);
    CHECK(ok);
}

static void test_tensor(void)
{
    int64_t shape[3] = {2, 3, 4};
    vt_tensor *t = vt_tensor_new(VT_F32, 3, shape);
    CHECK(t && vt_tensor_numel(t) == 24 && vt_tensor_nbytes(t) == 96);
    char buf[64];
    CHECK(strcmp(vt_tensor_shape_str(t, buf, sizeof buf), "2x3x4") == 0);
    vt_tensor_f32(t)[5] = 2.5f;
    vt_tensor *d;
    CHECK(vt_tensor_convert(t, VT_F64, &d) == VT_OK && vt_tensor_f64(d)[5] == 2.5 && vt_tensor_f64(d)[4] == 0);
    CHECK(vt_tensor_check_finite(d, "d") == VT_OK);
    vt_tensor_f64(d)[7] = NAN;
    CHECK(vt_tensor_check_finite(d, "X.npy") == VT_ERR_ARG);
    CHECK(strstr(vt_last_error(), "X.npy") && strstr(vt_last_error(), "NaN") && strstr(vt_last_error(), "7"));
    int64_t expect[3] = {2, -1, 5};
    CHECK(vt_tensor_check_shape(t, "A", 3, expect) == VT_ERR_ARG && strstr(vt_last_error(), "dimension 2"));
    CHECK(vt_tensor_check_shape(t, "A", 2, NULL) == VT_ERR_ARG);
    vt_tensor_free(t);
    vt_tensor_free(d);
    vt_tensor_free(NULL);
    int64_t bad[2] = {-1, 3};
    CHECK(vt_tensor_new(VT_F64, 2, bad) == NULL && vt_last_error()[0]);
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    CHECK(vt_tensor_new(VT_F64, 2, huge) == NULL);
}

static void test_errors_and_threads(void)
{
    CHECK(vt_fail(VT_ERR_IO, "%s: cannot open", "a.npy") == VT_ERR_IO);
    CHECK(strcmp(vt_last_error(), "a.npy: cannot open") == 0);
    vt_fail_context(VT_ERR_IO, "ctx: ");
    CHECK(strcmp(vt_last_error(), "ctx: a.npy: cannot open") == 0);
    CHECK(strcmp(vt_status_name(VT_ERR_FORMAT), "format error") == 0);
    vt_threads_set(1);
    CHECK(vt_threads_get() == 1);
    vt_threads_set(0);
    CHECK(vt_threads_get() >= 1);
}

static void test_sha256(void)
{
    /* FIPS 180-2 examples. */
    char hex[VT_SHA256_HEX];
    vt_sha256_buffer("abc", 3, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    vt_sha256 *h = vt_sha256_new();
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    for (const char *c = msg; *c; c++) vt_sha256_update(h, c, 1);
    vt_sha256_final(h, hex);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    CHECK(vt_sha256_file("/nonexistent/file", hex) == VT_ERR_IO && strstr(vt_last_error(), "/nonexistent/file"));
}

static void test_mkdirs(void)
{
    char base[] = "/tmp/vt-mkdirs-XXXXXX", path[256], file[256];
    CHECK(mkdtemp(base) != NULL);
    snprintf(path, sizeof path, "%s/a/b/c", base);
    CHECK(vt_mkdirs(path) == VT_OK && vt_mkdirs(path) == VT_OK); /* creates parents; idempotent */
    snprintf(file, sizeof file, "%s/a/f", base);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/a/f/x", base);
    CHECK(vt_mkdirs(path) == VT_ERR_IO && strstr(vt_last_error(), "a/f/x"));
    CHECK(vt_mkdirs(file) == VT_ERR_IO); /* a file in the way */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    RUN(test_mkdirs);
    RUN(test_sha256);
    RUN(test_philox_known_answers);
    RUN(test_rng_streams);
    RUN(test_tensor);
    RUN(test_errors_and_threads);
    return vt_test_summary();
}
