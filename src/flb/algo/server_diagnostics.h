// What a server step saw in one LoRA layer, so that a degradation can be
// explained from the results file (/server_diagnostics, results/README.md).
// FedSRD and FedSRD-e report it (fedsrd.cc); plain data, no LibTorch.
#pragma once

#include <cstdint>

namespace flb::algo {

struct ServerDiagnostic {
  int64_t layer = 0;            // index of the LoRA layer, in module order
  int64_t solved_factor = 0;    // 0: A solved this round, 1: B; -1: both averaged (--no-reconstruction)
  double a_norm = 0, b_norm = 0;  // ||A||_F, ||B||_F of the global factors the clients started from
  // Extreme singular values of the factor the projection inverts (B in an
  // A-round, A in a B-round); NaN when nothing is inverted.
  double inverted_sigma_min = 0, inverted_sigma_max = 0;
  // ||W_avg - W_r||_F / ||W_avg||_F of the rank-r truncation (FedSRD);
  // NaN where there is none (FedSRD-e, --no-reconstruction).
  double truncation_error = 0;
  double update_norm = 0;        // ||solved update||_F, before the download sparsification
  // Achieved fraction of elements dropped: each upload's dA and dB (mean
  // over the round's uploads), and the broadcast's solved factor.
  double upload_sparsity_a = 0, upload_sparsity_b = 0, download_sparsity = 0;
};

}  // namespace flb::algo
