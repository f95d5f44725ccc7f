#include "flb/nccl/nccl_transport.h"

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <cstring>
#include <utility>

#include "flb/core/error.h"

namespace flb::nccl {
namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("--transport nccl: ") + what + ": " + cudaGetErrorString(e));
}

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw Error(std::string("--transport nccl: ") + what + ": " + ncclGetErrorString(r));
}

// A device buffer that only grows.
class DeviceBuffer {
 public:
  ~DeviceBuffer() {
    if (data_) cudaFree(data_);
  }
  uint8_t* at_least(uint64_t bytes) {
    if (bytes > capacity_) {
      if (data_) check_cuda(cudaFree(data_), "cudaFree");
      data_ = nullptr;
      check_cuda(cudaMalloc(reinterpret_cast<void**>(&data_), bytes), "cudaMalloc");
      capacity_ = bytes;
    }
    return data_;
  }

 private:
  uint8_t* data_ = nullptr;
  uint64_t capacity_ = 0;
};

}  // namespace

struct NcclTransport::Device {
  int gpu = 0;
  cudaStream_t stream = nullptr;
  ncclComm_t comm = nullptr;
  DeviceBuffer send, receive;

  ~Device() {  // also when the constructor throws halfway
    if (comm) ncclCommDestroy(comm);
    if (stream) cudaStreamDestroy(stream);
  }
  void sync() { check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize"); }
};

namespace {

// Every rank learns whether some rank failed `step` (its message, or ""
// for success); all throw, the failing ones with their own reason, the
// others saying another rank failed. So no rank goes on into a collective
// that a failed rank will never join.
void agree(comm::MpiTransport& mpi, const std::string& failure) {
  if (!mpi.any(!failure.empty())) return;
  throw Error(failure.empty() ? "--transport nccl: another rank could not set up NCCL (its message says why)"
                              : failure);
}

template <typename Step>
std::string failure_of(Step step) {
  try {
    step();
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace

NcclTransport::NcclTransport(comm::MpiTransport& mpi) : mpi_(mpi), device_(std::make_unique<Device>()) {
  int devices = 0;
  const cudaError_t found = cudaGetDeviceCount(&devices);
  std::string failure;
  if (found != cudaSuccess || devices == 0)
    failure = "--transport nccl: no CUDA device (" +
              std::string(found != cudaSuccess ? cudaGetErrorString(found) : "0 devices") +
              "): run on GPU nodes or use --transport mpi";
  else if (mpi_.local_size() > devices)
    failure = "--transport nccl: " + std::to_string(mpi_.local_size()) + " ranks on this node share " +
              std::to_string(devices) + " GPU(s); NCCL needs a GPU per rank (start one rank per GPU)";
  agree(mpi_, failure);
  device_->gpu = mpi_.local_rank();
  agree(mpi_, failure_of([&] {
    check_cuda(cudaSetDevice(device_->gpu), "cudaSetDevice");
    check_cuda(cudaStreamCreateWithFlags(&device_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  }));
  ncclUniqueId id{};
  agree(mpi_, mpi_.rank() == 0 ? failure_of([&] { check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId"); }) : std::string());
  std::string wire(reinterpret_cast<const char*>(&id), sizeof id);
  mpi_.bcast_text(wire, 0);
  require(wire.size() == sizeof id, "--transport nccl: the NCCL id from rank 0 has the wrong size");
  std::memcpy(&id, wire.data(), sizeof id);
  check_nccl(ncclCommInitRank(&device_->comm, mpi_.size(), id, mpi_.rank()), "ncclCommInitRank");
}

NcclTransport::~NcclTransport() = default;

std::string NcclTransport::describe() const {
  int version = 0;
  ncclGetVersion(&version);
  return "NCCL " + std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100) + " (control: " + mpi_.describe() + ")";
}

std::vector<uint64_t> NcclTransport::gather_bytes(const uint8_t* data, uint64_t n, int root, comm::Gathered* out) {
  const std::vector<uint64_t> sizes = mpi_.allgather(n);
  std::vector<uint64_t> offsets(sizes.size() + 1, 0);
  for (size_t r = 0; r < sizes.size(); ++r) offsets[r + 1] = offsets[r] + sizes[r];
  Device& d = *device_;
  uint8_t* mine = d.send.at_least(n);
  if (n > 0) check_cuda(cudaMemcpyAsync(mine, data, n, cudaMemcpyHostToDevice, d.stream), "cudaMemcpy to the GPU");
  const bool is_root = rank() == root;
  uint8_t* all = is_root ? d.receive.at_least(offsets.back()) : nullptr;
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  if (!is_root && n > 0) check_nccl(ncclSend(mine, n, ncclUint8, root, d.comm, d.stream), "ncclSend");
  if (is_root)
    for (int r = 0; r < size(); ++r)
      if (r != root && sizes[r] > 0)
        check_nccl(ncclRecv(all + offsets[r], sizes[r], ncclUint8, r, d.comm, d.stream), "ncclRecv");
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  if (is_root) {
    if (n > 0)
      check_cuda(cudaMemcpyAsync(all + offsets[root], mine, n, cudaMemcpyDeviceToDevice, d.stream), "cudaMemcpy on the GPU");
    out->offsets = offsets;
    out->bytes.resize(offsets.back());
    if (offsets.back() > 0)
      check_cuda(cudaMemcpyAsync(out->bytes.data(), all, offsets.back(), cudaMemcpyDeviceToHost, d.stream),
                 "cudaMemcpy to the host");
  }
  d.sync();
  return sizes;
}

comm::Gathered NcclTransport::gatherv(std::vector<uint8_t> mine, int root) {
  comm::Gathered out;
  gather_bytes(mine.data(), mine.size(), root, &out);
  counters_.gather_sent += mine.size();
  if (rank() == root) counters_.gather_received += out.bytes.size();
  counters_.gather_calls += 1;
  return out;
}

void NcclTransport::bcast(std::vector<uint8_t>& bytes, int root) {
  const uint64_t n = mpi_.allgather(bytes.size())[static_cast<size_t>(root)];
  Device& d = *device_;
  uint8_t* buffer = d.send.at_least(n);
  if (rank() == root && n > 0)
    check_cuda(cudaMemcpyAsync(buffer, bytes.data(), n, cudaMemcpyHostToDevice, d.stream), "cudaMemcpy to the GPU");
  if (n > 0) check_nccl(ncclBroadcast(buffer, buffer, n, ncclUint8, root, d.comm, d.stream), "ncclBroadcast");
  if (rank() != root) {
    bytes.resize(n);
    if (n > 0) check_cuda(cudaMemcpyAsync(bytes.data(), buffer, n, cudaMemcpyDeviceToHost, d.stream), "cudaMemcpy to the host");
  }
  d.sync();
  counters_.bcast_bytes += n;
  counters_.bcast_calls += 1;
}

void NcclTransport::reduce_sum(std::vector<double>& values, int root) {
  const uint64_t n = values.size() * sizeof(double);
  comm::Gathered all;
  const std::vector<uint64_t> sizes = gather_bytes(reinterpret_cast<const uint8_t*>(values.data()), n, root, &all);
  counters_.reduce_bytes += n;
  if (rank() != root) return;
  for (int r = 0; r < size(); ++r)
    require(sizes[static_cast<size_t>(r)] == n, "reduce_sum: rank " + std::to_string(r) +
                                                    " passed another number of values than rank " + std::to_string(root));
  std::vector<double> sum(values.size(), 0.0), part(values.size());
  for (int r = 0; r < size(); ++r) {  // rank order, as MpiTransport
    if (n > 0) std::memcpy(part.data(), all.bytes.data() + all.offsets[static_cast<size_t>(r)], n);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += part[i];
  }
  values = std::move(sum);
}

}  // namespace flb::nccl
