#include "tc_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

/* Every value and string lives in one arena freed at once. */
typedef struct arena_block {
  struct arena_block *next;
  size_t used, size;
  _Alignas(max_align_t) unsigned char data[];
} arena_block;

struct tc_json_doc {
  arena_block *blocks;
  tc_json_value root;
};

static void *arena_alloc(tc_json_doc *doc, size_t size)
{
  size = (size + 15) & ~(size_t)15;
  arena_block *b = doc->blocks;
  if (!b || b->size - b->used < size) {
    size_t cap = size > 65536 ? size : 65536;
    b = malloc(sizeof *b + cap);
    if (!b)
      return NULL;
    b->size = cap;
    b->used = 0;
    b->next = doc->blocks;
    doc->blocks = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  return p;
}

/* Children of the containers being parsed, in nesting order; a container
 * moves its own run of entries into the arena when it closes. */
typedef struct scratch_entry {
  const char *key;
  tc_json_value value;
} scratch_entry;

typedef struct parser {
  const unsigned char *s;
  size_t len, pos;
  tc_json_doc *doc;
  scratch_entry *scratch;
  size_t scratch_len, scratch_cap;
  char *msg;
  size_t msg_size;
  int failed;
  int out_of_memory; /* the failure was an allocation, not the text */
} parser;

__attribute__((format(printf, 3, 4))) static int fail_at(parser *p, size_t at, const char *fmt, ...)
{
  if (!p->failed) {
    int n = snprintf(p->msg, p->msg_size, "at byte %zu: ", at);
    if (n >= 0 && (size_t)n < p->msg_size) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->msg + n, p->msg_size - (size_t)n, fmt, ap);
      va_end(ap);
    }
    p->failed = 1;
  }
  return -1;
}

static int out_of_memory(parser *p)
{
  p->out_of_memory = 1;
  return fail_at(p, p->pos, "out of memory");
}

static void skip_ws(parser *p)
{
  while (p->pos < p->len) {
    unsigned char c = p->s[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      break;
    p->pos++;
  }
}

static const char *describe(parser *p, char buf[16])
{
  if (p->pos >= p->len)
    return "the end of the text";
  unsigned char c = p->s[p->pos];
  if (c >= 0x20 && c < 0x7f)
    snprintf(buf, 16, "'%c'", c);
  else
    snprintf(buf, 16, "byte 0x%02x", c);
  return buf;
}

static int expect_literal(parser *p, const char *word, tc_json_value *v, tc_json_type type)
{
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
    return fail_at(p, p->pos, "invalid literal (expected %s)", word);
  v->type = type;
  p->pos += n;
  return 0;
}

static int parse_number(parser *p, tc_json_value *v)
{
  size_t start = p->pos, i = p->pos;
  int negative = 0, integral = 1;
  if (i < p->len && p->s[i] == '-') {
    negative = 1;
    i++;
  }
  if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
    return fail_at(p, start, "invalid number");
  if (p->s[i] == '0') {
    i++;
    if (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
      return fail_at(p, start, "invalid number (leading zero)");
  } else {
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
      i++;
  }
  size_t int_end = i;
  if (i < p->len && p->s[i] == '.') {
    integral = 0;
    i++;
    if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
      return fail_at(p, start, "invalid number (no digit after '.')");
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
      i++;
  }
  if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
    integral = 0;
    i++;
    if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
      i++;
    if (i >= p->len || p->s[i] < '0' || p->s[i] > '9')
      return fail_at(p, start, "invalid number (no digit in the exponent)");
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
      i++;
  }
  v->type = TC_JSON_NUMBER;
  v->is_int = 0;
  if (integral) {
    /* accumulate as a negative number so INT64_MIN fits */
    int64_t acc = 0, ok = 1;
    for (size_t k = start + (size_t)negative; k < int_end && ok; k++) {
      int d = p->s[k] - '0';
      if (acc < (INT64_MIN + d) / 10)
        ok = 0;
      else
        acc = acc * 10 - d;
    }
    if (ok && !negative && acc == INT64_MIN)
      ok = 0;
    if (ok) {
      v->is_int = 1;
      v->int_value = negative ? acc : -acc;
    }
  }
  p->pos = i;
  return 0;
}

static int hex4(parser *p, size_t at, unsigned *out)
{
  if (p->len - at < 4)
    return fail_at(p, at, "truncated \\u escape");
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned char c = p->s[at + (size_t)k];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return fail_at(p, at, "invalid \\u escape");
  }
  *out = v;
  return 0;
}

