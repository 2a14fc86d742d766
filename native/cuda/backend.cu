// libbackpropagate_cuda.so: the MLP training step on an NVIDIA GPU behind the
// plain C table of native/engine/cuda_abi.h.
//
// One context per trainer: its own stream, parameters, gradients, optimizer
// state, the run's dataset (uploaded once through pinned memory) and a
// workspace sized for the largest minibatch. A step gathers its rows on the
// device from the uploaded dataset by index, so only the row indices (and a
// handful of scalars) go up and only the loss comes back. Full-size steps are
// captured once as a CUDA graph and replayed, which removes the per-kernel
// launch cost that dominates small models.
//
// Nothing here throws across the C boundary: every entry point catches and
// fills the caller's bp_cuda_error.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "cuda_abi.h"
#include "kernels.cuh"

#ifndef BP_CUDA_TARGETS
#define BP_CUDA_TARGETS "(unrecorded)"
#endif

namespace bpcuda {
namespace {

struct Failure {
  int status;
  std::string message;
  unsigned long long bytes = 0;
};

[[noreturn]] void fail(int status, std::string message, unsigned long long bytes = 0) {
  throw Failure{status, std::move(message), bytes};
}

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the context stays usable
  const int status = e == cudaErrorMemoryAllocation ? BP_CUDA_OUT_OF_MEMORY
                     : (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorInvalidDevice)
                         ? BP_CUDA_UNAVAILABLE
                         : BP_CUDA_FAILED;
  fail(status, std::string(what) + ": " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")");
}

void checkLaunch(const char* what) { check(cudaGetLastError(), what); }

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) { allocate(count); }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  void allocate(size_t count) {
    reset();
    if (count == 0) return;
    const size_t bytes = count * sizeof(T);
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      if (e == cudaErrorMemoryAllocation)
        fail(BP_CUDA_OUT_OF_MEMORY, "cudaMalloc of " + std::to_string(bytes) + " bytes failed: " + cudaGetErrorString(e),
             bytes);
      check(e, "cudaMalloc");
    }
    ptr_ = static_cast<T*>(p);
    count_ = count;
  }
  void reset() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

