/* PNG and JPEG decoding of the tools (tokenclip-encode, -infer, -eval). */
#include "fuzz_util.h"
#include "image_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  image_file img;
  if (image_file_read(fuzz_file("picture", data, size), &img, NULL) == TC_OK) {
    if (!img.rgba || !img.width || !img.height || (uint64_t)img.width * img.height > IMAGE_FILE_MAX_PIXELS)
      __builtin_trap();
    volatile uint8_t last = img.rgba[(size_t)img.width * img.height * 4 - 1];
    (void)last;
    image_file_free(&img);
  }
  return 0;
}
