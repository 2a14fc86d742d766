// Reading a TrainingSession's native options (trainer spec, run options,
// resume state) and checking the training data against the model: every
// value type- and range-checked at the boundary (args.hpp).
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

#include "trainer.hpp"

namespace bpaddon {

bp::ModelSpec parseModel(const Napi::Object& m);
bp::TrainerSpec parseSpec(const Napi::Object& cfg);
bp::ResumeState parseResume(const Napi::Object& r);
bp::RunConfig parseRunConfig(const Napi::Object& o);

// Rows of a flat x, which must hold whole rows of inputSize values (INPUT_SHAPE_MISMATCH).
size_t checkedRows(Napi::Env env, size_t xLength, const bp::ModelSpec& model, const char* call);
// One label per row, each a class index of the model (INPUT_SHAPE_MISMATCH, INPUT_LABEL_RANGE).
void checkLabels(Napi::Env env, const int32_t* labels, size_t count, size_t rows, const bp::ModelSpec& model,
                 const char* call);
// outputSize targets per row (INPUT_SHAPE_MISMATCH).
void checkTargets(Napi::Env env, size_t count, size_t rows, const bp::ModelSpec& model, const char* call);

}  // namespace bpaddon
