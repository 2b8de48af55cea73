// The vramkit command line. Exit codes: 0 success, 1 an error from the library (or out of memory), message
// on stderr prefixed "vramkit: error: ", 2 a usage error (unknown option, missing argument), reported by
// CLI11 with the usage hint.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include "cli/bench.h"
#include "cli/forward.h"
#include "cli/generate.h"
#include "cli/inspect.h"
#include "cli/make_test_model.h"
#include "cli/make_tiny_model.h"
#include "cli/plan.h"
#include "cli/tokenize.h"
#include "vramkit/error.h"
#include "vramkit/log.h"

#ifndef VRAMKIT_VERSION
#error "VRAMKIT_VERSION must be defined by the build"
#endif

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int report(const std::string& message) {
  std::cerr << "vramkit: error: " << message << "\n";
  return kExitError;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vramkit: runs large diffusion models on small GPUs by streaming weights"};
  app.set_version_flag("--version", std::string("vramkit ") + VRAMKIT_VERSION);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level,
                 "trace, debug, info, warn, error or off (default: $VRAMKIT_LOG or warn)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.require_subcommand(1);

  vramkit::cli::InspectOptions inspect_options;
  CLI::App* inspect = app.add_subcommand("inspect", "list the tensors of model files and folders");
  vramkit::cli::add_inspect_arguments(*inspect, inspect_options);

  vramkit::cli::PlanArguments plan_arguments;
  CLI::App* plan = app.add_subcommand("plan", "show what the VRAM manager would keep resident and stream");
  vramkit::cli::add_plan_arguments(*plan, plan_arguments);

  vramkit::cli::GenerateArguments generate_arguments;
  CLI::App* generate = app.add_subcommand("generate", "generate an image from a prompt (Qwen-Image)");
  vramkit::cli::add_generate_arguments(*generate, generate_arguments);

  vramkit::cli::ForwardCommand forward(app);

  vramkit::cli::BenchArguments bench_arguments;
  CLI::App* bench = app.add_subcommand(
      "bench",
      "time the transformer in every memory mode against the measured copy, disk and compute ceilings");
  vramkit::cli::add_bench_arguments(*bench, bench_arguments);

  vramkit::cli::MakeTinyModelArguments tiny_arguments;
  CLI::App* make_tiny = app.add_subcommand(
      "make-tiny-model", "write the tiny random-weight Qwen-Image model (the one builtin:tiny runs) to a folder");
  vramkit::cli::add_make_tiny_model_arguments(*make_tiny, tiny_arguments);

  vramkit::cli::MakeTestModelArguments test_model_arguments;
  CLI::App* make_test = app.add_subcommand(
      "make-test-model",
      "write a random-weight model with the real full-size shapes, cut to N layers, streamed");
  vramkit::cli::add_make_test_model_arguments(*make_test, test_model_arguments);

  vramkit::cli::TokenizeArguments tokenize_arguments;
  CLI::App* tokenize = app.add_subcommand("tokenize", "print the Qwen2 token ids of a text as a JSON array");
  vramkit::cli::add_tokenize_arguments(*tokenize, tokenize_arguments);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  try {
    if (app.count("--log-level") > 0) {
      vramkit::LogLevel level = vramkit::LogLevel::warn;
      vramkit::parse_log_level(log_level, &level);
      vramkit::set_log_level(level);
    }
    if (generate->parsed()) vramkit::cli::run_generate(generate_arguments, std::cerr);
    if (inspect->parsed()) vramkit::cli::run_inspect(inspect_options, std::cout);
    if (plan->parsed()) vramkit::cli::run_plan(plan_arguments, std::cout);
    if (forward.parsed()) forward.run(std::cerr);
    if (bench->parsed()) vramkit::cli::run_bench(bench_arguments, std::cout);
    if (make_tiny->parsed()) vramkit::cli::run_make_tiny_model(tiny_arguments, std::cout);
    if (make_test->parsed()) vramkit::cli::run_make_test_model(test_model_arguments, std::cout);
    if (tokenize->parsed()) vramkit::cli::run_tokenize(tokenize_arguments, std::cout);
    std::cout.flush();
    if (!std::cout) return report("cannot write to standard output");
    return 0;
  } catch (const vramkit::Error& e) {
    return report(e.what());
  } catch (const std::bad_alloc&) {
    return report("out of memory");
  } catch (const std::exception& e) {
    return report(std::string("unexpected failure: ") + e.what());
  }
}
