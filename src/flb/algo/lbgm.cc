// LBGM, the look-back gradient multiplier (Azam et al., ICLR 2022).
//
// Per client and per tensor, the client keeps a look-back gradient lbg (the
// last update it sent in full) and the server keeps a copy of it. Each
// round the client's update g (delta, plus the residual under error
// feedback, passed through top-k when that is the base compressor) is
// compared with its lbg:
//
//   rho = <g, lbg> / <lbg, lbg>,  err = 1 - cos^2(g, lbg)
//   err <= delta:  send the scalar rho; the server rebuilds rho * lbg
//   otherwise:     send g in full;      lbg = g on both sides
//
// The server averages the rebuilt updates as FedAvg (sample weights over
// the round's clients; the authors' server momentum is not applied).
#include <cmath>
#include <map>

#include "flb/algo/fedavg.h"
#include "flb/algo/option_choice.h"
#include "flb/algo/state_archive.h"
#include "flb/algo/tensor_parts.h"
#include "flb/algo/topk.h"
#include "flb/core/error.h"

namespace flb::algo {
namespace {

constexpr uint8_t kTagFull = 0, kTagLookBack = 1;

enum class BaseCompressor { kNone, kTopK };

struct LbgmOptions : OptionGroup {
  double delta = 0.2;                               // --lbgm-delta: largest sin^2(g, lbg) sent as a scalar
  BaseCompressor base_compressor = BaseCompressor::kNone;  // --base-compressor

  void add_options(CLI::App& app) override {
    app.add_option("--lbgm-delta", delta, "lbgm: send a scalar when sin^2(update, look-back gradient) <= delta")
        ->check(CLI::Range(0.0, 1.0))->group(kOptionsHelpGroup);
    add_choice(app, "--base-compressor", base_compressor, {{"none", BaseCompressor::kNone}, {"topk", BaseCompressor::kTopK}},
               "lbgm: compressor whose output LBGM recycles")->group(kOptionsHelpGroup);
  }
  void validate(const Options&) const override {
    require(delta >= 0 && delta <= 1, "--lbgm-delta: must be in [0, 1]");
  }
};

class Lbgm : public Algorithm {
 public:
  Lbgm(const LbgmOptions& lbgm, const TopkOptions& topk)
      : delta_(lbgm.delta), error_feedback_(topk.error_feedback), topk_(lbgm.base_compressor == BaseCompressor::kTopK),
        ratio_(topk.ratio) {}
  std::string name() const override { return topk_ ? "lbgm+topk" : "lbgm"; }
  Tensors trainable(torch::nn::Module& model) override { return model.parameters(); }
  bool plain_local_training() const override { return true; }

  // Each tensor exactly once: in full (dense, or sparse under top-k) or as
  // one scalar rho.
  compress::WireSchema upload_schema(const Tensors& tensors) const override {
    compress::WireSchema s = compress::WireSchema::uniform(
        wire_id(), numels(tensors), (topk_ ? compress::kSparseOnly : compress::kDenseOnly) | compress::kScalarOnly);
    for (auto& rule : s.tensors) rule.scalar_values = 1;
    return s;
  }

  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override {
    torch::NoGradGuard no_grad;
    compress::Payload p;
    p.algorithm = wire_id();
    p.client = static_cast<uint32_t>(ctx.client);
    Memory& mem = clients_[ctx.client];
    mem.lbg.resize(local.size());
    mem.residual.resize(local.size());
    Unsettled& before = unsettled_[ctx.client];
    before.lbg = mem.lbg;  // handles: the code below replaces tensors, never writes into them
    before.g_in.assign(local.size(), torch::Tensor());
    for (size_t i = 0; i < local.size(); ++i) {
      const auto tensor = static_cast<uint32_t>(i);
      torch::Tensor g_in = local[i] - global[i];
      if (error_feedback_ && mem.residual[i].defined()) g_in.add_(mem.residual[i]);
      if (error_feedback_) before.g_in[i] = g_in;
      torch::Tensor g = g_in;
      compress::Part full;
      if (topk_) {
        full = top_k_part(tensor, g_in, top_k_count(ratio_, g_in.numel()), &g);
      } else {
        full = dense_part(tensor, g);
      }
      torch::Tensor& lbg = mem.lbg[i];
      if (lbg.defined()) {
        const double dot = (g * lbg).sum().item<double>();
        const double ll = lbg.pow(2).sum().item<double>(), gg = g.pow(2).sum().item<double>();
        const double cos2 = gg > 0 && ll > 0 ? dot * dot / (gg * ll) : 0.0;
        const double err = 1.0 - cos2;  // sin^2 of the angle between g and lbg
        if (ll > 0 && err <= delta_) {
          const float rho = static_cast<float>(dot / ll);
          p.parts.push_back(compress::scalar_part(tensor, static_cast<uint64_t>(g.numel()), {rho}, kTagLookBack));
          if (error_feedback_) mem.residual[i] = g_in - rho * lbg;
          continue;
        }
      }
      full.tag = kTagFull;
      p.parts.push_back(std::move(full));
      lbg = g.clone();
      if (error_feedback_) mem.residual[i] = g_in - g;  // top-k's leftover; zero without a base compressor
    }
    return p;
  }

