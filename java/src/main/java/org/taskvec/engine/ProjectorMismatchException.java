package org.taskvec.engine;

/** A vision projector that does not fit the model (wrong kind of file, or its output width differs from the model's). */
public class ProjectorMismatchException extends ModelLoadException {
    private static final long serialVersionUID = 1L;

    public ProjectorMismatchException(String message) {
        super(message);
    }

    public ProjectorMismatchException(String message, Throwable cause) {
        super(message, cause);
    }
}
