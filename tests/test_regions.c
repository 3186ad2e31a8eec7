/* Connected regions of the score grid (host code, no Vulkan). */
#include "tc_regions.h"
#include "tc_test.h"

static void test_two_blobs(void)
{
  /* 6 x 5 grid, two blobs: one diagonal (8-connected) pair, one L shape */
  const uint32_t gw = 6, gh = 5;
  float s[30] = { 0 };
  s[0 * 6 + 0] = 0.9f; s[1 * 6 + 1] = 0.7f;                      /* diagonal pair */
  s[2 * 6 + 4] = 0.6f; s[3 * 6 + 4] = 0.95f; s[3 * 6 + 5] = 0.6f; /* L shape */
  s[4 * 6 + 0] = 0.49f;                                          /* below threshold */
  tc_region r[4];
  uint32_t work[30];
  size_t n = tc_find_regions(s, gw, gh, 0.5f, r, 4, work);
  TC_CHECK(n == 2, "found %zu regions, want 2", n);
  /* sorted by max score: the L shape (0.95) first */
  TC_CHECK(r[0].x0 == 4 && r[0].x1 == 6 && r[0].y0 == 2 && r[0].y1 == 4 && r[0].cells == 3,
           "L box %u,%u-%u,%u cells %u", r[0].x0, r[0].y0, r[0].x1, r[0].y1, r[0].cells);
  TC_CHECK(fabsf(r[0].max_score - 0.95f) < 1e-7f && fabsf(r[0].mean_score - (0.6f + 0.95f + 0.6f) / 3) < 1e-6f,
           "L scores %g %g", r[0].max_score, r[0].mean_score);
  TC_CHECK(r[1].x0 == 0 && r[1].x1 == 2 && r[1].y0 == 0 && r[1].y1 == 2 && r[1].cells == 2,
           "pair box %u,%u-%u,%u cells %u", r[1].x0, r[1].y0, r[1].x1, r[1].y1, r[1].cells);

  /* keeping only one still counts both */
  n = tc_find_regions(s, gw, gh, 0.5f, r, 1, work);
  TC_CHECK(n == 2 && fabsf(r[0].max_score - 0.95f) < 1e-7f, "cap 1: n %zu max %g", n, r[0].max_score);

  /* pixel box of the L on a 600 x 250 frame: cells are 100 x 50 px */
  uint32_t x, y, w, h;
  n = tc_find_regions(s, gw, gh, 0.5f, r, 4, work);
  tc_region_to_pixels(&r[0], gw, gh, 600, 250, &x, &y, &w, &h);
  TC_CHECK(x == 400 && y == 100 && w == 200 && h == 100, "pixels %u,%u %ux%u", x, y, w, h);
}

static void test_edges(void)
{
  uint32_t work[64];
  tc_region r[2];
  float all[64];
  for (int i = 0; i < 64; i++)
    all[i] = 1.0f;
  size_t n = tc_find_regions(all, 8, 8, 0.5f, r, 2, work);
  TC_CHECK(n == 1 && r[0].cells == 64 && r[0].x1 == 8 && r[0].y1 == 8, "full grid: %zu regions", n);
  all[10] = NAN;
  n = tc_find_regions(all, 8, 8, 0.5f, r, 2, work);
  TC_CHECK(n == 1 && r[0].cells == 63, "NaN cell excluded: %zu regions, %u cells", n, r[0].cells);
  n = tc_find_regions(all, 8, 8, 2.0f, r, 2, work);
  TC_CHECK(n == 0, "threshold above every score: %zu regions", n);
  /* a checkerboard is one 8-connected region */
  for (int i = 0; i < 64; i++)
    all[i] = ((i % 8) + (i / 8)) % 2 ? 1.0f : 0.0f;
  n = tc_find_regions(all, 8, 8, 0.5f, r, 2, work);
  TC_CHECK(n == 1 && r[0].cells == 32, "checkerboard: %zu regions", n);
  /* odd sizes: a 1 x 1 grid on a 7 x 3 frame covers the frame */
  float one = 0.8f;
  uint32_t x, y, w, h;
  n = tc_find_regions(&one, 1, 1, 0.5f, r, 2, work);
  tc_region_to_pixels(&r[0], 1, 1, 7, 3, &x, &y, &w, &h);
  TC_CHECK(n == 1 && x == 0 && y == 0 && w == 7 && h == 3, "1x1: %u,%u %ux%u", x, y, w, h);
}

int main(void)
{
  test_two_blobs();
  test_edges();
  return tc_test_finish(NULL);
}
