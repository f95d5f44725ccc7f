#include "options.h"

#include "flb/algo/registry.h"

namespace flbench {

namespace {

// A flag's default as CLI11 writes it into config_toml: without it, an
// unset flag is written "false", so a flag that defaults to true (and the
// run it describes) would not be reproduced by the written config.
std::string on_off(bool v) { return v ? "true" : "false"; }

}  // namespace

void add_text_options(CLI::App& app, flb::RunConfig& c) {
  const char* T = "Text and language model (--dataset text)";
  app.add_option("--corpus-dir", c.data.corpus_dir, "Directory of text domains (make it with scripts/make-corpora.sh)")->group(T);
  app.add_option("--domains", c.data.domains, "Domains the clients hold (comma list of directories under --corpus-dir)")
      ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(T);
  app.add_option("--ood-domains", c.data.ood_domains, "Domains evaluated but held by no client (out-of-domain retention); none for no such evaluation")
      ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(T);
  app.add_option("--context", c.data.context, "Bytes per training sequence (T)")->check(CLI::Range(int64_t{2}, int64_t{4096}))->group(T);
  app.add_option("--heldout-fraction", c.data.heldout_fraction, "Fraction of each domain's documents held out for evaluation")
      ->check(CLI::Range(0.0, 0.9))->group(T);
  app.add_option("--eval-sequences", c.data.eval_sequences, "Held-out sequences evaluated per domain")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))->group(T);
  app.add_option("--base", c.model.base, "Pretrained base model (flbench pretrain --out FILE); empty: random init")->group(T);
  app.add_option("--width", c.model.width, "GPT width C")->check(CLI::Range(int64_t{8}, int64_t{8192}))->group(T);
  app.add_option("--depth", c.model.depth, "GPT blocks")->check(CLI::Range(int64_t{1}, int64_t{128}))->group(T);
  app.add_option("--heads", c.model.heads, "GPT attention heads (divides --width)")->check(CLI::Range(int64_t{1}, int64_t{128}))->group(T);
  app.add_option("--lora-targets", c.model.lora_targets, "Projections that get LoRA: comma list of q,k,v,o,fc1,fc2, or all")->group(T);
  app.add_option("--lora-dropout", c.model.lora_dropout, "Dropout on the LoRA path's input while training")
      ->check(CLI::Range(0.0, 0.9))->group(T);
}