// Page-locked host memory: asynchronous copies from and to it overlap with
// kernels, and graphs may capture copies that read or write it.
template <class T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() { reset(); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void allocate(size_t count) {
    reset();
    if (count == 0) return;
    void* p = nullptr;
    const cudaError_t e = cudaMallocHost(&p, count * sizeof(T));
    if (e != cudaSuccess) {
      cudaGetLastError();
      fail(e == cudaErrorMemoryAllocation ? BP_CUDA_OUT_OF_MEMORY : BP_CUDA_FAILED,
           "cudaMallocHost of " + std::to_string(count * sizeof(T)) + " bytes failed: " + cudaGetErrorString(e),
           count * sizeof(T));
    }
    ptr_ = static_cast<T*>(p);
    count_ = count;
  }
  void reset() {
    if (ptr_) cudaFreeHost(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

class Stream {
 public:
  Stream() { check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreate"); }
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class GraphExec {
 public:
  GraphExec() = default;
  ~GraphExec() { reset(); }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  void reset() {
    if (exec_) cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
  }
  void adopt(cudaGraphExec_t e) {
    reset();
    exec_ = e;
  }
  cudaGraphExec_t get() const { return exec_; }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

unsigned gridFor(size_t n, unsigned block, unsigned cap = 4096) {
  const size_t g = (n + block - 1) / block;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(g, cap)));
}

// Forward/backward buffers for minibatches of up to `capacity` rows.
struct Workspace {
  int capacity = 0;
  DeviceBuffer<float> x, targets;
  DeviceBuffer<int32_t> labels;
  DeviceBuffer<uint32_t> rows;
  std::vector<DeviceBuffer<float>> pre, post;  // post: hidden layers only (empty for the output layer)
  DeviceBuffer<float> gradA, gradB;            // dZ ping-pong, capacity x widest layer
  DeviceBuffer<float> splitK;                  // split-K slices of weight gradients
  DeviceBuffer<double> rowLoss, lossTotal;
  DeviceBuffer<int> rowCorrect;
  DeviceBuffer<unsigned long long> correct;
  DeviceBuffer<float> probabilities;
};

enum class Layout { NT, TN, NN };

struct GemmPlan {
  bool tf32 = false;
  bool bigTile = false;
  int splits = 1;
  int kSlice = 0;
};

}  // namespace
}  // namespace bpcuda

struct bp_cuda_context {
  bp_cuda_model model{};
  int device = 0;
  int smCount = 1;
  bool tf32Usable = false;
  std::vector<int> widths;
  std::vector<size_t> weightOffset, biasOffset;
  size_t paramCount = 0;
  std::string description;

  std::unique_ptr<bpcuda::Stream> stream;
  bpcuda::DeviceBuffer<float> params, grad, m, v;
  bpcuda::DeviceBuffer<double> normPartial;
  bpcuda::DeviceBuffer<float> clipScale;
  bpcuda::DeviceBuffer<bpcuda::StepScalars> scalars;

  bpcuda::DeviceBuffer<float> dataX, dataTargets;
  bpcuda::DeviceBuffer<int32_t> dataLabels;
  size_t dataRows = 0;

  bpcuda::Workspace train, eval;
  bpcuda::PinnedBuffer<uint32_t> hostRows;
  bpcuda::PinnedBuffer<bpcuda::StepScalars> hostScalars;
  bpcuda::PinnedBuffer<double> hostLoss;

  bpcuda::GraphExec graph;
  int graphBatch = 0;   // batch size the graph was captured for (0: none)
  int eagerSteps = 0;   // full-size steps run before capturing
  bool graphsBroken = false;
};

namespace bpcuda {
namespace {

using Ctx = bp_cuda_context;

int layers(const Ctx& c) { return c.model.layerCount; }
int inputWidth(const Ctx& c) { return c.widths.front(); }
int outputWidth(const Ctx& c) { return c.widths.back(); }
bool classification(const Ctx& c) { return c.model.task == BP_CUDA_CLASSIFICATION; }

GemmPlan planGemm(const Ctx& c, int M, int N, int K, bool allowSplit) {
  GemmPlan p;
  p.tf32 = c.tf32Usable;
  const long tiles128 = static_cast<long>((M + 127) / 128) * ((N + 127) / 128);
  p.bigTile = !p.tf32 && tiles128 >= 2L * c.smCount;
  const int bm = p.bigTile ? 128 : 64, bn = p.bigTile ? 128 : 64;
  const long tiles = static_cast<long>((M + bm - 1) / bm) * ((N + bn - 1) / bn);
  p.kSlice = K;
  if (allowSplit && tiles < c.smCount && K >= 512) {
    // Too few tiles to fill the GPU and a long K: split K into slices (each
    // at least 256 deep), summed afterwards in a fixed order.
    int s = static_cast<int>(std::min<long>((2L * c.smCount + tiles - 1) / tiles, K / 256));
    s = std::max(1, std::min(s, 16));
    if (s > 1) {
      const int slice = ((K + s - 1) / s + 15) / 16 * 16;
      p.splits = (K + slice - 1) / slice;
      p.kSlice = slice;
    }
  }
  return p;
}

template <bool TA, bool TB>
void launchGemm(const Ctx& c, const GemmPlan& p, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
                const Epilogue& ep, cudaStream_t s) {
  if (p.tf32) {
    const dim3 grid((N + 63) / 64, (M + 63) / 64, p.splits);
    tf32GemmKernel<TA, TB><<<grid, 128, 0, s>>>(M, N, K, p.kSlice, A, lda, B, ldb, ep);
  } else if (p.bigTile) {
    const dim3 grid((N + 127) / 128, (M + 127) / 128, p.splits);
    sgemmKernel<128, 128, 8, 8, 8, TA, TB><<<grid, 256, 0, s>>>(M, N, K, p.kSlice, A, lda, B, ldb, ep);
  } else {
    const dim3 grid((N + 63) / 64, (M + 63) / 64, p.splits);
    sgemmKernel<64, 64, 8, 4, 4, TA, TB><<<grid, 256, 0, s>>>(M, N, K, p.kSlice, A, lda, B, ldb, ep);
  }
  (void)c;
  checkLaunch("GEMM launch");
}

void gemm(const Ctx& c, Layout layout, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
          Epilogue ep, const Workspace* ws, cudaStream_t s) {
  GemmPlan p = planGemm(c, M, N, K, layout == Layout::TN && ep.mode == Epilogue::kStore && ws != nullptr);
  float* finalOut = ep.c;
  if (p.splits > 1) {
    const size_t stride = static_cast<size_t>(M) * N;
    if (ws->splitK.size() < stride * p.splits) {
      p = planGemm(c, M, N, K, false);  // workspace sized for a smaller split: run unsplit
    } else {
      ep.c = ws->splitK.get();
      ep.ldc = N;
      ep.sliceStride = stride;
    }
  }
  switch (layout) {
    case Layout::NT: launchGemm<false, true>(c, p, M, N, K, A, lda, B, ldb, ep, s); break;
    case Layout::TN: launchGemm<true, false>(c, p, M, N, K, A, lda, B, ldb, ep, s); break;
    case Layout::NN: launchGemm<false, false>(c, p, M, N, K, A, lda, B, ldb, ep, s); break;
  }
  if (p.splits > 1) {
    const size_t stride = static_cast<size_t>(M) * N;
    sumSlicesKernel<<<gridFor(stride, 256), 256, 0, s>>>(ws->splitK.get(), p.splits, stride, finalOut);
    checkLaunch("split-K reduction");
  }
}

size_t splitKElements(const Ctx& c, int batch) {
  size_t most = 0;
  for (int l = 0; l < layers(c); ++l) {
    const int out = c.widths[l + 1], in = c.widths[l];
    const GemmPlan p = planGemm(c, out, in, batch, true);
    if (p.splits > 1) most = std::max(most, static_cast<size_t>(p.splits) * out * in);
  }
  // Slices beyond 64 MiB are not worth the memory: such GEMMs run unsplit.
  return std::min<size_t>(most, (64u << 20) / sizeof(float));
}

void reserveWorkspace(Ctx& c, Workspace& ws, int batch, bool training) {
  if (batch <= ws.capacity) return;
  ws.capacity = 0;
  const size_t B = static_cast<size_t>(batch);
  ws.x.allocate(B * inputWidth(c));
  if (classification(c))
    ws.labels.allocate(B);
  else
    ws.targets.allocate(B * outputWidth(c));
  ws.rows.allocate(B);
  ws.pre.resize(layers(c));
  ws.post.resize(layers(c));
  int widest = 1;
  for (int l = 0; l < layers(c); ++l) {
    const size_t w = static_cast<size_t>(c.widths[l + 1]);
    widest = std::max(widest, c.widths[l + 1]);
    ws.pre[l].allocate(B * w);
    if (l + 1 < layers(c))
      ws.post[l].allocate(B * w);
    else
      ws.post[l].reset();
  }
  if (training) {
    ws.gradA.allocate(B * widest);
    ws.gradB.allocate(B * widest);
    ws.splitK.allocate(splitKElements(c, batch));
  }
  ws.rowLoss.allocate(B);
  ws.rowCorrect.allocate(B);
  ws.lossTotal.allocate(1);
  ws.correct.allocate(1);
  if (!training) ws.probabilities.allocate(B * outputWidth(c));
  ws.capacity = batch;
}

// Forward pass of `batch` rows already in ws.x; returns the output layer's buffer.
const float* forward(Ctx& c, Workspace& ws, int batch, cudaStream_t s) {
  const float* input = ws.x.get();
  for (int l = 0; l < layers(c); ++l) {
    const int in = c.widths[l], out = c.widths[l + 1];
    Epilogue ep;
    ep.mode = Epilogue::kBiasActivation;
    ep.c = ws.pre[l].get();
    ep.ldc = out;
    ep.bias = c.params.get() + c.biasOffset[l];
    ep.activated = l + 1 < layers(c) ? ws.post[l].get() : nullptr;
    ep.activation = c.model.activation;
    gemm(c, Layout::NT, batch, out, in, input, in, c.params.get() + c.weightOffset[l], in, ep, nullptr, s);
    input = l + 1 < layers(c) ? ws.post[l].get() : ws.pre[l].get();
  }
  return input;
}

// Loss of the outputs against ws.labels / ws.targets: per-row losses, the
// total in ws.lossTotal (and hits in ws.correct), and d(loss)/d(outputs)
// into `dOut` when given.
void loss(Ctx& c, Workspace& ws, const float* y, int batch, float* dOut, bool countCorrect, cudaStream_t s) {
  const int out = outputWidth(c);
  if (classification(c)) {
    const int rowsPerBlock = 8;  // 8 warps
    softmaxCrossEntropyKernel<<<(batch + rowsPerBlock - 1) / rowsPerBlock, rowsPerBlock * 32, 0, s>>>(
        y, ws.labels.get(), batch, out, dOut, ws.rowLoss.get(), countCorrect ? ws.rowCorrect.get() : nullptr);
  } else {
    mseKernel<<<(batch + 127) / 128, 128, 0, s>>>(y, ws.targets.get(), batch, out, dOut, ws.rowLoss.get());
  }
  checkLaunch("loss");
  reduceLossKernel<<<1, 256, 0, s>>>(ws.rowLoss.get(), countCorrect && classification(c) ? ws.rowCorrect.get() : nullptr,
                                     batch, ws.lossTotal.get(), countCorrect ? ws.correct.get() : nullptr);
  checkLaunch("loss reduction");
}

// Backward pass from dOut (in ws.gradA) into c.grad.
void backward(Ctx& c, Workspace& ws, int batch, cudaStream_t s) {
  float* dz = ws.gradA.get();
  float* other = ws.gradB.get();
  for (int l = layers(c) - 1; l >= 0; --l) {
    const int in = c.widths[l], out = c.widths[l + 1];
    const float* input = l == 0 ? ws.x.get() : ws.post[l - 1].get();
    // dW = dZ^T * input (out x in)
    Epilogue store;
    store.c = c.grad.get() + c.weightOffset[l];
    store.ldc = in;
    gemm(c, Layout::TN, out, in, batch, dz, out, input, in, store, &ws, s);
    // db = column sums of dZ
    columnSumsKernel<<<(out + 31) / 32, dim3(32, 32), 0, s>>>(dz, batch, out, c.grad.get() + c.biasOffset[l]);
    checkLaunch("bias gradient");
    if (l == 0) break;
    // dZ_prev = (dZ * W) . act'(Z_prev)
    Epilogue back;
    back.mode = Epilogue::kActivationBackward;
    back.c = other;
    back.ldc = in;
    back.pre = ws.pre[l - 1].get();
    back.post = ws.post[l - 1].get();
    back.activation = c.model.activation;
    gemm(c, Layout::NN, batch, in, out, dz, out, c.params.get() + c.weightOffset[l], in, back, nullptr, s);
    std::swap(dz, other);
  }
}

OptimizerParams optimizerParams(const Ctx& c) {
  OptimizerParams o;
  o.beta1 = c.model.beta1;
  o.beta2 = c.model.beta2;
  o.eps = c.model.eps;
  o.weightDecay = c.model.weightDecay;
  o.momentum = c.model.momentum;
  o.clip = c.model.gradientClipNorm > 0 ? 1 : 0;
  return o;
}

// The whole training step for `batch` rows whose indices are in c.hostRows
// and scalars in c.hostScalars. Enqueues only (no host synchronisation), so
// it can be captured into a graph.
void enqueueStep(Ctx& c, int batch, cudaStream_t s) {
  Workspace& ws = c.train;
  check(cudaMemcpyAsync(ws.rows.get(), c.hostRows.get(), sizeof(uint32_t) * batch, cudaMemcpyHostToDevice, s),
        "row index upload");
  check(cudaMemcpyAsync(c.scalars.get(), c.hostScalars.get(), sizeof(StepScalars), cudaMemcpyHostToDevice, s),
        "step scalar upload");
  gatherRowsKernel<<<gridFor(static_cast<size_t>(batch) * inputWidth(c), 256), 256, 0, s>>>(
      c.dataX.get(), inputWidth(c), ws.rows.get(), batch, ws.x.get());
  if (classification(c))
    gatherLabelsKernel<<<(batch + 255) / 256, 256, 0, s>>>(c.dataLabels.get(), ws.rows.get(), batch, ws.labels.get());
  else
    gatherRowsKernel<<<gridFor(static_cast<size_t>(batch) * outputWidth(c), 256), 256, 0, s>>>(
        c.dataTargets.get(), outputWidth(c), ws.rows.get(), batch, ws.targets.get());
  checkLaunch("minibatch gather");
  const float* y = forward(c, ws, batch, s);
  loss(c, ws, y, batch, ws.gradA.get(), false, s);
  backward(c, ws, batch, s);
  const OptimizerParams o = optimizerParams(c);
  if (o.clip) {
    sumSquaresKernel<<<kNormBlocks, 256, 0, s>>>(c.grad.get(), c.paramCount, c.normPartial.get());
    clipScaleKernel<<<1, 256, 0, s>>>(c.normPartial.get(), kNormBlocks, c.model.gradientClipNorm, c.clipScale.get());
    checkLaunch("gradient clipping");
  }
  const unsigned grid = gridFor(c.paramCount, 256, 8192);
  if (c.model.optimizer == BP_CUDA_ADAMW)
    adamwKernel<<<grid, 256, 0, s>>>(c.params.get(), c.grad.get(), c.m.get(), c.v.get(), c.paramCount, c.scalars.get(),
                                      o, c.clipScale.get(), ws.lossTotal.get());
  else
    sgdKernel<<<grid, 256, 0, s>>>(c.params.get(), c.grad.get(), c.m.get(), c.paramCount, c.scalars.get(), o,
                                    c.clipScale.get(), ws.lossTotal.get());
  checkLaunch("optimizer update");
  check(cudaMemcpyAsync(c.hostLoss.get(), ws.lossTotal.get(), sizeof(double), cudaMemcpyDeviceToHost, s),
        "loss download");
}

void invalidateGraph(Ctx& c) {
  c.graph.reset();
  c.graphBatch = 0;
  c.eagerSteps = 0;
}

// Captures enqueueStep(batch) into c.graph; on any capture failure, turns
// graphs off for this context and leaves the stream usable.
bool captureGraph(Ctx& c, int batch) {
  cudaStream_t s = c.stream->get();
  if (cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    cudaGetLastError();
    c.graphsBroken = true;
    return false;
  }
  bool enqueued = true;
  try {
    enqueueStep(c, batch, s);
  } catch (const Failure&) {
    enqueued = false;
  }
  cudaGraph_t g = nullptr;
  const cudaError_t endErr = cudaStreamEndCapture(s, &g);
  cudaGraphExec_t exec = nullptr;
  const bool ok = enqueued && endErr == cudaSuccess && g != nullptr && cudaGraphInstantiate(&exec, g, 0) == cudaSuccess;
  if (g) cudaGraphDestroy(g);
  if (!ok) {
    cudaGetLastError();
    if (exec) cudaGraphExecDestroy(exec);
    c.graphsBroken = true;
    return false;
  }
  c.graph.adopt(exec);
  c.graphBatch = batch;
  return true;
}

std::string archName(int major, int minor) { return "sm_" + std::to_string(major * 10 + minor); }

void fillError(bp_cuda_error* err, int status, const std::string& message, unsigned long long bytes) {
  if (!err) return;
  err->status = status;
  err->bytesRequested = bytes;
  std::snprintf(err->message, sizeof err->message, "%s", message.c_str());
}

template <class F>
int guard(bp_cuda_error* err, F&& body) {
  if (err) {
    err->status = BP_CUDA_OK;
    err->bytesRequested = 0;
    err->message[0] = '\0';
  }
  try {
    body();
    return BP_CUDA_OK;
  } catch (const Failure& f) {
    fillError(err, f.status, f.message, f.bytes);
    return f.status;
  } catch (const std::bad_alloc&) {
    fillError(err, BP_CUDA_OUT_OF_MEMORY, "host memory exhausted in the CUDA backend", 0);
    return BP_CUDA_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    fillError(err, BP_CUDA_FAILED, e.what(), 0);
    return BP_CUDA_FAILED;
  } catch (...) {
    fillError(err, BP_CUDA_FAILED, "unknown failure in the CUDA backend", 0);
    return BP_CUDA_FAILED;
  }
}

void useDevice(const Ctx& c) { check(cudaSetDevice(c.device), "cudaSetDevice"); }

void sync(const Ctx& c) { check(cudaStreamSynchronize(c.stream->get()), "stream synchronize"); }

// Uploads `rows` rows of host data into ws (x, labels/targets).
void uploadChunk(Ctx& c, Workspace& ws, const float* x, const int32_t* labels, const float* targets, int rows,
                 cudaStream_t s) {
  check(cudaMemcpyAsync(ws.x.get(), x, sizeof(float) * rows * inputWidth(c), cudaMemcpyHostToDevice, s), "input upload");
  if (labels && classification(c))
    check(cudaMemcpyAsync(ws.labels.get(), labels, sizeof(int32_t) * rows, cudaMemcpyHostToDevice, s), "label upload");
  if (targets && !classification(c))
    check(cudaMemcpyAsync(ws.targets.get(), targets, sizeof(float) * rows * outputWidth(c), cudaMemcpyHostToDevice, s),
          "target upload");
}

constexpr int kEvalChunk = 1024;

// ------------------------------------------------------------------ C entry points

const char* buildInfo() {
  static const std::string info = std::string("backpropagate CUDA backend, CUDA ") +
                                  std::to_string(CUDART_VERSION / 1000) + "." +
                                  std::to_string((CUDART_VERSION % 1000) / 10) + ", targets " BP_CUDA_TARGETS;
  return info.c_str();
}

int versions(bp_cuda_versions* out, bp_cuda_error* err) {
  return guard(err, [&] {
    if (!out) fail(BP_CUDA_INVALID, "versions: null output");
    out->driverVersion = 0;
    out->runtimeVersion = 0;
    cudaDriverGetVersion(&out->driverVersion);
    cudaRuntimeGetVersion(&out->runtimeVersion);
    cudaGetLastError();
  });
}

int deviceCount(int* count, bp_cuda_error* err) {
  return guard(err, [&] {
    if (!count) fail(BP_CUDA_INVALID, "deviceCount: null output");
    *count = 0;
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      fail(BP_CUDA_UNAVAILABLE, std::string(cudaGetErrorString(e)) + " (" + cudaGetErrorName(e) + ")");
    }
    *count = n;
  });
}

int deviceInfo(int index, bp_cuda_device_info* out, bp_cuda_error* err) {
  return guard(err, [&] {
    if (!out) fail(BP_CUDA_INVALID, "deviceInfo: null output");
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
    out->index = index;
    out->ccMajor = prop.major;
    out->ccMinor = prop.minor;
    out->multiprocessors = prop.multiProcessorCount;
    out->totalMemoryBytes = prop.totalGlobalMem;
    std::snprintf(out->name, sizeof out->name, "%s", prop.name);
  });
}

bp_cuda_context* create(const bp_cuda_model* model, bp_cuda_error* err) {
  std::unique_ptr<Ctx> c;
  const int status = guard(err, [&] {
    if (!model || model->layerCount < 1 || model->layerCount > BP_CUDA_MAX_LAYERS)
      fail(BP_CUDA_INVALID, "create: the model needs 1 to " + std::to_string(BP_CUDA_MAX_LAYERS) + " layers");
    for (int i = 0; i <= model->layerCount; ++i)
      if (model->widths[i] < 1) fail(BP_CUDA_INVALID, "create: layer widths must be >= 1");
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      cudaGetLastError();
      fail(BP_CUDA_UNAVAILABLE, std::string(cudaGetErrorString(e)) + " (" + cudaGetErrorName(e) + ")");
    }
    if (model->device < 0 || model->device >= count)
      fail(BP_CUDA_UNAVAILABLE, "cuda:" + std::to_string(model->device) + " does not exist (this machine has " +
                                    std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s") + ")");
    c = std::make_unique<Ctx>();
    c->model = *model;
    c->device = model->device;
    useDevice(*c);
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, c->device), "cudaGetDeviceProperties");
    c->smCount = std::max(1, prop.multiProcessorCount);
    c->tf32Usable = model->tf32 != 0 && prop.major >= 8;
    c->widths.assign(model->widths, model->widths + model->layerCount + 1);
    size_t offset = 0;
    for (int l = 0; l < model->layerCount; ++l) {
      c->weightOffset.push_back(offset);
      offset += static_cast<size_t>(c->widths[l]) * c->widths[l + 1];
      c->biasOffset.push_back(offset);
      offset += c->widths[l + 1];
    }
    c->paramCount = offset;
    c->description = std::string(prop.name) + " (cuda:" + std::to_string(c->device) + ", " +
                     archName(prop.major, prop.minor) + ", " + (c->tf32Usable ? "tf32" : "fp32") + ")";
    c->stream = std::make_unique<Stream>();
    c->params.allocate(c->paramCount);
    c->grad.allocate(c->paramCount);
    c->m.allocate(c->paramCount);
    if (model->optimizer == BP_CUDA_ADAMW) c->v.allocate(c->paramCount);
    c->normPartial.allocate(kNormBlocks);
    c->clipScale.allocate(1);
    c->scalars.allocate(1);
    c->hostScalars.allocate(1);
    c->hostLoss.allocate(1);
    check(cudaMemsetAsync(c->m.get(), 0, sizeof(float) * c->paramCount, c->stream->get()), "optimizer state init");
    if (c->v.get())
      check(cudaMemsetAsync(c->v.get(), 0, sizeof(float) * c->paramCount, c->stream->get()), "optimizer state init");
    sync(*c);
  });
  return status == BP_CUDA_OK ? c.release() : nullptr;
}

