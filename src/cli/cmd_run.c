#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/onnx.h"

static const char usage[] =
    "usage: ventral run MODEL.onnx --input X.npy --out DIR [--capture SPEC] [--batch N] [--precision P]\n"
    "  Runs an ONNX model over the stimuli in X (N x ..., float32; the model's first input) and writes\n"
    "  one .npy per captured layer (N x layer shape), the final outputs, and DIR/manifest.json: an array of\n"
    "  {kind, index, name, op, output, shape, model_dtype, batch_axis, stimuli_first, file} (kind \"layer\" or\n"
    "  \"output\"; model_dtype: the element type the model declares, e.g. float16, whose values are written as "
    "float32).\n"
    "  Layers whose stimuli sit on another axis (batch_axis > 0, e.g. sequence-first attention) or are merged\n"
    "  with another factor into one dim (batch_axis -1, e.g. [N*heads, T, T] attention weights) are written\n"
    "  stimuli-first (stimuli_first true, the file shape then has the stimuli as dim 0); a layer whose stimuli\n"
    "  could not be located is written as computed, batches concatenated along dim 0 (stimuli_first false).\n"
    "  --capture    all | none | op:TYPE | name:GLOB | index:A-B, comma-separated (default: all)\n"
    "  --batch      stimuli per forward pass (default 16); results do not depend on it\n"
    "  --precision  f32 (default), bf16 (convolutions and matmuls in bfloat16 where the CPU has it) or\n"
    "               f32-winograd (3x3 convolutions by Winograd on AVX-512: faster; last bits depend on threads)\n"
    "  --profile    print the time per op type and the throughput to stderr\n"
    "  --no-write   capture the selected layers but write nothing (throughput measurements)\n";

typedef struct out_file {
    int index; /* layer index, or -1 - k for graph output k */
    char *name, *op, *output, *file, *path;
    const char *model_type; /* the element type the model gives it ("float16" values are written as float32) */
    vt_npy_out *npy;
    int rank;
    int64_t shape[VT_MAX_RANK];
    int64_t rows_done;
    int batch_axis;     /* of the layer in the model */
    bool stimuli_first; /* the file holds one row block per stimulus */
} out_file;

typedef struct run_ctx {
    const char *dir;
    int64_t total, batch_rows; /* stimuli overall, rows in this batch */
    int n_files;
    out_file *files; /* by layer index (n_layers) then outputs */
    int n_layers;
    bool no_write;
    double checksum; /* --no-write: one value read per captured tensor, so the capture is not elided */
} run_ctx;

static void sanitize(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '-' || *s == '_'))
            *s = '_';
}

/* Opens (on the first batch) the output file of one tensor and appends this batch's rows. */
static vt_status append(run_ctx *r, out_file *f, const vt_tensor *t)
{
    if (!f->npy) {
        f->rank = t->rank ? t->rank : 1;
        if (t->rank == 0)
            f->shape[0] = 1;
        else
            memcpy(f->shape, t->shape, sizeof f->shape);
        /* Rows per stimulus when dim 0 is the batch; otherwise the whole tensor per batch. */
        int64_t per = t->rank && t->shape[0] == r->batch_rows ? 1 : -1;
        if (per == 1)
            f->shape[0] = r->total;
        else
            f->shape[0] = f->shape[0] * ((r->total + r->batch_rows - 1) / r->batch_rows);
        f->path = cli_join(r->dir, f->file);
        if (!f->path) return vt_fail(VT_ERR_NOMEM, "out of memory");
        vt_status st = vt_npy_create(f->path, t->dtype, f->rank, f->shape, &f->npy);
        if (st != VT_OK) return st;
    }
    vt_tensor *dst = vt_npy_out_tensor(f->npy);
    size_t bytes = vt_tensor_nbytes(t);
    size_t row = vt_tensor_nbytes(dst) / (size_t)(f->shape[0] ? f->shape[0] : 1);
    int64_t rows = row ? (int64_t)(bytes / row) : 0;
    if (dst->dtype != t->dtype || f->rows_done + rows > f->shape[0] || (row && bytes % row))
        return vt_fail(VT_ERR_ARG,
                       "layer '%s': its shape changes between batches; use --batch with a size that "
                       "divides the number of stimuli",
                       f->name);
    memcpy((char *)dst->data + (size_t)f->rows_done * row, t->data, bytes);
    f->rows_done += rows;
    return VT_OK;
}

