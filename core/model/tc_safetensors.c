#include "tc_safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tc_common.h"
#include "tc_json.h"

/* The reference implementation refuses larger headers too: it bounds the
 * memory a hostile file can make us spend on parsing. */
#define ST_MAX_HEADER_BYTES 100000000ull

struct tc_safetensors {
  char *path;
  void *map;
  size_t map_size;
  const unsigned char *data; /* start of the byte buffer, after the header */
  size_t data_size;
  tc_json_doc *json; /* owns every name and metadata string */
  tc_st_tensor *tensors; /* header order */
  size_t count;
  const tc_st_tensor **by_name; /* sorted by name, for lookups */
  const char **meta_keys, **meta_values;
  size_t meta_count;
};

typedef struct dtype_info {
  const char *name;
  size_t size;
  tc_st_dtype dtype;
} dtype_info;

/* Every dtype of the format with a whole number of bytes per element. */
static const dtype_info dtypes[] = {
  { "F32", 4, TC_ST_F32 },       { "F16", 2, TC_ST_F16 },     { "BF16", 2, TC_ST_BF16 },
  { "F64", 8, TC_ST_OTHER },     { "I64", 8, TC_ST_OTHER },   { "I32", 4, TC_ST_OTHER },
  { "I16", 2, TC_ST_OTHER },     { "I8", 1, TC_ST_OTHER },    { "U64", 8, TC_ST_OTHER },
  { "U32", 4, TC_ST_OTHER },     { "U16", 2, TC_ST_OTHER },   { "U8", 1, TC_ST_OTHER },
  { "BOOL", 1, TC_ST_OTHER },    { "F8_E5M2", 1, TC_ST_OTHER }, { "F8_E4M3", 1, TC_ST_OTHER },
  { "F8_E8M0", 1, TC_ST_OTHER }, { "C64", 8, TC_ST_OTHER },
};

static const dtype_info *find_dtype(const char *name)
{
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (strcmp(dtypes[i].name, name) == 0)
      return &dtypes[i];
  return NULL;
}

static size_t dtype_size(tc_st_dtype dtype)
{
  switch (dtype) {
  case TC_ST_F32: return 4;
  case TC_ST_F16:
  case TC_ST_BF16: return 2;
  default: return 0;
  }
}

static const char *dtype_name(tc_st_dtype dtype)
{
  switch (dtype) {
  case TC_ST_F32: return "F32";
  case TC_ST_F16: return "F16";
  case TC_ST_BF16: return "BF16";
  default: return "?";
  }
}

/* "[2, 3]" into buf. */
static const char *format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
  size_t n = 0;
  buf[0] = '\0';
  n += (size_t)snprintf(buf + n, size - n, "[");
  for (int i = 0; i < ndim && n < size; i++) {
    if (shape[i] < 0)
      n += (size_t)snprintf(buf + n, size - n, "%s*", i ? ", " : "");
    else
      n += (size_t)snprintf(buf + n, size - n, "%s%" PRId64, i ? ", " : "", shape[i]);
  }
  if (n < size)
    snprintf(buf + n, size - n, "]");
  return buf;
}

static int compare_by_name(const void *a, const void *b)
{
  const tc_st_tensor *ta = *(const tc_st_tensor *const *)a, *tb = *(const tc_st_tensor *const *)b;
  return strcmp(ta->name, tb->name);
}

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int compare_by_offset(const void *a, const void *b)
{
  const tc_st_tensor *ta = *(const tc_st_tensor *const *)a, *tb = *(const tc_st_tensor *const *)b;
  const unsigned char *pa = ta->data, *pb = tb->data;
  if (pa != pb)
    return pa < pb ? -1 : 1;
  /* empty tensors first, so that one sharing an offset with a full one is no gap */
  return (ta->nbytes > tb->nbytes) - (ta->nbytes < tb->nbytes);
}

/* Reads one non-negative JSON integer. */
static int json_uint(const tc_json_value *v, uint64_t *out)
{
  if (v->type != TC_JSON_NUMBER || !v->is_int || v->int_value < 0)
    return -1;
  *out = (uint64_t)v->int_value;
  return 0;
}