/* Length of the valid UTF-8 sequence at s[0..avail), 0 if invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
  unsigned char c = s[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0)
      lo = 0xa0;
    if (c == 0xed)
      hi = 0x9f; /* no UTF-16 surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0)
      lo = 0x90;
    if (c == 0xf4)
      hi = 0x8f;
  } else
    return 0;
  if (avail < n)
    return 0;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t k = 2; k < n; k++)
    if (s[k] < 0x80 || s[k] > 0xbf)
      return 0;
  return n;
}

static size_t put_utf8(char *out, unsigned cp)
{
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

static int parse_string(parser *p, const char **out)
{
  size_t start = p->pos; /* at the opening quote */
  size_t i = start + 1;
  /* find the closing quote first: the decoded string is never longer */
  while (i < p->len && p->s[i] != '"') {
    if (p->s[i] == '\\')
      i++;
    i++;
  }
  if (i >= p->len)
    return fail_at(p, start, "unterminated string");
  size_t end = i;
  char *dst = arena_alloc(p->doc, end - start);
  if (!dst)
    return out_of_memory(p);
  size_t n = 0;
  i = start + 1;
  while (i < end) {
    unsigned char c = p->s[i];
    if (c < 0x20)
      return fail_at(p, i, "control character 0x%02x in a string (must be escaped)", c);
    if (c != '\\') {
      size_t k = utf8_sequence(p->s + i, end - i);
      if (!k)
        return fail_at(p, i, "invalid UTF-8 in a string");
      memcpy(dst + n, p->s + i, k);
      n += k;
      i += k;
      continue;
    }
    unsigned char e = p->s[i + 1];
    i += 2;
    switch (e) {
    case '"': dst[n++] = '"'; break;
    case '\\': dst[n++] = '\\'; break;
    case '/': dst[n++] = '/'; break;
    case 'b': dst[n++] = '\b'; break;
    case 'f': dst[n++] = '\f'; break;
    case 'n': dst[n++] = '\n'; break;
    case 'r': dst[n++] = '\r'; break;
    case 't': dst[n++] = '\t'; break;
    case 'u': {
      unsigned cp;
      if (i > end || hex4(p, i, &cp))
        return fail_at(p, i - 2, "invalid \\u escape");
      i += 4;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        if (end - i < 6 || p->s[i] != '\\' || p->s[i + 1] != 'u' || hex4(p, i + 2, &lo) || lo < 0xdc00 ||
            lo > 0xdfff) {
          p->failed = 0;
          return fail_at(p, i - 6, "unpaired UTF-16 surrogate in a \\u escape");
        }
        i += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        return fail_at(p, i - 6, "unpaired UTF-16 surrogate in a \\u escape");
      } else if (cp == 0) {
        return fail_at(p, i - 6, "\\u0000 in a string is not supported");
      }
      n += put_utf8(dst + n, cp);
      break;
    }
    default: return fail_at(p, i - 2, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
    }
  }
  if (i != end) /* a backslash right before the closing quote was counted as an escape */
    return fail_at(p, start, "unterminated string");
  dst[n] = '\0';
  *out = dst;
  p->pos = end + 1;
  return 0;
}

static int push_scratch(parser *p, const char *key, const tc_json_value *v)
{
  if (p->scratch_len == p->scratch_cap) {
    size_t cap = p->scratch_cap ? 2 * p->scratch_cap : 64;
    scratch_entry *s = realloc(p->scratch, cap * sizeof *s);
    if (!s)
      return out_of_memory(p);
    p->scratch = s;
    p->scratch_cap = cap;
  }
  p->scratch[p->scratch_len].key = key;
  p->scratch[p->scratch_len].value = *v;
  p->scratch_len++;
  return 0;
}

/* Moves scratch[mark..] into the arena as v's items (and keys). */
static int close_container(parser *p, tc_json_value *v, size_t mark, int with_keys)
{
  size_t count = p->scratch_len - mark;
  v->count = count;
  v->items = NULL;
  v->keys = NULL;
  if (count) {
    v->items = arena_alloc(p->doc, count * sizeof *v->items);
    if (!v->items)
      return out_of_memory(p);
    if (with_keys) {
      v->keys = arena_alloc(p->doc, count * sizeof *v->keys);
      if (!v->keys)
        return out_of_memory(p);
    }
    for (size_t k = 0; k < count; k++) {
      v->items[k] = p->scratch[mark + k].value;
      if (with_keys)
        v->keys[k] = p->scratch[mark + k].key;
    }
  }
  p->scratch_len = mark;
  return 0;
}

static int parse_value(parser *p, tc_json_value *v, int depth);

