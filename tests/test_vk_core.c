/* The Vulkan core itself: buffers, kernels, command sequences, errors, the
 * pipeline cache on disk. */
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "tc_ops.h"
#include "tc_ref.h"
#include "tc_test.h"

static void test_buffer_roundtrip(tc_context *ctx)
{
  tc_error err = { 0 };
  float src[37], dst[37];
  tc_test_fill(src, 37, -1, 1);
  tc_buffer *b = NULL;
  if (!TC_CHECK_OK(tc_buffer_create_from(ctx, src, sizeof src, &b, &err), &err))
    return;
  TC_CHECK(tc_buffer_size(b) >= sizeof src && tc_buffer_size(b) % 16 == 0, "size %zu", tc_buffer_size(b));
  TC_CHECK_OK(tc_buffer_download(b, 0, dst, sizeof dst, &err), &err);
  TC_CHECK(memcmp(src, dst, sizeof src) == 0, "download differs from upload");
  /* out-of-range copies are refused with a message, not performed */
  TC_CHECK(tc_buffer_upload(b, 100, src, sizeof src, &err) == TC_ERR_INVALID_ARGUMENT, "range check");
  TC_CHECK(strstr(err.message, "exceeds") != NULL, "message: %s", err.message);
  tc_buffer_destroy(b);
  tc_error_clear(&err);
  TC_CHECK(tc_buffer_create(ctx, 0, &b, &err) == TC_ERR_INVALID_ARGUMENT && b == NULL, "zero-size buffer");
}

/* Residual add on an awkward size, recorded once and submitted twice. */
static void test_add(tc_context *ctx)
{
  const uint32_t n = 1000003; /* not a multiple of the workgroup */
  float *a = malloc(n * 4), *b = malloc(n * 4), *y = malloc(n * 4), *want = malloc(n * 4);
  tc_test_fill(a, n, -2, 2);
  tc_test_fill(b, n, -2, 2);
  tc_ref_add(a, b, want, n);
  tc_error err = { 0 };
  tc_buffer *ba = NULL, *bb = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create_from(ctx, a, n * 4, &ba, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, b, n * 4, &bb, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_op_add(cmd, ba, bb, ba, n, &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_run(cmd, &err), &err)) {
    tc_buffer_download(ba, 0, y, n * 4, &err);
    /* exact: one fp32 add either way */
    tc_test_close("add in place", y, want, n, 0, 0);
    /* second submission of the same recording adds b again */
    TC_CHECK_OK(tc_cmd_run(cmd, &err), &err);
    tc_ref_add(want, b, want, n);
    tc_buffer_download(ba, 0, y, n * 4, &err);
    tc_test_close("add resubmitted", y, want, n, 0, 0);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(ba);
  tc_buffer_destroy(bb);
  free(a), free(b), free(y), free(want);
}

static void test_errors(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_kernel *k = NULL;
  tc_kernel_desc d = { .shader = "no_such_shader", .n_bindings = 1 };
  TC_CHECK(tc_kernel_get(ctx, &d, &k, &err) == TC_ERR_INVALID_ARGUMENT && !k, "unknown shader accepted");
  TC_CHECK(strstr(err.message, "no_such_shader") != NULL, "message names the shader: %s", err.message);

  tc_error_clear(&err);
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err)) {
    TC_CHECK(tc_cmd_submit(cmd, &err) == TC_ERR_INVALID_ARGUMENT, "submit of an empty sequence");
    tc_cmd_destroy(cmd);
  }

  tc_error_clear(&err);
  tc_context_options opts;
  tc_context_options_init(&opts);
  opts.device = "no such device name";
  opts.cache_dir = "";
  tc_context *other = NULL;
  TC_CHECK(tc_context_create(&opts, &other, &err) == TC_ERR_NO_DEVICE && !other, "unknown device accepted");
  TC_CHECK(strstr(err.message, "no such device name") != NULL, "message: %s", err.message);
}

/* A context on the pipeline cache in dir (NULL: from the environment) that
 * has built and run one kernel; NULL after recording a failure. */
static tc_context *cache_context(const char *dir)
{
  tc_context_options opts;
  tc_context_options_init(&opts);
  const char *v = getenv("TOKENCLIP_VALIDATE");
  opts.validation = !(v && strcmp(v, "0") == 0);
  opts.cache_dir = dir;
  tc_context *ctx = NULL;
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_context_create(&opts, &ctx, &err), &err))
    return NULL;
  float a[64] = { 1 };
  tc_buffer *b = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create_from(ctx, a, sizeof a, &b, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_op_add(cmd, b, b, b, 64, &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err))
    TC_CHECK_OK(tc_cmd_run(cmd, &err), &err);
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b);
  TC_CHECK(tc_context_validation_messages(ctx) == 0, "validation messages");
  return ctx;
}

/* The one pipelines-*.bin in dir: its path in path (empty if none) and size. */
static long cache_file(const char *dir, char *path, size_t size)
{
  *path = '\0';
  int files = 0;
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));)
    if (strncmp(e->d_name, "pipelines-", 10) == 0 && strstr(e->d_name, ".bin") && !strstr(e->d_name, ".tmp")) {
      snprintf(path, size, "%s/%s", dir, e->d_name);
      files++;
    }
  if (d)
    closedir(d);
  TC_CHECK(files <= 1, "%d cache files in %s", files, dir);
  FILE *f = *path ? fopen(path, "rb") : NULL;
  long n = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (f)
    fclose(f);
  return n;
}

