/* The graph / capture / import API at the C level: capture specs, ownership and NULL handling,
 * error codes, capture callbacks (and a failing one stopping the run), every prefix of a model file
 * refused cleanly, reference vs oneDNN kernels on a Conv model. Models come from Debian's ONNX test
 * data (skipped when absent). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/nn.h"
#include "nn/ops/ops.h"
#include "ventral/onnx.h"
#include "vt_test.h"

static const char *node_dir(void)
{
    const char *d = getenv("VENTRAL_ONNX_TESTDATA");
    return d ? d : "/usr/share/libonnx-testdata/data/node";
}

static bool have(const char *test)
{
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s/model.onnx", node_dir(), test);
    return stat(path, &sb) == 0;
}

static vt_status load(const char *test, vt_graph **g)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/model.onnx", node_dir(), test);
    return vt_onnx_load(path, g);
}

static void test_capture_spec(void)
{
    vt_capture *c = NULL;
    int64_t shape[2] = {2, 3};
    vt_layer_info conv = {.index = 4, .name = "/layer1/conv", .op = "Conv", .output = "x4", .rank = 2, .shape = shape};
    vt_layer_info relu = {.index = 9, .name = "relu9", .op = "Relu", .output = "y9", .rank = 2, .shape = shape};
    CHECK(vt_capture_parse("op:Conv", &c) == VT_OK);
    CHECK(vt_capture_matches(c, &conv) && !vt_capture_matches(c, &relu));
    vt_capture_free(c);
    CHECK(vt_capture_parse("index:5-9,name:/layer1/*", &c) == VT_OK);
    CHECK(vt_capture_matches(c, &conv) && vt_capture_matches(c, &relu));
    vt_capture_free(c);
    CHECK(vt_capture_parse("name:y?", &c) == VT_OK); /* the output name matches too */
    CHECK(vt_capture_matches(c, &relu) && !vt_capture_matches(c, &conv));
    vt_capture_free(c);
    CHECK(vt_capture_parse("none", &c) == VT_OK);
    CHECK(!vt_capture_matches(c, &conv));
    vt_capture_free(c);
    CHECK(!vt_capture_matches(NULL, &conv));
    const char *bad[] = {"", "index:9-5", "index:x", "op:", "layers", ",", "index:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = (vt_capture *)1;
        CHECK(vt_capture_parse(bad[i], &c) == VT_ERR_ARG && c == NULL);
        CHECK(strlen(vt_last_error()) > 0);
    }
    CHECK(vt_capture_parse(NULL, &c) == VT_ERR_ARG);
    vt_capture_free(NULL);
    vt_graph_free(NULL);
}

static void test_load_errors(void)
{
    vt_graph *g = (vt_graph *)1;
    CHECK(vt_onnx_load("/nonexistent/model.onnx", &g) == VT_ERR_IO && g == NULL);
    CHECK(strstr(vt_last_error(), "/nonexistent/model.onnx") != NULL);
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34};
    CHECK(vt_onnx_load_buffer(junk, sizeof junk, NULL, "junk.onnx", &g) == VT_ERR_FORMAT && g == NULL);
    CHECK(strstr(vt_last_error(), "junk.onnx") != NULL);
    vt_tensor *t = (vt_tensor *)1;
    CHECK(vt_onnx_read_tensor("/nonexistent/t.pb", &t) == VT_ERR_IO && t == NULL);
    CHECK(vt_graph_input_count(NULL) == 0 && vt_graph_layer_count(NULL) == 0 && vt_graph_output_name(NULL, 0) == NULL);
}

/* Every prefix of a real model file must load or fail with a status, never crash. */
static void test_truncations(void)
{
    if (!have("test_conv_with_strides_padding")) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/test_conv_with_strides_padding/model.onnx", node_dir());
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    unsigned char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int ok = 0, refused = 0, other = 0;
    for (size_t len = 0; len <= n; len++) {
        vt_graph *g = NULL;
        vt_status st = vt_onnx_load_buffer(buf, len, NULL, "prefix", &g);
        if (st == VT_OK)
            ok++;
        else if (st == VT_ERR_FORMAT || st == VT_ERR_UNSUPPORTED)
            refused++;
        else
            other++;
        vt_graph_free(g);
    }
    printf("  %zu prefixes: %d loaded, %d refused, %d other\n", n + 1, ok, refused, other);
    CHECK(ok >= 1 && other == 0);
}

