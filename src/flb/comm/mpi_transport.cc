#include "flb/comm/mpi_transport.h"

#include <algorithm>
#include <cstring>

#include "flb/core/error.h"

namespace flb::comm {
namespace {

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw Error(std::string(what) + " failed: " + std::string(msg, static_cast<size_t>(len)));
  }
}

}  // namespace

MpiTransport::MpiTransport(MPI_Comm comm, uint64_t max_call_bytes) : comm_(comm), max_call_bytes_(max_call_bytes) {
  require(max_call_bytes_ >= 1 && max_call_bytes_ <= 2147483647ull,
          "MpiTransport: max_call_bytes must be in [1, INT_MAX]");
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  MPI_Comm node;
  check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
}

std::string MpiTransport::describe() const { return mpi_library_version(); }

namespace {

// Root's offsets of every rank's bytes, in rank order.
std::vector<uint64_t> offsets_of(const std::vector<uint64_t>& sizes) {
  std::vector<uint64_t> offsets(sizes.size() + 1, 0);
  for (size_t r = 0; r < sizes.size(); ++r) offsets[r + 1] = offsets[r] + sizes[r];
  return offsets;
}

uint64_t total_of(const std::vector<uint64_t>& sizes) {
  uint64_t total = 0;
  for (uint64_t s : sizes) total += s;
  return total;
}

}  // namespace

uint64_t MpiTransport::gather_chunked(const std::vector<uint8_t>& mine, int root, Gathered* out) {
  const std::vector<uint64_t> sizes = allgather(mine.size());
  if (rank_ == root) {
    out->offsets = offsets_of(sizes);
    out->bytes.resize(out->offsets.back());
  }
  return gather_into(mine.data(), sizes, total_of(sizes), root, out);
}

uint64_t MpiTransport::gather_into(const uint8_t* data, const std::vector<uint64_t>& sizes, uint64_t span, int root,
                                   Gathered* out) {
  // Each call moves at most `cap` bytes per rank, so at most max_call_bytes
  // in total and every displacement fits an int.
  const uint64_t cap = std::max<uint64_t>(1, max_call_bytes_ / static_cast<uint64_t>(size_));
  const uint64_t largest = *std::max_element(sizes.begin(), sizes.end());
  std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
  if (span <= max_call_bytes_) {
    for (int r = 0; r < size_; ++r) {
      counts[r] = static_cast<int>(sizes[r]);
      displs[r] = r == 0 ? 0 : displs[r - 1] + static_cast<int>(sizes[r - 1]);
    }
    // Skipped ranks (sizes[r] = 0 while root's offsets reserve room) are
    // placed by root's offsets, not by the running sum.
    if (rank_ == root)
      for (int r = 0; r < size_; ++r) displs[r] = static_cast<int>(out->offsets[r]);
    check(MPI_Gatherv(data, counts[rank_], MPI_BYTE, rank_ == root ? out->bytes.data() : nullptr, counts.data(),
                      displs.data(), MPI_BYTE, root, comm_),
          "MPI_Gatherv");
    return 1;
  }
  uint64_t calls = 0;
  std::vector<uint8_t> staging;
  for (uint64_t done = 0; done < largest; done += cap) {
    int call_total = 0;
    for (int r = 0; r < size_; ++r) {
      const uint64_t left = sizes[r] > done ? sizes[r] - done : 0;
      counts[r] = static_cast<int>(std::min(left, cap));
      displs[r] = call_total;
      call_total += counts[r];
    }
    if (rank_ == root) staging.resize(static_cast<size_t>(call_total));
    check(MPI_Gatherv(data + std::min<uint64_t>(done, sizes[rank_]), counts[rank_], MPI_BYTE,
                      rank_ == root ? staging.data() : nullptr, counts.data(), displs.data(), MPI_BYTE, root, comm_),
          "MPI_Gatherv (chunked)");
    calls += 1;
    if (rank_ == root) {
      for (int r = 0; r < size_; ++r)
        if (counts[r]) std::memcpy(out->bytes.data() + out->offsets[r] + done, staging.data() + displs[r], counts[r]);
    }
  }
  return calls;
}

