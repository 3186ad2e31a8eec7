/* The per-frame pipeline: model, head and map stages in one command sequence
 * per frame slot. */
#include "tc_detector.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoder/tc_encoder.h"
#include "head/tc_head.h"
#include "head/tc_head_file.h"
#include "image/tc_preprocess.h"
#include "image/tc_resample.h"
#include "map/tc_map.h"
#include "ops/tc_ops.h"
#include "tc_params.h"
#include "tc_regions.h"
#include "text/tc_prompts.h"
#include "text/tc_unicode.h"

/* The model: what detectors can share (tc_model_create). The encoder's
 * activations live here too, so the submissions that use them, from
 * whichever detector, take `run` in turn. */
typedef struct batch_request batch_request;

struct tc_model {
  atomic_uint refs;
  pthread_mutex_t run;
  tc_context *ctx;
  char *device; /* the option, NULL for the default */
  void *vulkan_device; /* the caller's VkDevice (tc_vulkan_device), NULL: our own */
  char *path;
  tc_clip_vision *vision;
  tc_encoder *enc;
  tc_params params; /* in effect when the encoder was made: its load-time fields hold for every detector */
  atomic_bool warmed;

  /* batches: the frames of several detectors in one submission (batch_size > 1) */
  uint32_t batch_size;
  uint64_t batch_timeout_ns;
  pthread_mutex_t gather;
  pthread_cond_t gathered;
  batch_request *queue, *queue_tail; /* under gather: waiting, oldest first */
  uint32_t queued;
  bool batch_running;                /* under gather: one batch at a time */
  tc_cmd *batch_cmd;                 /* the leader's, under batch_running */
  uint64_t batches, batched_frames;  /* under gather */
};

struct tc_detector {
  tc_model *m;
  tc_context *ctx; /* the model's */
  tc_encoder *enc; /* the model's */
  tc_head *head[TC_MAX_FEATURE_LAYERS]; /* one per feature layer: each keeps its own Sinkhorn potentials */
  uint32_t layers;                      /* feature layers: blocks of the encoder's output */
  uint32_t grid, tokens; /* tokens = grid^2 patch tokens */
  int warm_up;
  /* the head file's defaults, the caller's settings, the values in effect */
  tc_params file, user, params;
  tc_head_params head_params;

  /* per frame layout */
  tc_frame frame;
  bool have_frame;
  bool map_ready; /* the map holds an analysis's (not a new map's undefined contents) */
  tc_preprocess *pp;
  tc_map *map;
  tc_frame_slot slot[TC_DETECTOR_SLOTS];
  tc_cmd *cmd[TC_DETECTOR_SLOTS][2]; /* [slot][blend] */
  tc_cmd *copy_cmd;                  /* device frames: the caller's buffers to slot 0 and back */
  bool recorded[TC_DETECTOR_SLOTS][2];

  /* results */
  tc_buffer *model_input;                          /* [3, S, S]: preprocessed here, copied to the batch's place */
  tc_buffer *scores;                               /* [tokens], summed over the feature layers */
  tc_buffer *layer_scores[TC_MAX_FEATURE_LAYERS];  /* [tokens] each, with several feature layers */
  float *host_scores;
  float *batch_scores; /* [TC_MAX_BATCH][tokens]: each batch result's own scores */
  uint32_t *region_work;
};

void tc_detector_options_init(tc_detector_options *o)
{
  memset(o, 0, sizeof *o);
  tc_params_init(&o->params);
}

/* ---- the subspaces: a head file, given, or from words ---- */

typedef struct subspaces {
  const float *T; /* [Q, 2, D] */
  uint32_t Q, D;  /* D 0: the encoder's */
  float *owned;
} subspaces;

static tc_status subspaces_from_words(tc_detector *det, const tc_detector_options *o, subspaces *s, tc_error *err)
{
  tc_clip_text *text = NULL;
  tc_tokenizer *tok = NULL;
  char **loaded = NULL;
  uint32_t Q = tc_prompt_templates_count;
  const char *const *templates = tc_prompt_templates;
  tc_status st = TC_OK;
  if (o->prompts_path && *o->prompts_path) {
    st = tc_prompt_templates_load(o->prompts_path, &loaded, &Q, err);
    templates = (const char *const *)loaded;
  }
  if (st == TC_OK)
    st = tc_clip_text_open(det->m->path, NULL, &text, err);
  if (st == TC_OK)
    st = tc_prompt_open_tokenizer(det->m->path, o->vocab_path, &tok, err);
  if (st == TC_OK)
    st = tc_prompt_subspaces_on(det->ctx, text, tok, o->object, templates, Q, &s->owned, &s->D, err);
  tc_prompt_templates_free(loaded, loaded ? Q : 0);
  tc_tokenizer_close(tok);
  tc_clip_text_close(text);
  s->T = s->owned, s->Q = Q;
  if (st != TC_OK)
    tc_error_prefix(err, "subspaces for object \"%.*s\"", tc_utf8_prefix(o->object, 60), o->object);
  return st;
}

/* Exactly one source; a head file also gives its defaults (det->file). */
static tc_status load_subspaces(tc_detector *det, const tc_detector_options *o, subspaces *s, tc_error *err)
{
  const int words = o->object && *o->object;
  if (words + (o->head_path != NULL) + (o->subspaces != NULL) > 1)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "give an object name, a head file or subspaces: only one");
  if (words)
    return subspaces_from_words(det, o, s, err);
  if (o->subspaces) {
    *s = (subspaces){ .T = o->subspaces, .Q = o->n_subspaces };
    return o->n_subspaces ? TC_OK : tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no subspaces (Q = 0)");
  }
  if (!o->head_path)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no head: give a head file (or subspaces, or an object name)");
  tc_head_file hf = { 0 };
  tc_status st = tc_head_file_load(o->head_path, 0, &hf, &det->file, err);
  *s = (subspaces){ .T = hf.subspaces, .Q = hf.Q, .D = hf.D, .owned = hf.subspaces };
  return st;
}

