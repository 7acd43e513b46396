// checkpoint_test.cpp: safetensors save and load. Round trips of every dtype (0-d and
// zero-size too), the byte layout the format prescribes, one test per kind of malformed file
// (each must be a clear Error naming the file, never a crash or a partial load), a save that
// fails midway keeping the old file, Module state dicts through a file, and the Python
// inspector reading what we wrote.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "nn/checkpoint.h"
#include "nn/gpt.h"

using namespace ag;
namespace fs = std::filesystem;

namespace {

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("attograd_checkpoint_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes a file by hand: the 8-byte length (header.size() unless given), header, data.
  std::string write_raw(const std::string& name, const std::string& header,
                        const std::string& data, std::optional<uint64_t> length = {}) {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    const uint64_t n = length.value_or(header.size());
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header << data;
    return p;
  }

  // The message of load(p)'s Error, which must name the file.
  std::string load_error(const std::string& p) {
    try {
      load(p);
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("load: \"" + p + "\": ", 0), 0u) << what;
      return what.substr(std::min(what.size(), 10 + p.size()));  // after load: "<p>": 
    }
    ADD_FAILURE() << "load(" << p << ") did not throw";
    return "";
  }

  fs::path dir_;
};

std::string bytes_of(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

void expect_same(const Tensor& a, const Tensor& b, const std::string& name) {
  ASSERT_TRUE(a.defined() && b.defined()) << name;
  EXPECT_EQ(a.dtype(), b.dtype()) << name;
  EXPECT_EQ(a.shape(), b.shape()) << name;
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>()) << name;
}

}  // namespace

// ---- round trips ---------------------------------------------------------------------------------

TEST_F(CheckpointTest, RoundTripsEveryDTypeIncludingScalarsAndEmptyTensors) {
  manual_seed(0);
  const nn::NamedTensors tensors = {
      {"f32", randn({3, 4})},
      {"f64", randn({2, 5}, kFloat64)},
      {"i64", from_vector<int64_t>({-1, 0, 1LL << 40}, {3})},
      {"bool", from_vector<bool>({true, false, true}, {3})},
      {"scalar", scalar_tensor(2.5, kFloat64)},
      {"empty", zeros({0, 3})},
      {"empty_bool", zeros({0}, kBool)},
      {"view", randn({4, 3}).t()},  // not contiguous: saved as its values, row-major
      {"nested.name.0.weight", randn({2})},
  };
  const std::map<std::string, std::string> metadata = {
      {"step", "50"}, {"quote\"and\\slash", "line\nbreak \t tab"}, {"unicode", "λ → ∞"}};
  save(path("a.safetensors"), tensors, metadata);
  const Checkpoint loaded = load(path("a.safetensors"));
  EXPECT_EQ(loaded.metadata, metadata);
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) expect_same(loaded.at(name), t, name);
  // Sorted by name, and fresh leaves.
  for (size_t i = 1; i < loaded.tensors.size(); ++i)
    EXPECT_LT(loaded.tensors[i - 1].first, loaded.tensors[i].first);
  EXPECT_FALSE(loaded.at("f32").requires_grad());
  EXPECT_THROW(loaded.at("missing"), Error);
}

TEST_F(CheckpointTest, TheFileIsLaidOutAsTheFormatSays) {
  save(path("b.safetensors"), {{"b", from_vector<bool>({true}, {1})},
                               {"a", from_vector<float>({1.0f, 2.0f}, {2})},
                               {"c", from_vector<double>({3.0}, {1})}},
       {{"k", "v"}});
  std::ifstream in(path("b.safetensors"), std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);  // padded so the data starts 8-aligned
  const std::string header = file.substr(8, n);
  EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1),
            "{\"__metadata__\":{\"k\":\"v\"},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
            "\"b\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[16,17]},"
            "\"c\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}");
  EXPECT_EQ(file.size(), 8 + n + 17);
  double c = 0;
  std::memcpy(&c, file.data() + 8 + n, 8);  // widest first: c's bytes open the data section
  EXPECT_EQ(c, 3.0);
}

TEST_F(CheckpointTest, SaveRefusesBadNames) {
  EXPECT_THROW(save(path("x"), {{"a", ones({1})}, {"a", ones({1})}}), Error);
  EXPECT_THROW(save(path("x"), {{"", ones({1})}}), Error);
  EXPECT_THROW(save(path("x"), {{"__metadata__", ones({1})}}), Error);
  EXPECT_THROW(save(path("x"), {{"a", Tensor()}}), Error);
  EXPECT_FALSE(fs::exists(path("x")));
}

// ---- malformed files: one test each --------------------------------------------------------------

