// optimizer_test.cpp: SGD, Adam and AdamW against PyTorch, option by option, plus what the
// Optimizer base promises: validation messages, parameter groups, skipping parameters without
// a gradient, zero_grad, state dicts, and the same bits for any thread count.
//
// The PyTorch numbers come from tests/optim/reference_values.py (beside this file): the first
// three steps on a fixed problem whose gradient is set by hand each step as g = a * w + c,
// so the only arithmetic compared is the optimizers' own.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"
#include "optim/optim.h"

using namespace ag;
namespace optim = ag::optim;

namespace {

struct Reference {
  std::string name;
  std::vector<std::vector<double>> steps;  // w after step 1, 2, 3
};

// printed by tests/optim/reference_values.py with torch 1.13.0a0
const std::vector<Reference> kTorchFloat64 = {
    {"sgd_plain",
     {{0.44, -1.0999999999999999, 2.0099999999999998, -0.005000000000000001, -0.10999999999999999},
      {0.38600000000000001, -1.0049999999999999, 2.0202, -0.0090000000000000011, 0.023000000000000027},
      {0.33740000000000003, -0.91474999999999984, 2.0306039999999999, -0.012200000000000001, 0.11610000000000002}}},
    {"sgd_momentum",
     {{0.44, -1.0999999999999999, 2.0099999999999998, -0.005000000000000001, -0.10999999999999999},
      {0.33199999999999996, -0.91499999999999981, 2.0291999999999999, -0.013500000000000002, 0.19400000000000003},
      {0.19159999999999996, -0.66274999999999984, 2.057064, -0.023450000000000002, 0.50940000000000007}}},
    {"sgd_dampening",
     {{0.44, -1.0999999999999999, 2.0099999999999998, -0.005000000000000001, -0.10999999999999999},
      {0.35899999999999999, -0.96249999999999991, 2.0240999999999998, -0.011500000000000002, 0.12750000000000003},
      {0.26315, -0.79468749999999988, 2.0420309999999997, -0.018700000000000001, 0.37212500000000004}}},
    {"sgd_nesterov",
     {{0.38600000000000001, -1.01, 2.0190000000000001, -0.0095000000000000015, 0.061000000000000019},
      {0.24506, -0.75705, 2.0468220000000001, -0.019440000000000002, 0.37013000000000001},
      {0.096392599999999967, -0.46292524999999995, 2.0832990360000001, -0.027708800000000006, 0.55384290000000003}}},
    {"sgd_weight_decay",
     {{0.4395, -1.0988, 2.008, -0.005000000000000001, -0.10969999999999999},
      {0.33066049999999997, -0.91168119999999997, 2.023352, -0.013495000000000002, 0.19458970000000003},
      {0.18930823949999995, -0.65677853879999992, 2.0456124880000002, -0.023428005000000002, 0.50987893029999998}}},
    {"sgd_maximize",
     {{0.55500000000000005, -1.288, 1.97, 0.005000000000000001, -0.48699999999999999},
      {0.64245000000000008, -1.4235200000000001, 1.9258999999999999, 0.013450000000000002, -0.82172999999999996},
      {0.75399550000000004, -1.5882208000000002, 1.8760729999999999, 0.025230500000000003, -1.3273967}}},
    {"adam_default",
     {{0.49000000016666667, -1.1900000001, 2.0099999990000001, -0.0099999980000003985, -0.29000000005263155},
      {0.48000473404883315, -1.1800013381541135, 2.0200046691412368, -0.019574897611313018, -0.28000446497359632},
      {0.47001745748141188, -1.1700049117928364, 2.0300170039728451, -0.02802082725506019, -0.27001645975717375}}},
    {"adam_options",
     {{0.45000007692295857, -1.1500000446428171, 1.950000499995, -0.049999000019999594, -0.25000002590672232},
      {0.40017831286598288, -1.1000444065105035, 1.899944570310373, -0.042092308609049167, -0.20016630992998566},
      {0.35067915978250391, -1.0501637234051042, 1.8497986687180521, -0.02054091045255144, -0.15063199822322293}}},
    {"adam_amsgrad",
     {{8.3333332456803078e-09, -0.70000000499999993, 2.4999999500000052, -0.49999990000001998, 0.19999999736842111},
      {-0.34378802320036156, -0.18408102833935558, 2.9406093449111248, -0.19317793520523513, 0.5579240516132129},
      {-0.47892797917101126, 0.28405366924579684, 3.3532129121505969, 0.10229420460412114, 0.71531617503109213}}},
    {"adamw_default",
     {{0.48995000016666668, -1.1898800001000001, 2.0097999990000002, -0.0099999980000003985, -0.28997000005263157},
      {0.47990576470485763, -1.1797623666325756, 2.0196036061486842, -0.019573897611513021, -0.27994548243455469},
      {0.46987056643222624, -1.1696480079728535, 2.0294137628147362, -0.028018033264778551, -0.26992952118614988}}},
    {"adamw_decay",
     {{0.4475000008333333, -1.1440000004999999, 2.0399999950000005, -0.049999990000002, -0.24850000026315788},
      {0.39537658912634471, -1.088304207430999, 2.0798149614075863, -0.047118421615452197, -0.19735961703042673},
      {0.34372350347077441, -1.0329280836168195, 2.1194578638326562, -0.028172171348545039, -0.1466610037070725}}},
    {"adamw_amsgrad",
     {{-0.024999991666666777, -0.64000000499999987, 2.3999999500000051, -0.49999990000001998, 0.21499999736842113},
      {-0.3541088038101029, -0.090610223658604161, 2.7299765974751131, -0.16817794020523413, 0.55454060037950681},
      {-0.45819220928676629, 0.37424993931615758, 3.0175348046665769, 0.12286603619156289, 0.68030699422866614}}},
};
const std::vector<Reference> kTorchFloat32 = {
    {"sgd_plain",
     {{0.43999999761581421, -1.1000000238418579, 2.0099999904632568, -0.0050000003539025784, -0.10999999940395355},
      {0.38600000739097595, -1.0049999952316284, 2.0202000141143799, -0.0090000005438923836, 0.022999994456768036},
      {0.33740001916885376, -0.91474997997283936, 2.0306041240692139, -0.012200000695884228, 0.1160999983549118}}},
    {"sgd_momentum",
     {{0.43999999761581421, -1.1000000238418579, 2.0099999904632568, -0.0050000003539025784, -0.10999999940395355},
      {0.33199998736381531, -0.91500002145767212, 2.0292000770568848, -0.013499999418854713, 0.1940000057220459},
      {0.19159997999668121, -0.6627500057220459, 2.0570640563964844, -0.02344999834895134, 0.50940001010894775}}},
    {"sgd_dampening",
     {{0.43999999761581421, -1.1000000238418579, 2.0099999904632568, -0.0050000003539025784, -0.10999999940395355},
      {0.35899999737739563, -0.96250003576278687, 2.0241000652313232, -0.011500000022351742, 0.12749999761581421},
      {0.26315000653266907, -0.79468756914138794, 2.0420310497283936, -0.018699999898672104, 0.37212499976158142}}},
    {"sgd_nesterov",
     {{0.38600000739097595, -1.0099999904632568, 2.0190000534057617, -0.0094999996945261955, 0.061000008136034012},
      {0.24506001174449921, -0.7570500373840332, 2.0468220710754395, -0.019439999014139175, 0.37013000249862671},
      {0.096392601728439331, -0.46292528510093689, 2.0832991600036621, -0.02770879864692688, 0.55384290218353271}}},
    {"sgd_weight_decay",
     {{0.43950000405311584, -1.0988000631332397, 2.0079998970031738, -0.0050000003539025784, -0.10969999432563782},
      {0.33066049218177795, -0.91168129444122314, 2.0233519077301025, -0.013495000079274178, 0.19458970427513123},
      {0.18930822610855103, -0.65677863359451294, 2.0456123352050781, -0.023428004235029221, 0.50987893342971802}}},
    {"sgd_maximize",
     {{0.55500000715255737, -1.2880001068115234, 1.9700000286102295, 0.0050000003539025784, -0.48700001835823059},
      {0.64245003461837769, -1.4235200881958008, 1.9258999824523926, 0.013450000435113907, -0.82173001766204834},
      {0.75399553775787354, -1.5882209539413452, 1.8760730028152466, 0.025230500847101212, -1.3273967504501343}}},
    {"adam_default",
     {{0.49000000953674316, -1.190000057220459, 2.0099999904632568, -0.0099999969825148582, -0.29000002145767212},
      {0.48000472784042358, -1.1800013780593872, 2.0200047492980957, -0.01957489550113678, -0.28000450134277344},
      {0.47001746296882629, -1.1700049638748169, 2.0300171375274658, -0.028020825237035751, -0.27001649141311646}}},
    {"adam_options",
     {{0.45000007748603821, -1.1500000953674316, 1.950000524520874, -0.049999002367258072, -0.25000002980232239},
      {0.40017831325531006, -1.1000444889068604, 1.899944543838501, -0.042092308402061462, -0.20016629993915558},
      {0.35067915916442871, -1.050163745880127, 1.8497986793518066, -0.020540907979011536, -0.15063199400901794}}},
    {"adam_amsgrad",
     {{0, -0.70000004768371582, 2.5, -0.49999988079071045, 0.19999995827674866},
      {-0.3437880277633667, -0.18408107757568359, 2.9406094551086426, -0.19317790865898132, 0.55792397260665894},
      {-0.47892799973487854, 0.28405362367630005, 3.3532130718231201, 0.10229423642158508, 0.71531611680984497}}},
    {"adamw_default",
     {{0.48995000123977661, -1.1898800134658813, 2.0097999572753906, -0.0099999969825148582, -0.28997001051902771},
      {0.47990575432777405, -1.1797623634338379, 2.0196034908294678, -0.019573895260691643, -0.2799454927444458},
      {0.46987053751945496, -1.1696479320526123, 2.0294137001037598, -0.028018031269311905, -0.26992952823638916}}},
    {"adamw_decay",
     {{0.44749999046325684, -1.1440000534057617, 2.0399999618530273, -0.049999993294477463, -0.24850000441074371},
      {0.39537656307220459, -1.0883042812347412, 2.0798149108886719, -0.047118421643972397, -0.19735962152481079},
      {0.34372347593307495, -1.0329281091690063, 2.1194577217102051, -0.028172170743346214, -0.14666101336479187}}},
    {"adamw_amsgrad",
     {{-0.025000005960464478, -0.63999998569488525, 2.3999998569488525, -0.49999988079071045, 0.2149999737739563},
      {-0.35410881042480469, -0.090610206127166748, 2.7299764156341553, -0.16817790269851685, 0.55454057455062866},
      {-0.45819222927093506, 0.37424996495246887, 3.0175344944000244, 0.12286609411239624, 0.68030703067779541}}},
};

const std::vector<double> kW0 = {0.5, -1.2, 2.0, 0.0, -0.3};
const std::vector<double> kA = {1.0, 0.5, -0.2, 2.0, 3.0};
const std::vector<double> kC = {0.1, -0.4, 0.3, 0.05, -1.0};

// The optimizer of each case in reference_values.py, with the same options.
std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name, const Tensor& w) {
  const TensorList params{w};
  if (name == "sgd_plain") return std::make_unique<optim::SGD>(params, optim::SGDOptions(0.1));
  if (name == "sgd_momentum")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions(0.1).momentum(0.9));
  if (name == "sgd_dampening")
    return std::make_unique<optim::SGD>(params,
                                        optim::SGDOptions(0.1).momentum(0.9).dampening(0.5));
  if (name == "sgd_nesterov")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
  if (name == "sgd_weight_decay")
    return std::make_unique<optim::SGD>(params,
                                        optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.01));
  if (name == "sgd_maximize")
    return std::make_unique<optim::SGD>(
        params, optim::SGDOptions(0.1).momentum(0.5).weight_decay(0.1).maximize(true));
  if (name == "adam_default") return std::make_unique<optim::Adam>(params, optim::AdamOptions(0.01));
  if (name == "adam_options")
    return std::make_unique<optim::Adam>(
        params, optim::AdamOptions(0.05).betas({0.8, 0.9}).eps(1e-6).weight_decay(0.1));
  if (name == "adam_amsgrad")
    return std::make_unique<optim::Adam>(params,
                                         optim::AdamOptions(0.5).betas({0.9, 0.5}).amsgrad(true));
  if (name == "adamw_default")
    return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(0.01));
  if (name == "adamw_decay")
    return std::make_unique<optim::AdamW>(
        params, optim::AdamWOptions(0.05).betas({0.9, 0.95}).weight_decay(0.1));
  if (name == "adamw_amsgrad")
    return std::make_unique<optim::AdamW>(
        params, optim::AdamWOptions(0.5).betas({0.9, 0.5}).weight_decay(0.1).amsgrad(true));
  ADD_FAILURE() << "no optimizer for case " << name;
  return nullptr;
}

