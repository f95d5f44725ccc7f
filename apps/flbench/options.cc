#include "options.h"

#include <cmath>
#include <string>

#include "flb/algo/options.h"
#include "flb/algo/registry.h"

namespace flbench {
namespace {

// A finite number above 0 (or at least 0, `or_zero`).
CLI::Validator number_above_zero(bool or_zero) {
  const std::string want = or_zero ? ">= 0" : "> 0";
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "'" + text + "' is not a number";
        if (!std::isfinite(v) || v < 0 || (v == 0 && !or_zero)) return "must be a finite number " + want + " (got " + text + ")";
        return "";
      },
      "NUMBER " + want);
}

}  // namespace

const CLI::Validator kNonNegativeNumber = number_above_zero(true), kPositiveNumber = number_above_zero(false);

void add_text_options(CLI::App& app, flb::RunConfig& c) {
  const char* T = "Text and language model (--dataset text, --dataset tokens)";
  app.add_option("--corpus-dir", c.data.corpus_dir, "Directory of text domains (make it with scripts/make-corpora.sh)")->group(T);
  app.add_option("--token-dir", c.data.token_dir, "--dataset tokens: directory of token domains, each with train.bin and val.bin (make it with flbench tokenize)")->group(T);
  app.add_option("--domains", c.data.domains, "Domains the clients hold (comma list of directories under --corpus-dir or --token-dir)")
      ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(T);
  app.add_option("--ood-domains", c.data.ood_domains, "Domains evaluated but held by no client (out-of-domain retention); none for no such evaluation")
      ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(T);
  app.add_option("--context", c.data.context, "Bytes (text) or tokens (tokens) per training sequence (T)")->check(CLI::Range(int64_t{2}, int64_t{4096}))->group(T);
  app.add_option("--heldout-fraction", c.data.heldout_fraction, "Fraction of each domain's documents held out for evaluation")
      ->check(CLI::Range(0.0, 0.9))->group(T);
  app.add_option("--eval-sequences", c.data.eval_sequences, "Held-out sequences evaluated per domain")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))->group(T);
  app.add_option("--export-adapter", c.model.export_adapter, "--dataset tokens: at the end, write the global LoRA adapter to DIR in PEFT's format (adapter_model.safetensors + adapter_config.json)")->group(T);
  app.add_option("--export-merged", c.model.export_merged, "--dataset tokens: at the end, write the base with the adapter merged in to DIR as a Hugging Face model directory")->group(T);
  app.add_option("--base", c.model.base, "Base model, a Hugging Face Llama directory (config.json + safetensors): --dataset text, a byte-level one from flbench pretrain --out DIR (empty: random init); --dataset tokens, the checkpoint")->group(T);
  app.add_option("--width", c.model.width, "Hidden size C of the byte-level Llama (--dataset text without --base)")->check(CLI::Range(int64_t{8}, int64_t{8192}))->group(T);
  app.add_option("--depth", c.model.depth, "Decoder blocks of the byte-level Llama")->check(CLI::Range(int64_t{1}, int64_t{128}))->group(T);
  app.add_option("--heads", c.model.heads, "Attention heads of the byte-level Llama (divide --width into an even head size)")->check(CLI::Range(int64_t{1}, int64_t{128}))->group(T);
  app.add_option("--lora-targets", c.model.lora_targets, "Projections that get LoRA: comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj, or all")->group(T);
  app.add_option("--lora-dropout", c.model.lora_dropout, "Dropout on the LoRA path's input while training")
      ->check(CLI::Range(0.0, 0.9))->group(T);
  app.add_option("--base-dtype", c.model.base_dtype, "--dataset text/tokens: dtype the frozen base weights are stored and multiplied in (LoRA factors and optimiser state stay float32)")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}))->group(T);
  app.add_option("--autocast", c.model.autocast, "--dataset text/tokens: off, or bf16: run the decoder's products in bfloat16 under LibTorch autocast (parameters, gradients, optimiser state and the loss stay float32). For speed on CUDA; on the CPU LibTorch 1.13 runs bf16 products slowly (use --base-dtype for memory there)")
      ->check(CLI::IsMember({"off", "bf16"}))->group(T);
  app.add_flag("--activation-checkpointing", c.model.activation_checkpointing, "--dataset text/tokens: keep only each decoder block's input for backward and recompute the block there (less memory, one more forward)")->group(T);
}

