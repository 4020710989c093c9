#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

/* libjpeg reports fatal errors through error_exit, which must not return: the default one calls
   exit(). Swift cannot setjmp/longjmp, so the whole decode runs in C below, with an error_exit
   that longjmps back into mf_decode_jpeg. Warnings are silenced; "premature end of JPEG file"
   (a truncated file, which libjpeg would pad with grey) is turned into an error. */

struct mf_jpeg_error {
  struct jpeg_error_mgr base;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  int truncated;
};

static void mf_jpeg_error_exit(j_common_ptr cinfo) {
  struct mf_jpeg_error *err = (struct mf_jpeg_error *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

static void mf_jpeg_emit_message(j_common_ptr cinfo, int level) {
  struct mf_jpeg_error *err = (struct mf_jpeg_error *)cinfo->err;
  if (level < 0) {
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) err->truncated = 1;
    cinfo->err->num_warnings++;
  }
}

static void mf_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* Decodes a JPEG held in memory to 8-bit interleaved RGB (grayscale replicated, CMYK/YCCK
   converted with R = C*K/255 on Adobe's inverted values). On success returns 0 and sets *out
   to a malloc'd buffer of (*width) * (*height) * 3 bytes that the caller frees with free().
   On failure returns 1, *out is NULL and errbuf (at least JMSG_LENGTH_MAX = 200 bytes) holds
   libjpeg's message. Images over 2^28 pixels are refused. */
static inline int mf_decode_jpeg(const unsigned char *data, unsigned long size, unsigned char **out,
                                 int *width, int *height, char *errbuf) {
  struct jpeg_decompress_struct cinfo;
  struct mf_jpeg_error err;
  unsigned char *volatile buffer = NULL;
  unsigned char *volatile row = NULL;
  volatile int created = 0;
  memset(&err, 0, sizeof err);
  *out = NULL;
  *width = 0;
  *height = 0;
  errbuf[0] = '\0';
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = mf_jpeg_error_exit;
  err.base.emit_message = mf_jpeg_emit_message;
  err.base.output_message = mf_jpeg_output_message;
  if (setjmp(err.jump)) {
    strncpy(errbuf, err.message, JMSG_LENGTH_MAX - 1);
    errbuf[JMSG_LENGTH_MAX - 1] = '\0';
    if (created) jpeg_destroy_decompress(&cinfo);
    free(buffer);
    free(row);
    return 1;
  }
  jpeg_create_decompress(&cinfo);
  created = 1;
  jpeg_mem_src(&cinfo, data, size);
  jpeg_read_header(&cinfo, TRUE);
  int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  size_t w = cinfo.output_width, h = cinfo.output_height;
  if (w == 0 || h == 0 || w * h > ((size_t)1 << 28)) {
    snprintf(err.message, JMSG_LENGTH_MAX, "image size %zux%zu is not supported", w, h);
    longjmp(err.jump, 1);
  }
  int components = cinfo.output_components;
  if (components != (cmyk ? 4 : 3)) {
    snprintf(err.message, JMSG_LENGTH_MAX, "unexpected %d output components", components);
    longjmp(err.jump, 1);
  }
  buffer = (unsigned char *)malloc(w * h * 3);
  row = (unsigned char *)malloc(w * (size_t)components);
  if (buffer == NULL || row == NULL) {
    snprintf(err.message, JMSG_LENGTH_MAX, "out of memory");
    longjmp(err.jump, 1);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    size_t y = cinfo.output_scanline;
    JSAMPROW rows[1] = {row};
    if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
    unsigned char *dst = buffer + y * w * 3;
    if (cmyk) {
      int inverted = cinfo.saw_Adobe_marker;
      for (size_t x = 0; x < w; x++) {
        unsigned c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
        if (!inverted) { c = 255 - c; m = 255 - m; yy = 255 - yy; k = 255 - k; }
        dst[3 * x] = (unsigned char)((c * k + 127) / 255);
        dst[3 * x + 1] = (unsigned char)((m * k + 127) / 255);
        dst[3 * x + 2] = (unsigned char)((yy * k + 127) / 255);
      }
    } else {
      memcpy(dst, row, w * 3);
    }
  }
  jpeg_finish_decompress(&cinfo);
  if (err.truncated) {
    snprintf(err.message, JMSG_LENGTH_MAX, "premature end of JPEG data (truncated file)");
    longjmp(err.jump, 1);
  }
  jpeg_destroy_decompress(&cinfo);
  created = 0;
  free(row);
  *out = buffer;
  *width = (int)w;
  *height = (int)h;
  return 0;
}
