package org.taskvec.perf;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.Arrays;
import org.taskvec.engine.GpuDevices;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.NativeLibrary;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;
import org.taskvec.hooks.RunResult;

/**
 * Proves the hooks on a GPU (run by benchmarks/gpu-check.sh): an identity patch gives bit-identical logits, a
 * last-layer transplant makes the target's logits equal the source's, and captures of every layer match those of
 * the CPU engine on the same model within a tolerance. Writes a JSON report; exit code 1 when a check fails.
 *
 * <pre>java -cp taskvec.jar:lib/* org.taskvec.perf.GpuCheck MODEL OUT.json [GPU_LAYERS=-1] [TOLERANCE=0.05]</pre>
 *
 * The tolerance: the GPU computes the same graph with other kernels (cuBLAS, fused attention, F16 tensor-core
 * accumulation for F16 weights), so values differ by rounding that grows with depth; 5% of the layer's largest
 * value bounds that on the benchmark-shaped models while still catching a wrong row, position or layer (which
 * differ by O(1)).
 */
public final class GpuCheck {
    private GpuCheck() {}

    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        Path out = Path.of(args[1]);
        int gpuLayers = args.length > 2 ? Integer.parseInt(args[2]) : -1;
        double tolerance = args.length > 3 ? Double.parseDouble(args[3]) : 0.05;
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("model", model.toString());
        root.put("gpu_layers", gpuLayers);
        root.put("system", NativeLibrary.systemInfo().trim());
        root.putPOJO("gpus", GpuDevices.list());
        Prompt source = Prompt.of("Q:France\nA:Paris\n\nQ:Japan\nA:Tokyo\n\nQ:Italy\nA:");
        Prompt target = Prompt.of("Hello world, how are you today? I am");
        SessionParams sp = SessionParams.defaults().withContextSize(1024);
        boolean ok = true;
        try (Model gpu = Model.load(model, ModelParams.defaults().withGpuLayers(gpuLayers));
             Session s = gpu.newSession(sp)) {
            int last = gpu.layers() - 1;
            int mid = gpu.layers() / 2;
            // identity patch
            s.evaluate(source, false);
            float[] plain = s.logits();
            s.truncate(0);
            RunResult cap = HookedRun.run(s, source, Hooks.create().capture("blocks." + mid + ".resid_post",
                    Positions.all()));
            s.truncate(0);
            HookedRun.run(s, source, Hooks.create().replaceRows("blocks." + mid + ".resid_post", Positions.all(),
                    cap.captures().get(0).rows()));
            boolean identity = Arrays.equals(plain, s.logits());
            root.put("identity_patch_bit_identical", identity);
            root.put("identity_patch_max_abs_diff", maxAbs(plain, s.logits()));
            // last-layer transplant
            s.truncate(0);
            RunResult src = HookedRun.run(s, source, Hooks.create().capture("blocks." + last + ".resid_post",
                    Positions.last()));
            float[] sourceLogits = s.logits();
            s.truncate(0);
            HookedRun.run(s, target, Hooks.create().replace("blocks." + last + ".resid_post", Positions.last(),
                    src.captures().get(0).last()));
            boolean transplant = Arrays.equals(sourceLogits, s.logits());
            root.put("last_layer_transplant_equal", transplant);
            root.put("last_layer_transplant_max_abs_diff", maxAbs(sourceLogits, s.logits()));
            ok &= identity && transplant;
            // captures against the CPU engine
            s.truncate(0);
            RunResult g = HookedRun.run(s, source, Hooks.create().captureLayers("resid_post", gpu.layers(),
                    Positions.all()));
            try (Model cpu = Model.load(model, ModelParams.defaults().withGpuLayers(0));
                 Session c = cpu.newSession(sp)) {
                RunResult r = HookedRun.run(c, source, Hooks.create().captureLayers("resid_post", cpu.layers(),
                        Positions.all()));
                double worst = 0;
                double[] perLayer = new double[gpu.layers()];
                for (int l = 0; l < gpu.layers(); l++) {
                    perLayer[l] = relError(g.captures().get(l).rows(), r.captures().get(l).rows());
                    worst = Math.max(worst, perLayer[l]);
                }
                root.putPOJO("capture_rel_error_per_layer", perLayer);
                root.put("capture_rel_error_worst", worst);
                root.put("capture_tolerance", tolerance);
                ok &= worst <= tolerance;
            }
        }
        root.put("passed", ok);
        json.writerWithDefaultPrettyPrinter().writeValue(out.toFile(), root);
        System.out.println(json.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        System.exit(ok ? 0 : 1);
    }

    static double maxAbs(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

    /** max |got - want| over all rows / max |want|: the error measure of the hook tests and the GPU check. */
    public static double relError(float[][] got, float[][] want) {
        double diff = 0;
        double max = 0;
        for (int p = 0; p < want.length; p++) {
            for (int i = 0; i < want[p].length; i++) {
                diff = Math.max(diff, Math.abs(got[p][i] - want[p][i]));
                max = Math.max(max, Math.abs(want[p][i]));
            }
        }
        return diff / max;
    }
}
