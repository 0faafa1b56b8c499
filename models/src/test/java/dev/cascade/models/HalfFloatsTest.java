package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Every 16-bit value, both formats: exact back and forth, and rounding to nearest, ties to even. */
class HalfFloatsTest {

  /**
   * A cache output's last positions, as a cache of each type keeps them: its own 16 bits as they
   * are, and an output of another type converted to the cache's.
   */
  @Test
  void cacheValuesKeepTheirOwnTypeAndConvertAnother() {
    try (ai.djl.ndarray.NDManager manager = ai.djl.ndarray.NDManager.newBaseManager("OnnxRuntime")) {
      ai.djl.ndarray.types.Shape shape = new ai.djl.ndarray.types.Shape(1, 2, 3, 2); // rows, heads, positions, size
      float[] floats = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0.1f};
      ai.djl.ndarray.NDArray full = manager.create(floats, shape);
      assertThat((float[]) HalfFloats.cacheValues(full, 2, ai.djl.ndarray.types.DataType.FLOAT32))
          .containsExactly(3, 4, 5, 6, 9, 10, 11, 0.1f);
      short[] expected = new short[8];
      int[] kept = {2, 3, 4, 5, 8, 9, 10, 11};
      for (int i = 0; i < 8; i++) {
        expected[i] = HalfFloats.toHalf(floats[kept[i]]);
      }
      assertThat((short[]) HalfFloats.cacheValues(full, 2, ai.djl.ndarray.types.DataType.FLOAT16))
          .containsExactly(expected);
      // A float16 output: its bits as they are, whatever they are (0x7e01, a NaN with a payload, too).
      java.nio.ByteBuffer bits = java.nio.ByteBuffer.allocateDirect(24).order(java.nio.ByteOrder.nativeOrder());
      for (int i = 0; i < 12; i++) {
        bits.putShort(2 * i, (short) (i == 11 ? 0x7e01 : 0x3c00 + i));
      }
      ai.djl.ndarray.NDArray half = manager.create(bits, shape, ai.djl.ndarray.types.DataType.FLOAT16);
      assertThat((short[]) HalfFloats.cacheValues(half, 2, ai.djl.ndarray.types.DataType.FLOAT16)).containsExactly(
          (short) 0x3c02, (short) 0x3c03, (short) 0x3c04, (short) 0x3c05, (short) 0x3c08, (short) 0x3c09,
          (short) 0x3c0a, (short) 0x7e01);
      assertThat((short[]) HalfFloats.cacheValues(half, 3, ai.djl.ndarray.types.DataType.FLOAT16)).hasSize(12);
    }
  }

  @Test
  void everyFloat16RoundTripsAndEveryMidpointRoundsToEven() {
    for (int bits = 0; bits < 0x10000; bits++) {
      short h = (short) bits;
      float f = HalfFloats.halfToFloat(h);
      if (Float.isNaN(f)) {
        assertThat((bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) != 0).isTrue();
        assertThat(Float.isNaN(HalfFloats.halfToFloat(HalfFloats.toHalf(f)))).isTrue();
        continue;
      }
      assertThat(HalfFloats.toHalf(f)).as("0x%04x", bits).isEqualTo(h);
      int magnitude = bits & 0x7fff;
      if (magnitude < 0x7bff) { // a finite half below the largest: the midpoint to the next one up
        float next = HalfFloats.halfToFloat((short) (bits + 1));
        float mid = (f + next) / 2; // exact: a half has 11 significant bits, a float 24
        short even = (magnitude & 1) == 0 ? h : (short) (bits + 1);
        assertThat(HalfFloats.toHalf(mid)).as("midpoint above 0x%04x", bits).isEqualTo(even);
        float up = bits < 0x8000 ? Math.nextUp(mid) : Math.nextDown(mid);
        float down = bits < 0x8000 ? Math.nextDown(mid) : Math.nextUp(mid);
        assertThat(HalfFloats.toHalf(up)).as("just past the midpoint above 0x%04x", bits).isEqualTo((short) (bits + 1));
        assertThat(HalfFloats.toHalf(down)).as("just short of the midpoint above 0x%04x", bits).isEqualTo(h);
      }
    }
    assertThat(HalfFloats.halfToFloat((short) 0x7bff)).isEqualTo(65504f);
    assertThat(HalfFloats.toHalf(65519.996f)).isEqualTo((short) 0x7bff);
    assertThat(HalfFloats.toHalf(65520f)).isEqualTo((short) 0x7c00);
    assertThat(HalfFloats.toHalf(-1e9f)).isEqualTo((short) 0xfc00);
    assertThat(HalfFloats.toHalf(0x1p-25f)).isEqualTo((short) 0); // a tie with the smallest subnormal: even
    assertThat(HalfFloats.toHalf(Math.nextUp(0x1p-25f))).isEqualTo((short) 1);
    assertThat(HalfFloats.toHalf(-0f)).isEqualTo((short) 0x8000);
  }

  @Test
  void everyBfloat16RoundTripsAndEveryMidpointRoundsToEven() {
    for (int bits = 0; bits < 0x10000; bits++) {
      short h = (short) bits;
      float f = HalfFloats.bfloat16ToFloat(h);
      if (Float.isNaN(f)) {
        assertThat(Float.isNaN(HalfFloats.bfloat16ToFloat(HalfFloats.toBfloat16(f)))).isTrue();
        continue;
      }
      assertThat(HalfFloats.toBfloat16(f)).as("0x%04x", bits).isEqualTo(h);
      int magnitude = bits & 0x7fff;
      if (magnitude < 0x7f7f) {
        float next = HalfFloats.bfloat16ToFloat((short) (bits + 1));
        float mid = f + (next - f) / 2; // exact, and no overflow near the largest value
        short even = (magnitude & 1) == 0 ? h : (short) (bits + 1);
        assertThat(HalfFloats.toBfloat16(mid)).as("midpoint above 0x%04x", bits).isEqualTo(even);
      }
    }
    assertThat(HalfFloats.toBfloat16(Float.MAX_VALUE)).isEqualTo((short) 0x7f80); // rounds up to infinity
  }
}
