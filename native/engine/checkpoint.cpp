#include "checkpoint.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.hpp"
#include "json_writer.hpp"
#include "sha256.hpp"

namespace bp {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void ioFail(const std::string& what, const std::string& path) {
  throw EngineError("CHECKPOINT_WRITE_FAILED",
                    what + " '" + path + "': " + std::strerror(errno) + ". Check that the output folder is writable and the disk has space.");
}

void writeFileSynced(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) ioFail("cannot create", path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      ioFail("cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    ioFail("cannot fsync", path);
  }
  if (::close(fd) != 0) ioFail("cannot close", path);
}

void fsyncDir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: some filesystems refuse directory fds
  ::fsync(fd);
  ::close(fd);
}

std::string uniqueSuffix() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d-%08x", static_cast<int>(::getpid()), rd());
  return buf;
}

std::vector<TensorRef> modelTensors(const ModelSpec& spec, const float* params) {
  std::vector<TensorRef> out;
  const auto layers = layoutOf(spec);
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    const std::string base = "layers." + std::to_string(i);
    out.push_back({base + ".weight", {l.out, l.in}, params + l.weightOffset, static_cast<size_t>(l.out) * l.in});
    out.push_back({base + ".bias", {l.out}, params + l.biasOffset, static_cast<size_t>(l.out)});
  }
  return out;
}

std::vector<TensorRef> optimizerTensors(const ModelSpec& spec, const Optimizer& opt) {
  std::vector<TensorRef> out;
  const bool adam = opt.config().kind == OptimizerKind::AdamW;
  for (const auto& t : modelTensors(spec, opt.m().data())) {
    out.push_back({t.name + (adam ? ".exp_avg" : ".momentum_buffer"), t.shape, t.data, t.count});
  }
  if (adam) {
    for (const auto& t : modelTensors(spec, opt.v().data())) out.push_back({t.name + ".exp_avg_sq", t.shape, t.data, t.count});
  }
  return out;
}

void writeStateJson(std::string& s, const CheckpointModel& model, const CheckpointPosition& pos,
                    const std::string& modelSha, size_t modelBytes, const std::string& optSha, size_t optBytes) {
  const ModelSpec& spec = *model.spec;
  const OptimizerConfig& oc = *model.optimizer;
  bool f = true;
  s += "{";
  jsonKey(s, "format", f); jsonString(s, "backpropagate-checkpoint");
  jsonKey(s, "version", f); jsonNumber(s, 1);
  jsonKey(s, "config", f);
  {
    bool g = true;
    s += "{";
    jsonKey(s, "model", g);
    {
      bool h = true;
      s += "{";
      jsonKey(s, "inputSize", h); jsonNumber(s, spec.inputSize);
      jsonKey(s, "hiddenLayers", h);
      s += "[";
      for (size_t i = 0; i < spec.hidden.size(); ++i) {
        if (i) s += ",";
        jsonNumber(s, spec.hidden[i]);
      }
      s += "]";
      jsonKey(s, "outputSize", h); jsonNumber(s, spec.outputSize);
      jsonKey(s, "activation", h); jsonString(s, activationName(spec.activation));
      jsonKey(s, "task", h); jsonString(s, taskName(spec.task));
      s += "}";
    }
    jsonKey(s, "optimizer", g); jsonString(s, oc.kind == OptimizerKind::AdamW ? "adamw" : "sgd");
    jsonKey(s, "learningRate", g); jsonNumber(s, oc.learningRate);
    jsonKey(s, "weightDecay", g); jsonNumber(s, oc.weightDecay);
    jsonKey(s, "momentum", g); jsonNumber(s, oc.momentum);
    jsonKey(s, "gradientClipNorm", g); jsonNumber(s, oc.gradientClipNorm);
    jsonKey(s, "seed", g); jsonNumber(s, model.seed);
    s += "}";
  }
  jsonKey(s, "optimizerState", f);
  {
    bool g = true;
    s += "{";
    jsonKey(s, "file", g); jsonString(s, "optimizer.safetensors");
    jsonKey(s, "step", g); jsonNumber(s, static_cast<double>(model.optimizerState->stepCount()));
    s += "}";
  }
  jsonKey(s, "run", f);
  if (!pos.hasRun) {
    s += "null";
  } else {
    bool g = true;
    s += "{";
    jsonKey(s, "runId", g); jsonString(s, pos.runId);
    jsonKey(s, "step", g); jsonNumber(s, static_cast<double>(pos.step));
    jsonKey(s, "epoch", g); jsonNumber(s, static_cast<double>(pos.epoch));
    jsonKey(s, "stepInEpoch", g); jsonNumber(s, static_cast<double>(pos.stepInEpoch));
    jsonKey(s, "shuffleRngState", g);
    s += "[";
    for (int i = 0; i < 4; ++i) {
      if (i) s += ",";
      jsonNumber(s, pos.shuffleRngState[i]);
    }
    s += "]";
    jsonKey(s, "samplesSeen", g); jsonNumber(s, static_cast<double>(pos.samplesSeen));
    jsonKey(s, "learningRate", g); jsonNumber(s, pos.learningRate);
    jsonKey(s, "loss", g); jsonNumber(s, pos.lastLoss);
    jsonKey(s, "batchSize", g); jsonNumber(s, static_cast<double>(pos.batchSize));
    jsonKey(s, "shuffle", g); s += pos.shuffle ? "true" : "false";
    jsonKey(s, "validationSplit", g); jsonNumber(s, pos.validationSplit);
    jsonKey(s, "epochs", g); jsonNumber(s, static_cast<double>(pos.epochs));
    jsonKey(s, "maxSteps", g); jsonNumber(s, static_cast<double>(pos.maxSteps));
    jsonKey(s, "resumedFrom", g);
    if (pos.resumedFrom.empty()) s += "null"; else jsonString(s, pos.resumedFrom);
    jsonKey(s, "lossHistory", g);
    s += "[";
    if (pos.lossHistory) {
      for (size_t i = 0; i < pos.lossHistory->size(); ++i) {
        if (i) s += ",";
        jsonNumber(s, (*pos.lossHistory)[i]);
      }
    }
    s += "]";
    s += "}";
  }
  jsonKey(s, "files", f);
  {
    bool g = true;
    s += "{";
    jsonKey(s, "model.safetensors", g);
    s += "{\"sha256\":";
    jsonString(s, modelSha);
    s += ",\"bytes\":";
    jsonNumber(s, static_cast<double>(modelBytes));
    s += "}";
    jsonKey(s, "optimizer.safetensors", g);
    s += "{\"sha256\":";
    jsonString(s, optSha);
    s += ",\"bytes\":";
    jsonNumber(s, static_cast<double>(optBytes));
    s += "}";
    s += "}";
  }
  // The file's own checksum: SHA-256 of this exact text with the value below
  // empty; the reader blanks it again and compares.
  jsonKey(s, "checksum", f);
  s += "\"\"";
  s += "}\n";
}

}  // namespace

