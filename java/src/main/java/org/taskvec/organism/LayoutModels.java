package org.taskvec.organism;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.taskvec.engine.CacheFolder;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.gguf.GgmlType;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufReader;
import org.taskvec.synth.GeneratedModels;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;

/**
 * The model and projector whose layouts the episodes take. Layouts depend only on the vocabulary (every generated
 * model has the real LLaMA SentencePiece vocabulary) and on how many positions, and which text around them, the
 * projector gives an image; the weights do not matter. So a generated model stands in for the organism until its
 * own GGUF files exist: the tiny shape (16 image tokens), the tiny shape with another image grid (N tokens,
 * N a square), or a one-layer text model of a given projector's width, so that a projector alone can be used.
 */
public final class LayoutModels {
    /** Files to load: the text model and the projector (null for none). */
    public record Files(Path model, Path projector, String source) {}

    private LayoutModels() {}

    /** The generated tiny model with a projector that makes imageTokens tokens per image (a square number). */
    public static Files generated(int imageTokens) throws IOException {
        int side = (int) Math.round(Math.sqrt(imageTokens));
        if (imageTokens < 1 || side * side != imageTokens) {
            throw new InvalidInputException("--image-tokens must be a square number (an image grid), not " + imageTokens);
        }
        ModelShape t = ModelShape.TINY;
        ModelShape shape = side * t.patchSize() == t.imageSize() ? t
                : new ModelShape("tiny-img" + imageTokens, t.nEmbd(), t.nLayer(), t.nHead(), t.nHeadKv(), t.nFf(),
                        t.nCtx(), t.weightType(), side * t.patchSize(), t.patchSize(), t.vEmbd(), t.vLayer(), t.vHead(),
                        t.vFf(), t.visionType());
        Path dir = GeneratedModels.ensure(shape, ModelSynthesizer.DEFAULT_SEED, true);
        return new Files(dir.resolve(ModelSynthesizer.MODEL_FILE), dir.resolve(ModelSynthesizer.PROJECTOR_FILE),
                "generated: shape " + shape.name() + " (" + shape.imageSize() + " px images, " + shape.patchSize()
                        + " px patches), seed " + ModelSynthesizer.DEFAULT_SEED);
    }

    /** A generated one-layer text model (LLaMA vocabulary) as wide as the projector's output, with the projector. */
    public static Files forProjector(Path projector) throws IOException {
        GgufFile f;
        try {
            f = GgufReader.read(projector);
        } catch (IOException | org.taskvec.gguf.GgufFormatException | RuntimeException e) {
            throw new InvalidInputException("cannot read the projector " + projector + ": " + e.getMessage());
        }
        Optional<Long> width = f.getLong("clip.vision.projection_dim");
        if (width.isEmpty() || width.get() <= 0) {
            width = f.tensor("mm.2.weight").filter(t -> t.shape().length == 2).map(t -> t.shape()[1]);
        }
        if (width.isEmpty()) {
            throw new InvalidInputException("the projector " + projector + " does not say its output width "
                    + "(clip.vision.projection_dim); give the text model with --model");
        }
        int w = Math.toIntExact(width.get());
        int headDim = 1;
        for (int d : new int[] {64, 32, 16, 8, 4, 2}) {
            if (w % d == 0) {
                headDim = d;
                break;
            }
        }
        ModelShape t = ModelShape.TINY;
        ModelShape shape = new ModelShape("layout-w" + w, w, 1, w / headDim, w / headDim, w, t.nCtx(), GgmlType.F16,
                t.imageSize(), t.patchSize(), t.vEmbd(), t.vLayer(), t.vHead(), t.vFf(), t.visionType());
        Path dir = GeneratedModels.ensure(shape, ModelSynthesizer.DEFAULT_SEED, false);
        return new Files(dir.resolve(ModelSynthesizer.MODEL_FILE), projector,
                "given projector; generated one-layer text model of width " + w + " (LLaMA vocabulary)");
    }

    /** What the manifest records of the layout model: source, file hashes, projector type and image size. */
    public static Map<String, Object> describe(Files files, Model model) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("source", files.source());
        m.put("model_sha256", CacheFolder.sha256(files.model()));
        m.put("projector_sha256", files.projector() == null ? null : CacheFolder.sha256(files.projector()));
        Optional<GgufFile> h = model.projectorHeader();
        m.put("projector_type", h.flatMap(x -> x.getString("clip.projector_type")).orElse(null));
        m.put("image_size", h.flatMap(x -> x.getLong("clip.vision.image_size")).orElse(null));
        m.put("patch_size", h.flatMap(x -> x.getLong("clip.vision.patch_size")).orElse(null));
        return m;
    }
}
