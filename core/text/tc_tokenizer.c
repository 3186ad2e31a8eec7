/* CLIP BPE tokenizer: text cleaning, CLIP's pre-tokenisation pattern and
 * byte-pair merges, with the vocabulary from OpenAI's or Hugging Face's files. */
#include "tc_tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "tc_json.h"
#include "tc_text_config.h"
#include "tc_unicode.h"

#define CLIP_MERGES 48894 /* CLIP reads merges lines 1 .. 49152 - 256 - 2 */
#define SOT_TEXT "<|startoftext|>"
#define EOT_TEXT "<|endoftext|>"

#ifndef TC_DATA_DIR
#define TC_DATA_DIR ""
#endif
#ifndef TC_SOURCE_DATA_DIR
#define TC_SOURCE_DATA_DIR ""
#endif

/* ---- growable code point strings ---- */

typedef struct ustr {
  uint32_t *c;
  size_t n, cap;
} ustr;

static int ustr_push(ustr *s, uint32_t c)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    uint32_t *p = realloc(s->c, cap * sizeof *p);
    if (!p)
      return -1;
    s->c = p, s->cap = cap;
  }
  s->c[s->n++] = c;
  return 0;
}

static int ustr_push_utf8(ustr *s, const char *u)
{
  /* only for the generated tables' values: valid UTF-8 */
  const unsigned char *p = (const unsigned char *)u;
  while (*p) {
    uint32_t c;
    int len = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
    c = len == 1 ? *p : len == 2 ? *p & 0x1F : len == 3 ? *p & 0x0F : *p & 0x07;
    for (int i = 1; i < len; i++)
      c = (c << 6) | (p[i] & 0x3F);
    p += len;
    if (ustr_push(s, c))
      return -1;
  }
  return 0;
}

/* Length of the well-formed UTF-8 sequence at p[i] (of n bytes) and its code point
 * in *cp, or 0 when the bytes there are not valid UTF-8 (overlong, surrogate,
 * beyond U+10FFFF, cut short). */
static int utf8_sequence(const unsigned char *p, size_t i, size_t n, uint32_t *cp)
{
  uint32_t c = p[i], min;
  int len;
  if (c < 0x80)
    len = 1, min = 0;
  else if ((c & 0xE0) == 0xC0)
    len = 2, c &= 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0)
    len = 3, c &= 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0)
    len = 4, c &= 0x07, min = 0x10000;
  else
    return 0;
  if (i + (size_t)len > n)
    return 0;
  for (int k = 1; k < len; k++) {
    if ((p[i + k] & 0xC0) != 0x80)
      return 0;
    c = (c << 6) | (p[i + k] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  *cp = c;
  return len;
}

static tc_status decode_utf8(const char *text, ustr *out, tc_error *err)
{
  const unsigned char *p = (const unsigned char *)text;
  size_t i = 0, n = strlen(text);
  while (i < n) {
    uint32_t c;
    int len = utf8_sequence(p, i, n, &c);
    if (!len)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "text is not valid UTF-8 (byte %zu, after \"%.*s\")", i,
                          tc_utf8_prefix(text, i < 60 ? i : 60), text);
    if (ustr_push(out, c))
      return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    i += (size_t)len;
  }
  return TC_OK;
}

static size_t encode_utf8(uint32_t c, char *out)
{
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

/* ---- cleaning: html.unescape, whitespace, lower case ---- */

static int is_hex(uint32_t c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'f'); }