namespace {

// Federation: who takes part, how uploads are combined.
void add_federation_options(CLI::App& app, flb::RunConfig& c) {
  const auto& algos = flb::algo::algorithm_names();
  app.add_option("--algorithm", c.algorithm, "Algorithm")->check(CLI::IsMember(algos))->group("Federation");
  app.add_option("--clients", c.clients, "Number of clients (N)")->check(CLI::Range(int64_t{1}, int64_t{100000000}))->group("Federation");
  app.add_option("--clients-per-round", c.clients_per_round, "Clients sampled per round (m <= N)")->check(CLI::Range(int64_t{1}, int64_t{100000000}))->group("Federation");
  app.add_option("--rounds", c.rounds, "Communication rounds")->check(CLI::Range(int64_t{1}, int64_t{10000000}))->group("Federation");
  app.add_option("--seed", c.seed, "Seed of every random stream (data split, sampling, init, batches)")->group("Federation");
  app.add_option("--clip-update-norm", c.clip_update_norm,
                 "Scale each accepted upload to at most this L2 norm before aggregation (0: off; fedavg, topk and "
                 "the FedIT family, whose uploads are additive updates)")
      ->check(kNonNegativeNumber)->group("Federation");
  app.add_option("--on-bad-upload", c.on_bad_upload, "What rank 0 does with a malformed upload: stop the run, or skip the upload")
      ->check(CLI::IsMember({"stop", "skip"}))->group("Federation");
  app.add_option("--aggregation", c.aggregation,
                 "central: rank 0 gathers and combines every upload; hierarchical: each rank combines its own clients' "
                 "uploads, the ranks' sums are reduced, rank 0 finishes (weighted-mean algorithms: fedavg, topk, fedit, "
                 "fedprox, ffa-lora, fed-dare; fedsrd, fedsrd-e and flexlora send each rank's folded products instead)")
      ->check(CLI::IsMember({"central", "hierarchical"}))->group("Federation");
}

// Virtual time: the clients' systems, dropouts, deadlines (sim/virtual_clock.h).
void add_virtual_time_options(CLI::App& app, flb::RunConfig& c) {
  app.add_option("--system", c.system,
                 "The clients' compute and links for virtual time: uniform[:KEY=V,...], lognormal[:KEY=V,...] (each "
                 "value drawn per client from --seed) or trace:FILE (CSV); keys up, down (Mbit/s), latency (s), "
                 "compute (factor), and for lognormal sigma, compute_sigma (README, \"Virtual time\")")
      ->group("Virtual time");
  app.add_option("--step-seconds", c.step_seconds,
                 "Virtual seconds of one local step on a client of compute factor 1 (a calibration: measure a step "
                 "on the device class you model)")
      ->check(kNonNegativeNumber)->group("Virtual time");
  app.add_option("--compute-time", c.compute_time,
                 "A client's virtual compute: calibrated (steps x --step-seconds / compute factor: deterministic) or "
                 "measured (its local training's wall seconds on this machine / compute factor: NOT reproducible)")
      ->check(CLI::IsMember({"calibrated", "measured"}))->group("Virtual time");
  app.add_option("--dropout-prob", c.dropout_prob,
                 "Probability that a sampled client fails after its download, before uploading (drawn per client "
                 "and round from --seed)")
      ->check(CLI::Range(0.0, 1.0))->group("Virtual time");
  app.add_option("--deadline", c.deadline_s,
                 "Virtual seconds from the round's start after which the server discards uploads (0: none)")
      ->check(kNonNegativeNumber)->group("Virtual time");
  app.add_option("--over-select", c.over_select,
                 "Sample round(K (1 + F)) clients and aggregate the first K uploads to arrive (K: --clients-per-round)")
      ->check(CLI::Range(0.0, 100.0))->group("Virtual time");
}

// Data: the task and how it is split over the clients.
void add_data_options(CLI::App& app, flb::RunConfig& c) {
  app.add_option("--data-dir", c.data.data_dir, "Directory holding the Fashion-MNIST IDX files (.gz or plain)")->group("Data");
  app.add_option("--dataset", c.data.dataset, "fashion-mnist (images, MLP/CNN), text (byte domains, byte-level Llama + LoRA), tokens (token domains, Hugging Face Llama + LoRA) or synthetic (FedProx's Synthetic(alpha, beta), generated per client: --model logreg)")
      ->check(CLI::IsMember({"fashion-mnist", "text", "tokens", "synthetic"}))->group("Data");
  app.add_option("--synthetic-alpha", c.data.synthetic_alpha, "--dataset synthetic: spread of the clients' label models (FedProx's alpha)")
      ->check(CLI::Range(0.0, 100.0))->group("Data");
  app.add_option("--synthetic-beta", c.data.synthetic_beta, "--dataset synthetic: spread of the clients' input means (FedProx's beta)")
      ->check(CLI::Range(0.0, 100.0))->group("Data");
  app.add_option("--partition", c.data.partition,
                 "How samples are split over clients: iid, dirichlet, shards (images), by-domain (text)")
      ->check(CLI::IsMember({"iid", "dirichlet", "shards", "by-domain"}))->group("Data");
  app.add_option("--dirichlet-alpha", c.data.dirichlet_alpha, "Dirichlet concentration over labels (smaller = more skewed)")
      ->check(kPositiveNumber)->group("Data");
  app.add_option("--shards-per-client", c.data.shards_per_client, "Label shards (about classes) per client, for --partition shards")
      ->check(CLI::Range(int64_t{1}, int64_t{10}))->group("Data");
  app.add_option("--validation-fraction", c.data.validation_fraction,
                 "Share of each client's samples (images, or training chunks of text and tokens) kept out of "
                 "training as the validation split, evaluated with the test set (/eval rows with validation 1, "
                 "/rounds/val_loss, val_accuracy): tune on it, report the test set")
      ->check(CLI::Range(0.0, 0.9))->group("Data");
  app.add_option("--personal-fraction", c.data.personal_fraction,
                 "fashion-mnist: share of each client's samples kept out of training as its own held-out slice; at "
                 "every evaluation each client is scored on it by the global model and by its personalised model "
                 "(pFedLoRU's private pair): /client_eval, /rounds/personal_accuracy, personal_global_accuracy")
      ->check(CLI::Range(0.0, 0.9))->group("Data");

  add_text_options(app, c);
}

// Local training: the optimiser each client runs.
void add_training_options(CLI::App& app, flb::RunConfig& c) {
  app.add_option("--model", c.train.model, "Model: mlp, cnn, or the papers' own lenet-fedloru (FedLoRU's LeNet, 340k parameters) and cnn-lbgm (LBGM's CNN, 431k) for fashion-mnist; logreg (synthetic)")->check(CLI::IsMember({"mlp", "cnn", "lenet-fedloru", "cnn-lbgm", "logreg"}))->group("Local training");
  app.add_option("--local-epochs", c.train.local_epochs, "Local epochs per round (used when --local-steps is 0)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}))->group("Local training");
  app.add_option("--local-steps", c.train.local_steps, "Exactly this many local steps per round (0: use --local-epochs)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}))->group("Local training");
  app.add_option("--batch-size", c.train.batch_size, "Local minibatch size")->check(CLI::Range(int64_t{1}, int64_t{1000000}))->group("Local training");
  app.add_option("--lr", c.train.lr, "Local learning rate")->check(kPositiveNumber)->group("Local training");
  app.add_option("--optimizer", c.train.optimizer, "Local optimiser")->check(CLI::IsMember({"sgd", "adamw"}))->group("Local training");
  app.add_option("--momentum", c.train.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0))->group("Local training");
  app.add_option("--weight-decay", c.train.weight_decay, "Weight decay (L2 for sgd, decoupled for adamw)")
      ->check(CLI::Range(0.0, 1.0))->group("Local training");
  app.add_option("--client-batch", c.train.client_batch,
                 "Clients a rank trains at once as one batched model (stacked weights, grouped convolutions): "
                 "fashion-mnist mlp, cnn, cnn-lbgm with fedavg, top-k or lbgm; equal to one at a time up to "
                 "float rounding. 1: one client at a time")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))->group("Local training");
}

