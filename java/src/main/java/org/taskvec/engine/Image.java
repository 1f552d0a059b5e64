package org.taskvec.engine;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Iterator;
import java.util.Objects;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * An image as packed 8-bit RGB rows, the form libmtmd takes. Read from PNG or JPEG files or made from a
 * {@link BufferedImage}; alpha is dropped (composited on nothing), grey, palette, 16-bit and CMYK images become RGB.
 * Grey images keep their stored levels (grey g becomes g, g, g, as stb_image, Pillow and the transformers image
 * processors read them), not Java's conversion of a linear grey colour space to sRGB. Immutable.
 */
public final class Image {
    /** Largest side accepted; bigger images are refused before they are decoded. */
    public static final int MAX_SIDE = 16384;
    /** Largest pixel count accepted. */
    public static final long MAX_PIXELS = 64L * 1024 * 1024;

    private final int width;
    private final int height;
    private final byte[] rgb;

    private Image(int width, int height, byte[] rgb) {
        this.width = width;
        this.height = height;
        this.rgb = rgb;
    }

    /** Reads a PNG or JPEG file (any format ImageIO reads). */
    public static Image read(Path file) {
        Objects.requireNonNull(file, "file");
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new ImageFormatException("image file not found or not readable: " + file);
        }
        try {
            if (Files.size(file) == 0) {
                throw new ImageFormatException("image file is empty: " + file);
            }
        } catch (IOException e) {
            throw new ImageFormatException("cannot read image file " + file + ": " + e.getMessage(), e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            return read(in, file.toString());
        } catch (IOException e) {
            throw new ImageFormatException("cannot read image file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Reads an encoded image (PNG, JPEG, ...) from a stream; name is used in error messages. */
    public static Image read(InputStream in, String name) {
        try (ImageInputStream iis = ImageIO.createImageInputStream(in)) {
            Iterator<ImageReader> readers = iis == null ? null : ImageIO.getImageReaders(iis);
            if (readers == null || !readers.hasNext()) {
                throw new ImageFormatException(name + " is not an image in a supported format (PNG, JPEG, BMP, GIF)");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(iis, true, true);
                // ImageIO decodes a truncated or corrupt JPEG with a warning and grey where data is missing; a
                // model must not see half an image, so a warning is an error here
                reader.addIIOReadWarningListener((src, warning) -> {
                    throw new ImageFormatException("image " + name + " is truncated or corrupt: " + warning);
                });
                int w = reader.getWidth(0);
                int h = reader.getHeight(0);
                checkSize(w, h, name);
                if (reader.getFormatName().equalsIgnoreCase("jpeg")) {
                    Image cmyk = CmykJpeg.readIfFourChannel(reader, w, h);
                    if (cmyk != null) {
                        return cmyk;
                    }
                }
                BufferedImage img = reader.read(0);
                return of(img);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof ImageFormatException) {
                throw (ImageFormatException) e;
            }
            throw new ImageFormatException("cannot decode image " + name + ": " + e, e);
        }
    }

    /** Converts a BufferedImage to RGB. */
    public static Image of(BufferedImage img) {
        Objects.requireNonNull(img, "image");
        int w = img.getWidth();
        int h = img.getHeight();
        checkSize(w, h, "image");
        byte[] rgb = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];
        java.awt.image.ColorModel cm = img.getColorModel();
        if (cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY
                && !(cm instanceof java.awt.image.IndexColorModel)) {
            // getRGB would convert the grey colour space (linear, CS_GRAY) to sRGB: 177 becomes 217
            java.awt.image.Raster r = img.getRaster();
            int max = (1 << cm.getComponentSize(0)) - 1;
            for (int y = 0; y < h; y++) {
                for (int x = 0, o = y * w * 3; x < w; x++, o += 3) {
                    int g = r.getSample(x, y, 0);
                    byte b = (byte) (max == 255 ? g : (g * 255 + max / 2) / max);
                    rgb[o] = b;
                    rgb[o + 1] = b;
                    rgb[o + 2] = b;
                }
            }
            return new Image(w, h, rgb);
        }
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            img.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0, o = y * w * 3; x < w; x++, o += 3) {
                int p = row[x];
                rgb[o] = (byte) (p >>> 16);
                rgb[o + 1] = (byte) (p >>> 8);
                rgb[o + 2] = (byte) p;
            }
        }
        return new Image(w, h, rgb);
    }

    /** Wraps packed RGB bytes (copied); length must be width * height * 3. */
    public static Image ofRgb(int width, int height, byte[] rgb) {
        checkSize(width, height, "image");
        Objects.requireNonNull(rgb, "rgb");
        if (rgb.length != (long) width * height * 3) {
            throw new ImageFormatException("RGB data has " + rgb.length + " bytes, expected " + width + "x" + height
                    + "x3 = " + (long) width * height * 3);
        }
        return new Image(width, height, rgb.clone());
    }

    /** Wraps RGB bytes that the caller gives up (no copy). */
    static Image ownRgb(int width, int height, byte[] rgb) {
        return new Image(width, height, rgb);
    }

    private static void checkSize(int w, int h, String name) {
        if (w <= 0 || h <= 0) {
            throw new ImageFormatException(name + " has no pixels (" + w + "x" + h + ")");
        }
        if (w > MAX_SIDE || h > MAX_SIDE || (long) w * h > MAX_PIXELS) {
            throw new ImageFormatException(name + " is " + w + "x" + h + " pixels, larger than the limit of "
                    + MAX_SIDE + " per side and " + MAX_PIXELS + " pixels");
        }
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** A copy of the RGB bytes. */
    public byte[] rgb() {
        return rgb.clone();
    }

    byte[] rgbUnsafe() {
        return rgb;
    }

    /** SHA-256 of size and pixels, hex; equal images have equal digests. */
    public String digest() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update((width + "x" + height + ":").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            md.update(rgb);
            StringBuilder sb = new StringBuilder();
            for (byte b : md.digest()) {
                sb.append(String.format("%02x", b));
            }
            return sb.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return "Image[" + width + "x" + height + "]";
    }
}
