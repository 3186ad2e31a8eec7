/* Status codes and error messages for libtokenclip.
 *
 * Every fallible function returns a tc_status and, when given a tc_error,
 * fills it with a message that names the cause (the file, the tensor, the
 * Vulkan call). Nothing in the library aborts the process. */
#ifndef TC_ERROR_H
#define TC_ERROR_H

#include "tokenclip/tokenclip.h" /* tc_status, tc_error, tc_status_name, tc_error_clear */

#ifdef __cplusplus
extern "C" {
#endif

/* Records status and a printf-style message in err (which may be NULL) and
 * returns status, so callers can write `return tc_error_set(err, ...);`.
 * Does not overwrite an error already set: the first cause is kept. */
tc_status tc_error_set(tc_error *err, tc_status status, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

/* At the top of a public call that returns a tc_status: a NULL pointer
 * argument is TC_ERR_INVALID_ARGUMENT naming the call and the argument. */
#define TC_REQUIRE(ptr, err)                                                                                   \
  do {                                                                                                        \
    if (!(ptr))                                                                                               \
      return tc_error_set((err), TC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", __func__, #ptr);                   \
  } while (0)

/* Prefixes an already set message with context ("loading model.safetensors: ..."). */
void tc_error_prefix(tc_error *err, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif
