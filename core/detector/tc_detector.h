/* The whole per-frame pipeline of libtokenclip, for the GStreamer element
 * and for applications that link the library directly:
 *
 *   frame -> preprocess -> ViT encoder -> TokenCLIP head -> token scores
 *         -> map (upsample, blur) -> colormap + alpha blend into the frame
 *
 * Created once (model and head loaded, weights on the device); the frame
 * layout is set with tc_detector_set_frame (commands are recorded then, not
 * per frame). Two lanes with their own buffers and command sequences:
 *
 *   analysis  tc_detector_analyse: preprocess + encoder + head (+ blend into
 *             the same frame when asked: the synchronous path, one submission)
 *   overlay   tc_detector_overlay: blend given grid scores into a frame (the
 *             asynchronous path: video is not held while a frame is analysed)
 *
 * Thread safety: analyse and overlay may run at the same time on two
 * threads; each lane is serialised internally, and the set_* calls wait for
 * both lanes. */
#ifndef TC_DETECTOR_H
#define TC_DETECTOR_H

#include "tc_encoder.h"
#include "tc_frame.h"
#include "tc_head.h"
#include "tc_map.h"
#include "tc_preprocess.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which head parameters the caller sets; the others come from the head file
 * (when it has them) or tc_head_params_default. */
enum {
  TC_DETECTOR_SET_TEMPERATURE = 1 << 0,
  TC_DETECTOR_SET_EPS = 1 << 1,
  TC_DETECTOR_SET_ITERS = 1 << 2,
  TC_DETECTOR_SET_TOPK = 1 << 3,
};

typedef struct tc_detector_options {
  const char *model_path; /* CLIP safetensors (vision tower; HF or open_clip naming) */
  /* The textual subspaces: a head file, or T [Q, 2, D] given directly (e.g.
   * computed from prompts); exactly one of the two. */
  const char *head_path;
  const float *subspaces;
  uint32_t n_subspaces;
  const char *device; /* NULL: TOKENCLIP_DEVICE or the best device */
  tc_encoder_options encoder;
  tc_resample_filter resample; /* frame -> model input */
  tc_head_params head;         /* fields named in head_set override the head file */
  unsigned head_set;
  tc_map_params map;           /* grid_w / grid_h are set by the detector */
  /* -- text: zero-shot subspaces from words (core/text/tc_prompts.h) --
   * object: instead of head_path / subspaces, T [Q, 2, D] is computed once,
   * at creation, by the model file's CLIP text encoder from prompt templates
   * for this object name (e.g. "metal nut"); the head parameters are the
   * library's defaults with the head_set overrides. */
  const char *object;
  const char *prompts_path; /* templates, one per line with one {} (NULL: the built-in ones) */
  const char *vocab_path;   /* CLIP vocabulary (NULL: beside the model file, else the installed one) */
} tc_detector_options;

void tc_detector_options_init(tc_detector_options *opts);

typedef struct tc_detector tc_detector;

tc_status tc_detector_create(const tc_detector_options *opts, tc_detector **out, tc_error *err);
void tc_detector_destroy(tc_detector *det);

const char *tc_detector_device_name(const tc_detector *det);
/* The Vulkan context the analysis runs on (owned by the detector; the
 * overlay lane has a second context on the same physical device). */
tc_context *tc_detector_context(tc_detector *det);
/* Validation-layer messages of both contexts (0 unless validation is on). */
uint32_t tc_detector_validation_messages(const tc_detector *det);
uint32_t tc_detector_grid(const tc_detector *det); /* the token grid is grid x grid */
uint32_t tc_detector_input_size(const tc_detector *det);
uint32_t tc_detector_subspaces(const tc_detector *det);
/* The head parameters in effect (defaults, head file, overrides). */
tc_head_params tc_detector_head_params(const tc_detector *det);

/* Prepares both lanes for frames of this layout. Required before the first
 * frame and whenever the layout changes. */
tc_status tc_detector_set_frame(tc_detector *det, const tc_frame *frame, tc_error *err);
/* Live parameter changes: take effect on the next frame. */
tc_status tc_detector_set_head_params(tc_detector *det, const tc_head_params *params, tc_error *err);
tc_status tc_detector_set_map_params(tc_detector *det, const tc_map_params *params, tc_error *err);

typedef struct tc_analysis {
  float image_score;  /* the head's image score blended with map_max (tc_head_image_score) */
  float global_score; /* from the global token alone */
  float max_score;    /* the largest token score */
  float map_max;      /* the largest value of the smoothed map at frame size */
  uint32_t iterations; /* Sinkhorn iterations run */
  int converged;
  double inference_ms; /* wall time of the submission */
  uint32_t grid;       /* scores is grid x grid, raster order */
  const float *scores; /* token scores; owned by the detector, valid until the next analyse */
} tc_analysis;

/* Analyses a frame (pixels with rows `stride` bytes apart, in the layout of
 * tc_detector_set_frame). With blend, the heatmap is also blended into
 * pixels, in place, in the same submission. A NaN or infinite token gives
 * TC_ERR_NUMERIC and leaves pixels untouched. */
tc_status tc_detector_analyse(tc_detector *det, void *pixels, size_t stride, int blend, tc_analysis *out,
                              tc_error *err);

/* Blends the map of grid scores (grid x grid floats, e.g. a previous
 * analysis's) into pixels, in place. */
tc_status tc_detector_overlay(tc_detector *det, void *pixels, size_t stride, const float *scores, tc_error *err);

/* ---- the smoothed map at frame size (offline evaluation, tools) ----
 *
 * With map.keep_map set (in the options or by tc_detector_set_map_params),
 * the analysis lane keeps the full-resolution smoothed map of each analysed
 * frame: the token scores bilinearly upsampled to the frame size and blurred
 * (map.sigma, frame pixels), before normalisation and colouring. After
 * tc_detector_analyse returns, this copies it to dst: float [height][width]
 * of the layout given to tc_detector_set_frame. Without keep_map it is an
 * error (TC_ERR_INVALID_ARGUMENT) naming the option. */
tc_status tc_detector_read_map(tc_detector *det, float *dst, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
