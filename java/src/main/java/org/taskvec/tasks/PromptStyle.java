package org.taskvec.tasks;

import java.util.Objects;
import java.util.function.UnaryOperator;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;

/**
 * How prompt text reaches the model: as it is (the paper's default, no chat template), or wrapped as one user
 * message of a chat template. A template may end with delimiters of its own (Vicuna's "ASSISTANT:"), which shift
 * the task-vector and patch positions counted from the end; trailingDelimiters says how many. template is the
 * chat template applied, as text (the model's own template source, or llama.cpp's name of a built-in one), null for
 * plain prompts: with the wrapping itself it identifies the style in cache keys.
 */
public record PromptStyle(String name, UnaryOperator<String> wrap, int trailingDelimiters, String template,
                          Model tokenizer) {
    /**
     * Plain text, tokenized as the model's tokenizer does it: right for tokenizers that keep the delimiter a token of
     * its own (LLaMA SentencePiece). {@link #plain(Model)} is right for every tokenizer.
     */
    public static final PromptStyle PLAIN = new PromptStyle("plain", s -> s, 0, null, null);

    public PromptStyle {
        Objects.requireNonNull(wrap, "wrap");
    }

    /**
     * Plain text whose delimiters each end a token of model's tokenizer ({@link Delimiters#align}): the same
     * prompts as {@link #PLAIN} where the tokenizer keeps ":" apart, pre-tokenized pieces where it merges it.
     */
    public static PromptStyle plain(Model model) {
        return new PromptStyle("plain", s -> s, 0, null, Objects.requireNonNull(model, "model"));
    }

    /** A prompt of this style made ready for the model: delimiters aligned to token ends where a tokenizer is set. */
    public org.taskvec.engine.Prompt prepare(org.taskvec.engine.Prompt prompt) {
        return tokenizer == null ? prompt : Delimiters.align(tokenizer, prompt, IclPrompts.DELIMITER);
    }

    /** The model's chat template (template null) or a named one llama.cpp knows, e.g. "vicuna". */
    public static PromptStyle chat(Model model, String template) {
        String probe = "PROBE";
        String wrapped = model.chatWrap(probe, template).orElseThrow(() -> new InvalidInputException(
                template == null ? "the model has no chat template llama.cpp can apply; name one (e.g. vicuna)"
                        : "llama.cpp does not know the chat template '" + template + "'"));
        int at = wrapped.indexOf(probe);
        if (at < 0) {
            throw new InvalidInputException("the chat template drops the user's text");
        }
        int trailing = delimiters(model, wrapped) - delimiters(model, wrapped.substring(0, at + probe.length()));
        String text = template == null
                ? "model: " + model.header().getString("tokenizer.chat_template").orElse("(llama.cpp's default)")
                : "named (llama.cpp): " + template;
        return new PromptStyle("chat template " + (template == null ? "of the model" : template),
                s -> model.chatWrap(s, template).orElseThrow(), trailing, text, model);
    }

    private static int delimiters(Model model, String text) {
        // as Positions.delimiter counts them, in the text as the prompts will carry it
        int n = 0;
        org.taskvec.engine.Prompt p = Delimiters.align(model, org.taskvec.engine.Prompt.of(text), IclPrompts.DELIMITER);
        for (org.taskvec.engine.Prompt.Part part : p.parts()) {
            for (int t : part.isTokens() ? part.tokens() : model.tokenize(part.text(), false, true)) {
                n += model.tokenText(t).endsWith(IclPrompts.DELIMITER) ? 1 : 0;
            }
        }
        return n;
    }
}
