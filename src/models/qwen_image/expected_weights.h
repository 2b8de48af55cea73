// The tensors a model expects in its checkpoint, and the check that a checkpoint holds them: every missing,
// unexpected and mis-shaped tensor listed in one FormatError, before anything is allocated.
#pragma once

#include <string>
#include <vector>

#include "core/shape.h"
#include "io/model_files.h"

namespace vramkit::qwen_image {

struct ExpectedTensor {
  std::string name;
  Shape shape;
};

// Throws FormatError whose message starts with `what` (e.g. "Qwen-Image transformer weights in <files> do
// not match its config (...)") when a `required` tensor is missing or any tensor of `files` is neither
// required nor `optional`, or has another shape than expected.
void check_expected_weights(const std::string& what, const std::vector<ExpectedTensor>& required,
                            const std::vector<ExpectedTensor>& optional, const WeightFiles& files);

}  // namespace vramkit::qwen_image
