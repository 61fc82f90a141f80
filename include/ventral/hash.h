/* SHA-256 (through nettle) for model provenance, feature caching and download verification.
 *
 *   char hex[VT_SHA256_HEX];
 *   if (vt_sha256_file("model.onnx", hex) != VT_OK) ...   // 64 lowercase hex digits + NUL
 *
 *   vt_sha256 *h = vt_sha256_new();                       // incremental, e.g. while downloading
 *   vt_sha256_update(h, buf, n); ...
 *   vt_sha256_final(h, hex);                              // frees h
 */
#ifndef VENTRAL_HASH_H
#define VENTRAL_HASH_H

#include <stddef.h>

#include "ventral/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_SHA256_HEX 65

typedef struct vt_sha256 vt_sha256;

vt_sha256 *vt_sha256_new(void); /* NULL (last error set) when out of memory */
void vt_sha256_update(vt_sha256 *h, const void *data, size_t n);
/* Writes the digest as hex and frees h. */
void vt_sha256_final(vt_sha256 *h, char hex[VT_SHA256_HEX]);
/* Frees without a digest; NULL is a no-op. */
void vt_sha256_free(vt_sha256 *h);

/* Digest of a whole buffer / file. */
void vt_sha256_buffer(const void *data, size_t n, char hex[VT_SHA256_HEX]);
vt_status vt_sha256_file(const char *path, char hex[VT_SHA256_HEX]);

#ifdef __cplusplus
}
#endif
#endif
