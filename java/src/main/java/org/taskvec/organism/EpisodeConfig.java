package org.taskvec.organism;

import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.taskvec.engine.InvalidInputException;

/**
 * What a dataset holds: the training stage (1: text LLM, 2: VLM), how many episodes, the seed, whether stage 2 has
 * image in-context episodes (the ablation leaves them out), the range of the number of in-context examples, and the
 * requested share of each episode type (normalised to sum 1; the counts are these shares of the episode count,
 * rounded by largest remainder, so each is within one episode of its share).
 */
public record EpisodeConfig(int stage, int episodes, long seed, boolean imageIcl, int minExamples, int maxExamples,
                            Map<EpisodeType, Double> mix) {
    public EpisodeConfig {
        if (stage != 1 && stage != 2) {
            throw new InvalidInputException("the stage must be 1 (text LLM) or 2 (VLM), not " + stage);
        }
        if (episodes < 1) {
            throw new InvalidInputException("the number of episodes must be at least 1, not " + episodes);
        }
        if (minExamples < 1 || maxExamples < minExamples) {
            throw new InvalidInputException("in-context examples must be a range 1 <= min <= max, not "
                    + minExamples + ".." + maxExamples);
        }
        EnumMap<EpisodeType, Double> m = new EnumMap<>(EpisodeType.class);
        double sum = 0;
        for (Map.Entry<EpisodeType, Double> e : mix.entrySet()) {
            double w = e.getValue();
            if (!(w >= 0) || Double.isInfinite(w)) {
                throw new InvalidInputException("the share of " + e.getKey().key() + " must be a number >= 0, not " + w);
            }
            if (w == 0) {
                continue;
            }
            if (stage == 1 && e.getKey().modality() == org.taskvec.tasks.Modality.IMAGE) {
                throw new InvalidInputException("stage 1 trains the text LLM: it has no " + e.getKey().key()
                        + " episodes");
            }
            if (!imageIcl && e.getKey() == EpisodeType.IMAGE_ICL) {
                throw new InvalidInputException("image-icl episodes were ruled out (--no-image-icl)");
            }
            m.put(e.getKey(), w);
            sum += w;
        }
        if (sum <= 0) {
            throw new InvalidInputException("the mix of episode types is empty");
        }
        for (Map.Entry<EpisodeType, Double> e : m.entrySet()) {
            e.setValue(e.getValue() / sum);
        }
        mix = java.util.Collections.unmodifiableMap(m);
    }

    /** The default recipe of a stage: examples 1..6 and {@link #defaultMix}. */
    public static EpisodeConfig of(int stage, int episodes, long seed, boolean imageIcl) {
        return new EpisodeConfig(stage, episodes, seed, imageIcl, 1, 6, defaultMix(stage, imageIcl));
    }

    /**
     * Stage 1: text-icl 0.8, instruction-text 0.2. Stage 2: image-name 0.34 (about a third, so that a bare image
     * query is answered with the entity's name and No Context stays near 0), image-icl 0.2, instruction-image 0.16,
     * text replay 0.25 text-icl + 0.05 instruction-text. Stage 2 without image in-context episodes: image-name 0.34,
     * instruction-image 0.2, text-icl 0.4, instruction-text 0.06.
     */
    public static Map<EpisodeType, Double> defaultMix(int stage, boolean imageIcl) {
        Map<EpisodeType, Double> m = new LinkedHashMap<>();
        if (stage == 1) {
            m.put(EpisodeType.TEXT_ICL, 0.8);
            m.put(EpisodeType.INSTRUCTION_TEXT, 0.2);
        } else if (imageIcl) {
            m.put(EpisodeType.IMAGE_NAME, 0.34);
            m.put(EpisodeType.IMAGE_ICL, 0.2);
            m.put(EpisodeType.INSTRUCTION_IMAGE, 0.16);
            m.put(EpisodeType.TEXT_ICL, 0.25);
            m.put(EpisodeType.INSTRUCTION_TEXT, 0.05);
        } else {
            m.put(EpisodeType.IMAGE_NAME, 0.34);
            m.put(EpisodeType.INSTRUCTION_IMAGE, 0.2);
            m.put(EpisodeType.TEXT_ICL, 0.4);
            m.put(EpisodeType.INSTRUCTION_TEXT, 0.06);
        }
        return m;
    }

    /** Parses {@code type=share,type=share} (e.g. {@code image-name=0.35,text-icl=0.65}). */
    public static Map<EpisodeType, Double> parseMix(String text) {
        Map<EpisodeType, Double> m = new LinkedHashMap<>();
        for (String part : text.split(",")) {
            String[] kv = part.strip().split("=", 2);
            if (kv.length != 2) {
                throw new InvalidInputException("--mix takes type=share pairs separated by commas, not '" + part + "'");
            }
            EpisodeType t = EpisodeType.parse(kv[0].strip());
            double w;
            try {
                w = Double.parseDouble(kv[1].strip());
            } catch (NumberFormatException e) {
                throw new InvalidInputException("--mix: '" + kv[1] + "' is not a number");
            }
            if (m.put(t, w) != null) {
                throw new InvalidInputException("--mix names " + t.key() + " twice");
            }
        }
        return m;
    }

    /** Episodes of each type: the shares of the count, rounded by largest remainder (ties: type order). */
    public Map<EpisodeType, Integer> counts() {
        Map<EpisodeType, Integer> n = new EnumMap<>(EpisodeType.class);
        Map<EpisodeType, Double> rest = new EnumMap<>(EpisodeType.class);
        int assigned = 0;
        for (Map.Entry<EpisodeType, Double> e : mix.entrySet()) {
            double exact = e.getValue() * episodes;
            int base = (int) Math.floor(exact);
            n.put(e.getKey(), base);
            rest.put(e.getKey(), exact - base);
            assigned += base;
        }
        int left = episodes - assigned;
        java.util.List<EpisodeType> order = new java.util.ArrayList<>(rest.keySet());
        order.sort((a, b) -> {
            int c = Double.compare(rest.get(b), rest.get(a));
            return c != 0 ? c : Integer.compare(a.ordinal(), b.ordinal());
        });
        for (int i = 0; i < left; i++) {
            EpisodeType t = order.get(i % order.size());
            n.put(t, n.get(t) + 1);
        }
        return n;
    }
}
