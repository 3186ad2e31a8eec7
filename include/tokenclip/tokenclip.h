/* libtokenclip: zero-shot anomaly detection on video frames with a CLIP ViT
 * image encoder and a TokenCLIP head, run as Vulkan compute shaders.
 *
 * This is the library's whole public API; nothing else it contains is
 * exported. Link with `pkg-config --cflags --libs tokenclip`.
 *
 *   errors      every fallible call returns a tc_status and fills a tc_error
 *               with a message naming the cause
 *   frames      8-bit RGBA/BGRA/RGBx/BGRx pixels, or NV12/I420/YUY2
 *   parameters  tc_params: every setting of an analysis, with a flag per
 *               field the caller set (those win over a head file's defaults)
 *   results     tc_analysis: scores, the image score, regions
 *   detector    one frame at a time, from the calling thread
 *   runner      video: an analysis every Nth frame, sync or on a thread of
 *               its own, the latest map blended into every frame
 *
 * A minimal application:
 *
 *   tc_detector_options o;
 *   tc_detector_options_init(&o);
 *   o.model_path = "clip.safetensors";
 *   o.head_path = "head.safetensors";
 *   tc_params_set(&o.params, TC_PARAM_TOPK, 2, NULL);
 *   tc_detector *det = NULL;
 *   tc_error err = { 0 };
 *   tc_frame f = tc_frame_make(TC_FRAME_RGBA, width, height);
 *   tc_analysis a;
 *   if (tc_detector_create(&o, &det, &err) == TC_OK &&
 *       tc_detector_set_frame(det, &f, &err) == TC_OK &&
 *       tc_detector_analyse(det, pixels, f.stride, 0, &a, &err) == TC_OK)
 *     printf("%g, %u regions\n", a.image_score, a.n_regions);
 *   else
 *     puts(err.message); (the first failure's cause: err keeps the first)
 *   tc_detector_destroy(det);
 *
 * Conventions: a call that returns a tc_status refuses a NULL pointer
 * argument with TC_ERR_INVALID_ARGUMENT; on failure a create function sets
 * *out to NULL, and other out-parameters are not to be read; err may be NULL. Strings and
 * arrays in options are copied at create, and may be freed after it. The
 * destroy functions take NULL. A detector is used from one thread at a time;
 * a tc_model (shared) and the runner say what they allow. */
#ifndef TOKENCLIP_TOKENCLIP_H
#define TOKENCLIP_TOKENCLIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one mark of an exported function: the library is built with hidden
 * visibility, so whatever lacks it stays inside. */
#if defined(__GNUC__)
#define TC_API __attribute__((visibility("default")))
#else
#define TC_API
#endif

/* ==== errors ============================================================ */

typedef enum tc_status {
  TC_OK = 0,
  TC_ERR_INVALID_ARGUMENT, /* a caller passed something out of range */
  TC_ERR_NO_DEVICE,        /* no (matching) Vulkan device or driver */
  TC_ERR_OUT_OF_MEMORY,    /* host or device memory exhausted */
  TC_ERR_DEVICE_LOST,      /* the device stopped; the context is unusable */
  TC_ERR_VULKAN,           /* any other Vulkan failure */
  TC_ERR_IO,               /* a file could not be opened, mapped or written */
  TC_ERR_FORMAT,           /* a file is malformed (bad header, truncated) */
  TC_ERR_MISMATCH,         /* shapes or dimensions do not agree */
  TC_ERR_NUMERIC,          /* NaN or infinity where finite numbers are required */
  TC_ERR_UNSUPPORTED,      /* valid but not handled (a dtype, a format) */
} tc_status;

#define TC_ERROR_MESSAGE_MAX 512

/* Zero-initialise before use ({ 0 }); the first error set is kept. */
typedef struct tc_error {
  tc_status status;
  char message[TC_ERROR_MESSAGE_MAX];
} tc_error;

/* A short fixed name for a status ("out of memory"). */
TC_API const char *tc_status_name(tc_status status);
TC_API void tc_error_clear(tc_error *err);

/* ==== frames ============================================================ */

/* Layouts in memory, as GStreamer names them. RGB: four bytes a pixel, the
 * fourth (alpha or padding) never read and never written. YUV (8-bit, chroma
 * subsampled, see tc_frame_planes below for the planes' places in memory):
 * NV12 (Y plane, then interleaved UV at half width and height), I420 (Y, U,
 * V planes, chroma at half width and height), YUY2 (packed Y0 U Y1 V). */
