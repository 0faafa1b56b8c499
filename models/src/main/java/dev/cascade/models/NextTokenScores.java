package dev.cascade.models;

/**
 * The output of one forward pass, reduced to what decoding needs: the logits at the last
 * {@code positions} positions of every row ({@code rows} × {@code positions} × {@code vocab}; one
 * position but for a pass that checks a draft, {@link DecodeStep#scored()}) and, when the model has
 * a hidden-state output, the hidden state there ({@code rows} × {@code positions} × {@code width};
 * {@code null} otherwise).
 *
 * <p>For a model with a key/value cache, {@code present[i]} holds cache tensor i for the step's new
 * positions only, as [rows, heads, step length, head_size], in the cache's element type
 * ({@link CacheLayout#precision()}): a {@code float[]} for float32, a {@code short[]} of the 16-bit
 * values for float16 and bfloat16; {@code null} otherwise.
 */
public record NextTokenScores(float[] logits, int rows, int vocab, float[] hidden, int width, Object[] present,
    int positions) {

  /** Scores at each row's last position. */
  public NextTokenScores(float[] logits, int rows, int vocab, float[] hidden, int width, Object[] present) {
    this(logits, rows, vocab, hidden, width, present, 1);
  }

  /** Scores of a model without a cache. */
  public NextTokenScores(float[] logits, int rows, int vocab, float[] hidden, int width) {
    this(logits, rows, vocab, hidden, width, null);
  }
}
