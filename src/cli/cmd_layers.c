#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/onnx.h"

static const char usage[] =
    "usage: ventral layers MODEL.onnx [--input-shape 1,3,224,224] [--capture SPEC]\n"
    "  Lists the layers (runtime node outputs, after constant folding) of an ONNX model for one input\n"
    "  shape: index, name, op type, output shape, features per stimulus (elements / batch size) and the\n"
    "  element type the model gives it (float16 / bfloat16 values are computed and handed out in float32).\n"
    "  --input-shape  shape of the (first) input; default: the model's declared shape, symbolic dims = 1\n"
    "  --capture      only the layers a capture spec selects (all | op:TYPE | name:GLOB | index:A-B, "
    "comma-separated)\n";

/* Parses "1,3,224,224" into a shape. */
static bool parse_shape(const char *text, vt_shape *s)
{
    double v[VT_MAX_RANK + 1];
    int n = cli_parse_doubles(text, v, VT_MAX_RANK + 1);
    if (n < 1 || n > VT_MAX_RANK) {
        if (n > VT_MAX_RANK) cli_usage_error("--input-shape has more than %d dimensions", VT_MAX_RANK);
        return false;
    }
    s->rank = n;
    for (int i = 0; i < n; i++) {
        if (v[i] < 0 || v[i] != (double)(int64_t)v[i]) {
            cli_usage_error("--input-shape '%s': dimensions must be non-negative integers", text);
            return false;
        }
        s->dims[i] = (int64_t)v[i];
    }
    return true;
}

int cmd_layers(int argc, char **argv)
{
    static const struct option opts[] = {{"input-shape", required_argument, 0, 's'},
                                         {"capture", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *shape_text = NULL, *spec = "all";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 's')
            shape_text = optarg;
        else if (c == 'c')
            spec = optarg;
        else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (argc - optind != 1) return cli_usage_error("expected one model file, got %d", argc - optind);
    const char *path = argv[optind];
    vt_capture *sel = NULL;
    if (vt_capture_parse(spec, &sel) != VT_OK) return cli_usage_error("%s", vt_last_error());
    vt_graph *g = NULL;
    if (vt_onnx_load(path, &g) != VT_OK) {
        vt_capture_free(sel);
        return cli_fail_status();
    }
    vt_graph_set_locate_stimuli(g, false); /* shapes only: no need to run the model */
    int nin = vt_graph_input_count(g);
    vt_shape shapes[8];
    vt_status st = VT_OK;
    if (nin > 8) st = vt_fail(VT_ERR_UNSUPPORTED, "%s: more than 8 inputs", path);
    for (int i = 0; i < nin && st == VT_OK; i++) {
        const char *name;
        st = vt_graph_input(g, i, &name, NULL, &shapes[i]);
        for (int d = 0; d < shapes[i].rank; d++)
            if (shapes[i].dims[d] < 0) shapes[i].dims[d] = 1;
    }
    if (st == VT_OK && shape_text) {
        if (nin < 1)
            st = vt_fail(VT_ERR_ARG, "%s: the model has no input to shape", path);
        else if (!parse_shape(shape_text, &shapes[0])) {
            vt_graph_free(g);
            vt_capture_free(sel);
            return CLI_USAGE;
        }
    }
    if (st == VT_OK) st = vt_graph_prepare(g, nin, shapes);
    if (st != VT_OK) {
        vt_graph_free(g);
        vt_capture_free(sel);
        return cli_fail_status();
    }
    int64_t batch = nin > 0 && shapes[0].rank > 0 && shapes[0].dims[0] > 0 ? shapes[0].dims[0] : 1;
    printf("%5s  %-48s %-20s %-20s %12s  %s\n", "index", "name", "op", "shape", "features", "type");
    int n = vt_graph_layer_count(g);
    for (int i = 0; i < n; i++) {
        vt_layer_info l;
        vt_graph_layer(g, i, &l);
        if (!vt_capture_matches(sel, &l)) continue;
        char shape[128] = "";
        size_t len = 0;
        int64_t numel = 1;
        for (int d = 0; d < l.rank; d++) {
            len += (size_t)snprintf(shape + len, sizeof shape - len, d ? "x%lld" : "%lld", (long long)l.shape[d]);
            if (len >= sizeof shape) len = sizeof shape - 1;
            numel *= l.shape[d];
        }
        if (l.rank == 0) snprintf(shape, sizeof shape, "scalar");
        printf("%5d  %-48s %-20s %-20s %12lld  %s\n", l.index, l.name, l.op, shape, (long long)(numel / batch),
               l.model_type);
    }
    vt_graph_free(g);
    vt_capture_free(sel);
    return CLI_OK;
}