static tc_status check_dim(const tc_detector *det, const tc_detector_options *o, const subspaces *s, uint32_t D,
                           tc_error *err)
{
  if (!s->D || s->D == D)
    return TC_OK;
  if (o->head_path)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: subspaces have dimension %u but the encoder's embeddings have %u",
                        o->head_path, s->D, D);
  return tc_error_set(err, TC_ERR_MISMATCH, "%s: text embeddings have %u dimensions, image tokens %u", det->m->path,
                      s->D, D);
}

/* ---- warm-up: every kernel compiled before the first frame ---- */

static tc_status zero_buffer(tc_buffer *buf, tc_error *err)
{
  void *p = tc_buffer_host_ptr(buf);
  if (p) {
    memset(p, 0, tc_buffer_size(buf));
    return TC_OK;
  }
  void *zeros = calloc(1, tc_buffer_size(buf));
  tc_status st = zeros ? tc_buffer_upload(buf, 0, zeros, tc_buffer_size(buf), err)
                       : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  free(zeros);
  return st;
}

typedef tc_status (*record_fn)(tc_detector *det, tc_cmd *cmd, tc_error *err);

/* Runs a sequence that uses the model's encoder buffers (preprocessing
 * writes its input): one at a time across the detectors sharing the model. */
static tc_status run_locked(tc_detector *det, tc_cmd *cmd, tc_error *err)
{
  pthread_mutex_lock(&det->m->run);
  tc_status st = tc_cmd_run(cmd, err);
  pthread_mutex_unlock(&det->m->run);
  return st;
}

/* Records what `record` adds into a sequence of its own and runs it once. */
static tc_status run_once(tc_detector *det, record_fn record, tc_error *err)
{
  tc_cmd *cmd = NULL;
  tc_status st = tc_cmd_create(det->ctx, &cmd, err);
  if (st == TC_OK)
    st = tc_cmd_begin(cmd, err);
  if (st == TC_OK)
    st = record(det, cmd, err);
  if (st == TC_OK)
    st = tc_cmd_end(cmd, err);
  if (st == TC_OK)
    st = run_locked(det, cmd, err);
  tc_cmd_destroy(cmd);
  return st;
}

/* A feature layer's scores: the sum itself with one layer. */
static tc_buffer *layer_scores(tc_detector *det, uint32_t f)
{
  return det->layers > 1 ? det->layer_scores[f] : det->scores;
}

/* The head on every feature layer's block of the encoder's output, then
 * the layers' scores summed (as AnomalyCLIP sums its layers' maps: the
 * upsampling and the blur after are linear, so summing on the grid first
 * is the same). */
static tc_status record_heads(tc_detector *det, tc_cmd *cmd, const tc_head_params *hp, tc_error *err)
{
  tc_status st = TC_OK;
  for (uint32_t f = 0; f < det->layers && st == TC_OK; f++)
    st = tc_head_record_at(det->head[f], cmd, tc_encoder_output(det->enc), f * (1 + det->tokens),
                           layer_scores(det, f), hp, err);
  for (uint32_t f = 1; f < det->layers && st == TC_OK; f++)
    st = tc_op_add(cmd, f == 1 ? det->layer_scores[0] : det->scores, det->layer_scores[f], det->scores,
                   det->tokens, err);
  return st;
}

static tc_status record_model(tc_detector *det, tc_cmd *cmd, tc_error *err)
{
  tc_head_params cold = det->head_params;
  cold.sinkhorn_warm_start = 0;
  tc_status st = tc_encoder_record(det->enc, cmd, err);
  return st == TC_OK ? record_heads(det, cmd, &cold, err) : st;
}

static tc_status record_frame_stages(tc_detector *det, tc_cmd *cmd, tc_error *err)
{
  tc_status st = tc_preprocess_record(det->pp, cmd, det->slot[0].buf, tc_encoder_input(det->enc), err);
  return st == TC_OK ? tc_map_record(det->map, cmd, det->scores, 0, det->slot[0].buf, err) : st;
}

/* Encoder and head, on a zero input; the head then forgets the potentials of
 * that input. */
static tc_status warm_up_model(tc_detector *det, tc_error *err)
{
  tc_status st = zero_buffer(tc_encoder_input(det->enc), err);
  if (st == TC_OK)
    st = run_once(det, record_model, err);
  for (uint32_t f = 0; f < det->layers && st == TC_OK; f++)
    st = tc_head_reset(det->head[f], err);
  if (st == TC_OK)
    det->m->warmed = true;
  return st;
}

/* ---- the parameters against the model ---- */

/* Where a field's value came from, for messages: the caller, or the head file's tensor. */
static tc_status refuse(const tc_detector *det, const tc_detector_options *o, tc_param id, const char *why,
                        tc_error *err)
{
  char value[160];
  tc_param_format(&det->params, id, value, sizeof value);
  if (!tc_params_is_set(&det->user, id) && tc_params_is_set(&det->file, id) && o->head_path)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s' is %s: %s", o->head_path, tc_param_name(id), value,
                        why);
  return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s %s: %s", tc_param_name(id), value, why);
}

/* The model's defaults filled in (tc_params_resolve_model), then what
 * depends on the model checked: layers within its depth, the input size a
 * multiple of its patch. */
static tc_status fit_params_to_model(tc_detector *det, const tc_detector_options *o, tc_error *err)
{
  const tc_clip_vision_config *cfg = tc_clip_vision_get_config(det->m->vision);
  const uint32_t L = (uint32_t)cfg->layers, p = (uint32_t)cfg->patch_size;
  char why[256];
  tc_params_resolve_model(&det->params, det->file.set | det->user.set, L);
  uint32_t layers[TC_MAX_FEATURE_LAYERS], n = tc_params_feature_layers(&det->params, layers);
  snprintf(why, sizeof why, "the model %s has %u layers", det->m->path, L);
  if (det->params.vv_start > L)
    return refuse(det, o, TC_PARAM_VV_START, why, err);
  if (layers[n - 1] > L)
    return refuse(det, o, TC_PARAM_FEATURE_LAYERS, why, err);
  const uint32_t S = det->params.input_size;
  snprintf(why, sizeof why, "not a multiple of the patch size %u of the model %s (e.g. %d)", p, det->m->path,
           cfg->image_size);
  if (S && S % p != 0)
    return refuse(det, o, TC_PARAM_INPUT_SIZE, why, err);
  return TC_OK;
}

