#include "flb/comm/transport.h"

#include <cstring>

namespace flb::comm {

std::vector<double> Transport::gather_doubles(const std::vector<double>& mine, int root) {
  std::vector<uint8_t> bytes(mine.size() * sizeof(double));
  if (!bytes.empty()) std::memcpy(bytes.data(), mine.data(), bytes.size());
  const Gathered all = gather_small(bytes, root);
  std::vector<double> out(all.bytes.size() / sizeof(double));
  if (!out.empty()) std::memcpy(out.data(), all.bytes.data(), out.size() * sizeof(double));
  return out;
}

std::vector<std::string> Transport::gather_text(const std::string& mine, int root) {
  const Gathered all = gather_small(std::vector<uint8_t>(mine.begin(), mine.end()), root);
  std::vector<std::string> out;
  for (size_t r = 0; r + 1 < all.offsets.size(); ++r)
    out.emplace_back(all.bytes.begin() + static_cast<std::ptrdiff_t>(all.offsets[r]),
                     all.bytes.begin() + static_cast<std::ptrdiff_t>(all.offsets[r + 1]));
  return out;
}

}  // namespace flb::comm
