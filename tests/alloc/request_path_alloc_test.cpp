// The request path allocates nothing and makes no system call: authorize(key, cost) then
// record_request, for a key that is cached and has its slot in the shared segment.
// Allocations are counted by replacing the global operator new of this test program (its own
// executable, so no other test runs under the counter) and, outside sanitizer builds (whose
// runtimes own malloc), malloc itself, which the C libraries underneath (OpenSSL, SQLite)
// call; system calls by a seccomp filter that traps every one the measuring thread makes.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <thread>

#include "services/rate_limit_service.hpp"
#include "store/stores.hpp"
#include "support/process.hpp"
#include "usage/usage_recorder.hpp"

namespace {

// Allocations made by this thread while counting is on.
thread_local bool counting = false;
thread_local long allocations = 0;

}  // namespace

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REQUEST_PATH_COUNTS_MALLOC 0
#else
#define REQUEST_PATH_COUNTS_MALLOC 1
// Interposed on glibc's: every library of the program calls these.
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* malloc(std::size_t size) {
  if (counting) {
    ++allocations;
  }
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
  if (counting) {
    ++allocations;
  }
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {
  if (counting) {
    ++allocations;
  }
  return __libc_realloc(p, size);
}
}
#endif

namespace {

void* allocate(std::size_t size) {
  if (counting && !REQUEST_PATH_COUNTS_MALLOC) {  // else malloc counts it
    ++allocations;
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t size) {
  return allocate(size);
}
void* operator new[](std::size_t size) {
  return allocate(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

struct Stack {
  explicit Stack(const std::string& path) {
    settings.store.database_path = path;
    host.size = sizeof(host);
    api::StoreOpening opening;
    opening.shape = settings.rate_limits.windowShape();
    store = api::openStores(settings.store, opening);
    keys = std::make_unique<api::ApiKeyService>(settings, *store, clock, logger);
    limits = std::make_unique<api::RateLimitService>(settings, *store, clock, logger, *keys);
    recorder = std::make_unique<api::UsageRecorder>(settings, *store, clock, logger);
  }
  ~Stack() { recorder->stop(); }

  api::ApiSettings settings;
  api::SystemClock clock;
  sp_host_api host{};
  api::HostLogger logger{host};
  std::unique_ptr<api::Stores> store;
  std::unique_ptr<api::ApiKeyService> keys;
  std::unique_ptr<api::RateLimitService> limits;
  std::unique_ptr<api::UsageRecorder> recorder;
};

// What a sibling module does per request it serves.
bool serve(Stack& s, const std::string& secret, const api::RequestInput& request) {
  const api::AuthorizeResult r = s.limits->authorize(secret, 1);
  return r.allowed && s.recorder->record(r.key->id, request);
}

api::RequestInput typicalRequest() {
  api::RequestInput request;
  request.endpoint = "/api/v1/orders/12345/items?expand=all";
  request.method = "get";
  request.status_code = 200;
  request.response_time_ms = 12;
  request.ip_address = "2001:db8:85a3::8a2e:370:7334";
  request.user_agent = "curl/8.5.0 (x86_64-pc-linux-gnu) libcurl/8.5.0 OpenSSL/3.0.11 zlib/1.3";
  return request;
}

// A key that never reaches its limit, cached, with its slot, and every buffer of the path grown
// (the writer having swapped the queue's vectors). Returns its secret.
std::string warmUp(Stack& s, const api::RequestInput& request) {
  api::CreateKeyRequest create;
  create.user_id = "u";
  create.name = "hot";
  create.rate_limit = 1'000'000'000;
  const std::string secret = s.keys->createKey(create).secret;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 10'000; ++i) {
      if (!serve(s, secret, request)) {
        throw std::runtime_error("a warm-up request was refused");
      }
    }
    s.recorder->flush();
  }
  // Both of the queue's vectors grown to a whole batch, whatever pieces the writer took above:
  // twice, an idle writer (a flush with nothing queued leaves it waiting its whole interval)
  // is handed kBatchSize records, the last of which wakes it to take them all.
  for (int round = 0; round < 2; ++round) {
    s.recorder->flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (size_t i = 0; i < api::UsageRecorder::kBatchSize; ++i) {
      serve(s, secret, request);
    }
    s.recorder->flush();
  }
  serve(s, secret, request);  // the cache entry fresh (it is re-read once 1 s old)
  // That record written too. Then a flush with nothing queued: the writer's wake-up finds
  // nothing and it waits its whole interval (1 s) from then, where its wait had been scaled to
  // what the last records took to come. The calls measured then never meet it: at the queue's
  // lock (a futex call; README says so), or writing (its own allocations and system calls).
  s.recorder->flush();
  s.recorder->flush();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the writer back in its wait
  return secret;
}

// Filled by the SIGSYS handler of the process under the filter.
struct Trapped {
  std::atomic<long> calls;  // trapped so far
  std::atomic<int> first;   // the number of the first one
  // What the child found: the calls its request path made; -2 without seccomp, -3 when the
  // filter did not trap a call made on purpose, -4 when a request failed.
  std::atomic<long> result;
};
Trapped* trapped = nullptr;

void onTrappedCall(int, siginfo_t* info, void*) {
  if (trapped->calls.fetch_add(1) == 0) {
    trapped->first = info->si_syscall;
  }
}

// From now on every system call of this thread but rt_sigreturn and exit is trapped (and
// fails); other threads are not filtered.
bool trapSystemCalls() {
  struct sigaction action {};
  action.sa_sigaction = &onTrappedCall;
  action.sa_flags = SA_SIGINFO;
  if (::sigaction(SIGSYS, &action, nullptr) != 0 || ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return false;
  }
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigreturn, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
  return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) == 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(request_path)

BOOST_AUTO_TEST_CASE(authorize_and_record_allocate_nothing_for_a_cached_key_with_a_slot) {
  testing_support::TempDir dir;
  Stack s(dir.path() + "/api.sqlite3");
  BOOST_REQUIRE(s.settings.store.window_store == api::StoreSettings::WindowStoreKind::kShared);
  const api::RequestInput request = typicalRequest();
  const std::string secret = warmUp(s, request);
  counting = true;
  bool all = true;
  for (int i = 0; i < 2'000; ++i) {
    all = serve(s, secret, request) && all;
  }
  counting = false;
  BOOST_TEST(all);
  BOOST_TEST(allocations == 0);
  // The counter does count: a decision on a key that is not cached allocates.
  api::CreateKeyRequest create;
  create.user_id = "u";
  create.name = "cold";
  const std::string cold = s.keys->createKey(create).secret;
  counting = true;
  s.limits->authorize(cold, 1);
  counting = false;
  BOOST_TEST(allocations > 0);
}

BOOST_AUTO_TEST_CASE(authorize_and_record_make_no_system_call_for_a_cached_key_with_a_slot) {
  // In a child process: a seccomp filter cannot be removed. What it saw comes back through
  // shared memory (writing to a pipe would itself be a trapped call).
  void* shared =
      ::mmap(nullptr, sizeof(Trapped), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  BOOST_REQUIRE(shared != MAP_FAILED);
  trapped = new (shared) Trapped{{0}, {-1}, {-1}};
  testing_support::TempDir dir;
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    try {
      // Never destroyed: the process ends under the filter, where a destructor's calls fail.
      auto* s = new Stack(dir.path() + "/api.sqlite3");
      const api::RequestInput request = typicalRequest();
      const std::string secret = warmUp(*s, request);
      if (!trapSystemCalls()) {
        trapped->result = -2;
        ::syscall(SYS_exit_group, 0);
      }
      bool all = true;
      for (int i = 0; i < 2'000; ++i) {
        all = serve(*s, secret, request) && all;
      }
      const long seen = trapped->calls.load();
      ::syscall(SYS_getppid);  // the filter does trap: one call made on purpose
      trapped->result = !all ? -4 : trapped->calls.load() != seen + 1 ? -3 : seen;
    } catch (...) {
    }
    ::syscall(SYS_exit_group, 0);  // the writer thread goes with the process
  }
  int status = 0;
  BOOST_REQUIRE(::waitpid(child, &status, 0) == child);
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0), "child status " << status);
  const long result = trapped->result.load();
  BOOST_REQUIRE_MESSAGE(result != -1, "the child did not get to measure");
  BOOST_REQUIRE_MESSAGE(result != -2, "seccomp filters are not available here");
  BOOST_TEST(result != -3, "the filter did not trap a call made on purpose");
  BOOST_TEST(result != -4, "a request was refused");
  BOOST_TEST(result == 0,
             "system calls on the request path; the first, number " << trapped->first.load());
  ::munmap(shared, sizeof(Trapped));
}

BOOST_AUTO_TEST_SUITE_END()
