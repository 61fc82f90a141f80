/* Neural recordings into brain stores: arrays, presentation tables and Brain-Score NetCDF. */
#include <errno.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5util.h"
#include "ventral/neural.h"
#include "ventral/npy.h"

static char **copy_strings(char *const *s, int64_t n)
{
    char **c = vt_calloc((size_t)(n ? n : 1), sizeof *c);
    if (!c) return NULL;
    for (int64_t i = 0; i < n; i++)
        if (!(c[i] = strdup(s[i] ? s[i] : ""))) {
            vt_strings_free(c, n);
            vt_fail(VT_ERR_NOMEM, "out of memory");
            return NULL;
        }
    return c;
}

/* "FILE.h5:NAME" / "FILE.hdf5:NAME" split into its parts; false when spec is not of that form. */
static bool h5_spec(const char *spec, char *file, size_t n, const char **name)
{
    const char *colon = strstr(spec, ".h5:");
    if (!colon) colon = strstr(spec, ".hdf5:");
    if (!colon) return false;
    colon = strchr(colon, ':');
    snprintf(file, n, "%.*s", (int)(colon - spec), spec);
    *name = colon + 1;
    return true;
}

vt_status vt_neural_from_array(const vt_tensor *x, char *const *ids, vt_brain **out)
{
    *out = NULL;
    if (!vt_dtype_is_float(x->dtype) || (x->rank != 2 && x->rank != 3))
        return vt_fail(
            VT_ERR_ARG,
            "responses must be float32/float64 stimuli x repetitions x units or stimuli x units, got %s rank %d",
            vt_dtype_name(x->dtype), x->rank);
    int64_t S = x->shape[0], R = x->rank == 3 ? x->shape[1] : 1, U = x->shape[x->rank - 1];
    vt_brain *b = vt_brain_new(S, R, U);
    if (!b) return VT_ERR_ARG;
    float *r = vt_tensor_f32(b->responses);
    for (int64_t i = 0, n = S * R * U; i < n; i++) r[i] = (float)vt_tensor_get(x, i);
    vt_strings_free(b->stimulus_ids, S);
    if (!(b->stimulus_ids = copy_strings(ids, S))) {
        vt_brain_free(b);
        return VT_ERR_NOMEM;
    }
    vt_status st = vt_brain_validate(b);
    if (st) {
        vt_brain_free(b);
        return st;
    }
    *out = b;
    return VT_OK;
}

typedef struct pres {
    int64_t stim, index;
    double rep;
} pres;

