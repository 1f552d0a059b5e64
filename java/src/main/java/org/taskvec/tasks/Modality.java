package org.taskvec.tasks;

/** How an input is given to the model: as its text or as its image. */
public enum Modality { TEXT, IMAGE }
