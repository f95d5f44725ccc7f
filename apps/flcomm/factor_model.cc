#include "factor_model.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "flb/core/error.h"
#include "flb/model/low_rank.h"

namespace flcomm {
namespace {

class FactorPair : public torch::nn::Module, public flb::model::LowRankLayer {
 public:
  FactorPair(int64_t d_out, int64_t d_in, int64_t r, double alpha) : r_(r), scale_(alpha / static_cast<double>(r)) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(d_in));
    down_ = register_parameter("D0", torch::empty({r, d_in}).uniform_(-bound, bound));
    up_ = register_parameter("U0", torch::randn({d_out, r}) * 0.02);
    base_ = torch::zeros({1, 1}).expand({d_out, d_in});
  }
  torch::Tensor& base() override { return base_; }
  torch::Tensor& up(int) override { return up_; }
  torch::Tensor& down(int) override { return down_; }
  int pairs() const override { return 1; }
  int64_t rank() const override { return r_; }
  double scale() const override { return scale_; }
  torch::Tensor delta(int) override { return (up_.matmul(down_) * scale_).detach(); }

 private:
  int64_t r_;
  double scale_;
  torch::Tensor up_, down_, base_;
};

}  // namespace

int64_t Workload::factor_values(int64_t r) const {
  int64_t v = 0;
  for (const auto& s : shapes) v += s.count * r * (s.d_in + s.d_out);
  return v;
}

int64_t Workload::layers() const {
  int64_t n = 0;
  for (const auto& s : shapes) n += s.count;
  return n;
}

Workload preset_workload(const std::string& name) {
  const std::vector<std::string> all = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return {name, flb::model::lora_projection_shapes(flb::model::llama_preset(name), all)};
}

Workload custom_workload(int64_t layers, const std::string& dims) {
  flb::require(layers >= 1, "--layers: must be at least 1");
  Workload w{"custom", {}};
  std::stringstream list(dims);
  std::string item;
  while (std::getline(list, item, ',')) {
    const size_t x = item.find('x');
    int64_t out = 0, in = 0;
    try {
      if (x == std::string::npos) throw std::invalid_argument(item);
      out = std::stoll(item.substr(0, x));
      in = std::stoll(item.substr(x + 1));
    } catch (const std::exception&) {
      throw flb::Error("--dims: '" + item + "' is not OUTxIN (for example 4096x1024)");
    }
    flb::require(out >= 1 && in >= 1, "--dims: '" + item + "' needs positive sizes");
    w.shapes.push_back({"w" + std::to_string(w.shapes.size()), out, in, layers});
  }
  flb::require(!w.shapes.empty(), "--dims: give at least one OUTxIN");
  return w;
}

std::shared_ptr<torch::nn::Module> make_factor_model(const Workload& w, int64_t r, uint64_t seed, double alpha) {
  torch::manual_seed(seed);
  auto model = std::make_shared<torch::nn::Module>("FactorModel");
  int64_t max_count = 0;
  for (const auto& s : w.shapes) max_count = std::max(max_count, s.count);
  for (int64_t layer = 0; layer < max_count; ++layer)
    for (const auto& s : w.shapes)
      if (layer < s.count)
        model->register_module("l" + std::to_string(layer) + "_" + s.name,
                               std::make_shared<FactorPair>(s.d_out, s.d_in, r, alpha));
  return model;
}

}  // namespace flcomm
