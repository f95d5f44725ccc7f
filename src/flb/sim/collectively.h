// Runs a step on every rank; if it throws on any rank, every rank throws a
// CollectiveError (the failing ranks other than 0 print their own message
// first), so the run ends together instead of hanging in a collective.
#pragma once

#include <exception>
#include <iostream>
#include <string>

#include "flb/comm/mpi_comm.h"
#include "flb/core/collective_error.h"

namespace flb::sim {

template <typename F>
void collectively(comm::MpiComm& comm, F&& step) {
  std::string message;
  try {
    step();
  } catch (const std::exception& e) {
    message = e.what();
  }
  if (comm.any(!message.empty())) {
    if (comm.rank() != 0 && !message.empty()) std::cerr << "flbench: rank " << comm.rank() << ": " << message << "\n";
    throw CollectiveError(comm.rank() == 0 && !message.empty() ? message : "another rank failed (see above)");
  }
}

}  // namespace flb::sim