// Runs three steps with g = a * w + c and compares w after each with PyTorch's.
void check_against_torch(const Reference& ref, DType dtype, double rel_tol, double abs_tol) {
  Tensor w = from_vector(kW0, {5}, dtype).requires_grad_();
  auto opt = make_optimizer(ref.name, w);
  ASSERT_TRUE(opt);
  for (size_t step = 0; step < ref.steps.size(); ++step) {
    const std::vector<double> wv = w.to_vector<double>();
    std::vector<double> g(wv.size());
    if (dtype == kFloat32) {
      // float arithmetic, as torch does it for a float32 tensor
      for (size_t i = 0; i < g.size(); ++i)
        g[i] = static_cast<float>(static_cast<float>(static_cast<float>(kA[i]) *
                                                     static_cast<float>(wv[i])) +
                                  static_cast<float>(kC[i]));
    } else {
      for (size_t i = 0; i < g.size(); ++i) g[i] = kA[i] * wv[i] + kC[i];
    }
    w.set_grad(from_vector(g, {5}, dtype));
    opt->step();
    const std::vector<double> got = w.to_vector<double>();
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double diff = std::fabs(got[i] - ref.steps[step][i]);
      if (diff > abs_tol + rel_tol * std::fabs(ref.steps[step][i]) && diff > worst) {
        worst = diff;
        worst_i = i;
      }
    }
    EXPECT_EQ(worst, 0.0) << ref.name << " (" << dtype << ") step " << step + 1 << ": w[" << worst_i
                          << "] = " << got[worst_i] << ", PyTorch " << ref.steps[step][worst_i]
                          << ", largest difference " << worst;
  }
}

}  // namespace

