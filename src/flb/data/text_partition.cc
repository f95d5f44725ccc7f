#include "flb/data/text_partition.h"

#include <algorithm>
#include <numeric>

#include "flb/core/error.h"
#include "flb/core/rng.h"
#include "flb/data/partition.h"

namespace flb::data {
namespace {

using Lists = std::vector<std::vector<int64_t>>;

// Client c holds domain c mod D; the clients of domain d are d, d + D, ...
// Domain d's chunks are shuffled by their own stream (so adding a domain
// leaves the others' shares alone) and cut into equal contiguous shares.
Lists by_domain(const std::vector<int64_t>& domain_begin, int64_t domains, int64_t clients, uint64_t seed) {
  Lists out(static_cast<size_t>(clients));
  for (int64_t d = 0; d < domains; ++d) {
    const int64_t holders = (clients - d + domains - 1) / domains;
    const int64_t n = domain_begin[d + 1] - domain_begin[d];
    require(n >= holders, "--clients: domain " + std::to_string(d) + " has " + std::to_string(n) +
                              " training chunks for " + std::to_string(holders) +
                              " clients (at least one each); use fewer clients or a shorter --context");
    std::vector<int64_t> ids(static_cast<size_t>(n));
    std::iota(ids.begin(), ids.end(), domain_begin[d]);
    Stream rng(seed, StreamPurpose::kPartition, static_cast<uint64_t>(clients), static_cast<uint64_t>(d) + 1);
    shuffle(ids, rng);
    for (int64_t k = 0; k < holders; ++k) {
      const int64_t begin = n * k / holders, end = n * (k + 1) / holders;
      out[d + k * domains].assign(ids.begin() + begin, ids.begin() + end);
    }
  }
  for (auto& list : out) std::sort(list.begin(), list.end());
  return out;
}

std::vector<int32_t> majority_domains(const Lists& lists, const std::vector<uint8_t>& chunk_domain, int64_t domains) {
  std::vector<int32_t> out;
  out.reserve(lists.size());
  std::vector<int64_t> counts(static_cast<size_t>(domains));
  for (const auto& list : lists) {
    std::fill(counts.begin(), counts.end(), 0);
    for (int64_t id : list) ++counts[chunk_domain[id]];
    out.push_back(static_cast<int32_t>(std::max_element(counts.begin(), counts.end()) - counts.begin()));
  }
  return out;
}

}  // namespace

TextPartition partition_text(const TextCorpus& corpus, int64_t clients, const TextPartitionSpec& spec) {
  return partition_chunks(corpus.train.domain_begin, clients, spec);
}

TextPartition partition_chunks(const std::vector<int64_t>& domain_begin, int64_t clients, const TextPartitionSpec& spec) {
  require(!domain_begin.empty() && domain_begin.front() == 0 && domain_begin.size() <= 256,
          "partition_chunks: domain offsets must start at 0 and name at most 255 domains");
  const int64_t domains = static_cast<int64_t>(domain_begin.size()) - 1;
  const int64_t n = domain_begin.back();
  require(clients >= 1 && clients <= n, "--clients: " + std::to_string(clients) + " clients cannot share " +
                                            std::to_string(n) + " training chunks (at least one each)");
  const std::vector<uint8_t> chunk_domain = chunk_domains(domain_begin);
  TextPartition p;
  if (spec.scheme == "by-domain") {
    require(clients >= domains, "--clients: by-domain needs at least one client per domain (" +
                                    std::to_string(domains) + " domains, " + std::to_string(clients) + " clients)");
    p.chunks = by_domain(domain_begin, domains, clients, spec.seed);
  } else if (spec.scheme == "dirichlet" || spec.scheme == "iid") {
    // Domains are the labels; partition() validates alpha.
    p.chunks = partition(chunk_domain, domains, clients, PartitionSpec{spec.scheme, spec.alpha, 1, spec.seed});
  } else {
    throw Error("--partition: unknown text scheme '" + spec.scheme + "' (choose by-domain, dirichlet or iid)");
  }
  p.client_domain = majority_domains(p.chunks, chunk_domain, domains);
  return p;
}

}  // namespace flb::data
