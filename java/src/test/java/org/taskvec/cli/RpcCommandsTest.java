package org.taskvec.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.net.ServerSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.taskvec.TestModels;
import org.taskvec.rpc.RpcServerProcess;

/** The RPC options of the CLI against one loopback `taskvec rpc-server`: info, auto offload, errors. */
class RpcCommandsTest {
    static RpcServerProcess server;

    @BeforeAll
    static void start() throws InterruptedException {
        server = RpcServerProcess.start("RpcCommandsTest/server");
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void infoListsTheRemoteDeviceAndWhereTheBlocksAre() {
        CliTest.Run r = CliTest.run("info", "--model", TestModels.tinyModel().toString(), "--rpc", server.endpoint(),
                "--gpu-layers", "-1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().matches("(?s).*\\n  RPC\\d+ +" + java.util.regex.Pattern.quote(server.endpoint())
                + " +4 layers, [0-9,]+ MiB free of [0-9,]+ MiB \\(remote\\)\\n.*"), r.out());
        assertTrue(r.out().contains("  CPU          this process             0 layers"), r.out());
        CliTest.Run plain = CliTest.run("info", "--model", TestModels.tinyModel().toString());
        assertTrue(plain.out().contains("layers on      this CPU (all 4)"), plain.out());
    }

    @Test
    void autoCountsTheServersMemoryAndGeneratesWhatTheLocalRunDoes() {
        String[] gen = {"generate", "--model", TestModels.tinyModel().toString(), "--prompt", "Q:France\\nA:",
                "--max-tokens", "12", "--threads", String.valueOf(TestModels.threads())};
        CliTest.Run local = CliTest.run(gen);
        assertEquals(0, local.code(), local.err());
        String[] remote = java.util.Arrays.copyOf(gen, gen.length + 4);
        remote[gen.length] = "--rpc";
        remote[gen.length + 1] = server.endpoint();
        remote[gen.length + 2] = "--gpu-layers";
        remote[gen.length + 3] = "auto";
        CliTest.Run r = CliTest.run(remote);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("taskvec: gpu layers -1 (RPC " + server.endpoint() + "#0 "), r.err());
        assertTrue(r.err().contains("MiB free: everything fits)"), r.err());
        assertEquals(local.out(), r.out());
    }

    @Test
    void aServerThatIsNotThereAndABadListIsAOneLineError() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        CliTest.Run r = CliTest.run("generate", "--model", TestModels.tinyModel().toString(), "--prompt", "x",
                "--rpc", "127.0.0.1:" + port, "--gpu-layers", "-1");
        assertEquals(1, r.code());
        assertEquals("taskvec: error: ggml-rpc: cannot connect to the RPC server at 127.0.0.1:" + port
                + " (nothing listens there, or the host is unreachable)", r.err().strip());
        CliTest.Run bad = CliTest.run("generate", "--model", TestModels.tinyModel().toString(), "--prompt", "x",
                "--rpc", "127.0.0.1:" + port + ",nohostport");
        assertEquals(1, bad.code());
        assertEquals("taskvec: error: RPC server 'nohostport' is not host:port", bad.err().strip());
        CliTest.Run split = CliTest.run("generate", "--model", TestModels.tinyModel().toString(), "--prompt", "x",
                "--rpc", server.endpoint(), "--tensor-split", "1,x");
        assertEquals(1, split.code());
        assertTrue(split.err().contains("--tensor-split takes numbers separated by commas"), split.err());
    }

    @Test
    void rpcServerRefusesAPortInUseAndWarnsOffLoopback() throws IOException {
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            CliTest.Run r = CliTest.run("rpc-server", "--port", String.valueOf(taken.getLocalPort()));
            assertEquals(1, r.code());
            assertTrue(r.err().startsWith("taskvec: error: cannot listen on 127.0.0.1:" + taken.getLocalPort()),
                    r.err());
        }
        CliTest.Run v6 = CliTest.run("rpc-server", "--host", "::1", "--port", "0");
        assertEquals(1, v6.code());
        assertEquals("taskvec: error: --host ::1: ggml's RPC server listens on IPv4 only", v6.err().strip());
        // 192.0.2.1 (TEST-NET-1) is no address of this host: the warning comes first, then the refusal
        CliTest.Run off = CliTest.run("rpc-server", "--host", "192.0.2.1", "--port", "0");
        assertEquals(1, off.code());
        assertTrue(off.err().contains("WARNING: bound to 192.0.2.1, not loopback"), off.err());
        assertTrue(off.err().contains("Never expose it to an open network"), off.err());
        assertTrue(off.err().contains("taskvec: error: cannot listen on 192.0.2.1:0"), off.err());
    }
}
