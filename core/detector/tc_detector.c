/* The per-frame pipeline: model, head and map stages wired into two lanes. */
#include "tc_detector.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tc_head_file.h"
#include "text/tc_prompts.h"
#include "text/tc_unicode.h"

/* A frame buffer, its map and its command sequences, used by one thread at a time. */
typedef struct lane {
  pthread_mutex_t lock;
  tc_context *ctx;   /* the analysis lane's is the detector's; the overlay lane has its own */
  tc_buffer *frame_buf;
  tc_map *map;
  tc_cmd *cmd[2];    /* analysis: [0] without blend, [1] with; overlay: [0] only */
  bool recorded[2];
} lane;

struct tc_detector {
  tc_context *ctx;
  tc_clip_vision *model;
  tc_encoder *enc;
  tc_head *head;
  tc_head_params head_params;
  tc_map_params map_params;
  tc_resample_filter resample;
  uint32_t grid, tokens; /* tokens = grid^2 patch tokens */

  tc_frame frame;
  bool have_frame;
  tc_preprocess *pp;
  tc_buffer *scores[2]; /* per lane: analysis writes, overlay uploads */
  float *host_scores;
  lane analysis, overlay;
};

void tc_detector_options_init(tc_detector_options *o)
{
  memset(o, 0, sizeof *o);
  tc_encoder_options_init(&o->encoder);
  o->resample = TC_RESAMPLE_BICUBIC;
  tc_head_params_default(&o->head);
  tc_map_params_init(&o->map);
}

static void apply_overrides(tc_head_params *p, const tc_detector_options *o)
{
  if (o->head_set & TC_DETECTOR_SET_TEMPERATURE)
    p->temperature = o->head.temperature;
  if (o->head_set & TC_DETECTOR_SET_EPS)
    p->sinkhorn_eps = o->head.sinkhorn_eps;
  if (o->head_set & TC_DETECTOR_SET_ITERS)
    p->sinkhorn_iters = o->head.sinkhorn_iters;
  if (o->head_set & TC_DETECTOR_SET_TOPK)
    p->topk = o->head.topk;
}

/* -- text: the subspaces from words (options.object) -- */
static tc_status create_head_from_words(tc_detector *det, const tc_detector_options *o, uint32_t D, tc_error *err)
{
  if (o->head_path || o->subspaces)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "give an object name, a head file or subspaces: only one");
  tc_clip_text *text = NULL;
  tc_tokenizer *tok = NULL;
  char **loaded = NULL;
  uint32_t Q = tc_prompt_templates_count, TD = 0;
  const char *const *templates = tc_prompt_templates;
  float *T = NULL;
  tc_status st = TC_OK;
  if (o->prompts_path && *o->prompts_path) {
    st = tc_prompt_templates_load(o->prompts_path, &loaded, &Q, err);
    templates = (const char *const *)loaded;
  }
  if (st == TC_OK)
    st = tc_clip_text_open(o->model_path, NULL, &text, err);
  if (st == TC_OK)
    st = tc_prompt_open_tokenizer(o->model_path, o->vocab_path, &tok, err);
  if (st == TC_OK)
    st = tc_prompt_subspaces_on(det->ctx, text, tok, o->object, templates, Q, &T, &TD, err);
  if (st == TC_OK && TD != D)
    st = tc_error_set(err, TC_ERR_MISMATCH, "%s: text embeddings have %u dimensions, image tokens %u",
                      o->model_path, TD, D);
  if (st == TC_OK)
    st = tc_head_create(det->ctx, T, Q, D, det->tokens, &det->head, err);
  free(T);
  tc_prompt_templates_free(loaded, loaded ? Q : 0);
  tc_tokenizer_close(tok);
  tc_clip_text_close(text);
  if (st != TC_OK) {
    tc_error_prefix(err, "subspaces for object \"%.*s\"", tc_utf8_prefix(o->object, 60), o->object);
    return st;
  }
  det->head_params = o->head;
  apply_overrides(&det->head_params, o);
  return tc_head_params_check(&det->head_params, tc_head_subspaces(det->head), err);
}