/* Python's html.unescape on s into out. */
static int html_unescape(const ustr *s, ustr *out)
{
  const uint32_t *c = s->c;
  size_t n = s->n, i = 0;
  while (i < n) {
    if (c[i] != '&' || i + 1 >= n) {
      if (ustr_push(out, c[i++]))
        return -1;
      continue;
    }
    size_t j = i + 1;
    if (c[j] == '#') { /* &#123;? or &#x1F;? */
      int hex = j + 1 < n && (c[j + 1] == 'x' || c[j + 1] == 'X');
      size_t k = j + 1 + (size_t)hex, start = k;
      uint64_t num = 0;
      while (k < n && (hex ? is_hex(c[k]) : (c[k] >= '0' && c[k] <= '9'))) {
        uint32_t d = c[k] <= '9' ? c[k] - '0' : (c[k] | 32) - 'a' + 10;
        num = num > 0x7FFFFFFF ? num : num * (hex ? 16 : 10) + d; /* saturates well past 0x10FFFF */
        k++;
      }
      if (k == start && hex) { /* "&#x" with no digit: try decimal "&#" (fails: 'x' is no digit) */
        if (ustr_push(out, c[i++]))
          return -1;
        continue;
      }
      if (k == start) {
        if (ustr_push(out, c[i++]))
          return -1;
        continue;
      }
      if (k < n && c[k] == ';')
        k++;
      uint32_t r;
      if (tc_html_numeric(num, &r) && ustr_push(out, r))
        return -1;
      i = k;
      continue;
    }
    /* named: [^\t\n\f <&#;]{1,32};? */
    size_t k = j;
    while (k < n && k - j < 32 && c[k] != '\t' && c[k] != '\n' && c[k] != '\f' && c[k] != ' ' && c[k] != '<' &&
           c[k] != '&' && c[k] != '#' && c[k] != ';')
      k++;
    if (k == j) {
      if (ustr_push(out, c[i++]))
        return -1;
      continue;
    }
    if (k < n && c[k] == ';')
      k++;
    /* the name as bytes (entity names are ASCII: anything else never matches) */
    char name[40];
    size_t len = k - j, ascii = 0;
    while (ascii < len && c[j + ascii] < 0x80) {
      name[ascii] = (char)c[j + ascii];
      ascii++;
    }
    const tc_html_entity *e = NULL;
    size_t used = 0;
    if (ascii == len && (e = tc_html_entity_find(name, len)))
      used = len;
    for (size_t x = len - 1; !e && x >= 2; x--) /* the longest prefix s[:x], x < len */
      if (x <= ascii && (e = tc_html_entity_find(name, x)))
        used = x;
    if (!e) { /* '&' + s unchanged */
      for (size_t q = i; q < k; q++)
        if (ustr_push(out, c[q]))
          return -1;
    } else {
      if (ustr_push_utf8(out, e->value))
        return -1;
      for (size_t q = j + used; q < k; q++)
        if (ustr_push(out, c[q]))
          return -1;
    }
    i = k;
  }
  return 0;
}

/* CPython's final-sigma rule for U+03A3 at i. */
static uint32_t lower_sigma(const uint32_t *c, size_t n, size_t i)
{
  size_t j = i;
  while (j > 0 && tc_uni_is_case_ignorable(c[j - 1]))
    j--;
  int final = j > 0 && tc_uni_is_cased(c[j - 1]);
  if (final) {
    j = i + 1;
    while (j < n && tc_uni_is_case_ignorable(c[j]))
      j++;
    final = j == n || !tc_uni_is_cased(c[j]);
  }
  return final ? 0x3C2 : 0x3C3;
}

