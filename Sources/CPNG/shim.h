#include <png.h>

/* png_image formats for the simplified API (the macros combine flags and do not import). */
static inline png_uint_32 mf_png_format_gray(void) { return PNG_FORMAT_GRAY; }
static inline png_uint_32 mf_png_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline png_uint_32 mf_png_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline png_uint_32 mf_png_format_flag_linear(void) { return PNG_FORMAT_FLAG_LINEAR; }
