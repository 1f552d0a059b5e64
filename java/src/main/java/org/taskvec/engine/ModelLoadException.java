package org.taskvec.engine;

/** A model or projector file could not be loaded. */
public class ModelLoadException extends TaskvecException {
    private static final long serialVersionUID = 1L;

    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
