// The MPI transport: byte buffers between ranks, nothing about algorithms.
//
// MPI counts and displacements are int. gatherv() and bcast() move any
// number of bytes by splitting into calls of at most `max_call_bytes`
// (default INT_MAX) in total, so a round of thousands of LLM-sized
// uploads (> 2 GiB) works on Open MPI 4.1, which lacks MPI-4's large-count
// calls. Every byte handed to MPI is counted in counters().
//
// REQUIRES: MPI is initialised for the lifetime of the object. All calls
// are collective over the communicator, and every rank must make them in
// the same order.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace flb::comm {

struct Gathered {
  std::vector<uint8_t> bytes;     // on root: every rank's buffer, in rank order
  std::vector<uint64_t> offsets;  // on root: size()+1 offsets into bytes
};

struct ByteCounters {
  uint64_t gather_sent = 0;      // bytes this rank passed to gatherv as its own contribution
  uint64_t gather_received = 0;  // bytes root received from all ranks (root only)
  uint64_t bcast_bytes = 0;      // payload bytes of every bcast (each rank counts what it got or sent)
  uint64_t gather_calls = 0;     // MPI_Gatherv calls made (more than gathers when chunked)
  uint64_t bcast_calls = 0;      // MPI_Bcast calls for payload bytes
};

class MpiComm {
 public:
  explicit MpiComm(MPI_Comm comm = MPI_COMM_WORLD, uint64_t max_call_bytes = 2147483647ull);

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank among the ranks on this node (picks the GPU), and their number.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  MPI_Comm handle() const { return comm_; }

  // Gathers every rank's `mine` at `root`; other ranks get an empty result.
  Gathered gatherv(const std::vector<uint8_t>& mine, int root = 0);
  // Root's `bytes` replaces every other rank's `bytes`.
  void bcast(std::vector<uint8_t>& bytes, int root = 0);

  // Small collectives for metrics and control; not counted as payload.
  std::vector<double> gather_doubles(const std::vector<double>& mine, int root = 0);  // root: rank order
  std::vector<uint64_t> allgather(uint64_t value);
  double max_to_root(double value, int root = 0);
  uint64_t max_all(uint64_t value);         // the maximum, on every rank
  void bcast_text(std::string& text, int root = 0);
  bool any(bool flag);  // true on every rank when flag is true on some rank
  void barrier();
  std::vector<std::string> hostnames();  // every rank's host, in rank order (all ranks)

  const ByteCounters& counters() const { return counters_; }

 private:
  MPI_Comm comm_;
  uint64_t max_call_bytes_;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  ByteCounters counters_;
};

// "Open MPI v4.1.4" or similar, from MPI_Get_library_version (first line).
std::string mpi_library_version();

}  // namespace flb::comm