/* Steps 1-3 of tc_tokenizer.h on UTF-8 text. */
static tc_status clean(const char *text, ustr *out, tc_error *err)
{
  ustr a = { 0 }, b = { 0 };
  tc_status st = decode_utf8(text, &a, err);
  if (st == TC_OK && (html_unescape(&a, &b) || (a.n = 0, html_unescape(&b, &a))))
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  /* a: unescaped twice; whitespace runs -> one space, none at the ends */
  b.n = 0;
  for (size_t i = 0; st == TC_OK && i < a.n; i++) {
    if (tc_uni_is_space(a.c[i]))
      continue;
    if (i > 0 && tc_uni_is_space(a.c[i - 1]) && b.n > 0 && ustr_push(&b, ' '))
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == TC_OK && ustr_push(&b, a.c[i]))
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  for (size_t i = 0; st == TC_OK && i < b.n; i++) {
    uint32_t c = b.c[i];
    int fail;
    if (c == 0x130)
      fail = ustr_push(out, 'i') || ustr_push(out, 0x307);
    else
      fail = ustr_push(out, c == 0x3A3 ? lower_sigma(b.c, b.n, i) : tc_uni_lower(c));
    if (fail)
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  free(a.c);
  free(b.c);
  return st;
}

tc_status tc_tokenizer_clean(const char *text, char **out, tc_error *err)
{
  *out = NULL;
  if (!text)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_tokenizer_clean: text is NULL");
  ustr u = { 0 };
  tc_status st = clean(text, &u, err);
  char *s = st == TC_OK ? malloc(4 * u.n + 1) : NULL;
  if (st == TC_OK && !s)
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (st == TC_OK) {
    size_t k = 0;
    for (size_t i = 0; i < u.n; i++)
      k += encode_utf8(u.c[i], s + k);
    s[k] = 0;
    *out = s;
  }
  free(u.c);
  return st;
}

/* ---- the vocabulary: string -> id, (id, id) -> merge ---- */

typedef struct entry {
  char *key; /* NULL: empty slot */
  int32_t id;
} entry;

typedef struct merge_entry {
  uint64_t pair; /* UINT64_MAX: empty slot */
  uint32_t rank;
  int32_t id;
} merge_entry;

struct tc_tokenizer {
  char *path;
  entry *vocab;
  size_t vocab_cap, vocab_n;
  merge_entry *merges;
  size_t merges_cap;
  int32_t max_id, sot, eot;
  int32_t byte_id[256], byte_end_id[256]; /* the byte's symbol, and with "</w>" */
  uint32_t byte_char[256];                 /* bytes_to_unicode */
};

static uint64_t hash_bytes(const char *s, size_t n)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static entry *vocab_slot(const tc_tokenizer *t, const char *s, size_t n)
{
  size_t mask = t->vocab_cap - 1, i = (size_t)hash_bytes(s, n) & mask;
  while (t->vocab[i].key && (strlen(t->vocab[i].key) != n || memcmp(t->vocab[i].key, s, n) != 0))
    i = (i + 1) & mask;
  return &t->vocab[i];
}

static int32_t vocab_get(const tc_tokenizer *t, const char *s, size_t n)
{
  const entry *e = vocab_slot(t, s, n);
  return e->key ? e->id : -1;
}

/* Inserts or overwrites (a later duplicate wins, as in a Python dict). */
static int vocab_put(tc_tokenizer *t, const char *s, size_t n, int32_t id)
{
  if (2 * (t->vocab_n + 1) > t->vocab_cap) {
    size_t cap = t->vocab_cap ? 2 * t->vocab_cap : 1 << 16;
    entry *old = t->vocab;
    size_t old_cap = t->vocab_cap;
    if (!(t->vocab = calloc(cap, sizeof *t->vocab))) {
      t->vocab = old;
      return -1;
    }
    t->vocab_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
      if (old[i].key)
        *vocab_slot(t, old[i].key, strlen(old[i].key)) = old[i];
    free(old);
  }
  entry *e = vocab_slot(t, s, n);
  if (!e->key) {
    if (!(e->key = strndup(s, n)))
      return -1;
    t->vocab_n++;
  }
  e->id = id;
  if (id > t->max_id)
    t->max_id = id;
  return 0;
}

static merge_entry *merge_slot(const tc_tokenizer *t, uint64_t pair)
{
  size_t mask = t->merges_cap - 1, i = (size_t)((pair * 0x9E3779B97F4A7C15ull) >> 20) & mask;
  while (t->merges[i].pair != UINT64_MAX && t->merges[i].pair != pair)
    i = (i + 1) & mask;
  return &t->merges[i];
}

/* ---- loading ---- */

static void bytes_to_unicode(tc_tokenizer *t, uint32_t order[256])
{
  int k = 0, extra = 0;
  for (uint32_t b = 0; b < 256; b++) /* the printable bytes keep their code point */
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
      t->byte_char[b] = b, order[k++] = b;
  for (uint32_t b = 0; b < 256; b++)
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)))
      t->byte_char[b] = 256 + (uint32_t)extra++, order[k++] = b;
}

