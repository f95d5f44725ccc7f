#include "reference.h"

#include <torch/torch.h>

#include <algorithm>

#include "../bench/dense_reference.h"
#include "flb/algo/lora.h"

namespace flcomm {
namespace {

using flb::algo::Tensors;
using flb::algo::Upload;
using flb::compress::Part;
using flb::compress::PartKind;
using flb::compress::Payload;

bool has_scalar_part(const std::vector<Upload>& uploads) {
  for (const Upload& u : uploads)
    for (const Part& p : u.payload.parts)
      if (p.kind == PartKind::kScalar) return true;
  return false;
}

// The weighted mean of the uploads' parts for tensor t, float64, w = 1/m
// (flcomm's clients all have one sample, so sample and uniform weights agree).
torch::Tensor mean_delta(const std::vector<Upload>& uploads, const torch::Tensor& like, uint32_t t) {
  torch::Tensor sum = torch::zeros(like.sizes(), torch::kFloat64);
  for (const Upload& u : uploads)
    for (const Part& p : u.payload.parts)
      if (p.tensor == t) sum += dense_of(p, like).to(torch::kFloat64);
  return sum / static_cast<double>(uploads.size());
}

// Every tensor's broadcast delta against the mean of the uploads.
AggregateCheck check_mean(const std::vector<Upload>& uploads, const Tensors& global, const Payload& download) {
  AggregateCheck c{0, 0, 1e-5, "every tensor's broadcast delta vs the float64 mean of the decoded uploads"};
  for (uint32_t t = 0; t < global.size(); ++t) {
    torch::Tensor got = torch::zeros(global[t].sizes(), torch::kFloat64);
    for (const Part& p : download.parts)
      if (p.tensor == t) got += dense_of(p, global[t]).to(torch::kFloat64);
    const torch::Tensor want = mean_delta(uploads, global[t], t);
    const double scale = std::max(want.abs().max().item<double>(), 1e-30);
    const double err = (got - want).abs().max().item<double>() / scale;
    c.max_error = std::max(c.max_error, err);
    c.wrong += err > c.tolerance;
  }
  return c;
}

struct LayerZero {
  torch::Tensor A, B;                 // global, as matrices
  std::vector<torch::Tensor> dA, dB;  // each upload's
  std::vector<float> w;
};

LayerZero layer_zero(const flb::algo::LoraAlgorithm& lora, const std::vector<Upload>& uploads, const Tensors& global) {
  const size_t ia = lora.a_index(0), ib = lora.b_index(0);
  LayerZero l{flb::algo::as_matrix(global[ia]), flb::algo::as_matrix(global[ib]), {}, {}, {}};
  for (const Upload& u : uploads) {
    l.dA.push_back(flb::algo::as_matrix(mean_delta({u}, global[ia], static_cast<uint32_t>(ia)).to(torch::kFloat32)));
    l.dB.push_back(flb::algo::as_matrix(mean_delta({u}, global[ib], static_cast<uint32_t>(ib)).to(torch::kFloat32)));
    l.w.push_back(1.0f / static_cast<float>(uploads.size()));
  }
  return l;
}

// FedSRD(-e): layer 0's broadcast part against the dense solve, at the
// part's positions (the rest were dropped by the download sparsifier).
AggregateCheck check_fedsrd(const flb::algo::LoraAlgorithm& lora, const std::vector<Upload>& uploads,
                            const Tensors& global, const Payload& download, double q, bool truncate) {
  AggregateCheck c{0, 0, 1e-4, "layer 0's solved factor vs the dense float64 solve (dense_reference.h)"};
  const LayerZero l = layer_zero(lora, uploads, global);
  const auto part = std::find_if(download.parts.begin(), download.parts.end(), [&](const Part& p) {
    return p.tensor == lora.a_index(0) || p.tensor == lora.b_index(0);
  });
  if (part == download.parts.end()) return {1, 1, c.tolerance, "layer 0 has no broadcast part"};
  const bool a_round = part->tensor == lora.a_index(0);
  const torch::Tensor want = flb_bench::fedsrd_solve(l.A, l.B, l.dA, l.dB, l.w,
                                                     a_round ? flb::algo::fedsrd::Factor::kA : flb::algo::fedsrd::Factor::kB,
                                                     truncate).reshape({-1}) / (1 - q);
  const torch::Tensor got = dense_of(*part, global[part->tensor]).reshape({-1}).to(torch::kFloat64);
  const torch::Tensor at = part->kind == PartKind::kSparse ? part->indices.to(torch::kLong) : torch::arange(want.numel());
  const double scale = std::max(want.abs().max().item<double>(), 1e-30);
  c.max_error = (got.index({at}) - want.index({at})).abs().max().item<double>() / scale;
  c.wrong = c.max_error > c.tolerance;
  return c;
}

// FlexLoRA: layer 0's new B A against the rank-r truncation of W_avg.
AggregateCheck check_flexlora(const flb::algo::LoraAlgorithm& lora, const std::vector<Upload>& uploads,
                              const Tensors& global, const Payload& download) {
  AggregateCheck c{0, 0, 1e-3, "layer 0's new B A vs the rank-r truncation of the dense float64 W_avg"};
  const LayerZero l = layer_zero(lora, uploads, global);
  torch::Tensor A, B;
  for (const Part& p : download.parts) {
    if (p.tensor == lora.a_index(0)) A = flb::algo::as_matrix(dense_of(p, global[p.tensor]));
    if (p.tensor == lora.b_index(0)) B = flb::algo::as_matrix(dense_of(p, global[p.tensor]));
  }
  if (!A.defined() || !B.defined()) return {1, 1, c.tolerance, "layer 0's factors are not in the broadcast"};
  const torch::Tensor want = flb_bench::truncated(flb_bench::dense_average(l.A, l.B, l.dA, l.dB, l.w), l.A.size(0));
  c.max_error = flb_bench::max_rel_diff(B.to(torch::kFloat64).matmul(A.to(torch::kFloat64)), want);
  c.wrong = c.max_error > c.tolerance;
  return c;
}

}  // namespace

torch::Tensor dense_of(const Part& p, const torch::Tensor& like) {
  if (p.kind == PartKind::kDense) return p.values.reshape(like.sizes());
  torch::Tensor d = torch::zeros({like.numel()}, torch::kFloat32);
  d.index_put_({p.indices.to(torch::kLong)}, p.values);
  return d.reshape(like.sizes());
}

AggregateCheck check_aggregate(const flb::algo::Algorithm& algorithm, const std::vector<Upload>& uploads,
                               const Tensors& global, const Payload& download, double download_sparsity) {
  torch::NoGradGuard no_grad;
  const std::string name = algorithm.name();
  const auto* lora = dynamic_cast<const flb::algo::LoraAlgorithm*>(&algorithm);
  if (uploads.empty()) return {-1, 0, 0, "no upload decoded"};
  if (name == "fedsrd" || name == "fedsrd-e")
    return check_fedsrd(*lora, uploads, global, download, download_sparsity, name == "fedsrd");
  if (name == "flexlora") return check_flexlora(*lora, uploads, global, download);
  if (name == "fedit" || name == "fed-dare" || name == "topk" || (name.rfind("lbgm", 0) == 0 && !has_scalar_part(uploads)))
    return check_mean(uploads, global, download);
  return {-1, 0, 0, "no reference for " + name + " here"};
}

}  // namespace flcomm
