// FedProx (Li et al. 2020) on LoRA: FedIT plus the proximal term
// mu/2 ||theta - theta_global||^2 over the trained tensors (A and B of
// every layer) in each client's loss; its gradient is mu (theta - theta_global).
#include "flb/algo/factories.h"
#include "flb/algo/fedit.h"

namespace flb::algo {
namespace {

class FedProx : public FedIT {
 public:
  FedProx(const AlgoConfig& c, uint64_t seed) : FedIT(c, seed), mu_(c.prox_mu) {}
  std::string name() const override { return "fedprox"; }
  uint16_t wire_id() const override { return 8; }

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

std::unique_ptr<Algorithm> make_fedprox(const AlgoConfig& c, uint64_t seed) { return std::make_unique<FedProx>(c, seed); }

}  // namespace flb::algo