// Root's own bytes stay where they are: `mine` becomes the result, grown to
// the total, its share moved to its offset (nothing to move for root 0),
// and root sends nothing.
Gathered MpiTransport::gatherv(std::vector<uint8_t> mine, int root) {
  std::vector<uint64_t> sizes = allgather(mine.size());
  const uint64_t span = total_of(sizes);
  counters_.gather_sent += mine.size();
  Gathered out;
  const uint8_t* data = mine.data();
  if (rank_ == root) {
    out.offsets = offsets_of(sizes);
    out.bytes = std::move(mine);
    out.bytes.resize(span);
    const uint64_t at = out.offsets[static_cast<size_t>(root)];
    if (at != 0 && sizes[root] != 0) std::memmove(out.bytes.data() + at, out.bytes.data(), sizes[root]);
    data = nullptr;
  }
  sizes[root] = 0;  // on every rank, so all agree on the calls
  counters_.gather_calls += gather_into(data, sizes, span, root, &out);
  if (rank_ == root) {
    counters_.gather_received += out.bytes.size();
  } else {
    out.bytes = std::move(mine);  // emptied, its capacity kept for the caller's next round
    out.bytes.clear();
  }
  return out;
}

void MpiTransport::bcast(std::vector<uint8_t>& bytes, int root) {
  uint64_t n = bytes.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast (size)");
  if (rank_ != root) bytes.resize(n);
  for (uint64_t done = 0; done < n; done += max_call_bytes_) {
    const int count = static_cast<int>(std::min(n - done, max_call_bytes_));
    check(MPI_Bcast(bytes.data() + done, count, MPI_BYTE, root, comm_), "MPI_Bcast");
    counters_.bcast_calls += 1;
  }
  counters_.bcast_bytes += n;
}

// Gathered at root and summed there in rank order (MPI_Reduce leaves the
// order of a floating-point sum to the library).
void MpiTransport::reduce_sum(std::vector<double>& values, int root) {
  std::vector<uint8_t> mine(values.size() * sizeof(double));
  if (!mine.empty()) std::memcpy(mine.data(), values.data(), mine.size());
  Gathered all;
  gather_chunked(mine, root, &all);
  counters_.reduce_bytes += mine.size();
  if (rank_ != root) return;
  for (int r = 0; r < size_; ++r)
    require(all.offsets[r + 1] - all.offsets[r] == mine.size(),
            "reduce_sum: rank " + std::to_string(r) + " passed another number of values than rank " +
                std::to_string(root));
  std::vector<double> sum(values.size(), 0.0), part(values.size());
  for (int r = 0; r < size_; ++r) {
    if (!mine.empty()) std::memcpy(part.data(), all.bytes.data() + all.offsets[r], mine.size());
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += part[i];
  }
  values = std::move(sum);
}

std::vector<uint64_t> MpiTransport::allgather(uint64_t value) {
  std::vector<uint64_t> all(static_cast<size_t>(size_));
  check(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, comm_), "MPI_Allgather");
  return all;
}

Gathered MpiTransport::gather_small(const std::vector<uint8_t>& mine, int root) {
  Gathered out;
  gather_chunked(mine, root, &out);
  return out;
}

double MpiTransport::max_to_root(double value, int root) {
  double out = value;
  check(MPI_Reduce(&value, &out, 1, MPI_DOUBLE, MPI_MAX, root, comm_), "MPI_Reduce");
  return out;
}

uint64_t MpiTransport::max_all(uint64_t value) {
  uint64_t out = value;
  check(MPI_Allreduce(&value, &out, 1, MPI_UINT64_T, MPI_MAX, comm_), "MPI_Allreduce");
  return out;
}

void MpiTransport::bcast_text(std::string& text, int root) {
  uint64_t n = text.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast (text size)");
  text.resize(n);
  check(MPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, root, comm_), "MPI_Bcast (text)");
}

bool MpiTransport::any(bool flag) {
  int in = flag ? 1 : 0, out = 0;
  check(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, comm_), "MPI_Allreduce");
  return out != 0;
}

void MpiTransport::barrier() { check(MPI_Barrier(comm_), "MPI_Barrier"); }

std::vector<std::string> MpiTransport::hostnames() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  std::vector<char> all(static_cast<size_t>(size_) * MPI_MAX_PROCESSOR_NAME);
  check(MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, comm_),
        "MPI_Allgather (hostnames)");
  std::vector<std::string> out;
  for (int r = 0; r < size_; ++r) out.emplace_back(all.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME);
  return out;
}

std::string mpi_library_version() {
  char v[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(v, &len);
  std::string s(v, static_cast<size_t>(len));
  const auto nl = s.find_first_of("\n,");
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace flb::comm
