#include "daemon/cli/help.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "daemon/cli/parse.h"

namespace evald::daemon::cli {
namespace {

constexpr size_t kWidth = 100;  // terminal help wraps here
constexpr size_t kNameColumn =
    26;  // descriptions start here when the name fits

struct Entry {
  std::string name;
  std::string description;
};

bool IsFlag(const CLI::Option& option) {
  return option.get_items_expected_max() == 0;
}
bool IsHelp(const CLI::Option& option) {
  const auto& l = option.get_lnames();
  return std::find(l.begin(), l.end(), "help") != l.end();
}
bool Hidden(const CLI::Option& option) { return option.get_group().empty(); }

std::string ValueName(const CLI::Option& option) {
  std::string type = option.get_type_name();
  return type.empty() ? "VALUE" : type;
}

std::string FlagName(const CLI::Option& option) {
  std::vector<std::string> names;
  for (const std::string& s : option.get_snames()) names.push_back("-" + s);
  for (const std::string& l : option.get_lnames()) names.push_back("--" + l);
  std::string out = absl::StrJoin(names, ", ");
  if (!IsFlag(option)) absl::StrAppend(&out, " ", ValueName(option));
  return out;
}

std::string Describe(const CLI::Option& option) {
  std::string d = option.get_description();
  if (option.get_required()) absl::StrAppend(&d, " (required)");
  if (!option.get_positional() && option.get_items_expected_max() > 1) {
    absl::StrAppend(&d, " (repeatable)");
  }
  return d;
}

std::string PositionalName(const CLI::Option& option) {
  std::string name = option.get_name();
  if (option.get_items_expected_max() > 1) absl::StrAppend(&name, "...");
  return option.get_required() ? name : absl::StrCat("[", name, "]");
}

std::vector<Entry> Positionals(const CLI::App& command) {
  std::vector<Entry> out;
  for (const CLI::Option* o : command.get_options()) {
    // Whether one is required shows in the usage line.
    if (o->get_positional() && !Hidden(*o))
      out.push_back({o->get_name(), o->get_description()});
  }
  return out;
}

std::vector<Entry> Flags(const CLI::App& command) {
  std::vector<Entry> out;
  const CLI::Option* help = nullptr;
  for (const CLI::Option* o : command.get_options()) {
    if (o->get_positional() || Hidden(*o)) continue;
    if (IsHelp(*o)) {
      help = o;
      continue;
    }
    out.push_back({FlagName(*o), Describe(*o)});
  }
  if (help != nullptr)
    out.push_back({FlagName(*help), help->get_description()});  // last
  return out;
}

// The flags of the commands above `command` that it accepts too.
std::vector<Entry> InheritedFlags(const CLI::App& command) {
  std::vector<Entry> out;
  if (!command.get_fallthrough()) return out;
  for (const CLI::App* app = command.get_parent(); app != nullptr;
       app = app->get_fallthrough() ? app->get_parent() : nullptr) {
    for (const CLI::Option* o : app->get_options()) {
      if (o->get_positional() || Hidden(*o) || IsHelp(*o)) continue;
      out.push_back({FlagName(*o), Describe(*o)});
    }
  }
  return out;
}

std::vector<Entry> Subcommands(const CLI::App& command) {
  std::vector<Entry> out;
  for (const CLI::App* sub : VisibleSubcommands(command)) {
    out.push_back({sub->get_name(), sub->get_description()});
  }
  return out;
}

// Words of `text` filled into lines of at most `width - indent` characters,
// each line after the first indented by `indent`.
std::string Wrap(const std::string& text, size_t indent, size_t first_column) {
  std::string out;
  size_t column = first_column;
  bool line_has_words = false;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (line_has_words && column + 1 + word.size() > kWidth) {
      absl::StrAppend(&out, "\n", std::string(indent, ' '));
      column = indent;
      line_has_words = false;
    }
    if (line_has_words) {
      out += ' ';
      ++column;
    }
    absl::StrAppend(&out, word);
    column += word.size();
    line_has_words = true;
  }
  return out;
}

std::string EntryList(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& e : entries) {
    std::string line = absl::StrCat("  ", e.name);
    if (e.description.empty()) {
      absl::StrAppend(&out, line, "\n");
      continue;
    }
    if (line.size() + 2 > kNameColumn) {
      absl::StrAppend(&out, line, "\n", std::string(kNameColumn, ' '));
    } else {
      absl::StrAppend(&out, line, std::string(kNameColumn - line.size(), ' '));
    }
    absl::StrAppend(&out, Wrap(e.description, kNameColumn, kNameColumn), "\n");
  }
  return out;
}

