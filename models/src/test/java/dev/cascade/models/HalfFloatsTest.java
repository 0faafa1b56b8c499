package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Every 16-bit value, both formats: exact back and forth, and rounding to nearest, ties to even. */
class HalfFloatsTest {

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
