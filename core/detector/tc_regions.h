/* Connected regions of a score grid above a threshold: part of every
 * analysis (tc_analysis.region, the element's GstVideoRegionOfInterestMeta).
 * Plain C on the host: the grid is the patch grid (14x14 .. 37x37 cells), far
 * too small for a kernel. */
#ifndef TC_REGIONS_H
#define TC_REGIONS_H

#include <stddef.h>
#include <stdint.h>

#include "tokenclip/tokenclip.h" /* tc_region */

#ifdef __cplusplus
extern "C" {
#endif

/* Finds the 8-connected regions of cells with score >= threshold in a
 * gh x gw raster grid. Writes at most max_regions regions, the highest
 * max_score first, and returns how many exist in total. work must hold
 * gh * gw uint32_t. NaN cells never belong to a region. Fills the grid boxes
 * (x0..y1), cells and scores; tc_region_to_pixels gives the pixel box. */
size_t tc_find_regions(const float *scores, uint32_t gw, uint32_t gh, float threshold, tc_region *regions,
                       size_t max_regions, uint32_t *work);

/* Scales a region's grid box to a frame of width x height pixels (cell edges
 * at i * width / gw, rounded outwards). */
void tc_region_to_pixels(const tc_region *r, uint32_t gw, uint32_t gh, uint32_t width, uint32_t height,
                         uint32_t *x, uint32_t *y, uint32_t *w, uint32_t *h);

#ifdef __cplusplus
}
#endif

#endif
