package org.taskvec.perf;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.taskvec.engine.Generation;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

/**
 * Batched decode through the Java API, measured as llama.cpp's llama-batched-bench measures it (its default mode:
 * a separate prompt per sequence, batched generation): for each prompt length pp, generation length tg and number
 * of parallel sequences pl, the pl prompts of pp tokens are evaluated as separate sequences together
 * ({@link Session#evaluateAll}, llama-batched-bench's PP), then tg greedy tokens are generated in every sequence,
 * one decode of pl rows per step ({@link Session#generateAll}, its TG). The KV cache is emptied before each
 * configuration; a warm-up decode of 16 tokens comes first. The session is one unified KV cache of
 * {@code params.contextSize()} cells (llama-batched-bench's {@code -kvu -c}), its batch and micro-batch as
 * {@code -b} and {@code -ub}.
 *
 * <p>Differences that remain: the engine's tokens are greedy picks from the logits (llama-batched-bench feeds random
 * tokens), and a sequence that picks its end-of-generation token stops; {@link Row#decodedTokens} counts what was
 * decoded, and S_TG is that count over T_TG.
 */
public final class BatchedBench {
    /** One configuration, in llama-batched-bench's JSONL names (times in seconds, speeds in tokens/s). */
    public record Row(int pp, int tg, int pl, int nKv, double tPp, double speedPp, double tTg, double speedTg,
                      int decodedTokens) {
        /** The JSON line llama-batched-bench --output-format jsonl writes, plus decoded_tokens. */
        public String json() {
            return String.format(java.util.Locale.ROOT, "{\"pp\": %d, \"tg\": %d, \"pl\": %d, \"n_kv\": %d, "
                    + "\"t_pp\": %f, \"speed_pp\": %f, \"t_tg\": %f, \"speed_tg\": %f, \"t\": %f, \"speed\": %f, "
                    + "\"decoded_tokens\": %d}", pp, tg, pl, nKv, tPp, speedPp, tTg, speedTg, tPp + tTg,
                    (pl * pp + decodedTokens) / (tPp + tTg), decodedTokens);
        }
    }

    private BatchedBench() {}

    /** The session's parameters for these configurations: params with max(npl) sequences. */
    public static SessionParams sessionParams(SessionParams params, int[] npl) {
        int max = 1;
        for (int pl : npl) {
            max = Math.max(max, pl);
        }
        return params.withSequences(max);
    }

    /**
     * Runs every (pp, tg, pl) in llama-batched-bench's order (pp, then tg, then pl) in session, whose sequences
     * must number at least max(npl); configurations whose pl * (pp + tg) exceed the context are skipped, as there.
     */
    public static List<Row> run(Model model, Session session, int[] npp, int[] ntg, int[] npl, long seed,
                                Consumer<Row> each) {
        Random rnd = new Random(seed);
        int vocab = model.vocabularySize();
        int nKvMax = session.contextSize();
        clear(session);
        // warm-up: 16 tokens in sequence 0, as llama-batched-bench does
        session.evaluateAll(List.of(randomPrompt(rnd, vocab, 16)), new int[] {0}, false);
        List<Row> rows = new ArrayList<>();
        for (int pp : npp) {
            for (int tg : ntg) {
                for (int pl : npl) {
                    if (pl > session.sequences()) {
                        throw new org.taskvec.engine.InvalidInputException(pl + " sequences asked of a session of "
                                + session.sequences());
                    }
                    int nKv = pl * (pp + tg);
                    if (nKv > nKvMax) {
                        continue;
                    }
                    List<Prompt> prompts = new ArrayList<>();
                    int[] seqs = new int[pl];
                    for (int j = 0; j < pl; j++) {
                        prompts.add(randomPrompt(rnd, vocab, pp));
                        seqs[j] = j;
                    }
                    clear(session);
                    long t0 = System.nanoTime();
                    session.evaluateAll(prompts, seqs, false);
                    long t1 = System.nanoTime();
                    List<Generation> gens = session.generateAll(seqs, GenerationParams.greedy(tg));
                    long t2 = System.nanoTime();
                    int decoded = 0;
                    for (Generation g : gens) {
                        decoded += g.tokens().length; // without an end-of-generation token (not decoded)
                    }
                    double tPp = (t1 - t0) / 1e9;
                    double tTg = (t2 - t1) / 1e9;
                    Row row = new Row(pp, tg, pl, nKv, tPp, pl * pp / tPp, tTg, decoded / tTg, decoded);
                    rows.add(row);
                    each.accept(row);
                }
            }
        }
        clear(session);
        return rows;
    }

    /** n random tokens (no BOS: llama-batched-bench adds none), ids above the special ones. */
    private static Prompt randomPrompt(Random rnd, int vocab, int n) {
        int[] ids = new int[n];
        for (int k = 0; k < n; k++) {
            ids[k] = 100 + rnd.nextInt(vocab - 100);
        }
        return Prompt.builder().addBos(false).tokens(ids).build();
    }

    private static void clear(Session session) {
        for (int q = 0; q < session.sequences(); q++) {
            session.truncate(q, 0);
        }
    }
}
