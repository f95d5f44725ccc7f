// Counter-based random streams.
//
// Every random decision in a run (data partition, client sampling, a
// client's batch order, random sparsification masks) draws from a Stream
// keyed by (seed, purpose, a, b): the same key gives the same numbers on
// every rank, in every process layout. Nothing here is global or shared.
#pragma once

#include <cstdint>
#include <vector>

namespace flb {

// Purposes keep streams for different uses independent of each other.
enum class StreamPurpose : uint64_t {
  kPartition = 1,
  kSampling = 2,
  kClientBatches = 3,
  kClientMask = 4,
  kServerMask = 5,
  kInit = 6,
  kTest = 7,
  kSketch = 8,   // randomized linear algebra (linalg/low_rank.h)
  kHeldOut = 9,  // text corpora: which documents are held out
  kSynthetic = 10,  // --dataset synthetic: clients' models and samples (data/synthetic.h)
  kSystem = 11,     // --system lognormal: each client's compute and link (sim/system_model.h)
  kDropout = 12,    // --dropout-prob: which sampled clients fail (sim/arrivals.h)
  kValidation = 13,  // --validation-fraction: which of a client's samples validate (data/partition.h)
  kPersonal = 14,    // --personal-fraction: which of a client's samples it is evaluated on (data/partition.h)
};

// SplitMix64 finaliser: a bijective 64-bit mix with good avalanche.
uint64_t mix64(uint64_t x);

// xoshiro256** seeded from a hash of the key. Cheap to construct.
class Stream {
 public:
  Stream(uint64_t seed, StreamPurpose purpose, uint64_t a = 0, uint64_t b = 0);

  uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Uniform integer in [0, n), n > 0, without modulo bias.
  uint64_t below(uint64_t n);
  // Standard normal (Box-Muller; one value per call, no cached state).
  double normal();
  // Gamma(shape, 1) by Marsaglia-Tsang; shape > 0.
  double gamma(double shape);

 private:
  uint64_t s_[4];
};

// Fisher-Yates shuffle of v driven by `stream`.
void shuffle(std::vector<int64_t>& v, Stream& stream);

// k distinct values from [0, n), sorted ascending (partial Fisher-Yates).
std::vector<int64_t> sample_without_replacement(int64_t n, int64_t k, Stream& stream);

}  // namespace flb
