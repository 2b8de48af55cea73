// Runs the vramkit command-line program from a test and captures its exit code, stdout and stderr, for the tests of
// the commands that run models (`vramkit forward ...`) and check their outputs tensor by tensor.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace vramkit::test {

struct CliResult {
  int exit_code = -1;
  std::string stdout_text, stderr_text;
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A fresh scratch folder under the system's temporary directory, named after the test.
inline std::filesystem::path scratch_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("vramkit_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs VRAMKIT_CLI with `args` (each single-quoted for the shell).
inline CliResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& scratch) {
  std::string command = "'" VRAMKIT_CLI "'";
  for (const auto& a : args) command += " '" + a + "'";
  const auto out_file = scratch / "stdout.txt", err_file = scratch / "stderr.txt";
  command += " > '" + out_file.string() + "' 2> '" + err_file.string() + "'";
  const int status = std::system(command.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.stdout_text = read_text(out_file);
  r.stderr_text = read_text(err_file);
  return r;
}

}  // namespace vramkit::test
