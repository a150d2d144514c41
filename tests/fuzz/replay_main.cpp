// Runs a fuzz target over files, without libFuzzer: what the normal build links instead of
// -fsanitize=fuzzer, so every seed and every crash reproducer runs in the test suite.
//
//   fuzz_replay_<target> <file or directory>...
//
// Exit 0 when every file ran (a failed property aborts), 1 when a path cannot be read or
// none of them held a file: a replay that ran nothing must not pass.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

namespace {

bool runFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  std::printf("replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
  std::fflush(stdout);
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) {
    LLVMFuzzerInitialize(&argc, &argv);
  }
  size_t ran = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        if (entry.is_regular_file()) {
          files.push_back(entry.path());
        }
      }
      std::sort(files.begin(), files.end());
      for (const auto& file : files) {
        if (!runFile(file)) {
          return 1;
        }
        ++ran;
      }
    } else {
      if (!runFile(path)) {
        return 1;
      }
      ++ran;
    }
  }
  if (ran == 0) {
    std::fprintf(stderr, "replay: no input files in the paths given\n");
    return 1;
  }
  std::printf("replay: %zu inputs, every property held\n", ran);
  return 0;
}
