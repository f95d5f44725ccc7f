// Turns chunks (of bytes: a ChunkTable; of tokens: token_corpus.h's
// TokenChunks) into next-token prediction batches on a device, into buffers
// allocated once (no allocation per step).
#pragma once

#include <torch/types.h>

#include <utility>

#include "flb/data/text_corpus.h"

namespace flb::data {

class TextBatches {
 public:
  // `table` must outlive this object (on CPU the batches gather straight
  // from its bytes). Batches hold at most `max_batch` chunks.
  TextBatches(const ChunkTable& table, int64_t max_batch, torch::Device device);
  // The same over `chunks`, a (count, T+1) CPU tensor of uint8 or int32
  // (a view of a TokenChunks: token_chunks_view); its storage must outlive
  // this object on CPU.
  TextBatches(const torch::Tensor& chunks, int64_t max_batch, torch::Device device);

  // Fills and returns views of the chunks ids[0..n), T = chunk_bytes - 1:
  // x (n, T) int64 = chunk[0..T), y (n, T) int64 = chunk[1..T], bytes as
  // values 0..255 (tokens as their ids). The views are overwritten by the next call.
  // REQUIRES: 0 < n <= max_batch, every id < table.count().
  std::pair<torch::Tensor, torch::Tensor> load(const int64_t* ids, int64_t n);

  int64_t context() const { return context_; }

 private:
  torch::Tensor chunks_;    // (count, T+1) uint8 or int32, on the device
  torch::Tensor ids_host_;  // (max_batch) int64, CPU
  torch::Tensor ids_;       // (max_batch) int64, on the device
  torch::Tensor raw_;       // (max_batch, T+1) chunks_' dtype
  torch::Tensor x_;         // (max_batch, T) int64
  torch::Tensor y_;         // (max_batch, T) int64
  int64_t context_;
  int64_t max_batch_;
};

}  // namespace flb::data
