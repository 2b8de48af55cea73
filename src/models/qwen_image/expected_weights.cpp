#include "models/qwen_image/expected_weights.h"

#include <map>

#include "vramkit/error.h"

namespace vramkit::qwen_image {

void check_expected_weights(const std::string& what, const std::vector<ExpectedTensor>& required,
                            const std::vector<ExpectedTensor>& optional, const WeightFiles& files) {
  std::map<std::string, Shape> expected;
  for (const auto* list : {&required, &optional})
    for (const ExpectedTensor& t : *list) expected.emplace(t.name, t.shape);
  std::vector<std::string> missing, extra, misshaped;
  for (const ExpectedTensor& t : required)
    if (!files.find(t.name)) missing.push_back(t.name);
  for (const WeightTensor& t : files.tensors()) {
    const auto it = expected.find(t.name());
    if (it == expected.end())
      extra.push_back(t.name());
    else if (!(t.shape() == it->second))
      misshaped.push_back(t.name() + " is " + t.shape().str() + ", expected " + it->second.str());
  }
  if (missing.empty() && extra.empty() && misshaped.empty()) return;
  std::string message = what + ":";
  const auto list = [&](const char* kind, const std::vector<std::string>& names) {
    if (names.empty()) return;
    message += "\n  " + std::to_string(names.size()) + " " + kind + ":";
    for (const std::string& n : names) message += "\n    " + n;
  };
  list("missing", missing);
  list("unexpected", extra);
  list("mis-shaped", misshaped);
  throw FormatError(message);
}

}  // namespace vramkit::qwen_image