static tc_status create_head(tc_detector *det, const tc_detector_options *o, tc_error *err)
{
  const uint32_t D = tc_encoder_embed_dim(det->enc);
  if (o->object && *o->object)
    return create_head_from_words(det, o, D, err);
  if (!o->head_path == !o->subspaces)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, o->head_path ? "give a head file or subspaces, not both"
                                                                   : "no head: give a head file (or subspaces)");
  /* the file's defaults sit between the library's and the caller's */
  det->head_params = o->head;
  tc_status st;
  if (o->head_path) {
    tc_head_file hf = { 0 };
    st = tc_head_file_load(o->head_path, D, &hf, &det->head_params, err);
    if (st == TC_OK)
      st = tc_head_create(det->ctx, hf.subspaces, hf.Q, D, det->tokens, &det->head, err);
    tc_head_file_free(&hf);
  } else {
    if (o->n_subspaces == 0)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no subspaces (Q = 0)");
    st = tc_head_create(det->ctx, o->subspaces, o->n_subspaces, D, det->tokens, &det->head, err);
  }
  if (st != TC_OK)
    return st;
  apply_overrides(&det->head_params, o);
  return tc_head_params_check(&det->head_params, tc_head_subspaces(det->head), err);
}

tc_status tc_detector_create(const tc_detector_options *o, tc_detector **out, tc_error *err)
{
  *out = NULL;
  if (!o->model_path || !*o->model_path)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no model file given");
  tc_detector *det = calloc(1, sizeof *det);
  if (!det)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  pthread_mutex_init(&det->analysis.lock, NULL);
  pthread_mutex_init(&det->overlay.lock, NULL);
  det->resample = o->resample;
  det->map_params = o->map;

  tc_context_options copts;
  tc_context_options_init(&copts);
  copts.device = o->device;
  tc_status st = tc_context_create(&copts, &det->ctx, err);
  /* The overlay lane gets a device (and so a queue) of its own on the same
   * physical device: a queue runs its submissions in order, and lavapipe
   * has one queue per device, so on a shared queue an overlay would wait
   * for the analysis submitted before it, the very wait async mode avoids. */
  if (st == TC_OK)
    st = tc_context_create(&copts, &det->overlay.ctx, err);
  det->analysis.ctx = det->ctx;
  if (st == TC_OK)
    st = tc_clip_vision_open(o->model_path, NULL, &det->model, err);
  if (st == TC_OK)
    st = tc_encoder_create(det->ctx, det->model, &o->encoder, &det->enc, err);
  if (st == TC_OK) {
    det->grid = tc_encoder_grid(det->enc);
    det->tokens = det->grid * det->grid;
    det->map_params.grid_w = det->map_params.grid_h = det->grid;
    st = create_head(det, o, err);
  }
  if (st == TC_OK)
    st = tc_buffer_create(det->ctx, det->tokens * sizeof(float), &det->scores[0], err);
  if (st == TC_OK)
    st = tc_buffer_create(det->overlay.ctx, det->tokens * sizeof(float), &det->scores[1], err);
  if (st == TC_OK && !(det->host_scores = calloc(det->tokens, sizeof(float))))
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (int i = 0; i < 2 && st == TC_OK; i++) {
    if ((st = tc_cmd_create(det->ctx, &det->analysis.cmd[i], err)) == TC_OK && i == 0)
      st = tc_cmd_create(det->overlay.ctx, &det->overlay.cmd[0], err);
  }
  if (st != TC_OK) {
    tc_detector_destroy(det);
    return st;
  }
  *out = det;
  return TC_OK;
}

static void lane_clear(lane *l)
{
  tc_map_destroy(l->map);
  tc_buffer_destroy(l->frame_buf);
  l->map = NULL;
  l->frame_buf = NULL;
  l->recorded[0] = l->recorded[1] = false;
}

void tc_detector_destroy(tc_detector *det)
{
  if (!det)
    return;
  lane *lanes[] = { &det->analysis, &det->overlay };
  for (int i = 0; i < 2; i++) {
    lane_clear(lanes[i]);
    tc_cmd_destroy(lanes[i]->cmd[0]);
    tc_cmd_destroy(lanes[i]->cmd[1]);
    pthread_mutex_destroy(&lanes[i]->lock);
    tc_buffer_destroy(det->scores[i]);
  }
  tc_preprocess_destroy(det->pp);
  tc_head_destroy(det->head);
  tc_encoder_destroy(det->enc);
  tc_clip_vision_close(det->model);
  tc_context_destroy(det->overlay.ctx);
  tc_context_destroy(det->ctx);
  free(det->host_scores);
  free(det);
}

