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

  /**
   * As {@link Counting}, scoring every position the step asks for ({@link DecodeStep#scored()}), over
   * a vocabulary wide enough to count past 8.
   */
  private static final class CountingAtEveryPosition implements GreedyDecoder.ForwardPass {
    static final int WIDE = 16;
    final List<DecodeStep> steps = new ArrayList<>();
    final long stopAt;

    CountingAtEveryPosition(long stopAt) {
      this.stopAt = stopAt;
    }

    @Override
    public NextTokenScores run(DecodeStep step) {
      steps.add(step);
      int scored = step.scored();
      float[] logits = new float[step.rows() * scored * WIDE];
      for (int r = 0; r < step.rows(); r++) {
        for (int p = 0; p < scored; p++) {
          long token = step.inputIds()[r * step.length() + step.length() - scored + p];
          int next = token >= stopAt ? (int) EOS : (int) token + 1;
          logits[(r * scored + p) * WIDE + next] = 5f;
        }
      }
      return new NextTokenScores(logits, step.rows(), WIDE, null, 0, null, scored);
    }
  }

  private static Generation withDraft(CountingAtEveryPosition model, int limit, int... draft) {
    return new GreedyDecoder(PAD, EOS).decode(List.of(new long[] {3}), List.of(draft), new int[] {limit}, model,
        TextGenerator.Cancellation.NONE, Arrays::toString).get(0);
  }

  @Test
  void aDraftThatIsRightToTheEndIsCheckedAndFinishedInOnePass() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(6);
    Generation g = withDraft(model, 10, 4, 5, 6);
    assertThat(g.tokens()).containsExactly(4, 5, 6);
    assertThat(g.draftAccepted()).isEqualTo(3);
    assertThat(model.steps).hasSize(1);
    assertThat(model.steps.get(0).inputIds()).containsExactly(3, 4, 5, 6);
    assertThat(model.steps.get(0).scored()).isEqualTo(4);
  }

  @Test
  void aDraftWrongAtItsFirstTokenChangesNothing() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(6);
    Generation g = withDraft(model, 10, 5, 7);
    assertThat(g.tokens()).containsExactly(4, 5, 6);
    assertThat(g.draftAccepted()).isZero();
    // The first pass yields the row's own 4; the draft's rest (7) rides along with the next pass,
    // and is wrong too; the row's 5 is the draft's first token, so 7 follows it once more, and is
    // wrong again; then the row ends (4 passes, as without a draft).
    assertThat(model.steps).hasSize(4);
    assertThat(model.steps.get(1).inputIds()).containsExactly(3, 4, 7);
    assertThat(model.steps.get(2).inputIds()).containsExactly(3, 4, 5, 7);
    assertThat(model.steps.get(3).inputIds()).containsExactly(3, 4, 5, 6);
  }

  @Test
  void aDraftWithOneWrongTokenIsKeptAfterItInTheNextPass() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(6);
    Generation g = withDraft(model, 10, 7, 5, 6);
    assertThat(g.tokens()).containsExactly(4, 5, 6);
    assertThat(g.draftAccepted()).isEqualTo(2);
    assertThat(model.steps).hasSize(2);
    assertThat(model.steps.get(1).inputIds()).containsExactly(3, 4, 5, 6);
  }

  @Test
  void aDraftWithOneTokenTooManyIsKeptAfterItInTheNextPass() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(6);
    Generation g = withDraft(model, 10, 4, 1, 5, 6);
    assertThat(g.tokens()).containsExactly(4, 5, 6);
    assertThat(g.draftAccepted()).isEqualTo(2);
    assertThat(model.steps).hasSize(2);
    assertThat(model.steps.get(1).inputIds()).containsExactly(3, 4, 5, 6);
  }

  @Test
  void aWrongDraftGoesOnAfterTheNearestPlaceWhereItHasTheRowsOwnToken() {
    // Not in the draft: past the token it replaced.
    assertThat(DecodingRow.resume(new int[] {4, 5, 6}, 7, 1, 1)).isEqualTo(1);
    // One token too many in the draft (4 before 5): on after its 5.
    assertThat(DecodingRow.resume(new int[] {4, 5, 6}, 5, 1, 1)).isEqualTo(2);
    // One token missing from it (the row wrote 9 before the draft's 4): on after its 4.
    assertThat(DecodingRow.resume(new int[] {4, 5, 6}, 4, 2, 1)).isEqualTo(1);
    // Several places: the one nearest the row's length, the earlier on a tie.
    assertThat(DecodingRow.resume(new int[] {5, 9, 5, 8, 5}, 5, 3, 0)).isEqualTo(3);
    assertThat(DecodingRow.resume(new int[] {5, 9, 5}, 5, 2, 0)).isEqualTo(1);
    // Never past the end.
    assertThat(DecodingRow.resume(new int[] {4, 5}, 7, 1, 5)).isEqualTo(2);
  }

  @Test
  void aLongRightDraftIsCheckedInWindowsThatGrowWhileItIsRight() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(15);
    Generation g = withDraft(model, 20, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    assertThat(g.tokens()).containsExactly(4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    assertThat(g.draftAccepted()).isEqualTo(12);
    // The first pass checks the first 8 (and its own 12 after them equals the draft's next token);
    // the next checks the 3 that are left, under a window of 16.
    assertThat(model.steps).hasSize(2);
    assertThat(model.steps.get(0).inputIds()).containsExactly(3, 4, 5, 6, 7, 8, 9, 10, 11);
    assertThat(model.steps.get(0).scored()).isEqualTo(DraftWindow.DEFAULT.first() + 1);
    assertThat(model.steps.get(1).inputIds()).containsExactly(3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    assertThat(model.steps.get(1).scored()).isEqualTo(4);
  }

  @Test
  void aWiderDraftWindowChecksTheWholeDraftInOnePassAndAFixedNarrowOneInMany() {
    int[] draft = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    CountingAtEveryPosition wide = new CountingAtEveryPosition(15);
    Generation whole = new GreedyDecoder(PAD, EOS, null, false, new DraftWindow(64, 64, 64)).decode(
        List.of(new long[] {3}), List.of(draft), new int[] {20}, wide, TextGenerator.Cancellation.NONE,
        Arrays::toString).get(0);
    assertThat(whole.tokens()).containsExactly(4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    assertThat(wide.steps).hasSize(1);
    assertThat(wide.steps.get(0).scored()).isEqualTo(13);
    CountingAtEveryPosition narrow = new CountingAtEveryPosition(15);
    Generation inThrees = new GreedyDecoder(PAD, EOS, null, false, DraftWindow.parse("3")).decode(
        List.of(new long[] {3}), List.of(draft), new int[] {20}, narrow, TextGenerator.Cancellation.NONE,
        Arrays::toString).get(0);
    assertThat(inThrees.tokens()).isEqualTo(whole.tokens());
    assertThat(inThrees.draftAccepted()).isEqualTo(12);
    // Each pass keeps its 3 and its own next token, the draft's next: 4 tokens a pass; then one
    // step for end-of-sequence, which the wide pass had chosen after the draft's last token.
    assertThat(narrow.steps).hasSize(4);
    assertThat(narrow.steps.subList(0, 3)).allSatisfy(step -> assertThat(step.scored()).isEqualTo(4));
    assertThat(narrow.steps.get(3).scored()).isEqualTo(1);
  }

  @Test
  void aDraftWindowIsParsedAndCheckedWithItsFieldNamed() {
    assertThat(DraftWindow.parse(" 8, 2,16 ")).isEqualTo(DraftWindow.DEFAULT);
    assertThat(DraftWindow.parse("32")).isEqualTo(new DraftWindow(32, 32, 32));
    assertThat(DraftWindow.DEFAULT.toString()).isEqualTo("8,2,16");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> DraftWindow.parse("8,16,2"))
        .hasMessageContaining("1 <= min <= first <= max");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> DraftWindow.parse("8,x,16"))
        .hasMessageContaining("not a whole number");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> DraftWindow.parse("8,16"))
        .hasMessageContaining("FIRST,MIN,MAX");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> DraftWindow.parse("0"))
        .hasMessageContaining("min 0");
  }

  @Test
  void aCheckThatStopsEarlyShrinksTheNextWindow() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(15);
    Generation g = withDraft(model, 20, 4, 10, 11, 12, 13, 14, 15, 15, 15, 15);
    assertThat(g.tokens()).containsExactly(4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // The first pass keeps 4 of the 8 it checks; the next checks 2 of the 8 left, not all of them.
    assertThat(model.steps.get(0).scored()).isEqualTo(9);
    assertThat(model.steps.get(1).inputIds()).containsExactly(3, 4, 5, 11, 12);
  }

  @Test
  void aDraftWrongHalfWayKeepsItsRightPrefixAndGoesOnFromTheRowsOwnToken() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(100);
    Generation g = withDraft(model, 6, 4, 5, 7, 7);
    assertThat(g.tokens()).containsExactly(4, 5, 6, 7, 8, 9);
    // 4 and 5 in the first pass; its own 6 in place of the draft's 7, then the draft's last 7 kept.
    assertThat(g.draftAccepted()).isEqualTo(3);
    assertThat(model.steps.get(1).inputIds()).containsExactly(3, 4, 5, 6, 7);
    assertThat(model.steps).hasSize(3);
  }

  @Test
  void aDraftLongerThanTheAnswerStopsWhereTheRowEnds() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(5);
    Generation g = withDraft(model, 10, 4, 5, 6, 7);
    assertThat(g.tokens()).containsExactly(4, 5);
    assertThat(g.draftAccepted()).isEqualTo(2);
    assertThat(model.steps).hasSize(1);
  }

  @Test
  void aDraftAsLongAsTheLimitEndsTheRowAtTheLimit() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(100);
    Generation g = withDraft(model, 3, 4, 5, 6);
    assertThat(g.tokens()).containsExactly(4, 5, 6);
    assertThat(g.draftAccepted()).isEqualTo(3);
    assertThat(model.steps).hasSize(1);
    assertThatThrownBy(() -> withDraft(model, 2, 4, 5, 6)).hasMessageContaining("draft: 3 tokens is over the row's limit of 2");
  }

  @Test
  void anEmptyDraftIsNoDraft() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(6);
    Generation g = withDraft(model, 10);
    assertThat(g.tokens()).containsExactly(4, 5, 6);
    assertThat(g.draftAccepted()).isZero();
    assertThat(model.steps).hasSize(4);
    assertThat(model.steps.get(0).scored()).isEqualTo(1);
  }

  @Test
  void rowsWithAndWithoutDraftsShareAPassEachReadingItsOwnPositions() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(6);
    List<Generation> out = new GreedyDecoder(PAD, EOS).decode(List.of(new long[] {3}, new long[] {1, 1, 3}),
        List.of(new int[] {4, 5}, new int[0]), new int[] {10, 10}, model, TextGenerator.Cancellation.NONE,
        Arrays::toString);
    assertThat(out.get(0).tokens()).containsExactly(4, 5, 6);
    assertThat(out.get(0).draftAccepted()).isEqualTo(2);
    assertThat(out.get(1).tokens()).containsExactly(4, 5, 6);
    assertThat(out.get(1).draftAccepted()).isZero();
    DecodeStep first = model.steps.get(0);
    assertThat(first.inputIds()).containsExactly(3, 4, 5, 1, 1, 3);
    assertThat(first.scored()).isEqualTo(3);
  }

  @Test
  void inAStepOfManyRowsEveryRowChecksItsOwnDraft() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(8);
    List<long[]> prefixes = new ArrayList<>();
    List<int[]> drafts = new ArrayList<>();
    prefixes.add(new long[] {3});
    drafts.add(new int[] {4, 5, 6, 7, 8});
    for (int i = 0; i < 8; i++) {
      prefixes.add(new long[] {7});
      drafts.add(new int[] {8});
    }
    int[] limits = new int[prefixes.size()];
    Arrays.fill(limits, 10);
    List<Generation> out = new GreedyDecoder(PAD, EOS).decode(prefixes, drafts, limits, model,
        TextGenerator.Cancellation.NONE, Arrays::toString);
    assertThat(out.get(0).tokens()).containsExactly(4, 5, 6, 7, 8);
    assertThat(out.get(0).draftAccepted()).isEqualTo(5);
    for (int i = 1; i < out.size(); i++) {
      assertThat(out.get(i).tokens()).containsExactly(8);
      assertThat(out.get(i).draftAccepted()).isEqualTo(1);
    }
    // One pass of nine rows: every draft checked in it, every row finished.
    assertThat(model.steps).hasSize(1);
    assertThat(model.steps.get(0).scored()).isEqualTo(6);
  }

  /**
   * Each row's early-stop check is its own, told every token the row keeps exactly once, draft
   * tokens included, and may end the row inside a draft checked in one pass; the token that
   * reaches a row's limit ends it anyway and is not told.
   */
  @Test
  void eachRowsCheckIsToldEveryTokenItKeepsOnceAndMayEndItInsideItsDraft() {
    CountingAtEveryPosition model = new CountingAtEveryPosition(12);
    List<List<Float>> told = new ArrayList<>();
    TextGenerator.EarlyStop stop = () -> {
      List<Float> mine = new ArrayList<>();
      told.add(mine);
      boolean first = told.size() == 1;
      return (logprob, entropy) -> {
        mine.add(logprob);
        return first && mine.size() == 3;
      };
    };
    List<Generation> out = new GreedyDecoder(PAD, EOS).decode(List.of(new long[] {3}, new long[] {5}, new long[] {3}),
        List.of(new int[] {4, 5, 6, 7, 8}, new int[0], new int[0]), new int[] {10, 10, 2}, model,
        TextGenerator.Cancellation.NONE, stop, Arrays::toString);
    // Row 0's whole draft is right and scored in the first pass; its check ends it after the third token.
    assertThat(out.get(0).tokens()).containsExactly(4, 5, 6);
    assertThat(out.get(0).stoppedEarly()).isTrue();
    assertThat(model.steps.get(0).scored()).isEqualTo(6);
    assertThat(told.get(0)).containsExactlyElementsOf(boxed(out.get(0).tokenLogprobs()));
    // Row 1 runs to end-of-sequence, each of its seven tokens told once.
    assertThat(out.get(1).tokens()).containsExactly(6, 7, 8, 9, 10, 11, 12);
    assertThat(out.get(1).stoppedEarly()).isFalse();
    assertThat(told.get(1)).containsExactlyElementsOf(boxed(out.get(1).tokenLogprobs()));
    // Row 2 reaches its limit of 2: only its first token is told.
    assertThat(out.get(2).tokens()).containsExactly(4, 5);
    assertThat(told.get(2)).hasSize(1);
  }

  @Test
  void aCheckThatThrowsIsNotAskedAgainAndOneThatCannotBeMadeStopsNothing() {
    int[] calls = {0};
    List<Generation> out = new GreedyDecoder(PAD, EOS).decode(List.of(new long[] {3}), List.of(new int[0]),
        new int[] {10}, new Counting(7), TextGenerator.Cancellation.NONE, () -> (logprob, entropy) -> {
          if (++calls[0] == 2) {
            throw new IllegalStateException("broken check");
          }
          return false;
        }, Arrays::toString);
    assertThat(out.get(0).tokens()).containsExactly(4, 5, 6, 7);
    assertThat(out.get(0).stoppedEarly()).isFalse();
    // Asked after the first token, threw after the second, and was dropped: its count may be half updated.
    assertThat(calls[0]).isEqualTo(2);
    List<Generation> unchecked = new GreedyDecoder(PAD, EOS).decode(List.of(new long[] {3}), List.of(new int[0]),
        new int[] {10}, new Counting(7), TextGenerator.Cancellation.NONE, () -> {
          throw new IllegalStateException("no check");
        }, Arrays::toString);
    assertThat(unchecked.get(0).tokens()).containsExactly(4, 5, 6, 7);
  }

  private static List<Float> boxed(float[] values) {
    List<Float> out = new ArrayList<>();
    for (float v : values) {
      out.add(v);
    }
    return out;
  }
}
