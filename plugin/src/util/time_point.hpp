// The one representation of a wall-clock time in the module: milliseconds since the Unix
// epoch, UTC. Here, below domain/, so that the time codecs in util/ need nothing above them.
#pragma once

#include <chrono>

namespace api {

using TimePoint = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

}  // namespace api
