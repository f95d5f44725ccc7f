#include "flb/data/text_corpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "flb/core/error.h"
#include "text_corpus_fixture.h"

namespace flb::data {
namespace {

namespace fs = std::filesystem;
using test::FakeCorpus;
using test::write_file;

// Splits a stream back into its documents (each ends with kDocumentEnd).
std::vector<std::string> documents_of(const std::vector<uint8_t>& stream) {
  std::vector<std::string> out;
  std::string doc;
  for (uint8_t b : stream) {
    if (b == kDocumentEnd) {
      out.push_back(doc);
      doc.clear();
    } else {
      doc.push_back(static_cast<char>(b));
    }
  }
  EXPECT_TRUE(doc.empty()) << "stream does not end with kDocumentEnd";
  return out;
}

void expect_error_containing(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected flb::Error";
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(TextCorpus, ReadsDocumentsOfSortedFilesSkippingBlanksAndDotFiles) {
  FakeCorpus c("read");
  write_file(c.dir / "d" / "b.txt", "third\n%\r\nfourth\r\n%\n");
  write_file(c.dir / "d" / "a.txt", "\n%\nfirst\nline 2\n%\n  \n%\nsecond, no final separator\n");
  write_file(c.dir / "d" / ".hidden", "never read\n");
  fs::create_directories(c.dir / "d" / "sub");
  write_file(c.dir / "d" / "sub" / "x.txt", "not recursive\n");
  const std::vector<std::string> expected = {"first\nline 2\n", "second, no final separator\n", "third\n",
                                             "fourth\r\n"};
  EXPECT_EQ(read_documents((c.dir / "d").string(), "test"), expected);
  EXPECT_EQ(read_documents((c.dir / "d" / "b.txt").string(), "test"),
            std::vector<std::string>(expected.begin() + 2, expected.end()));
}

TEST(TextCorpus, BytesAreKeptAsTheyAre) {
  FakeCorpus c("bytes");
  const std::string doc("caf\xc3\xa9 \xff\xfe not UTF-8 \x01\n", 21);
  write_file(c.dir / "raw", doc + "%\n");
  const TextDomain d = load_text_domain("raw", (c.dir / "raw").string(), 0.0, 1);
  EXPECT_EQ(documents_of(d.train), std::vector<std::string>{doc});
  EXPECT_TRUE(d.heldout.empty());
}

TEST(TextCorpus, SplitIsDeterministicDisjointAndCoversEveryDocument) {
  FakeCorpus c("split");
  c.add_domain("alpha", 3, 200);
  const std::string path = (c.dir / "alpha").string();
  const std::vector<std::string> docs = read_documents(path, "test");
  const TextDomain a = load_text_domain("alpha", path, 0.25, 7);
  const TextDomain b = load_text_domain("alpha", path, 0.25, 7);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.heldout, b.heldout);

  // Walking the documents in order, each is in exactly the set is_heldout names.
  const std::vector<std::string> train = documents_of(a.train), heldout = documents_of(a.heldout);
  size_t t = 0, h = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (is_heldout(7, "alpha", static_cast<int64_t>(i), 0.25)) {
      ASSERT_LT(h, heldout.size());
      EXPECT_EQ(heldout[h++], docs[i]);
    } else {
      ASSERT_LT(t, train.size());
      EXPECT_EQ(train[t++], docs[i]);
    }
  }
  EXPECT_EQ(t, train.size());
  EXPECT_EQ(h, heldout.size());
  EXPECT_EQ(a.train_documents + a.heldout_documents, static_cast<int64_t>(docs.size()));