typedef enum tc_frame_format {
  TC_FRAME_RGBA = 0,
  TC_FRAME_BGRA = 1,
  TC_FRAME_RGBX = 2,
  TC_FRAME_BGRX = 3,
  TC_FRAME_NV12 = 4,
  TC_FRAME_I420 = 5,
  TC_FRAME_YUY2 = 6,
} tc_frame_format;

/* YUV -> RGB matrix of a YUV frame (ignored for RGB). */
typedef enum tc_yuv_matrix {
  TC_YUV_BT601 = 0,
  TC_YUV_BT709 = 1,
} tc_yuv_matrix;

typedef struct tc_frame {
  tc_frame_format format;
  uint32_t width, height;
  uint32_t stride; /* bytes from one row to the next. RGB: a multiple of 4, at least 4 * width.
                      NV12/I420: of the Y plane, even, at least width rounded up to even.
                      YUY2: at least 2 * width rounded up to even */
  tc_yuv_matrix matrix; /* YUV only; default (0) BT.601 */
  uint32_t full_range;  /* YUV only: 1 when Y and chroma use 0..255, 0 (default) for 16..235 / 16..240 */
} tc_frame;

/* A frame descriptor with the tightest stride (4 * width for RGB, see above
 * for YUV), BT.601 limited range. */
TC_API tc_frame tc_frame_make(tc_frame_format format, uint32_t width, uint32_t height);
/* "RGBA", "BGRA", "RGBx", "BGRx", "NV12", "I420", "YUY2"; "?" for anything else. */
TC_API const char *tc_frame_format_name(tc_frame_format format);

/* Where a frame's planes lie in one block of memory. YUV frames (NV12, I420,
 * YUY2) have their planes one after the other: the Y plane (YUY2: the packed
 * pixels) at 0, rows `stride` bytes apart; NV12: the UV plane at
 * stride * height, (height + 1) / 2 rows stride apart; I420: U at
 * stride * height, then V, each (height + 1) / 2 rows stride / 2 apart. Odd
 * sizes round the chroma up (its last column or row covers one luma column
 * or row). RGB frames are one plane. */
typedef struct tc_frame_plane {
  size_t offset, stride; /* bytes from the frame's start; from one row to the next */
  uint32_t rows;
  size_t row_bytes;      /* bytes of a row that hold pixels */
} tc_frame_plane;

/* The frame's planes (1 for RGB and YUY2, 2 NV12, 3 I420); returns how many. */
TC_API int tc_frame_planes(const tc_frame *frame, tc_frame_plane planes[3]);
/* Bytes that hold the frame: up to the end of its last plane's last row,
 * rounded up to a multiple of 4. */
TC_API size_t tc_frame_bytes(const tc_frame *frame);

/* ==== parameters ======================================================== */

/* Frame -> model input resampling. */
typedef enum tc_resample_filter {
  TC_RESAMPLE_BICUBIC = 0, /* default, as CLIP and AnomalyCLIP */
  TC_RESAMPLE_BILINEAR = 1,
  TC_RESAMPLE_PIL_BICUBIC = 2, /* bicubic in PIL's 8-bit fixed point, bit for bit (AnomalyCLIP's input) */
} tc_resample_filter;

/* Resizing the positional embedding when the input size is not the model's. */
typedef enum tc_pos_interp {
  TC_POS_INTERP_BICUBIC = 0, /* default, as open_clip */
  TC_POS_INTERP_BICUBIC_AA = 1,
  TC_POS_INTERP_BILINEAR = 2, /* as AnomalyCLIP */
} tc_pos_interp;

/* How a token's affinity to a subspace is read from its two cosines. */
typedef enum tc_head_affinity {
  TC_HEAD_AFFINITY_MAX = 0,      /* max(cos normal, cos abnormal) */
  TC_HEAD_AFFINITY_MEAN = 1,     /* their mean */
  TC_HEAD_AFFINITY_ABNORMAL = 2, /* the abnormal cosine only */
} tc_head_affinity;

