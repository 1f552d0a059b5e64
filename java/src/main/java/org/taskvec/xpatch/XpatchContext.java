package org.taskvec.xpatch;

import java.util.HashMap;
import java.util.Map;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Session;
import org.taskvec.tasks.PromptStyle;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;

/**
 * What the experiment steps share: the model, one session (whose KV cache carries shared prompt prefixes from one
 * evaluation to the next), and the task images, each read and converted once.
 */
final class XpatchContext {
    final Model model;
    final Session session;
    final PromptStyle style;
    final XpatchConfig.PatchMode patchMode;
    private final Map<String, Image> images = new HashMap<>();

    XpatchContext(Model model, Session session) {
        this(model, session, PromptStyle.plain(model));
    }

    XpatchContext(Model model, Session session, PromptStyle style) {
        this(model, session, style, XpatchConfig.PatchMode.REPLACE);
    }

    XpatchContext(Model model, Session session, PromptStyle style, XpatchConfig.PatchMode patchMode) {
        this.model = model;
        this.session = session;
        this.style = style;
        this.patchMode = patchMode;
    }

    Image image(TaskData task, TaskItem item) {
        return images.computeIfAbsent(task.name() + "/" + item.image(), k -> Image.read(task.imageOf(item)));
    }
}
