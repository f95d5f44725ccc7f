// Small fortune-format corpora written into a temporary directory, for the
// text_* tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace flb::data::test {

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// A directory removed on destruction; unique per process (ctest runs tests
// as separate processes, possibly at once).
struct FakeCorpus {
  std::filesystem::path dir;

  explicit FakeCorpus(const std::string& name)
      : dir(std::filesystem::path(::testing::TempDir()) /
            ("flb_text_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~FakeCorpus() { std::filesystem::remove_all(dir); }

  // dir/<name>/part<f>.txt, `files` files of `docs_per_file` documents of
  // 20 to 200 bytes each, text particular to the domain.
  void add_domain(const std::string& name, int files, int docs_per_file) {
    for (int f = 0; f < files; ++f) {
      std::string text;
      for (int i = 0; i < docs_per_file; ++i) {
        const int doc = f * docs_per_file + i;
        std::string body = name + " document " + std::to_string(doc) + ":";
        const size_t length = 20 + static_cast<size_t>((doc * 7919 + static_cast<int>(name.size()) * 31) % 181);
        while (body.size() < length) body += " " + name.substr(0, 1 + doc % name.size());
        text += body + "\n%\n";
      }
      write_file(dir / name / ("part" + std::to_string(f) + ".txt"), text);
    }
  }
};

}  // namespace flb::data::test