/* Arithmetic of the image encoder. auto: fp16 on GPUs; on CPU devices
 * (lavapipe) fp32 arithmetic with the weights as the file stores them. fp16: matrix weights and the blocks' activations (matmul and
 * attention inputs) fp16, sums fp32, the residual stream fp32, cooperative
 * matrices where the device has them ($TOKENCLIP_COOPMAT, when set, still
 * decides); activations stay fp32 on the cpu kernel family (fp16 weights
 * only). fp32: everything fp32, no cooperative matrices. */
typedef enum tc_precision {
  TC_PRECISION_AUTO = 0,
  TC_PRECISION_FP32 = 1,
  TC_PRECISION_FP16 = 2,
} tc_precision;

typedef enum tc_colormap {
  TC_COLORMAP_TURBO = 0,   /* Google's Turbo (default) */
  TC_COLORMAP_JET = 1,     /* matplotlib's jet */
  TC_COLORMAP_INFERNO = 2, /* matplotlib's inferno */
  TC_COLORMAP_GRAY = 3,
} tc_colormap;

/* "turbo", "jet", "inferno", "gray"; NULL for anything else. */
TC_API const char *tc_colormap_name(tc_colormap colormap);

/* One id per field of tc_params. tc_param_name gives the field's name, which
 * is also the name of the tensor a head file holds its default in (for the
 * parameters head files may set: see tc_params). */
typedef enum tc_param {
  /* fixed once a detector exists */
  TC_PARAM_INPUT_SIZE,
  TC_PARAM_VV_START,
  TC_PARAM_POS_INTERP,
  TC_PARAM_RESAMPLE,
  TC_PARAM_FEATURE_LAYERS, /* a list: tc_params_set_list */
  TC_PARAM_GLOBAL_LN_POST,
  /* head */
  TC_PARAM_TEMPERATURE,
  TC_PARAM_SINKHORN_EPS,
  TC_PARAM_SINKHORN_ITERS,
  TC_PARAM_SINKHORN_TOL,
  TC_PARAM_TOPK,
  TC_PARAM_AFFINITY,
  TC_PARAM_GREEDY,
  TC_PARAM_IMAGE_BLEND,
  TC_PARAM_SINKHORN_WARM_START,
  /* map */
  TC_PARAM_SIGMA,
  TC_PARAM_COLORMAP,
  TC_PARAM_ALPHA,
  TC_PARAM_OVERLAY_THRESHOLD,
  TC_PARAM_FIXED_RANGE,
  TC_PARAM_RANGE_LO,
  TC_PARAM_RANGE_HI,
  TC_PARAM_KEEP_MAP,
  /* results and video */
  TC_PARAM_THRESHOLD,
  TC_PARAM_MAX_REGIONS,
  TC_PARAM_INTERVAL,
  /* encoder, fixed once a detector exists (after the others: ids stay as they were) */
  TC_PARAM_PRECISION,
  TC_PARAM_COUNT
} tc_param;

/* Most feature layers a detector scores (AnomalyCLIP's code default has 4). */
#define TC_MAX_FEATURE_LAYERS 8
/* Most subspaces a head holds (the shared-memory arrays of its kernels), so
 * the largest useful top-k. */
#define TC_MAX_SUBSPACES 128
/* Most patch tokens a head takes (Sinkhorn keeps a potential per token in
 * shared memory): a 64 x 64 grid, so input_size <= 64 x the patch size. */
#define TC_MAX_PATCH_TOKENS 4096
#define TC_MAX_GRID 64
/* The largest input_size any CLIP can take: 64 patches of the largest CLIP
 * patch (32 pixels, ViT-B/32). The model's own limit is 64 x its patch. */
#define TC_MAX_INPUT_SIZE 2048

/* Every setting of an analysis. The values in effect are merged from three
 * layers: the library's defaults (tc_params_init) < the head file's defaults
 * < the fields the caller set, those whose bit (1 << id) is in `set`.
 * tc_params_set writes a field and its bit. Head files may set input_size,
 * vv_start, pos_interp, resample, feature_layers, global_ln_post,
 * temperature, sinkhorn_eps, sinkhorn_iters, topk, image_blend and sigma
 * (an AnomalyCLIP head file sets what reproduces AnomalyCLIP). The detector
 * checks the merged values once (ranges, topk against the head's subspaces,
 * layers against the model's, the model's patch size); a refused change
 * leaves the previous values in effect.
 *
 * Two defaults depend on the model's L layers and are filled in by the
 * detector where neither the head file nor the caller gave them: vv_start
 * round(L / 4) (AnomalyCLIP's proportion: 6 of ViT-L's 24, 3 of ViT-B's 12),
 * and feature_layers the last layer. tc_detector_params shows them.
 *
 * With n feature layers the token scores and the map are sums over the
 * layers of each layer's scores (0..n, as AnomalyCLIP sums its maps); the
 * map's maximum in the image score, the region threshold and the fixed
 * colour range are per layer (the sum / n). */
