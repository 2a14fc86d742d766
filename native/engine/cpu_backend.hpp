// The CPU engine as a ComputeBackend: the same interface the CUDA backend
// implements, so the trainer drives both the same way. It keeps its own copy
// of the parameters and optimizer moments (the trainer's copy is the host
// mirror, exactly as with a GPU), reads the run's rows in place, and owns the
// worker threads of a run from uploadDataset() to releaseDataset(), so an
// idle trainer holds no threads.
#pragma once
#include <memory>

#include "compute_backend.hpp"

namespace bp {

// `threads`: parallelism of a run (0 = all cores).
std::unique_ptr<ComputeBackend> createCpuBackend(const ModelSpec& model, const OptimizerConfig& optimizer,
                                                 int threads);

}  // namespace bp
