#include "serve.hpp"

#include <pthread.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include <csignal>
#include <functional>
#include <list>
#include <string>
#include <vector>

namespace host {
namespace {

namespace asio = boost::asio;

// How long a module serving on its own has to finish its requests in flight once a stop was
// asked for.
constexpr std::chrono::milliseconds kServeStopDeadline{10'000};

// Re-arms itself after each run, an interval after the run ended: runs are never closer than
// the interval, even after a late or slow one (no catch-up runs back to back).
class CleanupTimer {
 public:
  CleanupTimer(asio::io_context& io, LoadedModule& module, std::chrono::milliseconds interval,
               Log& log)
      : timer_(io), module_(module), interval_(interval), log_(log) {}

  void start() {
    timer_.expires_after(interval_);
    arm();
  }
  void cancel() { timer_.cancel(); }

 private:
  void arm() {
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) {
        return;  // cancelled
      }
      const auto started = std::chrono::steady_clock::now();
      const std::string failure = module_.cleanup();
      const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - started);
      if (failure.empty()) {
        log_.write(
            SP_LOG_DEBUG, "host", "cleanup ran",
            {{"module", module_.manifest().name}, {"took_us", std::to_string(took.count())}});
      } else {
        log_.write(SP_LOG_ERROR, "host", "cleanup failed",
                   {{"module", module_.manifest().name}, {"error", failure}});
      }
      timer_.expires_after(interval_);
      arm();
    });
  }

  asio::steady_timer timer_;
  LoadedModule& module_;
  std::chrono::milliseconds interval_;
  Log& log_;
};

sigset_t stopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void holdStopSignals() {
  const sigset_t set = stopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void releaseStopSignals() {
  const sigset_t set = stopSignals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

int serve(ModuleHost& modules) {
  Log& log = modules.log();
  asio::io_context io;
  std::list<CleanupTimer> timers;
  for (const auto& module : modules.modules()) {
    const std::chrono::milliseconds interval = module->cleanupInterval();
    if (interval.count() > 0) {
      timers.emplace_back(io, *module, interval, log);
      timers.back().start();
      log.write(
          SP_LOG_INFO, "host", "cleanup scheduled",
          {{"module", module->manifest().name}, {"interval_ms", std::to_string(interval.count())}});
    } else if (module->table().cleanup != nullptr) {
      log.write(SP_LOG_INFO, "host", "cleanup not scheduled: the module asks for none",
                {{"module", module->manifest().name}});
    }
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (ec) {
      return;
    }
    log.write(SP_LOG_INFO, "host", "stopping",
              {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
    // A second signal while modules finish their requests ends the process at once (the
    // default disposition, restored by clearing the set).
    boost::system::error_code ignored;
    signals.clear(ignored);
    for (CleanupTimer& timer : timers) {
      timer.cancel();
    }
    io.stop();
  });
  // Modules that serve on their own (a listener) start now, in load order; one that cannot
  // stops the host, after the others started before it are stopped again.
  std::vector<LoadedModule*> started;
  std::string failure;
  for (const auto& module : modules.modules()) {
    if (!module->servesItself()) {
      continue;
    }
    failure = module->serveStart();
    if (!failure.empty()) {
      log.write(SP_LOG_ERROR, "host", "a module could not start serving",
                {{"module", module->manifest().name}, {"error", failure}});
      break;
    }
    started.push_back(module.get());
  }
  const auto stopServing = [&] {
    for (auto it = started.rbegin(); it != started.rend(); ++it) {
      const std::string stop_failure = (*it)->serveStop(kServeStopDeadline);
      if (!stop_failure.empty()) {
        log.write(SP_LOG_ERROR, "host", "a module did not stop serving cleanly",
                  {{"module", (*it)->manifest().name}, {"error", stop_failure}});
      }
    }
    started.clear();
  };
  if (!failure.empty()) {
    stopServing();
    timers.clear();
    modules.shutdownAll();
    log.write(SP_LOG_INFO, "host", "stopped");
    return 1;
  }
  log.write(SP_LOG_INFO, "host", "serving",
            {{"modules", std::to_string(modules.modules().size())}});
  // The handler is installed: let through any signal held since start-up.
  releaseStopSignals();
  io.run();
  timers.clear();
  stopServing();  // what they have in flight finishes before shutdown
  modules.shutdownAll();
  log.write(SP_LOG_INFO, "host", "stopped");
  return 0;
}

}  // namespace host
