package org.taskvec.hooks;

import java.util.List;
import org.taskvec.engine.Generation;

/**
 * What a hooked run produced: the prompt's layout (token per position, -1-k at image k), the captures in the order
 * their hooks were given, and the generation when the run generated.
 */
public record RunResult(int[] layout, List<Capture> captures, Generation generation) {
    /** The first capture at a point (canonical or TransformerLens name). */
    public Capture capture(String point) {
        for (Capture c : captures) {
            if (c.point().name().equals(point) || c.point().equals(HookPoint.parse(point, Integer.MAX_VALUE))) {
                return c;
            }
        }
        throw new IllegalArgumentException("no capture at " + point + "; captured: "
                + captures.stream().map(c -> c.point().name()).toList());
    }
}