/* Checks one header entry and fills t; data_begin/end are offsets into the buffer. */
static tc_status parse_tensor(tc_safetensors *st, const char *name, const tc_json_value *v, tc_st_tensor *t,
                              tc_error *err)
{
  const char *path = st->path;
  if (v->type != TC_JSON_OBJECT)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': header entry is %s, expected an object", path, name,
                        tc_json_type_name(v->type));
  const tc_json_value *dtype = NULL, *shape = NULL, *offsets = NULL;
  for (size_t k = 0; k < v->count; k++) {
    const tc_json_value **slot = NULL;
    if (strcmp(v->keys[k], "dtype") == 0)
      slot = &dtype;
    else if (strcmp(v->keys[k], "shape") == 0)
      slot = &shape;
    else if (strcmp(v->keys[k], "data_offsets") == 0)
      slot = &offsets;
    else
      return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': unexpected key \"%s\" in its header entry", path,
                          name, v->keys[k]);
    if (*slot)
      return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': key \"%s\" appears twice", path, name, v->keys[k]);
    *slot = &v->items[k];
  }
  if (!dtype || !shape || !offsets)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': header entry lacks \"%s\"", path, name,
                        !dtype ? "dtype" : !shape ? "shape" : "data_offsets");

  t->name = name;
  if (dtype->type != TC_JSON_STRING)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': dtype is %s, expected a string", path, name,
                        tc_json_type_name(dtype->type));
  const dtype_info *info = find_dtype(dtype->string);
  if (!info)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%.32s\"", path, name, dtype->string);
  t->dtype = info->dtype;
  snprintf(t->dtype_name, sizeof t->dtype_name, "%s", info->name);

  if (shape->type != TC_JSON_ARRAY)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': shape is %s, expected an array", path, name,
                        tc_json_type_name(shape->type));
  if (shape->count > TC_ST_MAX_DIMS)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: tensor '%s': %zu dimensions, at most %d are supported", path,
                        name, shape->count, TC_ST_MAX_DIMS);
  t->ndim = (int)shape->count;
  uint64_t numel = 1, nbytes;
  int overflow = 0;
  for (size_t d = 0; d < shape->count; d++) {
    uint64_t dim;
    if (json_uint(&shape->items[d], &dim))
      return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", path,
                          name, d);
    t->shape[d] = (int64_t)dim;
    overflow |= __builtin_mul_overflow(numel, dim, &numel);
  }
  overflow |= __builtin_mul_overflow(numel, (uint64_t)info->size, &nbytes);
  if (overflow || nbytes > SIZE_MAX)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': shape is too large", path, name);

  uint64_t begin, end;
  if (offsets->type != TC_JSON_ARRAY || offsets->count != 2 || json_uint(&offsets->items[0], &begin) ||
      json_uint(&offsets->items[1], &end))
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': data_offsets must be [begin, end], two non-negative "
                        "integers", path, name);
  if (end < begin)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before "
                        "they begin", path, name, begin, end);
  if (end > st->data_size)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] reach past "
                        "the end of the data (%zu bytes; the file is truncated or the header is wrong)", path, name,
                        begin, end, st->data_size);
  if (end - begin != nbytes) {
    char buf[128];
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': shape %s x %s is %" PRIu64 " bytes but data_offsets "
                        "[%" PRIu64 ", %" PRIu64 "] span %" PRIu64, path, name,
                        format_shape(buf, sizeof buf, t->ndim, t->shape), info->name, nbytes, begin, end, end - begin);
  }
  t->numel = (size_t)numel;
  t->nbytes = (size_t)nbytes;
  t->data = st->data + begin;
  return TC_OK;
}

