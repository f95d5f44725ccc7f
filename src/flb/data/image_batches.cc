#include "flb/data/image_batches.h"

#include <cstring>

namespace flb::data {
namespace {
// Fashion-MNIST pixel statistics (over the training set, pixels in [0, 1]).
constexpr double kMean = 0.2860, kStd = 0.3530;
}  // namespace

ImageBatches::ImageBatches(const ImageDataset& d, int64_t max_batch, torch::Device device)
    : height_(d.height), width_(d.width) {
  const int64_t hw = d.height * d.width;
  auto u8 = torch::TensorOptions().dtype(torch::kUInt8);
  pixels_ = torch::from_blob(const_cast<uint8_t*>(d.pixels.data()), {d.count, hw}, u8);
  labels_ = torch::from_blob(const_cast<uint8_t*>(d.labels.data()), {d.count}, u8).to(torch::kLong);
  if (device != torch::kCPU) pixels_ = pixels_.to(device);  // on CPU, a view of the dataset's bytes
  labels_ = labels_.to(device);
  ids_host_ = torch::empty({max_batch}, torch::kLong);
  ids_ = device == torch::kCPU ? ids_host_ : torch::empty({max_batch}, torch::TensorOptions(torch::kLong).device(device));
  raw_ = torch::empty({max_batch, hw}, u8.device(device));
  x_ = torch::empty({max_batch, 1, d.height, d.width}, torch::TensorOptions(torch::kFloat32).device(device));
  y_ = torch::empty({max_batch}, torch::TensorOptions(torch::kLong).device(device));
}

std::pair<torch::Tensor, torch::Tensor> ImageBatches::load(const int64_t* ids, int64_t n) {
  std::memcpy(ids_host_.data_ptr<int64_t>(), ids, static_cast<size_t>(n) * sizeof(int64_t));
  auto batch_ids = ids_.narrow(0, 0, n);
  if (!ids_.is_same(ids_host_)) batch_ids.copy_(ids_host_.narrow(0, 0, n), /*non_blocking=*/true);
  auto raw = raw_.narrow(0, 0, n);
  auto x = x_.narrow(0, 0, n);
  auto y = y_.narrow(0, 0, n);
  torch::index_select_out(raw, pixels_, 0, batch_ids);
  torch::index_select_out(y, labels_, 0, batch_ids);
  x.view({n, height_ * width_}).copy_(raw).sub_(kMean * 255.0).div_(kStd * 255.0);
  return {x, y};
}

}  // namespace flb::data