void add_run_options(CLI::App& app, flb::RunConfig& c) {
  app.set_config("--config", "", "Read options from a TOML file (same names as the long options, without --)");
  // A later value overrides an earlier one (a sweep appends overrides to a
  // template command); list options collect every value.
  app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  const auto positive = CLI::PositiveNumber;
  const auto& algos = flb::algo::algorithm_names();

  // Federation
  app.add_option("--algorithm", c.algo.name, "Algorithm")->check(CLI::IsMember(algos))->group("Federation");
  app.add_option("--clients", c.clients, "Number of clients (N)")->check(CLI::Range(int64_t{1}, int64_t{100000000}))->group("Federation");
  app.add_option("--clients-per-round", c.clients_per_round, "Clients sampled per round (m <= N)")->check(CLI::Range(int64_t{1}, int64_t{100000000}))->group("Federation");
  app.add_option("--rounds", c.rounds, "Communication rounds")->check(CLI::Range(int64_t{1}, int64_t{10000000}))->group("Federation");
  app.add_option("--seed", c.seed, "Seed of every random stream (data split, sampling, init, batches)")->group("Federation");
  app.add_option("--on-bad-upload", c.on_bad_upload, "What rank 0 does with a malformed upload: stop the run, or skip the upload")
      ->check(CLI::IsMember({"stop", "skip"}))->group("Federation");

  // Algorithms' own options (each algorithm reads only its own)
  const char* A = "Algorithm options";
  app.add_option("--topk-ratio", c.algo.topk_ratio, "topk, lbgm --base-compressor topk: fraction of each tensor's entries kept")
      ->check(CLI::Range(1e-9, 1.0))->group(A);
  app.add_flag("--error-feedback,!--no-error-feedback", c.algo.error_feedback,
               "topk, lbgm: carry what was not sent into the next round (residual)")->group(A);
  app.add_option("--lbgm-delta", c.algo.lbgm_delta, "lbgm: send a scalar when sin^2(update, look-back gradient) <= delta")
      ->check(CLI::Range(0.0, 1.0))->group(A);
  app.add_option("--base-compressor", c.algo.base_compressor, "lbgm: compressor whose output LBGM recycles")
      ->check(CLI::IsMember({"none", "topk"}))->group(A);
  app.add_option("--rank", c.algo.rank, "fedloru, pfedloru, mfedloru, LoRA: rank r of the low-rank updates")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))->group(A);
  app.add_option("--alpha", c.algo.alpha, "low-rank scale s = alpha / r")->check(positive)->group(A);
  app.add_option("--accumulate-every", c.algo.accumulate_every, "fedloru family: merge s*U*D into W every T rounds (0: never)")
      ->check(CLI::Range(int64_t{0}, int64_t{10000000}))->group(A);
  app.add_option("--accumulate-rounds", c.algo.accumulate_rounds, "fedloru family: merge after these 1-based rounds (list)")
      ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(A);
  app.add_option("--client-ranks", c.algo.client_ranks,
                 "mfedloru: nested ranks by capacity; client c trains rank list[c % len] (default r/4,r/2,r)")
      ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(A);
  app.add_option("--aggregation-weights", c.algo.aggregation_weights,
                 "LoRA family: client weights w_i: samples (n_i / n), uniform (1 / m), or auto (fedsrd, fedsrd-e: "
                 "uniform, as the paper; the others: samples)")
      ->check(CLI::IsMember({"auto", "samples", "uniform"}))->group(A);
  app.add_option("--prox-mu", c.algo.prox_mu, "fedprox: weight mu of the proximal term mu/2 ||theta - theta_global||^2")
      ->check(CLI::Range(0.0, 1e6))->group(A);
  app.add_option("--dare-p", c.algo.dare_p, "fed-dare: probability of dropping each element of dA, dB (survivors / (1 - p))")
      ->check(CLI::Range(0.0, 0.999999))->group(A);
  app.add_option("--upload-sparsity", c.algo.upload_sparsity,
                 "fedsrd, fedsrd-e: fraction p of each dA, dB a client drops (fixed; see --adaptive-sparsity)")
      ->check(CLI::Range(0.0, 0.999999))->group(A);
  app.add_flag("--adaptive-sparsity,!--no-adaptive-sparsity", c.algo.adaptive_sparsity,
               "fedsrd, fedsrd-e: drop ratio per matrix p = base + min(upper, coeff * ln(kurtosis of its scores))")->group(A);
  app.add_option("--adaptive-base", c.algo.adaptive_base, "fedsrd, fedsrd-e: base of the adaptive drop ratio")
      ->check(CLI::Range(0.0, 0.999999))->group(A);
  app.add_option("--adaptive-coeff", c.algo.adaptive_coeff, "fedsrd, fedsrd-e: coefficient of ln(kurtosis) in the adaptive drop ratio")
      ->check(CLI::Range(0.0, 1.0))->group(A);
  app.add_option("--adaptive-upper", c.algo.adaptive_upper, "fedsrd, fedsrd-e: cap on the kurtosis term of the adaptive drop ratio")
      ->check(CLI::Range(0.0, 0.999999))->group(A);
  app.add_option("--sparsifier", c.algo.sparsifier,
                 "fedsrd, fedsrd-e: which elements a client keeps: importance (|d| x norm of the other factor), "
                 "magnitude (|d|), random (ablations)")
      ->check(CLI::IsMember({"importance", "magnitude", "random"}))->group(A);
  app.add_flag("--l1-rescale,!--no-l1-rescale", c.algo.l1_rescale,
               "fedsrd, fedsrd-e: rescale a sparsified matrix's survivors to keep its L1 norm (the authors' code)")
      ->default_str(on_off(c.algo.l1_rescale))->group(A);
  app.add_option("--download-sparsity", c.algo.download_sparsity,
                 "fedsrd, fedsrd-e: probability of dropping each element of the broadcast factor update (survivors / (1 - q))")
      ->check(CLI::Range(0.0, 0.999999))->group(A);
  app.add_option("--fedsrd-first-round", c.algo.fedsrd_first_round,
                 "fedsrd, fedsrd-e: factor solved in round 1, then alternating: b (the paper) or a (the authors' code; "
                 "with B = 0 its first round changes nothing)")
      ->check(CLI::IsMember({"a", "b"}))->group(A);
  app.add_flag("--reconstruction,!--no-reconstruction", c.algo.reconstruction,
               "fedsrd: reconstruct-and-decompose on the server; --no-reconstruction averages A and B of the sparse "
               "uploads instead (the paper's ablation)")
      ->default_str(on_off(c.algo.reconstruction))->group(A);

  // Data
  app.add_option("--data-dir", c.data.data_dir, "Directory holding the Fashion-MNIST IDX files (.gz or plain)")->group("Data");
  app.add_option("--dataset", c.data.dataset, "fashion-mnist (images, MLP/CNN) or text (domains, GPT + LoRA)")
      ->check(CLI::IsMember({"fashion-mnist", "text"}))->group("Data");
  app.add_option("--partition", c.data.partition,
                 "How samples are split over clients: iid, dirichlet, shards (images), by-domain (text)")
      ->check(CLI::IsMember({"iid", "dirichlet", "shards", "by-domain"}))->group("Data");
  app.add_option("--dirichlet-alpha", c.data.dirichlet_alpha, "Dirichlet concentration over labels (smaller = more skewed)")
      ->check(positive)->group("Data");
  app.add_option("--shards-per-client", c.data.shards_per_client, "Label shards (about classes) per client, for --partition shards")
      ->check(CLI::Range(int64_t{1}, int64_t{10}))->group("Data");

  add_text_options(app, c);

  // Local training
  app.add_option("--model", c.train.model, "Model")->check(CLI::IsMember({"mlp", "cnn"}))->group("Local training");
  app.add_option("--local-epochs", c.train.local_epochs, "Local epochs per round (used when --local-steps is 0)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}))->group("Local training");
  app.add_option("--local-steps", c.train.local_steps, "Exactly this many local steps per round (0: use --local-epochs)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}))->group("Local training");
  app.add_option("--batch-size", c.train.batch_size, "Local minibatch size")->check(CLI::Range(int64_t{1}, int64_t{1000000}))->group("Local training");
  app.add_option("--lr", c.train.lr, "Local learning rate")->check(positive)->group("Local training");
  app.add_option("--optimizer", c.train.optimizer, "Local optimiser")->check(CLI::IsMember({"sgd", "adamw"}))->group("Local training");
  app.add_option("--momentum", c.train.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0))->group("Local training");
  app.add_option("--weight-decay", c.train.weight_decay, "Weight decay (L2 for sgd, decoupled for adamw)")
      ->check(CLI::Range(0.0, 1.0))->group("Local training");

  // Run
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
  app.add_flag("--resume", c.resume,
               "Continue from the checkpoint <out>.ckpt (same options; --rounds may grow), appending to --out")
      ->group("Run");
}

}  // namespace flbench
