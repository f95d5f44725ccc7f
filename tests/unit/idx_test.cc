#include "flb/data/idx.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "flb/core/error.h"
#include "flb/data/image_dataset.h"

namespace flb::data {
namespace {

std::vector<uint8_t> idx_bytes(uint8_t type, std::vector<uint32_t> dims, size_t values) {
  std::vector<uint8_t> b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  for (size_t i = 0; i < values; ++i) b.push_back(static_cast<uint8_t>(i % 10));
  return b;
}

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "flb_idx_" + name; }

std::string write_plain(const std::string& name, const std::vector<uint8_t>& b) {
  const std::string p = temp_path(name);
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<long>(b.size()));
  return p;
}

std::string write_gz(const std::string& name, const std::vector<uint8_t>& b) {
  const std::string p = temp_path(name);
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
  gzclose(f);
  return p;
}

void expect_error_containing(const std::string& path, const std::string& needle) {
  try {
    read_idx(path);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ReadIdx, ReadsPlainAndGzip) {
  const auto bytes = idx_bytes(0x08, {3, 2, 2}, 12);
  for (const std::string& p : {write_plain("ok", bytes), write_gz("ok.gz", bytes)}) {
    const IdxArray a = read_idx(p);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 2, 2}));
    ASSERT_EQ(a.values.size(), 12u);
    EXPECT_EQ(a.values[11], 1);
  }
}

TEST(ReadIdx, RejectsBadMagicTypeTruncationAndTrailingBytes) {
  auto bad_magic = idx_bytes(0x08, {4}, 4);
  bad_magic[0] = 1;
  expect_error_containing(write_plain("magic", bad_magic), "magic");
  expect_error_containing(write_plain("type", idx_bytes(0x0D, {4}, 16)), "element type");
  expect_error_containing(write_plain("short", idx_bytes(0x08, {10, 4}, 39)), "truncated");
  expect_error_containing(write_plain("long", idx_bytes(0x08, {10}, 11)), "trailing");
  expect_error_containing(write_plain("header", {0, 0, 8, 3, 0, 0}), "header");
  expect_error_containing(temp_path("does_not_exist"), "cannot open");
}

TEST(ReadIdx, RejectsCorruptAndTruncatedGzip) {
  // A valid gzip cut in half, and a ".gz" that is not gzip at all.
  const std::string good = write_gz("cut.gz", idx_bytes(0x08, {1000}, 1000));
  std::ifstream in(good, std::ios::binary);
  std::vector<char> all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<uint8_t> half(all.begin(), all.begin() + static_cast<long>(all.size() / 2));
  expect_error_containing(write_plain("half.gz", half), "gzip");
  expect_error_containing(write_plain("notgz.gz", idx_bytes(0x08, {4}, 4)), "not a gzip");
}

TEST(ReadImageDataset, ChecksThatImagesAndLabelsAgree) {
  const std::string images = write_gz("img.gz", idx_bytes(0x08, {5, 2, 2}, 20));
  const std::string labels = write_gz("lab.gz", idx_bytes(0x08, {5}, 5));
  const ImageDataset d = read_image_dataset(images, labels, 10);
  EXPECT_EQ(d.count, 5);
  EXPECT_EQ(d.height, 2);
  EXPECT_THROW(read_image_dataset(images, write_gz("lab4.gz", idx_bytes(0x08, {4}, 4)), 10), Error);
  EXPECT_THROW(read_image_dataset(images, labels, 3), Error);  // label 4 >= 3 classes
}

TEST(LoadFashionMnist, MissingDirectoryNamesTheFixes) {
  try {
    load_fashion_mnist("/nonexistent-flbench-dir");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--data-dir"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flb::data
