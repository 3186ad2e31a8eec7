/* safetensors reader and writer: good files round-trip, every kind of bad
 * file is refused with a message naming the file (and the tensor), and
 * random corruption never crashes or hands out memory past the data. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "tc_common.h"
#include "tc_json.h"
#include "tc_safetensors.h"
#include "tc_test.h"
#include "tc_test_files.h"

/* A raw file: 8-byte little-endian length, header text, data bytes. */
static void write_raw(const char *path, uint64_t header_len, const char *header, const void *data, size_t data_len)
{
  size_t hl = strlen(header);
  size_t n = 8 + hl + data_len;
  unsigned char *b = malloc(n);
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(header_len >> (8 * i));
  memcpy(b + 8, header, hl);
  if (data_len)
    memcpy(b + 8 + hl, data, data_len);
  tc_write_bytes(path, b, n);
  free(b);
}

/* A file whose length field matches its header. */
static void write_header(const char *path, const char *header, const void *data, size_t data_len)
{
  write_raw(path, strlen(header), header, data, data_len);
}

/* Opens a file that must be refused; checks the status and that the
 * message names the file and every fragment. */
#define EXPECT_BAD(path, want, ...)                                                     \
  do {                                                                                  \
    tc_error e_ = { 0 };                                                                \
    tc_safetensors *st_ = NULL;                                                         \
    tc_status s_ = tc_safetensors_open((path), &st_, &e_);                              \
    TC_CHECK(st_ == NULL, "a refused file still gave a handle");                       \
    tc_safetensors_close(st_);                                                          \
    TC_CHECK_ERROR(s_, &e_, (want), (path), __VA_ARGS__);                               \
  } while (0)

