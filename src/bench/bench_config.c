/* Benchmark configuration: YAML (libyaml's document API) → vt_bench_config (docs/bench.md). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ventral/bench.h"

typedef struct loader {
    const char *file;
    yaml_document_t doc;
    char *dir; /* folder of the file, for relative paths */
} loader;

static yaml_node_t *node(loader *l, int i)
{
    return yaml_document_get_node(&l->doc, i);
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of `key` in mapping `map`, or NULL. */
static yaml_node_t *get(loader *l, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(node(l, p->key));
        if (k && strcmp(k, key) == 0) return node(l, p->value);
    }
    return NULL;
}

static vt_status bad(loader *l, const char *key, const char *what)
{
    return vt_fail(VT_ERR_ARG, "%s: '%s' %s", l->file, key, what);
}

/* A key the loader does not read is an error, not a silent default: "bootstrp: 10" must not run
 * 1000 resamples. `known` ends with NULL; `where` names the mapping in the message. */
static vt_status check_keys(loader *l, yaml_node_t *map, const char *const *known, const char *where)
{
    if (!map || map->type != YAML_MAPPING_NODE) return VT_OK;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node(l, p->key);
        const char *k = scalar(kn);
        bool ok = false;
        for (const char *const *q = known; k && *q && !ok; q++) ok = strcmp(k, *q) == 0;
        if (!ok)
            return vt_fail(VT_ERR_ARG, "%s: line %zu: unknown key '%s' in %s (docs/bench.md lists the keys)", l->file,
                           kn->start_mark.line + 1, k ? k : "(not a string)", where);
    }
    return VT_OK;
}

static const char *const model_keys[] = {"name",    "path", "family", "task",      "training_data",
                                         "trained", "top1", "params", "transform", NULL};
static const char *const top_keys[] = {"name",    "db",    "cache",     "stimuli", "transform", "layers",
                                       "eps",     "k",     "seed",      "batch",   "precision", "protocol",
                                       "metrics", "split", "bootstrap", "brain",   "models",    NULL};

static char *resolve(loader *l, const char *p)
{
    if (p[0] == '/' || !l->dir[0]) return strdup(p);
    size_t n = strlen(l->dir) + strlen(p) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", l->dir, p);
    return s;
}

static vt_status get_str(loader *l, yaml_node_t *map, const char *key, const char *dflt, bool path, char **out)
{
    yaml_node_t *n = get(l, map, key);
    const char *v = n ? scalar(n) : dflt;
    if (n && !v) return bad(l, key, "must be a string");
    *out = NULL;
    if (!v) return VT_OK;
    *out = path ? resolve(l, v) : strdup(v);
    return *out ? VT_OK : vt_fail(VT_ERR_NOMEM, "out of memory");
}

static vt_status get_num(loader *l, yaml_node_t *map, const char *key, double dflt, double *out)
{
    yaml_node_t *n = get(l, map, key);
    *out = dflt;
    if (!n) return VT_OK;
    const char *v = scalar(n);
    char *end;
    errno = 0;
    double d = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || errno) return bad(l, key, "must be a number");
    *out = d;
    return VT_OK;
}

static vt_status get_int(loader *l, yaml_node_t *map, const char *key, int64_t dflt, int64_t *out)
{
    double d;
    vt_status st = get_num(l, map, key, (double)dflt, &d);
    if (st != VT_OK) return st;
    if (d != floor(d) || fabs(d) > 9e15) return bad(l, key, "must be an integer");
    *out = (int64_t)d;
    return VT_OK;
}

static vt_status get_bool(loader *l, yaml_node_t *map, const char *key, int *out)
{
    yaml_node_t *n = get(l, map, key);
    if (!n) return VT_OK;
    const char *v = scalar(n);
    if (v && (!strcmp(v, "true") || !strcmp(v, "yes")))
        *out = 1;
    else if (v && (!strcmp(v, "false") || !strcmp(v, "no")))
        *out = 0;
    else
        return bad(l, key, "must be true or false");
    return VT_OK;
}

static vt_status load_metrics(loader *l, yaml_node_t *root, unsigned *out)
{
    yaml_node_t *n = get(l, root, "metrics");
    *out = VT_SCORE_ALL;
    if (!n) return VT_OK;
    if (n->type != YAML_SEQUENCE_NODE) return bad(l, "metrics", "must be a list of crsa, versa, encoding");
    *out = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const char *m = scalar(node(l, *it));
        if (m && !strcmp(m, "crsa"))
            *out |= VT_SCORE_CRSA;
        else if (m && !strcmp(m, "versa"))
            *out |= VT_SCORE_VERSA;
        else if (m && !strcmp(m, "encoding"))
            *out |= VT_SCORE_ENCODING;
        else if (m && !strcmp(m, "predictivity"))
            *out |= VT_SCORE_PREDICTIVITY;
        else
            return bad(l, "metrics", "lists an unknown metric (crsa, versa, encoding, predictivity)");
    }
    return *out ? VT_OK : bad(l, "metrics", "is empty");
}

