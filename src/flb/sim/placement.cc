#include "flb/sim/placement.h"

#include "flb/core/rng.h"

namespace flb::sim {

int owner_rank(int64_t client, int64_t clients, int ranks) {
  // The largest r with r*N/R <= client, i.e. the inverse of the block bounds.
  int64_t r = (client * ranks + ranks - 1) / clients;
  while (r > 0 && r * clients / ranks > client) --r;
  while (r + 1 < ranks && (r + 1) * clients / ranks <= client) ++r;
  return static_cast<int>(r);
}

int64_t hosted_count(int rank, int64_t clients, int ranks) {
  return (rank + 1) * clients / ranks - rank * clients / ranks;
}

std::vector<int64_t> sample_clients(uint64_t seed, int64_t round, int64_t clients, int64_t m) {
  Stream stream(seed, StreamPurpose::kSampling, static_cast<uint64_t>(round));
  return sample_without_replacement(clients, m, stream);
}

}  // namespace flb::sim