// ---- PyTorch's numbers ---------------------------------------------------------------------------

TEST(OptimizerTest, FirstThreeStepsMatchPyTorchInFloat64) {
  // PyTorch's vectorised add_(x, alpha) is a fused multiply-add, ours two roundings: the
  // largest difference seen is 2.2e-16 (2.4e-15 relative), so 1e-14 still catches any slip.
  for (const Reference& ref : kTorchFloat64) check_against_torch(ref, kFloat64, 1e-14, 1e-16);
}

TEST(OptimizerTest, FirstThreeStepsMatchPyTorchInFloat32) {
  // Float arithmetic on both sides; the largest difference seen is one ulp (1.2e-7 at 1.59).
  for (const Reference& ref : kTorchFloat32) check_against_torch(ref, kFloat32, 1e-6, 1e-7);
}

// ---- validation ------------------------------------------------------------------------------------

namespace {
// The message of the Error that make() throws, or "" when it does not throw.
template <typename F>
std::string error_of(F&& make) {
  try {
    make();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(OptimizerTest, EachBadOptionIsAnErrorNamingTheOptionAndValue) {
  const TensorList params{zeros({3}).requires_grad_()};
  struct Case {
    std::function<void()> make;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[&] { optim::SGD(params, optim::SGDOptions(-0.1)); }, "SGD: invalid lr: -0.1 (must be >= 0)"},
      {[&] { optim::SGD(params, optim::SGDOptions(0.1).momentum(-0.5)); },
       "SGD: invalid momentum: -0.5 (must be >= 0)"},
      {[&] { optim::SGD(params, optim::SGDOptions(0.1).weight_decay(-1)); },
       "SGD: invalid weight_decay: -1 (must be >= 0)"},
      {[&] { optim::SGD(params, optim::SGDOptions(0.1).nesterov(true)); },
       "SGD: nesterov requires momentum > 0 and dampening == 0, got momentum=0, dampening=0"},
      {[&] { optim::SGD(params, optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)); },
       "SGD: nesterov requires momentum > 0 and dampening == 0, got momentum=0.9, dampening=0.1"},
      {[&] { optim::Adam(params, optim::AdamOptions(-1e-3)); },
       "Adam: invalid lr: -0.001 (must be >= 0)"},
      {[&] { optim::Adam(params, optim::AdamOptions().eps(0.0)); },
       "Adam: invalid eps: 0 (must be > 0)"},
      {[&] { optim::Adam(params, optim::AdamOptions().eps(-1e-8)); },
       "Adam: invalid eps: -1e-08 (must be > 0)"},
      {[&] { optim::Adam(params, optim::AdamOptions().betas({1.0, 0.999})); },
       "Adam: invalid betas[0] (beta1): 1 (must be in [0, 1))"},
      {[&] { optim::Adam(params, optim::AdamOptions().betas({-0.1, 0.999})); },
       "Adam: invalid betas[0] (beta1): -0.1 (must be in [0, 1))"},
      {[&] { optim::Adam(params, optim::AdamOptions().betas({0.9, 1.5})); },
       "Adam: invalid betas[1] (beta2): 1.5 (must be in [0, 1))"},
      {[&] { optim::Adam(params, optim::AdamOptions().weight_decay(-0.1)); },
       "Adam: invalid weight_decay: -0.1 (must be >= 0)"},
      {[&] { optim::AdamW(params, optim::AdamWOptions(NAN)); },
       "AdamW: invalid lr: nan (must be >= 0)"},
      {[&] { optim::AdamW(params, optim::AdamWOptions().weight_decay(-0.01)); },
       "AdamW: invalid weight_decay: -0.01 (must be >= 0)"},
      {[&] { optim::AdamW(params, optim::AdamWOptions().betas({0.9, 1.0})); },
       "AdamW: invalid betas[1] (beta2): 1 (must be in [0, 1))"},
      // A group's override is checked like the defaults.
      {[&] { optim::AdamW({optim::ParamGroup{.params = params, .lr = -1.0}}, optim::AdamWOptions()); },
       "AdamW: invalid lr: -1 (must be >= 0)"},
      {[&] { optim::AdamW(TensorList{}, optim::AdamWOptions()); },
       "AdamW: got an empty parameter list (pass model.parameters() or groups that hold at least "
       "one tensor)"},
      {[&] { optim::SGD(TensorList{params[0], params[0]}, optim::SGDOptions(0.1)); },
       "SGD: parameter 1 of group 0 appears more than once among the parameter groups"},
      {[&] { optim::SGD(TensorList{zeros({2}, kInt64)}, optim::SGDOptions(0.1)); },
       "SGD: can only optimize float32 or float64 tensors, parameter 0 of group 0 is int64"},
  };
  for (const Case& c : cases) EXPECT_EQ(error_of(c.make), c.expected);
}

TEST(OptimizerTest, AnLrMadeInvalidLaterFailsTheStepBeforeAnyParameterMoves) {
  Tensor a = ones({2}).requires_grad_();
  Tensor b = ones({2}).requires_grad_();
  optim::SGD opt({optim::ParamGroup{.params = {a}}, optim::ParamGroup{.params = {b}}},
                 optim::SGDOptions(0.1));
  a.set_grad(ones({2}));
  b.set_grad(ones({2}));
  opt.param_groups()[1].options().set_lr(-1.0);
  EXPECT_EQ(error_of([&] { opt.step(); }), "SGD: invalid lr: -1 (must be >= 0)");
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 1}));  // group 0 was not stepped either
}

