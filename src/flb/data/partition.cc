#include "flb/data/partition.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::data {
namespace {

using Lists = std::vector<std::vector<int64_t>>;

Lists iid(int64_t n, int64_t clients, Stream& rng) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  shuffle(order, rng);
  Lists out(static_cast<size_t>(clients));
  for (int64_t c = 0; c < clients; ++c) {
    const int64_t begin = n * c / clients, end = n * (c + 1) / clients;
    out[c].assign(order.begin() + begin, order.begin() + end);
  }
  return out;
}

std::vector<std::vector<int64_t>> by_class(const std::vector<uint8_t>& labels, int64_t classes) {
  std::vector<std::vector<int64_t>> members(static_cast<size_t>(classes));
  for (size_t i = 0; i < labels.size(); ++i) members[labels[i]].push_back(static_cast<int64_t>(i));
  return members;
}

Lists dirichlet(const std::vector<uint8_t>& labels, int64_t classes, int64_t clients, double alpha, Stream& rng) {
  Lists out(static_cast<size_t>(clients));
  for (std::vector<int64_t>& members : by_class(labels, classes)) {
    shuffle(members, rng);
    std::vector<double> p(static_cast<size_t>(clients));
    double total = 0;
    for (double& x : p) total += (x = rng.gamma(alpha));
    // Cut points from the cumulative proportions.
    const int64_t n = static_cast<int64_t>(members.size());
    double cum = 0;
    int64_t begin = 0;
    for (int64_t c = 0; c < clients; ++c) {
      cum += p[c];
      const int64_t end = c + 1 == clients ? n : std::min<int64_t>(n, std::llround(cum / total * static_cast<double>(n)));
      for (int64_t i = begin; i < end; ++i) out[c].push_back(members[i]);
      begin = std::max(begin, end);
    }
  }
  return out;
}

Lists shards(const std::vector<uint8_t>& labels, int64_t classes, int64_t clients, int64_t k, Stream& rng) {
  std::vector<int64_t> sorted;
  sorted.reserve(labels.size());
  for (std::vector<int64_t>& members : by_class(labels, classes)) {
    shuffle(members, rng);  // which samples of a class land in which shard
    sorted.insert(sorted.end(), members.begin(), members.end());
  }
  const int64_t n = static_cast<int64_t>(sorted.size());
  const int64_t count = clients * k;
  std::vector<int64_t> shard_ids(static_cast<size_t>(count));
  std::iota(shard_ids.begin(), shard_ids.end(), 0);
  shuffle(shard_ids, rng);
  Lists out(static_cast<size_t>(clients));
  for (int64_t j = 0; j < count; ++j) {
    const int64_t s = shard_ids[j];
    const int64_t begin = n * s / count, end = n * (s + 1) / count;
    out[j / k].insert(out[j / k].end(), sorted.begin() + begin, sorted.begin() + end);
  }
  return out;
}

// Any client left empty (possible under Dirichlet with many clients) takes
// one sample from the currently largest client; deterministic.
void fill_empty(Lists& lists) {
  for (auto& list : lists) {
    if (!list.empty()) continue;
    auto largest = std::max_element(lists.begin(), lists.end(),
                                    [](const auto& a, const auto& b) { return a.size() < b.size(); });
    list.push_back(largest->back());
    largest->pop_back();
  }
}

}  // namespace

std::vector<std::vector<int64_t>> partition(const std::vector<uint8_t>& labels, int64_t classes, int64_t clients,
                                            const PartitionSpec& spec) {
  const int64_t n = static_cast<int64_t>(labels.size());
  require(clients >= 1 && clients <= n, "--clients: " + std::to_string(clients) + " clients cannot share " +
                                            std::to_string(n) + " samples (at least one each)");
  Stream rng(spec.seed, StreamPurpose::kPartition, static_cast<uint64_t>(clients));
  Lists out;
  if (spec.scheme == "iid") {
    out = iid(n, clients, rng);
  } else if (spec.scheme == "dirichlet") {
    require(spec.alpha > 0, "--dirichlet-alpha: must be positive");
    out = dirichlet(labels, classes, clients, spec.alpha, rng);
  } else if (spec.scheme == "shards") {
    require(spec.shards_per_client >= 1 && clients * spec.shards_per_client <= n,
            "--shards-per-client: clients x shards must not exceed the number of samples");
    out = shards(labels, classes, clients, spec.shards_per_client, rng);
  } else {
    throw Error("--partition: unknown scheme '" + spec.scheme + "' (choose iid, dirichlet or shards)");
  }
  fill_empty(out);
  for (auto& list : out) std::sort(list.begin(), list.end());
  return out;
}

Lists hold_out(Lists& clients, double fraction, uint64_t seed, StreamPurpose purpose) {
  require(fraction >= 0 && fraction < 1, "hold_out: the fraction must be in [0, 1)");
  Lists held(clients.size());
  if (fraction == 0) return held;
  for (size_t c = 0; c < clients.size(); ++c) {
    std::vector<int64_t>& mine = clients[c];
    const int64_t n = static_cast<int64_t>(mine.size());
    if (n < 2) continue;
    const int64_t v = std::clamp<int64_t>(std::llround(fraction * static_cast<double>(n)), 1, n - 1);
    Stream rng(seed, purpose, static_cast<uint64_t>(c));
    shuffle(mine, rng);  // the first v are held out
    held[c].assign(mine.begin(), mine.begin() + v);
    mine.erase(mine.begin(), mine.begin() + v);
    std::sort(mine.begin(), mine.end());
    std::sort(held[c].begin(), held[c].end());
  }
  return held;
}

std::vector<int64_t> split_validation(Lists& clients, double fraction, uint64_t seed) {
  require(fraction >= 0 && fraction < 1, "--validation-fraction: must be in [0, 1)");
  std::vector<int64_t> validation;
  for (const auto& mine : hold_out(clients, fraction, seed, StreamPurpose::kValidation))
    validation.insert(validation.end(), mine.begin(), mine.end());
  std::sort(validation.begin(), validation.end());
  return validation;
}

}  // namespace flb::data
