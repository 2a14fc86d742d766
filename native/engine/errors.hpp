// Engine failures carry the same stable codes as the JavaScript BackpropError,
// so the N-API layer converts them without guessing.
#pragma once
#include <stdexcept>
#include <string>

namespace bp {

class EngineError : public std::runtime_error {
 public:
  EngineError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// Thrown inside the training loop when abort() was requested; never escapes the engine.
struct AbortRequested {
  std::string reason;
};

}  // namespace bp