typedef struct tc_params {
  /* -- encoder and preprocessing: fixed once a detector exists -- */
  uint32_t input_size;           /* side of the model input; 0 = the model's own (default) */
  uint32_t vv_start;             /* first layer (from 1) of the value-value stream; 0 = off (plain CLIP);
                                    default round(L / 4) of the model's L layers */
  tc_pos_interp pos_interp;      /* positional-embedding resize (default bicubic) */
  tc_resample_filter resample;   /* frame -> model input (default bicubic) */
  /* layers (from 1), increasing, whose patch tokens are scored (from the V-V stream at layers >= vv_start,
     the ordinary one before; each through ln_post and proj); unused entries 0. All 0: the last layer (default) */
  uint32_t feature_layers[TC_MAX_FEATURE_LAYERS];
  uint32_t global_ln_post;       /* 1: global token ln_post(x_L[CLS]) @ proj (CLIP, default); 0: x_L[CLS] @ proj
                                    (AnomalyCLIP) */
  /* -- head -- */
  float temperature;             /* class probabilities softmax(cos / temperature); default 0.07 */
  float sinkhorn_eps;            /* entropic regularisation, in units of 1 - cos; default 0.05 */
  uint32_t sinkhorn_iters;       /* iteration limit, default 100 */
  float sinkhorn_tol;            /* row marginal error to stop at, default 1e-4; 0 runs to the limit */
  uint32_t topk;                 /* subspaces kept per token; 0 = all (default) */
  tc_head_affinity affinity;     /* default max */
  uint32_t greedy;               /* 1: each token to its argmax subspace, no transport (default 0) */
  float image_blend;             /* image score = (1 - b) global + b map maximum (per layer); 0: the global
                                    token alone (AnomalyCLIP), 1: the map alone; default 0.5 */
  uint32_t sinkhorn_warm_start;  /* 1: start from the previous frame's potentials (default 0) */
  /* -- map: token scores -> frame size -> colours blended into the frame -- */
  float sigma;                   /* Gaussian blur of the map (scipy's: reflected edges, radius 4 sigma) in
                                    model-input pixels, scaled to the frame per axis (sigma W / S across,
                                    sigma H / S down): at an S x S frame AnomalyCLIP's exactly; 0 = none;
                                    default 4 */
  tc_colormap colormap;          /* default turbo */
  float alpha;                   /* heatmap opacity 0..1; 0 leaves frames untouched; default 0.5 */
  float overlay_threshold;       /* normalised map value below which nothing is blended; default 0 */
  uint32_t fixed_range;          /* 1: colours from [range_lo, range_hi]; 0: each map's min..max (default) */
  float range_lo, range_hi;      /* per feature layer (times their count); default 0, 1 */
  uint32_t keep_map;             /* 1: keep the full-resolution map for tc_detector_read_map (default 0) */
  /* -- results and video -- */
  float threshold;               /* score from which a frame is anomalous and cells form regions; 0.5 */
  uint32_t max_regions;          /* regions reported per analysis, the highest first: 0..TC_MAX_REGIONS; 16 */
  uint32_t interval;             /* the runner analyses every interval-th frame; default 1 */
  tc_precision precision;        /* encoder arithmetic (load time; not in head files): default auto */
  uint64_t set;                  /* bit (1 << id) for each field the caller set */
} tc_params;

/* The library's defaults, nothing set. */
TC_API void tc_params_init(tc_params *params);
/* Sets a field and marks it set. Refuses (TC_ERR_INVALID_ARGUMENT, naming
 * the field) a value the field cannot take: outside its range, not a whole
 * number for a count, an unknown enum value. */
