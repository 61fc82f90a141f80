#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "ventral/hash.h"

struct vt_sha256 {
    struct sha256_ctx ctx;
};

vt_sha256 *vt_sha256_new(void)
{
    vt_sha256 *h = vt_malloc(1, sizeof *h);
    if (h) sha256_init(&h->ctx);
    return h;
}

void vt_sha256_update(vt_sha256 *h, const void *data, size_t n)
{
    sha256_update(&h->ctx, n, data);
}

void vt_sha256_final(vt_sha256 *h, char hex[VT_SHA256_HEX])
{
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&h->ctx, sizeof digest, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    free(h);
}

void vt_sha256_free(vt_sha256 *h)
{
    free(h);
}

void vt_sha256_buffer(const void *data, size_t n, char hex[VT_SHA256_HEX])
{
    struct vt_sha256 h;
    sha256_init(&h.ctx);
    sha256_update(&h.ctx, n, data);
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_digest(&h.ctx, sizeof digest, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

vt_status vt_sha256_file(const char *path, char hex[VT_SHA256_HEX])
{
    FILE *f = fopen(path, "rb");
    if (!f) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vt_sha256 *h = vt_sha256_new();
    unsigned char *buf = vt_malloc(1 << 20, 1);
    if (!h || !buf) {
        fclose(f);
        free(h);
        free(buf);
        return VT_ERR_NOMEM;
    }
    size_t n;
    while ((n = fread(buf, 1, 1 << 20, f)) > 0) vt_sha256_update(h, buf, n);
    int failed = ferror(f);
    fclose(f);
    free(buf);
    if (failed) {
        vt_sha256_free(h);
        return vt_fail(VT_ERR_IO, "%s: read failed", path);
    }
    vt_sha256_final(h, hex);
    return VT_OK;
}
