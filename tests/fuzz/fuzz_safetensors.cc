// Fuzz target: hf::SafetensorsCheckpoint::open on a file of the input's
// bytes (the header checks), then every tensor it lists.
//
// Properties beyond "no crash": each tensor has its header's shape and
// dtype, and its bytes are exactly the file's bytes at
// 8 + header length + [begin, end), so no tensor views memory outside its
// range (reading them touches every byte of the view).
#include <torch/torch.h>

#include <cstring>

#include "flb/core/error.h"
#include "flb/hf/safetensors.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using flb::fuzz::check;
  static flb::fuzz::InputFile file(".safetensors");
  const std::string& path = file.write(data, size);
  try {
    const flb::hf::SafetensorsCheckpoint ckpt = flb::hf::SafetensorsCheckpoint::open(path);
    check(size >= 8, "a file shorter than its length field opened");
    uint64_t header = 0;
    std::memcpy(&header, data, 8);
    for (const std::string& name : ckpt.names()) {
      const flb::hf::TensorInfo& info = ckpt.info(name);
      const torch::Tensor t = ckpt.tensor(name).contiguous();
      check(t.sizes().vec() == info.shape && t.scalar_type() == info.scalar_type, "tensor differs from its header");
      const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
      check(info.begin <= info.end && nbytes == info.end - info.begin, "tensor size differs from its byte range");
      check(8 + header + info.end <= size, "tensor range past the end of the file");
      check(nbytes == 0 || std::memcmp(t.data_ptr(), data + 8 + header + info.begin, nbytes) == 0,
            "tensor bytes differ from the file's");
    }
  } catch (const flb::Error&) {
  }
  return 0;
}
