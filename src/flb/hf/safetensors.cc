#include "flb/hf/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "flb/core/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors is little-endian; flbench's reader and writer assume a little-endian host");

namespace flb::hf {

namespace fs = std::filesystem;
using nlohmann::json;

// One file, mapped private and writable (copy on write) for its lifetime.
struct SafetensorsCheckpoint::MappedFile {
  std::string path;
  void* base = nullptr;
  size_t size = 0;
  size_t data_start = 0;  // 8 + header length
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (base != nullptr) munmap(base, size);
  }
};

namespace {

const std::string kIndexName = "model.safetensors.index.json";
const std::string kSingleName = "model.safetensors";

struct DtypeRow {
  const char* name;
  torch::ScalarType type;
};
const DtypeRow kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
    {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
    {"I16", torch::kInt16},    {"I8", torch::kInt8},     {"U8", torch::kUInt8},
    {"BOOL", torch::kBool},
};
// safetensors dtypes that LibTorch 1.13 has no type for.
const char* const kUnsupportedDtypes[] = {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2"};

std::string range_text(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

[[noreturn]] void fail(const std::string& file, const std::string& message) {
  throw Error(file + ": " + message);
}

[[noreturn]] void fail_tensor(const std::string& file, const std::string& name, const std::string& message) {
  throw Error(file + ": tensor '" + name + "': " + message);
}

std::shared_ptr<SafetensorsCheckpoint::MappedFile> map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(e));
  }
  auto file = std::make_shared<SafetensorsCheckpoint::MappedFile>();
  file->path = path;
  file->size = static_cast<size_t>(st.st_size);
  if (file->size < 8) {
    ::close(fd);
    fail(path, "truncated: " + std::to_string(file->size) +
                   " bytes, but a safetensors file starts with an 8-byte header length");
  }
  void* base = mmap(nullptr, file->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);
  if (base == MAP_FAILED) fail(path, std::string("cannot memory-map: ") + std::strerror(e));
  file->base = base;
  return file;
}

// Parses JSON text, refusing a key given twice at the top level (nlohmann
// would keep the last one silently).
json parse_json(const std::string& file, const char* begin, const char* end, const std::string& what) {
  std::set<std::string> keys;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!keys.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(begin, end, cb);
  } catch (const json::exception& ex) {
    fail(file, what + " is not valid JSON: " + ex.what());
  }
  if (!j.is_object()) fail(file, what + " is JSON but not an object (it is " + std::string(j.type_name()) + ")");
  if (!duplicate.empty()) fail(file, what + " names '" + duplicate + "' twice");
  return j;
}

uint64_t read_u64_le(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Parses and validates one entry of a header.
TensorInfo parse_entry(const std::string& file, const std::string& name, const json& e, uint64_t data_size) {
  if (!e.is_object()) fail_tensor(file, name, "header entry is not an object");
  TensorInfo t;
  t.name = name;
  t.file = file;
  const auto dtype = e.find("dtype");
  if (dtype == e.end() || !dtype->is_string()) fail_tensor(file, name, "no \"dtype\" string");
  t.dtype = dtype->get<std::string>();
  try {
    t.scalar_type = safetensors_scalar_type(t.dtype);
  } catch (const Error& ex) {
    fail_tensor(file, name, ex.what());
  }
  const auto shape = e.find("shape");
  if (shape == e.end() || !shape->is_array()) fail_tensor(file, name, "no \"shape\" array");
  uint64_t numel = 1;
  for (const json& d : *shape) {
    if (!d.is_number_unsigned()) fail_tensor(file, name, "shape " + shape->dump() + " has an entry that is not a non-negative integer");
    const uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, v, &numel))
      fail_tensor(file, name, "shape " + shape->dump() + " overflows 64 bits");
    t.shape.push_back(static_cast<int64_t>(v));
  }
  const auto offsets = e.find("data_offsets");
  if (offsets == e.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned())
    fail_tensor(file, name, "no \"data_offsets\" pair of non-negative integers");
  t.begin = (*offsets)[0].get<uint64_t>();
  t.end = (*offsets)[1].get<uint64_t>();
  if (t.begin > t.end) fail_tensor(file, name, "data_offsets " + range_text(t.begin, t.end) + ": begin > end");
  const uint64_t elem = c10::elementSize(t.scalar_type);
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, elem, &nbytes)) fail_tensor(file, name, "shape " + shape->dump() + " overflows 64 bits");
  if (nbytes != t.end - t.begin)
    fail_tensor(file, name, "shape " + shape_text(t.shape) + " x " + std::to_string(elem) + " bytes (" + t.dtype + ") = " +
                                std::to_string(nbytes) + " bytes, but data_offsets " + range_text(t.begin, t.end) + " hold " +
                                std::to_string(t.end - t.begin));
  if (t.end > data_size)
    fail_tensor(file, name, "data_offsets " + range_text(t.begin, t.end) + " reach past the end of the data (" +
                                std::to_string(data_size) + " bytes after the header): the file is truncated or corrupt");
  return t;
}

