// An error every rank throws together (same check, same data), so the run
// can end with MPI_Finalize and a message from rank 0 instead of MPI_Abort.
#pragma once

#include "flb/core/error.h"

namespace flb {

class CollectiveError : public Error {
 public:
  using Error::Error;
};

}  // namespace flb