TEST_F(CheckpointTest, AFileShorterThan8BytesIsRejected) {
  const std::string p = path("short");
  std::ofstream(p, std::ios::binary) << "abcde";
  EXPECT_EQ(load_error(p), "the file is 5 bytes, shorter than the 8-byte header length "
                           "(not a safetensors file, or truncated)");
}

TEST_F(CheckpointTest, AHeaderLengthPastTheEndIsRejected) {
  const std::string p = write_raw("past", "{}", "", 1000);
  EXPECT_EQ(load_error(p), "the header length 1000 runs past the end of the file (10 bytes, "
                           "so at most 2 of header)");
}

TEST_F(CheckpointTest, AnAbsurdHeaderLengthIsRejected) {
  const std::string p = write_raw("absurd", "{}", "", uint64_t{1} << 62);
  EXPECT_EQ(load_error(p), "the header length 4611686018427387904 is absurd (the limit is "
                           "104857600 bytes): not a safetensors file?");
}

TEST_F(CheckpointTest, BadJsonIsRejectedWithItsPosition) {
  EXPECT_EQ(load_error(write_raw("bad1", "{\"a\": {\"dtype\": \"F32\",", "")),
            "the header is not valid JSON: expected a string key at byte 22 of the header");
  EXPECT_EQ(load_error(write_raw("bad2", "{\"a\" 1}", "")),
            "the header is not valid JSON: expected ':' at byte 5 of the header");
  EXPECT_EQ(load_error(write_raw("bad3", "{} x", "")),
            "the header is not valid JSON: unexpected text after the JSON value at byte 3 of the header");
  EXPECT_EQ(load_error(write_raw("bad4", "[1, 2]", "")), "the header is not a JSON object");
  EXPECT_EQ(load_error(write_raw("bad5", std::string("{\"\xff\": 1}"), "")),
            "the header is not valid JSON: a string that is not valid UTF-8 at byte 4 of the header");
  EXPECT_EQ(load_error(write_raw("deep", std::string(100000, '['), "")),
            "the header is not valid JSON: nested deeper than 64 levels at byte 65 of the header");
}

TEST_F(CheckpointTest, AnUnknownDTypeIsRejected) {
  const std::string p = write_raw(
      "f16", "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", "abcd");
  EXPECT_EQ(load_error(p), "tensor \"h\" has dtype \"F16\", which attograd cannot hold (it reads "
                           "F32, F64, I64 and BOOL)");
}

TEST_F(CheckpointTest, AShapeThatDoesNotMatchItsBytesIsRejected) {
  const std::string p = write_raw(
      "mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}",
      std::string(20, '\0'));
  EXPECT_EQ(load_error(p), "tensor \"w\": shape (2, 3) of F32 needs 24 bytes, but data_offsets "
                           "[0, 20] hold 20");
  // A shape so large that numel * 4 wraps around 2^64 must not sneak through as a small size.
  const std::string wrap = write_raw(
      "wrap", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}", "");
  EXPECT_NE(load_error(wrap).find("needs 18446744073709551615 bytes"), std::string::npos);
}

TEST_F(CheckpointTest, BadFieldsAreRejected) {
  EXPECT_EQ(load_error(write_raw("neg", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
                                 "abcd")),
            "tensor \"w\" has a shape entry \"-1\" that is not a non-negative integer");
  EXPECT_EQ(load_error(write_raw("frac", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
                                 "abcd")),
            "tensor \"w\" has a shape entry \"1.5\" that is not a non-negative integer");
  EXPECT_EQ(load_error(write_raw("three", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}",
                                 "abcd")),
            "tensor \"w\" has data_offsets that are not two non-negative integers [begin, end]");
  EXPECT_EQ(load_error(write_raw("backwards", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",
                                 "abcd")),
            "tensor \"w\" has data_offsets [4, 0] that end before they begin");
  EXPECT_EQ(load_error(write_raw("lacks", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "abcd")),
            "tensor \"w\" lacks \"shape\"");
  EXPECT_EQ(load_error(write_raw("extra", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}",
                                 "abcd")),
            "tensor \"w\" has an unknown field \"x\"");
  EXPECT_EQ(load_error(write_raw("meta", "{\"__metadata__\":{\"step\":50}}", "")),
            "metadata \"step\" is not a string (the format allows only strings)");
}

TEST_F(CheckpointTest, OffsetsOutOfRangeAreRejected) {
  const std::string p = write_raw(
      "range", "{\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}",
      std::string(16, '\0'));
  EXPECT_EQ(load_error(p), "tensor \"w\" has data_offsets [0, 24] past the end of the data "
                           "section (16 bytes; truncated file?)");
}

TEST_F(CheckpointTest, OverlappingOffsetsAreRejected) {
  const std::string p = write_raw(
      "overlap",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
      std::string(12, '\0'));
  EXPECT_EQ(load_error(p), "tensors \"a\" [0, 8] and \"b\" [4, 12] overlap");
}

