#include "flb/metrics/results_file.h"

#include <sys/stat.h>

#include <memory>

#include "flb/core/error.h"

namespace flb::metrics {
namespace {

constexpr hsize_t kChunkRows = 1024;

void check(herr_t rc, const std::string& what) { require(rc >= 0, "HDF5: " + what + " failed"); }

hid_t checked(hid_t id, const std::string& what) {
  require(id >= 0, "HDF5: " + what + " failed");
  return id;
}

// Closes an HDF5 id at scope exit.
struct Closer {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Closer() {
    if (id >= 0) close(id);
  }
};

hid_t h5_type(ColumnType t) { return t == ColumnType::kInt64 ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE; }

void write_string_attribute(hid_t obj, const std::string& name, const std::string& value) {
  hid_t type = checked(H5Tcopy(H5T_C_S1), "H5Tcopy");
  Closer ct{type, H5Tclose};
  check(H5Tset_size(type, H5T_VARIABLE), "H5Tset_size");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "H5Tset_cset");
  hid_t space = checked(H5Screate(H5S_SCALAR), "H5Screate");
  Closer cs{space, H5Sclose};
  hid_t attr = checked(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "create attribute " + name);
  Closer ca{attr, H5Aclose};
  const char* p = value.c_str();
  check(H5Awrite(attr, type, &p), "write attribute " + name);
}

}  // namespace

std::string hdf5_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

