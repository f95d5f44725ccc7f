// A request to stop at the end of the round: SIGTERM (preemption, scancel)
// and SIGUSR1 (Slurm's --signal=B:USR1@T warning, forwarded by the job
// script) set a flag; the round loop polls it, and all ranks agree on it
// with one MPI_Allreduce per round (experiment.cc), checkpoint and exit 75.
#pragma once

namespace flb {

// Installs the handlers for SIGTERM and SIGUSR1 (SA_RESTART, so a
// signal does not break a system call in MPI or HDF5). Call once, early.
void install_stop_signal_handlers();

// True once this process got SIGTERM or SIGUSR1.
bool stop_requested();

// The signal that set the flag (0: none), for the log.
int stop_signal();

}  // namespace flb
