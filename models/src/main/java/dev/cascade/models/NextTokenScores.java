package dev.cascade.models;

/**
 * The output of one forward pass, reduced to what decoding needs: the logits at the last
 * {@code positions} positions of every row ({@code rows} × {@code positions} × {@code vocab}; one
 * position but for a pass that checks a draft, {@link DecodeStep#scored()}) and, when the model has
 * a hidden-state output, the hidden state there ({@code rows} × {@code positions} × {@code width};
 * {@code null} otherwise).
 *
 * <p>For a model with a key/value cache, {@code present[i]} holds cache tensor i for the step's new
 * positions only, as [rows, heads, step length, head_size]; {@code null} otherwise.
 */
public record NextTokenScores(float[] logits, int rows, int vocab, float[] hidden, int width, float[][] present,
    int positions) {

  /** Scores at each row's last position. */
  public NextTokenScores(float[] logits, int rows, int vocab, float[] hidden, int width, float[][] present) {
    this(logits, rows, vocab, hidden, width, present, 1);
  }

  /** Scores of a model without a cache. */
  public NextTokenScores(float[] logits, int rows, int vocab, float[] hidden, int width) {
    this(logits, rows, vocab, hidden, width, null);
  }
}