TEST_F(CheckpointTest, GapsBetweenTensorsAreRejected) {
  const std::string p = write_raw(
      "gap",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
      std::string(20, '\0'));
  EXPECT_EQ(load_error(p), "a gap of 4 bytes before tensor \"b\" [12, 20]: the data section must "
                           "be tiled exactly");
}

TEST_F(CheckpointTest, DuplicateNamesAreRejected) {
  const std::string p = write_raw(
      "dup",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
      std::string(8, '\0'));
  EXPECT_EQ(load_error(p), "the header is not valid JSON: duplicate key \"a\" at byte 54 of the header");
}

TEST_F(CheckpointTest, TrailingGarbageIsRejected) {
  const std::string p = write_raw(
      "trailing", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
      bytes_of({1, 2}) + "junk");
  EXPECT_EQ(load_error(p), "4 bytes of trailing garbage after the last tensor (the data section "
                           "is 12 bytes, the tensors cover 8)");
}

TEST_F(CheckpointTest, ABoolByteOtherThan0Or1IsRejected) {
  const std::string p = write_raw(
      "bool", "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}",
      std::string("\x01\x00\x02", 3));
  EXPECT_EQ(load_error(p), "tensor \"m\" is BOOL but its byte 2 is 2 (must be 0 or 1)");
}

TEST_F(CheckpointTest, AMissingFileIsAClearError) {
  EXPECT_EQ(load_error(path("nope")), "cannot open: No such file or directory");
}

TEST_F(CheckpointTest, EveryTruncationOfAGoodFileIsRejected) {
  // Cut a real checkpoint at every length: each prefix must fail cleanly, never load.
  save(path("good"), {{"w", from_vector<float>({1, 2, 3}, {3})}, {"b", from_vector<bool>({true}, {1})}},
       {{"k", "v"}});
  std::ifstream in(path("good"), std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t cut = 0; cut < file.size(); ++cut) {
    const std::string p = path("cut");
    std::ofstream(p, std::ios::binary | std::ios::trunc) << file.substr(0, cut);
    EXPECT_THROW(load(p), Error) << "cut at " << cut;
  }
}

TEST_F(CheckpointTest, RandomCorruptionsNeverCrashOrLoadGarbageShapes) {
  // Flip a few random bytes of a good file, many times: every load either fails with an Error
  // or returns tensors whose bytes fit their shapes. (Run under ASan, this is a small fuzzer.)
  save(path("good"), {{"w", from_vector<float>({1, 2, 3, 4}, {2, 2})},
                      {"ids", from_vector<int64_t>({5, 6}, {2})},
                      {"m", from_vector<bool>({true, false}, {2})}},
       {{"step", "9"}});
  std::ifstream in(path("good"), std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(path("corrupt"), std::ios::binary) << file;
  Generator generator(42);
  int loaded = 0;
  for (int round = 0; round < 500; ++round) {
    std::string bad = file;
    const int flips = 1 + static_cast<int>(generator.next_u64() % 3);
    for (int f = 0; f < flips; ++f) {
      const uint64_t r = generator.next_u64();
      bad[r % bad.size()] = static_cast<char>(r >> 32);
    }
    const std::string p = path("corrupt");
    // Overwritten in place (same size): truncating a file costs milliseconds on some disks.
    std::ofstream(p, std::ios::binary | std::ios::in | std::ios::out) << bad;
    try {
      const Checkpoint c = load(p);
      for (const auto& [name, t] : c.tensors) EXPECT_EQ(t.numel(), t.shape().numel()) << name;
      ++loaded;
    } catch (const Error&) {
    }
  }
  EXPECT_GT(loaded, 0);  // flips inside float data still load: the check is not "reject all"
}

// ---- interrupted saves --------------------------------------------------------------------------

TEST_F(CheckpointTest, ASaveThatFailsMidwayLeavesTheOldFileLoadable) {
  const std::string p = path("ckpt.safetensors");
  save(p, {{"w", from_vector<float>({1, 2, 3}, {3})}}, {{"step", "1"}});
  for (uint64_t fail_at : {0, 5, 40, 100}) {
    ag::testing::fail_next_save_after(fail_at);  // the disk fills up after fail_at bytes
    try {
      save(p, {{"w", from_vector<float>(std::vector<float>(1000, 9.0f), {1000})}}, {{"step", "2"}});
      FAIL() << "the save should have failed at " << fail_at;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("No space left on device (after " +
                                           std::to_string(fail_at) + " of "),
                std::string::npos)
          << e.what();
    }
    const Checkpoint old = load(p);
    EXPECT_EQ(old.metadata.at("step"), "1");
    EXPECT_EQ(old.at("w").to_vector<float>(), (std::vector<float>{1, 2, 3}));
  }
  // No temporary file is left behind, and the hook was one-shot: the next save succeeds.
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename(), "ckpt.safetensors");
  save(p, {{"w", ones({2})}}, {{"step", "3"}});
  EXPECT_EQ(load(p).metadata.at("step"), "3");
}

