#include "flb/comm/loopback.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <thread>

#include "flb/core/error.h"

namespace flb::comm {
namespace {

std::vector<uint8_t> bytes_of(const void* data, size_t n) {
  std::vector<uint8_t> v(n);
  if (n) std::memcpy(v.data(), data, n);
  return v;
}

template <typename T>
T value_of(const std::vector<uint8_t>& v) {
  T x{};
  std::memcpy(&x, v.data(), sizeof x);
  return x;
}

Gathered concatenated(const std::vector<std::vector<uint8_t>>& all) {
  Gathered g;
  g.offsets.assign(all.size() + 1, 0);
  for (size_t r = 0; r < all.size(); ++r) g.offsets[r + 1] = g.offsets[r] + all[r].size();
  g.bytes.reserve(g.offsets.back());
  for (const auto& b : all) g.bytes.insert(g.bytes.end(), b.begin(), b.end());
  return g;
}

}  // namespace

LoopbackGroup::LoopbackGroup(int size) : size_(size), slots_(static_cast<size_t>(size)) {
  require(size >= 1, "LoopbackGroup: size must be at least 1");
}

std::vector<std::vector<uint8_t>> LoopbackGroup::exchange(int rank, std::vector<uint8_t> mine, bool want_all) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto throw_if_failed = [&] {
    if (failed_ >= 0)
      throw Error("loopback: rank " + std::to_string(failed_) + " failed, so this collective cannot complete");
  };
  changed_.wait(lock, [&] { return !reading_ || failed_ >= 0; });  // the previous exchange is read
  throw_if_failed();
  slots_[static_cast<size_t>(rank)] = std::move(mine);
  const uint64_t generation = generation_;
  if (++arrived_ == size_) {
    reading_ = true;
    readers_left_ = size_;
    ++generation_;
    changed_.notify_all();
  } else {
    changed_.wait(lock, [&] { return generation_ != generation || failed_ >= 0; });
    if (generation_ == generation) throw_if_failed();
  }
  std::vector<std::vector<uint8_t>> out;
  if (want_all) out = slots_;
  if (--readers_left_ == 0) {
    reading_ = false;
    arrived_ = 0;
    for (auto& s : slots_) s.clear();
    changed_.notify_all();
  }
  return out;
}

bool LoopbackGroup::fail(int rank) {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool first = failed_ < 0;
  if (first) failed_ = rank;
  changed_.notify_all();
  return first;
}

LoopbackTransport::LoopbackTransport() : LoopbackTransport(std::make_shared<LoopbackGroup>(1), 0) {}

LoopbackTransport::LoopbackTransport(std::shared_ptr<LoopbackGroup> group, int rank)
    : group_(std::move(group)), rank_(rank) {
  require(rank_ >= 0 && rank_ < group_->size(), "LoopbackTransport: rank out of range");
}

std::string LoopbackTransport::describe() const {
  return "loopback (" + std::to_string(size()) + " thread" + (size() == 1 ? "" : "s") + ")";
}

Gathered LoopbackTransport::gatherv(std::vector<uint8_t> mine, int root) {
  Gathered g;
  auto all = group_->exchange(rank_, mine, rank_ == root);
  if (rank_ == root) g = concatenated(all);
  counters_.gather_calls += 1;
  counters_.gather_sent += mine.size();
  if (rank_ == root) counters_.gather_received += g.bytes.size();
  return g;
}

void LoopbackTransport::bcast(std::vector<uint8_t>& bytes, int root) {
  auto all = group_->exchange(rank_, rank_ == root ? bytes : std::vector<uint8_t>{}, true);
  if (rank_ != root) bytes = std::move(all[static_cast<size_t>(root)]);
  counters_.bcast_calls += 1;
  counters_.bcast_bytes += bytes.size();
}

void LoopbackTransport::reduce_sum(std::vector<double>& values, int root) {
  const auto all = group_->exchange(rank_, bytes_of(values.data(), values.size() * sizeof(double)), rank_ == root);
  counters_.reduce_bytes += values.size() * sizeof(double);
  if (rank_ != root) return;
  std::vector<double> sum(values.size(), 0.0), part(values.size());
  for (size_t r = 0; r < all.size(); ++r) {
    require(all[r].size() == values.size() * sizeof(double),
            "reduce_sum: rank " + std::to_string(r) + " passed another number of values than rank " +
                std::to_string(root));
    if (!part.empty()) std::memcpy(part.data(), all[r].data(), all[r].size());
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += part[i];
  }
  values = std::move(sum);
}

std::vector<uint64_t> LoopbackTransport::allgather(uint64_t value) {
  std::vector<uint64_t> out;
  for (const auto& b : all(bytes_of(&value, sizeof value))) out.push_back(value_of<uint64_t>(b));
  return out;
}

Gathered LoopbackTransport::gather_small(const std::vector<uint8_t>& mine, int root) {
  auto all = group_->exchange(rank_, mine, rank_ == root);
  return rank_ == root ? concatenated(all) : Gathered{};
}

double LoopbackTransport::max_to_root(double value, int root) {
  double out = value;
  for (const auto& b : all(bytes_of(&value, sizeof value)))
    if (rank_ == root) out = std::max(out, value_of<double>(b));
  return out;
}

uint64_t LoopbackTransport::max_all(uint64_t value) {
  uint64_t out = value;
  for (const auto& b : all(bytes_of(&value, sizeof value))) out = std::max(out, value_of<uint64_t>(b));
  return out;
}

bool LoopbackTransport::any(bool flag) {
  const uint8_t mine = flag ? 1 : 0;
  bool out = false;
  for (const auto& b : all({mine})) out = out || b[0] != 0;
  return out;
}

void LoopbackTransport::bcast_text(std::string& text, int root) {
  auto got = group_->exchange(rank_, rank_ == root ? std::vector<uint8_t>(text.begin(), text.end()) : std::vector<uint8_t>{},
                              true);
  if (rank_ != root) text.assign(got[static_cast<size_t>(root)].begin(), got[static_cast<size_t>(root)].end());
}

void LoopbackTransport::barrier() { group_->exchange(rank_, {}, false); }

std::vector<std::string> LoopbackTransport::hostnames() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) std::strcpy(name, "localhost");
  return std::vector<std::string>(static_cast<size_t>(size()), name);
}

void run_loopback(int ranks, const std::function<void(Transport&)>& fn) {
  auto group = std::make_shared<LoopbackGroup>(ranks);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(ranks));
  int first = -1;
  std::mutex first_mutex;
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        LoopbackTransport t(group, r);
        fn(t);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
        if (group->fail(r)) {
          std::lock_guard<std::mutex> lock(first_mutex);
          first = r;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (first >= 0) std::rethrow_exception(errors[static_cast<size_t>(first)]);
}

}  // namespace flb::comm
