package org.taskvec.xpatch;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.engine.Model;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.RunResult;
import org.taskvec.tasks.IclPrompts;
import org.taskvec.tasks.Modality;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;
import org.taskvec.tasks.TaskLoader;
import org.taskvec.vectors.VectorSet;

class TaskVectorsTest {
    static Model model;
    static Session session;

    @BeforeAll
    static void load() {
        model = TestModels.loadTinyWithProjector();
        session = model.newSession(SessionParams.defaults().withContextSize(1024).withThreads(TestModels.threads())
                .withKvCacheType(SessionParams.KvCacheType.F32).withFlashAttention(SessionParams.FlashAttention.OFF));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void exampleDrawsAreSeededAndNeverIncludeTheQuery() {
        List<TaskItem> pool = TaskLoader.builtin("food-color").val();
        for (int i = 0; i < pool.size(); i++) {
            List<TaskItem> a = TaskVectors.examplesFor(pool, i, 5, 1);
            assertEquals(5, a.size());
            assertFalse(a.contains(pool.get(i)), "the query is not its own example");
            assertEquals(5, a.stream().distinct().count());
            assertEquals(a, TaskVectors.examplesFor(pool, i, 5, 1), "same seed, same draw");
        }
        assertNotEquals(TaskVectors.examplesFor(pool, 0, 5, 1), TaskVectors.examplesFor(pool, 0, 5, 2));
    }

    @Test
    void theTaskVectorIsTheMeanOfThePerPromptVectors() {
        TaskData task = TaskLoader.builtin("food-flavor");
        VectorSet v = TaskVectors.fromExamples(session, task, Modality.TEXT, 3, 7);
        assertEquals(model.layers(), v.layers().length);
        int layer = 2;
        float[] mean = new float[model.embeddingSize()];
        for (int i = 0; i < task.val().size(); i++) {
            var prompt = IclPrompts.build(TaskVectors.examplesFor(task.val(), i, 3, 7), Modality.TEXT,
                    task.val().get(i), Modality.TEXT, it -> null);
            session.truncate(0);
            RunResult r = HookedRun.run(session, prompt, Hooks.create().capture("blocks." + layer + ".resid_post",
                    IclPrompts.taskVectorPosition(true)));
            float[] x = r.captures().get(0).last();
            for (int d = 0; d < mean.length; d++) {
                mean[d] += x[d] / task.val().size();
            }
        }
        float[] got = v.forLayer(layer);
        for (int d = 0; d < mean.length; d++) {
            assertEquals(mean[d], got[d], 1e-4 * Math.max(1, Math.abs(mean[d])), "dimension " + d);
        }
        assertTrue(v.metadata().get(VectorSet.PROVENANCE).contains("seed 7"));
        // the same seed gives the same vector (reproducible), another seed another one
        assertArrayEquals(got, TaskVectors.fromExamples(session, task, Modality.TEXT, 3, 7).forLayer(layer), 1e-5f);
        assertFalse(java.util.Arrays.equals(got, TaskVectors.fromExamples(session, task, Modality.TEXT, 3, 8)
                .forLayer(layer)));
    }

    @Test
    void instructionVectorsAndEnsembles() {
        VectorSet inst = TaskVectors.fromInstruction(session, "The color of the food:");
        session.truncate(0);
        RunResult r = HookedRun.run(session, IclPrompts.instruction("The color of the food"), Hooks.create()
                .capture("blocks.1.resid_post", IclPrompts.taskVectorPosition(false)));
        assertEquals(r.layout().length - 1, r.captures().get(0).positions()[0], "read at the instruction's last ':'");
        assertArrayEquals(r.captures().get(0).last(), inst.forLayer(1), 1e-5f);
        float[][] a = {{1f, 2f}, {3f, -4f}};
        float[][] b = {{3f, 0f}, {-3f, 4f}};
        float[][] m = TaskVectors.mean(a, b);
        assertArrayEquals(new float[] {2f, 1f}, m[0]);
        assertArrayEquals(new float[] {0f, 0f}, m[1]);
    }
}
