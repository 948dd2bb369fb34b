#include "daemon/cli/completion.h"

#include <cctype>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "daemon/cli/parse.h"

namespace evald::daemon::cli {
namespace {

struct Flag {
  std::vector<std::string> names;  // "-o", "--output"
  std::string description;
  bool takes_value = false;
  std::vector<std::string> choices;
};

struct Node {
  std::string
      path;  // words after the program name: "", "datasets", "datasets fetch"
  std::vector<std::pair<std::string, std::string>>
      subcommands;  // name, summary
  std::vector<Flag> flags;
  std::vector<std::string> arg_choices;  // listed values of its positionals
};

// The lower-case alternatives of a value name: "json|yaml|table" -> all
// three, "ID|all" -> "all", "PATH" -> none.
std::vector<std::string> Choices(const std::string& type_name) {
  std::vector<std::string> out;
  if (type_name.find('|') == std::string::npos) return out;
  for (absl::string_view alt : absl::StrSplit(type_name, '|')) {
    bool literal = !alt.empty();
    for (char c : alt) {
      literal = literal && (std::islower(static_cast<unsigned char>(c)) ||
                            std::isdigit(static_cast<unsigned char>(c)) ||
                            c == '-' || c == '_');
    }
    if (literal) out.emplace_back(alt);
  }
  return out;
}

// `inherited`: a parent's flags, less its own --help.
void AddFlags(const CLI::App& app, bool inherited, std::vector<Flag>* flags) {
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional() || o->get_group().empty()) continue;
    if (inherited && o == app.get_help_ptr()) continue;
    Flag f;
    for (const std::string& s : o->get_snames()) f.names.push_back("-" + s);
    for (const std::string& l : o->get_lnames()) f.names.push_back("--" + l);
    f.description = o->get_description();
    f.takes_value = o->get_items_expected_max() != 0;
    if (f.takes_value) f.choices = Choices(o->get_type_name());
    flags->push_back(std::move(f));
  }
}

void Collect(const CLI::App& app, const std::string& path,
             std::vector<Node>* nodes) {
  Node node;
  node.path = path;
  for (const CLI::App* a = &app; a != nullptr;
       a = a->get_fallthrough() ? a->get_parent() : nullptr) {
    AddFlags(*a, a != &app, &node.flags);
  }
  for (const CLI::Option* o : app.get_options()) {
    if (!o->get_positional() || o->get_group().empty()) continue;
    for (std::string& c : Choices(o->get_type_name()))
      node.arg_choices.push_back(std::move(c));
  }
  std::vector<const CLI::App*> subs = VisibleSubcommands(app);
  for (const CLI::App* sub : subs)
    node.subcommands.emplace_back(sub->get_name(), sub->get_description());
  nodes->push_back(std::move(node));
  for (const CLI::App* sub : subs) {
    Collect(*sub,
            path.empty() ? sub->get_name()
                         : absl::StrCat(path, " ", sub->get_name()),
            nodes);
  }
}

