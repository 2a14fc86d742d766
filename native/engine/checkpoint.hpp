// Checkpoint folders:
//   model.safetensors      parameters as PyTorch nn.Linear tensors ("layers.<i>.weight" [out, in],
//                          "layers.<i>.bias" [out]), loadable with safetensors.torch.load_file
//   optimizer.safetensors  optimizer state per tensor ("<name>.exp_avg", "<name>.exp_avg_sq" for
//                          AdamW, "<name>.momentum_buffer" for SGD)
//   trainer_state.json     configuration, position (step, epoch, batch within epoch, shuffle
//                          generator state), loss history, and SHA-256 checksums of the two tensor
//                          files and of itself
// A folder is written under a temporary name, every file and the folder are
// fsync'ed, and only then is it renamed into place, so a reader never sees a
// half-written checkpoint. Reading is done in TypeScript (ts/checkpoint.ts).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mlp.hpp"
#include "optimizer.hpp"
#include "rng.hpp"

namespace bp {

struct CheckpointPosition {
  std::string runId;
  uint64_t step = 0;
  uint64_t epoch = 1;        // epoch in which training continues
  uint64_t stepInEpoch = 0;  // batches of that epoch already taken
  Rng::State shuffleRngState{};
  uint64_t samplesSeen = 0;
  double learningRate = 0;  // current (possibly changed by setLearningRate)
  double lastLoss = 0;
  const std::vector<double>* lossHistory = nullptr;
  std::string resumedFrom;
  // The run's settings, recorded so a resume can check it continues the same run.
  uint64_t batchSize = 0;
  bool shuffle = true;
  double validationSplit = 0;
  uint64_t epochs = 0;
  uint64_t maxSteps = 0;
  bool hasRun = false;  // false for trainer.save() outside a run
};

struct CheckpointModel {
  const ModelSpec* spec = nullptr;
  const OptimizerConfig* optimizer = nullptr;
  uint32_t seed = 0;
  const float* params = nullptr;
  size_t paramCount = 0;
  const Optimizer* optimizerState = nullptr;
};

// Writes `folder` atomically; throws EngineError("CHECKPOINT_WRITE_FAILED", ...) on I/O failure.
void writeCheckpoint(const std::string& folder, const CheckpointModel& model, const CheckpointPosition& pos);

// Serialises named float tensors in the safetensors layout (exposed for tests).
struct TensorRef {
  std::string name;
  std::vector<int64_t> shape;
  const float* data;
  size_t count;
};
std::string safetensorsBytes(const std::vector<TensorRef>& tensors);

}  // namespace bp