TC_API tc_status tc_params_set(tc_params *params, tc_param id, double value, tc_error *err);
/* Back to the library's default, not set: a head file's default applies. */
TC_API void tc_params_unset(tc_params *params, tc_param id);
TC_API double tc_params_get(const tc_params *params, tc_param id);
TC_API int tc_params_is_set(const tc_params *params, tc_param id);
/* "input_size", "topk", ...: the field's name; NULL for an unknown id. */
TC_API const char *tc_param_name(tc_param id);
/* A list field (feature_layers): sets its n values (n <= TC_MAX_FEATURE_LAYERS;
 * n = 0 unsets it) and its bit, or refuses as tc_params_set does. tc_params_set
 * refuses list fields and tc_params_get gives their number of values. */
TC_API tc_status tc_params_set_list(tc_params *params, tc_param id, const uint32_t *values, uint32_t n,
                                    tc_error *err);
/* A list field's values into out (at most max); returns how many it holds. */
TC_API uint32_t tc_params_get_list(const tc_params *params, tc_param id, uint32_t *out, uint32_t max);

/* ==== results =========================================================== */

#define TC_MAX_REGIONS 64

/* A connected region (8-neighbourhood) of token cells with scores at or above
 * the threshold (per feature layer: the summed score >= layers * threshold). */
typedef struct tc_region {
  uint32_t x0, y0, x1, y1;   /* in grid cells: columns x0..x1-1, rows y0..y1-1 */
  uint32_t x, y, w, h;       /* the same box in frame pixels (cell edges rounded outwards) */
  uint32_t cells;
  float max_score, mean_score;
} tc_region;

typedef struct tc_analysis {
  uint64_t timestamp;        /* the runner: the frame's, as given to tc_runner_submit */
  float image_score;         /* (1 - image_blend) global_score + image_blend map_max / layers */
  float global_score;        /* from the global token alone (the mean over the feature layers' heads) */
  float max_score;           /* the largest token score (of the sum over the feature layers) */
  float map_max;             /* the largest value of the smoothed map at frame size */
  int anomalous;             /* image_score >= threshold */
  uint32_t iterations;       /* Sinkhorn iterations run (the most of any feature layer) */
  int converged;             /* every feature layer's Sinkhorn converged */
  uint32_t layers;           /* feature layers scored: scores and the map are sums of this many */
  double inference_ms;       /* wall time of the submission */
  uint32_t batch;            /* frames in that submission (a shared model's batch; else 1) */
  uint32_t grid;             /* scores is grid x grid, raster order */
  const float *scores;       /* token scores summed over the feature layers, owned by the library (see where
                                it is returned) */
  uint32_t regions;          /* regions found in all */
  uint32_t n_regions;        /* the ones in region[]: the highest max_score first, at most max_regions */
  tc_region region[TC_MAX_REGIONS];
} tc_analysis;

/* ==== detector ========================================================== */

/* Loaded model and head, the analysis of one frame at a time. Not for use
 * from two threads at once (the runner is). */
typedef struct tc_detector tc_detector;

/* A Vulkan device the caller owns, for frames that already live on it (e.g.
 * GStreamer's GstVulkanDevice behind memory:VulkanBuffer). The library
 * makes its buffers and kernels on it and never destroys these handles. It
 * assumes no device features enabled (GStreamer 1.22 enables none): fp32
 * weights and arithmetic, no cooperative matrices. Every submission on
 * `queue` is made between lock_queue and unlock_queue (GStreamer:
 * gst_vulkan_queue_submit_lock / _unlock), when given. */
typedef struct tc_vulkan_device {
  void *instance;        /* VkInstance (Vulkan 1.2 or later) */
  void *physical_device; /* VkPhysicalDevice */
  void *device;          /* VkDevice */
  void *queue;           /* VkQueue of queue_family, which has compute */
  uint32_t queue_family;
  void (*lock_queue)(void *user);
  void (*unlock_queue)(void *user);
  void *user;
} tc_vulkan_device;

/* A model several detectors share (tc_model_create): the Vulkan context, the
 * vision tower's weights, the encoder and its compiled kernels, once. Each
 * detector keeps its own subspaces, head and map parameters, frame layout
 * and results; the encoder runs one detector's frame at a time. */
typedef struct tc_model tc_model;

