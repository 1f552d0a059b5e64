package org.taskvec.engine;

/** A model or projector path that does not name a readable file. */
public class ModelNotFoundException extends ModelLoadException {
    private static final long serialVersionUID = 1L;

    public ModelNotFoundException(String message) {
        super(message);
    }

    public ModelNotFoundException(String message, Throwable cause) {
        super(message, cause);
    }
}
