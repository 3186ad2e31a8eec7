#include "tc_regions.h"

#include <string.h>

#define UNVISITED 0xffffffffu

/* Inserts r into the list sorted by max_score (descending), keeping at most cap. */
static void keep_best(tc_region *list, size_t *n, size_t cap, const tc_region *r)
{
  if (cap == 0)
    return;
  size_t pos = *n < cap ? *n : cap;
  while (pos > 0 && list[pos - 1].max_score < r->max_score)
    pos--;
  if (pos >= cap)
    return;
  size_t last = *n < cap ? *n : cap - 1;
  memmove(list + pos + 1, list + pos, (last - pos) * sizeof *list);
  list[pos] = *r;
  if (*n < cap)
    (*n)++;
}

size_t tc_find_regions(const float *scores, uint32_t gw, uint32_t gh, float threshold, tc_region *regions,
                       size_t max_regions, uint32_t *work)
{
  const size_t n = (size_t)gw * gh;
  uint32_t *label = work;
  for (size_t i = 0; i < n; i++)
    label[i] = UNVISITED;

  size_t total = 0, kept = 0;
  for (size_t seed = 0; seed < n; seed++) {
    if (label[seed] != UNVISITED || !(scores[seed] >= threshold))
      continue;
    tc_region r = { .x0 = gw, .y0 = gh, .x1 = 0, .y1 = 0, .max_score = scores[seed] };
    double sum = 0;
    /* Iterative flood fill. Cells waiting to be visited form a linked stack
     * threaded through label[] (label[c] = the cell below c, n = bottom), so
     * the fill needs no memory beyond work; visited cells get n + 1. */
    uint32_t top = (uint32_t)seed;
    label[seed] = (uint32_t)n; /* end of chain */
    while (top != (uint32_t)n) {
      uint32_t c = top;
      top = label[c];
      label[c] = (uint32_t)n + 1; /* done */
      uint32_t cx = c % gw, cy = c / gw;
      r.cells++;
      sum += scores[c];
      if (scores[c] > r.max_score)
        r.max_score = scores[c];
      if (cx < r.x0) r.x0 = cx;
      if (cy < r.y0) r.y0 = cy;
      if (cx + 1 > r.x1) r.x1 = cx + 1;
      if (cy + 1 > r.y1) r.y1 = cy + 1;
      for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
          int nx = (int)cx + dx, ny = (int)cy + dy;
          if ((dx || dy) && nx >= 0 && ny >= 0 && nx < (int)gw && ny < (int)gh) {
            uint32_t nc = (uint32_t)ny * gw + (uint32_t)nx;
            if (label[nc] == UNVISITED && scores[nc] >= threshold) {
              label[nc] = top;
              top = nc;
            }
          }
        }
    }
    r.mean_score = (float)(sum / r.cells);
    keep_best(regions, &kept, max_regions, &r);
    total++;
  }
  return total;
}

void tc_region_to_pixels(const tc_region *r, uint32_t gw, uint32_t gh, uint32_t width, uint32_t height,
                         uint32_t *x, uint32_t *y, uint32_t *w, uint32_t *h)
{
  uint32_t px0 = (uint32_t)((uint64_t)r->x0 * width / gw);
  uint32_t py0 = (uint32_t)((uint64_t)r->y0 * height / gh);
  uint32_t px1 = (uint32_t)(((uint64_t)r->x1 * width + gw - 1) / gw);
  uint32_t py1 = (uint32_t)(((uint64_t)r->y1 * height + gh - 1) / gh);
  *x = px0;
  *y = py0;
  *w = px1 - px0;
  *h = py1 - py0;
}
