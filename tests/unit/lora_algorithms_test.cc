// The LoRA family (fedit, fedprox, ffa-lora, flexlora, fed-dare, fedsrd,
// fedsrd-e) on a tiny two-layer LoRA model, against independent
// references: brute-force sums and SVDs in Eigen (float64), closed forms,
// and statistics with tolerances derived from the variance. Every payload
// goes through the wire format, as in a run. Tests print the largest
// difference they saw.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "flb/algo/fedsrd.h"
#include "flb/algo/lora.h"
#include "algo_args.h"
#include "flb/algo/registry.h"
#include "flb/algo/tensor_parts.h"
#include "flb/compress/importance.h"
#include "flb/compress/wire_format.h"
#include "flb/core/error.h"
#include "flb/core/rng.h"
#include "flb/model/low_rank.h"
#include "flb/sim/hierarchical.h"

namespace flb::algo {
namespace {

using Mat = Eigen::MatrixXd;

// Two LoRA linear layers, d_in -> d_hidden -> d_out.
struct Tiny : torch::nn::Module {
  Tiny(const model::LowRankSpec* spec, int64_t d_in, int64_t d_hidden, int64_t d_out)
      : l1(register_module("l1", model::make_linear(d_in, d_hidden, spec))),
        l2(register_module("l2", model::make_linear(d_hidden, d_out, spec))) {}
  torch::Tensor forward(const torch::Tensor& x) { return l2->forward(torch::relu(l1->forward(x))); }
  std::shared_ptr<model::Layer> l1, l2;
};

struct LoraRig {
  std::unique_ptr<Algorithm> algo;
  std::shared_ptr<Tiny> model;
  Tensors params;  // the model's trained tensors (trainable())
  Tensors global;  // detached copies: the round's global state
  LoraAlgorithm& lora() const { return dynamic_cast<LoraAlgorithm&>(*algo); }
};

AlgoArgs config(const std::string& name, int64_t rank = 3) {
  AlgoArgs c;
  c.name = name;
  c.set("--lora-rank", rank);
  c.set("--alpha", 2.0 * static_cast<double>(rank));
  return c;
}

// As the engine does: build with model_spec(), take trainable(), freeze the
// rest. random_b: give B a non-zero value (as after some rounds).
LoraRig make_rig(const AlgoArgs& c, int64_t d_in = 12, int64_t d_hidden = 10, int64_t d_out = 6, bool random_b = true) {
  LoraRig s;
  s.algo = make_algorithm(c, 7);
  torch::manual_seed(11);
  s.model = std::make_shared<Tiny>(s.algo->model_spec(), d_in, d_hidden, d_out);
  s.params = s.algo->trainable(*s.model);
  for (auto& p : s.model->parameters()) {
    bool trained = false;
    for (const auto& q : s.params) trained = trained || p.is_same(q);
    p.set_requires_grad(trained);
  }
  if (random_b) {
    torch::NoGradGuard no_grad;
    for (auto* l : model::low_rank_layers(*s.model)) l->up(0).normal_(0, 0.5);
  }
  for (const auto& p : s.params) s.global.push_back(p.detach().clone());
  return s;
}

Tensors perturbed(const Tensors& g, double scale) {
  Tensors out;
  for (const auto& t : g) out.push_back(t + scale * torch::randn_like(t));
  return out;
}

Tensors clone(const Tensors& g) {
  Tensors out;
  for (const auto& t : g) out.push_back(t.clone());
  return out;
}

compress::WireSchema upload_schema(const LoraRig& s) { return s.algo->upload_schema(s.global); }
compress::WireSchema download_schema(const LoraRig& s) { return s.algo->download_schema(s.global); }

// encode_upload -> bytes -> decode at the server, as in a run (the parts view the bytes and keep them alive).
Upload upload(const LoraRig& s, const Tensors& local, int64_t client, int64_t samples, int64_t round) {
  const auto bytes = std::make_shared<std::vector<uint8_t>>(
      compress::encode(s.algo->encode_upload({client, round, samples}, s.global, local)));
  return {client, samples,
          compress::decode(bytes->data(), bytes->size(), upload_schema(s), static_cast<uint32_t>(client), bytes)};
}

// aggregate -> bytes -> decode as a rank receives it.
compress::Payload broadcast(const LoraRig& s, int64_t round, const std::vector<Upload>& uploads) {
  const auto bytes = std::make_shared<std::vector<uint8_t>>(compress::encode(s.algo->aggregate(round, uploads, s.global)));
  return compress::decode(bytes->data(), bytes->size(), download_schema(s), compress::kServerId, bytes);
}

Mat to_eigen(const torch::Tensor& t) {
  const torch::Tensor c = as_matrix(t).to(torch::kCPU, torch::kFloat64).contiguous();
  Mat m(c.size(0), c.size(1));
  const double* p = c.data_ptr<double>();
  for (int64_t i = 0; i < c.size(0); ++i)
    for (int64_t j = 0; j < c.size(1); ++j) m(i, j) = p[i * c.size(1) + j];
  return m;
}

Mat pinv(const Mat& M) { return M.completeOrthogonalDecomposition().pseudoInverse(); }

Mat truncate_to(const Mat& W, int64_t r) {
  Eigen::BDCSVD<Mat> svd(W, Eigen::ComputeThinU | Eigen::ComputeThinV);
  return svd.matrixU().leftCols(r) * svd.singularValues().head(r).asDiagonal() * svd.matrixV().leftCols(r).transpose();
}

// max |a - b| / max |b|
double rel_diff(const Mat& a, const Mat& b) { return (a - b).cwiseAbs().maxCoeff() / std::max(b.cwiseAbs().maxCoeff(), 1e-30); }

// Each upload's dense deltas (from the decoded, possibly sparse parts).
std::vector<Tensors> dense_deltas(const std::vector<Upload>& uploads, const Tensors& global) {
  return upload_deltas(uploads, global);
}

// ---------------------------------------------------------------------------

TEST(Lora, TrainableIsAThenBOfEveryLayerAndNothingElse) {
  for (const char* name : {"fedit", "fedprox", "ffa-lora", "flexlora", "fed-dare", "fedsrd", "fedsrd-e"}) {
    LoraRig s = make_rig(config(name), 12, 10, 6, /*random_b=*/false);
    const auto layers = model::low_rank_layers(*s.model);
    ASSERT_EQ(layers.size(), 2u);
    const bool ffa = std::string(name) == "ffa-lora";
    ASSERT_EQ(s.params.size(), ffa ? 2u : 4u) << name;
    const auto& slots = s.lora().slots();
    ASSERT_EQ(slots.size(), 2u);
    for (size_t l = 0; l < 2; ++l) {
      if (ffa) {
        EXPECT_EQ(slots[l].a, -1);
      } else {
        EXPECT_TRUE(s.params[s.lora().a_index(l)].is_same(layers[l]->down(0))) << name;
        EXPECT_EQ(s.lora().a_index(l), 2 * l);
      }
      EXPECT_TRUE(s.params[s.lora().b_index(l)].is_same(layers[l]->up(0))) << name;
      EXPECT_EQ(layers[l]->up(0).abs().max().item<float>(), 0.0f);  // B starts at 0
      EXPECT_GT(layers[l]->down(0).abs().max().item<float>(), 0.0f);
      EXPECT_GT(layers[l]->base().abs().max().item<float>(), 0.0f);  // W0 kept, frozen
      EXPECT_FALSE(layers[l]->base().requires_grad());
    }
    int64_t frozen = 0;
    for (const auto& p : s.model->parameters()) frozen += !p.requires_grad();
    EXPECT_EQ(frozen, ffa ? 6 : 4) << name;  // W0 and bias of both layers (+ A for FFA-LoRA)
  }
}

TEST(FedIT, AveragesAAndBSeparatelyWithSampleOrUniformWeights) {
  for (const char* weights : {"auto", "uniform"}) {
    AlgoArgs c = config("fedit");
    c.set("--aggregation-weights", weights);
    LoraRig s = make_rig(c);
    torch::manual_seed(1);
    const Tensors l0 = perturbed(s.global, 0.1), l1 = perturbed(s.global, 0.1);
    const auto down = broadcast(s, 0, {upload(s, l0, 0, 1, 0), upload(s, l1, 1, 3, 0)});
    Tensors next = clone(s.global);
    s.algo->apply_download(0, next, down);
    const double w0 = std::string(weights) == "uniform" ? 0.5 : 0.25;
    double diff = 0;
    for (size_t i = 0; i < next.size(); ++i) {
      EXPECT_EQ(down.parts[i].kind, compress::PartKind::kDense);
      diff = std::max(diff, (next[i] - (w0 * l0[i] + (1 - w0) * l1[i])).abs().max().item<double>());
    }
    std::printf("fedit (%s weights): max |next - (w0 x0 + w1 x1)| = %.3g\n", weights, diff);
    EXPECT_LT(diff, 1e-6);
  }
}

TEST(FedProx, RegularizerValueAndGradientMatchTheClosedForm) {
  AlgoArgs c = config("fedprox");
  c.set("--prox-mu", 0.3);
  LoraRig s = make_rig(c);
  torch::manual_seed(2);
  Tensors local = perturbed(s.global, 0.7);
  for (auto& t : local) t.set_requires_grad(true);
  const torch::Tensor reg = s.algo->regularizer(local, s.global);
  ASSERT_TRUE(reg.defined());
  reg.backward();
  double want = 0, grad_diff = 0;
  for (size_t i = 0; i < local.size(); ++i) {
    const auto d = (local[i].detach() - s.global[i]).to(torch::kFloat64);
    want += d.pow(2).sum().item<double>();
    grad_diff = std::max(grad_diff, (local[i].grad().to(torch::kFloat64) - 0.3 * d).abs().max().item<double>());
  }
  want *= 0.15;  // mu / 2
  std::printf("fedprox: value %.6f vs closed form %.6f; max |grad - mu (theta - theta_g)| = %.3g\n",
              reg.item<double>(), want, grad_diff);
  EXPECT_NEAR(reg.item<double>(), want, 1e-5 * want);
  EXPECT_LT(grad_diff, 1e-6);
  // Uploads and server are FedIT's: dense.
  const auto up = upload(s, clone(s.global), 0, 1, 0);
  for (const auto& part : up.payload.parts) EXPECT_EQ(part.kind, compress::PartKind::kDense);
}

TEST(FfaLora, AIsBitwiseUnchangedAndOnlyDbIsUploaded) {
  LoraRig s = make_rig(config("ffa-lora"), 12, 10, 6, /*random_b=*/false);
  const auto layers = model::low_rank_layers(*s.model);
  std::vector<torch::Tensor> a0;
  for (auto* l : layers) a0.push_back(l->down(0).clone());
  torch::optim::SGD opt(s.params, torch::optim::SGDOptions(0.1).momentum(0.9));
  torch::manual_seed(3);
  for (int round = 0; round < 3; ++round) {
    std::vector<Upload> ups;
    for (int64_t client = 0; client < 2; ++client) {
      {
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < s.params.size(); ++i) s.params[i].copy_(s.global[i]);
      }
      for (int step = 0; step < 5; ++step) {
        opt.zero_grad();
        const auto loss = (s.model->forward(torch::randn({8, 12})) - 1.0).pow(2).mean();
        loss.backward();
        opt.step();
      }
      const Upload u = upload(s, s.params, client, 4, round);
      ASSERT_EQ(u.payload.parts.size(), 2u);  // dB of each layer, nothing else
      for (size_t l = 0; l < 2; ++l) EXPECT_EQ(u.payload.parts[l].tensor, s.lora().b_index(l));
      ups.push_back(u);
    }
    s.algo->apply_download(round, s.global, broadcast(s, round, ups));
  }
  double b_moved = 0;
  for (size_t l = 0; l < 2; ++l) {
    EXPECT_TRUE(layers[l]->down(0).equal(a0[l])) << "layer " << l;  // bitwise
    EXPECT_FALSE(layers[l]->down(0).grad().defined());
    b_moved = std::max(b_moved, s.global[s.lora().b_index(l)].abs().max().item<double>());
  }
  std::printf("ffa-lora: A bitwise unchanged after 3 rounds; max |B| = %.3g (B trained)\n", b_moved);
  EXPECT_GT(b_moved, 0.0);
}

// FedIT's direct path (deltas computed into the buffer), which FedProx,
// FFA-LoRA and FlexLoRA inherit, against the default (encode_upload's
// payload, encoded): the same bytes; Fed-DARE, which overrides
// encode_upload, must not take the direct path.
TEST(FedIT, AppendUploadWritesTheBytesOfTheEncodedPayloadForEveryHeir) {
  for (const char* name : {"fedit", "fedprox", "ffa-lora", "flexlora", "fed-dare"}) {
    LoraRig s = make_rig(config(name));
    torch::manual_seed(5);
    const Tensors local = perturbed(s.global, 0.1);
    std::vector<uint8_t> fast(3, 0xab), reference(3, 0xab);  // an odd prefix: the unaligned path
    const EncodedUpload f = s.algo->append_upload({7, 1, 3}, s.global, local, fast);
    const EncodedUpload r = s.algo->Algorithm::append_upload({7, 1, 3}, s.global, local, reference);
    size_t differing = fast.size() == reference.size() ? 0 : fast.size();
    for (size_t i = 0; i < std::min(fast.size(), reference.size()); ++i) differing += fast[i] != reference[i];
    std::printf("%s: %zu bytes, %zu differ (tolerance 0)\n", name, fast.size(), differing);
    EXPECT_EQ(differing, 0u) << name;
    EXPECT_EQ(f.bytes, r.bytes) << name;
    EXPECT_EQ(f.values, r.values) << name;
  }
}

TEST(FedDare, ExpectedUpdateEqualsTheDenseOne) {
  AlgoArgs c = config("fed-dare");
  c.set("--dare-p", 0.9);
  LoraRig s = make_rig(c);
  AlgoArgs d = config("fedit");
  LoraRig dense = make_rig(d);
  torch::manual_seed(4);
  const Tensors l0 = perturbed(s.global, 0.1), l1 = perturbed(s.global, 0.1);
  // The dense FedIT update and the per-element variance of one Fed-DARE broadcast:
  // sum_i w_i^2 x_i^2 p / (1 - p) for w = (1/4, 3/4).
  Tensors want, var;
  for (size_t i = 0; i < s.global.size(); ++i) {
    const auto x0 = (l0[i] - s.global[i]).to(torch::kFloat64), x1 = (l1[i] - s.global[i]).to(torch::kFloat64);
    want.push_back(0.25 * x0 + 0.75 * x1);
    var.push_back((0.0625 * x0.pow(2) + 0.5625 * x1.pow(2)) * (0.9 / 0.1));
  }
  {  // FedIT's broadcast is exactly that mean
    const auto down = broadcast(dense, 0, {upload(dense, l0, 0, 1, 0), upload(dense, l1, 1, 3, 0)});
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_LT((part_to_dense(down.parts[i], s.global[i]).to(torch::kFloat64) - want[i]).abs().max().item<double>(), 1e-7);
  }
  const int rounds = 2000;
  Tensors sum;
  for (const auto& t : s.global) sum.push_back(torch::zeros(t.sizes(), torch::kFloat64));
  int64_t kept = 0, total = 0;
  for (int round = 0; round < rounds; ++round) {
    const Upload u0 = upload(s, l0, 0, 1, round), u1 = upload(s, l1, 1, 3, round);
    for (const auto& part : u0.payload.parts) {
      EXPECT_EQ(part.kind, compress::PartKind::kSparse);
      kept += static_cast<int64_t>(part.count());
      total += static_cast<int64_t>(part.numel);
    }
    const auto down = broadcast(s, round, {u0, u1});
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += part_to_dense(down.parts[i], s.global[i]).to(torch::kFloat64);
  }
  double max_z = 0;
  for (size_t i = 0; i < sum.size(); ++i) {
    const auto z = (sum[i] / rounds - want[i]).abs() / (var[i] / rounds).sqrt().clamp_min(1e-30);
    max_z = std::max(max_z, z.max().item<double>());
  }
  const double density = static_cast<double>(kept) / static_cast<double>(total);
  const double density_sd = std::sqrt(0.1 * 0.9 / static_cast<double>(total));
  std::printf("fed-dare: %d rounds, max |mean - dense| / sd(mean) = %.2f over %lld elements (tolerance 5: family-wise p < 1e-4 over the elements); "
              "upload density %.4f (expected 0.1 +- %.4f)\n",
              rounds, max_z, static_cast<long long>(total / rounds), density, density_sd);
  EXPECT_LT(max_z, 5.0);
  EXPECT_NEAR(density, 0.1, 5 * density_sd);
  // Masks are a function of (seed, client, round): the same on any rank.
  const auto again = upload(s, l0, 0, 1, 17).payload, first = upload(s, l0, 0, 1, 17).payload;
  EXPECT_EQ(compress::indices_of(again.parts[0]), compress::indices_of(first.parts[0]));
}

TEST(FlexLora, BroadcastMakesBAEqualTheRankRTruncationOfWavg) {
  LoraRig s = make_rig(config("flexlora"));
  torch::manual_seed(5);
  std::vector<Upload> ups;
  std::vector<Tensors> locals;
  for (int64_t k = 0; k < 3; ++k) {
    locals.push_back(perturbed(s.global, 0.2));
    ups.push_back(upload(s, locals.back(), k, 2 + k, 0));
  }
  const auto down = broadcast(s, 0, ups);
  Tensors rank0 = clone(s.global), rank1 = clone(s.global);
  s.algo->apply_download(0, rank0, down);
  s.algo->apply_download(0, rank1, down);
  const double w[3] = {2.0 / 9, 3.0 / 9, 4.0 / 9};
  for (size_t l = 0; l < 2; ++l) {
    const size_t ia = s.lora().a_index(l), ib = s.lora().b_index(l);
    Mat W = Mat::Zero(s.global[ib].size(0), s.global[ia].size(1));
    for (size_t k = 0; k < 3; ++k) W += w[k] * to_eigen(locals[k][ib]) * to_eigen(locals[k][ia]);
    const Mat Wr = truncate_to(W, 3);
    const Mat B = to_eigen(rank0[ib]), A = to_eigen(rank0[ia]);
    const double diff = rel_diff(B * A, Wr);
    // B = U sqrt(S), A = sqrt(S) V^T: B^T B = A A^T = diag(S).
    Eigen::BDCSVD<Mat> svd(W);
    const Mat S = svd.singularValues().head(3).asDiagonal();
    const double gram = std::max(rel_diff(B.transpose() * B, S), rel_diff(A * A.transpose(), S));
    std::printf("flexlora layer %zu: max |B A - W_r| / max |W_r| = %.3g; B^T B, A A^T vs diag(S): %.3g\n", l, diff, gram);
    EXPECT_LT(diff, 1e-5);
    EXPECT_LT(gram, 1e-5);
    EXPECT_EQ(down.parts[2 * l].tag, kReplaceTag);
    EXPECT_TRUE(rank0[ia].equal(rank1[ia]) && rank0[ib].equal(rank1[ib]));
    EXPECT_TRUE(rank0[ia].equal(part_to_dense(down.parts[2 * l], rank0[ia])));  // exactly the server's values
  }
}

// ---------------------------------------------------------------------------
// FedSRD

TEST(FedSrd, UploadSparsityIsExactAndKeepsTheMostImportantElements) {
  for (bool adaptive : {false, true}) {
    AlgoArgs c = config("fedsrd", 8);
    c.set("--upload-sparsity", 0.9);
    c.set("--adaptive-sparsity", adaptive);
    LoraRig s = make_rig(c, 64, 48, 40);
    torch::manual_seed(6);
    const Tensors local = perturbed(s.global, 0.05);
    const compress::Payload p = s.algo->encode_upload({3, 0, 10}, s.global, local);
    ASSERT_EQ(p.parts.size(), 4u);
    double worst_gap = 0, worst_l1 = 0;
    for (size_t l = 0; l < 2; ++l) {
      const size_t ia = s.lora().a_index(l), ib = s.lora().b_index(l);
      for (size_t which = 0; which < 2; ++which) {
        const size_t t = which == 0 ? ia : ib;
        const compress::Part& part = p.parts[t];
        ASSERT_EQ(part.tensor, t);
        ASSERT_EQ(part.kind, compress::PartKind::kSparse);
        // Brute-force importance: |dA[u,v]| ||B_new[:,u]||, |dB[u,v]| ||A_prev[v,:]||.
        const Mat d = to_eigen(local[t] - s.global[t]);
        Mat score(d.rows(), d.cols());
        for (int64_t u = 0; u < d.rows(); ++u)
          for (int64_t v = 0; v < d.cols(); ++v)
            score(u, v) = std::abs(d(u, v)) * (which == 0 ? to_eigen(local[ib]).col(u).norm()
                                                          : to_eigen(s.global[ia]).row(v).norm());
        const int64_t n = d.size();
        double p_want = 0.9;
        if (adaptive) {
          const double mean = score.mean();
          const double m2 = (score.array() - mean).square().mean(), m4 = (score.array() - mean).pow(4).mean();
          p_want = 0.85 + std::min(0.11, 0.1 * std::log(std::max(m4 / (m2 * m2), 1.0)));
        }
        const int64_t keep = n - static_cast<int64_t>(std::floor(p_want * static_cast<double>(n) + 0.5));
        EXPECT_EQ(static_cast<int64_t>(part.count()), keep) << "tensor " << t;
        // Every kept score >= every dropped score.
        std::vector<char> kept(static_cast<size_t>(n), 0);
        for (uint32_t i : compress::indices_of(part)) kept[i] = 1;
        double min_kept = INFINITY, max_dropped = 0, l1_sent = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double sc = score(i / d.cols(), i % d.cols());
          if (kept[static_cast<size_t>(i)]) min_kept = std::min(min_kept, sc);
          else max_dropped = std::max(max_dropped, sc);
        }
        for (float v : compress::values_of(part)) l1_sent += std::abs(v);
        worst_gap = std::max(worst_gap, max_dropped - min_kept);
        worst_l1 = std::max(worst_l1, std::abs(l1_sent - d.cwiseAbs().sum()) / d.cwiseAbs().sum());
        if (l == 0) std::printf("fedsrd %s: tensor %zu keeps %zu of %lld (drop ratio %.4f)\n", adaptive ? "adaptive" : "fixed",
                                t, part.count(), static_cast<long long>(n), p_want);
      }
    }
    std::printf("fedsrd %s: max (max dropped score - min kept score) = %.3g (<= 1e-6 float rounding); "
                "max relative L1 change = %.3g\n", adaptive ? "adaptive" : "fixed", worst_gap, worst_l1);
    EXPECT_LE(worst_gap, 1e-6);
    EXPECT_LT(worst_l1, 1e-5);
  }
}

