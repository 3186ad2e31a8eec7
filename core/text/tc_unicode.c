/* Lookups in the generated Unicode and HTML tables. */
#include "tc_unicode.h"

#include <string.h>

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c)
{
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c < r[mid][0])
      hi = mid;
    else if (c > r[mid][1])
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

int tc_uni_is_letter(uint32_t c) { return in_ranges(tc_uni_letter, tc_uni_letter_count, c); }
int tc_uni_is_number(uint32_t c) { return in_ranges(tc_uni_number, tc_uni_number_count, c); }
int tc_uni_is_space(uint32_t c) { return in_ranges(tc_uni_space, tc_uni_space_count, c); }
int tc_uni_is_cased(uint32_t c) { return in_ranges(tc_uni_cased, tc_uni_cased_count, c); }
int tc_uni_is_case_ignorable(uint32_t c) { return in_ranges(tc_uni_case_ignorable, tc_uni_case_ignorable_count, c); }

uint32_t tc_uni_lower(uint32_t c)
{
  if (c >= 'A' && c <= 'Z')
    return c + 32;
  if (c < 0x80)
    return c;
  size_t lo = 0, hi = tc_uni_lower_map_count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c < tc_uni_lower_map[mid][0])
      hi = mid;
    else if (c > tc_uni_lower_map[mid][0])
      lo = mid + 1;
    else
      return tc_uni_lower_map[mid][1];
  }
  return c;
}

const tc_html_entity *tc_html_entity_find(const char *name, size_t n)
{
  size_t lo = 0, hi = tc_html_entities_count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char *e = tc_html_entities[mid].name;
    size_t m = strlen(e);
    int c = memcmp(name, e, n < m ? n : m);
    if (c == 0)
      c = n < m ? -1 : n > m ? 1 : 0;
    if (c < 0)
      hi = mid;
    else if (c > 0)
      lo = mid + 1;
    else
      return &tc_html_entities[mid];
  }
  return NULL;
}

int tc_html_numeric(uint64_t num, uint32_t *out)
{
  for (size_t i = 0; i < tc_html_invalid_charrefs_count; i++)
    if (tc_html_invalid_charrefs[i][0] == num) {
      *out = tc_html_invalid_charrefs[i][1];
      return 1;
    }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    *out = 0xFFFD;
    return 1;
  }
  for (size_t i = 0; i < tc_html_invalid_codepoints_count; i++)
    if (tc_html_invalid_codepoints[i] == num)
      return 0;
  *out = (uint32_t)num;
  return 1;
}

int tc_utf8_prefix(const char *s, size_t max)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (p[i]) {
    size_t len = p[i] < 0x80 ? 1 : (p[i] & 0xE0) == 0xC0 ? 2 : (p[i] & 0xF0) == 0xE0 ? 3 : (p[i] & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || i + len > max)
      break;
    for (size_t k = 1; k < len; k++)
      if ((p[i + k] & 0xC0) != 0x80)
        return (int)i;
    i += len;
  }
  return (int)i;
}
