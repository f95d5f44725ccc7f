// Evaluation shared by the ranks (issue 11, item 6).
//
// A task cuts its evaluation into units, one forward pass each, in an
// order fixed by the configuration (Task::eval_units). Rank r of P
// evaluates the contiguous units [r U / P, (r + 1) U / P); rank 0 gathers
// every unit's sums, which arrive in unit order, and adds them in that
// order, as one process adds its batches one after another. So the means
// are the same bits for any number of ranks, and equal to what rank 0
// alone computed before evaluation was shared; the time falls with the
// ranks (each evaluates about U / P units).
#pragma once

#include <vector>

#include "flb/comm/transport.h"
#include "flb/sim/task.h"

namespace flb::sim {

// Per domain: loss_sum / count and correct / count over `units`, added in
// the given order (0 for a domain without units).
// REQUIRES: every unit's domain indexes `domains`.
std::vector<DomainEval> combine_eval(const std::vector<EvalDomain>& domains, const std::vector<EvalSums>& units);

// The whole evaluation in this process (flbench pretrain).
std::vector<DomainEval> evaluate_all(Task& task);

// Collective: every rank evaluates its share; rank 0 gets the result, the
// other ranks an empty vector. A failure on any rank throws CollectiveError
// on every rank (collectively.h), so no rank waits in the gather.
std::vector<DomainEval> evaluate_shared(Task& task, comm::Transport& transport);

}  // namespace flb::sim
