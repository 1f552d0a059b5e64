/** The {@code taskvec} command-line tool (picocli). */
package org.taskvec.cli;
