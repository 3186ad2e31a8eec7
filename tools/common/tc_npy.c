#include "tc_npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tc_common.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tc_npy reads and writes little-endian data in place: port it before using a big-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1u << 20) /* NumPy itself refuses far smaller ones by default */

/* ---- the header: a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }        ---- */

typedef struct header_parser {
  const char *s;
  size_t len, pos;
  const char *path;
  tc_error *err;
} header_parser;

static void hp_ws(header_parser *p)
{
  while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
    p->pos++;
}

static tc_status hp_fail(header_parser *p, const char *what)
{
  return tc_error_set(p->err, TC_ERR_FORMAT, "%s: malformed .npy header at byte %zu: %s", p->path, p->pos, what);
}

static int hp_accept(header_parser *p, char c)
{
  hp_ws(p);
  if (p->pos < p->len && p->s[p->pos] == c) {
    p->pos++;
    return 1;
  }
  return 0;
}

/* A quoted string without escapes (all the format uses) into buf. */
static tc_status hp_string(header_parser *p, char *buf, size_t size)
{
  hp_ws(p);
  if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '"'))
    return hp_fail(p, "expected a quoted string");
  char quote = p->s[p->pos++];
  size_t n = 0;
  while (p->pos < p->len && p->s[p->pos] != quote) {
    if (p->s[p->pos] == '\\' || n + 1 >= size)
      return hp_fail(p, "unexpected string");
    buf[n++] = p->s[p->pos++];
  }
  if (p->pos >= p->len)
    return hp_fail(p, "unterminated string");
  p->pos++;
  buf[n] = '\0';
  return TC_OK;
}

static tc_status parse_header(header_parser *p, tc_npy *a, int *fortran)
{
  int have_descr = 0, have_order = 0, have_shape = 0;
  if (!hp_accept(p, '{'))
    return hp_fail(p, "expected '{'");
  for (;;) {
    if (hp_accept(p, '}'))
      break;
    char key[32];
    tc_status s = hp_string(p, key, sizeof key);
    if (s)
      return s;
    if (!hp_accept(p, ':'))
      return hp_fail(p, "expected ':'");
    if (strcmp(key, "descr") == 0 && !have_descr) {
      have_descr = 1;
      if ((s = hp_string(p, a->descr, sizeof a->descr)))
        return s;
    } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
      have_order = 1;
      hp_ws(p);
      if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "True", 4) == 0) {
        *fortran = 1;
        p->pos += 4;
      } else if (p->len - p->pos >= 5 && memcmp(p->s + p->pos, "False", 5) == 0) {
        *fortran = 0;
        p->pos += 5;
      } else {
        return hp_fail(p, "fortran_order must be True or False");
      }
    } else if (strcmp(key, "shape") == 0 && !have_shape) {
      have_shape = 1;
      if (!hp_accept(p, '('))
        return hp_fail(p, "shape must be a tuple");
      a->ndim = 0;
      for (;;) {
        hp_ws(p);
        if (hp_accept(p, ')'))
          break;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
          return hp_fail(p, "shape entries must be non-negative integers");
        if (a->ndim == TC_NPY_MAX_DIMS)
          return tc_error_set(p->err, TC_ERR_UNSUPPORTED, "%s: more than %d dimensions", p->path, TC_NPY_MAX_DIMS);
        uint64_t v = 0;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
          v = v * 10 + (uint64_t)(p->s[p->pos++] - '0');
          if (v > ((uint64_t)1 << 62))
            return hp_fail(p, "shape entry too large");
        }
        if (p->pos < p->len && p->s[p->pos] == 'L') /* Python 2 longs */
          p->pos++;
        a->shape[a->ndim++] = (int64_t)v;
        if (hp_accept(p, ','))
          continue;
        if (hp_accept(p, ')'))
          break;
        return hp_fail(p, "expected ',' or ')' in shape");
      }
      /* "(3)" (never written by NumPy) is taken as (3,) */
    } else {
      char msg[96];
      snprintf(msg, sizeof msg, "unexpected or repeated key '%s'", key);
      return hp_fail(p, msg);
    }
    if (hp_accept(p, ','))
      continue;
    if (hp_accept(p, '}'))
      break;
    return hp_fail(p, "expected ',' or '}'");
  }
  hp_ws(p);
  if (p->pos != p->len)
    return hp_fail(p, "text after the dictionary");
  if (!have_descr || !have_order || !have_shape)
    return tc_error_set(p->err, TC_ERR_FORMAT, "%s: .npy header lacks '%s'", p->path,
                        !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
  return TC_OK;
}

