// Times whole command runs (fork, exec, wait) and prints the median, for scripts/bench.
//
//   exec_bench [--runs N] [--warmup N] [--fresh-state-dir BASE] -- program args...
//
// --fresh-state-dir gives each run its own new PROMPT_STATE_DIR below BASE, so every run
// starts from an empty store (load, create, migrate, run). stdout and stderr of the runs go
// to /dev/null; a run that exits non-zero is reported and fails the benchmark.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  int runs = 50;
  int warmup = 5;
  std::string fresh_base;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--warmup" && i + 1 < argc) {
      warmup = std::atoi(argv[++i]);
    } else if (a == "--fresh-state-dir" && i + 1 < argc) {
      fresh_base = argv[++i];
    } else if (a == "--") {
      ++i;
      break;
    } else {
      std::fprintf(stderr, "exec_bench: unknown argument \"%s\"\n", a.c_str());
      return 2;
    }
  }
  if (i >= argc || runs < 1 || warmup < 0) {
    std::fprintf(stderr,
                 "usage: exec_bench [--runs N>=1] [--warmup N] [--fresh-state-dir DIR] "
                 "-- program args...\n");
    return 2;
  }
  std::vector<double> ms;
  for (int run = 0; run < warmup + runs; ++run) {
    std::string state;
    if (!fresh_base.empty()) {
      state = fresh_base + "/run-" + std::to_string(run);
    }
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int null_fd = ::open("/dev/null", O_WRONLY);
      ::dup2(null_fd, STDOUT_FILENO);
      ::dup2(null_fd, STDERR_FILENO);
      if (!state.empty()) {
        ::setenv("PROMPT_STATE_DIR", state.c_str(), 1);
      }
      ::execv(argv[i], argv + i);
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    const auto took = std::chrono::steady_clock::now() - start;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "exec_bench: %s exited with status %d\n", argv[i],
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      return 1;
    }
    if (run >= warmup) {
      ms.push_back(std::chrono::duration<double, std::milli>(took).count());
    }
  }
  std::sort(ms.begin(), ms.end());
  const auto at = [&](double q) { return ms[static_cast<size_t>(q * (ms.size() - 1))]; };
  std::printf("runs=%zu median_ms=%.2f p90_ms=%.2f min_ms=%.2f max_ms=%.2f\n", ms.size(), at(0.5),
              at(0.9), ms.front(), ms.back());
  return 0;
}
