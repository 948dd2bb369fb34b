// `evalctl tokenize --model DIR [--add-special] TEXT`: the model's own
// tokenizer, in process (no daemon needed).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/json.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "runners/native/tokenizer/tokenizer.h"

namespace evald::cli {
namespace {

int Tokenize(CommandContext& context) {
  auto args = ParseArgs(context.args, {"--model"}, {"--add-special"});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.size() != 1 || args->Get("--model").empty()) {
    return ReportError(context, absl::InvalidArgumentError(
                                    "usage: tokenize --model DIR [--add-special] TEXT"));
  }
  auto tokenizer = engine::Tokenizer::FromDirectory(args->Get("--model"));
  if (!tokenizer.ok()) return ReportError(context, tokenizer.status());
  auto ids = (*tokenizer)->Encode(args->positionals[0], args->Has("--add-special"));
  if (!ids.ok()) return ReportError(context, ids.status());
  if (context.global.json) {
    base::Json out = base::Json::MakeObject();
    base::Json list = base::Json::MakeArray();
    base::Json tokens = base::Json::MakeArray();
    for (int32_t id : *ids) {
      list.Push(base::Json::Int(id));
      tokens.Push(base::Json::String((*tokenizer)->IdToToken(id).value_or("")));
    }
    out.Set("ids", std::move(list));
    out.Set("tokens", std::move(tokens));
    context.out << out.Dump() << "\n";
  } else {
    context.out << absl::StrJoin(*ids, " ") << "\n";
  }
  return kExitOk;
}

const bool kRegistered = RegisterCommand(
    {"tokenize", "tokenize --model DIR [--add-special] TEXT",
     "token ids of TEXT with the model's tokenizer (no daemon needed)", Tokenize});

}  // namespace
}  // namespace evald::cli
