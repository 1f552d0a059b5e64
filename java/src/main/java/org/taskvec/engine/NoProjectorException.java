package org.taskvec.engine;

/** An image was given to a model loaded without a vision projector. */
public class NoProjectorException extends TaskvecException {
    private static final long serialVersionUID = 1L;

    public NoProjectorException(String message) {
        super(message);
    }

    public NoProjectorException(String message, Throwable cause) {
        super(message, cause);
    }
}
