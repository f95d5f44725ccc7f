// The LoRA family's shared pieces (ALGORITHMS.md, "Baselines", "FedSRD").
//
// A LoRA layer is a LowRankLayer with one pair: y = W0 x + s B A x, W0
// frozen (pretrained), B = up(0) (d_out, r) starting at 0, A = down(0)
// (r, d_in) Kaiming-uniform, s = alpha / r. Conv layers fit the same
// mould once their factors are seen as matrices (as_matrix): B (out, r, 1, 1)
// is (out, r), A (r, in, k, k) is (r, in k k), and B A is W0's update.
//
// Every algorithm of the family trains and communicates only the factors:
// trainable() returns, for every LowRankLayer in module order, A then B
// (FFA-LoRA: B only) and nothing else, so every other parameter (W0,
// biases, norms, heads) is frozen. Any model whose LowRankLayers are its
// LoRA layers works (image models, a Llama with LoRA targets).
//
// The server math uses B A, not s B A: s is one constant per layer, so
// averaging, truncating and solving on s B A gives s times the same factor
// updates.
#pragma once

#include <string>
#include <vector>

#include "flb/algo/algorithm.h"
#include "flb/algo/options.h"

namespace flb::algo {

// --aggregation-weights: the clients' weights w_i in the server's average.
enum class AggregationWeights {
  kAuto,     // the algorithm's own (fedsrd, fedsrd-e: uniform, as the paper; the others: samples)
  kSamples,  // n_i / n
  kUniform,  // 1 / m
};

// The low-rank options every LoRA and FedLoRU algorithm reads (lora.cc
// owns them): --lora-rank, --alpha, --aggregation-weights.
struct LoraOptions : OptionGroup {
  int64_t rank = 8;      // rank r of the low-rank updates
  double alpha = 16.0;   // scale s = alpha / r
  AggregationWeights weights = AggregationWeights::kAuto;  // LoRA family
  void add_options(CLI::App& app) override;
  void validate(const Options& all) const override;
};

// The LoRA spec of `c`: rank, alpha, one pair, W0 kept, B = 0 at the start.
model::LowRankSpec lora_spec(const LoraOptions& c);

// Where one LoRA layer's factors sit in the tensor list.
struct LoraSlot {
  int64_t a = -1;  // index of A (= down(0)); -1 when A is frozen (FFA-LoRA)
  int64_t b = -1;  // index of B (= up(0))
};

// t as a matrix: (size(0), numel / size(0)), a view when t is contiguous.
torch::Tensor as_matrix(const torch::Tensor& t);

// Part tag of a broadcast part that replaces its tensor (FlexLoRA) rather
// than adding to it, so every rank ends with exactly the server's values.
constexpr uint8_t kReplaceTag = 1;

// Every rank: adds each untagged part to the tensor it names and copies
// each kReplaceTag (dense) part into it.
void apply_lora_download(Tensors& global, const compress::Payload& download);

// Each upload's dense deltas, deltas[k][i] shaped and placed like
// global[i]. REQUIRES: the uploads passed decode() against an upload schema
// that has every tensor exactly once, dense or sparse (the family's
// default); a tensor an upload lacks stays undefined.
std::vector<Tensors> upload_deltas(const std::vector<Upload>& uploads, const Tensors& global);

// The base of every LoRA algorithm: the spec, trainable(), the slots and
// the aggregation weights.
class LoraAlgorithm : public Algorithm {
 public:
  const model::LowRankSpec* model_spec() const override { return &spec_; }
  // REQUIRES: the model was built with model_spec(); throws flb::Error when
  // it has no LowRankLayer or one with more than one pair.
  Tensors trainable(torch::nn::Module& model) override;
  // Clients train their factors plainly (FedProx overrides this back).
  bool plain_local_training() const override { return true; }

  // One slot per LoRA layer, in module order (valid after trainable()).
  const std::vector<LoraSlot>& slots() const { return slots_; }
  size_t a_index(size_t layer) const { return static_cast<size_t>(slots_.at(layer).a); }
  size_t b_index(size_t layer) const { return static_cast<size_t>(slots_.at(layer).b); }

  // Every tensor exactly once, dense (FedIT, FedProx, FFA-LoRA, FlexLoRA)
  // or sparse (Fed-DARE, FedSRD): upload_kinds().
  compress::WireSchema upload_schema(const Tensors& tensors) const override;

  // w_i of each upload: n_i / n (samples), or 1 / m (uniform).
  std::vector<float> weights(const std::vector<Upload>& uploads) const;
  bool uniform_weights() const { return uniform_; }

 protected:
  // `default_weights` (kSamples or kUniform): what --aggregation-weights auto means here.
  LoraAlgorithm(const LoraOptions& c, uint64_t seed, bool train_a, AggregationWeights default_weights);

  // The part kind every upload part has (a KindSet).
  virtual uint8_t upload_kinds() const { return compress::kDenseOnly; }

  // An upload with no parts yet, from ctx's client.
  compress::Payload empty_upload(const ClientContext& ctx) const;

  uint64_t seed_;
  model::LowRankSpec spec_;
  std::vector<LoraSlot> slots_;
  size_t tensors_ = 0;  // size of the tensor list
  bool train_a_;
  bool uniform_;
};

}  // namespace flb::algo
