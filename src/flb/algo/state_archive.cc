#include "flb/algo/state_archive.h"

#include <torch/types.h>

#include <vector>

#include "flb/core/error.h"

namespace flb::algo {
namespace {

// Keys are plain identifiers and no Python keyword: LibTorch stores them as
// attributes of a TorchScript object, whose source must parse.
std::string tensor_key(int64_t client, size_t i) { return "c" + std::to_string(client) + "_" + std::to_string(i); }

}  // namespace

void write_client_tensors(torch::serialize::OutputArchive& archive, const std::string& key, const ClientTensors& m) {
  torch::serialize::OutputArchive sub;
  std::vector<int64_t> ids, lengths, defined;
  for (const auto& [client, tensors] : m) {
    ids.push_back(client);
    lengths.push_back(static_cast<int64_t>(tensors.size()));
    for (size_t i = 0; i < tensors.size(); ++i) {
      defined.push_back(tensors[i].defined() ? 1 : 0);
      if (tensors[i].defined()) sub.write(tensor_key(client, i), tensors[i].detach(), /*is_buffer=*/true);
    }
  }
  auto as_tensor = [](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); };
  sub.write("ids", as_tensor(ids), true);
  sub.write("lengths", as_tensor(lengths), true);
  sub.write("defined", as_tensor(defined), true);
  archive.write(key, sub);
}

ClientTensors read_client_tensors(torch::serialize::InputArchive& archive, const std::string& key) {
  torch::serialize::InputArchive sub;
  require(archive.try_read(key, sub), "checkpoint: algorithm state '" + key + "' is missing");
  torch::Tensor ids, lengths, defined;
  require(sub.try_read("ids", ids, true) && sub.try_read("lengths", lengths, true) && sub.try_read("defined", defined, true),
          "checkpoint: algorithm state '" + key + "' is incomplete");
  ids = ids.to(torch::kCPU);
  lengths = lengths.to(torch::kCPU);
  defined = defined.to(torch::kCPU);
  require(ids.numel() == lengths.numel(), "checkpoint: algorithm state '" + key + "' is inconsistent");
  ClientTensors m;
  int64_t k = 0;
  for (int64_t j = 0; j < ids.numel(); ++j) {
    const int64_t client = ids[j].item<int64_t>();
    Tensors& tensors = m[client];
    tensors.resize(static_cast<size_t>(lengths[j].item<int64_t>()));
    for (size_t i = 0; i < tensors.size(); ++i, ++k) {
      require(k < defined.numel(), "checkpoint: algorithm state '" + key + "' is inconsistent");
      if (defined[k].item<int64_t>() == 0) continue;
      require(sub.try_read(tensor_key(client, i), tensors[i], true),
              "checkpoint: algorithm state '" + key + "' lacks tensor " + tensor_key(client, i));
    }
  }
  return m;
}

int64_t tensor_bytes(const Tensors& ts) {
  int64_t n = 0;
  for (const auto& t : ts)
    if (t.defined()) n += t.numel() * static_cast<int64_t>(t.element_size());
  return n;
}

int64_t tensor_bytes(const ClientTensors& m) {
  int64_t n = 0;
  for (const auto& [client, ts] : m) n += tensor_bytes(ts);
  return n;
}

}  // namespace flb::algo
