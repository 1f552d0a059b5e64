package org.taskvec.engine;

/**
 * An RPC server (ggml's RPC backend, {@code taskvec rpc-server}) could not be reached, or was lost during a call. A
 * model that lost a server is unusable from then on (its remote weights are gone): every later call on it or its
 * sessions throws this again; close its sessions and the model, and load it again once the server is back.
 */
public class RemoteBackendException extends TaskvecException {
    private static final long serialVersionUID = 1L;

    public RemoteBackendException(String message) {
        super(message);
    }
}
