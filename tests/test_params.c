/* The analysis parameters (core/tc_params.h): defaults, set / unset, the
 * refusals and their messages, the three layers merged in order, the checks
 * across fields, and the table itself. No device needed. */
#include "head/tc_head.h"
#include "map/tc_map.h"
#include "tc_params.h"
#include "tc_test.h"

static void test_defaults(void)
{
  tc_params p;
  tc_head_params h;
  tc_map_params m;
  tc_params_init(&p);
  tc_head_params_default(&h);
  tc_map_params_init(&m);
  TC_CHECK(p.set == 0, "nothing set by default");
  TC_CHECK(p.temperature == h.temperature && p.sinkhorn_eps == h.sinkhorn_eps &&
               p.sinkhorn_iters == h.sinkhorn_iters && p.topk == h.topk && p.image_blend == h.image_blend,
           "the head's defaults are the head module's");
  TC_CHECK(p.sigma == m.sigma && p.alpha == m.alpha && p.colormap == m.colormap && p.range_hi == m.hi,
           "the map's defaults are the map module's");
  TC_CHECK(p.input_size == 0 && p.vv_start == 0 && p.threshold == 0.5f && p.max_regions == 16 && p.interval == 1,
           "input size 0, vv-start 0 (until the model's default is filled in), threshold 0.5, 16 regions, "
           "interval 1");
  TC_CHECK(p.global_ln_post == 1 && tc_params_feature_layers(&p, NULL) == 0 && p.resample == TC_RESAMPLE_BICUBIC,
           "global token through ln_post, no feature layers given (the last), bicubic");
  tc_error err = { 0 };
  TC_CHECK_OK(tc_params_check(&p, 4, &err), &err);
}

