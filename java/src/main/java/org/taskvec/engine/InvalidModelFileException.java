package org.taskvec.engine;

/** A file that is not a well-formed GGUF file (found by the Java-side structural check before llama.cpp sees it). */
public class InvalidModelFileException extends ModelLoadException {
    private static final long serialVersionUID = 1L;

    public InvalidModelFileException(String message) {
        super(message);
    }

    public InvalidModelFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
