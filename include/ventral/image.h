/* Decoding JPEG and PNG stimuli to 8-bit RGB.
 *
 *   vt_image *im;
 *   if (vt_image_read("stim/0001.jpg", &im) != VT_OK) ...
 *   // im->data[(y * im->width + x) * 3 + c], c = R, G, B
 *   vt_image_free(im);
 *
 * Grey images are replicated to three channels and alpha is dropped (Pillow's convert("RGB")),
 * palettes are expanded, 16-bit PNG samples are reduced to their high byte.
 */
#ifndef VENTRAL_IMAGE_H
#define VENTRAL_IMAGE_H

#include <stdint.h>

#include "ventral/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_image {
    int width, height;
    uint8_t *data; /* height × width × 3, row-major, owned */
} vt_image;

/* Decodes a JPEG or PNG file (recognised by its signature, not its name). */
vt_status vt_image_read(const char *path, vt_image **out);
/* A new image over a copy of `rgb` (height × width × 3). */
vt_status vt_image_from_rgb(const uint8_t *rgb, int width, int height, vt_image **out);
void vt_image_free(vt_image *im);

#ifdef __cplusplus
}
#endif
#endif
