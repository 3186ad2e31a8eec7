/* CLIP vision weights: naming and configuration detected from real-size
 * and tiny files, every role handed out in the kernels' layout (compared
 * with the arrays tests/torch/clip_fixtures.py wrote), positional-embedding
 * resize wired through, and bad files refused naming the file and tensor.
 * The fixtures are written at build time by clip_fixtures.py --loader-suite. */
#include "tc_npy.h"
#include "tc_clip_vision.h"
#include "tc_test.h"
#include "tc_test_files.h"

#include "clip_vision_fixtures.h"

static const char *fixture_path(const char *file) { return tc_path_join(CLIP_FIXTURES_DIR, file); }

static tc_st_dtype dtype_of(const char *name)
{
  return strcmp(name, "f16") == 0 ? TC_ST_F16 : strcmp(name, "bf16") == 0 ? TC_ST_BF16 : TC_ST_F32;
}

static void check_config(const clip_fixture *f, const tc_clip_vision *cv)
{
  const tc_clip_vision_config *c = tc_clip_vision_get_config(cv);
  TC_CHECK(tc_clip_vision_naming(cv) == f->naming, "%s: naming %d", f->file, (int)tc_clip_vision_naming(cv));
  TC_CHECK(strcmp(tc_clip_vision_prefix(cv), f->prefix) == 0, "%s: prefix '%s', expected '%s'", f->file,
           tc_clip_vision_prefix(cv), f->prefix);
  TC_CHECK(c->width == f->width && c->layers == f->layers && c->heads == f->heads && c->mlp_dim == f->mlp &&
             c->patch_size == f->patch && c->grid == f->grid && c->image_size == f->image && c->embed_dim == f->embed,
           "%s: config width %d layers %d heads %d mlp %d patch %d grid %d image %d embed %d", f->file, c->width,
           c->layers, c->heads, c->mlp_dim, c->patch_size, c->grid, c->image_size, c->embed_dim);
  TC_CHECK(c->head_dim * c->heads == c->width, "%s: head_dim %d", f->file, c->head_dim);
  TC_CHECK(c->ln_eps == 1e-5f, "%s: eps %g", f->file, (double)c->ln_eps);
  TC_CHECK(c->act == f->act, "%s: activation %d, expected %d", f->file, (int)c->act, (int)f->act);
  for (int r = 0; r < TC_CLIP_ROLE_COUNT; r++)
    TC_CHECK(tc_clip_vision_role_dtype(cv, (tc_clip_role)r, 0) == dtype_of(f->dtype), "%s: %s dtype", f->file,
             tc_clip_role_name((tc_clip_role)r));
}

