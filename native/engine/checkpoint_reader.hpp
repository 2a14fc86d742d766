// Validation of checkpoint bytes read from disk (untrusted: truncated,
// edited, or hostile files). Used by ts/checkpoint.ts through the addon, and
// fuzzed by native/fuzz/checkpoint_fuzz.cpp: every malformed input must end
// in EngineError("CHECKPOINT_CORRUPT", ...), never a crash or a hang.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bp {

struct SafetensorsEntry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the data section
  uint64_t end = 0;
};

struct SafetensorsLayout {
  uint64_t dataStart = 0;  // 8 + header length
  std::vector<SafetensorsEntry> tensors;  // F32 only, offsets checked against the file
};

// Parses and checks a whole safetensors file image.
SafetensorsLayout parseSafetensors(const uint8_t* bytes, size_t size);

// Checks trainer_state.json text: valid JSON object, format/version, and the
// self checksum (SHA-256 of the text with the "checksum" value emptied).
void verifyTrainerState(const char* text, size_t size);

}  // namespace bp
