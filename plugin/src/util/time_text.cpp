#include "util/time_text.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace api {
namespace {

using namespace std::chrono;

bool digits(std::string_view text, size_t at, size_t count, int& out) {
  if (at + count > text.size()) {
    return false;
  }
  out = 0;
  for (size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return false;
    }
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

}  // namespace

std::string formatIsoUtc(TimePoint t) {
  if (t < kEarliestTime || t > kLatestTime) {
    throw std::out_of_range("time " + std::to_string(t.time_since_epoch().count()) +
                            " ms since 1970 is outside the years 0000..9999 that can be written");
  }
  const auto day = floor<days>(t);
  const year_month_day ymd(day);
  const hh_mm_ss<milliseconds> tod(t - day);
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                static_cast<int>(tod.subseconds().count()));
  return buffer;
}

std::optional<TimePoint> parseIsoUtc(std::string_view text) noexcept {
  int y = 0;
  int mo = 0;
  int d = 0;
  int h = 0;
  int mi = 0;
  int s = 0;
  int ms = 0;
  if (text.size() < 19 || !digits(text, 0, 4, y) || text[4] != '-' || !digits(text, 5, 2, mo) ||
      text[7] != '-' || !digits(text, 8, 2, d) || (text[10] != 'T' && text[10] != ' ') ||
      !digits(text, 11, 2, h) || text[13] != ':' || !digits(text, 14, 2, mi) || text[16] != ':' ||
      !digits(text, 17, 2, s)) {
    return std::nullopt;
  }
  size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    int frac = 0;
    size_t n = 0;
    while (at + 1 + n < text.size() && text[at + 1 + n] >= '0' && text[at + 1 + n] <= '9') {
      if (n < 3) {
        frac = frac * 10 + (text[at + 1 + n] - '0');
      }
      ++n;
    }
    if (n == 0) {
      return std::nullopt;
    }
    for (size_t k = n; k < 3; ++k) {
      frac *= 10;
    }
    ms = frac;
    at += 1 + n;
  }
  // A zone: Z, or an offset +HH:MM / +HHMM / +HH (SQLite and other systems write these).
  int offset_minutes = 0;
  if (at < text.size() && text[at] == 'Z') {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    const int sign = text[at] == '-' ? -1 : 1;
    int oh = 0;
    int om = 0;
    if (!digits(text, at + 1, 2, oh)) {
      return std::nullopt;
    }
    at += 3;
    if (at < text.size() && text[at] == ':') {
      ++at;
    }
    if (at < text.size()) {
      if (!digits(text, at, 2, om)) {
        return std::nullopt;
      }
      at += 2;
    }
    if (oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (oh * 60 + om);
  }
  if (at != text.size()) {
    return std::nullopt;
  }
  const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)),
                           day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) {
    return std::nullopt;
  }
  const TimePoint t =
      time_point_cast<milliseconds>(sys_days(ymd) + hours(h) + minutes(mi) + seconds(s) +
                                    milliseconds(ms) - minutes(offset_minutes));
  if (t < kEarliestTime || t > kLatestTime) {
    return std::nullopt;  // an offset took it outside what formatIsoUtc can write back
  }
  return t;
}

std::string formatSpan(milliseconds span) {
  // The magnitude, in whole seconds: negating the span itself would overflow for the most
  // negative one.
  const auto signed_s = duration_cast<seconds>(span).count();
  const auto total_s = signed_s < 0 ? -signed_s : signed_s;
  const auto dd = total_s / 86400;
  const auto hh = (total_s % 86400) / 3600;
  const auto mm = (total_s % 3600) / 60;
  const auto ss = total_s % 60;
  char buffer[64];
  if (dd > 0) {
    std::snprintf(buffer, sizeof(buffer), "%lldd %lldh", static_cast<long long>(dd),
                  static_cast<long long>(hh));
  } else if (hh > 0) {
    std::snprintf(buffer, sizeof(buffer), "%lldh %lldm", static_cast<long long>(hh),
                  static_cast<long long>(mm));
  } else if (mm > 0) {
    std::snprintf(buffer, sizeof(buffer), "%lldm %llds", static_cast<long long>(mm),
                  static_cast<long long>(ss));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%llds", static_cast<long long>(ss));
  }
  return buffer;
}

}  // namespace api
