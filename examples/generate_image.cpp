// The pipeline API in a dozen lines: make a Qwen-Image pipeline, generate an image with a progress callback,
// write it as a PNG with its parameters.
//
//   generate_image MODEL PROMPT OUT.png [DEVICE]     e.g. generate_image builtin:tiny "a cat" cat.png cpu
#include <vramkit/error.h>
#include <vramkit/pipeline.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: generate_image MODEL PROMPT OUT.png [DEVICE]\n";
    return 2;
  }
  try {
    vramkit::PipelineConfig config;
    config.model = argv[1];
    config.device = argc > 4 ? argv[4] : "cuda";
    config.offload = "dynamic";  // stream what does not fit
    config.vram_limit = "4";     // GiB
    vramkit::Pipeline pipeline(config);

    vramkit::GenerateOptions options;
    options.prompt = argv[2];
    options.width = 256;
    options.height = 256;
    options.steps = 8;
    const vramkit::Image image = pipeline.generate(options, [](const vramkit::Progress& p) {
      std::cerr << p.stage << " " << p.step << "/" << p.total << "\n";
    });
    vramkit::write_png(argv[3], image, vramkit::generation_parameters_text(options, argv[1]));
    std::cerr << "peak VRAM " << pipeline.last_stats().peak_device_bytes << " bytes\n";
    return 0;
  } catch (const vramkit::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
