package org.taskvec.rpc;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.RemoteBackendException;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

/**
 * Run by {@link RpcTest} in a JVM of its own (so that a crash cannot take the test run with it): a model split over
 * this CPU and two RPC servers loses one server in the middle of a generation. Arguments: the model file, the
 * server that is killed (host:port and pid), the server that stays. Prints what happened, one line per step; exits
 * 0 when every step behaved.
 */
public final class RpcKillScenario {
    private RpcKillScenario() {}

    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        String doomed = args[1];
        long doomedPid = Long.parseLong(args[2]);
        String stays = args[3];
        Prompt prompt = Prompt.of("Once upon a time, in a land far away,");
        GenerationParams greedy = GenerationParams.greedy(40);
        SessionParams sp = SessionParams.defaults().withContextSize(256).withThreads(1);

        int[] want;
        try (Model local = Model.load(model); Session s = local.newSession(sp)) {
            want = s.generate(prompt, greedy).tokens();
        }
        Model split = Model.load(model, ModelParams.defaults().withGpuLayers(4)
                .withRpcServers(List.of(doomed, stays)).withTensorSplit(List.of(1f, 1f)));
        Session s = split.newSession(sp);
        int[] seen = {0};
        try {
            s.generate(prompt, greedy, (token, text) -> {
                if (++seen[0] == 5) {
                    ProcessHandle.of(doomedPid).ifPresent(h -> {
                        h.destroyForcibly();
                        h.onExit().orTimeout(30, TimeUnit.SECONDS).join();
                    });
                    System.out.println("killed the server " + doomed + " after token 5");
                }
                return true;
            });
            System.out.println("FAIL: the generation finished without its server (" + seen[0] + " tokens)");
            System.exit(2);
        } catch (RemoteBackendException e) {
            System.out.println("lost after " + seen[0] + " tokens: " + e.getMessage());
        }
        try {
            s.evaluate(prompt);
            System.out.println("FAIL: the session evaluated a prompt after losing its server");
            System.exit(3);
        } catch (RemoteBackendException e) {
            System.out.println("session refused: " + e.getMessage());
        }
        try (Session again = split.newSession(sp)) {
            System.out.println("FAIL: a new session started on a model that lost its server");
            System.exit(4);
        } catch (RemoteBackendException e) {
            System.out.println("new session refused: " + e.getMessage());
        }
        s.close();
        split.close();
        System.out.println("closed the session and the model");
        // the server that stayed serves a model loaded again
        try (Model again = Model.load(model, ModelParams.defaults().withGpuLayers(4).withRpcServers(List.of(stays)));
             Session s2 = again.newSession(sp)) {
            int[] got = s2.generate(prompt, greedy).tokens();
            if (!Arrays.equals(want, got)) {
                System.out.println("FAIL: reloaded on " + stays + ": " + Arrays.toString(got) + " != "
                        + Arrays.toString(want));
                System.exit(5);
            }
            System.out.println("reloaded on " + stays + ": " + got.length + " tokens equal to the local run");
        }
        System.out.println("survived");
    }
}
