#include "flb/core/config.h"

#include <cmath>

#include "flb/core/error.h"

namespace flb {

void validate(const RunConfig& c) {
  require(c.clients >= 1, "--clients: must be at least 1");
  require(c.clients_per_round >= 1 && c.clients_per_round <= c.clients,
          "--clients-per-round: must be between 1 and --clients (" + std::to_string(c.clients) + ")");
  require(c.rounds >= 1, "--rounds: must be at least 1");
  require(c.eval_every >= 1, "--eval-every: must be at least 1");
  require(c.train.local_epochs >= 1 || c.train.local_steps >= 1,
          "--local-epochs/--local-steps: one of them must be at least 1");
  require(c.train.batch_size >= 1, "--batch-size: must be at least 1");
  require(c.train.lr > 0, "--lr: must be positive");
  const bool text = c.data.dataset == "text" || c.data.dataset == "tokens";  // language models over domains
  const bool synthetic = c.data.dataset == "synthetic";
  require(c.data.dataset == "fashion-mnist" || text || synthetic,
          "--dataset: choose fashion-mnist, text, tokens or synthetic");
  require(!synthetic || c.train.model == "logreg",
          "--model " + c.train.model + ": --dataset synthetic trains multinomial logistic regression: pass --model logreg");
  require(synthetic || c.train.model != "logreg", "--model logreg: only for --dataset synthetic");
  require(!synthetic || c.data.partition == "iid",
          "--partition " + c.data.partition + ": --dataset synthetic's clients are drawn non-identically by "
          "--synthetic-alpha and --synthetic-beta; drop --partition");
  require(!synthetic || c.clients <= (int64_t{1} << 31), "--clients: --dataset synthetic takes at most 2^31 clients");
  require(c.data.validation_fraction >= 0 && c.data.validation_fraction < 1,
          "--validation-fraction: must be in [0, 1)");
  require(c.data.validation_fraction == 0 || c.data.dataset != "synthetic",
          "--validation-fraction: not for --dataset synthetic (its clients' data is drawn on the fly)");
  require(c.data.personal_fraction >= 0 && c.data.personal_fraction < 1, "--personal-fraction: must be in [0, 1)");
  require(c.data.personal_fraction == 0 || c.data.dataset == "fashion-mnist",
          "--personal-fraction: only for --dataset fashion-mnist so far");
  require(c.data.validation_fraction + c.data.personal_fraction <= 0.9 + 1e-9,
          "--validation-fraction " + std::to_string(c.data.validation_fraction) + " + --personal-fraction " +
              std::to_string(c.data.personal_fraction) + ": together at most 0.9 of each client's samples");
  require(c.data.synthetic_alpha >= 0 && c.data.synthetic_beta >= 0, "--synthetic-alpha/--synthetic-beta: must be >= 0");
  require(c.data.dataset != "tokens" || !c.model.base.empty(),
          "--base: --dataset tokens needs a Hugging Face model directory (config.json + model.safetensors): "
          "pass --base MODEL_DIR");
  require(c.data.dataset != "tokens" || !c.data.token_dir.empty(),
          "--token-dir: --dataset tokens needs the directory of token domains (make it with flbench tokenize)");
  require(c.data.dataset == "tokens" || (c.model.export_adapter.empty() && c.model.export_merged.empty()),
          "--export-adapter/--export-merged: only for --dataset tokens (a Hugging Face Llama)");
  require(c.model.base_dtype == "float32" || c.model.base_dtype == "bfloat16" || c.model.base_dtype == "float16",
          "--base-dtype: choose float32, bfloat16 or float16 (got '" + c.model.base_dtype + "')");
  require(text || c.model.base_dtype == "float32",
          "--base-dtype " + c.model.base_dtype + ": only for --dataset text or tokens (the Llama decoder); the "
          "image models keep their weights in float32: drop --base-dtype");
  require(c.model.autocast == "off" || c.model.autocast == "bf16",
          "--autocast: choose off or bf16 (got '" + c.model.autocast + "')");
  require(text || c.model.autocast == "off",
          "--autocast " + c.model.autocast + ": only for --dataset text or tokens (the Llama decoder): drop it");
  require(text || !c.model.activation_checkpointing,
          "--activation-checkpointing: only for --dataset text or tokens (the Llama decoder's blocks): drop it");
  require(!text || c.data.partition == "by-domain" || c.data.partition == "dirichlet" || c.data.partition == "iid",
          "--partition: the text and tokens datasets take by-domain, dirichlet or iid");
  require(text || c.data.partition != "by-domain", "--partition by-domain: only for --dataset text or tokens");
  require(!text || !c.data.domains.empty(), "--domains: name at least one domain");
  require(!text || c.data.partition != "by-domain" || c.clients >= static_cast<int64_t>(c.data.domains.size()),
          "--clients: by-domain needs at least one client per domain");
  require(c.model.width % c.model.heads == 0, "--width: must be a multiple of --heads");
  require(c.model.width / c.model.heads % 2 == 0,
          "--width/--heads: the head size (width / heads) must be even for rotary embeddings");
  require(c.data.partition != "shards" || (c.data.shards_per_client >= 1 && c.data.shards_per_client <= 10),
          "--shards-per-client: must be between 1 and 10 (the number of classes)");
  require(c.data.partition != "dirichlet" || c.data.dirichlet_alpha > 0,
          "--dirichlet-alpha: must be positive");
  require(c.on_bad_upload == "stop" || c.on_bad_upload == "skip", "--on-bad-upload: choose stop or skip");
  require(c.compute_time == "calibrated" || c.compute_time == "measured",
          "--compute-time: choose calibrated or measured");
  require(std::isfinite(c.clip_update_norm) && c.clip_update_norm >= 0,
          "--clip-update-norm: must be a finite number >= 0 (0: no clipping)");
  require(c.aggregation == "central" || c.aggregation == "hierarchical", "--aggregation: choose central or hierarchical");
  require(c.step_seconds >= 0 && std::isfinite(c.step_seconds), "--step-seconds: must be a finite number >= 0");
  require(c.dropout_prob >= 0 && c.dropout_prob < 1, "--dropout-prob: must be in [0, 1)");
  require(c.deadline_s >= 0 && std::isfinite(c.deadline_s), "--deadline: must be a finite number of virtual seconds (0: none)");
  require(c.over_select >= 0 && c.over_select <= 100, "--over-select: must be in [0, 100] (0: sample exactly --clients-per-round)");
  require(!c.out.empty(), "--out: must name an output file");
  require(c.checkpoint_every >= 0, "--checkpoint-every: must be 0 (off) or a number of rounds");
  require(!(c.resume && c.overwrite),
          "--resume continues --out, --overwrite replaces it: pass one of them, not both");
}

}  // namespace flb
