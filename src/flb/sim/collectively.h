// Runs a step on every rank; if it throws on any rank, every rank throws a
// CollectiveError together, so the run ends together instead of hanging in
// a collective.
//
// The failing ranks' messages are gathered to rank 0 (through the
// transport), and only rank 0's CollectiveError carries them: the error
// prints once per job, from rank 0 (apps/flbench/main.cc prints the
// CollectiveError of rank 0 only). A message of another rank is prefixed
// by that rank ("rank 1: ..."); ranks that failed with the same message
// are named together ("ranks 1,3: ..."), one line per distinct message.
// Other ranks' CollectiveError says "another rank failed (rank 0 prints
// the error)" and is not meant to be printed.
#pragma once

#include <exception>
#include <string>
#include <vector>

#include "flb/comm/transport.h"
#include "flb/core/collective_error.h"

namespace flb::sim {

// What rank 0 prints, from every rank's outcome (rank order): `failed[r]`
// says whether rank r failed and `messages[r]` is its message. Lines after
// the first are indented by two spaces. REQUIRES: some rank failed.
std::string collective_message(const std::vector<bool>& failed, const std::vector<std::string>& messages);

// Collective. Called by every rank after its step, with whether it failed
// and its message; throws CollectiveError on every rank when any failed.
void raise_if_any_failed(comm::Transport& transport, bool failed, const std::string& message);

template <typename F>
void collectively(comm::Transport& transport, F&& step) {
  std::string message;
  bool failed = false;
  try {
    step();
  } catch (const std::exception& e) {
    message = e.what();
    failed = true;
  }
  raise_if_any_failed(transport, failed, message);
}

}  // namespace flb::sim