/* ---- creation ---- */

void tc_precision_to_encoder(const tc_context *ctx, tc_precision p, tc_encoder_options *eo)
{
  if (tc_context_is_borrowed(ctx)) {
    /* the caller's device has no features enabled that we know of: no 16-bit storage or arithmetic */
    eo->weights = TC_WEIGHTS_F32;
    eo->activations = TC_F32;
    return;
  }
  if (p == TC_PRECISION_AUTO && tc_context_is_cpu(ctx)) {
    /* fp32 arithmetic; the weights as stored, as before the setting existed (fp16 files stay half the memory,
     * which the cpu kernels read as fast) */
    eo->weights = TC_WEIGHTS_AS_STORED;
    eo->activations = TC_F32;
    return;
  }
  if (p == TC_PRECISION_AUTO)
    p = TC_PRECISION_FP16;
  eo->weights = p == TC_PRECISION_FP16 ? TC_WEIGHTS_F16 : TC_WEIGHTS_F32;
  /* the cpu kernels have fp16 weights but no fp16 activations */
  eo->activations = p == TC_PRECISION_FP16 && tc_context_family(ctx) == TC_FAMILY_GPU ? TC_F16 : TC_F32;
}

/* ---- the model ---- */

static char *copy_string(const char *s) { return s ? strdup(s) : NULL; }

/* A model with its context and nothing loaded yet (the first detector loads it). */
static tc_status model_new(const tc_detector_options *o, bool batches, tc_model **out, tc_error *err)
{
  tc_model *m = calloc(1, sizeof *m);
  if (!m)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  atomic_init(&m->refs, 1);
  pthread_mutex_init(&m->run, NULL);
  pthread_mutex_init(&m->gather, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the batch timeout's deadlines are monotonic */
  pthread_cond_init(&m->gathered, &ca);
  pthread_condattr_destroy(&ca);
  m->batch_size = batches && o->batch_size > 1 ? o->batch_size : 1;
  m->batch_timeout_ns = (uint64_t)o->batch_timeout_us * 1000;
  *out = m;
  m->vulkan_device = o->vulkan_device ? o->vulkan_device->device : NULL;
  if (!(m->path = copy_string(o->model_path)) || (o->device && !(m->device = copy_string(o->device))))
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  tc_context_options copts;
  tc_context_options_init(&copts);
  copts.device = o->device;
  copts.borrowed = o->vulkan_device;
  /* precision is no head-file field: the caller's value (or auto) is final before anything loads */
  const tc_precision prec = tc_params_is_set(&o->params, TC_PARAM_PRECISION) ? o->params.precision
                                                                             : TC_PRECISION_AUTO;
  if (!getenv("TOKENCLIP_COOPMAT")) /* set, it still decides (emulated ones for tests) */
    copts.cooperative_matrix = prec == TC_PRECISION_FP32 ? 0 : 1; /* on only where the device has them */
  return tc_context_create(&copts, &m->ctx, err);
}

tc_model *tc_model_ref(tc_model *m)
{
  if (m)
    atomic_fetch_add(&m->refs, 1);
  return m;
}

void tc_model_unref(tc_model *m)
{
  if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
    return;
  tc_cmd_destroy(m->batch_cmd);
  tc_encoder_destroy(m->enc);
  tc_clip_vision_close(m->vision);
  tc_context_destroy(m->ctx);
  pthread_mutex_destroy(&m->run);
  pthread_mutex_destroy(&m->gather);
  pthread_cond_destroy(&m->gathered);
  free(m->path);
  free(m->device);
  free(m);
}

uint32_t tc_model_users(const tc_model *m) { return atomic_load(&m->refs); }
uint32_t tc_model_batch_size(const tc_model *m) { return m->batch_size; }

void tc_model_batch_stats(tc_model *m, uint64_t *submissions, uint64_t *frames)
{
  pthread_mutex_lock(&m->gather);
  *submissions = m->batches;
  *frames = m->batched_frames;
  pthread_mutex_unlock(&m->gather);
}
size_t tc_model_device_bytes(const tc_model *m) { return tc_context_buffer_bytes(m->ctx); }
const char *tc_model_device_name(const tc_model *m) { return tc_context_device_name(m->ctx); }
const char *tc_model_path(const tc_model *m) { return m->path; }

static tc_status detector_create(const tc_detector_options *o, bool batches, tc_detector **out, tc_error *err);

/* The model is what a detector with these options would load: made by one,
 * keeping only the model. */
tc_status tc_model_create(const tc_detector_options *o, tc_model **out, tc_error *err)
{
  TC_REQUIRE(o, err);
  TC_REQUIRE(out, err);
  *out = NULL;
  if (o->model)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_model_create: the options already name a shared model");
  if (o->batch_size > TC_MAX_BATCH)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "batch_size %u: at most %d frames a submission", o->batch_size,
                        TC_MAX_BATCH);
  tc_detector *det = NULL;
  tc_status st = detector_create(o, true, &det, err);
  if (st == TC_OK) {
    *out = tc_model_ref(det->m);
    tc_detector_destroy(det);
  }
  return st;
}

/* A detector on a shared model: the options name no other model file or
 * device, and ask the encoder for nothing else than it was made with. */