/* Every role of every layer against the layouts the fixture wrote. */
static void check_layouts(const clip_fixture *f, const tc_clip_vision *cv)
{
  const tc_clip_vision_config *c = tc_clip_vision_get_config(cv);
  int compared = 0;
  for (int r = 0; r < TC_CLIP_ROLE_COUNT; r++) {
    tc_clip_role role = (tc_clip_role)r;
    int layers = tc_clip_role_per_layer(role) ? c->layers : 1;
    for (int l = 0; l < layers; l++) {
      char path[1200];
      if (tc_clip_role_per_layer(role))
        snprintf(path, sizeof path, "%s/%s/%s.%d.npy", CLIP_FIXTURES_DIR, f->layouts, tc_clip_role_name(role), l);
      else
        snprintf(path, sizeof path, "%s/%s/%s.npy", CLIP_FIXTURES_DIR, f->layouts, tc_clip_role_name(role));
      tc_error err = { 0 };
      tc_npy want;
      if (!TC_CHECK_OK(tc_npy_read(path, &want, &err), &err))
        continue;
      int ndim;
      int64_t shape[2];
      tc_clip_vision_role_shape(cv, role, &ndim, shape);
      TC_CHECK_OK(tc_npy_check_shape(&want, path, ndim, shape, &err), &err);
      size_t n = tc_clip_vision_role_numel(cv, role);
      float *got = malloc(n * sizeof *got);
      uint16_t *got16 = malloc(n * sizeof *got16);
      if (n == want.numel && TC_CHECK_OK(tc_clip_vision_get_f32(cv, role, l, got, n, &err), &err)) {
        TC_CHECK(memcmp(got, want.data, n * sizeof *got) == 0, "%s: %s layer %d differs from %s", f->file,
                 tc_clip_role_name(role), l, path);
        compared++;
      }
      if (n == want.numel && TC_CHECK_OK(tc_clip_vision_get_f16(cv, role, l, got16, n, &err), &err)) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
          bad += got16[i] != tc_f32_to_f16(want.data[i]);
        TC_CHECK(bad == 0, "%s: %s layer %d: %zu fp16 values differ", f->file, tc_clip_role_name(role), l, bad);
      }
      free(got);
      free(got16);
      tc_npy_free(&want);
    }
  }
  int expected = TC_CLIP_ROLE_COUNT - 12 + 12 * c->layers;
  TC_CHECK(compared == expected, "%s: %d of %d roles compared", f->file, compared, expected);
  printf("ok %s: %d roles equal to %s\n", f->file, compared, f->layouts);

  /* the names behind the fused and transposed roles */
  const char *names[3] = { 0 };
  int n = tc_clip_vision_role_sources(cv, TC_CLIP_QKV_WEIGHT, c->layers - 1, names);
  if (f->naming == TC_CLIP_NAMING_HF)
    TC_CHECK(n == 3 && strstr(names[0], "q_proj.weight") && strstr(names[1], "k_proj.weight") &&
               strstr(names[2], "v_proj.weight"), "%s: q/k/v sources", f->file);
  else
    TC_CHECK(n == 1 && strstr(names[0], "attn.in_proj_weight"), "%s: in_proj source", f->file);
  n = tc_clip_vision_role_sources(cv, TC_CLIP_PROJ, 0, names);
  TC_CHECK(n == 1 && (strstr(names[0], "visual_projection.weight") || strstr(names[0], "proj")), "%s: proj source",
           f->file);
}

static void check_pos_embed(const clip_fixture *f, const tc_clip_vision *cv)
{
  const tc_clip_vision_config *c = tc_clip_vision_get_config(cv);
  size_t W = (size_t)c->width, stored_n = tc_clip_vision_role_numel(cv, TC_CLIP_POS_EMBED);
  float *stored = malloc(stored_n * sizeof *stored);
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_clip_vision_get_f32(cv, TC_CLIP_POS_EMBED, 0, stored, stored_n, &err), &err)) {
    free(stored);
    return;
  }
  float *native = malloc(stored_n * sizeof *native);
  if (TC_CHECK_OK(tc_clip_vision_pos_embed(cv, c->grid, c->grid, TC_INTERP_BICUBIC, native, stored_n, &err), &err))
    TC_CHECK(memcmp(native, stored, stored_n * sizeof *native) == 0, "%s: the native grid is not a copy", f->file);
  static const int grids[][2] = { { 6, 6 }, { 5, 7 }, { 2, 2 } };
  for (int mode = TC_INTERP_BICUBIC; mode <= TC_INTERP_BILINEAR; mode++) {
    for (size_t g = 0; g < sizeof grids / sizeof grids[0]; g++) {
      int gh = grids[g][0], gw = grids[g][1];
      size_t n = (1 + (size_t)gh * (size_t)gw) * W;
      float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
      if (TC_CHECK_OK(tc_clip_vision_pos_embed(cv, gh, gw, (tc_interp)mode, got, n, &err), &err) &&
          TC_CHECK_OK(tc_pos_embed_resize(stored, c->grid, c->grid, want, gh, gw, W, (tc_interp)mode, &err), &err)) {
        TC_CHECK(memcmp(got, want, n * sizeof *got) == 0, "%s: %dx%d %s resize differs", f->file, gh, gw,
                 tc_interp_name((tc_interp)mode));
        TC_CHECK(memcmp(got, stored, W * sizeof *got) == 0, "%s: class row changed", f->file);
      }
      free(got);
      free(want);
    }
  }
  TC_CHECK_ERROR(tc_clip_vision_pos_embed(cv, 6, 6, TC_INTERP_BILINEAR, native, stored_n, &err), &err,
                 TC_ERR_INVALID_ARGUMENT, "needs");
  free(native);
  free(stored);
}