// ---- parameter groups ----------------------------------------------------------------------------

namespace {
// A module with a GPT's kinds of parameters: an embedding and a matrix (2-d), a bias and a
// LayerNorm gain (1-d), and one frozen tensor.
class Kinds : public nn::Module {
 public:
  Kinds() {
    register_parameter("wte", ones({5, 3}));
    register_parameter("proj", ones({3, 3}));
    register_parameter("bias", ones({3}));
    register_parameter("ln_gain", ones({3}));
    register_parameter("frozen", ones({3, 3}), /*requires_grad=*/false);
  }
};

std::vector<std::string> names_in(const nn::NamedTensors& named, const TensorList& group) {
  std::vector<std::string> out;
  for (const Tensor& t : group)
    for (const auto& [name, p] : named)
      if (p.is_same(t)) out.push_back(name);
  return out;
}
}  // namespace

TEST(OptimizerTest, DecayGroupsSplitsByDimAsNanoGPTDoes) {
  Kinds model;
  const auto named = model.named_parameters();
  auto groups = optim::decay_groups(named, 0.1);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(names_in(named, groups[0].params), (std::vector<std::string>{"wte", "proj"}));
  EXPECT_EQ(names_in(named, groups[1].params), (std::vector<std::string>{"bias", "ln_gain"}));
  EXPECT_EQ(groups[0].weight_decay, 0.1);
  EXPECT_EQ(groups[1].weight_decay, 0.0);

  // The predicate overload keeps the embedding out of decay.
  groups = optim::decay_groups(named, 0.1, [](const std::string& name) { return name == "wte"; });
  EXPECT_EQ(names_in(named, groups[0].params), (std::vector<std::string>{"proj"}));
  EXPECT_EQ(names_in(named, groups[1].params), (std::vector<std::string>{"wte", "bias", "ln_gain"}));
}

