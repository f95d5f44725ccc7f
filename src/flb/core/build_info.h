// What this binary was built from and with (filled in at build time).
#pragma once

namespace flb {

struct BuildInfo {
  const char* version;       // flbench version
  const char* git_revision;  // short hash, "-dirty" when the tree had changes
  const char* torch_version;
  const char* hdf5;
  bool cuda;                 // built against a CUDA LibTorch
  bool nccl;                 // NCCL found at build time
};

const BuildInfo& build_info();

}  // namespace flb
