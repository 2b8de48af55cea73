#include "cli/forward_components.h"

namespace vramkit::cli {

std::vector<std::unique_ptr<ForwardComponent>> forward_components() {
  std::vector<std::unique_ptr<ForwardComponent>> all;
  all.push_back(make_forward_transformer());
  all.push_back(make_forward_text_encoder());
  all.push_back(make_forward_vae_decoder());
  all.push_back(make_forward_vae_encoder());
  return all;
}

}  // namespace vramkit::cli
