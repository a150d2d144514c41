// Runs a program as a real child process, for end-to-end tests of `prompt`.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace testing_support {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::map<std::string, std::string> env;  // added to (or replacing in) the parent's
  std::vector<std::string> unset_env;      // removed from the child's environment
  std::string stdin_data;                  // written to the child's stdin, then closed
  // The child's stdout is a pipe whose read end is closed before the child starts, as in
  // `prompt ... | true`: its writes fail (EPIPE, or SIGPIPE at the default disposition).
  bool stdout_reader_closed = false;
  std::chrono::milliseconds timeout{30'000};
};

// Runs argv[0] (a path) with argv, waits for it (killing it after the timeout). The child
// starts as a shell would start it: every signal at its default disposition (SIGPIPE
// included, which this process ignores) and none blocked.
ProcessResult run(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// A child left running, for `prompt serve`: its stderr is read line by line. Its stdin gets
// options.stdin_data (at most a pipe's buffer) and is closed; its stdout is closed.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const ProcessOptions& options = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads stderr until a line contains `needle` `count` times in all, or the deadline
  // passes. Returns whether it was seen. All stderr read so far is in err().
  bool waitForStderr(const std::string& needle, int count, std::chrono::milliseconds deadline);
  void signal(int signal_number);
  // Waits for exit (reading the rest of stderr); returns the exit code, -1 when killed.
  int wait(std::chrono::milliseconds deadline);
  const std::string& err() const { return err_; }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string err_;
};

// A child whose stdout and stderr are both captured as they arrive, for tests that SIGKILL it
// at any moment and still need everything it wrote before. Its stdin gets options.stdin_data
// (at most a pipe's buffer; unless it closes stdin first) and is closed. The destructor kills
// and reaps it if it still runs.
class CapturingChild {
 public:
  CapturingChild(const std::vector<std::string>& argv, const ProcessOptions& options = {});
  ~CapturingChild();
  CapturingChild(const CapturingChild&) = delete;
  CapturingChild& operator=(const CapturingChild&) = delete;

  // Reads what its stdout and stderr hold and reaps it if it has ended; never waits.
  void poll();
  // Whether it has not been reaped yet (as of the last poll()).
  bool running() const { return pid_ > 0; }
  // Sends SIGKILL, unless it has been reaped already.
  void kill();
  // Waits until it ends (SIGKILL once the deadline passes) and both pipes are at their end.
  // Returns the exit code, -1 when a signal ended it.
  int finish(std::chrono::milliseconds deadline);
  // The signal that ended it, 0 when it exited (or still runs).
  int termSignal() const { return term_signal_; }
  int exitCode() const { return exit_code_; }  // -1 while running or when a signal ended it
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  void reaped(int status);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int exit_code_ = -1;
  int term_signal_ = 0;
  std::string out_;
  std::string err_;
};

// A fresh private temporary directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void writeFile(const std::string& path, const std::string& content);
std::string readFile(const std::string& path);

}  // namespace testing_support
