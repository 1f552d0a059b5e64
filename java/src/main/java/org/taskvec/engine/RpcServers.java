package org.taskvec.engine;

import static org.taskvec.nativeapi.TaskvecNative.tv_rpc_server_device;
import static org.taskvec.nativeapi.TaskvecNative.tv_rpc_server_run;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.BytePointer;

/**
 * ggml's RPC backend: a server offers its devices (its GPUs, else its CPU) to models loaded on other hosts with
 * {@link ModelParams#withRpcServers}. The protocol has no authentication and no encryption: bind servers to loopback
 * or a trusted private network only, never to an open network.
 */
public final class RpcServers {
    // a host name or IPv4 address: ggml's RPC transport is IPv4 only
    private static final Pattern ENDPOINT = Pattern.compile("([A-Za-z0-9._-]+):([0-9]{1,5})");

    private RpcServers() {}

    /** One device of a server: its index there and its memory in bytes. */
    public record RemoteDevice(String endpoint, int index, long freeBytes, long totalBytes) {}

    /** Checks "host:port" (port 1..65535); throws {@link InvalidInputException} otherwise. */
    public static void checkEndpoint(String endpoint) {
        if (endpoint == null) {
            throw new InvalidInputException("RPC server endpoint is null");
        }
        Matcher m = ENDPOINT.matcher(endpoint);
        if (!m.matches()) {
            throw new InvalidInputException("RPC server '" + endpoint + "' is not host:port");
        }
        int port = Integer.parseInt(m.group(2));
        if (port < 1 || port > 65535) {
            throw new InvalidInputException("RPC server '" + endpoint + "': port " + port + " is outside 1..65535");
        }
    }

    /** Splits "host:port,host:port" into checked endpoints. */
    public static List<String> parseList(String list) {
        List<String> out = new ArrayList<>();
        for (String e : Objects.requireNonNull(list, "list").split(",", -1)) {
            String t = e.strip();
            checkEndpoint(t);
            out.add(t);
        }
        return out;
    }

    /** Asks the server at endpoint for its devices and their memory; {@link RemoteBackendException} if unreachable. */
    public static List<RemoteDevice> devices(String endpoint) {
        checkEndpoint(endpoint);
        NativeLibrary.ensureLoaded();
        List<RemoteDevice> out = new ArrayList<>();
        try (BytePointer e = NativeLibrary.utf8(endpoint)) {
            long[] free = new long[1];
            long[] total = new long[1];
            int n = tv_rpc_server_device(e, 0, free, total);
            if (n < 0) {
                throw NativeLibrary.toException(org.taskvec.nativeapi.TaskvecNative.tv_last_status(),
                        NativeLibrary.lastError());
            }
            for (int i = 0; i < n; i++) {
                if (i > 0 && tv_rpc_server_device(e, i, free, total) < 0) {
                    throw NativeLibrary.toException(org.taskvec.nativeapi.TaskvecNative.tv_last_status(),
                            NativeLibrary.lastError());
                }
                out.add(new RemoteDevice(endpoint, i, free[0], total[0]));
            }
        }
        return out;
    }

    /**
     * Runs ggml's RPC server on host:port in this thread, offering this process's GPUs (or its CPU with threads
     * threads); cacheDir (may be null) caches large tensors that clients send, across runs. Serves one client at a
     * time and returns only by throwing: {@link RemoteBackendException} when it cannot start (address in use).
     */
    public static void serve(String host, int port, Path cacheDir, int threads) {
        String endpoint = host + ":" + port;
        checkEndpoint(endpoint);
        if (threads <= 0) {
            throw new InvalidInputException("threads must be positive, got " + threads);
        }
        NativeLibrary.ensureLoaded();
        try (BytePointer e = NativeLibrary.utf8(endpoint);
             BytePointer c = cacheDir == null ? null : NativeLibrary.utf8(cacheDir.toAbsolutePath().toString())) {
            NativeLibrary.check(tv_rpc_server_run(e, c, threads));
        }
        throw new RemoteBackendException("the RPC server on " + endpoint + " stopped");
    }
}