  // An upload the server never used leaves the server's look-back
  // gradients as they were, so the client's go back to them too; under
  // error feedback the whole update g_in waits for the next round.
  void settle_upload(const ClientContext& ctx, bool used) override {
    const auto it = unsettled_.find(ctx.client);
    if (it == unsettled_.end()) return;
    if (!used) {
      Memory& mem = clients_.at(ctx.client);
      mem.lbg = it->second.lbg;
      if (error_feedback_) mem.residual = it->second.g_in;
    }
    unsettled_.erase(it);
  }

  compress::Payload aggregate(int64_t, const std::vector<Upload>& uploads, const Tensors& global) override {
    torch::NoGradGuard no_grad;
    const std::vector<float> w = sample_weights(uploads);
    Tensors mean;
    for (const auto& g : global) mean.push_back(torch::zeros_like(g, torch::kFloat32));
    for (size_t k = 0; k < uploads.size(); ++k) {
      const Upload& u = uploads[k];
      Tensors& lbg = server_lbg_[u.client];
      lbg.resize(global.size());
      for (const compress::Part& part : u.payload.parts) {  // the schema: each tensor once, full or one scalar
        const size_t i = part.tensor;
        if (part.kind == compress::PartKind::kScalar) {
          require(lbg[i].defined(), "client " + std::to_string(u.client) + ": scalar for tensor " + std::to_string(i) +
                                        " but no look-back gradient on record");
          mean[i].add_(lbg[i], compress::value_at(part, 0) * w[k]);  // rebuild rho * lbg, weighted
        } else {
          lbg[i] = part_to_dense(part, global[i]).to(global[i].device());
          add_part(mean[i], part, w[k]);
        }
      }
    }
    return dense_broadcast(wire_id(), mean);
  }

  void apply_download(int64_t, Tensors& global, const compress::Payload& download) override {
    add_download(global, download);
  }

  void save_state(torch::serialize::OutputArchive& archive) const override {
    ClientTensors lbg, residual;
    for (const auto& [client, mem] : clients_) {
      lbg[client] = mem.lbg;
      residual[client] = mem.residual;
    }
    write_client_tensors(archive, "lbgm_client_lbg", lbg);
    write_client_tensors(archive, "lbgm_client_residual", residual);
    write_client_tensors(archive, "lbgm_server_lbg", server_lbg_);
  }
  void load_state(torch::serialize::InputArchive& archive) override {
    const ClientTensors lbg = read_client_tensors(archive, "lbgm_client_lbg");
    ClientTensors residual = read_client_tensors(archive, "lbgm_client_residual");
    clients_.clear();
    for (const auto& [client, tensors] : lbg) clients_[client] = {tensors, residual[client]};
    server_lbg_ = read_client_tensors(archive, "lbgm_server_lbg");
  }

  int64_t client_state_bytes() const override {
    int64_t n = 0;
    for (const auto& [client, mem] : clients_) n += tensor_bytes(mem.lbg) + tensor_bytes(mem.residual);
    return n;
  }
  // A look-back gradient of every trained tensor, and a residual of each
  // with error feedback.
  int64_t client_state_bytes_bound(const Tensors& trained) const override {
    return tensor_bytes(trained) * (error_feedback_ ? 2 : 1);
  }
  int64_t server_state_bytes() const override {
    return tensor_bytes(server_lbg_);
  }

 private:
  struct Memory {
    Tensors lbg;       // undefined until the tensor is first sent in full
    Tensors residual;  // error feedback
  };
  double delta_;
  bool error_feedback_, topk_;
  double ratio_;
  struct Unsettled {  // a client's state before this round's encode, until settle_upload
    Tensors lbg;
    Tensors g_in;      // error feedback: the whole update, residual included
  };
  std::map<int64_t, Memory> clients_;     // this rank's clients
  std::map<int64_t, Unsettled> unsettled_;
  ClientTensors server_lbg_;               // rank 0: every client's look-back gradients
};

}  // namespace

std::unique_ptr<OptionGroup> lbgm_options() { return std::make_unique<LbgmOptions>(); }

std::unique_ptr<Algorithm> make_lbgm(const Options& o, uint64_t) {
  return std::make_unique<Lbgm>(o.get<LbgmOptions>(), o.get<TopkOptions>());
}

}  // namespace flb::algo