std::string json_value_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

torch::ScalarType safetensors_scalar_type(const std::string& dtype) {
  for (const DtypeRow& r : kDtypes)
    if (dtype == r.name) return r.type;
  for (const char* u : kUnsupportedDtypes)
    if (dtype == u) throw Error("dtype " + dtype + " has no LibTorch 1.13 type (flbench reads F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
  throw Error("unknown dtype '" + dtype + "' (safetensors dtypes flbench reads: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
}

std::string safetensors_dtype_name(torch::ScalarType type) {
  for (const DtypeRow& r : kDtypes)
    if (type == r.type) return r.name;
  throw Error(std::string("LibTorch type ") + c10::toString(type) + " has no safetensors dtype");
}

void SafetensorsCheckpoint::add_file(const std::string& path) {
  std::shared_ptr<MappedFile> file = map_file(path);
  const auto* bytes = static_cast<const char*>(file->base);
  const uint64_t n = read_u64_le(bytes);
  if (n > file->size - 8)
    fail(path, "header length " + std::to_string(n) + " reaches past the end of the file (" + std::to_string(file->size) +
                   " bytes): truncated, or not a safetensors file");
  const uint64_t data_size = file->size - 8 - n;
  const json header = parse_json(path, bytes + 8, bytes + 8 + n, "the header");

  std::vector<TensorInfo> infos;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(path, "\"__metadata__\" is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail(path, "\"__metadata__\" value of '" + mk + "' is not a string");
        if (files_.empty()) metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    infos.push_back(parse_entry(path, key, value, data_size));
  }

  // The data must be covered exactly: no overlap, no hole, no trailing bytes.
  std::vector<const TensorInfo*> order;
  for (const TensorInfo& t : infos) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* t : order) {
    if (t->begin < covered)
      fail_tensor(path, t->name, "data_offsets " + range_text(t->begin, t->end) + " overlap those of tensor '" +
                                     previous->name + "' " + range_text(previous->begin, previous->end));
    if (t->begin > covered)
      fail_tensor(path, t->name, "data_offsets " + range_text(t->begin, t->end) + " leave bytes [" +
                                     std::to_string(covered) + ", " + std::to_string(t->begin) +
                                     ") of the data unused (safetensors files have no holes)");
    if (t->end > covered || previous == nullptr) previous = t;
    covered = std::max(covered, t->end);
  }
  if (covered != data_size)
    fail(path, std::to_string(data_size - covered) + " bytes after the last tensor's data belong to no tensor (" +
                   std::to_string(data_size) + " data bytes, tensors cover " + std::to_string(covered) + ")");

  const size_t index = files_.size();
  for (TensorInfo& t : infos) {
    const auto found = tensors_.find(t.name);
    if (found != tensors_.end())
      fail_tensor(path, t.name, "also in " + found->second.first.file + " (a tensor must be in one shard only)");
    std::string name = t.name;
    tensors_.emplace(std::move(name), std::make_pair(std::move(t), index));
  }
  file->data_start = 8 + n;
  files_.push_back(std::move(file));
}

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
  SafetensorsCheckpoint c;
  c.path_ = path;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    c.add_file(path);
    return c;
  }
  if (!fs::is_directory(path, ec))
    throw Error(path + ": no such file or directory (expected a .safetensors file or a checkpoint directory)");
  const fs::path dir(path);
  const fs::path index = dir / kIndexName;
  if (!fs::exists(index, ec)) {
    const fs::path single = dir / kSingleName;
    if (!fs::exists(single, ec))
      throw Error(path + ": neither " + kIndexName + " nor " + kSingleName +
                  " in this directory (a Hugging Face checkpoint directory holds one of them)");
    c.add_file(single.string());
    return c;
  }

  // Sharded: the index names every tensor's shard.
  const std::string index_path = index.string();
  std::ifstream in(index_path, std::ios::binary);
  if (!in) throw Error(index_path + ": cannot open");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const json j = parse_json(index_path, text.data(), text.data() + text.size(), "the index");
  const auto map = j.find("weight_map");
  if (map == j.end() || !map->is_object()) fail(index_path, "no \"weight_map\" object");
  const auto meta = j.find("metadata");
  std::map<std::string, std::string> metadata;
  if (meta != j.end() && !meta->is_null()) {
    if (!meta->is_object()) fail(index_path, "\"metadata\" is not an object");
    for (const auto& [k, v] : meta->items()) metadata[k] = json_value_text(v);
  }
  std::map<std::string, std::string> shard_of;  // tensor -> shard file name
  std::set<std::string> shards;
  for (const auto& [name, shard] : map->items()) {
    if (!shard.is_string()) fail_tensor(index_path, name, "weight_map value is not a file name string");
    const std::string s = shard.get<std::string>();
    if (s.empty() || s == "." || s == ".." || s.find('/') != std::string::npos)
      fail_tensor(index_path, name, "weight_map names shard '" + s + "', not a file name in " + path);
    shard_of[name] = s;
    shards.insert(s);
  }
  if (shards.empty()) fail(index_path, "\"weight_map\" is empty");
  for (const std::string& s : shards) c.add_file((dir / s).string());
  for (const auto& [name, shard] : shard_of) {
    const std::string shard_path = (dir / shard).string();
    const auto found = c.tensors_.find(name);
    if (found == c.tensors_.end())
      fail_tensor(index_path, name, "the index puts it in " + shard_path + ", which does not hold it");
    if (found->second.first.file != shard_path)
      fail_tensor(index_path, name, "the index puts it in " + shard_path + ", but it is in " + found->second.first.file);
  }
  for (const auto& [name, entry] : c.tensors_)
    if (shard_of.count(name) == 0)
      fail_tensor(entry.first.file, name, "not named in " + index_path + "'s weight_map");
  c.metadata_ = std::move(metadata);
  return c;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& entry : tensors_) out.push_back(entry.first);
  return out;
}