static void test_fixtures(void)
{
  for (size_t i = 0; i < sizeof clip_fixtures / sizeof clip_fixtures[0]; i++) {
    const clip_fixture *f = &clip_fixtures[i];
    tc_error err = { 0 };
    tc_clip_vision *cv = NULL;
    if (!TC_CHECK_OK(tc_clip_vision_open(fixture_path(f->file), NULL, &cv, &err), &err))
      continue;
    check_config(f, cv);
    if (f->layouts) {
      check_layouts(f, cv);
      check_pos_embed(f, cv);
    } else {
      /* full-size shape-only files read as zeros: fetch the largest role */
      size_t n = tc_clip_vision_role_numel(cv, TC_CLIP_MLP_FC_WEIGHT);
      float *w = malloc(n * sizeof *w);
      if (TC_CHECK_OK(tc_clip_vision_get_f32(cv, TC_CLIP_MLP_FC_WEIGHT, f->layers - 1, w, n, &err), &err)) {
        size_t nonzero = 0;
        for (size_t k = 0; k < n; k++)
          nonzero += w[k] != 0.0f;
        TC_CHECK(nonzero == 0, "%s: a shape-only file gave %zu nonzero values", f->file, nonzero);
      }
      free(w);
      printf("ok %s: %s naming, width %d, %d layers, %d heads, patch %d, grid %d (%d px), embed %d\n", f->file,
             f->naming == TC_CLIP_NAMING_HF ? "HF" : "open_clip", f->width, f->layers, f->heads, f->patch, f->grid,
             f->image, f->embed);
    }
    tc_clip_vision_close(cv);
  }
}

