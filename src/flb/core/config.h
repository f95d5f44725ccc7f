// The run configuration: plain values, grouped by the concern that reads
// them. apps/ fill it from the command line or a TOML file (CLI11); the
// library only reads it. validate() checks what single-option range checks
// cannot (relations between options) and throws flb::Error naming the option.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace flb {

struct DataConfig {
  std::string dataset = "fashion-mnist";  // fashion-mnist | text | tokens | synthetic
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string partition = "iid";   // images: iid | dirichlet | shards; text: by-domain | dirichlet | iid
  double dirichlet_alpha = 0.5;    // concentration over labels (dirichlet)
  int64_t shards_per_client = 2;   // classes per client (shards)
  // text: domains are directories under corpus_dir (scripts/make-corpora.sh)
  std::string corpus_dir = "corpora";
  std::vector<std::string> domains = {"de", "es", "it", "code"};              // the clients' domains
  std::vector<std::string> ood_domains = {"en-literature", "en-science"};     // evaluated, held by no client
  int64_t context = 64;            // bytes per training sequence
  std::string token_dir;           // --dataset tokens: token domains (flbench tokenize --out)
  double heldout_fraction = 0.1;   // documents held out for evaluation
  int64_t eval_sequences = 64;     // held-out sequences evaluated per domain
  double validation_fraction = 0;  // share of each client's samples (or chunks) kept for validation
  double personal_fraction = 0;    // fashion-mnist: share kept as the client's own held-out slice (personalised evaluation)
  double synthetic_alpha = 1.0;    // --dataset synthetic: how much the clients' models differ
  double synthetic_beta = 1.0;     //   and their inputs (FedProx's Synthetic(alpha, beta))
};

// The language model (dataset text).
struct ModelConfig {
  std::string base;                // a Hugging Face Llama directory (text: a byte-level one from flbench pretrain; empty: random init)
  std::string export_adapter;      // tokens: write the global adapter here in PEFT's format at the end
  std::string export_merged;       // tokens: write the merged model here as a HF directory at the end
  int64_t width = 96, depth = 3, heads = 4;
  std::string lora_targets = "all";  // q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all
  double lora_dropout = 0.0;
  // text and tokens (the Llama): dtype of the frozen base (W of the LoRA linears,
  // embeddings, norms, lm_head): float32 | bfloat16 | float16. LoRA
  // factors, trained biases and optimiser state stay float32.
  std::string base_dtype = "float32";
  bool activation_checkpointing = false;  // text and tokens: recompute each decoder block in backward
  std::string autocast = "off";           // text and tokens: off | bf16 (products in bfloat16, model/autocast.h)
};

struct TrainConfig {
  std::string model = "mlp";       // mlp | cnn | lenet-fedloru | cnn-lbgm (fashion-mnist); logreg (synthetic); text and tokens use the Llama
  int64_t local_epochs = 1;        // used when local_steps == 0
  int64_t local_steps = 0;         // > 0: exactly this many steps per client
  int64_t batch_size = 32;
  double lr = 0.05;
  std::string optimizer = "sgd";   // sgd | adamw
  double momentum = 0.9;           // sgd
  double weight_decay = 0.0;
  // Clients a rank trains at once as one batched model (sim/batched_trainer.h); 1: one at a time.
  int64_t client_batch = 1;
};

// Options a plug-in parsed for itself (the algorithm's: algo/options.h).
// core/ only carries them from the command line to the plug-in.
struct PluginOptions {
  virtual ~PluginOptions() = default;
};

struct RunConfig {
  DataConfig data;
  ModelConfig model;
  TrainConfig train;
  std::string algorithm = "fedavg";  // a name in algo/registry.cc
  // The algorithm options (an algo::Options); null: every default.
  std::shared_ptr<const PluginOptions> algorithm_options;
  int64_t clients = 100;
  int64_t clients_per_round = 10;
  int64_t rounds = 30;
  int64_t eval_every = 1;
  uint64_t seed = 1;
  std::string device = "auto";     // auto | cpu | cuda
  int threads = 0;                 // intra-op threads per rank; 0 = cores / local ranks
  std::string out = "results/run.h5";
  bool overwrite = false;
  std::string on_bad_upload = "stop";  // stop | skip: what rank 0 does with a malformed upload
  double clip_update_norm = 0;  // > 0: the server scales each upload to at most this L2 norm (sim/update_clipping.h)
  std::string aggregation = "central";  // central | hierarchical: ranks pre-combine their clients (sim/hierarchical.h)
  // Virtual time (sim/virtual_clock.h): the clients' systems (sim/system_model.h)
  // and the seconds of one local step at compute factor 1 (a calibration).
  std::string system = "uniform";
  double step_seconds = 0.1;
  std::string compute_time = "calibrated";  // calibrated: steps x step_seconds; measured: this machine's wall time
  // Dropouts, deadlines and over-selection (sim/arrivals.h).
  double dropout_prob = 0;  // a sampled client fails before uploading with this probability
  double deadline_s = 0;    // virtual seconds after which uploads are discarded (0: no deadline)
  double over_select = 0;   // sample round(K (1 + F)) clients, keep the first K to arrive
  int64_t checkpoint_every = 0;    // checkpoint after every k-th round (0: only on SIGTERM/SIGUSR1)
  bool skip_memory_check = false;  // do not refuse a run the memory preflight says will not fit (sim/memory_preflight.h)
  bool resume = false;             // continue from <out>.ckpt, appending to <out>
};

// Throws flb::Error("--option: what is wrong") on an inconsistent config
// (the algorithm's options: algo::validate).
void validate(const RunConfig& config);

}  // namespace flb