/* A new tensor with dim `axis` moved to the front (the stimuli first), C order otherwise kept. */
static vt_tensor *batch_first(const vt_tensor *t, int axis)
{
    int64_t shape[VT_MAX_RANK], outer = 1, inner = 1, b = t->shape[axis];
    shape[0] = b;
    for (int d = 0, k = 1; d < t->rank; d++)
        if (d != axis) shape[k++] = t->shape[d];
    for (int d = 0; d < axis; d++) outer *= t->shape[d];
    for (int d = axis + 1; d < t->rank; d++) inner *= t->shape[d];
    vt_tensor *o = vt_tensor_new_uninit(t->dtype, t->rank, shape);
    if (!o) return NULL;
    size_t es = vt_dtype_size(t->dtype), chunk = (size_t)inner * es;
    for (int64_t i = 0; i < outer; i++)
        for (int64_t j = 0; j < b; j++)
            memcpy((char *)o->data + (size_t)(j * outer + i) * chunk,
                   (const char *)t->data + (size_t)(i * b + j) * chunk, chunk);
    return o;
}

static vt_status on_layer(void *user, const vt_layer_info *l, const vt_tensor *t)
{
    run_ctx *r = user;
    if (l->index >= r->n_layers) return vt_fail(VT_ERR_INTERNAL, "layer index %d out of range", l->index);
    if (r->no_write) {
        if (vt_tensor_numel(t) > 0) r->checksum += vt_tensor_get(t, vt_tensor_numel(t) - 1);
        return VT_OK;
    }
    out_file *f = &r->files[l->index];
    f->batch_axis = l->batch_axis;
    f->stimuli_first = l->batch_axis >= 0;
    int axis = l->batch_axis;
    vt_tensor view = *t;
    if (axis < 0 && l->merged_axis >= 0 && t->rank < VT_MAX_RANK && r->batch_rows > 0 &&
        t->shape[l->merged_axis] % r->batch_rows == 0) {
        /* The stimuli are merged into one dim: split it into (stimulus, k) or (k, stimulus). */
        int d = l->merged_axis;
        int64_t k = t->shape[d] / r->batch_rows;
        memmove(view.shape + d + 1, t->shape + d, sizeof(int64_t) * (size_t)(t->rank - d));
        view.shape[d] = l->merged_outer ? r->batch_rows : k;
        view.shape[d + 1] = l->merged_outer ? k : r->batch_rows;
        view.rank = t->rank + 1;
        axis = l->merged_outer ? d : d + 1;
        f->stimuli_first = true;
    }
    if (axis <= 0) return append(r, f, axis == 0 ? &view : t);
    vt_tensor *moved = batch_first(&view, axis);
    if (!moved) return VT_ERR_NOMEM;
    vt_status st = append(r, f, moved);
    vt_tensor_free(moved);
    return st;
}

/* Writes s to f as a JSON string literal; false (last error set) when out of memory. */
static bool json_string(FILE *f, const char *s)
{
    char *q = vt_json_quote(s);
    if (!q) return false;
    fputs(q, f);
    free(q);
    return true;
}