void destroy(bp_cuda_context* c) {
  if (!c) return;
  cudaSetDevice(c->device);
  if (c->stream) cudaStreamSynchronize(c->stream->get());
  cudaGetLastError();
  delete c;
}

const char* describe(bp_cuda_context* c) { return c ? c->description.c_str() : ""; }

int upload(bp_cuda_context* c, const float* params, const float* m, const float* v, size_t n, bp_cuda_error* err) {
  return guard(err, [&] {
    if (!c || n != c->paramCount) fail(BP_CUDA_INVALID, "upload: parameter count mismatch");
    useDevice(*c);
    cudaStream_t s = c->stream->get();
    if (params) check(cudaMemcpyAsync(c->params.get(), params, sizeof(float) * n, cudaMemcpyHostToDevice, s), "parameter upload");
    if (m) check(cudaMemcpyAsync(c->m.get(), m, sizeof(float) * n, cudaMemcpyHostToDevice, s), "optimizer state upload");
    if (v && c->v.get()) check(cudaMemcpyAsync(c->v.get(), v, sizeof(float) * n, cudaMemcpyHostToDevice, s), "optimizer state upload");
    sync(*c);  // pageable sources: the copy must finish before the caller reuses them
  });
}

int download(bp_cuda_context* c, float* params, float* m, float* v, size_t n, bp_cuda_error* err) {
  return guard(err, [&] {
    if (!c || n != c->paramCount) fail(BP_CUDA_INVALID, "download: parameter count mismatch");
    useDevice(*c);
    cudaStream_t s = c->stream->get();
    if (params) check(cudaMemcpyAsync(params, c->params.get(), sizeof(float) * n, cudaMemcpyDeviceToHost, s), "parameter download");
    if (m) check(cudaMemcpyAsync(m, c->m.get(), sizeof(float) * n, cudaMemcpyDeviceToHost, s), "optimizer state download");
    if (v && c->v.get()) check(cudaMemcpyAsync(v, c->v.get(), sizeof(float) * n, cudaMemcpyDeviceToHost, s), "optimizer state download");
    sync(*c);
  });
}

