/* Image files for the tools (tokenclip-encode, -infer, -eval): PNG (libpng) and JPEG (libjpeg-turbo)
 * decoded to 8-bit RGBA, rows 4 * width bytes apart, as a TC_FRAME_RGBA
 * frame. The format is found from the file's first bytes, not its name.
 *
 * What reaches the model is what PIL's Image.open(path).convert("RGB")
 * gives (AnomalyCLIP's loader): palettes and grey expanded to RGB, 16-bit
 * samples reduced to their high byte (as PIL does for RGB; for 16-bit grey
 * PIL clips instead), alpha and gamma chunks ignored. The
 * fourth byte is alpha (or 255) and is not used downstream. CMYK JPEGs are
 * refused; a truncated file is an error, never a padded picture. */
#ifndef TC_TOOLS_IMAGE_FILE_H
#define TC_TOOLS_IMAGE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "tc_error.h"

/* Largest side accepted, a guard against absurd headers. */
#define IMAGE_FILE_MAX_SIDE 32768
/* Most pixels accepted: PIL's MAX_IMAGE_PIXELS (89,478,485, a 9459 x 9459
 * picture, 358 MB as RGBA). PIL warns above it and refuses twice it as a
 * decompression bomb; here a header that claims more is refused before
 * anything is allocated, so a 200-byte file cannot make us allocate
 * gigabytes. */
#define IMAGE_FILE_MAX_PIXELS 89478485ull

typedef struct image_file {
  uint32_t width, height;
  uint8_t *rgba; /* height rows of 4 * width bytes; free with image_file_free */
  const char *format; /* "PNG" or "JPEG" */
} image_file;

/* Reads path into *out (zeroed on failure); errors name the file. */
tc_status image_file_read(const char *path, image_file *out, tc_error *err);
void image_file_free(image_file *img);

/* Writes width x height RGBA pixels (rows `stride` bytes apart, at least
 * 4 * width) to path as an 8-bit RGB PNG: the fourth byte is dropped. The
 * file is written whole or not at all (a partial one is removed); errors
 * name the file. */
tc_status image_file_write_png(const char *path, const uint8_t *rgba, uint32_t width, uint32_t height,
                               size_t stride, tc_error *err);

#endif
