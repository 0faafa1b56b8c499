package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The per-row early-stop hook: a stopped row leaves the batch at once, and no other row changes. */
class EarlyStopTest {

  private static final int ITEMS = 200;
  private static final long EOS = 2;
  private static final int VOCAB = 32;

  /** Stops a row at its first token with probability below one half. */
  private static final TextGenerator.EarlyStop UNSURE_TOKEN = () -> (logprob, entropy) -> logprob < Math.log(0.5);

  /** Stops a row after its {@code n}th token: a count each row must keep for itself. */
  private static TextGenerator.EarlyStop afterTokens(int n) {
    return () -> new TextGenerator.EarlyStop.Check() {
      private int seen;

      @Override
      public boolean afterToken(float logprob, float entropy) {
        return ++seen == n;
      }
    };
  }

  /** The 1-based token at which a fresh check from {@code stop} says stop, fed {@code logprobs}; 0 for none. */
  private static int stopsAt(TextGenerator.EarlyStop stop, float[] logprobs, float[] entropies) {
    TextGenerator.EarlyStop.Check check = stop.newCheck();
    for (int t = 0; t < logprobs.length; t++) {
      if (check.afterToken(logprobs[t], entropies[t])) {
        return t + 1;
      }
    }
    return 0;
  }

  /** Predicts (last token + 1) until the last token reaches {@code stopAt}, then end-of-sequence. */
  private static ContinuousBatcher.ForwardPassResource counting(List<Integer> batchSizes, long stopAt) {
    return new ContinuousBatcher.ForwardPassResource() {
      @Override
      public NextTokenScores run(DecodeStep step) {
        batchSizes.add(step.rows());
        float[] logits = new float[step.rows() * VOCAB];
        for (int r = 0; r < step.rows(); r++) {
          long last = step.inputIds()[r * step.length() + step.length() - 1];
          logits[r * VOCAB + (last >= stopAt ? (int) EOS : (int) last + 1)] = 5f;
        }
        return new NextTokenScores(logits, step.rows(), VOCAB, null, 0);
      }

      @Override
      public void close() {}
    };
  }

