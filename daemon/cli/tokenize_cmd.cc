// `evalctl tokenize --model DIR [--add-special] TEXT`: the model's own
// tokenizer, in process (no daemon needed).
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/cli/output.h"
#include "runners/native/tokenizer/tokenizer.h"

namespace evald::daemon::cli {
namespace {

struct TokenizeFlags {
  std::string model;
  std::string text;
  bool add_special = false;
  std::string output;
};

int Tokenize(CommandContext& context, const TokenizeFlags& flags) {
  auto format = ResolveOutput(context.global.json, flags.output);
  if (!format.ok()) return ReportError(context, format.status());
  auto tokenizer =
      runners::native::tokenizer::Tokenizer::FromDirectory(flags.model);
  if (!tokenizer.ok()) return ReportError(context, tokenizer.status());
  auto ids = (*tokenizer)->Encode(flags.text, flags.add_special);
  if (!ids.ok()) return ReportError(context, ids.status());
  if (*format != OutputFormat::kTable) {
    base::Json out = base::Json::MakeObject();
    base::Json list = base::Json::MakeArray();
    base::Json tokens = base::Json::MakeArray();
    for (int32_t id : *ids) {
      list.Push(base::Json::Int(id));
      tokens.Push(base::Json::String((*tokenizer)->IdToToken(id).value_or("")));
    }
    out.Set("ids", std::move(list));
    out.Set("tokens", std::move(tokens));
    context.out << FormatDocument(*format, out);
  } else {
    context.out << absl::StrJoin(*ids, " ") << "\n";
  }
  return kExitOk;
}

const bool kRegistered = RegisterCommand({
    .name = "tokenize",
    .summary =
        "token ids of TEXT with the model's tokenizer (no daemon needed)",
    .example =
        "evalctl tokenize --model /models/llama --add-special 'Hello world'",
    .setup = [](CLI::App& command) -> CommandFn {
      auto flags = std::make_shared<TokenizeFlags>();
      command.add_option("TEXT", flags->text, "the text")->required();
      command
          .add_option("--model", flags->model,
                      "the checkpoint folder (tokenizer.json)")
          ->type_name("DIR")
          ->required();
      command.add_flag(
          "--add-special", flags->add_special,
          "add the special tokens the model's tokenizer adds (BOS)");
      AddOutputFlag(command, &flags->output);
      return [flags](CommandContext& context) {
        return Tokenize(context, *flags);
      };
    },
});

}  // namespace
}  // namespace evald::daemon::cli