/* Random byte flips in a model (loaded, prepared and run when it still parses) must never crash:
 * every outcome is a status. */
static void test_mutations(void)
{
    if (!have("test_conv_with_strides_padding")) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/test_conv_with_strides_padding/model.onnx", node_dir());
    FILE *f = fopen(path, "rb");
    if (!f) return;
    unsigned char orig[65536], buf[65536];
    size_t n = fread(orig, 1, sizeof orig, f);
    fclose(f);
    uint64_t state = 12345;
    int loaded = 0, ran = 0;
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(buf, orig, n);
        for (int k = 0; k < 1 + trial % 3; k++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[(state >> 33) % n] = (unsigned char)(state >> 20);
        }
        vt_graph *g = NULL;
        if (vt_onnx_load_buffer(buf, n, NULL, "mutant", &g) == VT_OK) {
            loaded++;
            if (vt_graph_prepare(g, 0, NULL) == VT_OK && vt_graph_input_count(g) <= 4) {
                vt_tensor *in[4] = {0};
                bool ok = true;
                for (int i = 0; i < vt_graph_input_count(g) && ok; i++) {
                    vt_shape s;
                    vt_dtype dt;
                    vt_graph_input(g, i, NULL, &dt, &s);
                    for (int d = 0; d < s.rank; d++) ok = ok && s.dims[d] >= 0 && s.dims[d] <= 64;
                    if (ok) in[i] = vt_tensor_new(dt, s.rank, s.dims);
                    ok = ok && in[i];
                }
                vt_tensor **outs = NULL;
                if (ok && vt_graph_run(g, vt_graph_input_count(g), (const vt_tensor *const *)in, NULL, NULL, NULL,
                                       &outs) == VT_OK) {
                    ran++;
                    for (int o = 0; o < vt_graph_output_count(g); o++) vt_tensor_free(outs[o]);
                    free(outs);
                }
                for (int i = 0; i < 4; i++) vt_tensor_free(in[i]);
            }
        }
        vt_graph_free(g);
    }
    printf("  3000 mutants: %d loaded, %d ran\n", loaded, ran);
    CHECK(loaded > 0);
}

typedef struct {
    int calls;
    char op[32];
    int64_t numel;
    bool fail;
} seen;

static vt_status on_layer(void *user, const vt_layer_info *l, const vt_tensor *t)
{
    seen *s = user;
    s->calls++;
    snprintf(s->op, sizeof s->op, "%s", l->op);
    s->numel = vt_tensor_numel(t);
    return s->fail ? vt_fail(VT_ERR_IO, "capture sink full") : VT_OK;
}

