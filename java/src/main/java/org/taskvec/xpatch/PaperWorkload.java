package org.taskvec.xpatch;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;
import org.taskvec.hooks.RunResult;

/**
 * The paper's evaluation loop as a timed workload, with synthetic prompts of the paper's shapes, run through the
 * same machinery as {@code taskvec xpatch} (one session whose KV cache keeps shared prefixes, {@link Predictor} for
 * patched queries). benchmarks/official_loop.py runs the identical workload the official way (transformers, forward
 * hooks, no KV cache); both read the same workload file, so their times compare directly.
 *
 * <ul>
 *   <li>extraction: {@code extractionPrompts} text-example prompts of {@code extractionTokens} tokens ending in ":",
 *       every layer read at the last position, averaged into one vector per layer;</li>
 *   <li>patched queries: {@code patchedQueries} image queries "Q:&lt;image&gt;\nA:" (one random image each) with the
 *       vector of {@code patchLayer} written at the final ":", {@code newTokens} greedy tokens;</li>
 *   <li>layer sweep: {@code sweepQueries} image queries, patched at every layer in turn, one token each.</li>
 * </ul>
 */
public final class PaperWorkload {
    /** The workload; the JSON names match benchmarks/official_loop.py's. */
    public record Spec(@JsonProperty("extraction_prompts") int extractionPrompts,
                       @JsonProperty("extraction_tokens") int extractionTokens,
                       @JsonProperty("patched_queries") int patchedQueries,
                       @JsonProperty("new_tokens") int newTokens,
                       @JsonProperty("patch_layer") int patchLayer,
                       @JsonProperty("sweep_queries") int sweepQueries,
                       @JsonProperty("image_size") int imageSize,
                       @JsonProperty("seed") long seed) {
        /** The default: about what one task of the paper costs, with a 32-layer sweep on a 7B model. */
        public static Spec paperDefault() {
            return new Spec(30, 50, 20, 5, 15, 10, 336, 1);
        }
    }

    /** Phase times in milliseconds, single-step medians, and what was computed (to check both sides did the same). */
    public record Result(Map<String, Double> phasesMs, Map<String, Double> stepMedianMs, int queryTokens,
                         int sweepLayers, List<String> firstAnswers) {}

    private static final int COLON = 29901; // ":" in the LLaMA SPM vocabulary of the generated models

    private PaperWorkload() {}