// A shell function name made of the program's name.
std::string FunctionPrefix(const std::string& program) {
  std::string out = "_";
  for (char c : program)
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

std::string SingleQuoted(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

// One `case` over the command paths (POSIX-shell syntax, shared by bash and
// zsh): each path prints `lines(node)` one word or entry per line.
template <typename LinesFn>
std::string PathCase(const std::string& name, const std::vector<Node>& nodes,
                     LinesFn lines) {
  std::string out = absl::StrCat(name, "() {\n  case \"$1\" in\n");
  for (const Node& node : nodes) {
    std::vector<std::string> entries = lines(node);
    if (entries.empty()) continue;
    std::vector<std::string> quoted;
    for (const std::string& e : entries) quoted.push_back(SingleQuoted(e));
    absl::StrAppend(&out, "    ", SingleQuoted(node.path), ") printf '%s\\n' ",
                    absl::StrJoin(quoted, " "), " ;;\n");
  }
  absl::StrAppend(&out, "  esac\n}\n");
  return out;
}

std::string ChoicesCase(const std::string& name,
                        const std::vector<Node>& nodes) {
  std::string out = absl::StrCat(name, "() {\n  case \"$1|$2\" in\n");
  for (const Node& node : nodes) {
    for (const Flag& f : node.flags) {
      if (f.choices.empty()) continue;
      std::vector<std::string> keys;
      for (const std::string& n : f.names)
        keys.push_back(SingleQuoted(absl::StrCat(node.path, "|", n)));
      std::vector<std::string> quoted;
      for (const std::string& c : f.choices) quoted.push_back(SingleQuoted(c));
      absl::StrAppend(&out, "    ", absl::StrJoin(keys, "|"),
                      ") printf '%s\\n' ", absl::StrJoin(quoted, " "), " ;;\n");
    }
  }
  absl::StrAppend(&out, "  esac\n}\n");
  return out;
}

std::vector<std::string> SubcommandNames(const Node& n) {
  std::vector<std::string> out;
  for (const auto& [name, summary] : n.subcommands) out.push_back(name);
  return out;
}
std::vector<std::string> FlagNames(const Node& n) {
  std::vector<std::string> out;
  for (const Flag& f : n.flags)
    out.insert(out.end(), f.names.begin(), f.names.end());
  return out;
}
std::vector<std::string> ValueFlagNames(const Node& n) {
  std::vector<std::string> out;
  for (const Flag& f : n.flags) {
    if (f.takes_value) out.insert(out.end(), f.names.begin(), f.names.end());
  }
  return out;
}

// zsh's _describe entries: "name:description" (a colon in the name escaped).
std::string Described(const std::string& name, const std::string& description) {
  return absl::StrCat(absl::StrReplaceAll(name, {{":", "\\:"}}), ":",
                      description);
}

std::string Bash(const std::string& program, const std::vector<Node>& nodes) {
  const std::string f = FunctionPrefix(program);
  std::string out = absl::StrCat(
      "# bash completion for ", program, ", generated by `", program,
      " completion bash` from its own flag declarations.\n"
      "# Load it with: source <(",
      program, " completion bash)\n\n");
  absl::StrAppend(&out, PathCase(f + "_subcommands", nodes, SubcommandNames));
  absl::StrAppend(&out, PathCase(f + "_flags", nodes, FlagNames));
  absl::StrAppend(&out, PathCase(f + "_value_flags", nodes, ValueFlagNames));
  absl::StrAppend(&out, PathCase(f + "_args", nodes,
                                 [](const Node& n) { return n.arg_choices; }));
  absl::StrAppend(&out, ChoicesCase(f + "_choices", nodes));
  absl::StrAppend(&out, absl::StrReplaceAll(R"sh(
# The command path is the words that name (sub)commands, skipping flags and
# the values of flags that take one.
_P() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="" cmdpath="" word i skip=0 list
  if (( COMP_CWORD > 0 )); then prev="${COMP_WORDS[COMP_CWORD-1]}"; fi
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word="${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    case "$word" in
      -*=*) continue ;;
      -*) list=" $(_P_value_flags "$cmdpath" | tr '\n' ' ') "
          [[ "$list" == *" $word "* ]] && skip=1
          continue ;;
    esac
    list=" $(_P_subcommands "$cmdpath" | tr '\n' ' ') "
    [[ "$list" == *" $word "* ]] && cmdpath="${cmdpath:+$cmdpath }$word"
  done
  list=" $(_P_value_flags "$cmdpath" | tr '\n' ' ') "
  if [[ "$prev" == -* && "$list" == *" $prev "* ]]; then
    local choices
    choices="$(_P_choices "$cmdpath" "$prev")"
    if [[ -n "$choices" ]]; then
      COMPREPLY=( $(compgen -W "$choices" -- "$cur") )
    else
      COMPREPLY=( $(compgen -f -- "$cur") )
    fi
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$(_P_flags "$cmdpath")" -- "$cur") )
    return 0
  fi
  local words
  words="$(_P_subcommands "$cmdpath") $(_P_args "$cmdpath")"
  if [[ -n "${words//[[:space:]]/}" ]]; then
    COMPREPLY=( $(compgen -W "$words" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
  return 0
}
complete -F _P PROGRAM
)sh",
                                            {{"_P", f}, {"PROGRAM", program}}));
  return out;
}