static void test_run_relu(void)
{
    if (!have("test_relu")) return;
    vt_graph *g = NULL;
    CHECK(load("test_relu", &g) == VT_OK);
    if (!g) return;
    const char *name;
    vt_dtype dt;
    vt_shape s;
    CHECK(vt_graph_input_count(g) == 1 && vt_graph_output_count(g) == 1);
    CHECK(vt_graph_input(g, 0, &name, &dt, &s) == VT_OK && dt == VT_F32 && s.rank == 3);
    CHECK(vt_graph_input(g, 1, &name, &dt, &s) == VT_ERR_ARG);
    CHECK(vt_graph_prepare(g, 0, NULL) == VT_OK && vt_graph_layer_count(g) == 1);
    vt_layer_info l;
    /* The model fixes its first dim (3) as its batch; the stimulus probe looks past that, and dim 0 follows. */
    CHECK(vt_graph_layer(g, 0, &l) == VT_OK && strcmp(l.op, "Relu") == 0 && l.batch_axis == 0);
    CHECK(vt_graph_layer(g, 1, &l) == VT_ERR_ARG);
    vt_tensor *x = vt_tensor_new(VT_F32, s.rank, s.dims);
    float *xd = vt_tensor_f32(x);
    for (int64_t i = 0; i < vt_tensor_numel(x); i++) xd[i] = (float)(i % 7) - 3.0f;
    vt_capture *all;
    vt_capture_parse("all", &all);
    seen sn = {0};
    vt_tensor **outs = NULL;
    CHECK(vt_graph_run(g, 1, (const vt_tensor *const[]){x}, all, on_layer, &sn, &outs) == VT_OK);
    CHECK(sn.calls == 1 && strcmp(sn.op, "Relu") == 0 && sn.numel == vt_tensor_numel(x));
    bool ok = outs && outs[0];
    for (int64_t i = 0; ok && i < vt_tensor_numel(x); i++) ok = vt_tensor_f32(outs[0])[i] == (xd[i] > 0 ? xd[i] : 0);
    CHECK(ok);
    if (outs) vt_tensor_free(outs[0]);
    free(outs);
    /* A capture callback that fails stops the run with its status and message. */
    sn.fail = true;
    outs = (vt_tensor **)1;
    CHECK(vt_graph_run(g, 1, (const vt_tensor *const[]){x}, all, on_layer, &sn, &outs) == VT_ERR_IO && outs == NULL);
    CHECK(strstr(vt_last_error(), "sink full") != NULL);
    /* Wrong dtype, wrong count, NULL input. */
    vt_tensor *x64 = vt_tensor_new(VT_F64, s.rank, s.dims);
    CHECK(vt_graph_run(g, 1, (const vt_tensor *const[]){x64}, NULL, NULL, NULL, NULL) == VT_ERR_ARG);
    CHECK(vt_graph_run(g, 0, NULL, NULL, NULL, NULL, NULL) == VT_ERR_ARG);
    CHECK(vt_graph_run(g, 1, (const vt_tensor *const[]){NULL}, NULL, NULL, NULL, NULL) == VT_ERR_ARG);
    vt_status pst = vt_graph_set_precision(g, VT_PRECISION_BF16);
    CHECK(pst == VT_OK || pst == VT_ERR_UNSUPPORTED);
    vt_tensor_free(x64);
    vt_tensor_free(x);
    vt_capture_free(all);
    vt_graph_free(g);
}

/* The reference and oneDNN kernels agree on a conformance Conv model with constant weights. */
static void test_reference_vs_fast(void)
{
    if (!have("test_basic_conv_with_padding")) return;
    vt_graph *g = NULL;
    CHECK(load("test_basic_conv_with_padding", &g) == VT_OK);
    if (!g) return;
    int n = vt_graph_input_count(g);
    vt_tensor *in[2] = {0};
    for (int i = 0; i < n && i < 2; i++) {
        vt_shape s;
        vt_graph_input(g, i, NULL, NULL, &s);
        in[i] = vt_tensor_new(VT_F32, s.rank, s.dims);
        for (int64_t k = 0; k < vt_tensor_numel(in[i]); k++) vt_tensor_f32(in[i])[k] = (float)((k * 37 % 11) - 5) / 3;
    }
    /* White box: make the weights (input 1) an initializer, so the fast path takes oneDNN. */
    CHECK(n == 2);
    if (n == 2) {
        g->values[g->inputs[1]].init = in[1];
        g->values[g->inputs[1]].is_input = false;
        in[1] = NULL;
        g->n_inputs = n = 1;
    }
    vt_tensor **a = NULL, **b = NULL;
    CHECK(vt_graph_run(g, n, (const vt_tensor *const *)in, NULL, NULL, NULL, &a) == VT_OK);
    vt_graph_set_reference(g, true);
    CHECK(vt_graph_run(g, n, (const vt_tensor *const *)in, NULL, NULL, NULL, &b) == VT_OK);
    if (a && b) {
        int64_t m = vt_tensor_numel(a[0]);
        double *da = malloc(sizeof(double) * (size_t)m), *db = malloc(sizeof(double) * (size_t)m);
        for (int64_t k = 0; k < m; k++) da[k] = vt_tensor_f32(a[0])[k], db[k] = vt_tensor_f32(b[0])[k];
        CHECK_ARRAYS("conv fast vs reference", da, db, m, 1e-5, 1e-5);
        free(da);
        free(db);
        vt_tensor_free(a[0]);
        vt_tensor_free(b[0]);
    }
    free(a);
    free(b);
    for (int i = 0; i < 2; i++) vt_tensor_free(in[i]);
    vt_graph_free(g);
}

/* ConvTranspose: oneDNN's deconvolution (weights made initializers, white box, so the fast path takes
 * it) against the reference loop within float32 rounding, and bit-identical for 1 and 2 threads, over
 * every 2-D/1-D geometry of the conformance suite (pads, output_padding, output_shape, auto_pad,
 * dilations, kernel shapes). */