// ---- modules ----------------------------------------------------------------------------------

namespace {
class Net : public nn::Module {
 public:
  explicit Net(int64_t width = 3) {
    weight = register_parameter("weight", randn({width, 2}));
    bias = register_parameter("bias", randn({width}));
    running = register_buffer("running", randn({width}));
  }
  Tensor weight, bias, running;
};
}  // namespace

TEST_F(CheckpointTest, AModuleStateDictRoundTripsThroughAFile) {
  manual_seed(1);
  Net a;
  Net b;  // different random values
  save(path("net"), a.state_dict());
  b.load_state_dict(load(path("net")).tensors);
  expect_same(b.weight, a.weight, "weight");
  expect_same(b.bias, a.bias, "bias");
  expect_same(b.running, a.running, "running");
  EXPECT_TRUE(b.weight.requires_grad());  // loaded in place: still the module's parameter
}

TEST_F(CheckpointTest, StrictLoadingListsEveryMismatch) {
  manual_seed(2);
  Net wide(4);
  nn::NamedTensors dict = load([&] {
                            save(path("net"), Net(3).state_dict());
                            return path("net");
                          }()).tensors;
  dict.emplace_back("stray", ones({1}));
  std::erase_if(dict, [](const auto& e) { return e.first == "running"; });
  try {
    wide.load_state_dict(dict);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("missing keys: running;"), std::string::npos) << what;
    EXPECT_NE(what.find("unexpected keys: stray;"), std::string::npos) << what;
    EXPECT_NE(what.find("weight: module (4, 2) vs dict (3, 2)"), std::string::npos) << what;
    EXPECT_NE(what.find("bias: module (4) vs dict (3)"), std::string::npos) << what;
  }
  const auto result = wide.load_state_dict(dict, /*strict=*/false);
  EXPECT_EQ(result.missing_keys, (std::vector<std::string>{"running"}));
  EXPECT_EQ(result.unexpected_keys, (std::vector<std::string>{"stray"}));
}

TEST_F(CheckpointTest, AGPTSavesUnderNanoGPTsNamesAndLoadsBack) {
  nn::GPTConfig config;
  config.block_size = 8;
  config.vocab_size = 16;
  config.n_layer = 1;
  config.n_head = 2;
  config.n_embd = 8;
  manual_seed(3);
  nn::GPT a(config);
  manual_seed(4);
  nn::GPT b(config);
  save(path("gpt.safetensors"), a.state_dict());
  const Checkpoint loaded = load(path("gpt.safetensors"));
  for (const char* name : {"transformer.wte.weight", "transformer.wpe.weight",
                           "transformer.h.0.attn.c_attn.weight", "transformer.h.0.mlp.c_proj.bias",
                           "transformer.ln_f.weight", "lm_head.weight"})
    EXPECT_TRUE(loaded.contains(name)) << name;
  EXPECT_EQ(loaded.at("transformer.h.0.attn.c_attn.weight").shape(), (Shape{24, 8}));  // (out, in)
  b.load_state_dict(loaded.tensors);
  for (const auto& [name, t] : a.state_dict()) {
    const auto mine = b.state_dict();
    for (const auto& [other_name, u] : mine)
      if (other_name == name) expect_same(u, t, name);
  }
}

// ---- the Python inspector ---------------------------------------------------------------------------

TEST_F(CheckpointTest, ThePythonInspectorListsTensorsAndMetadata) {
  if (std::system("python3 --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  save(path("i.safetensors"), {{"w", zeros({2, 3})}, {"ids", zeros({4}, kInt64)}}, {{"step", "7"}});
  const std::string command = std::string("python3 ") + AG_SOURCE_DIR +
                              "/examples/inspect_checkpoint.py " + path("i.safetensors") + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  ASSERT_TRUE(pipe);
  std::string output;
  char buffer[256];
  while (fgets(buffer, sizeof buffer, pipe.get())) output += buffer;
  EXPECT_NE(output.find("w     F32    (2, 3)                          24"), std::string::npos) << output;
  EXPECT_NE(output.find("ids   I64    (4)                             32"), std::string::npos) << output;
  EXPECT_NE(output.find("2 tensors, 56 bytes of data"), std::string::npos) << output;
  EXPECT_NE(output.find("step = 7"), std::string::npos) << output;
}
