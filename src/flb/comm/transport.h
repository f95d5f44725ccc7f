// The transport seam: how ranks exchange bytes, and nothing about
// algorithms, payload formats or files.
//
// A Transport is a group of `size()` ranks; this object is one of them.
// The round (sim/round.h) moves its payloads only through gatherv() and
// bcast(), and its metrics and control through the small collectives
// below. Implementations:
//
//   MpiTransport       comm/mpi_transport.h  MPI_Gatherv / MPI_Bcast over a
//                                            communicator, chunked past 2 GiB
//   LoopbackTransport  comm/loopback.h       N ranks inside one process (one
//                                            thread each), for unit tests
//
// A NCCL transport (device buffers) plugs in here: subclass Transport.
// Hierarchical aggregation (sim/hierarchical.h) is built on reduce_sum.
//
// Parallel HDF5 (metrics/results_file.h) needs an MPI communicator of its
// own; the transport does not hand one out. sim::run_experiment takes the
// results communicator as a separate argument (sim/experiment.h).
//
// REQUIRES: every call is collective: every rank of the group makes the
// same calls, in the same order, with the same `root`. Not thread-safe on
// one object; each rank (thread) of a LoopbackTransport has its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flb::comm {

// Bytes gathered at a root.
struct Gathered {
  std::vector<uint8_t> bytes;     // on root: every rank's buffer, in rank order
  std::vector<uint64_t> offsets;  // on root: size()+1 offsets into bytes; rank r's bytes are [offsets[r], offsets[r+1])
};

// Payload bytes this rank handed to or got from the transport. Control
// collectives (the small ones below) are not counted.
struct ByteCounters {
  uint64_t gather_sent = 0;      // bytes this rank passed to gatherv as its own contribution
  uint64_t gather_received = 0;  // bytes root received from all ranks (root only)
  uint64_t bcast_bytes = 0;      // payload bytes of every bcast (each rank counts what it got or sent)
  uint64_t reduce_bytes = 0;     // bytes this rank contributed to reduce_sum
  uint64_t gather_calls = 0;     // underlying gather calls (more than gathers when chunked)
  uint64_t bcast_calls = 0;      // underlying bcast calls for payload bytes
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank among the ranks on this node (picks the GPU), and their number.
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  // "Open MPI v4.1.4", "loopback (4 threads)": for the results attributes.
  virtual std::string describe() const = 0;

  // ---- payload: counted in counters() ----------------------------------
  // Gathers every rank's `mine` (any size, 0 included) at `root`. Pass it
  // with std::move: on root its storage becomes the result's bytes, so
  // root's own share need not be copied; other ranks get an empty result
  // (whose bytes may keep `mine`'s capacity, for the caller to reuse).
  virtual Gathered gatherv(std::vector<uint8_t> mine, int root = 0) = 0;
  // Root's `bytes` replaces every other rank's `bytes` (any size, 0 included).
  virtual void bcast(std::vector<uint8_t>& bytes, int root = 0) = 0;
  // Element-wise sum over ranks, in rank order (0 + 1 + 2 ...), so the
  // result is the same bits whatever the implementation: on `root`,
  // values[i] becomes sum_r values_r[i]; other ranks' values are unchanged.
  // REQUIRES: the same values.size() on every rank.
  virtual void reduce_sum(std::vector<double>& values, int root = 0) = 0;

  // ---- control and metrics: small, not counted --------------------------
  // Every rank's value, in rank order, on every rank.
  virtual std::vector<uint64_t> allgather(uint64_t value) = 0;
  // Every rank's small buffer at root (rank order); other ranks get an empty result.
  virtual Gathered gather_small(const std::vector<uint8_t>& mine, int root = 0) = 0;
  virtual double max_to_root(double value, int root = 0) = 0;  // other ranks get their own value
  virtual uint64_t max_all(uint64_t value) = 0;                // the maximum, on every rank
  virtual bool any(bool flag) = 0;  // true on every rank when flag is true on some rank
  virtual void bcast_text(std::string& text, int root = 0) = 0;
  virtual void barrier() = 0;
  virtual std::vector<std::string> hostnames() = 0;  // every rank's host, in rank order (all ranks)

  // Built on gather_small: every rank's doubles (root: rank order), and
  // every rank's text (root: one string per rank).
  std::vector<double> gather_doubles(const std::vector<double>& mine, int root = 0);
  std::vector<std::string> gather_text(const std::string& mine, int root = 0);

  const ByteCounters& counters() const { return counters_; }

 protected:
  ByteCounters counters_;
};

}  // namespace flb::comm