typedef struct {
    void *prim; /* white box: conv.c's node state begins with its oneDNN primitive (NULL: reference loop) */
} conv_probe;

static void test_convtranspose_fast_vs_reference(void)
{
    int n_fast = 0, n_have = 0;
    static const char *const names[] = {
        "test_convtranspose",           "test_convtranspose_1d",           "test_convtranspose_autopad_same",
        "test_convtranspose_dilations", "test_convtranspose_kernel_shape", "test_convtranspose_output_shape",
        "test_convtranspose_pad",       "test_convtranspose_pads"};
    for (size_t t = 0; t < sizeof names / sizeof names[0]; t++) {
        if (!have(names[t])) continue;
        n_have++;
        vt_graph *g = NULL;
        CHECK(load(names[t], &g) == VT_OK);
        if (!g) continue;
        int n = vt_graph_input_count(g);
        vt_tensor *in[3] = {0};
        for (int i = 0; i < n && i < 3; i++) {
            vt_shape s;
            vt_graph_input(g, i, NULL, NULL, &s);
            in[i] = vt_tensor_new(VT_F32, s.rank, s.dims);
            for (int64_t k = 0; k < vt_tensor_numel(in[i]); k++)
                vt_tensor_f32(in[i])[k] = (float)((k * 37 + i * 11) % 23 - 11) / 7;
        }
        /* Weights (and bias) become initializers; the data input stays fed. */
        for (int i = n - 1; i >= 1; i--) {
            g->values[g->inputs[i]].init = in[i];
            g->values[g->inputs[i]].is_input = false;
            in[i] = NULL;
        }
        g->n_inputs = n = 1;
        vt_tensor **a = NULL, **b = NULL, **one = NULL;
        CHECK(vt_graph_run(g, 1, (const vt_tensor *const *)in, NULL, NULL, NULL, &a) == VT_OK);
        int threads = vt_threads_get();
        vt_threads_set(1);
        CHECK(vt_graph_run(g, 1, (const vt_tensor *const *)in, NULL, NULL, NULL, &one) == VT_OK);
        vt_threads_set(threads);
        bool fast = g->nodes[0].state && ((conv_probe *)g->nodes[0].state)->prim;
        n_fast += fast;
        vt_graph_set_reference(g, true);
        CHECK(vt_graph_run(g, 1, (const vt_tensor *const *)in, NULL, NULL, NULL, &b) == VT_OK);
        if (a && b && one) {
            int64_t m = vt_tensor_numel(a[0]);
            double *da = malloc(sizeof(double) * (size_t)m), *db = malloc(sizeof(double) * (size_t)m);
            for (int64_t k = 0; k < m; k++) da[k] = vt_tensor_f32(a[0])[k], db[k] = vt_tensor_f32(b[0])[k];
            CHECK_ARRAYS(names[t], da, db, m, 1e-5, 1e-5);
            CHECK(memcmp(a[0]->data, one[0]->data, vt_tensor_nbytes(a[0])) == 0);
            fprintf(stderr, "  %s: %s\n", names[t], fast ? "oneDNN deconvolution" : "reference loop (not expressible)");
            free(da);
            free(db);
        }
        vt_tensor **res[3] = {a, b, one};
        for (int r = 0; r < 3; r++) {
            if (res[r]) vt_tensor_free(res[r][0]);
            free(res[r]);
        }
        vt_tensor_free(in[0]);
        vt_graph_free(g);
    }
    /* Every geometry here runs on oneDNN (output_padding and a larger output_shape via the cut-off tail). */
    CHECK(n_fast == n_have);
}

/* MaxPool: the separable fast path gives the reference loop's bits, on inputs full of ties (+0 and -0
 * included: the first maximum wins) and NaNs (the last one wins), for every 2-D geometry of the
 * conformance suite (pads, strides, dilations, ceil mode, auto_pad; 2x2 and 3x3 windows of stride 2 take
 * their own row loops, also checked on wide rows in tests/reference/test_onnx_models.py). */
