#include "daemon/cli/parse.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/edit_distance.h"

namespace evald::daemon::cli {
namespace {

std::string StripDashes(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && s[i] == '-') ++i;
  return s.substr(i);
}

// A word CLI11 would read as a flag: "-x", "--xyz", but not "-" or "-5".
bool LooksLikeFlag(const std::string& word) {
  if (word.size() < 2 || word[0] != '-') return false;
  if (word == "--") return false;
  return !(std::isdigit(static_cast<unsigned char>(word[1])) || word[1] == '.');
}

std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// CLI11's messages, reworded where they read oddly on one line.
std::string ReadableError(const CLI::App& command, const std::string& name,
                          const std::string& message) {
  if (name == "ArgumentMismatch" && absl::EndsWith(message, " missing")) {
    // "--priority: 1 required TEXT missing"
    const size_t colon = message.find(':');
    if (colon != std::string::npos)
      return absl::StrCat(message.substr(0, colon), " needs a value");
  }
  if (name == "RequiredError" &&
      absl::StrContains(absl::AsciiStrToLower(message), "subcommand")) {
    std::vector<std::string> names;
    for (const CLI::App* sub : VisibleSubcommands(command))
      names.push_back(sub->get_name());
    return absl::StrCat("a command is required: ", absl::StrJoin(names, ", "));
  }
  return OneLine(message);
}

std::string WithSuggestion(const std::string& message,
                           const std::string& suggestion,
                           const std::string& command_path) {
  if (!suggestion.empty())
    return absl::StrCat(message, "; did you mean '", suggestion, "'?");
  return absl::StrCat(message, " (see ", command_path, " --help)");
}

}  // namespace

void ConfigureRoot(CLI::App& root) {
  // One command per line: once it is named, a later word equal to a command
  // name ("help", "list") is an argument, not a second command.
  root.require_subcommand(0, 1);
  root.allow_extras();
  root.fallthrough();
  root.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  root.set_help_flag("-h,--help", "show this help");
}

CLI::Option* AddEarlyFlag(CLI::App& app, const std::string& name, bool* seen,
                          const std::string& description) {
  return app.add_flag_callback(
      name,
      [seen] {
        *seen = true;
        throw CLI::Success();
      },
      description);
}

CLI::Option* AddEarlyOption(CLI::App& app, const std::string& name,
                            std::string* value,
                            const std::string& description) {
  return app.add_option_function<std::string>(
      name,
      [value](const std::string& v) {
        *value = v;
        throw CLI::Success();
      },
      description);
}

CLI::Option* AddRepeated(CLI::App& app, const std::string& name,
                         std::vector<std::string>* values,
                         const std::string& description) {
  return app.add_option(name, *values, description)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

void SetExamples(CLI::App& command, const std::vector<std::string>& examples) {
  command.footer(absl::StrJoin(examples, "\n"));
}

std::vector<std::string> Examples(const CLI::App& command) {
  std::vector<std::string> out;
  for (absl::string_view line :
       absl::StrSplit(command.get_footer(), '\n', absl::SkipEmpty())) {
    out.emplace_back(line);
  }
  return out;
}

std::string CommandPath(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::App* app = &command; app != nullptr;
       app = app->get_parent()) {
    names.push_back(app->get_name());
  }
  std::reverse(names.begin(), names.end());
  return absl::StrJoin(names, " ");
}

std::vector<const CLI::App*> VisibleSubcommands(const CLI::App& command) {
  std::vector<const CLI::App*> subs = command.get_subcommands(
      [](const CLI::App* sub) { return !sub->get_group().empty(); });
  std::sort(subs.begin(), subs.end(), [](const CLI::App* a, const CLI::App* b) {
    return a->get_name() < b->get_name();
  });
  return subs;
}

std::vector<std::string> AcceptedFlagNames(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::App* app = &command; app != nullptr;
       app = app->get_fallthrough() ? app->get_parent() : nullptr) {
    for (const CLI::Option* option : app->get_options()) {
      if (option->get_positional() || option->get_group().empty()) continue;
      for (const std::string& l : option->get_lnames())
        names.push_back("--" + l);
      for (const std::string& s : option->get_snames())
        names.push_back("-" + s);
    }
  }
  return names;
}

std::string Nearest(const std::string& word,
                    const std::vector<std::string>& candidates) {
  const std::string bare = StripDashes(word);
  if (bare.empty()) return "";
  std::string best;
  size_t best_distance = std::max<size_t>(1, bare.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    const std::string c = StripDashes(candidate);
    size_t distance = base::EditDistance(bare, c);
    if (bare.size() >= 3 && absl::StartsWith(c, bare))
      distance = std::min<size_t>(distance, 1);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

absl::StatusOr<ParseResult> Parse(CLI::App& root,
                                  const std::vector<std::string>& args) {
  std::vector<std::string> reversed(args.rbegin(),
                                    args.rend());  // CLI11 pops from the back
  bool help = false;
  bool early_exit = false;
  bool failed = false;
  std::string error_name, error_message;
  try {
    root.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    help = true;
  } catch (const CLI::CallForAllHelp&) {
    help = true;
  } catch (const CLI::Success&) {
    early_exit = true;
  } catch (const CLI::ParseError& e) {
    failed = true;
    error_name = e.get_name();
    error_message = e.what();
  }
  ParseResult result;
  result.command = &root;
  while (!result.command->get_subcommands().empty()) {
    result.command = result.command->get_subcommands().back();
  }
  result.help = help;
  result.early_exit = early_exit;
  const CLI::App& command = *result.command;
  const std::string path = CommandPath(command);
  if (help || early_exit) return result;

  // A word nothing took is named first: it is usually why anything else
  // (a required flag "missing") went wrong.
  std::vector<std::string> extras;
  for (std::string& word : root.remaining(true)) {
    if (word != "--") extras.push_back(std::move(word));
  }
  if (!extras.empty()) {
    std::string word = extras.front();
    if (LooksLikeFlag(word)) {
      if (size_t eq = word.find('='); eq != std::string::npos) word.resize(eq);
      const std::string nearest = Nearest(word, AcceptedFlagNames(command));
      if (nearest == word) {  // a flag of the command, given before its name
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": '", word, "' is a flag of ", command.get_name(),
            ": give it after '", command.get_name(), "'"));
      }
      return absl::InvalidArgumentError(WithSuggestion(
          absl::StrCat(path, ": unknown flag '", word, "'"), nearest, path));
    }
    std::vector<const CLI::App*> subs = VisibleSubcommands(command);
    if (!subs.empty()) {
      std::vector<std::string> names;
      for (const CLI::App* sub : subs) names.push_back(sub->get_name());
      return absl::InvalidArgumentError(
          WithSuggestion(absl::StrCat(path, ": unknown command '", word, "'"),
                         Nearest(word, names), path));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": unexpected argument '", word, "' (see ", path, " --help)"));
  }
  if (failed) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", ReadableError(command, error_name, error_message)));
  }
  return result;
}

}  // namespace evald::daemon::cli
