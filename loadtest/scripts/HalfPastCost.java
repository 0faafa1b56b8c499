import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.Locale;

/**
 * What feeding a 16-bit past costs a decoding pass, the way the runtime did it until 2026-12-05
 * (the cache kept in float32, written into the past, then every value converted to float16) and
 * the way it does now (the cache kept in its own 16 bits and copied as it is).
 *
 * <p>Run, after the build (the runtime's own classes: {@code ./mvnw -B -q -pl router -am package
 * -DskipTests}): {@code java -cp router/target/cascade.jar loadtest/scripts/HalfPastCost.java [--json]
 * [ROWS LAYERS HEADS HEAD_SIZE PAST]}; the defaults are a batch of 8 rows over a 512-position past
 * of a model of 16 layers with 8 key/value heads of 64 (the shape of Llama 3.2 1B's cache). The
 * conversion is the runtime's own, {@code HalfFloats.toHalf}, which the runtime called on every
 * value of the past until then.
 */
public class HalfPastCost {

  public static void main(String[] args) {
    boolean json = args.length > 0 && args[0].equals("--json");
    int from = json ? 1 : 0;
    int[] shape = {8, 16, 8, 64, 512};
    for (int i = 0; i < shape.length && from + i < args.length; i++) {
      shape[i] = Integer.parseInt(args[from + i]);
    }
    int rows = shape[0];
    int layers = shape[1];
    int n = rows * shape[2] * shape[4] * shape[3];
    float[] cache = new float[n];
    short[] cache16 = new short[n];
    java.util.Random random = new java.util.Random(1);
    for (int i = 0; i < n; i++) {
      cache[i] = (float) random.nextGaussian();
      cache16[i] = dev.cascade.models.HalfFloats.toHalf(cache[i]);
    }
    FloatBuffer past32 = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
    ByteBuffer converted = ByteBuffer.allocateDirect(2 * n).order(ByteOrder.nativeOrder());
    ByteBuffer past16 = ByteBuffer.allocateDirect(2 * n).order(ByteOrder.nativeOrder());
    double before = Double.MAX_VALUE;
    double now = Double.MAX_VALUE;
    int reps = 20;
    for (int round = 0; round < 5; round++) {
      long t0 = System.nanoTime();
      for (int k = 0; k < reps; k++) {
        past32.put(0, cache, 0, n);
        ShortBuffer out = converted.asShortBuffer();
        for (int i = 0; i < n; i++) {
          out.put(i, dev.cascade.models.HalfFloats.toHalf(past32.get(i)));
        }
      }
      long t1 = System.nanoTime();
      for (int k = 0; k < reps; k++) {
        past16.asShortBuffer().put(0, cache16, 0, n);
      }
      long t2 = System.nanoTime();
      before = Math.min(before, (t1 - t0) / 1e6 / reps);
      now = Math.min(now, (t2 - t1) / 1e6 / reps);
    }
    // Per pass: every layer's key and value tensor.
    int tensors = 2 * layers;
    if (json) {
      System.out.printf(Locale.ROOT, "{\"rows\":%d,\"layers\":%d,\"heads\":%d,\"head_size\":%d,\"past\":%d,"
          + "\"values_per_tensor\":%d,\"ms_per_pass_converted\":%.2f,\"ms_per_pass_kept_16_bit\":%.2f}%n", rows,
          layers, shape[2], shape[3], shape[4], n, before * tensors, now * tensors);
    } else {
      System.out.printf(Locale.ROOT, "%d rows, %d layers, %d heads of %d, past %d: %d values a tensor, %d tensors%n"
          + "past fed per pass: %.2f ms converted from float32 (before), %.2f ms kept in 16 bits (now); best of 5%n",
          rows, layers, shape[2], shape[3], shape[4], n, tensors, before * tensors, now * tensors);
    }
  }
}
