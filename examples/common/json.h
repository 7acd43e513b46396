// json.h: writes the one-line JSON result an example prints last with --json (and that
// benchmarks print per case). Only what we need: strings, numbers, booleans and arrays of
// numbers, in insertion order.
#pragma once

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace examples {

class JsonLine {
 public:
  JsonLine& add(const std::string& key, const std::string& value) {
    return raw(key, quote(value));
  }
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonLine& add(const std::string& key, bool value) { return raw(key, value ? "true" : "false"); }
  JsonLine& add(const std::string& key, double value) { return raw(key, number(value)); }
  JsonLine& add(const std::string& key, int64_t value) { return raw(key, std::to_string(value)); }
  JsonLine& add(const std::string& key, int value) { return raw(key, std::to_string(value)); }
  JsonLine& add(const std::string& key, const std::vector<double>& values) {
    std::string s = "[";
    for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + number(values[i]);
    return raw(key, s + "]");
  }
  std::string str() const { return "{" + body_ + "}"; }

  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\', out += c;
      else if (c == '\n') out += "\\n";
      else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else out += c;
    }
    return out + "\"";
  }

 private:
  static std::string number(double v) {
    if (!std::isfinite(v)) return "null";  // JSON has no NaN or Inf
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
  }
  JsonLine& raw(const std::string& key, const std::string& value) {
    if (!body_.empty()) body_ += ", ";
    body_ += quote(key) + ": " + value;
    return *this;
  }
  std::string body_;
};

}  // namespace examples
