#include "flb/sim/pretrain.h"

#include <sys/stat.h>
#include <torch/torch.h>

#include <cstdio>

#include "flb/core/error.h"
#include "flb/core/timer.h"
#include "flb/hf/peft_export.h"
#include "flb/model/llama.h"
#include "flb/sim/evaluation.h"
#include "flb/sim/local_trainer.h"
#include "flb/sim/task.h"

namespace flb::sim {

void pretrain(const RunConfig& config, int64_t steps, int64_t report_every, const std::string& out, bool overwrite) {
  struct stat st;
  require(overwrite || ::stat(out.c_str(), &st) != 0, "--out: " + out + " already exists; pass --overwrite to replace it");
  RunConfig c = config;
  c.data.dataset = "text";
  c.data.partition = "iid";
  c.clients = c.clients_per_round = 1;  // one "client" holds every training chunk
  c.train.local_steps = std::min<int64_t>(report_every, steps);
  validate(c);
  torch::manual_seed(c.seed);
  std::unique_ptr<Task> task = make_task(c, /*low_rank=*/nullptr, torch::kCPU);
  const std::vector<torch::Tensor> params = task->model().parameters();
  LocalTrainer trainer(*task, params, c.train, torch::kCPU);
  const std::vector<int64_t> samples = task->client_samples(0);
  std::printf("pretrain: %lld parameters, %zu training sequences of %lld bytes, %lld steps\n",
              static_cast<long long>(std::accumulate(params.begin(), params.end(), int64_t{0},
                                                     [](int64_t n, const torch::Tensor& p) { return n + p.numel(); })),
              samples.size(), static_cast<long long>(c.data.context), static_cast<long long>(steps));
  Timer clock;
  // Chunks of report_every steps; the optimiser state restarts per chunk
  // (LocalTrainer is a client's trainer), a small price for reuse.
  for (int64_t done = 0, chunk = 0; done < steps; ++chunk) {
    const LocalResult r = trainer.train(samples, c.seed, 0, chunk, {});
    done += r.steps;
    double heldout = 0;
    const auto evals = evaluate_all(*task);
    for (const auto& e : evals) heldout += e.loss / static_cast<double>(evals.size());
    std::printf("pretrain: step %6lld  train loss %.4f  held-out loss %.4f  %.1f s\n", static_cast<long long>(done),
                r.mean_loss, heldout, clock.seconds());
    std::fflush(stdout);
  }
  hf::write_merged_llama(out, dynamic_cast<model::Llama&>(task->model()));  // dense: nothing to merge
  std::printf("pretrain: wrote %s (config.json, model.safetensors)\n", out.c_str());
}

}  // namespace flb::sim
