#include "tc_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

tc_status tc_error_set(tc_error *err, tc_status status, const char *fmt, ...)
{
  if (err && err->status == TC_OK && status != TC_OK) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->status = status;
  }
  return status;
}

void tc_error_prefix(tc_error *err, const char *fmt, ...)
{
  if (!err || err->status == TC_OK)
    return;
  char joined[2 * TC_ERROR_MESSAGE_MAX + 2];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(joined, TC_ERROR_MESSAGE_MAX, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if (n >= TC_ERROR_MESSAGE_MAX)
    n = TC_ERROR_MESSAGE_MAX - 1;
  joined[n++] = ':';
  joined[n++] = ' ';
  memcpy(joined + n, err->message, TC_ERROR_MESSAGE_MAX);
  joined[TC_ERROR_MESSAGE_MAX - 1] = '\0'; /* truncate to fit */
  memcpy(err->message, joined, TC_ERROR_MESSAGE_MAX);
}

void tc_error_clear(tc_error *err)
{
  if (err) {
    err->status = TC_OK;
    err->message[0] = '\0';
  }
}

const char *tc_status_name(tc_status status)
{
  switch (status) {
  case TC_OK: return "ok";
  case TC_ERR_INVALID_ARGUMENT: return "invalid argument";
  case TC_ERR_NO_DEVICE: return "no device";
  case TC_ERR_OUT_OF_MEMORY: return "out of memory";
  case TC_ERR_DEVICE_LOST: return "device lost";
  case TC_ERR_VULKAN: return "Vulkan error";
  case TC_ERR_IO: return "I/O error";
  case TC_ERR_FORMAT: return "malformed file";
  case TC_ERR_MISMATCH: return "shape mismatch";
  case TC_ERR_NUMERIC: return "non-finite value";
  case TC_ERR_UNSUPPORTED: return "unsupported";
  }
  return "unknown status";
}
