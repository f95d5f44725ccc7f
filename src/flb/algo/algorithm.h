// The algorithm interface: everything the round loop knows about an
// algorithm, and nothing more.
//
// One Algorithm object lives on every rank. Each rank calls the client
// side (load_client, regularizer, encode_upload) only for the clients it
// hosts, so per-client state an algorithm keeps (LBGM look-back gradients,
// error-feedback residuals, private factors) lives on the client's rank.
// Only rank 0 calls aggregate, so server state lives on rank 0. Every rank
// calls apply_download with the same broadcast, so the global tensors stay
// bitwise identical everywhere.
//
// "Tensors" is the list the algorithm trains and communicates, in the
// fixed order trainable() returned; payload parts name tensors by index
// into it. Parameters not in the list are frozen.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flb/compress/payload.h"
#include "flb/algo/server_diagnostics.h"
#include "flb/compress/wire_format.h"
#include "flb/model/low_rank.h"

namespace torch::serialize {
class InputArchive;
class OutputArchive;
}  // namespace torch::serialize

namespace flb::algo {

using Tensors = std::vector<torch::Tensor>;

// Each tensor's numel, in list order (the numels an upload schema checks).
std::vector<uint64_t> numels(const Tensors& tensors);

struct ClientContext {
  int64_t client = 0;   // client id
  int64_t round = 0;    // 0-based
  int64_t samples = 0;  // the client's training samples (its FedAvg weight)
};

// What a client's encoded upload holds (its /clients row).
struct EncodedUpload {
  int64_t bytes = 0;         // wire bytes (/clients/upload_bytes)
  int64_t values = 0;        // values sent, over every part (/clients/nonzeros)
  int64_t scalar_parts = 0;  // scalar parts among them
};

struct Upload {
  int64_t client = 0;
  int64_t samples = 0;
  compress::Payload payload;  // decoded and validated against upload_schema()
};

class Algorithm {
 public:
  virtual ~Algorithm() = default;

  // The algorithm's registered name (registry.cc); an algorithm may say
  // more (LBGM with a top-k base: "lbgm+topk"). Written as the results'
  // "algorithm" attribute.
  virtual std::string name() const { return registered_name_; }
  // Wire id, from the algorithm's registry entry: written in every payload
  // header, checked on decode. Valid once make_algorithm returned.
  uint16_t wire_id() const { return wire_id_; }

  // The low-rank layers the model must have (FedLoRU, LoRA), or null for a
  // dense model. Called once, before the model is built.
  virtual const model::LowRankSpec* model_spec() const { return nullptr; }

  // The tensors this algorithm trains and communicates, from `model`'s
  // parameters (called once on every rank, before round 0).
  virtual Tensors trainable(torch::nn::Module& model) = 0;

  // Client side, before local training: `params` already hold the global
  // values; an algorithm with private per-client tensors loads them here.
  virtual void load_client(const ClientContext& ctx, Tensors& params) {}
  // Whether load_client can give a client a model other than the global
  // one (pFedLoRU's private pair): personalised evaluation
  // (sim/personal_eval.h) then scores each client's own model too.
  virtual bool personalises() const { return false; }

  // Whether a client's local training is plain training of trainable()
  // from the global values: no load_client, regularizer or after_step.
  // Such clients can be trained K at a time (--client-batch,
  // sim/batched_trainer.h, which checks the model can).
  virtual bool plain_local_training() const { return false; }

  // An extra loss term added to each local step (FedProx's proximal term);
  // an undefined tensor for none.
  virtual torch::Tensor regularizer(const Tensors& params, const Tensors& global) { return {}; }

  // Client side, after every local optimiser step: a projection that keeps
  // the parameters in the algorithm's feasible set (mFedLoRU's rank cap).
  virtual void after_step(const ClientContext& ctx, Tensors& params) {}

  // Client side, after local training from `global` to `local`. The
  // payload must satisfy upload_schema().
  virtual compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) = 0;

