package org.taskvec.cli;

import java.nio.file.Path;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import picocli.CommandLine.Option;

/** Options shared by commands that load a model. */
final class ModelOptions extends LoadOptions {
    @Option(names = "--model", required = true, paramLabel = "M", description = "GGUF model file")
    Path model;

    Model load() {
        return load(model);
    }

    /** Loads a second model (the xpatch --llm) on the same GPU layers, without the projector. */
    Model loadWithoutProjector(Path other) {
        org.taskvec.engine.GpuLayers.Choice c = org.taskvec.engine.GpuLayers.resolve(gpuLayers, other, null, 4096);
        return Model.load(other, ModelParams.defaults().withGpuLayers(c.layers()));
    }

    /** Loads the model for a prompt's run: --flash-attn applies to the projector's vision encoder too. */
    Model load(PromptOptions prompt) {
        return load(model, prompt.flashAttention());
    }
}

/** How a model is loaded: its projector, GPU layers, llama.cpp's log (the model file is the command's option). */
class LoadOptions {
    @Option(names = "--mmproj", paramLabel = "P", description = "vision projector (mmproj GGUF)")
    Path mmproj;

    @Option(names = "--gpu-layers", paramLabel = "N|auto", defaultValue = "0",
            description = "layers to offload to a GPU (-1 = all, auto = as many as fit; default ${DEFAULT-VALUE})")
    String gpuLayers;

    @Option(names = {"--verbose", "-v"}, description = "show llama.cpp's log")
    boolean verbose;

    /** Loads model with these options: the projector if given, and --gpu-layers (N, -1 or auto). */
    Model load(Path model) {
        return load(model, org.taskvec.engine.SessionParams.FlashAttention.AUTO);
    }

    /** Loads model, its projector's flash attention set to projectorFlashAttention. */
    Model load(Path model, org.taskvec.engine.SessionParams.FlashAttention projectorFlashAttention) {
        org.taskvec.engine.GpuLayers.Choice c = org.taskvec.engine.GpuLayers.resolve(gpuLayers, model, mmproj, 4096);
        if (gpuLayers.equals("auto")) {
            System.err.println("taskvec: gpu layers " + c.layers() + " (" + c.why() + ")");
        }
        ModelParams p = ModelParams.defaults().withGpuLayers(c.layers())
                .withProjectorFlashAttention(projectorFlashAttention);
        if (mmproj != null) {
            p = p.withProjector(mmproj);
        }
        return Model.load(model, p);
    }
}
