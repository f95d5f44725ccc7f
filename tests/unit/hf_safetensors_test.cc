#include "flb/hf/safetensors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "flb/core/error.h"

namespace flb::hf {
namespace {

namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "flb_hf_" + std::to_string(getpid()) + "_" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Runs `command` and returns its exit status and output (stdout + stderr).
std::pair<int, std::string> run(const std::string& command) {
  std::FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const std::string kRefScript = std::string(FLB_TEST_UNIT_DIR) + "/hf_safetensors_ref.py";

// One line of the reference's expected.txt.
struct Expected {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<double> values;
};

// {file: {tensor: Expected}} from expected.txt.
std::map<std::string, std::map<std::string, Expected>> read_expected(const std::string& path) {
  std::map<std::string, std::map<std::string, Expected>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string file, name, shape, v;
    Expected e;
    if (!(s >> file >> name >> e.dtype >> shape)) continue;
    if (shape != "-") {
      std::istringstream d(shape);
      std::string dim;
      while (std::getline(d, dim, ',')) e.shape.push_back(std::stoll(dim));
    }
    while (s >> v) e.values.push_back(std::strtod(v.c_str(), nullptr));
    out[file][name] = e;
  }
  return out;
}

bool same_bytes(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.contiguous(), y = b.contiguous();
  return x.scalar_type() == y.scalar_type() && x.sizes() == y.sizes() &&
         (x.numel() == 0 ||  // an empty tensor's data_ptr() is null, which memcmp must not get
          std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0);
}

// Compares a read tensor with the reference's values: prints the max
// difference, and checks the bytes equal the values cast to the dtype.
double max_difference(const torch::Tensor& got, const Expected& e, const std::string& what) {
  EXPECT_EQ(got.sizes().vec(), e.shape) << what;
  const torch::Tensor ref = torch::tensor(e.values, torch::kFloat64).reshape(e.shape);
  const torch::Tensor g = got.to(torch::kFloat64);
  double diff = 0;
  const auto ga = g.contiguous(), ra = ref.contiguous();
  for (int64_t i = 0; i < ga.numel(); ++i) {
    const double x = ga.data_ptr<double>()[i], y = ra.data_ptr<double>()[i];
    if (x != y) diff = std::max(diff, std::isfinite(x - y) ? std::fabs(x - y) : INFINITY);
  }
  EXPECT_TRUE(same_bytes(got, ref.to(got.scalar_type()))) << what << ": bytes differ from the reference";
  return diff;
}

class HfSafetensorsReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(temp_dir("ref"));
    const auto [rc, out] = run(std::string(FLB_TEST_PYTHON) + " " + kRefScript + " write " + *dir_);
    write_rc_ = rc;
    write_out_ = new std::string(out);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete write_out_;
  }
  void SetUp() override {
    ASSERT_EQ(write_rc_, 0) << "the Python reference (" << FLB_TEST_PYTHON << " with torch) failed:\n" << *write_out_;
    expected_ = read_expected(*dir_ + "/expected.txt");
  }
  // Reads every tensor the reference wrote into `file` through `ckpt` and
  // returns the max difference (tolerance 0), printing it per tensor.
  double compare(const SafetensorsCheckpoint& ckpt, const std::string& file) {
    double worst = 0;
    const auto& tensors = expected_.at(file);
    for (const auto& [name, e] : tensors) {
      EXPECT_TRUE(ckpt.has(name)) << name;
      if (!ckpt.has(name)) continue;
      EXPECT_EQ(ckpt.info(name).dtype, e.dtype) << name;
      const double d = max_difference(ckpt.tensor(name), e, file + ":" + name);
      std::printf("  %-28s %-40s %-4s max |flbench - python| = %g\n", file.c_str(), name.c_str(), e.dtype.c_str(), d);
      worst = std::max(worst, d);
    }
    return worst;
  }
  static std::string* dir_;
  static std::string* write_out_;
  static int write_rc_;
  std::map<std::string, std::map<std::string, Expected>> expected_;
};
std::string* HfSafetensorsReference::dir_ = nullptr;
std::string* HfSafetensorsReference::write_out_ = nullptr;
int HfSafetensorsReference::write_rc_ = -1;

