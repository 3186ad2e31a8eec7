/* Command-line options of the detector, shared by tokenclip-infer and
 * tokenclip-eval so that both run the same pipeline under the same names:
 * model, head (a file, or --object: zero-shot subspaces from words, with
 * --prompts and --vocab), device, and the analysis parameters (encoder, head,
 * map smoothing), each option one tc_params field. Each tool checks that it
 * was given one source of subspaces. */
#ifndef TC_TOOLS_DETECTOR_ARGS_H
#define TC_TOOLS_DETECTOR_ARGS_H

#include <stdio.h>

#include "tokenclip/tokenclip.h"

typedef struct detector_args {
  tc_detector_options det; /* model_path, head_path or object, params (the options given are set) */
} detector_args;

/* Defaults: tc_detector_options_init. */
void detector_args_init(detector_args *a);

/* Parses one option `opt` with its value `val` (may be NULL: opt is the last
 * argument). Returns 1 when it was a detector option and took val, 0 when it
 * is not one of them and has a value (the tool's own option), -1 after
 * printing an error prefixed with `tool`: a detector option's value refused,
 * or another option without a value ("unknown option or missing value"). */
int detector_args_parse(detector_args *a, const char *tool, const char *opt, const char *val);

/* The options' help lines. */
void detector_args_usage(FILE *f);

#endif