int uploadDataset(bp_cuda_context* c, const float* x, const int32_t* labels, const float* targets, size_t rows,
                  bp_cuda_error* err) {
  return guard(err, [&] {
    if (!c || !x || rows == 0) fail(BP_CUDA_INVALID, "uploadDataset: no rows");
    if (classification(*c) ? !labels : !targets) fail(BP_CUDA_INVALID, "uploadDataset: labels or targets missing");
    useDevice(*c);
    invalidateGraph(*c);
    c->dataX.reset();
    c->dataLabels.reset();
    c->dataTargets.reset();
    c->dataRows = 0;
    cudaStream_t s = c->stream->get();
    const size_t xCount = rows * static_cast<size_t>(inputWidth(*c));
    const size_t yCount = classification(*c) ? rows : rows * static_cast<size_t>(outputWidth(*c));
    c->dataX.allocate(xCount);
    if (classification(*c))
      c->dataLabels.allocate(rows);
    else
      c->dataTargets.allocate(yCount);
    // Staged through a pinned buffer of at most 16 MiB, so the copy runs at
    // full bus speed without pinning (or duplicating) the caller's whole array.
    constexpr size_t kStageBytes = 16u << 20;
    PinnedBuffer<unsigned char> stage;
    stage.allocate(std::min(kStageBytes, std::max(xCount * sizeof(float), yCount * 4)));
    auto copy = [&](void* dst, const void* src, size_t bytes) {
      for (size_t done = 0; done < bytes; done += stage.size()) {
        const size_t part = std::min(stage.size(), bytes - done);
        std::memcpy(stage.get(), static_cast<const unsigned char*>(src) + done, part);
        check(cudaMemcpyAsync(static_cast<unsigned char*>(dst) + done, stage.get(), part, cudaMemcpyHostToDevice, s),
              "dataset upload");
        sync(*c);  // the stage is reused for the next part
      }
    };
    copy(c->dataX.get(), x, xCount * sizeof(float));
    if (classification(*c))
      copy(c->dataLabels.get(), labels, rows * sizeof(int32_t));
    else
      copy(c->dataTargets.get(), targets, yCount * sizeof(float));
    c->dataRows = rows;
  });
}