std::string Paragraphs(const std::string& text, size_t indent) {
  std::vector<std::string> out;
  for (absl::string_view p : absl::StrSplit(text, "\n\n")) {
    out.push_back(std::string(indent, ' ') +
                  Wrap(std::string(p), indent, indent));
  }
  return absl::StrJoin(out, "\n\n");
}

// ---- roff -------------------------------------------------------------------

std::string Roff(const std::string& text) {
  std::string out =
      absl::StrReplaceAll(text, {{"\\", "\\e"}, {"-", "\\-"}, {"'", "\\(aq"}});
  if (!out.empty() && out[0] == '.') out = "\\&" + out;
  return out;
}

std::string RoffEntries(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& e : entries) {
    absl::StrAppend(&out, ".TP\n.B ", Roff(e.name), "\n", Roff(e.description),
                    "\n");
  }
  return out;
}

std::string RoffParagraphs(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view p : absl::StrSplit(text, "\n\n"))
    out.push_back(Roff(std::string(p)));
  return absl::StrJoin(out, "\n.PP\n") + "\n";
}

std::string RoffCommand(const CLI::App& command, const std::string& heading) {
  std::string out;
  if (std::vector<Entry> p = Positionals(command); !p.empty()) {
    absl::StrAppend(&out, heading, "ARGUMENTS\n", RoffEntries(p));
  }
  if (std::vector<Entry> f = Flags(command); !f.empty()) {
    absl::StrAppend(&out, heading, "OPTIONS\n", RoffEntries(f));
  }
  return out;
}

}  // namespace

std::string UsageLine(const CLI::App& command) {
  std::vector<std::string> parts = {CommandPath(command)};
  bool optional_flags = false;
  for (const CLI::Option* o : command.get_options()) {
    if (o->get_positional() || Hidden(*o) || IsHelp(*o)) continue;
    if (o->get_required()) {
      parts.push_back(absl::StrCat("--",
                                   o->get_lnames().empty()
                                       ? o->get_snames().front()
                                       : o->get_lnames().front(),
                                   IsFlag(*o) ? "" : " " + ValueName(*o)));
    } else {
      optional_flags = true;
    }
  }
  if (optional_flags) parts.push_back("[flags]");
  for (const CLI::Option* o : command.get_options()) {
    if (o->get_positional() && !Hidden(*o)) parts.push_back(PositionalName(*o));
  }
  if (!VisibleSubcommands(command).empty()) parts.push_back("COMMAND [ARGS]");
  return absl::StrJoin(parts, " ");
}

std::string HelpText(const CLI::App& command,
                     const std::vector<HelpSection>& extra) {
  std::string out = absl::StrCat("usage: ", UsageLine(command), "\n");
  if (!command.get_description().empty()) {
    absl::StrAppend(&out, "\n", Paragraphs(command.get_description(), 0), "\n");
  }
  if (std::vector<Entry> p = Positionals(command); !p.empty()) {
    absl::StrAppend(&out, "\narguments:\n", EntryList(p));
  }
  if (std::vector<Entry> s = Subcommands(command); !s.empty()) {
    absl::StrAppend(&out, "\ncommands:\n", EntryList(s));
  }
  if (std::vector<Entry> f = Flags(command); !f.empty()) {
    // A root's flags are every command's global flags.
    absl::StrAppend(
        &out,
        command.get_parent() == nullptr && !VisibleSubcommands(command).empty()
            ? "\nglobal flags (before or after the command):\n"
            : "\nflags:\n",
        EntryList(f));
  }
  if (std::vector<Entry> g = InheritedFlags(command); !g.empty()) {
    absl::StrAppend(&out, "\nglobal flags:\n", EntryList(g));
  }
  if (std::vector<std::string> examples = Examples(command);
      !examples.empty()) {
    absl::StrAppend(&out, "\nexample", examples.size() > 1 ? "s" : "", ":\n");
    for (const std::string& e : examples) absl::StrAppend(&out, "  ", e, "\n");
  }
  for (const HelpSection& s : extra) {
    absl::StrAppend(&out, "\n", s.title, ":\n", Paragraphs(s.text, 2), "\n");
  }
  return out;
}