  // Client side: appends the wire encoding of encode_upload(ctx, global,
  // local) to `out` (compress/wire_format.h). The default encodes that
  // payload; an algorithm may override it to write the same bytes more
  // directly (FedAvg computes its deltas into `out`). A subclass that
  // overrides encode_upload must not inherit such an override; tests check
  // an override against the default's bytes.
  virtual EncodedUpload append_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local,
                                      std::vector<uint8_t>& out);

  // What rank 0's decoder checks every upload against before any algorithm
  // code sees it: per tensor of `tensors` (the list trainable() returned;
  // valid after trainable()), the allowed part kinds and whether it is sent
  // exactly once, at most once or never. Default: every tensor exactly
  // once, dense.
  virtual compress::WireSchema upload_schema(const Tensors& tensors) const;
  // The same for the server's broadcast, checked by every rank's decoder.
  // Default: every tensor at most once, dense or sparse.
  virtual compress::WireSchema download_schema(const Tensors& tensors) const;

  // Client side, once the round's arrivals are known (sim/arrivals.h), for
  // every client whose upload this rank encoded: `used` says whether the
  // server aggregates it. An upload the server never used (late, surplus
  // under over-selection) must leave the client's state consistent with
  // the server's: LBGM restores the look-back gradients the client had
  // (the server never saw the new ones) and error feedback carries the
  // whole unsent update in the residual. Default: nothing to settle.
  virtual void settle_upload(const ClientContext& ctx, bool used) {}

  // Rank 0: combine the round's uploads (in ascending client id) into the
  // broadcast payload. `global` holds the values the clients started from.
  // REQUIRES: every upload passed decode() against upload_schema(), so the
  // schema's rules (which tensors, which kinds, how often) hold here.
  virtual compress::Payload aggregate(int64_t round, const std::vector<Upload>& uploads, const Tensors& global) = 0;

  // Hierarchical aggregation (--aggregation hierarchical, sim/hierarchical.h)
  // needs the server step to be a function of the weighted mean of the
  // uploads' parts: aggregate(round, uploads, global) must equal
  // aggregate(round, {m}, global) for the one upload m whose dense part
  // for each tensor some upload sends is sum_i w_i d_i / sum_i w_i, with
  // w_i = mean_weight(upload i) and d_i upload i's (dense or sparse) part.
  // Algorithms for which that holds say so (FedAvg, top-k, the FedIT
  // family); the others run central only.
  virtual bool aggregates_by_weighted_mean() const { return false; }
  virtual double mean_weight(const Upload& upload) const { return static_cast<double>(upload.samples); }

  // Rank 0: after enable_server_diagnostics(), aggregate() also records
  // what its server step saw, per layer, for algorithms that report it
  // (FedSRD, FedSRD-e; others record nothing). take_server_diagnostics()
  // hands over the last aggregate()'s rows. Off by default: the numbers
  // cost host syncs that benchmarks (flcomm) should not time.
  void enable_server_diagnostics() { diagnose_ = true; }
  std::vector<ServerDiagnostic> take_server_diagnostics() { return std::move(diagnostics_); }

  // Every rank: apply the broadcast to the global tensors.
  virtual void apply_download(int64_t round, Tensors& global, const compress::Payload& download) = 0;

  // Elements a client must download to be current without the broadcasts
  // it missed (sim/virtual_clock.h's dense catch-up): the global tensors,
  // and any frozen weights the broadcasts change (FedLoRU's merges).
  virtual int64_t catch_up_numel(const Tensors& global) const;

  // Bytes of per-client state this rank holds (for the memory metrics).
  virtual int64_t client_state_bytes() const { return 0; }
  // Bytes of server state (meaningful on rank 0).
  virtual int64_t server_state_bytes() const { return 0; }
  // The most per-client state one client can come to hold, given the
  // trained tensors (the memory preflight, sim/memory_preflight.h).
  virtual int64_t client_state_bytes_bound(const Tensors& trained) const { return 0; }

  // Checkpoints (sim/checkpoint.h). save_state writes the state this rank
  // holds between rounds and that the model and the global tensors do not:
  // its hosted clients' state (residuals, look-back gradients, private
  // factors) and, on rank 0, the server state. load_state reads it back
  // into a freshly built algorithm (same config, same rank, after
  // trainable()); tensors come on the run's device. A stateless algorithm
  // keeps the defaults. Implementations include <torch/serialize/archive.h>.
  virtual void save_state(torch::serialize::OutputArchive& archive) const {}
  virtual void load_state(torch::serialize::InputArchive& archive) {}

 protected:
  bool diagnose_ = false;                     // enable_server_diagnostics() was called
  std::vector<ServerDiagnostic> diagnostics_;  // the last aggregate()'s, when diagnose_

 private:
  friend class Registry;  // registry.cc: sets the identity of a new algorithm
  std::string registered_name_;
  uint16_t wire_id_ = 0;
};

}  // namespace flb::algo
