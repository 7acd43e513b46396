// mlp.cpp: the smallest full attograd program. A two-layer MLP learns to separate "two moons"
// (two interleaved half circles with noise, generated here), trained with Adam on the
// cross-entropy loss. It prints the loss falling and the final accuracy, and draws the learned
// decision boundary to mlp_boundary.svg.
//
// Runs in well under a second on a laptop CPU; expect the loss to fall from ~0.85 (the random
// initial weights do a little worse than chance, log 2 = 0.69) to ~0.02, and an accuracy of
// about 99.6% (the noise pushes a couple of points into the other moon).
//
//   ./build/release/examples/mlp            # defaults below
//   ./build/release/examples/mlp --help
#include <cmath>
#include <cstdio>
#include <numbers>

#include "common/cli.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/svg.h"
#include "nn/nn.h"
#include "optim/optim.h"

namespace F = ag::nn::functional;

struct Config {
  int64_t points = 512;        // training points, half per moon
  double noise = 0.15;         // standard deviation of the noise added to each point
  int64_t hidden = 32;         // width of the hidden layer
  int64_t steps = 300;         // full-batch Adam steps
  double lr = 0.02;            // Adam's learning rate
  int64_t seed = 0;            // same seed, same numbers
  int64_t log_every = 50;      // a plain progress line every this many steps (not on a terminal)
  std::string out = "mlp_boundary.svg";  // the decision-boundary picture
  bool json = false;           // print one JSON line with the results last
};

// Two moons: the upper one centred at (0, 0), the lower one shifted to (1, 0.5) and flipped.
// returns: points (N, 2) float32, labels (N) int64
std::pair<ag::Tensor, ag::Tensor> make_moons(int64_t n, double noise) {
  const int64_t half = n / 2;
  const auto t = ag::rand({n}, ag::kFloat64).to_vector<double>();
  const auto jitter = ag::randn({n, 2}, ag::kFloat64).to_vector<double>();
  std::vector<float> xy(static_cast<size_t>(2 * n));
  std::vector<int64_t> label(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double angle = std::numbers::pi * t[i];
    const bool lower = i >= half;
    const double x = lower ? 1.0 - std::cos(angle) : std::cos(angle);
    const double y = lower ? 0.5 - std::sin(angle) : std::sin(angle);
    xy[2 * i] = static_cast<float>(x + noise * jitter[2 * i]);
    xy[2 * i + 1] = static_cast<float>(y + noise * jitter[2 * i + 1]);
    label[i] = lower ? 1 : 0;
  }
  return {ag::from_vector(xy, {n, 2}), ag::from_vector(label, {n})};
}

// x: (N, 2) -> hidden (N, H) -> logits (N, 2)
struct Mlp : ag::nn::Module {
  std::shared_ptr<ag::nn::Linear> fc1, fc2;
  explicit Mlp(int64_t hidden)
      : fc1(register_module("fc1", std::make_shared<ag::nn::Linear>(2, hidden))),
        fc2(register_module("fc2", std::make_shared<ag::nn::Linear>(hidden, 2))) {}
  ag::Tensor forward(const ag::Tensor& x) { return fc2->forward(fc1->forward(x).tanh()); }
};

