package org.taskvec.cli;

import java.nio.file.Path;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import picocli.CommandLine.Option;

/** Options shared by commands that load a model. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "M", description = "GGUF model file")
    Path model;

    @Option(names = "--mmproj", paramLabel = "P", description = "vision projector (mmproj GGUF)")
    Path mmproj;

    @Option(names = "--gpu-layers", paramLabel = "N|auto", defaultValue = "0",
            description = "layers to offload to a GPU (-1 = all, auto = as many as fit; default ${DEFAULT-VALUE})")
    String gpuLayers;

    @Option(names = {"--verbose", "-v"}, description = "show llama.cpp's log")
    boolean verbose;

    Model load() {
        return load(model, mmproj, gpuLayers);
    }

    /** Loads a model with an optional projector and a --gpu-layers value (N, -1 or auto). */
    static Model load(Path model, Path mmproj, String gpuLayers) {
        org.taskvec.engine.GpuLayers.Choice c = org.taskvec.engine.GpuLayers.resolve(gpuLayers, model, mmproj, 4096);
        if (gpuLayers.equals("auto")) {
            System.err.println("taskvec: gpu layers " + c.layers() + " (" + c.why() + ")");
        }
        ModelParams p = ModelParams.defaults().withGpuLayers(c.layers());
        if (mmproj != null) {
            p = p.withProjector(mmproj);
        }
        return Model.load(model, p);
    }
}
