package org.taskvec.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.taskvec.TestModels;
import org.taskvec.synth.ModelShape;
import org.taskvec.synth.ModelSynthesizer;

/**
 * The paper's experiment on each family's generated model: every condition, image-example conditions included
 * (these projectors take several images per context), through the family's tokenizer and delimiter positions.
 */
class FamilyXpatchTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {"qwen25vl-tiny", "gemma3-tiny", "smolvlm-tiny", "qwen3vl-tiny"})
    void everyConditionRunsOnTheFamily(String shape, @TempDir Path out) throws Exception {
        Path dir = TestModels.generated(ModelShape.byName(shape));
        CliTest.Run r = CliTest.run("xpatch", "--model", dir.resolve(ModelSynthesizer.MODEL_FILE).toString(),
                "--mmproj", dir.resolve(ModelSynthesizer.PROJECTOR_FILE).toString(), "--tasks", "country-capital",
                "--seeds", "1", "--layer", "1", "--examples", "3", "--max-test", "2", "--lens-prompts", "1",
                "--threads", String.valueOf(TestModels.threads()), "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(out.resolve("results.json").toFile());
        assertTrue(j.get("config").get("several_images").asBoolean(), shape + " takes several images per context");
        // nine conditions without --llm, one task, one seed: every row applicable and counting the 2 test items
        assertEquals(9, j.get("rows").size(), j.get("rows").toString());
        for (JsonNode row : j.get("rows")) {
            assertTrue(row.get("applicable").asBoolean(), row.toString());
            assertEquals(2, row.get("total").asInt(), row.toString());
        }
        assertTrue(Files.readString(out.resolve("report.md")).contains("Image Examples Patch"));
    }
}
