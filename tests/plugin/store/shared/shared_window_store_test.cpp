// SharedWindowStore: RateLimitService deciding on the shared-memory segment, checked against
// the brute-force model, from threads and from processes; a lock holder killed mid-change; a
// foreign or damaged segment; keys that find no slot or outgrow theirs; durability.
#include "store/shared/shared_window_store.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <map>
#include <thread>

#include "limit_answers.hpp"
#include "services/rate_limit_service.hpp"
#include "store_fixture.hpp"
#include "window_oracle.hpp"

namespace {

using namespace std::chrono_literals;

// One "process": a connection, its key service and a limiter on a shared segment.
struct SharedNode {
  SharedNode(const std::string& db, const std::string& segment, const api::ApiSettings& settings,
             const api::Clock& clock, std::int64_t slots = 1024,
             std::function<void()> mid_update = {})
      : node(db, settings, clock),
        windows(options(segment, settings, slots, std::move(mid_update)), node.store.windows()),
        limits(settings, windows, node.store.keys(), clock, node.logger, node.keys) {}

  api::SharedWindowStore::Options options(const std::string& path, const api::ApiSettings& settings,
                                          std::int64_t slots, std::function<void()> mid_update) {
    api::SharedWindowStore::Options o;
    o.path = path;
    o.slots = slots;
    o.shape = settings.rate_limits.windowShape();
    o.warn = [this](const std::string& what) { warnings.push_back(what); };
    o.mid_update = std::move(mid_update);
    return o;
  }

  std::vector<std::string> warnings;
  testing_support::ServiceNode node;
  api::SharedWindowStore windows;
  api::RateLimitService limits;
};

struct Fixture : testing_support::StoreFixture {
  Fixture() : StoreFixture("2026-01-01T10:00:00.000Z") {}

  std::string segment = path + "-ratelimit";

  std::string newKey(api::ApiKeyService& keys, std::int64_t limit) {
    api::CreateKeyRequest r;
    r.user_id = "u";
    r.name = "k";
    r.rate_limit = limit;
    return keys.createKey(r).key.id;
  }
  void window(std::int64_t window_ms, std::int64_t sub_windows) {
    settings.rate_limits.window_ms = window_ms;
    settings.rate_limits.sub_windows = sub_windows;
  }
};

// The limiter on a shared segment, one key per sequence, as window_oracle.hpp's system.
struct SharedUnderTest {
  Fixture& f;
  SharedNode& node;
  const testing_support::WindowSequence& sequence;
  std::string key;