TEST(OptimizerTest, AdamWDecaysOnlyTheDecayGroup) {
  Kinds model;
  optim::AdamW opt(optim::decay_groups(model.named_parameters(), 0.1), optim::AdamWOptions(0.01));
  EXPECT_EQ(opt.param_groups()[0].options().get_weight_decay(), 0.1);
  EXPECT_EQ(opt.param_groups()[1].options().get_weight_decay(), 0.0);
  // A zero gradient makes the Adam part 0 / (0 + eps) = 0: only the decay moves a weight.
  for (const Tensor& p : opt.parameters()) p.set_grad(zeros(p.shape()));
  opt.step();
  const float decayed = static_cast<float>(1.0 - 0.01 * 0.1);
  for (const auto& [name, p] : model.named_parameters()) {
    const float expected = (name == "wte" || name == "proj") ? decayed : 1.0f;
    if (name == "frozen") continue;
    EXPECT_EQ(p.to_vector<float>()[0], expected) << name;
  }
}

TEST(OptimizerTest, AGroupCanCarryItsOwnFullOptions) {
  Tensor a = ones({2}).requires_grad_();
  Tensor b = ones({2}).requires_grad_();
  optim::SGD opt({optim::ParamGroup{.params = {a}},
                  optim::ParamGroup{.params = {b},
                                    .options = std::make_shared<optim::SGDOptions>(
                                        optim::SGDOptions(0.5).momentum(0.9))}},
                 optim::SGDOptions(0.1));
  EXPECT_EQ(static_cast<const optim::SGDOptions&>(opt.param_groups()[1].options()).momentum(), 0.9);
  a.set_grad(ones({2}));
  b.set_grad(ones({2}));
  opt.step();
  EXPECT_FLOAT_EQ(a.to_vector<float>()[0], 0.9f);
  EXPECT_FLOAT_EQ(b.to_vector<float>()[0], 0.5f);
  // Options of another optimizer are refused.
  EXPECT_NE(error_of([&] {
              optim::SGD({optim::ParamGroup{.params = {a},
                                            .options = std::make_shared<optim::AdamOptions>()}},
                         optim::SGDOptions(0.1));
            }).find("has options of another optimizer"),
            std::string::npos);
}

