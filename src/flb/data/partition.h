// Splitting a labelled dataset over clients.
//
// A partition is a pure function of (labels, scheme, seed, number of
// clients): never of the number of ranks. Every sample goes to exactly one
// client and every client gets at least one sample.
//
//   iid        shuffle, then equal contiguous shares
//   dirichlet  for each class, proportions ~ Dir(alpha) over clients; small
//              alpha gives skewed label mixes (Hsu et al. 2019)
//   shards     sort by label, cut into clients * k shards, deal k shards to
//              each client: about k classes per client (McMahan et al. 2017)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flb/core/rng.h"

namespace flb::data {

struct PartitionSpec {
  std::string scheme = "iid";  // iid | dirichlet | shards
  double alpha = 0.5;          // dirichlet
  int64_t shards_per_client = 2;
  uint64_t seed = 1;
};

// Sample indices of every client, each list ascending.
// REQUIRES: clients <= labels.size().
std::vector<std::vector<int64_t>> partition(const std::vector<uint8_t>& labels, int64_t classes, int64_t clients,
                                            const PartitionSpec& spec);

// Takes round(fraction * n) of each client's n samples out of `clients`
// (at least 1 when fraction > 0, never the client's last sample; none
// from a client with one), positions drawn by Stream(seed, purpose,
// client), and returns them per client, each list ascending. The
// clients' lists stay ascending. A pure function of (clients, fraction,
// seed, purpose), like the partition: never of the ranks.
// REQUIRES: 0 <= fraction < 1.
std::vector<std::vector<int64_t>> hold_out(std::vector<std::vector<int64_t>>& clients, double fraction, uint64_t seed,
                                           StreamPurpose purpose);

// The validation split (--validation-fraction): hold_out(clients,
// fraction, seed, kValidation), all clients' held-out samples together,
// ascending.
std::vector<int64_t> split_validation(std::vector<std::vector<int64_t>>& clients, double fraction, uint64_t seed);

}  // namespace flb::data