TEST(FedSrd, ServerReconstructsFromSparseUploadsAndSolvesAsTheBruteForceReference) {
  for (const char* first : {"b", "a"}) {
    AlgoArgs c = config("fedsrd", 3);
    c.set("--download-sparsity", 0.0);  // the solved factor update itself
    c.set("--fedsrd-first-round", first);
    LoraRig s = make_rig(c);
    torch::manual_seed(7);
    std::vector<Upload> ups;
    for (int64_t k = 0; k < 3; ++k) ups.push_back(upload(s, perturbed(s.global, 0.2), k, 5 + k, 0));
    const auto deltas = dense_deltas(ups, s.global);
    const auto down = broadcast(s, 0, ups);
    ASSERT_EQ(down.parts.size(), 2u);  // one factor per layer
    for (size_t l = 0; l < 2; ++l) {
      const size_t ia = s.lora().a_index(l), ib = s.lora().b_index(l);
      const Mat A = to_eigen(s.global[ia]), B = to_eigen(s.global[ib]);
      Mat W = Mat::Zero(B.rows(), A.cols());  // uniform weights 1/m, the FedSRD default
      for (size_t k = 0; k < 3; ++k) W += (1.0 / 3) * (B + to_eigen(deltas[k][ib])) * (A + to_eigen(deltas[k][ia]));
      // reconstruct: fedsrd::reconstruct's sum equals W
      std::vector<torch::Tensor> dA, dB;
      for (const auto& d : deltas) {
        dA.push_back(d[ia]);
        dB.push_back(d[ib]);
      }
      const auto sum = fedsrd::reconstruct(s.global[ia], s.global[ib], dA, dB, {1.f / 3, 1.f / 3, 1.f / 3});
      const double recon = rel_diff(to_eigen(linalg::dense(sum)), W);
      // truncate, project
      const Mat dW = truncate_to(W, 3) - B * A;
      const bool b_round = std::string(first) == "b";
      const Mat want = b_round ? Mat(dW * pinv(A)) : Mat(pinv(B) * dW);
      const compress::Part& part = down.parts[l];
      EXPECT_EQ(part.tensor, b_round ? ib : ia);
      const double solve = rel_diff(to_eigen(part_to_dense(part, s.global[part.tensor])), want);
      std::printf("fedsrd %s-round layer %zu: reconstruction max rel diff %.3g; solved factor max rel diff %.3g\n",
                  first, l, recon, solve);
      EXPECT_LT(recon, 1e-6);
      EXPECT_LT(solve, 1e-4);
    }
  }
}