// ---- step and zero_grad ----------------------------------------------------------------------------

TEST(OptimizerTest, ParametersWithoutGradAreSkippedAndKeepNoState) {
  Tensor a = ones({3}).requires_grad_();
  Tensor b = ones({3}).requires_grad_();
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.set_grad(ones({3}));
  opt.step();
  EXPECT_NE(a.to_vector<float>()[0], 1.0f);
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(opt.state(0).step, 1);
  EXPECT_TRUE(opt.state(1).empty());
}

TEST(OptimizerTest, StepRunsWithoutRecordingAndAcceptsABroadcastGrad) {
  Tensor w = from_vector<float>({1, 2, 3}, {3}).requires_grad_();
  optim::SGD opt({w}, optim::SGDOptions(0.5));
  // The backward of sum() hands out an expanded 1: a stride-0 view, not a dense buffer.
  w.sum().backward();
  opt.step();
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{0.5f, 1.5f, 2.5f}));
  EXPECT_TRUE(w.is_leaf());
}

TEST(OptimizerTest, StepWithAClosureReturnsItsLoss) {
  Tensor w = from_vector<double>({3.0}, {1}).requires_grad_();
  optim::SGD opt({w}, optim::SGDOptions(0.25));
  Tensor loss = opt.step([&] {
    opt.zero_grad();
    Tensor l = (w * w).sum();
    l.backward();
    return l;
  });
  EXPECT_EQ(loss.item<double>(), 9.0);
  EXPECT_EQ(w.item<double>(), 3.0 - 0.25 * 6.0);
}