static void test_maxpool_fast_vs_reference(void)
{
    static const char *const names[] = {"test_maxpool_2d_default",
                                        "test_maxpool_2d_ceil",
                                        "test_maxpool_2d_dilations",
                                        "test_maxpool_2d_pads",
                                        "test_maxpool_2d_strides",
                                        "test_maxpool_2d_same_lower",
                                        "test_maxpool_2d_same_upper",
                                        "test_maxpool_2d_precomputed_pads",
                                        "test_maxpool_1d_default",
                                        "test_maxpool_2d_precomputed_strides",
                                        "test_maxpool_2d_precomputed_same_upper"};
    const float vals[] = {-1.0f, -0.0f, 0.0f, 1.0f, 1.0f, -0.0f, 0.0f, 2.0f};
    for (size_t t = 0; t < sizeof names / sizeof names[0]; t++) {
        if (!have(names[t])) continue;
        vt_graph *g = NULL;
        CHECK(load(names[t], &g) == VT_OK);
        if (!g) continue;
        vt_shape s;
        vt_graph_input(g, 0, NULL, NULL, &s);
        vt_tensor *x = vt_tensor_new(VT_F32, s.rank, s.dims);
        float *xd = vt_tensor_f32(x);
        uint32_t r = 12345;
        for (int64_t k = 0; k < vt_tensor_numel(x); k++) {
            r = r * 1664525u + 1013904223u;
            xd[k] = (r >> 8) % 97 == 0 ? (k % 2 ? NAN : -NAN) : vals[(r >> 16) % 8];
        }
        vt_tensor **a = NULL, **b = NULL;
        CHECK(vt_graph_run(g, 1, (const vt_tensor *const[]){x}, NULL, NULL, NULL, &a) == VT_OK);
        vt_graph_set_reference(g, true);
        CHECK(vt_graph_run(g, 1, (const vt_tensor *const[]){x}, NULL, NULL, NULL, &b) == VT_OK);
        if (a && b) {
            bool same = vt_tensor_nbytes(a[0]) == vt_tensor_nbytes(b[0]) &&
                        memcmp(a[0]->data, b[0]->data, vt_tensor_nbytes(a[0])) == 0;
            if (!same) fprintf(stderr, "  %s: fast and reference MaxPool differ\n", names[t]);
            CHECK(same);
            vt_tensor_free(a[0]);
            vt_tensor_free(b[0]);
        }
        free(a);
        free(b);
        vt_tensor_free(x);
        vt_graph_free(g);
    }
}

/* Every float16 and bfloat16 number survives the trip through float32 and rounding unchanged; halfway
 * points between neighbours round to the even one; beyond the largest finite float16, to infinity. */
static void test_narrow_rounding(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = vt_f16_bits_to_f32((uint16_t)h), b = vt_bf16_bits_to_f32((uint16_t)h), r[2] = {f, b};
        vt_narrow_round(VT_NARROW_F16, &r[0], 1);
        vt_narrow_round(VT_NARROW_BF16, &r[1], 1);
        bool same = (isnan(f) ? isnan(r[0]) : memcmp(&f, &r[0], 4) == 0) &&
                    (isnan(b) ? isnan(r[1]) : memcmp(&b, &r[1], 4) == 0);
        bad += !same;
        /* The midpoint between float16 h and h + 1 (both finite, same sign, nonzero gap) goes to the even one. */
        uint32_t e = (h >> 10) & 31;
        if (e < 30 || (e == 30 && (h & 0x3ff) != 0x3ff)) {
            float lo = f, hi = vt_f16_bits_to_f32((uint16_t)(h + 1));
            float mid = (float)(((double)lo + (double)hi) / 2);
            vt_narrow_round(VT_NARROW_F16, &mid, 1);
            float want = (h & 1) ? hi : lo;
            bad += memcmp(&mid, &want, 4) != 0;
        }
    }
    CHECK(bad == 0);
    float big[4] = {65504.0f, 65519.99f, 65520.0f, -1e6f};
    vt_narrow_round(VT_NARROW_F16, big, 4);
    CHECK(big[0] == 65504.0f && big[1] == 65504.0f && isinf(big[2]) && big[2] > 0 && isinf(big[3]) && big[3] < 0);
}

