#include "cli/rate_limit_commands.hpp"

#include <algorithm>

#include "cli/args.hpp"
#include "cli/output.hpp"
#include "domain/errors.hpp"
#include "domain/limits.hpp"
#include "present/documents.hpp"
#include "services/services.hpp"
#include "systemprompt/module_abi.h"
#include "util/text.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

constexpr int kBarWidth = 20;

std::string usageBar(std::int64_t used, std::int64_t limit) {
  const std::int64_t filled =
      limit <= 0 ? kBarWidth : std::min<std::int64_t>(kBarWidth, used * kBarWidth / limit);
  return "[" + std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(kBarWidth - filled), '-') + "]";
}

std::int64_t percent(std::int64_t used, std::int64_t limit) {
  return limit <= 0 ? 100 : used * 100 / limit;
}

}  // namespace

std::string limitStatusText(const LimitStatus& s, TimePoint now, std::int64_t sub_windows,
                            const OutputStyle& style) {
  const std::int64_t pct = percent(s.used, s.limit);
  Table t({"  Limit", std::to_string(s.limit) + " requests per " + formatWindow(s.window_size_ms)});
  t.add({"  Used", std::to_string(s.used) + " (" + std::to_string(pct) + "%)"});
  t.add({"  Remaining", std::to_string(s.remaining)});
  t.add({"  Usage", usageBar(s.used, s.limit) + " " + std::to_string(pct) + "%"});
  if (pct >= 90) {
    t.colour(1, Colour::kYellow);
  }
  // At most 75 columns with both dates, so an 80-column terminal shows it on one line.
  t.add({"  Window", shortTimeRange(s.window_start, s.window_end) + " (" +
                         std::to_string(sub_windows) + " steps of " +
                         formatWindow(WindowShape{s.window_size_ms, sub_windows}.subWindowMs()) +
                         ")"});
  t.add({"  Next slot", s.used == 0 ? std::string("nothing counted in this window")
                                    : "frees in " + formatSpan(s.reset_at - now) + " (" +
                                          formatIsoUtc(s.reset_at) + ")"});
  std::string text = t.render(style);
  const std::string warning = coloured("warning:", Colour::kYellow, style);
  if (s.used > s.limit) {
    text += warning +
            " usage is above the limit (it was lowered); requests are refused\n"
            "         until usage falls below " +
            std::to_string(s.limit) + "\n";
  } else if (pct >= 90) {
    text += warning + " " + std::to_string(pct) + "% of the limit is used\n";
  }
  return text;
}

int rateLimitStatus(const Services& services, const CommandArgs& args, const Terminal& terminal) {
  const OutputFormat format = parseFormat(args.string("format"));
  const std::string id = args.string("key_id").value_or("");
  const KeyRecord key = services.keys.getKey(id);
  const LimitStatus status = services.limits.status(id);
  const TimePoint now = services.clock.now();
  if (format == OutputFormat::kJson) {
    terminal.out(jsonLine(limitStatusObject(status, now, id)));
  } else {
    const OutputStyle style = outputStyle(terminal, args.flag("wide"));
    // The name takes what the rest of the heading leaves, as a table's cut cell would.
    const std::string heading = "Rate limit of key " + key.id + " (";
    const size_t used = displayWidth(heading) + 1;  // and the ")"
    const size_t room =
        std::max(style.width > used ? style.width - used : 0, Table::kMinShrunkColumns);
    terminal.out(heading + fitted(key.name, room, style) + ")\n" +
                 limitStatusText(status, now, services.settings.rate_limit_sub_windows, style));
  }
  return SP_EXIT_OK;
}

int rateLimitReset(const Services& services, const CommandArgs& args, const Terminal& terminal) {
  const std::string id = args.string("key_id").value_or("");
  const KeyRecord key = services.keys.getKey(id);  // a clear error before asking
  if (!confirm(terminal,
               "Reset the rate limit of key " + id + " (" + key.name +
                   ")? Its counted requests are forgotten.",
               args.flag("force"), "reset the rate limit of " + id)) {
    terminal.err("Not reset.\n");
    return SP_EXIT_FAILURE;
  }
  const std::int64_t cleared = services.limits.reset(id, cliActor());
  terminal.out("Rate limit of key " + id + " reset: " + std::to_string(cleared) +
               (cleared == 1 ? " request" : " requests") + " cleared.\n");
  return SP_EXIT_OK;
}

int rateLimitUpdate(const Services& services, const CommandArgs& args, const Terminal& terminal) {
  const std::string id = args.string("key_id").value_or("");
  const auto new_limit = args.integer("new_limit", "<new_limit>");
  if (!new_limit) {
    throw InvalidInput("missing <new_limit>");
  }
  const std::int64_t old_limit = services.limits.update(id, *new_limit, cliActor());
  const LimitStatus status = services.limits.status(id);
  const std::string window = formatWindow(services.settings.rate_limit_window_ms);
  std::string text = "Rate limit of key " + id + " updated: " + std::to_string(old_limit) + " -> " +
                     std::to_string(*new_limit) + " requests per " + window +
                     ".\nCurrent usage: " + std::to_string(status.used) + " in this window.\n";
  if (status.used > *new_limit) {
    text +=
        "warning: current usage is above the new limit; requests are refused until it\n"
        "         falls below " +
        std::to_string(*new_limit) + "\n";
  }
  terminal.out(text);
  return SP_EXIT_OK;
}

}  // namespace api
