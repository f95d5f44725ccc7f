#include "flb/data/text_batches.h"

#include <torch/torch.h>

#include <cstring>

#include "flb/core/error.h"

namespace flb::data {

TextBatches::TextBatches(const ChunkTable& table, int64_t max_batch, torch::Device device)
    : context_(table.chunk_bytes - 1), max_batch_(max_batch) {
  require(table.chunk_bytes >= 2, "TextBatches: chunks must hold at least 2 bytes (context >= 1)");
  require(max_batch >= 1, "--batch-size: must be at least 1, got " + std::to_string(max_batch));
  auto u8 = torch::TensorOptions().dtype(torch::kUInt8);
  auto i64 = torch::TensorOptions().dtype(torch::kLong).device(device);
  chunks_ = torch::from_blob(const_cast<uint8_t*>(table.bytes.data()), {table.count(), table.chunk_bytes}, u8);
  if (device != torch::kCPU) chunks_ = chunks_.to(device);  // on CPU, a view of the table's bytes
  ids_host_ = torch::empty({max_batch}, torch::kLong);
  ids_ = device == torch::kCPU ? ids_host_ : torch::empty({max_batch}, i64);
  raw_ = torch::empty({max_batch, table.chunk_bytes}, u8.device(device));
  x_ = torch::empty({max_batch, context_}, i64);
  y_ = torch::empty({max_batch, context_}, i64);
}

std::pair<torch::Tensor, torch::Tensor> TextBatches::load(const int64_t* ids, int64_t n) {
  require(n >= 1 && n <= max_batch_, "TextBatches::load: batch of " + std::to_string(n) + " chunks, buffers hold " +
                                         std::to_string(max_batch_));
  std::memcpy(ids_host_.data_ptr<int64_t>(), ids, static_cast<size_t>(n) * sizeof(int64_t));
  auto batch_ids = ids_.narrow(0, 0, n);
  if (!ids_.is_same(ids_host_)) batch_ids.copy_(ids_host_.narrow(0, 0, n), /*non_blocking=*/true);
  auto raw = raw_.narrow(0, 0, n);
  auto x = x_.narrow(0, 0, n);
  auto y = y_.narrow(0, 0, n);
  torch::index_select_out(raw, chunks_, 0, batch_ids);
  x.copy_(raw.narrow(1, 0, context_));
  y.copy_(raw.narrow(1, 1, context_));
  return {x, y};
}

}  // namespace flb::data
