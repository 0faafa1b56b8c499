package dev.cascade.models;

/** Thrown by {@link TextGenerator#generate(java.util.List, int, TextGenerator.Cancellation)} once cancelled. */
public final class GenerationCancelledException extends RuntimeException {

  public GenerationCancelledException(int stepsDone) {
    super("generation cancelled after " + stepsDone + " decoding steps");
  }
}
