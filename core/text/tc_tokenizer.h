/* The CLIP byte-pair-encoding tokenizer (OpenAI's simple_tokenizer, which
 * open_clip and Hugging Face's CLIPTokenizer reproduce), in plain C.
 *
 * Vocabularies read:
 *   - OpenAI's bpe_simple_vocab_16e6.txt.gz (gzip, or the same text
 *     uncompressed): a header line, then merges "a b"; the vocabulary is
 *     built as CLIP builds it: the 256 byte symbols, the same with "</w>",
 *     one entry per merge (lines 2 .. 48895 only, as CLIP reads them), then
 *     <|startoftext|> (49406) and <|endoftext|> (49407);
 *   - Hugging Face's vocab.json (token -> id) with merges.txt beside it
 *     ("#version" line, then merges; the same 48894-merge limit).
 *
 * Text -> ids, step by step as CLIP does it:
 *   1. html.unescape twice (Python's rules: the HTML5 named references, with
 *      and without ';', longest-prefix matching, numeric references with
 *      the HTML5 replacements of invalid code points), then strip;
 *   2. whitespace clean: runs of white space (Python's str.isspace) become
 *      one space, leading and trailing white space goes;
 *   3. lower case as Python's str.lower() (full mapping: U+0130 becomes
 *      "i̇", capital sigma becomes final sigma at the end of a word);
 *   4. pre-tokenisation with CLIP's pattern (IGNORECASE)
 *        <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *      (the two special tokens map straight to their ids);
 *   5. each piece as UTF-8 bytes, each byte mapped to its printable symbol
 *      (bytes_to_unicode), "</w>" appended to the last, then merged by
 *      rank (lowest first, all occurrences left to right) until no merge
 *      applies; each symbol's id from the vocabulary.
 * Difference from CLIP: CLIP first runs ftfy.fix_text, which this does not
 * (ftfy is a large Python heuristic library): mojibake is not repaired, text
 * is not NFC-normalised, and curly quotes, ligatures, full-width forms and
 * control characters are kept as they are. For plain text (object names,
 * prompt templates) the ids are the same. Letter, number, space and case
 * tables come from Python's unicodedata (core/text/gen_unicode_tables.py);
 * the "regex" module CLIP uses may follow a newer Unicode version for
 * recently added characters. */
#ifndef TC_TOKENIZER_H
#define TC_TOKENIZER_H

#include <stdint.h>

#include "tc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TC_CLIP_CONTEXT 77 /* CLIP's context length, start and end tokens included */
#define TC_CLIP_VOCAB_FILE "bpe_simple_vocab_16e6.txt.gz"

typedef struct tc_tokenizer tc_tokenizer;

/* Opens a vocabulary. path may be:
 *   - a .txt.gz / .txt merges file of OpenAI's format;
 *   - a Hugging Face vocab.json or merges.txt (the other one beside it);
 *   - a directory holding vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz;
 *   - NULL or "": $TOKENCLIP_VOCAB, else the vocabulary installed with
 *     libtokenclip (share/tokenclip/bpe_simple_vocab_16e6.txt.gz; the
 *     source tree's data/ in an uninstalled build).
 * Errors name the file and the line or entry at fault. */
tc_status tc_tokenizer_open(const char *path, tc_tokenizer **out, tc_error *err);
void tc_tokenizer_close(tc_tokenizer *tok);

/* The vocabulary file that path (as for tc_tokenizer_open) resolves to, for
 * messages; NULL when none is found. */
const char *tc_tokenizer_path(const tc_tokenizer *tok);
uint32_t tc_tokenizer_vocab_size(const tc_tokenizer *tok); /* largest id + 1 */
int32_t tc_tokenizer_sot(const tc_tokenizer *tok);          /* <|startoftext|>: 49406 for CLIP */
int32_t tc_tokenizer_eot(const tc_tokenizer *tok);          /* <|endoftext|>: 49407 */

/* Steps 1-3: the cleaned, lower-cased text as a malloc'ed UTF-8 string. */
tc_status tc_tokenizer_clean(const char *text, char **out, tc_error *err);

/* The BPE ids of text (no start or end token) into ids[0 .. max); *n gets
 * the count, which may exceed max (then only max are written and the status
 * is still TC_OK: the caller compares). */
tc_status tc_tokenizer_encode(const tc_tokenizer *tok, const char *text, int32_t *ids, uint32_t max, uint32_t *n,
                              tc_error *err);

/* CLIP's tokenize(): [sot, ids..., eot] zero-padded to context ids; *length
 * (may be NULL) gets the count before padding, so the end token sits at
 * *length - 1. Text needing more than context tokens is an error
 * (TC_ERR_INVALID_ARGUMENT) that quotes the text and gives both counts. */
tc_status tc_tokenizer_tokenize(const tc_tokenizer *tok, const char *text, uint32_t context, int32_t *out,
                                uint32_t *length, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
