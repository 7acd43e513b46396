// training_checkpoint_test.cpp: save at step 50, load into a fresh model and optimizer, run to
// step 100: the weights must equal an uninterrupted 100-step run's bit for bit. Dropout is on
// and the data are drawn from the global generator, so the generator's state must come back
// too; a control run that skips restoring it shows the test would notice. Also: the checkpoint
// refuses a model it does not fit without changing anything.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <memory>

#include "nn/functional.h"
#include "nn/gpt.h"
#include "nn/linear.h"
#include "optim/optim.h"

using namespace ag;
namespace optim = ag::optim;
namespace F = ag::nn::functional;
namespace fs = std::filesystem;

namespace {

// Linear -> relu -> dropout -> Linear: small, but every piece of state a run has.
class TinyNet : public nn::Module {
 public:
  explicit TinyNet(int64_t hidden = 16) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(8, hidden));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, 4));
  }
  // x: (B, 8)   returns: (B, 4)
  Tensor forward(const Tensor& x) {
    return fc2->forward(F::dropout(fc1->forward(x).relu(), 0.3, is_training()));
  }
  std::shared_ptr<nn::Linear> fc1, fc2;
};

// Everything a run owns, built the same way each time (the init draws from the generator).
struct TrainingRun {
  TinyNet model;
  optim::AdamW opt{optim::decay_groups(model.named_parameters(), 0.1),
                   optim::AdamWOptions(1e-2).betas({0.9, 0.95})};
  optim::WarmupCosineLR schedule{opt, /*warmup_iters=*/10, /*lr_decay_iters=*/100, /*min_lr=*/1e-3};

  void train(int64_t from, int64_t to) {
    for (int64_t it = from; it < to; ++it) {
      const Tensor x = randn({4, 8});  // fresh data from the generator, like a data loader
      const Tensor target = randn({4, 4});
      const Tensor diff = model.forward(x) - target;
      const Tensor loss = (diff * diff).mean();
      opt.zero_grad();
      loss.backward();
      optim::clip_grad_norm_(model.parameters(), 1.0);
      opt.step();
      schedule.step();
    }
  }
  std::vector<std::vector<float>> weights() const {
    std::vector<std::vector<float>> out;
    for (const auto& [name, t] : model.state_dict()) out.push_back(t.to_vector<float>());
    return out;
  }
};

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() /
          ("attograd_training_checkpoint_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST(TrainingCheckpointTest, ResumingAtStep50GivesTheUninterruptedRunsWeightsBitForBit) {
  manual_seed(0);
  TrainingRun straight;
  straight.train(0, 100);

  const std::string path = temp_path("resume.safetensors");
  manual_seed(0);
  {
    TrainingRun first_half;
    first_half.train(0, 50);
    optim::save_training_checkpoint(path, first_half.model, first_half.opt, 50,
                                    {{"note", "half way"}}, &first_half.schedule);
  }
  manual_seed(999);  // a different generator state, and a different init below
  TrainingRun resumed;
  const auto info = optim::load_training_checkpoint(path, resumed.model, resumed.opt, &resumed.schedule);
  EXPECT_EQ(info.step, 50);
  EXPECT_EQ(info.extra.at("note"), "half way");
  EXPECT_EQ(resumed.schedule.last_step(), 50);
  EXPECT_EQ(resumed.opt.state(0).step, 50);
  resumed.train(info.step, 100);
  EXPECT_EQ(resumed.weights(), straight.weights());

  // Control: the same resume with the generator's state thrown away ends elsewhere, so the
  // equality above really depends on the generator being restored (dropout and data).
  manual_seed(999);
  TrainingRun forgetful;
  optim::load_training_checkpoint(path, forgetful.model, forgetful.opt, &forgetful.schedule);
  manual_seed(1);
  forgetful.train(50, 100);
  EXPECT_NE(forgetful.weights(), straight.weights());
  fs::remove(path);
}

TEST(TrainingCheckpointTest, AGPTWithDropoutResumesBitForBit) {
  nn::GPTConfig config;
  config.block_size = 8;
  config.vocab_size = 16;
  config.n_layer = 1;
  config.n_head = 2;
  config.n_embd = 16;
  config.dropout = 0.1;
  auto train = [&](nn::GPT& model, optim::AdamW& opt, int64_t from, int64_t to) {
    for (int64_t it = from; it < to; ++it) {
      const Tensor idx = randint(0, 16, {2, 8});
      const Tensor targets = randint(0, 16, {2, 8});
      opt.zero_grad();
      model.forward(idx, targets).second.backward();
      opt.step();
    }
  };
  auto make_opt = [](nn::GPT& model) {
    return optim::AdamW(optim::decay_groups(model.named_parameters(), 0.1),
                        optim::AdamWOptions(3e-3).betas({0.9, 0.95}));
  };
  manual_seed(7);
  nn::GPT straight(config);
  optim::AdamW straight_opt = make_opt(straight);
  train(straight, straight_opt, 0, 100);

  const std::string path = temp_path("gpt.safetensors");
  manual_seed(7);
  {
    nn::GPT model(config);
    optim::AdamW opt = make_opt(model);
    train(model, opt, 0, 50);
    optim::save_training_checkpoint(path, model, opt, 50);
  }
  manual_seed(8);
  nn::GPT resumed(config);
  optim::AdamW resumed_opt = make_opt(resumed);
  const auto info = optim::load_training_checkpoint(path, resumed, resumed_opt);
  train(resumed, resumed_opt, info.step, 100);
  const auto a = straight.state_dict(), b = resumed.state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i].second.to_vector<float>(), b[i].second.to_vector<float>()) << a[i].first;
  fs::remove(path);
}

TEST(TrainingCheckpointTest, ACheckpointThatDoesNotFitChangesNothing) {
  const std::string path = temp_path("fit.safetensors");
  manual_seed(0);
  TrainingRun small;
  small.train(0, 3);
  optim::save_training_checkpoint(path, small.model, small.opt, 3, {}, &small.schedule);

  // A wider model: the shapes differ, so the load must fail before the optimizer is touched.
  TinyNet wide(32);
  optim::AdamW opt(optim::decay_groups(wide.named_parameters(), 0.1), optim::AdamWOptions(0.5));
  const uint64_t offset_before = default_generator().offset();
  try {
    optim::load_training_checkpoint(path, wide, opt);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fc1.weight: module (32, 8) vs dict (16, 8)"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), 0.5);
  EXPECT_TRUE(opt.state(0).empty());
  EXPECT_EQ(default_generator().offset(), offset_before);

  // A plain state dict is not a training checkpoint.
  save(path, small.model.state_dict());
  try {
    optim::load_training_checkpoint(path, small.model, small.opt);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an attograd training checkpoint"), std::string::npos)
        << e.what();
  }
  fs::remove(path);
}
