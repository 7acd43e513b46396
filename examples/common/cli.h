// cli.h: the tiny command-line parser every example uses: `--name value` or `--name=value`
// pairs bound to the fields of a config struct, plus flags (`--json`, `--help`). Each option
// carries its help line, so `--help` prints the config struct's commented defaults.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace examples {

class Cli {
 public:
  Cli(std::string program, std::string summary)
      : program_(std::move(program)), summary_(std::move(summary)) {}

  // Binds --name to a variable; the variable's current value is the default shown by --help.
  template <typename T>
  Cli& option(const std::string& name, T& value, const std::string& help) {
    std::ostringstream def;
    def << value;
    options_.push_back({name, help, def.str(), false, [&value, name](const std::string& text) {
                          std::istringstream in(text);
                          if constexpr (std::is_same_v<T, std::string>) {
                            value = text;
                          } else if constexpr (std::is_same_v<T, bool>) {
                            value = text == "1" || text == "true" || text == "yes";
                          } else {
                            T parsed{};
                            if (!(in >> parsed) || !in.eof()) throw std::invalid_argument(name);
                            value = parsed;
                          }
                        }});
    return *this;
  }

  // A flag: present means true.
  Cli& flag(const std::string& name, bool& value, const std::string& help) {
    options_.push_back({name, help, value ? "on" : "off", true,
                        [&value](const std::string&) { value = true; }});
    return *this;
  }

  // Positional arguments (e.g. a mode word) are returned in order.
  std::vector<std::string> parse(int argc, char** argv) {
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        print_help(std::cout);
        std::exit(0);
      }
      if (arg.rfind("--", 0) != 0) {
        positional.push_back(arg);
        continue;
      }
      std::string name = arg.substr(2), value;
      const auto eq = name.find('=');
      bool has_value = false;
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      Option* opt = find(name);
      if (!opt) fail("unknown option --" + name);
      if (!opt->is_flag && !has_value) {
        if (i + 1 >= argc) fail("--" + name + " needs a value");
        value = argv[++i];
      }
      try {
        opt->set(value);
      } catch (const std::exception&) {
        fail("--" + name + ": cannot read \"" + value + "\"");
      }
    }
    return positional;
  }

  void print_help(std::ostream& os) const {
    os << program_ << ": " << summary_ << "\n\nOptions:\n";
    for (const auto& o : options_) {
      std::string left = "  --" + o.name + (o.is_flag ? "" : " <value>");
      if (left.size() < 28) left += std::string(28 - left.size(), ' ');
      os << left << o.help << " (default: " << o.default_text << ")\n";
    }
    os << "  --help                    this text\n";
  }

 private:
  struct Option {
    std::string name, help, default_text;
    bool is_flag;
    std::function<void(const std::string&)> set;
  };
  Option* find(const std::string& name) {
    for (auto& o : options_)
      if (o.name == name) return &o;
    return nullptr;
  }
  [[noreturn]] void fail(const std::string& message) const {
    std::cerr << program_ << ": " << message << " (see --help)\n";
    std::exit(2);
  }
  std::string program_, summary_;
  std::vector<Option> options_;
};

}  // namespace examples
