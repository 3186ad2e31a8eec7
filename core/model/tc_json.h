/* A small strict JSON parser (RFC 8259) for file headers such as
 * safetensors'. Internal to libtokenclip.
 *
 * Strict: UTF-8 is validated, control characters in strings, trailing
 * commas, leading zeros, NaN and comments are rejected, nesting is limited,
 * and nothing may follow the value but whitespace. "\u0000" is rejected so
 * every decoded string is a plain C string. Duplicate object keys are kept
 * as found: the caller decides whether they matter. Numbers are validated;
 * integers that fit int64 are given exactly, others are only flagged (no
 * strtod: the result must not depend on the process's locale). */
#ifndef TC_JSON_H
#define TC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "tc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tc_json_type {
  TC_JSON_NULL,
  TC_JSON_FALSE,
  TC_JSON_TRUE,
  TC_JSON_NUMBER,
  TC_JSON_STRING,
  TC_JSON_ARRAY,
  TC_JSON_OBJECT,
} tc_json_type;

typedef struct tc_json_value tc_json_value;
struct tc_json_value {
  tc_json_type type;
  size_t offset;       /* byte offset of the value in the text, for messages */
  int is_int;          /* NUMBER: an integer (no fraction, no exponent) that fits int64 */
  int64_t int_value;   /* valid when is_int */
  const char *string;  /* STRING: decoded, NUL-terminated */
  size_t count;        /* ARRAY, OBJECT: number of items */
  tc_json_value *items;
  const char **keys;   /* OBJECT: keys[i] names items[i] */
};

typedef struct tc_json_doc tc_json_doc;

/* Parses text[0..len). On success *out owns every value and string; the
 * root is tc_json_root(*out). On failure returns TC_ERR_FORMAT (or
 * TC_ERR_OUT_OF_MEMORY) with "at byte N: what went wrong" in err. */
tc_status tc_json_parse(const char *text, size_t len, tc_json_doc **out, tc_error *err);
const tc_json_value *tc_json_root(const tc_json_doc *doc);
void tc_json_free(tc_json_doc *doc);

const char *tc_json_type_name(tc_json_type type);

#ifdef __cplusplus
}
#endif

#endif
