#include "session_options.hpp"

#include <string>

#include "args.hpp"

namespace bpaddon {

bp::ModelSpec parseModel(const Napi::Object& m) {
  bp::ModelSpec spec;
  spec.inputSize = int32Key(m, "inputSize", 1);
  spec.outputSize = int32Key(m, "outputSize", 1);
  Napi::Array hidden = arrayKey(m, "hiddenLayers");
  for (uint32_t i = 0; i < hidden.Length(); ++i)
    spec.hidden.push_back(expectInt32(hidden.Get(i), elementName("hiddenLayers", i), 1));
  const std::string act = stringKey(m, "activation");
  if (act != "relu" && act != "tanh" && act != "gelu")
    throw codedRangeError(m.Env(), "native option 'activation' must be 'relu', 'tanh' or 'gelu' (got '" + act + "')");
  spec.activation = act == "tanh" ? bp::Activation::Tanh : act == "gelu" ? bp::Activation::Gelu : bp::Activation::Relu;
  const std::string task = stringKey(m, "task");
  if (task != "classification" && task != "regression")
    throw codedRangeError(m.Env(), "native option 'task' must be 'classification' or 'regression' (got '" + task + "')");
  spec.task = task == "regression" ? bp::Task::Regression : bp::Task::Classification;
  return spec;
}

bp::TrainerSpec parseSpec(const Napi::Object& cfg) {
  bp::TrainerSpec spec;
  spec.model = parseModel(objectKey(cfg, "model"));
  const std::string optimizer = stringKey(cfg, "optimizer");
  if (optimizer != "adamw" && optimizer != "sgd")
    throw codedRangeError(cfg.Env(), "native option 'optimizer' must be 'adamw' or 'sgd' (got '" + optimizer + "')");
  spec.optimizer.kind = optimizer == "sgd" ? bp::OptimizerKind::Sgd : bp::OptimizerKind::AdamW;
  spec.optimizer.learningRate = numberKey(cfg, "learningRate");
  spec.optimizer.weightDecay = static_cast<float>(numberKey(cfg, "weightDecay"));
  spec.optimizer.momentum = static_cast<float>(numberKey(cfg, "momentum"));
  spec.optimizer.gradientClipNorm = static_cast<float>(numberKey(cfg, "gradientClipNorm"));
  spec.seed = uint32Key(cfg, "seed");
  spec.threads = int32Key(cfg, "threads", 0, 4096);
  // Optional (absent: CPU), so older callers of the binding keep working.
  Napi::Value device = cfg.Get("device");
  const std::string kind = device.IsUndefined() ? "cpu" : expectString(device, optionName("device"));
  if (kind == "cuda") {
    spec.device.kind = bp::DeviceKind::Cuda;
    Napi::Value index = cfg.Get("deviceIndex");
    spec.device.index = index.IsUndefined() ? 0 : expectInt32(index, optionName("deviceIndex"));
    Napi::Value tf32 = cfg.Get("tf32");
    spec.device.tf32 = !tf32.IsUndefined() && expectBoolean(tf32, optionName("tf32"));
  } else if (kind != "cpu") {
    throw codedRangeError(cfg.Env(), "native option 'device' must be 'cpu' or 'cuda' (got '" + kind + "')");
  }
  return spec;
}

bp::ResumeState parseResume(const Napi::Object& r) {
  bp::ResumeState s;
  s.params = copyTypedArray<float>(requireKey(r, "params"), napi_float32_array, optionName("resume.params"));
  s.m = copyTypedArray<float>(requireKey(r, "optimizerM"), napi_float32_array, optionName("resume.optimizerM"));
  s.v = copyTypedArray<float>(requireKey(r, "optimizerV"), napi_float32_array, optionName("resume.optimizerV"));
  s.optimizerStep = uint53Key(r, "optimizerStep");
  s.step = uint53Key(r, "step");
  s.epoch = uint53Key(r, "epoch");
  if (s.epoch < 1) throw codedRangeError(r.Env(), "native option 'resume.epoch' must be >= 1 (epochs count from 1)");
  s.stepInEpoch = uint53Key(r, "stepInEpoch");
  Napi::Array rng = arrayKey(r, "shuffleRngState");
  if (rng.Length() != 4)
    throw codedRangeError(r.Env(), "native option 'shuffleRngState' must have 4 words (got " + std::to_string(rng.Length()) + ")");
  for (uint32_t i = 0; i < 4; ++i) s.shuffleRngState[i] = expectUint32(rng.Get(i), elementName("shuffleRngState", i));
  s.samplesSeen = uint53Key(r, "samplesSeen");
  s.lossHistory = copyTypedArray<double>(requireKey(r, "lossHistory"), napi_float64_array, optionName("resume.lossHistory"));
  s.learningRate = numberKey(r, "learningRate");
  return s;
}

bp::RunConfig parseRunConfig(const Napi::Object& o) {
  bp::RunConfig c;
  c.epochs = uint53Key(o, "epochs");
  c.maxSteps = uint53Key(o, "maxSteps");
  c.batchSize = int32Key(o, "batchSize", 1);
  c.shuffle = boolKey(o, "shuffle");
  c.outputDir = stringKey(o, "outputDir");
  c.saveEverySteps = uint53Key(o, "saveEverySteps");
  c.saveEveryEpoch = boolKey(o, "saveEveryEpoch");
  const std::string stepEvents = stringKey(o, "stepEvents");
  if (stepEvents != "coalesce" && stepEvents != "block")
    throw codedRangeError(o.Env(), "native option 'stepEvents' must be 'coalesce' or 'block' (got '" + stepEvents + "')");
  c.stepPolicy = stepEvents == "block" ? bp::OverflowPolicy::Block : bp::OverflowPolicy::Coalesce;
  c.queueCapacity = static_cast<size_t>(int32Key(o, "queueCapacity", 1, 1000000));  // as the TS layer: the ring is sized from it
  c.validationSplit = numberKey(o, "validationSplit");
  if (c.validationSplit < 0 || c.validationSplit >= 1)
    throw codedRangeError(o.Env(), "native option 'validationSplit' must be in [0, 1)");
  c.runId = stringKey(o, "runId");
  c.resumedFrom = stringKey(o, "resumedFrom");
  Napi::Value warmup = o.Get("warmupSteps");
  if (!warmup.IsUndefined()) c.warmupSteps = expectUint53(warmup, optionName("warmupSteps"));
  Napi::Value resume = o.Get("resume");
  if (!resume.IsUndefined() && !resume.IsNull()) c.resume = parseResume(expectObject(resume, optionName("resume")));
  return c;
}

size_t checkedRows(Napi::Env env, size_t xLength, const bp::ModelSpec& model, const char* call) {
  const size_t width = static_cast<size_t>(model.inputSize);
  if (xLength % width != 0) {
    throw codedRangeError(env, std::string(call) + ": x has " + std::to_string(xLength) +
                                   " values, not a whole number of rows of " + std::to_string(width),
                          "INPUT_SHAPE_MISMATCH");
  }
  return xLength / width;
}

void checkLabels(Napi::Env env, const int32_t* labels, size_t count, size_t rows, const bp::ModelSpec& model,
                 const char* call) {
  if (count != rows) {
    throw codedRangeError(env, std::string(call) + ": y has " + std::to_string(count) + " labels for " +
                                   std::to_string(rows) + " rows of x",
                          "INPUT_SHAPE_MISMATCH");
  }
  for (size_t i = 0; i < count; ++i) {
    if (labels[i] < 0 || labels[i] >= model.outputSize) {
      throw codedRangeError(env, std::string(call) + ": label " + std::to_string(labels[i]) + " at row " +
                                     std::to_string(i) + " is outside 0.." + std::to_string(model.outputSize - 1),
                            "INPUT_LABEL_RANGE");
    }
  }
}

void checkTargets(Napi::Env env, size_t count, size_t rows, const bp::ModelSpec& model, const char* call) {
  if (count != rows * static_cast<size_t>(model.outputSize)) {
    throw codedRangeError(env, std::string(call) + ": y has " + std::to_string(count) + " values; " +
                                   std::to_string(rows) + " rows need " + std::to_string(model.outputSize) + " each",
                          "INPUT_SHAPE_MISMATCH");
  }
}

}  // namespace bpaddon
