package org.taskvec.xpatch;

import java.util.List;
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
 * @param caseSensitive whether the metric compares case (true)
 * @param severalImages whether the model takes several images in one context (false for LLaVA-1.5)
 * @param maxTestItems evaluate at most this many test items per task (0 = all)
 * @param lensPrompts prompts per task for the logit-lens phases (0: skip the analyses)
 * @param chatTemplate null for the paper's plain prompts; "model" for the model's chat template; or a template
 *     name llama.cpp knows (e.g. "vicuna")
 */
public record XpatchConfig(List<String> tasks, List<Condition> conditions, int layer, List<Integer> seeds,
                           int nExamples, int maxNewTokens, boolean caseSensitive, boolean severalImages,
                           int maxTestItems, int lensPrompts, String chatTemplate) {
    public XpatchConfig {
        tasks = List.copyOf(tasks);
        conditions = List.copyOf(conditions);
        seeds = List.copyOf(seeds);
        if (tasks.isEmpty() || conditions.isEmpty() || seeds.isEmpty()) {
            throw new org.taskvec.engine.InvalidInputException("tasks, conditions and seeds must not be empty");
        }
        if (nExamples < 1 || maxNewTokens < 1 || maxTestItems < 0 || lensPrompts < 0) {
            throw new org.taskvec.engine.InvalidInputException("nExamples and maxNewTokens must be >= 1");
        }
    }

    public static XpatchConfig paperDefaults(boolean severalImages) {
        return new XpatchConfig(PaperTasks.NAMES, Condition.withoutSecondModel(), -1, List.of(1, 2, 3), 5, 1, true,
                severalImages, 0, 30, null);
    }
}
