// Turns an ImageDataset's bytes into normalised float batches on a device,
// into buffers allocated once (no allocation per step).
#pragma once

#include <torch/types.h>

#include <vector>

#include "flb/data/image_dataset.h"

namespace flb::data {

class ImageBatches {
 public:
  // `dataset` must outlive this object. Batches hold at most `max_batch` images.
  ImageBatches(const ImageDataset& dataset, int64_t max_batch, torch::Device device);

  // Fills and returns views (x: (n,1,H,W) float, y: (n) int64) of the
  // samples ids[0..n). The views are overwritten by the next call.
  // REQUIRES: 0 < n <= max_batch, every id < dataset.count.
  std::pair<torch::Tensor, torch::Tensor> load(const int64_t* ids, int64_t n);

 private:
  torch::Tensor pixels_;   // (count, H*W) uint8, on the device
  torch::Tensor labels_;   // (count) int64, on the device
  torch::Tensor ids_host_; // (max_batch) int64, CPU
  torch::Tensor ids_;      // (max_batch) int64, on the device
  torch::Tensor raw_;      // (max_batch, H*W) uint8
  torch::Tensor x_;        // (max_batch, 1, H, W) float
  torch::Tensor y_;        // (max_batch) int64
  int64_t height_, width_;
};

}  // namespace flb::data
