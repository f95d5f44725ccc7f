// Helpers for Algorithm::save_state / load_state: per-client tensor lists
// (std::map<client id, Tensors>, entries may be undefined) in a LibTorch
// archive, bit for bit.
#pragma once

#include <torch/serialize/archive.h>

#include <map>
#include <string>

#include "flb/algo/algorithm.h"

namespace flb::algo {

using ClientTensors = std::map<int64_t, Tensors>;

// Writes `m` as the nested archive `key`.
void write_client_tensors(torch::serialize::OutputArchive& archive, const std::string& key, const ClientTensors& m);

// Bytes held by the defined tensors of `ts` / of every client in `m`
// (the client_state_bytes / server_state_bytes metrics).
int64_t tensor_bytes(const Tensors& ts);
int64_t tensor_bytes(const ClientTensors& m);

// Reads what write_client_tensors wrote under `key`; throws flb::Error when
// it is missing or inconsistent.
ClientTensors read_client_tensors(torch::serialize::InputArchive& archive, const std::string& key);

}  // namespace flb::algo
