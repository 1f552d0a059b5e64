package org.taskvec.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelInfo;
import org.taskvec.engine.Session;
import org.taskvec.hooks.Capture;
import org.taskvec.hooks.HookPoint;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;
import org.taskvec.hooks.RunResult;
import org.taskvec.vectors.Npy;
import org.taskvec.vectors.VectorFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code taskvec capture}: writes activations as a numpy array plus a JSON description. */
@Command(name = "capture", mixinStandardHelpOptions = true,
        description = "Capture a hook point at layers and positions of a prompt: writes a float32 array "
                + "[layers, positions, width] (.npy) and a .json beside it naming layers, positions and tokens.")
final class CaptureCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Mixin
    PromptOptions promptOptions;

    @Option(names = "--layers", defaultValue = "all", paramLabel = "all|A-B|L,L",
            description = "layers (default ${DEFAULT-VALUE})")
    String layers;

    @Option(names = "--positions", defaultValue = "all", paramLabel = "SPEC",
            description = "all, last, i,j (negative: from the end), image:K or token:TEXT:N (default ${DEFAULT-VALUE})")
    String positions;

    @Option(names = "--point", defaultValue = "resid_post", paramLabel = "KIND",
            description = "resid_post, resid_mid, resid_pre (layers >= 1), attn_out, mlp_out, attn_z (default "
                    + "${DEFAULT-VALUE})")
    String point;

    @Option(names = "--out", required = true, paramLabel = "FILE.npy", description = "output array")
    Path out;

    @Option(names = "--logits", paramLabel = "FILE.npy",
            description = "also write the logits of the prompt's last position: float32 [vocabulary]")
    Path logits;

    @Override
    public Integer call() throws Exception {
        if (!out.getFileName().toString().endsWith(".npy")) {
            throw new org.taskvec.engine.InvalidInputException("--out must name a .npy file");
        }
        if (logits != null && !logits.getFileName().toString().endsWith(".npy")) {
            throw new org.taskvec.engine.InvalidInputException("--logits must name a .npy file");
        }
        org.taskvec.engine.PointKind kind = org.taskvec.engine.PointKind.parse(point);
        try (Model model = modelOptions.load(promptOptions); Session session = promptOptions.session(model)) {
            int[] ls = PromptOptions.parseLayers(layers, model.layers());
            Hooks hooks = Hooks.create().captureLayers(kind.shortName, ls, Positions.parse(positions));
            RunResult r = HookedRun.run(session, promptOptions.prompt(), hooks);
            Capture first = r.captures().get(0);
            int nPos = first.positions().length;
            int width = first.rows()[0].length;
            float[] data = new float[ls.length * nPos * width];
            for (int i = 0; i < ls.length; i++) {
                float[][] rows = r.captures().get(i).rows();
                for (int p = 0; p < nPos; p++) {
                    System.arraycopy(rows[p], 0, data, (i * nPos + p) * width, width);
                }
            }
            Npy.write(out, new int[] {ls.length, nPos, width}, data);
            float[] last = logits == null ? null : session.logits();
            if (last != null) {
                Npy.write(logits, new int[] {last.length}, last);
            }
            ObjectMapper json = new ObjectMapper();
            ObjectNode meta = json.createObjectNode();
            meta.put("point", kind.shortName);
            meta.putPOJO("shape", new int[] {ls.length, nPos, width});
            meta.putPOJO("layers", ls);
            meta.putPOJO("positions", first.positions());
            ArrayNode toks = meta.putArray("tokens");
            for (int p : first.positions()) {
                int t = r.layout()[p];
                ObjectNode o = toks.addObject();
                o.put("position", p);
                if (t >= 0) {
                    o.put("token", t);
                    o.put("text", model.tokenText(t));
                } else {
                    o.putNull("token");
                    o.put("text", "<image " + (-1 - t) + ">");
                }
            }
            ModelInfo i = model.info();
            ObjectNode m = meta.putObject("model");
            m.put("path", model.path().toString());
            m.put("architecture", i.architecture());
            m.put("name", i.name());
            m.put("layers", i.layers());
            m.put("embedding_size", i.embeddingSize());
            m.put("heads", i.heads());
            m.put("kv_heads", i.kvHeads());
            m.put("vocabulary_size", i.vocabularySize());
            meta.put("prompt_positions", r.layout().length);
            meta.put("kv_type", promptOptions.kvType);
            meta.put("flash_attn", promptOptions.flashAttn);
            if (last != null) {
                ObjectNode l = meta.putObject("logits");
                l.put("file", logits.toString());
                l.put("position", r.layout().length - 1);
                l.put("vocabulary_size", last.length);
            }
            Path side = VectorFiles.sidecar(out);
            json.writerWithDefaultPrettyPrinter().writeValue(side.toFile(), meta);
            System.out.printf("wrote %s [%d layers, %d positions, %d] and %s%n", out, ls.length, nPos, width, side);
            if (last != null) {
                System.out.printf("wrote %s [%d] (logits of position %d)%n", logits, last.length, r.layout().length - 1);
            }
        }
        return 0;
    }
}
