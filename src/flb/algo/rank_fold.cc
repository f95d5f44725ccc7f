#include "flb/algo/rank_fold.h"

#include "flb/algo/lora.h"
#include "flb/core/error.h"

namespace flb::algo {

std::vector<double> dropped_sums(const std::vector<Upload>& uploads, size_t tensors) {
  std::vector<double> sum(tensors, 0.0);
  for (const Upload& u : uploads)
    for (const compress::Part& part : u.payload.parts)
      sum.at(part.tensor) += 1.0 - static_cast<double>(part.count()) / static_cast<double>(part.numel);
  return sum;
}

RankFold fold_uploads(const LoraAlgorithm& algorithm, const std::vector<Upload>& uploads, const Tensors& global) {
  torch::NoGradGuard no_grad;
  RankFold fold;
  fold.uploads = static_cast<double>(uploads.size());
  fold.dropped = dropped_sums(uploads, global.size());
  const std::vector<Tensors> deltas = upload_deltas(uploads, global);
  for (size_t l = 0; l < algorithm.slots().size(); ++l) {
    const size_t ia = algorithm.a_index(l), ib = algorithm.b_index(l);
    const torch::Tensor A = as_matrix(global[ia]), B = as_matrix(global[ib]);
    if (uploads.empty()) {
      fold.layers.push_back({{}, {}, 0.0, torch::zeros_like(A), torch::zeros_like(B),
                             {torch::zeros({B.size(0), 0}, B.options())}, {torch::zeros({0, A.size(1)}, A.options())}});
      continue;
    }
    linalg::SharedBaseSum terms{A, B, {}, {}, {}};
    for (size_t k = 0; k < uploads.size(); ++k) {
      const Tensors& d = deltas[k];
      terms.dA.push_back(d[ia].defined() ? as_matrix(d[ia]) : torch::zeros_like(A));
      terms.dB.push_back(d[ib].defined() ? as_matrix(d[ib]) : torch::zeros_like(B));
      terms.w.push_back(algorithm.uniform_weights() ? 1.0 : static_cast<double>(uploads[k].samples));
    }
    linalg::FoldedBaseSum f = linalg::fold(terms);
    f.A = torch::Tensor();  // the base stays home: every rank has it
    f.B = torch::Tensor();
    fold.layers.push_back(std::move(f));
  }
  return fold;
}

std::vector<linalg::FoldedBaseSum> merge_folds(const LoraAlgorithm& algorithm, const std::vector<RankFold>& folds,
                                               const Tensors& global, std::vector<double>* mean_dropped) {
  double weight = 0, uploads = 0;
  for (const RankFold& f : folds) {
    require(f.layers.size() == algorithm.slots().size() && f.dropped.size() == global.size(),
            "hierarchical: a rank's fold has " + std::to_string(f.layers.size()) + " layers and " +
                std::to_string(f.dropped.size()) + " tensors; the model has " +
                std::to_string(algorithm.slots().size()) + " and " + std::to_string(global.size()));
    if (!f.layers.empty()) weight += f.layers.front().s;
    uploads += f.uploads;
  }
  require(uploads > 0 && weight > 0, "no valid upload this round");
  if (mean_dropped) {
    mean_dropped->assign(global.size(), 0.0);
    for (const RankFold& f : folds)
      for (size_t t = 0; t < global.size(); ++t) (*mean_dropped)[t] += f.dropped[t] / uploads;
  }
  std::vector<linalg::FoldedBaseSum> merged;
  for (size_t l = 0; l < algorithm.slots().size(); ++l) {
    const torch::Tensor A = as_matrix(global[algorithm.a_index(l)]), B = as_matrix(global[algorithm.b_index(l)]);
    std::vector<linalg::FoldedBaseSum> layer;
    for (const RankFold& f : folds) {
      const linalg::FoldedBaseSum& g = f.layers[l];
      linalg::FoldedBaseSum with_base{A, B, g.s, g.a.to(A.device()), g.b.to(A.device()), {}, {}};
      for (size_t j = 0; j < g.L.size(); ++j) {
        with_base.L.push_back(g.L[j].to(A.device()));
        with_base.R.push_back(g.R[j].to(A.device()));
      }
      layer.push_back(std::move(with_base));
    }
    merged.push_back(linalg::merge(layer, 1.0 / weight));
  }
  return merged;
}

}  // namespace flb::algo
