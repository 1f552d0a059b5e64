package org.taskvec.engine;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * A prompt: text and images in order. Immutable; build with {@link #builder()}, {@link #of(String)} or
 * {@link #withImages(String, List)}.
 */
public final class Prompt {
    /** libmtmd's media marker: where {@link #withImages} places an image. */
    public static final String MEDIA_MARKER = "<__media__>";

    /** One part of a prompt: text, an image, or pre-tokenized tokens. */
    public static final class Part {
        private final String text;
        private final Image image;
        private final int[] tokens;

        private Part(String text, Image image, int[] tokens) {
            this.text = text;
            this.image = image;
            this.tokens = tokens;
        }

        public boolean isText() {
            return text != null;
        }

        public boolean isImage() {
            return image != null;
        }

        public boolean isTokens() {
            return tokens != null;
        }

        public String text() {
            return text;
        }

        public Image image() {
            return image;
        }

        public int[] tokens() {
            return tokens == null ? null : tokens.clone();
        }

        int[] tokensUnsafe() {
            return tokens;
        }
    }

    private final List<Part> parts;
    private final boolean addBos;

    private Prompt(List<Part> parts, boolean addBos) {
        this.parts = Collections.unmodifiableList(new ArrayList<>(parts));
        this.addBos = addBos;
    }

    /** A text-only prompt. */
    public static Prompt of(String text) {
        return builder().text(text).build();
    }

    /**
     * Text with images placed at each {@link #MEDIA_MARKER}; with no marker in the text, all images come first
     * (before the text). The number of markers, when there are any, must equal the number of images.
     */
    public static Prompt withImages(String text, List<Image> images) {
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(images, "images");
        Builder b = builder();
        String[] pieces = text.split(java.util.regex.Pattern.quote(MEDIA_MARKER), -1);
        int markers = pieces.length - 1;
        if (markers == 0) {
            images.forEach(b::image);
            return b.text(text).build();
        }
        if (markers != images.size()) {
            throw new InvalidInputException("the prompt has " + markers + " image markers but " + images.size()
                    + " images were given");
        }
        for (int i = 0; i < pieces.length; i++) {
            if (!pieces[i].isEmpty()) {
                b.text(pieces[i]);
            }
            if (i < images.size()) {
                b.image(images.get(i));
            }
        }
        return b.build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public List<Part> parts() {
        return parts;
    }

    /** Whether BOS is put first (when the model's vocabulary asks for one). Default true. */
    public boolean addBos() {
        return addBos;
    }

    public int imageCount() {
        return (int) parts.stream().filter(Part::isImage).count();
    }

    /** The prompt's text with a marker for each image (for display). */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (Part p : parts) {
            sb.append(p.isText() ? p.text : p.isImage() ? MEDIA_MARKER : "<tokens " + p.tokens.length + ">");
        }
        return sb.toString();
    }

    /** Builds a prompt part by part. */
    public static final class Builder {
        private final List<Part> parts = new ArrayList<>();
        private boolean addBos = true;

        public Builder text(String text) {
            Objects.requireNonNull(text, "text");
            parts.add(new Part(text, null, null));
            return this;
        }

        public Builder image(Image image) {
            Objects.requireNonNull(image, "image");
            parts.add(new Part(null, image, null));
            return this;
        }

        /** Pre-tokenized tokens, evaluated as they are. */
        public Builder tokens(int... tokens) {
            Objects.requireNonNull(tokens, "tokens");
            parts.add(new Part(null, null, tokens.clone()));
            return this;
        }

        public Builder addBos(boolean addBos) {
            this.addBos = addBos;
            return this;
        }

        public Prompt build() {
            if (parts.isEmpty()) {
                throw new InvalidInputException("a prompt needs at least one part");
            }
            return new Prompt(parts, addBos);
        }
    }
}
