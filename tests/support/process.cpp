#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables): POSIX

namespace testing_support {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> childEnvironment(const ProcessOptions& options) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) {
      env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
  }
  for (const auto& name : options.unset_env) {
    env.erase(name);
  }
  for (const auto& [k, v] : options.env) {
    env[k] = v;
  }
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) {
    out.push_back(k);
    out.back() += '=';
    out.back() += v;
  }
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

// Forks and execs; returns pid and the parent's ends of stdin, stdout, stderr pipes.
pid_t spawn(const std::vector<std::string>& argv, const ProcessOptions& options, int& in_fd,
            int& out_fd, int& err_fd) {
  int in[2];
  int out[2];
  int err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  if (options.stdout_reader_closed) {
    ::close(out[0]);
    out[0] = -1;
  }
  std::vector<std::string> args = argv;
  std::vector<std::string> env = childEnvironment(options);
  auto arg_ptrs = pointers(args);
  auto env_ptrs = pointers(env);
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // An ignored signal stays ignored across exec, and a blocked one stays blocked: undo
    // both, or the child would not see what it sees when started from a shell.
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    ::execve(arg_ptrs[0], arg_ptrs.data(), env_ptrs.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  in_fd = in[1];
  out_fd = out[0];
  err_fd = err[0];
  return pid;
}

int decode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

ProcessResult run(const std::vector<std::string>& argv, const ProcessOptions& options) {
  int in_fd = -1;
  int out_fd = -1;
  int err_fd = -1;
  const pid_t pid = spawn(argv, options, in_fd, out_fd, err_fd);
  ::signal(SIGPIPE, SIG_IGN);
  size_t written = 0;
  if (options.stdin_data.empty()) {
    ::close(in_fd);
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  ProcessResult result;
  const auto deadline = Clock::now() + options.timeout;
  while (out_fd >= 0 || err_fd >= 0) {
    std::vector<pollfd> fds;
    if (out_fd >= 0) {
      fds.push_back({out_fd, POLLIN, 0});
    }
    if (err_fd >= 0) {
      fds.push_back({err_fd, POLLIN, 0});
    }
    if (in_fd >= 0) {
      fds.push_back({in_fd, POLLOUT, 0});
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    for (const pollfd& p : fds) {
      if (p.revents == 0) {
        continue;
      }
      if (p.fd == in_fd) {
        const ssize_t n = ::write(in_fd, options.stdin_data.data() + written,
                                  options.stdin_data.size() - written);
        written += n > 0 ? static_cast<size_t>(n) : 0;
        if (n < 0 || written == options.stdin_data.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buffer[8192];
      const ssize_t n = ::read(p.fd, buffer, sizeof(buffer));
      std::string& sink = p.fd == out_fd ? result.out : result.err;
      if (n > 0) {
        sink.append(buffer, static_cast<size_t>(n));
      } else {
        ::close(p.fd);
        (p.fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = result.timed_out ? -1 : decode(status);
  return result;
}

Child::Child(const std::vector<std::string>& argv, const ProcessOptions& options) {
  int in_fd = -1;
  int out_fd = -1;
  pid_ = spawn(argv, options, in_fd, out_fd, err_fd_);
  // Small inputs only: written whole before the child is left to run.
  if (!options.stdin_data.empty() &&
      ::write(in_fd, options.stdin_data.data(), options.stdin_data.size()) < 0) {
    throw std::runtime_error(std::string("write to child: ") + std::strerror(errno));
  }
  ::close(in_fd);
  ::close(out_fd);  // the children run this way report on stderr only
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (err_fd_ >= 0) {
    ::close(err_fd_);
  }
}

bool Child::waitForStderr(const std::string& needle, int count,
                          std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  auto occurrences = [&] {
    int n = 0;
    for (size_t at = err_.find(needle); at != std::string::npos; at = err_.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  while (occurrences() < count) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0 || err_fd_ < 0) {
      return false;
    }
    pollfd p{err_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      continue;
    }
    char buffer[4096];
    const ssize_t n = ::read(err_fd_, buffer, sizeof(buffer));
    if (n <= 0) {
      ::close(err_fd_);
      err_fd_ = -1;
    } else {
      err_.append(buffer, static_cast<size_t>(n));
    }
  }
  return true;
}

void Child::signal(int signal_number) {
  ::kill(pid_, signal_number);
}

int Child::wait(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  waitForStderr("\x01never\x01", 1, deadline);  // drains stderr until EOF or the deadline
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() >= until) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    ::usleep(5'000);
  }
  pid_ = -1;
  return decode(status);
}

CapturingChild::CapturingChild(const std::vector<std::string>& argv,
                               const ProcessOptions& options) {
  int in_fd = -1;
  pid_ = spawn(argv, options, in_fd, out_fd_, err_fd_);
  ::signal(SIGPIPE, SIG_IGN);  // a child that exits unread must not end this process
  if (!options.stdin_data.empty()) {
    // A failure means the child closed its stdin unread; its output and exit tell why.
    (void)!::write(in_fd, options.stdin_data.data(), options.stdin_data.size());
  }
  ::close(in_fd);
  ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

CapturingChild::~CapturingChild() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  for (int fd : {out_fd_, err_fd_}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

void CapturingChild::poll() {
  for (auto [fd, sink] : {std::pair{&out_fd_, &out_}, std::pair{&err_fd_, &err_}}) {
    char buffer[8192];
    ssize_t n = 0;
    while (*fd >= 0 && (n = ::read(*fd, buffer, sizeof(buffer))) > 0) {
      sink->append(buffer, static_cast<size_t>(n));
    }
    if (*fd >= 0 && (n == 0 || (errno != EAGAIN && errno != EINTR))) {
      ::close(*fd);
      *fd = -1;
    }
  }
  int status = 0;
  if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped(status);
  }
}

void CapturingChild::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
  }
}

int CapturingChild::finish(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  for (poll(); pid_ > 0 || out_fd_ >= 0 || err_fd_ >= 0; poll()) {
    if (Clock::now() >= until) {
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        reaped(status);
      }
      poll();
      for (int* fd : {&out_fd_, &err_fd_}) {  // held open by something else: stop reading
        if (*fd >= 0) {
          ::close(*fd);
          *fd = -1;
        }
      }
      break;
    }
    std::vector<pollfd> fds;
    for (int fd : {out_fd_, err_fd_}) {
      if (fd >= 0) {
        fds.push_back({fd, POLLIN, 0});
      }
    }
    ::poll(fds.data(), fds.size(), 5);  // also the pace of waitpid() once the pipes are shut
  }
  return exit_code_;
}

void CapturingChild::reaped(int status) {
  pid_ = -1;
  exit_code_ = decode(status);
  term_signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "prompt-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void writeFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace testing_support