static int parse_array(parser *p, tc_json_value *v, int depth)
{
  size_t mark = p->scratch_len;
  v->type = TC_JSON_ARRAY;
  p->pos++; /* '[' */
  skip_ws(p);
  if (p->pos < p->len && p->s[p->pos] == ']') {
    p->pos++;
    return close_container(p, v, mark, 0);
  }
  for (;;) {
    tc_json_value item;
    if (parse_value(p, &item, depth + 1) || push_scratch(p, NULL, &item))
      return -1;
    skip_ws(p);
    char buf[16];
    if (p->pos < p->len && p->s[p->pos] == ',') {
      p->pos++;
      skip_ws(p);
      if (p->pos < p->len && p->s[p->pos] == ']')
        return fail_at(p, p->pos, "trailing comma in an array");
      continue;
    }
    if (p->pos < p->len && p->s[p->pos] == ']') {
      p->pos++;
      return close_container(p, v, mark, 0);
    }
    return fail_at(p, p->pos, "expected ',' or ']' in an array, found %s", describe(p, buf));
  }
}

static int parse_object(parser *p, tc_json_value *v, int depth)
{
  size_t mark = p->scratch_len;
  v->type = TC_JSON_OBJECT;
  p->pos++; /* '{' */
  skip_ws(p);
  if (p->pos < p->len && p->s[p->pos] == '}') {
    p->pos++;
    return close_container(p, v, mark, 1);
  }
  for (;;) {
    char buf[16];
    const char *key;
    if (p->pos >= p->len || p->s[p->pos] != '"')
      return fail_at(p, p->pos, "expected a string key in an object, found %s", describe(p, buf));
    if (parse_string(p, &key))
      return -1;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':')
      return fail_at(p, p->pos, "expected ':' after key \"%s\", found %s", key, describe(p, buf));
    p->pos++;
    tc_json_value item;
    if (parse_value(p, &item, depth + 1) || push_scratch(p, key, &item))
      return -1;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ',') {
      p->pos++;
      skip_ws(p);
      continue;
    }
    if (p->pos < p->len && p->s[p->pos] == '}') {
      p->pos++;
      return close_container(p, v, mark, 1);
    }
    return fail_at(p, p->pos, "expected ',' or '}' in an object, found %s", describe(p, buf));
  }
}

static int parse_value(parser *p, tc_json_value *v, int depth)
{
  char buf[16];
  memset(v, 0, sizeof *v);
  if (depth > JSON_MAX_DEPTH)
    return fail_at(p, p->pos, "nesting deeper than %d levels", JSON_MAX_DEPTH);
  skip_ws(p);
  v->offset = p->pos;
  if (p->pos >= p->len)
    return fail_at(p, p->pos, "expected a value, found the end of the text");
  switch (p->s[p->pos]) {
  case '{': return parse_object(p, v, depth);
  case '[': return parse_array(p, v, depth);
  case '"': v->type = TC_JSON_STRING; return parse_string(p, &v->string);
  case 't': return expect_literal(p, "true", v, TC_JSON_TRUE);
  case 'f': return expect_literal(p, "false", v, TC_JSON_FALSE);
  case 'n': return expect_literal(p, "null", v, TC_JSON_NULL);
  default:
    if (p->s[p->pos] == '-' || (p->s[p->pos] >= '0' && p->s[p->pos] <= '9'))
      return parse_number(p, v);
    return fail_at(p, p->pos, "expected a value, found %s", describe(p, buf));
  }
}

tc_status tc_json_parse(const char *text, size_t len, tc_json_doc **out, tc_error *err)
{
  *out = NULL;
  tc_json_doc *doc = calloc(1, sizeof *doc);
  if (!doc)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of memory");
  char msg[256] = "";
  parser p = { .s = (const unsigned char *)text, .len = len, .doc = doc, .msg = msg, .msg_size = sizeof msg };
  int rc = parse_value(&p, &doc->root, 0);
  if (!rc) {
    skip_ws(&p);
    if (p.pos != len) {
      char buf[16];
      rc = fail_at(&p, p.pos, "unexpected %s after the value", describe(&p, buf));
    }
  }
  free(p.scratch);
  if (rc) {
    tc_json_free(doc);
    return tc_error_set(err, p.out_of_memory ? TC_ERR_OUT_OF_MEMORY : TC_ERR_FORMAT, "%s", msg);
  }
  *out = doc;
  return TC_OK;
}

const tc_json_value *tc_json_root(const tc_json_doc *doc) { return &doc->root; }

void tc_json_free(tc_json_doc *doc)
{
  if (!doc)
    return;
  arena_block *b = doc->blocks;
  while (b) {
    arena_block *next = b->next;
    free(b);
    b = next;
  }
  free(doc);
}

const char *tc_json_type_name(tc_json_type type)
{
  switch (type) {
  case TC_JSON_NULL: return "null";
  case TC_JSON_FALSE:
  case TC_JSON_TRUE: return "a boolean";
  case TC_JSON_NUMBER: return "a number";
  case TC_JSON_STRING: return "a string";
  case TC_JSON_ARRAY: return "an array";
  case TC_JSON_OBJECT: return "an object";
  }
  return "an unknown value";
}