std::string Zsh(const std::string& program, const std::vector<Node>& nodes) {
  const std::string f = FunctionPrefix(program);
  std::string out =
      absl::StrCat("#compdef ", program, "\n# zsh completion for ", program,
                   ", generated by `", program,
                   " completion zsh` from its own flag declarations.\n\n");
  absl::StrAppend(&out,
                  PathCase(f + "_subcommand_names", nodes, SubcommandNames));
  absl::StrAppend(&out, PathCase(f + "_subcommands", nodes, [](const Node& n) {
    std::vector<std::string> out;
    for (const auto& [name, summary] : n.subcommands)
      out.push_back(Described(name, summary));
    return out;
  }));
  absl::StrAppend(&out, PathCase(f + "_flags", nodes, [](const Node& n) {
    std::vector<std::string> out;
    for (const Flag& flag : n.flags) {
      for (const std::string& name : flag.names)
        out.push_back(Described(name, flag.description));
    }
    return out;
  }));
  absl::StrAppend(&out, PathCase(f + "_value_flags", nodes, ValueFlagNames));
  absl::StrAppend(&out, PathCase(f + "_args", nodes,
                                 [](const Node& n) { return n.arg_choices; }));
  absl::StrAppend(&out, ChoicesCase(f + "_choices", nodes));
  absl::StrAppend(&out, absl::StrReplaceAll(R"sh(
_P() {
  local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}" cmdpath="" word i skip=0
  local -a list
  for (( i = 2; i < CURRENT; i++ )); do
    word="${words[i]}"
    if (( skip )); then skip=0; continue; fi
    case "$word" in
      -*=*) continue ;;
      -*) list=(${(f)"$(_P_value_flags "$cmdpath")"})
          (( ${list[(Ie)$word]} )) && skip=1
          continue ;;
    esac
    list=(${(f)"$(_P_subcommand_names "$cmdpath")"})
    (( ${list[(Ie)$word]} )) && cmdpath="${cmdpath:+$cmdpath }$word"
  done
  list=(${(f)"$(_P_value_flags "$cmdpath")"})
  if [[ "$prev" == -* ]] && (( ${list[(Ie)$prev]} )); then
    local -a choices
    choices=(${(f)"$(_P_choices "$cmdpath" "$prev")"})
    if (( $#choices )); then compadd -a choices; else _files; fi
    return
  fi
  if [[ "$cur" == -* ]]; then
    local -a flags
    flags=(${(f)"$(_P_flags "$cmdpath")"})
    _describe -t flags 'flag' flags
    return
  fi
  local -a subs args
  subs=(${(f)"$(_P_subcommands "$cmdpath")"})
  args=(${(f)"$(_P_args "$cmdpath")"})
  (( $#subs )) && _describe -t commands 'command' subs
  (( $#args )) && compadd -a args
  (( $#subs + $#args )) || _files
}

_P "$@"
)sh",
                                            {{"_P", f}}));
  return out;
}

std::string Fish(const std::string& program, const std::vector<Node>& nodes) {
  const std::string f =
      "_" + FunctionPrefix(program);  // fish helpers: __evalctl_...
  std::string out = absl::StrCat(
      "# fish completion for ", program, ", generated by `", program,
      " completion fish` from its own flag declarations.\n\n");
  auto switch_fn = [&](const std::string& name, auto lines) {
    std::string s =
        absl::StrCat("function ", name, "\n  switch \"$argv[1]\"\n");
    for (const Node& node : nodes) {
      std::vector<std::string> entries = lines(node);
      if (entries.empty()) continue;
      std::vector<std::string> quoted;
      for (const std::string& e : entries) quoted.push_back(SingleQuoted(e));
      absl::StrAppend(&s, "    case ", SingleQuoted(node.path),
                      "\n      printf '%s\\n' ", absl::StrJoin(quoted, " "),
                      "\n");
    }
    absl::StrAppend(&s, "  end\nend\n");
    return s;
  };
  absl::StrAppend(&out, switch_fn(f + "_subcommands", SubcommandNames));
  absl::StrAppend(&out, switch_fn(f + "_value_flags", ValueFlagNames));
  absl::StrAppend(&out, absl::StrReplaceAll(R"sh(
# The command path ("@", "@datasets fetch"): the words that name
# (sub)commands, skipping flags and the values of flags that take one.
function _P_path
  set -l cmdpath ''
  set -l skip 0
  for word in (commandline -opc)[2..-1]
    if test $skip -eq 1
      set skip 0
      continue
    end
    switch $word
      case '-*=*'
        continue
      case '-*'
        if contains -- $word (_P_value_flags "$cmdpath")
          set skip 1
        end
        continue
    end
    if contains -- $word (_P_subcommands "$cmdpath")
      if test -z "$cmdpath"
        set cmdpath $word
      else
        set cmdpath "$cmdpath $word"
      end
    end
  end
  echo "@$cmdpath"
end

function _P_at
  test (_P_path) = "@$argv[1]"
end

complete -c PROGRAM -f
)sh",
                                            {{"_P", f}, {"PROGRAM", program}}));
  auto fish_quote = [](const std::string& s) {
    return absl::StrCat(
        "'", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"'", "\\'"}}), "'");
  };
  for (const Node& node : nodes) {
    // Paths are command names: nothing in them needs escaping.
    const std::string at = absl::StrCat("complete -c ", program, " -n \"", f,
                                        "_at '", node.path, "'\"");
    for (const auto& [name, summary] : node.subcommands) {
      absl::StrAppend(&out, at, " -a ", fish_quote(name), " -d ",
                      fish_quote(summary), "\n");
    }
    if (!node.arg_choices.empty()) {
      absl::StrAppend(&out, at, " -a ",
                      fish_quote(absl::StrJoin(node.arg_choices, " ")), "\n");
    } else if (node.subcommands.empty()) {
      absl::StrAppend(&out, at, " -F\n");  // positionals: file names
    }
    for (const Flag& flag : node.flags) {
      std::string line = at;
      for (const std::string& n : flag.names) {
        absl::StrAppend(&line, n.size() == 2 ? " -s " : " -l ",
                        n.substr(n.size() == 2 ? 1 : 2));
      }
      if (flag.takes_value && !flag.choices.empty()) {
        absl::StrAppend(&line, " -x -a ",
                        fish_quote(absl::StrJoin(flag.choices, " ")));
      } else if (flag.takes_value) {
        absl::StrAppend(&line, " -r -F");
      }
      absl::StrAppend(&out, line, " -d ", fish_quote(flag.description), "\n");
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> CompletionScript(const CLI::App& root,
                                             const std::string& shell) {
  std::vector<Node> nodes;
  Collect(root, "", &nodes);
  const std::string program = root.get_name();
  if (shell == "bash") return Bash(program, nodes);
  if (shell == "zsh") return Zsh(program, nodes);
  if (shell == "fish") return Fish(program, nodes);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown shell '", shell, "': expected bash, zsh or fish"));
}

}  // namespace evald::daemon::cli
