// The papers' Fashion-MNIST models (model/image_models.h) against
// references built for this test from LibTorch's own modules, written the
// way the authors' PyTorch code writes them (FedLoRU's LeNet in
// haemPark/fedloru_official src/models/lenet.py; LBGM's CNN in
// shams-sam/FedOptim src/models/cnn.py), and against the parameter counts
// of those definitions worked out by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "flb/model/image_models.h"
#include "flb/model/low_rank.h"

namespace flb::model {
namespace {

namespace nn = torch::nn;

constexpr double kTolerance = 1e-5;  // float32 sums of up to 3,200 products of O(1) values

int64_t parameter_count(nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// Copies `from` (flbench's parameter) into the reference module's `to`.
void copy_into(const torch::Tensor& from, torch::Tensor to) {
  torch::NoGradGuard no_grad;
  ASSERT_EQ(from.sizes(), to.sizes());
  to.copy_(from);
}

// FedLoRU's LeNet as lenet.py builds it: embedder, encoder, classifier.
// conv2_weight: the kernel conv2 computes with (W, or W + the low-rank delta).
nn::Sequential reference_lenet(ImageClassifier& m, const torch::Tensor& conv2_weight) {
  auto p = m.named_parameters();
  nn::Conv2d c1(nn::Conv2dOptions(1, 64, 5).padding(1)), c2(nn::Conv2dOptions(64, 128, 5).padding(1));
  nn::Linear l1(2048, 64), l2(64, 32), l3(32, 10);
  copy_into(p["conv1.W"], c1->weight);
  copy_into(p["conv1.bias"], c1->bias);
  copy_into(conv2_weight, c2->weight);
  copy_into(p["conv2.bias"], c2->bias);
  copy_into(p["fc1.W"], l1->weight);
  copy_into(p["fc1.bias"], l1->bias);
  copy_into(p["fc2.W"], l2->weight);
  copy_into(p["fc2.bias"], l2->bias);
  copy_into(p["fc3.W"], l3->weight);
  copy_into(p["fc3.bias"], l3->bias);
  return nn::Sequential(c1, nn::ReLU(), nn::MaxPool2d(2), c2, nn::ReLU(), nn::MaxPool2d(2),
                        nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({4, 4})), nn::Flatten(), l1, nn::ReLU(),
                        nn::Dropout(0.1), l2, nn::ReLU(), l3);
}

// FedOptim's CNN(nc=1, fs=4*4*50).
nn::Sequential reference_cnn_lbgm(ImageClassifier& m, const torch::Tensor& conv2_weight,
                                  const torch::Tensor& fc1_weight) {
  auto p = m.named_parameters();
  nn::Conv2d c1(nn::Conv2dOptions(1, 20, 5)), c2(nn::Conv2dOptions(20, 50, 5));
  nn::Linear l1(800, 500), l2(500, 10);
  copy_into(p["conv1.W"], c1->weight);
  copy_into(p["conv1.bias"], c1->bias);
  copy_into(conv2_weight, c2->weight);
  copy_into(p["conv2.bias"], c2->bias);
  copy_into(fc1_weight, l1->weight);
  copy_into(p["fc1.bias"], l1->bias);
  copy_into(p["fc2.W"], l2->weight);
  copy_into(p["fc2.bias"], l2->bias);
  return nn::Sequential(c1, nn::ReLU(), nn::MaxPool2d(2), c2, nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), l1,
                        nn::ReLU(), l2);
}

double max_difference(ImageClassifier& m, nn::Sequential& reference, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  m.eval();
  reference->eval();
  const auto got = m.forward(x);
  const auto want = reference->forward(x);
  EXPECT_EQ(got.sizes(), want.sizes());
  return (got - want).abs().max().item<double>();
}

TEST(ImageModels, ThePapersModelsHaveTheirAuthorsParameterCounts) {
  // lenet: conv 1*64*25+64, conv 64*128*25+128, fc 2048*64+64, 64*32+32, 32*10+10.
  // cnn-lbgm: conv 1*20*25+20, conv 20*50*25+50, fc 800*500+500, 500*10+10.
  const std::pair<const char*, int64_t> expected[] = {
      {"mlp", 199210}, {"cnn", 80202}, {"lenet-fedloru", 340138}, {"cnn-lbgm", 431080}};
  for (const auto& [name, count] : expected) {
    auto m = make_image_model(name, 10);
    std::printf("%-14s %7lld parameters (expected %lld)\n", name, static_cast<long long>(parameter_count(*m)),
                static_cast<long long>(count));
    EXPECT_EQ(parameter_count(*m), count) << name;
  }
  EXPECT_EQ(image_model_names().size(), 4u);
  for (const auto& name : image_model_names()) EXPECT_NO_THROW(make_image_model(name, 10)) << name;
}

TEST(ImageModels, DenseModelsEqualTheAuthorsLayerStacks) {
  torch::manual_seed(7);
  const auto x = torch::randn({6, 1, 28, 28});
  auto lenet = make_image_model("lenet-fedloru", 10);
  auto lenet_ref = reference_lenet(*lenet, lenet->named_parameters()["conv2.W"]);
  const double d_lenet = max_difference(*lenet, lenet_ref, x);
  auto cnn = make_image_model("cnn-lbgm", 10);
  auto cnn_ref = reference_cnn_lbgm(*cnn, cnn->named_parameters()["conv2.W"], cnn->named_parameters()["fc1.W"]);
  const double d_cnn = max_difference(*cnn, cnn_ref, x);
  std::printf("dense: max |flbench - reference| lenet-fedloru %.3g, cnn-lbgm %.3g (tolerance %.0e)\n", d_lenet, d_cnn,
              kTolerance);
  EXPECT_LT(d_lenet, kTolerance);
  EXPECT_LT(d_cnn, kTolerance);
}

// The low-rank layers compute conv(x, W + s U D) with the base's padding:
// the reference gets that merged kernel as a plain (padded) convolution.
TEST(ImageModels, LowRankLayersEqualTheirMergedKernelsWithPadding) {
  torch::manual_seed(8);
  LowRankSpec spec;
  spec.rank = 5;
  spec.alpha = 10;
  spec.zero_up = false;  // a non-zero delta, so a wrongly padded path would show
  const auto x = torch::randn({4, 1, 28, 28});

  auto lenet = make_image_model("lenet-fedloru", 10, &spec);
  auto layers = low_rank_layers(*lenet);
  ASSERT_EQ(layers.size(), 1u);  // conv2 only, as the authors' LoRU wrapper
  const auto merged_conv2 = layers[0]->base() + layers[0]->delta(0);
  EXPECT_GT(layers[0]->delta(0).abs().max().item<double>(), 0.01);
  auto lenet_ref = reference_lenet(*lenet, merged_conv2);
  const double d_lenet = max_difference(*lenet, lenet_ref, x);

  auto cnn = make_image_model("cnn-lbgm", 10, &spec);
  layers = low_rank_layers(*cnn);
  ASSERT_EQ(layers.size(), 2u);  // conv2, fc1
  auto cnn_ref = reference_cnn_lbgm(*cnn, layers[0]->base() + layers[0]->delta(0),
                                    layers[1]->base() + layers[1]->delta(0));
  const double d_cnn = max_difference(*cnn, cnn_ref, x);
  std::printf("low-rank: max |flbench - merged reference| lenet-fedloru %.3g, cnn-lbgm %.3g (tolerance %.0e)\n",
              d_lenet, d_cnn, kTolerance);
  EXPECT_LT(d_lenet, kTolerance);
  EXPECT_LT(d_cnn, kTolerance);
}

TEST(ImageModels, LeNetDropsOutOnlyWhileTraining) {
  torch::manual_seed(9);
  auto m = make_image_model("lenet-fedloru", 10);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({8, 1, 28, 28});
  m->train();
  const double train_diff = (m->forward(x) - m->forward(x)).abs().max().item<double>();
  m->eval();
  const double eval_diff = (m->forward(x) - m->forward(x)).abs().max().item<double>();
  std::printf("two forward passes differ by %.3g training, %.3g evaluating\n", train_diff, eval_diff);
  EXPECT_GT(train_diff, 1e-6);
  EXPECT_EQ(eval_diff, 0.0);
}

}  // namespace
}  // namespace flb::model