static void test_round_trip(void)
{
  const char *path = tc_tmp_path("good.safetensors");
  float a[6] = { 1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f };
  /* values exactly representable in each format, so reading back is exact */
  const float halves[5] = { 1.5f, -2.25f, 65504.0f, 5.9604644775390625e-08f /* 2^-24, subnormal */, -0.0f };
  uint16_t b16[5];
  for (int i = 0; i < 5; i++)
    b16[i] = tc_f32_to_f16(halves[i]);
  const float bf_values[4] = { 1.0f, -3.5f, 3.0e38f, 1.0e-30f };
  uint16_t bf[4];
  for (int i = 0; i < 4; i++) {
    uint32_t bits;
    memcpy(&bits, &bf_values[i], 4);
    bf[i] = (uint16_t)(bits >> 16);
  }
  float scalar = 42.0f;
  tc_st_write_tensor w[] = {
    { "layer.a", TC_ST_F32, 2, { 2, 3 }, a },
    { "half \"quoted\"\n", TC_ST_F16, 1, { 5 }, b16 },
    { "bf", TC_ST_BF16, 2, { 2, 2 }, bf },
    { "empty", TC_ST_F32, 2, { 0, 5 }, NULL },
    { "scalar", TC_ST_F32, 0, { 0 }, &scalar },
  };
  const char *meta[] = { "hidden_act", "gelu", "note", "tab\there \"q\" \\", NULL };
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_safetensors_write(path, w, 5, meta, &err), &err))
    return;

  size_t fsize;
  unsigned char *raw = tc_read_bytes(path, &fsize);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | raw[i];
  TC_CHECK((8 + hlen) % 8 == 0, "data starts at %" PRIu64 ", not 8-byte aligned", 8 + hlen);
  TC_CHECK(fsize == 8 + hlen + 24 + 10 + 8 + 0 + 4, "file size %zu", fsize);
  free(raw);

  tc_safetensors *st = NULL;
  if (!TC_CHECK_OK(tc_safetensors_open(path, &st, &err), &err))
    return;
  TC_CHECK(strcmp(tc_safetensors_path(st), path) == 0, "path");
  TC_CHECK(tc_safetensors_count(st) == 5, "count %zu", tc_safetensors_count(st));
  TC_CHECK(strcmp(tc_safetensors_at(st, 0)->name, "layer.a") == 0, "header order kept");
  TC_CHECK(tc_safetensors_at(st, 5) == NULL, "at past the end");
  for (size_t i = 0; i < 5; i++) {
    const tc_st_tensor *t = tc_safetensors_find(st, w[i].name);
    TC_CHECK(t != NULL, "find '%s'", w[i].name);
    if (!t)
      continue;
    TC_CHECK(t->ndim == w[i].ndim, "'%s' ndim %d", t->name, t->ndim);
    for (int d = 0; d < t->ndim; d++)
      TC_CHECK(t->shape[d] == w[i].shape[d], "'%s' shape[%d]", t->name, d);
  }
  TC_CHECK(tc_safetensors_find(st, "missing") == NULL, "find of an absent name");
  TC_CHECK(tc_safetensors_find(st, "layer") == NULL, "find of a prefix");

  const tc_st_tensor *t = tc_safetensors_find(st, "layer.a");
  float got[6];
  if (t && TC_CHECK_OK(tc_st_tensor_to_f32(st, t, got, &err), &err)) {
    TC_CHECK(t->dtype == TC_ST_F32 && strcmp(t->dtype_name, "F32") == 0 && t->numel == 6 && t->nbytes == 24,
             "F32 tensor described wrongly");
    TC_CHECK(memcmp(got, a, sizeof a) == 0, "F32 values differ");
  }
  t = tc_safetensors_find(st, "half \"quoted\"\n");
  if (t && TC_CHECK_OK(tc_st_tensor_to_f32(st, t, got, &err), &err)) {
    TC_CHECK(t->dtype == TC_ST_F16 && strcmp(t->dtype_name, "F16") == 0, "F16 dtype");
    for (int i = 0; i < 5; i++)
      TC_CHECK(got[i] == halves[i] && signbit(got[i]) == signbit(halves[i]), "F16[%d] %g != %g", i, got[i],
               halves[i]);
    uint16_t h[5];
    if (TC_CHECK_OK(tc_st_tensor_to_f16(st, t, h, &err), &err))
      TC_CHECK(memcmp(h, b16, sizeof h) == 0, "F16 -> F16 copies");
  }
  t = tc_safetensors_find(st, "bf");
  if (t && TC_CHECK_OK(tc_st_tensor_to_f32(st, t, got, &err), &err)) {
    TC_CHECK(t->dtype == TC_ST_BF16 && strcmp(t->dtype_name, "BF16") == 0, "BF16 dtype");
    for (int i = 0; i < 4; i++)
      TC_CHECK(fabsf(got[i] - bf_values[i]) <= fabsf(bf_values[i]) * 0x1p-7f, "BF16[%d] %g vs %g", i, got[i],
               bf_values[i]);
    TC_CHECK(got[0] == 1.0f && got[1] == -3.5f, "BF16 exact values");
    /* 3e38 does not fit a half: the error names the tensor */
    uint16_t h[4];
    TC_CHECK_ERROR(tc_st_tensor_to_f16(st, t, h, &err), &err, TC_ERR_NUMERIC, path, "'bf'", "overflows");
  }
  t = tc_safetensors_find(st, "layer.a");
  uint16_t h6[6];
  if (t && TC_CHECK_OK(tc_st_tensor_to_f16(st, t, h6, &err), &err))
    for (int i = 0; i < 6; i++)
      TC_CHECK(h6[i] == tc_f32_to_f16(a[i]), "F32 -> F16 [%d]", i);
  t = tc_safetensors_find(st, "empty");
  TC_CHECK(t && t->numel == 0 && t->nbytes == 0, "empty tensor");
  if (t)
    TC_CHECK_OK(tc_st_tensor_to_f32(st, t, NULL, &err), &err);
  t = tc_safetensors_find(st, "scalar");
  if (t && TC_CHECK_OK(tc_st_tensor_to_f32(st, t, got, &err), &err))
    TC_CHECK(t->ndim == 0 && t->numel == 1 && got[0] == 42.0f, "scalar");

  TC_CHECK(tc_safetensors_metadata(st, "hidden_act") && strcmp(tc_safetensors_metadata(st, "hidden_act"), "gelu") == 0,
           "metadata hidden_act");
  TC_CHECK(tc_safetensors_metadata(st, "note") && strcmp(tc_safetensors_metadata(st, "note"), meta[3]) == 0,
           "metadata with escapes");
  TC_CHECK(tc_safetensors_metadata(st, "absent") == NULL, "absent metadata");
  TC_CHECK(tc_safetensors_metadata_count(st) == 2, "metadata count");
  const char *value = NULL;
  const char *key = tc_safetensors_metadata_at(st, 1, &value);
  TC_CHECK(key && strcmp(key, "note") == 0 && value == tc_safetensors_metadata(st, "note"), "metadata_at");
  TC_CHECK(tc_safetensors_metadata_at(st, 2, NULL) == NULL, "metadata_at past the end");

  size_t dsize;
  const unsigned char *data = tc_safetensors_data(st, &dsize);
  TC_CHECK(dsize == 46 && tc_safetensors_find(st, "layer.a")->data == data, "data buffer");

  /* tc_safetensors_get: right shape, wildcard, wrong shape, missing */
  const tc_st_tensor *g = NULL;
  TC_CHECK_OK(tc_safetensors_get(st, "layer.a", 2, (int64_t[]){ 2, 3 }, &g, &err), &err);
  TC_CHECK(g == tc_safetensors_find(st, "layer.a"), "get returns the tensor");
  TC_CHECK_OK(tc_safetensors_get(st, "layer.a", 2, (int64_t[]){ -1, 3 }, &g, &err), &err);
  TC_CHECK_ERROR(tc_safetensors_get(st, "layer.a", 2, (int64_t[]){ 3, 2 }, &g, &err), &err, TC_ERR_MISMATCH, path,
                 "'layer.a'", "[2, 3]", "[3, 2]");
  TC_CHECK(g == NULL, "get clears out on error");
  TC_CHECK_ERROR(tc_safetensors_get(st, "layer.a", 1, (int64_t[]){ 6 }, &g, &err), &err, TC_ERR_MISMATCH, "[6]");
  TC_CHECK_ERROR(tc_safetensors_get(st, "layer.b", 1, (int64_t[]){ 6 }, &g, &err), &err, TC_ERR_FORMAT, path,
                 "'layer.b'", "missing");
  tc_safetensors_close(st);

  /* writer refusals */
  tc_st_write_tensor dup[] = { { "x", TC_ST_F32, 1, { 1 }, a }, { "x", TC_ST_F32, 1, { 1 }, a } };
  TC_CHECK_ERROR(tc_safetensors_write(tc_tmp_path("dup.safetensors"), dup, 2, NULL, &err), &err,
                 TC_ERR_INVALID_ARGUMENT, "'x'", "twice");
  tc_st_write_tensor other[] = { { "i", TC_ST_OTHER, 1, { 1 }, a } };
  TC_CHECK_ERROR(tc_safetensors_write(tc_tmp_path("other.safetensors"), other, 1, NULL, &err), &err,
                 TC_ERR_INVALID_ARGUMENT, "'i'");
  tc_st_write_tensor null_data[] = { { "n", TC_ST_F32, 1, { 3 }, NULL } };
  TC_CHECK_ERROR(tc_safetensors_write(tc_tmp_path("null.safetensors"), null_data, 1, NULL, &err), &err,
                 TC_ERR_INVALID_ARGUMENT, "'n'", "NULL");
  TC_CHECK_ERROR(tc_safetensors_write(tc_tmp_path("no-such-dir/x.safetensors"), w, 1, NULL, &err), &err, TC_ERR_IO,
                 "no-such-dir/x.safetensors");
  TC_CHECK(access(tc_tmp_path("dup.safetensors"), F_OK) != 0, "a refused write leaves no file");
}