static int cmp_pres(const void *a, const void *b)
{
    const pres *x = a, *y = b;
    if (x->stim != y->stim) return x->stim < y->stim ? -1 : 1;
    if (x->rep != y->rep) return x->rep < y->rep ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

typedef struct id_slot {
    const char *id;
    int64_t stim;
} id_slot;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Groups presentations by stimulus id: stim_of[p] and the first presentation of each stimulus. */
static vt_status group_ids(char *const *ids, int64_t n, int64_t *stim_of, int64_t *first, int64_t *n_stim)
{
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    id_slot *tab = vt_calloc(cap, sizeof *tab);
    if (!tab) return VT_ERR_NOMEM;
    int64_t k = 0;
    for (int64_t p = 0; p < n; p++) {
        size_t h = (size_t)hash_str(ids[p]) & (cap - 1);
        while (tab[h].id && strcmp(tab[h].id, ids[p]) != 0) h = (h + 1) & (cap - 1);
        if (!tab[h].id) tab[h].id = ids[p], tab[h].stim = k, first[k++] = p;
        stim_of[p] = tab[h].stim;
    }
    free(tab);
    *n_stim = k;
    return VT_OK;
}

vt_status vt_neural_from_presentations(const vt_tensor *x, char *const *ids, const double *rep, vt_brain **out)
{
    *out = NULL;
    if (!vt_dtype_is_float(x->dtype) || x->rank != 2)
        return vt_fail(VT_ERR_ARG, "presentation responses must be float32/float64 presentations x units");
    int64_t P = x->shape[0], U = x->shape[1], S = 0;
    if (P < 1 || U < 1) return vt_fail(VT_ERR_ARG, "no presentations or no units");
    int64_t *stim_of = vt_malloc((size_t)P, sizeof *stim_of), *first = vt_malloc((size_t)P, sizeof *first);
    pres *ps = vt_malloc((size_t)P, sizeof *ps);
    vt_brain *b = NULL;
    vt_status st = stim_of && first && ps ? group_ids(ids, P, stim_of, first, &S) : VT_ERR_NOMEM;
    if (st) goto done;
    for (int64_t p = 0; p < P; p++) ps[p] = (pres){stim_of[p], p, rep ? rep[p] : 0};
    qsort(ps, (size_t)P, sizeof *ps, cmp_pres);
    int64_t R = 0;
    for (int64_t p = 0, run = 0; p < P; p++) {
        run = p > 0 && ps[p].stim == ps[p - 1].stim ? run + 1 : 1;
        if (run > R) R = run;
    }
    if (!(b = vt_brain_new(S, R, U))) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    float *r = vt_tensor_f32(b->responses);
    for (int64_t p = 0, k = 0; p < P; p++) {
        k = p > 0 && ps[p].stim == ps[p - 1].stim ? k + 1 : 0;
        float *dst = r + (ps[p].stim * R + k) * U;
        for (int64_t u = 0; u < U; u++) dst[u] = (float)vt_tensor_get(x, ps[p].index * U + u);
    }
    for (int64_t s = 0; s < S; s++)
        if (!(b->stimulus_ids[s] = strdup(ids[first[s]]))) {
            st = VT_ERR_NOMEM;
            goto done;
        }
    *out = b, b = NULL;
done:
    if (st == VT_ERR_NOMEM) vt_fail(st, "out of memory grouping %lld presentations", (long long)P);
    vt_brain_free(b);
    free(stim_of);
    free(first);
    free(ps);
    return st;
}

vt_status vt_neural_read_ids(const char *spec, char ***ids, int64_t *n)
{
    *ids = NULL;
    *n = 0;
    char file[4096];
    const char *name;
    if (h5_spec(spec, file, sizeof file, &name)) {
        hid_t f;
        vt_status st = vt_h5_open(file, &f);
        if (st) return st;
        hid_t ds = vt_h5_exists(f, name) ? H5Dopen2(f, name, H5P_DEFAULT) : H5I_INVALID_HID;
        H5T_class_t cls = H5T_NO_CLASS;
        if (ds >= 0) {
            hid_t t = H5Dget_type(ds);
            cls = H5Tget_class(t);
            H5Tclose(t);
            H5Dclose(ds);
        }
        if (cls == H5T_INTEGER) {
            vt_tensor *t = NULL;
            if (!(st = vt_h5_read(f, name, VT_I64, file, &t))) {
                int64_t m = vt_tensor_numel(t);
                char **s = vt_calloc((size_t)(m ? m : 1), sizeof *s);
                for (int64_t i = 0; s && i < m; i++) {
                    char buf[32];
                    snprintf(buf, sizeof buf, "%lld", (long long)((int64_t *)t->data)[i]);
                    if (!(s[i] = strdup(buf))) {
                        vt_strings_free(s, m);
                        s = NULL;
                    }
                }
                if (!s)
                    st = vt_fail(VT_ERR_NOMEM, "out of memory");
                else
                    *ids = s, *n = m;
                vt_tensor_free(t);
            }
        } else
            st = vt_h5_read_strings(f, name, file, ids, n);
        H5Fclose(f);
        return st;
    }
    FILE *f = fopen(spec, "r");
    if (!f) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", spec, strerror(errno));
    size_t cap = 64;
    int64_t m = 0;
    char **s = vt_malloc(cap, sizeof *s), line[4096];
    vt_status st = s ? VT_OK : VT_ERR_NOMEM;
    while (st == VT_OK && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (!len) continue;
        if ((size_t)m == cap) {
            char **ns = realloc(s, sizeof *s * (cap *= 2));
            if (!ns) {
                st = VT_ERR_NOMEM;
                break;
            }
            s = ns;
        }
        if (!(s[m] = strdup(line)))
            st = VT_ERR_NOMEM;
        else
            m++;
    }
    fclose(f);
    if (st) {
        vt_strings_free(s, m);
        return vt_fail(VT_ERR_NOMEM, "%s: out of memory", spec);
    }
    if (m == 0) {
        free(s);
        return vt_fail(VT_ERR_FORMAT, "%s: no stimulus ids", spec);
    }
    *ids = s, *n = m;
    return VT_OK;
}

vt_status vt_neural_read_array(const char *spec, vt_tensor **out)
{
    *out = NULL;
    char file[4096];
    const char *name;
    if (h5_spec(spec, file, sizeof file, &name)) {
        hid_t f;
        vt_status st = vt_h5_open(file, &f);
        if (st) return st;
        st = vt_h5_read(f, name, VT_F32, file, out);
        H5Fclose(f);
        return st;
    }
    vt_tensor *t = NULL;
    vt_status st = vt_npy_read(spec, &t);
    if (st) return st;
    if (t->dtype == VT_F32) return *out = t, VT_OK;
    st = vt_tensor_convert(t, VT_F32, out);
    vt_tensor_free(t);
    if (st) return vt_fail_context(st, "%s: ", spec);
    return VT_OK;
}

/* ---- NetCDF (Brain-Score assemblies) ---------------------------------------------------- */

/* A 1-d coordinate over dimension `dim` as strings (NC_STRING, NC_CHAR [dim, len] or numbers). */
static vt_status read_coord(int nc, int var, const char *path, const char *name, int64_t n, char ***out)
{
    *out = NULL;
    nc_type type;
    int ndims, dims[NC_MAX_VAR_DIMS];
    nc_inq_vartype(nc, var, &type);
    nc_inq_varndims(nc, var, &ndims);
    nc_inq_vardimid(nc, var, dims);
    char **s = vt_calloc((size_t)n, sizeof *s);
    if (!s) return vt_fail(VT_ERR_NOMEM, "out of memory");
    vt_status st = VT_OK;
    if (type == NC_STRING) {
        char **raw = vt_calloc((size_t)n, sizeof *raw);
        if (!raw || nc_get_var_string(nc, var, raw) != NC_NOERR)
            st = vt_fail(VT_ERR_FORMAT, "%s: cannot read coordinate '%s'", path, name);
        else {
            for (int64_t i = 0; i < n && !st; i++)
                if (!(s[i] = strdup(raw[i] ? raw[i] : ""))) st = vt_fail(VT_ERR_NOMEM, "out of memory");
            nc_free_string((size_t)n, raw);
        }
        free(raw);
    } else if (type == NC_CHAR && ndims == 2) {
        size_t width;
        nc_inq_dimlen(nc, dims[1], &width);
        char *buf = vt_calloc((size_t)n * width + 1, 1);
        if (!buf || nc_get_var_text(nc, var, buf) != NC_NOERR)
            st = vt_fail(VT_ERR_FORMAT, "%s: cannot read coordinate '%s'", path, name);
        for (int64_t i = 0; i < n && !st; i++)
            if (!(s[i] = strndup(buf + (size_t)i * width, width))) st = vt_fail(VT_ERR_NOMEM, "out of memory");
        free(buf);
    } else if (ndims == 1 && type != NC_CHAR) {
        double *v = vt_malloc((size_t)n, sizeof *v);
        if (!v || nc_get_var_double(nc, var, v) != NC_NOERR)
            st = vt_fail(VT_ERR_FORMAT, "%s: cannot read coordinate '%s'", path, name);
        for (int64_t i = 0; i < n && !st; i++) {
            char buf[64];
            snprintf(buf, sizeof buf, "%.17g", v[i]);
            if (!(s[i] = strdup(buf))) st = vt_fail(VT_ERR_NOMEM, "out of memory");
        }
        free(v);
    } else
        st = vt_fail(VT_ERR_FORMAT, "%s: coordinate '%s' has an unsupported type", path, name);
    if (st) {
        vt_strings_free(s, n);
        return st;
    }
    *out = s;
    return VT_OK;
}

vt_status vt_neural_from_netcdf(const char *path, const vt_neural_netcdf_options *o, vt_brain **out)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int nc = -1, rc = nc_open(path, NC_NOWRITE, &nc);
    if (rc != NC_NOERR)
        return vt_fail(VT_ERR_FORMAT, "%s: not a readable NetCDF file (truncated or corrupt?): %s", path,
                       nc_strerror(rc));
    vt_status st = VT_OK;
    int dpres = -1, dneur = -1, dtime = -1, var = -1, nvars = 0;
    size_t np = 0, nu = 0, nt = 1;
    double *data = NULL, *rep = NULL;
    char **stim = NULL, **pres_strings = NULL;
    vt_tensor *x = NULL;
    vt_brain *b = NULL;
    int64_t *first = NULL;
    if (nc_inq_dimid(nc, "presentation", &dpres) != NC_NOERR || nc_inq_dimid(nc, "neuroid", &dneur) != NC_NOERR) {
        st = vt_fail(VT_ERR_FORMAT,
                     "%s: missing dimension 'presentation' or 'neuroid' (not a Brain-Score neural assembly)", path);
        goto done;
    }
    nc_inq_dimid(nc, "time_bin", &dtime);
    nc_inq_dimlen(nc, dpres, &np);
    nc_inq_dimlen(nc, dneur, &nu);
    if (dtime >= 0) nc_inq_dimlen(nc, dtime, &nt);
    nc_inq_nvars(nc, &nvars);

    /* The data variable: named, or the first numeric one over presentation and neuroid. */
    for (int v = 0; v < nvars; v++) {
        char name[NC_MAX_NAME + 1];
        int nd, dims[NC_MAX_VAR_DIMS];
        nc_type type;
        nc_inq_var(nc, v, name, &type, &nd, dims, NULL);
        bool hp = false, hn = false;
        for (int d = 0; d < nd; d++) hp |= dims[d] == dpres, hn |= dims[d] == dneur;
        if (o->variable ? strcmp(name, o->variable) == 0 : (hp && hn && type != NC_CHAR && type != NC_STRING)) {
            var = v;
            break;
        }
    }
    if (var < 0) {
        st = o->variable ? vt_fail(VT_ERR_FORMAT, "%s: missing variable '%s'", path, o->variable)
                         : vt_fail(VT_ERR_FORMAT, "%s: no numeric variable over (presentation, neuroid)", path);
        goto done;
    }
    char vname[NC_MAX_NAME + 1];
    int nd, dims[NC_MAX_VAR_DIMS];
    nc_type vtype;
    nc_inq_var(nc, var, vname, &vtype, &nd, dims, NULL);
    if (vtype == NC_CHAR || vtype == NC_STRING) {
        st = vt_fail(VT_ERR_FORMAT, "%s: variable '%s' is not numeric", path, vname);
        goto done;
    }
    /* Strides of presentation, neuroid and time_bin in the variable's (C-order) layout. */
    int64_t stride_p = -1, stride_u = -1, stride_t = 0, step = 1;
    for (int d = nd - 1; d >= 0; d--) {
        size_t len;
        nc_inq_dimlen(nc, dims[d], &len);
        if (dims[d] == dpres)
            stride_p = step;
        else if (dims[d] == dneur)
            stride_u = step;
        else if (dims[d] == dtime)
            stride_t = step;
        else if (len != 1) {
            char dn[NC_MAX_NAME + 1];
            nc_inq_dimname(nc, dims[d], dn);
            st = vt_fail(VT_ERR_FORMAT, "%s: variable '%s' has an extra dimension '%s' of length %zu", path, vname, dn,
                         len);
            goto done;
        }
        step *= (int64_t)len;
    }
    if (stride_p < 0 || stride_u < 0) {
        st = vt_fail(VT_ERR_FORMAT, "%s: variable '%s' is not over (presentation, neuroid)", path, vname);
        goto done;
    }
    int64_t tb = 0;
    if (nt > 1 && stride_t) {
        if (o->time_bin < 0 || o->time_bin >= (int64_t)nt) {
            st = vt_fail(VT_ERR_ARG, "%s: variable '%s' has %zu time bins: choose one with --time-bin 0..%zu", path,
                         vname, nt, nt - 1);
            goto done;
        }
        tb = o->time_bin;
    }
    data = vt_malloc((size_t)step, sizeof *data);
    int64_t shape[2] = {(int64_t)np, (int64_t)nu};
    x = vt_tensor_new_uninit(VT_F64, 2, shape);
    if (!data || !x) {
        st = vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((rc = nc_get_var_double(nc, var, data)) != NC_NOERR) {
        st =
            vt_fail(VT_ERR_FORMAT, "%s: cannot read variable '%s' (truncated file?): %s", path, vname, nc_strerror(rc));
        goto done;
    }
    double *xd = vt_tensor_f64(x);
    for (int64_t p = 0; p < (int64_t)np; p++)
        for (int64_t u = 0; u < (int64_t)nu; u++)
            xd[p * (int64_t)nu + u] = data[p * stride_p + u * stride_u + tb * stride_t];
    free(data), data = NULL;

    /* Coordinates: stimulus_id (required), repetition (optional). */
    int cv;
    /* The public Majaj-Hong file calls it image_id (newer Brain-Score assemblies stimulus_id). */
    const char *id_name = "stimulus_id";
    if (nc_inq_varid(nc, id_name, &cv) != NC_NOERR && nc_inq_varid(nc, id_name = "image_id", &cv) != NC_NOERR) {
        st = vt_fail(VT_ERR_FORMAT, "%s: missing coordinate 'stimulus_id' (or 'image_id') on presentation", path);
        goto done;
    }
    if ((st = read_coord(nc, cv, path, id_name, (int64_t)np, &stim))) goto done;
    if (nc_inq_varid(nc, "repetition", &cv) == NC_NOERR) {
        rep = vt_malloc(np, sizeof *rep);
        if (!rep || nc_get_var_double(nc, cv, rep) != NC_NOERR) {
            st = vt_fail(VT_ERR_FORMAT, "%s: cannot read coordinate 'repetition'", path);
            goto done;
        }
    }
    if ((st = vt_neural_from_presentations(x, stim, rep, &b))) goto done;

    /* Every other 1-d coordinate: on presentation -> per-stimulus metadata (value at the first
     * presentation), on neuroid -> unit ids (neuroid_id) and regions (region). */
    first = vt_malloc((size_t)b->n_stimuli, sizeof *first);
    if (!first) goto nomem;
    for (int64_t s = 0, p = 0; s < b->n_stimuli; s++) {
        while (strcmp(stim[p], b->stimulus_ids[s]) != 0) p++; /* stimuli are in first-presentation order */
        first[s] = p;
    }
    for (int v = 0; v < nvars && !st; v++) {
        char name[NC_MAX_NAME + 1];
        int vnd, vdims[NC_MAX_VAR_DIMS];
        nc_type type;
        nc_inq_var(nc, v, name, &type, &vnd, vdims, NULL);
        bool text2 = type == NC_CHAR && vnd == 2;
        if (v == var || !(vnd == 1 || text2)) continue;
        if (vdims[0] == dpres && strcmp(name, id_name) != 0 && strcmp(name, "repetition") != 0) {
            if (b->n_meta == VT_BRAIN_MAX_META) continue;
            if ((st = read_coord(nc, v, path, name, (int64_t)np, &pres_strings))) goto done;
            char **col = vt_calloc((size_t)b->n_stimuli, sizeof *col);
            if (!col) goto nomem;
            for (int64_t s = 0; s < b->n_stimuli; s++)
                if (!(col[s] = strdup(pres_strings[first[s]]))) {
                    vt_strings_free(col, b->n_stimuli);
                    goto nomem;
                }
            vt_strings_free(pres_strings, (int64_t)np), pres_strings = NULL;
            if ((st = vt_brain_add_meta(b, name, col))) goto done;
        } else if (vdims[0] == dneur && (strcmp(name, "neuroid_id") == 0 || strcmp(name, "region") == 0)) {
            char ***dst = strcmp(name, "region") == 0 ? &b->unit_rois : &b->unit_ids;
            if ((st = read_coord(nc, v, path, name, (int64_t)nu, dst))) goto done;
        }
    }
    b->source = strdup("netcdf");
    if (!b->source) goto nomem;
    /* The path and variable name go in as JSON string literals (either may hold '"' or '\\'). */
    char *qfile = vt_json_quote(path), *qvar = vt_json_quote(vname);
    size_t cap = qfile && qvar ? strlen(qfile) + strlen(qvar) + strlen(vt_version()) + 256 : 0;
    if (cap && (b->provenance = malloc(cap)))
        snprintf(b->provenance, cap,
                 "{\"source\": \"netcdf\", \"file\": %s, \"variable\": %s, \"presentations\": %zu, "
                 "\"neuroids\": %zu, \"time_bin\": %lld, \"ventral\": \"%s\"}",
                 qfile, qvar, np, nu, (long long)tb, vt_version());
    free(qfile);
    free(qvar);
    if (!b->provenance) goto nomem;
    *out = b, b = NULL;
    goto done;
nomem:
    st = vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
done:
    if (nc >= 0) nc_close(nc);
    free(data);
    free(rep);
    free(first);
    vt_strings_free(stim, (int64_t)np);
    vt_strings_free(pres_strings, (int64_t)np);
    vt_tensor_free(x);
    vt_brain_free(b);
    return st;
}
