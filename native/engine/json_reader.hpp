// A strict, bounded JSON reader for the files the engine must validate
// (safetensors headers). Untrusted input: depth, size and number formats are
// checked, and every failure is a JsonError with the byte offset.
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace bp {

struct JsonError : std::runtime_error {
  JsonError(const std::string& what, size_t offset)
      : std::runtime_error(what + " at byte " + std::to_string(offset)), offset(offset) {}
  size_t offset;
};

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  bool integral = false;  // written without fraction or exponent
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order

  const JsonValue* find(const std::string& key) const;
};

// Parses exactly one JSON value (surrounding whitespace allowed). maxDepth
// bounds nesting so hostile input cannot exhaust the stack.
JsonValue parseJson(const char* data, size_t size, int maxDepth = 64);

}  // namespace bp
