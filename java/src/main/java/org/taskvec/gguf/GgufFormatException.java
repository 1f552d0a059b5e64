package org.taskvec.gguf;

/** A file that is not well-formed GGUF; the message says where and why. */
public class GgufFormatException extends Exception {
    private static final long serialVersionUID = 1L;

    public GgufFormatException(String message) {
        super(message);
    }
}