// /server_diagnostics' numbers against Eigen: the factor norms, the
// truncation error of W_avg's rank-r SVD, the inverted factor's extreme
// singular values, the solved update's norm; the achieved sparsities
// against round(p n) / n and the broadcast's own counts.
TEST(FedSrd, ServerDiagnosticsEqualEigensAndTheAchievedSparsities) {
  double worst = 0;
  for (const char* name : {"fedsrd", "fedsrd-e", "fedsrd --no-reconstruction"}) {
    const bool ablation = std::string(name).find("--no-reconstruction") != std::string::npos;
    const bool truncate = std::string(name) != "fedsrd-e";
    for (int64_t round : {0, 1}) {  // a B-round, then an A-round
      AlgoArgs c = config(truncate ? "fedsrd" : "fedsrd-e", 3);
      c.set("--upload-sparsity", 0.5);
      c.set("--download-sparsity", 0.3);
      if (ablation) c.set("--reconstruction", false);
      LoraRig s = make_rig(c);
      torch::manual_seed(17);
      std::vector<Upload> ups;
      for (int64_t k = 0; k < 4; ++k) ups.push_back(upload(s, perturbed(s.global, 0.2), k, 5, round));
      const auto deltas = dense_deltas(ups, s.global);
      EXPECT_TRUE(s.algo->take_server_diagnostics().empty());  // off by default
      s.algo->enable_server_diagnostics();
      const auto down = broadcast(s, round, ups);
      const auto diag = s.algo->take_server_diagnostics();
      ASSERT_EQ(diag.size(), 2u) << name;
      EXPECT_TRUE(s.algo->take_server_diagnostics().empty());  // handed over once
      for (size_t l = 0; l < 2; ++l) {
        const ServerDiagnostic& d = diag[l];
        const size_t ia = s.lora().a_index(l), ib = s.lora().b_index(l);
        const Mat A = to_eigen(s.global[ia]), B = to_eigen(s.global[ib]);
        Mat W = Mat::Zero(B.rows(), A.cols());
        for (size_t k = 0; k < ups.size(); ++k)
          W += 0.25 * (B + to_eigen(deltas[k][ib])) * (A + to_eigen(deltas[k][ia]));
        const bool a_round = round == 1;  // the paper's order: B first
        std::vector<double> got{d.a_norm, d.b_norm}, want{A.norm(), B.norm()};
        if (ablation) {
          EXPECT_EQ(d.solved_factor, -1);
          EXPECT_TRUE(std::isnan(d.truncation_error) && std::isnan(d.inverted_sigma_min));
        } else {
          EXPECT_EQ(d.solved_factor, a_round ? 0 : 1);
          const Eigen::BDCSVD<Mat> svd(W);
          const Eigen::VectorXd S = svd.singularValues();
          const Eigen::JacobiSVD<Mat> inverted(a_round ? B : A);
          got.insert(got.end(), {d.inverted_sigma_min, d.inverted_sigma_max});
          want.insert(want.end(), {inverted.singularValues().tail(1)(0), inverted.singularValues()(0)});
          const Mat target = truncate ? truncate_to(W, 3) : W;
          const Mat dW = target - B * A;
          got.push_back(d.update_norm);
          want.push_back(a_round ? (pinv(B) * dW).norm() : (dW * pinv(A)).norm());
          if (truncate) {
            got.push_back(d.truncation_error);
            want.push_back(std::sqrt(S.tail(S.size() - 3).squaredNorm()) / S.norm());
          } else {
            EXPECT_TRUE(std::isnan(d.truncation_error));
          }
        }
        for (size_t i = 0; i < got.size(); ++i) {
          const double diff = std::abs(got[i] - want[i]) / std::max(std::abs(want[i]), 1e-30);
          EXPECT_LT(diff, 1e-4) << name << " round " << round << " layer " << l << " value " << i;
          worst = std::max(worst, diff);
        }
        const auto dropped = [](int64_t n) { return std::round(0.5 * static_cast<double>(n)) / static_cast<double>(n); };
        EXPECT_DOUBLE_EQ(d.upload_sparsity_a, dropped(s.global[ia].numel())) << name;
        EXPECT_DOUBLE_EQ(d.upload_sparsity_b, dropped(s.global[ib].numel())) << name;
        double sent = 0, numel = 0;
        for (const auto& part : down.parts)
          if (part.tensor == ia || part.tensor == ib) {
            sent += static_cast<double>(part.count());
            numel += static_cast<double>(part.numel);
          }
        EXPECT_DOUBLE_EQ(d.download_sparsity, 1 - sent / numel) << name;
        EXPECT_GT(d.download_sparsity, 0.0);
      }
    }
  }
  std::printf("fedsrd diagnostics against Eigen: worst relative difference %.2e (tolerance 1e-4)\n", worst);
}