    public static Result run(Model model, Session session, Spec spec, int repeats, Consumer<String> progress) {
        if (!model.hasProjector()) {
            throw new org.taskvec.engine.NoProjectorException("the paper workload needs a vision projector");
        }
        if (spec.patchLayer() < 0 || spec.patchLayer() >= model.layers()) {
            throw new org.taskvec.engine.InvalidInputException("patch_layer " + spec.patchLayer()
                    + " is out of range 0.." + (model.layers() - 1));
        }
        XpatchContext cx = new XpatchContext(model, session);
        Inputs in = inputs(spec);
        List<Prompt> extraction = in.extraction();
        List<Prompt> queries = in.queries();
        int nLayer = model.layers();
        Map<String, Double> phases = new LinkedHashMap<>();
        List<String> answers = new ArrayList<>();
        long start = System.nanoTime();

        progress.accept("extraction");
        long t = System.nanoTime();
        float[][] vectors = new float[nLayer][model.embeddingSize()];
        int slots = session.sequences();
        for (int from = 0; from < extraction.size(); from += slots) {
            // one prompt per sequence, decoded together (one prompt at a time with one sequence)
            int to = Math.min(extraction.size(), from + slots);
            List<Prompt> ps = extraction.subList(from, to);
            List<Hooks> hs = new ArrayList<>();
            for (int k = from; k < to; k++) {
                hs.add(Hooks.create().captureLayers("resid_post", nLayer, Positions.last()));
            }
            List<RunResult> rs = slots == 1 ? List.of(HookedRun.run(session, ps.get(0), hs.get(0)))
                    : HookedRun.runAll(session, ps, java.util.stream.IntStream.range(0, ps.size()).toArray(), hs);
            for (RunResult r : rs) {
                for (int l = 0; l < nLayer; l++) {
                    float[] v = r.captures().get(l).last();
                    for (int d = 0; d < v.length; d++) {
                        vectors[l][d] += v[d] / extraction.size();
                    }
                }
            }
        }
        phases.put("extraction", ms(t));

        progress.accept("patched queries");
        t = System.nanoTime();
        if (slots > 1) {
            // the queries side by side: patched prompts in one shared decode, then their tokens generated together
            for (int from = 0; from < spec.patchedQueries(); from += slots) {
                int to = Math.min(spec.patchedQueries(), from + slots);
                int[] seqs = java.util.stream.IntStream.range(0, to - from).toArray();
                List<Hooks> hs = new ArrayList<>();
                for (int k = from; k < to; k++) {
                    hs.add(Predictor.patch(cx, vectors[spec.patchLayer()], spec.patchLayer()));
                }
                HookedRun.runAll(session, queries.subList(from, to), seqs, hs);
                for (org.taskvec.engine.Generation g : session.generateAll(seqs,
                        org.taskvec.engine.GenerationParams.greedy(spec.newTokens()))) {
                    answers.add(model.detokenize(g.tokens()));
                }
            }
        } else {
            for (int i = 0; i < spec.patchedQueries(); i++) {
                // as Predictor.predict does it; the answer is the tokens' text as every path detokenizes it (a
                // generation's streamed text keeps the first token's leading space, a detokenized list does not)
                org.taskvec.engine.Generation g = HookedRun.generate(session, queries.get(i),
                        org.taskvec.engine.GenerationParams.greedy(spec.newTokens()),
                        Predictor.patch(cx, vectors[spec.patchLayer()], spec.patchLayer())).generation();
                answers.add(model.detokenize(g.tokens()));
            }
        }
        phases.put("patched_queries", ms(t));

        progress.accept("layer sweep");
        t = System.nanoTime();
        // query by query, so that the session's cache keeps each query's prefix across the layers; with parallel
        // sequences the layers' variants are forked from one prefix and decoded together
        for (int i = 0; i < spec.sweepQueries(); i++) {
            if (slots > 1) {
                List<Prompt> ps = Collections.nCopies(nLayer, queries.get(i));
                List<float[]> vs = java.util.Arrays.asList(vectors);
                List<Integer> ls = java.util.stream.IntStream.range(0, nLayer).boxed().toList();
                Predictor.predictBatch(cx, ps, vs, ls);
                continue;
            }
            for (int l = 0; l < nLayer; l++) {
                Predictor.predict(cx, queries.get(i), vectors[l], l, 1);
            }
        }
        phases.put("sweep", ms(t));
        phases.put("total", ms(start));

        progress.accept("single steps");
        Map<String, Double> steps = new LinkedHashMap<>();
        Prompt q = queries.get(0);
        float[] v = vectors[spec.patchLayer()];
        int layer = spec.patchLayer();
        steps.put("image_query_plain_forward", median(repeats, () -> {
            session.truncate(0);
            session.evaluate(q);
        }));
        steps.put("image_query_patched_forward", median(repeats, () -> {
            session.truncate(0);
            Predictor.predict(cx, q, v, layer, 1);
        }));
        steps.put("extraction_read_one_layer", median(repeats, () -> {
            session.truncate(0);
            HookedRun.run(session, extraction.get(0), Hooks.create().capture("blocks." + layer + ".resid_post",
                    Positions.last()));
        }));
        steps.put("patched_query_new_tokens", median(repeats, () -> {
            session.truncate(0);
            Predictor.predict(cx, q, v, layer, spec.newTokens());
        }));
        steps.put("sweep_step_cached_prefix", median(repeats, () -> Predictor.predict(cx, q, v, layer, 1)));
        return new Result(phases, steps, session.layout(q).length, nLayer, answers.subList(0,
                Math.min(3, answers.size())));
    }

    /** The workload's prompts: the extraction prompts and the image queries, from spec's seed. */
    private record Inputs(List<Prompt> extraction, List<Prompt> queries) {}

