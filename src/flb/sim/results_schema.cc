#include "flb/sim/results_schema.h"

namespace flb::sim {

using metrics::ColumnType;

std::vector<metrics::ColumnSpec> round_columns() {
  const auto I = ColumnType::kInt64;
  const auto F = ColumnType::kFloat64;
  return {
      {"round", I, "0-based round index"},
      {"wall_s", F, "seconds for the whole round on rank 0"},
      {"train_s", F, "local training, max over ranks"},
      {"encode_s", F, "upload encoding, max over ranks"},
      {"gather_wait_s", F, "rank 0 waiting for the slowest rank (the gather of the client records)"},
      {"gather_s", F, "MPI_Gatherv of the uploads (rank 0), after the wait; hierarchical: the reduction of the ranks' sums (or the gather of their folds)"},
      {"aggregate_s", F, "decode + aggregate + encode broadcast (rank 0); hierarchical: the slowest rank's decode + sum (or fold), then rank 0's"},
      {"bcast_s", F, "MPI_Bcast of the download (rank 0)"},
      {"apply_s", F, "decode + apply the download (rank 0)"},
      {"eval_s", F, "test-set evaluation (rank 0)"},
      {"io_s", F, "writing the client rows and flushing the previous round (all ranks)"},
      {"bytes_gathered", I, "the client payloads, back to back (the sum of /clients/upload_bytes): what rank 0 gathered (central), what the ranks decoded and summed (hierarchical)"},
      {"bytes_moved", I, "bytes that travelled to rank 0: bytes_gathered (central); the ranks' reduced sums, or for fedsrd, fedsrd-e and flexlora their folds (hierarchical)"},
      {"bytes_down", I, "bytes of the broadcast (what each client downloads)"},
      {"clients", I, "clients sampled this round (round(K (1 + --over-select)))"},
      {"rejected", I, "uploads rejected as malformed (--on-bad-upload skip)"},
      {"parts", I, "tensor parts in the accepted uploads"},
      {"scalar_parts", I, "of which sent as a scalar (LBGM's look-back path)"},
      {"train_loss", F, "sample-weighted mean of the clients' local training loss"},
      {"test_loss", F, "test-set cross-entropy of the global model (NaN when not evaluated)"},
      {"test_accuracy", F, "test-set accuracy of the global model in [0, 1] (NaN when not evaluated)"},
      {"rss_max_bytes", I, "peak resident memory, max over ranks"},
      {"client_state_bytes", I, "per-client state held by all ranks (sample lists + algorithm state)"},
      {"server_state_bytes", I, "algorithm server state on rank 0"},
      {"virtual_s", F, "virtual seconds of the round: idle_s, then how long the server waited (the last arrival, the K-th under --over-select, or --deadline when fewer than K arrived and some were late)"},
      {"virtual_clock_s", F, "the virtual clock at the round's end (sum of virtual_s so far)"},
      {"arrived", I, "sampled clients whose upload the server aggregated (/clients/status 0)"},
      {"dropped", I, "sampled clients that failed before uploading (--dropout-prob; status 1)"},
      {"late", I, "uploads discarded as arriving after --deadline (status 2)"},
      {"surplus", I, "uploads discarded because K had already arrived (--over-select; status 3)"},
      {"offline", I, "sampled clients that went offline before their upload arrived (trace availability windows; status 4)"},
      {"online", I, "clients online at the round's start, among whom it sampled (--clients without availability windows)"},
      {"idle_s", F, "virtual seconds the server waited, before sampling, for a client to come online (availability windows)"},
      {"clipped", I, "accepted uploads whose update norm the server scaled down to --clip-update-norm"},
      {"val_loss", F, "cross-entropy of the global model on the validation split (--validation-fraction; NaN when none or not evaluated)"},
      {"val_accuracy", F, "its accuracy in [0, 1] (NaN when none or not evaluated)"},
      {"personal_accuracy", F, "--personal-fraction: mean over clients of the accuracy of each client's personalised model on its own held-out slice (/client_eval; NaN when none or not evaluated)"},
      {"personal_global_accuracy", F, "the same slices scored by the global model"},
  };
}

std::vector<metrics::ColumnSpec> client_columns() {
  const auto I = ColumnType::kInt64;
  const auto F = ColumnType::kFloat64;
  return {
      {"round", I, "0-based round index"},
      {"client", I, "client id"},
      {"rank", I, "MPI rank that hosted and trained the client"},
      {"samples", I, "the client's training samples"},
      {"steps", I, "local optimiser steps"},
      {"loss", F, "mean local training loss"},
      {"upload_bytes", I, "the client's encoded upload (wire format, header included)"},
      {"nonzeros", I, "values sent (dense and sparse parts and scalars)"},
      {"scalar_parts", I, "tensors sent as scalars (e.g. LBGM's look-back path)"},
      {"download_bytes", I, "what the client downloaded before training: the broadcasts it had not heard, or the dense state if smaller"},
      {"catch_up_bytes", I, "of which beyond the last round's broadcast (0 when it heard every broadcast)"},
      {"virtual_down_s", F, "virtual seconds of its download (latency + bytes / downlink)"},
      {"virtual_compute_s", F, "virtual seconds of its local steps (steps x --step-seconds / compute factor; --compute-time measured: train_s / compute factor)"},
      {"virtual_up_s", F, "virtual seconds of its upload (latency + upload_bytes / uplink)"},
      {"virtual_done_s", F, "when its upload arrived (or would have), in virtual seconds from the round's start; NaN when it dropped out"},
      {"status", I, "0 arrived (aggregated), 1 dropped, 2 late, 3 surplus, 4 offline (sim/arrivals.h)"},
      {"train_s", F, "wall seconds of its local training on its rank, this machine (not reproducible; --compute-time measured uses it; under --client-batch K an equal share of its batch's time)"},
  };
}

std::vector<metrics::ColumnSpec> eval_columns() {
  const auto I = ColumnType::kInt64;
  const auto F = ColumnType::kFloat64;
  return {
      {"round", I, "0-based round index"},
      {"domain", I, "index into the group attribute domain_names"},
      {"in_domain", I, "1: a domain some client holds; 0: out-of-domain (held by no client)"},
      {"loss", F, "mean cross-entropy on the domain's held-out data"},
      {"accuracy", F, "top-1 accuracy (class, or next byte)"},
      {"loss_se", F, "standard error of loss: sd of the items' mean losses / sqrt(items); an item is an image or a held-out sequence"},
      {"validation", I, "1: the validation split carved from the clients' training data (--validation-fraction); never in /rounds/test_*"},
  };
}

std::vector<metrics::ColumnSpec> diagnostic_columns() {
  const auto I = ColumnType::kInt64;
  const auto F = ColumnType::kFloat64;
  return {
      {"round", I, "0-based round index"},
      {"layer", I, "LoRA layer, in module order"},
      {"solved_factor", I, "0: the round solved A, 1: B; -1: A and B averaged (--no-reconstruction)"},
      {"a_norm", F, "||A||_F of the global factor the clients started from"},
      {"b_norm", F, "||B||_F of the global factor the clients started from"},
      {"inverted_sigma_min", F, "smallest singular value of the factor the projection inverts (B in an A-round, A in a B-round); NaN: none inverted"},
      {"inverted_sigma_max", F, "its largest singular value (their ratio: the condition number the solve amplifies by)"},
      {"truncation_error", F, "||W_avg - W_r||_F / ||W_avg||_F of the rank-r SVD (fedsrd); NaN: no truncation (fedsrd-e, --no-reconstruction)"},
      {"update_norm", F, "||solved factor update||_F before the download sparsification"},
      {"upload_sparsity_a", F, "fraction of dA's elements the uploads dropped, mean over the round's uploads"},
      {"upload_sparsity_b", F, "the same for dB"},
      {"download_sparsity", F, "fraction of the broadcast factor's elements dropped"},
  };
}

std::vector<metrics::ColumnSpec> client_eval_columns() {
  const auto I = ColumnType::kInt64;
  const auto F = ColumnType::kFloat64;
  return {
      {"round", I, "0-based round index"},
      {"client", I, "client id"},
      {"items", I, "the client's held-out samples (--personal-fraction of its data, never trained on)"},
      {"global_loss", F, "mean cross-entropy of the global model on them"},
      {"global_accuracy", F, "the global model's accuracy on them"},
      {"personal_loss", F, "the same for the client's personalised model: the global state with the client's own state loaded (pFedLoRU's private pair); = global_loss for an algorithm without per-client state"},
      {"personal_accuracy", F, "its accuracy"},
  };
}

std::vector<metrics::ColumnSpec> memory_columns() {
  const auto I = ColumnType::kInt64;
  return {
      {"rank", I, "MPI rank"},
      {"base_bytes", I, "frozen parameters (the base, one copy shared by the rank's clients), in --base-dtype"},
      {"adapter_bytes", I, "trained parameters (LoRA factors, trained biases), float32"},
      {"optimizer_bytes", I, "local optimiser state (momentum, or AdamW's two moments), float32"},
      {"activation_bytes", I, "measured: largest (peak - live before the step) tensor memory of one local training step"},
      {"client_state_bytes", I, "per-client state of the clients this rank hosts (sample lists + algorithm state)"},
  };
}

metrics::Rows to_rows(const std::vector<MemoryRow>& rows) {
  metrics::Rows out(memory_columns().size());
  for (const MemoryRow& r : rows) {
    const double v[] = {double(r.rank), double(r.base), double(r.adapters), double(r.optimizer), double(r.activations),
                        double(r.client_state)};
    for (size_t c = 0; c < out.size(); ++c) out[c].push_back(v[c]);
  }
  return out;
}

metrics::Rows to_rows(const std::vector<EvalRow>& rows) {
  metrics::Rows out(eval_columns().size());
  for (const EvalRow& r : rows) {
    const double v[] = {double(r.round), double(r.domain), r.in_domain ? 1.0 : 0.0, r.loss, r.accuracy, r.loss_se,
                        r.validation ? 1.0 : 0.0};
    for (size_t c = 0; c < out.size(); ++c) out[c].push_back(v[c]);
  }
  return out;
}

metrics::Rows to_rows(const std::vector<DiagnosticRow>& rows) {
  metrics::Rows out(diagnostic_columns().size());
  for (const DiagnosticRow& r : rows) {
    const algo::ServerDiagnostic& d = r.step;
    const double v[] = {double(r.round), double(d.layer), double(d.solved_factor), d.a_norm, d.b_norm,
                        d.inverted_sigma_min, d.inverted_sigma_max, d.truncation_error, d.update_norm,
                        d.upload_sparsity_a, d.upload_sparsity_b, d.download_sparsity};
    for (size_t c = 0; c < out.size(); ++c) out[c].push_back(v[c]);
  }
  return out;
}

metrics::Rows to_rows(const std::vector<ClientEvalRow>& rows) {
  metrics::Rows out(client_eval_columns().size());
  for (const ClientEvalRow& r : rows) {
    const double v[] = {double(r.round), double(r.client), double(r.items), r.global_loss, r.global_accuracy,
                        r.personal_loss, r.personal_accuracy};
    for (size_t c = 0; c < out.size(); ++c) out[c].push_back(v[c]);
  }
  return out;
}

metrics::Rows to_rows(const std::vector<RoundRow>& rows) {
  metrics::Rows out(round_columns().size());
  for (const RoundRow& r : rows) {
    const double v[] = {double(r.round), r.wall, r.train, r.encode, r.gather_wait, r.gather, r.aggregate, r.bcast, r.apply, r.eval, r.io,
                        double(r.bytes_gathered), double(r.bytes_moved), double(r.bytes_down), double(r.clients), double(r.rejected), double(r.parts),
                        double(r.scalar_parts), r.train_loss,
                        r.test_loss, r.test_accuracy, double(r.rss_max_bytes), double(r.client_state_bytes),
                        double(r.server_state_bytes), r.virtual_s, r.virtual_clock_s, double(r.arrived), double(r.dropped),
                        double(r.late), double(r.surplus), double(r.offline), double(r.online), r.idle_s,
                        double(r.clipped), r.val_loss, r.val_accuracy, r.personal_accuracy, r.personal_global_accuracy};
    for (size_t c = 0; c < out.size(); ++c) out[c].push_back(v[c]);
  }
  return out;
}

metrics::Rows to_rows(const std::vector<ClientRecord>& rows) {
  metrics::Rows out(client_columns().size());
  for (const ClientRecord& r : rows) {
    const double v[] = {double(r.round),  double(r.client),   double(r.rank),     double(r.samples),     double(r.steps),
                        r.loss,           double(r.upload_bytes), double(r.nonzeros), double(r.scalar_parts),
                        double(r.download_bytes), double(r.catch_up_bytes), r.virtual_down_s, r.virtual_compute_s,
                        r.virtual_up_s, r.virtual_done_s, double(r.status), r.train_s};
    for (size_t c = 0; c < out.size(); ++c) out[c].push_back(v[c]);
  }
  return out;
}

}  // namespace flb::sim