void releaseDataset(bp_cuda_context* c) {
  if (!c) return;
  cudaSetDevice(c->device);
  if (c->stream) cudaStreamSynchronize(c->stream->get());
  invalidateGraph(*c);
  c->dataX.reset();
  c->dataLabels.reset();
  c->dataTargets.reset();
  c->dataRows = 0;
  cudaGetLastError();
}

int reserve(bp_cuda_context* c, int batch, bp_cuda_error* err) {
  return guard(err, [&] {
    if (!c || batch < 1) fail(BP_CUDA_INVALID, "reserve: batch must be >= 1");
    useDevice(*c);
    if (batch > c->train.capacity) {
      invalidateGraph(*c);
      sync(*c);
      reserveWorkspace(*c, c->train, batch, true);
      c->hostRows.allocate(static_cast<size_t>(batch));
    }
  });
}

int trainStep(bp_cuda_context* c, const uint32_t* rows, int batch, const bp_cuda_step_scalars* scalars, float* lossOut,
              bp_cuda_error* err) {
  return guard(err, [&] {
    if (!c || !rows || !scalars || !lossOut || batch < 1) fail(BP_CUDA_INVALID, "trainStep: bad arguments");
    if (c->dataRows == 0) fail(BP_CUDA_INVALID, "trainStep: no dataset uploaded");
    useDevice(*c);
    if (batch > c->train.capacity) {
      invalidateGraph(*c);
      sync(*c);
      reserveWorkspace(*c, c->train, batch, true);
      c->hostRows.allocate(static_cast<size_t>(batch));
    }
    for (int i = 0; i < batch; ++i) {
      if (rows[i] >= c->dataRows) fail(BP_CUDA_INVALID, "trainStep: row index out of range");
      c->hostRows.get()[i] = rows[i];
    }
    StepScalars& s = *c->hostScalars.get();
    s.lr = scalars->lr;
    s.adamStepSize = scalars->adamStepSize;
    s.adamBc2Sqrt = scalars->adamBc2Sqrt;
    s.decay = scalars->decay;
    s.sgdFirstStep = scalars->sgdFirstStep;
    cudaStream_t stream = c->stream->get();
    // The minibatch size that recurs (every step but an epoch's last) is
    // replayed as a graph after one eager step has warmed everything up.
    const bool graphs = c->model.useGraphs != 0 && !c->graphsBroken;
    if (graphs && c->graphBatch != batch && batch == c->train.capacity && ++c->eagerSteps > 1) captureGraph(*c, batch);
    if (graphs && c->graphBatch == batch && c->graph.get())
      check(cudaGraphLaunch(c->graph.get(), stream), "cudaGraphLaunch");
    else
      enqueueStep(*c, batch, stream);
    sync(*c);
    const double total = *c->hostLoss.get();
    *lossOut = static_cast<float>(classification(*c) ? total / batch
                                                     : total / (static_cast<double>(batch) * outputWidth(*c)));
  });
}

