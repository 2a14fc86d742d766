#include "checkpoint_reader.hpp"

#include <cmath>
#include <cstring>

#include "errors.hpp"
#include "json_reader.hpp"
#include "sha256.hpp"

namespace bp {

namespace {
[[noreturn]] void corrupt(const std::string& what) { throw EngineError("CHECKPOINT_CORRUPT", what); }

constexpr uint64_t kMaxHeader = 100u * 1000u * 1000u;

bool isCount(const JsonValue& v) {
  return v.kind == JsonValue::Kind::Number && v.integral && v.number >= 0 && v.number <= 9007199254740991.0;
}
}  // namespace

SafetensorsLayout parseSafetensors(const uint8_t* bytes, size_t size) {
  if (size < 8) corrupt("the file is " + std::to_string(size) + " bytes, shorter than a safetensors header");
  uint64_t headerLength = 0;
  for (int i = 7; i >= 0; --i) headerLength = (headerLength << 8) | bytes[i];
  if (headerLength > kMaxHeader || headerLength > size - 8) {
    corrupt("the header claims " + std::to_string(headerLength) + " bytes in a " + std::to_string(size) + "-byte file");
  }
  JsonValue header;
  try {
    header = parseJson(reinterpret_cast<const char*>(bytes) + 8, static_cast<size_t>(headerLength), 16);
  } catch (const JsonError& e) {
    corrupt(std::string("the header is not valid JSON (") + e.what() + ")");
  }
  if (header.kind != JsonValue::Kind::Object) corrupt("the header is not a JSON object");
  SafetensorsLayout layout;
  layout.dataStart = 8 + headerLength;
  const uint64_t dataSize = size - layout.dataStart;
  for (const auto& kv : header.object) {
    if (kv.first == "__metadata__") continue;
    const JsonValue& t = kv.second;
    const JsonValue* dtype = t.kind == JsonValue::Kind::Object ? t.find("dtype") : nullptr;
    const JsonValue* shape = t.kind == JsonValue::Kind::Object ? t.find("shape") : nullptr;
    const JsonValue* offsets = t.kind == JsonValue::Kind::Object ? t.find("data_offsets") : nullptr;
    if (!dtype || !shape || !offsets || dtype->kind != JsonValue::Kind::String || shape->kind != JsonValue::Kind::Array ||
        offsets->kind != JsonValue::Kind::Array || offsets->array.size() != 2) {
      corrupt("tensor '" + kv.first + "' lacks dtype, shape or data_offsets");
    }
    if (dtype->string != "F32") corrupt("tensor '" + kv.first + "' has dtype " + dtype->string + ", expected F32");
    SafetensorsEntry e;
    e.name = kv.first;
    double count = 1;
    for (const auto& d : shape->array) {
      if (!isCount(d)) corrupt("tensor '" + kv.first + "' has a bad shape");
      e.shape.push_back(static_cast<int64_t>(d.number));
      count *= d.number;
      if (count > 1e15) corrupt("tensor '" + kv.first + "' is impossibly large");
    }
    if (!isCount(offsets->array[0]) || !isCount(offsets->array[1])) corrupt("tensor '" + kv.first + "' has bad offsets");
    e.begin = static_cast<uint64_t>(offsets->array[0].number);
    e.end = static_cast<uint64_t>(offsets->array[1].number);
    if (e.begin > e.end || e.end > dataSize || e.end - e.begin != static_cast<uint64_t>(count) * 4) {
      corrupt("tensor '" + kv.first + "' has offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
              "] that do not fit its shape or the file");
    }
    layout.tensors.push_back(std::move(e));
  }
  return layout;
}

void verifyTrainerState(const char* text, size_t size) {
  JsonValue state;
  try {
    state = parseJson(text, size, 32);
  } catch (const JsonError& e) {
    corrupt(std::string("trainer_state.json is not valid JSON (") + e.what() + ")");
  }
  if (state.kind != JsonValue::Kind::Object) corrupt("trainer_state.json is not a JSON object");
  const JsonValue* format = state.find("format");
  const JsonValue* version = state.find("version");
  if (!format || format->kind != JsonValue::Kind::String || format->string != "backpropagate-checkpoint" || !version ||
      version->kind != JsonValue::Kind::Number || version->number != 1) {
    corrupt("trainer_state.json is not a version 1 backpropagate checkpoint");
  }
  const JsonValue* checksum = state.find("checksum");
  if (!checksum || checksum->kind != JsonValue::Kind::String || checksum->string.size() != 64) {
    corrupt("trainer_state.json has no checksum");
  }
  const std::string needle = "\"checksum\":\"" + checksum->string + "\"";
  const std::string body(text, size);
  const size_t at = body.find(needle);
  if (at == std::string::npos) corrupt("trainer_state.json checksum field is not in canonical form");
  std::string blanked = body;
  blanked.replace(at, needle.size(), "\"checksum\":\"\"");
  if (sha256Hex(blanked.data(), blanked.size()) != checksum->string) {
    corrupt("trainer_state.json does not match its checksum (it was edited or damaged)");
  }
}

}  // namespace bp
