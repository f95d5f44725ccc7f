// A labelled image dataset held as bytes (60k Fashion-MNIST images are
// 47 MB as uint8 and 188 MB as float: every rank keeps the bytes and
// converts one batch at a time).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flb::data {

struct ImageDataset {
  int64_t count = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t classes = 0;
  std::vector<uint8_t> pixels;  // count * height * width, row-major
  std::vector<uint8_t> labels;  // count, each < classes
};

struct TrainTest {
  ImageDataset train;
  ImageDataset test;
};

// Loads Fashion-MNIST from `dir` holding the four files
// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (Debian's
// dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist).
// Throws flb::Error naming the file when one is missing or corrupt.
TrainTest load_fashion_mnist(const std::string& dir);

// Pairs an images file and a labels file into a dataset and checks that
// they agree (same count, labels < classes).
ImageDataset read_image_dataset(const std::string& images_path, const std::string& labels_path, int64_t classes);

}  // namespace flb::data
