/* Vocabulary loading in its three forms, chosen by the first byte: an
 * OpenAI merges file (plain; gzip when the data is gzip), a Hugging Face
 * vocab.json + merges.txt pair (split at the first NUL byte), or a folder
 * holding that pair. What loads then encodes a fixed text. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "text/tc_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  int form = data[0] % 3;
  data++, size--;
  const char *path;
  if (form == 0) {
    path = fuzz_file("bpe_vocab.txt.gz", data, size);
  } else {
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : size;
    const char *vocab = fuzz_file("vocab.json", data, n);
    fuzz_file("merges.txt", nul ? nul + 1 : data + size, nul ? size - n - 1 : 0);
    path = form == 1 ? vocab : fuzz_dir();
  }
  tc_tokenizer *tok = NULL;
  if (tc_tokenizer_open(path, &tok, NULL) == TC_OK) {
    int32_t ids[77];
    uint32_t n = 0;
    tc_tokenizer_encode(tok, "a photo of a damaged screw.", ids, 77, &n, NULL);
    tc_tokenizer_tokenize(tok, "flawless bottle", 77, ids, &n, NULL);
    tc_tokenizer_close(tok);
  }
  return 0;
}