/* Valid files the writer would not produce: odd whitespace, escaped names,
 * an unaligned data section, tensors listed out of offset order. */
static void test_handwritten_good(void)
{
  const char *path = tc_tmp_path("hand.safetensors");
  /* 3 floats for "b" then 2 for "a\u00e9" (a-acute), as raw little-endian bytes */
  float vals[5] = { 1.0f, 2.0f, 3.0f, -4.0f, 5.5f };
  const char *header = " { \"a\\u00e9\" : {\"data_offsets\":[12,20],\"dtype\":\"F32\",\"shape\":[2]},\n"
                       "\t\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                       "\"\\ud83d\\ude00\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[20,28]},"
                       "\"__metadata__\":{}}   ";
  unsigned char data[28] = { 0 };
  memcpy(data, vals, 20);
  /* the JSON must start with '{': leading whitespace is refused like the reference reader does */
  write_header(path, header, data, sizeof data);
  EXPECT_BAD(path, TC_ERR_FORMAT, "does not start with '{'");

  write_header(path, header + 1, data, sizeof data);
  tc_error err = { 0 };
  tc_safetensors *st = NULL;
  if (!TC_CHECK_OK(tc_safetensors_open(path, &st, &err), &err))
    return;
  TC_CHECK(tc_safetensors_count(st) == 3, "count");
  TC_CHECK(tc_safetensors_metadata_count(st) == 0, "empty metadata");
  const tc_st_tensor *t = tc_safetensors_find(st, "a\xc3\xa9");
  float got[3];
  TC_CHECK(t != NULL, "escaped name decoded to UTF-8");
  if (t && TC_CHECK_OK(tc_st_tensor_to_f32(st, t, got, &err), &err))
    TC_CHECK(got[0] == -4.0f && got[1] == 5.5f, "unaligned F32 data read: %g %g", got[0], got[1]);
  TC_CHECK(tc_safetensors_find(st, "\xf0\x9f\x98\x80") != NULL, "surrogate pair decoded");
  t = tc_safetensors_find(st, "\xf0\x9f\x98\x80");
  if (t) {
    TC_CHECK(t->dtype == TC_ST_OTHER && strcmp(t->dtype_name, "I64") == 0 && t->numel == 1, "I64 scalar");
    TC_CHECK_ERROR(tc_st_tensor_to_f32(st, t, got, &err), &err, TC_ERR_UNSUPPORTED, path, "I64",
                   "'\xf0\x9f\x98\x80'");
  }
  tc_safetensors_close(st);
}

