#include "flb/model/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "flb/core/error.h"

namespace flb::model {
namespace {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool is_enabled(c10::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
void set_enabled(c10::DeviceType t, bool on) { at::autocast::set_autocast_enabled(t, on); }
at::ScalarType get_dtype(c10::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
void set_dtype(c10::DeviceType t, at::ScalarType d) { at::autocast::set_autocast_dtype(t, d); }
#else
bool is_cuda(c10::DeviceType t) { return t == c10::DeviceType::CUDA; }
bool is_enabled(c10::DeviceType t) { return is_cuda(t) ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void set_enabled(c10::DeviceType t, bool on) {
  if (is_cuda(t)) {
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_cpu_enabled(on);
  }
}
at::ScalarType get_dtype(c10::DeviceType t) {
  return is_cuda(t) ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_dtype(c10::DeviceType t, at::ScalarType d) {
  if (is_cuda(t)) {
    at::autocast::set_autocast_gpu_dtype(d);
  } else {
    at::autocast::set_autocast_cpu_dtype(d);
  }
}
#endif

}  // namespace

AutocastGuard::AutocastGuard(c10::Device device, bool enabled) : type_(device.type()) {
  if (!enabled) return;
  require(type_ == c10::DeviceType::CPU || type_ == c10::DeviceType::CUDA,
          "--autocast bf16: only CPU and CUDA devices autocast (got " + device.str() + ")");
  previous_enabled_ = is_enabled(type_);
  previous_dtype_ = static_cast<int>(get_dtype(type_));
  set_dtype(type_, at::kBFloat16);
  set_enabled(type_, true);
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_enabled(type_, previous_enabled_);
  set_dtype(type_, static_cast<at::ScalarType>(previous_dtype_));
}

bool parse_autocast(const std::string& name) {
  if (name == "off") return false;
  if (name == "bf16") return true;
  throw Error("--autocast: choose off or bf16 (got '" + name + "')");
}

}  // namespace flb::model
