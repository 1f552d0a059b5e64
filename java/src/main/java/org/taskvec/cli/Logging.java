package org.taskvec.cli;

/**
 * Log setup of the command-line tool (slf4j-simple): warnings of our own code, native (llama.cpp) lines only
 * when they are errors, everything with {@code --verbose}. Must run before the first logger is created.
 */
final class Logging {
    private static boolean verbose;

    private Logging() {}

    static void configure(String[] args) {
        for (String a : args) {
            if (a.equals("--verbose") || a.equals("-v")) {
                verbose = true;
            }
        }
        setDefault("org.slf4j.simpleLogger.logFile", "System.err");
        setDefault("org.slf4j.simpleLogger.defaultLogLevel", verbose ? "debug" : "warn");
        setDefault("org.slf4j.simpleLogger.log.org.taskvec.native", verbose ? "debug" : "error");
        setDefault("org.slf4j.simpleLogger.showThreadName", "false");
        setDefault("org.slf4j.simpleLogger.levelInBrackets", "true");
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    static boolean verbose() {
        return verbose;
    }
}