TEST_F(HfSafetensorsReference, ReadsFloatFilesBitwise) {
  for (const std::string file : {"f32.safetensors", "bf16.safetensors", "f16.safetensors"}) {
    const auto ckpt = SafetensorsCheckpoint::open(*dir_ + "/" + file);
    EXPECT_EQ(ckpt.names().size(), expected_.at(file).size());
    EXPECT_EQ(ckpt.metadata().at("format"), "pt");
    const double d = compare(ckpt, file);
    std::printf("%s: max |flbench - python| = %g (tolerance 0)\n", file.c_str(), d);
    EXPECT_EQ(d, 0.0) << file;
  }
}

TEST_F(HfSafetensorsReference, ReadsIntegerBoolF64AndUnalignedFiles) {
  for (const std::string file : {"ints.safetensors", "unaligned.safetensors"}) {
    const auto ckpt = SafetensorsCheckpoint::open(*dir_ + "/" + file);
    const double d = compare(ckpt, file);
    std::printf("%s: max |flbench - python| = %g (tolerance 0)\n", file.c_str(), d);
    EXPECT_EQ(d, 0.0) << file;
  }
}

TEST_F(HfSafetensorsReference, ReadsShardedCheckpointAndSingleFileDirectory) {
  const auto sharded = SafetensorsCheckpoint::open(*dir_ + "/sharded");
  EXPECT_EQ(sharded.num_files(), 2u);
  EXPECT_EQ(sharded.names().size(), 4u);
  EXPECT_EQ(sharded.metadata().at("total_size"), "184");
  double d = 0;
  for (const std::string shard : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
    d = std::max(d, compare(sharded, "sharded/" + shard));
  EXPECT_EQ(sharded.info("model.norm.weight").file, *dir_ + "/sharded/model-00002-of-00002.safetensors");
  const auto single = SafetensorsCheckpoint::open(*dir_ + "/single");
  d = std::max(d, compare(single, "single/model.safetensors"));
  std::printf("sharded + single-file directory: max |flbench - python| = %g (tolerance 0)\n", d);
  EXPECT_EQ(d, 0.0);
}

TEST_F(HfSafetensorsReference, TensorsViewTheMappingWithoutCopyAndOutliveTheCheckpoint) {
  torch::Tensor t;
  const void* first = nullptr;
  {
    const auto ckpt = SafetensorsCheckpoint::open(*dir_ + "/f32.safetensors");
    t = ckpt.tensor("model.embed_tokens.weight");
    first = t.data_ptr();
    EXPECT_EQ(ckpt.tensor("model.embed_tokens.weight").data_ptr(), first) << "two reads, two copies";
  }
  // The checkpoint is gone; the tensor keeps its mapping alive.
  const double d = max_difference(t, expected_.at("f32.safetensors").at("model.embed_tokens.weight"), "after close");
  EXPECT_EQ(d, 0.0);
  // Copy on write: an in-place change stays private.
  t.add_(1.0f);
  const auto again = SafetensorsCheckpoint::open(*dir_ + "/f32.safetensors");
  EXPECT_EQ(max_difference(again.tensor("model.embed_tokens.weight"),
                           expected_.at("f32.safetensors").at("model.embed_tokens.weight"), "file unchanged"),
            0.0);
}

// --- the writer, read back by the independent Python reader ----------------

std::string expected_text(const std::string& file, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::string out;
  for (const auto& [name, t] : tensors) {
    out += file + " " + name + " " + safetensors_dtype_name(t.scalar_type()) + " ";
    std::string shape;
    for (int64_t d : t.sizes()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    out += shape.empty() ? "-" : shape;
    const torch::Tensor v = t.to(torch::kFloat64).contiguous();
    char buf[64];
    for (int64_t i = 0; i < v.numel(); ++i) {
      std::snprintf(buf, sizeof buf, " %.17g", v.data_ptr<double>()[i]);
      out += buf;
    }
    out += "\n";
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> writer_tensors() {
  torch::manual_seed(7);
  return {
      {"model.embed_tokens.weight", torch::randn({6, 4})},
      {"model.layers.0.self_attn.q_proj.weight", torch::randn({4, 4}).to(torch::kBFloat16)},
      {"transposed", torch::randn({3, 5}).to(torch::kFloat16).t()},  // not contiguous
      {"edge", torch::tensor(std::vector<double>{INFINITY, -0.0, 3.4028234663852886e38, 1.401298464324817e-45}).to(torch::kFloat32)},
      {"ids", torch::tensor(std::vector<int64_t>{-3, 0, int64_t{1} << 40})},
      {"mask", torch::tensor({true, false, true})},
      {"empty", torch::zeros({0, 2})},
      {"scalar", torch::tensor(2.5, torch::kFloat64)},
  };
}

TEST(HfSafetensorsWriter, PythonReaderReadsWhatFlbenchWrites) {
  const std::string dir = temp_dir("writer");
  const std::string path = dir + "/adapter_model.safetensors";
  const auto tensors = writer_tensors();
  write_safetensors(path, tensors, {{"format", "pt"}});
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  std::ofstream(dir + "/expected.txt") << expected_text("adapter_model.safetensors", tensors);
  const auto [rc, out] = run(std::string(FLB_TEST_PYTHON) + " " + kRefScript + " check " + path + " " + dir + "/expected.txt");
  std::printf("%s", out.c_str());
  EXPECT_EQ(rc, 0) << out;
  fs::remove_all(dir);
}

TEST(HfSafetensorsWriter, RoundTripsBitwiseAndReplacesAtomically) {
  const std::string dir = temp_dir("roundtrip");
  const std::string path = dir + "/model.safetensors";
  std::ofstream(path) << "old contents";
  const auto tensors = writer_tensors();
  write_safetensors(path, tensors, {{"format", "pt"}, {"step", "3"}});
  const auto ckpt = SafetensorsCheckpoint::open(path);
  EXPECT_EQ(ckpt.names().size(), tensors.size());
  EXPECT_EQ(ckpt.metadata().at("step"), "3");
  for (const auto& [name, t] : tensors) EXPECT_TRUE(same_bytes(ckpt.tensor(name), t)) << name;
  // The header is padded: the first tensor's data is 8-aligned in the mapping.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ckpt.tensor("model.embed_tokens.weight").data_ptr()) % 8, 0u);
  fs::remove_all(dir);
}

TEST(HfSafetensorsWriter, RefusesBadNamesAndLeavesNoTmp) {
  const std::string dir = temp_dir("writer_bad");
  const std::string path = dir + "/x.safetensors";
  auto expect_error = [&](const std::vector<std::pair<std::string, torch::Tensor>>& t, const std::string& needle) {
    try {
      write_safetensors(path, t);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(path + ".tmp"));
  };
  expect_error({{"a", torch::zeros({1})}, {"a", torch::zeros({1})}}, "'a': given twice");
  expect_error({{"__metadata__", torch::zeros({1})}}, "__metadata__");
  expect_error({{"c", torch::zeros({1}, torch::kComplexFloat)}}, "'c'");
  try {
    write_safetensors(dir + "/no/such/dir/x.safetensors", {{"a", torch::zeros({1})}});
    ADD_FAILURE() << "no error for a missing directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// --- malformed files: every error names the file and the tensor ------------

// A file: u64 length (or `length`), `header`, `data_bytes` zero bytes.
std::string write_raw(const std::string& path, const std::string& header, size_t data_bytes, int64_t length = -1) {
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = length < 0 ? header.size() : static_cast<uint64_t>(length);
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header << std::string(data_bytes, '\0');
  return path;
}

void expect_open_error(const std::string& path, const std::vector<std::string>& needles) {
  try {
    SafetensorsCheckpoint::open(path);
    ADD_FAILURE() << "no error opening " << path;
  } catch (const Error& e) {
    std::printf("  %s\n", e.what());
    for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << "\n(missing: " << n << ")";
  }
}

TEST(HfSafetensorsMalformed, EveryBrokenHeaderNamesFileAndTensor) {
  const std::string dir = temp_dir("malformed");
  const std::string f = dir + "/bad.safetensors";
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  {
    std::ofstream(f, std::ios::binary) << "abcd";
    expect_open_error(f, {f, "truncated"});
  }
  expect_open_error(write_raw(f, ok, 16, 1 << 20), {f, "header length 1048576", "past the end"});
  expect_open_error(write_raw(f, ok, 8), {f, "'w'", "past the end of the data"});  // data truncated
  expect_open_error(write_raw(f, "{\"w\": [1,", 0), {f, "not valid JSON"});
  expect_open_error(write_raw(f, "[1, 2]", 0), {f, "not an object"});
  expect_open_error(write_raw(f, R"({"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", 8), {f, "'w'", "unknown dtype 'F7'"});
  expect_open_error(write_raw(f, R"({"w":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}})", 4), {f, "'w'", "U16", "LibTorch"});
  expect_open_error(write_raw(f, R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", 16),
                    {f, "'w'", "shape [2, 3]", "24 bytes", "[0, 16]"});
  expect_open_error(write_raw(f, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8), {f, "'w'", "begin > end"});
  expect_open_error(write_raw(f, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), {f, "'w'", "past the end of the data"});
  expect_open_error(write_raw(f, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16),
                    {f, "'b'", "overlap", "'a'"});
  expect_open_error(write_raw(f, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16), {f, "'a'", "unused"});
  expect_open_error(write_raw(f, ok, 20), {f, "4 bytes after the last tensor"});
  expect_open_error(write_raw(f, R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), {f, "'w'", "shape"});
  expect_open_error(write_raw(f, R"({"w":{"dtype":"F32","shape":[2]}})", 8), {f, "'w'", "data_offsets"});
  expect_open_error(write_raw(f, R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), {f, "'w'", "dtype"});
  expect_open_error(write_raw(f, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                 R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                    {f, "'w' twice"});
  expect_open_error(write_raw(f, R"({"__metadata__":{"step":3},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
                    {f, "__metadata__", "step"});
  expect_open_error(dir + "/missing.safetensors", {dir + "/missing.safetensors", "no such file"});
  expect_open_error(dir, {dir, "model.safetensors.index.json", "model.safetensors"});
  // A good file opens, and a missing tensor is an error naming it.
  const auto ckpt = SafetensorsCheckpoint::open(write_raw(f, ok, 16));
  try {
    ckpt.tensor("nope");
    ADD_FAILURE() << "no error for a missing tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(HfSafetensorsMalformed, ShardedIndexDisagreeingWithShardsNamesTensorAndFiles) {
  const std::string dir = temp_dir("shards");
  const std::string s1 = dir + "/model-00001-of-00002.safetensors", s2 = dir + "/model-00002-of-00002.safetensors";
  const std::string index = dir + "/model.safetensors.index.json";
  auto entry = [](const std::string& name) {
    return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
  };
  auto write_index = [&](const std::string& weight_map) {
    std::ofstream(index) << "{\"metadata\":{\"total_size\":8},\"weight_map\":{" << weight_map << "}}";
  };
  write_raw(s1, "{" + entry("a") + "}", 4);
  write_raw(s2, "{" + entry("b") + "}", 4);
  write_index(R"("a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors")");
  EXPECT_EQ(SafetensorsCheckpoint::open(dir).names(), (std::vector<std::string>{"a", "b"}));

  // The index names a tensor its shard lacks.
  write_index(R"("a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors",)"
              R"("c":"model-00002-of-00002.safetensors")");
  expect_open_error(dir, {index, "'c'", s2, "does not hold it"});
  // The index puts a tensor in the wrong shard.
  write_index(R"("a":"model-00002-of-00002.safetensors","b":"model-00002-of-00002.safetensors",)"
              R"("c":"model-00001-of-00002.safetensors")");
  expect_open_error(dir, {index, "'a'", s2, "but it is in " + s1});
  // A tensor in a shard that the index does not list.
  write_index(R"("a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors")");
  write_raw(s2, "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
  expect_open_error(dir, {s2, "'x'", "not named in " + index});
  // The same tensor in two shards.
  write_raw(s2, "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
  write_index(R"("a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors")");
  expect_open_error(dir, {"'a'", s1, s2, "one shard only"});
  // A shard that is not there, a broken shard, a bad index.
  write_raw(s2, "{" + entry("b") + "}", 4);
  write_index(R"("a":"model-00001-of-00002.safetensors","b":"model-00003-of-00002.safetensors")");
  expect_open_error(dir, {dir + "/model-00003-of-00002.safetensors", "cannot open"});
  write_index(R"("a":"model-00001-of-00002.safetensors","b":"../model-00002-of-00002.safetensors")");
  expect_open_error(dir, {index, "'b'", "not a file name"});
  write_raw(s2, "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,4]}}", 4);
  write_index(R"("a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors")");
  expect_open_error(dir, {s2, "'b'", "shape [3]"});
  std::ofstream(index) << R"({"metadata":{}})";
  expect_open_error(dir, {index, "weight_map"});
  std::ofstream(index) << "not json";
  expect_open_error(dir, {index, "not valid JSON"});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flb::hf
