/* JPEG (libjpeg-turbo) and PNG (libpng) decoding with errors that name the file.
 * JPEG uses libjpeg's defaults (islow DCT, fancy upsampling), as Pillow does, so pixels match. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "ventral/image.h"

static vt_image *image_new(int width, int height)
{
    vt_image *im = vt_calloc(1, sizeof *im);
    if (!im) return NULL;
    im->width = width;
    im->height = height;
    im->data = vt_malloc((size_t)width * (size_t)height, 3);
    if (!im->data) {
        free(im);
        return NULL;
    }
    return im;
}

void vt_image_free(vt_image *im)
{
    if (!im) return;
    free(im->data);
    free(im);
}

vt_status vt_image_from_rgb(const uint8_t *rgb, int width, int height, vt_image **out)
{
    *out = NULL;
    if (width <= 0 || height <= 0) return vt_fail(VT_ERR_ARG, "image size %dx%d is empty", width, height);
    vt_image *im = image_new(width, height);
    if (!im) return VT_ERR_NOMEM;
    memcpy(im->data, rgb, (size_t)width * (size_t)height * 3);
    *out = im;
    return VT_OK;
}

/* ---- JPEG ---- */

typedef struct jpeg_failure {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jpeg_failure;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    cinfo->err->format_message(cinfo, f->message);
    longjmp(f->jump, 1);
}

/* Corrupt-data warnings would otherwise print to stderr and yield grey blocks: treat them as errors. */
static void jpeg_on_warning(j_common_ptr cinfo, int level)
{
    if (level < 0) jpeg_on_error(cinfo);
}

static vt_status read_jpeg(const char *path, FILE *fp, vt_image **out)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_failure fail;
    vt_image *volatile im = NULL;
    cinfo.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_on_error;
    fail.mgr.emit_message = jpeg_on_warning;
    if (setjmp(fail.jump)) {
        jpeg_destroy_decompress(&cinfo);
        vt_image_free(im);
        return vt_fail(VT_ERR_FORMAT, "%s: corrupt JPEG: %s", path, fail.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, fp);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: CMYK JPEG images are not supported; convert to RGB", path);
    }
    cinfo.out_color_space = JCS_RGB; /* libjpeg replicates grey to RGB */
    jpeg_start_decompress(&cinfo);
    im = image_new((int)cinfo.output_width, (int)cinfo.output_height);
    if (!im) {
        jpeg_destroy_decompress(&cinfo);
        return vt_fail_context(VT_ERR_NOMEM, "%s: ", path);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = im->data + (size_t)cinfo.output_scanline * (size_t)im->width * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *out = im;
    return VT_OK;
}

/* ---- PNG ---- */

typedef struct png_failure {
    const char *path;
    char message[256];
} png_failure;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static vt_status read_png(const char *path, FILE *fp, vt_image **out)
{
    png_failure fail = {path, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &fail, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    vt_image *volatile im = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        vt_image_free(im);
        free(rows);
        return vt_fail(VT_ERR_FORMAT, "%s: corrupt PNG: %s", path, fail.message);
    }
    png_init_io(png, fp);
    png_read_info(png, info);
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (depth == 16) png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png), png_set_strip_alpha(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3) png_error(png, "unexpected channel count after conversion");
    im = image_new((int)png_get_image_width(png, info), (int)png_get_image_height(png, info));
    rows = im ? vt_malloc((size_t)im->height, sizeof *rows) : NULL;
    if (!rows) png_error(png, "out of memory");
    for (int y = 0; y < im->height; y++) rows[y] = im->data + (size_t)y * (size_t)im->width * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *out = im;
    return VT_OK;
}

vt_status vt_image_read(const char *path, vt_image **out)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, sizeof sig, fp);
    rewind(fp);
    vt_status st;
    if (got >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF)
        st = read_jpeg(path, fp, out);
    else if (got == 8 && png_sig_cmp(sig, 0, 8) == 0)
        st = read_png(path, fp, out);
    else
        st = vt_fail(VT_ERR_FORMAT, "%s: not a JPEG or PNG image", path);
    fclose(fp);
    return st;
}
