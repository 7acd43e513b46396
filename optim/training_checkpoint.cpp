// training_checkpoint.cpp: packing a run's state into one safetensors file and back (the
// layout is in training_checkpoint.h). Numbers in metadata are written with std::to_chars,
// whose shortest form reads back to the same double, so a base lr survives the text exactly.
#include "optim/training_checkpoint.h"

#include <charconv>
#include <set>

#include "tensor/random.h"

namespace ag::optim {

namespace {

constexpr const char* kFormat = "attograd.training_checkpoint.v1";

template <typename T>
std::string to_text(T value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

// The whole of text as a T, or an Error naming the key.
template <typename T>
T from_text(const std::string& path, const std::string& key, const std::string& text) {
  T value{};
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size())
    throw Error("load_training_checkpoint", "\"", path, "\": metadata \"", key, "\" = \"", text,
                "\" is not a number");
  return value;
}

const std::string& required(const Checkpoint& checkpoint, const std::string& path,
                            const std::string& key) {
  auto it = checkpoint.metadata.find(key);
  if (it == checkpoint.metadata.end())
    throw Error("load_training_checkpoint", "\"", path, "\": metadata \"", key, "\" is missing");
  return it->second;
}

}  // namespace

void save_training_checkpoint(const std::string& path, const nn::Module& model,
                              const Optimizer& optimizer, int64_t step,
                              const std::map<std::string, std::string>& extra,
                              const LRScheduler* scheduler) {
  nn::NamedTensors tensors;
  for (const auto& [name, t] : model.state_dict()) tensors.emplace_back("model." + name, t);
  for (const auto& [name, t] : optimizer.state_dict()) tensors.emplace_back("optim." + name, t);

  std::map<std::string, std::string> metadata;
  metadata["format"] = kFormat;
  metadata["step"] = to_text(step);
  const Generator& generator = default_generator();
  metadata["generator.seed"] = to_text(generator.seed());
  metadata["generator.offset"] = to_text(generator.offset());
  if (scheduler) {
    metadata["schedule.last_step"] = to_text(scheduler->last_step());
    std::string base_lrs;
    for (double lr : scheduler->base_lrs()) {
      if (!base_lrs.empty()) base_lrs += ',';
      base_lrs += to_text(lr);
    }
    metadata["schedule.base_lrs"] = base_lrs;
  }
  for (const auto& [key, value] : extra) metadata["extra." + key] = value;
  save(path, tensors, metadata);
}

TrainingCheckpointInfo load_training_checkpoint(const std::string& path, nn::Module& model,
                                                Optimizer& optimizer, LRScheduler* scheduler) {
  const std::string op = "load_training_checkpoint";
  const Checkpoint checkpoint = load(path);  // the file format is checked here

  // 1. Metadata, parsed fully before anything is applied.
  auto format = checkpoint.metadata.find("format");
  if (format == checkpoint.metadata.end() || format->second != kFormat)
    throw Error(op, "\"", path, "\": not an attograd training checkpoint (metadata \"format\" ",
                format == checkpoint.metadata.end() ? std::string("is missing")
                                                    : std::string("is ").append(format->second),
                "); a plain state dict loads with ag::load and Module::load_state_dict");
  TrainingCheckpointInfo info;
  info.step = from_text<int64_t>(path, "step", required(checkpoint, path, "step"));
  const auto seed = from_text<uint64_t>(path, "generator.seed",
                                        required(checkpoint, path, "generator.seed"));
  const auto offset = from_text<uint64_t>(path, "generator.offset",
                                          required(checkpoint, path, "generator.offset"));
  int64_t schedule_step = 0;
  std::vector<double> base_lrs;
  if (scheduler) {
    schedule_step = from_text<int64_t>(path, "schedule.last_step",
                                       required(checkpoint, path, "schedule.last_step"));
    if (schedule_step < 0)
      throw Error(op, "\"", path, "\": schedule.last_step is negative: ", schedule_step);
    const std::string& text = required(checkpoint, path, "schedule.base_lrs");
    size_t begin = 0;
    while (begin <= text.size()) {
      const size_t end = std::min(text.find(',', begin), text.size());
      base_lrs.push_back(from_text<double>(path, "schedule.base_lrs", text.substr(begin, end - begin)));
      begin = end + 1;
    }
    if (base_lrs.size() != optimizer.param_groups().size())
      throw Error(op, "\"", path, "\": the schedule has ", base_lrs.size(),
                  " base lrs, the optimizer ", optimizer.param_groups().size(), " groups");
  }
  for (const auto& [key, value] : checkpoint.metadata)
    if (key.rfind("extra.", 0) == 0) info.extra[key.substr(6)] = value;

  // 2. Tensors, split by owner.
  nn::NamedTensors model_state, optim_state;
  for (const auto& [name, t] : checkpoint.tensors) {
    if (name.rfind("model.", 0) == 0) model_state.emplace_back(name.substr(6), t);
    else if (name.rfind("optim.", 0) == 0) optim_state.emplace_back(name.substr(6), t);
    else throw Error(op, "\"", path, "\": unexpected tensor \"", name, "\" (neither model. nor optim.)");
  }

  // 3. Check the model fits before the optimizer (which checks itself, then applies) changes.
  //    When it does not, load_state_dict throws its list of mismatches and copies nothing.
  {
    std::map<std::string, Shape> given;
    for (const auto& [name, t] : model_state) given[name] = t.shape();
    const nn::NamedTensors mine = model.state_dict();
    bool fits = mine.size() == given.size();
    for (const auto& [name, t] : mine) {
      auto it = given.find(name);
      fits = fits && it != given.end() && it->second == t.shape();
    }
    if (!fits) model.load_state_dict(model_state, /*strict=*/true);  // throws, naming them
  }
  optimizer.load_state_dict(optim_state);
  model.load_state_dict(model_state, /*strict=*/true);
  if (scheduler) {
    scheduler->set_base_lrs(base_lrs);
    scheduler->set_last_step(schedule_step);
  }
  default_generator().set_state(seed, offset);
  return info;
}

}  // namespace ag::optim
