/* CLIP ViT image-encoder bench cases: the whole encoder graph (patch
 * embedding to projection, one submission per frame) for ViT-B/16 at 224
 * and ViT-L/14 at 336, with fp32 and fp16 matrix weights on the device.
 *
 * The model is random (weights ~ U(-a, a) with a = sqrt(3 / fan_in), so
 * activations stay O(1) as in a trained network and the attention's
 * data-dependent rescaling behaves as it would) and goes through the same
 * path as a user's file: written as an open_clip-named fp16 safetensors
 * file in $TMPDIR (about 170 MB for B/16, 600 MB for L/14), opened with
 * tc_clip_vision, uploaded by tc_encoder, then removed. With
 * TOKENCLIP_BENCH_MODELS=DIR the file is DIR/encoder-W-L-P-S-E.safetensors
 * instead (width, layers, patch, input size, embed dim), kept, and used
 * again when it is there: tools/bench/torch_bench_encoder.py reads the same
 * files, so that PyTorch runs on the same weights. The input is random in
 * [-2, 2), as a CLIP-normalised picture. flop counts the matrix products
 * (patch embedding, q/k/v, Q Kᵀ, P V, out_proj, MLP, projection). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "detector/tc_detector.h"
#include "tc_encoder.h"

typedef struct encoder_bench {
  int width, layers, patch, image, embed;
  tc_weight_precision weights;
  int input, vv_start; /* input size (0: image, the model's) and the V-V stream's first layer */
  uint32_t batch;       /* frames in one submission (tc_encoder_record_batch); 0 = 1 */
  int precision;       /* -1: weights alone (fp32 sums); else a tc_precision (the precision cases) */
} encoder_bench;

typedef struct encoder_state {
  tc_encoder *enc;
} encoder_state;

static uint64_t rng_state;

static float uniform(float a)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return a * (2.0f * (float)(((rng_state * 0x2545F4914F6CDD1Dull) >> 40) * (1.0 / 16777216.0)) - 1.0f);
}

/* The tensors of one model and the halves behind them. */
typedef struct model_tensors {
  tc_st_write_tensor *t;
  size_t n, cap;
  uint16_t *halves;
  size_t used, total;
  char (*names)[96];
} model_tensors;

/* Appends a tensor of random halves: centre + U(-a, a). */
static void add(model_tensors *m, const char *name, int ndim, const int64_t *shape, float centre, float a)
{
  size_t numel = 1;
  tc_st_write_tensor *t = &m->t[m->n];
  snprintf(m->names[m->n], sizeof m->names[0], "%s", name);
  t->name = m->names[m->n];
  t->dtype = TC_ST_F16;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++)
    numel *= (size_t)(t->shape[i] = shape[i]);
  uint16_t *h = m->halves + m->used;
  for (size_t i = 0; i < numel; i++)
    h[i] = tc_f32_to_f16(centre + uniform(a));
  t->data = h;
  m->used += numel;
  m->n++;
}

/* Writes a random open_clip-named ViT of b's shape to path. */
static tc_status write_model(const encoder_bench *b, const char *path, tc_error *err)
{
  const int64_t W = b->width, p = b->patch, g = b->image / b->patch, M = 4 * W, E = b->embed;
  model_tensors m = { 0 };
  m.cap = 8 + 12 * (size_t)b->layers;
  m.total = (size_t)(W * 3 * p * p + W + (1 + g * g) * W + 4 * W + W * E) +
            (size_t)b->layers * (size_t)(4 * W + 3 * W * W + 3 * W + W * W + W + M * W + M + W * M + W);
  m.t = calloc(m.cap, sizeof *m.t);
  m.names = calloc(m.cap, sizeof *m.names);
  m.halves = malloc(m.total * sizeof *m.halves);
  if (!m.t || !m.names || !m.halves) {
    free(m.t), free(m.names), free(m.halves);
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a random %zu-parameter model", m.total);
  }
  rng_state = 0x9E3779B97F4A7C15ull;
  char name[96];
  add(&m, "visual.conv1.weight", 4, (int64_t[]){ W, 3, p, p }, 0, 1.732f / sqrtf((float)(3 * p * p)));
  add(&m, "visual.class_embedding", 1, (int64_t[]){ W }, 0, 0.5f);
  add(&m, "visual.positional_embedding", 2, (int64_t[]){ 1 + g * g, W }, 0, 0.5f);
  add(&m, "visual.ln_pre.weight", 1, (int64_t[]){ W }, 1, 0.1f);
  add(&m, "visual.ln_pre.bias", 1, (int64_t[]){ W }, 0, 0.1f);
  const float aw = 1.732f / sqrtf((float)W), am = 1.732f / sqrtf((float)M);
  for (int l = 0; l < b->layers; l++) {
#define LAYER(suffix, ndim, centre, a, ...)                                          \
  snprintf(name, sizeof name, "visual.transformer.resblocks.%d.%s", l, suffix);       \
  add(&m, name, ndim, (int64_t[]){ __VA_ARGS__ }, centre, a)
    LAYER("ln_1.weight", 1, 1, 0.1f, W);
    LAYER("ln_1.bias", 1, 0, 0.1f, W);
    LAYER("attn.in_proj_weight", 2, 0, aw, 3 * W, W);
    LAYER("attn.in_proj_bias", 1, 0, 0.1f, 3 * W);
    LAYER("attn.out_proj.weight", 2, 0, aw, W, W);
    LAYER("attn.out_proj.bias", 1, 0, 0.1f, W);
    LAYER("ln_2.weight", 1, 1, 0.1f, W);
    LAYER("ln_2.bias", 1, 0, 0.1f, W);
    LAYER("mlp.c_fc.weight", 2, 0, aw, M, W);
    LAYER("mlp.c_fc.bias", 1, 0, 0.1f, M);
    LAYER("mlp.c_proj.weight", 2, 0, am, W, M);
    LAYER("mlp.c_proj.bias", 1, 0, 0.1f, W);
#undef LAYER
  }
  add(&m, "visual.ln_post.weight", 1, (int64_t[]){ W }, 1, 0.1f);
  add(&m, "visual.ln_post.bias", 1, (int64_t[]){ W }, 0, 0.1f);
  add(&m, "visual.proj", 2, (int64_t[]){ W, E }, 0, aw);
  tc_status st = tc_safetensors_write(path, m.t, m.n, (const char *const[]){ "format", "pt", NULL }, err);
  free(m.t), free(m.names), free(m.halves);
  return st;
}

