// The multi-layer perceptron: parameter layout, initialisation, forward and
// backward passes, and the two losses. Parameters live in one flat float
// buffer (per layer: weight [out x in] row-major, then bias [out]) so the
// optimizer, checkpoints and JavaScript see a single contiguous vector whose
// tensors have PyTorch nn.Linear shapes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rng.hpp"

namespace bp {

class ThreadPool;

enum class Activation { Relu, Tanh, Gelu };
enum class Task { Classification, Regression };

const char* activationName(Activation a);
const char* taskName(Task t);

struct ModelSpec {
  int inputSize = 0;
  std::vector<int> hidden;
  int outputSize = 0;
  Activation activation = Activation::Relu;
  Task task = Task::Classification;
};

struct LayerLayout {
  int in = 0;
  int out = 0;
  size_t weightOffset = 0;
  size_t biasOffset = 0;
};

std::vector<LayerLayout> layoutOf(const ModelSpec& spec);
size_t parameterCountOf(const ModelSpec& spec);

// PyTorch's nn.Linear default: weight and bias uniform in +-1/sqrt(fan_in).
void initParameters(const ModelSpec& spec, float* params, Rng& rng);

struct EvalResult {
  double loss = 0;
  double accuracy = 0;  // NaN for regression
  size_t rows = 0;
};

class Mlp {
 public:
  explicit Mlp(ModelSpec spec);

  const ModelSpec& spec() const { return spec_; }
  size_t parameterCount() const { return paramCount_; }
  const std::vector<LayerLayout>& layers() const { return layers_; }

  // Mean loss of the batch; writes d(loss)/d(params) into grad (overwritten).
  // labels for classification, targets (rows x outputSize) for regression. The batch is rows
  // rows[0 .. batch) of x, labels and targets, read in place (the first layer's GEMMs read
  // them through a row index, so the minibatch is never copied), or their first `batch` rows
  // when rows is null.
  float forwardBackward(const float* params, float* grad, const float* x, const uint32_t* rows,
                        const int32_t* labels, const float* targets, int batch, ThreadPool* pool);

  // Sizes the workspace for batches of up to `batch` rows (forward passes grow it otherwise).
  void reserve(int batch) { ensureCapacity(batch); }

  // Outputs for `batch` rows: class probabilities (classification) or values.
  void predict(const float* params, const float* x, int batch, float* out, ThreadPool* pool);

  // Loss (and accuracy) over n rows given by `rows` (indices into x/labels/targets; null = 0..n-1).
  EvalResult evaluate(const float* params, const float* x, const int32_t* labels, const float* targets,
                      const uint32_t* rows, size_t n, ThreadPool* pool);

 private:
  void ensureCapacity(int batch);
  // rows as in forwardBackward.
  void forward(const float* params, const float* x, const uint32_t* rows, int batch, ThreadPool* pool);
  // Loss of the logits/outputs in the last activation buffer against the labels or targets of
  // the batch's rows (rows as in forwardBackward); optionally writes dOut.
  double lossAndGrad(const int32_t* labels, const float* targets, const uint32_t* rows, int batch, float* dOut,
                     size_t* correct, ThreadPool* pool);
  // The loss of rows [r0, r1) into rowLoss_, their dOut, and how many were classified right.
  size_t lossRows(const int32_t* labels, const float* targets, const uint32_t* rows, int r0, int r1, int batch,
                  float* dOut);

  ModelSpec spec_;
  std::vector<LayerLayout> layers_;
  size_t paramCount_ = 0;
  int capacity_ = 0;
  bool keepsPreActivation(size_t layer) const;
  float* preActivation(size_t layer);  // pre_[layer], or act_[layer] when computed in place

  // pre_[l]: pre-activation of layer l (batch x out), kept only where keepsPreActivation(l);
  // act_[l]: its activation (act_[last] holds the raw output). The input of layer 0 is the batch
  // itself, read in place.
  std::vector<std::vector<float>> pre_, act_;
  std::vector<float> dA_, dZ_;
  // Per row of the batch: its loss, summed in row order afterwards so the total does not depend on
  // how the rows were shared out; per chunk of rows: how many it classified right.
  std::vector<double> rowLoss_;
  std::vector<size_t> chunkCorrect_;
};

}  // namespace bp
