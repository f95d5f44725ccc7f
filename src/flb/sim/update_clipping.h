// Server-side clipping of update norms (--clip-update-norm C): before
// aggregation the server scales each accepted upload u to
//
//   u <- u * min(1, C / ||u||),   ||u|| = sqrt(sum over parts, values v of v^2)
//
// the L2 norm of the change the client proposes to the trained tensors.
// It is defined where an upload's parts are that change (dense or sparse
// deltas that the server averages: Algorithm::aggregates_by_weighted_mean,
// i.e. fedavg, topk, fedit, fedprox, ffa-lora, fed-dare); for the other
// algorithms an upload is factors, scalars or a reconstruction's input,
// whose norm bounds nothing, and the option is refused (sim/setup.cc).
// Clipping bounds what one client can move the global model by (a
// hostile or diverging client, or the sensitivity DP-FedAvg needs).
#pragma once

#include "flb/algo/algorithm.h"

namespace flb::sim {

// ||u|| over every part's values, summed in float64 in a fixed order, so
// the result is the same bits for any thread count or rank count.
double update_norm(const compress::Payload& upload);

// Scales `upload`'s parts when ||u|| > max_norm > 0 (new tensors: decoded
// parts view the received buffer, which must not be written); returns
// whether it did. REQUIRES: no scalar part.
bool clip_update(compress::Payload& upload, double max_norm);

}  // namespace flb::sim