int gradients(bp_cuda_context* c, const float* x, const int32_t* labels, const float* targets, int batch, float* grad,
              size_t n, float* lossOut, bp_cuda_error* err) {
  return guard(err, [&] {
    if (!c || !x || !grad || batch < 1 || n != c->paramCount) fail(BP_CUDA_INVALID, "gradients: bad arguments");
    if (classification(*c) ? !labels : !targets) fail(BP_CUDA_INVALID, "gradients: labels or targets missing");
    useDevice(*c);
    if (batch > c->train.capacity) {
      invalidateGraph(*c);
      sync(*c);
      reserveWorkspace(*c, c->train, batch, true);
      c->hostRows.allocate(static_cast<size_t>(batch));
    }
    cudaStream_t s = c->stream->get();
    Workspace& ws = c->train;
    uploadChunk(*c, ws, x, labels, targets, batch, s);
    const float* y = forward(*c, ws, batch, s);
    loss(*c, ws, y, batch, ws.gradA.get(), false, s);
    backward(*c, ws, batch, s);
    double total = 0;
    check(cudaMemcpyAsync(&total, ws.lossTotal.get(), sizeof(double), cudaMemcpyDeviceToHost, s), "loss download");
    check(cudaMemcpyAsync(grad, c->grad.get(), sizeof(float) * n, cudaMemcpyDeviceToHost, s), "gradient download");
    sync(*c);
    if (lossOut)
      *lossOut = static_cast<float>(classification(*c) ? total / batch
                                                       : total / (static_cast<double>(batch) * outputWidth(*c)));
  });
}

