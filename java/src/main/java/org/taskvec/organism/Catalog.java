package org.taskvec.organism;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.taskvec.engine.Image;
import org.taskvec.tasks.PaperTasks;
import org.taskvec.tasks.TaskData;
import org.taskvec.tasks.TaskItem;
import org.taskvec.tasks.TaskLoader;

/**
 * The items episodes are drawn from: the built-in tasks (in {@link PaperTasks#NAMES} order), each item with a global
 * id (task by task, the validation split first, then the test split, each in file order), and the distinct image
 * files of all items (sorted by file name), read once as the engine reads them.
 */
public final class Catalog {
    /** Split codes in the written files. */
    public static final int VAL = 0;
    public static final int TEST = 1;

    /** One item: global id, task index, split (VAL or TEST), index within that split, the item, its image index. */
    public record Item(int id, int task, int split, int indexInSplit, TaskItem item, int image) {
        public String splitName() {
            return split == VAL ? "val" : "test";
        }
    }

    private final List<TaskData> tasks;
    private final List<Item> items = new ArrayList<>();
    private final List<List<Item>> byTask = new ArrayList<>();
    private final List<String> imageFiles;
    private final Map<String, Integer> imageIndex = new HashMap<>();
    private final Map<String, Path> imagePaths = new HashMap<>();
    private final Map<String, Image> images = new HashMap<>();

    private Catalog(List<TaskData> tasks) {
        this.tasks = List.copyOf(tasks);
        TreeSet<String> files = new TreeSet<>();
        for (TaskData t : tasks) {
            for (List<TaskItem> split : List.of(t.val(), t.test())) {
                for (TaskItem i : split) {
                    if (i.image() == null) {
                        throw new IllegalStateException("task " + t.name() + ": '" + i.input() + "' has no image");
                    }
                    files.add(i.image());
                    imagePaths.putIfAbsent(i.image(), t.imageOf(i));
                }
            }
        }
        imageFiles = List.copyOf(files);
        for (int k = 0; k < imageFiles.size(); k++) {
            imageIndex.put(imageFiles.get(k), k);
        }
        for (int t = 0; t < tasks.size(); t++) {
            List<Item> mine = new ArrayList<>();
            int split = VAL;
            for (List<TaskItem> list : List.of(tasks.get(t).val(), tasks.get(t).test())) {
                for (int k = 0; k < list.size(); k++) {
                    TaskItem i = list.get(k);
                    Item it = new Item(items.size(), t, split, k, i, imageIndex.get(i.image()));
                    items.add(it);
                    mine.add(it);
                }
                split = TEST;
            }
            byTask.add(Collections.unmodifiableList(mine));
        }
    }

    /** The six built-in tasks with their emoji images. */
    public static Catalog builtin() {
        List<TaskData> tasks = new ArrayList<>();
        for (String name : PaperTasks.NAMES) {
            tasks.add(TaskLoader.builtin(name));
        }
        return new Catalog(tasks);
    }

    public List<TaskData> tasks() {
        return tasks;
    }

    public List<Item> items() {
        return Collections.unmodifiableList(items);
    }

    /** The items of one task, validation split first. */
    public List<Item> items(int task) {
        return byTask.get(task);
    }

    /** Image file names (relative to the task image folder), sorted; an item's image is an index into this list. */
    public List<String> imageFiles() {
        return imageFiles;
    }

    public Path imagePath(int image) {
        return imagePaths.get(imageFiles.get(image));
    }

    /** The image of an image file index, read once (as {@link Image#read} gives it to the engine). */
    public synchronized Image image(int image) {
        return images.computeIfAbsent(imageFiles.get(image), f -> Image.read(imagePaths.get(f)));
    }

    /** The image of a task item (by its file). */
    public Image image(TaskItem item) {
        return image(imageIndex(item));
    }

    /** The index of a task item's image file in {@link #imageFiles()}. */
    public int imageIndex(TaskItem item) {
        Integer k = item.image() == null ? null : imageIndex.get(item.image());
        if (k == null) {
            throw new IllegalArgumentException("'" + item.input() + "' has no image of the catalog");
        }
        return k;
    }
}
