// Checkpoint pieces that need no MPI: the manifest's text form, the config
// a resume must match, and per-client tensor maps in a LibTorch archive
// (bit for bit, undefined entries kept). tests/e2e/test_resume.py checks
// whole runs.
#include "flb/sim/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "flb/algo/state_archive.h"
#include "flb/core/error.h"

namespace flb::sim {
namespace {

TEST(Manifest, RoundTripsThroughText) {
  Manifest m;
  m.completed_rounds = 12;
  m.mpi_size = 4;
  m.config_hash = "0123456789abcdef";
  m.table_rows = {{"rounds", 12}, {"clients", 120}, {"eval", 3}};
  m.totals = {111, 222, 333, 444, 555, 1.0 / 3.0};
  const Manifest back = Manifest::parse(m.to_text(), "test");
  EXPECT_EQ(back.completed_rounds, 12);
  EXPECT_EQ(back.mpi_size, 4);
  EXPECT_EQ(back.config_hash, m.config_hash);
  EXPECT_EQ(back.rows("clients"), 120);
  EXPECT_EQ(back.rows("eval"), 3);
  EXPECT_EQ(back.totals.bytes_up, 111);
  EXPECT_EQ(back.totals.rss_max, 555);
  EXPECT_EQ(back.totals.seconds, 1.0 / 3.0);  // 17 digits: exact
  EXPECT_THROW(back.rows("nope"), Error);
}

TEST(Manifest, RejectsOtherText) {
  EXPECT_THROW(Manifest::parse("hello\n", "x"), Error);
  EXPECT_THROW(Manifest::parse("flbench-checkpoint 1\ncompleted_rounds 3\n", "x"), Error);  // lacks mpi_size
  EXPECT_THROW(Manifest::parse("flbench-checkpoint 1\ncompleted_rounds x\nmpi_size 1\nconfig_hash a\n", "x"), Error);
}

TEST(ResumableConfig, IgnoresOnlyWhatAResumeMayChange) {
  const std::string a = "rounds=10\nlr=0.05\ncheckpoint-every=2\nout=\"a.h5\"\noverwrite=false\nseed=1\n";
  const std::string b = "rounds=20\nlr=0.05\ncheckpoint-every=0\nout=\"b.h5\"\noverwrite=true\nseed=1\n";
  const std::string c = "rounds=10\nlr=0.1\ncheckpoint-every=2\nout=\"a.h5\"\noverwrite=false\nseed=1\n";
  EXPECT_EQ(resumable_config(a), "lr=0.05\nseed=1\n");
  EXPECT_EQ(config_hash(resumable_config(a)), config_hash(resumable_config(b)));
  EXPECT_NE(config_hash(resumable_config(a)), config_hash(resumable_config(c)));
  EXPECT_EQ(config_hash("").size(), 16u);
}

TEST(StateArchive, ClientTensorsRoundTripBitwise) {
  algo::ClientTensors m;
  m[3] = {torch::randn({4, 5}), torch::Tensor(), torch::arange(7, torch::kInt64)};
  m[1000000] = {torch::randn({2}) * 1e-30};
  m[7] = {};
  torch::serialize::OutputArchive out;
  algo::write_client_tensors(out, "state", m);
  algo::write_client_tensors(out, "empty", {});
  const std::string path = ::testing::TempDir() + "flb_state_" + std::to_string(getpid()) + ".pt";
  out.save_to(path);
  torch::serialize::InputArchive in;
  in.load_from(path);
  const algo::ClientTensors back = algo::read_client_tensors(in, "state");
  std::remove(path.c_str());
  ASSERT_EQ(back.size(), m.size());
  for (const auto& [client, tensors] : m) {
    ASSERT_EQ(back.at(client).size(), tensors.size()) << client;
    for (size_t i = 0; i < tensors.size(); ++i) {
      ASSERT_EQ(back.at(client)[i].defined(), tensors[i].defined());
      if (!tensors[i].defined()) continue;
      EXPECT_TRUE(torch::equal(back.at(client)[i], tensors[i]));
      EXPECT_EQ(back.at(client)[i].scalar_type(), tensors[i].scalar_type());
    }
  }
  EXPECT_TRUE(algo::read_client_tensors(in, "empty").empty());
  EXPECT_THROW(algo::read_client_tensors(in, "missing"), Error);
}

}  // namespace
}  // namespace flb::sim
