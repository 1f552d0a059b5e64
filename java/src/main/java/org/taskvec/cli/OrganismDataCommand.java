package org.taskvec.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.organism.Catalog;
import org.taskvec.organism.EpisodeConfig;
import org.taskvec.organism.EpisodeDataset;
import org.taskvec.organism.LayoutModels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code taskvec organism-data}: training episodes for the model organism, laid out by the engine. */
@Command(name = "organism-data", mixinStandardHelpOptions = true,
        description = "Write training episodes of the model organism (the built-in tasks in the paper's prompt "
                + "format, tokenized and laid out by the engine) as .npy files and a manifest.")
final class OrganismDataCommand implements Callable<Integer> {
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output folder")
    Path out;

    @Option(names = "--stage", required = true, paramLabel = "1|2",
            description = "1: text LLM (text in-context and instruction episodes); 2: VLM (image naming, image "
                    + "instruction, image in-context episodes, text replay)")
    int stage;

    @Option(names = "--episodes", required = true, paramLabel = "N", description = "number of episodes")
    int episodes;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "default ${DEFAULT-VALUE}")
    long seed;

    @Option(names = "--no-image-icl", description = "stage 2 without image in-context episodes (the ablation)")
    boolean noImageIcl;

    @Option(names = "--min-examples", defaultValue = "1", paramLabel = "N",
            description = "fewest in-context examples; default ${DEFAULT-VALUE}")
    int minExamples;

    @Option(names = "--max-examples", defaultValue = "6", paramLabel = "N",
            description = "most in-context examples; default ${DEFAULT-VALUE}")
    int maxExamples;

    @Option(names = "--mix", paramLabel = "TYPE=SHARE,...",
            description = "shares of the episode types (text-icl, instruction-text, image-name, instruction-image, "
                    + "image-icl) instead of the stage's defaults")
    String mix;

    @Option(names = "--image-tokens", paramLabel = "N",
            description = "lay images out as a generated projector with N tokens per image (a square); "
                    + "default: the generated tiny projector (16)")
    Integer imageTokens;

    @Option(names = "--mmproj", paramLabel = "P", description = "lay images out as this projector does "
            + "(with --model, or with a generated text model of its width)")
    Path mmproj;

    @Option(names = "--model", paramLabel = "M", description = "text model for the layout (LLaMA vocabulary)")
    Path model;

    @Override
    public Integer call() throws Exception {
        if (imageTokens != null && (mmproj != null || model != null)) {
            throw new InvalidInputException("--image-tokens generates the layout model; it does not go with "
                    + "--mmproj or --model");
        }
        EpisodeConfig config = new EpisodeConfig(stage, episodes, seed, !noImageIcl, minExamples, maxExamples,
                mix == null ? EpisodeConfig.defaultMix(stage, !noImageIcl) : EpisodeConfig.parseMix(mix));
        LayoutModels.Files files;
        if (model != null) {
            files = new LayoutModels.Files(model, mmproj, "given files");
        } else if (mmproj != null) {
            files = LayoutModels.forProjector(mmproj);
        } else {
            files = LayoutModels.generated(imageTokens == null ? 16 : imageTokens);
        }
        ModelParams params = ModelParams.defaults();
        if (files.projector() != null) {
            params = params.withProjector(files.projector());
        }
        Catalog catalog = Catalog.builtin();
        try (Model m = Model.load(files.model(), params);
             Session s = m.newSession(SessionParams.defaults().withContextSize(512))) {
            if (stage == 2 && !m.hasProjector()) {
                throw new InvalidInputException("stage 2 lays out images: give --mmproj with --model");
            }
            long t0 = System.nanoTime();
            Map<String, Object> manifest = EpisodeDataset.write(out, config, catalog, s,
                    LayoutModels.describe(files, m), line -> System.err.println("taskvec: " + line));
            @SuppressWarnings("unchecked")
            Map<String, Object> vocabulary = (Map<String, Object>) manifest.get("vocabulary");
            if (!Boolean.TRUE.equals(vocabulary.get("synthesizer_vocabulary"))) {
                System.err.println("taskvec: note: the layout model's vocabulary is not the LLaMA SentencePiece "
                        + "vocabulary of the generated models (fingerprint " + vocabulary.get("fingerprint") + ")");
            }
            System.out.printf("%s: %d episodes, %d tokens (%d targets), %d image slots of %d tokens; counts %s; "
                            + "data fingerprint %s (%.1f s)%n", out, episodes, manifest.get("tokens"),
                    manifest.get("target_tokens"), manifest.get("image_slots"), manifest.get("image_tokens_per_image"),
                    manifest.get("counts"), manifest.get("data_fingerprint"), (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }
}
