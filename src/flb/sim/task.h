// A task is what the clients learn: a model, each client's samples, how a
// batch is loaded and scored, and how the global model is evaluated.
// The round loop (experiment.cc) and the local trainer know tasks only
// through this interface:
//
//   fashion-mnist  image classification, MLP/CNN (image_task.cc)
//   text           next-byte prediction over domains, a byte-level Llama with LoRA (text_task.cc)
//   tokens         next-token prediction over token domains, a Hugging Face Llama with LoRA (token_task.cc)
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "flb/core/config.h"
#include "flb/model/llama_config.h"
#include "flb/model/low_rank.h"

namespace flb::sim {

struct DomainEval {
  std::string domain;
  bool in_domain = true;  // held by some client (else out-of-domain: retention)
  double loss = 0;
  double accuracy = 0;    // top-1 (class, or next byte)
  // Standard error of `loss` over the domain's items (images, or held-out
  // sequences: a sequence's tokens are not independent draws, so the
  // sequence is the unit): sd(item mean losses) / sqrt(items); 0 for one item.
  double loss_se = 0;
  bool validation = false;  // the validation split (--validation-fraction), not a test set
};

// An evaluation domain: its name and whether some client holds it.
struct EvalDomain {
  std::string name;
  bool in_domain = true;
  bool validation = false;  // carved from the clients' training data (--validation-fraction)
};

// The sums of one evaluation unit (one forward pass), for its domain.
struct EvalSums {
  int64_t domain = 0;   // index into eval_domains()
  double loss_sum = 0;  // summed cross-entropy (nats) of its predictions
  double correct = 0;   // top-1 hits
  double count = 0;     // predictions (images, or tokens)
  // Per item (an image, or a held-out sequence) of mean loss m_i: the
  // items, sum m_i and sum m_i^2 (DomainEval::loss_se).
  double items = 0, item_loss_sum = 0, item_loss_sq_sum = 0;
};

// A unit's sums from its predictions' cross-entropies `losses` (items,
// predictions per item), float: loss_sum is the sum of `summed_loss` (the
// unit's reduction-sum cross-entropy, kept so its bits stay those of a
// sum reduction), correct the top-1 hits.
EvalSums unit_sums(int64_t domain, double summed_loss, double correct, const torch::Tensor& losses);

class Task {
 public:
  virtual ~Task() = default;
  // "fashion-mnist (dirichlet)", for the log.
  virtual std::string describe() const = 0;
  virtual torch::nn::Module& model() = 0;
  // Client `client`'s samples: a pure function of config, seed and client.
  // The count, and the ids (the reference is valid until the next call: a
  // task may generate them on demand).
  virtual int64_t client_sample_count(int64_t client) const = 0;
  virtual const std::vector<int64_t>& client_samples(int64_t client) = 0;
  // Bytes the task keeps for the client between rounds (its sample-id list;
  // 0 where the samples are generated from (seed, client)).
  virtual int64_t client_stored_bytes(int64_t client) const = 0;
  // A training batch of the samples ids[0..n), on the device, in buffers
  // reused by the next call. REQUIRES: n <= the batch size.
  virtual std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) = 0;
  // The mean training loss of the model on (x, y).
  virtual torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) = 0;
  // Each prediction's training loss, (n, predictions per sample): loss()
  // is their mean up to rounding. Batched clients train on it
  // (sim/batched_trainer.h); the default throws flb::Error.
  virtual torch::Tensor losses(const torch::Tensor& x, const torch::Tensor& y);
  // The evaluation domains, in the order of the results' /eval rows.
  virtual std::vector<EvalDomain> eval_domains() const = 0;
  // Evaluation is cut into units, one forward pass each, numbered in an
  // order fixed by the configuration (so ranks can share it: evaluation.h).
  virtual int64_t eval_units() const = 0;
  // The sums of units [begin, end), in order, for the model as it is now.
  // REQUIRES: 0 <= begin <= end <= eval_units().
  virtual std::vector<EvalSums> evaluate_units(int64_t begin, int64_t end) = 0;

  // Personalised evaluation (--personal-fraction, sim/personal_eval.h):
  // client `client`'s own held-out samples (ids as for batch()), kept out
  // of its training samples; empty without the option (the default).
  virtual const std::vector<int64_t>& client_held_out(int64_t client) const;
  // The sums (domain 0) of the model as it is now over the samples `ids`,
  // in evaluation mode (no dropout). The default throws flb::Error: a task
  // that holds slices out overrides it.
  virtual EvalSums evaluate_samples(const std::vector<int64_t>& ids);
};

// Loads the data and builds the model (initialised from LibTorch's
// generator: seed it identically on every rank first), with low-rank
// layers when `low_rank` is not null. Throws flb::Error for bad data.
std::unique_ptr<Task> make_task(const RunConfig& config, const model::LowRankSpec* low_rank, torch::Device device);

std::unique_ptr<Task> make_image_task(const RunConfig& config, const model::LowRankSpec* low_rank, torch::Device device);
// --dataset synthetic: FedProx's Synthetic(alpha, beta), logistic regression.
std::unique_ptr<Task> make_synthetic_task(const RunConfig& config, const model::LowRankSpec* low_rank, torch::Device device);
std::unique_ptr<Task> make_text_task(const RunConfig& config, const model::LowRankSpec* low_rank, torch::Device device);
// The text task's byte-level Llama when no --base is given (and the model
// flbench pretrain trains): vocabulary 256, hidden --width, --depth blocks,
// --heads heads (as many KV heads), SwiGLU width 8/3 C rounded up to 32,
// tied embeddings, context --context. Throws flb::Error for a shape the
// decoder cannot run.
model::LlamaConfig byte_llama_config(const RunConfig& config);

std::unique_ptr<Task> make_token_task(const RunConfig& config, const model::LowRankSpec* low_rank, torch::Device device);

}  // namespace flb::sim
