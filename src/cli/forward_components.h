// The components `vramkit forward` can run, one factory per file forward_<component>.cpp.
#pragma once

#include <memory>
#include <vector>

#include "cli/forward.h"

namespace vramkit::cli {

std::unique_ptr<ForwardComponent> make_forward_transformer();
std::unique_ptr<ForwardComponent> make_forward_text_encoder();
std::unique_ptr<ForwardComponent> make_forward_vae_decoder();
std::unique_ptr<ForwardComponent> make_forward_vae_encoder();

// Every component, in the order `vramkit forward --help` lists them.
std::vector<std::unique_ptr<ForwardComponent>> forward_components();

}  // namespace vramkit::cli