typedef struct tc_detector_options {
  const char *model_path; /* CLIP safetensors (the vision tower; Hugging Face or open_clip naming) */
  /* The textual subspaces, from exactly one of: a head file; T [Q, 2, D]
   * given here (fp32, [q][0] normal, [q][1] abnormal); an object's name,
   * embedded once by the model file's CLIP text encoder from prompt
   * templates (the built-in ones, or prompts_path: one per line with {}). */
  const char *head_path;
  const float *subspaces;
  uint32_t n_subspaces;
  const char *object;
  const char *prompts_path;
  const char *vocab_path; /* CLIP's BPE vocabulary for object (NULL: beside the model, else the installed one) */
  const char *device;     /* Vulkan device index or name part (NULL: $TOKENCLIP_DEVICE, else the best) */
  /* A shared model (tc_model_create) instead of model_path and device: they
   * may then be left NULL, and if given must be the model's. The load-time
   * parameters the encoder was made with (input size, V-V start, position
   * interpolation, feature layers, global ln_post, precision) must come out
   * the same here: TC_ERR_MISMATCH names the first that does not. */
  tc_model *model;
  /* The caller's Vulkan device instead of `device` (NULL: the library's own). */
  const tc_vulkan_device *vulkan_device;
  /* tc_model_create only (tc_detector_create ignores them): the frames of the model's detectors gathered into
   * one submission, up to batch_size (1..TC_MAX_BATCH; 0 or 1: none), each
   * analysis waiting at most batch_timeout_us for the batch to fill. */
  uint32_t batch_size;
  uint32_t batch_timeout_us;
  tc_params params;       /* the caller's settings: the fields set override the head file's defaults */
  /* 1: every kernel compiled before the first frame: a zero input through
   * encoder and head at creation, and through preprocessing and the map at
   * each new frame layout (lavapipe compiles a variant of those per shape of
   * their tables, which follow the layout). Lavapipe compiles a kernel at its
   * first dispatch: without this the first frame pays for it. */
  int warm_up;
} tc_detector_options;

TC_API void tc_detector_options_init(tc_detector_options *options);
TC_API tc_status tc_detector_create(const tc_detector_options *options, tc_detector **out, tc_error *err);
/* Releases the detector and its reference to the model. */
TC_API void tc_detector_destroy(tc_detector *det);

/* The model that detectors with these options would load (model_path,
 * device, and the load-time parameters their head file and settings give),
 * compiled when warm_up is set. One reference for the caller; each detector
 * made on it holds another, so it may be released as soon as they exist. */
TC_API tc_status tc_model_create(const tc_detector_options *options, tc_model **out, tc_error *err);
TC_API tc_model *tc_model_ref(tc_model *model);
TC_API void tc_model_unref(tc_model *model);
TC_API uint32_t tc_model_users(const tc_model *model);      /* references: the caller's and the detectors' */
TC_API size_t tc_model_device_bytes(const tc_model *model); /* device memory of its context's buffers now */
TC_API const char *tc_model_device_name(const tc_model *model);
TC_API const char *tc_model_path(const tc_model *model);
TC_API uint32_t tc_model_batch_size(const tc_model *model);
/* Submissions of batches so far and the frames they held. */
TC_API void tc_model_batch_stats(tc_model *model, uint64_t *submissions, uint64_t *frames);
/* The detector's model (shared or its own). */
TC_API tc_model *tc_detector_model(const tc_detector *det);

TC_API const char *tc_detector_device_name(const tc_detector *det);
TC_API uint32_t tc_detector_grid(const tc_detector *det);       /* the token grid is grid x grid */
TC_API uint32_t tc_detector_input_size(const tc_detector *det); /* side of the model input */
TC_API uint32_t tc_detector_subspaces(const tc_detector *det);  /* Q */
/* Warnings and errors of the Vulkan validation layer so far (TOKENCLIP_VALIDATE=1). */
TC_API uint32_t tc_detector_validation_messages(const tc_detector *det);

/* The parameters in effect: defaults < head file < the caller's. */
TC_API void tc_detector_params(const tc_detector *det, tc_params *effective);
/* Replaces the caller's settings (the fields set in `params`; the others
 * fall back to the head file's and the library's defaults). Checked first:
 * a refusal changes nothing. Load-time fields (input_size, vv_start,
 * pos_interp, resample, feature_layers, global_ln_post, precision) cannot
 * change; the blur must fit the frame layout (at most 4096 frame pixels). */
