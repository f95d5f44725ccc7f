#include "flb/data/text_partition.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "flb/core/error.h"
#include "text_corpus_fixture.h"

namespace flb::data {
namespace {

using test::FakeCorpus;

// Four domains of unequal size, context 15 (16-byte chunks): about 400 to
// 1,200 training chunks per domain.
const TextCorpus& four_domains() {
  static const TextCorpus corpus = [] {
    FakeCorpus c("partition");
    c.add_domain("alpha", 2, 100);
    c.add_domain("beta", 1, 300);
    c.add_domain("gamma", 3, 100);
    c.add_domain("delta", 1, 120);
    TextCorpusOptions options;
    options.context = 15;
    return load_corpus(c.dir.string(), {"alpha", "beta", "gamma", "delta"}, options);
  }();
  return corpus;
}

void expect_exact_cover(const TextPartition& p, int64_t clients, int64_t chunks) {
  ASSERT_EQ(static_cast<int64_t>(p.chunks.size()), clients);
  ASSERT_EQ(static_cast<int64_t>(p.client_domain.size()), clients);
  std::vector<int> seen(static_cast<size_t>(chunks));
  for (const auto& list : p.chunks) {
    EXPECT_FALSE(list.empty());
    EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
    for (int64_t id : list) {
      ASSERT_GE(id, 0);
      ASSERT_LT(id, chunks);
      ++seen[static_cast<size_t>(id)];
    }
  }
  for (int64_t i = 0; i < chunks; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], 1) << "chunk " << i;
}

// Mean over clients of the largest domain share: 1.0 when every client
// holds a single domain.
double mean_max_domain_share(const TextPartition& p, const std::vector<uint8_t>& domain_of) {
  double sum = 0;
  for (const auto& list : p.chunks) {
    std::vector<int> counts(4);
    for (int64_t id : list) ++counts[domain_of[id]];
    sum += *std::max_element(counts.begin(), counts.end()) / static_cast<double>(list.size());
  }
  return sum / static_cast<double>(p.chunks.size());
}

TEST(TextPartition, ByDomainGivesEachClientOneDomainAndEveryChunkOnce) {
  const TextCorpus& corpus = four_domains();
  const std::vector<uint8_t> domain_of = corpus.train.chunk_domains();
  for (int64_t clients : {4, 7, 10, 100}) {
    SCOPED_TRACE("clients=" + std::to_string(clients));
    const TextPartition p = partition_text(corpus, clients, {"by-domain", 0.5, 3});
    expect_exact_cover(p, clients, corpus.train.count());
    for (int64_t c = 0; c < clients; ++c) {
      EXPECT_EQ(p.client_domain[c], c % 4);
      for (int64_t id : p.chunks[c]) ASSERT_EQ(domain_of[id], c % 4) << "client " << c;
      // Even shares: within one chunk of the domain's mean share.
      const int64_t holders = (clients - c % 4 + 3) / 4;
      EXPECT_LE(std::abs(static_cast<double>(p.chunks[c].size()) -
                         static_cast<double>(corpus.train.domain_count(c % 4)) / holders),
                1.0);
    }
  }
}

TEST(TextPartition, ByDomainNeedsAClientPerDomain) {
  try {
    partition_text(four_domains(), 3, {"by-domain", 0.5, 3});
    ADD_FAILURE() << "expected flb::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at least one client per domain"), std::string::npos) << e.what();
  }
  EXPECT_THROW(partition_text(four_domains(), 10, {"by-language", 0.5, 3}), Error);
  EXPECT_THROW(partition_text(four_domains(), 10, {"dirichlet", 0.0, 3}), Error);
}

TEST(TextPartition, IsAPureFunctionOfSeedAndClientCount) {
  for (const char* scheme : {"by-domain", "dirichlet", "iid"}) {
    SCOPED_TRACE(scheme);
    const TextPartition a = partition_text(four_domains(), 20, {scheme, 0.5, 11});
    EXPECT_EQ(a.chunks, partition_text(four_domains(), 20, {scheme, 0.5, 11}).chunks);
    EXPECT_NE(a.chunks, partition_text(four_domains(), 20, {scheme, 0.5, 12}).chunks);
  }
}

TEST(TextPartition, DirichletCoversEveryChunkAndSkewGrowsAsAlphaFalls) {
  const TextCorpus& corpus = four_domains();
  const std::vector<uint8_t> domain_of = corpus.train.chunk_domains();
  double previous = 0;
  for (double alpha : {100.0, 1.0, 0.1, 0.01}) {
    const TextPartition p = partition_text(corpus, 50, {"dirichlet", alpha, 5});
    expect_exact_cover(p, 50, corpus.train.count());
    const double skew = mean_max_domain_share(p, domain_of);
    std::printf("alpha %-6g mean max domain share %.3f\n", alpha, skew);
    EXPECT_GT(skew, previous);
    previous = skew;
    // client_domain is each client's majority domain.
    for (size_t c = 0; c < p.chunks.size(); ++c) {
      std::vector<int> counts(4);
      for (int64_t id : p.chunks[c]) ++counts[domain_of[id]];
      EXPECT_EQ(counts[p.client_domain[c]], *std::max_element(counts.begin(), counts.end()));
    }
  }
  EXPECT_LT(mean_max_domain_share(partition_text(corpus, 50, {"dirichlet", 100.0, 5}), domain_of), 0.5);
  EXPECT_GT(previous, 0.9);
}

// The token task partitions its windows by their domain offsets alone:
// the same offsets give the same split as the byte corpus.
TEST(TextPartition, PartitionChunksOfTheOffsetsEqualsPartitionText) {
  const TextCorpus& corpus = four_domains();
  for (const std::string scheme : {"by-domain", "dirichlet", "iid"}) {
    const TextPartitionSpec spec{scheme, 0.3, 9};
    const TextPartition a = partition_text(corpus, 10, spec);
    const TextPartition b = partition_chunks(corpus.train.domain_begin, 10, spec);
    EXPECT_EQ(a.chunks, b.chunks) << scheme;
    EXPECT_EQ(a.client_domain, b.client_domain) << scheme;
  }
  EXPECT_THROW(partition_chunks({}, 2, {}), Error);
  EXPECT_THROW(partition_chunks({1, 5}, 2, {}), Error);
}

}  // namespace
}  // namespace flb::data
