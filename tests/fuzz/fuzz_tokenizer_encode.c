/* Encoding any text with CLIP's own vocabulary: cleaning (HTML entities,
 * Unicode), the pre-tokenizer and BPE, counting, tokenize() at the context. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "text/tc_tokenizer.h"

static tc_tokenizer *tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!tok && tc_tokenizer_open(NULL, &tok, NULL) != TC_OK)
    abort(); /* the installed or source-tree vocabulary must load */
  char *text = fuzz_string(data, size);
  char *clean = NULL;
  if (tc_tokenizer_clean(text, &clean, NULL) == TC_OK)
    free(clean);
  uint32_t n = 0, n2 = 0, length = 0;
  if (tc_tokenizer_encode(tok, text, NULL, 0, &n, NULL) == TC_OK) { /* count only */
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (tc_tokenizer_encode(tok, text, ids, n, &n2, NULL) != TC_OK || n2 != n)
      __builtin_trap(); /* the count and the ids agree */
    free(ids);
  }
  int32_t ctx[TC_CLIP_CONTEXT];
  if (tc_tokenizer_tokenize(tok, text, TC_CLIP_CONTEXT, ctx, &length, NULL) == TC_OK &&
      (length != n + 2 || ctx[0] != tc_tokenizer_sot(tok) || ctx[length - 1] != tc_tokenizer_eot(tok)))
    __builtin_trap();
  free(text);
  return 0;
}
