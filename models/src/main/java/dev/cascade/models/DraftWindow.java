package dev.cascade.models;

/**
 * How many draft tokens a forward pass checks ({@link GreedyDecoder}): {@code first} in a row's
 * first pass; after a check that kept every token it held, twice as many as that check (at most
 * {@code max}); after one that stopped early, what it kept plus one (at least {@code min}).
 *
 * <p>Checking a token is not free where a pass costs more the more tokens it holds. For the bundled
 * large model on two CPU cores a one-token pass took 1.18 ms and each further token about 0.12 ms
 * more, so a check pays while its tokens are likely to be kept, and a wrong draft should not ride
 * along whole: the {@link #DEFAULT} sizes (8, 2, 16) saved 35-36% of its time per escalated
 * request one at a time ({@code cascade bench speculative}, router/EVALUATION.md). Where a wider
 * pass costs about the same as a narrow one (a large model on a GPU, bound by memory rather than
 * arithmetic), larger windows lose nothing and save passes: {@code new DraftWindow(64, 64, 64)}
 * checks a whole draft of up to 64 tokens at once. Replayed on an H200 (the same weights through
 * PyTorch, loadtest/README.md), a fixed window of 16 saved 53.7% of the large model's time per
 * escalated request against 48.8% with the default; on two CPU cores it saved 15.8% against 34.8%.
 * The answer is the same whatever the window.
 *
 * @param first draft tokens the first pass checks
 * @param min fewest a later check holds
 * @param max most a later check holds
 */
public record DraftWindow(int first, int min, int max) {

  /** 8 first, then 2 to 16: measured on two CPU cores (above). */
  public static final DraftWindow DEFAULT = new DraftWindow(8, 2, 16);

  public DraftWindow {
    if (min < 1 || first < min || max < first) {
      throw new IllegalArgumentException("draft window: needs 1 <= min <= first <= max, got first " + first + ", min "
          + min + ", max " + max);
    }
  }

  /**
   * Parses {@code FIRST,MIN,MAX} (e.g. {@code 8,2,16}), or one number N for a fixed window
   * (N,N,N).
   *
   * @throws IllegalArgumentException naming what is wrong
   */
  public static DraftWindow parse(String text) {
    String[] parts = text.trim().split("\\s*,\\s*");
    try {
      if (parts.length == 1) {
        int n = Integer.parseInt(parts[0]);
        return new DraftWindow(n, n, n);
      }
      if (parts.length == 3) {
        return new DraftWindow(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]), Integer.parseInt(parts[2]));
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("draft window: not a whole number in '" + text + "'", e);
    }
    throw new IllegalArgumentException("draft window: expected FIRST,MIN,MAX (e.g. 8,2,16) or one number, got '"
        + text + "'");
  }

  /** The window after a check that held {@code checked} tokens (its window) and kept {@code kept}. */
  int next(int window, int checked, int kept) {
    return kept == checked ? (int) Math.min(max, 2L * window) : Math.max(min, Math.min(window, kept + 1));
  }

  @Override
  public String toString() {
    return first + "," + min + "," + max;
  }
}