static tc_status encoder_setup(tc_context *ctx, const void *params, tc_cmd *cmd, void **out, tc_error *err)
{
  const encoder_bench *b = params;
  encoder_state *s = calloc(1, sizeof *s);
  *out = s;
  if (!s)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  const char *dir = getenv("TMPDIR"), *keep = getenv("TOKENCLIP_BENCH_MODELS");
  char path[4096];
  tc_status st = TC_OK;
  if (keep && *keep) {
    snprintf(path, sizeof path, "%s/encoder-%d-%d-%d-%d-%d.safetensors", keep, b->width, b->layers, b->patch,
             b->image, b->embed);
    if (access(path, R_OK) != 0)
      st = write_model(b, path, err);
  } else {
    snprintf(path, sizeof path, "%s/tokenclip-bench-XXXXXX.safetensors", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(path, 12);
    if (fd < 0)
      return tc_error_set(err, TC_ERR_IO, "%s: cannot create the random model", path);
    close(fd);
    st = write_model(b, path, err);
  }
  tc_clip_vision *model = NULL;
  if (st == TC_OK)
    st = tc_clip_vision_open(path, NULL, &model, err);
  if (!(keep && *keep))
    unlink(path); /* the mapping stays valid; nothing is left behind if the bench dies */
  tc_encoder_options opts;
  tc_encoder_options_init(&opts);
  opts.input_size = (uint32_t)(b->input ? b->input : b->image);
  opts.vv_start = (uint32_t)b->vv_start;
  opts.weights = b->weights;
  opts.max_batch = b->batch ? b->batch : 1;
  /* --precision applies to every encoder case; a precision case's own setting wins */
  const int precision = b->precision >= 0 ? b->precision : tc_bench_precision;
  if (precision >= 0)
    tc_precision_to_encoder(ctx, (tc_precision)precision, &opts);
  if (st == TC_OK)
    st = tc_encoder_create(ctx, model, &opts, &s->enc, err);
  tc_clip_vision_close(model);
  if (st != TC_OK)
    return st;
  size_t n = 3 * (size_t)opts.input_size * opts.input_size * opts.max_batch; /* every frame random */
  float *x = malloc(n * sizeof *x);
  if (!x)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  rng_state = 12345;
  for (size_t i = 0; i < n; i++)
    x[i] = uniform(2.0f);
  st = tc_buffer_upload(tc_encoder_input(s->enc), 0, x, n * sizeof *x, err);
  free(x);
  if (st == TC_OK)
    st = tc_encoder_record_batch(s->enc, cmd, opts.max_batch, err);
  return st;
}

static void encoder_teardown(void *state)
{
  encoder_state *s = state;
  if (!s)
    return;
  tc_encoder_destroy(s->enc);
  free(s);
}

/* Matrix-product flop of one frame (the norms, softmax and adds are < 1%). */
#define T(image, patch) (1.0 + ((image) / (patch)) * ((image) / (patch)))
#define ENCODER_FLOP(W, L, patch, image, E)                                                                  \
  (2.0 * (T(image, patch) - 1) * (W) * 3 * (patch) * (patch) +                                              \
   (L) * (2.0 * T(image, patch) * (W) * (12.0 * (W)) + 4.0 * T(image, patch) * T(image, patch) * (W)) +     \
   2.0 * T(image, patch) * (W) * (E))
#define ENCODER(name, what, W, L, patch, image, E, weights)                                               \
  { name, #image "/" #patch, what, ENCODER_FLOP(W, L, patch, image, E), encoder_setup, encoder_teardown, \
    &(const encoder_bench){ W, L, patch, image, E, weights, 0, 0, 1, -1 } }
/* B frames in one submission: flop and frames of all B */
#define ENCODER_B(name, shape, what, W, L, patch, image, E, weights, B)                                     \
  { name, shape, what, (B) * ENCODER_FLOP(W, L, patch, image, E), encoder_setup, encoder_teardown,        \
    &(const encoder_bench){ W, L, patch, image, E, weights, 0, 0, B, -1 } }
/* the same at a precision setting (as the element's `precision`) */
#define ENCODER_P(name, what, W, L, patch, image, E, precision)                                           \
  { name, #image "/" #patch, what, ENCODER_FLOP(W, L, patch, image, E), encoder_setup, encoder_teardown, \
    &(const encoder_bench){ W, L, patch, image, E, TC_WEIGHTS_AS_STORED, 0, 0, 1, precision } }
/* a model of pre-training size `image` run at `input` with the V-V stream from
 * layer vv (AnomalyCLIP's setting); flop as bench_layers.c counts them */
#define VV_FLOP(W, L, patch, S, E, vv)                                                                       \
  (ENCODER_FLOP(W, L, patch, S, E) +                                                                         \
   ((L) + 1 - (vv)) * (4.0 * T(S, patch) * T(S, patch) * (W) + 2.0 * T(S, patch) * (W) * (W)))
#define ENCODER_VV(name, what, W, L, patch, image, input, E, weights, vv)                                  \
  { name, #input "/" #patch, what, VV_FLOP(W, L, patch, input, E, vv), encoder_setup, encoder_teardown,   \
    &(const encoder_bench){ W, L, patch, image, E, weights, input, vv, 1, -1 } }

/* shape: input size / patch size */
const tc_bench_case tc_bench_encoder_cases[] = {
  ENCODER("encoder_f32", "ViT-B/16@224", 768, 12, 16, 224, 512, TC_WEIGHTS_F32),
  ENCODER("encoder_f16", "ViT-B/16@224", 768, 12, 16, 224, 512, TC_WEIGHTS_F16),
  ENCODER("encoder_f32", "ViT-L/14@336", 1024, 24, 14, 336, 768, TC_WEIGHTS_F32),
  ENCODER("encoder_f16", "ViT-L/14@336", 1024, 24, 14, 336, 768, TC_WEIGHTS_F16),
  ENCODER_VV("encoder_f16", "ViT-L/14@518 V-V from 6", 1024, 24, 14, 336, 518, 768, TC_WEIGHTS_F16, 6),
  /* batch 1 against 8 frames in one submission (issue 13: 8 at least 4x the throughput of 1) */
  ENCODER_B("encoder_f16", "224/16x8", "ViT-B/16@224, 8 frames", 768, 12, 16, 224, 512, TC_WEIGHTS_F16, 8),
  ENCODER_B("encoder_f32", "224/16x8", "ViT-B/16@224, 8 frames", 768, 12, 16, 224, 512, TC_WEIGHTS_F32, 8),
  /* a tiny ViT, 1 and 8 frames: the batch path in seconds on lavapipe (gpu_run.sh --lavapipe) */
  ENCODER_B("encoder_f32", "64/16x1", "tiny ViT, 1 frame", 256, 2, 16, 64, 128, TC_WEIGHTS_F32, 1),
  ENCODER_B("encoder_f32", "64/16x8", "tiny ViT, 8 frames", 256, 2, 16, 64, 128, TC_WEIGHTS_F32, 8),
  /* precision fp32 vs fp16 (fp16 activations on the gpu kernels; cooperative matrices are the context's:
   * --precision or TOKENCLIP_COOPMAT) */
  ENCODER_P("encoder_prec_fp32", "ViT-B/16@224 precision fp32", 768, 12, 16, 224, 512, TC_PRECISION_FP32),
  ENCODER_P("encoder_prec_fp16", "ViT-B/16@224 precision fp16", 768, 12, 16, 224, 512, TC_PRECISION_FP16),
  ENCODER_P("encoder_prec_fp32", "ViT-L/14@336 precision fp32", 1024, 24, 14, 336, 768, TC_PRECISION_FP32),
  ENCODER_P("encoder_prec_fp16", "ViT-L/14@336 precision fp16", 1024, 24, 14, 336, 768, TC_PRECISION_FP16),
  /* a tiny ViT at both precisions: the fp16 path in seconds on lavapipe (gpu_run.sh --lavapipe) */
  ENCODER_P("encoder_prec_fp32", "tiny ViT precision fp32", 256, 2, 16, 64, 128, TC_PRECISION_FP32),
  ENCODER_P("encoder_prec_fp16", "tiny ViT precision fp16", 256, 2, 16, 64, 128, TC_PRECISION_FP16),
  { 0 },
};
