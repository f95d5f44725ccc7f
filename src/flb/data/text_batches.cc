#include "flb/data/text_batches.h"

#include <torch/torch.h>

#include <cstring>

#include "flb/core/error.h"

namespace flb::data {

TextBatches::TextBatches(const ChunkTable& table, int64_t max_batch, torch::Device device)
    : TextBatches(torch::from_blob(const_cast<uint8_t*>(table.bytes.data()), {table.count(), table.chunk_bytes},
                                   torch::TensorOptions().dtype(torch::kUInt8)),
                  max_batch, device) {}

TextBatches::TextBatches(const torch::Tensor& chunks, int64_t max_batch, torch::Device device)
    : context_(chunks.dim() == 2 ? chunks.size(1) - 1 : 0), max_batch_(max_batch) {
  require(chunks.dim() == 2 && (chunks.scalar_type() == torch::kUInt8 || chunks.scalar_type() == torch::kInt),
          "TextBatches: chunks must be a (count, T+1) uint8 or int32 tensor");
  require(chunks.size(1) >= 2, "TextBatches: chunks must hold at least 2 tokens (context >= 1)");
  require(max_batch >= 1, "--batch-size: must be at least 1, got " + std::to_string(max_batch));
  auto i64 = torch::TensorOptions().dtype(torch::kLong).device(device);
  chunks_ = device == torch::kCPU ? chunks : chunks.to(device);  // on CPU, a view of the caller's chunks
  ids_host_ = torch::empty({max_batch}, torch::kLong);
  ids_ = device == torch::kCPU ? ids_host_ : torch::empty({max_batch}, i64);
  raw_ = torch::empty({max_batch, chunks.size(1)}, chunks.options().device(device));
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
