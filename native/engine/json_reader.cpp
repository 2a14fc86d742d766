#include "json_reader.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace bp {

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

namespace {

class Parser {
 public:
  Parser(const char* d, size_t n, int maxDepth) : d_(d), n_(n), maxDepth_(maxDepth) {}

  JsonValue parseDocument() {
    skipWs();
    JsonValue v = parseValue(0);
    skipWs();
    if (i_ != n_) fail("unexpected data after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* what) { throw JsonError(what, i_); }

  void skipWs() {
    while (i_ < n_ && (d_[i_] == ' ' || d_[i_] == '\t' || d_[i_] == '\n' || d_[i_] == '\r')) ++i_;
  }

  bool consume(const char* lit) {
    const size_t len = std::strlen(lit);
    if (n_ - i_ >= len && std::memcmp(d_ + i_, lit, len) == 0) {
      i_ += len;
      return true;
    }
    return false;
  }

  JsonValue parseValue(int depth) {
    if (depth > maxDepth_) fail("JSON nested too deeply");
    if (i_ >= n_) fail("unexpected end of JSON");
    JsonValue v;
    const char c = d_[i_];
    if (c == '{') {
      v.kind = JsonValue::Kind::Object;
      ++i_;
      skipWs();
      if (i_ < n_ && d_[i_] == '}') {
        ++i_;
        return v;
      }
      for (;;) {
        skipWs();
        if (i_ >= n_ || d_[i_] != '"') fail("expected a string key");
        std::string key = parseString();
        skipWs();
        if (i_ >= n_ || d_[i_] != ':') fail("expected ':'");
        ++i_;
        skipWs();
        v.object.emplace_back(std::move(key), parseValue(depth + 1));
        skipWs();
        if (i_ < n_ && d_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < n_ && d_[i_] == '}') {
          ++i_;
          return v;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = JsonValue::Kind::Array;
      ++i_;
      skipWs();
      if (i_ < n_ && d_[i_] == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        skipWs();
        v.array.push_back(parseValue(depth + 1));
        skipWs();
        if (i_ < n_ && d_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < n_ && d_[i_] == ']') {
          ++i_;
          return v;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.kind = JsonValue::Kind::String;
      v.string = parseString();
      return v;
    }
    if (consume("true")) {
      v.kind = JsonValue::Kind::Bool;
      v.boolean = true;
      return v;
    }
    if (consume("false")) {
      v.kind = JsonValue::Kind::Bool;
      return v;
    }
    if (consume("null")) return v;
    if (c == '-' || (c >= '0' && c <= '9')) return parseNumber();
    fail("unexpected character");
  }

  JsonValue parseNumber() {
    const size_t start = i_;
    bool integral = true;
    if (d_[i_] == '-') ++i_;
    if (i_ >= n_) fail("bad number");
    if (d_[i_] == '0') {
      ++i_;
    } else if (d_[i_] >= '1' && d_[i_] <= '9') {
      while (i_ < n_ && d_[i_] >= '0' && d_[i_] <= '9') ++i_;
    } else {
      fail("bad number");
    }
    if (i_ < n_ && d_[i_] == '.') {
      integral = false;
      ++i_;
      if (i_ >= n_ || d_[i_] < '0' || d_[i_] > '9') fail("bad number");
      while (i_ < n_ && d_[i_] >= '0' && d_[i_] <= '9') ++i_;
    }
    if (i_ < n_ && (d_[i_] == 'e' || d_[i_] == 'E')) {
      integral = false;
      ++i_;
      if (i_ < n_ && (d_[i_] == '+' || d_[i_] == '-')) ++i_;
      if (i_ >= n_ || d_[i_] < '0' || d_[i_] > '9') fail("bad number");
      while (i_ < n_ && d_[i_] >= '0' && d_[i_] <= '9') ++i_;
    }
    if (i_ - start > 64) fail("number too long");
    char buf[80];
    std::memcpy(buf, d_ + start, i_ - start);
    buf[i_ - start] = 0;
    JsonValue v;
    v.kind = JsonValue::Kind::Number;
    v.number = std::strtod(buf, nullptr);
    v.integral = integral;
    if (!std::isfinite(v.number)) fail("number out of range");
    return v;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  void appendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  unsigned parseHex4() {
    if (n_ - i_ < 4) fail("bad \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hex(d_[i_ + k]);
      if (h < 0) fail("bad \\u escape");
      v = v * 16 + static_cast<unsigned>(h);
    }
    i_ += 4;
    return v;
  }

  std::string parseString() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= n_) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(d_[i_++]);
      if (c == '"') return out;
      if (c < 0x20) fail("control character in string");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (i_ >= n_) fail("unterminated escape");
      const char e = d_[i_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          unsigned cp = parseHex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (n_ - i_ < 2 || d_[i_] != '\\' || d_[i_ + 1] != 'u') fail("lone surrogate");
            i_ += 2;
            const unsigned lo = parseHex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("lone surrogate");
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          fail("bad escape");
      }
    }
  }

  const char* d_;
  size_t n_;
  size_t i_ = 0;
  int maxDepth_;
};

}  // namespace

JsonValue parseJson(const char* data, size_t size, int maxDepth) { return Parser(data, size, maxDepth).parseDocument(); }

}  // namespace bp