static vt_status load_models(loader *l, yaml_node_t *list, vt_bench_config *cfg)
{
    if (!list || list->type != YAML_SEQUENCE_NODE) return bad(l, "models", "must be a list of models");
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        yaml_node_t *m = node(l, *it);
        vt_bench_model *grown = realloc(cfg->models, sizeof *grown * (size_t)(cfg->n_models + 1));
        if (!grown) return vt_fail(VT_ERR_NOMEM, "out of memory");
        cfg->models = grown;
        vt_bench_model *bm = &cfg->models[cfg->n_models++];
        memset(bm, 0, sizeof *bm);
        bm->trained = -1;
        vt_status st = check_keys(l, m, model_keys, "a model entry");
        if (st == VT_OK) st = get_str(l, m, "name", NULL, false, &bm->name);
        if (st == VT_OK) st = get_str(l, m, "path", NULL, true, &bm->path);
        if (st == VT_OK && (!bm->name || !bm->path)) return bad(l, "models", "entries need a name and a path");
        if (st == VT_OK) st = get_str(l, m, "family", NULL, false, &bm->family);
        if (st == VT_OK) st = get_str(l, m, "task", NULL, false, &bm->task);
        if (st == VT_OK) st = get_str(l, m, "training_data", NULL, false, &bm->training_data);
        if (st == VT_OK) st = get_str(l, m, "transform", NULL, false, &bm->transform);
        if (st == VT_OK) st = get_bool(l, m, "trained", &bm->trained);
        if (st == VT_OK) st = get_num(l, m, "top1", NAN, &bm->top1);
        if (st == VT_OK) st = get_int(l, m, "params", -1, &bm->params);
        if (st != VT_OK) return st;
        for (int i = 0; i + 1 < cfg->n_models; i++)
            if (!strcmp(cfg->models[i].name, bm->name))
                return vt_fail(VT_ERR_ARG, "%s: model name '%s' appears twice", l->file, bm->name);
    }
    return VT_OK;
}

static vt_status open_yaml(const char *path, loader *l)
{
    memset(l, 0, sizeof *l);
    l->file = path;
    FILE *f = fopen(path, "rb");
    if (!f) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &l->doc);
    vt_status st = VT_OK;
    if (!ok)
        st = vt_fail(VT_ERR_FORMAT, "%s: line %zu: %s", path, parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "invalid YAML");
    yaml_parser_delete(&parser);
    fclose(f);
    if (st != VT_OK) return st;
    if (!yaml_document_get_root_node(&l->doc)) {
        yaml_document_delete(&l->doc);
        return vt_fail(VT_ERR_FORMAT, "%s: empty configuration", path);
    }
    l->dir = strdup(path);
    char *slash = l->dir ? strrchr(l->dir, '/') : NULL;
    if (slash)
        *slash = '\0';
    else if (l->dir)
        l->dir[0] = '\0';
    return l->dir ? VT_OK : vt_fail(VT_ERR_NOMEM, "out of memory");
}

static void close_yaml(loader *l)
{
    if (l->dir) yaml_document_delete(&l->doc);
    free(l->dir);
    l->dir = NULL;
}

void vt_bench_config_free(vt_bench_config *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_models; i++) {
        vt_bench_model *m = &c->models[i];
        free(m->name), free(m->path), free(m->family), free(m->task), free(m->training_data), free(m->transform);
    }
    free(c->models);
    for (int i = 0; i < c->n_brain; i++) free(c->brain[i]);
    free(c->brain);
    free(c->path), free(c->name), free(c->db), free(c->cache), free(c->stimuli), free(c->transform);
    free(c->layers), free(c->protocol);
    free(c);
}

