// Fed-DARE (DARE, Yu et al. 2024, as a FedSRD baseline): each client drops
// each element of dA, dB independently with probability p and rescales the
// survivors by 1 / (1 - p), so the upload is unbiased; it uploads the
// sparse result. The server averages as FedIT and broadcasts the dense
// average. The masks come from Stream(seed, kClientMask, client, round),
// drawn tensor after tensor in list order: independent of the ranks.
#include "flb/algo/fedit.h"
#include "flb/algo/option_choice.h"
#include "flb/compress/importance.h"

namespace flb::algo {
namespace {

struct DareOptions : OptionGroup {
  double p = 0.9;  // --dare-p: drop probability of each element of dA, dB
  void add_options(CLI::App& app) override {
    app.add_option("--dare-p", p, "fed-dare: probability of dropping each element of dA, dB (survivors / (1 - p))")
        ->check(CLI::Range(0.0, 0.999999))->group(kOptionsHelpGroup);
  }
  void validate(const Options&) const override { require(p >= 0 && p < 1, "--dare-p: must be in [0, 1)"); }
};

class FedDare : public FedIT {
 public:
  FedDare(const LoraOptions& c, const DareOptions& dare, uint64_t seed) : FedIT(c, seed), p_(dare.p) {}
  uint8_t upload_kinds() const override { return compress::kSparseOnly; }

  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override {
    torch::NoGradGuard no_grad;
    compress::Payload p = empty_upload(ctx);
    Stream stream(seed_, StreamPurpose::kClientMask, static_cast<uint64_t>(ctx.client), static_cast<uint64_t>(ctx.round));
    for (size_t i = 0; i < local.size(); ++i) {
      compress::Part part = compress::random_drop(local[i] - global[i], p_, stream);
      part.tensor = static_cast<uint32_t>(i);
      p.parts.push_back(std::move(part));
    }
    return p;
  }
  // FedIT's direct dense path would bypass the drop above.
  EncodedUpload append_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local,
                              std::vector<uint8_t>& out) override {
    return Algorithm::append_upload(ctx, global, local, out);
  }

 private:
  double p_;
};

}  // namespace

std::unique_ptr<OptionGroup> fed_dare_options() { return std::make_unique<DareOptions>(); }

std::unique_ptr<Algorithm> make_fed_dare(const Options& o, uint64_t seed) {
  return std::make_unique<FedDare>(o.get<LoraOptions>(), o.get<DareOptions>(), seed);
}

}  // namespace flb::algo