  @Test
  void aStoppedRowFreesItsPlaceAtTheNextStep() {
    List<Integer> batchSizes = Collections.synchronizedList(new ArrayList<>());
    // One row at a time: the second row can only start when the first has left.
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(0, EOS),
        () -> counting(batchSizes, 30), 1)) {
      List<Generation> out = batcher.decode(List.of(new long[] {3, 3, 4}, new long[] {3, 3, 10}), new int[] {20, 20},
          TextGenerator.Cancellation.NONE, afterTokens(3), Arrays::toString);
      assertThat(out.get(0).tokens()).containsExactly(5, 6, 7);
      assertThat(out.get(1).tokens()).containsExactly(11, 12, 13);
      assertThat(out).allSatisfy(g -> assertThat(g.stoppedEarly()).isTrue());
      // Three steps each instead of the twenty their limit allowed, one row per step.
      assertThat(batchSizes).containsExactly(1, 1, 1, 1, 1, 1);
    }
  }

  @Test
  void aRowExemptedByForRowDecodesToItsEndWhileTheOthersStop() {
    // Rows 0 and 2 keep the condition; row 1 is exempted (the router's label sampling).
    TextGenerator.EarlyStop stop = new TextGenerator.EarlyStop() {
      @Override
      public Check newCheck() {
        return afterTokens(2).newCheck();
      }

      @Override
      public TextGenerator.EarlyStop forRow(int row) {
        return row == 1 ? NEVER : this;
      }
    };
    List<long[]> prefixes = List.of(new long[] {3, 4}, new long[] {3, 10}, new long[] {3, 20});
    List<Generation> batched;
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(0, EOS),
        () -> counting(new ArrayList<>(), 24), 2)) {
      batched = batcher.decode(prefixes, new int[] {20, 20, 20}, TextGenerator.Cancellation.NONE, stop,
          Arrays::toString);
    }
    ContinuousBatcher.ForwardPassResource model = counting(new ArrayList<>(), 24);
    List<Generation> direct = new GreedyDecoder(0, EOS).decode(prefixes,
        Collections.nCopies(3, new int[0]), new int[] {20, 20, 20}, model, TextGenerator.Cancellation.NONE, stop,
        Arrays::toString);
    for (List<Generation> out : List.of(batched, direct)) {
      assertThat(out.get(0).tokens()).containsExactly(5, 6);
      assertThat(out.get(1).tokens()).containsExactly(11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24);
      assertThat(out.get(2).tokens()).containsExactly(21, 22);
      assertThat(out.stream().map(Generation::stoppedEarly)).containsExactly(true, false, true);
    }
  }

  @Test
  void rowsThatEndOnTheirOwnAreNotMarkedAndAConditionThatThrowsStopsNothing() {
    List<Integer> batchSizes = Collections.synchronizedList(new ArrayList<>());
    try (ContinuousBatcher batcher = new ContinuousBatcher("t", new GreedyDecoder(0, EOS),
        () -> counting(batchSizes, 8), 4)) {
      List<Generation> out = batcher.decode(List.of(new long[] {3, 5}, new long[] {3, 3}), new int[] {20, 2},
          TextGenerator.Cancellation.NONE, () -> (logprob, entropy) -> {
            throw new IllegalStateException("broken condition");
          }, Arrays::toString);
      assertThat(out.get(0).tokens()).containsExactly(6, 7, 8); // then end-of-sequence
      assertThat(out.get(1).tokens()).containsExactly(4, 5); // its limit
      assertThat(out).noneSatisfy(g -> assertThat(g.stoppedEarly()).isTrue());
    }
  }

  @Test
  void withTheSmallModelStoppedRowsArePrefixesAndTheOtherRowsAreUnchanged() {
    List<String> prompts = BundledModels.testSplit().subList(0, ITEMS).stream().map(BundledModels.Item::prompt)
        .toList();
    // Eight rows per pass, so the places stopped rows free are taken by waiting rows mid-batch.
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime", 8)) {
      List<Generation> full = small.generate(prompts, 48);
      List<Generation> early = small.generate(prompts, 48, TextGenerator.Cancellation.NONE, UNSURE_TOKEN);
      int stopped = 0;
      for (int i = 0; i < ITEMS; i++) {
        Generation f = full.get(i);
        Generation e = early.get(i);
        int[] fullTokens = f.tokens();
        if (e.stoppedEarly()) {
          stopped++;
          // At most as long: a row stopped at its last token saves only the end-of-sequence step.
          assertThat(e.length()).as(prompts.get(i)).isLessThanOrEqualTo(f.length());
          assertThat(e.tokens()).as(prompts.get(i)).isEqualTo(Arrays.copyOf(fullTokens, e.length()));
          // It stopped at the first step where the condition held, not later.
          assertThat(stopsAt(UNSURE_TOKEN, e.tokenLogprobs(), e.entropies())).as(prompts.get(i)).isEqualTo(e.length());
        } else {
          assertThat(e.tokens()).as(prompts.get(i)).isEqualTo(fullTokens);
          assertThat(e.text()).isEqualTo(f.text());
          assertThat(e.tokenLogprobs()).containsExactly(f.tokenLogprobs(), org.assertj.core.data.Offset.offset(1e-4f));
        }
      }
      // The condition must have stopped some rows and let others finish, or the test shows nothing.
      assertThat(stopped).isBetween(10, ITEMS - 10);
    }
  }

  @Test
  void withTheSmallModelForRowIsAskedByTheIndexOfThePromptInTheCall() {
    List<String> prompts = BundledModels.testSplit().subList(0, ITEMS).stream().map(BundledModels.Item::prompt)
        .toList();
    // The generator sorts its rows by prompt length: the exemption must follow the prompt, not the row.
    TextGenerator.EarlyStop oddRowsExempt = new TextGenerator.EarlyStop() {
      @Override
      public Check newCheck() {
        return UNSURE_TOKEN.newCheck();
      }

      @Override
      public TextGenerator.EarlyStop forRow(int row) {
        return row % 2 == 1 ? NEVER : this;
      }
    };
    try (TextGenerator small = TextGenerators.load("small", "OnnxRuntime", 8)) {
      List<Generation> full = small.generate(prompts, 48);
      List<Generation> early = small.generate(prompts, 48, TextGenerator.Cancellation.NONE, oddRowsExempt);
      int stopped = 0;
      for (int i = 0; i < ITEMS; i++) {
        boolean wouldStop = stopsAt(UNSURE_TOKEN, full.get(i).tokenLogprobs(), full.get(i).entropies()) > 0;
        if (i % 2 == 1) {
          assertThat(early.get(i).stoppedEarly()).as(prompts.get(i)).isFalse();
          assertThat(early.get(i).tokens()).as(prompts.get(i)).isEqualTo(full.get(i).tokens());
        } else if (wouldStop && early.get(i).length() < full.get(i).length()) {
          assertThat(early.get(i).stoppedEarly()).as(prompts.get(i)).isTrue();
          stopped++;
        }
      }
      assertThat(stopped).isGreaterThan(10);
    }
  }
}
