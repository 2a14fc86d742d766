/* The C interface between the engine and libbackpropagate_cuda.so.
 *
 * The CUDA kernels live in their own shared library so that the addon (and
 * the engine) never link the CUDA runtime: the engine dlopens the library only
 * when a GPU is asked for, and a machine without an NVIDIA driver never loads
 * it. The two sides are built from one tree but may come from different
 * builds (a stale library next to a fresh addon), so the boundary is plain C:
 * fixed-layout structs, no C++ types, no exceptions, and a version number
 * checked before anything else is called. Change a struct or a function
 * signature => bump BP_CUDA_ABI_VERSION.
 *
 * Every function returns 0 on success or a BP_CUDA_* status, and fills the
 * caller's bp_cuda_error (message from cudaGetErrorString or the library's
 * own words, plus the bytes asked for when an allocation failed).
 */
#ifndef BP_CUDA_ABI_H
#define BP_CUDA_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BP_CUDA_ABI_VERSION 1u
#define BP_CUDA_ENTRY_POINT "bp_cuda_get_api"
#define BP_CUDA_MAX_LAYERS 64

enum bp_cuda_status {
  BP_CUDA_OK = 0,
  BP_CUDA_UNAVAILABLE = 1, /* no driver, no device, device index out of range */
  BP_CUDA_OUT_OF_MEMORY = 2,
  BP_CUDA_INVALID = 3,     /* bad argument (a bug in the caller) */
  BP_CUDA_FAILED = 4       /* any other CUDA error; the context may be unusable */
};

enum bp_cuda_activation { BP_CUDA_RELU = 0, BP_CUDA_TANH = 1, BP_CUDA_GELU = 2 };
enum bp_cuda_task { BP_CUDA_CLASSIFICATION = 0, BP_CUDA_REGRESSION = 1 };
enum bp_cuda_optimizer { BP_CUDA_ADAMW = 0, BP_CUDA_SGD = 1 };

typedef struct bp_cuda_error {
  int status;
  unsigned long long bytesRequested; /* set with BP_CUDA_OUT_OF_MEMORY */
  char message[512];
} bp_cuda_error;

typedef struct bp_cuda_device_info {
  int index;
  int ccMajor, ccMinor;
  int multiprocessors;
  unsigned long long totalMemoryBytes;
  char name[256];
} bp_cuda_device_info;

typedef struct bp_cuda_versions {
  int driverVersion;  /* cudaDriverGetVersion: 0 when no driver is installed */
  int runtimeVersion; /* the CUDA runtime linked into the library, e.g. 13000 */
} bp_cuda_versions;

typedef struct bp_cuda_model {
  int device;     /* CUDA device index */
  int layerCount; /* dense layers (hidden + output) */
  int widths[BP_CUDA_MAX_LAYERS + 1]; /* widths[0] = inputSize, widths[layerCount] = outputSize */
  int activation; /* bp_cuda_activation, applied after every hidden layer */
  int task;       /* bp_cuda_task */
  int optimizer;  /* bp_cuda_optimizer */
  float weightDecay, momentum, beta1, beta2, eps;
  float gradientClipNorm; /* 0 = off */
  int tf32;       /* 1: tensor-core TF32 GEMMs where the GPU has them (sm_80+) */
  int useGraphs;  /* 1: replay full-size training steps as a CUDA graph */
} bp_cuda_model;

/* Per-step scalars, computed by the engine in the same way as the CPU
 * optimizer (double-precision bias corrections), so both devices apply the
 * same update rule. */
typedef struct bp_cuda_step_scalars {
  float lr;
  float adamStepSize; /* lr / (1 - beta1^t) */
  float adamBc2Sqrt;  /* sqrt(1 - beta2^t) */
  float decay;        /* AdamW: 1 - lr * weightDecay */
  int sgdFirstStep;   /* SGD: t == 1 (momentum buffer starts as the gradient) */
} bp_cuda_step_scalars;

typedef struct bp_cuda_context bp_cuda_context; /* opaque */

typedef struct bp_cuda_api {
  unsigned abiVersion;
  size_t structSize;
  /* Which build produced the library (GPU architectures, CUDA version). */
  const char* (*buildInfo)(void);
  int (*versions)(bp_cuda_versions* out, bp_cuda_error* err);
  int (*deviceCount)(int* count, bp_cuda_error* err);
  int (*deviceInfo)(int index, bp_cuda_device_info* out, bp_cuda_error* err);

  /* Allocates parameters, gradients and optimizer state on the device. */
  bp_cuda_context* (*create)(const bp_cuda_model* model, bp_cuda_error* err);
  void (*destroy)(bp_cuda_context* ctx);
  /* A short description: "NVIDIA H100 80GB HBM3 (cuda:0, sm_90, fp32)". */
  const char* (*describe)(bp_cuda_context* ctx);

  /* Parameters and optimizer state (m, v may be null: SGD has no v). */
  int (*upload)(bp_cuda_context* ctx, const float* params, const float* m, const float* v, size_t n, bp_cuda_error* err);
  int (*download)(bp_cuda_context* ctx, float* params, float* m, float* v, size_t n, bp_cuda_error* err);

  /* The training set, uploaded once per run (labels for classification,
   * targets rows x outputSize for regression; the other is null). */
  int (*uploadDataset)(bp_cuda_context* ctx, const float* x, const int32_t* labels, const float* targets, size_t rows,
                       bp_cuda_error* err);
  void (*releaseDataset)(bp_cuda_context* ctx);
  /* Sizes the training workspace for minibatches of up to `batch` rows. */
  int (*reserve)(bp_cuda_context* ctx, int batch, bp_cuda_error* err);

  /* One optimisation step on the dataset rows `rows[0..batch)`: gather,
   * forward, loss, backward, clip, update. Writes the minibatch's mean loss. */
  int (*trainStep)(bp_cuda_context* ctx, const uint32_t* rows, int batch, const bp_cuda_step_scalars* scalars,
                   float* loss, bp_cuda_error* err);
  /* Forward + backward only (no update) on host data; gradients to `grad`.
   * For the parity checks. */
  int (*gradients)(bp_cuda_context* ctx, const float* x, const int32_t* labels, const float* targets, int batch,
                   float* grad, size_t n, float* loss, bp_cuda_error* err);

  /* Outputs for host rows: probabilities (classification) or values. */
  int (*predict)(bp_cuda_context* ctx, const float* x, size_t rows, float* out, bp_cuda_error* err);
  /* Loss sum and correct count over host rows (labels or targets). */
  int (*evaluate)(bp_cuda_context* ctx, const float* x, const int32_t* labels, const float* targets, size_t rows,
                  double* lossSum, unsigned long long* correct, bp_cuda_error* err);
  /* Same over rows of the uploaded dataset. */
  int (*evaluateRows)(bp_cuda_context* ctx, const uint32_t* rows, size_t n, double* lossSum,
                      unsigned long long* correct, bp_cuda_error* err);
} bp_cuda_api;

/* The library's only exported symbol. Returns null when it cannot serve
 * `abiVersion` (the caller then reports a version mismatch). */
typedef const bp_cuda_api* (*bp_cuda_get_api_fn)(unsigned abiVersion);

#ifdef __cplusplus
}
#endif

#endif /* BP_CUDA_ABI_H */