static tc_status parse_metadata(tc_safetensors *st, const tc_json_value *v, tc_error *err)
{
  if (v->type != TC_JSON_OBJECT)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ is %s, expected an object of strings", st->path,
                        tc_json_type_name(v->type));
  st->meta_count = v->count;
  st->meta_keys = v->keys;
  st->meta_values = calloc(v->count ? v->count : 1, sizeof *st->meta_values);
  const char **sorted = malloc((v->count ? v->count : 1) * sizeof *sorted);
  tc_status s = TC_OK;
  if (!st->meta_values || !sorted)
    s = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory reading __metadata__", st->path);
  for (size_t k = 0; k < v->count && s == TC_OK; k++) {
    if (v->items[k].type != TC_JSON_STRING)
      s = tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ \"%s\" is %s, expected a string", st->path, v->keys[k],
                       tc_json_type_name(v->items[k].type));
    else
      st->meta_values[k] = v->items[k].string;
    sorted[k] = v->keys[k];
  }
  if (s == TC_OK) {
    qsort(sorted, v->count, sizeof *sorted, compare_names);
    for (size_t k = 1; k < v->count && s == TC_OK; k++)
      if (strcmp(sorted[k - 1], sorted[k]) == 0)
        s = tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ key \"%s\" appears twice", st->path, sorted[k]);
  }
  free(sorted);
  return s;
}

static tc_status parse_header(tc_safetensors *st, const char *header, size_t len, tc_error *err)
{
  if (len == 0 || header[0] != '{')
    return tc_error_set(err, TC_ERR_FORMAT, "%s: the header does not start with '{' (not a safetensors file?)",
                        st->path);
  tc_status s = tc_json_parse(header, len, &st->json, err);
  if (s != TC_OK) {
    tc_error_prefix(err, "%s: invalid JSON header", st->path);
    return s;
  }
  const tc_json_value *root = tc_json_root(st->json);

  const tc_json_value *metadata = NULL;
  size_t count = 0;
  for (size_t k = 0; k < root->count; k++) {
    if (strcmp(root->keys[k], "__metadata__") == 0) {
      if (metadata)
        return tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ appears twice", st->path);
      metadata = &root->items[k];
    } else {
      count++;
    }
  }
  if (metadata) {
    s = parse_metadata(st, metadata, err);
    if (s != TC_OK)
      return s;
  }

  st->tensors = calloc(count ? count : 1, sizeof *st->tensors);
  st->by_name = calloc(count ? count : 1, sizeof *st->by_name);
  if (!st->tensors || !st->by_name)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu tensors", st->path, count);
  for (size_t k = 0; k < root->count; k++) {
    if (&root->items[k] == metadata)
      continue;
    tc_st_tensor *t = &st->tensors[st->count];
    s = parse_tensor(st, root->keys[k], &root->items[k], t, err);
    if (s != TC_OK)
      return s;
    st->by_name[st->count++] = t;
  }

  qsort(st->by_name, st->count, sizeof *st->by_name, compare_by_name);
  for (size_t i = 1; i < st->count; i++)
    if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0)
      return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", st->path,
                          st->by_name[i]->name);

  /* The format requires the tensors to tile the byte buffer exactly: no
   * overlaps, no holes, nothing after the last one. */
  const tc_st_tensor **by_offset = malloc((count ? count : 1) * sizeof *by_offset);
  if (!by_offset)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", st->path);
  memcpy(by_offset, st->by_name, st->count * sizeof *by_offset);
  qsort(by_offset, st->count, sizeof *by_offset, compare_by_offset);
  size_t expected = 0;
  for (size_t i = 0; i < st->count && s == TC_OK; i++) {
    size_t begin = (size_t)((const unsigned char *)by_offset[i]->data - st->data);
    if (begin != expected)
      s = tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s': data begins at byte %zu of the data but the previous "
                       "tensor ends at %zu (%s)", st->path, by_offset[i]->name, begin, expected,
                       begin < expected ? "overlap" : "hole");
    expected = begin + by_offset[i]->nbytes;
  }
  free(by_offset);
  if (s == TC_OK && expected != st->data_size)
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: the tensors cover %zu bytes of data but the file holds %zu after the "
                     "header", st->path, expected, st->data_size);
  return s;
}

