package org.taskvec.organism;

import java.util.Arrays;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.tasks.Modality;

/**
 * The kinds of training episode of the model organism. Every episode is unimodal in its inputs: examples and query
 * are all text or all images. Text examples with an image query (cross-modal transfer) are never trained: that is
 * what the experiment measures.
 */
public enum EpisodeType {
    /** n text examples + a text query, all answers are targets: {@code Q:x\nA:y\n\n} x n + {@code Q:q\nA:a\n\n}. */
    TEXT_ICL("text-icl", Modality.TEXT, false, true, false),
    /** The task's instruction, then one text query: {@code The capital city of the country:\nQ:France\nA:Paris\n\n}. */
    INSTRUCTION_TEXT("instruction-text", Modality.TEXT, true, false, false),
    /** A bare image query answered with the entity's name: {@code Q:<image>\nA:France\n\n} (recognition). */
    IMAGE_NAME("image-name", Modality.IMAGE, false, false, true),
    /** The task's instruction, then one image query answered with the task's answer. */
    INSTRUCTION_IMAGE("instruction-image", Modality.IMAGE, true, false, false),
    /** n image examples + an image query, all answers are targets. */
    IMAGE_ICL("image-icl", Modality.IMAGE, false, true, false);

    private final String key;
    private final Modality modality;
    private final boolean instruction;
    private final boolean incontext;
    private final boolean naming;

    EpisodeType(String key, Modality modality, boolean instruction, boolean incontext, boolean naming) {
        this.key = key;
        this.modality = modality;
        this.instruction = instruction;
        this.incontext = incontext;
        this.naming = naming;
    }

    /** The name in files and on the command line. */
    public String key() {
        return key;
    }

    /** The modality of every input of the episode (examples and query). */
    public Modality modality() {
        return modality;
    }

    /** Whether the task's instruction comes before the query. */
    public boolean instruction() {
        return instruction;
    }

    /** Whether the episode has in-context examples (1..max). */
    public boolean incontext() {
        return incontext;
    }

    /** Whether the answer is the entity's name (the item's input) rather than the task's output. */
    public boolean naming() {
        return naming;
    }

    public static EpisodeType parse(String key) {
        return Arrays.stream(values()).filter(t -> t.key.equals(key)).findFirst()
                .orElseThrow(() -> new InvalidInputException("unknown episode type '" + key + "'; types: "
                        + Arrays.stream(values()).map(EpisodeType::key).toList()));
    }
}