vt_status vt_bench_config_load(const char *path, vt_bench_config **out)
{
    *out = NULL;
    loader l;
    vt_status st = open_yaml(path, &l);
    if (st != VT_OK) return st;
    vt_bench_config *c = vt_calloc(1, sizeof *c);
    yaml_node_t *root = yaml_document_get_root_node(&l.doc);
    if (!c)
        st = VT_ERR_NOMEM;
    else if (root->type != YAML_MAPPING_NODE)
        st = vt_fail(VT_ERR_FORMAT, "%s: the top level must be a mapping", path);
    if (st == VT_OK && !(c->path = strdup(path))) st = VT_ERR_NOMEM;
    if (st == VT_OK) st = check_keys(&l, root, top_keys, "the configuration");
    if (st == VT_OK) st = get_str(&l, root, "name", "bench", false, &c->name);
    if (st == VT_OK) st = get_str(&l, root, "db", "results.sqlite", true, &c->db);
    if (st == VT_OK) st = get_str(&l, root, "cache", "feature-cache", true, &c->cache);
    if (st == VT_OK) st = get_str(&l, root, "stimuli", NULL, true, &c->stimuli);
    if (st == VT_OK && !c->stimuli) st = bad(&l, "stimuli", "is required (an image folder, list, .npy or brick)");
    if (st == VT_OK) st = get_str(&l, root, "transform", "torchvision", false, &c->transform);
    if (st == VT_OK) st = get_str(&l, root, "layers", "all", false, &c->layers);
    if (st == VT_OK) st = get_str(&l, root, "protocol", "default", false, &c->protocol);
    char *precision = NULL;
    if (st == VT_OK) st = get_str(&l, root, "precision", NULL, false, &precision);
    if (st == VT_OK && precision && vt_precision_parse(precision, &c->precision) != VT_OK)
        st = bad(&l, "precision", "must be f32, bf16 or f32-winograd");
    free(precision);
    if (st == VT_OK) st = get_num(&l, root, "eps", 0.1, &c->eps);
    if (st == VT_OK) st = get_int(&l, root, "k", 0, &c->k);
    if (st == VT_OK) st = get_int(&l, root, "batch", 16, &c->batch);
    if (st == VT_OK) st = get_int(&l, root, "bootstrap", -1, &c->bootstrap);
    int64_t seed = 0;
    if (st == VT_OK) st = get_int(&l, root, "seed", 0, &seed);
    if (c) c->seed = (uint64_t)seed;
    if (st == VT_OK) st = load_metrics(&l, root, &c->metrics);
    char *split = NULL;
    if (st == VT_OK) st = get_str(&l, root, "split", NULL, false, &split);
    if (c) c->split = -1;
    if (st == VT_OK && split) {
        if (!strcmp(split, "random"))
            c->split = VT_SPLIT_KIND_RANDOM;
        else if (!strcmp(split, "odd-even"))
            c->split = VT_SPLIT_KIND_ODD_EVEN;
        else
            st = bad(&l, "split", "must be random or odd-even");
    }
    free(split);
    vt_score_options probe;
    if (st == VT_OK && vt_score_protocol(c->protocol, &probe) != VT_OK) st = vt_fail_context(VT_ERR_ARG, "%s: ", path);
    yaml_node_t *brain = st == VT_OK ? get(&l, root, "brain") : NULL;
    if (st == VT_OK && (!brain || brain->type != YAML_SEQUENCE_NODE ||
                        brain->data.sequence.items.top == brain->data.sequence.items.start))
        st = bad(&l, "brain", "must be a non-empty list of brain stores");
    for (yaml_node_item_t *it = brain ? brain->data.sequence.items.start : NULL;
         st == VT_OK && it < brain->data.sequence.items.top; it++) {
        const char *p = scalar(node(&l, *it));
        char **grown = p ? realloc(c->brain, sizeof *grown * (size_t)(c->n_brain + 1)) : NULL;
        if (!p)
            st = bad(&l, "brain", "entries must be file paths");
        else if (!grown || !(grown[c->n_brain] = resolve(&l, p)))
            st = vt_fail(VT_ERR_NOMEM, "out of memory");
        else
            c->brain = grown, c->n_brain++;
    }
    /* Models inline, or from another YAML file's `models:` list (paths relative to that file). */
    if (st == VT_OK) {
        yaml_node_t *models = get(&l, root, "models");
        const char *file = scalar(models);
        if (file) {
            char *sub_path = resolve(&l, file);
            loader sub;
            st = sub_path ? open_yaml(sub_path, &sub) : VT_ERR_NOMEM;
            if (st == VT_OK) {
                st = load_models(&sub, get(&sub, yaml_document_get_root_node(&sub.doc), "models"), c);
                close_yaml(&sub);
            }
            free(sub_path);
        } else {
            st = load_models(&l, models, c);
        }
        if (st == VT_OK && c->n_models == 0) st = bad(&l, "models", "lists no model");
    }
    close_yaml(&l);
    if (st != VT_OK) {
        vt_bench_config_free(c);
        return st;
    }
    *out = c;
    return VT_OK;
}
