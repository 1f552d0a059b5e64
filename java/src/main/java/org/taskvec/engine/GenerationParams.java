package org.taskvec.engine;

import java.util.List;

/**
 * How to generate: length, sampling and stop conditions. Immutable; start from {@link #greedy(int)}.
 *
 * @param maxTokens most tokens to generate
 * @param temperature 0 for greedy decoding
 * @param topK 0 to disable
 * @param topP 1 to disable
 * @param seed seed of the random draw (ignored when greedy)
 * @param stopStrings generation ends when the text contains one of them (it is cut before it)
 * @param stopTokens generation ends at one of these tokens (end-of-generation tokens always stop it)
 */
public record GenerationParams(int maxTokens, float temperature, int topK, float topP, int seed,
                               List<String> stopStrings, List<Integer> stopTokens) {
    public GenerationParams {
        if (maxTokens < 0) {
            throw new InvalidInputException("maxTokens must be >= 0, got " + maxTokens);
        }
        if (!(temperature >= 0f && temperature <= 100f)) {
            throw new InvalidInputException("temperature must be in [0, 100], got " + temperature);
        }
        if (topK < 0) {
            throw new InvalidInputException("topK must be >= 0, got " + topK);
        }
        if (!(topP > 0f && topP <= 1f)) {
            throw new InvalidInputException("topP must be in (0, 1], got " + topP);
        }
        stopStrings = List.copyOf(stopStrings);
        stopTokens = List.copyOf(stopTokens);
        for (String s : stopStrings) {
            if (s.isEmpty()) {
                throw new InvalidInputException("stop strings must not be empty");
            }
        }
    }

    public static GenerationParams greedy(int maxTokens) {
        return new GenerationParams(maxTokens, 0f, 40, 0.95f, 0, List.of(), List.of());
    }

    public GenerationParams withSampling(float temperature, int topK, float topP, int seed) {
        return new GenerationParams(maxTokens, temperature, topK, topP, seed, stopStrings, stopTokens);
    }

    public GenerationParams withStopStrings(List<String> stops) {
        return new GenerationParams(maxTokens, temperature, topK, topP, seed, stops, stopTokens);
    }

    public GenerationParams withStopTokens(List<Integer> stops) {
        return new GenerationParams(maxTokens, temperature, topK, topP, seed, stopStrings, stops);
    }

    public boolean isGreedy() {
        return temperature == 0f;
    }
}
