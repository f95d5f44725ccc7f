// FFA-LoRA (Sun et al. 2024): A stays frozen at its (shared, seeded)
// initial value on every client; only B is trained, uploaded (dense dB) and
// averaged. B A is then linear in B, so averaging B is exact: no
// aggregation error.
#include "flb/algo/fedit.h"

namespace flb::algo {
namespace {

class FfaLora : public FedIT {
 public:
  FfaLora(const LoraOptions& c, uint64_t seed) : FedIT(c, seed, /*train_a=*/false) {}
};

}  // namespace

std::unique_ptr<Algorithm> make_ffa_lora(const Options& o, uint64_t seed) {
  return std::make_unique<FfaLora>(o.get<LoraOptions>(), seed);
}

}  // namespace flb::algo
