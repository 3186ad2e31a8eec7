/* .npy reader and writer: round trips of every rank, the 64-byte header
 * alignment NumPy uses, and refusals of bad files with messages naming
 * the file. The cross-check with NumPy itself is tests/torch/test_npy.py. */
#include "tc_npy.h"
#include "tc_common.h"
#include "tc_test.h"
#include "tc_test_files.h"

/* A .npy file with the given version, header text and data bytes. */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t n)
{
  size_t dl = strlen(dict), pre = major == 1 ? 10 : 12;
  unsigned char *b = malloc(pre + dl + n + 1);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (unsigned char)major;
  b[7] = 0;
  for (size_t i = 0; i < pre - 8; i++)
    b[8 + i] = (unsigned char)(dl >> (8 * i));
  memcpy(b + pre, dict, dl);
  if (n)
    memcpy(b + pre + dl, data, n);
  tc_write_bytes(path, b, pre + dl + n);
  free(b);
}

static void test_round_trip(void)
{
  static const int64_t shapes[][4] = { { 0 }, { 5 }, { 2, 3 }, { 1, 3, 4, 2 }, { 3, 0 } };
  static const int ndims[] = { 0, 1, 2, 4, 2 };
  const char *path = tc_tmp_path("rt.npy");
  for (size_t c = 0; c < sizeof ndims / sizeof ndims[0]; c++) {
    size_t n = 1;
    for (int d = 0; d < ndims[c]; d++)
      n *= (size_t)shapes[c][d];
    float *x = malloc((n ? n : 1) * sizeof *x);
    tc_test_fill(x, n, -10, 10);
    tc_error err = { 0 };
    if (!TC_CHECK_OK(tc_npy_write(path, x, ndims[c], shapes[c], &err), &err)) {
      free(x);
      continue;
    }
    size_t fsize;
    unsigned char *raw = tc_read_bytes(path, &fsize);
    size_t hl = (size_t)raw[8] | (size_t)raw[9] << 8;
    TC_CHECK((10 + hl) % 64 == 0 && raw[10 + hl - 1] == '\n', "header of case %zu not padded like NumPy's", c);
    TC_CHECK(fsize == 10 + hl + 4 * n, "case %zu: file size %zu", c, fsize);
    free(raw);
    tc_npy a;
    if (TC_CHECK_OK(tc_npy_read(path, &a, &err), &err)) {
      TC_CHECK(a.ndim == ndims[c] && a.numel == n && strcmp(a.descr, "<f4") == 0, "case %zu: ndim %d numel %zu", c,
               a.ndim, a.numel);
      for (int d = 0; d < a.ndim && d < ndims[c]; d++)
        TC_CHECK(a.shape[d] == shapes[c][d], "case %zu: shape[%d]", c, d);
      TC_CHECK(n == 0 || memcmp(a.data, x, n * 4) == 0, "case %zu: values differ", c);
      TC_CHECK_OK(tc_npy_check_shape(&a, path, ndims[c], shapes[c], &err), &err);
      tc_npy_free(&a);
    }
    free(x);
  }
}

static void test_other_dtypes(void)
{
  const char *path = tc_tmp_path("f2.npy");
  uint16_t h[3] = { tc_f32_to_f16(1.5f), tc_f32_to_f16(-0.25f), tc_f32_to_f16(65504.0f) };
  write_npy(path, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }\n", h, sizeof h);
  tc_error err = { 0 };
  tc_npy a;
  if (TC_CHECK_OK(tc_npy_read(path, &a, &err), &err)) {
    TC_CHECK(a.numel == 3 && a.data[0] == 1.5f && a.data[1] == -0.25f && a.data[2] == 65504.0f, "<f2 values");
    TC_CHECK(strcmp(a.descr, "<f2") == 0, "descr %s", a.descr);
    tc_npy_free(&a);
  }
  double d[4] = { 0.1, -1e300, 3.0, 1e-50 };
  /* version 2.0, double quotes, no trailing comma, Python 2 longs */
  write_npy(path, 2, "{\"descr\": \"<f8\", \"shape\": (2L, 2L), \"fortran_order\": False}", d, sizeof d);
  if (TC_CHECK_OK(tc_npy_read(path, &a, &err), &err)) {
    TC_CHECK(a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 2, "<f8 shape");
    TC_CHECK(a.data[0] == (float)0.1 && isinf(a.data[1]) && a.data[1] < 0 && a.data[2] == 3.0f && a.data[3] == 0.0f,
             "<f8 values %g %g %g %g", a.data[0], a.data[1], a.data[2], a.data[3]);
    int64_t want[2] = { 2, 3 };
    TC_CHECK_ERROR(tc_npy_check_shape(&a, path, 2, want, &err), &err, TC_ERR_MISMATCH, path, "(2, 2)", "(2, 3)");
    tc_npy_free(&a);
  }
}