int predict(bp_cuda_context* c, const float* x, size_t rows, float* out, bp_cuda_error* err) {
  return guard(err, [&] {
    if (!c || (!x && rows) || (!out && rows)) fail(BP_CUDA_INVALID, "predict: bad arguments");
    useDevice(*c);
    reserveWorkspace(*c, c->eval, kEvalChunk, false);
    cudaStream_t s = c->stream->get();
    const int width = outputWidth(*c);
    for (size_t start = 0; start < rows; start += kEvalChunk) {
      const int b = static_cast<int>(std::min<size_t>(kEvalChunk, rows - start));
      uploadChunk(*c, c->eval, x + start * inputWidth(*c), nullptr, nullptr, b, s);
      const float* y = forward(*c, c->eval, b, s);
      if (classification(*c)) {
        softmaxKernel<<<(b + 7) / 8, 256, 0, s>>>(y, b, width, c->eval.probabilities.get());
        checkLaunch("softmax");
        y = c->eval.probabilities.get();
      }
      check(cudaMemcpyAsync(out + start * width, y, sizeof(float) * b * width, cudaMemcpyDeviceToHost, s),
            "prediction download");
      sync(*c);
    }
  });
}

// Loss sum (per-row losses; for regression the row mean over outputs) and hits.
void evaluateChunk(Ctx& c, int b, double* lossSum, unsigned long long* correct, cudaStream_t s) {
  const float* y = forward(c, c.eval, b, s);
  loss(c, c.eval, y, b, nullptr, true, s);
  double total = 0;
  unsigned long long hits = 0;
  check(cudaMemcpyAsync(&total, c.eval.lossTotal.get(), sizeof(double), cudaMemcpyDeviceToHost, s), "loss download");
  if (classification(c))
    check(cudaMemcpyAsync(&hits, c.eval.correct.get(), sizeof hits, cudaMemcpyDeviceToHost, s), "accuracy download");
  sync(c);
  *lossSum += classification(c) ? total : total / outputWidth(c);
  *correct += hits;
}