static void overwrite(const char *path, const void *data, size_t n)
{
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(data, 1, n, f) == n;
  ok = f && fclose(f) == 0 && ok;
  TC_CHECK(ok, "cannot write %s", path);
}

/* The pipeline cache goes to the directory asked for, is written when a
 * context ends and read back by the next one; garbage or another device's
 * cache in the file is ignored (and replaced), "" turns it off. */
static void test_pipeline_cache(void)
{
  const char *tmp = getenv("TMPDIR");
  char dir[512], path[1024];
  snprintf(dir, sizeof dir, "%s/tc-pipeline-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    TC_CHECK(0, "mkdtemp %s failed", dir);
    return;
  }
  char sub[600];
  snprintf(sub, sizeof sub, "%s/a/b", dir); /* made on demand */

  tc_context *ctx = cache_context(sub);
  TC_CHECK(ctx && tc_context_pipeline_cache_loaded(ctx) == 0, "a cache loaded from an empty directory");
  if (ctx) /* written on demand, before the end */
    tc_context_save_pipeline_cache(ctx);
  long n = cache_file(sub, path, sizeof path);
  TC_CHECK(n >= 32 && ctx && (long)tc_context_pipeline_cache_loaded(ctx) == n,
           "cache file %s of %ld bytes after tc_context_save_pipeline_cache", path, n);
  tc_context_destroy(ctx);
  TC_CHECK(cache_file(sub, path, sizeof path) == n, "cache file %s changed at the end", path);

  ctx = cache_context(sub);
  size_t loaded = ctx ? tc_context_pipeline_cache_loaded(ctx) : 0;
  TC_CHECK(loaded > 0 && (long)loaded == n, "second context loaded %zu bytes of the %ld-byte file", loaded, n);
  tc_context_destroy(ctx);

  /* garbage of the right length, then another vendor's header */
  unsigned char junk[256];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)(i * 37 + 11);
  overwrite(path, junk, sizeof junk);
  ctx = cache_context(sub);
  TC_CHECK(ctx && tc_context_pipeline_cache_loaded(ctx) == 0, "garbage loaded as a pipeline cache");
  tc_context_destroy(ctx);
  TC_CHECK(cache_file(sub, path, sizeof path) == n, "the garbage was not replaced by a cache");
  FILE *f = fopen(path, "rb");
  unsigned char head[256] = { 0 };
  size_t got = f ? fread(head, 1, sizeof head, f) : 0;
  if (f)
    fclose(f);
  head[8] ^= 0x5a; /* vendorID */
  overwrite(path, head, got);
  ctx = cache_context(sub);
  TC_CHECK(ctx && tc_context_pipeline_cache_loaded(ctx) == 0, "another vendor's cache loaded");
  tc_context_destroy(ctx);

  /* TOKENCLIP_CACHE_DIR relocates it when the option is NULL; "" turns it off */
  char moved[600];
  snprintf(moved, sizeof moved, "%s/moved", dir);
  setenv("TOKENCLIP_CACHE_DIR", moved, 1);
  tc_context_destroy(cache_context(NULL));
  char path2[1024];
  TC_CHECK(cache_file(moved, path2, sizeof path2) > 0, "nothing written to TOKENCLIP_CACHE_DIR=%s", moved);
  setenv("TOKENCLIP_CACHE_DIR", "", 1);
  ctx = cache_context(NULL);
  TC_CHECK(ctx && tc_context_pipeline_cache_loaded(ctx) == 0, "TOKENCLIP_CACHE_DIR=\"\" still loads a cache");
  tc_context_destroy(ctx);
  unsetenv("TOKENCLIP_CACHE_DIR");

  unlink(path), unlink(path2);
  snprintf(path, sizeof path, "%s/a", dir);
  rmdir(sub), rmdir(path), rmdir(moved), rmdir(dir);
}

/* lavapipe's lanes: LP_NATIVE_VECTOR_WIDTH / 32 when it was set at the
 * start, else 16 on a CPU with AVX-512 (the library sets 512 bits), else 8. */
static void test_lavapipe_lanes(tc_context *ctx, const char *lp_width)
{
  if (!strstr(tc_context_device_name(ctx), "llvmpipe"))
    return;
  uint32_t want = 8;
  if (lp_width)
    want = (uint32_t)atoi(lp_width) / 32;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  else if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    want = 16;
#endif
  TC_CHECK(tc_context_subgroup_size(ctx) == want, "%u lanes with LP_NATIVE_VECTOR_WIDTH %s at the start, want %u",
           tc_context_subgroup_size(ctx), lp_width ? lp_width : "unset", want);
  printf("ok lavapipe lanes: %u (LP_NATIVE_VECTOR_WIDTH %s at the start)\n", tc_context_subgroup_size(ctx),
         lp_width ? lp_width : "unset");
}

/* --default-lanes: run without LP_NATIVE_VECTOR_WIDTH, as a user would. */
int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "--default-lanes") == 0)
    unsetenv("LP_NATIVE_VECTOR_WIDTH");
  char *lp_width = getenv("LP_NATIVE_VECTOR_WIDTH") ? strdup(getenv("LP_NATIVE_VECTOR_WIDTH")) : NULL;
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  test_lavapipe_lanes(ctx, lp_width);
  free(lp_width);
  test_buffer_roundtrip(ctx);
  test_add(ctx);
  test_errors(ctx);
  test_pipeline_cache();
  return tc_test_finish(ctx);
}