static void test_bad_files(void)
{
  const char *path = tc_tmp_path("bad.safetensors");
  unsigned char data[64] = { 0 };

  EXPECT_BAD(tc_tmp_path("does-not-exist.safetensors"), TC_ERR_IO, "does-not-exist.safetensors", "cannot open");
  EXPECT_BAD(tc_tmp_dir, TC_ERR_IO, tc_tmp_dir);

  tc_write_bytes(path, "", 0);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "empty");
  tc_write_bytes(path, "\x10\0\0\0\0", 5);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "too short");
  write_raw(path, 0, "", NULL, 0);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "header length is 0");

  /* truncated header: the length says more than the file holds */
  const char *good = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
  write_raw(path, strlen(good) + 10, good, NULL, 0);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "reaches past the end");
  write_raw(path, strlen(good), "{\"t\":{\"dtype\":\"F32\",", NULL, 0);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "reaches past the end");
  /* absurd lengths */
  write_raw(path, UINT64_MAX, good, data, 24);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "header length");
  write_raw(path, (uint64_t)1 << 62, good, data, 24);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "header length");
  {
    /* within the file but beyond the parser's limit: a sparse 120 MB file */
    const char *big = tc_tmp_path("big.safetensors");
    write_raw(big, 110000000, good, NULL, 0);
    if (truncate(big, 120000000) == 0)
      EXPECT_BAD(big, TC_ERR_FORMAT, big, "exceeds the limit");
    else
      TC_CHECK(0, "could not make the sparse file");
    unlink(big);
  }

  /* truncated data: the last tensor reaches past the end */
  write_header(path, good, data, 23);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "'t'", "reach past the end");
  write_header(path, good, data, 0);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "'t'", "reach past the end");
  /* ... and the complete file is fine, so the checks above are about the length */
  write_header(path, good, data, 24);
  {
    tc_error err = { 0 };
    tc_safetensors *st = NULL;
    TC_CHECK_OK(tc_safetensors_open(path, &st, &err), &err);
    tc_safetensors_close(st);
  }
  /* data beyond the last tensor is refused too (the format forbids unindexed bytes) */
  write_header(path, good, data, 25);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "cover 24 bytes", "25");

  /* bad JSON */
  static const struct {
    const char *header, *fragment;
  } bad_json[] = {
    { "{\"t\":", "expected a value" },
    { "{\"t\":{\"dtype\":\"F32\",}}", "expected a string key" },
    { "{'t':1}", "expected a string key" },
    { "{\"t\" 1}", "expected ':'" },
    { "{\"t\":{\"dtype\":\"F32\" \"shape\":[]}}", "expected ',' or '}'" },
    { "{\"t\":[1,]}", "trailing comma" },
    { "{\"t\":[01]}", "leading zero" },
    { "{\"t\":[1.]}", "no digit after '.'" },
    { "{\"t\":[1e]}", "exponent" },
    { "{\"t\":[-]}", "invalid number" },
    { "{\"t\":tru}", "invalid literal" },
    { "{\"t\":NaN}", "expected a value" },
    { "{\"t\":\"abc}", "unterminated string" },
    { "{\"t\":\"a\tb\"}", "control character" },
    { "{\"t\":\"a\\qb\"}", "invalid escape" },
    { "{\"t\":\"\\u12g4\"}", "\\u escape" },
    { "{\"t\":\"\\ud800\"}", "surrogate" },
    { "{\"t\":\"\\udc00x\"}", "surrogate" },
    { "{\"t\":\"\\u0000\"}", "\\u0000" },
    { "{\"t\":\"\xc3\x28\"}", "invalid UTF-8" },
    { "{\"t\":\"\xed\xa0\x80\"}", "invalid UTF-8" },
    { "{\"t\":\"\xe2\x82\"}", "invalid UTF-8" },
    { "{}}", "after the value" },
    { "{} x", "after the value" },
    { "{/*c*/}", "expected a string key" },
  };
  for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
    write_header(path, bad_json[i].header, NULL, 0);
    EXPECT_BAD(path, TC_ERR_FORMAT, path, "invalid JSON header", bad_json[i].fragment);
  }
  {
    /* deep nesting is refused, not a stack overflow */
    char deep[2100];
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"t\":");
    for (int i = 0; i < 1000; i++)
      deep[n++] = '[';
    for (int i = 0; i < 1000; i++)
      deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    write_header(path, deep, NULL, 0);
    EXPECT_BAD(path, TC_ERR_FORMAT, path, "nesting deeper");
  }
  write_header(path, "[1,2]", NULL, 0);
  EXPECT_BAD(path, TC_ERR_FORMAT, path, "does not start with '{'");

  /* entries that are JSON but not a tensor description */
  static const struct {
    const char *header;
    size_t data;
    tc_status status;
    const char *fragment;
  } bad_entries[] = {
    { "{\"t\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT, "unknown dtype \"F33\"" },
    { "{\"t\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT, "unknown dtype" },
    { "{\"t\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT, "dtype is a number" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20, TC_ERR_FORMAT, "is 24 bytes" },
    { "{\"t\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, TC_ERR_FORMAT, "is 12 bytes" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1000]}}", 4, TC_ERR_FORMAT, "reach past the end" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1000,1004]}}", 4, TC_ERR_FORMAT, "reach past" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, TC_ERR_FORMAT, "end before" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, TC_ERR_FORMAT, "data_offsets must be" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, TC_ERR_FORMAT, "data_offsets must be" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4, TC_ERR_FORMAT, "data_offsets must be" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT, "shape[0]" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT, "shape[0]" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT,
      "shape[0]" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT,
      "too large" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,12]}}", 12, TC_ERR_FORMAT, "shape is a number" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, TC_ERR_UNSUPPORTED,
      "9 dimensions" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, TC_ERR_FORMAT, "lacks \"data_offsets\"" },
    { "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT, "lacks \"dtype\"" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, TC_ERR_FORMAT,
      "unexpected key \"x\"" },
    { "{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT,
      "appears twice" },
    { "{\"t\":[1]}", 0, TC_ERR_FORMAT, "an array, expected an object" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, TC_ERR_FORMAT, "'t' appears twice" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"u\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, TC_ERR_FORMAT, "'u': data begins at byte 4" },
    { "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"u\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, TC_ERR_FORMAT, "'u': data begins at byte 8" },
    { "{\"__metadata__\":{\"k\":1},\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT,
      "__metadata__ \"k\" is a number" },
    { "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, TC_ERR_FORMAT, "\"k\" appears twice" },
    { "{\"__metadata__\":[],\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, TC_ERR_FORMAT,
      "__metadata__ is an array" },
    { "{\"__metadata__\":{},\"__metadata__\":{}}", 0, TC_ERR_FORMAT, "__metadata__ appears twice" },
  };
  for (size_t i = 0; i < sizeof bad_entries / sizeof bad_entries[0]; i++) {
    write_header(path, bad_entries[i].header, data, bad_entries[i].data);
    /* every tensor-level error names the tensor; file-level ones name the file */
    if (strstr(bad_entries[i].fragment, "__metadata__") || strstr(bad_entries[i].fragment, "\"k\"") ||
        strstr(bad_entries[i].fragment, "'u'"))
      EXPECT_BAD(path, bad_entries[i].status, path, bad_entries[i].fragment);
    else
      EXPECT_BAD(path, bad_entries[i].status, path, "'t'", bad_entries[i].fragment);
  }

  /* an empty header object is a valid file with no tensors */
  write_header(path, "{}", NULL, 0);
  tc_error err = { 0 };
  tc_safetensors *st = NULL;
  if (TC_CHECK_OK(tc_safetensors_open(path, &st, &err), &err)) {
    TC_CHECK(tc_safetensors_count(st) == 0 && tc_safetensors_find(st, "t") == NULL, "empty file");
    tc_safetensors_close(st);
  }
}

