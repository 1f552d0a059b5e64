package org.taskvec.xpatch;

import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.tasks.PaperTasks;

/**
 * Settings of a cross-modal patching run; defaults are the paper's.
 *
 * @param tasks task names
 * @param conditions conditions to evaluate
 * @param layer the patched layer, or -1 to choose it by a sweep on the validation split
 * @param seeds seeds of the example draws (the paper: 1, 2, 3)
 * @param nExamples examples per prompt (5)
 * @param maxNewTokens new tokens per prediction (1)
 * @param caseSensitive whether the main metric (every condition and the layer sweep) compares case (true, as the
 *     official code's main runs: {@code allow_lower_case} is unset there)
 * @param severalImages whether the model takes several images in one context (false for LLaVA-1.5)
 * @param maxTestItems evaluate at most this many test items per task (0 = all)
 * @param lensPrompts prompts per task for the logit-lens phases (0: skip the analyses)
 * @param chatTemplate null for the paper's plain prompts; "model" for the model's chat template; or a template
 *     name llama.cpp knows (e.g. "vicuna")
 * @param procedure the procedure details where this project once differed from the official code
 */
public record XpatchConfig(List<String> tasks, List<Condition> conditions, int layer, List<Integer> seeds,
                           int nExamples, int maxNewTokens, boolean caseSensitive, boolean severalImages,
                           int maxTestItems, int lensPrompts, String chatTemplate, Procedure procedure) {
    public XpatchConfig {
        tasks = List.copyOf(tasks);
        conditions = List.copyOf(conditions);
        seeds = List.copyOf(seeds);
        Objects.requireNonNull(procedure, "procedure");
        if (tasks.isEmpty() || conditions.isEmpty() || seeds.isEmpty()) {
            throw new InvalidInputException("tasks, conditions and seeds must not be empty");
        }
        if (nExamples < 1 || maxNewTokens < 1) {
            throw new InvalidInputException("nExamples and maxNewTokens must be >= 1 (got " + nExamples + " and "
                    + maxNewTokens + ")");
        }
        if (maxTestItems < 0 || lensPrompts < 0) {
            throw new InvalidInputException("maxTestItems and lensPrompts must be >= 0 (got " + maxTestItems
                    + " and " + lensPrompts + ")");
        }
    }

    /** The settings with the official code's procedure ({@link Procedure#OFFICIAL}). */
    public XpatchConfig(List<String> tasks, List<Condition> conditions, int layer, List<Integer> seeds,
                        int nExamples, int maxNewTokens, boolean caseSensitive, boolean severalImages,
                        int maxTestItems, int lensPrompts, String chatTemplate) {
        this(tasks, conditions, layer, seeds, nExamples, maxNewTokens, caseSensitive, severalImages, maxTestItems,
                lensPrompts, chatTemplate, Procedure.OFFICIAL);
    }

    public static XpatchConfig paperDefaults(boolean severalImages) {
        return new XpatchConfig(PaperTasks.NAMES, Condition.withoutSecondModel(), -1, List.of(1, 2, 3), 5, 1, true,
                severalImages, 0, 30, null, Procedure.OFFICIAL);
    }

    /** The same settings with another procedure. */
    public XpatchConfig withProcedure(Procedure p) {
        return new XpatchConfig(tasks, conditions, layer, seeds, nExamples, maxNewTokens, caseSensitive,
                severalImages, maxTestItems, lensPrompts, chatTemplate, p);
    }

    /** Which seeds' vectors the layer sweep patches. */
    public enum SweepSeeds {
        /** every seed's vector, the accuracies averaged over the seeds (official: {@code avg_seed_accuracy}) */
        MEAN,
        /** the first seed's vector only (this project's earlier behaviour) */
        FIRST;

        public String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Where the in-context examples of the Examples Prompt conditions (xBase, Image Examples Prompt) come from. */
    public enum ExampleSplit {
        /** other test items, never the query (official: the test-mode dataset draws from its own split) */
        TEST,
        /** validation items (this project's earlier behaviour) */
        VAL;

        public String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** How the logit lens picks its input, task and answer tokens. */
    public enum LensTokens {
        /** the first token of the word as it follows "A:" in a prompt (the token the model would write there) */
        AFTER_COLON,
        /** the first token of the word tokenized alone (SentencePiece adds a leading space: "▁Paris") */
        BARE;

        public String key() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    /** How a task vector is written into a query's residual at the patched layer and position. */
    public enum PatchMode {
        /** the residual is replaced by the vector (official: {@code patch_output_pair}, baukit {@code edit_output}) */
        REPLACE,
        /** the vector is added to the residual (as function vectors, Todd et al.; not the paper's procedure) */
        ADD;

        public String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * Procedure details of the official code (g-luo/task_vectors_are_cross_modal) that this project did differently
     * at first; {@link #OFFICIAL} is the default, {@link #EARLIER} this project's earlier behaviour.
     *
     * @param sweepSeeds which seeds' vectors the layer sweep patches
     * @param promptExamples where the Examples Prompt conditions draw their in-context examples
     * @param scanCaseSensitive whether the sample-efficiency scan compares case (official: no,
     *     {@code experiment_ensemble.sh} passes {@code allow_lower_case=true})
     * @param lensTokens how the logit lens picks its tokens
     * @param patchMode how a vector is written into the query (official: replacement)
     */
    public record Procedure(SweepSeeds sweepSeeds, ExampleSplit promptExamples, boolean scanCaseSensitive,
                            LensTokens lensTokens, PatchMode patchMode) {
        public static final Procedure OFFICIAL = new Procedure(SweepSeeds.MEAN, ExampleSplit.TEST, false,
                LensTokens.AFTER_COLON, PatchMode.REPLACE);
        public static final Procedure EARLIER = new Procedure(SweepSeeds.FIRST, ExampleSplit.VAL, true,
                LensTokens.BARE, PatchMode.REPLACE);

        public Procedure {
            Objects.requireNonNull(sweepSeeds, "sweepSeeds");
            Objects.requireNonNull(promptExamples, "promptExamples");
            Objects.requireNonNull(lensTokens, "lensTokens");
            Objects.requireNonNull(patchMode, "patchMode");
        }

        /** With the official replacement. */
        public Procedure(SweepSeeds sweepSeeds, ExampleSplit promptExamples, boolean scanCaseSensitive,
                         LensTokens lensTokens) {
            this(sweepSeeds, promptExamples, scanCaseSensitive, lensTokens, PatchMode.REPLACE);
        }

        public Procedure withPatchMode(PatchMode m) {
            return new Procedure(sweepSeeds, promptExamples, scanCaseSensitive, lensTokens, m);
        }

        public Procedure withSweepSeeds(SweepSeeds s) {
            return new Procedure(s, promptExamples, scanCaseSensitive, lensTokens, patchMode);
        }

        public Procedure withPromptExamples(ExampleSplit s) {
            return new Procedure(sweepSeeds, s, scanCaseSensitive, lensTokens, patchMode);
        }

        public Procedure withScanCaseSensitive(boolean b) {
            return new Procedure(sweepSeeds, promptExamples, b, lensTokens, patchMode);
        }

        public Procedure withLensTokens(LensTokens t) {
            return new Procedure(sweepSeeds, promptExamples, scanCaseSensitive, t, patchMode);
        }

        /** Parses a command-line value against the enum's keys, with a clear error naming the option. */
        public static <E extends Enum<E>> E parse(Class<E> type, String option, String value,
                                                  java.util.function.Function<E, String> key) {
            for (E e : type.getEnumConstants()) {
                if (key.apply(e).equals(value)) {
                    return e;
                }
            }
            throw new InvalidInputException(option + " must be one of " + java.util.Arrays.stream(
                    type.getEnumConstants()).map(key).toList() + ", not '" + value + "'");
        }
    }
}
