/**
 * Layer 1: the JavaCPP binding of the C API in {@code native/include/taskvec.h}; raw handles and status codes.
 * Applications use {@link org.taskvec.engine} instead.
 */
package org.taskvec.nativeapi;
