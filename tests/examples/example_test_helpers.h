// example_test_helpers.h: what the example smoke tests share. Each test runs a built example
// (AG_EXAMPLES_DIR/<name>) in a fresh temporary directory with popen, then reads what it
// printed and wrote: the --json result line, the SVG files (checked for well-formed XML and
// counted heatmap cells), the logs. Tests make their own data and never read ../shared/.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace examples_test {

// A directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ag_example_XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
  // The last non-empty line (where --json puts its result).
  std::string last_line() const {
    std::istringstream in(output);
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    return last;
  }
};

// Whether the example program was built (AG_BUILD_EXAMPLES=OFF builds none); tests that run
// one skip without it: if (!example_built("mlp")) GTEST_SKIP() << "examples not built";
inline bool example_built(const std::string& example) {
  return std::filesystem::exists(std::string(AG_EXAMPLES_DIR) + "/" + example);
}

// Runs AG_EXAMPLES_DIR/<example> <args> inside dir.
inline RunResult run_example(const std::string& example, const std::string& args,
                             const std::string& dir) {
  const std::string exe = std::string(AG_EXAMPLES_DIR) + "/" + example;
  const std::string command = "cd '" + dir + "' && '" + exe + "' " + args + " 2>&1";
  RunResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The number after "key": in a one-line JSON object (NaN when absent or null).
inline double json_number(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\": ";
  const auto at = json.find(needle);
  if (at == std::string::npos) return NAN;
  const char* start = json.c_str() + at + needle.size();
  char* end = nullptr;
  const double value = std::strtod(start, &end);
  return end == start ? NAN : value;
}

// A minimal well-formedness check of an XML document: every tag is closed in order (a
// self-closing tag closes itself), attribute quotes balance, nothing is left open; comments,
// processing instructions and the XML declaration are skipped. Returns "" when well formed,
// else what is wrong. Also counts the elements with class="cell" (heatmap cells).
struct XmlCheck {
  std::string error;
  int64_t cells = 0;
  int64_t elements = 0;
};

inline XmlCheck check_xml(const std::string& text) {
  XmlCheck check;
  std::vector<std::string> open;
  size_t i = 0;
  while (true) {
    const size_t lt = text.find('<', i);
    if (lt == std::string::npos) break;
    if (text.compare(lt, 4, "<!--") == 0) {
      const size_t end = text.find("-->", lt);
      if (end == std::string::npos) return {"unclosed comment", check.cells, check.elements};
      i = end + 3;
      continue;
    }
    // The tag runs to the first '>' outside quotes.
    size_t j = lt + 1;
    char quote = 0;
    for (; j < text.size(); ++j) {
      const char c = text[j];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '<') {
        return {"'<' inside a tag at byte " + std::to_string(j), check.cells, check.elements};
      } else if (c == '>') {
        break;
      }
    }
    if (j >= text.size()) return {"unterminated tag at byte " + std::to_string(lt), check.cells, check.elements};
    const std::string tag = text.substr(lt + 1, j - lt - 1);
    i = j + 1;
    if (tag.empty()) return {"empty tag", check.cells, check.elements};
    if (tag[0] == '?' || tag[0] == '!') continue;  // <?xml ...?>, <!DOCTYPE ...>
    if (tag[0] == '/') {
      const std::string name = tag.substr(1, tag.find_first_of(" \t\n") - 1);
      if (open.empty() || open.back() != name)
        return {"</" + name + "> closes " + (open.empty() ? std::string("nothing") : "<" + open.back() + ">"),
                check.cells, check.elements};
      open.pop_back();
      continue;
    }
    ++check.elements;
    if (tag.find("class=\"cell\"") != std::string::npos) ++check.cells;
    const std::string name = tag.substr(0, tag.find_first_of(" \t\n/"));
    if (tag.back() != '/') open.push_back(name);
  }
  if (!open.empty()) check.error = "<" + open.back() + "> is never closed";
  if (check.elements == 0) check.error = "no elements";
  return check;
}

}  // namespace examples_test