int evaluate(bp_cuda_context* c, const float* x, const int32_t* labels, const float* targets, size_t rows,
             double* lossSum, unsigned long long* correct, bp_cuda_error* err) {
  return guard(err, [&] {
    if (!c || !lossSum || !correct || (rows && !x)) fail(BP_CUDA_INVALID, "evaluate: bad arguments");
    if (rows && (classification(*c) ? !labels : !targets)) fail(BP_CUDA_INVALID, "evaluate: labels or targets missing");
    useDevice(*c);
    reserveWorkspace(*c, c->eval, kEvalChunk, false);
    cudaStream_t s = c->stream->get();
    *lossSum = 0;
    *correct = 0;
    const int out = outputWidth(*c);
    for (size_t start = 0; start < rows; start += kEvalChunk) {
      const int b = static_cast<int>(std::min<size_t>(kEvalChunk, rows - start));
      uploadChunk(*c, c->eval, x + start * inputWidth(*c), labels ? labels + start : nullptr,
                  targets ? targets + start * out : nullptr, b, s);
      evaluateChunk(*c, b, lossSum, correct, s);
    }
  });
}

int evaluateRows(bp_cuda_context* c, const uint32_t* rows, size_t n, double* lossSum, unsigned long long* correct,
                 bp_cuda_error* err) {
  return guard(err, [&] {
    if (!c || !lossSum || !correct || (n && !rows)) fail(BP_CUDA_INVALID, "evaluateRows: bad arguments");
    if (n && c->dataRows == 0) fail(BP_CUDA_INVALID, "evaluateRows: no dataset uploaded");
    useDevice(*c);
    reserveWorkspace(*c, c->eval, kEvalChunk, false);
    cudaStream_t s = c->stream->get();
    *lossSum = 0;
    *correct = 0;
    for (size_t start = 0; start < n; start += kEvalChunk) {
      const int b = static_cast<int>(std::min<size_t>(kEvalChunk, n - start));
      for (int i = 0; i < b; ++i)
        if (rows[start + i] >= c->dataRows) fail(BP_CUDA_INVALID, "evaluateRows: row index out of range");
      // Pageable source: cudaMemcpyAsync returns once the rows are staged.
      check(cudaMemcpyAsync(c->eval.rows.get(), rows + start, sizeof(uint32_t) * b, cudaMemcpyHostToDevice, s),
            "row index upload");
      gatherRowsKernel<<<gridFor(static_cast<size_t>(b) * inputWidth(*c), 256), 256, 0, s>>>(
          c->dataX.get(), inputWidth(*c), c->eval.rows.get(), b, c->eval.x.get());
      if (classification(*c))
        gatherLabelsKernel<<<(b + 255) / 256, 256, 0, s>>>(c->dataLabels.get(), c->eval.rows.get(), b,
                                                            c->eval.labels.get());
      else
        gatherRowsKernel<<<gridFor(static_cast<size_t>(b) * outputWidth(*c), 256), 256, 0, s>>>(
            c->dataTargets.get(), outputWidth(*c), c->eval.rows.get(), b, c->eval.targets.get());
      checkLaunch("validation gather");
      evaluateChunk(*c, b, lossSum, correct, s);
    }
  });
}

const bp_cuda_api kApi = {
    BP_CUDA_ABI_VERSION,
    sizeof(bp_cuda_api),
    buildInfo,
    versions,
    deviceCount,
    deviceInfo,
    create,
    destroy,
    describe,
    upload,
    download,
    uploadDataset,
    releaseDataset,
    reserve,
    trainStep,
    gradients,
    predict,
    evaluate,
    evaluateRows,
};

}  // namespace
}  // namespace bpcuda

extern "C" __attribute__((visibility("default"))) const bp_cuda_api* bp_cuda_get_api(unsigned abiVersion) {
  return abiVersion == BP_CUDA_ABI_VERSION ? &bpcuda::kApi : nullptr;
}