static const char *format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
  size_t n = (size_t)snprintf(buf, size, "(");
  for (int i = 0; i < ndim && n < size; i++) {
    if (shape[i] < 0)
      n += (size_t)snprintf(buf + n, size - n, "%s*", i ? ", " : "");
    else
      n += (size_t)snprintf(buf + n, size - n, "%s%" PRId64, i ? ", " : "", shape[i]);
  }
  if (n < size)
    snprintf(buf + n, size - n, "%s)", ndim == 1 ? "," : "");
  return buf;
}

tc_status tc_npy_read(const char *path, tc_npy *out, tc_error *err)
{
  if (!out)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_npy_read: out is NULL");
  memset(out, 0, sizeof *out);
  if (!path)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_npy_read: path is NULL");
  FILE *f = fopen(path, "rb");
  if (!f)
    return tc_error_set(err, TC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));

  tc_status s = TC_OK;
  char *header = NULL;
  void *raw = NULL;
  tc_npy a;
  memset(&a, 0, sizeof a);
  struct stat sb;
  unsigned char pre[12];
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    s = tc_error_set(err, TC_ERR_IO, "%s: not a readable regular file", path);
    goto done;
  }
  uint64_t file_size = (uint64_t)sb.st_size;
  if (file_size < 10 || fread(pre, 1, 10, f) != 10 || memcmp(pre, NPY_MAGIC, 6) != 0) {
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    goto done;
  }
  int major = pre[6], minor = pre[7];
  uint64_t header_len, offset;
  if (major == 1 && minor == 0) {
    header_len = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    offset = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      s = tc_error_set(err, TC_ERR_FORMAT, "%s: truncated .npy preamble", path);
      goto done;
    }
    header_len = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
    offset = 12;
  } else {
    s = tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: .npy format version %d.%d (1.0, 2.0 or 3.0 expected)", path, major,
                     minor);
    goto done;
  }
  if (header_len > NPY_MAX_HEADER || header_len > file_size - offset) {
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: .npy header length %" PRIu64 " does not fit the file (%" PRIu64
                     " bytes)", path, header_len, file_size);
    goto done;
  }
  header = malloc(header_len ? header_len : 1);
  if (!header) {
    s = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    goto done;
  }
  if (fread(header, 1, header_len, f) != header_len) {
    s = tc_error_set(err, TC_ERR_IO, "%s: read failed", path);
    goto done;
  }
  int fortran = 0;
  header_parser hp = { header, header_len, 0, path, err };
  if ((s = parse_header(&hp, &a, &fortran)))
    goto done;

  size_t item;
  if (strcmp(a.descr, "<f4") == 0)
    item = 4;
  else if (strcmp(a.descr, "<f2") == 0)
    item = 2;
  else if (strcmp(a.descr, "<f8") == 0)
    item = 8;
  else {
    s = tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: dtype '%s' (little-endian float16/32/64 expected: '<f2', '<f4', "
                     "'<f8')", path, a.descr);
    goto done;
  }
  if (fortran) {
    s = tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: Fortran-order array (C order expected; save with "
                     "np.ascontiguousarray)", path);
    goto done;
  }
  uint64_t numel = 1, nbytes;
  int overflow = 0;
  for (int d = 0; d < a.ndim; d++)
    overflow |= __builtin_mul_overflow(numel, (uint64_t)a.shape[d], &numel);
  overflow |= __builtin_mul_overflow(numel, (uint64_t)item, &nbytes);
  if (overflow || numel > SIZE_MAX / sizeof(float)) {
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: shape too large", path);
    goto done;
  }
  uint64_t have = file_size - offset - header_len;
  if (have != nbytes) {
    char buf[160];
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: shape %s of %s needs %" PRIu64 " bytes of data, the file holds %" PRIu64
                     " (%s)", path, format_shape(buf, sizeof buf, a.ndim, a.shape), a.descr, nbytes, have,
                     have < nbytes ? "truncated" : "extra bytes");
    goto done;
  }
  a.numel = (size_t)numel;
  a.data = malloc(a.numel ? a.numel * sizeof(float) : 1);
  raw = item == 4 ? (void *)a.data : malloc(nbytes ? (size_t)nbytes : 1);
  if (!a.data || !raw) {
    s = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu elements", path, a.numel);
    goto done;
  }
  if (nbytes && fread(raw, 1, (size_t)nbytes, f) != nbytes) {
    s = tc_error_set(err, TC_ERR_IO, "%s: read failed", path);
    goto done;
  }
  if (item == 2) {
    const uint16_t *h = raw;
    for (size_t i = 0; i < a.numel; i++)
      a.data[i] = tc_f16_to_f32(h[i]);
  } else if (item == 8) {
    const double *d = raw;
    for (size_t i = 0; i < a.numel; i++)
      a.data[i] = (float)d[i];
  }