const char *tc_detector_device_name(const tc_detector *det) { return tc_context_device_name(det->ctx); }
tc_context *tc_detector_context(tc_detector *det) { return det->ctx; }
uint32_t tc_detector_validation_messages(const tc_detector *det)
{
  return tc_context_validation_messages(det->ctx) + tc_context_validation_messages(det->overlay.ctx);
}
uint32_t tc_detector_grid(const tc_detector *det) { return det->grid; }
uint32_t tc_detector_input_size(const tc_detector *det) { return tc_encoder_input_size(det->enc); }
uint32_t tc_detector_subspaces(const tc_detector *det) { return tc_head_subspaces(det->head); }
tc_head_params tc_detector_head_params(const tc_detector *det) { return det->head_params; }

static void lock_both(tc_detector *det)
{
  pthread_mutex_lock(&det->analysis.lock);
  pthread_mutex_lock(&det->overlay.lock);
}

static void unlock_both(tc_detector *det)
{
  pthread_mutex_unlock(&det->overlay.lock);
  pthread_mutex_unlock(&det->analysis.lock);
}

static tc_status lane_prepare(tc_detector *det, lane *l, tc_error *err)
{
  lane_clear(l);
  tc_status st = tc_frame_buffer_create(l->ctx, &det->frame, &l->frame_buf, err);
  if (st == TC_OK)
    st = tc_map_create(l->ctx, &det->frame, &det->map_params, &l->map, err);
  return st;
}

/* Both lanes for det->frame and det->map_params; both lane locks held. The
 * frame layout counts as set only when both are ready. */
static tc_status lanes_prepare(tc_detector *det, tc_error *err)
{
  tc_status st = lane_prepare(det, &det->analysis, err);
  if (st == TC_OK)
    st = lane_prepare(det, &det->overlay, err);
  det->have_frame = st == TC_OK;
  return st;
}

tc_status tc_detector_set_frame(tc_detector *det, const tc_frame *frame, tc_error *err)
{
  tc_status st = tc_frame_check(frame, err);
  if (st != TC_OK)
    return st;
  lock_both(det);
  if (!det->have_frame || memcmp(frame, &det->frame, sizeof *frame) != 0) {
    det->frame = *frame;
    det->have_frame = false;
    tc_preprocess_destroy(det->pp);
    det->pp = NULL;
    st = tc_preprocess_create(det->ctx, frame, tc_encoder_input_size(det->enc), det->resample, &det->pp, err);
    if (st == TC_OK)
      st = lanes_prepare(det, err);
  }
  unlock_both(det);
  return st;
}

tc_status tc_detector_set_head_params(tc_detector *det, const tc_head_params *params, tc_error *err)
{
  tc_status st = tc_head_params_check(params, tc_head_subspaces(det->head), err);
  if (st != TC_OK)
    return st;
  pthread_mutex_lock(&det->analysis.lock);
  det->head_params = *params;
  det->analysis.recorded[0] = det->analysis.recorded[1] = false;
  pthread_mutex_unlock(&det->analysis.lock);
  return TC_OK;
}

tc_status tc_detector_set_map_params(tc_detector *det, const tc_map_params *params, tc_error *err)
{
  tc_map_params p = *params;
  p.grid_w = p.grid_h = det->grid;
  tc_status st = TC_OK;
  lock_both(det);
  det->map_params = p;
  if (det->have_frame)
    st = lanes_prepare(det, err);
  unlock_both(det);
  return st;
}

