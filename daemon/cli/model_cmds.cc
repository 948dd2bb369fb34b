// evalctl commands that call the daemon's resident models directly:
// generate, loglikelihood, models.
#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "daemon/cli/command.h"
#include "daemon/cli/evalctl_util.h"
#include "daemon/cli/output.h"
#include "daemon/cli/parse.h"
#include "daemon/render.h"

namespace evald::daemon::cli {
namespace {

// The daemon may run elsewhere in the file system view; send absolute paths.
absl::StatusOr<std::string> ModelPath(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("--model DIR is required");
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(dir, ec);
  if (ec || !std::filesystem::is_directory(p, ec)) {
    return absl::NotFoundError(
        absl::StrCat("--model ", dir, ": not a directory"));
  }
  return p.lexically_normal().string();
}

struct GenerateFlags {
  std::string model;
  std::string text;
  bool chat = false;
  std::string max_tokens, temperature, seed, top_p, top_k;
  std::vector<std::string> stop;
};

int Generate(CommandContext& context, const GenerateFlags& flags) {
  auto model = ModelPath(flags.model);
  if (!model.ok()) return ReportError(context, model.status());
  v1::GenerateCallRequest request;
  request.set_model_path(*model);
  request.set_prompt(flags.text);
  request.set_chat(flags.chat);
  int max_tokens = 64, top_k = 0;
  double temperature = 0, top_p = 1;
  uint64_t seed = 0;
  if ((!flags.max_tokens.empty() &&
       !absl::SimpleAtoi(flags.max_tokens, &max_tokens)) ||
      max_tokens <= 0) {
    return ReportError(context,
                       absl::InvalidArgumentError(
                           "--max-tokens: expected a positive integer"));
  }
  if (!flags.temperature.empty() &&
      (!absl::SimpleAtod(flags.temperature, &temperature) ||
       !std::isfinite(temperature) || temperature < 0)) {
    return ReportError(
        context, absl::InvalidArgumentError(absl::StrCat(
                     "--temperature: expected a finite number >= 0, got '",
                     flags.temperature, "'")));
  }
  if (!flags.top_p.empty() &&
      (!absl::SimpleAtod(flags.top_p, &top_p) || !std::isfinite(top_p) ||
       top_p <= 0 || top_p > 1)) {
    return ReportError(
        context,
        absl::InvalidArgumentError(absl::StrCat(
            "--top-p: expected a number in (0, 1], got '", flags.top_p, "'")));
  }
  if (!flags.top_k.empty() &&
      (!absl::SimpleAtoi(flags.top_k, &top_k) || top_k < 0)) {
    return ReportError(context, absl::InvalidArgumentError(
                                    "--top-k: expected an integer >= 0"));
  }
  if (!flags.seed.empty() && !absl::SimpleAtoi(flags.seed, &seed)) {
    return ReportError(
        context, absl::InvalidArgumentError("--seed: expected an integer"));
  }
  request.set_max_new_tokens(max_tokens);
  request.set_temperature(temperature);
  request.set_top_p(top_p);
  request.set_top_k(top_k);
  request.set_seed(seed);
  for (const std::string& s : flags.stop) request.add_stop(s);
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call);
  v1::GenerateCallResponse response;
  absl::Status status =
      (*client)->Convert((*client)->stub().Generate(&call, request, &response));
  if (!status.ok()) return ReportError(context, status);
  if (context.global.json) {
    context.out << daemon::ToJson(response) << "\n";
  } else {
    context.out << response.text() << "\n";
    context.err << absl::StrFormat(
        "[%d tokens, finish: %s, %d prompt tokens (%d cached), %.2fs]\n",
        response.token_ids_size(), response.finish_reason(),
        response.prompt_tokens(), response.cached_tokens(), response.wall_s());
  }
  return kExitOk;
}

struct LoglikelihoodFlags {
  std::string model, context, continuation;
};

int Loglikelihood(CommandContext& context, const LoglikelihoodFlags& flags) {
  auto model = ModelPath(flags.model);
  if (!model.ok()) return ReportError(context, model.status());
  v1::LoglikelihoodCallRequest request;
  request.set_model_path(*model);
  request.set_context(flags.context);
  request.set_continuation(flags.continuation);
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call);
  v1::LoglikelihoodCallResponse response;
  absl::Status status = (*client)->Convert(
      (*client)->stub().Loglikelihood(&call, request, &response));
  if (!status.ok()) return ReportError(context, status);
  if (context.global.json) {
    context.out << daemon::ToJson(response) << "\n";
  } else {
    context.out << absl::StrFormat("logprob %.6f  is_greedy %s  tokens [%s]\n",
                                   response.logprob(),
                                   response.is_greedy() ? "true" : "false",
                                   absl::StrJoin(response.token_ids(), " "));
  }
  return kExitOk;
}

