#include "flb/model/memory_meter.h"

#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#ifdef FLB_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "flb/core/error.h"

namespace flb::model {
namespace {

// Each allocation carries its size in a header this long before the data;
// 64 keeps the 64-byte alignment of c10's CPU allocator.
constexpr size_t kHeader = 64;

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};
c10::Allocator* g_inner = nullptr;                // LibTorch's default CPU allocator
c10::DeleterFnPtr g_inner_delete = nullptr;

void raise_peak(int64_t live) {
  int64_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
}

// Data and context are the same pointer (raw_allocate requires it); the
// inner allocation starts kHeader bytes before.
void counted_delete(void* data) {
  char* base = static_cast<char*>(data) - kHeader;
  g_live.fetch_sub(*reinterpret_cast<int64_t*>(base));
  g_inner_delete(base);
}

// 2.3 made allocate() non-const and added copy_data().
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define FLB_ALLOCATE_CONST
#else
#define FLB_ALLOCATE_CONST const
#endif

class CountingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) FLB_ALLOCATE_CONST override {
    char* base = static_cast<char*>(g_inner->raw_allocate(n + kHeader));
    *reinterpret_cast<int64_t*>(base) = static_cast<int64_t>(n);
    raise_peak(g_live.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n));
    void* data = base + kHeader;
    return {data, data, &counted_delete, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &counted_delete; }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif
};

#ifdef FLB_HAVE_CUDA
// allocated_bytes[0] is the aggregate over pool types.
int64_t cuda_live_and_reset_peak(c10::DeviceIndex d) {
  c10::cuda::CUDACachingAllocator::resetPeakStats(d);
  return c10::cuda::CUDACachingAllocator::getDeviceStats(d).allocated_bytes[0].current;
}
int64_t cuda_peak(c10::DeviceIndex d) { return c10::cuda::CUDACachingAllocator::getDeviceStats(d).allocated_bytes[0].peak; }
#endif

}  // namespace

void install_cpu_memory_counter() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_inner = c10::GetCPUAllocator();
    g_inner_delete = g_inner->raw_deleter();
    require(g_inner_delete != nullptr, "memory counter: LibTorch's CPU allocator has no raw deleter to wrap");
    static CountingCpuAllocator counting;
    c10::SetCPUAllocator(&counting, /*priority=*/100);
  });
}

int64_t counted_cpu_live_bytes() { return g_live.load(); }

void ActivationMeter::begin() {
#ifdef FLB_HAVE_CUDA
  if (device_.is_cuda()) {
    live_at_begin_ = cuda_live_and_reset_peak(device_.index());
    return;
  }
#endif
  live_at_begin_ = g_live.load();
  g_peak.store(live_at_begin_);  // one step's peak from here
}

void ActivationMeter::end() {
#ifdef FLB_HAVE_CUDA
  if (device_.is_cuda()) {
    max_ = std::max(max_, cuda_peak(device_.index()) - live_at_begin_);
    return;
  }
#endif
  max_ = std::max(max_, g_peak.load() - live_at_begin_);
}

}  // namespace flb::model