void draw_boundary(Mlp& model, const ag::Tensor& x, const ag::Tensor& y, const std::string& path) {
  const int grid = 60;
  const double lo_x = -1.6, hi_x = 2.6, lo_y = -1.2, hi_y = 1.7, size = 480;
  std::vector<float> cells;
  for (int r = 0; r < grid; ++r)
    for (int c = 0; c < grid; ++c) {
      cells.push_back(static_cast<float>(lo_x + (hi_x - lo_x) * (c + 0.5) / grid));
      cells.push_back(static_cast<float>(hi_y - (hi_y - lo_y) * (r + 0.5) / grid));
    }
  ag::NoGradGuard no_grad;
  const auto p = F::softmax(model.forward(ag::from_vector(cells, {grid * grid, 2})), -1)
                     .select(1, 1).to_vector<double>();  // P(lower moon) per cell
  examples::Svg svg(size + 20, size + 50);
  svg.text((size + 20) / 2, 22, "two moons: P(class 1) and the training points", 13);
  // 24 shades, and one rect per run of equal shade along a row: far from the boundary the
  // probability is saturated and a whole run is one colour, which keeps the file small.
  auto shade = [&](int r, int c) {
    const double level = std::round(24 * p[static_cast<size_t>(r * grid + c)]) / 24;
    return examples::ramp_color(0.15 + 0.7 * level);
  };
  const double cell = size / grid;
  for (int r = 0; r < grid; ++r)
    for (int c = 0; c < grid;) {
      const std::string color = shade(r, c);
      int end = c + 1;
      while (end < grid && shade(r, end) == color) ++end;
      svg.rect(10 + c * cell, 35 + r * cell, (end - c) * cell + 0.3, cell + 0.3, color, "class=\"cell\"");
      c = end;
    }
  const auto xy = x.to_vector<double>();
  const auto label = y.to_vector<int64_t>();
  for (size_t i = 0; i < label.size(); ++i)
    svg.circle(10 + (xy[2 * i] - lo_x) / (hi_x - lo_x) * size,
               35 + (hi_y - xy[2 * i + 1]) / (hi_y - lo_y) * size, 2.5,
               label[i] ? "white" : "black", label[i] ? "black" : "white");
  svg.save(path);
}

int main(int argc, char** argv) {
  Config cfg;
  examples::Cli cli("mlp", "a two-layer MLP learns to separate two moons");
  cli.option("points", cfg.points, "training points")
      .option("noise", cfg.noise, "noise standard deviation")
      .option("hidden", cfg.hidden, "hidden layer width")
      .option("steps", cfg.steps, "Adam steps (full batch)")
      .option("lr", cfg.lr, "learning rate")
      .option("seed", cfg.seed, "random seed")
      .option("log-every", cfg.log_every, "steps between progress lines")
      .option("out", cfg.out, "decision-boundary SVG path")
      .flag("json", cfg.json, "print a JSON line with the results last");
  cli.parse(argc, argv);

  try {
    ag::manual_seed(static_cast<uint64_t>(cfg.seed));
    const auto [x, y] = make_moons(cfg.points, cfg.noise);
    Mlp model(cfg.hidden);
    ag::optim::Adam optimizer(model.parameters(), ag::optim::AdamOptions(cfg.lr));
    examples::Progress progress(cfg.steps, cfg.log_every, cfg.json);
    double first_loss = 0, loss_value = 0;
    for (int64_t step = 0; step < cfg.steps; ++step) {
      optimizer.zero_grad();
      ag::Tensor loss = F::cross_entropy(model.forward(x), y);
      loss.backward();
      optimizer.step();
      loss_value = loss.item<double>();
      if (step == 0) first_loss = loss_value;
      progress.update(step, loss_value, cfg.points);
    }
    ag::NoGradGuard no_grad;
    const ag::Tensor predicted = model.forward(x).argmax(-1);
    const double accuracy = ag::eq(predicted, y).to(ag::kFloat64).mean().item<double>();
    draw_boundary(model, x, y, cfg.out);
    if (cfg.json) {
      std::printf("%s\n", examples::JsonLine()
                              .add("example", "mlp")
                              .add("first_loss", first_loss)
                              .add("final_loss", loss_value)
                              .add("accuracy", accuracy)
                              .add("steps", cfg.steps)
                              .add("seconds", progress.seconds())
                              .add("svg", cfg.out)
                              .str().c_str());
    } else {
      std::printf("loss %.4f -> %.4f, accuracy %.1f%% on %lld points, %.2fs; wrote %s\n",
                  first_loss, loss_value, 100 * accuracy, static_cast<long long>(cfg.points),
                  progress.seconds(), cfg.out.c_str());
    }
  } catch (const ag::Error& e) {
    std::fprintf(stderr, "mlp: %s\n", e.what());
    return 1;
  }
  return 0;
}