static tc_status check_shared_options(const tc_model *m, const tc_detector_options *o, tc_error *err)
{
  if (o->model_path && *o->model_path && strcmp(o->model_path, m->path) != 0)
    return tc_error_set(err, TC_ERR_MISMATCH, "model file %s given with a shared model loaded from %s",
                        o->model_path, m->path);
  if (o->vulkan_device && (!tc_context_is_borrowed(m->ctx) || o->vulkan_device->device != m->vulkan_device))
    return tc_error_set(err, TC_ERR_MISMATCH, "a Vulkan device given with a shared model on another device (%s)",
                        tc_context_device_name(m->ctx));
  if (o->device && (!m->device || strcmp(o->device, m->device) != 0))
    return tc_error_set(err, TC_ERR_MISMATCH, "device '%s' given with a shared model on %s (device '%s')", o->device,
                        tc_context_device_name(m->ctx), m->device ? m->device : "default");
  return TC_OK;
}

static tc_status check_shared_params(const tc_detector *det, tc_error *err)
{
  static const tc_param encoder_fields[] = { TC_PARAM_INPUT_SIZE, TC_PARAM_VV_START, TC_PARAM_POS_INTERP,
                                             TC_PARAM_FEATURE_LAYERS, TC_PARAM_GLOBAL_LN_POST, TC_PARAM_PRECISION };
  /* input size 0 is the model's own: compared as the size it stands for */
  const uint32_t own = (uint32_t)tc_clip_vision_get_config(det->m->vision)->image_size;
  tc_params mine = det->params, model = det->m->params;
  mine.input_size = mine.input_size ? mine.input_size : own;
  model.input_size = model.input_size ? model.input_size : own;
  const uint64_t diff = tc_params_diff(&model, &mine);
  for (size_t i = 0; i < sizeof encoder_fields / sizeof *encoder_fields; i++) {
    if (!(diff & ((uint64_t)1 << encoder_fields[i])))
      continue;
    char here[160], there[160];
    tc_param_format(&mine, encoder_fields[i], here, sizeof here);
    tc_param_format(&model, encoder_fields[i], there, sizeof there);
    return tc_error_set(err, TC_ERR_MISMATCH, "%s %s, but the shared model %s was loaded with %s",
                        tc_param_name(encoder_fields[i]), here, det->m->path, there);
  }
  return TC_OK;
}

/* ---- creation ---- */

/* batches: only for a model made to be shared (tc_model_create) */
static tc_status detector_create(const tc_detector_options *o, bool batches, tc_detector **out, tc_error *err)
{
  *out = NULL;
  if (!o->model && (!o->model_path || !*o->model_path))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no model file given");
  tc_status st = o->model ? check_shared_options(o->model, o, err) : TC_OK;
  if (st != TC_OK)
    return st;
  tc_detector *det = calloc(1, sizeof *det);
  if (!det)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  tc_params_init(&det->file);
  det->user = o->params;
  det->warm_up = o->warm_up;
  if (o->model)
    det->m = tc_model_ref(o->model);
  else
    st = model_new(o, batches, &det->m, err);
  det->ctx = det->m ? det->m->ctx : NULL;
  subspaces s = { 0 };
  if (st == TC_OK)
    st = load_subspaces(det, o, &s, err);
  if (st == TC_OK && !det->m->vision)
    st = tc_clip_vision_open(det->m->path, NULL, &det->m->vision, err);
  /* defaults < head file < the caller's, the model's defaults filled in, checked before anything is sized by them */
  if (st == TC_OK) {
    tc_params_merge(&det->file, &det->user, &det->params);
    st = fit_params_to_model(det, o, err);
  }
  if (st == TC_OK)
    st = tc_params_check(&det->params, s.Q, err);
  tc_encoder_options eo;
  tc_params_to_encoder(&det->params, &eo);
  if (st == TC_OK)
    tc_precision_to_encoder(det->ctx, det->params.precision, &eo);
  eo.max_batch = det->m ? det->m->batch_size : 1;
  if (st == TC_OK && !det->m->enc) {
    st = tc_encoder_create(det->ctx, det->m->vision, &eo, &det->m->enc, err);
    det->m->params = det->params;
  } else if (st == TC_OK) {
    st = check_shared_params(det, err);
  }
  det->enc = det->m ? det->m->enc : NULL;
  if (st == TC_OK) {
    det->grid = tc_encoder_grid(det->enc);
    det->tokens = det->grid * det->grid;
    det->layers = tc_encoder_feature_layers(det->enc, NULL);
    st = check_dim(det, o, &s, tc_encoder_embed_dim(det->enc), err);
  }
  for (uint32_t f = 0; f < det->layers && st == TC_OK; f++)
    st = tc_head_create(det->ctx, s.T, s.Q, tc_encoder_embed_dim(det->enc), det->tokens, &det->head[f], err);
  free(s.owned);
  tc_params_to_head(&det->params, &det->head_params);
  if (st == TC_OK && det->m->batch_size > 1)
    st = tc_buffer_create(det->ctx, tc_buffer_size(tc_encoder_input(det->enc)) / det->m->batch_size,
                          &det->model_input, err);
  if (st == TC_OK)
    st = tc_buffer_create(det->ctx, det->tokens * sizeof(float), &det->scores, err);
  if (st == TC_OK)
    st = zero_buffer(det->scores, err);
  for (uint32_t f = 0; f < det->layers && det->layers > 1 && st == TC_OK; f++)
    st = tc_buffer_create(det->ctx, det->tokens * sizeof(float), &det->layer_scores[f], err);
  if (st == TC_OK && (!(det->host_scores = calloc(det->tokens, sizeof(float))) ||
                      !(det->batch_scores = calloc((size_t)TC_MAX_BATCH * det->tokens, sizeof(float))) ||
                      !(det->region_work = calloc(det->tokens, sizeof(uint32_t)))))
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (int i = 0; i < TC_DETECTOR_SLOTS && st == TC_OK; i++)
    for (int b = 0; b < 2 && st == TC_OK; b++)
      st = tc_cmd_create(det->ctx, &det->cmd[i][b], err);
  /* a shared model is compiled once, by its first detector */
  if (st == TC_OK && det->warm_up && !det->m->warmed)
    st = warm_up_model(det, err);
  if (st != TC_OK) {
    tc_detector_destroy(det);
    return st;
  }
  *out = det;
  return TC_OK;
}

