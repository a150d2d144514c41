#include "cli.hpp"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <map>
#include <sstream>

#include "text.hpp"

namespace host {
namespace {

namespace json = boost::json;

// `text` as a JSON value of `type`; errors echo `text` exactly as given.
json::value typedValue(ValueType type, const std::string& text, const std::string& what) {
  const std::string invalid = "invalid value " + quotedText(text) + " for " + what;
  if (type == ValueType::kInteger) {
    if (const auto integer = parseInteger(text)) {
      return *integer;
    }
    const std::string_view digits = std::string_view(text).substr(text.starts_with('-') ? 1 : 0);
    const bool too_large =
        !digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos;
    throw UsageError(invalid + ": expected a whole number" +
                     (too_large ? " from -9223372036854775808 to 9223372036854775807" : ""));
  }
  if (type == ValueType::kNumber) {
    if (const auto integer = parseInteger(text)) {
      return *integer;
    }
    if (const auto number = parseNumber(text)) {
      return *number;
    }
    throw UsageError(invalid + ": expected a number");
  }
  return json::value(text);
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) {
    s.append(width - s.size(), ' ');
  }
  return s;
}

std::string usageLine(const CommandSpec& command) {
  std::string line = "prompt " + command.name;
  for (const PositionalSpec& p : command.positionals) {
    line += p.required ? " <" + p.name + ">" : " [<" + p.name + ">]";
  }
  for (const OptionSpec& o : command.options) {
    std::string word = "--" + o.name;
    if (o.type != ValueType::kBoolean) {
      word += " <" + std::string(valueTypeName(o.type)) + ">";
    }
    line += o.required ? " " + word : " [" + word + "]";
  }
  return line;
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

void checkArgumentSizes(const std::vector<std::string>& words) {
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word.size() <= kMaxArgumentBytes) {
      continue;
    }
    std::string where = "argument " + std::to_string(i + 1);
    if (word.starts_with("--") && word.find('=') != std::string::npos && word.find('=') <= 42) {
      where += " (" + quotedText(word.substr(0, word.find('='))) + "=...)";
    } else if (i > 0 && words[i - 1].starts_with("-") && words[i - 1].size() <= 42) {
      where += " (the value after " + quotedText(words[i - 1]) + ")";
    } else {
      where += " (starting " + quotedText(word.substr(0, 16)) + "...)";
    }
    throw UsageError(where + " is " + std::to_string(word.size()) + " bytes long; at most " +
                     std::to_string(kMaxArgumentBytes) + " bytes are accepted in one argument");
  }
}