int Models(CommandContext& context, const std::string& output) {
  auto format = ResolveOutput(context.global.json, output);
  if (!format.ok()) return ReportError(context, format.status());
  auto client = Client::Create(context.global);
  if (!client.ok()) return ReportError(context, client.status());
  grpc::ClientContext call;
  (*client)->Prepare(&call, 30);
  v1::ListModelsResponse response;
  absl::Status status = (*client)->Convert(
      (*client)->stub().ListModels(&call, v1::ListModelsRequest(), &response));
  if (!status.ok()) return ReportError(context, status);
  if (*format != OutputFormat::kTable) {
    PrintMessage(context, *format, response, {});
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
    rows.push_back(
        {m.path(), m.options(), mib(m.resident_bytes()),
         m.kv_min_bytes() > 0
             ? absl::StrCat(mib(m.kv_bytes()), " / ", mib(m.kv_min_bytes()))
             : "-",
         absl::StrCat(m.stats().prompt_tokens() +
                      m.stats().generated_tokens())});
  }
  context.out << response.models_size() << " resident model(s), at most "
              << response.max_resident() << "\n";
  if (response.models_size() > 0) context.out << daemon::FormatTable(rows);
  return kExitOk;
}

// --model DIR, required: the checkpoint folder of a model the daemon loads
// (or keeps resident).
void AddModelFlag(CLI::App& command, std::string* model) {
  command
      .add_option("--model", *model,
                  "the model's checkpoint folder (loaded by the daemon)")
      ->type_name("DIR")
      ->required();
}

const bool kRegistered = [] {
  RegisterCommand({
      .name = "generate",
      .summary = "generate text with a resident model",
      .example = "evalctl generate --model /models/llama --max-tokens 32 'The "
                 "capital of France is'",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<GenerateFlags>();
        command.add_option("TEXT", flags->text, "the prompt")->required();
        AddModelFlag(command, &flags->model);
        command.add_flag("--chat", flags->chat,
                         "apply the model's chat template to TEXT");
        command
            .add_option("--max-tokens", flags->max_tokens,
                        "tokens to generate (default 64)")
            ->type_name("N");
        command
            .add_option("--temperature", flags->temperature,
                        "sampling temperature (default 0: greedy)")
            ->type_name("T");
        command.add_option("--seed", flags->seed, "sampling seed (default 0)")
            ->type_name("S");
        command
            .add_option("--top-p", flags->top_p,
                        "nucleus sampling mass in (0, 1] (default 1)")
            ->type_name("P");
        command
            .add_option("--top-k", flags->top_k,
                        "sample from the K likeliest tokens (default 0: all)")
            ->type_name("K");
        AddRepeated(command, "--stop", &flags->stop, "stop before this text")
            ->type_name("TEXT");
        return [flags](CommandContext& context) {
          return Generate(context, *flags);
        };
      },
  });
  RegisterCommand({
      .name = "loglikelihood",
      .summary = "log-probability of a continuation",
      .example =
          "evalctl loglikelihood --model /models/llama --context 'Paris is in' "
          "--continuation ' France'",
      .setup = [](CLI::App& command) -> CommandFn {
        auto flags = std::make_shared<LoglikelihoodFlags>();
        AddModelFlag(command, &flags->model);
        command
            .add_option("--context", flags->context,
                        "the text before (default empty)")
            ->type_name("TEXT");
        command
            .add_option("--continuation", flags->continuation,
                        "the text scored")
            ->type_name("TEXT")
            ->required();
        return [flags](CommandContext& context) {
          return Loglikelihood(context, *flags);
        };
      },
  });
  RegisterCommand({
      .name = "models",
      .summary = "the daemon's resident models and their memory",
      .example = "evalctl models -o yaml",
      .setup = [](CLI::App& command) -> CommandFn {
        auto output = std::make_shared<std::string>();
        AddOutputFlag(command, output.get());
        return [output](CommandContext& context) {
          return Models(context, *output);
        };
      },
  });
  return true;
}();

}  // namespace
}  // namespace evald::daemon::cli