static vt_status write_manifest(const run_ctx *r)
{
    char *path = cli_join(r->dir, "manifest.json"), *tmp = cli_join(r->dir, ".manifest.json.tmp");
    if (!path || !tmp) {
        free(path);
        free(tmp);
        return vt_fail(VT_ERR_NOMEM, "out of memory");
    }
    FILE *f = fopen(tmp, "w");
    vt_status st = VT_OK;
    if (!f)
        st = vt_fail(VT_ERR_IO, "%s: cannot write", tmp);
    else {
        fprintf(f, "[\n");
        bool first = true, ok = true;
        for (int i = 0; i < r->n_files && ok; i++) {
            const out_file *o = &r->files[i];
            if (!o->npy && !o->path) continue;
            fprintf(f, "%s  {\"kind\": \"%s\", \"index\": %d, \"name\": ", first ? "" : ",\n",
                    o->index >= 0 ? "layer" : "output", o->index >= 0 ? o->index : -1 - o->index);
            ok = json_string(f, o->name);
            fprintf(f, ", \"op\": ");
            ok = ok && json_string(f, o->op);
            fprintf(f, ", \"output\": ");
            ok = ok && json_string(f, o->output);
            fprintf(f, ", \"shape\": [");
            for (int d = 0; d < o->rank; d++) fprintf(f, "%s%lld", d ? ", " : "", (long long)o->shape[d]);
            fprintf(f, "], \"model_dtype\": \"%s\", \"batch_axis\": %d, \"stimuli_first\": %s, \"file\": ",
                    o->model_type ? o->model_type : "float32", o->batch_axis, o->stimuli_first ? "true" : "false");
            ok = ok && json_string(f, o->file);
            fprintf(f, "}");
            first = false;
        }
        fprintf(f, "\n]\n");
        if (!ok) { /* out of memory quoting a name: the message is set; leave no half manifest */
            fclose(f);
            remove(tmp);
            st = VT_ERR_NOMEM;
        } else if (fclose(f) != 0 || rename(tmp, path) != 0)
            st = vt_fail(VT_ERR_IO, "%s: cannot write", path);
    }
    free(path);
    free(tmp);
    return st;
}

static void free_files(run_ctx *r, bool commit_ok)
{
    for (int i = 0; i < r->n_files; i++) {
        out_file *o = &r->files[i];
        if (o->npy && !commit_ok) vt_npy_abandon(o->npy);
        free(o->name);
        free(o->op);
        free(o->output);
        free(o->file);
        free(o->path);
    }
    free(r->files);
}

/* Time per op type, largest first. */
static void print_profile(const vt_graph *g, double wall, int64_t n, double steady, int64_t n_steady)
{
    struct {
        const char *op;
        double s;
        int count, fused;
    } rows[128];
    int nr = 0;
    for (int i = 0; i < vt_graph_layer_count(g); i++) {
        vt_layer_info l;
        vt_graph_layer(g, i, &l);
        int j = 0;
        while (j < nr && strcmp(rows[j].op, l.op) != 0) j++;
        if (j == nr) {
            if (nr == 128) continue;
            rows[nr].op = l.op, rows[nr].s = 0, rows[nr].count = rows[nr].fused = 0, nr++;
        }
        rows[j].s += l.seconds;
        rows[j].count++;
        rows[j].fused += l.fused;
    }
    for (int a = 0; a < nr; a++)
        for (int b = a + 1; b < nr; b++)
            if (rows[b].s > rows[a].s) {
                __typeof__(rows[0]) t = rows[a];
                rows[a] = rows[b];
                rows[b] = t;
            }
    fprintf(stderr, "%-24s %8s %10s\n", "op", "layers", "seconds");
    for (int j = 0; j < nr; j++) {
        fprintf(stderr, "%-24s %8d %10.4f", rows[j].op, rows[j].count, rows[j].s);
        if (rows[j].fused) fprintf(stderr, "  (%d fused into the op before)", rows[j].fused);
        fputc('\n', stderr);
    }
    fprintf(stderr, "total %.3f s for %lld stimuli: %.2f stimuli/s\n", wall, (long long)n, wall > 0 ? n / wall : 0);
    if (n_steady > 0)
        fprintf(stderr, "steady %.3f s for %lld stimuli after the first batch: %.2f stimuli/s\n", steady,
                (long long)n_steady, steady > 0 ? n_steady / steady : 0);
}

