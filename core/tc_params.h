/* The analysis parameters (tc_params, public in tokenclip/tokenclip.h): one
 * table says what each field is, and everything else reads it.
 *
 *   library defaults < head-file defaults < the caller's (fields set)
 *
 * tc_params_merge builds the values in effect from the three layers,
 * tc_params_check validates them once (every field's range from the table,
 * then what crosses fields), and the tc_params_to_* functions hand the stages
 * their own structs. A head file's defaults are read and written from the
 * same table (core/head/tc_head_file.c), so a new default in head files is a
 * field, an id and one row of the table (core/tc_params.c) with
 * TC_PARAM_IN_HEAD_FILE. The defaults that depend on the model are filled in
 * by tc_params_resolve_model once the model is known. */
#ifndef TC_PARAMS_H
#define TC_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "tc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tc_param_kind {
  TC_PARAM_KIND_UINT,  /* uint32_t or an enum: whole numbers */
  TC_PARAM_KIND_FLOAT, /* float: finite */
  TC_PARAM_KIND_LIST,  /* uint32_t[TC_MAX_FEATURE_LAYERS]: whole numbers in [min, max], strictly increasing,
                          then zeros; all zeros = not given (a head file's tensor: [n]) */
} tc_param_kind;

enum {
  TC_PARAM_LOAD_TIME = 1 << 0,     /* fixed once a detector exists */
  TC_PARAM_IN_HEAD_FILE = 1 << 1,  /* a head file may hold a default (a tensor of the same name: one element,
                                      or [n] for a list) */
  TC_PARAM_MIN_EXCLUSIVE = 1 << 2, /* value > min, not >= */
  TC_PARAM_MAX_SUBSPACES = 1 << 3, /* value <= Q as well, where Q is known */
};

typedef struct tc_param_info {
  tc_param id;
  const char *name;
  tc_param_kind kind;
  size_t offset; /* of the field in tc_params */
  size_t size;   /* its bytes: 4 (uint32_t, float or an enum), or the list's */
  double min, max;
  unsigned flags;
  const char *meaning; /* what the whole numbers of an enum or a switch mean, for messages */
} tc_param_info;

/* The row of id, NULL for an unknown id. */
const tc_param_info *tc_param_info_of(tc_param id);

/* Whether value suits the field (subspaces: Q for topk's bound, 0 when not
 * known); the message says "<name> <value>: must be <what it must be>". */
tc_status tc_param_check_value(tc_param id, double value, uint32_t subspaces, tc_error *err);
/* What a field's values must be, e.g. "a whole number from 0 (all) to Q = 4". */
void tc_param_requirement(tc_param id, uint32_t subspaces, char *buf, size_t size);
/* Whether n values suit a list field (1 <= n <= TC_MAX_FEATURE_LAYERS, each
 * in range, strictly increasing); the message says "<name> 6,3: must be ...". */
tc_status tc_param_check_list(tc_param id, const uint32_t *values, uint32_t n, tc_error *err);
/* A field's value as text: "%g", or a list's values "6,12,18,24" ("" when empty). */
void tc_param_format(const tc_params *p, tc_param id, char *buf, size_t size);

/* The defaults that depend on the model's L layers (tokenclip.h), where
 * neither the head file nor the caller gave the field (its bit is not in
 * `given`): vv_start round(L / 4), at least 1; feature_layers {L}. */
void tc_params_resolve_model(tc_params *p, uint64_t given, uint32_t layers);
/* round(L / 4), at least 1: AnomalyCLIP's V-V layers (6..24 of 24) in proportion. */
uint32_t tc_params_default_vv_start(uint32_t layers);
/* The feature layers into out[TC_MAX_FEATURE_LAYERS]; their number (0: not given). */
uint32_t tc_params_feature_layers(const tc_params *p, uint32_t *out);

/* out = library defaults, then every field set in head_file (may be NULL),
 * then every field set in user (may be NULL); out->set = user's set fields. */
void tc_params_merge(const tc_params *head_file, const tc_params *user, tc_params *out);

/* Every field in its range, topk <= subspaces (when not 0), range_hi > range_lo. */
tc_status tc_params_check(const tc_params *p, uint32_t subspaces, tc_error *err);

/* The load-time field that differs between a and b, or TC_PARAM_COUNT. */
tc_param tc_params_load_time_change(const tc_params *a, const tc_params *b);

/* Bit masks of the fields of each stage, to see what a change touches. */
uint64_t tc_params_head_fields(void);
uint64_t tc_params_map_fields(void);
/* The fields where a and b differ, as bits. */
uint64_t tc_params_diff(const tc_params *a, const tc_params *b);

/* The stages' own structs. */
struct tc_head_params;
struct tc_map_params;
struct tc_encoder_options;
void tc_params_to_head(const tc_params *p, struct tc_head_params *out);
/* The map for a frame_w x frame_h frame from a grid x grid score grid at
 * model input size S: sigma (model-input pixels) scaled per axis to the
 * frame, the fixed range times the feature layers' count. */
void tc_params_to_map(const tc_params *p, uint32_t grid, uint32_t input_size, uint32_t frame_w, uint32_t frame_h,
                      struct tc_map_params *out);
void tc_params_to_encoder(const tc_params *p, struct tc_encoder_options *out);

#ifdef __cplusplus
}
#endif

#endif
