// Hugging Face safetensors checkpoints: one file, or a directory of shards
// named by model.safetensors.index.json.
//
// File layout (little-endian, https://huggingface.co/docs/safetensors):
//
//   u64 N                      length of the header
//   N bytes of JSON            {"NAME": {"dtype": "BF16", "shape": [d0, d1, ...],
//                                        "data_offsets": [begin, end]}, ...,
//                               "__metadata__": {"key": "value", ...}}   (optional, strings only)
//   data                       every tensor's bytes, row-major, at [begin, end)
//                              counted from the first byte after the header
//
// Opening validates every header before any tensor is touched and throws
// flb::Error naming the file and, where there is one, the tensor: a file
// shorter than 8 bytes, a header length past the end, JSON that does not
// parse or is not an object, an entry without dtype/shape/data_offsets or
// with values of the wrong type, an unknown dtype (or one LibTorch 1.13 has
// no type for: U16, U32, U64, F8_*), begin > end, shape product x dtype
// size != end - begin, a range past the end of the data, ranges that
// overlap, and (as the format requires) bytes that no tensor covers. A
// sharded checkpoint also fails on an index that names a tensor its shard
// lacks, a tensor in two shards, or a tensor in a shard the index does not
// list. The checks never read tensor data, so opening costs the headers.
//
// Tensors view the memory-mapped file: no copy is made. The mapping is
// private and writable (copy on write): an in-place change to a returned
// tensor copies only the pages it touches and never reaches the file. Each
// tensor holds a reference to its file's mapping, so tensors stay valid
// after the SafetensorsCheckpoint is destroyed. A tensor whose data is not
// aligned to its element size (possible in valid files; flbench's writer
// and Hugging Face's align to 8) is returned as an aligned copy instead.
//
// Thread safety: a SafetensorsCheckpoint is immutable after open(); its
// const methods may be called from several threads at once.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace flb::hf {

// The header entry of one tensor.
struct TensorInfo {
  std::string name;
  std::string dtype;                // as in the header: "F32", "BF16", ...
  torch::ScalarType scalar_type;    // its LibTorch type
  std::vector<int64_t> shape;       // empty for a scalar
  std::string file;                 // the file that holds it
  uint64_t begin = 0, end = 0;      // data_offsets: byte range within the data section
};

// The LibTorch type of a safetensors dtype name: F64 F32 F16 BF16 I64 I32
// I16 I8 U8 BOOL. Throws flb::Error for any other name (the message says
// whether the name is a safetensors dtype LibTorch cannot hold or unknown).
torch::ScalarType safetensors_scalar_type(const std::string& dtype);
// The safetensors dtype name of a LibTorch type; throws flb::Error for a
// type the format cannot hold (complex, quantized).
std::string safetensors_dtype_name(torch::ScalarType type);

// "[2048, 512]": a shape as error messages print it.
std::string shape_text(const std::vector<int64_t>& shape);

class SafetensorsCheckpoint {
 public:
  // Opens `path`:
  //   - a file: that one safetensors file;
  //   - a directory with model.safetensors.index.json: the shards its
  //     "weight_map" names ({"tensor name": "shard file name"}, file names
  //     relative to the directory, no '/');
  //   - a directory with model.safetensors: that file.
  // Maps every file and validates every header (see the top of this file).
  // Throws flb::Error naming the file (and tensor) on any problem, or
  // naming what it looked for when `path` is none of the above.
  static SafetensorsCheckpoint open(const std::string& path);

  // The path given to open().
  const std::string& path() const { return path_; }
  // All tensor names, sorted.
  std::vector<std::string> names() const;
  bool has(const std::string& name) const;
  // REQUIRES: has(name), else throws flb::Error naming the tensor and path().
  const TensorInfo& info(const std::string& name) const;
  // The tensor `name` on the CPU, viewing the mapped file (above).
  // REQUIRES: has(name), else throws flb::Error naming the tensor and path().
  torch::Tensor tensor(const std::string& name) const;
  // The "__metadata__" of a single file, or the index's "metadata" object
  // (values as JSON text unless they are strings) of a sharded checkpoint.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Number of files (1, or the number of shards).
  size_t num_files() const { return files_.size(); }

  struct MappedFile;  // one mmap'ed file (safetensors.cc)

 private:
  SafetensorsCheckpoint() = default;
  void add_file(const std::string& file);

  std::string path_;
  std::vector<std::shared_ptr<const MappedFile>> files_;
  std::map<std::string, std::pair<TensorInfo, size_t>> tensors_;  // name -> (info, index into files_)
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` to one safetensors file at `path`, in the given order,
// with `metadata` as "__metadata__" (omitted when empty). Tensors may be on
// any device and non-contiguous; each is copied to the CPU one at a time
// as it is written. The header is padded with spaces so the data starts 8-byte
// aligned. Atomic: writes `path`.tmp and renames it over `path`, so a
// reader sees the old file or the complete new one.
// REQUIRES: names unique, non-empty and not "__metadata__"; dtypes that
// safetensors_dtype_name() accepts. Throws flb::Error naming the path (and
// the tensor) otherwise or when the file cannot be written; `path`.tmp is
// removed then.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace flb::hf
