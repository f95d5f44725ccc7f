// The NCCL transport (flb/nccl/nccl_transport.h) against MpiTransport:
// gatherv (ranks sending nothing included, any root), bcast and reduce_sum
// give the same bytes and the same byte counters. Without a GPU on some
// rank the GPU tests skip, and the constructor throws flb::Error on every
// rank (no rank waits in ncclCommInitRank alone): that part runs anywhere.
#include "flb/nccl/nccl_transport.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>

#include "flb/core/error.h"

namespace flb::nccl {
namespace {

// ... of its own: no more ranks on the node than GPUs (NCCL's requirement).
bool every_rank_has_a_gpu(comm::MpiTransport& mpi) {
  int devices = 0;
  const bool mine = cudaGetDeviceCount(&devices) == cudaSuccess && devices >= mpi.local_size();
  return !mpi.any(!mine);
}

std::vector<uint8_t> pattern(int r, size_t scale) {
  std::vector<uint8_t> v(static_cast<size_t>((r * 37) % 11) * scale);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(r + 5 * i);
  return v;
}

TEST(NcclTransport, WithoutAGpuEveryRankGetsAnError) {
  comm::MpiTransport mpi(MPI_COMM_WORLD);
  if (every_rank_has_a_gpu(mpi)) GTEST_SKIP() << "every rank has a GPU";
  try {
    NcclTransport nccl(mpi);
    FAIL() << "constructed without a GPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--transport nccl"), std::string::npos) << e.what();
  }
}

TEST(NcclTransport, GathervBcastAndReduceSumEqualMpi) {
  comm::MpiTransport mpi(MPI_COMM_WORLD);
  if (!every_rank_has_a_gpu(mpi)) GTEST_SKIP() << "a rank has no GPU";
  comm::MpiTransport reference(MPI_COMM_WORLD);
  NcclTransport nccl(mpi);
  for (int root : {0, nccl.size() - 1}) {
    for (size_t scale : {size_t{1}, size_t{100003}}) {
      const comm::Gathered want = reference.gatherv(pattern(nccl.rank(), scale), root);
      const comm::Gathered got = nccl.gatherv(pattern(nccl.rank(), scale), root);
      EXPECT_EQ(got.bytes, want.bytes) << "root " << root << " scale " << scale;
      EXPECT_EQ(got.offsets, want.offsets);
      std::vector<uint8_t> b = nccl.rank() == root ? pattern(root + 1, scale) : std::vector<uint8_t>(3, 9);
      std::vector<uint8_t> same = b;
      nccl.bcast(b, root);
      reference.bcast(same, root);
      EXPECT_EQ(b, pattern(root + 1, scale)) << "bcast from " << root;
      EXPECT_EQ(b, same);
    }
  }
  std::vector<double> values(1000), same(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = same[i] = 0.1 * double(i) + 1e-9 * nccl.rank();
  nccl.reduce_sum(values, 0);
  reference.reduce_sum(same, 0);
  if (nccl.rank() == 0) {
    EXPECT_EQ(std::memcmp(values.data(), same.data(), values.size() * sizeof(double)), 0);
  }
  EXPECT_EQ(nccl.counters().gather_sent, reference.counters().gather_sent);
  EXPECT_EQ(nccl.counters().gather_received, reference.counters().gather_received);
  EXPECT_EQ(nccl.counters().bcast_bytes, reference.counters().bcast_bytes);
  EXPECT_EQ(nccl.counters().reduce_bytes, reference.counters().reduce_bytes);
}

}  // namespace
}  // namespace flb::nccl
