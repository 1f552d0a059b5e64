package org.taskvec.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code taskvec} command-line tool. */
@Command(name = "taskvec", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Residual-stream hooks and task vectors for GGUF vision-language models, over llama.cpp.",
        subcommands = {SynthCommand.class, GenerateCommand.class, InfoCommand.class, DemoCommand.class,
                CaptureCommand.class, PatchCommand.class, LensCommand.class, XpatchCommand.class, ExtractCommand.class, BenchCommand.class,
                QuantizeCommand.class, OrganismDataCommand.class, RpcServerCommand.class,
                CommandLine.HelpCommand.class})
public final class TaskvecCli {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the tool and returns its exit code (0 success, 1 error, 2 usage). */
    public static int run(String... args) {
        Logging.configure(args);
        CommandLine cl = new CommandLine(new TaskvecCli());
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            err.println("taskvec: error: " + msg.replace('\n', ' '));
            if (Logging.verbose()) {
                ex.printStackTrace(err);
            }
            err.flush();
            return 1;
        });
        return cl.execute(args);
    }
}
