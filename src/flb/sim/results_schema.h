// The rows flbench writes each round (results/README.md documents them).
#pragma once

#include <cstdint>
#include <vector>

#include "flb/metrics/results_file.h"

namespace flb::sim {

struct RoundRow {
  int64_t round = 0;
  double wall = 0, train = 0, encode = 0, gather = 0, aggregate = 0, bcast = 0, apply = 0, eval = 0, io = 0;
  int64_t bytes_up = 0, bytes_down = 0;
  int64_t clients = 0, rejected = 0, parts = 0, scalar_parts = 0;
  double train_loss = 0, test_loss = 0, test_accuracy = 0;
  int64_t rss_max_bytes = 0, client_state_bytes = 0, server_state_bytes = 0;
};

struct ClientRow {
  int64_t round = 0, client = 0, rank = 0, samples = 0, steps = 0;
  double loss = 0;
  int64_t bytes_up = 0, nonzeros = 0, scalar_parts = 0;
};

struct EvalRow {
  int64_t round = 0, domain = 0;
  bool in_domain = true;
  double loss = 0, accuracy = 0;
};

std::vector<metrics::ColumnSpec> round_columns();
std::vector<metrics::ColumnSpec> eval_columns();
std::vector<metrics::ColumnSpec> client_columns();

metrics::Rows to_rows(const std::vector<RoundRow>& rows);
metrics::Rows to_rows(const std::vector<ClientRow>& rows);
metrics::Rows to_rows(const std::vector<EvalRow>& rows);

}  // namespace flb::sim