tc_status tc_detector_create(const tc_detector_options *o, tc_detector **out, tc_error *err)
{
  TC_REQUIRE(o, err);
  TC_REQUIRE(out, err);
  return detector_create(o, false, out, err);
}

static void drop_frame(tc_detector *det)
{
  tc_preprocess_destroy(det->pp);
  tc_map_destroy(det->map);
  det->pp = NULL;
  det->map = NULL;
  for (int i = 0; i < TC_DETECTOR_SLOTS; i++)
    tc_frame_slot_destroy(&det->slot[i]);
  memset(det->recorded, 0, sizeof det->recorded);
  det->have_frame = false;
}

void tc_detector_destroy(tc_detector *det)
{
  if (!det)
    return;
  drop_frame(det);
  for (int i = 0; i < TC_DETECTOR_SLOTS; i++)
    for (int b = 0; b < 2; b++)
      tc_cmd_destroy(det->cmd[i][b]);
  tc_cmd_destroy(det->copy_cmd);
  tc_buffer_destroy(det->scores);
  tc_buffer_destroy(det->model_input);
  for (uint32_t f = 0; f < TC_MAX_FEATURE_LAYERS; f++) {
    tc_buffer_destroy(det->layer_scores[f]);
    tc_head_destroy(det->head[f]);
  }
  tc_model_unref(det->m);
  free(det->host_scores);
  free(det->batch_scores);
  free(det->region_work);
  free(det);
}

const char *tc_detector_device_name(const tc_detector *det) { return tc_context_device_name(det->ctx); }
const char *tc_detector_device_option(const tc_detector *det) { return det->m->device; }
tc_model *tc_detector_model(const tc_detector *det) { return det->m; }
uint32_t tc_detector_validation_messages(const tc_detector *det) { return tc_context_validation_messages(det->ctx); }
uint32_t tc_detector_grid(const tc_detector *det) { return det->grid; }
uint32_t tc_detector_input_size(const tc_detector *det) { return tc_encoder_input_size(det->enc); }
uint32_t tc_detector_subspaces(const tc_detector *det) { return tc_head_subspaces(det->head[0]); }
uint32_t tc_detector_layers(const tc_detector *det) { return det->layers; }
void tc_detector_params(const tc_detector *det, tc_params *effective) { *effective = det->params; }
const tc_frame *tc_detector_frame(const tc_detector *det) { return det->have_frame ? &det->frame : NULL; }

tc_frame_slot *tc_detector_slot(tc_detector *det, int slot)
{
  return det->have_frame && slot >= 0 && slot < TC_DETECTOR_SLOTS ? &det->slot[slot] : NULL;
}

/* ---- parameters ---- */

/* The blur in frame pixels (sigma is in model-input pixels, scaled to the
 * frame) within what the map's tables take: refused in the caller's terms
 * when the parameters are set, not at the next frame. */
static tc_status check_map_fits(const tc_detector *det, const tc_params *p, const tc_frame *frame, tc_error *err)
{
  tc_map_params mp;
  tc_detector_map_params(det, p, frame, &mp);
  const float most = mp.sigma > mp.sigma_y ? mp.sigma : mp.sigma_y;
  if (most <= TC_BLUR_MAX_SIGMA)
    return TC_OK;
  return tc_error_set(err, TC_ERR_INVALID_ARGUMENT,
                      "sigma %g (model-input pixels, input size %u) blurs a %ux%u frame by %g pixels; at most %g: "
                      "a smaller sigma or frame",
                      p->sigma, tc_encoder_input_size(det->enc), frame->width, frame->height, most,
                      TC_BLUR_MAX_SIGMA);
}

tc_status tc_detector_merge_params(const tc_detector *det, const tc_params *user, tc_params *eff, tc_error *err)
{
  tc_params m;
  tc_params_merge(&det->file, user, &m);
  /* load-time fields keep the values the detector was made with, unless set otherwise */
  for (int i = 0; i < TC_PARAM_COUNT; i++) {
    const tc_param_info *in = tc_param_info_of((tc_param)i);
    if ((in->flags & TC_PARAM_LOAD_TIME) && !tc_params_is_set(user, in->id))
      memcpy((char *)&m + in->offset, (const char *)&det->params + in->offset, 4);
  }
  tc_param changed = tc_params_load_time_change(&det->params, &m);
  if (changed != TC_PARAM_COUNT) {
    char was[160], asked[160];
    tc_params in_effect = det->params; /* input size 0 is the model's own: named as the size it stands for */
    if (!in_effect.input_size)
      in_effect.input_size = tc_encoder_input_size(det->enc);
    tc_param_format(&in_effect, changed, was, sizeof was);
    tc_param_format(&m, changed, asked, sizeof asked);
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s is fixed once the detector exists (%s, not %s)",
                        tc_param_name(changed), was, asked);
  }
  tc_status st = tc_params_check(&m, tc_head_subspaces(det->head[0]), err);
  if (st == TC_OK && det->have_frame)
    st = check_map_fits(det, &m, &det->frame, err);
  if (st == TC_OK)
    *eff = m;
  return st;
}

tc_status tc_detector_set_params(tc_detector *det, const tc_params *user, tc_error *err)
{
  TC_REQUIRE(det, err);
  TC_REQUIRE(user, err);
  tc_params eff;
  tc_status st = tc_detector_merge_params(det, user, &eff, err);
  if (st != TC_OK)
    return st;
  const uint64_t diff = tc_params_diff(&det->params, &eff);
  if ((diff & tc_params_map_fields()) && det->have_frame) {
    tc_map_params mp;
    tc_detector_map_params(det, &eff, &det->frame, &mp);
    tc_map *map = NULL;
    st = tc_map_create(det->ctx, &det->frame, &mp, &map, err);
    if (st != TC_OK)
      return st;
    tc_map_destroy(det->map);
    det->map = map;
    det->map_ready = false;
  }
  if (diff & (tc_params_map_fields() | tc_params_head_fields()))
    memset(det->recorded, 0, sizeof det->recorded);
  det->user = *user;
  det->params = eff;
  tc_params_to_head(&eff, &det->head_params);
  return TC_OK;
}

