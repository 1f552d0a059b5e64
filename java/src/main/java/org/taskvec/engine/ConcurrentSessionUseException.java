package org.taskvec.engine;

/** A session entered by a second thread while another thread is inside it; a session belongs to one thread at a time. */
public class ConcurrentSessionUseException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public ConcurrentSessionUseException(String message) {
        super(message);
    }

    public ConcurrentSessionUseException(String message, Throwable cause) {
        super(message, cause);
    }
}
