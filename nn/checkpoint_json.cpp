// checkpoint_json.cpp: a recursive-descent JSON parser (RFC 8259) and a string quoter.
// One function per grammar rule; the depth counter is what keeps recursion safe on hostile
// input, since each level of nesting costs one stack frame.
#include "nn/checkpoint_json.h"

#include <cstdint>

namespace ag::json {

namespace {

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : text_(text), max_depth_(max_depth) {}

  Value document() {
    skip_whitespace();
    Value v = value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw ParseError(what, pos_); }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  void literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) fail("unexpected character");
    pos_ += word.size();
  }

  Value value(int depth) {
    if (depth > max_depth_) fail("nested deeper than " + std::to_string(max_depth_) + " levels");
    if (at_end()) fail("unexpected end of the text");
    Value v;
    switch (peek()) {
      case '{': v.kind = Value::Kind::Object; object(v, depth); break;
      case '[': v.kind = Value::Kind::Array; array(v, depth); break;
      case '"': v.kind = Value::Kind::String; v.text = string(); break;
      case 't': v.kind = Value::Kind::Bool; v.boolean = true; literal("true"); break;
      case 'f': v.kind = Value::Kind::Bool; literal("false"); break;
      case 'n': literal("null"); break;
      default: v.kind = Value::Kind::Number; v.text = number(); break;
    }
    return v;
  }

  void object(Value& v, int depth) {
    expect('{');
    skip_whitespace();
    if (peek() == '}') { ++pos_; return; }
    while (true) {
      skip_whitespace();
      if (peek() != '"') fail("expected a string key");
      const size_t key_pos = pos_;
      std::string key = string();
      for (const auto& member : v.members)
        if (member.first == key) throw ParseError("duplicate key \"" + key + "\"", key_pos);
      skip_whitespace();
      expect(':');
      skip_whitespace();
      Value item = value(depth + 1);
      v.members.emplace_back(std::move(key), std::move(item));
      skip_whitespace();
      if (peek() == ',') { ++pos_; continue; }
      expect('}');
      return;
    }
  }

  void array(Value& v, int depth) {
    expect('[');
    skip_whitespace();
    if (peek() == ']') { ++pos_; return; }
    while (true) {
      skip_whitespace();
      v.items.push_back(value(depth + 1));
      skip_whitespace();
      if (peek() == ',') { ++pos_; continue; }
      expect(']');
      return;
    }
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, kept as written.
  std::string number() {
    const size_t begin = pos_;
    auto digits = [&] {
      const size_t start = pos_;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
      if (pos_ == start) fail("expected a digit");
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') ++pos_;
    else digits();
    if (peek() == '.') { ++pos_; digits(); }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      digits();
    }
    return std::string(text_.substr(begin, pos_ - begin));
  }

  unsigned hex4() {
    unsigned code = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      const char c = peek();
      code <<= 4;
      if (c >= '0' && c <= '9') code |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') code |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') code |= static_cast<unsigned>(c - 'A' + 10);
      else fail("bad \\u escape");
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (at_end()) fail("unterminated string");
      const char c = text_[pos_];
      if (c == '"') { ++pos_; break; }
      if (static_cast<unsigned char>(c) < 0x20) fail("a control character inside a string");
      if (c != '\\') {
        // Copy a run of plain bytes; UTF-8 is checked once the string is complete.
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      const char e = peek();
      ++pos_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = hex4();
          // A code point above U+FFFF is written as a surrogate pair, high then low.
          if (code >= 0xD800 && code < 0xDC00) {
            if (text_.substr(pos_, 2) != "\\u") fail("a lone high surrogate in a \\u escape");
            pos_ += 2;
            const unsigned low = hex4();
            if (low < 0xDC00 || low >= 0xE000) fail("a bad low surrogate in a \\u escape");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code < 0xE000) {
            fail("a lone low surrogate in a \\u escape");
          }
          append_utf8(out, code);
          break;
        }
        default: --pos_; fail("bad escape in a string");
      }
    }
    if (!is_valid_utf8(out)) fail("a string that is not valid UTF-8");
    return out;
  }

  std::string_view text_;
  int max_depth_;
  size_t pos_ = 0;
};

}  // namespace

Value parse(std::string_view text, int max_depth) { return Parser(text, max_depth).document(); }

bool to_uint64(const Value& number, uint64_t max, uint64_t& out) {
  if (number.kind != Value::Kind::Number || number.text.empty()) return false;
  uint64_t value = 0;
  for (char c : number.text) {
    if (c < '0' || c > '9') return false;  // a sign, fraction or exponent
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10) return false;  // value * 10 + digit would pass max
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

std::string quote(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra;
    uint32_t code;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { extra = 1; code = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { extra = 2; code = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { extra = 3; code = c & 0x07; }
    else return false;
    if (i + static_cast<size_t>(extra) >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and code points past U+10FFFF.
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMin[extra] || (code >= 0xD800 && code < 0xE000) || code > 0x10FFFF) return false;
    i += static_cast<size_t>(extra) + 1;
  }
  return true;
}

}  // namespace ag::json
