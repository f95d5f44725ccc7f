// FedProx (Li et al. 2020) on LoRA: FedIT plus the proximal term
// mu/2 ||theta - theta_global||^2 over the trained tensors (A and B of
// every layer) in each client's loss; its gradient is mu (theta - theta_global).
#include "flb/algo/fedit.h"
#include "flb/algo/option_choice.h"

namespace flb::algo {
namespace {

struct ProxOptions : OptionGroup {
  double mu = 0.01;  // --prox-mu
  void add_options(CLI::App& app) override {
    app.add_option("--prox-mu", mu, "fedprox: weight mu of the proximal term mu/2 ||theta - theta_global||^2")
        ->check(CLI::Range(0.0, 1e6))->group(kOptionsHelpGroup);
  }
  void validate(const Options&) const override { require(mu >= 0, "--prox-mu: must be non-negative"); }
};

class FedProx : public FedIT {
 public:
  FedProx(const LoraOptions& c, const ProxOptions& prox, uint64_t seed) : FedIT(c, seed), mu_(prox.mu) {}

  bool plain_local_training() const override { return false; }  // the proximal term shapes each client's steps
  torch::Tensor regularizer(const Tensors& params, const Tensors& global) override {
    if (mu_ == 0 || params.empty()) return {};
    torch::Tensor sum = (params[0] - global[0].detach()).pow(2).sum();
    for (size_t i = 1; i < params.size(); ++i) sum = sum + (params[i] - global[i].detach()).pow(2).sum();
    return sum * (0.5 * mu_);
  }

 private:
  double mu_;
};

}  // namespace

std::unique_ptr<OptionGroup> fedprox_options() { return std::make_unique<ProxOptions>(); }

std::unique_ptr<Algorithm> make_fedprox(const Options& o, uint64_t seed) {
  return std::make_unique<FedProx>(o.get<LoraOptions>(), o.get<ProxOptions>(), seed);
}

}  // namespace flb::algo