ResultsFile::ResultsFile(const std::string& path, MPI_Comm comm, bool overwrite) : path_(path), comm_(comm) {
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  int exists = 0;
  if (rank == 0) {
    struct stat st;
    exists = ::stat(path.c_str(), &st) == 0 ? 1 : 0;
  }
  MPI_Bcast(&exists, 1, MPI_INT, 0, comm_);
  require(!exists || overwrite, "--out: " + path + " already exists; pass --overwrite to replace it, or choose another --out");
  hid_t fapl = checked(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  Closer cf{fapl, H5Pclose};
  check(H5Pset_fapl_mpio(fapl, comm_, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  H5E_BEGIN_TRY { file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl); }
  H5E_END_TRY;
  require(file_ >= 0, "--out: cannot create " + path + " (does its directory exist and is it writable?)");
}

ResultsFile::ResultsFile(const std::string& path, MPI_Comm comm, Append) : path_(path), comm_(comm) {
  hid_t fapl = checked(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  Closer cf{fapl, H5Pclose};
  check(H5Pset_fapl_mpio(fapl, comm_, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  H5E_BEGIN_TRY { file_ = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl); }
  H5E_END_TRY;
  require(file_ >= 0, "--out: cannot open " + path + " to append to it (is it an flbench results file, and writable?)");
}

bool read_int_attribute(const std::string& path, const std::string& name, int64_t* value) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  hid_t file = -1;
  H5E_BEGIN_TRY { file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }
  H5E_END_TRY;
  require(file >= 0, "--out: cannot read " + path + " as HDF5");
  Closer cf{file, H5Fclose};
  if (H5Aexists(file, name.c_str()) <= 0) return false;
  hid_t attr = checked(H5Aopen(file, name.c_str(), H5P_DEFAULT), "open attribute " + name);
  Closer ca{attr, H5Aclose};
  check(H5Aread(attr, H5T_NATIVE_INT64, value), "read attribute " + name);
  return true;
}

ResultsFile::~ResultsFile() {
  if (abandoned_) return;
  for (auto& t : tables_)
    for (hid_t d : t->datasets_) H5Dclose(d);
  if (file_ >= 0) H5Fclose(file_);
}

void ResultsFile::set_attribute(const std::string& name, const std::string& value) {
  remove_attribute(name);
  write_string_attribute(file_, name, value);
}

void ResultsFile::remove_attribute(const std::string& name) {
  const htri_t exists = H5Aexists(file_, name.c_str());
  check(exists, "H5Aexists " + name);
  if (exists > 0) check(H5Adelete(file_, name.c_str()), "delete attribute " + name);
}

void ResultsFile::remove(const std::string& path) {
  const htri_t exists = H5Lexists(file_, path.c_str(), H5P_DEFAULT);
  check(exists, "H5Lexists " + path);
  if (exists > 0) check(H5Ldelete(file_, path.c_str(), H5P_DEFAULT), "delete " + path);
}

void ResultsFile::set_group_attribute(const std::string& path, const std::string& name, const std::string& value) {
  hid_t obj = checked(H5Oopen(file_, path.c_str(), H5P_DEFAULT), "open " + path);
  Closer co{obj, H5Oclose};
  write_string_attribute(obj, name, value);
}

void ResultsFile::set_attribute(const std::string& name, int64_t value) {
  remove_attribute(name);
  hid_t space = checked(H5Screate(H5S_SCALAR), "H5Screate");
  Closer cs{space, H5Sclose};
  hid_t attr = checked(H5Acreate2(file_, name.c_str(), H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT),
                       "create attribute " + name);
  Closer ca{attr, H5Aclose};
  check(H5Awrite(attr, H5T_NATIVE_INT64, &value), "write attribute " + name);
}

Table& ResultsFile::add_table(const std::string& name, std::vector<ColumnSpec> columns) {
  tables_.push_back(std::unique_ptr<Table>(new Table(file_, name, std::move(columns), comm_)));
  return *tables_.back();
}

Table& ResultsFile::open_table(const std::string& name, std::vector<ColumnSpec> columns, int64_t rows) {
  tables_.push_back(std::unique_ptr<Table>(new Table(file_, name, std::move(columns), comm_, rows)));
  return *tables_.back();
}

void ResultsFile::write_array(const std::string& name, const std::vector<int64_t>& dims, const float* data) {
  int rank = 0;
  MPI_Comm_rank(comm_, &rank);
  std::vector<hsize_t> hdims(dims.begin(), dims.end());
  if (hdims.empty()) hdims.push_back(1);
  hid_t space = checked(H5Screate_simple(static_cast<int>(hdims.size()), hdims.data(), nullptr), "H5Screate_simple");
  Closer cs{space, H5Sclose};
  hid_t lcpl = checked(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate");
  Closer cl{lcpl, H5Pclose};
  check(H5Pset_create_intermediate_group(lcpl, 1), "H5Pset_create_intermediate_group");
  hid_t d = checked(H5Dcreate2(file_, name.c_str(), H5T_NATIVE_FLOAT, space, lcpl, H5P_DEFAULT, H5P_DEFAULT),
                    "create dataset " + name);
  Closer cd{d, H5Dclose};
  hid_t dxpl = checked(H5Pcreate(H5P_DATASET_XFER), "H5Pcreate");
  Closer cx{dxpl, H5Pclose};
  check(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio");
  hid_t mem = checked(H5Scopy(space), "H5Scopy");
  Closer cm{mem, H5Sclose};
  if (rank != 0) {
    check(H5Sselect_none(mem), "select none");
    check(H5Sselect_none(space), "select none");
  }
  check(H5Dwrite(d, H5T_NATIVE_FLOAT, mem, space, dxpl, data), "write " + name);
}

void ResultsFile::flush() { check(H5Fflush(file_, H5F_SCOPE_GLOBAL), "H5Fflush " + path_); }

Table::Table(hid_t file, const std::string& group, std::vector<ColumnSpec> columns, MPI_Comm comm)
    : columns_(std::move(columns)), comm_(comm) {
  hid_t g = checked(H5Gcreate2(file, group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "create group " + group);
  Closer cg{g, H5Gclose};
  const hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {kChunkRows};
  for (const ColumnSpec& c : columns_) {
    hid_t space = checked(H5Screate_simple(1, dims, maxdims), "H5Screate_simple");
    Closer cs{space, H5Sclose};
    hid_t dcpl = checked(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
    Closer cd{dcpl, H5Pclose};
    check(H5Pset_chunk(dcpl, 1, chunk), "H5Pset_chunk");
    hid_t d = checked(H5Dcreate2(g, c.name.c_str(), h5_type(c.type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                      "create dataset " + group + "/" + c.name);
    write_string_attribute(d, "doc", c.doc);
    datasets_.push_back(d);
  }
}

Table::Table(hid_t file, const std::string& group, std::vector<ColumnSpec> columns, MPI_Comm comm, int64_t rows)
    : columns_(std::move(columns)), comm_(comm), rows_(rows) {
  const std::string what = "--resume: " + group + " in the results file";
  H5E_BEGIN_TRY {
    for (const ColumnSpec& c : columns_) {
      const hid_t d = H5Dopen2(file, (group + "/" + c.name).c_str(), H5P_DEFAULT);
      if (d >= 0) datasets_.push_back(d);
    }
  }
  H5E_END_TRY;
  // On an error the destructor of ResultsFile does not see this table: close here.
  auto fail = [&](const std::string& message) {
    for (hid_t d : datasets_) H5Dclose(d);
    datasets_.clear();
    throw Error(message);
  };
  if (datasets_.size() != columns_.size()) fail(what + " lacks columns of this flbench version's schema");
  for (size_t c = 0; c < columns_.size(); ++c) {
    hid_t space = H5Dget_space(datasets_[c]);
    hsize_t n = 0;
    const bool ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 && H5Sget_simple_extent_dims(space, &n, nullptr) == 1;
    if (space >= 0) H5Sclose(space);
    if (!ok) fail(what + ": column " + columns_[c].name + " is not a 1-D dataset");
    if (n < static_cast<hsize_t>(rows))
      fail(what + ": column " + columns_[c].name + " has " + std::to_string(n) + " rows, fewer than the checkpoint's " +
           std::to_string(rows) + " (was the file replaced after the checkpoint?)");
  }
  const hsize_t new_size[1] = {static_cast<hsize_t>(rows)};
  for (size_t c = 0; c < columns_.size(); ++c)
    if (H5Dset_extent(datasets_[c], new_size) < 0) fail("HDF5: shrink " + group + "/" + columns_[c].name + " failed");
  // Shrinking rewrites the last chunk with fill values past the new end.
  // Flush that now: left pending, it can land after the next append and
  // zero the rows that append wrote into the same chunk.
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) fail("HDF5: flush after shrinking " + group + " failed");
}

void Table::append(const Rows& mine) {
  require(mine.size() == columns_.size(), "Table::append: wrong number of columns");
  const uint64_t count = mine.empty() ? 0 : mine[0].size();
  for (const auto& col : mine) require(col.size() == count, "Table::append: columns of unequal length");
  int size = 1, rank = 0;
  MPI_Comm_size(comm_, &size);
  MPI_Comm_rank(comm_, &rank);
  std::vector<uint64_t> counts(static_cast<size_t>(size));
  MPI_Allgather(&count, 1, MPI_UINT64_T, counts.data(), 1, MPI_UINT64_T, comm_);
  uint64_t before = 0, total = 0;
  for (int r = 0; r < size; ++r) {
    if (r < rank) before += counts[r];
    total += counts[r];
  }
  if (total == 0) return;
  const hsize_t new_size[1] = {static_cast<hsize_t>(rows_) + total};
  const hsize_t start[1] = {static_cast<hsize_t>(rows_) + before}, n[1] = {count};
  hid_t dxpl = checked(H5Pcreate(H5P_DATASET_XFER), "H5Pcreate");
  Closer cx{dxpl, H5Pclose};
  check(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio");
  std::vector<int64_t> ints;
  for (size_t c = 0; c < columns_.size(); ++c) {
    hid_t d = datasets_[c];
    check(H5Dset_extent(d, new_size), "extend " + columns_[c].name);
    hid_t file_space = checked(H5Dget_space(d), "H5Dget_space");
    Closer cf{file_space, H5Sclose};
    const hsize_t mem_dims[1] = {count > 0 ? count : 1};
    hid_t mem_space = checked(H5Screate_simple(1, mem_dims, nullptr), "H5Screate_simple");
    Closer cm{mem_space, H5Sclose};
    if (count > 0) {
      check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, n, nullptr), "select rows");
    } else {
      check(H5Sselect_none(file_space), "select none");
      check(H5Sselect_none(mem_space), "select none");
    }
    const void* buf = mine[c].data();
    if (columns_[c].type == ColumnType::kInt64) {
      ints.resize(mine[c].size());
      for (size_t i = 0; i < ints.size(); ++i) ints[i] = static_cast<int64_t>(mine[c][i]);
      buf = ints.data();
    }
    check(H5Dwrite(d, h5_type(columns_[c].type), mem_space, file_space, dxpl, buf), "write " + columns_[c].name);
  }
  rows_ += static_cast<int64_t>(total);
}

}  // namespace flb::metrics
