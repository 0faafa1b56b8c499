package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What a cached step hands the model as its past, when the pass gives out the same buffers at every step. */
class CachedPastTest {

  private static final long PAD = 0;
  private static final long EOS = 2;
  private static final int VOCAB = 8;
  /** One layer, one head of one float: a position's key is its token id, its value minus that. */
  private static final CacheLayout LAYOUT = new CacheLayout(1, 1, 1, true);
  /** The same in float16: the decoder keeps and hands on the 16-bit values as they are. */
  private static final CacheLayout HALF = new CacheLayout(1, 1, 1, true, ai.djl.ndarray.types.DataType.FLOAT16);

  /**
   * Predicts (last token + 1), EOS once that would reach {@code stopAt}; hands out one buffer per
   * cache tensor, filled with NaN when first made and never cleared, as a pass reusing native memory
   * does; records each cached step's past.
   */
  private static final class Fake implements GreedyDecoder.ForwardPass {
    final long stopAt;
    final boolean half;
    final java.nio.Buffer[] held = new java.nio.Buffer[2];
    final List<float[][]> pasts = new ArrayList<>();

    Fake(long stopAt, boolean half) {
      this.stopAt = stopAt;
      this.half = half;
    }

    @Override
    public java.nio.Buffer pastBuffer(int i, int values, boolean half) {
      assertThat(half).as("the past's element type").isEqualTo(this.half);
      if (held[i] == null) {
        if (half) {
          // 0x7e00: a float16 NaN.
          java.nio.ByteBuffer stale = java.nio.ByteBuffer.allocateDirect(128).order(java.nio.ByteOrder.nativeOrder());
          for (int k = 0; k < 64; k++) {
            stale.putShort(2 * k, (short) 0x7e00);
          }
          held[i] = stale;
        } else {
          float[] stale = new float[64];
          Arrays.fill(stale, Float.NaN);
          held[i] = FloatBuffer.wrap(stale);
        }
      }
      if (half) {
        java.nio.ByteBuffer b = ((java.nio.ByteBuffer) held[i]).duplicate().clear().limit(2 * values).slice();
        return b.order(java.nio.ByteOrder.nativeOrder());
      }
      return ((FloatBuffer) held[i]).clear().limit(values).slice();
    }

    @Override
    public NextTokenScores run(DecodeStep step) {
      if (step.pastLength() > 0) {
        float[][] past = new float[2][];
        for (int i = 0; i < 2; i++) {
          if (half) {
            java.nio.ShortBuffer b = ((java.nio.ByteBuffer) step.past()[i]).asShortBuffer();
            past[i] = new float[b.remaining()];
            for (int k = 0; k < past[i].length; k++) {
              past[i][k] = b.get(k);
            }
          } else {
            FloatBuffer b = ((FloatBuffer) step.past()[i]).duplicate();
            past[i] = new float[b.remaining()];
            b.get(past[i]);
          }
        }
        pasts.add(past);
      }
      int rows = step.rows();
      int length = step.length();
      float[] logits = new float[rows * VOCAB];
      float[][] values = {new float[rows * length], new float[rows * length]};
      for (int r = 0; r < rows; r++) {
        for (int t = 0; t < length; t++) {
          long id = step.inputIds()[r * length + t];
          values[0][r * length + t] = id;
          values[1][r * length + t] = -id;
        }
        long last = step.inputIds()[r * length + length - 1];
        logits[r * VOCAB + (last + 1 >= stopAt ? (int) EOS : (int) last + 1)] = 5f;
      }
      Object[] present = new Object[2];
      for (int i = 0; i < 2; i++) {
        if (half) {
          // The ids as the 16-bit values themselves: any conversion on the way would change them.
          short[] bits = new short[values[i].length];
          for (int k = 0; k < bits.length; k++) {
            bits[k] = (short) values[i][k];
          }
          present[i] = bits;
        } else {
          present[i] = values[i];
        }
      }
      return new NextTokenScores(logits, rows, VOCAB, null, 0, present);
    }
  }

  @Test
  void eachRowsPastIsRightAlignedAndZeroPaddedWhateverTheBufferHeldBefore() {
    pastsOf(new Fake(7, false), LAYOUT);
  }

  @Test
  void aSixteenBitCacheIsKeptAndHandedOnInItsOwnBits() {
    pastsOf(new Fake(7, true), HALF);
  }

  private static void pastsOf(Fake model, CacheLayout layout) {
    GreedyDecoder decoder = new GreedyDecoder(PAD, EOS, layout, true);
    List<Generation> out = decoder.decode(List.of(new long[] {3}, new long[] {7, 7, 4}), new int[] {10, 10}, model,
        TextGenerator.Cancellation.NONE, Arrays::toString);
    assertThat(out.get(0).tokens()).containsExactly(4, 5, 6);
    assertThat(out.get(1).tokens()).containsExactly(5, 6);
    // After the prefill: the first row has cached [3], the second [7, 7, 4]; the past is 3 wide, and
    // the first row's padding is written as zeros over the NaN the buffer held.
    assertThat(model.pasts.get(0)[0]).containsExactly(0, 0, 3, 7, 7, 4);
    assertThat(model.pasts.get(0)[1]).containsExactly(0, 0, -3, -7, -7, -4);
    // Then [3, 4] and [7, 7, 4, 5], 4 wide, in the same buffer.
    assertThat(model.pasts.get(1)[0]).containsExactly(0, 0, 3, 4, 7, 7, 4, 5);
    assertThat(model.pasts.get(1)[1]).containsExactly(0, 0, -3, -4, -7, -7, -4, -5);
    // The second row finished; the first goes on alone over [3, 4, 5].
    assertThat(model.pasts.get(2)[0]).containsExactly(3, 4, 5);
    assertThat(model.pasts).hasSize(3);
  }

  @Test
  void aRowReservesTwoBytesAValueOfASixteenBitCacheAndFourOfAFloat32One() {
    DecodingRow row = new DecodingRow(new long[] {3, 4, 5}, 7); // 10 positions at most
    CacheLayout wide = new CacheLayout(2, 4, 16, true); // 2 x 2 tensors of 64 values a position
    assertThat(row.cacheBytes(wide)).isEqualTo(4L * 10 * 256);
    assertThat(row.cacheBytes(new CacheLayout(2, 4, 16, true, ai.djl.ndarray.types.DataType.BFLOAT16)))
        .isEqualTo(2L * 10 * 256);
  }

  @Test
  void theDefaultPastBufferIsAFreshOneOfTheSizeAsked() {
    GreedyDecoder.ForwardPass pass = step -> {
      throw new AssertionError("not run");
    };
    FloatBuffer b = (FloatBuffer) pass.pastBuffer(0, 12, false);
    assertThat(b.position()).isZero();
    assertThat(b.remaining()).isEqualTo(12);
    assertThat(b.get(11)).isZero();
    java.nio.ByteBuffer half = (java.nio.ByteBuffer) pass.pastBuffer(0, 12, true);
    assertThat(half.isDirect()).isTrue();
    assertThat(half.order()).isEqualTo(java.nio.ByteOrder.nativeOrder());
    assertThat(half.remaining()).isEqualTo(24);
  }
}
