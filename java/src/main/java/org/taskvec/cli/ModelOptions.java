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

    /** Loads a second model (the xpatch --llm) on the same GPU layers and RPC servers, without the projector. */
    Model loadWithoutProjector(Path other) {
        org.taskvec.engine.GpuLayers.Choice c = org.taskvec.engine.GpuLayers.resolve(gpuLayers, other, null, 4096,
                rpcServers());
        return Model.load(other, remote(ModelParams.defaults().withGpuLayers(c.layers())));
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

    @Option(names = "--rpc", paramLabel = "HOST:PORT[,HOST:PORT...]",
            description = "ggml RPC servers (taskvec rpc-server) whose devices take offloaded layers: --gpu-layers "
                    + "counts layers over them and this host's GPUs; the rest stay on this CPU")
    String rpc;

    @Option(names = "--tensor-split", paramLabel = "S,S,...",
            description = "each device's share of the offloaded layers, in the order taskvec info lists them "
                    + "(RPC servers' devices first); default: by free memory")
    String tensorSplit;

    /** The --rpc servers (empty without it). */
    java.util.List<String> rpcServers() {
        return rpc == null || rpc.isBlank() ? java.util.List.of() : org.taskvec.engine.RpcServers.parseList(rpc);
    }

    /** p with --rpc and --tensor-split. */
    ModelParams remote(ModelParams p) {
        ModelParams out = p.withRpcServers(rpcServers());
        if (tensorSplit != null && !tensorSplit.isBlank()) {
            java.util.List<Float> shares = new java.util.ArrayList<>();
            for (String t : tensorSplit.split(",", -1)) {
                try {
                    shares.add(Float.parseFloat(t.strip()));
                } catch (NumberFormatException e) {
                    throw new org.taskvec.engine.InvalidInputException(
                            "--tensor-split takes numbers separated by commas, got '" + tensorSplit + "'");
                }
            }
            out = out.withTensorSplit(shares);
        }
        return out;
    }

    /** Loads model with these options: the projector if given, and --gpu-layers (N, -1 or auto). */
    Model load(Path model) {
        return load(model, org.taskvec.engine.SessionParams.FlashAttention.AUTO);
    }

    /** Loads model, its projector's flash attention set to projectorFlashAttention. */
    Model load(Path model, org.taskvec.engine.SessionParams.FlashAttention projectorFlashAttention) {
        org.taskvec.engine.GpuLayers.Choice c = org.taskvec.engine.GpuLayers.resolve(gpuLayers, model, mmproj, 4096,
                rpcServers());
        if (gpuLayers.equals("auto")) {
            System.err.println("taskvec: gpu layers " + c.layers() + " (" + c.why() + ")");
        }
        ModelParams p = remote(ModelParams.defaults().withGpuLayers(c.layers())
                .withProjectorFlashAttention(projectorFlashAttention));
        if (mmproj != null) {
            p = p.withProjector(mmproj);
        }
        return Model.load(model, p);
    }
}
