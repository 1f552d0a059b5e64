package org.taskvec.tasks;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.taskvec.TestModels;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;

/**
 * The task-vector and patch positions for every tokenizer the families use: the token that ends the last example's
 * {@code A:}, and the query's final ":", found whether the tokenizer keeps ":" apart (LLaMA SentencePiece) or
 * merges it with the answer after it (Qwen2's byte-level BPE: {@code :Paris}).
 */
class DelimitersTest {
    static Model load(String shape) {
        Path model = shape.equals("tiny") ? TestModels.tinyModel()
                : TestModels.generated(ModelShape.byName(shape)).resolve(ModelSynthesizer.MODEL_FILE);
        return Model.load(model, ModelParams.defaults());
    }

    static final List<TaskItem> EXAMPLES = List.of(new TaskItem("France", "Paris", null), new TaskItem("Japan", "Tokyo", null),
            new TaskItem("Peru", "Lima", null));
    static final TaskItem QUERY = new TaskItem("Italy", "Rome", null);

    @ParameterizedTest
    @CsvSource({"tiny, llama-spm, false", "qwen25vl-tiny, qwen2, true", "gemma3-tiny, gemma-4, false",
            "smolvlm-tiny, gpt-2, false"})
    void theVectorIsReadWhereTheLastExamplesAEndsAndPatchedAtTheQuerysColon(String shape, String vocab,
                                                                              boolean merges) {
        try (Model m = load(shape); Session s = m.newSession(SessionParams.defaults().withContextSize(256))) {
            PromptStyle style = PromptStyle.plain(m);
            Prompt natural = IclPrompts.build(EXAMPLES, Modality.TEXT, QUERY, Modality.TEXT, null, PromptStyle.PLAIN);
            Prompt aligned = IclPrompts.build(EXAMPLES, Modality.TEXT, QUERY, Modality.TEXT, null, style);
            String text = natural.parts().get(0).text();
            // whether this tokenizer merges a ':' with what follows it, so that no token ends there
            assertEquals(merges, Delimiters.cuts(m, text, ":").length > 0, vocab + ": " + tokens(m, natural, s));
            assertEquals(!merges, aligned.parts().stream().allMatch(Prompt.Part::isText)
                    && aligned.toString().equals(natural.toString()), "changed only where the tokenizer merges");
            int[] layout = s.layout(aligned);
            int vec = IclPrompts.taskVectorPosition(true, style).resolve(layout, m)[0];
            int patch = IclPrompts.patchPosition(style).resolve(layout, m)[0];
            // the text up to the vector's position ends with the last example's "A:", and the answer follows
            String before = m.detokenize(Arrays.copyOfRange(layout, 0, vec + 1));
            String after = m.detokenize(Arrays.copyOfRange(layout, vec + 1, layout.length));
            assertTrue(before.endsWith("Q:Peru\nA:"), vocab + ": '" + before + "'");
            assertTrue(after.startsWith("Lima\n\nQ:Italy\nA:"), vocab + ": '" + after + "'");
            assertEquals(layout.length - 1, patch, vocab + ": the query's final ':' is the last position");
            assertTrue(m.tokenText(layout[patch]).endsWith(":"));
            // the same text, token for token, apart from the cuts
            assertEquals(text.replace("\n", "|"), m.detokenize(layout).replace("<s>", "").replace("<bos>", "")
                    .replace("<|endoftext|>", "").stripLeading().replace("\n", "|"));
        }
    }

    private static String tokens(Model m, Prompt p, Session s) {
        StringBuilder b = new StringBuilder();
        for (int t : s.layout(p)) {
            b.append('[').append(m.tokenText(t).replace("\n", "\\n")).append(']');
        }
        return b.toString();
    }
}
