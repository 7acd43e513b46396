// bench_common.h: what every ag_bench subcommand shares: the subcommand signature, a small
// --flag value parser, a sampling timer that matches the PyTorch reference scripts, and a JSON
// line writer (standard library only, so the benchmark builds wherever attograd does).
//
// Timing convention (the same as the reference scripts, so the numbers compare): one warm-up
// call, then `repeats` samples; a sample calls fn until at least min_time seconds have passed
// and records the mean time per call. Reports take the median, min and max over samples.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ag::bench {

// A subcommand gets the arguments after its name and returns the process exit code.
using Subcommand = int (*)(const std::vector<std::string>& args);

// --name value pairs and bare --flags. Unknown names are an error, so a typo cannot silently
// benchmark the default case.
class Args {
 public:
  // known: every accepted name (without --), with its default ("" for a bare flag).
  Args(const std::vector<std::string>& args, std::map<std::string, std::string> known)
      : values_(std::move(known)) {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (arg.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + arg + "'");
      const std::string name = arg.substr(2);
      auto it = values_.find(name);
      if (it == values_.end()) throw std::invalid_argument("unknown option '" + arg + "'");
      if (name == "help" || i + 1 == args.size() || args[i + 1].rfind("--", 0) == 0) {
        it->second = "1";  // a bare flag
      } else {
        it->second = args[++i];
      }
    }
  }
  bool flag(const std::string& name) const { return !values_.at(name).empty(); }
  std::string str(const std::string& name) const { return values_.at(name); }
  int64_t integer(const std::string& name) const { return std::stoll(values_.at(name)); }
  double number(const std::string& name) const { return std::stod(values_.at(name)); }

 private:
  std::map<std::string, std::string> values_;
};

struct Samples {
  double median = 0, min = 0, max = 0;  // seconds per call
};

// Times fn as described at the top of this file.
template <typename Fn>
Samples time_samples(Fn&& fn, int repeats, double min_time) {
  using Clock = std::chrono::steady_clock;
  fn();  // warm-up: first-touch page faults, packing buffers, thread wake-up
  std::vector<double> per_call;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    int64_t calls = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      fn();
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < min_time);
    per_call.push_back(elapsed / static_cast<double>(calls));
  }
  std::sort(per_call.begin(), per_call.end());
  const size_t n = per_call.size();
  const double median = n % 2 ? per_call[n / 2] : 0.5 * (per_call[n / 2 - 1] + per_call[n / 2]);
  return {median, per_call.front(), per_call.back()};
}

// One JSON object on one line: JsonLine().add("bench", "x").add("ms", 1.5).str()
class JsonLine {
 public:
  JsonLine& add(const std::string& key, const std::string& value) {
    return raw(key, "\"" + escape(value) + "\"");
  }
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonLine& add(const std::string& key, int64_t value) { return raw(key, std::to_string(value)); }
  JsonLine& add(const std::string& key, int value) { return raw(key, std::to_string(value)); }
  JsonLine& add(const std::string& key, bool value) { return raw(key, value ? "true" : "false"); }
  // Rounded to `digits` decimals, as the reference scripts round theirs.
  JsonLine& add(const std::string& key, double value, int digits = 3) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(digits);
    s << value;
    return raw(key, s.str());
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  JsonLine& raw(const std::string& key, const std::string& value) {
    body_ += (body_.empty() ? "\"" : ", \"") + escape(key) + "\": " + value;
    return *this;
  }
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  }
  std::string body_;
};

}  // namespace ag::bench