/* ---- frames ---- */

tc_status tc_detector_set_frame(tc_detector *det, const tc_frame *frame, tc_error *err)
{
  TC_REQUIRE(det, err);
  TC_REQUIRE(frame, err);
  tc_status st = tc_frame_check(frame, err);
  if (st == TC_OK)
    st = check_map_fits(det, &det->params, frame, err);
  if (st != TC_OK || (det->have_frame && memcmp(frame, &det->frame, sizeof *frame) == 0))
    return st;
  drop_frame(det);
  det->frame = *frame;
  st = tc_preprocess_create(det->ctx, frame, tc_encoder_input_size(det->enc), det->params.resample, &det->pp, err);
  tc_map_params mp;
  tc_detector_map_params(det, &det->params, frame, &mp);
  if (st == TC_OK)
    st = tc_map_create(det->ctx, frame, &mp, &det->map, err);
  det->map_ready = false;
  for (int i = 0; i < TC_DETECTOR_SLOTS && st == TC_OK; i++)
    st = tc_frame_slot_create(det->ctx, frame, &det->slot[i], err);
  /* Preprocessing and the map: lavapipe compiles a kernel per variant key,
   * which holds the shape of its texel buffers (a byte size that is a power
   * of two or not, and some bits of the view's size), and their tables' sizes
   * follow the layout: so they are compiled here, not at creation. */
  if (st == TC_OK && det->warm_up)
    st = run_once(det, record_frame_stages, err);
  if (st != TC_OK) {
    drop_frame(det);
    return st;
  }
  det->have_frame = true;
  return TC_OK;
}

/* ---- analysis ---- */

