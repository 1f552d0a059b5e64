package org.taskvec.engine;

/** An image that cannot be read or used: empty, truncated, not an image, or of unsupported size. */
public class ImageFormatException extends TaskvecException {
    private static final long serialVersionUID = 1L;

    public ImageFormatException(String message) {
        super(message);
    }

    public ImageFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
