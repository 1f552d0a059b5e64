package org.taskvec.hooks;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.PointKind;

/**
 * A named point of the model where a hook reads or writes, after TransformerLens: {@code blocks.L.resid_pre}
 * (entering block L), {@code blocks.L.resid_mid} (between the attention and the MLP), {@code blocks.L.resid_post}
 * (after block L), {@code blocks.L.attn_out} and {@code blocks.L.mlp_out} (what the attention and the MLP add to the
 * residual stream), {@code blocks.L.attn_z} (per-head attention output before the output projection, heads
 * concatenated), {@code final_norm} (the final normalised state); see {@link PointKind}, and
 * {@link #node(org.taskvec.engine.Session)} for the llama.cpp node that holds a point on a given model. TransformerLens spellings are accepted too ({@code blocks.L.hook_resid_post}, {@code blocks.L.attn.hook_z},
 * {@code ln_final.hook_normalized}).
 */
public record HookPoint(PointKind kind, int layer) {
    private static final Pattern BLOCK = Pattern.compile("blocks\\.(-?\\d+)\\.(?:attn\\.hook_z|(?:hook_)?(\\w+))");

    public static HookPoint residPost(int layer) {
        return new HookPoint(PointKind.RESID_POST, layer);
    }

    /** Parses a hook point name and checks it against a model with nLayer blocks. */
    public static HookPoint parse(String name, int nLayer) {
        String n = name.trim();
        if (n.equals("final_norm") || n.equals("ln_final.hook_normalized")) {
            return new HookPoint(PointKind.FINAL_NORM, -1);
        }
        Matcher m = BLOCK.matcher(n);
        if (!m.matches()) {
            throw new InvalidInputException("unknown hook point '" + name + "'; valid: " + validNames(nLayer));
        }
        int layer = Integer.parseInt(m.group(1));
        PointKind kind;
        if (m.group(2) == null) {
            kind = PointKind.ATTN_Z;
        } else {
            try {
                kind = PointKind.parse(m.group(2));
            } catch (InvalidInputException e) {
                throw new InvalidInputException("unknown hook point '" + name + "'; valid: " + validNames(nLayer));
            }
            if (!kind.perLayer) {
                throw new InvalidInputException("'" + kind.shortName + "' has no layer; valid: " + validNames(nLayer));
            }
        }
        HookPoint p = new HookPoint(kind, layer);
        p.check(nLayer);
        return p;
    }

    /** The valid names for a model with nLayer blocks, summarised. */
    public static String validNames(int nLayer) {
        return "blocks.{0.." + (nLayer - 1) + "}.{resid_post, resid_mid, attn_out, mlp_out, attn_z}, "
                + "blocks.{1.." + (nLayer - 1) + "}.resid_pre (block 0's on some architectures), final_norm";
    }

    /** Throws when the layer does not exist in a model with nLayer blocks. */
    public void check(int nLayer) {
        if (kind.perLayer && (layer < 0 || layer >= nLayer)) {
            throw new InvalidInputException("layer " + layer + " is out of range for " + name() + ": the model has "
                    + nLayer + " blocks (valid: " + validNames(nLayer) + ")");
        }
    }

    /**
     * The points the model of session offers, in the order of {@link PointKind} and block: each one checked against a
     * graph llama.cpp builds for the model, as a hook on it would be. Architectures differ (e.g. block 0's
     * resid_pre exists where the graph scales the embeddings, as Gemma's does).
     */
    public static java.util.List<HookPoint> offered(org.taskvec.engine.Session session, int nLayer) {
        java.util.List<HookPoint> out = new java.util.ArrayList<>();
        for (PointKind k : PointKind.values()) {
            for (int l = 0; l < (k.perLayer ? nLayer : 1); l++) {
                HookPoint p = new HookPoint(k, k.perLayer ? l : -1);
                if (session.pointNode(p.kind(), p.nativeLayer()).isPresent()) {
                    out.add(p);
                }
            }
        }
        return out;
    }

    /** The llama.cpp node that holds this point on session's model (see {@link org.taskvec.engine.Session#pointNode}), if any. */
    public java.util.Optional<String> node(org.taskvec.engine.Session session) {
        return session.pointNode(kind, nativeLayer());
    }

    /** The canonical name, e.g. {@code blocks.12.resid_post}. */
    public String name() {
        return kind.perLayer ? "blocks." + layer + "." + kind.shortName : kind.shortName;
    }


    /** The block the native layer is told (0 for points without one). */
    int nativeLayer() {
        return Math.max(0, layer);
    }

    @Override
    public String toString() {
        return name();
    }
}
