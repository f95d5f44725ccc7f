// Mixed precision for the Llama decoder: LibTorch's autocast, as
// torch.autocast(device_type, dtype=torch.bfloat16) in Python.
//
// While an AutocastGuard is alive on a thread, matrix products (linear,
// matmul, bmm) on `device`'s type run in bfloat16 and numerically
// sensitive ops (softmax, log_softmax, pow, sum) in float32; parameters
// stay float32 and receive float32 gradients, because the casts are
// differentiable ops recorded in the graph. The guard restores the
// previous state (enabled flag and dtype) on destruction and, when it
// closes the outermost autocast region, clears autocast's cache of cast
// weights, as Python's context manager does.
//
// LibTorch 1.13 to 2.3 name the switches per device (set_enabled,
// set_cpu_enabled); 2.4 and later take the device type. Both are handled
// here so callers need neither.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace flb::model {

class AutocastGuard {
 public:
  // enabled false: a no-op guard (so callers need no branch). Only CPU and
  // CUDA devices can autocast; another device throws flb::Error.
  AutocastGuard(c10::Device device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType type_;
  bool active_ = false;
  bool previous_enabled_ = false;
  int previous_dtype_ = 0;  // at::ScalarType, kept as int to keep this header light
};

// "off" -> false, "bf16" -> true; flb::Error naming --autocast otherwise.
bool parse_autocast(const std::string& name);

}  // namespace flb::model