ParsedArgs parseCommandArgs(const CommandSpec& command, const std::vector<std::string>& args) {
  const std::string retry = "; see 'prompt " + command.name + " --help'";
  const auto fail = [&](const std::string& what) -> void {
    throw UsageError(command.name + ": " + what + retry);
  };
  const auto unknown = [&](const std::string& option) {
    std::vector<std::string> known{"--help"};
    for (const OptionSpec& o : command.options) {
      known.push_back("--" + o.name);
    }
    std::string message = "unknown option " + quotedText(option);
    const auto near = suggest(option, known);
    if (!near.empty() && option.starts_with("--")) {
      message += "; did you mean " + near.front() + "?";
    }
    fail(message);
  };
  const auto byName = [&](std::string_view name) -> const OptionSpec* {
    for (const OptionSpec& o : command.options) {
      if (o.name == name) {
        return &o;
      }
    }
    return nullptr;
  };
  const auto byAlias = [&](char alias) -> const OptionSpec* {
    for (const OptionSpec& o : command.options) {
      if (o.alias.size() == 1 && o.alias[0] == alias) {
        return &o;
      }
    }
    return nullptr;
  };
  const bool has_digit_alias = std::any_of(
      command.options.begin(), command.options.end(),
      [](const OptionSpec& o) { return o.alias.size() == 1 && std::isdigit(o.alias[0]) != 0; });

  bool help = false;
  std::map<std::string, std::string> given;  // option name -> its text ("" for a flag)
  std::vector<std::string> positionals;
  const auto take = [&](const OptionSpec& o, std::string text) {
    if (!given.emplace(o.name, std::move(text)).second) {
      fail("--" + o.name + " is given more than once");
    }
  };
  bool options_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    // "-" is a value (stdin), and so is "-5" unless a digit is an alias.
    const bool negative_number = word.size() > 1 && word[0] == '-' &&
                                 std::isdigit(static_cast<unsigned char>(word[1])) != 0 &&
                                 !has_digit_alias;
    if (options_ended || word.size() < 2 || word[0] != '-' || negative_number) {
      positionals.push_back(word);
      continue;
    }
    if (word == "--") {
      options_ended = true;
      continue;
    }
    if (word[1] == '-') {  // --name, --name=value, --name value
      const auto eq = word.find('=');
      const std::string name = word.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      const OptionSpec* o = byName(name);
      if (name == "help" || (o != nullptr && o->type == ValueType::kBoolean)) {
        if (eq != std::string::npos) {
          fail("--" + name + " takes no value, got " + quotedText(word));
        }
        if (name == "help") {
          help = true;
        } else {
          take(*o, "");
        }
        continue;
      }
      if (o == nullptr) {
        unknown(word.substr(0, eq));
      }
      if (eq != std::string::npos) {
        take(*o, word.substr(eq + 1));
      } else if (i + 1 < args.size()) {
        take(*o, args[++i]);
      } else {
        fail("--" + name + " needs a value");
      }
      continue;
    }
    // -n value, -nvalue, and flags together: -af table
    for (size_t k = 1; k < word.size(); ++k) {
      const char alias = word[k];
      if (alias == 'h') {
        help = true;
        continue;
      }
      const OptionSpec* o = byAlias(alias);
      if (o == nullptr) {
        unknown(std::string("-") + alias);
      }
      if (o->type == ValueType::kBoolean) {
        take(*o, "");
        continue;
      }
      if (k + 1 < word.size()) {
        take(*o, word.substr(k + 1));
      } else if (i + 1 < args.size()) {
        take(*o, args[++i]);
      } else {
        fail("-" + std::string(1, alias) + " (--" + o->name + ") needs a value");
      }
      break;
    }
  }

  ParsedArgs parsed;
  parsed.help = help;
  if (parsed.help) {
    return parsed;
  }
  if (positionals.size() > command.positionals.size()) {
    std::string accepted;
    for (const PositionalSpec& p : command.positionals) {
      accepted += (accepted.empty() ? " (<" : " <") + p.name + ">";
    }
    fail("unexpected argument " + quotedText(positionals[command.positionals.size()]) +
         ": it takes " + std::to_string(command.positionals.size()) + " positional argument" +
         (command.positionals.size() == 1 ? "" : "s") + (accepted.empty() ? "" : accepted + ")"));
  }
  json::object out;
  for (const OptionSpec& o : command.options) {
    const std::string flag = "--" + o.name;
    const auto it = given.find(o.name);
    if (o.type == ValueType::kBoolean) {
      out[o.name] = it != given.end();
      continue;
    }
    std::optional<std::string> text;
    if (it != given.end()) {
      text = it->second;
      if (!isValidUtf8(*text)) {
        throw UsageError(flag + " is not valid UTF-8");
      }
    } else if (o.default_value) {
      text = *o.default_value;
    } else if (o.required) {
      fail("missing required option " + flag);
    }
    if (text) {
      out[o.name] = typedValue(o.type, *text, flag);
    }
  }
  for (size_t i = 0; i < command.positionals.size(); ++i) {
    const PositionalSpec& p = command.positionals[i];
    if (i >= positionals.size()) {
      if (p.required) {
        fail("missing required argument <" + p.name + ">");
      }
      continue;
    }
    const std::string& text = positionals[i];
    if (!isValidUtf8(text)) {
      throw UsageError("<" + p.name + "> is not valid UTF-8");
    }
    out[p.name] = typedValue(p.type, text, "<" + p.name + ">");
  }
  parsed.args_json = json::serialize(out);
  return parsed;
}

std::string commandHelp(const CommandSpec& command) {
  std::ostringstream os;
  os << "Usage: " << usageLine(command) << "\n\n" << command.description << "\n";
  if (!command.positionals.empty()) {
    os << "\nArguments:\n";
    for (const PositionalSpec& p : command.positionals) {
      std::string text = p.description;
      if (!p.required) {
        text += " (optional)";
      }
      os << "  " << pad("<" + p.name + ">", 26) << text << "\n";
    }
  }
  os << "\nOptions:\n";
  for (const OptionSpec& o : command.options) {
    std::string left = (o.alias.empty() ? "    " : "-" + o.alias + ", ") + "--" + o.name;
    if (o.type != ValueType::kBoolean) {
      left += " <" + std::string(valueTypeName(o.type)) + ">";
    }
    std::string text = o.description;
    if (o.required) {
      text += " (required)";
    }
    if (o.default_value) {
      text += " (default: " + *o.default_value + ")";
    }
    os << "  " << pad(left, 26) << (left.size() >= 26 ? "\n" + std::string(28, ' ') : "") << text
       << "\n";
  }
  os << "  " << pad("-h, --help", 26) << "Show this help\n";
  return os.str();
}

