/* The JSON parser behind safetensors headers and vocab.json. */
#include <string.h>

#include "fuzz_util.h"
#include "tc_json.h"

static size_t walk(const tc_json_value *v, int depth)
{
  size_t n = 1;
  if (v->type == TC_JSON_STRING)
    n += strlen(v->string);
  for (size_t i = 0; (v->type == TC_JSON_ARRAY || v->type == TC_JSON_OBJECT) && i < v->count; i++)
    n += walk(&v->items[i], depth + 1) + (v->type == TC_JSON_OBJECT ? strlen(v->keys[i]) : 0);
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tc_json_doc *doc = NULL;
  tc_error err = { 0 };
  if (tc_json_parse((const char *)data, size, &doc, &err) == TC_OK) {
    walk(tc_json_root(doc), 0); /* every value and string readable */
    tc_json_free(doc);
  } else if (strncmp(err.message, "at byte ", 8) != 0 && strcmp(err.message, "out of memory") != 0) {
    __builtin_trap(); /* every refusal says where */
  }
  return 0;
}
