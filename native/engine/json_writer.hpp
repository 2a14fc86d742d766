// A small JSON writer for the files the engine produces (checkpoint state and
// safetensors headers). Numbers are written with 17 significant digits so
// every double reads back bit-identical.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>

namespace bp {

inline void jsonString(std::string& out, const std::string& s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

inline void jsonNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out += buf;
}

inline void jsonKey(std::string& out, const char* key, bool& first) {
  if (!first) out.push_back(',');
  first = false;
  jsonString(out, key);
  out.push_back(':');
}

}  // namespace bp
