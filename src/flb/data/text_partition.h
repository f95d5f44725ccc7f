// Splitting a text corpus' training chunks over clients.
//
// A pure function of (corpus, scheme, seed, number of clients): never of
// the number of ranks. Every chunk goes to exactly one client and every
// client gets at least one.
//
//   by-domain  client c holds domain c mod D; domain d's chunks are shuffled
//              and split evenly among its clients (the FedSRD setting:
//              each client one domain). REQUIRES clients >= D.
//   dirichlet  per domain, proportions ~ Dir(alpha) over clients: the
//              Dirichlet label skew of partition.h with domains as labels
//   iid        shuffle, equal shares
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flb/data/text_corpus.h"

namespace flb::data {

struct TextPartitionSpec {
  std::string scheme = "by-domain";  // by-domain | dirichlet | iid
  double alpha = 0.5;                // dirichlet
  uint64_t seed = 1;
};

struct TextPartition {
  std::vector<std::vector<int64_t>> chunks;  // per client: ascending ids into corpus.train
  // Per client: the domain holding most of its chunks (ties: the lowest
  // id). Under by-domain, the client's only domain.
  std::vector<int32_t> client_domain;
};

// Splits chunks [0, domain_begin.back()) over clients, where domain d owns
// chunks [domain_begin[d], domain_begin[d + 1]) (a ChunkTable's, or a
// TokenChunks' of token_corpus.h: the partition sees only the offsets).
// Throws flb::Error for offsets that do not start at 0 or name more than 255
// domains, an unknown scheme, alpha <= 0, fewer clients than domains
// (by-domain) or more clients than chunks.
TextPartition partition_chunks(const std::vector<int64_t>& domain_begin, int64_t clients, const TextPartitionSpec& spec);

// partition_chunks over corpus.train.
TextPartition partition_text(const TextCorpus& corpus, int64_t clients, const TextPartitionSpec& spec);

}  // namespace flb::data
