package dev.cascade.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * Float32 to and from the 16-bit formats a half-precision export's tensors come in: IEEE 754
 * binary16 ({@code float16}) and bfloat16 (the upper half of a float32), both rounding to nearest,
 * ties to even (Java 17 has no {@code Float.floatToFloat16}). Logits and hidden states are read as
 * float32; a 16-bit cache is kept in its own 16 bits ({@link #cacheValues}), never converted.
 */
public final class HalfFloats {

  private HalfFloats() {}

  /** The binary16 value nearest {@code f} (ties to even); beyond the largest half, infinity. */
  public static short toHalf(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int abs = bits & 0x7fffffff;
    if (abs > 0x7f800000) {
      return (short) (sign | 0x7e00); // NaN, kept quiet
    }
    if (abs >= 0x477ff000) {
      return (short) (sign | 0x7c00); // 65520 and above round to infinity
    }
    if (abs >= 0x38800000) {
      // A normal half: rebias the exponent (127 to 15) and round the 23-bit significand to 10 bits.
      int rounded = abs + 0x0fff + ((abs >>> 13) & 1);
      return (short) (sign | ((rounded - 0x38000000) >>> 13));
    }
    if (abs < 0x33000000) {
      return (short) sign; // under half the smallest subnormal (2^-25): zero
    }
    // A subnormal half: the value in units of 2^-24, rounded.
    int exponent = abs >>> 23;
    int significand = (abs & 0x7fffff) | 0x800000;
    int shift = 126 - exponent;
    int half = significand >>> shift;
    int rest = significand & ((1 << shift) - 1);
    int midpoint = 1 << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1) != 0)) {
      half++;
    }
    return (short) (sign | half);
  }

  /** The float32 value of binary16 {@code h} (exact). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int significand = bits & 0x3ff;
    if (exponent == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (significand << 13));
    }
    if (exponent == 0) {
      float subnormal = significand * 0x1p-24f;
      return sign == 0 ? subnormal : -subnormal;
    }
    return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (significand << 13));
  }

  /** The bfloat16 value nearest {@code f} (ties to even). */
  static short toBfloat16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return (short) ((bits >>> 16) | 0x0040); // NaN, kept quiet
    }
    return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
  }

  /** The float32 value of bfloat16 {@code h} (exact). */
  static float bfloat16ToFloat(short h) {
    return Float.intBitsToFloat((h & 0xffff) << 16);
  }

  /**
   * The values of a [rows, heads, total, head_size] cache output, the last {@code length} positions
   * of each row and head, as the runtime keeps a cache of {@code precision}: a {@code float[]} for
   * FLOAT32, else a {@code short[]} of the 16-bit values. An output of the cache's own type is
   * copied as it is; one of another (a float32 output of a 16-bit cache, say) is converted.
   *
   * @throws IllegalArgumentException for an output of another type, naming it
   */
  static Object cacheValues(NDArray present, int length, DataType precision) {
    Shape shape = present.getShape();
    int blocks = (int) (shape.get(0) * shape.get(1));
    int total = (int) shape.get(2);
    int headSize = (int) shape.get(3);
    int block = length * headSize;
    DataType type = present.getDataType();
    if (precision == DataType.FLOAT32 || type != precision) {
      Reader all = reader(present);
      float[] floats = new float[blocks * block];
      for (int b = 0; b < blocks; b++) {
        all.get((b * total + total - length) * headSize, floats, b * block, block);
      }
      if (precision == DataType.FLOAT32) {
        return floats;
      }
      short[] shorts = new short[floats.length];
      boolean half = precision == DataType.FLOAT16;
      for (int i = 0; i < floats.length; i++) {
        shorts[i] = half ? toHalf(floats[i]) : toBfloat16(floats[i]);
      }
      return shorts;
    }
    ShortBuffer all = present.toByteBuffer().order(ByteOrder.nativeOrder()).asShortBuffer();
    short[] shorts = new short[blocks * block];
    for (int b = 0; b < blocks; b++) {
      all.get((b * total + total - length) * headSize, shorts, b * block, block);
    }
    return shorts;
  }

  /** Reads a run of an output tensor's values as floats, converting only what is read. */
  interface Reader {
    /** Copies {@code length} values from {@code index} into {@code out} at {@code offset}. */
    void get(int index, float[] out, int offset, int length);

    /** How many values the tensor holds. */
    int size();
  }

  /**
   * An output tensor's values as floats, whichever of FLOAT32, FLOAT16 and BFLOAT16 it holds.
   *
   * @throws IllegalArgumentException for any other type, naming the tensor
   */
  static Reader reader(NDArray array) {
    ByteBuffer bytes = array.toByteBuffer().order(ByteOrder.nativeOrder());
    DataType type = array.getDataType();
    if (type == DataType.FLOAT32) {
      FloatBuffer floats = bytes.asFloatBuffer();
      return new Reader() {
        @Override
        public void get(int index, float[] out, int offset, int length) {
          floats.get(index, out, offset, length);
        }

        @Override
        public int size() {
          return floats.limit();
        }
      };
    }
    if (type != DataType.FLOAT16 && type != DataType.BFLOAT16) {
      throw new IllegalArgumentException("model: output '" + array.getName() + "' is " + type
          + "; the runtime reads float32, float16 or bfloat16");
    }
    ShortBuffer shorts = bytes.asShortBuffer();
    boolean half = type == DataType.FLOAT16;
    return new Reader() {
      @Override
      public void get(int index, float[] out, int offset, int length) {
        for (int i = 0; i < length; i++) {
          short s = shorts.get(index + i);
          out[offset + i] = half ? halfToFloat(s) : bfloat16ToFloat(s);
        }
      }

      @Override
      public int size() {
        return shorts.limit();
      }
    };
  }
}