static uint64_t fuzz_state = 0x243F6A8885A308D3ull;
static uint32_t fuzz_next(void)
{
  fuzz_state = fuzz_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(fuzz_state >> 33);
}

/* Checks everything a successfully opened file hands out stays inside its data. */
static void check_opened(tc_safetensors *st, size_t file_size)
{
  size_t dsize;
  const unsigned char *base = tc_safetensors_data(st, &dsize);
  TC_CHECK(dsize <= file_size - 8, "data size %zu in a %zu-byte file", dsize, file_size);
  for (size_t i = 0; i < tc_safetensors_count(st); i++) {
    const tc_st_tensor *t = tc_safetensors_at(st, i);
    const unsigned char *p = t->data;
    TC_CHECK(p >= base && p + t->nbytes <= base + dsize, "tensor '%s' outside the data", t->name);
    TC_CHECK(tc_safetensors_find(st, t->name) == t, "lookup of '%s'", t->name);
    if (t->dtype != TC_ST_OTHER && t->numel < (1u << 20)) {
      float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);
      tc_error err = { 0 };
      TC_CHECK_OK(tc_st_tensor_to_f32(st, t, f, &err), &err);
      free(f);
    }
  }
}

/* Random corruption of a good file: bytes overwritten (mostly in the
 * header), the length field changed, the file cut short or extended. Every
 * outcome must be a clean open or a clean error naming the file. The same
 * mutated headers go through the JSON parser on exact-size heap buffers, so
 * a sanitizer sees any read past their end. */
