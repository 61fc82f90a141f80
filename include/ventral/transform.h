/* Test-time transforms: an RGB image → the float32 C×H×W tensor a model expects (METHODS §1).
 *
 * Resizing reproduces Pillow's Image.resize (what torchvision's Resize does to PIL images):
 * separable bilinear or bicubic filters whose support widens with the down-sampling factor
 * (antialiasing), 22-bit fixed-point coefficients, horizontal pass then vertical pass with
 * rounding to 8 bits after each. Centre cropping rounds the offset half-to-even, as Python's
 * round() in torchvision does. So ventral's inputs equal torchvision's on the same decoded pixels.
 *
 *   vt_transform tf;
 *   vt_transform_preset("torchvision", &tf);          // Resize(256), CenterCrop(224), ImageNet mean/std
 *   float *chw = ...;                                  // 3 * tf.crop * tf.crop floats
 *   vt_transform_apply(&tf, image, chw);
 */
#ifndef VENTRAL_TRANSFORM_H
#define VENTRAL_TRANSFORM_H

#include "ventral/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vt_interp { VT_INTERP_BILINEAR, VT_INTERP_BICUBIC } vt_interp;

typedef struct vt_transform {
    char name[32];
    int resize;       /* shorter side is resized to this; 0 = no resize */
    vt_interp interp; /* filter of the resize */
    int crop;         /* centre crop to crop × crop; 0 = no crop (then the output size is the resized size) */
    float mean[3];    /* after scaling to [0, 1]: (x - mean) / std per channel */
    float std[3];
} vt_transform;

/* Known presets: "torchvision" (256 bilinear, 224, ImageNet), "inception" (342 bilinear, 299, ImageNet),
 * "clip" (224 bicubic, 224, CLIP mean/std), "none" (no resize or crop; scale to [0, 1] only). */
vt_status vt_transform_preset(const char *name, vt_transform *out);

/* Output height and width for an input image of the given size. */
void vt_transform_output_size(const vt_transform *tf, int width, int height, int *out_width, int *out_height);

/* Resize only (Pillow-equal 8-bit result). */
vt_status vt_image_resize(const vt_image *in, int width, int height, vt_interp interp, vt_image **out);

/* Full transform into `chw` (3 × out_height × out_width floats, caller-allocated). */
vt_status vt_transform_apply(const vt_transform *tf, const vt_image *in, float *chw);

#ifdef __cplusplus
}
#endif
#endif