TEST(FedSrd, FedSrdAndFedSrdEAgreeWhenWavgHasRankAtMostR) {
  // One client, or clients sharing B (dB = 0): rank(W_avg) <= r, so the SVD truncation is the identity.
  for (const char* cas : {"one client", "shared B"}) {
    for (int64_t round : {0, 1}) {
      std::vector<torch::Tensor> solved;
      for (const char* name : {"fedsrd", "fedsrd-e"}) {
        AlgoArgs c = config(name, 3);
        c.set("--download-sparsity", 0.0);
        c.set("--upload-sparsity", 0.5);
        LoraRig s = make_rig(c);
        torch::manual_seed(8);
        std::vector<Upload> ups;
        const int64_t m = std::string(cas) == "one client" ? 1 : 3;
        for (int64_t k = 0; k < m; ++k) {
          Tensors local = perturbed(s.global, 0.2);
          if (m > 1)
            for (size_t l = 0; l < 2; ++l) local[s.lora().b_index(l)] = s.global[s.lora().b_index(l)].clone();
          ups.push_back(upload(s, local, k, 1, round));
        }
        const auto down = broadcast(s, round, ups);
        std::vector<torch::Tensor> parts;
        for (const auto& part : down.parts) parts.push_back(part_to_dense(part, s.global[part.tensor]).reshape({-1}));
        solved.push_back(torch::cat(parts));
      }
      const double diff = ((solved[0] - solved[1]).abs().max() / solved[1].abs().max()).item<double>();
      std::printf("fedsrd vs fedsrd-e (%s, round %lld): max rel diff %.3g\n", cas, static_cast<long long>(round), diff);
      EXPECT_LT(diff, 1e-4);
      EXPECT_GT(solved[1].abs().max().item<double>(), 0.0);
    }
  }
}

