package org.taskvec.reliability;

/**
 * One bad input of the corpus: what it is, how to run it (kind + arguments understood by {@link CaseRunner}), and
 * the exception it must get (simple class name, and a fragment of the message); expected "OK" for inputs that are
 * valid after all (a 1x1 image, a 16-bit PNG).
 */
record BadInputCase(String name, String kind, String arg, String expectedType, String expectedFragment) {
    String line() {
        return name + "\t" + kind + "\t" + arg + "\t" + expectedType + "\t" + expectedFragment;
    }

    static BadInputCase parse(String line) {
        String[] f = line.split("\t", -1);
        return new BadInputCase(f[0], f[1], f[2], f[3], f[4]);
    }
}
