#include "flb/hf/llama_checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "flb/core/error.h"
#include "flb/hf/safetensors.h"

namespace flb::hf {
namespace {

namespace fs = std::filesystem;

model::LlamaConfig tiny(const std::string& arch) {
  model::LlamaConfig c;
  c.architecture = arch;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 3;  // H*D = 12 != C: q/o shapes must follow head_dim, not hidden_size
  c.max_position_embeddings = 64;
  c.torch_dtype = "bfloat16";
  if (arch == "Qwen2ForCausalLM") c.qkv_bias = true;
  return c;
}

// Writes every tensor llama_tensor_shapes() names, except `skip`, with
// `reshape` given a different shape, and opens the file.
SafetensorsCheckpoint write_checkpoint(const model::LlamaConfig& c, const std::string& skip = "",
                                       const std::string& reshape = "", torch::ScalarType dtype = torch::kBFloat16) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const ExpectedTensor& e : llama_tensor_shapes(c)) {
    if (e.name == skip) continue;
    std::vector<int64_t> shape = e.shape;
    if (e.name == reshape) shape[0] += 1;
    tensors.emplace_back(e.name, torch::zeros(shape, dtype));
  }
  tensors.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", torch::zeros({2}));  // ignored
  const std::string path = ::testing::TempDir() + "flb_hf_llama_" + std::to_string(getpid()) + ".safetensors";
  write_safetensors(path, tensors);
  return SafetensorsCheckpoint::open(path);
}

void expect_mismatch(const model::LlamaConfig& c, const SafetensorsCheckpoint& ckpt, const std::vector<std::string>& needles) {
  try {
    check_checkpoint_matches(c, ckpt);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    std::printf("  %s\n", e.what());
    EXPECT_NE(std::string(e.what()).find(ckpt.path()), std::string::npos) << e.what();
    for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " (missing: " << n << ")";
  }
}

TEST(HfLlamaCheckpoint, NamesAndShapesFollowHuggingFace) {
  const auto names = llama_tensor_shapes(tiny("LlamaForCausalLM"));
  ASSERT_EQ(names.size(), 1u + 2 * 9 + 1 + 1);
  EXPECT_EQ(names.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(names.front().shape, (std::vector<int64_t>{11, 8}));
  EXPECT_EQ(names[2].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(names[2].shape, (std::vector<int64_t>{12, 8}));
  EXPECT_EQ(names[3].name, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(names[3].shape, (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(names[5].name, "model.layers.0.self_attn.o_proj.weight");
  EXPECT_EQ(names[5].shape, (std::vector<int64_t>{8, 12}));
  EXPECT_EQ(names[9].name, "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(names[9].shape, (std::vector<int64_t>{8, 12}));
  EXPECT_EQ(names.back().name, "lm_head.weight");
  model::LlamaConfig tied = tiny("LlamaForCausalLM");
  tied.tie_word_embeddings = true;
  EXPECT_EQ(llama_tensor_shapes(tied).back().name, "model.norm.weight");
  const auto qwen = llama_tensor_shapes(tiny("Qwen2ForCausalLM"));
  EXPECT_EQ(qwen.size(), names.size() + 2 * 3);  // q, k, v biases
  EXPECT_EQ(qwen[3].name, "model.layers.0.self_attn.q_proj.bias");
  EXPECT_EQ(qwen[3].shape, (std::vector<int64_t>{12}));
}

TEST(HfLlamaCheckpoint, AcceptsACompleteCheckpointAndNamesWhatIsWrong) {
  for (const std::string arch : {"LlamaForCausalLM", "Qwen2ForCausalLM"}) {
    const model::LlamaConfig c = tiny(arch);
    EXPECT_NO_THROW(check_checkpoint_matches(c, write_checkpoint(c))) << arch;
    expect_mismatch(c, write_checkpoint(c, "model.layers.1.mlp.up_proj.weight"),
                    {"'model.layers.1.mlp.up_proj.weight'", "missing", "[12, 8]"});
    expect_mismatch(c, write_checkpoint(c, "", "model.layers.0.self_attn.k_proj.weight"),
                    {"'model.layers.0.self_attn.k_proj.weight'", "shape [7, 8]", "config.json says [6, 8]"});
    expect_mismatch(c, write_checkpoint(c, "", "", torch::kFloat16), {"'model.embed_tokens.weight'", "dtype F16", "BF16"});
    expect_mismatch(c, write_checkpoint(c, "lm_head.weight"), {"'lm_head.weight'", "missing"});
  }
  const model::LlamaConfig qwen = tiny("Qwen2ForCausalLM");
  expect_mismatch(qwen, write_checkpoint(qwen, "model.layers.0.self_attn.v_proj.bias"),
                  {"'model.layers.0.self_attn.v_proj.bias'", "missing", "[6]"});
}

}  // namespace
}  // namespace flb::hf
