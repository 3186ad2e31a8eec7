/* What the fuzz targets share: the parsers read files, so each input is
 * written to a file in a private directory first. */
#ifndef TC_FUZZ_UTIL_H
#define TC_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point every target defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data[0..size) to the file `name` in this process's directory and
 * returns its path (valid until the next call with the same name). */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);

/* The directory of fuzz_file, for targets that read a folder. */
const char *fuzz_dir(void);

/* A NUL-terminated copy of data (malloc'ed; NULs inside end the string). */
char *fuzz_string(const uint8_t *data, size_t size);

#endif