static tc_status record_analysis(tc_detector *det, int slot, int blend, tc_error *err)
{
  tc_cmd *cmd = det->cmd[slot][blend];
  tc_buffer *frame_buf = det->slot[slot].buf;
  tc_status st = tc_cmd_begin(cmd, err);
  if (st == TC_OK)
    st = tc_preprocess_record(det->pp, cmd, frame_buf, tc_encoder_input(det->enc), err);
  if (st == TC_OK)
    st = tc_encoder_record(det->enc, cmd, err);
  if (st == TC_OK)
    st = record_heads(det, cmd, &det->head_params, err);
  if (st == TC_OK) /* colours only for a frame to blend */
    st = blend ? tc_map_record(det->map, cmd, det->scores, 0, frame_buf, err)
               : tc_map_record_smooth(det->map, cmd, det->scores, 0, err);
  if (st == TC_OK)
    st = tc_cmd_end(cmd, err);
  det->recorded[slot][blend] = st == TC_OK;
  return st;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static tc_status no_frame(tc_error *err)
{
  return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no frame layout: call tc_detector_set_frame first");
}

/* The heads' results over the feature layers: the global score's mean, the
 * most iterations, converged when all did. */
static tc_status read_heads(tc_detector *det, tc_head_result *out, tc_error *err)
{
  tc_head_result all = { .converged = 1 };
  double global = 0;
  for (uint32_t f = 0; f < det->layers; f++) {
    tc_head_result hr;
    tc_status st = tc_head_read_result(det->head[f], &hr, err);
    if (st != TC_OK) {
      if (det->layers > 1)
        tc_error_prefix(err, "feature layer %u of %u", f + 1, det->layers);
      return st;
    }
    global += hr.global_score;
    all.iterations = hr.iterations > all.iterations ? hr.iterations : all.iterations;
    all.converged = all.converged && hr.converged;
    all.token_score_max = hr.token_score_max;
  }
  all.global_score = (float)(global / det->layers);
  *out = all;
  return TC_OK;
}

/* The results of a finished submission: scores, scores of the image, regions. */
static tc_status read_results(tc_detector *det, double ms, tc_analysis *out, tc_error *err)
{
  tc_head_result hr = { 0 };
  float map_max = 0;
  tc_status st = read_heads(det, &hr, err);
  if (st == TC_OK)
    st = tc_map_read_range(det->map, NULL, &map_max, err);
  if (st == TC_OK)
    st = tc_buffer_download(det->scores, 0, det->host_scores, det->tokens * sizeof(float), err);
  det->map_ready = st == TC_OK;
  if (st != TC_OK || !out)
    return st;
  const tc_params *p = &det->params;
  const float n = (float)det->layers;
  float max_score = det->host_scores[0];
  for (uint32_t i = 1; i < det->tokens; i++)
    max_score = det->host_scores[i] > max_score ? det->host_scores[i] : max_score;
  /* the sums per layer where they meet probabilities: the image score's map term, the region threshold */
  const float image = tc_head_image_score(&det->head_params, hr.global_score, map_max / n);
  tc_analysis a = {
    .image_score = image,
    .global_score = hr.global_score,
    .max_score = max_score,
    .map_max = map_max,
    .anomalous = image >= p->threshold,
    .iterations = hr.iterations,
    .converged = hr.converged,
    .layers = det->layers,
    .inference_ms = ms,
    .grid = det->grid,
    .scores = det->host_scores,
  };
  size_t found = tc_find_regions(det->host_scores, det->grid, det->grid, p->threshold * n, a.region, p->max_regions,
                                 det->region_work);
  a.regions = (uint32_t)found;
  a.n_regions = found < p->max_regions ? (uint32_t)found : p->max_regions;
  for (uint32_t i = 0; i < a.n_regions; i++) {
    tc_region *r = &a.region[i];
    tc_region_to_pixels(r, det->grid, det->grid, det->frame.width, det->frame.height, &r->x, &r->y, &r->w, &r->h);
  }
  *out = a;
  return TC_OK;
}

/* ---- batches: the frames of the detectors sharing a model, one submission ----
 *
 * A detector's analysis joins the model's queue and waits. The thread whose
 * arrival fills a batch, or whose wait finds the oldest request past the
 * timeout, leads: it takes up to batch_size requests, records them as one
 * sequence (each frame preprocessed by its detector and copied to its place in
 * the encoder's input, the encoder over all of them, each detector's heads on
 * its frame's tokens, its map and blend), runs it and wakes the others, who
 * read their own results. One batch runs at a time; frames arriving meanwhile
 * gather for the next. */

struct batch_request {
  tc_detector *det;
  int slot, blend;
  uint64_t arrival_ns;
  uint32_t batch;  /* frames in the submission that ran it */
  double ms;       /* its wall time */
  tc_status st;
  tc_error err;
  bool done;
  batch_request *next;
};

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Frame i of the batch: preprocessing into the detector's model input, copied to place i. */
static tc_status record_batch_frame(tc_model *m, tc_cmd *cmd, const batch_request *r, uint32_t i, tc_error *err)
{
  tc_detector *det = r->det;
  const size_t bytes = tc_buffer_size(det->model_input);
  tc_status st = tc_preprocess_record(det->pp, cmd, det->slot[r->slot].buf, det->model_input, err);
  return st == TC_OK ? tc_cmd_copy(cmd, det->model_input, 0, tc_encoder_input(m->enc), i * bytes, bytes, err) : st;
}

/* Frame i's heads (its tokens at block i of the output), map and blend. */
static tc_status record_batch_results(tc_model *m, tc_cmd *cmd, const batch_request *r, uint32_t i, tc_error *err)
{
  tc_detector *det = r->det;
  tc_status st = TC_OK;
  const uint32_t rows = 1 + det->tokens;
  for (uint32_t f = 0; f < det->layers && st == TC_OK; f++)
    st = tc_head_record_at(det->head[f], cmd, tc_encoder_output(m->enc), (i * det->layers + f) * rows,
                           layer_scores(det, f), &det->head_params, err);
  for (uint32_t f = 1; f < det->layers && st == TC_OK; f++)
    st = tc_op_add(cmd, f == 1 ? det->layer_scores[0] : det->scores, det->layer_scores[f], det->scores,
                   det->tokens, err);
  if (st == TC_OK) /* colours only for a frame to blend */
    st = r->blend ? tc_map_record(det->map, cmd, det->scores, 0, det->slot[r->slot].buf, err)
                  : tc_map_record_smooth(det->map, cmd, det->scores, 0, err);
  return st;
}

/* The leader's work, outside the gather lock. */
static void run_batch(tc_model *m, batch_request **reqs, uint32_t n)
{
  tc_error err = { 0 };
  tc_status st = m->batch_cmd ? TC_OK : tc_cmd_create(m->ctx, &m->batch_cmd, &err);
  if (st == TC_OK)
    st = tc_cmd_begin(m->batch_cmd, &err);
  for (uint32_t i = 0; i < n && st == TC_OK; i++)
    st = record_batch_frame(m, m->batch_cmd, reqs[i], i, &err);
  if (st == TC_OK)
    st = tc_encoder_record_batch(m->enc, m->batch_cmd, n, &err);
  for (uint32_t i = 0; i < n && st == TC_OK; i++)
    st = record_batch_results(m, m->batch_cmd, reqs[i], i, &err);
  if (st == TC_OK)
    st = tc_cmd_end(m->batch_cmd, &err);
  double t0 = now_ms();
  if (st == TC_OK) {
    pthread_mutex_lock(&m->run);
    st = tc_cmd_run(m->batch_cmd, &err);
    pthread_mutex_unlock(&m->run);
  }
  double ms = now_ms() - t0;
  for (uint32_t i = 0; i < n; i++) {
    reqs[i]->st = st, reqs[i]->err = err, reqs[i]->ms = ms, reqs[i]->batch = n;
    if (st != TC_OK && n > 1)
      tc_error_prefix(&reqs[i]->err, "a batch of %u frames", n);
  }
}

/* Waits for the request's batch, leading one when it is due. Under m->gather. */
static void wait_for_batch(tc_model *m, batch_request *r)
{
  while (!r->done) {
    const uint64_t due = m->queue ? m->queue->arrival_ns + m->batch_timeout_ns : UINT64_MAX;
    if (!m->batch_running && m->queue && (m->queued >= m->batch_size || now_ns() >= due)) {
      batch_request *reqs[TC_MAX_BATCH];
      uint32_t n = 0;
      while (m->queue && n < m->batch_size) {
        reqs[n++] = m->queue;
        m->queue = m->queue->next;
      }
      if (!m->queue)
        m->queue_tail = NULL;
      m->queued -= n;
      m->batch_running = true;
      pthread_mutex_unlock(&m->gather);
      run_batch(m, reqs, n);
      pthread_mutex_lock(&m->gather);
      m->batch_running = false;
      m->batches++;
      m->batched_frames += n;
      for (uint32_t i = 0; i < n; i++)
        reqs[i]->done = true;
      pthread_cond_broadcast(&m->gathered);
    } else if (m->batch_running || due == UINT64_MAX) {
      pthread_cond_wait(&m->gathered, &m->gather);
    } else {
      struct timespec ts = { .tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u) };
      pthread_cond_timedwait(&m->gathered, &m->gather, &ts);
    }
  }
}

/* The frame in the slot, in the model's next batch. */
static tc_status run_batched(tc_detector *det, int slot, int blend, double *ms, uint32_t *batch, tc_error *err)
{
  tc_model *m = det->m;
  batch_request r = { .det = det, .slot = slot, .blend = blend, .arrival_ns = now_ns() };
  pthread_mutex_lock(&m->gather);
  if (m->queue_tail)
    m->queue_tail->next = &r;
  else
    m->queue = &r;
  m->queue_tail = &r;
  m->queued++;
  pthread_cond_broadcast(&m->gathered); /* a waiting thread may now lead a full batch */
  wait_for_batch(m, &r);
  pthread_mutex_unlock(&m->gather);
  *ms = r.ms, *batch = r.batch;
  if (r.st != TC_OK && err)
    *err = r.err;
  return r.st;
}

