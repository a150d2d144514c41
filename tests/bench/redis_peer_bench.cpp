// The peer that people use instead: a Redis sliding-window limiter in Lua, on loopback, doing
// what authorize does (the key's record looked up, its window counted) in one EVALSHA, so one
// round trip per request, the most favourable way to run it.
//
//   redis_peer_bench <port> <keys> <calls>   on a redis-server at 127.0.0.1:<port> (started
//                                            and stopped by scripts/bench): single calls
//                                            (median/p99) and pipelined (64 deep, per second)
//
// The window has the module's default shape (60 sub-windows of a minute), kept as one hash
// per key of sub-window -> count; the script drops sub-windows that slid out, as a cleanup.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr const char* kScript = R"lua(
local limit = redis.call('HGET', KEYS[1], 'limit')
if not limit then return {-1, 0} end
if redis.call('HGET', KEYS[1], 'revoked') == '1' then return {-2, 0} end
limit = tonumber(limit)
local now, s, n, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local k = math.floor(now / s)
local first = k - n + 1
local fields = redis.call('HGETALL', KEYS[2])
local used = 0
for i = 1, #fields, 2 do
  local at = tonumber(fields[i])
  if at >= first then used = used + tonumber(fields[i + 1])
  else redis.call('HDEL', KEYS[2], fields[i]) end
end
if used + cost <= limit then
  redis.call('HINCRBY', KEYS[2], k, cost)
  redis.call('PEXPIRE', KEYS[2], s * n)
  return {1, limit - used - cost}
end
return {0, limit - used}
)lua";

// A RESP connection: commands out, replies in, nothing more than this benchmark needs.
class Redis {
 public:
  explicit Redis(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      throw std::runtime_error("cannot connect to redis on 127.0.0.1:" + std::to_string(port));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Redis() { ::close(fd_); }
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  void queue(const std::vector<std::string>& args) {
    out_ += "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& a : args) {
      out_ += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    }
  }
  void send() {
    size_t at = 0;
    while (at < out_.size()) {
      const ssize_t n = ::write(fd_, out_.data() + at, out_.size() - at);
      if (n <= 0) {
        throw std::runtime_error("redis write failed");
      }
      at += static_cast<size_t>(n);
    }
    out_.clear();
  }
  // One reply; an array's first element as a number is returned (the script's verdict), a
  // bulk string as text in `text`.
  long long reply(std::string* text = nullptr) {
    const std::string line = readLine();
    switch (line.at(0)) {
      case '+':
        if (text != nullptr) {
          *text = line.substr(1);
        }
        return 0;
      case '-':
        throw std::runtime_error("redis error: " + line.substr(1));
      case ':':
        return std::stoll(line.substr(1));
      case '$': {
        const long long length = std::stoll(line.substr(1));
        if (length < 0) {
          return 0;
        }
        std::string body = readBytes(static_cast<size_t>(length) + 2);
        if (text != nullptr) {
          *text = body.substr(0, static_cast<size_t>(length));
        }
        return 0;
      }
      case '*': {
        const long long count = std::stoll(line.substr(1));
        long long first = 0;
        for (long long i = 0; i < count; ++i) {
          const long long value = reply();
          if (i == 0) {
            first = value;
          }
        }
        return first;
      }
      default:
        throw std::runtime_error("redis: unexpected reply " + line);
    }
  }

 private:
  void fill() {
    char chunk[65536];
    const ssize_t n = ::read(fd_, chunk, sizeof(chunk));
    if (n <= 0) {
      throw std::runtime_error("redis read failed");
    }
    in_.append(chunk, static_cast<size_t>(n));
  }
  std::string readLine() {
    size_t end;
    while ((end = in_.find("\r\n", at_)) == std::string::npos) {
      compact();
      fill();
    }
    std::string line = in_.substr(at_, end - at_);
    at_ = end + 2;
    return line;
  }
  std::string readBytes(size_t n) {
    while (in_.size() - at_ < n) {
      compact();
      fill();
    }
    std::string bytes = in_.substr(at_, n);
    at_ += n;
    return bytes;
  }
  void compact() {
    in_.erase(0, at_);
    at_ = 0;
  }

  int fd_ = -1;
  std::string out_;
  std::string in_;
  size_t at_ = 0;
};

long long nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void queueAuthorize(Redis& redis, const std::string& sha, int key) {
  const std::string id = std::to_string(key);
  redis.queue(
      {"EVALSHA", sha, "2", "key:" + id, "win:" + id, std::to_string(nowMs()), "60000", "60", "1"});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: redis_peer_bench <port> <keys> <calls>\n");
    return 2;
  }
  try {
    const int port = std::atoi(argv[1]);
    const int keys = std::max(1, std::atoi(argv[2]));
    const int calls = std::max(1000, std::atoi(argv[3]));
    Redis redis(port);
    redis.queue({"FLUSHALL"});
    redis.queue({"SCRIPT", "LOAD", kScript});
    redis.send();
    redis.reply();
    std::string sha;
    redis.reply(&sha);
    for (int k = 0; k < keys; ++k) {
      redis.queue({"HSET", "key:" + std::to_string(k), "limit", "1000000000", "revoked", "0"});
    }
    redis.send();
    for (int k = 0; k < keys; ++k) {
      redis.reply();
    }
    // Single calls: one request, its answer, the next.
    std::vector<double> ns;
    ns.reserve(static_cast<size_t>(calls));
    for (int i = 0; i < calls + 1000; ++i) {
      const auto start = std::chrono::steady_clock::now();
      queueAuthorize(redis, sha, i % keys);
      redis.send();
      if (redis.reply() != 1) {
        throw std::runtime_error("the limiter refused a request");
      }
      if (i >= 1000) {  // after a warm-up
        ns.push_back(
            std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                .count());
      }
    }
    std::sort(ns.begin(), ns.end());
    std::printf("redis EVALSHA single calls  median_us=%.3f p99_us=%.3f calls=%zu keys=%d\n",
                ns[ns.size() / 2] / 1000.0, ns[ns.size() * 99 / 100] / 1000.0, ns.size(), keys);
    // Pipelined: 64 requests written at once, then their answers.
    constexpr int kDepth = 64;
    const auto start = std::chrono::steady_clock::now();
    long done = 0;
    for (int round = 0; round < calls / kDepth * 4; ++round) {
      for (int i = 0; i < kDepth; ++i) {
        queueAuthorize(redis, sha, static_cast<int>((done + i) % keys));
      }
      redis.send();
      for (int i = 0; i < kDepth; ++i) {
        if (redis.reply() != 1) {
          throw std::runtime_error("the limiter refused a request");
        }
      }
      done += kDepth;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("redis EVALSHA pipelined 64  ops_per_s=%.0f calls=%ld keys=%d\n", done / seconds,
                done, keys);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "redis_peer_bench: %s\n", e.what());
    return 1;
  }
}
