// SIGINT and SIGTERM in ssd's daemons and launchers. They are never handled
// asynchronously: the process blocks them before it starts any thread (so
// every thread inherits the mask and none is interrupted), and one thread
// waits for them with sigwait and then drains or stops the process.
//
//   int main(...) {
//     BlockTerminationSignals();         // first, before any thread
//     ... start the daemon ...
//     const int sig = WaitForTerminationSignal();
//     LOG(INFO) << SignalName(sig) << ": shutting down";
//   }
//
// Children started through ProcessGroup get an empty mask back.
#ifndef SSD_COMMON_UTIL_SIGNALS_H_
#define SSD_COMMON_UTIL_SIGNALS_H_

#include <functional>

namespace ssd {

// Blocks SIGINT and SIGTERM in the calling thread and the threads it starts.
void BlockTerminationSignals();

// Waits until SIGINT or SIGTERM arrives; returns it. The signals must be
// blocked (BlockTerminationSignals), or the default action kills the process
// first.
int WaitForTerminationSignal();

// Starts a detached thread that waits for SIGINT or SIGTERM and then calls
// `on_signal(sig)` once, on that thread. The signals must be blocked.
void OnTerminationSignal(std::function<void(int)> on_signal);

// "SIGINT", "SIGTERM", or "a signal".
const char* SignalName(int sig);

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_SIGNALS_H_