static void test_set_unset(void)
{
  tc_params p;
  tc_params_init(&p);
  tc_error err = { 0 };
  TC_CHECK_OK(tc_params_set(&p, TC_PARAM_TOPK, 3, &err), &err);
  TC_CHECK_OK(tc_params_set(&p, TC_PARAM_ALPHA, 0.25, &err), &err);
  TC_CHECK_OK(tc_params_set(&p, TC_PARAM_COLORMAP, TC_COLORMAP_INFERNO, &err), &err);
  TC_CHECK(p.topk == 3 && p.alpha == 0.25f && p.colormap == TC_COLORMAP_INFERNO, "fields written");
  TC_CHECK(tc_params_is_set(&p, TC_PARAM_TOPK) && tc_params_is_set(&p, TC_PARAM_ALPHA) &&
               !tc_params_is_set(&p, TC_PARAM_SIGMA),
           "bits for the fields set only");
  TC_CHECK(tc_params_get(&p, TC_PARAM_TOPK) == 3 && tc_params_get(&p, TC_PARAM_ALPHA) == 0.25, "get");
  tc_params_unset(&p, TC_PARAM_TOPK);
  TC_CHECK(p.topk == 0 && !tc_params_is_set(&p, TC_PARAM_TOPK), "unset: the default, no bit");

  /* refusals: the field and its bit stay, the message names both the field and what it must be */
  static const struct {
    tc_param id;
    double v;
    const char *message;
  } bad[] = {
    { TC_PARAM_TOPK, 2.5, "topk 2.5: must be a whole number from 0 to 128 (0: all)" },
    { TC_PARAM_ALPHA, 1.5, "alpha 1.5: must be a number from 0 to 1" },
    { TC_PARAM_TEMPERATURE, 0, "temperature 0: must be a positive number" },
    { TC_PARAM_SINKHORN_ITERS, 0, "sinkhorn_iters 0: must be a whole number from 1 to 1000000" },
    { TC_PARAM_COLORMAP, 7, "colormap 7: must be 0 (turbo), 1 (jet), 2 (inferno) or 3 (gray)" },
    { TC_PARAM_SIGMA, NAN, "sigma nan: must be a number from 0 to 1000" },
    { TC_PARAM_MAX_REGIONS, TC_MAX_REGIONS + 1, "max_regions 65: must be a whole number from 0 to 64" },
    { TC_PARAM_INTERVAL, 0, "interval 0: must be a whole number from 1 to 4294967295" },
    /* in range as doubles, not as the float fields that keep them */
    { TC_PARAM_TEMPERATURE, 1e-50, "temperature 1e-50 does not fit a float" },
    { TC_PARAM_RANGE_LO, 1e39, "range_lo 1e+39 does not fit a float" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_params before = p;
    tc_error e = { 0 };
    TC_CHECK(tc_params_set(&p, bad[i].id, bad[i].v, &e) == TC_ERR_INVALID_ARGUMENT &&
                 strcmp(e.message, bad[i].message) == 0 && memcmp(&p, &before, sizeof p) == 0,
             "refused, unchanged: \"%s\", want \"%s\"", e.message, bad[i].message);
  }
  TC_CHECK(tc_params_set(&p, TC_PARAM_COUNT, 1, NULL) == TC_ERR_INVALID_ARGUMENT, "an unknown id is refused");
  tc_error e = { 0 };
  TC_CHECK(tc_params_set(NULL, TC_PARAM_TOPK, 1, &e) == TC_ERR_INVALID_ARGUMENT && strstr(e.message, "NULL"),
           "NULL params refused: %s", e.message);
  tc_error_clear(&e);
  TC_CHECK(tc_params_set_list(&p, TC_PARAM_FEATURE_LAYERS, NULL, 2, &e) == TC_ERR_INVALID_ARGUMENT,
           "a list of 2 at NULL refused: %s", e.message);
}

/* library < head file < user, field by field */
static void test_merge(void)
{
  tc_params file, user, out;
  tc_params_init(&file);
  tc_params_init(&user);
  tc_params_set(&file, TC_PARAM_TOPK, 2, NULL);
  tc_params_set(&file, TC_PARAM_TEMPERATURE, 0.02, NULL);
  tc_params_set(&user, TC_PARAM_TOPK, 3, NULL);
  tc_params_set(&user, TC_PARAM_ALPHA, 0.7, NULL);
  user.sinkhorn_eps = 9; /* not set: must not leak through */
  tc_params_merge(&file, &user, &out);
  TC_CHECK(out.topk == 3 && out.temperature == 0.02f && out.alpha == 0.7f && out.sinkhorn_eps == 0.05f,
           "user > file > library: topk %u temperature %g alpha %g eps %g", out.topk, out.temperature, out.alpha,
           out.sinkhorn_eps);
  TC_CHECK(out.set == user.set, "the merged set bits are the user's");
  tc_params_merge(NULL, NULL, &out);
  tc_params lib;
  tc_params_init(&lib);
  TC_CHECK(memcmp(&out, &lib, sizeof out) == 0, "no layers: the library's defaults");
}

static void test_check(void)
{
  tc_params p;
  tc_params_init(&p);
  tc_error err = { 0 };
  p.topk = 5;
  TC_CHECK(tc_params_check(&p, 4, &err) == TC_ERR_INVALID_ARGUMENT &&
               strcmp(err.message, "topk 5: must be a whole number from 0 to Q = 4 (0: all)") == 0,
           "topk above Q: %s", err.message);
  tc_error_clear(&err);
  TC_CHECK_OK(tc_params_check(&p, 0, &err), &err); /* Q unknown */
  tc_params_init(&p);
  p.range_lo = 0.5f, p.range_hi = 0.5f;
  TC_CHECK(tc_params_check(&p, 4, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "range_hi"),
           "range_hi must be above range_lo: %s", err.message);
}

/* Every id has a row, a unique name; head files hold the four head defaults. */
static void test_table(void)
{
  int in_file = 0;
  for (int i = 0; i < TC_PARAM_COUNT; i++) {
    const tc_param_info *in = tc_param_info_of((tc_param)i);
    TC_CHECK(in && in->id == (tc_param)i && in->name && strcmp(tc_param_name((tc_param)i), in->name) == 0,
             "row %d", i);
    for (int j = 0; in && j < i; j++)
      TC_CHECK(strcmp(tc_param_name((tc_param)j), in->name) != 0, "%s named twice", in->name);
    in_file += in && (in->flags & TC_PARAM_IN_HEAD_FILE);
  }
  TC_CHECK(!tc_param_name(TC_PARAM_COUNT) && !tc_param_info_of(TC_PARAM_COUNT), "no row past the last");
  TC_CHECK(in_file == 12, "%d head-file defaults, want 12 (input_size, vv_start, pos_interp, resample, "
           "feature_layers, global_ln_post, temperature, sinkhorn_eps, sinkhorn_iters, topk, image_blend, sigma)",
           in_file);
  TC_CHECK((tc_param_info_of(TC_PARAM_FEATURE_LAYERS)->flags & TC_PARAM_LOAD_TIME) &&
               (tc_param_info_of(TC_PARAM_GLOBAL_LN_POST)->flags & TC_PARAM_LOAD_TIME) &&
               tc_param_info_of(TC_PARAM_FEATURE_LAYERS)->kind == TC_PARAM_KIND_LIST,
           "feature_layers (a list) and global_ln_post are fixed at load");
  TC_CHECK((tc_param_info_of(TC_PARAM_INPUT_SIZE)->flags & TC_PARAM_LOAD_TIME) &&
               !(tc_param_info_of(TC_PARAM_TOPK)->flags & TC_PARAM_LOAD_TIME),
           "input_size is fixed at load, topk is not");
}

/* The list field: set, get, unset, refusals, merge, checks. */
static void test_list(void)
{
  tc_params p, q, out;
  tc_params_init(&p);
  tc_error err = { 0 };
  const uint32_t ac[] = { 6, 12, 18, 24 };
  uint32_t got[TC_MAX_FEATURE_LAYERS];
  TC_CHECK_OK(tc_params_set_list(&p, TC_PARAM_FEATURE_LAYERS, ac, 4, &err), &err);
  TC_CHECK(tc_params_is_set(&p, TC_PARAM_FEATURE_LAYERS) &&
               tc_params_get_list(&p, TC_PARAM_FEATURE_LAYERS, got, TC_MAX_FEATURE_LAYERS) == 4 &&
               memcmp(got, ac, sizeof ac) == 0 && tc_params_get(&p, TC_PARAM_FEATURE_LAYERS) == 4,
           "6,12,18,24 set, read back; get gives the count");
  char text[64];
  tc_param_format(&p, TC_PARAM_FEATURE_LAYERS, text, sizeof text);
  TC_CHECK(strcmp(text, "6,12,18,24") == 0, "formatted \"%s\"", text);
  static const struct {
    uint32_t v[10], n;
    const char *message;
  } bad[] = {
    { { 12, 6 }, 2, "feature_layers 12,6: must be 1 to 8 layers from 1 to 1024, increasing (e.g. 6,12,18,24)" },
    { { 6, 6 }, 2, "feature_layers 6,6: must be" },
    { { 0 }, 1, "feature_layers 0: must be" },
    { { 2000 }, 1, "feature_layers 2000: must be" },
    { { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 9, "feature_layers 1,2,3,4,5,6,7,8,9: must be 1 to 8 layers" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_params before = p;
    tc_error e = { 0 };
    TC_CHECK(tc_params_set_list(&p, TC_PARAM_FEATURE_LAYERS, bad[i].v, bad[i].n, &e) == TC_ERR_INVALID_ARGUMENT &&
                 strncmp(e.message, bad[i].message, strlen(bad[i].message)) == 0 && memcmp(&p, &before, sizeof p) == 0,
             "list refused, unchanged: \"%s\", want \"%s\"", e.message, bad[i].message);
  }
  tc_error e = { 0 };
  TC_CHECK(tc_params_set(&p, TC_PARAM_FEATURE_LAYERS, 4, &e) == TC_ERR_INVALID_ARGUMENT &&
               strstr(e.message, "feature_layers is a list"),
           "tc_params_set refuses a list: %s", e.message);
  tc_error_clear(&e);
  TC_CHECK(tc_params_set_list(&p, TC_PARAM_TOPK, ac, 1, &e) == TC_ERR_INVALID_ARGUMENT, "set_list refuses a scalar");

  /* merge: the user's list replaces the file's whole, not element by element */
  tc_params_init(&q);
  const uint32_t two[] = { 3, 4 };
  tc_params_set_list(&q, TC_PARAM_FEATURE_LAYERS, two, 2, NULL);
  tc_params_merge(&p, &q, &out);
  TC_CHECK(tc_params_get_list(&out, TC_PARAM_FEATURE_LAYERS, got, TC_MAX_FEATURE_LAYERS) == 2 && got[0] == 3 &&
               got[1] == 4,
           "user 3,4 over file 6,12,18,24");
  TC_CHECK(tc_params_diff(&p, &out) & (1ull << TC_PARAM_FEATURE_LAYERS), "diff sees the list");
  TC_CHECK(tc_params_load_time_change(&p, &out) == TC_PARAM_FEATURE_LAYERS, "a load-time change");
  tc_params_set_list(&q, TC_PARAM_FEATURE_LAYERS, NULL, 0, NULL);
  TC_CHECK(!tc_params_is_set(&q, TC_PARAM_FEATURE_LAYERS) && tc_params_feature_layers(&q, NULL) == 0,
           "an empty list unsets");
  /* check: values after a 0 */
  out.feature_layers[3] = 7;
  tc_error_clear(&e);
  TC_CHECK(tc_params_check(&out, 0, &e) == TC_ERR_INVALID_ARGUMENT && strstr(e.message, "feature_layers"),
           "a value after a 0: %s", e.message);
}

/* The defaults that depend on the model: vv_start round(L / 4), the last layer. */
static void test_resolve_model(void)
{
  static const uint32_t L[] = { 24, 12, 4, 1, 2, 6, 32, 48 }, want[] = { 6, 3, 1, 1, 1, 2, 8, 12 };
  for (size_t i = 0; i < sizeof L / sizeof L[0]; i++)
    TC_CHECK(tc_params_default_vv_start(L[i]) == want[i], "L %u: vv_start %u, want %u", L[i],
             tc_params_default_vv_start(L[i]), want[i]);
  tc_params p;
  tc_params_init(&p);
  tc_params_resolve_model(&p, 0, 24);
  TC_CHECK(p.vv_start == 6 && p.feature_layers[0] == 24 && p.feature_layers[1] == 0, "nothing given: 6 and [24]");
  tc_params_init(&p);
  p.vv_start = 0; /* given as off */
  const uint32_t l[] = { 12 };
  tc_params_set_list(&p, TC_PARAM_FEATURE_LAYERS, l, 1, NULL);
  tc_params_resolve_model(&p, 1ull << TC_PARAM_VV_START, 24);
  TC_CHECK(p.vv_start == 0 && p.feature_layers[0] == 12, "given: kept (vv_start %u, layer %u)", p.vv_start,
           p.feature_layers[0]);
}

/* The map's parameters for a frame: sigma from model-input pixels per axis, the range per layer. */
static void test_to_map(void)
{
  tc_params p;
  tc_params_init(&p);
  tc_params_set(&p, TC_PARAM_SIGMA, 4, NULL);
  const uint32_t l[] = { 6, 12, 18, 24 };
  tc_params_set_list(&p, TC_PARAM_FEATURE_LAYERS, l, 4, NULL);
  tc_map_params m;
  tc_params_to_map(&p, 37, 518, 1036, 259, &m);
  TC_CHECK(m.grid_w == 37 && m.sigma == 8.0f && m.sigma_y == 2.0f, "sigma 4 at 518 -> 1036 x 259: %g, %g", m.sigma,
           m.sigma_y);
  TC_CHECK(m.lo == 0 && m.hi == 4, "fixed range [0, 1] per layer -> [0, 4] for four: [%g, %g]", m.lo, m.hi);
  tc_params_to_map(&p, 37, 518, 518, 518, &m);
  TC_CHECK(m.sigma == 4.0f && m.sigma_y == 4.0f, "an S x S frame: sigma itself");
}

int main(void)
{
  test_defaults();
  test_set_unset();
  test_merge();
  test_check();
  test_table();
  test_list();
  test_resolve_model();
  test_to_map();
  return tc_test_finish(NULL);
}
