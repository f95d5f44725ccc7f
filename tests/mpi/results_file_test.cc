// The parallel HDF5 writer: collective appends land in rank order, the file
// is readable after every flush, and an existing file is protected.
#include "flb/metrics/results_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "flb/core/error.h"

namespace flb::metrics {
namespace {

std::string shared_path(const char* name) {
  // Rank 0 picks the name; everyone uses it.
  char buf[256] = {};
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) std::snprintf(buf, sizeof buf, "%sflb_%s_%d.h5", ::testing::TempDir().c_str(), name, getpid());
  MPI_Bcast(buf, sizeof buf, MPI_CHAR, 0, MPI_COMM_WORLD);
  return buf;
}

std::vector<double> read_column(const std::string& path, const std::string& name) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  hid_t s = H5Dget_space(d);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(s, &n, nullptr);
  std::vector<double> out(n);
  if (n) H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
  return out;
}

TEST(ResultsFile, CollectiveAppendsLandInRankOrder) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::string path = shared_path("append");
  {
    ResultsFile file(path, MPI_COMM_WORLD, true);
    file.set_attribute("note", "hello");
    Table& t = file.add_table("t", {{"id", ColumnType::kInt64, "id"}, {"x", ColumnType::kFloat64, "x"}});
    for (int round = 0; round < 3; ++round) {
      Rows rows = t.empty_rows();
      for (int k = 0; k < rank; ++k) {  // rank r adds r rows: rank 0 none
        rows[0].push_back(round * 1000 + rank * 10 + k);
        rows[1].push_back(0.5 * rank);
      }
      t.append(rows);
      file.flush();
    }
    EXPECT_EQ(t.rows(), 3 * size * (size - 1) / 2);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    const auto ids = read_column(path, "t/id");
    std::vector<double> want;
    for (int round = 0; round < 3; ++round)
      for (int r = 0; r < size; ++r)
        for (int k = 0; k < r; ++k) want.push_back(round * 1000 + r * 10 + k);
    EXPECT_EQ(ids, want);
    std::remove(path.c_str());
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(ResultsFile, ExistingFileIsAnErrorWithoutOverwriteAndIsLeftIntact) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string path = shared_path("exists");
  {
    ResultsFile file(path, MPI_COMM_WORLD, true);
    Table& t = file.add_table("t", {{"x", ColumnType::kFloat64, ""}});
    Rows rows = t.empty_rows();
    if (rank == 0) rows[0] = {1, 2, 3};
    t.append(rows);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  try {
    ResultsFile again(path, MPI_COMM_WORLD, false);
    FAIL() << "no error for an existing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    EXPECT_EQ(read_column(path, "t/x"), (std::vector<double>{1, 2, 3}));
    std::remove(path.c_str());
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(ResultsFile, AppendShrinksTablesToTheCheckpointAndReplacesAttributes) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string path = shared_path("resume");
  const std::vector<ColumnSpec> columns = {{"x", ColumnType::kFloat64, ""}};
  {
    ResultsFile file(path, MPI_COMM_WORLD, true);
    file.set_attribute("completed_rounds", int64_t{5});
    Table& t = file.add_table("t", columns);
    for (int i = 0; i < 5; ++i) {  // 5 rows; a "checkpoint" after 3 of them
      Rows rows = t.empty_rows();
      if (rank == 0) rows[0] = {double(i)};
      t.append(rows);
    }
    std::vector<float> w = {1, 2};
    file.write_array("final_model/w", {2}, w.data());
  }
  MPI_Barrier(MPI_COMM_WORLD);
  int64_t done = 0;
  if (rank == 0) {
    EXPECT_TRUE(read_int_attribute(path, "completed_rounds", &done));
    EXPECT_EQ(done, 5);
    EXPECT_FALSE(read_int_attribute(path, "no_such_attribute", &done));
    EXPECT_FALSE(read_int_attribute(path + ".missing", "completed_rounds", &done));
  }
  {
    ResultsFile file(path, MPI_COMM_WORLD, ResultsFile::Append{});
    Table& t = file.open_table("t", columns, 3);
    EXPECT_EQ(t.rows(), 3);
    file.remove_attribute("completed_rounds");
    file.remove("final_model");
    Rows rows = t.empty_rows();
    if (rank == 0) rows[0] = {30, 40};
    t.append(rows);
    file.set_attribute("completed_rounds", int64_t{5});
    file.set_attribute("completed_rounds", int64_t{6});  // replaces
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    EXPECT_EQ(read_column(path, "t/x"), (std::vector<double>{0, 1, 2, 30, 40}));
    EXPECT_TRUE(read_int_attribute(path, "completed_rounds", &done));
    EXPECT_EQ(done, 6);
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT_EQ(H5Lexists(f, "final_model", H5P_DEFAULT), 0);
    H5Fclose(f);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  // More rows than the file has: an error on every rank.
  try {
    ResultsFile file(path, MPI_COMM_WORLD, ResultsFile::Append{});
    file.open_table("t", columns, 9);
    FAIL() << "no error for a table shorter than the checkpoint";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than the checkpoint"), std::string::npos) << e.what();
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) std::remove(path.c_str());
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace flb::metrics