// The server step once training has moved B A little: client updates
// 1e-3 of the factors. W_r (or W_avg) and B A then agree to about three
// digits, so a float32 difference would keep only four of the update's;
// fedsrd::solve keeps float32 rounding of it. Reference: Eigen in float64
// from the updates (B + dB_i exact), brute-force truncation and pinv.
TEST(FedSrd, SolveKeepsFloat32AccuracyWhenUpdatesAreSmall) {
  torch::manual_seed(17);
  const int64_t d_out = 48, d_in = 40, r = 4, m = 3;  // R = 12 < 40: the geqrf path
  const torch::Tensor A = torch::randn({r, d_in}), B = torch::randn({d_out, r});
  std::vector<torch::Tensor> dA, dB;
  std::vector<float> w;
  for (int64_t i = 0; i < m; ++i) {
    dA.push_back(1e-3 * torch::randn({r, d_in}));
    dB.push_back(1e-3 * torch::randn({d_out, r}));
    w.push_back(1.0f / m);
  }
  Mat W = Mat::Zero(d_out, d_in);
  for (int64_t i = 0; i < m; ++i) W += static_cast<double>(w[i]) * (to_eigen(B) + to_eigen(dB[i])) * (to_eigen(A) + to_eigen(dA[i]));
  const Mat BA = to_eigen(B) * to_eigen(A);
  double worst = 0;
  for (bool truncate : {true, false}) {
    const Mat dW = (truncate ? truncate_to(W, r) : W) - BA;
    for (auto f : {fedsrd::Factor::kA, fedsrd::Factor::kB}) {
      const Mat want = f == fedsrd::Factor::kA ? Mat(pinv(to_eigen(B)) * dW) : Mat(dW * pinv(to_eigen(A)));
      const double d = rel_diff(to_eigen(fedsrd::solve(A, B, dA, dB, w, f, truncate)), want);
      std::printf("%s %s-round, updates 1e-3 of the factors: max rel diff from the float64 reference %.2e (tolerance 1e-5)\n",
                  truncate ? "fedsrd" : "fedsrd-e", f == fedsrd::Factor::kA ? "A" : "B", d);
      EXPECT_LT(d, 1e-5);
      worst = std::max(worst, d);
    }
  }
  EXPECT_GT(worst, 0.0);
}

