/* Head files (core/head/tc_head_file.h): what a file holds reaches the
 * head, and every way a file can be wrong is an error naming the file and
 * the tensor. */
#include <stdio.h>
#include <unistd.h>

#include "head/tc_head_file.h"
#include "tc_head_ref.h"
#include "tc_common.h"
#include "tc_safetensors.h"
#include "tc_test.h"

static char dir[256];

static const char *tmp_path(const char *name)
{
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

/* A file with `subspaces` of the given shape and dtype plus extra tensors. */
static void write_file(const char *path, int64_t q, int64_t two, int64_t d, const float *data,
                       const tc_st_write_tensor *extra, size_t n_extra)
{
  tc_st_write_tensor ts[8] = { { .name = "subspaces", .dtype = TC_ST_F32, .ndim = 3, .shape = { q, two, d },
                                 .data = data } };
  for (size_t i = 0; i < n_extra; i++)
    ts[1 + i] = extra[i];
  tc_error err = { 0 };
  TC_CHECK_OK(tc_safetensors_write(path, ts, 1 + n_extra, NULL, &err), &err);
}

/* Raw safetensors bytes, for dtypes the writer does not produce (I64, I32). */
static void write_raw(const char *path, const char *header, const void *data, size_t bytes)
{
  FILE *f = fopen(path, "wb");
  if (!f) {
    TC_CHECK(0, "cannot write %s", path);
    return;
  }
  uint64_t n = strlen(header);
  fwrite(&n, 8, 1, f); /* little-endian on every platform we build for */
  fwrite(header, 1, n, f);
  fwrite(data, 1, bytes, f);
  fclose(f);
}

static void check_round_trip(void)
{
  const uint32_t Q = 3, D = 10;
  float sub[3 * 2 * 10];
  tc_test_fill(sub, 60, -1, 1);
  tc_params want;
  tc_params_init(&want);
  tc_params_set(&want, TC_PARAM_TEMPERATURE, 0.01, NULL);
  tc_params_set(&want, TC_PARAM_SINKHORN_EPS, 0.2, NULL);
  tc_params_set(&want, TC_PARAM_SINKHORN_ITERS, 37, NULL);
  tc_params_set(&want, TC_PARAM_TOPK, 2, NULL);
  tc_params_set(&want, TC_PARAM_IMAGE_BLEND, 0.25, NULL);
  tc_params_set(&want, TC_PARAM_VV_START, 6, NULL);
  tc_params_set(&want, TC_PARAM_RESAMPLE, TC_RESAMPLE_PIL_BICUBIC, NULL);
  tc_params_set(&want, TC_PARAM_GLOBAL_LN_POST, 0, NULL);
  tc_params_set(&want, TC_PARAM_SIGMA, 4, NULL);
  const uint32_t layers[] = { 6, 12, 18, 24 };
  tc_params_set_list(&want, TC_PARAM_FEATURE_LAYERS, layers, 4, NULL);
  tc_params_set(&want, TC_PARAM_ALPHA, 0.25, NULL); /* not one head files hold: not written */
  tc_error err = { 0 };
  for (int half = 0; half < 2; half++) {
    const char *path = tmp_path(half ? "rt16.safetensors" : "rt32.safetensors");
    if (!TC_CHECK_OK(tc_head_file_write(path, sub, Q, D, half, &want, &err), &err))
      continue;
    tc_head_file f;
    tc_params got;
    if (!TC_CHECK_OK(tc_head_file_load(path, D, &f, &got, &err), &err))
      continue;
    TC_CHECK(f.Q == Q && f.D == D, "shape %u x %u", f.Q, f.D);
    float expect[60];
    for (int i = 0; i < 60; i++)
      expect[i] = half ? tc_f16_to_f32(tc_f32_to_f16(sub[i])) : sub[i];
    tc_test_close(half ? "fp16 subspaces" : "fp32 subspaces", f.subspaces, expect, 60, 0, 0);
    /* every default comes back set; alpha was not written: the library's, unset */
    const uint64_t written = want.set & ~(1ull << TC_PARAM_ALPHA);
    uint32_t got_layers[TC_MAX_FEATURE_LAYERS];
    TC_CHECK(got.temperature == want.temperature && got.sinkhorn_eps == want.sinkhorn_eps &&
               got.sinkhorn_iters == 37 && got.topk == 2 && got.image_blend == 0.25f && got.vv_start == 6 &&
               got.resample == TC_RESAMPLE_PIL_BICUBIC && got.global_ln_post == 0 && got.sigma == 4 &&
               got.alpha == 0.5f && got.set == written &&
               tc_params_get_list(&got, TC_PARAM_FEATURE_LAYERS, got_layers, TC_MAX_FEATURE_LAYERS) == 4 &&
               memcmp(got_layers, layers, sizeof layers) == 0,
             "defaults %g %g %u %u %g vv %u, set %#llx", got.temperature, got.sinkhorn_eps, got.sinkhorn_iters,
             got.topk, got.image_blend, got.vv_start, (unsigned long long)got.set);
    tc_head_file_free(&f);
  }
  /* no defaults in the file: params untouched; NULL params fine */
  const char *path = tmp_path("plain.safetensors");
  write_file(path, Q, 2, D, sub, NULL, 0);
  tc_head_file f;
  tc_params p, dflt;
  tc_params_init(&dflt);
  if (TC_CHECK_OK(tc_head_file_load(path, 0, &f, &p, &err), &err))
    TC_CHECK(memcmp(&p, &dflt, sizeof p) == 0, "a file without defaults gives the library's, none set");
  tc_head_file_free(&f);
  if (TC_CHECK_OK(tc_head_file_load(path, 0, &f, NULL, &err), &err))
    TC_CHECK(f.Q == Q, "Q %u", f.Q);
  tc_head_file_free(&f);
  printf("ok head file round trips (fp32, fp16, defaults)\n");
}

/* One-element defaults as exported from PyTorch: integers as I64 / I32. */
static void check_integer_scalars(void)
{
  struct {
    float sub[2 * 2 * 4];
    int64_t topk;
    int32_t iters;
    int32_t layers[2];
  } data;
  tc_test_fill(data.sub, 16, -1, 1);
  data.topk = 1, data.iters = 250, data.layers[0] = 2, data.layers[1] = 4;
  const char *hdr = "{\"subspaces\":{\"dtype\":\"F32\",\"shape\":[2,2,4],\"data_offsets\":[0,64]},"
                    "\"topk\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[64,72]},"
                    "\"sinkhorn_iters\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[72,76]},"
                    "\"feature_layers\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[76,84]}}";
  const char *path = tmp_path("ints.safetensors");
  write_raw(path, hdr, &data, 84);
  tc_head_file f;
  tc_params p;
  tc_error err = { 0 };
  if (TC_CHECK_OK(tc_head_file_load(path, 4, &f, &p, &err), &err))
    TC_CHECK(p.topk == 1 && p.sinkhorn_iters == 250 && f.Q == 2 && p.feature_layers[0] == 2 &&
                 p.feature_layers[1] == 4 && p.feature_layers[2] == 0,
             "topk %u iters %u Q %u layers %u,%u", p.topk, p.sinkhorn_iters, f.Q, p.feature_layers[0],
             p.feature_layers[1]);
  tc_head_file_free(&f);
  /* I64 layers */
  struct {
    float sub[2 * 2 * 4];
    int64_t layers[3];
  } data64;
  memcpy(data64.sub, data.sub, sizeof data64.sub);
  data64.layers[0] = 1, data64.layers[1] = 3, data64.layers[2] = 9;
  hdr = "{\"subspaces\":{\"dtype\":\"F32\",\"shape\":[2,2,4],\"data_offsets\":[0,64]},"
        "\"feature_layers\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[64,88]}}";
  path = tmp_path("ints64.safetensors");
  write_raw(path, hdr, &data64, 88);
  if (TC_CHECK_OK(tc_head_file_load(path, 4, &f, &p, &err), &err))
    TC_CHECK(p.feature_layers[0] == 1 && p.feature_layers[1] == 3 && p.feature_layers[2] == 9,
             "I64 layers %u,%u,%u", p.feature_layers[0], p.feature_layers[1], p.feature_layers[2]);
  tc_head_file_free(&f);
  printf("ok integer defaults (I64, I32, lists)\n");
}

static void expect_error(const char *what, const char *path, uint32_t dim, tc_status want, const char *needle)
{
  tc_head_file f;
  tc_params p;
  tc_params_init(&p);
  tc_params_set(&p, TC_PARAM_TOPK, 3, NULL); /* a marker: an error leaves *defaults alone */
  tc_params before = p;
  tc_error err = { 0 };
  tc_status st = tc_head_file_load(path, dim, &f, &p, &err);
  TC_CHECK(st == want && strstr(err.message, needle) && f.subspaces == NULL && memcmp(&p, &before, sizeof p) == 0,
           "%s: got %s (%s), want %s mentioning \"%s\"", what, tc_status_name(st), err.message,
           tc_status_name(want), needle);
  if (st == want)
    printf("ok %s: %s\n", what, err.message);
  tc_head_file_free(&f);
}

static void check_errors(void)
{
  float sub[4 * 3 * 8];
  tc_test_fill(sub, 96, -1, 1);
  float one = 1, two[2] = { 1, 2 }, zero = 0, frac = 2.5f, five = 5, three = 3;
  float down[2] = { 6, 3 }, nine[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, layer0[2] = { 0, 4 }, big = 5000;
  expect_error("missing file", tmp_path("nope.safetensors"), 0, TC_ERR_IO, "nope.safetensors");
  const char *path = tmp_path("garbage.safetensors");
  write_raw(path, "not json at all", "", 0);
  expect_error("garbage", path, 0, TC_ERR_FORMAT, "garbage.safetensors");

  path = tmp_path("nosub.safetensors");
  tc_st_write_tensor t = { .name = "temperature", .dtype = TC_ST_F32, .ndim = 0, .data = &one };
  tc_error err = { 0 };
  TC_CHECK_OK(tc_safetensors_write(path, &t, 1, NULL, &err), &err);
  expect_error("no subspaces", path, 0, TC_ERR_FORMAT, "subspaces");

  path = tmp_path("shape.safetensors");
  write_file(path, 4, 3, 8, sub, NULL, 0);
  expect_error("[Q, 3, D]", path, 0, TC_ERR_MISMATCH, "[Q, 2, D]");
  path = tmp_path("q0.safetensors");
  write_file(path, 0, 2, 8, sub, NULL, 0);
  expect_error("Q = 0", path, 0, TC_ERR_FORMAT, "Q = 0");
  path = tmp_path("dim.safetensors");
  write_file(path, 4, 2, 8, sub, NULL, 0);
  expect_error("D other than the encoder's", path, 768, TC_ERR_MISMATCH, "768");
  /* more subspaces than the kernels hold: refused at load, naming the file */
  enum { QBIG = TC_MAX_SUBSPACES + 1 };
  static float many[QBIG * 2 * 8];
  tc_test_fill(many, QBIG * 2 * 8, -1, 1);
  path = tmp_path("many.safetensors");
  write_file(path, QBIG, 2, 8, many, NULL, 0);
  expect_error("Q above TC_MAX_SUBSPACES", path, 0, TC_ERR_UNSUPPORTED, "many.safetensors");

  float bad[4 * 2 * 8];
  memcpy(bad, sub, sizeof bad);
  bad[2 * 8 * 2 + 8 + 5] = NAN; /* subspace 2, abnormal */
  path = tmp_path("nan.safetensors");
  write_file(path, 4, 2, 8, bad, NULL, 0);
  expect_error("NaN subspace", path, 0, TC_ERR_NUMERIC, "subspace 2 (abnormal)");
  memcpy(bad, sub, sizeof bad);
  memset(bad + 8, 0, 8 * 4); /* subspace 0, abnormal */
  path = tmp_path("zero.safetensors");
  write_file(path, 4, 2, 8, bad, NULL, 0);
  expect_error("zero subspace", path, 0, TC_ERR_NUMERIC, "all zeros");

  struct {
    const char *name, *needle;
    const float *value;
    int64_t n;
    tc_status st;
  } defaults[] = {
    { "topk", "topk", &five, 1, TC_ERR_FORMAT },                /* k > Q = 4 */
    { "temperature", "temperature", &zero, 1, TC_ERR_FORMAT },
    { "sinkhorn_eps", "sinkhorn_eps", &zero, 1, TC_ERR_FORMAT },
    { "sinkhorn_iters", "sinkhorn_iters", &frac, 1, TC_ERR_FORMAT },
    { "sinkhorn_iters", "one value", two, 2, TC_ERR_MISMATCH },
    { "vv_start", "tensor 'vv_start' is 5000", &big, 1, TC_ERR_FORMAT },
    { "resample", "tensor 'resample' is 3; it must be 0 (bicubic), 1 (bilinear) or 2 (bicubic-pil)", &three, 1,
      TC_ERR_FORMAT },
    { "global_ln_post", "tensor 'global_ln_post'", &frac, 1, TC_ERR_FORMAT },
    { "image_blend", "tensor 'image_blend'", &five, 1, TC_ERR_FORMAT },
    { "sigma", "tensor 'sigma'", &big, 1, TC_ERR_FORMAT },
    { "feature_layers", "tensor 'feature_layers' is [6,3]; it must be 1 to 8 layers", down, 2, TC_ERR_FORMAT },
    { "feature_layers", "tensor 'feature_layers' has 9 values", nine, 9, TC_ERR_FORMAT },
    { "feature_layers", "tensor 'feature_layers' is [0,4]", layer0, 2, TC_ERR_FORMAT },
    { "feature_layers", "tensor 'feature_layers' holds 2.5", &frac, 1, TC_ERR_FORMAT },
  };
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
    char name[64];
    snprintf(name, sizeof name, "default%zu.safetensors", i);
    path = tmp_path(name);
    tc_st_write_tensor x = { .name = defaults[i].name, .dtype = TC_ST_F32, .ndim = 1, .shape = { defaults[i].n },
                             .data = defaults[i].value };
    write_file(path, 4, 2, 8, sub, &x, 1);
    char what[64];
    snprintf(what, sizeof what, "bad default %s", defaults[i].name);
    expect_error(what, path, 0, defaults[i].st, defaults[i].needle);
  }
}

/* A head made from a file scores like the reference with the file's
 * subspaces and defaults. */
static void check_head_from_file(tc_context *ctx)
{
  const uint32_t Q = 5, D = 32, N = 50;
  float sub[5 * 2 * 32], tokens[51 * 32], want[50], got[50];
  tc_test_fill(sub, sizeof sub / 4, -1, 1);
  for (uint32_t r = 0; r <= N; r++)
    for (uint32_t d = 0; d < D; d++)
      tokens[r * D + d] = sub[(r % (2 * Q)) * D + d] + tc_test_uniform(-1, 1);
  tc_params file_params, loaded, merged;
  tc_params_init(&file_params);
  tc_params_set(&file_params, TC_PARAM_SINKHORN_EPS, 0.1, NULL);
  tc_params_set(&file_params, TC_PARAM_TOPK, 2, NULL);
  tc_params_set(&file_params, TC_PARAM_SINKHORN_ITERS, 300, NULL);
  tc_head_params in, p;
  tc_params_to_head(&file_params, &in);
  const char *path = tmp_path("e2e.safetensors");
  tc_error err = { 0 };
  tc_head_file f = { 0 };
  tc_head *h = NULL;
  tc_buffer *tok = NULL, *scores = NULL;
  tc_cmd *cmd = NULL;
  tc_head_result res, ref;
  if (TC_CHECK_OK(tc_head_file_write(path, sub, Q, D, 0, &file_params, &err), &err) &&
      TC_CHECK_OK(tc_head_file_load(path, D, &f, &loaded, &err), &err) &&
      (tc_params_merge(&loaded, NULL, &merged), tc_params_to_head(&merged, &p), 1) &&
      TC_CHECK_OK(tc_head_ref_run(tokens, N, sub, Q, D, &in, want, &ref, &err), &err) &&
      TC_CHECK_OK(tc_head_create(ctx, f.subspaces, f.Q, f.D, N, &h, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, tokens, sizeof tokens, &tok, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, sizeof got, &scores, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_head_record(h, cmd, tok, scores, &p, &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) && TC_CHECK_OK(tc_head_read_result(h, &res, &err), &err) &&
      TC_CHECK_OK(tc_buffer_download(scores, 0, got, sizeof got, &err), &err)) {
    /* same tolerance as test_head's comparisons */
    tc_test_close("head from a file vs reference", got, want, N, 1e-3, 0);
    TC_CHECK(fabsf(res.global_score - ref.global_score) < 1e-3f, "global %g vs %g", res.global_score,
             ref.global_score);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(tok);
  tc_buffer_destroy(scores);
  tc_head_destroy(h);
  tc_head_file_free(&f);
}

int main(void)
{
  snprintf(dir, sizeof dir, "%s/tc-head-file-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(dir)) {
    fprintf(stderr, "FAIL: cannot create a temporary directory\n");
    return 1;
  }
  tc_test_seed(77);
  check_round_trip();
  check_integer_scalars();
  check_errors();
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  check_head_from_file(ctx);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "note: could not remove %s\n", dir);
  return tc_test_finish(ctx);
}