TC_API tc_status tc_detector_set_params(tc_detector *det, const tc_params *params, tc_error *err);

/* Prepares for frames of this layout: before the first frame, again when it
 * changes. A refused layout keeps the previous one, unless the failure came
 * after the checks (out of memory): then there is none until the next call. */
TC_API tc_status tc_detector_set_frame(tc_detector *det, const tc_frame *frame, tc_error *err);

/* Analyses one frame (pixels, rows `stride` bytes apart, in the layout of
 * tc_detector_set_frame). With blend, the heatmap is blended into pixels in
 * place, in the same submission. out->scores stays valid until the next
 * call. A NaN or infinite token gives TC_ERR_NUMERIC and leaves pixels as
 * they were. */
TC_API tc_status tc_detector_analyse(tc_detector *det, void *pixels, size_t stride, int blend, tc_analysis *out,
                                     tc_error *err);

/* A plane of a frame in a buffer of the caller's Vulkan device
 * (tc_vulkan_device): a VkBuffer with transfer source and destination usage
 * (no storage usage needed), the plane's first byte at offset, rows stride
 * bytes apart (the frame layout's stride for that plane). */
typedef struct tc_device_plane {
  void *buffer; /* VkBuffer */
  uint64_t offset;
  uint32_t stride;
  /* Or, with buffer NULL, a VkImage holding the plane (2D, one layer and
   * level, colour, transfer source and destination usage; e.g. GStreamer's
   * memory:VulkanImage: RGBA8 for RGB frames, R8 and R8G8 for NV12's planes):
   * its current layout and the stage and access of its last write, which
   * the copies wait for; on return they say what the library left it in. */
  void *image;              /* VkImage */
  uint32_t image_layout;    /* VkImageLayout */
  uint32_t image_stages;    /* VkPipelineStageFlags */
  uint32_t image_access;    /* VkAccessFlags */
} tc_device_plane;

/* tc_detector_analyse for a frame in the caller's device buffers (a detector
 * made with vulkan_device): the planes of the layout (RGB and YUY2 one, NV12
 * two, I420 three) are copied on the device into the detector's frame,
 * analysed, and with blend the blended frame is copied back into them. No
 * host memory is involved; the data must be complete when called (GStreamer's
 * vulkanupload writes VulkanBuffer memory before it pushes). */
TC_API tc_status tc_detector_analyse_device(tc_detector *det, tc_device_plane *planes, uint32_t n_planes,
                                            int blend, tc_analysis *out, tc_error *err);

/* The most frames one tc_detector_analyse_batch call takes. */
#define TC_MAX_BATCH 8

/* Analyses `count` frames (1..TC_MAX_BATCH) of the tc_detector_set_frame
 * layout: pixels[i] with rows strides[i] bytes apart, into out[i]. The
 * results are those of count tc_detector_analyse calls in the same order
 * (bit-identical: a Sinkhorn warm start carries from frame i to i + 1 as it
 * would), each out[i].scores its own array, valid until the next analysis.
 * With blend every frame gets its heatmap. Refused before any work
 * (TC_ERR_INVALID_ARGUMENT, naming the problem): count 0 or above
 * TC_MAX_BATCH, a NULL array or frame, a stride below one row. Stops at the
 * first failing frame (its status; the frames before it are analysed).
 * Today the frames run one after another, each its own submission; the
 * entry point is where one submission of B frames goes (multi-stream
 * batching builds on it). */
TC_API tc_status tc_detector_analyse_batch(tc_detector *det, void *const *pixels, const size_t *strides,
                                           uint32_t count, int blend, tc_analysis *out, tc_error *err);

/* With keep_map set: the last analysis's smoothed map at frame size (token
 * scores bilinearly upsampled, blurred by sigma) into dst, float
 * [height][width]. Without keep_map, or before the first analysis since
 * the layout or the map's parameters changed: TC_ERR_INVALID_ARGUMENT. */
TC_API tc_status tc_detector_read_map(tc_detector *det, float *dst, tc_error *err);

/* ==== runner: video ===================================================== */

