#include "flb/core/stop_signal.h"

#include <signal.h>

#include <csignal>

namespace flb {
namespace {

// The only global variable in flbench: a signal handler cannot reach
// anything else safely. An async-signal-safe handler may only store to a
// `volatile std::sig_atomic_t`; everything else (MPI, HDF5, printing) waits
// for the round loop to read the flag.
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

bool stop_requested() { return g_stop_signal != 0; }

int stop_signal() { return g_stop_signal; }

}  // namespace flb