#define EXPECT_BAD(path, want, ...)                                       \
  do {                                                                    \
    tc_error e_ = { 0 };                                                  \
    tc_npy a_;                                                            \
    tc_status s_ = tc_npy_read((path), &a_, &e_);                         \
    TC_CHECK(a_.data == NULL, "a refused file still gave data");         \
    TC_CHECK_ERROR(s_, &e_, (want), (path), __VA_ARGS__);                 \
  } while (0)

static void test_bad_files(void)
{
  const char *path = tc_tmp_path("bad.npy");
  float x[6] = { 0 };
  EXPECT_BAD(tc_tmp_path("missing.npy"), TC_ERR_IO, "missing.npy", "cannot open");
  tc_write_bytes(path, "", 0);
  EXPECT_BAD(path, TC_ERR_FORMAT, "not a .npy file");
  tc_write_bytes(path, "PK\3\4 this is a zip file", 24);
  EXPECT_BAD(path, TC_ERR_FORMAT, "not a .npy file");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", x, 20);
  EXPECT_BAD(path, TC_ERR_FORMAT, "(2, 3)", "needs 24 bytes", "holds 20", "truncated");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", x, 24);
  EXPECT_BAD(path, TC_ERR_FORMAT, "(5,)", "extra bytes");
  write_npy(path, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", x, 24);
  EXPECT_BAD(path, TC_ERR_UNSUPPORTED, "'>f4'");
  write_npy(path, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", x, 24);
  EXPECT_BAD(path, TC_ERR_UNSUPPORTED, "'<i8'");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", x, 24);
  EXPECT_BAD(path, TC_ERR_UNSUPPORTED, "Fortran");
  write_npy(path, 1, "{'descr': '<f4', 'shape': (6,), }", x, 24);
  EXPECT_BAD(path, TC_ERR_FORMAT, "lacks 'fortran_order'");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", x, 24);
  EXPECT_BAD(path, TC_ERR_FORMAT, "'x'");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", x, 24);
  EXPECT_BAD(path, TC_ERR_FORMAT, "non-negative integers");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), } junk", x, 24);
  EXPECT_BAD(path, TC_ERR_FORMAT, "text after");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': maybe, 'shape': (6,), }", x, 24);
  EXPECT_BAD(path, TC_ERR_FORMAT, "True or False");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", x, 4);
  EXPECT_BAD(path, TC_ERR_UNSUPPORTED, "dimensions");
  write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }", x, 4);
  EXPECT_BAD(path, TC_ERR_FORMAT, "too large");
  write_npy(path, 4, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", x, 24);
  EXPECT_BAD(path, TC_ERR_UNSUPPORTED, "version 4.0");
  {
    /* the header length reaches past the end */
    unsigned char b[16] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x7f, '{', '}' };
    tc_write_bytes(path, b, 12);
    EXPECT_BAD(path, TC_ERR_FORMAT, "header length 32767");
  }
  tc_error err = { 0 };
  TC_CHECK_ERROR(tc_npy_write(tc_tmp_path("no-dir/x.npy"), x, 1, (int64_t[]){ 6 }, &err), &err, TC_ERR_IO,
                 "no-dir/x.npy");
  TC_CHECK_ERROR(tc_npy_write(path, x, 1, (int64_t[]){ -1 }, &err), &err, TC_ERR_INVALID_ARGUMENT, "shape");
}

int main(void)
{
  tc_tmp_init("npy");
  tc_test_seed(7);
  test_round_trip();
  test_other_dtypes();
  test_bad_files();
  tc_tmp_cleanup();
  return tc_test_finish(NULL);
}
