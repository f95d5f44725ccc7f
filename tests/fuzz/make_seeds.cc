// Writes the binary seed corpora of the fuzz targets with flbench's own
// writers, so each seed is a valid input the target's reader accepts (the
// fuzzer mutates from there):
//   fuzz_make_seeds DIR
// writes DIR/wire, DIR/idx, DIR/safetensors and DIR/token_shard. The text
// seeds (tokenizer_json, tokenizer_encode, config_toml) are written by
// hand and committed as they are. tests/fuzz/README.md has the command.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "flb/compress/wire_format.h"
#include "flb/data/token_shard.h"
#include "flb/hf/safetensors.h"
#include "fuzz_check.h"

namespace fs = std::filesystem;
using namespace flb::compress;

namespace {

void save(const fs::path& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

Part dense(uint32_t tensor, int64_t numel) {
  Part p;
  p.tensor = tensor;
  p.numel = static_cast<uint64_t>(numel);
  p.values = torch::arange(numel, torch::kFloat32) * 0.5 - 1;
  return p;
}

Part sparse(uint32_t tensor, int64_t numel, int64_t stride, uint8_t tag) {
  Part p;
  p.kind = PartKind::kSparse;
  p.tag = tag;
  p.tensor = tensor;
  p.numel = static_cast<uint64_t>(numel);
  p.indices = torch::arange(0, numel, stride, torch::kInt32);
  p.values = torch::ones({p.indices.numel()}, torch::kFloat32) * 0.25;
  return p;
}

// Payloads that fit fuzz_wire.cc's schema: tensor 1 sparse as an index
// list (few positions) or a bitmap (many), tensors 2 and 3 optional.
void wire_seeds(const fs::path& dir) {
  Payload a{7, 3, {dense(0, 10), sparse(1, 1000, 97, 1), scalar_part(2, 3, {1.5f, -2.0f})}};
  Payload b{7, 4, {dense(0, 10), sparse(1, 1000, 3, 0), sparse(3, 64, 5, 2)}};
  Payload c{7, 5, {dense(0, 10), dense(1, 1000), dense(3, 64)}};
  save(dir / "index-list", encode(a));
  save(dir / "bitmap", encode(b));
  std::vector<uint8_t> three;
  for (const Payload* p : {&a, &b, &c}) encode(*p, three);
  save(dir / "three-uploads", three);
}

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> b{0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  size_t count = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
    count *= d;
  }
  for (size_t i = 0; i < count; ++i) b.push_back(static_cast<uint8_t>(i * 37));
  return b;
}

// fuzz_idx.cc reads the first byte as the mode: 0 plain, 1 gzip.
void idx_seeds(const fs::path& dir) {
  for (const auto& [name, dims] : {std::pair<const char*, std::vector<uint32_t>>{"images", {3, 4, 4}},
                                   {"labels", {10}}}) {
    std::vector<uint8_t> b = idx_bytes(dims);
    b.insert(b.begin(), 0);
    save(dir / (std::string(name) + "-plain"), b);
    b[0] = 1;
    save(dir / (std::string(name) + "-gzip"), b);
  }
}

void safetensors_seeds(const fs::path& dir, const fs::path& scratch) {
  const fs::path f = scratch / "seed.safetensors";
  flb::hf::write_safetensors(f.string(), {{"w", torch::arange(6, torch::kFloat32).reshape({2, 3})},
                                          {"b", torch::ones({4}, torch::kBFloat16)},
                                          {"step", torch::tensor(7, torch::kInt64)}},
                             {{"format", "pt"}});
  save(dir / "three-tensors", flb::fuzz::read_bytes(f.string()));
  flb::hf::write_safetensors(f.string(), {{"empty", torch::zeros({0, 3}, torch::kFloat16)},
                                          {"mask", torch::ones({5}, torch::kBool)}});
  save(dir / "empty-and-bool", flb::fuzz::read_bytes(f.string()));
}

// fuzz_token_shard.cc reads the first byte as the vocabulary (2^(b % 24)).
void token_shard_seeds(const fs::path& dir, const fs::path& scratch) {
  const fs::path f = scratch / "seed.bin";
  flb::data::write_token_shard(f.string(), {1, 2, 3, 255, 0, 7}, 1);
  std::vector<uint8_t> b = flb::fuzz::read_bytes(f.string());
  b.insert(b.begin(), 8);  // vocabulary 256
  save(dir / "v1-uint16", b);
  flb::data::write_token_shard(f.string(), {70000, 5, 128000}, 2);
  b = flb::fuzz::read_bytes(f.string());
  b.insert(b.begin(), 17);  // vocabulary 131072
  save(dir / "v2-uint32", b);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR (writes DIR/wire, DIR/idx, DIR/safetensors, DIR/token_shard)\n", argv[0]);
    return 2;
  }
  const fs::path dir = argv[1], scratch = fs::temp_directory_path() / "flb-fuzz-seeds";
  fs::create_directories(scratch);
  wire_seeds(dir / "wire");
  idx_seeds(dir / "idx");
  safetensors_seeds(dir / "safetensors", scratch);
  token_shard_seeds(dir / "token_shard", scratch);
  fs::remove_all(scratch);
  std::printf("seeds written under %s\n", argv[1]);
  return 0;
}