  // Another seed or another domain name gives another split.
  EXPECT_NE(load_text_domain("alpha", path, 0.25, 8).heldout, a.heldout);
  EXPECT_NE(load_text_domain("beta", path, 0.25, 7).heldout, a.heldout);
}

TEST(TextCorpus, HeldoutFractionIsHonouredAndNested) {
  const int64_t n = 20000;
  int64_t previous = 0;
  for (double f : {0.0, 0.05, 0.1, 0.3}) {
    int64_t held = 0;
    for (int64_t i = 0; i < n; ++i) {
      const bool h = is_heldout(3, "de", i, f);
      held += h;
      // Raising the fraction only adds documents to the held-out set.
      if (f > 0.05 && is_heldout(3, "de", i, 0.05)) {
        ASSERT_TRUE(h) << "document " << i;
      }
    }
    const double sigma = std::sqrt(n * f * (1 - f));
    std::printf("fraction %.2f: %lld of %lld held out (expected %.0f +- %.0f)\n", f, static_cast<long long>(held),
                static_cast<long long>(n), n * f, sigma);
    EXPECT_LE(std::abs(static_cast<double>(held) - n * f), 4 * sigma + 1);
    EXPECT_GE(held, previous);
    previous = held;
  }
}

TEST(TextCorpus, ChunksCoverTheStreamWithoutOverlap) {
  FakeCorpus c("chunks");
  c.add_domain("alpha", 2, 100);
  c.add_domain("beta", 1, 150);
  TextCorpusOptions options;
  options.context = 15;
  options.heldout_fraction = 0.2;
  options.seed = 4;
  const TextCorpus corpus = load_corpus(c.dir.string(), {"alpha", "beta"}, options);
  ASSERT_EQ(corpus.domains, (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(corpus.train.chunk_bytes, 16);
  for (int64_t d = 0; d < 2; ++d) {
    const TextDomain dom = load_text_domain(corpus.domains[d], (c.dir / corpus.domains[d]).string(), 0.2, 4);
    EXPECT_EQ(corpus.train_documents[d], dom.train_documents);
    for (const auto& [table, stream] : {std::pair{&corpus.train, &dom.train}, std::pair{&corpus.heldout, &dom.heldout}}) {
      const int64_t cb = table->chunk_bytes;
      const int64_t count = table->domain_count(d);
      ASSERT_GT(count, 0);
      // All of the stream but a tail shorter than one chunk, in order.
      EXPECT_EQ(count, static_cast<int64_t>(stream->size()) / cb);
      EXPECT_LT(static_cast<int64_t>(stream->size()) - count * cb, cb);
      EXPECT_TRUE(std::equal(stream->begin(), stream->begin() + count * cb,
                             table->bytes.begin() + table->domain_begin[d] * cb));
    }
  }
  EXPECT_EQ(static_cast<int64_t>(corpus.train.bytes.size()), corpus.train.count() * 16);
  const std::vector<uint8_t> labels = corpus.train.chunk_domains();
  EXPECT_EQ(labels.front(), 0);
  EXPECT_EQ(labels.back(), 1);
  EXPECT_EQ(std::count(labels.begin(), labels.end(), 1), corpus.train.domain_count(1));
}

TEST(TextCorpus, ClearErrors) {
  FakeCorpus c("errors");
  c.add_domain("alpha", 1, 50);
  fs::create_directories(c.dir / "empty");
  write_file(c.dir / "separators" / "only", "%\n\n%\n%\n");
  TextCorpusOptions options;
  options.context = 8;
  expect_error_containing([&] { load_corpus(c.dir.string(), {"alpha", "nope"}, options); },
                          {"text domain 'nope'", "does not exist", "scripts/make-corpora.sh"});
  expect_error_containing([&] { load_corpus(c.dir.string(), {"empty"}, options); },
                          {"text domain 'empty'", "holds no documents"});
  expect_error_containing([&] { load_corpus(c.dir.string(), {"separators"}, options); }, {"holds no documents"});
  expect_error_containing([&] { load_corpus(c.dir.string(), {"alpha", "alpha"}, options); }, {"listed twice"});
  expect_error_containing([&] { load_corpus(c.dir.string(), {}, options); }, {"--domains"});
  expect_error_containing([&] { load_text_domain("alpha", (c.dir / "alpha").string(), 1.0, 1); },
                          {"--heldout-fraction"});
  options.context = 1 << 20;
  expect_error_containing([&] { load_corpus(c.dir.string(), {"alpha"}, options); },
                          {"text domain 'alpha'", "lower --context"});
}

// Run by ctest corpora.make (tests/scripts/check-corpora.sh) on the corpora
// scripts/make-corpora.sh just built; skipped otherwise.
TEST(TextCorpus, LoadsTheMadeCorpora) {
  const char* dir = std::getenv("FLB_TEST_CORPUS_DIR");
  if (dir == nullptr) GTEST_SKIP() << "FLB_TEST_CORPUS_DIR not set";
  const std::vector<std::string> names = {"en",     "en-computing", "en-science", "en-literature", "en-society",
                                          "de",     "es",           "it",         "code"};
  TextCorpusOptions options;
  options.context = 256;
  const TextCorpus corpus = load_corpus(dir, names, options);
  for (size_t d = 0; d < names.size(); ++d) {
    std::printf("%-14s documents %6lld train + %5lld held out, chunks %5lld train + %4lld held out\n",
                names[d].c_str(), static_cast<long long>(corpus.train_documents[d]),
                static_cast<long long>(corpus.heldout_documents[d]),
                static_cast<long long>(corpus.train.domain_count(static_cast<int64_t>(d))),
                static_cast<long long>(corpus.heldout.domain_count(static_cast<int64_t>(d))));
    EXPECT_GT(corpus.train.domain_count(static_cast<int64_t>(d)), 100) << names[d];
    EXPECT_GT(corpus.heldout.domain_count(static_cast<int64_t>(d)), 5) << names[d];
  }
}

}  // namespace
}  // namespace flb::data