static void test_requests(void)
{
  const char *path = fixture_path("tiny-openclip-f32.safetensors");
  tc_error err = { 0 };
  tc_clip_vision *cv = NULL;
  if (!TC_CHECK_OK(tc_clip_vision_open(path, NULL, &cv, &err), &err))
    return;
  const tc_clip_vision_config *c = tc_clip_vision_get_config(cv);
  size_t n = tc_clip_vision_role_numel(cv, TC_CLIP_QKV_WEIGHT);
  TC_CHECK(n == 3 * (size_t)c->width * (size_t)c->width, "qkv numel %zu", n);
  float *buf = malloc(n * sizeof *buf);
  TC_CHECK_ERROR(tc_clip_vision_get_f32(cv, TC_CLIP_QKV_WEIGHT, c->layers, buf, n, &err), &err,
                 TC_ERR_INVALID_ARGUMENT, "layer");
  TC_CHECK_ERROR(tc_clip_vision_get_f32(cv, TC_CLIP_QKV_WEIGHT, -1, buf, n, &err), &err, TC_ERR_INVALID_ARGUMENT,
                 "layer");
  TC_CHECK_ERROR(tc_clip_vision_get_f32(cv, TC_CLIP_PROJ, 1, buf, n, &err), &err, TC_ERR_INVALID_ARGUMENT, "layer 0");
  TC_CHECK_ERROR(tc_clip_vision_get_f32(cv, TC_CLIP_QKV_WEIGHT, 0, buf, n - 1, &err), &err, TC_ERR_INVALID_ARGUMENT,
                 "qkv_weight", "needs");
  TC_CHECK_ERROR(tc_clip_vision_get_f16(cv, TC_CLIP_ROLE_COUNT, 0, (uint16_t *)buf, n, &err), &err,
                 TC_ERR_INVALID_ARGUMENT, "no role");
  TC_CHECK(strcmp(tc_clip_vision_path(cv), path) == 0, "path");
  TC_CHECK(tc_safetensors_metadata(tc_clip_vision_file(cv), "format") != NULL, "the file is reachable");
  free(buf);
  tc_clip_vision_close(cv);

  /* the caller's choices win over the file */
  tc_clip_vision_options opts = { .act = TC_ACT_GELU, .heads = 4 };
  if (TC_CHECK_OK(tc_clip_vision_open(path, &opts, &cv, &err), &err)) {
    TC_CHECK(tc_clip_vision_get_config(cv)->act == TC_ACT_GELU, "act override");
    TC_CHECK(tc_clip_vision_get_config(cv)->heads == 4 && tc_clip_vision_get_config(cv)->head_dim == 32,
             "heads override");
    tc_clip_vision_close(cv);
  }
  opts = (tc_clip_vision_options){ .act = TC_ACT_QUICK_GELU };
  if (TC_CHECK_OK(tc_clip_vision_open(fixture_path("tiny-hf-full-gelu.safetensors"), &opts, &cv, &err), &err)) {
    TC_CHECK(tc_clip_vision_get_config(cv)->act == TC_ACT_QUICK_GELU, "act override beats metadata");
    tc_clip_vision_close(cv);
  }
  opts = (tc_clip_vision_options){ .heads = 3 };
  TC_CHECK_ERROR(tc_clip_vision_open(path, &opts, &cv, &err), &err, TC_ERR_MISMATCH, path, "3 heads");
  TC_CHECK(cv == NULL, "a failed open gives no handle");
}

/* ---- bad files, rewritten from a good one ---- */

typedef struct edit {
  const char *drop;       /* drop tensors whose name starts with this */
  const char *reshape;    /* give this tensor a new shape of the same size */
  int ndim;
  int64_t shape[4];
  const tc_st_write_tensor *add; /* extra tensors */
  size_t n_add;
  const char *const *metadata;
} edit;

static const char *rewrite(const char *src_file, const char *dst_name, const edit *e)
{
  const char *dst = tc_tmp_path(dst_name);
  tc_error err = { 0 };
  tc_safetensors *st = NULL;
  if (!TC_CHECK_OK(tc_safetensors_open(fixture_path(src_file), &st, &err), &err))
    return dst;
  size_t n = tc_safetensors_count(st), k = 0;
  tc_st_write_tensor *w = calloc(n + e->n_add, sizeof *w);
  for (size_t i = 0; i < n; i++) {
    const tc_st_tensor *t = tc_safetensors_at(st, i);
    if (t->dtype == TC_ST_OTHER || (e->drop && strncmp(t->name, e->drop, strlen(e->drop)) == 0))
      continue;
    w[k].name = t->name;
    w[k].dtype = t->dtype;
    w[k].ndim = t->ndim;
    memcpy(w[k].shape, t->shape, sizeof w[k].shape);
    w[k].data = t->data;
    if (e->reshape && strcmp(t->name, e->reshape) == 0) {
      w[k].ndim = e->ndim;
      memcpy(w[k].shape, e->shape, sizeof e->shape);
    }
    k++;
  }
  for (size_t i = 0; i < e->n_add; i++)
    w[k++] = e->add[i];
  TC_CHECK_OK(tc_safetensors_write(dst, w, k, e->metadata, &err), &err);
  free(w);
  tc_safetensors_close(st);
  return dst;
}