TEST(FedSrd, PinvProjectionRecoversDaWhenDwIsBTimesDa) {
  // dB = 0 and B of full column rank: dW = B dA, so pinv(B) dW = dA.
  for (const char* name : {"fedsrd", "fedsrd-e"}) {
    AlgoArgs c = config(name, 3);
    c.set("--download-sparsity", 0.0);
    c.set("--upload-sparsity", 0.0);
    c.set("--fedsrd-first-round", "a");
    LoraRig s = make_rig(c);
    torch::manual_seed(9);
    Tensors local = perturbed(s.global, 0.3);
    for (size_t l = 0; l < 2; ++l) local[s.lora().b_index(l)] = s.global[s.lora().b_index(l)].clone();
    const auto down = broadcast(s, 0, {upload(s, local, 0, 1, 0)});
    double worst = 0;
    for (size_t l = 0; l < 2; ++l) {
      const size_t ia = s.lora().a_index(l);
      ASSERT_EQ(down.parts[l].tensor, ia);
      const auto got = part_to_dense(down.parts[l], s.global[ia]), want = local[ia] - s.global[ia];
      worst = std::max(worst, ((got - want).abs().max() / want.abs().max()).item<double>());
    }
    std::printf("%s: A-round with dW = B dA recovers dA: max rel diff %.3g\n", name, worst);
    EXPECT_LT(worst, 1e-4);
  }
}

TEST(FedSrd, RoundParityAndTheCodesFirstRoundWithZeroB) {
  for (const char* first : {"b", "a"}) {
    AlgoArgs c = config("fedsrd", 3);
    c.set("--fedsrd-first-round", first);
    LoraRig s = make_rig(c, 12, 10, 6, /*random_b=*/false);  // B_0 = 0, as at the start of a run
    torch::manual_seed(10);
    const auto down = broadcast(s, 0, {upload(s, perturbed(s.global, 0.2), 0, 1, 0)});
    float moved = 0;
    for (const auto& part : down.parts) {
      const bool is_b = part.tensor == s.lora().b_index(0) || part.tensor == s.lora().b_index(1);
      EXPECT_EQ(is_b, std::string(first) == "b");
      for (float v : compress::values_of(part)) moved = std::max(moved, std::abs(v));
    }
    std::printf("fedsrd first round %s with B_0 = 0: max |update| = %.3g\n", first, moved);
    if (std::string(first) == "a") EXPECT_EQ(moved, 0.0f);  // pinv(0) = 0: the authors' first round does nothing
    else EXPECT_GT(moved, 0.0f);
  }
  EXPECT_EQ(fedsrd::factor_of_round(0, true), fedsrd::Factor::kB);
  EXPECT_EQ(fedsrd::factor_of_round(1, true), fedsrd::Factor::kA);
  EXPECT_EQ(fedsrd::factor_of_round(0, false), fedsrd::Factor::kA);
}

TEST(FedSrd, DownloadIsSparseWithDensityOneMinusQAndEveryRankEndsIdentical) {
  for (const char* name : {"fedsrd", "fedsrd-e"}) {
    AlgoArgs c = config(name, 8);
    c.set("--download-sparsity", 0.8);
    LoraRig s = make_rig(c, 64, 48, 40);
    torch::manual_seed(11);
    std::vector<Upload> ups;
    for (int64_t k = 0; k < 4; ++k) ups.push_back(upload(s, perturbed(s.global, 0.05), k, 1, 0));
    const auto bytes = compress::encode(s.algo->aggregate(0, ups, s.global));
    int64_t kept = 0, numel = 0;
    const auto down = compress::decode(bytes.data(), bytes.size(), download_schema(s), compress::kServerId);
    for (const auto& part : down.parts) {
      EXPECT_EQ(part.kind, compress::PartKind::kSparse);
      kept += static_cast<int64_t>(part.count());
      numel += static_cast<int64_t>(part.numel);
    }
    const double density = static_cast<double>(kept) / static_cast<double>(numel);
    const double sd = std::sqrt(0.2 * 0.8 / static_cast<double>(numel));
    // Three ranks (rank 0 = the server) apply the same bytes.
    std::vector<Tensors> ranks = {clone(s.global), clone(s.global), clone(s.global)};
    for (auto& r : ranks)
      s.algo->apply_download(0, r, compress::decode(bytes.data(), bytes.size(), download_schema(s), compress::kServerId));
    bool identical = true, a_untouched = true;
    for (size_t i = 0; i < s.global.size(); ++i) {
      identical = identical && ranks[0][i].equal(ranks[1][i]) && ranks[0][i].equal(ranks[2][i]);
    }
    for (size_t l = 0; l < 2; ++l) a_untouched = a_untouched && ranks[0][s.lora().a_index(l)].equal(s.global[s.lora().a_index(l)]);
    std::printf("%s: download %lld of %lld elements, density %.4f (expected 0.2 +- %.4f); %zu bytes; ranks identical: %s\n",
                name, static_cast<long long>(kept), static_cast<long long>(numel), density, sd, bytes.size(),
                identical ? "yes" : "no");
    EXPECT_NEAR(density, 0.2, 5 * sd);
    EXPECT_TRUE(identical);
    EXPECT_TRUE(a_untouched);  // a B-round sends only dB
    // Smaller than the dense factor update it stands for.
    EXPECT_LT(bytes.size(), 24 + 2 * 24 + static_cast<size_t>(numel) * 4 / 2);
  }
}

