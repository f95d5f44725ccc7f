// Top-k sparsification (with optional error feedback): each client keeps
// the k = ceil(ratio * numel) largest-magnitude entries of each tensor's
// update (plus the residual it carried); with error feedback the rest
// becomes the next round's residual. The server averages as FedAvg.
#include "flb/algo/topk.h"

#include "flb/algo/fedavg.h"
#include "flb/algo/option_choice.h"
#include "flb/algo/state_archive.h"
#include "flb/algo/tensor_parts.h"

#include <cmath>
#include <map>

namespace flb::algo {
namespace {

class TopK : public Algorithm {
 public:
  TopK(double ratio, bool error_feedback) : ratio_(ratio), error_feedback_(error_feedback) {}
  Tensors trainable(torch::nn::Module& model) override { return model.parameters(); }
  bool plain_local_training() const override { return true; }
  compress::WireSchema upload_schema(const Tensors& tensors) const override {
    return compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kSparseOnly);
  }

  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override {
    torch::NoGradGuard no_grad;
    compress::Payload p;
    p.algorithm = wire_id();
    p.client = static_cast<uint32_t>(ctx.client);
    Tensors& residual = residuals_[ctx.client];
    residual.resize(local.size());
    Tensors sent(error_feedback_ ? local.size() : 0);
    for (size_t i = 0; i < local.size(); ++i) {
      torch::Tensor g = local[i] - global[i];
      if (error_feedback_ && residual[i].defined()) g.add_(residual[i]);
      torch::Tensor kept;
      p.parts.push_back(top_k_part(static_cast<uint32_t>(i), g, top_k_count(ratio_, g.numel()), &kept));
      if (error_feedback_) residual[i] = g - kept;  // what was not sent waits for the next round
      if (error_feedback_) sent[i] = kept;
    }
    if (!error_feedback_) residuals_.erase(ctx.client);
    if (error_feedback_) unsettled_[ctx.client] = std::move(sent);
    return p;
  }

  // A lost upload was never received: with error feedback all of g (the
  // residual plus what was sent) waits for the next round.
  void settle_upload(const ClientContext& ctx, bool used) override {
    const auto it = unsettled_.find(ctx.client);
    if (it == unsettled_.end()) return;
    if (!used) {
      Tensors& residual = residuals_.at(ctx.client);
      for (size_t i = 0; i < residual.size(); ++i) residual[i] = residual[i] + it->second[i];
    }
    unsettled_.erase(it);
  }

  bool aggregates_by_weighted_mean() const override { return true; }  // sample weights
  compress::Payload aggregate(int64_t, const std::vector<Upload>& uploads, const Tensors& global) override {
    return dense_broadcast(wire_id(), weighted_mean_of_parts(uploads, global));
  }

  void apply_download(int64_t, Tensors& global, const compress::Payload& download) override {
    add_download(global, download);
  }

  void save_state(torch::serialize::OutputArchive& archive) const override {
    write_client_tensors(archive, "topk_residuals", residuals_);
  }
  void load_state(torch::serialize::InputArchive& archive) override {
    residuals_ = read_client_tensors(archive, "topk_residuals");
  }

  int64_t client_state_bytes() const override {
    return tensor_bytes(residuals_);
  }
  int64_t client_state_bytes_bound(const Tensors& trained) const override {
    return error_feedback_ ? tensor_bytes(trained) : 0;  // a residual of every trained tensor
  }

 private:
  double ratio_;
  bool error_feedback_;
  ClientTensors residuals_;  // this rank's clients
  ClientTensors unsettled_;  // error feedback: what each client sent this round, until settle_upload
};

}  // namespace

void TopkOptions::add_options(CLI::App& app) {
  app.add_option("--topk-ratio", ratio, "topk, lbgm --base-compressor topk: fraction of each tensor's entries kept")
      ->check(CLI::Range(1e-9, 1.0))->group(kOptionsHelpGroup);
  app.add_flag("--error-feedback,!--no-error-feedback", error_feedback,
               "topk, lbgm: carry what was not sent into the next round (residual)")->group(kOptionsHelpGroup);
}

void TopkOptions::validate(const Options&) const {
  require(ratio > 0 && ratio <= 1, "--topk-ratio: must be in (0, 1]");
}

std::unique_ptr<OptionGroup> topk_options() { return std::make_unique<TopkOptions>(); }

std::unique_ptr<Algorithm> make_topk(const Options& o, uint64_t) {
  const TopkOptions& t = o.get<TopkOptions>();
  return std::make_unique<TopK>(t.ratio, t.error_feedback);
}

}  // namespace flb::algo