static void test_fuzz(int iterations)
{
  const char *good = tc_tmp_path("good.safetensors");
  const char *path = tc_tmp_path("fuzz.safetensors");
  size_t n;
  unsigned char *orig = tc_read_bytes(good, &n);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | orig[i];
  unsigned char *buf = calloc(1, n + 64);
  int opened = 0, refused = 0;
  static const char tokens[] = "{}[]\":,\\0123456789-.eE ntfu";
  for (int it = 0; it < iterations; it++) {
    memcpy(buf, orig, n);
    size_t len = n;
    int mutations = 1 + (int)(fuzz_next() % 4);
    for (int m = 0; m < mutations; m++) {
      uint32_t kind = fuzz_next() % 10;
      size_t at = 8 + fuzz_next() % (size_t)hlen;
      if (kind < 4) /* a JSON-ish character in the header */
        buf[at] = (unsigned char)tokens[fuzz_next() % (sizeof tokens - 1)];
      else if (kind < 6 && len) /* any byte anywhere */
        buf[fuzz_next() % len] = (unsigned char)fuzz_next();
      else if (kind == 6) /* the length field */
        buf[fuzz_next() % 8] = (unsigned char)fuzz_next();
      else if (kind == 7) /* cut short */
        len = fuzz_next() % (len + 1);
      else if (kind == 8 && len + 8 <= n + 64) /* extended */
        len += 1 + fuzz_next() % 8;
      else if (len > 8) { /* a digit changed in the header (shapes, offsets) */
        size_t k = 8 + fuzz_next() % (len - 8 < hlen ? len - 8 : (size_t)hlen);
        if (buf[k] >= '0' && buf[k] <= '9')
          buf[k] = (unsigned char)('0' + fuzz_next() % 10);
      }
    }
    tc_write_bytes(path, buf, len);
    tc_error err = { 0 };
    tc_safetensors *st = NULL;
    tc_status s = tc_safetensors_open(path, &st, &err);
    if (s == TC_OK) {
      opened++;
      TC_CHECK(st != NULL, "OK without a handle");
      check_opened(st, len);
      tc_safetensors_close(st);
    } else {
      refused++;
      TC_CHECK(st == NULL && err.status == s && strstr(err.message, path), "iteration %d: bad error: %s", it,
               err.message);
    }
    /* the header region alone through the parser */
    if (len > 8) {
      size_t hl = len - 8 < hlen ? len - 8 : (size_t)hlen;
      char *h = malloc(hl ? hl : 1);
      memcpy(h, buf + 8, hl);
      tc_json_doc *doc = NULL;
      tc_error jerr = { 0 };
      if (tc_json_parse(h, hl, &doc, &jerr) == TC_OK)
        tc_json_free(doc);
      else
        TC_CHECK(strncmp(jerr.message, "at byte ", 8) == 0, "parser message: %s", jerr.message);
      free(h);
    }
  }
  printf("fuzz: %d iterations, %d opened, %d refused\n", iterations, opened, refused);
  TC_CHECK(refused > iterations / 2, "corruption was mostly not noticed (%d refused)", refused);
  free(buf);
  free(orig);
}

int main(int argc, char **argv)
{
  int iterations = argc > 1 ? atoi(argv[1]) : 3000;
  tc_tmp_init("safetensors");
  test_round_trip();
  test_handwritten_good();
  test_bad_files();
  test_fuzz(iterations);
  tc_tmp_cleanup();
  return tc_test_finish(NULL);
}
