#include "flb/sim/collectively.h"

namespace flb::sim {

std::string collective_message(const std::vector<bool>& failed, const std::vector<std::string>& messages) {
  std::string out;
  std::vector<bool> told(failed.size(), false);
  for (size_t r = 0; r < failed.size(); ++r) {
    if (!failed[r] || told[r]) continue;
    std::string ranks;  // every other failing rank with this message
    int count = 0;
    for (size_t q = r; q < failed.size(); ++q) {
      if (!failed[q] || told[q] || messages[q] != messages[r]) continue;
      told[q] = true;
      ranks += (count++ ? "," : "") + std::to_string(q);
    }
    const std::string who = r == 0 ? "" : (count > 1 ? "ranks " : "rank ") + ranks + ": ";
    out += (out.empty() ? "" : "\n  ") + who + messages[r];
  }
  return out;
}

void raise_if_any_failed(comm::Transport& transport, bool failed, const std::string& message) {
  if (!transport.any(failed)) return;
  // Each rank sends "1<message>" when it failed, "0" when it did not.
  const std::vector<std::string> all = transport.gather_text((failed ? "1" : "0") + message);
  if (transport.rank() != 0) throw CollectiveError("another rank failed (rank 0 prints the error)");
  std::vector<bool> flags;
  std::vector<std::string> messages;
  for (const std::string& s : all) {
    flags.push_back(!s.empty() && s[0] == '1');
    messages.push_back(s.empty() ? std::string() : s.substr(1));
  }
  throw CollectiveError(collective_message(flags, messages));
}

}  // namespace flb::sim
