/* Status codes and error messages for libtokenclip.
 *
 * Every fallible function returns a tc_status and, when given a tc_error,
 * fills it with a message that names the cause (the file, the tensor, the
 * Vulkan call). Nothing in the library aborts the process. */
#ifndef TC_ERROR_H
#define TC_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tc_status {
  TC_OK = 0,
  TC_ERR_INVALID_ARGUMENT, /* a caller passed something out of range */
  TC_ERR_NO_DEVICE,        /* no (matching) Vulkan device or driver */
  TC_ERR_OUT_OF_MEMORY,    /* host or device memory exhausted */
  TC_ERR_DEVICE_LOST,      /* the device stopped; the context is unusable */
  TC_ERR_VULKAN,           /* any other Vulkan failure */
  TC_ERR_IO,               /* a file could not be opened, mapped or written */
  TC_ERR_FORMAT,           /* a file is malformed (bad header, truncated) */
  TC_ERR_MISMATCH,         /* shapes or dimensions do not agree */
  TC_ERR_NUMERIC,          /* NaN or infinity where finite numbers are required */
  TC_ERR_UNSUPPORTED,      /* valid but not handled (a dtype, a format) */
} tc_status;

#define TC_ERROR_MESSAGE_MAX 512

typedef struct tc_error {
  tc_status status;
  char message[TC_ERROR_MESSAGE_MAX];
} tc_error;

/* Records status and a printf-style message in err (which may be NULL) and
 * returns status, so callers can write `return tc_error_set(err, ...);`.
 * Does not overwrite an error already set: the first cause is kept. */
tc_status tc_error_set(tc_error *err, tc_status status, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

/* Prefixes an already set message with context ("loading model.safetensors: ..."). */
void tc_error_prefix(tc_error *err, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

void tc_error_clear(tc_error *err);

/* A short fixed name for a status ("out of memory"). */
const char *tc_status_name(tc_status status);

#ifdef __cplusplus
}
#endif

#endif