static tc_status record_analysis(tc_detector *det, int blend, tc_error *err)
{
  lane *l = &det->analysis;
  tc_cmd *cmd = l->cmd[blend];
  tc_status st = tc_cmd_begin(cmd, err);
  if (st == TC_OK)
    st = tc_preprocess_record(det->pp, cmd, l->frame_buf, tc_encoder_input(det->enc), err);
  if (st == TC_OK)
    st = tc_encoder_record(det->enc, cmd, err);
  if (st == TC_OK)
    st = tc_head_record(det->head, cmd, tc_encoder_output(det->enc), det->scores[0], &det->head_params, err);
  if (st == TC_OK)
    st = tc_map_record_smooth(l->map, cmd, det->scores[0], 0, err);
  if (st == TC_OK && blend)
    st = tc_map_record_blend(l->map, cmd, l->frame_buf, err);
  if (st == TC_OK)
    st = tc_cmd_end(cmd, err);
  l->recorded[blend] = st == TC_OK;
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

tc_status tc_detector_analyse(tc_detector *det, void *pixels, size_t stride, int blend, tc_analysis *out,
                              tc_error *err)
{
  lane *l = &det->analysis;
  pthread_mutex_lock(&l->lock);
  blend = blend && det->map_params.alpha > 0; /* map_params change under both lane locks */
  tc_status st = det->have_frame ? TC_OK : no_frame(err);
  if (st == TC_OK && !l->recorded[blend])
    st = record_analysis(det, blend, err);
  if (st == TC_OK)
    st = tc_frame_upload(l->frame_buf, &det->frame, pixels, stride, err);
  double t0 = now_ms();
  if (st == TC_OK)
    st = tc_cmd_run(l->cmd[blend], err);
  double t1 = now_ms();
  tc_head_result hr = { 0 };
  float map_max = 0;
  if (st == TC_OK)
    st = tc_head_read_result(det->head, &hr, err);
  if (st == TC_OK)
    st = tc_map_read_range(l->map, NULL, &map_max, err);
  if (st == TC_OK)
    st = tc_buffer_download(det->scores[0], 0, det->host_scores, det->tokens * sizeof(float), err);
  if (st == TC_OK && blend)
    st = tc_frame_download(l->frame_buf, &det->frame, pixels, stride, err);
  if (st == TC_OK && out) {
    *out = (tc_analysis){
      .image_score = tc_head_image_score(&det->head_params, hr.global_score, map_max),
      .global_score = hr.global_score,
      .max_score = hr.token_score_max,
      .map_max = map_max,
      .iterations = hr.iterations,
      .converged = hr.converged,
      .inference_ms = t1 - t0,
      .grid = det->grid,
      .scores = det->host_scores,
    };
  }
  pthread_mutex_unlock(&l->lock);
  return st;
}

tc_status tc_detector_overlay(tc_detector *det, void *pixels, size_t stride, const float *scores, tc_error *err)
{
  lane *l = &det->overlay;
  pthread_mutex_lock(&l->lock);
  tc_status st = det->have_frame ? TC_OK : no_frame(err);
  if (st == TC_OK && det->map_params.alpha <= 0) { /* nothing to draw: leave the frame as it is */
    pthread_mutex_unlock(&l->lock);
    return TC_OK;
  }
  if (st == TC_OK && !l->recorded[0]) {
    tc_cmd *cmd = l->cmd[0];
    st = tc_cmd_begin(cmd, err);
    if (st == TC_OK)
      st = tc_map_record(l->map, cmd, det->scores[1], 0, l->frame_buf, err);
    if (st == TC_OK)
      st = tc_cmd_end(cmd, err);
    l->recorded[0] = st == TC_OK;
  }
  if (st == TC_OK)
    st = tc_buffer_upload(det->scores[1], 0, scores, det->tokens * sizeof(float), err);
  if (st == TC_OK)
    st = tc_frame_upload(l->frame_buf, &det->frame, pixels, stride, err);
  if (st == TC_OK)
    st = tc_cmd_run(l->cmd[0], err);
  if (st == TC_OK)
    st = tc_frame_download(l->frame_buf, &det->frame, pixels, stride, err);
  pthread_mutex_unlock(&l->lock);
  return st;
}

/* ---- the smoothed map at frame size ---- */

tc_status tc_detector_read_map(tc_detector *det, float *dst, tc_error *err)
{
  lane *l = &det->analysis;
  pthread_mutex_lock(&l->lock);
  tc_status st = det->have_frame ? TC_OK : no_frame(err);
  if (st == TC_OK && !tc_map_buffer(l->map))
    st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT,
                      "the detector keeps no full-resolution map: set map.keep_map in its options");
  if (st == TC_OK)
    st = tc_map_read(l->map, dst, err);
  pthread_mutex_unlock(&l->lock);
  return st;
}