static char *read_file(const char *path, size_t *size, tc_error *err)
{
  gzFile f = gzopen(path, "rb"); /* reads plain files too */
  if (!f) {
    tc_error_set(err, TC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap + 1);
  int r = 0;
  while (buf && (r = gzread(f, buf + n, (unsigned)(cap - n))) > 0) {
    n += (size_t)r;
    if (n == cap) {
      char *p = cap < ((size_t)1 << 30) ? realloc(buf, 2 * cap + 1) : NULL;
      if (!p) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = p, cap *= 2;
    }
  }
  int errnum = 0;
  const char *msg = r < 0 ? gzerror(f, &errnum) : NULL;
  gzclose(f);
  if (!buf) {
    tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of host memory (or larger than 1 GiB)", path);
    return NULL;
  }
  if (r < 0) {
    free(buf);
    tc_error_set(err, TC_ERR_FORMAT, "%s: cannot read: %s", path, msg);
    return NULL;
  }
  buf[n] = 0;
  *size = n;
  return buf;
}

/* The merges of a text (OpenAI's or Hugging Face's format: one header line,
 * then "a b" lines). With build_vocab, ids are given as OpenAI's CLIP does. */
static tc_status load_merges(tc_tokenizer *t, const char *path, int build_vocab, tc_error *err)
{
  size_t size;
  char *text = read_file(path, &size, err);
  if (!text)
    return err ? err->status : TC_ERR_IO;
  if (memchr(text, 0, size)) {
    free(text);
    return tc_error_set(err, TC_ERR_FORMAT, "%s: not a text file of BPE merges (NUL byte)", path);
  }
  t->merges_cap = 1 << 17;
  t->merges = malloc(t->merges_cap * sizeof *t->merges);
  if (!t->merges) {
    free(text);
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  for (size_t i = 0; i < t->merges_cap; i++)
    t->merges[i].pair = UINT64_MAX;

  tc_status st = TC_OK;
  char *line = text, sym[8];
  uint32_t order[256];
  if (build_vocab) {
    bytes_to_unicode(t, order);
    for (int end = 0; end < 2 && st == TC_OK; end++)
      for (int k = 0; k < 256 && st == TC_OK; k++) {
        size_t len = encode_utf8(t->byte_char[order[k]], sym);
        if (end)
          memcpy(sym + len, "</w>", 4), len += 4;
        if (vocab_put(t, sym, len, end * 256 + k))
          st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
      }
  }
  /* pass 1 (build_vocab): every merge's joined string is the next id */
  size_t n_lines = 0;
  char **a_s = calloc(CLIP_MERGES, sizeof *a_s), **b_s = calloc(CLIP_MERGES, sizeof *b_s);
  if (!a_s || !b_s)
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  size_t count = 0;
  for (size_t lineno = 1; st == TC_OK && line && count < CLIP_MERGES; lineno++) {
    char *next = strchr(line, '\n');
    if (next)
      *next++ = 0;
    if (lineno > 1) {
      /* Python's merge.split(): white space separated, exactly two parts */
      char *save, *a = strtok_r(line, " \t\r\v\f", &save), *b = a ? strtok_r(NULL, " \t\r\v\f", &save) : NULL;
      char *c = b ? strtok_r(NULL, " \t\r\v\f", &save) : NULL;
      if (!a && !next) /* the text's final newline */
        break;
      if (!b || c)
        st = tc_error_set(err, TC_ERR_FORMAT, "%s: line %zu is not a merge \"a b\"", path, lineno);
      else {
        a_s[count] = a, b_s[count] = b;
        count++;
      }
    }
    n_lines = lineno;
    line = next;
  }
  (void)n_lines;
  if (st == TC_OK && count == 0)
    st = tc_error_set(err, TC_ERR_FORMAT, "%s: no BPE merges after the first line", path);
  char joined[1024];
  for (size_t r = 0; st == TC_OK && build_vocab && r < count; r++) {
    int len = snprintf(joined, sizeof joined, "%s%s", a_s[r], b_s[r]);
    if (len < 0 || (size_t)len >= sizeof joined)
      st = tc_error_set(err, TC_ERR_FORMAT, "%s: merge %zu is too long", path, r + 1);
    else if (vocab_put(t, joined, (size_t)len, (int32_t)(512 + r)))
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  if (st == TC_OK && build_vocab &&
      (vocab_put(t, SOT_TEXT, strlen(SOT_TEXT), (int32_t)(512 + count)) ||
       vocab_put(t, EOT_TEXT, strlen(EOT_TEXT), (int32_t)(513 + count))))
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  /* pass 2: the merge table on ids (a pair that is not in the vocabulary can never be formed) */
  for (size_t r = 0; st == TC_OK && r < count; r++) {
    int32_t a = vocab_get(t, a_s[r], strlen(a_s[r])), b = vocab_get(t, b_s[r], strlen(b_s[r]));
    int len = snprintf(joined, sizeof joined, "%s%s", a_s[r], b_s[r]);
    int32_t id = len > 0 && (size_t)len < sizeof joined ? vocab_get(t, joined, (size_t)len) : -1;
    if (a < 0 || b < 0)
      continue;
    if (id < 0) {
      st = tc_error_set(err, TC_ERR_FORMAT, "%s: merge %zu (\"%s %s\") makes \"%s\", which the vocabulary lacks",
                        path, r + 1, a_s[r], b_s[r], joined);
      break;
    }
    merge_entry *m = merge_slot(t, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b);
    m->pair = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    m->rank = (uint32_t)r; /* a repeated merge takes its later rank, as dict(zip(...)) does */
    m->id = id;
  }
  free(a_s);
  free(b_s);
  free(text);
  return st;
}

static tc_status load_vocab_json(tc_tokenizer *t, const char *path, tc_error *err)
{
  size_t size;
  char *text = read_file(path, &size, err);
  if (!text)
    return err ? err->status : TC_ERR_IO;
  tc_json_doc *doc = NULL;
  tc_status st = tc_json_parse(text, size, &doc, err);
  if (st != TC_OK)
    tc_error_prefix(err, "%s: not JSON", path);
  const tc_json_value *root = st == TC_OK ? tc_json_root(doc) : NULL;
  if (st == TC_OK && root->type != TC_JSON_OBJECT)
    st = tc_error_set(err, TC_ERR_FORMAT, "%s: not a JSON object of token -> id", path);
  for (size_t i = 0; st == TC_OK && i < root->count; i++) {
    const tc_json_value *v = &root->items[i];
    if (v->type != TC_JSON_NUMBER || !v->is_int || v->int_value < 0 || v->int_value > (1 << 24))
      st = tc_error_set(err, TC_ERR_FORMAT, "%s: token \"%.40s\": id is not an integer in [0, 2^24]", path,
                        root->keys[i]);
    else if (vocab_put(t, root->keys[i], strlen(root->keys[i]), (int32_t)v->int_value))
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  tc_json_free(doc);
  free(text);
  return st;
}

static int is_file(const char *p)
{
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int is_dir(const char *p)
{
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* dir + "/" + name into buf; returns buf. */
static char *join(char *buf, size_t size, const char *dir, const char *name)
{
  snprintf(buf, size, "%s%s%s", dir, *dir && !ends_with(dir, "/") ? "/" : "", name);
  return buf;
}

static tc_status finish(tc_tokenizer *t, tc_error *err)
{
  t->sot = vocab_get(t, SOT_TEXT, strlen(SOT_TEXT));
  t->eot = vocab_get(t, EOT_TEXT, strlen(EOT_TEXT));
  if (t->sot < 0 || t->eot < 0)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: the vocabulary has no %s or %s token", t->path, SOT_TEXT, EOT_TEXT);
  uint32_t order[256];
  bytes_to_unicode(t, order);
  char sym[8];
  for (int b = 0; b < 256; b++) {
    size_t len = encode_utf8(t->byte_char[b], sym);
    t->byte_id[b] = vocab_get(t, sym, len);
    memcpy(sym + len, "</w>", 4);
    t->byte_end_id[b] = vocab_get(t, sym, len + 4);
    if (t->byte_id[b] < 0 || t->byte_end_id[b] < 0)
      return tc_error_set(err, TC_ERR_FORMAT, "%s: the vocabulary lacks the symbol of byte 0x%02x: not a CLIP "
                          "byte-level vocabulary", t->path, b);
  }
  return TC_OK;
}

tc_status tc_tokenizer_open(const char *path, tc_tokenizer **out, tc_error *err)
{
  *out = NULL;
  char buf[4096], other[4096];
  const char *merges = NULL, *vocab = NULL;
  if (!path || !*path) {
    const char *env = getenv("TOKENCLIP_VOCAB");
    if (env && *env)
      path = env;
    else if (*TC_DATA_DIR && is_file(join(buf, sizeof buf, TC_DATA_DIR, TC_CLIP_VOCAB_FILE)))
      path = buf;
    else if (*TC_SOURCE_DATA_DIR && is_file(join(other, sizeof other, TC_SOURCE_DATA_DIR, TC_CLIP_VOCAB_FILE)))
      path = other;
    else
      return tc_error_set(err, TC_ERR_IO, "no CLIP vocabulary: %s is not installed in %s; give a vocabulary "
                          "(bpe_simple_vocab_16e6.txt.gz, or vocab.json + merges.txt) or set TOKENCLIP_VOCAB",
                          TC_CLIP_VOCAB_FILE, *TC_DATA_DIR ? TC_DATA_DIR : "(no data directory)");
  }
  if (is_dir(path)) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    if (is_file(join(buf, sizeof buf, dir, "vocab.json")) && is_file(join(other, sizeof other, dir, "merges.txt")))
      vocab = buf, merges = other;
    else if (is_file(join(buf, sizeof buf, dir, TC_CLIP_VOCAB_FILE)))
      merges = buf;
    else
      return tc_error_set(err, TC_ERR_IO, "%s: no CLIP vocabulary in this directory (vocab.json + merges.txt, or "
                          "%s)", dir, TC_CLIP_VOCAB_FILE);
  } else if (ends_with(path, ".json")) {
    vocab = path;
    const char *slash = strrchr(path, '/');
    snprintf(other, sizeof other, "%.*smerges.txt", slash ? (int)(slash - path + 1) : 0, path);
    merges = other;
  } else if (ends_with(path, "merges.txt")) {
    merges = path;
    const char *slash = strrchr(path, '/');
    snprintf(other, sizeof other, "%.*svocab.json", slash ? (int)(slash - path + 1) : 0, path);
    vocab = is_file(other) ? other : NULL; /* without it: OpenAI's numbering */
  } else {
    merges = path;
  }
  tc_tokenizer *t = calloc(1, sizeof *t);
  if (!t || !(t->path = strdup(vocab ? vocab : merges))) {
    free(t);
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  t->max_id = -1;
  tc_status st = vocab ? load_vocab_json(t, vocab, err) : TC_OK;
  if (st == TC_OK)
    st = load_merges(t, merges, vocab == NULL, err);
  if (st == TC_OK)
    st = finish(t, err);
  if (st != TC_OK) {
    tc_tokenizer_close(t);
    return st;
  }
  *out = t;
  return TC_OK;
}

void tc_tokenizer_close(tc_tokenizer *t)
{
  if (!t)
    return;
  for (size_t i = 0; i < t->vocab_cap; i++)
    free(t->vocab[i].key);
  free(t->vocab);
  free(t->merges);
  free(t->path);
  free(t);
}

const char *tc_tokenizer_path(const tc_tokenizer *t) { return t->path; }
uint32_t tc_tokenizer_vocab_size(const tc_tokenizer *t) { return (uint32_t)(t->max_id + 1); }
int32_t tc_tokenizer_sot(const tc_tokenizer *t) { return t->sot; }
int32_t tc_tokenizer_eot(const tc_tokenizer *t) { return t->eot; }

/* ---- pre-tokenisation and BPE ---- */

static int matches_ascii(const uint32_t *c, size_t n, size_t i, const char *lit)
{
  for (size_t k = 0; lit[k]; k++)
    if (i + k >= n || c[i + k] != (unsigned char)lit[k])
      return 0;
  return 1;
}

/* The length of CLIP's pattern's match at i (0: none; white space), and
 * whether it is a special token. The text is lower case already; under
 * IGNORECASE 's' also matches U+017F (long s), which folds to it. */
static size_t piece_at(const uint32_t *c, size_t n, size_t i, int32_t *special, const tc_tokenizer *t)
{
  *special = -1;
  if (matches_ascii(c, n, i, SOT_TEXT)) {
    *special = t->sot;
    return strlen(SOT_TEXT);
  }
  if (matches_ascii(c, n, i, EOT_TEXT)) {
    *special = t->eot;
    return strlen(EOT_TEXT);
  }
  if (c[i] == '\'' && i + 1 < n) {
    uint32_t d = c[i + 1];
    if (d == 's' || d == 0x17F || d == 't' || d == 'm' || d == 'd')
      return 2;
    if (i + 2 < n && ((d == 'r' && c[i + 2] == 'e') || (d == 'v' && c[i + 2] == 'e') || (d == 'l' && c[i + 2] == 'l')))
      return 3;
  }
  if (tc_uni_is_letter(c[i])) {
    size_t k = i + 1;
    while (k < n && tc_uni_is_letter(c[k]))
      k++;
    return k - i;
  }
  if (tc_uni_is_number(c[i]))
    return 1;
  if (tc_uni_is_space(c[i]))
    return 0;
  size_t k = i + 1;
  while (k < n && !tc_uni_is_space(c[k]) && !tc_uni_is_letter(c[k]) && !tc_uni_is_number(c[k]))
    k++;
  return k - i;
}

/* BPE of one piece (code points c[0..len)) appended to ids. */
static tc_status bpe(const tc_tokenizer *t, const uint32_t *c, size_t len, int32_t **ids, size_t *n, size_t *cap,
                     tc_error *err)
{
  /* the symbols: one per UTF-8 byte, the last with "</w>" */
  size_t nb = 0;
  char bytes[4];
  for (size_t i = 0; i < len; i++)
    nb += encode_utf8(c[i], bytes);
  int32_t *sym = malloc(nb * sizeof *sym);
  if (!sym)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  size_t m = 0;
  for (size_t i = 0; i < len; i++) {
    size_t k = encode_utf8(c[i], bytes);
    for (size_t j = 0; j < k; j++)
      sym[m++] = t->byte_id[(unsigned char)bytes[j]];
  }
  unsigned char last = (unsigned char)bytes[encode_utf8(c[len - 1], bytes) - 1];
  sym[m - 1] = t->byte_end_id[last];
  for (;;) {
    uint32_t best = UINT32_MAX;
    uint64_t best_pair = 0;
    int32_t best_id = -1;
    for (size_t i = 0; i + 1 < m; i++) {
      uint64_t pair = ((uint64_t)(uint32_t)sym[i] << 32) | (uint32_t)sym[i + 1];
      const merge_entry *e = merge_slot(t, pair);
      if (e->pair == pair && e->rank < best)
        best = e->rank, best_pair = pair, best_id = e->id;
    }
    if (best_id < 0)
      break;
    size_t w = 0;
    for (size_t i = 0; i < m; i++) {
      if (i + 1 < m && (((uint64_t)(uint32_t)sym[i] << 32) | (uint32_t)sym[i + 1]) == best_pair) {
        sym[w++] = best_id;
        i++;
      } else {
        sym[w++] = sym[i];
      }
    }
    m = w;
  }
  tc_status st = TC_OK;
  if (*n + m > *cap) {
    size_t newcap = 2 * (*n + m) + 16;
    int32_t *p = realloc(*ids, newcap * sizeof *p);
    if (!p)
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    else
      *ids = p, *cap = newcap;
  }
  if (st == TC_OK) {
    memcpy(*ids + *n, sym, m * sizeof *sym);
    *n += m;
  }
  free(sym);
  return st;
}

static tc_status encode_all(const tc_tokenizer *t, const char *text, int32_t **ids, size_t *n, tc_error *err)
{
  ustr u = { 0 };
  size_t cap = 0;
  *ids = NULL;
  *n = 0;
  tc_status st = clean(text, &u, err);
  for (size_t i = 0; st == TC_OK && i < u.n;) {
    int32_t special;
    size_t len = piece_at(u.c, u.n, i, &special, t);
    if (len == 0) {
      i++;
      continue;
    }
    if (special >= 0) {
      if (*n + 1 > cap) {
        cap = 2 * cap + 16;
        int32_t *p = realloc(*ids, cap * sizeof *p);
        if (!p) {
          st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
          break;
        }
        *ids = p;
      }
      (*ids)[(*n)++] = special;
    } else {
      st = bpe(t, u.c + i, len, ids, n, &cap, err);
    }
    i += len;
  }
  free(u.c);
  if (st != TC_OK) {
    free(*ids);
    *ids = NULL;
    *n = 0;
  }
  return st;
}

tc_status tc_tokenizer_encode(const tc_tokenizer *t, const char *text, int32_t *ids, uint32_t max, uint32_t *n,
                              tc_error *err)
{
  if (!t || !text || !n || (max && !ids))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_tokenizer_encode: NULL argument");
  int32_t *all;
  size_t count;
  tc_status st = encode_all(t, text, &all, &count, err);
  if (st != TC_OK)
    return st;
  if (count && max) /* all is NULL when the text has no tokens; ids may be NULL for a count */
    memcpy(ids, all, (count < max ? count : max) * sizeof *ids);
  *n = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
  free(all);
  return TC_OK;
}

tc_status tc_tokenizer_tokenize(const tc_tokenizer *t, const char *text, uint32_t context, int32_t *out,
                                uint32_t *length, tc_error *err)
{
  if (!t || !text || !out || context < 2)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_tokenizer_tokenize: NULL argument or context < 2");
  int32_t *all;
  size_t count;
  tc_status st = encode_all(t, text, &all, &count, err);
  if (st != TC_OK)
    return st;
  if (count + 2 > context) {
    free(all);
    int quoted = tc_utf8_prefix(text, 80);
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "text too long for CLIP's context: \"%.*s%s\" needs %zu "
                        "tokens with the start and end tokens, the context holds %u", quoted, text,
                        text[quoted] ? "..." : "", count + 2, context);
  }
  memset(out, 0, context * sizeof *out);
  out[0] = t->sot;
  if (count) /* all is NULL when the text has no tokens */
    memcpy(out + 1, all, count * sizeof *all);
  out[count + 1] = t->eot;
  if (length)
    *length = (uint32_t)count + 2;
  free(all);
  return TC_OK;
}