std::optional<std::string> hostCommandHelp(std::string_view name) {
  const std::string options = "\nOptions:\n  " + pad("-h, --help", 26) + "Show this help\n";
  if (name == "health") {
    return "Usage: prompt health\n\n"
           "Load every module (dependencies first) and report whether each can serve: one line\n"
           "per module with its name, healthy or UNHEALTHY, and what the module says (the api\n"
           "module: its database and schema version). Exit 0 when every module is healthy, 1\n"
           "otherwise.\n" +
           options;
  }
  if (name == "serve") {
    return "Usage: prompt serve\n\n"
           "Boot mode: load every module (dependencies first) and run each module's cleanup\n"
           "at the interval the module asks for (the api module: its cleanupInterval, in ms;\n"
           "a module built for ABI 1.0: every 300000 ms; none for a module that asks for 0),\n"
           "each run that long after the previous one ended, until SIGINT or SIGTERM. Then\n"
           "the timers stop, every module shuts down (dependents first), the libraries are\n"
           "unloaded and prompt exits 0. Logs at info level unless --log-level says\n"
           "otherwise.\n" +
           options;
  }
  if (name == "help") {
    return "Usage: prompt help [<command>]\n\n"
           "Show a command's arguments and options (the same as: prompt <command> --help), or,\n"
           "without a command, every command and the global options.\n" +
           options;
  }
  return std::nullopt;
}

std::string overviewHelp(const std::vector<ModuleManifest>& modules) {
  std::ostringstream os;
  os << "prompt: the SystemPrompt OS module host\n\n"
        "Usage: prompt [global options] <command> [arguments] [options]\n"
        "       prompt help <command>     show a command's arguments and options\n\n";
  size_t width = 24;
  for (const ModuleManifest& m : modules) {
    for (const CommandSpec& c : m.commands) {
      width = std::max(width, c.name.size() + 2);
    }
  }
  for (const ModuleManifest& m : modules) {
    os << "Commands of module '" << m.name << "'"
       << (m.description.empty() ? "" : " (" + m.description + ")") << ":\n";
    for (const CommandSpec& c : m.commands) {
      os << "  " << pad(c.name, width) << c.description << "\n";
    }
    os << "\n";
  }
  os << "Host commands:\n"
     << "  " << pad("health", width) << "Load every module and report whether each can serve\n"
     << "  " << pad("serve", width)
     << "Boot mode: load every module, run their cleanup timers until SIGINT/SIGTERM\n"
     << "  " << pad("help <command>", width) << "Show help for a command\n\n"
     << "Global options (before the command):\n"
     << "  --modules-dir <dir>       Where modules are installed (env PROMPT_MODULES_DIR)\n"
     << "  --state-dir <dir>         Where modules keep state (env PROMPT_STATE_DIR; default\n"
     << "                            $XDG_STATE_HOME/systemprompt or "
        "~/.local/state/systemprompt);\n"
     << "                            refused unless yours and writable by you alone\n"
     << "  --log-level <level>       trace, debug, info, warn, error or off (env "
        "PROMPT_LOG_LEVEL;\n"
     << "                            default warn, info for serve)\n"
     << "  --set <module.key=value>  Override a module.yaml config value, of the same type\n"
     << "                            (repeatable; env PROMPT_<MODULE>_<KEY>, e.g.\n"
     << "                            PROMPT_API_DATABASE_PATH)\n"
     << "  -h, --help                Show this help\n"
     << "  --version                 Show the host's version and module ABI\n\n"
     << "Exit codes: 0 success, 1 operational error, 2 usage error.\n";
  return os.str();
}

std::vector<std::string> suggest(std::string_view unknown, const std::vector<std::string>& known) {
  std::vector<std::pair<size_t, std::string>> scored;
  const size_t threshold = std::max<size_t>(2, unknown.size() / 3);
  for (const std::string& name : known) {
    const size_t distance = editDistance(unknown, name);
    const bool contains = !unknown.empty() && name.find(unknown) != std::string::npos;
    if (distance <= threshold || contains) {
      scored.emplace_back(contains ? 0 : distance, name);
    }
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < 5; ++i) {
    out.push_back(scored[i].second);
  }
  return out;
}

}  // namespace host