std::string ManPage(const CLI::App& command, const ManPageInfo& info) {
  std::string out = absl::StrCat(
      ".TH \"", Roff(absl::AsciiStrToUpper(info.title)), "\" \"", info.section,
      "\" \"\" \"", Roff(info.source), "\" \"evald manual\"\n");
  // NAME gets the description's first sentence; DESCRIPTION the whole.
  const std::string& description = command.get_description();
  const size_t sentence = description.find(". ");
  absl::StrAppend(&out, ".SH NAME\n", Roff(info.title), " \\- ",
                  Roff(description.substr(0, sentence)),
                  "\n.SH SYNOPSIS\n.nf\n", Roff(UsageLine(command)), "\n.fi\n");
  if (sentence != std::string::npos) {
    absl::StrAppend(&out, ".SH DESCRIPTION\n", RoffParagraphs(description));
  }
  absl::StrAppend(&out, RoffCommand(command, ".SH "));
  if (std::vector<const CLI::App*> subs = VisibleSubcommands(command);
      !subs.empty()) {
    absl::StrAppend(&out, ".SH COMMANDS\n");
    if (info.commands_have_pages) {
      for (const CLI::App* sub : subs) {
        const std::string page = absl::StrCat(info.title, "-", sub->get_name());
        absl::StrAppend(&out, ".TP\n.B ", Roff(sub->get_name()), "\n",
                        Roff(sub->get_description()), " (see \\fB", Roff(page),
                        "\\fR(", info.section, "))\n");
      }
    } else {
      // The subcommands' own flags, here (datasets fetch, datasets verify).
      for (const CLI::App* sub : subs) {
        absl::StrAppend(&out, ".SS ", Roff(sub->get_name()), "\n",
                        Roff(sub->get_description()), "\n.PP\n.nf\n",
                        Roff(UsageLine(*sub)), "\n.fi\n");
        if (std::vector<Entry> p = Positionals(*sub); !p.empty()) {
          absl::StrAppend(&out, ".PP\nArguments:\n", RoffEntries(p));
        }
        std::vector<Entry> f = Flags(*sub);
        f.erase(std::remove_if(
                    f.begin(), f.end(),
                    [](const Entry& e) { return e.name == "-h, --help"; }),
                f.end());
        if (!f.empty())
          absl::StrAppend(&out, ".PP\nOptions:\n", RoffEntries(f));
        if (std::vector<std::string> ex = Examples(*sub); !ex.empty()) {
          absl::StrAppend(&out, ".PP\nExample:\n.PP\n.nf\n");
          for (const std::string& e : ex) absl::StrAppend(&out, Roff(e), "\n");
          absl::StrAppend(&out, ".fi\n");
        }
      }
    }
  }
  if (std::vector<Entry> g = InheritedFlags(command); !g.empty()) {
    absl::StrAppend(&out, ".SH GLOBAL OPTIONS\n", RoffEntries(g));
  }
  if (std::vector<std::string> examples = Examples(command);
      !examples.empty()) {
    absl::StrAppend(&out, ".SH EXAMPLES\n.nf\n");
    for (const std::string& e : examples) absl::StrAppend(&out, Roff(e), "\n");
    absl::StrAppend(&out, ".fi\n");
  }
  for (const HelpSection& s : info.extra) {
    absl::StrAppend(&out, ".SH ", Roff(absl::AsciiStrToUpper(s.title)), "\n",
                    RoffParagraphs(s.text));
  }
  if (!info.see_also.empty()) {
    std::vector<std::string> refs;
    for (const std::string& ref : info.see_also) {
      const size_t paren = ref.find('(');
      refs.push_back(
          absl::StrCat("\\fB", Roff(ref.substr(0, paren)), "\\fR",
                       paren == std::string::npos ? "" : ref.substr(paren)));
    }
    absl::StrAppend(&out, ".SH SEE ALSO\n", absl::StrJoin(refs, ",\n"), "\n");
  }
  return out;
}

}  // namespace evald::daemon::cli
