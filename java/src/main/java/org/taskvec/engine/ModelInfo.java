package org.taskvec.engine;

/**
 * Facts about a loaded model.
 *
 * @param architecture general.architecture (e.g. llama, qwen2vl, gemma3)
 * @param name general.name, or "" when absent
 * @param description llama.cpp's one-line description (type, size, quantisation)
 * @param layers decoder blocks
 * @param embeddingSize width of the residual stream
 * @param heads attention heads
 * @param kvHeads key/value heads
 * @param vocabularySize tokens in the vocabulary
 * @param trainingContext context length the model was trained with
 * @param parameters parameter count
 * @param sizeBytes size of the weights
 * @param chatTemplate the model's chat template, or null
 * @param hasProjector whether a vision projector is loaded
 */
public record ModelInfo(String architecture, String name, String description, int layers, int embeddingSize,
                        int heads, int kvHeads, int vocabularySize, int trainingContext, long parameters,
                        long sizeBytes, String chatTemplate, boolean hasProjector) {}