/* C = A . B through vt_sgemm_run, with the shapes, transposes, bias and activation of `p`; inputs random. */
static float *sgemm_case(vt_sgemm *p, const float *A, const float *B)
{
    int64_t a_off[1] = {0}, b_off[1] = {0};
    p->nbatch = 1, p->a_off = a_off, p->b_off = b_off, p->A = A, p->B = B;
    p->C = malloc(sizeof(float) * (size_t)(p->M * p->N > 0 ? p->M * p->N : 1));
    p->packed = malloc(sizeof(float) * (vt_sgemm_packed_floats(p) + 1));
    vt_sgemm_pack(p);
    CHECK(vt_sgemm_run(p) == VT_OK);
    free(p->packed);
    p->packed = NULL;
    return p->C;
}

/* The fixed-order float32 product: within float32 rounding of a double reference, for sizes around the
 * register tile (6 x 16), the term block (256) and the task block (96 x 256), transposes, broadcast
 * bias and ReLU; and each row's bits the same whether it is computed alone, among many rows, or with
 * one or two threads (the batch invariance that oneDNN's jit sgemm lacks). */
static void test_sgemm_fixed_order(void)
{
    static const int64_t Ms[] = {1, 5, 7, 97}, Ns[] = {1, 17, 33, 257}, Ks[] = {0, 3, 256, 300};
    uint64_t seed = 12345;
    int cases = 0;
    for (int mi = 0; mi < 4; mi++)
        for (int ni = 0; ni < 4; ni++)
            for (int ki = 0; ki < 4; ki++) {
                int64_t M = Ms[mi], N = Ns[ni], K = Ks[ki];
                float *A = malloc(sizeof(float) * (size_t)(M * K + 1)),
                      *B = malloc(sizeof(float) * (size_t)(K * N + 1));
                float *bias = malloc(sizeof(float) * (size_t)N);
                for (int64_t i = 0; i < M * K; i++)
                    A[i] = (float)((seed = seed * 6364136223846793005ULL + 1) >> 40) / 16777216.0f - 0.5f;
                for (int64_t i = 0; i < K * N; i++)
                    B[i] = (float)((seed = seed * 6364136223846793005ULL + 1) >> 40) / 16777216.0f - 0.5f;
                for (int64_t j = 0; j < N; j++) bias[j] = (float)j / 8 - 1;
                bool ta = (mi + ki) % 2 == 1, tb = (ni + ki) % 2 == 0;
                vt_sgemm p = {.M = M,
                              .K = K,
                              .N = N,
                              .ta = ta,
                              .tb = tb,
                              .bias = bias,
                              .bias_cs = 1,
                              .act = {.kind = (mi + ni) % 2 ? VT_ACT_RELU : VT_ACT_NONE}};
                vt_threads_set(2);
                float *C = sgemm_case(&p, A, B);
                double worst = 0;
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double acc = bias[j], mag = fabs(bias[j]);
                        for (int64_t k = 0; k < K; k++) {
                            double a = ta ? A[k * M + i] : A[i * K + k], b = tb ? B[j * K + k] : B[k * N + j];
                            acc += a * b, mag += fabs(a * b);
                        }
                        if (p.act.kind == VT_ACT_RELU && acc < 0) acc = 0;
                        double err = fabs(C[i * N + j] - acc) / (mag + 1e-30);
                        if (err > worst) worst = err;
                    }
                CHECK(worst < 1e-5);
                /* the last row alone (A not transposed: its own M = 1 problem), and with one thread */
                if (!ta && K > 0) {
                    vt_sgemm one = p;
                    one.M = 1;
                    float *row = sgemm_case(&one, A + (M - 1) * K, B);
                    CHECK(memcmp(row, C + (M - 1) * N, sizeof(float) * (size_t)N) == 0);
                    free(row);
                }
                vt_threads_set(1);
                vt_sgemm p1 = p;
                float *C1 = sgemm_case(&p1, A, B);
                CHECK(memcmp(C1, C, sizeof(float) * (size_t)(M * N)) == 0);
                vt_threads_set(2);
                free(C), free(C1), free(A), free(B), free(bias);
                cases++;
            }
    CHECK(cases == 64);
}

int main(void)
{
    vt_threads_init();
    RUN(test_capture_spec);
    RUN(test_narrow_rounding);
    RUN(test_load_errors);
    RUN(test_truncations);
    RUN(test_mutations);
    RUN(test_run_relu);
    RUN(test_reference_vs_fast);
    RUN(test_maxpool_fast_vs_reference);
    RUN(test_convtranspose_fast_vs_reference);
    RUN(test_sgemm_fixed_order);
    return vt_test_summary();
}
