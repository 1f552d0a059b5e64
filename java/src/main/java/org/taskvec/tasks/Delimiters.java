package org.taskvec.tasks;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;

/**
 * Delimiter positions for every tokenizer. The paper reads the task vector at the ":" that ends the last example's
 * {@code A:} and patches at the query's final ":". LLaMA's SentencePiece keeps ":" a token of its own there, but
 * byte-level BPE tokenizers may merge it with the text that follows: Qwen2's pre-tokenizer makes {@code A:Paris}
 * into {@code A}, {@code :Paris}, so no token ends at the delimiter, and the answer would leak into the position
 * the vector is read from.
 *
 * <p>{@link #align} makes every delimiter of a prompt's text end a token. Where the model's own tokenization
 * already does (LLaMA SentencePiece on the paper's prompts) the prompt is returned unchanged, so nothing changes for
 * those models. Elsewhere the text is cut right after each delimiter that no token ends, and the pieces are
 * tokenized apart: the model then sees {@code :} and {@code Paris} where its tokenizer alone would give
 * {@code :Paris}. Positions are found by character offsets, not by comparing token texts, so merges on the other
 * side ({@code A:} as one token) are found as well; {@code Positions.delimiter} then counts the tokens that end with
 * the delimiter.
 */
public final class Delimiters {
    private Delimiters() {}

    /**
     * prompt with every occurrence of delimiter in its text parts ending a token of model's tokenizer: the same
     * prompt when that holds already, else one whose affected text parts are pre-tokenized pieces.
     */
    public static Prompt align(Model model, Prompt prompt, String delimiter) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(prompt, "prompt");
        if (delimiter == null || delimiter.isEmpty()) {
            throw new InvalidInputException("the delimiter is empty");
        }
        Prompt.Builder b = Prompt.builder().addBos(prompt.addBos());
        boolean changed = false;
        boolean first = true;
        for (Prompt.Part part : prompt.parts()) {
            if (part.isText()) {
                int[] cuts = cuts(model, part.text(), delimiter);
                if (cuts.length == 0) {
                    b.text(part.text());
                } else {
                    b.tokens(tokenizePieces(model, part.text(), cuts, first && prompt.addBos(), delimiter));
                    changed = true;
                }
            } else if (part.isImage()) {
                b.image(part.image());
            } else {
                b.tokens(part.tokens());
            }
            first = false;
        }
        return changed ? b.build() : prompt;
    }

    /**
     * Byte offsets just after each occurrence of delimiter in text at which no token of model's tokenization of
     * text ends (empty: every delimiter ends a token already).
     */
    static int[] cuts(Model model, String text, String delimiter) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ends = tokenEnds(model, text, bytes);
        byte[] d = delimiter.getBytes(StandardCharsets.UTF_8);
        List<Integer> cuts = new ArrayList<>();
        for (int at : occurrences(bytes, d)) {
            int end = at + d.length;
            if (Arrays.binarySearch(ends, end) < 0) {
                cuts.add(end);
            }
        }
        return cuts.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Byte offsets in text at which the tokens of text end, ascending. */
    private static int[] tokenEnds(Model model, String text, byte[] bytes) {
        int[] tokens = model.tokenize(text, false, true);
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        int[] ends = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            joined.writeBytes(model.tokenBytes(tokens[i]));
            ends[i] = joined.size();
        }
        byte[] all = joined.toByteArray();
        // SentencePiece puts a space before the first word of a text (its "dummy prefix")
        int shift = Arrays.equals(all, bytes) ? 0
                : all.length == bytes.length + 1 && all[0] == ' ' && Arrays.equals(all, 1, all.length, bytes, 0,
                        bytes.length) ? 1 : -1;
        if (shift < 0) {
            throw new InvalidInputException("the tokens of this text do not spell it back, so delimiter positions "
                    + "cannot be found by offset (the tokenizer normalises the text): "
                    + abbreviate(text));
        }
        for (int i = 0; i < ends.length; i++) {
            ends[i] -= shift;
        }
        return ends;
    }

    /** Tokens of text cut at the given byte offsets, each piece tokenized on its own. */
    private static int[] tokenizePieces(Model model, String text, int[] cuts, boolean addBos, String delimiter) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        List<int[]> pieces = new ArrayList<>();
        int from = 0;
        for (int i = 0; i <= cuts.length; i++) {
            int to = i < cuts.length ? cuts[i] : bytes.length;
            if (to > from) {
                String piece = new String(bytes, from, to - from, StandardCharsets.UTF_8);
                pieces.add(model.tokenize(piece, addBos && from == 0, true));
            }
            from = to;
        }
        int[] out = pieces.stream().flatMapToInt(Arrays::stream).toArray();
        // every delimiter of the text now ends a token: as many tokens end with it as the text holds
        int ending = 0;
        for (int t : out) {
            ending += model.tokenText(t).endsWith(delimiter) ? 1 : 0;
        }
        int expected = occurrences(bytes, delimiter.getBytes(StandardCharsets.UTF_8)).size();
        if (ending != expected) {
            throw new IllegalStateException("after cutting at its delimiters, " + ending + " tokens end with '"
                    + delimiter + "' where the text has " + expected + ": " + abbreviate(text));
        }
        return out;
    }

    private static List<Integer> occurrences(byte[] bytes, byte[] d) {
        List<Integer> at = new ArrayList<>();
        for (int i = 0; i + d.length <= bytes.length; i++) {
            if (Arrays.equals(bytes, i, i + d.length, d, 0, d.length)) {
                at.add(i);
                i += d.length - 1;
            }
        }
        return at;
    }

    private static String abbreviate(String text) {
        String t = text.replace("\n", "\\n");
        return t.length() > 80 ? t.substring(0, 80) + "..." : t;
    }
}