/* The frame already in the slot's buffer: alone, or in a batch with the
 * frames of the model's other detectors. */
static tc_status run_analysis(tc_detector *det, int slot, int blend, tc_analysis *out, tc_error *err)
{
  double ms = 0;
  uint32_t batch = 1;
  tc_status st = TC_OK;
  if (det->m->batch_size > 1) {
    st = run_batched(det, slot, blend, &ms, &batch, err);
  } else {
    st = det->recorded[slot][blend] ? TC_OK : record_analysis(det, slot, blend, err);
    double t0 = now_ms();
    if (st == TC_OK)
      st = run_locked(det, det->cmd[slot][blend], err);
    ms = now_ms() - t0;
  }
  if (st == TC_OK)
    st = read_results(det, ms, out, err);
  if (st == TC_OK && out)
    out->batch = batch;
  return st;
}

tc_status tc_detector_analyse_slot(tc_detector *det, int slot, tc_analysis *out, tc_error *err)
{
  if (!tc_detector_slot(det, slot))
    return det->have_frame ? tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no frame slot %d", slot) : no_frame(err);
  tc_status st = tc_frame_slot_to_device(&det->slot[slot], err);
  return st == TC_OK ? run_analysis(det, slot, 0, out, err) : st;
}

tc_status tc_detector_analyse(tc_detector *det, void *pixels, size_t stride, int blend, tc_analysis *out,
                              tc_error *err)
{
  TC_REQUIRE(det, err);
  TC_REQUIRE(pixels, err);
  if (!det->have_frame)
    return no_frame(err);
  tc_status sst = tc_frame_check_host_stride(&det->frame, stride, err);
  if (sst != TC_OK)
    return sst;
  blend = blend && det->params.alpha > 0;
  tc_frame_slot *s = &det->slot[0];
  tc_frame_slot_write(s, pixels, stride);
  tc_status st = tc_frame_slot_to_device(s, err);
  if (st == TC_OK)
    st = run_analysis(det, 0, blend, out, err);
  if (st == TC_OK && blend)
    st = tc_frame_slot_from_device(s, err);
  if (st == TC_OK && blend)
    tc_frame_slot_read(s, pixels, stride);
  return st;
}

/* ---- frames in the caller's device buffers ---- */

tc_status tc_detector_analyse_device(tc_detector *det, tc_device_plane *planes, uint32_t n_planes, int blend,
                                     tc_analysis *out, tc_error *err)
{
  TC_REQUIRE(det, err);
  TC_REQUIRE(planes, err);
  if (!tc_context_is_borrowed(det->ctx))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "device frames need a detector on the caller's Vulkan device "
                        "(tc_detector_options.vulkan_device)");
  if (!det->have_frame)
    return no_frame(err);
  tc_status st = tc_frame_slot_check_planes(&det->slot[0], planes, n_planes, err);
  if (st != TC_OK)
    return st;
  blend = blend && det->params.alpha > 0;
  st = det->copy_cmd ? TC_OK : tc_cmd_create(det->ctx, &det->copy_cmd, err);
  if (st == TC_OK)
    st = tc_frame_slot_copy_planes(&det->slot[0], det->copy_cmd, planes, 1, err);
  if (st == TC_OK)
    st = run_analysis(det, 0, blend, out, err);
  if (st == TC_OK && blend)
    st = tc_frame_slot_copy_planes(&det->slot[0], det->copy_cmd, planes, 0, err);
  return st;
}

tc_status tc_detector_analyse_batch(tc_detector *det, void *const *pixels, const size_t *strides, uint32_t count,
                                    int blend, tc_analysis *out, tc_error *err)
{
  TC_REQUIRE(det, err);
  if (count == 0 || count > TC_MAX_BATCH)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "batch of %u frames: 1..%d are taken", count, TC_MAX_BATCH);
  if (!pixels || !strides || !out)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "batch: NULL %s array",
                        !pixels ? "pixels" : !strides ? "strides" : "out");
  if (!det->have_frame)
    return no_frame(err);
  /* every frame checked before any is analysed: a refusal does no work */
  for (uint32_t i = 0; i < count; i++) {
    if (!pixels[i])
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "batch frame %u: NULL pixels", i);
    tc_status st = tc_frame_check_host_stride(&det->frame, strides[i], err);
    if (st != TC_OK) {
      tc_error_prefix(err, "batch frame %u", i);
      return st;
    }
  }
  for (uint32_t i = 0; i < count; i++) {
    tc_status st = tc_detector_analyse(det, pixels[i], strides[i], blend, &out[i], err);
    if (st != TC_OK)
      return st;
    /* host_scores is overwritten by the next frame: each result keeps its own copy */
    float *own = det->batch_scores + (size_t)i * det->tokens;
    memcpy(own, det->host_scores, det->tokens * sizeof(float));
    out[i].scores = own;
  }
  return TC_OK;
}

void tc_detector_map_params(const tc_detector *det, const tc_params *p, const tc_frame *frame, tc_map_params *out)
{
  tc_params_to_map(p, det->grid, tc_encoder_input_size(det->enc), frame->width, frame->height, out);
}

tc_status tc_detector_read_layer_scores(tc_detector *det, uint32_t layer, float *dst, tc_error *err)
{
  if (layer >= det->layers)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no feature layer %u: the detector scores %u", layer,
                        det->layers);
  return tc_buffer_download(layer_scores(det, layer), 0, dst, det->tokens * sizeof(float), err);
}

tc_status tc_detector_read_map(tc_detector *det, float *dst, tc_error *err)
{
  TC_REQUIRE(det, err);
  TC_REQUIRE(dst, err);
  if (!det->have_frame)
    return no_frame(err);
  if (!tc_map_buffer(det->map))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT,
                        "the detector keeps no full-resolution map: set the keep_map parameter");
  if (!det->map_ready)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no map yet: the next analysis makes it (the frame layout "
                        "or the map's parameters changed since the last one)");
  return tc_map_read(det->map, dst, err);
}
