package org.taskvec.tasks;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import org.taskvec.engine.Image;
import org.taskvec.engine.Prompt;
import org.taskvec.hooks.Positions;

/**
 * The paper's prompts (xpatch_dataset.format_prompt, special token ":"), without a chat template:
 * {@code Q:{x}\nA:{y}\n\n} per example, then {@code Q:{query}\nA:}; an image input takes the place of {@code {x}}.
 * The task vector is read at the ":" of the last example's {@code A:} (with the query appended, the third ":"
 * from the end) and patched at the query's final ":" (the last position). A style with a tokenizer
 * ({@link PromptStyle#plain(org.taskvec.engine.Model)}) makes each ":" end a token for every tokenizer
 * ({@link Delimiters}).
 */
public final class IclPrompts {
    /** The delimiter whose position carries the task vector. */
    public static final String DELIMITER = ":";

    private IclPrompts() {}

    /** {@code Q:{x}\nA:} */
    public static String query(String x) {
        return "Q:" + x + "\nA:";
    }

    /** {@code {y}\n\n} */
    public static String answer(String y) {
        return y + "\n\n";
    }

    /** Where the task vector is read in an examples prompt that ends with a query: the last example's ":". */
    public static Positions taskVectorPosition(boolean queryAppended) {
        return taskVectorPosition(queryAppended, PromptStyle.PLAIN);
    }

    public static Positions taskVectorPosition(boolean queryAppended, PromptStyle style) {
        return Positions.delimiter(DELIMITER, (queryAppended ? -3 : -1) - style.trailingDelimiters());
    }

    /** Where a vector is patched in a query: its final ":" (the last position without a chat template). */
    public static Positions patchPosition() {
        return patchPosition(PromptStyle.PLAIN);
    }

    public static Positions patchPosition(PromptStyle style) {
        return Positions.delimiter(DELIMITER, -1 - style.trailingDelimiters());
    }

    /**
     * An in-context prompt: examples given in exampleModality, then (when query is not null) the query in
     * queryModality. images gives the image of an item (used only for image inputs).
     */
    public static Prompt build(List<TaskItem> examples, Modality exampleModality, TaskItem query,
                               Modality queryModality, Function<TaskItem, Image> images) {
        return build(examples, exampleModality, query, queryModality, images, PromptStyle.PLAIN);
    }

    /** As {@link #build(List, Modality, TaskItem, Modality, Function)}, the text passed through style. */
    public static Prompt build(List<TaskItem> examples, Modality exampleModality, TaskItem query,
                               Modality queryModality, Function<TaskItem, Image> images, PromptStyle style) {
        Objects.requireNonNull(examples, "examples");
        StringBuilder text = new StringBuilder();
        List<Image> imgs = new ArrayList<>();
        for (TaskItem e : examples) {
            text.append(query(input(e, exampleModality, images, imgs))).append(answer(e.output()));
        }
        if (query != null) {
            text.append(query(input(query, queryModality, images, imgs)));
        }
        if (text.length() == 0) {
            throw new IllegalArgumentException("a prompt needs examples or a query");
        }
        return style.prepare(Prompt.withImages(style.wrap().apply(text.toString()), imgs));
    }

    /** A bare query {@code Q:{x}\nA:}. */
    public static Prompt query(TaskItem query, Modality modality, Function<TaskItem, Image> images) {
        return query(query, modality, images, PromptStyle.PLAIN);
    }

    public static Prompt query(TaskItem query, Modality modality, Function<TaskItem, Image> images,
                               PromptStyle style) {
        return build(List.of(), Modality.TEXT, query, modality, images, style);
    }

    /** The instruction as its own prompt (the vector is read at its final ":"). */
    public static Prompt instruction(String instruction) {
        return instruction(instruction, PromptStyle.PLAIN);
    }

    public static Prompt instruction(String instruction, PromptStyle style) {
        if (!instruction.strip().endsWith(DELIMITER)) {
            instruction = instruction.strip() + DELIMITER;
        }
        return style.prepare(Prompt.of(style.wrap().apply(instruction)));
    }

    /**
     * Between an instruction and the query that follows it in one prompt. The paper reads instruction vectors from
     * the instruction alone ({@link #instruction(String)}); the model organism is also trained on instructed queries
     * ({@link #instructed}), so that the instruction's final ":" has a task to carry.
     */
    public static final String INSTRUCTION_SEPARATOR = "\n";

    /**
     * The instruction, as {@link #instruction(String)} makes it (ending in ":"), then {@link #INSTRUCTION_SEPARATOR},
     * then prompt (a plain prompt of this class: text and images, no chat template):
     * {@code The capital city of the country:\nQ:France\nA:}.
     */
    public static Prompt instructed(String instruction, Prompt prompt) {
        Objects.requireNonNull(prompt, "prompt");
        List<Image> imgs = new ArrayList<>();
        for (Prompt.Part part : prompt.parts()) {
            if (part.isTokens()) {
                throw new IllegalArgumentException("an instructed prompt is built from text and images, not tokens");
            }
            if (part.isImage()) {
                imgs.add(part.image());
            }
        }
        String head = instruction(instruction).parts().get(0).text();
        return Prompt.withImages(head + INSTRUCTION_SEPARATOR + prompt, imgs);
    }

    private static String input(TaskItem item, Modality m, Function<TaskItem, Image> images, List<Image> imgs) {
        if (m == Modality.TEXT) {
            return item.input();
        }
        imgs.add(images.apply(item));
        return Prompt.MEDIA_MARKER;
    }
}
