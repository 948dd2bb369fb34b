// evalctl commands that call the daemon's resident models directly:
// generate, loglikelihood, models.
#include <cmath>
#include <filesystem>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/render.h"

namespace evald::cli {
namespace {

// The daemon may run elsewhere in the file system view; send absolute paths.
absl::StatusOr<std::string> ModelPath(const ParsedArgs& args) {
  const std::string dir = args.Get("--model");
  if (dir.empty()) return absl::InvalidArgumentError("--model DIR is required");
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(dir, ec);
  if (ec || !std::filesystem::is_directory(p, ec)) {
    return absl::NotFoundError(absl::StrCat("--model ", dir, ": not a directory"));
  }
  return p.lexically_normal().string();
}

int Generate(CommandContext& context) {
  auto args = ParseArgs(context.args,
                        {"--model", "--max-tokens", "--temperature", "--seed", "--top-p",
                         "--top-k", "--stop"},
                        {"--chat"});
  if (!args.ok()) return ReportError(context, args.status());
  if (args->positionals.size() != 1) {
    return ReportError(context, absl::InvalidArgumentError(
                                    "usage: generate --model DIR [--chat] [--max-tokens N] "
                                    "[--temperature T --seed S] TEXT"));
  }
  auto model = ModelPath(*args);
  if (!model.ok()) return ReportError(context, model.status());
  v1::GenerateCallRequest request;
  request.set_model_path(*model);
  request.set_prompt(args->positionals[0]);
  request.set_chat(args->Has("--chat"));
  int max_tokens = 64, top_k = 0;
  double temperature = 0, top_p = 1;
  uint64_t seed = 0;
  if ((args->values.count("--max-tokens") && !absl::SimpleAtoi(args->Get("--max-tokens"), &max_tokens)) ||
      max_tokens <= 0) {
    return ReportError(context, absl::InvalidArgumentError("--max-tokens: expected a positive integer"));
  }
  if (args->values.count("--temperature") &&
      (!absl::SimpleAtod(args->Get("--temperature"), &temperature) ||
       !std::isfinite(temperature) || temperature < 0)) {
    return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                    "--temperature: expected a finite number >= 0, got '",
                                    args->Get("--temperature"), "'")));
  }
  if (args->values.count("--top-p") &&
      (!absl::SimpleAtod(args->Get("--top-p"), &top_p) || !std::isfinite(top_p) || top_p <= 0 ||
       top_p > 1)) {
    return ReportError(context, absl::InvalidArgumentError(absl::StrCat(
                                    "--top-p: expected a number in (0, 1], got '",
                                    args->Get("--top-p"), "'")));
  }
  if (args->values.count("--top-k") &&
      (!absl::SimpleAtoi(args->Get("--top-k"), &top_k) || top_k < 0)) {
    return ReportError(context, absl::InvalidArgumentError("--top-k: expected an integer >= 0"));
  }
  if (args->values.count("--seed") && !absl::SimpleAtoi(args->Get("--seed"), &seed)) {
    return ReportError(context, absl::InvalidArgumentError("--seed: expected an integer"));
  }
  request.set_max_new_tokens(max_tokens);
  request.set_temperature(temperature);
  request.set_top_p(top_p);
  request.set_top_k(top_k);
  request.set_seed(seed);
  for (const std::string& s : args->GetAll("--stop")) request.add_stop(s);
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call);
  v1::GenerateCallResponse response;
  absl::Status status = (*client)->Convert((*client)->stub().Generate(&call, request, &response));
  if (!status.ok()) return ReportError(context, status);
  if (context.global.json) {
    context.out << daemon::ToJson(response) << "\n";
  } else {
    context.out << response.text() << "\n";
    context.err << absl::StrFormat("[%d tokens, finish: %s, %d prompt tokens (%d cached), %.2fs]\n",
                                   response.token_ids_size(), response.finish_reason(),
                                   response.prompt_tokens(), response.cached_tokens(),
                                   response.wall_s());
  }
  return kExitOk;
}

int Loglikelihood(CommandContext& context) {
  auto args = ParseArgs(context.args, {"--model", "--context", "--continuation"}, {});
  if (!args.ok()) return ReportError(context, args.status());
  if (!args->positionals.empty() || args->values.count("--continuation") == 0) {
    return ReportError(context, absl::InvalidArgumentError(
                                    "usage: loglikelihood --model DIR --context TEXT "
                                    "--continuation TEXT"));
  }
  auto model = ModelPath(*args);
  if (!model.ok()) return ReportError(context, model.status());
  v1::LoglikelihoodCallRequest request;
  request.set_model_path(*model);
  request.set_context(args->Get("--context"));
  request.set_continuation(args->Get("--continuation"));
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call);
  v1::LoglikelihoodCallResponse response;
  absl::Status status =
      (*client)->Convert((*client)->stub().Loglikelihood(&call, request, &response));
  if (!status.ok()) return ReportError(context, status);
  if (context.global.json) {
    context.out << daemon::ToJson(response) << "\n";
  } else {
    context.out << absl::StrFormat("logprob %.6f  is_greedy %s  tokens [%s]\n", response.logprob(),
                                   response.is_greedy() ? "true" : "false",
                                   absl::StrJoin(response.token_ids(), " "));
  }
  return kExitOk;
}

int Models(CommandContext& context) {
  auto args = ParseArgs(context.args, {}, {});
  if (!args.ok()) return ReportError(context, args.status());
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call, 30);
  v1::ListModelsResponse response;
  absl::Status status =
      (*client)->Convert((*client)->stub().ListModels(&call, v1::ListModelsRequest(), &response));
  if (!status.ok()) return ReportError(context, status);
  if (context.global.json) {
    context.out << daemon::ToJson(response) << "\n";
    return kExitOk;
  }
  // KV: held now / guaranteed; the difference is borrowed from the
  // device's shared budget and goes back when the model idles.
  auto mib = [](uint64_t bytes) {
    return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  };
  std::vector<std::vector<std::string>> rows = {
      {"MODEL", "OPTIONS", "MEMORY", "KV (NOW / GUARANTEED)", "TOKENS"}};
  for (const v1::ResidentModel& m : response.models()) {
    rows.push_back({m.path(), m.options(), mib(m.resident_bytes()),
                    m.kv_min_bytes() > 0 ? absl::StrCat(mib(m.kv_bytes()), " / ", mib(m.kv_min_bytes()))
                                         : "-",
                    absl::StrCat(m.stats().prompt_tokens() + m.stats().generated_tokens())});
  }
  context.out << response.models_size() << " resident model(s), at most "
              << response.max_resident() << "\n";
  if (response.models_size() > 0) context.out << daemon::FormatTable(rows);
  return kExitOk;
}

const bool kRegistered = [] {
  RegisterCommand({"generate",
                   "generate --model DIR [--chat] [--max-tokens N] [--temperature T --seed S] TEXT",
                   "generate text with a resident model", Generate});
  RegisterCommand({"loglikelihood", "loglikelihood --model DIR --context T --continuation T",
                   "log-probability of a continuation", Loglikelihood});
  RegisterCommand({"models", "models", "the daemon's resident models and their memory", Models});
  return true;
}();

}  // namespace
}  // namespace evald::cli
