package org.taskvec.rpc;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Image;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.RemoteBackendException;
import org.taskvec.engine.RpcServers;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.Capture;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;
import org.taskvec.hooks.RunResult;
import org.taskvec.testing.ChildProcess;

/**
 * ggml's RPC backend on loopback: the tiny model split over this process's CPU (block 0) and two RPC servers in
 * processes of their own (blocks 1-2 on one, block 3 and the output layer on the other) computes what the local model computes, hooks included on the remote blocks;
 * a server lost mid-run is a typed exception; a port with nothing listening is a clear error.
 */
class RpcTest {
    static RpcServerProcess a;
    static RpcServerProcess b;
    static Model local;
    static Model split;

    static final Prompt TEXT = Prompt.of("Q:France\nA:Paris\n\nQ:Japan\nA:");

    @BeforeAll
    static void start() throws InterruptedException {
        try {
            a = RpcServerProcess.start("RpcTest/server-a");
            b = RpcServerProcess.start("RpcTest/server-b");
            local = TestModels.loadTinyWithProjector();
            split = Model.load(TestModels.tinyModel(), ModelParams.defaults().withProjector(TestModels.tinyProjector())
                    .withGpuLayers(4).withRpcServers(List.of(a.endpoint(), b.endpoint()))
                    .withTensorSplit(List.of(1f, 2f)));
        } catch (RuntimeException | Error | InterruptedException e) {
            stop();
            throw e;
        }
    }

    @AfterAll
    static void stop() throws InterruptedException {
        try {
            if (split != null) {
                split.close();
            }
            if (local != null) {
                local.close();
            }
        } finally {
            try {
                if (a != null) {
                    a.close();
                }
            } finally {
                if (b != null) {
                    b.close();
                }
            }
        }
    }

    static SessionParams exact() {
        return SessionParams.defaults().withContextSize(512).withThreads(TestModels.threads())
                .withKvCacheType(SessionParams.KvCacheType.F32).withFlashAttention(SessionParams.FlashAttention.OFF);
    }