    private static Inputs inputs(Spec spec) {
        Random rnd = new Random(spec.seed());
        List<Prompt> extraction = new ArrayList<>();
        for (int i = 0; i < spec.extractionPrompts(); i++) {
            int[] ids = new int[spec.extractionTokens() - 1];
            for (int k = 0; k < ids.length - 1; k++) {
                ids[k] = 100 + rnd.nextInt(32000 - 100);
            }
            ids[ids.length - 1] = COLON;
            extraction.add(Prompt.builder().tokens(ids).build()); // BOS added: extractionTokens in all
        }
        List<Prompt> queries = new ArrayList<>();
        for (int i = 0; i < Math.max(spec.patchedQueries(), spec.sweepQueries()); i++) {
            queries.add(Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(randomImage(rnd,
                    spec.imageSize()))));
        }
        return new Inputs(extraction, queries);
    }

    /**
     * The same workload at the official procedure's cost (benchmarks/official_loop.py: forward hooks, no KV cache)
     * on this engine: every variant is a full forward pass from an empty cache. Each extraction prompt is one forward;
     * each patched query generates its new tokens greedily with one forward over the query and the tokens so far per
     * token (the patch kept at the query's final ":"); each swept layer is one forward over its query. Give a model
     * without an encoded-image cache ({@code ModelParams.withImageCacheBytes(0)}) to re-encode the image in every
     * forward, as the official loop does. Phase times only; the answers are those of the patched queries.
     */
    public static Result runOfficial(Model model, Session session, Spec spec, Consumer<String> progress) {
        if (!model.hasProjector()) {
            throw new org.taskvec.engine.NoProjectorException("the paper workload needs a vision projector");
        }
        if (spec.patchLayer() < 0 || spec.patchLayer() >= model.layers()) {
            throw new org.taskvec.engine.InvalidInputException("patch_layer " + spec.patchLayer()
                    + " is out of range 0.." + (model.layers() - 1));
        }
        Inputs in = inputs(spec);
        int nLayer = model.layers();
        int queryTokens = session.layout(in.queries().get(0)).length;
        Positions colon = Positions.of(queryTokens - 1); // the query's final ":", also once tokens follow it
        Map<String, Double> phases = new LinkedHashMap<>();
        List<String> answers = new ArrayList<>();
        long start = System.nanoTime();

        progress.accept("official: extraction");
        long t = System.nanoTime();
        float[][] vectors = new float[nLayer][model.embeddingSize()];
        for (Prompt p : in.extraction()) {
            session.truncate(0);
            RunResult r = HookedRun.run(session, p, Hooks.create().captureLayers("resid_post", nLayer,
                    Positions.last()));
            for (int l = 0; l < nLayer; l++) {
                float[] v = r.captures().get(l).last();
                for (int d = 0; d < v.length; d++) {
                    vectors[l][d] += v[d] / in.extraction().size();
                }
            }
        }
        phases.put("extraction", ms(t));

        progress.accept("official: patched queries");
        t = System.nanoTime();
        int layer = spec.patchLayer();
        for (int i = 0; i < spec.patchedQueries(); i++) {
            List<Integer> generated = new ArrayList<>();
            for (int k = 0; k < spec.newTokens(); k++) {
                int next = fullForward(session, withTokens(in.queries().get(i), generated), layer, vectors[layer],
                        colon);
                if (model.isEndOfGeneration(next)) {
                    break;
                }
                generated.add(next);
            }
            answers.add(model.detokenize(generated.stream().mapToInt(Integer::intValue).toArray()));
        }
        phases.put("patched_queries", ms(t));

        progress.accept("official: layer sweep");
        t = System.nanoTime();
        for (int i = 0; i < spec.sweepQueries(); i++) {
            for (int l = 0; l < nLayer; l++) {
                fullForward(session, in.queries().get(i), l, vectors[l], colon);
            }
        }
        phases.put("sweep", ms(t));
        phases.put("total", ms(start));
        return new Result(phases, Map.of(), queryTokens, nLayer, answers.subList(0, Math.min(3, answers.size())));
    }

    /** One forward pass from an empty cache with vector replacing resid_post after layer at positions: its arg-max. */
    private static int fullForward(Session session, Prompt prompt, int layer, float[] vector, Positions at) {
        session.truncate(0);
        HookedRun.run(session, prompt, Hooks.create().replace("blocks." + layer + ".resid_post", at, vector));
        float[] logits = session.logits();
        int best = 0;
        for (int k = 1; k < logits.length; k++) {
            best = logits[k] > logits[best] ? k : best;
        }
        return best;
    }

    /** prompt followed by tokens (as they are). */
    static Prompt withTokens(Prompt prompt, List<Integer> tokens) {
        if (tokens.isEmpty()) {
            return prompt;
        }
        Prompt.Builder b = Prompt.builder().addBos(prompt.addBos());
        for (Prompt.Part p : prompt.parts()) {
            if (p.isText()) {
                b.text(p.text());
            } else if (p.isImage()) {
                b.image(p.image());
            } else {
                b.tokens(p.tokens());
            }
        }
        return b.tokens(tokens.stream().mapToInt(Integer::intValue).toArray()).build();
    }

    private static Image randomImage(Random rnd, int side) {
        byte[] rgb = new byte[side * side * 3];
        rnd.nextBytes(rgb);
        return Image.ofRgb(side, side, rgb);
    }

    private static double ms(long since) {
        return (System.nanoTime() - since) / 1e6;
    }

    private static double median(int repeats, Runnable r) {
        for (int w = 0; w < 2; w++) {
            r.run();
        }
        List<Double> xs = new ArrayList<>();
        for (int k = 0; k < repeats; k++) {
            long t = System.nanoTime();
            r.run();
            xs.add(ms(t));
        }
        Collections.sort(xs);
        int n = xs.size();
        return n % 2 == 1 ? xs.get(n / 2) : (xs.get(n / 2 - 1) + xs.get(n / 2)) / 2;
    }
}