// Run: device, output, checkpoints.
void add_job_options(CLI::App& app, flb::RunConfig& c) {
  app.add_option("--device", c.device, "Where each rank trains: auto (GPU local_rank % GPUs when visible), cpu, cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))->group("Run");
  app.add_option("--threads", c.threads, "Intra-op threads per rank (0: usable CPUs / ranks on the node)")
      ->check(CLI::Range(0, 1024))->group("Run");
  app.add_option("--eval-every", c.eval_every, "Evaluate the global model on the test set every k rounds (and after the last)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}))->group("Run");
  app.add_option("--out", c.out, "HDF5 results file (one per run)")->group("Run");
  app.add_flag("--overwrite", c.overwrite, "Replace --out if it exists")->group("Run");
  app.add_option("--checkpoint-every", c.checkpoint_every,
                 "Checkpoint into <out>.ckpt after every k-th round (0: only on SIGTERM/SIGUSR1)")
      ->check(CLI::Range(int64_t{0}, int64_t{10000000}))->group("Run");
  app.add_flag("--skip-memory-check", c.skip_memory_check,
               "Run even when the memory preflight (before round 1) estimates that the per-client state and a "
               "round's buffers will not fit in what the node or the job's cgroup has available")
      ->group("Run");
  app.add_flag("--resume", c.resume,
               "Continue from the checkpoint <out>.ckpt (same options; --rounds may grow), appending to --out")
      ->group("Run");
}

}  // namespace

void add_run_options(CLI::App& app, flb::RunConfig& c) {
  app.set_config("--config", "", "Read options from a TOML file (same names as the long options, without --)");
  // A later value overrides an earlier one (a sweep appends overrides to a
  // template command); list options collect every value.
  app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  add_federation_options(app, c);
  add_virtual_time_options(app, c);
  // Algorithms' own options: each algorithm file registers its option group
  // (algo/options.h); every group is listed under "Algorithm options".
  auto algorithm_options = std::make_shared<flb::algo::Options>();
  algorithm_options->add_options(app);
  c.algorithm_options = algorithm_options;
  add_data_options(app, c);
  add_training_options(app, c);
  add_job_options(app, c);
}

}  // namespace flbench