    static Prompt withImage() {
        byte[] rgb = new byte[32 * 32 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 37 + (i / 96) * 11);
        }
        return Prompt.builder().text("Look: ").image(Image.ofRgb(32, 32, rgb)).text(" It shows a").build();
    }

    @Test
    void blocksAreWhereTheSplitPutsThem() {
        List<Model.Device> devices = split.devices();
        assertEquals(2, devices.size(), devices.toString());
        assertEquals(a.endpoint(), devices.get(0).description());
        assertEquals(b.endpoint(), devices.get(1).description());
        assertTrue(devices.get(0).remote() && devices.get(1).remote(), devices.toString());
        // --gpu-layers 4 offloads blocks 1-3 and the output layer; llama.cpp splits those 4 by cumulative share
        // (1:2 gives the first server offsets 0 and 1 of 4, below 1/3, and the second the rest): blocks 1-2 on the
        // first server, block 3 and the output on the second; block 0 stays on this CPU
        assertEquals(2, devices.get(0).layers(), devices.toString());
        assertEquals(1, devices.get(1).layers(), devices.toString());
        assertEquals(1, split.cpuLayers());
        assertTrue(devices.get(0).totalBytes() > 0 && devices.get(0).freeBytes() > 0, devices.toString());
        assertEquals(0, local.devices().size());
        assertEquals(4, local.cpuLayers());
        List<RpcServers.RemoteDevice> remote = RpcServers.devices(a.endpoint());
        assertEquals(1, remote.size(), "a server without a GPU offers its CPU: " + remote);
    }

    @Test
    void generationEqualsTheLocalRunTokenForToken() {
        GenerationParams greedy = GenerationParams.greedy(32);
        for (Prompt p : List.of(TEXT, withImage())) {
            try (Session l = local.newSession(exact()); Session r = split.newSession(exact())) {
                int[] want = l.generate(p, greedy).tokens();
                int[] got = r.generate(p, greedy).tokens();
                assertEquals(32, want.length);
                assertArrayEquals(want, got, "greedy tokens, local vs split over two RPC servers");
            }
        }
    }

    @Test
    void capturesAtEveryBlockAndAReplaceOnARemoteBlockEqualTheLocalRun() {
        int layers = local.layers();
        int[] early = java.util.stream.IntStream.range(0, layers - 1).toArray();
        String last = "blocks." + (layers - 1) + ".";
        // every block at every position (the last block keeps only its output rows: there, the last position)
        Hooks captures = Hooks.create().captureLayers("resid_post", early, Positions.all())
                .captureLayers("attn_out", early, Positions.all()).captureLayers("mlp_out", early, Positions.all())
                .capture(last + "resid_post", Positions.last()).capture(last + "attn_out", Positions.last())
                .capture(last + "mlp_out", Positions.last());
        float[] vector = new float[local.embeddingSize()];
        for (int i = 0; i < vector.length; i++) {
            vector[i] = (float) Math.sin(i * 0.7) * 3f;
        }
        for (Prompt p : List.of(TEXT, withImage())) {
            try (Session l = local.newSession(exact()); Session r = split.newSession(exact())) {
                RunResult want = HookedRun.run(l, p, captures);
                RunResult got = HookedRun.run(r, p, captures);
                assertEquals(3 * layers, want.captures().size());
                assertEquals(want.captures().size(), got.captures().size());
                for (int k = 0; k < want.captures().size(); k++) {
                    Capture w = want.captures().get(k);
                    Capture g = got.captures().get(k);
                    assertEquals(w.point(), g.point());
                    assertArrayEquals(w.positions(), g.positions());
                    for (int row = 0; row < w.rows().length; row++) {
                        // the servers run the same ggml CPU kernels on the same bytes: bit for bit
                        assertArrayEquals(w.rows()[row], g.rows()[row], 0f, w.point() + " row " + row);
                    }
                }
                assertArrayEquals(l.logits(), r.logits(), 0f, "logits after the captured run");
                // a replace on block 2, which lives on the first server
                Hooks patch = Hooks.create().replace("blocks.2.resid_post", Positions.last(), vector)
                        .capture("blocks.3.resid_post", Positions.last());
                RunResult pl = HookedRun.run(l, p, patch);
                RunResult pr = HookedRun.run(r, p, patch);
                assertArrayEquals(pl.capture("blocks.3.resid_post").last(), pr.capture("blocks.3.resid_post").last(),
                        0f, "the block after the patched remote block");
                assertArrayEquals(l.logits(), r.logits(), 0f, "logits after a replace on a remote block");
                assertFalse(java.util.Arrays.equals(pl.capture("blocks.3.resid_post").last(),
                        want.capture("blocks.3.resid_post").last()), "the replace changed what follows it");
            }
        }
    }

    @Test
    void aPortWithNothingListeningIsAClearError() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        String endpoint = "127.0.0.1:" + port;
        RemoteBackendException e = assertThrows(RemoteBackendException.class, () -> Model.load(TestModels.tinyModel(),
                ModelParams.defaults().withGpuLayers(-1).withRpcServers(List.of(endpoint))));
        assertTrue(e.getMessage().contains("cannot connect to the RPC server at " + endpoint), e.getMessage());
        RemoteBackendException d = assertThrows(RemoteBackendException.class, () -> RpcServers.devices(endpoint));
        assertTrue(d.getMessage().contains(endpoint), d.getMessage());
        // and the process goes on: a model on the servers that are up still loads
        try (Model m = Model.load(TestModels.tinyModel(),
                ModelParams.defaults().withGpuLayers(-1).withRpcServers(List.of(b.endpoint())))) {
            assertEquals(local.layers(), m.devices().get(0).layers());
        }
    }

    @Test
    void badEndpointsAreRefusedBeforeNativeCode() {
        for (String bad : List.of("localhost", "127.0.0.1:", ":50052", "127.0.0.1:0", "127.0.0.1:70000",
                "127.0.0.1:50052/x", "[::1]:50052", "")) {
            assertThrows(InvalidInputException.class, () -> ModelParams.defaults().withRpcServers(List.of(bad)), bad);
        }
        assertThrows(InvalidInputException.class,
                () -> ModelParams.defaults().withRpcServers(List.of("127.0.0.1:5000", "127.0.0.1:5000")));
        assertThrows(InvalidInputException.class, () -> ModelParams.defaults().withTensorSplit(List.of(0f, 0f)));
        assertThrows(InvalidInputException.class, () -> ModelParams.defaults().withTensorSplit(List.of(-1f, 2f)));
        // more shares than the model has devices: refused by the native check
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Model.load(TestModels.tinyModel(),
                ModelParams.defaults().withGpuLayers(-1).withRpcServers(List.of(b.endpoint()))
                        .withTensorSplit(List.of(1f, 1f, 1f))));
        assertTrue(e.getMessage().contains("tensor_split has 3 entries for 1 devices"), e.getMessage());
    }

    @Test
    void aServerKilledMidRunIsATypedExceptionAndTheJvmSurvives() throws InterruptedException {
        // servers of its own: a server serves one client at a time, and this JVM is the client of a and b
        try (RpcServerProcess doomed = RpcServerProcess.start("RpcTest/server-doomed");
             RpcServerProcess stays = RpcServerProcess.start("RpcTest/server-stays")) {
            ChildProcess.Result r = ChildProcess.java("RpcTest/kill-scenario", List.of("-Xmx256m"),
                    RpcKillScenario.class.getName(), TestModels.tinyModel().toString(), doomed.endpoint(),
                    String.valueOf(doomed.pid()), stays.endpoint()).timeout(Duration.ofSeconds(180)).run();
            String out = r.stdout();
            r.assertExit(0);
            assertTrue(out.contains("killed the server " + doomed.endpoint() + " after token 5"), out);
            assertTrue(out.contains("lost after 5 tokens: ggml-rpc: lost the connection to the RPC server at "
                    + doomed.endpoint()), out);
            assertTrue(out.contains("session refused: ggml-rpc: the model lost an RPC server earlier"), out);
            assertTrue(out.contains("new session refused: cannot create a session: ggml-rpc: the model lost an RPC "
                    + "server earlier"), out);
            assertTrue(out.contains("closed the session and the model"), out);
            assertTrue(out.contains("reloaded on " + stays.endpoint() + ": 40 tokens equal to the local run"), out);
            assertTrue(out.contains("survived"), out);
            assertFalse(doomed.process.process().isAlive());
        }
    }
}