static int run_model(const char *model, const char *input, const char *dir, const char *spec, int64_t batch,
                     vt_precision precision, bool profile, bool no_write)
{
    vt_capture *sel = NULL;
    if (vt_capture_parse(spec, &sel) != VT_OK) return cli_usage_error("%s", vt_last_error());
    vt_graph *g = NULL;
    vt_tensor *x = NULL, *x32 = NULL;
    run_ctx r = {.dir = dir, .no_write = no_write};
    vt_status st = vt_onnx_load(model, &g);
    if (st == VT_OK && vt_graph_input_count(g) != 1)
        st = vt_fail(VT_ERR_UNSUPPORTED, "%s: the model has %d inputs; 'ventral run' feeds exactly one", model,
                     vt_graph_input_count(g));
    if (st == VT_OK) st = vt_graph_set_precision(g, precision);
    if (st == VT_OK) st = vt_npy_map(input, &x);
    /* Images are fed as float32 (whatever the file holds), except to a model whose input is declared with
     * the file's own type (a quantized model taking uint8, say). */
    vt_dtype want = VT_F32;
    if (st == VT_OK && vt_graph_input(g, 0, NULL, &want, NULL) == VT_OK && want != x->dtype) want = VT_F32;
    if (st == VT_OK && x->dtype != want) {
        st = vt_tensor_convert(x, VT_F32, &x32);
        if (st == VT_OK) {
            vt_tensor_free(x);
            x = x32;
        }
    }
    if (st == VT_OK && x->rank < 1) st = vt_fail(VT_ERR_ARG, "%s: needs a leading stimulus dimension", input);
    cli_outdir od = {0};
    if (st == VT_OK && !no_write && !cli_outdir_make(&od, dir)) st = VT_ERR_IO;
    int64_t n = st == VT_OK ? x->shape[0] : 0;
    r.total = n;
    /* Prepare once for the first batch to learn the layer list and name the files (with its values: some
     * graphs' shapes depend on them). */
    if (st == VT_OK) {
        int64_t shape[VT_MAX_RANK];
        memcpy(shape, x->shape, sizeof shape);
        shape[0] = n < batch ? n : batch;
        vt_tensor *first = vt_tensor_wrap(x->dtype, x->rank, shape, x->data);
        st = first ? vt_graph_prepare_inputs(g, 1, (const vt_tensor *const *)&first) : VT_ERR_NOMEM;
        vt_tensor_free(first);
    }
    if (st == VT_OK) {
        r.n_layers = vt_graph_layer_count(g);
        r.n_files = r.n_layers + vt_graph_output_count(g);
        r.files = calloc((size_t)r.n_files + 1, sizeof *r.files);
        if (!r.files) st = vt_fail(VT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; st == VT_OK && i < r.n_files; i++) {
        out_file *o = &r.files[i];
        char buf[320];
        if (i < r.n_layers) {
            vt_layer_info l;
            vt_graph_layer(g, i, &l);
            o->index = i;
            o->name = strdup(l.name);
            o->op = strdup(l.op);
            o->output = strdup(l.output);
            o->model_type = l.model_type;
            snprintf(buf, sizeof buf, "%04d_%.250s.npy", i, l.name);
        } else {
            int k = i - r.n_layers;
            o->index = -1 - k;
            o->batch_axis = 0;
            o->stimuli_first = true;
            o->name = strdup(vt_graph_output_name(g, k));
            o->op = strdup("output");
            o->output = strdup(vt_graph_output_name(g, k));
            o->model_type = vt_graph_output_type(g, k);
            snprintf(buf, sizeof buf, "output_%d_%.250s.npy", k, vt_graph_output_name(g, k));
        }
        sanitize(buf);
        o->file = strdup(buf);
        if (!o->name || !o->op || !o->output || !o->file) st = vt_fail(VT_ERR_NOMEM, "out of memory");
    }
    double t_start = omp_get_wtime(), t_first = 0;
    int64_t n_first = 0;
    for (int64_t b0 = 0; st == VT_OK && b0 < n; b0 += batch) {
        int64_t rows = n - b0 < batch ? n - b0 : batch;
        size_t row_bytes = vt_tensor_nbytes(x) / (size_t)n;
        int64_t shape[VT_MAX_RANK];
        memcpy(shape, x->shape, sizeof shape);
        shape[0] = rows;
        vt_tensor *xb = vt_tensor_wrap(x->dtype, x->rank, shape, (char *)x->data + (size_t)b0 * row_bytes);
        if (!xb) {
            st = VT_ERR_NOMEM;
            break;
        }
        r.batch_rows = rows;
        vt_tensor **outs = NULL;
        st = vt_graph_run(g, 1, (const vt_tensor *const *)&xb, sel, on_layer, &r, &outs);
        if (st == VT_OK && vt_graph_layer_count(g) != r.n_layers)
            st = vt_fail(VT_ERR_UNSUPPORTED,
                         "%s: the layer list changes with the batch size; use a --batch that "
                         "divides the number of stimuli",
                         model);
        for (int k = 0; outs && k < vt_graph_output_count(g); k++) {
            if (st == VT_OK && !no_write) st = append(&r, &r.files[r.n_layers + k], outs[k]);
            vt_tensor_free(outs[k]);
        }
        free(outs);
        vt_tensor_free(xb);
        if (b0 == 0) t_first = omp_get_wtime(), n_first = rows; /* primitive creation happens in the first batch */
    }
    if (st == VT_OK && profile) print_profile(g, omp_get_wtime() - t_start, n, omp_get_wtime() - t_first, n - n_first);
    for (int i = 0; st == VT_OK && i < r.n_files; i++)
        if (r.files[i].npy) {
            st = vt_npy_commit(r.files[i].npy);
            r.files[i].npy = NULL;
        }
    if (st == VT_OK && !no_write) st = write_manifest(&r);
    int captured = 0;
    for (int i = 0; i < r.n_layers; i++) captured += r.files[i].path != NULL;
    free_files(&r, st == VT_OK);
    vt_tensor_free(x);
    vt_graph_free(g);
    vt_capture_free(sel);
    if (st != VT_OK) cli_fail_status();
    cli_outdir_close(&od, st != VT_OK);
    if (st != VT_OK) return CLI_FAIL;
    fprintf(stderr, "ventral run: %lld stimuli, %d of %d layers captured into %s\n", (long long)n, captured, r.n_layers,
            dir);
    return CLI_OK;
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {{"input", required_argument, 0, 'i'},
                                         {"out", required_argument, 0, 'o'},
                                         {"capture", required_argument, 0, 'c'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"precision", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {"profile", no_argument, 0, 'P'},
                                         {"no-write", no_argument, 0, 'N'},
                                         {0}};
    const char *input = NULL, *dir = NULL, *spec = "all";
    int64_t batch = 16;
    vt_precision precision = VT_PRECISION_F32;
    bool profile = false, no_write = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'i')
            input = optarg;
        else if (c == 'o')
            dir = optarg;
        else if (c == 'c')
            spec = optarg;
        else if (c == 'b') {
            if (!cli_parse_i64("--batch", optarg, &batch)) return CLI_USAGE;
            if (batch < 1) return cli_usage_error("--batch must be >= 1");
        } else if (c == 'p') {
            if (vt_precision_parse(optarg, &precision) != VT_OK) return cli_usage_error("%s", vt_last_error());
        } else if (c == 'P')
            profile = true;
        else if (c == 'N')
            no_write = true;
        else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (argc - optind != 1) return cli_usage_error("expected one model file, got %d", argc - optind);
    if (!input) return cli_usage_error("--input X.npy is required");
    if (!dir && !no_write) return cli_usage_error("--out DIR is required");
    if (!dir) dir = ".";
    return run_model(argv[optind], input, dir, spec, batch, precision, profile, no_write);
}
