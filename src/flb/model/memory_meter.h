// Measured (not estimated) activation memory of a training step.
//
// CPU: install_cpu_memory_counter() puts a counting allocator in front of
// LibTorch's default CPU allocator (c10::SetCPUAllocator): every tensor
// allocation made after it adds its bytes to a live count (atomics) and its
// deleter subtracts them; the peak is kept too. Memory LibTorch does not
// allocate through c10 (oneDNN scratch, OpenBLAS buffers) is not counted.
// CUDA (builds with FLB_HAVE_CUDA): the caching allocator's own
// allocated-bytes statistics of the device.
//
// ActivationMeter: begin() before a step's forward, end() after its
// optimiser step; max_bytes() is the largest (peak during a step - live at
// its begin) seen: the activations kept for backward, the temporaries of
// backward and the trained parameters' gradients.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace flb::model {

// Installs the counting CPU allocator once per process (later calls do
// nothing). Thread-safe.
void install_cpu_memory_counter();

// Bytes of tensor memory the counter holds live now (0 before install).
int64_t counted_cpu_live_bytes();

class ActivationMeter {
 public:
  explicit ActivationMeter(torch::Device device) : device_(device) {}
  void begin();  // REQUIRES: install_cpu_memory_counter() (on the CPU)
  void end();
  int64_t max_bytes() const { return max_; }

 private:
  torch::Device device_;
  int64_t live_at_begin_ = 0;
  int64_t max_ = 0;
};

}  // namespace flb::model
