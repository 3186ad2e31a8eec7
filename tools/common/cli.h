/* What the command-line tools share on the command line and on stdout:
 * option values parsed with their ranges checked (an error names the tool and
 * the option), the kernel family, resize-filter and positional-embedding
 * names, JSON strings, and a monotonic clock.
 *
 * The parsers return 0 on success and -1 after printing
 * "TOOL: OPT takes ..., not \"VAL\"" on stderr; *out is then unchanged. */
#ifndef TC_TOOLS_CLI_H
#define TC_TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "image/tc_preprocess.h"
#include "model/tc_pos_embed.h"
#include "vk/tc_vk.h"

/* --help or -h. */
int cli_is_help(const char *arg);

/* A command line refused: prints the usage on stderr and returns the tools'
 * exit status for it, 2 (`return cli_refused(usage);` in main). */
int cli_refused(void (*usage)(FILE *f));

/* A number (strtod, the whole string). */
int cli_float(const char *tool, const char *opt, const char *val, float *out);

/* A whole number 0..100000000: "takes a whole number >= 0". */
int cli_uint(const char *tool, const char *opt, const char *val, uint32_t *out);

/* A whole number 0..max: "takes a whole number 0..MAX". */
int cli_uint_max(const char *tool, const char *opt, const char *val, uint32_t max, uint32_t *out);

/* An analysis parameter (tokenclip/tokenclip.h): a number, set in *p when
 * the parameter can take it; else the library's reason ("TOOL: OPT: topk
 * 2.5: must be a whole number ..."). */
int cli_param(const char *tool, const char *opt, const char *val, tc_params *p, tc_param id);

/* A list parameter (feature_layers): whole numbers separated by commas,
 * "6,12,18,24", set in *p when the parameter can take them. */
int cli_param_list(const char *tool, const char *opt, const char *val, tc_params *p, tc_param id);

/* --kernels cpu|gpu. */
int cli_kernels(const char *tool, const char *val, tc_kernel_family *out);

/* --resample bicubic|bilinear|bicubic-pil. */
int cli_resample(const char *tool, const char *val, tc_resample_filter *out);

/* --pos-interp bicubic|bicubic-aa|bilinear. */
int cli_pos_interp(const char *tool, const char *val, tc_interp *out);
/* --precision auto|fp32|fp16 into *out; -1 with a message otherwise. */
int cli_precision(const char *tool, const char *val, tc_precision *out);

/* Writes s as a JSON string, quotes included, '"' and '\\' escaped. Control
 * characters are dropped (the tools' free text is paths and device names),
 * or with escape_controls written as \u00XX. */
void cli_json_string(FILE *f, const char *s, int escape_controls);

/* One member of an object on stdout: `  "key": "s"` + end + newline, with s
 * as cli_json_string writes it (controls dropped); end is "," or "". */
void cli_json_member(const char *key, const char *s, const char *end);

/* Milliseconds on the monotonic clock. */
double cli_now_ms(void);

#endif