TEST(OptimizerTest, ZeroGradSetsToNoneByDefaultOrZeroes) {
  Tensor w = ones({2}).requires_grad_();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  w.set_grad(ones({2}));
  opt.zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{0, 0}));
  opt.zero_grad();
  EXPECT_FALSE(w.grad().defined());
}

TEST(OptimizerTest, StepBumpsTheVersionSoAStaleGraphRefusesBackward) {
  Tensor w = ones({2}).requires_grad_();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  Tensor loss = (w * w).sum();  // saves w for its backward
  const uint64_t before = w.version();
  w.set_grad(ones({2}));
  opt.step();
  EXPECT_GT(w.version(), before);
  EXPECT_THROW(loss.backward(), Error);
}

// ---- state dict ------------------------------------------------------------------------------------

namespace {
void set_grads(const TensorList& params, int step) {
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<double> w = params[i].to_vector<double>();
    std::vector<double> g(w.size());
    for (size_t k = 0; k < g.size(); ++k) g[k] = std::sin(1.0 + k + 7.0 * i + 3.0 * step) + 0.1 * w[k];
    params[i].set_grad(from_vector(g, params[i].shape(), params[i].dtype()));
  }
}
}  // namespace

TEST(OptimizerTest, StateDictRoundTripContinuesBitForBit) {
  for (bool amsgrad : {false, true}) {
    manual_seed(3);
    TensorList a{randn({4, 3}), randn({3})};
    TensorList b{a[0].clone(), a[1].clone()};
    for (auto& t : a) t.requires_grad_();
    for (auto& t : b) t.requires_grad_();
    auto options = optim::AdamWOptions(0.01).amsgrad(amsgrad).weight_decay(0.05);
    optim::AdamW first(a, options);
    for (int s = 0; s < 3; ++s) {
      set_grads(a, s);
      first.step();
    }
    // b catches up by loading a's state (and a's weights).
    optim::AdamW second(b, optim::AdamWOptions(0.5));  // other hyperparameters: restored by load
    second.load_state_dict(first.state_dict());
    for (size_t i = 0; i < a.size(); ++i) {
      NoGradGuard no_grad;
      b[i].copy_(a[i]);
    }
    EXPECT_EQ(second.param_groups()[0].options().get_lr(), 0.01);
    for (int s = 3; s < 6; ++s) {
      set_grads(a, s);
      set_grads(b, s);
      first.step();
      second.step();
    }
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>()) << "amsgrad " << amsgrad;
  }
}

TEST(OptimizerTest, SGDMomentumBufferSurvivesTheRoundTrip) {
  Tensor a = from_vector<double>({1.0, -2.0}, {2}).requires_grad_();
  Tensor b = a.detach().clone().requires_grad_();
  optim::SGD first({a}, optim::SGDOptions(0.1).momentum(0.9).dampening(0.3));
  a.set_grad(from_vector<double>({0.5, 0.25}, {2}));
  first.step();
  optim::SGD second({b}, optim::SGDOptions(0.1).momentum(0.9).dampening(0.3));
  second.load_state_dict(first.state_dict());
  {
    NoGradGuard no_grad;
    b.copy_(a);
  }
  // Without the buffer, the second step would be a "first step" (buf = g, undamped).
  a.set_grad(from_vector<double>({0.1, 0.2}, {2}));
  b.set_grad(from_vector<double>({0.1, 0.2}, {2}));
  first.step();
  second.step();
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());
}

