#include "flb/data/image_dataset.h"

#include <sys/stat.h>

#include "flb/core/error.h"
#include "flb/data/idx.h"

namespace flb::data {
namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// "dir/name" with or without ".gz", whichever exists.
std::string find_idx(const std::string& dir, const std::string& name) {
  for (const std::string& candidate : {dir + "/" + name + ".gz", dir + "/" + name}) {
    if (exists(candidate)) return candidate;
  }
  throw Error(dir + "/" + name + "[.gz]: not found. Install the data with scripts/install-deps.sh "
              "(Debian package dataset-fashion-mnist) or pass --data-dir DIR");
}

}  // namespace

ImageDataset read_image_dataset(const std::string& images_path, const std::string& labels_path, int64_t classes) {
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  require(images.dims.size() == 3, images_path + ": expected a 3-dimensional IDX array (count, height, width), got rank " +
                                       std::to_string(images.dims.size()));
  require(labels.dims.size() == 1, labels_path + ": expected a 1-dimensional IDX array of labels, got rank " +
                                       std::to_string(labels.dims.size()));
  require(images.dims[0] == labels.dims[0], images_path + " holds " + std::to_string(images.dims[0]) + " images but " +
                                                labels_path + " holds " + std::to_string(labels.dims[0]) + " labels");
  for (uint8_t l : labels.values)
    require(l < classes, labels_path + ": label " + std::to_string(l) + " is not below " + std::to_string(classes));
  ImageDataset d;
  d.count = images.dims[0];
  d.height = images.dims[1];
  d.width = images.dims[2];
  d.classes = classes;
  d.pixels = std::move(images.values);
  d.labels = std::move(labels.values);
  return d;
}

TrainTest load_fashion_mnist(const std::string& dir) {
  TrainTest t;
  t.train = read_image_dataset(find_idx(dir, "train-images-idx3-ubyte"), find_idx(dir, "train-labels-idx1-ubyte"), 10);
  t.test = read_image_dataset(find_idx(dir, "t10k-images-idx3-ubyte"), find_idx(dir, "t10k-labels-idx1-ubyte"), 10);
  require(t.train.height == 28 && t.train.width == 28 && t.test.height == 28 && t.test.width == 28,
          dir + ": Fashion-MNIST images must be 28x28");
  return t;
}

}  // namespace flb::data