  void setNow(std::int64_t ms) { f.clock.set(api::TimePoint(std::chrono::milliseconds(ms))); }
  void updateLimit(std::int64_t limit) { node.limits.update(key, limit, "test"); }
  void reset() { node.limits.reset(key, "test"); }
  void cleanup() {  // what ApiModule::cleanup runs
    node.windows.deleteEnded(
        f.clock.now() - std::chrono::milliseconds(sequence.sub_ms * sequence.n), sequence.sub_ms);
  }
  testing_support::WindowAnswer decide(std::int64_t cost, bool consume) {
    return testing_support::windowAnswerOf(consume ? node.limits.check(key, cost)
                                                   : node.limits.peek(key, cost));
  }
  testing_support::WindowStatusAnswer status() {
    return testing_support::windowStatusOf(node.limits.status(key));
  }
};

// Admitted checks of `key` out of `attempts`, in a process of its own; the count comes back
// through a pipe.
pid_t hammerInChild(Fixture& f, const std::string& key, int attempts, int pipe_out) {
  const pid_t child = ::fork();
  if (child != 0) {
    return child;
  }
  int admitted = -1;
  try {
    SharedNode node(f.path, f.segment, f.settings, f.clock);
    admitted = 0;
    for (int i = 0; i < attempts; ++i) {
      admitted += node.limits.check(key).allowed ? 1 : 0;
    }
  } catch (...) {
  }
  const ssize_t written = ::write(pipe_out, &admitted, sizeof(admitted));
  ::_exit(written == sizeof(admitted) ? 0 : 1);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(shared_window_store, Fixture)

BOOST_AUTO_TEST_CASE(agrees_with_the_reference_model_on_random_sequences) {
  testing_support::WindowSequenceGenerator generator(20261207);
  std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<SharedNode>> nodes;
  std::int64_t decisions = 0;
  for (int sequence = 0; sequence < 1500; ++sequence) {
    const testing_support::WindowSequence s =
        generator.next(clock.now().time_since_epoch().count());
    window(s.sub_ms * s.n, s.n);
    auto& node = nodes[{s.sub_ms, s.n}];
    if (!node) {  // a segment per window shape, as a configuration has one
      node = std::make_unique<SharedNode>(
          path, segment + "-" + std::to_string(s.sub_ms) + "-" + std::to_string(s.n), settings,
          clock);
    }
    SharedUnderTest system{*this, *node, s, newKey(node->node.keys, s.limit)};
    const std::string failure = testing_support::runWindowSequence(s, system, decisions);
    BOOST_REQUIRE_MESSAGE(failure.empty(), "sequence " << sequence << ": " << failure);
  }
  BOOST_TEST(decisions > 40'000);
  for (const auto& [shape, node] : nodes) {
    BOOST_TEST(node->warnings.empty());
    BOOST_TEST(node->windows.stats().fallbacks == 0);
  }
}

BOOST_AUTO_TEST_CASE(threads_on_one_key_admit_exactly_the_limit) {
  SharedNode node(path, segment, settings, clock);
  for (int round = 0; round < 3; ++round) {
    const std::string key = newKey(node.node.keys, 1000);
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 400; ++i) {
          admitted += node.limits.check(key).allowed ? 1 : 0;
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    BOOST_TEST(admitted.load() == 1000, "round " << round);
    BOOST_TEST(node.limits.status(key).used == 1000);
  }
}

BOOST_AUTO_TEST_CASE(processes_on_one_key_admit_exactly_the_limit) {
  std::string key;
  {
    SharedNode node(path, segment, settings, clock);
    key = newKey(node.node.keys, 1000);
  }
  for (int round = 0; round < 2; ++round) {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    std::vector<pid_t> children;
    for (int p = 0; p < 3; ++p) {
      children.push_back(hammerInChild(*this, key, 500, fds[1]));
    }
    ::close(fds[1]);
    int total = 0;
    for (pid_t child : children) {
      int status = 0;
      ::waitpid(child, &status, 0);
      BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
      int admitted = -1;
      BOOST_REQUIRE(::read(fds[0], &admitted, sizeof(admitted)) == sizeof(admitted));
      BOOST_TEST(admitted >= 0);
      total += admitted;
    }
    ::close(fds[0]);
    BOOST_TEST(total == 1000, "round " << round);
    SharedNode node(path, segment, settings, clock);
    BOOST_TEST(node.limits.status(key).used == 1000);
    node.limits.reset(key, "test");
  }
}

BOOST_AUTO_TEST_CASE(a_holder_killed_mid_count_wedges_nobody_and_its_count_is_rolled_back) {
  SharedNode node(path, segment, settings, clock);
  const std::string key = newKey(node.node.keys, 10);
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(node.limits.check(key).allowed);
  }
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    // Killed with the slot's lock held, mid-change.
    SharedNode killed(path, segment, settings, clock, 1024, [] { ::raise(SIGKILL); });
    killed.limits.check(key);
    ::_exit(0);  // not reached
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  BOOST_REQUIRE(WIFSIGNALED(status));
  BOOST_TEST(WTERMSIG(status) == SIGKILL);
  // The next locker is told the owner died, rolls the half-done count back, and goes on.
  BOOST_TEST(node.limits.status(key).used == 3);
  BOOST_TEST(node.limits.check(key).allowed);
  BOOST_TEST(node.limits.status(key).used == 4);
}

BOOST_AUTO_TEST_CASE(a_reset_cut_short_by_a_kill_is_finished_by_the_next_locker) {
  SharedNode node(path, segment, settings, clock);
  const std::string key = newKey(node.node.keys, 10);
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(node.limits.check(key).allowed);
  }
  node.windows.sync();  // the database holds the 5 too
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    SharedNode killed(path, segment, settings, clock, 1024, [] { ::raise(SIGKILL); });
    killed.windows.reset(key);
    ::_exit(0);  // not reached
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  BOOST_REQUIRE(WIFSIGNALED(status));
  BOOST_TEST(node.limits.status(key).used == 0);
  node.windows.sync();  // the database forgot the 5 before the slot was cleared
  api::RateLimitService on_database(settings, node.node.store.windows(), node.node.store.keys(),
                                    clock, node.node.logger, node.node.keys);
  BOOST_TEST(on_database.status(key).used == 0);
  for (int i = 0; i < 10; ++i) {
    BOOST_TEST(node.limits.check(key).allowed);
  }
  BOOST_TEST(!node.limits.check(key).allowed);
}

BOOST_AUTO_TEST_CASE(counts_outlive_the_processes_and_reach_the_database_at_sync) {
  std::string key;
  {
    SharedNode node(path, segment, settings, clock);
    key = newKey(node.node.keys, 10);
    for (int i = 0; i < 4; ++i) {
      BOOST_REQUIRE(node.limits.check(key).allowed);
    }
  }  // no sync: the counts are in the file only
  SharedNode node(path, segment, settings, clock);
  BOOST_TEST(node.limits.status(key).used == 4);
  api::RateLimitService on_database(settings, node.node.store.windows(), node.node.store.keys(),
                                    clock, node.node.logger, node.node.keys);
  BOOST_TEST(on_database.status(key).used == 0);
  // This process counted nothing: at its shutdown it leaves the write-back to cleanup.
  BOOST_TEST(node.windows.sync() == 0);
  BOOST_TEST(on_database.status(key).used == 0);
  // Cleanup, in any process, writes back what every process counted.
  node.windows.deleteEnded(clock.now() - std::chrono::milliseconds(settings.rate_limits.window_ms),
                           settings.rate_limits.windowShape().subWindowMs());
  BOOST_TEST(on_database.status(key).used == 4);
  BOOST_REQUIRE(node.limits.check(key).allowed);
  BOOST_TEST(node.windows.sync() == 1);  // now it counted one, and writes it back
  BOOST_TEST(on_database.status(key).used == 5);
  BOOST_TEST(node.windows.sync() == 0);  // nothing changed since
}

BOOST_AUTO_TEST_CASE(a_foreign_or_damaged_segment_is_replaced_and_synced_counts_are_kept) {
  std::string key;
  {
    SharedNode node(path, segment, settings, clock);
    key = newKey(node.node.keys, 10);
    for (int i = 0; i < 6; ++i) {
      BOOST_REQUIRE(node.limits.check(key).allowed);
    }
    node.windows.sync();
    BOOST_TEST(node.warnings.empty());
  }
  const std::vector<std::pair<std::string, std::string>> cases{
      {"garbage over the header", "not a rate-limit segment"},
      {"truncated", "too short"},
  };
  for (const auto& [what, expected] : cases) {
    if (what == "truncated") {
      BOOST_REQUIRE(::truncate(segment.c_str(), 100) == 0);
    } else {
      std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
      const std::string garbage(4096, 'Z');
      file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    SharedNode node(path, segment, settings, clock);
    BOOST_REQUIRE_MESSAGE(node.warnings.size() == 1, what);
    BOOST_TEST(node.warnings[0].find(expected) != std::string::npos, node.warnings[0]);
    BOOST_TEST(node.warnings[0].find(segment) != std::string::npos);
    // The written-back counts are loaded when the key is given a slot in the new segment.
    BOOST_TEST(node.limits.status(key).used == 6, what);
    for (int i = 0; i < 4; ++i) {
      BOOST_TEST(node.limits.check(key).allowed, what);
    }
    BOOST_TEST(!node.limits.check(key).allowed, what);
    node.limits.reset(key, "test");
    for (int i = 0; i < 6; ++i) {
      BOOST_REQUIRE(node.limits.check(key).allowed);
    }
    node.windows.sync();
  }
  // A file grown past its layout is damaged: replaced even while a store maps it, which
  // finds it retired at its next call and moves to the new one, so both count together.
  {
    SharedNode mapping(path, segment, settings, clock);
    BOOST_REQUIRE(mapping.limits.check(key).allowed);  // 7 of 10
    mapping.windows.sync();
    struct stat st {};
    BOOST_REQUIRE(::stat(segment.c_str(), &st) == 0);
    BOOST_REQUIRE(::truncate(segment.c_str(), st.st_size + 4096) == 0);
    SharedNode replacing(path, segment, settings, clock);
    BOOST_REQUIRE(replacing.warnings.size() == 1);
    BOOST_TEST(replacing.warnings[0].find("truncated or damaged") != std::string::npos,
               replacing.warnings[0]);
    BOOST_TEST(replacing.limits.check(key).allowed);  // 8, loaded from the database
    BOOST_TEST(mapping.limits.check(key).allowed);    // 9, in the new file
    BOOST_TEST(replacing.limits.check(key).allowed);  // 10
    BOOST_TEST(!mapping.limits.check(key).allowed);
    BOOST_TEST(mapping.warnings.empty());
  }
  // Another window configuration: refused while a process maps the file (two sets of
  // processes configured apart would otherwise replace each other's file at every call),
  // replaced once none does.
  {
    SharedNode old_shape(path, segment, settings, clock);
    BOOST_TEST(old_shape.warnings.empty());
    api::ApiSettings other = settings;  // another process's configuration
    other.rate_limits.sub_windows = 30;
    BOOST_CHECK_EXCEPTION(
        SharedNode(path, segment, other, clock), api::StoreError, [](const api::StoreError& e) {
          return std::string(e.what()).find("processes still use it") != std::string::npos &&
                 std::string(e.what()).find("counts 60 sub-windows") != std::string::npos;
        });
    BOOST_TEST(old_shape.limits.status(key).used == 10);  // unharmed
  }
  api::ApiSettings other = settings;
  other.rate_limits.sub_windows = 30;
  SharedNode new_shape(path, segment, other, clock);
  BOOST_REQUIRE(new_shape.warnings.size() == 1);
  BOOST_TEST(new_shape.warnings[0].find("counts 60 sub-windows") != std::string::npos,
             new_shape.warnings[0]);
}

BOOST_AUTO_TEST_CASE(a_key_that_finds_no_slot_is_decided_exactly_on_the_database) {
  SharedNode node(path, segment, settings, clock, /*slots=*/40);
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    keys.push_back(newKey(node.node.keys, 3));
  }
  std::vector<std::string> homeless;
  for (const std::string& key : keys) {
    const std::int64_t before = node.windows.stats().fallbacks;
    BOOST_REQUIRE(node.limits.check(key).allowed);
    if (node.windows.stats().fallbacks != before) {
      homeless.push_back(key);
    }
  }
  BOOST_TEST(node.windows.stats().in_use == 40);
  BOOST_REQUIRE(homeless.size() == 20u);
  const std::string& key = homeless.front();
  BOOST_TEST(node.limits.check(key).allowed);
  BOOST_TEST(node.limits.check(key).allowed);
  BOOST_TEST(!node.limits.check(key).allowed);  // 3 of 3, counted on the database
  // Slots freed (as a revoked key's windows are forgotten): the key gets one, loaded from the
  // database, and its count carries over exactly.
  for (int i = 0; i < 30; ++i) {
    node.windows.forget(keys[static_cast<size_t>(i)]);
  }
  BOOST_TEST(node.windows.stats().in_use == 10);
  const std::int64_t fallbacks = node.windows.stats().fallbacks;
  BOOST_TEST(!node.limits.check(key).allowed);
  BOOST_TEST(node.windows.stats().fallbacks == fallbacks);  // decided in a slot this time
  BOOST_TEST(node.limits.status(key).used == 3);
}

BOOST_AUTO_TEST_CASE(a_slot_outgrown_after_clock_steps_back_moves_its_key_to_the_database) {
  window(60'000, 1);  // one sub-window per window: 64 entries a slot
  SharedNode node(path, segment, settings, clock);
  const std::string shared_key = newKey(node.node.keys, 1000);
  api::RateLimitService on_database(settings, node.node.store.windows(), node.node.store.keys(),
                                    clock, node.node.logger, node.node.keys);
  const std::string database_key = newKey(node.node.keys, 1000);
  const api::TimePoint start = clock.now();
  // Each check a window earlier than the one before: every earlier count stays ahead of
  // the clock, so none can be dropped, and the 65th does not fit.
  for (int i = 0; i < 80; ++i) {
    clock.set(start - std::chrono::milliseconds(60'000LL * i));
    const api::LimitDecision a = node.limits.check(shared_key);
    const api::LimitDecision b = on_database.check(database_key);
    BOOST_REQUIRE_MESSAGE(a.allowed == b.allowed && a.remaining == b.remaining &&
                              a.reset_at == b.reset_at && a.retry_after == b.retry_after,
                          "check " << i);
  }
  BOOST_TEST(node.windows.stats().spills == 1);
  BOOST_TEST(node.limits.status(shared_key).used == on_database.status(database_key).used);
}

BOOST_AUTO_TEST_CASE(a_failed_write_back_leaves_its_changes_for_the_next_and_checks_go_on) {
  testing_support::ServiceNode impatient(path, settings, clock, 0 /* no busy wait */);
  api::SharedWindowStore::Options o;
  o.path = segment;
  o.slots = 1024;
  o.shape = settings.rate_limits.windowShape();
  api::SharedWindowStore windows(o, impatient.store.windows());
  api::RateLimitService limits(settings, windows, impatient.store.keys(), clock, impatient.logger,
                               impatient.keys);
  api::RateLimitService on_database(settings, impatient.store.windows(), impatient.store.keys(),
                                    clock, impatient.logger, impatient.keys);
  const std::string key = newKey(impatient.keys, 10);
  BOOST_REQUIRE(limits.check(key).allowed);
  BOOST_REQUIRE(limits.check(key).allowed);
  {
    api::SqliteDb locker(path);
    locker.exec("BEGIN IMMEDIATE", "holding the write lock");
    BOOST_CHECK_THROW(windows.sync(), api::StoreError);
    // A check does not need the database: it goes on while another process holds it.
    BOOST_TEST(limits.check(key).allowed);
    locker.exec("ROLLBACK", "releasing it");
  }
  BOOST_TEST(on_database.status(key).used == 0);
  BOOST_TEST(windows.sync() == 1);  // what the failed write-back read, and the check since
  BOOST_TEST(on_database.status(key).used == 3);
  BOOST_TEST(windows.sync() == 0);
}

BOOST_AUTO_TEST_CASE(cleanup_frees_the_slots_of_idle_and_revoked_keys) {
  SharedNode node(path, segment, settings, clock);
  // The key service of a module forgets a revoked key's windows in the same store.
  api::ApiKeyService keys(settings, node.node.store.keys(), node.node.store.keys(), node.windows,
                          clock, node.node.logger);
  const std::string idle = newKey(keys, 10);
  const std::string busy = newKey(keys, 10);
  const std::string revoked = newKey(keys, 10);
  for (const std::string& key : {idle, busy, revoked}) {
    BOOST_REQUIRE(node.limits.check(key).allowed);
  }
  BOOST_TEST(node.windows.stats().in_use == 3);
  keys.revokeKey(revoked, "test", "test");
  BOOST_TEST(node.windows.stats().in_use == 2);
  // A whole window later `busy` counts again and `idle` does not: cleanup frees idle's slot,
  // having written its counts back (which the database's own cleanup then deletes).
  clock.set(clock.now() + std::chrono::milliseconds(settings.rate_limits.window_ms) + 1min);
  BOOST_REQUIRE(node.limits.check(busy).allowed);
  node.windows.deleteEnded(clock.now() - std::chrono::milliseconds(settings.rate_limits.window_ms),
                           settings.rate_limits.windowShape().subWindowMs());
  BOOST_TEST(node.windows.stats().in_use == 1);
  BOOST_TEST(node.limits.status(busy).used == 1);
  BOOST_TEST(node.limits.status(idle).used == 0);
  BOOST_TEST(node.limits.check(idle).allowed);  // given a slot again
  BOOST_TEST(node.windows.stats().in_use == 2);
}

BOOST_AUTO_TEST_SUITE_END()
