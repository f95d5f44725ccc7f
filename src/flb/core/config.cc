#include "flb/core/config.h"

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
  const bool text = c.data.dataset == "text";
  require(c.data.dataset == "fashion-mnist" || text, "--dataset: choose fashion-mnist or text");
  require(!text || c.data.partition == "by-domain" || c.data.partition == "dirichlet" || c.data.partition == "iid",
          "--partition: the text dataset takes by-domain, dirichlet or iid");
  require(text || c.data.partition != "by-domain", "--partition by-domain: only for --dataset text");
  require(!text || !c.data.domains.empty(), "--domains: name at least one domain");
  require(!text || c.data.partition != "by-domain" || c.clients >= static_cast<int64_t>(c.data.domains.size()),
          "--clients: by-domain needs at least one client per domain");
  require(c.model.width % c.model.heads == 0, "--width: must be a multiple of --heads");
  require(c.data.partition != "shards" || (c.data.shards_per_client >= 1 && c.data.shards_per_client <= 10),
          "--shards-per-client: must be between 1 and 10 (the number of classes)");
  require(c.data.partition != "dirichlet" || c.data.dirichlet_alpha > 0,
          "--dirichlet-alpha: must be positive");
  require(c.on_bad_upload == "stop" || c.on_bad_upload == "skip", "--on-bad-upload: choose stop or skip");
  require(c.algo.topk_ratio > 0 && c.algo.topk_ratio <= 1, "--topk-ratio: must be in (0, 1]");
  require(c.algo.lbgm_delta >= 0 && c.algo.lbgm_delta <= 1, "--lbgm-delta: must be in [0, 1]");
  require(c.algo.base_compressor == "none" || c.algo.base_compressor == "topk", "--base-compressor: choose none or topk");
  require(c.algo.rank >= 1, "--rank: must be at least 1");
  for (int64_t r : c.algo.accumulate_rounds) require(r >= 1, "--accumulate-rounds: rounds are counted from 1");
  for (int64_t r : c.algo.client_ranks)
    require(r >= 1 && r <= c.algo.rank, "--client-ranks: every rank must be in [1, --rank]");
  require(c.algo.aggregation_weights == "auto" || c.algo.aggregation_weights == "samples" ||
              c.algo.aggregation_weights == "uniform",
          "--aggregation-weights: choose auto, samples or uniform");
  require(c.algo.prox_mu >= 0, "--prox-mu: must be non-negative");
  require(c.algo.dare_p >= 0 && c.algo.dare_p < 1, "--dare-p: must be in [0, 1)");
  require(c.algo.upload_sparsity >= 0 && c.algo.upload_sparsity < 1, "--upload-sparsity: must be in [0, 1)");
  require(c.algo.adaptive_base >= 0 && c.algo.adaptive_coeff >= 0 && c.algo.adaptive_upper >= 0 &&
              c.algo.adaptive_base + c.algo.adaptive_upper < 1,
          "--adaptive-base/--adaptive-coeff/--adaptive-upper: must be non-negative with base + upper < 1");
  require(c.algo.sparsifier == "importance" || c.algo.sparsifier == "magnitude" || c.algo.sparsifier == "random",
          "--sparsifier: choose importance, magnitude or random");
  require(c.algo.download_sparsity >= 0 && c.algo.download_sparsity < 1, "--download-sparsity: must be in [0, 1)");
  require(c.algo.fedsrd_first_round == "a" || c.algo.fedsrd_first_round == "b", "--fedsrd-first-round: choose a or b");
  require(!c.out.empty(), "--out: must name an output file");
  require(c.checkpoint_every >= 0, "--checkpoint-every: must be 0 (off) or a number of rounds");
  require(!(c.resume && c.overwrite),
          "--resume continues --out, --overwrite replaces it: pass one of them, not both");
}

}  // namespace flb
