// One HDF5 file per run, written with parallel HDF5 (MPI-IO).
//
// A Table is a group of equally long 1-D columns (int64 or float64), each an
// extendible chunked dataset, so rows can be appended every round and a
// killed job leaves every flushed row readable. append() is collective:
// every rank passes its own rows (rank 0 alone for /rounds; all ranks for
// /clients) and the rows land in rank order. results/README.md is the
// schema these classes write.
//
// REQUIRES: every method is called collectively, in the same order, by
// all ranks of the communicator the file was opened with.
#pragma once

#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace flb::metrics {

enum class ColumnType { kInt64, kFloat64 };

struct ColumnSpec {
  std::string name;
  ColumnType type;
  std::string doc;  // stored as the dataset's "doc" attribute
};

// Rows to append: one vector per column, in the table's column order, all
// of equal length. Integer columns carry their values exactly (< 2^53).
using Rows = std::vector<std::vector<double>>;

class ResultsFile;

class Table {
 public:
  int64_t rows() const { return rows_; }
  const std::vector<ColumnSpec>& columns() const { return columns_; }
  // Collective. `mine` may hold no rows.
  void append(const Rows& mine);
  // Rows with an empty block of the right width, for ranks with nothing to add.
  Rows empty_rows() const { return Rows(columns_.size()); }

 private:
  friend class ResultsFile;
  Table(hid_t file, const std::string& group, std::vector<ColumnSpec> columns, MPI_Comm comm);
  Table(hid_t file, const std::string& group, std::vector<ColumnSpec> columns, MPI_Comm comm, int64_t rows);
  std::vector<hid_t> datasets_;
  std::vector<ColumnSpec> columns_;
  MPI_Comm comm_;
  int64_t rows_ = 0;
};

class ResultsFile {
 public:
  // Collective. Creates `path`; an existing file is an flb::Error unless
  // `overwrite` (checked on rank 0, the same answer on every rank).
  ResultsFile(const std::string& path, MPI_Comm comm, bool overwrite);
  // Collective. Opens the existing file `path` read-write to append to it
  // (--resume); tables are then opened with open_table().
  struct Append {};
  ResultsFile(const std::string& path, MPI_Comm comm, Append);
  // Collective (closing the file is): every rank destroys it together,
  // unless abandon() was called.
  ~ResultsFile();
  // Not collective. For a rank that fails alone, whose peers will never
  // join a collective close: the destructor then leaves the file open (the
  // process is about to end). Every round flushed before stays on disk.
  void abandon() { abandoned_ = true; }
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  // Collective; every rank must pass identical values. An existing
  // attribute of that name is replaced.
  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, int64_t value);
  // Collective. Removes a root attribute if it exists.
  void remove_attribute(const std::string& name);
  // Collective. Removes the group or dataset at `path` if it exists (its
  // space is not reclaimed).
  void remove(const std::string& path);
  // The same on the object (group or dataset) at `path`.
  void set_group_attribute(const std::string& path, const std::string& name, const std::string& value);

  // Collective. Writes a float32 array `name` (groups created as needed);
  // only rank 0's `data` is used.
  void write_array(const std::string& name, const std::vector<int64_t>& dims, const float* data);

  // Collective. Creates the group `name` with these columns.
  Table& add_table(const std::string& name, std::vector<ColumnSpec> columns);
  // Collective. Opens the existing table `name`, which must have these
  // columns and at least `rows` rows, and shrinks every column to `rows`
  // (H5Dset_extent): rows past it are dropped. For --resume.
  Table& open_table(const std::string& name, std::vector<ColumnSpec> columns, int64_t rows);

  // Collective: pushes everything written so far to the file.
  void flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  MPI_Comm comm_;
  hid_t file_ = -1;
  std::vector<std::unique_ptr<Table>> tables_;
  bool abandoned_ = false;
};

// HDF5 library version, e.g. "1.10.8".
std::string hdf5_version();

// Not collective: reads the int64 root attribute `name` of the HDF5 file
// `path` (opened read-only by this process alone); false when the file or
// the attribute does not exist. For rank 0 before a collective open.
bool read_int_attribute(const std::string& path, const std::string& name, int64_t* value);

}  // namespace flb::metrics
