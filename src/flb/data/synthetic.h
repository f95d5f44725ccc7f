// FedProx's Synthetic(alpha, beta) federated data (Li et al., "Federated
// Optimization in Heterogeneous Networks", MLSys 2020, Sec. 5.1, after
// Shamir et al. 2014; their generate_synthetic.py), generated one client at
// a time from (seed, client), so that a run holds nothing for a client it
// is not training:
//
//   u_k ~ N(0, alpha^2)   B_k ~ N(0, beta^2)               (client k's two means)
//   W_k (10 x 60), b_k (10) ~ N(u_k, 1)                     (its label model)
//   v_k (60) ~ N(B_k, 1)                                    (its input mean)
//   x ~ N(v_k, diag(j^-1.2)), j = 1..60;  y = argmax(W_k x + b_k)
//   samples: floor(lognormal(4, 2)) + 50 (FedProx's counts; unbounded tail)
//
// alpha sets how much the clients' models differ, beta how much their
// inputs do; Synthetic(0, 0) still differs per client (W_k, v_k are drawn
// around the means). Streams: Stream(seed, kSynthetic, client, 0) draws the
// count and the client's model; sample i of the client Stream(seed,
// kSynthetic, client, 1 + i); test sample j Stream(seed, kSynthetic,
// client, kTestKey + j). Every value is a pure function of (seed, client,
// index): independent of ranks, rounds and call order.
#pragma once

#include <cstdint>
#include <vector>

namespace flb::data {

constexpr int64_t kSyntheticDim = 60;
constexpr int64_t kSyntheticClasses = 10;

struct SyntheticSpec {
  double alpha = 1.0;
  double beta = 1.0;
  uint64_t seed = 1;
};

struct SyntheticClient {
  int64_t samples = 0;
  std::vector<float> W;  // (10, 60) row-major
  std::vector<float> b;  // (10)
  std::vector<float> v;  // (60)
};

// The client's sample count alone (draws only the stream's first value).
int64_t synthetic_sample_count(const SyntheticSpec& spec, int64_t client);
SyntheticClient synthetic_client(const SyntheticSpec& spec, int64_t client);

// Training sample `index` (< samples) of `client`, or its test sample
// `index` (test): writes x (60 floats) and returns the label.
int64_t synthetic_sample(const SyntheticSpec& spec, const SyntheticClient& model, int64_t client, int64_t index,
                         bool test, float* x);

}  // namespace flb::data
