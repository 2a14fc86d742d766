// libFuzzer target for the checkpoint reader. The first byte picks the input
// kind (even: a safetensors file image, odd: trainer_state.json text); every
// malformed input must be refused with CHECKPOINT_CORRUPT. Any other
// exception, a crash, a sanitizer report or a hang is a finding.
//
//   scripts/fuzz.sh [seconds]
#include <cstdint>
#include <cstdlib>

#include "checkpoint_reader.hpp"
#include "errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool state = data[0] & 1;
  ++data;
  --size;
  try {
    if (state) {
      bp::verifyTrainerState(reinterpret_cast<const char*>(data), size);
    } else {
      bp::SafetensorsLayout layout = bp::parseSafetensors(data, size);
      // Everything accepted must lie inside the buffer.
      for (const auto& t : layout.tensors) {
        if (layout.dataStart + t.end > size || t.begin > t.end) std::abort();
      }
    }
  } catch (const bp::EngineError& e) {
    if (e.code() != "CHECKPOINT_CORRUPT") std::abort();
  }
  return 0;
}
