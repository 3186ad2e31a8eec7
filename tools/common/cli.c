/* Command-line values and JSON output shared by the tools (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_is_help(const char *arg)
{
  return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int cli_refused(void (*usage)(FILE *f))
{
  usage(stderr);
  return 2;
}

int cli_float(const char *tool, const char *opt, const char *val, float *out)
{
  char *end;
  errno = 0;
  double v = strtod(val, &end);
  if (*end || end == val || errno) {
    fprintf(stderr, "%s: %s takes a number, not \"%s\"\n", tool, opt, val);
    return -1;
  }
  *out = (float)v;
  return 0;
}

/* 0 and *out when val is a whole number 0..max, else -1 (nothing printed). */
static int whole(const char *val, long long max, uint32_t *out)
{
  char *end;
  errno = 0;
  long long v = strtoll(val, &end, 10);
  if (*end || end == val || errno || v < 0 || v > max)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

int cli_uint(const char *tool, const char *opt, const char *val, uint32_t *out)
{
  if (whole(val, 100000000, out) == 0)
    return 0;
  fprintf(stderr, "%s: %s takes a whole number >= 0, not \"%s\"\n", tool, opt, val);
  return -1;
}

int cli_uint_max(const char *tool, const char *opt, const char *val, uint32_t max, uint32_t *out)
{
  if (whole(val, max, out) == 0)
    return 0;
  fprintf(stderr, "%s: %s takes a whole number 0..%u, not \"%s\"\n", tool, opt, max, val);
  return -1;
}

int cli_param(const char *tool, const char *opt, const char *val, tc_params *p, tc_param id)
{
  char *end;
  errno = 0;
  double v = strtod(val, &end);
  if (*end || end == val || errno) {
    fprintf(stderr, "%s: %s takes a number, not \"%s\"\n", tool, opt, val);
    return -1;
  }
  tc_error err = { 0 };
  if (tc_params_set(p, id, v, &err) != TC_OK) {
    fprintf(stderr, "%s: %s: %s\n", tool, opt, err.message);
    return -1;
  }
  return 0;
}

int cli_param_list(const char *tool, const char *opt, const char *val, tc_params *p, tc_param id)
{
  uint32_t v[TC_MAX_FEATURE_LAYERS + 1];
  uint32_t n = 0;
  const char *s = val;
  while (*s && n <= TC_MAX_FEATURE_LAYERS) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || errno || x < 0 || x > 100000000 || (*end && *end != ','))
      break;
    v[n++] = (uint32_t)x;
    s = *end ? end + 1 : end;
    if (*end && !*s)
      n = 0, s = "x"; /* a trailing comma */
  }
  if (*s || n == 0) {
    fprintf(stderr, "%s: %s takes layers separated by commas (e.g. 6,12,18,24), not \"%s\"\n", tool, opt, val);
    return -1;
  }
  tc_error err = { 0 };
  if (tc_params_set_list(p, id, v, n, &err) != TC_OK) {
    fprintf(stderr, "%s: %s: %s\n", tool, opt, err.message);
    return -1;
  }
  return 0;
}

int cli_kernels(const char *tool, const char *val, tc_kernel_family *out)
{
  if (strcmp(val, "cpu") == 0 || strcmp(val, "gpu") == 0) {
    *out = val[0] == 'c' ? TC_FAMILY_CPU : TC_FAMILY_GPU;
    return 0;
  }
  fprintf(stderr, "%s: --kernels takes cpu or gpu, not \"%s\"\n", tool, val);
  return -1;
}

int cli_resample(const char *tool, const char *val, tc_resample_filter *out)
{
  int f = tc_resample_filter_from_name(val);
  if (f >= 0) {
    *out = (tc_resample_filter)f;
    return 0;
  }
  fprintf(stderr, "%s: --resample takes bicubic, bilinear or bicubic-pil, not \"%s\"\n", tool, val);
  return -1;
}

int cli_precision(const char *tool, const char *val, tc_precision *out)
{
  static const char *const names[] = { "auto", "fp32", "fp16" }; /* tc_precision's order */
  for (int i = 0; i < 3; i++)
    if (strcmp(val, names[i]) == 0) {
      *out = (tc_precision)i;
      return 0;
    }
  fprintf(stderr, "%s: --precision takes auto, fp32 or fp16, not \"%s\"\n", tool, val);
  return -1;
}

int cli_pos_interp(const char *tool, const char *val, tc_interp *out)
{
  int m = tc_interp_from_name(val);
  if (m >= 0) {
    *out = (tc_interp)m;
    return 0;
  }
  fprintf(stderr, "%s: --pos-interp takes bicubic, bicubic-aa or bilinear, not \"%s\"\n", tool, val);
  return -1;
}

void cli_json_string(FILE *f, const char *s, int escape_controls)
{
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch >= 0x20)
      fputc(ch, f);
    else if (escape_controls)
      fprintf(f, "\\u%04x", ch);
  }
  fputc('"', f);
}

void cli_json_member(const char *key, const char *s, const char *end)
{
  printf("  \"%s\": ", key);
  cli_json_string(stdout, s, 0);
  printf("%s\n", end);
}

double cli_now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}
