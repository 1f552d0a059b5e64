package org.taskvec.tasks;

import java.nio.file.Path;
import java.util.List;
import org.taskvec.engine.InvalidInputException;

/** A task record names an image that is in none of the places it may be; the message lists the paths tried. */
public final class MissingImageException extends InvalidInputException {
    private static final long serialVersionUID = 1L;
    private final transient List<Path> tried;

    public MissingImageException(String where, String image, List<Path> tried) {
        super(where + ": image '" + image + "' not found; tried " + tried.stream().map(Path::toString)
                .reduce((a, b) -> a + ", " + b).orElse("nothing"));
        this.tried = List.copyOf(tried);
    }

    /** The paths looked at, in order. */
    public List<Path> tried() {
        return tried;
    }
}
