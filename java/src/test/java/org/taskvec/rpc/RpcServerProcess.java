package org.taskvec.rpc;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.opentest4j.AssertionFailedError;
import org.taskvec.testing.ChildProcess;

/**
 * A {@code taskvec rpc-server} in a process of its own on a loopback port the OS picks (--port 0); closing it kills
 * it. The test waits until the server accepts connections.
 */
public final class RpcServerProcess implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)");

    final ChildProcess.Running process;
    final int port;

    private RpcServerProcess(ChildProcess.Running process, int port) {
        this.process = process;
        this.port = port;
    }

    public String endpoint() {
        return "127.0.0.1:" + port;
    }

    public long pid() {
        return process.process().pid();
    }

    /** Starts a server (one CPU thread) and waits until it accepts connections. */
    public static RpcServerProcess start(String label) throws InterruptedException {
        return start(label, 0);
    }

    /** Starts a server on port (0: a free one) and waits until it accepts connections. */
    public static RpcServerProcess start(String label, int port) throws InterruptedException {
        ChildProcess.Running p = ChildProcess.java(label, List.of("-Xmx96m", "-XX:TieredStopAtLevel=1"),
                "org.taskvec.cli.TaskvecCli", "rpc-server", "--port", String.valueOf(port), "--threads", "1").start();
        try {
            p.awaitOutput("listening on", Duration.ofSeconds(60));
            Matcher m = LISTENING.matcher(p.output());
            if (!m.find()) {
                throw new AssertionFailedError("no port in the server's output: " + p.output());
            }
            int chosen = Integer.parseInt(m.group(1));
            // the line comes before ggml binds: wait until a connection is accepted (the server takes a client
            // that connects and leaves as a finished client)
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (true) {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress("127.0.0.1", chosen), 1000);
                    break;
                } catch (IOException e) {
                    if (!p.process().isAlive() || System.nanoTime() > deadline) {
                        throw new AssertionFailedError("the RPC server on port " + chosen + " does not accept "
                                + "connections: " + e.getMessage() + "; its output:\n" + p.output());
                    }
                    Thread.sleep(50);
                }
            }
            return new RpcServerProcess(p, chosen);
        } catch (RuntimeException | Error | InterruptedException e) {
            p.close();
            throw e;
        }
    }

    /** Kills the server at once (SIGKILL), as a crash or a power cut would end it. */
    public void kill() throws InterruptedException {
        process.kill();
    }

    @Override
    public void close() throws InterruptedException {
        process.close();
    }
}