tc_status tc_safetensors_open(const char *path, tc_safetensors **out, tc_error *err)
{
  if (!out)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_safetensors_open: out is NULL");
  *out = NULL;
  if (!path)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_safetensors_open: path is NULL");

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tc_error_set(err, TC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return tc_error_set(err, TC_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return tc_error_set(err, TC_ERR_IO, "%s: not a regular file", path);
  }
  if (sb.st_size == 0) {
    close(fd);
    return tc_error_set(err, TC_ERR_FORMAT, "%s: the file is empty", path);
  }
  if (sb.st_size < 8) {
    close(fd);
    return tc_error_set(err, TC_ERR_FORMAT, "%s: %lld bytes, too short for the 8-byte header length", path,
                        (long long)sb.st_size);
  }
  if ((uint64_t)sb.st_size > SIZE_MAX) {
    close(fd);
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: too large to map", path);
  }

  tc_safetensors *st = calloc(1, sizeof *st);
  if (st)
    st->path = strdup(path);
  if (!st || !st->path) {
    close(fd);
    free(st);
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  st->map_size = (size_t)sb.st_size;
  st->map = mmap(NULL, st->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  close(fd);
  if (st->map == MAP_FAILED) {
    st->map = NULL;
    tc_safetensors_close(st);
    return tc_error_set(err, TC_ERR_IO, "%s: cannot map: %s", path, strerror(map_errno));
  }

  const unsigned char *bytes = st->map;
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | bytes[i];
  tc_status s = TC_OK;
  if (header_len == 0)
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: the header length is 0", path);
  else if (header_len > st->map_size - 8)
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: the header length %" PRIu64 " reaches past the end of the file (%zu "
                     "bytes; truncated or not a safetensors file)", path, header_len, st->map_size);
  else if (header_len > ST_MAX_HEADER_BYTES)
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: the header length %" PRIu64 " exceeds the limit of %llu bytes", path,
                     header_len, ST_MAX_HEADER_BYTES);
  if (s == TC_OK) {
    st->data = bytes + 8 + header_len;
    st->data_size = st->map_size - 8 - (size_t)header_len;
    s = parse_header(st, (const char *)bytes + 8, (size_t)header_len, err);
  }
  if (s != TC_OK) {
    tc_safetensors_close(st);
    return s;
  }
  *out = st;
  return TC_OK;
}

void tc_safetensors_close(tc_safetensors *st)
{
  if (!st)
    return;
  if (st->map)
    munmap(st->map, st->map_size);
  tc_json_free(st->json);
  free(st->tensors);
  free(st->by_name);
  free(st->meta_values);
  free(st->path);
  free(st);
}

const char *tc_safetensors_path(const tc_safetensors *st) { return st->path; }

const void *tc_safetensors_data(const tc_safetensors *st, size_t *size)
{
  if (size)
    *size = st->data_size;
  return st->data;
}

size_t tc_safetensors_count(const tc_safetensors *st) { return st->count; }

const tc_st_tensor *tc_safetensors_at(const tc_safetensors *st, size_t i)
{
  return i < st->count ? &st->tensors[i] : NULL;
}

const tc_st_tensor *tc_safetensors_find(const tc_safetensors *st, const char *name)
{
  size_t lo = 0, hi = st->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(st->by_name[mid]->name, name);
    if (c == 0)
      return st->by_name[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const char *tc_safetensors_metadata(const tc_safetensors *st, const char *key)
{
  for (size_t k = 0; k < st->meta_count; k++)
    if (strcmp(st->meta_keys[k], key) == 0)
      return st->meta_values[k];
  return NULL;
}

size_t tc_safetensors_metadata_count(const tc_safetensors *st) { return st->meta_count; }

const char *tc_safetensors_metadata_at(const tc_safetensors *st, size_t i, const char **value)
{
  if (i >= st->meta_count)
    return NULL;
  if (value)
    *value = st->meta_values[i];
  return st->meta_keys[i];
}

tc_status tc_safetensors_get(const tc_safetensors *st, const char *name, int ndim, const int64_t *shape,
                             const tc_st_tensor **out, tc_error *err)
{
  if (out)
    *out = NULL;
  if (!st || !name || ndim < 0 || ndim > TC_ST_MAX_DIMS || (ndim && !shape))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_safetensors_get: invalid arguments");
  const tc_st_tensor *t = tc_safetensors_find(st, name);
  if (!t)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s' is missing", st->path, name);
  int match = t->ndim == ndim;
  for (int d = 0; match && d < ndim; d++)
    if (shape[d] >= 0 && shape[d] != t->shape[d])
      match = 0;
  if (!match) {
    char found[128], wanted[128];
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s' has shape %s, expected %s", st->path, name,
                        format_shape(found, sizeof found, t->ndim, t->shape),
                        format_shape(wanted, sizeof wanted, ndim, shape));
  }
  if (out)
    *out = t;
  return TC_OK;
}

/* The data pointer may be unaligned (the header length is arbitrary): memcpy. */
tc_status tc_st_tensor_to_f32(const tc_safetensors *st, const tc_st_tensor *t, float *dst, tc_error *err)
{
  if (!st || !t || (!dst && t->numel))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_st_tensor_to_f32: invalid arguments");
  const unsigned char *src = t->data;
  switch (t->dtype) {
  case TC_ST_F32:
    if (t->numel) /* dst may be NULL for an empty tensor */
      memcpy(dst, src, t->numel * 4);
    return TC_OK;
  case TC_ST_F16:
    for (size_t i = 0; i < t->numel; i++) {
      uint16_t h;
      memcpy(&h, src + 2 * i, 2);
      dst[i] = tc_f16_to_f32(h);
    }
    return TC_OK;
  case TC_ST_BF16:
    for (size_t i = 0; i < t->numel; i++) {
      uint16_t b;
      memcpy(&b, src + 2 * i, 2);
      dst[i] = tc_bf16_to_f32(b);
    }
    return TC_OK;
  default:
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be converted to float32 "
                        "(F32, F16 or BF16 expected)", st->path, t->name, t->dtype_name);
  }
}

tc_status tc_st_tensor_to_f16(const tc_safetensors *st, const tc_st_tensor *t, uint16_t *dst, tc_error *err)
{
  if (!st || !t || (!dst && t->numel))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_st_tensor_to_f16: invalid arguments");
  const unsigned char *src = t->data;
  if (t->dtype == TC_ST_F16) {
    if (t->numel)
      memcpy(dst, src, t->numel * 2);
    return TC_OK;
  }
  if (t->dtype != TC_ST_F32 && t->dtype != TC_ST_BF16)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be converted to float16 "
                        "(F32, F16 or BF16 expected)", st->path, t->name, t->dtype_name);
  for (size_t i = 0; i < t->numel; i++) {
    float f;
    if (t->dtype == TC_ST_F32) {
      memcpy(&f, src + 4 * i, 4);
    } else {
      uint16_t b;
      memcpy(&b, src + 2 * i, 2);
      f = tc_bf16_to_f32(b);
    }
    dst[i] = tc_f32_to_f16(f);
    if (isfinite(f) && (dst[i] & 0x7fff) == 0x7c00)
      return tc_error_set(err, TC_ERR_NUMERIC, "%s: tensor '%s': element %zu (%g) overflows float16", st->path,
                          t->name, i, (double)f);
  }
  return TC_OK;
}

/* JSON string with the escapes the format needs; returns bytes written (or needed). */
static size_t json_escape(char *out, const char *s)
{
  size_t n = 0;
  if (out)
    out[n] = '"';
  n++;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char esc[8];
    size_t k;
    if (*c == '"' || *c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*c;
      k = 2;
    } else if (*c < 0x20) {
      k = (size_t)snprintf(esc, sizeof esc, "\\u%04x", *c);
    } else {
      esc[0] = (char)*c;
      k = 1;
    }
    if (out)
      memcpy(out + n, esc, k);
    n += k;
  }
  if (out)
    out[n] = '"';
  return n + 1;
}

