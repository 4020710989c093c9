#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

/* libjpeg reports fatal errors through error_exit, which must not return: the default one calls
   exit(). Swift cannot setjmp/longjmp, so every call into libjpeg happens in the C functions
   below, each of which sets a jump point first; mf_jpeg_error_exit formats libjpeg's message and
   longjmps back to it. Warnings are counted, never printed; "premature end of JPEG file" (a
   truncated file, which libjpeg would pad with grey) and "premature end of data segment" (a
   marker inside the compressed data: libjpeg zero-fills every block up to the next restart
   marker, or to the end of the image without one) are remembered so the caller can refuse them.

   The decode is split so that the caller sees the header before anything large is allocated:
     mf_jpeg_open          jpeg_read_header only (markers and the frame header; small buffers)
     mf_jpeg_output_size   chooses the DCT scale and colour space, jpeg_calc_output_dimensions
     mf_jpeg_decode_into   jpeg_start_decompress (the large allocations: a progressive image keeps
                           all its coefficients) and the scanlines, into the caller's buffer
     mf_jpeg_close         jpeg_destroy_decompress; valid after any failure
   A function that fails returns nonzero with libjpeg's message in errbuf (MF_JPEG_MESSAGE bytes);
   the decoder is then only good for mf_jpeg_close. */

#define MF_JPEG_MESSAGE JMSG_LENGTH_MAX

/* Progressive files can hold any number of scans, each a full pass over the coefficients: a
   small file of many empty scans costs minutes. TurboJPEG's TJFLAG_LIMITSCANS stops at 500. */
#define MF_JPEG_MAX_SCANS 500

typedef struct mf_jpeg {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr base;
  struct jpeg_progress_mgr progress;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  int truncated; /* 1: the data ended early; 2: a marker broke off the compressed data */
  int cmyk;
} mf_jpeg;

static void mf_jpeg_error_exit(j_common_ptr cinfo) {
  mf_jpeg *decoder = (mf_jpeg *)cinfo->client_data;
  (*cinfo->err->format_message)(cinfo, decoder->message);
  longjmp(decoder->jump, 1);
}

static void mf_jpeg_emit_message(j_common_ptr cinfo, int level) {
  mf_jpeg *decoder = (mf_jpeg *)cinfo->client_data;
  if (level < 0) {
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) decoder->truncated = 1;
    else if (cinfo->err->msg_code == JWRN_HIT_MARKER && !decoder->truncated) decoder->truncated = 2;
    cinfo->err->num_warnings++;
  }
}

static void mf_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void mf_jpeg_progress(j_common_ptr cinfo) {
  mf_jpeg *decoder = (mf_jpeg *)cinfo->client_data;
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->input_scan_number > MF_JPEG_MAX_SCANS) {
    snprintf(decoder->message, JMSG_LENGTH_MAX, "more than %d progressive scans", MF_JPEG_MAX_SCANS);
    longjmp(decoder->jump, 1);
  }
}

static void mf_jpeg_copy_message(mf_jpeg *decoder, char *errbuf) {
  strncpy(errbuf, decoder->message, MF_JPEG_MESSAGE - 1);
  errbuf[MF_JPEG_MESSAGE - 1] = '\0';
}

/* Reads the markers up to the first scan of a JPEG held in memory (`data` must outlive the
   decoder). Returns NULL with the message in errbuf when the bytes are not a readable JPEG. */
static inline mf_jpeg *mf_jpeg_open(const unsigned char *data, unsigned long size, char *errbuf) {
  mf_jpeg *decoder = (mf_jpeg *)calloc(1, sizeof(mf_jpeg));
  errbuf[0] = '\0';
  if (decoder == NULL) {
    snprintf(errbuf, MF_JPEG_MESSAGE, "out of memory");
    return NULL;
  }
  decoder->cinfo.err = jpeg_std_error(&decoder->base);
  decoder->base.error_exit = mf_jpeg_error_exit;
  decoder->base.emit_message = mf_jpeg_emit_message;
  decoder->base.output_message = mf_jpeg_output_message;
  if (setjmp(decoder->jump)) {
    mf_jpeg_copy_message(decoder, errbuf);
    jpeg_destroy_decompress(&decoder->cinfo);
    free(decoder);
    return NULL;
  }
  decoder->cinfo.client_data = decoder; /* kept by jpeg_create_decompress */
  jpeg_create_decompress(&decoder->cinfo);
  decoder->progress.progress_monitor = mf_jpeg_progress;
  decoder->cinfo.progress = &decoder->progress;
  jpeg_mem_src(&decoder->cinfo, data, size);
  jpeg_read_header(&decoder->cinfo, TRUE);
  decoder->cmyk = decoder->cinfo.jpeg_color_space == JCS_CMYK || decoder->cinfo.jpeg_color_space == JCS_YCCK;
  return decoder;
}

/* The frame size from the header, before any scaling. */
static inline void mf_jpeg_image_size(const mf_jpeg *decoder, unsigned int *width, unsigned int *height) {
  *width = decoder->cinfo.image_width;
  *height = decoder->cinfo.image_height;
}

