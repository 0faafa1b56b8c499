package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The decoding loop against a scripted forward pass: no model, no engine. */
class GreedyDecoderTest {

  private static final long PAD = 0;
  private static final long EOS = 2;
  private static final int VOCAB = 8;

  /** Predicts (last token + 1), and EOS once a row holds {@code stopAt}. */
  private static final class Counting implements GreedyDecoder.ForwardPass {
    final List<DecodeStep> steps = new ArrayList<>();
    final long stopAt;

    Counting(long stopAt) {
      this.stopAt = stopAt;
    }

    @Override
    public NextTokenScores run(DecodeStep step) {
      steps.add(step);
      float[] logits = new float[step.rows() * VOCAB];
      for (int r = 0; r < step.rows(); r++) {
        long last = step.inputIds()[r * step.length() + step.length() - 1];
        int next = last >= stopAt ? (int) EOS : (int) last + 1;
        logits[r * VOCAB + next] = 5f;
      }
      return new NextTokenScores(logits, step.rows(), VOCAB, null, 0);
    }
  }

  @Test
  void stopsAtEndOfSequenceAndDropsFinishedRows() {
    Counting model = new Counting(6);
    GreedyDecoder decoder = new GreedyDecoder(PAD, EOS);
    List<Generation> out = decoder.decode(List.of(new long[] {3}, new long[] {7, 7, 4}), new int[] {10, 10}, model,
        TextGenerator.Cancellation.NONE, Arrays::toString);
    assertThat(out.get(0).tokens()).containsExactly(4, 5, 6);
    assertThat(out.get(1).tokens()).containsExactly(5, 6);
    assertThat(out.get(0).tokenLogprobs()).hasSize(3);
    assertThat(out.get(0).embedding()).isNull();
    // Step 1 runs both rows, left-padded; the second row finishes after step 3, the first after 4.
    DecodeStep first = model.steps.get(0);
    assertThat(first.rows()).isEqualTo(2);
    assertThat(first.inputIds()).containsExactly(PAD, PAD, 3, 7, 7, 4);
    assertThat(first.attentionMask()).containsExactly(0, 0, 1, 1, 1, 1);
    assertThat(model.steps).hasSize(4);
    assertThat(model.steps.get(3).rows()).isEqualTo(1);
  }

  @Test
  void honoursTheTokenLimit() {
    List<Generation> out = new GreedyDecoder(PAD, EOS).decode(List.of(new long[] {3}), new int[] {2}, new Counting(100),
        TextGenerator.Cancellation.NONE, Arrays::toString);
    assertThat(out.get(0).tokens()).containsExactly(4, 5);
  }

  @Test
  void cancellationStopsBeforeTheNextStep() {
    Counting model = new Counting(100);
    int[] calls = {0};
    assertThatThrownBy(() -> new GreedyDecoder(PAD, EOS).decode(List.of(new long[] {3}), new int[] {40}, model,
        () -> ++calls[0] > 2, Arrays::toString))
        .isInstanceOf(GenerationCancelledException.class)
        .hasMessageContaining("after 2 decoding steps");
    assertThat(model.steps).hasSize(2);
  }
}