std::string safetensorsBytes(const std::vector<TensorRef>& tensors) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"backpropagate\"}";
  size_t offset = 0;
  for (const auto& t : tensors) {
    header += ",";
    jsonString(header, t.name);
    header += ":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i) header += ",";
      header += std::to_string(t.shape[i]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.count * 4) + "]}";
    offset += t.count * 4;
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header.push_back(' ');  // keep tensor data 8-byte aligned
  std::string out;
  out.reserve(8 + header.size() + offset);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));  // little endian
  out += header;
  for (const auto& t : tensors) out.append(reinterpret_cast<const char*>(t.data), t.count * 4);
  return out;
}

void writeCheckpoint(const std::string& folder, const CheckpointModel& model, const CheckpointPosition& pos) {
  const fs::path target(folder);
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    errno = ec.value();
    ioFail("cannot create folder", parent.string());
  }
  const fs::path tmp = parent / ("." + target.filename().string() + ".tmp-" + uniqueSuffix());
  if (::mkdir(tmp.c_str(), 0755) != 0) ioFail("cannot create folder", tmp.string());
  try {
    const std::string modelBytes = safetensorsBytes(modelTensors(*model.spec, model.params));
    const std::string optBytes = safetensorsBytes(optimizerTensors(*model.spec, *model.optimizerState));
    writeFileSynced((tmp / "model.safetensors").string(), modelBytes);
    writeFileSynced((tmp / "optimizer.safetensors").string(), optBytes);
    std::string state;
    writeStateJson(state, model, pos, sha256Hex(modelBytes.data(), modelBytes.size()), modelBytes.size(),
                   sha256Hex(optBytes.data(), optBytes.size()), optBytes.size());
    const std::string digest = sha256Hex(state.data(), state.size());
    const std::string blank = "\"checksum\":\"\"";
    state.replace(state.rfind(blank), blank.size(), "\"checksum\":\"" + digest + "\"");
    writeFileSynced((tmp / "trainer_state.json").string(), state);
    fsyncDir(tmp.string());
    // Replace an existing folder of the same name without a moment where neither exists
    // under a name a reader would trust: move the old one aside first.
    fs::path old;
    if (fs::exists(target)) {
      old = parent / ("." + target.filename().string() + ".old-" + uniqueSuffix());
      fs::rename(target, old);
    }
    fs::rename(tmp, target);
    fsyncDir(parent.string());
    if (!old.empty()) fs::remove_all(old, ec);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw EngineError("CHECKPOINT_WRITE_FAILED", std::string("cannot write checkpoint '") + folder + "': " + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace bp
