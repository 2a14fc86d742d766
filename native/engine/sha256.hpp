// SHA-256 (FIPS 180-4) for checkpoint checksums, so that `sha256sum` and
// node:crypto give the same digests as the files' trainer_state.json records.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace bp {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  std::string hexDigest();  // finalises; call once

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t bufLen_ = 0;
  uint64_t total_ = 0;
};

std::string sha256Hex(const void* data, size_t len);

}  // namespace bp