#define EXPECT_BAD(path, opts, want, ...)                                         \
  do {                                                                            \
    tc_error e_ = { 0 };                                                          \
    tc_clip_vision *cv_ = NULL;                                                   \
    tc_status s_ = tc_clip_vision_open((path), (opts), &cv_, &e_);                \
    TC_CHECK(cv_ == NULL, "a refused file gave a handle");                       \
    tc_clip_vision_close(cv_);                                                    \
    TC_CHECK_ERROR(s_, &e_, (want), __VA_ARGS__);                                 \
  } while (0)

static const clip_fixture *find_fixture(const char *file)
{
  for (size_t i = 0; i < sizeof clip_fixtures / sizeof clip_fixtures[0]; i++)
    if (strcmp(clip_fixtures[i].file, file) == 0)
      return &clip_fixtures[i];
  return NULL;
}

static void test_bad_files(void)
{
  const char *oc = "tiny-openclip-f32.safetensors", *hf = "tiny-hf-f32.safetensors";
  const clip_fixture *tiny = find_fixture(oc);
  if (!tiny) {
    TC_CHECK(0, "fixture %s not listed", oc);
    return;
  }
  int64_t W = tiny->width, M = tiny->mlp, E = tiny->embed;
  const char *p;

  EXPECT_BAD(tc_tmp_path("nothing-here.safetensors"), NULL, TC_ERR_IO, "nothing-here.safetensors");

  p = rewrite(oc, "missing.safetensors", &(edit){ .drop = "visual.transformer.resblocks.1.ln_2.bias" });
  EXPECT_BAD(p, NULL, TC_ERR_FORMAT, p, "'visual.transformer.resblocks.1.ln_2.bias'", "missing");
  p = rewrite(hf, "missing-k.safetensors", &(edit){ .drop = "vision_model.encoder.layers.2.self_attn.k_proj.bias" });
  EXPECT_BAD(p, NULL, TC_ERR_FORMAT, p, "'vision_model.encoder.layers.2.self_attn.k_proj.bias'", "missing");
  p = rewrite(hf, "missing-proj.safetensors", &(edit){ .drop = "visual_projection.weight" });
  EXPECT_BAD(p, NULL, TC_ERR_FORMAT, p, "'visual_projection.weight'", "missing");
  p = rewrite(oc, "missing-layer.safetensors", &(edit){ .drop = "visual.transformer.resblocks.1." });
  EXPECT_BAD(p, NULL, TC_ERR_FORMAT, p, "'visual.transformer.resblocks.1.ln_1.weight'", "missing");
  p = rewrite(oc, "no-blocks.safetensors", &(edit){ .drop = "visual.transformer." });
  EXPECT_BAD(p, NULL, TC_ERR_FORMAT, p, "no transformer blocks", "visual.transformer.resblocks.0");

  char want_shape[64], found_shape[64];
  snprintf(found_shape, sizeof found_shape, "[%lld, %lld]", (long long)W, (long long)M);
  snprintf(want_shape, sizeof want_shape, "[%lld, %lld]", (long long)M, (long long)W);
  p = rewrite(oc, "fc-transposed.safetensors",
              &(edit){ .reshape = "visual.transformer.resblocks.1.mlp.c_fc.weight", .ndim = 2, .shape = { W, M } });
  EXPECT_BAD(p, NULL, TC_ERR_MISMATCH, p, "'visual.transformer.resblocks.1.mlp.c_fc.weight'", found_shape, want_shape);
  p = rewrite(oc, "proj-hf-layout.safetensors", &(edit){ .reshape = "visual.proj", .ndim = 2, .shape = { E, W } });
  EXPECT_BAD(p, NULL, TC_ERR_MISMATCH, p, "'visual.proj'");
  p = rewrite(hf, "q-flat.safetensors",
              &(edit){ .reshape = "vision_model.encoder.layers.0.self_attn.q_proj.weight", .ndim = 1,
                       .shape = { W * W } });
  EXPECT_BAD(p, NULL, TC_ERR_MISMATCH, p, "'vision_model.encoder.layers.0.self_attn.q_proj.weight'");
  p = rewrite(oc, "conv-rect.safetensors",
              &(edit){ .reshape = "visual.conv1.weight", .ndim = 4, .shape = { W, 3, tiny->patch / 2,
                                                                                tiny->patch * 2 } });
  EXPECT_BAD(p, NULL, TC_ERR_MISMATCH, p, "'visual.conv1.weight'", "square");

  /* a positional embedding that is not 1 + a square grid */
  float *pos = calloc((size_t)(16 * W), sizeof *pos);
  tc_st_write_tensor bad_pos = { "visual.positional_embedding", TC_ST_F32, 2, { 16, W }, pos };
  p = rewrite(oc, "pos-16.safetensors", &(edit){ .drop = "visual.positional_embedding", .add = &bad_pos, .n_add = 1 });
  EXPECT_BAD(p, NULL, TC_ERR_MISMATCH, p, "'visual.positional_embedding'", "16 rows");

  /* no vision tower at all */
  tc_st_write_tensor text[] = { { "text_model.embeddings.token_embedding.weight", TC_ST_F32, 2, { 4, 4 }, pos },
                                { "logit_scale", TC_ST_F32, 0, { 0 }, pos } };
  p = tc_tmp_path("text-only.safetensors");
  tc_error err = { 0 };
  TC_CHECK_OK(tc_safetensors_write(p, text, 2, NULL, &err), &err);
  EXPECT_BAD(p, NULL, TC_ERR_FORMAT, "no CLIP vision weights found in", p,
             "(expected vision_model.* or visual.* tensors)");
  /* a ResNet image tower has a conv1 but no class embedding */
  tc_st_write_tensor resnet[] = { { "visual.conv1.weight", TC_ST_F32, 4, { 4, 3, 3, 3 }, pos },
                                  { "visual.attnpool.positional_embedding", TC_ST_F32, 2, { 5, 8 }, pos } };
  p = tc_tmp_path("resnet.safetensors");
  TC_CHECK_OK(tc_safetensors_write(p, resnet, 2, NULL, &err), &err);
  EXPECT_BAD(p, NULL, TC_ERR_UNSUPPORTED, p, "'visual.conv1.weight'", "not a CLIP ViT");
  /* a width that is not a multiple of 64 needs the number of heads */
  tc_st_write_tensor narrow[] = { { "visual.conv1.weight", TC_ST_F32, 4, { 96, 3, 2, 2 }, pos },
                                  { "visual.class_embedding", TC_ST_F32, 1, { 96 }, pos },
                                  { "visual.positional_embedding", TC_ST_F32, 2, { 5, 96 }, pos } };
  p = tc_tmp_path("narrow.safetensors");
  TC_CHECK_OK(tc_safetensors_write(p, narrow, 3, NULL, &err), &err);
  EXPECT_BAD(p, NULL, TC_ERR_UNSUPPORTED, p, "width 96", "number of heads");
  tc_clip_vision_options three_heads = { .heads = 3 };
  EXPECT_BAD(p, &three_heads, TC_ERR_FORMAT, p, "no transformer blocks"); /* got past the heads */
  /* two towers in one file */
  tc_st_write_tensor second[] = { { "vision_model.embeddings.patch_embedding.weight", TC_ST_F32, 4, { 4, 3, 2, 2 },
                                    pos },
                                  { "vision_model.embeddings.class_embedding", TC_ST_F32, 1, { 4 }, pos } };
  p = rewrite(oc, "two-towers.safetensors", &(edit){ .add = second, .n_add = 2 });
  EXPECT_BAD(p, NULL, TC_ERR_FORMAT, p, "two CLIP vision towers", "visual.conv1.weight",
             "vision_model.embeddings.patch_embedding.weight");
  free(pos);
  /* an integer tensor where weights belong (written by the fixture script) */
  p = fixture_path(CLIP_FIXTURE_INT_TENSOR);
  EXPECT_BAD(p, NULL, TC_ERR_UNSUPPORTED, p, "'visual.ln_post.bias'", "I64");

  /* metadata */
  p = rewrite(oc, "relu.safetensors", &(edit){ .metadata = (const char *const[]){ "hidden_act", "relu", NULL } });
  EXPECT_BAD(p, NULL, TC_ERR_UNSUPPORTED, p, "hidden_act \"relu\"");
  tc_clip_vision_options gelu = { .act = TC_ACT_GELU };
  tc_clip_vision *cv = NULL;
  if (TC_CHECK_OK(tc_clip_vision_open(p, &gelu, &cv, &err), &err)) /* the caller may override it */
    tc_clip_vision_close(cv);
  p = rewrite(oc, "quick-false.safetensors", &(edit){ .metadata = (const char *const[]){ "quick_gelu", "False",
                                                                                          NULL } });
  if (TC_CHECK_OK(tc_clip_vision_open(p, NULL, &cv, &err), &err)) {
    TC_CHECK(tc_clip_vision_get_config(cv)->act == TC_ACT_GELU, "quick_gelu False means GELU");
    tc_clip_vision_close(cv);
  }
  p = rewrite(oc, "heads-meta.safetensors",
              &(edit){ .metadata = (const char *const[]){ "num_attention_heads", "8", NULL } });
  if (TC_CHECK_OK(tc_clip_vision_open(p, NULL, &cv, &err), &err)) {
    TC_CHECK(tc_clip_vision_get_config(cv)->heads == 8 && tc_clip_vision_get_config(cv)->head_dim == W / 8,
             "heads from metadata");
    tc_clip_vision_close(cv);
  }
  p = rewrite(oc, "heads-bad.safetensors",
              &(edit){ .metadata = (const char *const[]){ "num_attention_heads", "eight", NULL } });
  EXPECT_BAD(p, NULL, TC_ERR_FORMAT, p, "num_attention_heads \"eight\"");

  /* bf16 weights that do not fit fp16 are refused by the fp16 getter, naming the tensor */
  uint16_t big[4] = { 0x7f00, 0x3f80, 0x3f80, 0x3f80 }; /* 1.7e38, 1, 1, 1 as bf16 */
  tc_st_write_tensor huge_ln = { "visual.ln_pre.weight", TC_ST_BF16, 1, { W }, NULL };
  uint16_t *ln = malloc((size_t)W * sizeof *ln);
  for (int64_t i = 0; i < W; i++)
    ln[i] = big[i % 4];
  huge_ln.data = ln;
  p = rewrite(oc, "huge-ln.safetensors", &(edit){ .drop = "visual.ln_pre.weight", .add = &huge_ln, .n_add = 1 });
  if (TC_CHECK_OK(tc_clip_vision_open(p, NULL, &cv, &err), &err)) {
    uint16_t *h = malloc((size_t)W * sizeof *h);
    float *f = malloc((size_t)W * sizeof *f);
    TC_CHECK_ERROR(tc_clip_vision_get_f16(cv, TC_CLIP_LN_PRE_WEIGHT, 0, h, (size_t)W, &err), &err, TC_ERR_NUMERIC,
                   "'visual.ln_pre.weight'", "overflows float16");
    if (TC_CHECK_OK(tc_clip_vision_get_f32(cv, TC_CLIP_LN_PRE_WEIGHT, 0, f, (size_t)W, &err), &err))
      TC_CHECK(f[0] > 1e38f && f[1] == 1.0f, "bf16 widened: %g %g", (double)f[0], (double)f[1]);
    free(h);
    free(f);
    tc_clip_vision_close(cv);
  }
  free(ln);
}

int main(void)
{
  tc_tmp_init("clip-vision");
  test_fixtures();
  test_requests();
  test_bad_files();
  tc_tmp_cleanup();
  return tc_test_finish(NULL);
}
