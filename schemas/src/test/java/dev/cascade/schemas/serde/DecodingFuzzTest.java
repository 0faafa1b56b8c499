package dev.cascade.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.schemas.avro.CascadeRequest;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Fuzzing of Avro decoding, seeded so a failure reproduces: any bytes, and a valid record's body
 * mutated, truncated, extended or given huge lengths behind its valid header, decode to a record or
 * fail with {@link SchemaDecodingException}; never with another exception, never by allocating
 * without bound.
 */
class DecodingFuzzTest {

  private static final byte[] VALID = CascadeSerdes.requests().encode(CascadeRequest.newBuilder()
      .setRequestId("fuzz-1").setPrompt("the quick brown fox").setMaxNewTokens(12).setReference("ref")
      .setMetadata(Map.of("tenant", "a", "trace", "b")).setCreatedAtMs(1_700_000_000_000L).build());

  @Test
  void anyBytesDecodeOrFailWithAReason() {
    SplittableRandom random = new SplittableRandom(1);
    int tries = 5_000;
    for (int i = 0; i < tries; i++) {
      byte[] bytes = new byte[random.nextInt(0, 300)];
      for (int b = 0; b < bytes.length; b++) {
        bytes[b] = (byte) random.nextInt(256);
      }
      if (i % 2 == 0 && bytes.length >= 10) {
        System.arraycopy(VALID, 0, bytes, 0, 10); // a valid header before random bytes
      }
      assertDecodesOrFailsCleanly(bytes);
    }
    System.out.println("decoding fuzz: " + tries + " random inputs");
  }

  @Test
  void aValidRecordMutatedDecodesOrFailsWithAReason() {
    SplittableRandom random = new SplittableRandom(2);
    int tries = 10_000;
    for (int i = 0; i < tries; i++) {
      assertDecodesOrFailsCleanly(mutate(random));
    }
    System.out.println("decoding fuzz: " + tries + " mutated records");
  }

  static byte[] mutate(SplittableRandom random) {
    byte[] copy = VALID.clone();
    switch (random.nextInt(4)) {
      case 0 -> {
        for (int n = random.nextInt(1, 7); n > 0; n--) {
          copy[random.nextInt(10, copy.length)] = (byte) random.nextInt(256);
        }
        return copy;
      }
      case 1 -> {
        return Arrays.copyOf(copy, random.nextInt(0, copy.length));
      }
      case 2 -> {
        byte[] longer = Arrays.copyOf(copy, copy.length + random.nextInt(1, 64));
        for (int b = copy.length; b < longer.length; b++) {
          longer[b] = (byte) random.nextInt(256);
        }
        return longer;
      }
      default -> {
        // A varint of about 2^62 where a length may be read.
        int at = random.nextInt(10, copy.length);
        byte[] huge = Arrays.copyOf(copy, Math.max(copy.length, at + 9));
        Arrays.fill(huge, at, at + 8, (byte) 0xFE);
        huge[at + 8] = 0x7F;
        return huge;
      }
    }
  }

  private static void assertDecodesOrFailsCleanly(byte[] bytes) {
    try {
      assertThat(CascadeSerdes.requests().decode(bytes)).isNotNull();
    } catch (SchemaDecodingException expected) {
      assertThat(expected.getMessage()).isNotBlank();
    }
  }
}