bool SafetensorsCheckpoint::has(const std::string& name) const { return tensors_.count(name) != 0; }

const TensorInfo& SafetensorsCheckpoint::info(const std::string& name) const {
  const auto found = tensors_.find(name);
  if (found == tensors_.end()) throw Error(path_ + ": no tensor '" + name + "' in this checkpoint");
  return found->second.first;
}

torch::Tensor SafetensorsCheckpoint::tensor(const std::string& name) const {
  const auto found = tensors_.find(name);
  if (found == tensors_.end()) throw Error(path_ + ": no tensor '" + name + "' in this checkpoint");
  const TensorInfo& t = found->second.first;
  const size_t index = found->second.second;
  std::shared_ptr<const MappedFile> file = files_[index];
  char* data = static_cast<char*>(file->base) + file->data_start + t.begin;
  const auto options = torch::TensorOptions().dtype(t.scalar_type).device(torch::kCPU);
  const size_t elem = c10::elementSize(t.scalar_type);
  torch::Tensor view = torch::from_blob(data, t.shape, [file](void*) {}, options);
  if (reinterpret_cast<uintptr_t>(data) % elem != 0) return view.clone();
  return view;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__") fail(path, "cannot write a tensor named '" + name + "'");
    if (!seen.insert(name).second) fail_tensor(path, name, "given twice");
    if (!t.defined()) fail_tensor(path, name, "undefined tensor");
    std::string dtype;
    try {
      dtype = safetensors_dtype_name(t.scalar_type());
    } catch (const Error& ex) {
      fail_tensor(path, name, ex.what());
    }
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) fail(path, "cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = true;
  const uint64_t n = text.size();
  ok = ok && std::fwrite(&n, sizeof n, 1, f) == 1;
  ok = ok && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const auto& entry : tensors) {
    if (!ok) break;
    const torch::Tensor c = entry.second.detach().to(torch::kCPU).contiguous();
    const size_t nbytes = static_cast<size_t>(c.numel()) * c.element_size();
    ok = nbytes == 0 || std::fwrite(c.data_ptr(), 1, nbytes, f) == nbytes;
  }
  ok = ok && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  const int e = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    fail(path, "cannot write " + tmp + ": " + std::strerror(e));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int re = errno;
    std::remove(tmp.c_str());
    fail(path, std::string("cannot rename the written .tmp over it: ") + std::strerror(re));
  }
}

}  // namespace flb::hf
