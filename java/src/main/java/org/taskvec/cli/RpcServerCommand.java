package org.taskvec.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.RpcServers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code taskvec rpc-server}: ggml's RPC server from the project's own natives, so that a model loaded on another
 * host with {@code --rpc} puts layers on this host's GPUs (or its CPU).
 */
@Command(name = "rpc-server", mixinStandardHelpOptions = true,
        description = {"Offer this host's GPUs (or, without one, its CPU) to models loaded elsewhere with --rpc "
                + "(ggml's RPC server). Serves one client at a time; stop it with Ctrl-C.",
                "The protocol has no authentication and no encryption: anyone who reaches the port can run code "
                        + "on the device and read its memory. Bind to loopback (the default) or a trusted private "
                        + "network; never expose it to an open network."})
final class RpcServerCommand implements Callable<Integer> {
    @Option(names = "--host", defaultValue = "127.0.0.1", paramLabel = "ADDR",
            description = "address to bind (default ${DEFAULT-VALUE}: this host only)")
    String host;

    @Option(names = "--port", defaultValue = "50052", paramLabel = "P",
            description = "port (default ${DEFAULT-VALUE}, llama.cpp's; 0: a free one, printed)")
    int port;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads when the CPU is offered "
            + "(default: half the cores)")
    Integer threads;

    @Option(names = "--cache", paramLabel = "DIR",
            description = "cache large tensors that clients send in DIR, so a model's second load is fast")
    Path cache;

    @Override
    public Integer call() throws IOException {
        if (port < 0 || port > 65535) {
            throw new InvalidInputException("--port must be 0..65535, got " + port);
        }
        int n = threads != null ? threads : Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
        if (n <= 0) {
            throw new InvalidInputException("--threads must be positive, got " + n);
        }
        InetAddress addr;
        try {
            addr = InetAddress.getByName(host);
        } catch (java.net.UnknownHostException e) {
            throw new InvalidInputException("--host " + host + " is not an address of this host: " + e.getMessage());
        }
        // ggml's server binds an IPv4 address given in numbers (inet_addr): a name is resolved here
        if (!(addr instanceof java.net.Inet4Address)) {
            throw new InvalidInputException("--host " + host + ": ggml's RPC server listens on IPv4 only");
        }
        String ip = addr.getHostAddress();
        if (!addr.isLoopbackAddress()) {
            System.err.println("taskvec rpc-server: WARNING: bound to " + host + ", not loopback. The RPC protocol "
                    + "has no authentication or encryption: whoever reaches this port can use this machine's devices "
                    + "and read their memory. Never expose it to an open network.");
        }
        // the port is checked here first, so that "in use" is a clear message; 0 picks a free one
        int p;
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(addr, port));
            p = probe.getLocalPort();
        } catch (IOException e) {
            throw new InvalidInputException("cannot listen on " + host + ":" + port + ": " + e.getMessage());
        }
        if (cache != null) {
            Files.createDirectories(cache);
        }
        System.out.println("taskvec rpc-server: listening on " + ip + ":" + p + " (" + n + " threads"
                + (cache != null ? ", cache " + cache : "") + ")");
        System.out.flush();
        RpcServers.serve(ip, p, cache, n);
        return 1;  // serve returns only by throwing
    }
}