/* 1 when the file is CMYK or YCCK (decoded through CMYK, converted to RGB here). */
static inline int mf_jpeg_is_cmyk(const mf_jpeg *decoder) { return decoder->cmyk; }

/* Chooses the DCT scale scale_num/8 (1...8) and the output colour space, and reports the size
   the decode will have: ceil(image_size * scale_num / 8). Allocates nothing large. */
static inline int mf_jpeg_output_size(mf_jpeg *decoder, int scale_num, unsigned int *width, unsigned int *height,
                                      char *errbuf) {
  errbuf[0] = '\0';
  if (setjmp(decoder->jump)) {
    mf_jpeg_copy_message(decoder, errbuf);
    return 1;
  }
  decoder->cinfo.scale_num = (unsigned int)scale_num;
  decoder->cinfo.scale_denom = 8;
  decoder->cinfo.out_color_space = decoder->cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_calc_output_dimensions(&decoder->cinfo);
  *width = decoder->cinfo.output_width;
  *height = decoder->cinfo.output_height;
  return 0;
}

/* Decodes into `rgb` (width * height * 3 bytes for the size mf_jpeg_output_size reported),
   greyscale replicated by libjpeg, CMYK/YCCK converted with R = C*K/255 (and likewise G from M,
   B from Y) on Adobe's inverted values (what Photoshop writes, flagged by an Adobe APP14 marker;
   without the marker the values are inverted first). `cmyk_row` is scratch of width * 4 bytes
   for CMYK files (NULL otherwise). Returns 1 for an error, 2 for a truncated or damaged file. */
static inline int mf_jpeg_decode_into(mf_jpeg *decoder, unsigned char *rgb, size_t capacity, unsigned char *cmyk_row,
                                      char *errbuf) {
  struct jpeg_decompress_struct *cinfo = &decoder->cinfo;
  errbuf[0] = '\0';
  if (setjmp(decoder->jump)) {
    mf_jpeg_copy_message(decoder, errbuf);
    return 1;
  }
  size_t expected_width = cinfo->output_width, expected_height = cinfo->output_height;
  jpeg_start_decompress(cinfo);
  size_t w = cinfo->output_width, h = cinfo->output_height;
  size_t components = (size_t)cinfo->output_components;
  if (w != expected_width || h != expected_height || components != (decoder->cmyk ? 4u : 3u) ||
      (decoder->cmyk && cmyk_row == NULL) || capacity / 3 / w < h) {
    snprintf(decoder->message, JMSG_LENGTH_MAX, "unexpected output layout %zux%zux%zu", w, h, components);
    longjmp(decoder->jump, 1);
  }
  /* Stop at the first sign that the data ended early or broke off: libjpeg would fill every
     missing row in, so a 555-byte file claiming 100 megapixels took over 5 s, and a 1 KB one
     claiming 42 megapixels whose data a marker broke off likewise (both found by Fuzz/fuzz-jpeg). */
  while (!decoder->truncated && cinfo->output_scanline < cinfo->output_height) {
    size_t y = cinfo->output_scanline;
    if (decoder->cmyk) {
      JSAMPROW rows[1] = {cmyk_row};
      if (jpeg_read_scanlines(cinfo, rows, 1) != 1) break;
      unsigned char *dst = rgb + y * w * 3;
      int inverted = cinfo->saw_Adobe_marker;
      for (size_t x = 0; x < w; x++) {
        unsigned c = cmyk_row[4 * x], m = cmyk_row[4 * x + 1], yy = cmyk_row[4 * x + 2], k = cmyk_row[4 * x + 3];
        if (!inverted) { c = 255 - c; m = 255 - m; yy = 255 - yy; k = 255 - k; }
        dst[3 * x] = (unsigned char)((c * k + 127) / 255);
        dst[3 * x + 1] = (unsigned char)((m * k + 127) / 255);
        dst[3 * x + 2] = (unsigned char)((yy * k + 127) / 255);
      }
    } else {
      /* Straight into the caller's rows, several at a time (libjpeg fills up to
         rec_outbuf_height per call). */
      JSAMPROW rows[16];
      size_t n = h - y < 16 ? h - y : 16;
      for (size_t i = 0; i < n; i++) rows[i] = rgb + (y + i) * w * 3;
      if (jpeg_read_scanlines(cinfo, rows, (JDIMENSION)n) == 0) break;
    }
  }
  if (!decoder->truncated) jpeg_finish_decompress(cinfo);
  if (decoder->truncated) {
    snprintf(errbuf, MF_JPEG_MESSAGE, "%s", decoder->truncated == 1 ? "premature end of JPEG data (truncated file)"
                                            : "a marker inside the compressed data (damaged file)");
    return 2;
  }
  return 0;
}

/* Frees the decoder (and everything libjpeg allocated for it). */
static inline void mf_jpeg_close(mf_jpeg *decoder) {
  if (decoder == NULL) return;
  jpeg_destroy_decompress(&decoder->cinfo);
  free(decoder);
}