TEST(FedSrd, NoReconstructionAveragesTheSparseUploadsFactorByFactor) {
  AlgoArgs c = config("fedsrd", 3);
  c.set("--reconstruction", false);
  c.set("--download-sparsity", 0.0);
  LoraRig s = make_rig(c);
  torch::manual_seed(12);
  std::vector<Upload> ups;
  for (int64_t k = 0; k < 2; ++k) ups.push_back(upload(s, perturbed(s.global, 0.2), k, 1, 0));
  const auto deltas = dense_deltas(ups, s.global);
  const auto down = broadcast(s, 0, ups);
  ASSERT_EQ(down.parts.size(), 4u);
  double diff = 0;
  for (const auto& part : down.parts) {
    const auto want = 0.5 * (deltas[0][part.tensor] + deltas[1][part.tensor]);
    diff = std::max(diff, (part_to_dense(part, want) - want).abs().max().item<double>());
  }
  std::printf("fedsrd --no-reconstruction: max |broadcast - mean of sparse uploads| = %.3g\n", diff);
  EXPECT_LT(diff, 1e-7);
}

// The equal-budget ablation: only the factor FedSRD solves in the round
// (B first, then A), the mean of the sparse uploads, with FedSRD's bytes.
TEST(FedSrd, NoReconstructionAlternatingSendsOnlyTheRoundsFactorWithFedSrdsBytes) {
  AlgoArgs c = config("fedsrd", 3);
  c.set("--reconstruction", false);
  c.set("--no-reconstruction-factors", "alternating");
  LoraRig s = make_rig(c);
  AlgoArgs full = config("fedsrd", 3);
  LoraRig f = make_rig(full);
  torch::manual_seed(13);
  double diff = 0;
  for (int64_t round : {0, 1}) {
    std::vector<Upload> ups, ups_full;
    for (int64_t k = 0; k < 2; ++k) {
      const Tensors local = perturbed(s.global, 0.2);
      ups.push_back(upload(s, local, k, 1, round));
      ups_full.push_back(upload(f, local, k, 1, round));
    }
    const auto deltas = dense_deltas(ups, s.global);
    const auto down = broadcast(s, round, ups);
    const auto down_full = broadcast(f, round, ups_full);
    ASSERT_EQ(down.parts.size(), 2u);  // one factor per layer
    ASSERT_EQ(down_full.parts.size(), 2u);
    for (size_t l = 0; l < 2; ++l) {
      const auto& part = down.parts[l];
      EXPECT_EQ(part.tensor, round == 0 ? s.lora().b_index(l) : s.lora().a_index(l)) << "round " << round;
      EXPECT_EQ(part.tensor, down_full.parts[l].tensor);
      EXPECT_EQ(part.numel, down_full.parts[l].numel);
      const auto want = 0.5 * (deltas[0][part.tensor] + deltas[1][part.tensor]);
      const auto mask = part_to_dense(part, torch::zeros_like(want)).ne(0);
      diff = std::max(diff, (part_to_dense(part, want) - torch::where(mask, want / 0.2, torch::zeros_like(want))).abs().max().item<double>());
    }
  }
  std::printf("fedsrd --no-reconstruction-factors alternating: max |broadcast - mean / (1 - q)| = %.3g\n", diff);
  EXPECT_LT(diff, 1e-6);
  AlgoArgs bad = config("fedsrd", 3);
  bad.set("--no-reconstruction-factors", "alternating");
  EXPECT_THROW(make_algorithm(bad, 7), Error);
}