/* A detector driven frame by frame: every interval-th frame is analysed, and
 * every frame gets the latest finished map blended in (the frame analysed in
 * sync mode gets its own, in one submission).
 *
 *   sync   tc_runner_submit returns after the frame's analysis.
 *   async  video never waits: the frame to analyse is copied once into the
 *          pending slot (a newer one replaces it) and analysed on the
 *          runner's thread; the frames go on with the latest finished map,
 *          drawn by a second Vulkan queue that never waits behind an
 *          analysis.
 *
 * submit, set_frame, flush and drain come from one thread (the video's);
 * set_params and tc_runner_params from any. The kernels are compiled at
 * creation and at each new frame layout, before the first frame. Pointer
 * arguments must not be NULL (those that return a tc_status say so if they
 * are), but err may be, and tc_runner_destroy takes NULL. */
typedef struct tc_runner tc_runner;

typedef enum tc_runner_mode {
  TC_RUNNER_SYNC = 0,
  TC_RUNNER_ASYNC = 1,
} tc_runner_mode;

/* Called after each analysis, on the thread that ran it (the submitting one
 * in sync mode, the runner's in async mode), with no lock held; not for
 * analyses of frames from before a flush. `analysis` and its scores are
 * valid during the call only. From the callback: set_params and
 * tc_runner_params work; submit, set_frame and drain return
 * TC_ERR_INVALID_ARGUMENT (they would wait for the callback), flush does
 * nothing; tc_runner_destroy destroys the runner once the callback has
 * returned and no call is in it, after which no call may be made on it (in
 * async mode the video thread must know that, e.g. from a flag the callback
 * sets before destroying, and make no call after it). */
typedef void (*tc_analysis_fn)(void *user, const tc_analysis *analysis);

typedef struct tc_runner_options {
  tc_runner_mode mode;
  tc_analysis_fn on_analysis; /* may be NULL */
  void *user;
} tc_runner_options;

TC_API void tc_runner_options_init(tc_runner_options *options);
/* Creates the detector (with warm_up) and, in async mode, the thread. */
TC_API tc_status tc_runner_create(const tc_detector_options *detector, const tc_runner_options *options,
                                  tc_runner **out, tc_error *err);
/* Stops the thread (a pending frame is dropped; it waits for an analysis in
 * progress and its callback) and destroys the detector. */
TC_API void tc_runner_destroy(tc_runner *runner);
/* For the queries that do not change while it runs (device name, input
 * size, grid, subspaces, layers); not tc_detector_params, which the runner
 * changes on its own thread: tc_runner_params instead. */
TC_API const tc_detector *tc_runner_detector(const tc_runner *runner);
/* The parameters in effect (as of the last accepted tc_runner_set_params). */
TC_API void tc_runner_params(const tc_runner *runner, tc_params *effective);

/* Checked now, against the frame layout too (a refusal changes nothing); in
 * effect from the next frame. */
TC_API tc_status tc_runner_set_params(tc_runner *runner, const tc_params *params, tc_error *err);
/* The frames' layout; waits for an analysis in progress, and a frame waiting
 * to be analysed in async mode (of the old layout) is dropped. */
TC_API tc_status tc_runner_set_frame(tc_runner *runner, const tc_frame *frame, tc_error *err);

/* One frame. *latest: the latest finished analysis (NULL before the first),
 * valid until the next call on this runner. In async mode an error of the
 * runner's thread is returned here (and by every call after it). */
TC_API tc_status tc_runner_submit(tc_runner *runner, void *pixels, size_t stride, uint64_t timestamp,
                                  const tc_analysis **latest, tc_error *err);

/* tc_runner_submit for a frame in the caller's device buffers (a runner made
 * with vulkan_device: sync mode only): the analysed frames as
 * tc_detector_analyse_device, the others get the latest map blended on the
 * device; nothing passes through host memory. */
TC_API tc_status tc_runner_submit_device(tc_runner *runner, tc_device_plane *planes, uint32_t n_planes,
                                         uint64_t timestamp, const tc_analysis **latest, tc_error *err);

/* Starts over (a seek): the pending frame is dropped, an analysis still
 * running is discarded, the latest analysis forgotten, the interval restarts. */
TC_API void tc_runner_flush(tc_runner *runner);
/* Waits for the pending frame and the running analysis (end of stream);
 * returns the error of the runner's thread, if it stopped on one. */
TC_API tc_status tc_runner_drain(tc_runner *runner, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
