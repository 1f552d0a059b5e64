package org.taskvec.xpatch;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.taskvec.engine.Session;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.RunResult;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;
import org.taskvec.vectors.VectorSet;

/**
 * Task vectors as the paper extracts them: the residual stream after every layer at the ":" of the last example's
 * {@code A:}, averaged over one prompt per validation item (that item as the query, {@code nExamples} random other
 * validation items as examples, drawn with the run's seed); or, for an instruction, at the instruction's final ":".
 */
public final class TaskVectors {
    private TaskVectors() {}

    /**
     * The task vector of a task specified by nExamples examples in modality (averaged over one prompt per
     * validation item), for every layer, with its provenance in the metadata.
     */
    public static VectorSet fromExamples(Session session, TaskData task, Modality modality, int nExamples,
                                         long seed) {
        float[][] v = fromExamples(new XpatchContext(session.model(), session), task, modality, nExamples, seed);
        return asSet(session, v, nExamples + " " + modality.name().toLowerCase() + " examples of " + task.name()
                + " (" + task.val().size() + " validation prompts, seed " + seed + ")");
    }

    /** The task vector of an instruction (read at its final ":"), for every layer. */
    public static VectorSet fromInstruction(Session session, String instruction) {
        float[][] v = fromInstruction(new XpatchContext(session.model(), session), instruction);
        return asSet(session, v, "instruction \"" + instruction + "\"");
    }

    private static VectorSet asSet(Session session, float[][] v, String provenance) {
        int[] layers = java.util.stream.IntStream.range(0, v.length).toArray();
        return new VectorSet(layers, v, java.util.Map.of(VectorSet.MODEL, session.model().path().toString(),
                VectorSet.POINT, "resid_post", VectorSet.PROVENANCE, provenance,
                "architecture", session.model().info().architecture()));
    }

    /** [layer][width]: the mean over the validation prompts of the residual at every layer. */
    static float[][] fromExamples(XpatchContext cx, TaskData task, Modality modality, int nExamples, long seed) {
        List<TaskItem> val = task.val();
        if (val.size() < nExamples + 1) {
            throw new org.taskvec.engine.InvalidInputException("task " + task.name() + " has " + val.size()
                    + " validation items; " + nExamples + " examples need " + (nExamples + 1));
        }
        int nLayer = cx.model.layers();
        float[][] sum = new float[nLayer][cx.model.embeddingSize()];
        for (int i = 0; i < val.size(); i++) {
            List<TaskItem> examples = examplesFor(val, i, nExamples, seed);
            var prompt = IclPrompts.build(examples, modality, val.get(i), modality, it -> cx.image(task, it), cx.style);
            RunResult r = HookedRun.run(cx.session, prompt, Hooks.create()
                    .captureLayers("resid_post", nLayer, IclPrompts.taskVectorPosition(true, cx.style)));
            for (int l = 0; l < nLayer; l++) {
                float[] v = r.captures().get(l).last();
                for (int d = 0; d < v.length; d++) {
                    sum[l][d] += v[d];
                }
            }
        }
        for (float[] row : sum) {
            for (int d = 0; d < row.length; d++) {
                row[d] /= val.size();
            }
        }
        return sum;
    }

    /** [prompt][width]: the per-prompt vectors at one layer (one prompt per validation item), before averaging. */
    static float[][] perPrompt(XpatchContext cx, TaskData task, Modality modality, int nExamples, long seed,
                               int layer) {
        List<TaskItem> val = task.val();
        float[][] out = new float[val.size()][];
        for (int i = 0; i < val.size(); i++) {
            var prompt = IclPrompts.build(examplesFor(val, i, nExamples, seed), modality, val.get(i), modality,
                    it -> cx.image(task, it), cx.style);
            RunResult r = HookedRun.run(cx.session, prompt, Hooks.create()
                    .capture("blocks." + layer + ".resid_post", IclPrompts.taskVectorPosition(true, cx.style)));
            out[i] = r.captures().get(0).last();
        }
        return out;
    }

    /** [layer][width]: the residual at the instruction's final ":" (one forward pass). */
    static float[][] fromInstruction(XpatchContext cx, String instruction) {
        int nLayer = cx.model.layers();
        RunResult r = HookedRun.run(cx.session, IclPrompts.instruction(instruction, cx.style), Hooks.create()
                .captureLayers("resid_post", nLayer, IclPrompts.taskVectorPosition(false, cx.style)));
        float[][] out = new float[nLayer][];
        for (int l = 0; l < nLayer; l++) {
            out[l] = r.captures().get(l).last();
        }
        return out;
    }

    /** The element-wise mean of two vector sets (the paper's 50/50 ensemble). */
    static float[][] mean(float[][] a, float[][] b) {
        float[][] m = new float[a.length][];
        for (int l = 0; l < a.length; l++) {
            m[l] = new float[a[l].length];
            for (int d = 0; d < a[l].length; d++) {
                m[l][d] = (a[l][d] + b[l][d]) / 2f;
            }
        }
        return m;
    }

    /** nExamples random validation items other than item i, reproducible from (seed, i). */
    static List<TaskItem> examplesFor(List<TaskItem> pool, int i, int nExamples, long seed) {
        List<Integer> others = new ArrayList<>();
        for (int k = 0; k < pool.size(); k++) {
            if (k != i) {
                others.add(k);
            }
        }
        java.util.Collections.shuffle(others, new Random(seed * 1_000_003L + i));
        List<TaskItem> out = new ArrayList<>();
        for (int k = 0; k < nExamples; k++) {
            out.add(pool.get(others.get(k)));
        }
        return out;
    }
}