TEST(OptimizerTest, LoadStateDictRejectsWhatDoesNotFitAndChangesNothing) {
  Tensor w = ones({2, 2}).requires_grad_();
  optim::Adam opt({w}, optim::AdamOptions(0.1));
  w.set_grad(ones({2, 2}));
  opt.step();
  const nn::NamedTensors good = opt.state_dict();

  auto with = [&](const std::string& key, const Tensor& value) {
    nn::NamedTensors dict;
    for (const auto& [k, t] : good) dict.emplace_back(k, k == key ? value : t);
    return dict;
  };
  auto without = [&](const std::string& key) {
    nn::NamedTensors dict;
    for (const auto& [k, t] : good)
      if (k != key) dict.emplace_back(k, t);
    return dict;
  };
  nn::NamedTensors extra = good;
  extra.emplace_back("state.0.momentum_buffer", ones({2, 2}));

  Tensor other = ones({2, 2}).requires_grad_();
  optim::Adam target({other}, optim::AdamOptions(0.3));
  EXPECT_EQ(error_of([&] { target.load_state_dict(with("state.0.exp_avg", ones({4}))); }),
            "Adam.load_state_dict: \"state.0.exp_avg\" is float32 (4) but parameter 0 is float32 (2, 2)");
  EXPECT_EQ(error_of([&] { target.load_state_dict(without("state.0.exp_avg_sq")); }),
            "Adam.load_state_dict: missing \"state.0.exp_avg_sq\" (parameter 0 has taken 1 steps)");
  EXPECT_EQ(error_of([&] { target.load_state_dict(without("param_groups.0.lr")); }),
            "Adam.load_state_dict: missing \"param_groups.0.lr\"");
  EXPECT_EQ(error_of([&] { target.load_state_dict(with("param_groups.0.beta1", scalar_tensor(1.0, kFloat64))); }),
            "Adam.load_state_dict: invalid betas[0] (beta1): 1 (must be in [0, 1))");
  EXPECT_EQ(error_of([&] { target.load_state_dict(extra); }),
            "Adam.load_state_dict: 1 unexpected keys (state.0.momentum_buffer); is it the state of "
            "another optimizer, or of one with other parameter groups?");
  // Two parameters in the dict's group, one here.
  Tensor u = ones({2, 2}).requires_grad_(), v = ones({2, 2}).requires_grad_();
  optim::Adam two({u, v}, optim::AdamOptions(0.1));
  EXPECT_EQ(error_of([&] { target.load_state_dict(two.state_dict()); }),
            "Adam.load_state_dict: parameter group 0 holds 1 parameters, the dict's holds 2");
  // Nothing changed.
  EXPECT_EQ(target.param_groups()[0].options().get_lr(), 0.3);
  EXPECT_TRUE(target.state(0).empty());
}

// ---- threads ---------------------------------------------------------------------------------------

TEST(OptimizerTest, FusedAdamWGivesTheSameBitsWithOneOrManyThreads) {
  const int threads = get_num_threads();
  std::vector<std::vector<float>> results;
  for (int n : {1, 4}) {
    set_num_threads(n);
    manual_seed(11);
    Tensor w = randn({300, 401}).requires_grad_();  // several chunks, with a ragged tail
    optim::AdamW opt({w}, optim::AdamWOptions(1e-2).weight_decay(0.1).amsgrad(true));
    for (int s = 0; s < 3; ++s) {
      w.set_grad(randn({300, 401}));
      opt.step();
    }
    results.push_back(w.to_vector<float>());
  }
  set_num_threads(threads);
  EXPECT_EQ(results[0], results[1]);
}

TEST(OptimizerTest, OnePassOverAllParametersEqualsSteppingEachAlone) {
  // step() runs every parameter's Adam update in one parallel_for over chunks of all of them.
  // Each parameter must end exactly where an optimizer holding it alone puts it: many small
  // tensors, one larger than a chunk, and a strided view (updated in a copy, then written back);
  // with 1 and 2 threads.
  const int threads = get_num_threads();
  for (int n : {1, 2}) {
    set_num_threads(n);
    manual_seed(12);
    Tensor base = randn({40, 30});
    TensorList together{randn({7}), randn({300, 130}), randn({3, 5}), base.t().detach()};
    for (int i = 0; i < 20; ++i) together.push_back(randn({i + 1, 3}));
    TensorList alone;
    for (Tensor& p : together) {
      alone.push_back(p.detach().clone().requires_grad_());
      p.requires_grad_();
    }
    ASSERT_FALSE(together[3].is_contiguous());
    optim::AdamW joint(together, optim::AdamWOptions(1e-2).weight_decay(0.1));
    std::vector<std::unique_ptr<optim::AdamW>> single;
    for (const Tensor& p : alone)
      single.push_back(
          std::make_unique<optim::AdamW>(TensorList{p}, optim::AdamWOptions(1e-2).weight_decay(0.1)));
    for (int s = 0; s < 3; ++s) {
      for (size_t i = 0; i < together.size(); ++i) {
        const Tensor g = randn(together[i].shape());
        together[i].set_grad(g);
        alone[i].set_grad(g.clone());
        single[i]->step();
      }
      joint.step();
    }
    for (size_t i = 0; i < together.size(); ++i)
      EXPECT_EQ(together[i].to_vector<float>(), alone[i].to_vector<float>())
          << n << " threads, parameter " << i;
  }
  set_num_threads(threads);
}