TEST(FedSrd, MalformedSparseUploadIsRejectedByDecodeNamingTheClient) {
  for (double p : {0.99, 0.9}) {  // 0.99: index-list encoding; 0.9: bitmap
    AlgoArgs c = config("fedsrd", 8);
    c.set("--upload-sparsity", p);
    LoraRig s = make_rig(c, 64, 48, 40);
    torch::manual_seed(13);
    auto bytes = compress::encode(s.algo->encode_upload({5, 0, 1}, s.global, perturbed(s.global, 0.1)));
    // Part 0's header starts after the 24-byte payload header: kind, encoding, tag, pad, tensor u32,
    // numel u64 at +8, count u64 at +16; its positions (or bitmap) at +24.
    const size_t part0 = 24;
    const uint8_t encoding = bytes[part0 + 1];
    uint64_t numel = 0, count = 0;
    std::memcpy(&numel, &bytes[part0 + 8], 8);
    std::memcpy(&count, &bytes[part0 + 16], 8);
    auto expect_rejected = [&](const std::vector<uint8_t>& bad, const char* what) {
      try {
        compress::decode(bad.data(), bad.size(), upload_schema(s), 5);
        ADD_FAILURE() << what << " was accepted";
      } catch (const Error& e) {
        std::printf("p %.2f, %s: %s\n", p, what, e.what());
        EXPECT_NE(std::string(e.what()).find("client 5"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("malformed"), std::string::npos);
      }
    };
    if (p == 0.99) {
      ASSERT_EQ(encoding, 1);  // index list
      auto bad = bytes;
      const uint32_t out_of_range = static_cast<uint32_t>(numel + 3);
      std::memcpy(&bad[part0 + 24 + 4 * (count - 1)], &out_of_range, 4);
      expect_rejected(bad, "index out of range");
    } else {
      ASSERT_EQ(encoding, 2);  // bitmap
    }
    auto bad = bytes;
    const uint64_t wrong = count + 1;
    std::memcpy(&bad[part0 + 16], &wrong, 8);
    expect_rejected(bad, "wrong count");
    expect_rejected(std::vector<uint8_t>(bytes.begin(), bytes.end() - 4), "truncated");
  }
}

TEST(FedSrd, UploadMissingATensorIsRejectedByTheDecoderNamingTheClient) {
  for (const char* name : {"fedsrd", "fedsrd-e", "flexlora", "fedit"}) {
    LoraRig s = make_rig(config(name, 3));
    torch::manual_seed(14);
    Upload good = upload(s, perturbed(s.global, 0.1), 2, 1, 0);
    compress::Payload bad = s.algo->encode_upload({9, 0, 1}, s.global, perturbed(s.global, 0.1));
    bad.parts.erase(bad.parts.begin() + 1);
    const auto bytes = compress::encode(bad);
    try {  // rank 0's decoder checks the algorithm's upload schema before aggregate sees anything
      compress::decode(bytes.data(), bytes.size(), upload_schema(s), 9);
      ADD_FAILURE() << name << ": an upload missing tensor 1 was accepted";
    } catch (const MalformedUpload& e) {
      EXPECT_EQ(e.client(), 9);
      EXPECT_EQ(e.part(), MalformedUpload::kNone);
      std::printf("%s: %s\n", name, e.what());
      EXPECT_NE(std::string(e.what()).find("client 9"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("lacks tensor 1"), std::string::npos);
    }
  }
}

// ---------------------------------------------------------------------------
// Hierarchical aggregation (algo/rank_fold.h): uploads split over three
// "ranks" (2 clients, none, 3 clients: 3 x rank 3 > min(d) = 6 of layer 2,
// so that rank's fold is QR-reduced), each fold packed and unpacked as it
// travels, merged at rank 0. The broadcast must be the central one: the
// same parts and positions, values to float32 rounding; FlexLoRA's new
// factors may differ in the sign of a singular pair, so there B A is
// compared (that is what the clients train from).
TEST(FoldsPerRank, AggregateOfTheRanksFoldsIsTheCentralAggregate) {
  struct Case {
    const char* name;
    bool reconstruction;
  };
  double worst = 0;
  for (const Case& k : {Case{"fedsrd", true}, Case{"fedsrd-e", true}, Case{"fedsrd", false}, Case{"flexlora", true}}) {
    AlgoArgs c = config(k.name, 3);
    if (!k.reconstruction) c.set("--reconstruction", false);
    c.set("--aggregation-weights", std::string("samples"));
    LoraRig s = make_rig(c);
    auto* folding = dynamic_cast<FoldsPerRank*>(s.algo.get());
    ASSERT_NE(folding, nullptr) << k.name;
    torch::manual_seed(21);
    std::vector<Upload> ups;
    for (int64_t i = 0; i < 5; ++i) ups.push_back(upload(s, perturbed(s.global, 0.1), i, 3 + 2 * i, 1));
    const std::vector<std::vector<Upload>> ranks = {{ups[0], ups[1]}, {}, {ups[2], ups[3], ups[4]}};
    std::vector<RankFold> folds;
    for (size_t r = 0; r < ranks.size(); ++r) {
      const auto bytes = sim::pack_fold(folding->fold_rank(ranks[r], s.global), {});
      folds.push_back(sim::unpack_fold(bytes.data(), bytes.size(), static_cast<int>(r)).fold);
    }
    EXPECT_EQ(folds[2].layers[1].L.at(0).size(1), 6) << "3 clients x rank 3 reduced to min(d_out, d_in) = 6";
    const compress::Payload central = s.algo->aggregate(1, ups, s.global);
    const compress::Payload hier = folding->aggregate_folds(1, folds, s.global);
    ASSERT_EQ(central.parts.size(), hier.parts.size()) << k.name;
    double d = 0;
    if (std::string(k.name) == "flexlora") {
      Tensors gc = clone(s.global), gh = clone(s.global);
      s.algo->apply_download(1, gc, central);
      s.algo->apply_download(1, gh, hier);
      for (size_t l = 0; l < 2; ++l) {
        const size_t ia = s.lora().a_index(l), ib = s.lora().b_index(l);
        d = std::max(d, rel_diff(to_eigen(gh[ib]) * to_eigen(gh[ia]), to_eigen(gc[ib]) * to_eigen(gc[ia])));
      }
    } else {
      for (size_t i = 0; i < central.parts.size(); ++i) {
        const compress::Part &pc = central.parts[i], &ph = hier.parts[i];
        ASSERT_EQ(pc.tensor, ph.tensor);
        ASSERT_TRUE(torch::equal(pc.indices, ph.indices)) << k.name << " part " << i << ": the same download mask";
        d = std::max(d, (ph.values - pc.values).abs().max().item<double>() /
                            std::max(pc.values.abs().max().item<double>(), 1e-30));
      }
    }
    std::printf("%s%s: hierarchical (3 ranks' folds) vs central broadcast: max relative difference %.2e "
                "(tolerance 1e-5)\n", k.name, k.reconstruction ? "" : " --no-reconstruction", d);
    EXPECT_LT(d, 1e-5) << k.name;
    worst = std::max(worst, d);
  }
  std::printf("worst %.2e\n", worst);
}

TEST(FoldsPerRank, MalformedFoldBytesAreRefusedNamingTheRank) {
  LoraRig s = make_rig(config("fedsrd", 3));
  torch::manual_seed(22);
  const Upload u = upload(s, perturbed(s.global, 0.1), 0, 1, 0);
  const auto bytes = sim::pack_fold(dynamic_cast<FoldsPerRank&>(*s.algo).fold_rank({u}, s.global), {});
  const auto refused = [&](std::vector<uint8_t> b, const std::string& why) {
    try {
      sim::unpack_fold(b.data(), b.size(), 3);
      ADD_FAILURE() << why << ": accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("rank 3"), std::string::npos) << e.what();
      std::printf("%s: %s\n", why.c_str(), e.what());
    }
  };
  refused({bytes.begin(), bytes.end() - 4}, "truncated");
  auto longer = bytes;
  longer.push_back(0);
  refused(longer, "one byte too many");
  auto magic = bytes;
  magic[0] ^= 1;
  refused(magic, "wrong magic");
  auto huge = bytes;
  const uint64_t big = uint64_t{1} << 40;
  std::memcpy(huge.data() + 8 + 7 * 8, &big, sizeof big);  // the tensor count
  refused(huge, "absurd count");
}

}  // namespace
}  // namespace flb::algo