done:
  if (raw != (void *)a.data)
    free(raw);
  free(header);
  fclose(f);
  if (s) {
    free(a.data);
    return s;
  }
  *out = a;
  return TC_OK;
}

void tc_npy_free(tc_npy *a)
{
  if (a) {
    free(a->data);
    a->data = NULL;
    a->numel = 0;
  }
}

tc_status tc_npy_check_shape(const tc_npy *a, const char *path, int ndim, const int64_t *shape, tc_error *err)
{
  int match = a->ndim == ndim;
  for (int d = 0; match && d < ndim; d++)
    if (shape[d] >= 0 && shape[d] != a->shape[d])
      match = 0;
  if (match)
    return TC_OK;
  char found[160], wanted[160];
  return tc_error_set(err, TC_ERR_MISMATCH, "%s: array has shape %s, expected %s", path ? path : "(npy)",
                      format_shape(found, sizeof found, a->ndim, a->shape),
                      format_shape(wanted, sizeof wanted, ndim, shape));
}

tc_status tc_npy_write(const char *path, const float *data, int ndim, const int64_t *shape, tc_error *err)
{
  if (!path || ndim < 0 || ndim > TC_NPY_MAX_DIMS || (ndim && !shape))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_npy_write: invalid arguments");
  uint64_t numel = 1;
  for (int d = 0; d < ndim; d++)
    if (shape[d] < 0 || __builtin_mul_overflow(numel, (uint64_t)shape[d], &numel) || numel > SIZE_MAX / 4)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: invalid shape", path);
  if (numel && !data)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: data is NULL", path);

  char dict[512], shape_text[256];
  snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
           format_shape(shape_text, sizeof shape_text, ndim, shape));
  /* pad with spaces and end with '\n' so the data starts 64-byte aligned, as NumPy does */
  size_t dict_len = strlen(dict);
  size_t pre = 10, total = pre + dict_len + 1;
  size_t padded = (total + 63) / 64 * 64;
  size_t header_len = padded - pre;
  char *buf = malloc(padded);
  if (!buf)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  memcpy(buf, NPY_MAGIC, 6);
  buf[6] = 1;
  buf[7] = 0;
  buf[8] = (char)(header_len & 0xff);
  buf[9] = (char)(header_len >> 8);
  memcpy(buf + pre, dict, dict_len);
  memset(buf + pre + dict_len, ' ', header_len - dict_len - 1);
  buf[padded - 1] = '\n';

  FILE *f = fopen(path, "wb");
  if (!f) {
    free(buf);
    return tc_error_set(err, TC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  }
  int ok = fwrite(buf, 1, padded, f) == padded && (!numel || fwrite(data, 4, (size_t)numel, f) == numel);
  int e = errno;
  free(buf);
  if (fclose(f) != 0 && ok) {
    ok = 0;
    e = errno;
  }
  if (!ok) {
    remove(path);
    return tc_error_set(err, TC_ERR_IO, "%s: write failed: %s", path, strerror(e));
  }
  return TC_OK;
}