/* Appends to a growing buffer; returns -1 when out of memory. */
typedef struct strbuf {
  char *s;
  size_t len, cap;
} strbuf;

static int sb_reserve(strbuf *b, size_t more)
{
  if (b->len + more + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1)
    cap *= 2;
  char *s = realloc(b->s, cap);
  if (!s)
    return -1;
  b->s = s;
  b->cap = cap;
  return 0;
}

__attribute__((format(printf, 2, 3))) static int sb_printf(strbuf *b, const char *fmt, ...)
{
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp || sb_reserve(b, (size_t)n))
    return -1;
  memcpy(b->s + b->len, tmp, (size_t)n + 1);
  b->len += (size_t)n;
  return 0;
}

static int sb_string(strbuf *b, const char *s)
{
  size_t n = json_escape(NULL, s);
  if (sb_reserve(b, n))
    return -1;
  json_escape(b->s + b->len, s);
  b->len += n;
  b->s[b->len] = '\0';
  return 0;
}

tc_status tc_safetensors_write(const char *path, const tc_st_write_tensor *tensors, size_t n,
                               const char *const *metadata_kv, tc_error *err)
{
  if (!path || (n && !tensors))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_safetensors_write: invalid arguments");

  /* Check every tensor before anything is written. */
  size_t *sizes = calloc(n ? n : 1, sizeof *sizes);
  const char **names = calloc(n ? n : 1, sizeof *names);
  strbuf h = { 0 };
  tc_status st = TC_OK;
  if (!sizes || !names) {
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    goto done;
  }
  for (size_t i = 0; i < n && st == TC_OK; i++) {
    const tc_st_write_tensor *t = &tensors[i];
    size_t esize = dtype_size(t->dtype);
    uint64_t bytes = esize;
    if (!t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0)
      st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: tensor %zu has no valid name", path, i);
    else if (!esize)
      st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: tensor '%s': only F32, F16 and BF16 can be written", path,
                        t->name);
    else if (t->ndim < 0 || t->ndim > TC_ST_MAX_DIMS)
      st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: tensor '%s': %d dimensions", path, t->name, t->ndim);
    for (int d = 0; st == TC_OK && d < t->ndim; d++) {
      if (t->shape[d] < 0 || __builtin_mul_overflow(bytes, (uint64_t)t->shape[d], &bytes) || bytes > SIZE_MAX)
        st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: tensor '%s': invalid shape", path, t->name);
    }
    if (st == TC_OK && bytes && !t->data)
      st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: tensor '%s': data is NULL", path, t->name);
    sizes[i] = (size_t)bytes;
    names[i] = t->name;
  }
  if (st != TC_OK)
    goto done;
  qsort(names, n, sizeof *names, compare_names);
  for (size_t i = 1; i < n; i++)
    if (strcmp(names[i - 1], names[i]) == 0) {
      st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: tensor '%s' given twice", path, names[i]);
      goto done;
    }

  int oom = sb_printf(&h, "{");
  if (metadata_kv && metadata_kv[0]) {
    oom |= sb_printf(&h, "\"__metadata__\":{");
    for (size_t k = 0; metadata_kv[k]; k += 2) {
      if (!metadata_kv[k + 1]) {
        st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: metadata key \"%s\" has no value", path, metadata_kv[k]);
        goto done;
      }
      oom |= sb_printf(&h, "%s", k ? "," : "");
      oom |= sb_string(&h, metadata_kv[k]);
      oom |= sb_printf(&h, ":");
      oom |= sb_string(&h, metadata_kv[k + 1]);
    }
    oom |= sb_printf(&h, "}%s", n ? "," : "");
  }
  size_t offset = 0;
  for (size_t i = 0; i < n; i++) {
    const tc_st_write_tensor *t = &tensors[i];
    oom |= sb_printf(&h, "%s", i ? "," : "");
    oom |= sb_string(&h, t->name);
    oom |= sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++)
      oom |= sb_printf(&h, "%s%" PRId64, d ? "," : "", t->shape[d]);
    oom |= sb_printf(&h, "],\"data_offsets\":[%zu,%zu]}", offset, offset + sizes[i]);
    offset += sizes[i];
  }
  oom |= sb_printf(&h, "}");
  /* pad with spaces so the data starts 8-byte aligned, as the reference writer does */
  while (!oom && (8 + h.len) % 8)
    oom |= sb_printf(&h, " ");
  if (oom) {
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory building the header", path);
    goto done;
  }

  FILE *f = fopen(path, "wb");
  if (!f) {
    st = tc_error_set(err, TC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    goto done;
  }
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; i++)
    len_bytes[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
  int ok = fwrite(len_bytes, 1, 8, f) == 8 && fwrite(h.s, 1, h.len, f) == h.len;
  for (size_t i = 0; ok && i < n; i++)
    ok = !sizes[i] || fwrite(tensors[i].data, 1, sizes[i], f) == sizes[i];
  int write_errno = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    write_errno = errno;
  }
  if (!ok) {
    remove(path);
    st = tc_error_set(err, TC_ERR_IO, "%s: write failed: %s", path, strerror(write_errno));
  }

done:
  free(h.s);
  free(sizes);
  free(names);
  return st;
}
