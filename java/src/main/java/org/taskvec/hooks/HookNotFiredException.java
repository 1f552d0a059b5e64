package org.taskvec.hooks;

import org.taskvec.engine.TaskvecException;

/**
 * A hook that should have read or written rows during a run did not (or not at every position it named): the
 * model's graph lacks the node, or the positions were never evaluated. Never a silent no-op: a replace that did
 * not fire would turn a patched condition into an unpatched one.
 */
public class HookNotFiredException extends TaskvecException {
    private static final long serialVersionUID = 1L;

    public HookNotFiredException(String message) {
        super(message);
    }
}
