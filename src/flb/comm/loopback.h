// The loopback transport: N ranks inside one process, one thread each,
// exchanging bytes through shared memory. For unit tests that run whole
// rounds (sim/round.h) without mpirun; it moves the same bytes as
// MpiTransport and counts them the same way.
//
//   comm::LoopbackTransport solo;                 // a group of one rank
//   comm::run_loopback(2, [&](comm::Transport& t) {  // two ranks on two threads
//     ... collective code, t.rank() is 0 or 1 ...
//   });
//
// If the function throws on one rank, the ranks that wait in (or later
// enter) a collective throw flb::Error("loopback: rank R failed ...")
// instead of hanging; run_loopback rethrows the first failing rank's
// exception after joining every thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "flb/comm/transport.h"

namespace flb::comm {

// The shared state of a group of loopback ranks.
class LoopbackGroup {
 public:
  explicit LoopbackGroup(int size);
  int size() const { return size_; }

  // Every rank deposits `mine`; when all have, every rank gets all
  // deposits in rank order (a rank with want_all false gets an empty list).
  std::vector<std::vector<uint8_t>> exchange(int rank, std::vector<uint8_t> mine, bool want_all);
  // Marks `rank` failed: waiting and later exchanges throw. True for the
  // first rank to fail.
  bool fail(int rank);

 private:
  const int size_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::vector<uint8_t>> slots_;
  int arrived_ = 0, readers_left_ = 0;
  bool reading_ = false;
  uint64_t generation_ = 0;
  int failed_ = -1;
};

class LoopbackTransport final : public Transport {
 public:
  // A group of one: rank 0 of size 1.
  LoopbackTransport();
  // Rank `rank` of `group` (shared by the group's ranks).
  LoopbackTransport(std::shared_ptr<LoopbackGroup> group, int rank);

  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  int local_rank() const override { return rank_; }
  int local_size() const override { return group_->size(); }
  std::string describe() const override;

  Gathered gatherv(std::vector<uint8_t> mine, int root = 0) override;
  void bcast(std::vector<uint8_t>& bytes, int root = 0) override;
  void reduce_sum(std::vector<double>& values, int root = 0) override;

  std::vector<uint64_t> allgather(uint64_t value) override;
  Gathered gather_small(const std::vector<uint8_t>& mine, int root = 0) override;
  double max_to_root(double value, int root = 0) override;
  uint64_t max_all(uint64_t value) override;
  bool any(bool flag) override;
  void bcast_text(std::string& text, int root = 0) override;
  void barrier() override;
  std::vector<std::string> hostnames() override;

 private:
  std::vector<std::vector<uint8_t>> all(const std::vector<uint8_t>& mine) { return group_->exchange(rank_, mine, true); }
  std::shared_ptr<LoopbackGroup> group_;
  int rank_;
};

// Runs fn on `ranks` threads, each with its own LoopbackTransport of one
// group; joins them all and rethrows the first failing rank's exception.
void run_loopback(int ranks, const std::function<void(Transport&)>& fn);

}  // namespace flb::comm
