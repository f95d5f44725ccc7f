// The NCCL transport (flbench --transport nccl): a comm::Transport whose
// payload collectives run on NCCL between the ranks' GPUs, and whose small
// control collectives stay on MPI (the wrapped comm::MpiTransport).
//
//   bootstrap   rank 0's ncclUniqueId reaches every rank over MPI, then
//               ncclCommInitRank on GPU local_rank % visible devices
//   gatherv     the sizes by MPI; each rank copies its bytes to its GPU;
//               one NCCL group of ncclSend (every rank but root) and
//               ncclRecv (root, one per rank, into the rank's offset);
//               root's own share is copied on the device, and root copies
//               the whole buffer back
//   bcast       the size by MPI; ncclBroadcast of the device copy
//   reduce_sum  the ranks' vectors gathered as in gatherv, added on root
//               in rank order: Transport's contract is the same bits for
//               any implementation, and ncclReduce adds in NCCL's own
//               (ring or tree) order
//
// The wire format is host bytes (compress/wire_format.h), so every payload
// is staged through device buffers that grow and are kept (no allocation
// per round). Byte counters count what MpiTransport counts, so /rounds and
// the end attributes read the same under either transport.
//
// Built only when CMake finds NCCL and the CUDA runtime (FLB_HAVE_NCCL).
// REQUIRES: `mpi` outlives this object, and every rank has a GPU of its
// own (local_size() <= the devices visible on its node). The constructor
// agrees on that, and on the device and rank 0's NCCL id, over MPI before
// ncclCommInitRank, so a rank that cannot take part makes every rank throw
// flb::Error instead of leaving the others waiting; a failure inside
// ncclCommInitRank itself is NCCL's to report (it blocks the other ranks
// until NCCL times out). Errors from CUDA or NCCL throw flb::Error with
// their message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flb/comm/mpi_transport.h"

namespace flb::nccl {

class NcclTransport final : public comm::Transport {
 public:
  explicit NcclTransport(comm::MpiTransport& mpi);
  ~NcclTransport() override;
  NcclTransport(const NcclTransport&) = delete;
  NcclTransport& operator=(const NcclTransport&) = delete;

  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  int local_rank() const override { return mpi_.local_rank(); }
  int local_size() const override { return mpi_.local_size(); }
  std::string describe() const override;

  comm::Gathered gatherv(std::vector<uint8_t> mine, int root = 0) override;
  void bcast(std::vector<uint8_t>& bytes, int root = 0) override;
  void reduce_sum(std::vector<double>& values, int root = 0) override;

  std::vector<uint64_t> allgather(uint64_t value) override { return mpi_.allgather(value); }
  comm::Gathered gather_small(const std::vector<uint8_t>& mine, int root = 0) override {
    return mpi_.gather_small(mine, root);
  }
  double max_to_root(double value, int root = 0) override { return mpi_.max_to_root(value, root); }
  uint64_t max_all(uint64_t value) override { return mpi_.max_all(value); }
  bool any(bool flag) override { return mpi_.any(flag); }
  void bcast_text(std::string& text, int root = 0) override { mpi_.bcast_text(text, root); }
  void barrier() override { mpi_.barrier(); }
  std::vector<std::string> hostnames() override { return mpi_.hostnames(); }

 private:
  struct Device;  // the CUDA stream, the NCCL communicator, the staging buffers
  // Gathers `n` bytes at `data` from every rank into root's device buffer
  // (sizes by MPI); root's host `out` receives them. Returns the sizes.
  std::vector<uint64_t> gather_bytes(const uint8_t* data, uint64_t n, int root, comm::Gathered* out);

  comm::MpiTransport& mpi_;
  std::unique_ptr<Device> device_;
};

}  // namespace flb::nccl
