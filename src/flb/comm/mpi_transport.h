// The MPI transport: comm::Transport over an MPI communicator.
//
// MPI counts and displacements are int. gatherv(), bcast(), reduce_sum()
// and gather_small() move any number of bytes by splitting into calls of
// at most `max_call_bytes` (default INT_MAX) in total, so a round of
// thousands of LLM-sized uploads (> 2 GiB) works on Open MPI 4.1, which
// lacks MPI-4's large-count calls (tests/mpi/mpi_transport_test.cc).
//
// REQUIRES: MPI is initialised for the lifetime of the object, and the
// communicator outlives it (it is not freed here). All calls are
// collective (comm/transport.h).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "flb/comm/transport.h"

namespace flb::comm {

class MpiTransport final : public Transport {
 public:
  explicit MpiTransport(MPI_Comm comm = MPI_COMM_WORLD, uint64_t max_call_bytes = 2147483647ull);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string describe() const override;
  // The communicator, for what needs MPI itself (parallel HDF5).
  MPI_Comm handle() const { return comm_; }

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
  // Gathers `mine` at root in calls of at most max_call_bytes_; returns
  // the number of MPI_Gatherv calls made.
  uint64_t gather_chunked(const std::vector<uint8_t>& mine, int root, Gathered* out);
  // Moves rank r's sizes[r] bytes (this rank's at `data`) to root's
  // out->bytes at out->offsets[r], which root has sized to `span` bytes
  // (the same on every rank: it decides whether one call suffices);
  // returns the calls made.
  uint64_t gather_into(const uint8_t* data, const std::vector<uint64_t>& sizes, uint64_t span, int root, Gathered* out);

  MPI_Comm comm_;
  uint64_t max_call_bytes_;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

// "Open MPI v4.1.4" or similar, from MPI_Get_library_version (first line).
std::string mpi_library_version();

}  // namespace flb::comm
