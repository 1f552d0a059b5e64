package org.taskvec.cli;

import org.taskvec.engine.NativeLibrary;
import picocli.CommandLine.IVersionProvider;

/** Version line: taskvec and the llama.cpp it was built with. */
final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String v = TaskvecCli.class.getPackage().getImplementationVersion();
        return new String[] {"taskvec " + (v == null ? "dev" : v) + ", llama.cpp " + NativeLibrary.llamaVersion()};
    }
}
