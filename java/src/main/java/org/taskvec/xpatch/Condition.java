package org.taskvec.xpatch;

import org.taskvec.tasks.Modality;

/**
 * The paper's evaluation conditions (v2 names; v1 names in brackets). Each says how the task is specified (text
 * examples, image examples, an instruction, both, or nothing), in which modality the query comes, and whether the
 * specification shares the query's context window (prompt) or is patched in as a task vector (patch).
 */
public enum Condition {
    /** bare query {@code Q:<image>\nA:} [No Context] */
    NO_CONTEXT("No Context", null, Modality.IMAGE, Kind.NONE),
    /** image examples and image query in one context [Image ICL Base] */
    IMAGE_EXAMPLES_PROMPT("Image Examples Prompt", Modality.IMAGE, Modality.IMAGE, Kind.PROMPT),
    /** image-examples task vector patched on the bare image query [Image ICL Patch] */
    IMAGE_EXAMPLES_PATCH("Image Examples Patch", Modality.IMAGE, Modality.IMAGE, Kind.PATCH),
    /** text examples and image query in one context [Text ICL xBase] */
    TEXT_EXAMPLES_PROMPT("Text Examples Prompt (xBase)", Modality.TEXT, Modality.IMAGE, Kind.PROMPT),
    /** text-examples task vector patched on the bare image query [Text ICL xPatch] */
    TEXT_EXAMPLES_PATCH("Text Examples Patch (xPatch)", Modality.TEXT, Modality.IMAGE, Kind.PATCH),
    /** text-examples task vector patched on the bare text query */
    TEXT_TEXT_PATCH("Text->Text Patch", Modality.TEXT, Modality.TEXT, Kind.PATCH),
    /** image-examples task vector patched on the bare text query */
    IMAGE_TEXT_PATCH("Image->Text xPatch", Modality.IMAGE, Modality.TEXT, Kind.PATCH),
    /** instruction vector patched on the bare image query */
    INSTRUCTION_PATCH("Instruction Patch", null, Modality.IMAGE, Kind.INSTRUCTION),
    /** mean of the text-examples and instruction vectors patched on the bare image query */
    ENSEMBLE_PATCH("Ensemble Patch", Modality.TEXT, Modality.IMAGE, Kind.ENSEMBLE),
    /** text-examples task vector of a second model (the VLM's base LLM) patched on the VLM's bare image query */
    LLM_VLM_PATCH("LLM->VLM xPatch", Modality.TEXT, Modality.IMAGE, Kind.OTHER_MODEL);

    /** How the task reaches the query. */
    public enum Kind { NONE, PROMPT, PATCH, INSTRUCTION, ENSEMBLE, OTHER_MODEL }

    public final String title;
    public final Modality examples;
    public final Modality query;
    public final Kind kind;

    Condition(String title, Modality examples, Modality query, Kind kind) {
        this.title = title;
        this.examples = examples;
        this.query = query;
        this.kind = kind;
    }

    /** Whether the condition puts several images into one context (impossible for single-image models). */
    public boolean needsSeveralImages() {
        return examples == Modality.IMAGE && kind == Kind.PROMPT;
    }

    /** Whether the condition needs image examples at all. */
    public boolean usesImageExamples() {
        return examples == Modality.IMAGE;
    }

    /** The conditions of a run without a second model (all but LLM->VLM). */
    public static java.util.List<Condition> withoutSecondModel() {
        return java.util.Arrays.stream(values()).filter(c -> c.kind != Kind.OTHER_MODEL).toList();
    }

    public String key() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    public static Condition parse(String s) {
        for (Condition c : values()) {
            if (c.key().equals(s) || c.name().equalsIgnoreCase(s)) {
                return c;
            }
        }
        throw new org.taskvec.engine.InvalidInputException("unknown condition '" + s + "'; valid: "
                + java.util.Arrays.stream(values()).map(Condition::key).toList());
    }
}
